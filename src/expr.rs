//! `${…}` interpolation inside strings.
//!
//! Forms: `${var.NAME}`, `${RESOURCE.ATTRIBUTE}`, and the built-ins
//! `${stack}`, `${region}`, `${partition}`, `${account_id}`, `${git.sha}`,
//! `${git.short_sha}`. `$${` writes a literal `${`.

/// What a `${…}` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Var(String),
    Attr {
        resource: String,
        attribute: String,
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

impl Target {
    pub fn is_builtin_or_var(&self) -> bool {
        !matches!(self, Target::Attr { .. })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Var(v) => write!(f, "${{var.{v}}}"),
            Target::Attr { resource, attribute } => write!(f, "${{{resource}.{attribute}}}"),
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
                target: Target::Attr { resource: "lb".into(), attribute: "dns_name".into() },
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

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
    }
}
