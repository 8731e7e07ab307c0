//! Paths into a resource's fields, as `ignore_changes` names them:
//! `desired_count`, `containers.web.image`, `tags.CostCenter`,
//! `health_check.interval`.
//!
//! Segments are separated by dots. After a list whose elements have a
//! `name` (a task definition's containers and volumes, a container's port
//! mappings and ulimits), a segment is the name of one element; after a map
//! (tags, a container's environment), it is a key. A key with a dot or a
//! bracket in it is written in brackets and quotes:
//! `tags["app.kubernetes.io/name"]`. A segment `*` stands for every
//! element of such a list, or every key of such a map
//! (`containers.*.image`): [`expand`] turns it into the paths of the
//! elements and keys the values compared have.

use serde_json::Value;

/// The key that names an element of a list.
pub const ELEMENT_NAME: &str = "name";

/// The segment that stands for every element of a list or key of a map.
pub const EVERY: &str = "*";

/// The segments of a path, or why the text is not one.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('[') {
            let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
            let Some(q) = quote else {
                return Err("a bracketed key is quoted: `[\"key\"]`".into());
            };
            let inner = &after[1..];
            let Some(end) = inner.find(q) else {
                return Err(format!("the quoted key has no closing {q}"));
            };
            let key = &inner[..end];
            if key.is_empty() {
                return Err("a bracketed key is not empty".into());
            }
            out.push(key.to_string());
            let Some(after) = inner[end + 1..].strip_prefix(']') else {
                return Err("a bracketed key ends with `]`".into());
            };
            rest = after;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let seg = &rest[..end];
            if seg.is_empty() {
                return Err(
                    if out.is_empty() { "a path starts with a field name" } else { "a segment is empty" }.into()
                );
            }
            if seg.contains([']', '"', '\'']) {
                return Err(format!("`{seg}` is not a plain name; write a key with such characters as `[\"key\"]`"));
            }
            out.push(seg.to_string());
            rest = &rest[end..];
        }
        if rest.is_empty() {
            return Ok(out);
        }
        if let Some(after) = rest.strip_prefix('.') {
            if after.is_empty() {
                return Err("a path does not end with a dot".into());
            }
            rest = after;
        } else if !rest.starts_with('[') {
            return Err(format!("`{rest}` follows a bracketed key without a dot"));
        }
    }
}

/// A path as `ignore_changes` writes it, in the plainest form.
pub fn show(path: &[String]) -> String {
    let mut out = String::new();
    for (i, seg) in path.iter().enumerate() {
        if seg.is_empty() || seg.contains(['.', '[', ']', '"', '\'']) {
            let q = if seg.contains('"') { '\'' } else { '"' };
            out.push_str(&format!("[{q}{seg}{q}]"));
        } else {
            if i > 0 {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// The paths `path` stands for in `values` (the same field as the file
/// and AWS have it): a [`EVERY`] segment becomes the name of each element,
/// or each key, that any of them has there, each once, in the order first
/// seen. A path without one is itself; one that leads nowhere in all of
/// them stands for none.
pub fn expand(path: &[String], values: &[Option<&Value>]) -> Vec<Vec<String>> {
    let Some(at) = path.iter().position(|s| s == EVERY) else { return vec![path.to_vec()] };
    let (before, after) = (&path[..at], &path[at + 1..]);
    let mut names: Vec<String> = Vec::new();
    for v in values.iter().flatten() {
        let Reach::At(there) = reach(v, before) else { continue };
        let found: Vec<String> = match there {
            Value::Array(items) => items
                .iter()
                .filter_map(|x| match x.get(ELEMENT_NAME)? {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Value::Object(m) => m.keys().cloned().collect(),
            _ => Vec::new(),
        };
        // A name or key that is itself `*` stands for nothing more.
        for n in found.into_iter().filter(|n| n != EVERY) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
        .into_iter()
        .flat_map(|n| {
            let mut one = before.to_vec();
            one.push(n);
            one.extend_from_slice(after);
            expand(&one, values)
        })
        .collect()
}

/// Where a path leads in a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Reach<'a> {
    /// A value is there.
    At(&'a Value),
    /// Every step up to the last leads somewhere, but nothing is set at the
    /// end (a key the map does not have, a null).
    Unset,
    /// A step cannot be taken: no element of a list has that name, or a
    /// scalar is in the way. Nothing can be said of the path.
    Nowhere,
}

/// The element of a list that `name` names.
fn element<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|v| v.get(ELEMENT_NAME).is_some_and(|n| same_name(n, name)))
}

fn same_name(v: &Value, name: &str) -> bool {
    match v {
        Value::String(s) => s == name,
        Value::Number(n) => n.to_string() == name,
        _ => false,
    }
}

/// Where `path` leads in `v`. A missing or null object on the way is a map
/// without the key: the path is [`Reach::Unset`] there.
pub fn reach<'a>(v: &'a Value, path: &[String]) -> Reach<'a> {
    let Some((first, rest)) = path.split_first() else {
        return if v.is_null() { Reach::Unset } else { Reach::At(v) };
    };
    match v {
        Value::Null => Reach::Unset,
        Value::Object(m) => match m.get(first) {
            Some(x) => reach(x, rest),
            None => Reach::Unset,
        },
        Value::Array(items) => match element(items, first) {
            Some(x) => reach(x, rest),
            None => Reach::Nowhere,
        },
        _ => Reach::Nowhere,
    }
}

/// Sets what `path` leads to in `v` to `to` (None: unsets it, removing the
/// key). Missing objects on the way are made; a list element that is not
/// there is not: false when the path cannot be followed.
pub fn set(v: &mut Value, path: &[String], to: Option<&Value>) -> bool {
    let Some((first, rest)) = path.split_first() else {
        *v = to.cloned().unwrap_or(Value::Null);
        return true;
    };
    if v.is_null() {
        if to.is_none() {
            return true;
        }
        *v = Value::Object(Default::default());
    }
    match v {
        Value::Object(m) if rest.is_empty() => {
            match to {
                Some(x) => {
                    m.insert(first.clone(), x.clone());
                }
                None => {
                    m.remove(first);
                }
            }
            true
        }
        Value::Object(m) => match m.get_mut(first) {
            Some(x) => set(x, rest, to),
            None if to.is_none() => true,
            None => {
                let mut x = Value::Null;
                let done = set(&mut x, rest, to);
                if done {
                    m.insert(first.clone(), x);
                }
                done
            }
        },
        Value::Array(items) => {
            match items.iter_mut().find(|x| x.get(ELEMENT_NAME).is_some_and(|n| same_name(n, first))) {
                Some(x) if rest.is_empty() => {
                    // An element stays named: it is replaced whole or not at all.
                    match to {
                        Some(t) if t.get(ELEMENT_NAME).is_some_and(|n| same_name(n, first)) => {
                            *x = t.clone();
                            true
                        }
                        _ => false,
                    }
                }
                Some(x) => set(x, rest, to),
                None => false,
            }
        }
        _ => false,
    }
}

/// `to`'s value at `path` taken into `v`, when `to` can say what it is
/// there: true when `v` was changed.
pub fn take(v: &mut Value, path: &[String], to: &Value) -> bool {
    let from = match reach(to, path) {
        Reach::At(x) => Some(x.clone()),
        Reach::Unset => None,
        Reach::Nowhere => return false,
    };
    let before = v.clone();
    set(v, path, from.as_ref()) && *v != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        parse(s).unwrap()
    }

    #[test]
    fn paths_are_dotted_with_bracketed_keys() {
        assert_eq!(p("desired_count"), ["desired_count"]);
        assert_eq!(p("containers.web.image"), ["containers", "web", "image"]);
        assert_eq!(p("tags[\"app.kubernetes.io/name\"]"), ["tags", "app.kubernetes.io/name"]);
        assert_eq!(p("tags['a\"b'].x"), ["tags", "a\"b", "x"]);
        assert_eq!(p("a[\"b\"][\"c\"]"), ["a", "b", "c"]);
        for bad in ["", ".a", "a.", "a..b", "a[b]", "a[\"b\"", "a[\"\"]", "a[\"b\"]c", "a]b", "a[\"b\"x]"] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        for text in ["containers.web.image", "tags[\"app.kubernetes.io/name\"]", "tags['a\"b'].x"] {
            assert_eq!(show(&p(text)), text);
        }
    }

    #[test]
    fn elements_are_found_by_name_and_keys_in_maps() {
        let v = json!({"containers": [{"name": "web", "image": "a", "environment": {"A": "1"}},
                                      {"name": "worker", "image": "b"}],
                       "health_check": null});
        assert_eq!(reach(&v, &p("containers.worker.image")), Reach::At(&json!("b")));
        assert_eq!(reach(&v, &p("containers.web.environment.A")), Reach::At(&json!("1")));
        assert_eq!(reach(&v, &p("containers.web.environment.B")), Reach::Unset);
        assert_eq!(reach(&v, &p("containers.worker.environment.B")), Reach::Unset);
        assert_eq!(reach(&v, &p("health_check.interval")), Reach::Unset);
        assert_eq!(reach(&v, &p("containers.wbe.image")), Reach::Nowhere);
        assert_eq!(reach(&v, &p("containers.web.image.x")), Reach::Nowhere);
    }

    #[test]
    fn taking_a_path_changes_only_what_is_under_it() {
        let live = json!({"containers": [{"name": "web", "image": "new", "cpu": 1},
                                         {"name": "worker", "image": "w2"}],
                          "tags": {"CostCenter": "42"}});
        let mut file = json!({"containers": [{"name": "worker", "image": "w1"},
                                             {"name": "web", "image": "old", "cpu": 2}],
                              "tags": {"team": "a"}});
        assert!(take(&mut file, &p("containers.web.image"), &live));
        assert!(take(&mut file, &p("tags.CostCenter"), &live));
        assert_eq!(
            file,
            json!({"containers": [{"name": "worker", "image": "w1"}, {"name": "web", "image": "new", "cpu": 2}],
                   "tags": {"team": "a", "CostCenter": "42"}})
        );
        // Taken again: nothing changes.
        assert!(!take(&mut file, &p("containers.web.image"), &live));
        // Unset in live: unset in the file too.
        assert!(take(&mut file, &p("tags.team"), &live));
        assert_eq!(file["tags"], json!({"CostCenter": "42"}));
        // A container live does not have keeps the file's value.
        let mut other = json!({"containers": [{"name": "new", "image": "x"}]});
        assert!(!take(&mut other, &p("containers.new.image"), &live));
        assert_eq!(other["containers"][0]["image"], "x");
        // A map the file does not have is made.
        let mut bare = json!({"containers": [{"name": "web", "image": "old"}]});
        let live = json!({"containers": [{"name": "web", "image": "old", "environment": {"B": "2"}}]});
        assert!(take(&mut bare, &p("containers.web.environment.B"), &live));
        assert_eq!(bare["containers"][0]["environment"], json!({"B": "2"}));
        // A whole element, by name.
        let mut whole = json!({"containers": [{"name": "web", "image": "old"}]});
        assert!(take(&mut whole, &p("containers.web"), &live));
        assert_eq!(whole["containers"][0], live["containers"][0]);
    }

    #[test]
    fn every_stands_for_the_elements_and_keys_either_side_has() {
        let file = json!([{"name": "web", "image": "a", "environment": {"A": "1"}},
                          {"name": "worker", "image": "b"}]);
        let live = json!([{"name": "web", "image": "c", "environment": {"B": "2", "A": "1"}},
                          {"name": "sidecar", "image": "d"}]);
        let both = [Some(&file), Some(&live)];
        let shown = |path: &str, values: &[Option<&Value>]| -> Vec<String> {
            expand(&p(path), values).iter().map(|x| show(x)).collect()
        };
        assert_eq!(shown("*.image", &both), ["web.image", "worker.image", "sidecar.image"]);
        assert_eq!(shown("*.environment.*", &both), ["web.environment.A", "web.environment.B"]);
        assert_eq!(shown("web.environment.*", &[Some(&file), None]), ["web.environment.A"]);
        assert_eq!(shown("web.image", &[None, None]), ["web.image"]);
        assert!(shown("*.image", &[None, None]).is_empty());
        assert!(shown("web.image.*", &both).is_empty());
        // A key that is itself `*` is not expanded again.
        let odd = json!({"*": "x", "b": "y"});
        assert_eq!(shown("*", &[Some(&odd)]), ["b"]);
        // Each taken from live, the worker (not in live) keeps its image.
        let mut ours = file.clone();
        for path in expand(&p("*.image"), &both) {
            take(&mut ours, &path, &live);
        }
        assert_eq!(ours[0]["image"], "c");
        assert_eq!(ours[1]["image"], "b");
    }
}
