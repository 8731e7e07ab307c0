//! IAM policy documents in moor's form and in AWS's, for IAM's roles and
//! policies and ECR's repository policies alike.
//!
//! AWS returns documents URL-encoded and as they were sent (or reformatted):
//! they are decoded, parsed into moor's lower-case form, and projected onto
//! the file's document (its statement order, its single values or lists,
//! account ids for `:root` ARNs), so that only a real difference shows.

use crate::model::common::{Effect, OneOrMany, PolicyDocument, Principals, Statement};
use serde_json::{json, Map, Value};

/// moor's document as IAM JSON.
pub(crate) fn document_json(doc: &PolicyDocument) -> String {
    let statements: Vec<Value> = doc.statements.iter().map(statement_json).collect();
    json!({ "Version": doc.version.as_deref().unwrap_or("2012-10-17"), "Statement": statements }).to_string()
}

fn statement_json(s: &Statement) -> Value {
    let mut m = Map::new();
    if let Some(sid) = &s.sid {
        m.insert("Sid".into(), json!(sid));
    }
    m.insert("Effect".into(), json!(if s.effect == Effect::Deny { "Deny" } else { "Allow" }));
    if let Some(p) = &s.principals {
        let mut pm = Map::new();
        if !p.aws.is_empty() {
            pm.insert("AWS".into(), json!(p.aws));
        }
        if !p.services.is_empty() {
            pm.insert("Service".into(), json!(p.services));
        }
        m.insert("Principal".into(), Value::Object(pm));
    }
    if !s.actions.is_empty() {
        m.insert("Action".into(), json!(s.actions));
    }
    if !s.not_actions.is_empty() {
        m.insert("NotAction".into(), json!(s.not_actions));
    }
    if !s.resources.is_empty() {
        m.insert("Resource".into(), json!(s.resources));
    }
    if !s.conditions.is_empty() {
        m.insert("Condition".into(), serde_json::to_value(&s.conditions).expect("plain data, string keys: infallible"));
    }
    Value::Object(m)
}

/// Decodes `%XX` escapes (RFC 3986, as IAM encodes documents; `+` stays).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON text of a document IAM may have URL-encoded.
fn decode(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        percent_decode(text)
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One string or a list of them, as IAM JSON allows either.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(scalar).collect(),
        Some(other) => vec![scalar(other)],
    }
}

fn parse_statement(v: &Value) -> Statement {
    let effect = match v.get("Effect").and_then(Value::as_str) {
        Some(e) if e.eq_ignore_ascii_case("deny") => Effect::Deny,
        _ => Effect::Allow,
    };
    let principals = v.get("Principal").map(|p| match p {
        Value::String(s) => Principals { aws: vec![s.clone()], services: Vec::new() },
        _ => Principals { aws: strings(p.get("AWS")), services: strings(p.get("Service")) },
    });
    let conditions = v
        .get("Condition")
        .and_then(Value::as_object)
        .map(|ops| {
            ops.iter()
                .map(|(op, keys)| {
                    let keys = keys
                        .as_object()
                        .map(|k| {
                            k.iter()
                                .map(|(key, val)| {
                                    let val = match val {
                                        Value::Array(a) => OneOrMany::Many(a.iter().map(scalar).collect()),
                                        other => OneOrMany::One(scalar(other)),
                                    };
                                    (key.clone(), val)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (op.clone(), keys)
                })
                .collect()
        })
        .unwrap_or_default();
    Statement {
        sid: v.get("Sid").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string),
        effect,
        actions: strings(v.get("Action")),
        not_actions: strings(v.get("NotAction")),
        resources: strings(v.get("Resource")),
        principals,
        conditions,
    }
}

/// A document as IAM or ECR returns it (plain or URL-encoded JSON) in
/// moor's form. `None` when it is not JSON.
pub(crate) fn parse_document(text: &str) -> Option<PolicyDocument> {
    let v: Value = serde_json::from_str(&decode(text)).ok()?;
    let statements = match v.get("Statement") {
        Some(Value::Array(a)) => a.iter().map(parse_statement).collect(),
        Some(o @ Value::Object(_)) => vec![parse_statement(o)],
        _ => Vec::new(),
    };
    Some(PolicyDocument { version: v.get("Version").and_then(Value::as_str).map(str::to_string), statements })
}

/// The account id of `arn:<partition>:iam::<account>:root`.
pub(crate) fn account_of_root(a: &str) -> Option<&str> {
    let parts: Vec<&str> = a.split(':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5] == "root" && is_account(parts[4]))
        .then(|| parts[4])
}

pub(crate) fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A live statement in the file's notation where both mean the same: single
/// values or lists in conditions, an account id for its `:root` ARN.
fn project_statement(mut l: Statement, s: &Statement) -> Statement {
    for (op, keys) in l.conditions.iter_mut() {
        let Some(skeys) = s.conditions.get(op) else { continue };
        for (key, val) in keys.iter_mut() {
            let Some(sval) = skeys.get(key) else { continue };
            let projected = match (sval, &*val) {
                (OneOrMany::One(_), OneOrMany::Many(v)) if v.len() == 1 => Some(OneOrMany::One(v[0].clone())),
                (OneOrMany::Many(_), OneOrMany::One(x)) => Some(OneOrMany::Many(vec![x.clone()])),
                _ => None,
            };
            if let Some(p) = projected {
                *val = p;
            }
        }
    }
    if let (Some(lp), Some(sp)) = (&mut l.principals, &s.principals) {
        for a in lp.aws.iter_mut() {
            if let Some(id) = account_of_root(a).filter(|id| sp.aws.iter().any(|x| x == id)) {
                *a = id.to_string();
            }
        }
    }
    l
}

/// A live document in the file's order and notation. Statements are paired
/// with the file's by `sid`, then by equality; the rest keep their order.
pub(crate) fn project_document(live: PolicyDocument, spec: Option<&PolicyDocument>) -> PolicyDocument {
    let Some(spec) = spec else { return live };
    let mut pool: Vec<Option<Statement>> = live.statements.into_iter().map(Some).collect();
    let mut slots: Vec<Option<Statement>> = vec![None; spec.statements.len()];
    for (i, s) in spec.statements.iter().enumerate() {
        let Some(sid) = &s.sid else { continue };
        if let Some(j) = pool.iter().position(|l| l.as_ref().is_some_and(|l| l.sid.as_ref() == Some(sid))) {
            slots[i] = pool[j].take().map(|l| project_statement(l, s));
        }
    }
    for (i, s) in spec.statements.iter().enumerate() {
        if slots[i].is_some() {
            continue;
        }
        let want = serde_json::to_value(s).expect("plain data, string keys: infallible");
        let same = |l: &Statement| {
            let got =
                serde_json::to_value(project_statement(l.clone(), s)).expect("plain data, string keys: infallible");
            crate::plan::matches(&want, &got, "statements")
        };
        if let Some(j) = pool.iter().position(|l| l.as_ref().is_some_and(same)) {
            slots[i] = pool[j].take().map(|l| project_statement(l, s));
        }
    }
    for (i, s) in spec.statements.iter().enumerate() {
        if slots[i].is_some() {
            continue;
        }
        if let Some(j) = pool.iter().position(Option::is_some) {
            slots[i] = pool[j].take().map(|l| project_statement(l, s));
        }
    }
    let mut statements: Vec<Statement> = slots.into_iter().flatten().collect();
    statements.extend(pool.into_iter().flatten());
    PolicyDocument { version: live.version, statements }
}
pub(crate) fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// AWS principals of a policy split into moor's `accounts` (ids, from
/// `:root` ARNs) and `principals`; a `:root` ARN the file lists among its
/// principals stays there.
pub(crate) fn split_principals(
    aws: &[String],
    file_accounts: &[String],
    file_principals: &[String],
) -> (Vec<String>, Vec<String>) {
    let (mut accounts, mut principals) = (Vec::new(), Vec::new());
    for a in aws {
        let id = account_of_root(a).or(is_account(a).then_some(a.as_str()));
        match id {
            Some(id) if !file_principals.contains(a) && file_accounts.iter().any(|x| x == id) => {
                push_unique(&mut accounts, id)
            }
            Some(id) => match file_principals.iter().find(|p| *p == a || account_of_root(p) == Some(id)) {
                Some(p) => push_unique(&mut principals, p),
                None => push_unique(&mut accounts, id),
            },
            None => push_unique(&mut principals, a),
        }
    }
    (accounts, principals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_decode_and_parse() {
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D";
        let d = parse_document(enc).unwrap();
        assert_eq!(d.version.as_deref(), Some("2012-10-17"));
        assert_eq!(d.statements[0].actions, vec!["s3:Get*"]);
        assert_eq!(d.statements[0].resources, vec!["*"]);
        assert_eq!(percent_decode("a+b%20c%"), "a+b c%");
    }
}
