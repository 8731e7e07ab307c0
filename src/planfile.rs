//! Saved plans: `moor plan FILE -o PLANFILE` writes one, `moor apply
//! PLANFILE` applies exactly it, or refuses.
//!
//! A plan is reviewed (on a pull request), then applied (on merge); what is
//! applied must be what was reviewed. So the plan file records everything
//! the plan was made from, and `apply PLANFILE` loads the stack again from
//! the recorded file and variables, takes the stack's lock, reads the state
//! record, observes AWS, plans, and compares. It applies, without asking
//! (the plan was approved when it was reviewed), only when nothing the plan
//! depends on has changed since; otherwise it refuses and names each
//! resource that differs and how: "changed in AWS", "gone from AWS", "new
//! in AWS", "changed in the file", "changed in the state record".
//!
//! The file is JSON, written `0600`, its first member the format:
//!
//! ```json
//! {
//!   "moor_plan": 1,                   // this format; another is refused
//!   "moor_version": "0.1.0",          // the moor that made it; another is refused
//!   "created_at": "2026-12-05T12:00:00Z",
//!   "created_on": "ci-runner-7",      // host name
//!   "file": { "path": "../stack.yaml", "sha256": "…" },  // relative to the plan file, or absolute
//!   "stack": "shop-dev", "region": "us-east-1", "account": "123456789012",
//!   "destroy": false, "force": false,
//!   "git_sha": "…",                   // the commit `${git.sha}` named, if the file uses it
//!   "variables": { "env": { "value": "dev" }, "db_password": { "sha256": "sha256:…" },
//!                  "log_days": { "value": 7, "default": true } },   // default: the file's
//!   "resources": { "repo": { "kind": "ecr/repository", "name": "shop-dev/repo",
//!                            "depends_on": [], "spec": { … }, "sha256": "…" } },
//!   "state": { "repo": "…" },          // fingerprint of each state record entry
//!   "live": { "repo": "…", "old": null },  // fingerprint of each observed resource; null: absent
//!   "plan": { … },                    // the JSON plan (`moor plan --json`)
//!   "plan_text": "…"                  // the plan as it was shown
//! }
//! ```
//!
//! - `resources` is the stack as moor resolved it (variables and built-ins
//!   substituted; references to other resources still as written). The
//!   apply resolves the file again with the plan's variables, region, stack
//!   name and commit (`${git.sha}` names the reviewed commit, not the one
//!   checked out where the plan is applied, a merge commit for instance);
//! - a live fingerprint is the SHA-256 of what the plan reads of the
//!   resource: id, unique id, fields (lists that AWS keeps as sets sorted),
//!   tags, and of a service's deployment only whether it settled, failed and
//!   how its rollout stands (not its running counts or events, which move
//!   on their own); secret values enter it as their salted hashes. The same
//!   AWS state gives the same fingerprint. Besides the file's and the
//!   record's resources by logical name, `live` has `replaced ID` (an
//!   object an earlier replacement left), `NAME (unrecorded versions)`,
//!   `KIND ID` (what carries the stack's tags that nothing accounts for)
//!   and `image IMAGE` (the digest an image's tag points at);
//! - a value given again to `apply PLANFILE` (`--var`, `--var-file`,
//!   `MOOR_VAR_<name>`) must be the plan's; and as a last check the plan
//!   made at apply time must be the saved one (but for a waiting service's
//!   counts and events);
//! - **no secret values**: sensitive leaves of the specs (see
//!   [`crate::secret`]) are stored as their salted hashes, the JSON plan and
//!   its text mask them already, and a variable whose value reaches a
//!   sensitive leaf (or whose name or value says it is a secret) is stored
//!   as a hash only: `apply PLANFILE` needs it given again (`--var`,
//!   `--var-file`, `MOOR_VAR_<name>`; unless the plan used the file's
//!   default) and checks it against the hash. The file is checked for
//!   every secret value before it is written;
//! - the account is that of the credentials (ECR's registry id), or else the
//!   one in the ARNs of what was observed.

use crate::kinds::Kind;
use crate::model::{Stack, Value as VarValue};
use crate::plan::Observed;
use crate::provider::Live;
use crate::state::State;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// The format of the plan file; raised when it changes.
pub const FORMAT: u32 = 1;

/// The version of moor that writes and reads plan files.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The member a plan file starts with, by which it is told from a stack file.
const MAGIC: &str = "\"moor_plan\"";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub moor_plan: u32,
    pub moor_version: String,
    pub created_at: String,
    pub created_on: String,
    pub file: StackFileRef,
    pub stack: String,
    pub region: Option<String>,
    pub account: Option<String>,
    pub destroy: bool,
    pub force: bool,
    /// The commit `${git.sha}` and `${git.short_sha}` named, when the file uses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_sha: Option<String>,
    pub variables: BTreeMap<String, SavedVar>,
    pub resources: BTreeMap<String, SavedResource>,
    pub state: BTreeMap<String, String>,
    pub live: BTreeMap<String, Option<String>>,
    pub plan: Value,
    pub plan_text: String,
    /// `--target`: the plan covers these resources and what they depend on
    /// (what depends on them, for a destroy), and so does its apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFileRef {
    /// Relative to the plan file's directory, or absolute.
    pub path: String,
    pub sha256: String,
}

/// A variable's value, or only its hash when it is a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedVar {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The value was the file's default (a secret one need not be given again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedResource {
    pub kind: String,
    pub name: Option<String>,
    pub depends_on: Vec<String>,
    /// The resolved spec, sensitive values as their hashes.
    pub spec: Value,
    /// Of all the above: what "changed in the file" compares.
    pub sha256: String,
}

/// One way the world differs from the saved plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The resource, state entry or variable.
    pub what: String,
    pub how: String,
}

/// Whether `path` holds a saved plan rather than a stack file: told by its
/// content (it starts as a JSON object whose first member is `moor_plan`).
pub fn is_plan_file(path: &Path) -> bool {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without blocking (a FIFO waits for a writer), read only if a
    // regular file.
    let opened =
        std::fs::OpenOptions::new().read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32).open(path);
    let Ok(f) = opened else { return false };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = Vec::new();
    if f.take(256).read_to_end(&mut head).is_err() {
        return false;
    }
    let head = String::from_utf8_lossy(&head);
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.strip_prefix('{').is_some_and(|rest| rest.trim_start().starts_with(MAGIC))
}

/// `sha256:<hex>` of some text.
pub fn sha256(text: &[u8]) -> String {
    let digest = Sha256::digest(text);
    let mut out = String::from("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `v` with object members sorted by key and lists sorted, except lists
/// under a key `ordered` keeps in order.
fn canonical(v: &Value, key: &str, ordered: &dyn Fn(&str) -> bool) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonical(&m[k], k, ordered));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(|i| canonical(i, key, ordered)).collect();
            if !ordered(key) {
                items.sort_by_cached_key(|i| i.to_string());
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// The fingerprint of a JSON value, with `kind`'s lists that AWS keeps as
/// sets sorted (without a kind, only object members are sorted).
pub fn fingerprint(v: &Value, kind: Option<Kind>) -> String {
    let ordered = |k: &str| kind.is_none_or(|kind| kind.facts().ordered_lists.contains(&k));
    sha256(canonical(v, "", &ordered).to_string().as_bytes())
}

/// What a plan reads of a live resource, without what moves on its own.
fn live_value(l: &Live) -> Value {
    let mut fields = l.fields.clone();
    if let Some(Value::Object(d)) = fields.get(crate::provider::DEPLOYMENT_STATE).cloned() {
        let keep: Map<String, Value> = ["settled", "failed", "rollout", "desired"]
            .into_iter()
            .filter_map(|k| d.get(k).map(|v| (k.to_string(), v.clone())))
            .collect();
        fields.insert(crate::provider::DEPLOYMENT_STATE.into(), Value::Object(keep));
    }
    serde_json::json!({ "id": l.id, "uid": l.uid, "fields": fields, "tags": l.tags })
}

fn live_fingerprint(l: &Live, kind: Option<Kind>) -> String {
    fingerprint(&live_value(l), kind)
}

/// The fingerprint of each resource the plan observed: by logical name
/// (of the file, or of the record only), `replaced ID` for objects an
/// earlier replacement left, `NAME (unrecorded versions)`, `NAME (newest
/// version)` for the version a create takes ignored paths from, and `KIND ID`
/// for what carries the stack's tags that nothing accounts for. `None`:
/// it did not exist.
pub fn live_fingerprints(stack: &Stack, state: &State, observed: &Observed) -> BTreeMap<String, Option<String>> {
    let kind_of =
        |name: &str| stack.resource(name).map(|r| r.kind()).or_else(|| state.resources.get(name).map(|e| e.kind));
    let mut out = BTreeMap::new();
    for (name, live) in observed.resources.iter().chain(&observed.removed) {
        // Secrets as their salted hashes, as the file's side keeps them.
        let hashed = live.as_ref().map(|l| match stack.resource(name) {
            Some(r) => {
                let mut l = l.clone();
                let leaves = |f: &str, v: &Value| r.spec.as_dyn().secret_leaves(f, v);
                crate::secret::hash_fields(&mut l.fields, &leaves, &stack.name, name);
                l
            }
            None => l.clone(),
        });
        out.insert(name.clone(), hashed.as_ref().map(|l| live_fingerprint(l, kind_of(name))));
    }
    for (id, live) in &observed.deposed {
        out.insert(format!("replaced {id}"), live.as_ref().map(|l| live_fingerprint(l, None)));
    }
    for (name, lives) in &observed.unrecorded {
        let mut prints: Vec<String> = lives.iter().map(|l| live_fingerprint(l, kind_of(name))).collect();
        prints.sort();
        out.insert(format!("{name} (unrecorded versions)"), Some(sha256(prints.join(",").as_bytes())));
    }
    for (f, live) in &observed.found {
        out.insert(format!("{} {}", f.kind, f.id), Some(live_fingerprint(live, Some(f.kind))));
    }
    // The newest version a create takes ignored paths from: a deploy since
    // the plan changes what the create registers.
    for (name, live) in &observed.newest {
        out.insert(format!("{name} (newest version)"), Some(live_fingerprint(live, kind_of(name))));
    }
    // What each image's tag points at: a tag pushed again since the plan
    // is a change in AWS.
    for (image, r) in &observed.images {
        let what = match r {
            crate::images::Resolved::Digest(d) => d.clone(),
            crate::images::Resolved::Missing(why) => format!("missing: {why}"),
        };
        out.insert(format!("image {image}"), Some(sha256(what.as_bytes())));
    }
    out
}

/// The fingerprint of each entry of the state record.
pub fn state_fingerprints(state: &State) -> BTreeMap<String, String> {
    state
        .resources
        .iter()
        .map(|(name, e)| {
            // Cannot fail: entries are what the record itself serializes.
            let v = serde_json::to_value(e).unwrap_or(Value::Null);
            (name.clone(), fingerprint(&v, None))
        })
        .collect()
}

/// The resources of the stack as resolved, with sensitive values hashed.
pub fn saved_resources(stack: &Stack) -> BTreeMap<String, SavedResource> {
    let mut out = BTreeMap::new();
    for r in &stack.resources {
        let mut fields = crate::provider::desired_fields(&r.spec, r.physical_name.as_deref());
        crate::secret::hash_fields(&mut fields, &|f, v| r.spec.as_dyn().secret_leaves(f, v), &stack.name, &r.name);
        if let Some(tags) = r.spec.tags() {
            fields.insert("tags".into(), serde_json::to_value(tags).unwrap_or(Value::Null));
        }
        let spec = Value::Object(fields);
        let kind = r.kind().to_string();
        let tags = crate::provider::stack_tags(&stack.tags, r.spec.tags(), &stack.name, &r.name);
        let whole = serde_json::json!({ "kind": kind, "name": r.physical_name, "depends_on": r.depends_on, "spec": spec, "tags": tags });
        let sha256 = fingerprint(&whole, Some(r.kind()));
        out.insert(
            r.name.clone(),
            SavedResource { kind, name: r.physical_name.clone(), depends_on: r.depends_on.clone(), spec, sha256 },
        );
    }
    out
}

/// The plain values of the sensitive leaves of the stack's resources.
fn leaf_secrets(stack: &Stack) -> Vec<String> {
    let mut out = Vec::new();
    for r in &stack.resources {
        let fields = crate::provider::desired_fields(&r.spec, r.physical_name.as_deref());
        for (field, v) in &fields {
            let mut hashed = v.clone();
            crate::secret::mask(field, &mut hashed, &|f, v| r.spec.as_dyn().secret_leaves(f, v));
            collect_masked(v, &hashed, &mut out);
        }
    }
    out
}

/// The strings of `plain` that `masked` replaced with the mask.
fn collect_masked(plain: &Value, masked: &Value, out: &mut Vec<String>) {
    match (plain, masked) {
        (Value::String(p), Value::String(m)) if m == crate::secret::MASK && p != m => out.push(p.clone()),
        (Value::Array(a), Value::Array(b)) => a.iter().zip(b).for_each(|(a, b)| collect_masked(a, b, out)),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    collect_masked(v, w, out);
                }
            }
        }
        _ => {}
    }
}

/// A variable's value as text, as `--var` takes it.
pub fn var_text(v: &VarValue) -> String {
    match v {
        VarValue::String(s) => s.clone(),
        VarValue::Integer(i) => i.to_string(),
        VarValue::Boolean(b) => b.to_string(),
        // A flow list of JSON strings is YAML too.
        VarValue::List(items) => serde_json::to_string(items).unwrap_or_default(),
    }
}

/// A variable's value as the plan file saves it.
pub fn var_json(v: &VarValue) -> Value {
    match v {
        VarValue::String(s) => Value::String(s.clone()),
        VarValue::Integer(i) => Value::from(*i),
        VarValue::Boolean(b) => Value::Bool(*b),
        VarValue::List(items) => Value::from(items.clone()),
    }
}

/// The salted hash a secret variable is saved as.
pub fn var_hash(stack: &str, name: &str, v: &VarValue) -> String {
    crate::secret::hash(&format!("moor/{stack}/var/{name}"), &var_text(v))
}

/// The variables whose values are secrets: their names say so, their
/// values look like credentials, they fill a sensitive entry of the file,
/// or their value is part of a sensitive value of a resource.
pub fn secret_variables(stack: &Stack, text: &str) -> BTreeSet<String> {
    let tree = crate::yaml::parse(text, crate::yaml::Limits::default()).ok();
    let in_file = tree.as_ref().map(crate::secret::secret_variables).unwrap_or_default();
    let leaves = leaf_secrets(stack);
    stack
        .variables
        .iter()
        .filter(|v| {
            let texts: Vec<String> = match &v.value {
                VarValue::List(items) => items.clone(),
                other => vec![var_text(other)],
            };
            crate::secret::secret_name(&v.name)
                || in_file.contains(&v.name)
                || texts.iter().any(|t| {
                    crate::secret::secret_value(t).is_some()
                        || (t.len() >= 4 && leaves.iter().any(|l| l.contains(t.as_str())))
                })
        })
        .map(|v| v.name.clone())
        .collect()
}

/// The stack's variables: values, or hashes of the secret ones.
pub fn saved_variables(stack: &Stack, secret: &BTreeSet<String>) -> BTreeMap<String, SavedVar> {
    stack
        .variables
        .iter()
        .map(|v| {
            let default = v.source == crate::model::VarSource::Default;
            let saved = if secret.contains(&v.name) {
                SavedVar { value: None, sha256: Some(var_hash(&stack.name, &v.name, &v.value)), default }
            } else {
                SavedVar { value: Some(var_json(&v.value)), sha256: None, default }
            };
            (v.name.clone(), saved)
        })
        .collect()
}

/// Every secret value the plan file must not hold: sensitive leaves,
/// secret variables, and what the file's text masks.
pub fn secret_values(stack: &Stack, text: &str, secret: &BTreeSet<String>) -> Vec<String> {
    let mut out = leaf_secrets(stack);
    for v in stack.variables.iter().filter(|v| secret.contains(&v.name)) {
        match &v.value {
            VarValue::List(items) => out.extend(items.iter().cloned()),
            other => out.push(var_text(other)),
        }
    }
    let tree = crate::yaml::parse(text, crate::yaml::Limits::default()).ok();
    if let Some((_, hidden)) = crate::secret::mask_source(text, tree.as_ref()) {
        out.extend(hidden);
    }
    out.retain(|s| s.len() >= 4 && !s.starts_with("sha256:"));
    out.sort();
    out.dedup();
    out
}

/// The account in the ARNs of what was observed, if any.
pub fn account_in(observed: &Observed) -> Option<String> {
    let lives = observed
        .resources
        .values()
        .chain(observed.removed.values())
        .flatten()
        .chain(observed.found.iter().map(|(_, l)| l));
    lives.flat_map(|l| std::iter::once(l.id.as_str()).chain(l.attrs.values().filter_map(Value::as_str))).find_map(|s| {
        let account = s.strip_prefix("arn:")?.split(':').nth(3)?;
        (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_string())
    })
}

/// The plan JSON without what moves on its own (a waiting service's counts
/// and events), for comparing a saved plan with a new one.
pub fn comparable_plan(plan: &Value) -> Value {
    let mut p = plan.clone();
    // Where the plan goes is checked on its own (the account), or is the
    // same by construction (region, endpoint of the same configuration).
    if let Some(top) = p.as_object_mut() {
        for k in ["account", "endpoint", "emulator"] {
            top.remove(k);
        }
    }
    if let Some(changes) = p.get_mut("changes").and_then(Value::as_array_mut) {
        for c in changes.iter_mut().filter_map(Value::as_object_mut) {
            c.remove("status");
        }
    }
    p
}

/// How the observed and recorded world now differs from the saved plan's.
pub fn differences(
    saved: &PlanFile,
    resources: &BTreeMap<String, SavedResource>,
    state: &BTreeMap<String, String>,
    live: &BTreeMap<String, Option<String>>,
) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut push = |what: &str, how: &str| out.push(Difference { what: what.to_string(), how: how.to_string() });
    for (name, r) in &saved.resources {
        match resources.get(name) {
            None => push(name, "removed from the file"),
            Some(now) if now.sha256 != r.sha256 => push(name, "changed in the file"),
            Some(_) => {}
        }
    }
    for name in resources.keys().filter(|n| !saved.resources.contains_key(*n)) {
        push(name, "added to the file");
    }
    let names: BTreeSet<&String> = saved.state.keys().chain(state.keys()).collect();
    for name in names {
        match (saved.state.get(name), state.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (Some(_), Some(_)) => push(name, "changed in the state record"),
            (Some(_), None) => push(name, "gone from the state record"),
            (None, _) => push(name, "new in the state record"),
        }
    }
    let names: BTreeSet<&String> = saved.live.keys().chain(live.keys()).collect();
    for name in names {
        let before = saved.live.get(name).cloned().flatten();
        let after = live.get(name).cloned().flatten();
        match (before, after) {
            (Some(a), Some(b)) if a != b => push(name, "changed in AWS"),
            (Some(_), None) => push(name, "gone from AWS"),
            (None, Some(_)) => push(name, "new in AWS"),
            _ => {}
        }
    }
    out
}

/// `path` as seen from directory `base`: relative when both resolve,
/// else absolute.
pub fn relative_to(path: &Path, base: &Path) -> String {
    let (Ok(path), Ok(base)) = (std::fs::canonicalize(path), std::fs::canonicalize(base)) else {
        return std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
    };
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut rel = PathBuf::new();
    for _ in common..b.len() {
        rel.push("..");
    }
    for c in &p[common..] {
        rel.push(c.as_os_str());
    }
    rel.display().to_string()
}

/// The stack file a plan file names.
pub fn stack_path(saved: &PlanFile, plan_path: &Path) -> PathBuf {
    let p = Path::new(&saved.file.path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    plan_path.parent().unwrap_or(Path::new(".")).join(p)
}

/// The directory a plan file is in (`.` for a bare name).
pub fn dir_of(plan_path: &Path) -> PathBuf {
    match plan_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a plan file: a clear message for what is not one, or one of
/// another format or moor version.
pub fn read(path: &Path) -> Result<PlanFile, String> {
    let name = path.display();
    let text =
        crate::load::read_limited(path, 64 << 20).map_err(|e| format!("cannot read the plan file {name}: {e}"))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{name} is not a valid moor plan file (it may be cut short or edited): {e}"))?;
    let format = v.get("moor_plan").and_then(Value::as_u64);
    let version = v.get("moor_version").and_then(Value::as_str).unwrap_or("unknown");
    if format != Some(u64::from(FORMAT)) || version != VERSION {
        let format = format.map_or("unknown".to_string(), |f| f.to_string());
        return Err(format!(
            "{name} was saved by moor {version} (plan format {format}); this is moor {VERSION} (plan format {FORMAT}), which applies only its own plans: run `moor plan -o` again with this moor"
        ));
    }
    serde_json::from_value(v).map_err(|e| format!("{name} is not a valid moor plan file: {e}"))
}

/// Writes a plan file, `0600`, through a temporary file renamed into place.
/// Refuses when any of `secrets` would be in it.
pub fn write(path: &Path, saved: &PlanFile, secrets: &[String]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = serde_json::to_string_pretty(saved).map_err(|e| format!("cannot write the plan: {e}"))?;
    text.push('\n');
    // Values are escaped in JSON: look for them as JSON writes them too.
    let leaked = secrets.iter().any(|s| {
        let escaped = serde_json::to_string(s).unwrap_or_default();
        text.contains(s.as_str()) || text.contains(escaped.trim_matches('"'))
    });
    if leaked {
        return Err("the plan file would hold a secret value, so it was not written".into());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plan".into());
    let tmp = dir_of(path).join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the plan file {}: {e}", path.display())
    })
}

/// The time now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// This machine's host name, or `unknown`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(fields: Value, tags: &[(&str, &str)]) -> Live {
        Live {
            id: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3".into(),
            fields: fields.as_object().cloned().unwrap_or_default(),
            attrs: Default::default(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            uid: None,
        }
    }

    #[test]
    fn a_fingerprint_ignores_member_order_set_order_and_what_moves_on_its_own() {
        let td = Some(Kind::ALL.iter().copied().find(|k| k.as_str() == "ecs/task_definition").unwrap());
        let deployment = |running: u32, events: &[&str]| {
            json!({ "settled": true, "failed": null, "running": running, "desired": 2, "pending": 0,
                    "rollout": "COMPLETED", "deployments": 1, "events": events })
        };
        let a = live(
            json!({ "cpu": 256, "ports": [80, 443], "command": ["run", "--fast"], "moor:deployment": deployment(2, &["a"]) }),
            &[("team", "web")],
        );
        let b = live(
            json!({ "moor:deployment": deployment(1, &["b", "c"]), "command": ["run", "--fast"], "ports": [443, 80], "cpu": 256 }),
            &[("team", "web")],
        );
        assert_eq!(live_fingerprint(&a, td), live_fingerprint(&b, td), "the same resource, read twice");

        let mut c = a.clone();
        c.fields.insert("command".into(), json!(["--fast", "run"]));
        assert_ne!(live_fingerprint(&a, td), live_fingerprint(&c, td), "a command's order matters");
        let mut t = a.clone();
        t.tags.insert("owner".into(), "x".into());
        assert_ne!(live_fingerprint(&a, td), live_fingerprint(&t, td), "a tag");
        let mut u = a.clone();
        u.uid = Some("other".into());
        assert_ne!(live_fingerprint(&a, td), live_fingerprint(&u, td), "a namesake made again");
        let mut s = a.clone();
        s.fields.insert("moor:deployment".into(), json!({ "settled": false, "running": 2, "desired": 2 }));
        assert_ne!(live_fingerprint(&a, td), live_fingerprint(&s, td), "whether it settled");
    }

    #[test]
    fn a_newer_version_a_create_takes_ignored_paths_from_is_a_change_in_aws() {
        let loaded = crate::load::load_str(
            "stack.yaml",
            "stack: s\nresources:\n  task:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    containers: [{ name: web, image: a }]\n    ignore_changes: [containers.web.image]\n",
            &Default::default(),
        );
        let stack = loaded.stack.expect("loads");
        let state = State::new("s", None);
        let mut observed = Observed::default();
        observed.resources.insert("task".into(), None);
        let none = live_fingerprints(&stack, &state, &observed);
        observed.newest.insert("task".into(), live(json!({ "containers": [{ "name": "web", "image": "b" }] }), &[]));
        let b = live_fingerprints(&stack, &state, &observed);
        observed.newest.insert("task".into(), live(json!({ "containers": [{ "name": "web", "image": "c" }] }), &[]));
        let c = live_fingerprints(&stack, &state, &observed);
        assert_ne!(none, b, "a deploy where there was none");
        assert_ne!(b, c, "another image deployed");
    }

    #[test]
    fn the_account_is_found_in_the_arns_of_what_was_observed() {
        let mut observed = Observed::default();
        assert_eq!(account_in(&observed), None);
        let mut sg = live(json!({}), &[]);
        sg.id = "sg-0123".into();
        observed.resources.insert("sg".into(), Some(sg));
        observed.resources.insert("gone".into(), None);
        assert_eq!(account_in(&observed), None, "a group id names no account");
        let mut role = live(json!({}), &[]);
        role.id = "r".into();
        role.attrs.insert("arn".into(), json!("arn:aws:iam::210987654321:role/x"));
        observed.removed.insert("role".into(), Some(role));
        assert_eq!(account_in(&observed).as_deref(), Some("210987654321"));
    }

    fn saved(live: &[(&str, Option<&str>)], state: &[(&str, &str)], resources: &[(&str, &str)]) -> PlanFile {
        PlanFile {
            moor_plan: FORMAT,
            moor_version: VERSION.into(),
            created_at: now_utc(),
            created_on: host_name(),
            file: StackFileRef { path: "stack.yaml".into(), sha256: sha256(b"x") },
            stack: "s".into(),
            region: Some("us-east-1".into()),
            account: None,
            destroy: false,
            force: false,
            git_sha: None,
            variables: BTreeMap::new(),
            resources: resource_map(resources),
            state: state.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            live: live.iter().map(|(k, v)| (k.to_string(), v.map(str::to_string))).collect(),
            plan: json!({}),
            plan_text: String::new(),
            targets: Vec::new(),
        }
    }

    fn resource_map(resources: &[(&str, &str)]) -> BTreeMap<String, SavedResource> {
        resources
            .iter()
            .map(|(k, h)| {
                let r = SavedResource {
                    kind: "ecs/cluster".into(),
                    name: None,
                    depends_on: vec![],
                    spec: json!({}),
                    sha256: h.to_string(),
                };
                (k.to_string(), r)
            })
            .collect()
    }

    #[test]
    fn each_difference_is_named_with_how_it_differs() {
        let plan = saved(
            &[("web", Some("1")), ("db", Some("2")), ("new", None), ("same", Some("3"))],
            &[("web", "s1"), ("old", "s2")],
            &[("web", "f1"), ("gone", "f2")],
        );
        let live: BTreeMap<String, Option<String>> =
            [("web", Some("9")), ("db", None), ("new", Some("4")), ("same", Some("3"))]
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect();
        let state = [("web".to_string(), "s9".to_string())].into_iter().collect();
        let d = differences(&plan, &resource_map(&[("web", "f9"), ("added", "f3")]), &state, &live);
        let text: Vec<String> = d.iter().map(|d| format!("{}: {}", d.what, d.how)).collect();
        assert_eq!(
            text,
            [
                "gone: removed from the file",
                "web: changed in the file",
                "added: added to the file",
                "old: gone from the state record",
                "web: changed in the state record",
                "db: gone from AWS",
                "new: new in AWS",
                "web: changed in AWS",
            ]
        );
        let same = saved(&[("web", Some("1"))], &[("web", "s1")], &[("web", "f1")]);
        let live = [("web".to_string(), Some("1".to_string()))].into_iter().collect();
        let state = [("web".to_string(), "s1".to_string())].into_iter().collect();
        assert!(differences(&same, &resource_map(&[("web", "f1")]), &state, &live).is_empty());
    }

    fn temp(name: &str, content: &[u8]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("moor-planfile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    #[test]
    fn a_plan_file_is_told_from_a_stack_file_by_its_start() {
        let plan = saved(&[], &[], &[]);
        let path = temp("plan.json", serde_json::to_string_pretty(&plan).unwrap().as_bytes());
        assert!(is_plan_file(&path));
        assert_eq!(read(&path).unwrap(), plan, "read back as written");
        assert!(!is_plan_file(&temp("stack.yaml", b"stack: web\nresources: {}\n")));
        assert!(!is_plan_file(&temp("stack.json", b"{\"stack\": \"web\", \"moor_plan\": 1}")), "a stack in JSON");
        assert!(!is_plan_file(&temp("bin", b"\x00\xff\xfe")));
        assert!(!is_plan_file(Path::new("/nonexistent/plan")));
        assert!(!is_plan_file(path.parent().unwrap()), "a directory");
        // A FIFO without a writer: not waited for.
        let fifo = path.with_file_name("fifo");
        let _ = std::fs::remove_file(&fifo);
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            assert!(!is_plan_file(&fifo));
        }
        assert!(
            is_plan_file(&temp("compact.json", b"{\"moor_plan\":1")),
            "cut short: still a plan file, refused on reading"
        );
    }

    #[test]
    fn unreadable_plan_files_get_a_clear_error() {
        let plan = serde_json::to_string_pretty(&saved(&[], &[], &[])).unwrap();
        let cut = temp("cut.json", &plan.as_bytes()[..plan.len() / 2]);
        assert!(read(&cut).unwrap_err().contains("is not a valid moor plan file"));
        let old = temp("old.json", plan.replace(VERSION, "0.0.0-old").as_bytes());
        let e = read(&old).unwrap_err();
        assert!(e.contains("saved by moor 0.0.0-old") && e.contains(&format!("this is moor {VERSION}")), "{e}");
        let missing = temp("missing.json", b"{\"moor_plan\": 1, \"moor_version\": \"\"}");
        assert!(read(&missing).unwrap_err().contains("moor  (plan format 1)"));
        let extra = plan.replacen("\"moor_version\"", "\"surprise\": 1, \"moor_version\"", 1);
        assert!(read(&temp("extra.json", extra.as_bytes())).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn a_plan_file_holding_a_secret_is_not_written() {
        let mut plan = saved(&[], &[], &[]);
        plan.plan_text = "DB=p\"ss-w0rd".into();
        let path = std::env::temp_dir().join(format!("moor-planfile-{}-secret.json", std::process::id()));
        let e = write(&path, &plan, &["p\"ss-w0rd".into()]).unwrap_err();
        assert!(e.contains("secret") && !e.contains("w0rd"), "{e}");
        assert!(!path.exists());
        plan.plan_text = String::new();
        write(&path, &plan, &["p\"ss-w0rd".into()]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn paths_are_kept_relative_to_the_plan_file_and_times_in_utc() {
        let stack = temp("s.yaml", b"stack: s\n");
        let dir = stack.parent().unwrap();
        std::fs::create_dir_all(dir.join("plans")).unwrap();
        assert_eq!(relative_to(&stack, &dir.join("plans")), "../s.yaml");
        assert_eq!(relative_to(&stack, dir), "s.yaml");
        let t = now_utc();
        assert!(t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.as_str() > "2024-01-01" && t.as_str() < "2200-01-01", "{t}");
    }
}
