//! `${…}` interpolation inside strings.
//!
//! Forms: `${var.NAME}`, `${RESOURCE.ATTRIBUTE}`, and the built-ins
//! `${stack}`, `${region}`, `${partition}`, `${account_id}`, `${git.sha}`,
//! `${git.short_sha}`. `$${` writes a literal `${`. A list attribute may be
//! indexed or sliced: `${net.subnet_ids[0]}` (one item; `[-1]` is the
//! last), `${net.subnet_ids[0:2]}` (a list: items 0 and 1; either bound may
//! be left out, and negative bounds count from the end).

/// What a `${…}` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Var(String),
    /// An item or slice of a list variable: `${var.zones[0]}`.
    VarItem {
        name: String,
        index: Index,
    },
    Attr {
        resource: String,
        attribute: String,
        /// `[i]` or `[a:b]` after the attribute.
        index: Option<Index>,
    },
    Stack,
    Region,
    /// `aws`, `aws-cn` or `aws-us-gov`: from the region, when the file loads.
    Partition,
    /// The credentials' account, from `sts:GetCallerIdentity`: filled in
    /// when the run reaches AWS, not when the file loads.
    AccountId,
    GitSha,
    GitShortSha,
}

/// An index or a slice of a list attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// One item; negative counts from the end (`-1` is the last).
    At(i64),
    /// Items `from` up to, not including, `to`; a bound left out is the
    /// list's start or end; negative bounds count from the end.
    Slice(Option<i64>, Option<i64>),
}

impl Index {
    /// Whether it gives a list (a slice) rather than one item.
    pub fn is_slice(self) -> bool {
        matches!(self, Index::Slice(..))
    }

    /// The item(s) of a list of `len` items, as a range of positions; an
    /// item out of range is `Err` with a sentence saying so. A slice is
    /// clamped to the list, as Python's are, except that a bound past the
    /// end is an error, so a list shorter than the file expects does not
    /// pass unnoticed.
    pub fn range(self, len: usize) -> Result<std::ops::Range<usize>, String> {
        let n = len as i64;
        let at = |i: i64| if i < 0 { n + i } else { i };
        let items = match len {
            1 => "1 item".to_string(),
            n => format!("{n} items"),
        };
        match self {
            Index::At(i) => {
                let p = at(i);
                if (0..n).contains(&p) {
                    Ok(p as usize..p as usize + 1)
                } else {
                    Err(format!("index {i} is out of range: the list has {items}"))
                }
            }
            Index::Slice(a, b) => {
                for bound in [a, b].into_iter().flatten() {
                    let p = at(bound);
                    if !(0..=n).contains(&p) {
                        return Err(format!("slice bound {bound} is out of range: the list has {items}"));
                    }
                }
                let from = a.map_or(0, at);
                let to = b.map_or(n, at);
                Ok(from as usize..to.max(from) as usize)
            }
        }
    }

    /// The item or items of `list` it names.
    pub fn apply(self, list: &[serde_json::Value]) -> Result<serde_json::Value, String> {
        let r = self.range(list.len())?;
        Ok(match self {
            Index::At(_) => list[r.start].clone(),
            Index::Slice(..) => serde_json::Value::Array(list[r].to_vec()),
        })
    }
}

impl std::fmt::Display for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Index::At(i) => write!(f, "[{i}]"),
            Index::Slice(a, b) => {
                f.write_str("[")?;
                if let Some(a) = a {
                    write!(f, "{a}")?;
                }
                f.write_str(":")?;
                if let Some(b) = b {
                    write!(f, "{b}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl Target {
    pub fn is_builtin_or_var(&self) -> bool {
        !matches!(self, Target::Attr { .. })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Var(v) => write!(f, "${{var.{v}}}"),
            Target::VarItem { name, index } => write!(f, "${{var.{name}{index}}}"),
            Target::Attr { resource, attribute, index: None } => write!(f, "${{{resource}.{attribute}}}"),
            Target::Attr { resource, attribute, index: Some(i) } => write!(f, "${{{resource}.{attribute}{i}}}"),
            Target::Stack => f.write_str("${stack}"),
            Target::Region => f.write_str("${region}"),
            Target::Partition => f.write_str("${partition}"),
            Target::AccountId => f.write_str("${account_id}"),
            Target::GitSha => f.write_str("${git.sha}"),
            Target::GitShortSha => f.write_str("${git.short_sha}"),
        }
    }
}

/// One `${…}` in a string, with its byte range in that string.
#[derive(Debug, Clone, PartialEq)]
pub struct Ref {
    pub target: Target,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(String),
    Ref(Ref),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub help: Option<String>,
}

/// Quick test that avoids parsing strings without any `${`.
pub fn has_interpolation(s: &str) -> bool {
    s.contains("${")
}

pub fn parse(s: &str) -> Result<Vec<Piece>, ExprError> {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        if b[i] == b'$' && s[i..].starts_with("$${") {
            lit.push_str("${");
            i += 3;
            continue;
        }
        if b[i] == b'$' && s[i..].starts_with("${") {
            let Some(close) = s[i + 2..].find('}') else {
                return Err(ExprError {
                    start: i,
                    end: s.len(),
                    message: "unterminated `${`".into(),
                    help: Some("close the reference with `}`, or write `$${` for a literal `${`".into()),
                });
            };
            let inner = s[i + 2..i + 2 + close].trim();
            let end = i + 2 + close + 1;
            let target = parse_target(inner).map_err(|(message, help)| ExprError { start: i, end, message, help })?;
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Ref(Ref { target, start: i, end }));
            i = end;
            continue;
        }
        // The loop runs while `i < s.len()`, on a character boundary.
        let ch = s[i..].chars().next().expect("in bounds");
        lit.push(ch);
        i += ch.len_utf8();
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
}

fn parse_target(inner: &str) -> Result<Target, (String, Option<String>)> {
    match inner {
        "stack" => return Ok(Target::Stack),
        "region" => return Ok(Target::Region),
        "partition" => return Ok(Target::Partition),
        "account_id" => return Ok(Target::AccountId),
        "git.sha" => return Ok(Target::GitSha),
        "git.short_sha" => return Ok(Target::GitShortSha),
        "" => return Err(("empty reference `${}`".into(), None)),
        _ => {}
    }
    if let Some(open) = inner.find('[') {
        let (head, tail) = inner.split_at(open);
        let index = parse_index(tail.trim_end()).map_err(|why| {
            (
                format!("`${{{inner}}}` has an invalid index: {why}"),
                Some("write `[0]` for the first item, `[-1]` for the last, or `[0:2]` for the first two".into()),
            )
        })?;
        return match parse_target(head.trim_end())? {
            Target::Attr { resource, attribute, index: None } => {
                Ok(Target::Attr { resource, attribute, index: Some(index) })
            }
            Target::Var(name) => Ok(Target::VarItem { name, index }),
            _ => Err((
                format!("`${{{inner}}}`: only a list attribute or a list variable can be indexed"),
                Some("index a list, such as `${net.subnet_ids[0]}` or `${var.zones[0]}`".into()),
            )),
        };
    }
    let parts: Vec<&str> = inner.split('.').collect();
    match parts.as_slice() {
        ["var", name] if is_ident(name) => Ok(Target::Var(name.to_string())),
        ["git", other] => Err((
            format!("unknown built-in `git.{other}`"),
            Some("git offers `${git.sha}` and `${git.short_sha}`".into()),
        )),
        [res, attr] if is_ident(res) && is_ident(attr) => Ok(Target::Attr {
            resource: res.to_string(),
            attribute: attr.to_string(),
            index: None,
        }),
        [one] if is_ident(one) => Err((
            format!("`${{{one}}}` names no attribute"),
            Some(format!(
                "a reference is `${{resource.attribute}}` (for example `${{{one}.arn}}`), `${{var.name}}`, or one of `${{stack}}`, `${{region}}`, `${{partition}}`, `${{account_id}}`, `${{git.sha}}`, `${{git.short_sha}}`"
            )),
        )),
        _ => Err((
            format!("`${{{inner}}}` is not a valid reference"),
            Some("a reference is `${resource.attribute}` or `${var.name}`".into()),
        )),
    }
}

/// `[i]` or `[a:b]`, brackets included.
fn parse_index(s: &str) -> Result<Index, String> {
    let Some(body) = s.strip_prefix('[').and_then(|b| b.strip_suffix(']')) else {
        return Err("expected one `[…]` at the end".into());
    };
    let num = |t: &str| -> Result<Option<i64>, String> {
        let t = t.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{t}` is not a whole number"));
        }
        // At most 9 digits: always fits.
        t.parse::<i64>().map(Some).map_err(|e| e.to_string())
    };
    match body.split_once(':') {
        Some((a, b)) => Ok(Index::Slice(num(a)?, num(b)?)),
        None => match num(body)? {
            Some(i) => Ok(Index::At(i)),
            None => Err("`[]` names no item".into()),
        },
    }
}

/// The AWS partition of a region: `aws-cn` for China, `aws-us-gov` for
/// GovCloud, `aws-eusc` for the European Sovereign Cloud, `aws-iso` and
/// `aws-iso-b` for the isolated regions, else `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// The single reference, when the whole string is one `${…}`.
pub fn whole_ref(pieces: &[Piece]) -> Option<&Ref> {
    match pieces {
        [Piece::Ref(r)] => Some(r),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refs_and_literals() {
        let p = parse("http://${lb.dns_name}:80/${var.path}").unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[1],
            Piece::Ref(Ref {
                target: Target::Attr { resource: "lb".into(), attribute: "dns_name".into(), index: None },
                start: 7,
                end: 21
            })
        );
    }

    #[test]
    fn escape_writes_literal() {
        assert_eq!(parse("a$${b}").unwrap(), vec![Piece::Lit("a${b}".into())]);
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("x ${repo").unwrap_err();
        assert_eq!((e.start, e.message.as_str()), (2, "unterminated `${`"));
        assert!(parse("${repo}").is_err());
        assert_eq!(parse("${ stack }").unwrap().len(), 1);
    }

    #[test]
    fn account_and_partition_are_builtins() {
        let p = parse("arn:${partition}:iam::${account_id}:role/x").unwrap();
        let targets: Vec<&Target> =
            p.iter().filter_map(|x| if let Piece::Ref(r) = x { Some(&r.target) } else { None }).collect();
        assert_eq!(targets, [&Target::Partition, &Target::AccountId]);
        assert!(targets.iter().all(|t| t.is_builtin_or_var()));
        assert_eq!(Target::AccountId.to_string(), "${account_id}");
        assert!(parse("${account}").is_err(), "only `account_id` names the account");
    }

    fn target(s: &str) -> Target {
        match parse(s).unwrap().as_slice() {
            [Piece::Ref(r)] => r.target.clone(),
            other => panic!("not one reference: {other:?}"),
        }
    }

    #[test]
    fn indexes_and_slices_parse_and_print_back() {
        let attr = |index| Target::Attr { resource: "net".into(), attribute: "subnet_ids".into(), index };
        assert_eq!(target("${net.subnet_ids[0]}"), attr(Some(Index::At(0))));
        assert_eq!(target("${ net.subnet_ids[-1] }"), attr(Some(Index::At(-1))));
        assert_eq!(target("${net.subnet_ids[0:2]}"), attr(Some(Index::Slice(Some(0), Some(2)))));
        assert_eq!(target("${net.subnet_ids[:2]}"), attr(Some(Index::Slice(None, Some(2)))));
        assert_eq!(target("${net.subnet_ids[1:]}"), attr(Some(Index::Slice(Some(1), None))));
        assert_eq!(target("${net.subnet_ids}"), attr(None));
        assert_eq!(
            target("${var.zones[1:]}"),
            Target::VarItem { name: "zones".into(), index: Index::Slice(Some(1), None) }
        );
        assert_eq!(target("${var.zones[1:]}").to_string(), "${var.zones[1:]}");
        assert!(target("${var.zones[0]}").is_builtin_or_var());
        for s in ["${net.subnet_ids[0]}", "${net.subnet_ids[-1]}", "${net.subnet_ids[0:2]}", "${net.subnet_ids[:]}"] {
            assert_eq!(target(s).to_string(), s);
        }
        let p = parse("a-${net.subnet_ids[1]}-b").unwrap();
        assert_eq!(p.len(), 3);
        assert!(matches!(&p[1], Piece::Ref(r) if (r.start, r.end) == (2, 22)));
    }

    #[test]
    fn bad_indexes_are_errors_at_the_reference() {
        for s in [
            "${net.subnet_ids[]}",
            "${net.subnet_ids[x]}",
            "${net.subnet_ids[0]x}",
            "${net.subnet_ids[0][1]}",
            "${net.subnet_ids[1.5]}",
            "${net.subnet_ids[0:1:2]}",
            "${net.subnet_ids[99999999999999999999]}",
            "${net[0].subnet_ids}",
            "${var[0]}",
            "${stack[0]}",
        ] {
            let e = parse(&format!("x {s}")).unwrap_err();
            assert_eq!((e.start, e.end), (2, 2 + s.len()), "{s}: {e:?}");
        }
    }

    #[test]
    fn index_ranges_follow_the_list() {
        let list = [serde_json::json!("a"), serde_json::json!("b"), serde_json::json!("c")];
        assert_eq!(Index::At(0).apply(&list), Ok(serde_json::json!("a")));
        assert_eq!(Index::At(-1).apply(&list), Ok(serde_json::json!("c")));
        assert_eq!(Index::Slice(Some(0), Some(2)).apply(&list), Ok(serde_json::json!(["a", "b"])));
        assert_eq!(Index::Slice(None, Some(-1)).apply(&list), Ok(serde_json::json!(["a", "b"])));
        assert_eq!(Index::Slice(Some(2), Some(1)).apply(&list), Ok(serde_json::json!([])));
        assert_eq!(Index::Slice(None, None).apply(&list), Ok(serde_json::json!(["a", "b", "c"])));
        assert_eq!(Index::At(3).apply(&list), Err("index 3 is out of range: the list has 3 items".into()));
        assert_eq!(Index::At(-4).apply(&list), Err("index -4 is out of range: the list has 3 items".into()));
        assert_eq!(
            Index::Slice(Some(0), Some(4)).apply(&list),
            Err("slice bound 4 is out of range: the list has 3 items".into())
        );
        assert_eq!(Index::At(0).apply(&[]), Err("index 0 is out of range: the list has 0 items".into()));
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
    }
}
