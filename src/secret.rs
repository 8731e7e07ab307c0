//! Secret values: recognising them, and keeping them out of everything moor
//! prints or stores.
//!
//! An environment entry of a container is *sensitive* when the file marks it
//! (`sensitive: [NAME]` on the container), when its name says so
//! (`…PASSWORD…`, `…TOKEN…`), or when its value looks like a credential: an
//! AWS access key id, a 40-character secret key next to one, or a URL with a
//! password. Which values may be secrets, and where, the kind says
//! ([`crate::kinds::KindSpec::secret_leaves`] in its fields,
//! [`crate::kinds::KindSpec::SECRETS_IN_FILE`] in the file's text); this
//! module masks, names and hashes them by path. Then:
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

use crate::kinds::{Kind, SecretPlace};
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

/// A value of a resource's fields that may hold a secret, as its kind
/// finds it ([`crate::kinds::KindSpec::secret_leaves`]): an environment
/// entry of a container, for instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// Where it is: the field, then the object keys and list indexes down
    /// to the value.
    pub at: Vec<String>,
    /// What plans call it: the same wherever a list holds it, so that the
    /// file's value and AWS's compare by it.
    pub name: String,
    /// What its recorded hash is salted with besides the stack and the
    /// resource: the same from one apply to the next.
    pub salt: String,
    /// Whether it is never shown or stored as it is.
    pub sensitive: bool,
}

/// The [`Leaf`]s of one field's value (the field's name, its value): what a
/// resource's kind finds in it.
pub type Leaves<'a> = &'a dyn Fn(&str, &Value) -> Vec<Leaf>;

/// The value at `at` (object keys and list indexes) under `v`.
fn get<'a>(mut v: &'a Value, at: &[String]) -> Option<&'a Value> {
    for step in at {
        v = match v {
            Value::Object(m) => m.get(step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// The value at `at` (object keys and list indexes) under `v`, to change.
fn get_mut<'a>(mut v: &'a mut Value, at: &[String]) -> Option<&'a mut Value> {
    for step in at {
        v = match v {
            Value::Object(m) => m.get_mut(step)?,
            Value::Array(items) => items.get_mut(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Replaces the sensitive values of field `field`'s value `v` with [`MASK`].
pub fn mask(field: &str, v: &mut Value, leaves: Leaves<'_>) {
    for l in leaves(field, v).into_iter().filter(|l| l.sensitive) {
        if let Some(x) = get_mut(v, &l.at[1..]) {
            *x = Value::String(MASK.into());
        }
    }
}

/// The names of the sensitive values that differ between two values of
/// field `field`; a value is sensitive if either side finds it so.
pub fn changed(field: &str, before: Option<&Value>, after: Option<&Value>, leaves: Leaves<'_>) -> Vec<String> {
    let side = |v: Option<&Value>| {
        let found = v.map(|v| leaves(field, v)).unwrap_or_default();
        let mut values: BTreeMap<String, Option<Value>> = BTreeMap::new();
        for l in &found {
            values.entry(l.name.clone()).or_insert_with(|| v.and_then(|v| get(v, &l.at[1..])).cloned());
        }
        let sensitive: BTreeSet<String> = found.into_iter().filter(|l| l.sensitive).map(|l| l.name).collect();
        (values, sensitive)
    };
    let (b, b_sensitive) = side(before);
    let (a, a_sensitive) = side(after);
    let value = |m: &BTreeMap<String, Option<Value>>, n: &str| m.get(n).cloned().flatten();
    b_sensitive.union(&a_sensitive).filter(|n| value(&b, n) != value(&a, n)).cloned().collect()
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

fn salt(stack: &str, logical: &str, leaf: &str) -> String {
    format!("moor/{stack}/{logical}/{leaf}")
}

/// The fields to record, with each sensitive value replaced by its hash.
pub fn hash_fields(fields: &mut Fields, leaves: Leaves<'_>, stack: &str, logical: &str) {
    for (field, v) in fields.iter_mut() {
        for l in leaves(field, v).into_iter().filter(|l| l.sensitive) {
            if let Some(x) = get_mut(v, &l.at[1..]) {
                if let Some(s) = x.as_str() {
                    *x = Value::String(hash(&salt(stack, logical, &l.salt), s));
                }
            }
        }
    }
}

/// The recorded fields with each hashed value that equals the file's value
/// put back as that value, so that comparing them with the file finds only
/// real changes. A hash that does not match stays, and so differs.
pub fn unhash_fields(recorded: &Fields, desired: &Fields, leaves: Leaves<'_>, stack: &str, logical: &str) -> Fields {
    let mut out = recorded.clone();
    for (field, v) in out.iter_mut() {
        let Some(want) = desired.get(field) else { continue };
        let mut plain: BTreeMap<String, &str> = BTreeMap::new();
        for l in leaves(field, want) {
            if let Some(s) = get(want, &l.at[1..]).and_then(Value::as_str) {
                plain.entry(l.name).or_insert(s);
            }
        }
        for l in leaves(field, v) {
            let Some(x) = get_mut(v, &l.at[1..]) else { continue };
            let (Some(h), Some(p)) = (x.as_str(), plain.get(&l.name)) else { continue };
            if h.starts_with("sha256:") && hash(&salt(stack, logical, &l.salt), p) == h {
                *x = Value::String(p.to_string());
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

/// The variables of a stack file (its parsed tree) that fill a sensitive
/// entry of a resource: their values are secrets too.
pub fn secret_variables(root: &Node) -> BTreeSet<String> {
    let mut ranges = Vec::new();
    let mut vars = BTreeSet::new();
    if let Some(resources) = root.get("resources").and_then(Node::as_map) {
        env_ranges(resources, &mut ranges, &mut vars);
    }
    vars
}

/// The nodes at `at` under `n`: keys of mappings, and `*` for every item
/// of a list.
fn nodes_at<'a>(n: &'a Node, at: &[&str], out: &mut Vec<&'a Node>) {
    match at.split_first() {
        None => out.push(n),
        Some((&"*", rest)) => {
            if let NodeKind::Seq(items) = &n.kind {
                items.iter().for_each(|i| nodes_at(i, rest, out));
            }
        }
        Some((key, rest)) => {
            if let Some(c) = n.get(key) {
                nodes_at(c, rest, out);
            }
        }
    }
}

/// The ranges of the secrets every resource holds at the places kinds name
/// ([`SecretPlace`]); the names of the variables that fill one go to `vars`.
/// Every resource is searched at every kind's places: one whose `kind:` is
/// wrong or missing still has its secrets masked.
fn env_ranges(resources: &[(Node, Node)], out: &mut Vec<(usize, usize)>, vars: &mut BTreeSet<String>) {
    let places: Vec<SecretPlace> = Kind::ALL.iter().flat_map(|k| k.facts().secrets_in_file.iter().copied()).collect();
    for (_, r) in resources {
        for place in &places {
            match *place {
                SecretPlace::Arns { at } => {
                    let mut maps = Vec::new();
                    nodes_at(r, at, &mut maps);
                    for (_, v) in maps.into_iter().filter_map(Node::as_map).flatten() {
                        if scalar(v).is_some_and(|s| !s.starts_with("arn:") && !s.contains("${")) {
                            out.push((v.span.start, v.span.end));
                        }
                    }
                }
                SecretPlace::Entries { at, marked } => {
                    let Some((key, parent)) = at.split_last() else { continue };
                    let mut parents = Vec::new();
                    nodes_at(r, parent, &mut parents);
                    for c in parents {
                        entry_ranges(c, key, marked, out, vars);
                    }
                }
            }
        }
    }
}

/// The secrets of the mapping under `key` of `c`, whose names marked
/// sensitive are listed under `marked`.
fn entry_ranges(c: &Node, key: &str, marked: &str, out: &mut Vec<(usize, usize)>, vars: &mut BTreeSet<String>) {
    // `NAME=value` where a mapping belongs (docker compose's form):
    // a type error, whose value may be a secret.
    match c.get(key) {
        Some(e @ Node { kind: NodeKind::Scalar(..), .. }) => out.push((e.span.start, e.span.end)),
        Some(Node { kind: NodeKind::Seq(items), .. }) => {
            out.extend(items.iter().filter(|i| scalar(i).is_some()).map(|i| (i.span.start, i.span.end)));
        }
        _ => {}
    }
    let Some(env) = c.get(key).and_then(Node::as_map) else { return };
    let marked: BTreeSet<&str> = match c.get(marked).map(|s| &s.kind) {
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

    /// A made-up kind: field `vault` is a list of `{ id, values: {K: V} }`,
    /// and a value is sensitive when its key starts with `S` or it looks
    /// like a credential.
    fn vault_leaves(field: &str, v: &Value) -> Vec<Leaf> {
        let mut out = Vec::new();
        if field != "vault" {
            return out;
        }
        for (i, item) in v.as_array().into_iter().flatten().enumerate() {
            let id = item.get("id").and_then(Value::as_str).unwrap_or("");
            for (k, val) in item.get("values").and_then(Value::as_object).into_iter().flatten() {
                out.push(Leaf {
                    at: vec![field.into(), i.to_string(), "values".into(), k.clone()],
                    name: format!("vault.{id}.{k}"),
                    salt: format!("{id}/{k}"),
                    sensitive: k.starts_with('S') || secret_value(val.as_str().unwrap_or("")).is_some(),
                });
            }
        }
        out
    }

    fn vault(s: &str) -> Value {
        json!([{ "id": "a", "values": { "SK": s, "MODE": "prod", "URL": "https://u:p@h" } }])
    }

    #[test]
    fn masking_hides_the_sensitive_leaves_only() {
        let mut v = vault("plain-secret");
        mask("vault", &mut v, &vault_leaves);
        assert_eq!(v, json!([{ "id": "a", "values": { "SK": MASK, "MODE": "prod", "URL": MASK } }]));
        let mut other = vault("plain-secret");
        mask("other", &mut other, &vault_leaves);
        assert_eq!(other, vault("plain-secret"), "another field holds no leaves");
    }

    #[test]
    fn a_changed_sensitive_value_is_named_without_its_value() {
        let (a, b) = (vault("one"), vault("two"));
        assert_eq!(changed("vault", Some(&a), Some(&b), &vault_leaves), ["vault.a.SK"]);
        assert!(changed("vault", Some(&a), Some(&a), &vault_leaves).is_empty());
        assert_eq!(changed("vault", None, Some(&a), &vault_leaves).len(), 2, "created: both sensitive values are new");
        // Compared by name, wherever the list holds them.
        let moved =
            json!([{ "id": "z" }, { "id": "a", "values": { "SK": "one", "MODE": "prod", "URL": "https://u:p@h" } }]);
        assert!(changed("vault", Some(&a), Some(&moved), &vault_leaves).is_empty());
        // Sensitive on one side only (a credential that is no longer one) still counts.
        let plain = json!([{ "id": "a", "values": { "SK": "one", "MODE": "prod", "URL": "https://h" } }]);
        assert_eq!(changed("vault", Some(&a), Some(&plain), &vault_leaves), ["vault.a.URL"]);
    }

    #[test]
    fn recorded_hashes_compare_equal_only_to_the_same_value() {
        let desired: Fields = [("vault".to_string(), vault("one"))].into_iter().collect();
        let mut rec = desired.clone();
        hash_fields(&mut rec, &vault_leaves, "st", "task");
        let text = serde_json::to_string(&rec).unwrap();
        assert!(!text.contains("\"one\"") && !text.contains("u:p@h"), "{text}");
        assert!(text.contains(&hash("moor/st/task/a/SK", "one")), "salted with stack, resource and the leaf's salt");
        assert_eq!(unhash_fields(&rec, &desired, &vault_leaves, "st", "task"), desired, "unchanged: equal again");
        let other: Fields = [("vault".to_string(), vault("two"))].into_iter().collect();
        assert_ne!(unhash_fields(&rec, &other, &vault_leaves, "st", "task"), other, "changed: still differs");
        // The salt keeps equal values in other stacks apart.
        assert_ne!(hash(&salt("a", "t", "c/K"), "v"), hash(&salt("b", "t", "c/K"), "v"));
    }
}
