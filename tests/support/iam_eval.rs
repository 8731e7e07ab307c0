//! A small IAM policy evaluator for the tests: is a request allowed by an
//! identity policy? AWS's documented rules for one identity-based policy:
//! an explicit deny wins, an allow is needed (default deny); actions match
//! case-insensitively with `*` and `?`; resources (ARNs) case-sensitively
//! with `*` and `?`; `NotAction`/`NotResource`; conditions with the common
//! operators, `...IfExists`, and the `ForAllValues:`/`ForAnyValue:` set
//! qualifiers. A condition key the request does not give fails its
//! condition (except `IfExists`, `ForAllValues:` and negated operators), as
//! in IAM.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;

/// One request: an action on a resource with its context (condition keys,
/// names compared case-insensitively).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Request {
        Request { action: action.into(), resource: resource.into(), context: BTreeMap::new() }
    }

    pub fn with(mut self, key: &str, values: &[&str]) -> Request {
        self.context.insert(key.to_ascii_lowercase(), values.iter().map(|v| v.to_string()).collect());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

/// `*` any run of characters, `?` one character.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard(&pattern.to_ascii_lowercase(), &action.to_ascii_lowercase())
}

/// An ARN pattern against an ARN: each of the six parts on its own (a `*`
/// does not run past a colon into the next part, except in the resource).
fn resource_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 || a.len() != 6 {
        return wildcard(pattern, arn);
    }
    p.iter().zip(&a).all(|(p, a)| wildcard(p, a))
}

fn one(op: &str, want: &str, have: &str) -> bool {
    match op {
        "StringEquals" | "ArnEquals" => want == have,
        "StringEqualsIgnoreCase" => want.eq_ignore_ascii_case(have),
        "StringLike" => wildcard(want, have),
        "ArnLike" => resource_matches(want, have),
        "Bool" => want.eq_ignore_ascii_case(have),
        _ => false,
    }
}

/// One condition operator on one key.
fn condition(test: &str, key: &str, wants: &[String], req: &Request) -> bool {
    let (set, test) = match test.split_once(':') {
        Some((q, t)) => (Some(q), t),
        None => (None, test),
    };
    let (test, if_exists) = match test.strip_suffix("IfExists") {
        Some(t) => (t, true),
        None => (test, false),
    };
    let (base, negated) = match test {
        "StringNotEquals" => ("StringEquals", true),
        "StringNotLike" => ("StringLike", true),
        "ArnNotEquals" => ("ArnEquals", true),
        "ArnNotLike" => ("ArnLike", true),
        t => (t, false),
    };
    let Some(haves) = req.context.get(&key.to_ascii_lowercase()) else {
        return if_exists || negated || set == Some("ForAllValues");
    };
    let hit = |have: &str| wants.iter().any(|w| one(base, w, have));
    let matched = match set {
        Some("ForAllValues") => haves.iter().all(|h| hit(h)),
        Some("ForAnyValue") => haves.iter().any(|h| hit(h)),
        _ => haves.iter().any(|h| hit(h)),
    };
    matched != negated
}

/// Whether a statement applies to the request.
pub fn statement_applies(s: &Value, req: &Request) -> bool {
    let action = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => list(Some(a)).iter().any(|p| action_matches(p, &req.action)),
        (None, Some(n)) => !list(Some(n)).iter().any(|p| action_matches(p, &req.action)),
        _ => false,
    };
    let resource = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), _) => list(Some(r)).iter().any(|p| resource_matches(p, &req.resource)),
        (None, Some(n)) => !list(Some(n)).iter().any(|p| resource_matches(p, &req.resource)),
        _ => false,
    };
    let conditions = match s.get("Condition") {
        Some(Value::Object(tests)) => tests.iter().all(|(test, keys)| match keys {
            Value::Object(keys) => keys.iter().all(|(k, v)| condition(test, k, &list(Some(v)), req)),
            _ => false,
        }),
        _ => true,
    };
    action && resource && conditions
}

/// The decision of a policy document on a request.
pub fn evaluate(policy: &Value, req: &Request) -> Decision {
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => Vec::new(),
    };
    let mut allowed = false;
    for s in &statements {
        if statement_applies(s, req) {
            if s.get("Effect").and_then(Value::as_str) == Some("Deny") {
                return Decision::ExplicitDeny;
            }
            allowed = true;
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}
