//! Secret values: recognising them, and keeping them out of everything moor
//! prints or stores.
//!
//! An environment entry of a container is *sensitive* when the file marks it
//! (`sensitive: [NAME]` on the container), when its name says so
//! (`…PASSWORD…`, `…TOKEN…`), or when its value looks like a credential: an
//! AWS access key id, a 40-character secret key next to one, or a URL with a
//! password. Then:
//! - diagnostics show the file with such values (and any value of a
//!   container's `secrets:` that is not an ARN) masked (miette prints the
//!   lines around a label, so a warning about one line would show its
//!   neighbours too);
//! - plans show `(sensitive)` in place of the value, before and after, and
//!   list which sensitive entries change;
//! - the state record keeps `sha256:…` of the value, salted with the stack,
//!   resource, container and entry names, never the value.
//!
//! Why that salt and not a random one kept in the record: anyone who can read
//! the record could read a random salt too, so it would not slow a guess of
//! one value; what a salt must do here is make equal values in different
//! places (or stacks) hash differently, and keep the hash the same from one
//! apply to the next so an unchanged secret is not a change. Names do both
//! without another field in the record.

use crate::provider::Fields;
use crate::yaml::{Node, NodeKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What a sensitive value is shown as.
pub const MASK: &str = "(sensitive)";

/// Why an entry is taken for a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The file says so.
    Marked,
    /// The variable's name (`PASSWORD`, `TOKEN`, …).
    Name,
    /// An AWS access key id (`AKIA…`, `ASIA…`).
    AccessKeyId,
    /// A 40-character secret access key next to an access key id.
    SecretKey,
    /// A URL with a password (`scheme://user:password@host`).
    UrlPassword,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Marked => "it is marked sensitive",
            Reason::Name => "its name says so",
            Reason::AccessKeyId => "its value is an AWS access key id",
            Reason::SecretKey => "its value looks like an AWS secret access key",
            Reason::UrlPassword => "its value is a URL with a password",
        }
    }
}

const SECRET_WORDS: [&str; 7] = ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "PRIVATE_KEY", "CREDENTIAL"];

/// Whether a variable's name says it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w))
}

fn key_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// Byte ranges of the AWS access key ids in `s`: `AKIA` or `ASIA` and 16
/// upper-case letters or digits, not part of a longer word.
pub fn access_key_ids(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 20 <= b.len() {
        let prefix = &b[i..i + 4];
        let boundary_before = i == 0 || !key_char(b[i - 1]);
        if (prefix == b"AKIA" || prefix == b"ASIA")
            && boundary_before
            && b[i + 4..i + 20].iter().all(|c| key_char(*c))
            && (i + 20 == b.len() || !key_char(b[i + 20]))
        {
            out.push((i, i + 20));
            i += 20;
        } else {
            i += 1;
        }
    }
    out
}

/// Whether a value is shaped like an AWS secret access key: 40 characters
/// of base64, with both cases or digits.
pub fn secret_key_shaped(s: &str) -> bool {
    let s = s.trim();
    s.len() == 40
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'/' || c == b'+' || c == b'=')
        && s.bytes().any(|c| c.is_ascii_lowercase())
        && s.bytes().any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Byte ranges of the passwords of URLs in `s` (`scheme://user:PASSWORD@host`).
pub fn url_passwords(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = s[from..].find("://") {
        let start = from + at + 3;
        let end = s[start..]
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || "\"'`<>".contains(c))
            .map_or(s.len(), |e| start + e);
        let authority = &s[start..end];
        if let Some(amp) = authority.rfind('@') {
            let userinfo = &authority[..amp];
            if let Some(colon) = userinfo.find(':') {
                if colon + 1 < userinfo.len() {
                    out.push((start + colon + 1, start + amp));
                }
            }
        }
        from = end.max(start);
    }
    out
}

/// `s` with every AWS access key id and URL password replaced by `***`:
/// for text moor did not write, such as AWS's error messages.
pub fn redact(s: &str) -> String {
    let mut ranges = access_key_ids(s);
    ranges.extend(url_passwords(s));
    if ranges.is_empty() {
        return s.to_string();
    }
    ranges.sort();
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (a, b) in ranges {
        if a < at {
            continue;
        }
        out.push_str(&s[at..a]);
        out.push_str("***");
        at = b;
    }
    out.push_str(&s[at..]);
    out
}

/// Redacts every string in a JSON value (see [`redact`]).
pub fn redact_value(v: &mut Value) {
    match v {
        Value::String(s) => {
            if secret_value(s).is_some() {
                *s = redact(s);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(m) => m.values_mut().for_each(redact_value),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Why a value looks like a credential on its own, if it does.
pub fn secret_value(v: &str) -> Option<Reason> {
    if !access_key_ids(v).is_empty() {
        Some(Reason::AccessKeyId)
    } else if !url_passwords(v).is_empty() {
        Some(Reason::UrlPassword)
    } else {
        None
    }
}

/// The entries of one environment mapping that are secrets, and why.
pub fn flagged<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)> + Clone) -> BTreeMap<String, Reason> {
    let mut out = BTreeMap::new();
    let has_key_id = entries.clone().into_iter().any(|(_, v)| !access_key_ids(v).is_empty());
    for (k, v) in entries {
        let reason = if let Some(r) = secret_value(v) {
            Some(r)
        } else if has_key_id && secret_key_shaped(v) {
            Some(Reason::SecretKey)
        } else if secret_name(k) {
            Some(Reason::Name)
        } else {
            None
        };
        if let Some(r) = reason {
            out.insert(k.to_string(), r);
        }
    }
    out
}

/// Sensitive environment entries: container name → entry names.
pub type Sensitive = BTreeMap<String, BTreeSet<String>>;

/// The sensitive entry names of one container object of the `containers`
/// field: what the file says for that container, and what looks secret.
fn container_sensitive(c: &serde_json::Map<String, Value>, sensitive: &Sensitive) -> BTreeSet<String> {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let mut set = sensitive.get(name).cloned().unwrap_or_default();
    if let Some(env) = c.get("environment").and_then(Value::as_object) {
        let entries: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap_or(""))).collect();
        set.extend(flagged(entries.iter().copied()).into_keys());
    }
    set
}

/// Replaces sensitive environment values in a `containers` field with
/// [`MASK`].
pub fn mask_containers(v: &mut Value, sensitive: &Sensitive) {
    let Some(list) = v.as_array_mut() else { return };
    for c in list {
        let Some(obj) = c.as_object_mut() else { continue };
        let set = container_sensitive(obj, sensitive);
        if let Some(env) = obj.get_mut("environment").and_then(Value::as_object_mut) {
            for (k, val) in env.iter_mut() {
                if set.contains(k) {
                    *val = Value::String(MASK.into());
                }
            }
        }
    }
}

fn env_of<'a>(containers: Option<&'a Value>, name: &str) -> Option<&'a serde_json::Map<String, Value>> {
    containers?
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))?
        .get("environment")?
        .as_object()
}

/// The sensitive entries whose value differs between two `containers`
/// values, as `containers.<container>.environment.<NAME>`.
pub fn changed(before: Option<&Value>, after: Option<&Value>, sensitive: &Sensitive) -> Vec<String> {
    let mut out = BTreeSet::new();
    for side in [before, after].into_iter().flatten() {
        for c in side.as_array().into_iter().flatten() {
            let Some(obj) = c.as_object() else { continue };
            let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
            for k in container_sensitive(obj, sensitive) {
                let b = env_of(before, name).and_then(|e| e.get(&k));
                let a = env_of(after, name).and_then(|e| e.get(&k));
                if b != a {
                    out.insert(format!("containers.{name}.environment.{k}"));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// `sha256:<hex>` of a value with its salt.
pub fn hash(salt: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    let digest = h.finalize();
    let mut out = String::from("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn salt(stack: &str, logical: &str, container: &str, entry: &str) -> String {
    format!("moor/{stack}/{logical}/{container}/{entry}")
}

/// The fields to record for a task definition, with each sensitive
/// environment value replaced by its hash.
pub fn hash_fields(fields: &mut Fields, sensitive: &Sensitive, stack: &str, logical: &str) {
    let Some(list) = fields.get_mut("containers").and_then(Value::as_array_mut) else { return };
    for c in list {
        let Some(obj) = c.as_object_mut() else { continue };
        let set = container_sensitive(obj, sensitive);
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(env) = obj.get_mut("environment").and_then(Value::as_object_mut) {
            for (k, val) in env.iter_mut() {
                if let (true, Some(s)) = (set.contains(k), val.as_str()) {
                    *val = Value::String(hash(&salt(stack, logical, &name, k), s));
                }
            }
        }
    }
}

/// The recorded fields with each hashed value that equals the file's value
/// put back as that value, so that comparing them with the file finds only
/// real changes. A hash that does not match stays, and so differs.
pub fn unhash_fields(recorded: &Fields, desired: &Fields, stack: &str, logical: &str) -> Fields {
    let mut out = recorded.clone();
    let Some(list) = out.get_mut("containers").and_then(Value::as_array_mut) else { return out };
    for c in list {
        let Some(obj) = c.as_object_mut() else { continue };
        let name = obj.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        let Some(want) = env_of(desired.get("containers"), &name) else { continue };
        if let Some(env) = obj.get_mut("environment").and_then(Value::as_object_mut) {
            for (k, val) in env.iter_mut() {
                let (Some(h), Some(plain)) = (val.as_str(), want.get(k).and_then(Value::as_str)) else { continue };
                if h.starts_with("sha256:") && hash(&salt(stack, logical, &name, k), plain) == h {
                    *val = Value::String(plain.to_string());
                }
            }
        }
    }
    out
}

/// The stack file's text with every secret value masked (`*` for each byte,
/// so every span still points where it did), and the values masked (so that
/// messages can leave them out too), or `None` when it holds none.
///
/// Masked: AWS access key ids and URL passwords anywhere; in each
/// container's `environment`, the values of entries flagged or listed in its
/// `sensitive`; the default of a variable whose name says it is a secret.
pub fn mask_source(text: &str, root: Option<&Node>) -> Option<(String, Vec<String>)> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    ranges.extend(access_key_ids(text));
    ranges.extend(url_passwords(text));
    if let Some(root) = root {
        tree_ranges(root, &mut ranges);
    }
    if ranges.is_empty() {
        return None;
    }
    let mut bytes = text.as_bytes().to_vec();
    let mut hidden = Vec::new();
    for (s, e) in ranges {
        let (s, e) = (s.min(bytes.len()), e.min(bytes.len()));
        if let Some(v) = text.get(s..e) {
            let v = v.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
            if v.len() >= 4 {
                hidden.push(v.to_string());
            }
        }
        for b in &mut bytes[s..e] {
            if !matches!(*b, b'\n' | b'\r' | b'"' | b'\'') {
                *b = b'*';
            }
        }
    }
    // Longer first, so that a value is hidden before a part of it.
    hidden.sort_by_key(|h| std::cmp::Reverse(h.len()));
    hidden.dedup();
    // Whole characters are replaced byte for byte, so this is still UTF-8
    // unless a range cut a character; then fall back to a lossy copy.
    let masked = String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Some((masked, hidden))
}

/// A message with the given values and any credential replaced by `***`.
pub fn scrub_text(s: &str, hidden: &[String]) -> String {
    let mut out = s.to_string();
    for h in hidden {
        if out.contains(h.as_str()) {
            out = out.replace(h.as_str(), "***");
        }
    }
    redact(&out)
}

fn scalar(n: &Node) -> Option<&str> {
    match &n.kind {
        NodeKind::Scalar(s, _) => Some(s),
        _ => None,
    }
}

fn tree_ranges(root: &Node, out: &mut Vec<(usize, usize)>) {
    // A secret key next to an access key id, in any mapping.
    root.walk(&mut |n: &Node| {
        let Some(entries) = n.as_map() else { return };
        let pairs: Vec<(&str, &str)> =
            entries.iter().filter_map(|(k, v)| Some((scalar(k).unwrap_or(""), scalar(v)?))).collect();
        if pairs.iter().any(|(_, v)| !access_key_ids(v).is_empty()) {
            for (_, v) in entries {
                if scalar(v).is_some_and(secret_key_shaped) {
                    out.push((v.span.start, v.span.end));
                }
            }
        }
    });
    // Variables that fill a sensitive entry.
    let mut secret_vars: BTreeSet<String> = BTreeSet::new();
    if let Some(resources) = root.get("resources").and_then(Node::as_map) {
        env_ranges(resources, out, &mut secret_vars);
    }
    if let Some(vars) = root.get("variables").and_then(Node::as_map) {
        for (k, v) in vars {
            if scalar(k).is_some_and(|k| secret_name(k) || secret_vars.contains(k)) {
                if let Some(d) = v.get("default") {
                    out.push((d.span.start, d.span.end));
                }
            }
        }
    }
}

fn env_ranges(resources: &[(Node, Node)], out: &mut Vec<(usize, usize)>, vars: &mut BTreeSet<String>) {
    for (_, r) in resources {
        let Some(NodeKind::Seq(containers)) = r.get("containers").map(|c| &c.kind) else { continue };
        for c in containers {
            // `secrets:` takes ARNs; anything else there is likely the secret itself.
            for (_, v) in c.get("secrets").and_then(Node::as_map).unwrap_or_default() {
                if scalar(v).is_some_and(|s| !s.starts_with("arn:") && !s.contains("${")) {
                    out.push((v.span.start, v.span.end));
                }
            }
            // `NAME=value` where a mapping belongs (docker compose's form):
            // a type error, whose value may be a secret.
            match c.get("environment").map(|e| &e.kind) {
                Some(NodeKind::Scalar(..)) => {
                    // Matched just above.
                    let e = c.get("environment").expect("matched");
                    out.push((e.span.start, e.span.end));
                }
                Some(NodeKind::Seq(items)) => {
                    out.extend(items.iter().filter(|i| scalar(i).is_some()).map(|i| (i.span.start, i.span.end)));
                }
                _ => {}
            }
            let Some(env) = c.get("environment").and_then(Node::as_map) else { continue };
            let marked: BTreeSet<&str> = match c.get("sensitive").map(|s| &s.kind) {
                Some(NodeKind::Seq(items)) => items.iter().filter_map(scalar).collect(),
                _ => BTreeSet::new(),
            };
            let pairs: Vec<(&str, &str)> =
                env.iter().filter_map(|(k, v)| Some((scalar(k)?, scalar(v).unwrap_or("")))).collect();
            let flagged = flagged(pairs.iter().copied());
            for (k, v) in env {
                let Some(k) = scalar(k) else { continue };
                if marked.contains(k) || flagged.contains_key(k) {
                    out.push((v.span.start, v.span.end));
                    let mut rest = scalar(v).unwrap_or("");
                    while let Some(i) = rest.find("${var.") {
                        rest = &rest[i + 6..];
                        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                        vars.insert(rest[..end].to_string());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn access_key_ids_are_found_as_whole_words() {
        assert_eq!(access_key_ids("AKIAIOSFODNN7EXAMPLE"), vec![(0, 20)]);
        assert_eq!(access_key_ids("id=ASIAIOSFODNN7EXAMPLE;"), vec![(3, 23)]);
        assert!(access_key_ids("XAKIAIOSFODNN7EXAMPLE").is_empty(), "part of a longer word");
        assert!(access_key_ids("AKIAIOSFODNN7EXAMPLEX").is_empty(), "part of a longer word");
        assert!(access_key_ids("AKIAiosfodnn7example").is_empty(), "lower case");
        assert!(access_key_ids("AKIA1234").is_empty(), "too short");
    }

    #[test]
    fn url_passwords_are_found_but_not_plain_urls() {
        let s = "postgres://app:hunter2@db.internal:5432/app";
        let found = url_passwords(s);
        assert_eq!(found.iter().map(|(a, b)| &s[*a..*b]).collect::<Vec<_>>(), ["hunter2"]);
        assert!(url_passwords("https://user@example.com/a:b@c").is_empty(), "no password in the authority");
        assert!(url_passwords("https://example.com:8443/x").is_empty());
        assert!(url_passwords("redis://:@h").is_empty(), "empty password");
        assert_eq!(url_passwords("a http://x:y@h b https://u:p@q").len(), 2);
    }

    #[test]
    fn redaction_replaces_key_ids_and_url_passwords() {
        assert_eq!(
            redact("bad value AKIAQWERTYUIOPASDFGH for mysql://root:pw@db/x, ok"),
            "bad value *** for mysql://root:***@db/x, ok"
        );
        assert_eq!(redact("nothing here"), "nothing here");
        let mut v = json!({"command": ["run", "--db=mysql://root:pw@db/x"], "n": 1});
        redact_value(&mut v);
        assert_eq!(v, json!({"command": ["run", "--db=mysql://root:***@db/x"], "n": 1}));
    }

    #[test]
    fn entries_are_flagged_by_value_by_neighbour_and_by_name() {
        let f = flagged([
            ("AWS_ACCESS_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ("DATABASE", "mysql://root:pw@db/x"),
            ("API_TOKEN", "x"),
            ("PORT", "8080"),
        ]);
        assert_eq!(f.get("AWS_ACCESS_ID"), Some(&Reason::AccessKeyId));
        assert_eq!(f.get("AWS_KEY"), Some(&Reason::SecretKey));
        assert_eq!(f.get("DATABASE"), Some(&Reason::UrlPassword));
        assert_eq!(f.get("API_TOKEN"), Some(&Reason::Name));
        assert_eq!(f.get("PORT"), None);
        // A 40-character value alone is no secret key.
        assert!(flagged([("CHECKSUM", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")]).is_empty());
    }

    fn containers(db: &str) -> Value {
        json!([{ "name": "web", "environment": { "DB": db, "MODE": "prod", "URL": "https://u:p@h" } }])
    }

    #[test]
    fn masking_hides_marked_and_flagged_values_only() {
        let mut s = Sensitive::new();
        s.insert("web".into(), ["DB".to_string()].into());
        let mut v = containers("plain-secret");
        mask_containers(&mut v, &s);
        assert_eq!(v, json!([{ "name": "web", "environment": { "DB": MASK, "MODE": "prod", "URL": MASK } }]));
    }

    #[test]
    fn a_changed_sensitive_value_is_named_without_its_value() {
        let mut s = Sensitive::new();
        s.insert("web".into(), ["DB".to_string()].into());
        let (a, b) = (containers("one"), containers("two"));
        assert_eq!(changed(Some(&a), Some(&b), &s), ["containers.web.environment.DB"]);
        assert!(changed(Some(&a), Some(&a), &s).is_empty());
        assert_eq!(changed(None, Some(&a), &s).len(), 2, "created: both sensitive entries are new");
    }

    #[test]
    fn recorded_hashes_compare_equal_only_to_the_same_value() {
        let mut s = Sensitive::new();
        s.insert("web".into(), ["DB".to_string()].into());
        let desired: Fields = [("containers".to_string(), containers("one"))].into_iter().collect();
        let mut rec = desired.clone();
        hash_fields(&mut rec, &s, "st", "task");
        let text = serde_json::to_string(&rec).unwrap();
        assert!(!text.contains("\"one\"") && !text.contains("u:p@h"), "{text}");
        assert!(text.contains("sha256:"));
        assert_eq!(unhash_fields(&rec, &desired, "st", "task"), desired, "unchanged: equal again");
        let other: Fields = [("containers".to_string(), containers("two"))].into_iter().collect();
        assert_ne!(unhash_fields(&rec, &other, "st", "task"), other, "changed: still differs");
        // The salt keeps equal values in other stacks apart.
        assert_ne!(hash(&salt("a", "t", "c", "K"), "v"), hash(&salt("b", "t", "c", "K"), "v"));
    }
}
