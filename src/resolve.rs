//! Filling `${resource.attribute}` with values.
//!
//! A spec holds references as text; plan fills in what is known (resources
//! that exist) and marks the rest "known after apply"; apply fills in
//! everything, since a resource runs only after what it depends on. `$${`
//! becomes a literal `${` here, when the value leaves moor.

use crate::expr::{self, Piece, Target};
use crate::model::Spec;
use crate::provider::Attrs;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// Attribute values by logical resource name.
pub type Known = HashMap<String, Attrs>;

/// Resolves one JSON value. Returns the value and whether some reference
/// was not known (that text is kept as it was).
pub fn resolve_value(v: &Value, known: &Known) -> (Value, bool) {
    match v {
        Value::String(s) => resolve_str(s, known),
        Value::Array(items) => {
            let mut unknown = false;
            let out = items
                .iter()
                .map(|i| {
                    let (v, u) = resolve_value(i, known);
                    unknown |= u;
                    v
                })
                .collect();
            (Value::Array(out), unknown)
        }
        Value::Object(m) => {
            let mut unknown = false;
            let out = m
                .iter()
                .map(|(k, i)| {
                    let (v, u) = resolve_value(i, known);
                    unknown |= u;
                    (k.clone(), v)
                })
                .collect();
            (Value::Object(out), unknown)
        }
        other => (other.clone(), false),
    }
}

/// The value of `${resource.attribute}`, or of its item or slice; `None`
/// while it is not known, or when the index is out of range (the plan's
/// checks report that, see [`index_problems`]).
fn lookup(known: &Known, resource: &str, attribute: &str, index: Option<expr::Index>) -> Option<Value> {
    let v = known.get(resource)?.get(attribute)?;
    match (index, v) {
        (None, v) => Some(v.clone()),
        (Some(i), Value::Array(items)) => i.apply(items).ok(),
        (Some(_), _) => None,
    }
}

/// The references of the file whose index or slice is out of range of a
/// list that is known now: each with its place and why.
pub fn index_problems(stack: &crate::model::Stack, known: &Known) -> Vec<(crate::model::RefUse, String)> {
    let mut out = Vec::new();
    for u in &stack.refs {
        let Some(index) = u.index else { continue };
        let Some(Value::Array(items)) = known.get(&u.resource).and_then(|a| a.get(&u.attribute)) else { continue };
        if let Err(why) = index.range(items.len()) {
            out.push((u.clone(), format!("`${{{}.{}{index}}}`: {why}", u.resource, u.attribute)));
        }
    }
    out
}

pub fn resolve_str(s: &str, known: &Known) -> (Value, bool) {
    if !s.contains('$') {
        return (Value::String(s.to_string()), false);
    }
    let Ok(pieces) = expr::parse(s) else {
        return (Value::String(s.to_string()), false);
    };
    if let Some(r) = expr::whole_ref(&pieces) {
        if let Target::Attr { resource, attribute, index } = &r.target {
            return match lookup(known, resource, attribute, *index) {
                Some(v) => (v, false),
                None => (Value::String(s.to_string()), true),
            };
        }
    }
    let mut out = String::new();
    for p in &pieces {
        match p {
            Piece::Lit(l) => out.push_str(l),
            Piece::Ref(r) => {
                let Target::Attr { resource, attribute, index } = &r.target else {
                    out.push_str(&r.target.to_string());
                    continue;
                };
                match lookup(known, resource, attribute, *index) {
                    Some(Value::String(v)) => out.push_str(&v),
                    Some(Value::Number(n)) => out.push_str(&n.to_string()),
                    Some(other) => out.push_str(&other.to_string()),
                    None => return (Value::String(s.to_string()), true),
                }
            }
        }
    }
    (Value::String(out), false)
}

/// A spec with every known reference filled in, and the names of its
/// top-level fields that still hold an unknown one.
pub fn resolve_spec(spec: &Spec, known: &Known) -> (Spec, BTreeSet<String>) {
    // Cannot fail: specs are plain structs with string-keyed maps.
    let v = serde_json::to_value(spec).expect("specs serialize");
    let Value::Object(map) = v else { return (spec.clone(), BTreeSet::new()) };
    let mut unknown = BTreeSet::new();
    let mut out = serde_json::Map::new();
    for (k, val) in map {
        let (r, u) = resolve_value(&val, known);
        if u {
            unknown.insert(k.clone());
        }
        out.insert(k, r);
    }
    match spec.kind().spec_from_json(Value::Object(out)) {
        Ok(s) => (s, unknown),
        // A value of the wrong type came from an attribute; keep the text.
        Err(_) => (spec.clone(), unknown),
    }
}

/// Where in a resolved value the references that were not known are
/// (object keys and list indexes; an empty path: the whole value): the
/// leaves that are "known after apply". Everything else is what apply sets.
pub fn unknown_leaves(v: &Value) -> Vec<Vec<String>> {
    fn walk(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::String(s) => {
                let unresolved = expr::parse(s).is_ok_and(|pieces| {
                    pieces.iter().any(|p| matches!(p, Piece::Ref(r) if matches!(r.target, Target::Attr { .. })))
                });
                if unresolved {
                    out.push(at.clone());
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    at.push(i.to_string());
                    walk(x, at, out);
                    at.pop();
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    at.push(k.clone());
                    walk(x, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// Writes `account` for every `${account_id}` in `s`; `None` when `s` has
/// none. The rest stays as written (references, `$${` escapes).
pub fn fill_account_str(s: &str, account: &str) -> Option<String> {
    let pieces = expr::parse(s).ok()?;
    if !pieces.iter().any(|p| matches!(p, Piece::Ref(r) if r.target == Target::AccountId)) {
        return None;
    }
    let mut out = String::new();
    for p in &pieces {
        match p {
            Piece::Lit(l) => out.push_str(&l.replace("${", "$${")),
            Piece::Ref(r) if r.target == Target::AccountId => out.push_str(account),
            Piece::Ref(r) => out.push_str(&r.target.to_string()),
        }
    }
    Some(out)
}

fn fill_account_value(v: &mut Value, account: &str) -> bool {
    match v {
        Value::String(s) => match fill_account_str(s, account) {
            Some(filled) => {
                *s = filled;
                true
            }
            None => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |any, x| fill_account_value(x, account) | any),
        Value::Object(m) => m.values_mut().fold(false, |any, x| fill_account_value(x, account) | any),
        _ => false,
    }
}

/// Whether the stack uses `${account_id}` anywhere (resources, names,
/// outputs), so that it needs the account before anything is read.
pub fn uses_account(stack: &crate::model::Stack) -> bool {
    let has = |s: &str| fill_account_str(s, "").is_some();
    stack.resources.iter().any(|r| {
        r.physical_name.as_deref().is_some_and(has)
            || serde_json::to_value(&r.spec).is_ok_and(|mut v| fill_account_value(&mut v, ""))
    }) || stack.outputs.iter().any(|o| has(&o.value))
}

/// Fills `${account_id}` in the stack's resources and outputs with the
/// account that `sts:GetCallerIdentity` answered.
pub fn fill_account(stack: &mut crate::model::Stack, account: &str) {
    for r in &mut stack.resources {
        if let Some(n) = r.physical_name.as_deref().and_then(|n| fill_account_str(n, account)) {
            r.physical_name = Some(n);
        }
        let Ok(mut v) = serde_json::to_value(&r.spec) else { continue };
        if fill_account_value(&mut v, account) {
            // An account id is text wherever the file may use it.
            if let Ok(spec) = r.spec.kind().spec_from_json(v) {
                r.spec = spec;
            }
        }
    }
    for o in &mut stack.outputs {
        if let Some(v) = fill_account_str(&o.value, account) {
            o.value = v;
        }
    }
}

/// Turns the `$${` escapes of a fully resolved string into `${`.
pub fn unescape(s: &str) -> String {
    s.replace("$${", "${")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Known {
        let mut k = Known::new();
        k.insert("repo".into(), [("uri".to_string(), json!("1.dkr/r"))].into());
        k.insert("net".into(), [("subnet_ids".to_string(), json!(["a", "b"]))].into());
        k
    }

    #[test]
    fn whole_values_keep_their_type() {
        assert_eq!(resolve_str("${net.subnet_ids}", &known()), (json!(["a", "b"]), false));
        assert_eq!(resolve_str("${repo.uri}:v1", &known()), (json!("1.dkr/r:v1"), false));
    }

    #[test]
    fn unknown_leaves_are_the_references_left() {
        let (v, unknown) = resolve_value(
            &json!({"image": "${repo.uri}:v1", "env": {"A": "${lb.dns_name}", "B": "$${x}"}, "ports": [80, "${lb.port}"]}),
            &known(),
        );
        assert!(unknown);
        assert_eq!(unknown_leaves(&v), [vec!["env".to_string(), "A".into()], vec!["ports".into(), "1".into()]]);
        assert_eq!(unknown_leaves(&json!("${lb.arn}")), [Vec::<String>::new()]);
        assert!(unknown_leaves(&json!("${var.x} $${y}")).is_empty(), "variables and escapes are not unknown");
    }

    #[test]
    fn account_fills_only_its_references() {
        assert_eq!(
            fill_account_str("arn:aws:iam::${account_id}:role/${lb.name}-$${account_id}", "111122223333").as_deref(),
            Some("arn:aws:iam::111122223333:role/${lb.name}-$${account_id}")
        );
        assert_eq!(fill_account_str("$${account_id} ${region}", "111122223333"), None);
        assert_eq!(fill_account_str("arn:aws:iam::123456789012:root", "111122223333"), None);
    }

    #[test]
    fn indexes_and_slices_take_items_of_known_lists() {
        let k = known();
        assert_eq!(resolve_str("${net.subnet_ids[0]}", &k), (json!("a"), false));
        assert_eq!(resolve_str("${net.subnet_ids[-1]}", &k), (json!("b"), false));
        assert_eq!(resolve_str("${net.subnet_ids[0:1]}", &k), (json!(["a"]), false));
        assert_eq!(resolve_str("${net.subnet_ids[:]}", &k), (json!(["a", "b"]), false));
        assert_eq!(resolve_str("subnet-${net.subnet_ids[1]}", &k), (json!("subnet-b"), false));
        // Out of range, or an index on a single value: not resolved.
        assert_eq!(resolve_str("${net.subnet_ids[2]}", &k), (json!("${net.subnet_ids[2]}"), true));
        assert_eq!(resolve_str("${net.subnet_ids[0:3]}", &k), (json!("${net.subnet_ids[0:3]}"), true));
        assert_eq!(resolve_str("${repo.uri[0]}", &k), (json!("${repo.uri[0]}"), true));
        // Unknown lists stay as text, index and all.
        assert_eq!(resolve_str("${vpc.subnet_ids[0]}", &k), (json!("${vpc.subnet_ids[0]}"), true));
        let (v, u) = resolve_value(&json!({"subnets": "${net.subnet_ids[0:2]}", "one": ["${net.subnet_ids[1]}"]}), &k);
        assert_eq!((v, u), (json!({"subnets": ["a", "b"], "one": ["b"]}), false));
    }

    #[test]
    fn unknown_references_stay_as_text() {
        assert_eq!(resolve_str("${lb.dns_name}", &known()), (json!("${lb.dns_name}"), true));
        assert_eq!(resolve_str("a $${b}", &known()), (json!("a ${b}"), false));
        assert_eq!(resolve_str("${repo.uri} $${x}", &known()), (json!("1.dkr/r ${x}"), false));
    }
}
