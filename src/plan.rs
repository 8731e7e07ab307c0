//! Planning: `Stack × Observed → Plan`, a pure function.
//!
//! For each resource the plan chooses one action and says why:
//! - NoOp: live matches the file in every field the file sets;
//! - Read: a lookup, read and never changed;
//! - Create: nothing of that name exists;
//! - Update: fields differ and AWS can change them in place;
//! - Replace: a field AWS cannot change differs ("forces replacement:
//!   port"). When the physical name stays the same and AWS wants it unique,
//!   the old resource must go first (delete, then create); otherwise the new
//!   one is created first and the old one deleted after its dependents moved;
//! - Delete: in the state record but no longer in the file (or destroy).
//!
//! Comparison follows the provider contract ([`crate::provider`]): only
//! the fields the file sets, live values normalized by the provider, lists
//! compared as sets except where order matters (commands). A value that
//! depends on a resource not yet created is "known after apply".
//!
//! A resource that exists under the stack's name without the stack's
//! `moor:*` tags (and is not in the state record) is never touched: the plan
//! carries a problem that names it and how to adopt it.

use crate::graph::Graph;
use crate::model::{Kind, Spec, Stack};
use crate::provider::{desired_fields, stack_tags, Deletion, Fields, Live, Owner, Target};
use crate::resolve::{resolve_spec, Known};
use crate::state::{Entry, State};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    NoOp,
    Read,
    Create,
    Update,
    Replace,
    Delete,
    /// Nothing to change, but the resource is not at its desired state (a
    /// service whose deployment has not settled): apply waits for it, and
    /// fails as its deployment's wait would.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceOrder {
    CreateBeforeDelete,
    DeleteBeforeCreate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDiff {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The new value depends on a resource that is not created yet.
    pub after_unknown: bool,
    pub forces_replacement: bool,
    /// Sensitive entries whose value changes (`containers.web.environment.DB_PASSWORD`):
    /// `before` and `after` show them only as `(sensitive)`.
    pub sensitive_changed: Vec<String>,
    /// When `after_unknown`: where in `after` the leaves known only after
    /// apply are (object keys and list indexes; empty: the whole value).
    /// The rest of `after` is what apply sets.
    pub unknown_leaves: Vec<Vec<String>>,
}

/// The pseudo-field of a resource an earlier run did not see settle (its
/// wait was interrupted): the apply waits for it again.
pub const SETTLED: &str = "settled";

/// The pseudo-field of a resource AWS no longer lets be used
/// ([`crate::provider::UNUSABLE`]): before is why, and it forces
/// replacement.
pub const USABLE: &str = "usable";

#[derive(Debug, Clone)]
pub struct Change {
    pub resource: String,
    pub kind: Kind,
    pub action: Action,
    pub replace: Option<ReplaceOrder>,
    /// Physical name after the change (or of what is deleted).
    pub name: Option<String>,
    /// Physical id of what exists now.
    pub id: Option<String>,
    pub diffs: Vec<FieldDiff>,
    /// Why: "forces replacement: port", "removed from the file", …
    pub reasons: Vec<String>,
    /// For deletes: contents go too (an ECR repository's images).
    pub force_delete: bool,
    /// A replaced object left over from an earlier run.
    pub deposed: bool,
    /// For waits: where the service stands (running and desired tasks,
    /// failed tasks, rollout state, newest events).
    pub status: Option<Value>,
    /// For waits: the last deployment was rolled back, so apply deploys again.
    pub redeploy: bool,
    pub live: Option<Live>,
    pub deletion: Option<Deletion>,
}

/// Something that stops the plan from being applied.
#[derive(Debug, Clone)]
pub struct Problem {
    pub resource: String,
    pub message: String,
    pub help: String,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub stack: String,
    pub region: Option<String>,
    pub destroy: bool,
    pub changes: Vec<Change>,
    pub problems: Vec<Problem>,
    /// Entries of the state record whose resources are already gone, or
    /// are no longer the object moor made (see `notices`).
    pub forget: Vec<String>,
    /// What the user should know but does not stop the plan: a recorded
    /// object that is now someone else's namesake, dropped from the record
    /// and left alone.
    pub notices: Vec<Problem>,
    /// Logical name → resource that exists (from the observation).
    pub known: Known,
    /// The account, region and endpoint planned against, when checked
    /// ([`crate::preflight`]); the plan's header names them.
    pub target: Option<crate::preflight::Target>,
    /// The images registered by digest, and what the registry says of every
    /// image the file names ([`crate::images`]): apply pins exactly these.
    pub pins: Vec<crate::images::Pin>,
    pub images: crate::images::Images,
    /// A plan of some resources only (`--target`): which, and what it left out.
    pub partial: Option<crate::targets::Partial>,
    /// Logical name → the newest version of a versioned resource that is
    /// made anew (its recorded version is gone): a create takes the paths
    /// it ignores from it ([`keep_ignored`]), as an update takes them from
    /// the version it replaces.
    pub kept: HashMap<String, Live>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ch in &self.changes {
            match ch.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Replace => c.replace += 1,
                Action::Delete => c.destroy += 1,
                Action::NoOp | Action::Read | Action::Wait => {}
            }
        }
        c
    }

    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| !matches!(c.action, Action::NoOp | Action::Read)) || !self.forget.is_empty()
    }

    pub fn change(&self, resource: &str) -> Option<&Change> {
        self.changes.iter().find(|c| c.resource == resource && !c.deposed)
    }
}

/// What was read from AWS for a plan.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    /// Each resource of the file (None: does not exist).
    pub resources: HashMap<String, Option<Live>>,
    /// Each state entry that is not in the file, read by id.
    pub removed: HashMap<String, Option<Live>>,
    /// Each deposed id, read by id (None: gone).
    pub deposed: HashMap<String, Option<Live>>,
    /// Logical name → versions with its tags that no record knows (task
    /// definition revisions registered but never recorded).
    pub unrecorded: HashMap<String, Vec<Live>>,
    /// Resources tagged with the stack that neither the file's reads nor
    /// the record account for ([`crate::discover`]), as read by id.
    pub found: Vec<(crate::provider::Found, Live)>,
    /// What the registries say of the images the file names ([`crate::images`]).
    pub images: crate::images::Images,
    /// Logical name → the newest version of a versioned resource of the
    /// file that ignores changes and whose recorded version is gone (a
    /// deploy registered its own and retired moor's).
    pub newest: HashMap<String, Live>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct PlanOptions {
    /// Allow replacements that lose data (an ECR repository's images) and
    /// deleting repositories that hold images.
    pub force: bool,
}

/// The target of a file resource: its spec resolved with what is known.
pub fn target(stack: &Stack, logical: &str, known: &Known, state: &State) -> (Target, BTreeSet<String>) {
    // Callers pass the names of the stack's resources (its graph's nodes).
    let r = stack.resource(logical).expect("resource of the stack");
    let (spec, unknown) = resolve_spec(&r.spec, known);
    // A managed kind AWS gives no tags (a DNS record set) carries none.
    let mut tags = match r.spec.tags() {
        None if !r.kind().is_lookup() => crate::model::common::Tags::new(),
        own => stack_tags(&stack.tags, own, &stack.name, &r.name),
    };
    if r.spec.retain() {
        tags.insert(crate::provider::TAG_RETAIN.into(), "true".into());
    }
    let entry = state.resources.get(logical).filter(|e| e.kind == r.kind());
    let id = entry.map(|e| e.id.clone());
    let recorded = entry.map(|e| e.attrs.clone()).unwrap_or_default();
    let t = Target {
        stack: stack.name.clone(),
        logical: r.name.clone(),
        kind: r.kind(),
        name: r.physical_name.clone(),
        id,
        spec,
        tags,
        recorded,
    };
    (t, unknown)
}

/// Whether `live` has every value `desired` sets. A list under a key that
/// any kind orders ([`crate::kinds::KindSpec::ORDERED_LISTS`]) is compared
/// in order, every other list as a set: for code that compares without a
/// kind at hand; [`diff`] asks the resource's own kind.
pub fn matches(desired: &Value, live: &Value, key: &str) -> bool {
    compare(desired, live, key, &|k| Kind::ALL.iter().any(|kind| kind.facts().ordered_lists.contains(&k)))
}

/// Whether `live` has every value `desired` sets; lists under a key
/// `ordered` accepts are compared in order, every other list as a set.
fn compare(desired: &Value, live: &Value, key: &str, ordered: &dyn Fn(&str) -> bool) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => compare(dv, lv, k, ordered),
            None => dv.is_null() || dv == &Value::Bool(false) || dv.as_array().is_some_and(Vec::is_empty),
        }),
        (Value::Array(d), Value::Array(l)) => {
            if d.len() != l.len() {
                return false;
            }
            if ordered(key) {
                return d.iter().zip(l).all(|(a, b)| compare(a, b, key, ordered));
            }
            let mut used = vec![false; l.len()];
            d.iter().all(|dv| {
                let found = l.iter().enumerate().find(|(i, lv)| !used[*i] && compare(dv, lv, key, ordered));
                match found {
                    Some((i, _)) => {
                        used[i] = true;
                        true
                    }
                    None => false,
                }
            })
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => n.to_string() == *s,
        (Value::Bool(b), Value::String(s)) | (Value::String(s), Value::Bool(b)) => b.to_string() == *s,
        (a, b) => a == b,
    }
}

fn user_tags(tags: &crate::model::common::Tags) -> BTreeMap<String, String> {
    tags.iter().filter(|(k, _)| !k.starts_with("aws:")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether a value holds anything (not null, false, or empty).
pub(crate) fn is_set(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(is_set),
        Value::String(s) => !s.is_empty(),
        Value::Number(_) | Value::Bool(true) => true,
    }
}

/// Field by field differences between the file and live. `applied` is what
/// the file said at the last apply: a setting removed from the file since
/// then (a key, or part of one) that live still has is a difference too;
/// otherwise only what the file sets is compared.
pub fn diff(
    kind: Kind,
    desired: &Fields,
    unknown: &BTreeSet<String>,
    live: &Live,
    tags: &crate::model::common::Tags,
    applied: Option<&Fields>,
) -> Vec<FieldDiff> {
    let force_new = kind.replace_fields();
    let ordered = |k: &str| kind.facts().ordered_lists.contains(&k);
    let matches = |d: &Value, l: &Value, k: &str| compare(d, l, k, &ordered);
    let mut out = Vec::new();
    for (k, d) in desired {
        let before = live.fields.get(k).cloned();
        if unknown.contains(k) {
            out.push(FieldDiff {
                field: k.clone(),
                before,
                after: Some(d.clone()),
                after_unknown: true,
                forces_replacement: force_new.contains(&k.as_str()),
                sensitive_changed: Vec::new(),
                unknown_leaves: crate::resolve::unknown_leaves(d),
            });
            continue;
        }
        let Some(l) = &before else { continue };
        // Part of the field was removed from the file: live must not have more.
        let narrowed = applied.and_then(|a| a.get(k)).is_some_and(|a| a != d) && is_set(l) && !matches(l, d, k);
        if !matches(d, l, k) || narrowed {
            out.push(FieldDiff {
                field: k.clone(),
                before: Some(crate::difftree::managed(l, d, applied.and_then(|a| a.get(k)))),
                after: Some(d.clone()),
                after_unknown: false,
                forces_replacement: force_new.contains(&k.as_str()),
                sensitive_changed: Vec::new(),
                unknown_leaves: Vec::new(),
            });
        }
    }
    for (k, a) in applied.into_iter().flatten() {
        if desired.contains_key(k) || !is_set(a) {
            continue;
        }
        if let Some(l) = live.fields.get(k).filter(|l| is_set(l)) {
            out.push(FieldDiff {
                field: k.clone(),
                before: Some(l.clone()),
                after: None,
                after_unknown: false,
                forces_replacement: force_new.contains(&k.as_str()),
                sensitive_changed: Vec::new(),
                unknown_leaves: Vec::new(),
            });
        }
    }
    if !kind.is_lookup() && kind.facts().tagged && user_tags(tags) != user_tags(&live.tags) {
        out.push(FieldDiff {
            field: "tags".into(),
            // Cannot fail: tags are a map of strings to strings.
            before: Some(serde_json::to_value(user_tags(&live.tags)).expect("tags")),
            after: Some(serde_json::to_value(user_tags(tags)).expect("tags")),
            after_unknown: false,
            forces_replacement: false,
            sensitive_changed: Vec::new(),
            unknown_leaves: Vec::new(),
        });
    }
    out
}

/// The fields of `logical` whose differences are neither planned nor
/// applied once it exists, each with why: the paths its `ignore_changes`
/// names (`desired_count`, `containers.web.image`, `tags.CostCenter`; see
/// [`crate::fieldpath`]), the fields another resource of the stack keeps
/// changing ([`crate::kinds::KindSpec::sets_fields_of`]), and those it
/// changes itself ([`crate::kinds::KindSpec::sets_own_fields`]).
pub fn ignored(stack: &Stack, logical: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(r) = stack.resource(logical) {
        out.extend(r.ignore_changes.iter().map(|f| (f.clone(), "the file says `ignore_changes`".to_string())));
        for (field, why) in r.spec.as_dyn().sets_own_fields() {
            if !out.iter().any(|(f, _)| f == field) {
                out.push((field.to_string(), why.to_string()));
            }
        }
    }
    for o in &stack.resources {
        for (res, field) in o.spec.as_dyn().sets_fields_of() {
            if res == logical && !out.iter().any(|(f, _)| f == field) {
                out.push((field.to_string(), format!("`{}` ({}) sets it after the create", o.name, o.kind())));
            }
        }
    }
    out
}

/// The segments of an ignored path (checked when the file was loaded).
/// Every key of the tags (`tags.*`) is the tags.
fn segments(path: &str) -> Vec<String> {
    let mut path = crate::fieldpath::parse(path).unwrap_or_else(|_| vec![path.to_string()]);
    if path.len() == 2 && path[0] == "tags" && path[1] == crate::fieldpath::EVERY {
        path.truncate(1);
    }
    path
}

/// Whether a path is under the resource's tags, which are compared and
/// sent apart from its other fields.
fn is_tags(kind: Kind, path: &[String]) -> bool {
    path.first().is_some_and(|f| f == "tags") && kind.facts().tagged && path.len() <= 2
}

/// Tags as `from` has them at `path` (`tags` or `tags.<key>`), moor's own
/// tags left as they are. Whether anything changed.
fn take_tags(tags: &mut crate::model::common::Tags, path: &[String], from: &crate::model::common::Tags) -> bool {
    let before = tags.clone();
    match path.get(1) {
        Some(key) => match from.get(key) {
            Some(v) => {
                tags.insert(key.clone(), v.clone());
            }
            None => {
                tags.remove(key);
            }
        },
        None => {
            let theirs = |k: &str| !k.starts_with("moor:") && !k.starts_with("aws:");
            tags.retain(|k, _| !theirs(k));
            tags.extend(from.iter().filter(|(k, _)| theirs(k)).map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    *tags != before
}

/// A live resource with the values of the paths it ignores taken from
/// `from`, another read of it: for a versioned kind, the newest version,
/// which another tool may have registered after moor's.
pub fn take_ignored_live(stack: &Stack, logical: &str, live: &mut Live, from: &Live) {
    let Some(kind) = stack.resource(logical).map(|r| r.kind()) else { return };
    for (p, _) in ignored(stack, logical) {
        let path = segments(&p);
        if is_tags(kind, &path) {
            take_tags(&mut live.tags, &path, &from.tags);
            continue;
        }
        let Some(theirs) = from.fields.get(&path[0]) else { continue };
        for rest in crate::fieldpath::expand(&path[1..], &[live.fields.get(&path[0]), Some(theirs)]) {
            match live.fields.get_mut(&path[0]) {
                Some(ours) => {
                    crate::fieldpath::take(ours, &rest, theirs);
                }
                None if rest.is_empty() => {
                    live.fields.insert(path[0].clone(), theirs.clone());
                }
                None => {}
            }
        }
    }
}

/// What the plan compares of an existing resource, with the values of the
/// paths it ignores (`ignored`) taken from `live`, in the file's fields
/// (`desired`), its tags, what it said at the last apply (`applied`), and
/// what is not known yet (`unknown`): so nothing there differs. Each path
/// whose value differs is said in `reasons`.
#[allow(clippy::too_many_arguments)]
fn take_ignored(
    kind: Kind,
    ignored: &[(String, String)],
    desired: &mut Fields,
    tags: &mut crate::model::common::Tags,
    unknown: &mut BTreeSet<String>,
    mut applied: Option<&mut Fields>,
    live: &Live,
    leaves: crate::secret::Leaves<'_>,
    reasons: &mut Vec<String>,
) {
    let shown = |v: Option<&Value>, unknown: bool| match v {
        _ if unknown => crate::difftree::UNKNOWN.to_string(),
        Some(v) if !v.is_null() => {
            let mut v = v.clone();
            crate::secret::redact_value(&mut v);
            crate::text::abbreviate(&v.to_string())
        }
        _ => "unset".to_string(),
    };
    // A field's value at a path, its secrets masked.
    let masked = |field: &str, v: &Value, rest: &[String]| {
        let mut v = v.clone();
        crate::secret::mask(field, &mut v, leaves);
        match crate::fieldpath::reach(&v, rest) {
            crate::fieldpath::Reach::At(x) => Some(x.clone()),
            _ => None,
        }
    };
    for (p, why) in ignored {
        let path = segments(p);
        if is_tags(kind, &path) {
            let mut file = tags.clone();
            if take_tags(tags, &path, &live.tags) {
                let (ours, theirs) = match path.get(1) {
                    Some(k) => (file.remove(k).map(Value::String), live.tags.get(k).cloned().map(Value::String)),
                    None => {
                        let theirs = |t: &crate::model::common::Tags| {
                            let t: BTreeMap<&String, &String> =
                                t.iter().filter(|(k, _)| !k.starts_with("moor:") && !k.starts_with("aws:")).collect();
                            serde_json::to_value(t).ok()
                        };
                        (theirs(&file), theirs(&live.tags))
                    }
                };
                reasons.push(format!(
                    "ignored: `{p}` is {} in AWS, {} in the file; {why}",
                    shown(theirs.as_ref(), false),
                    shown(ours.as_ref(), false)
                ));
            }
            continue;
        }
        let field = &path[0];
        let Some(lv) = live.fields.get(field) else { continue };
        for rest in crate::fieldpath::expand(&path[1..], &[desired.get(field), Some(lv)]) {
            let rest = &rest[..];
            let p = crate::fieldpath::show(&[std::slice::from_ref(field), rest].concat());
            let theirs = match crate::fieldpath::reach(lv, rest) {
                crate::fieldpath::Reach::At(v) => Some(v),
                crate::fieldpath::Reach::Unset => None,
                crate::fieldpath::Reach::Nowhere => continue,
            };
            let ours = desired.get(field).and_then(|d| match crate::fieldpath::reach(d, rest) {
                crate::fieldpath::Reach::At(v) => Some(v.clone()),
                _ => None,
            });
            let not_known =
                unknown.contains(field) && ours.as_ref().is_some_and(|o| !crate::resolve::unknown_leaves(o).is_empty());
            let key = rest.last().unwrap_or(field).as_str();
            let ordered = |k: &str| kind.facts().ordered_lists.contains(&k);
            // As the diff would find it: what the file leaves out differs only
            // when the last apply set it (it would be removed).
            let was_set = || {
                let a = applied.as_deref().and_then(|a| a.get(field));
                a.is_some_and(
                    |a| matches!(crate::fieldpath::reach(a, rest), crate::fieldpath::Reach::At(v) if is_set(v)),
                )
            };
            let differs = not_known
                || match (&ours, theirs) {
                    (Some(o), Some(t)) => !compare(o, t, key, &ordered),
                    (Some(x), None) => is_set(x),
                    (None, Some(x)) => is_set(x) && was_set(),
                    (None, None) => false,
                };
            if differs {
                let file = desired.get(field).and_then(|d| masked(field, d, rest));
                reasons.push(format!(
                    "ignored: `{p}` is {} in AWS, {} in the file; {why}",
                    shown(masked(field, lv, rest).as_ref(), false),
                    shown(file.as_ref(), not_known)
                ));
            }
            let kept = |fields: &mut Fields| match fields.get_mut(field) {
                Some(v) => {
                    crate::fieldpath::take(v, rest, lv);
                }
                // The whole field, which the file leaves out: as AWS has it.
                None if rest.is_empty() && is_set(lv) => {
                    fields.insert(field.clone(), lv.clone());
                }
                None => {}
            };
            kept(desired);
            if let Some(a) = applied.as_deref_mut() {
                kept(a);
            }
            if unknown.contains(field)
                && desired.get(field).is_none_or(|d| crate::resolve::unknown_leaves(d).is_empty())
            {
                unknown.remove(field);
            }
        }
    }
}

/// The target of an update of `live`, with the paths it ignores
/// ([`ignored`]) as they are in AWS: the update neither compares nor sends
/// them. A field whose live value is not in the file's form is left as the
/// file says; the plan did not list it, so apply sends it only if the
/// provider's own comparison finds it changed. A path whose value AWS's
/// would make the spec invalid is left as the file says.
pub fn keep_ignored(stack: &Stack, t: &mut Target, live: &Live) {
    let ignored = ignored(stack, &t.logical);
    if ignored.is_empty() {
        return;
    }
    let Ok(Value::Object(mut spec)) = serde_json::to_value(&t.spec) else { return };
    for (p, _) in &ignored {
        let path = segments(p);
        if is_tags(t.kind, &path) {
            take_tags(&mut t.tags, &path, &live.tags);
            continue;
        }
        let (field, rest) = (&path[0], &path[1..]);
        let Some(lv) = live.fields.get(field) else { continue };
        if rest.is_empty() {
            if lv.is_null() {
                spec.remove(field);
            } else {
                spec.insert(field.clone(), lv.clone());
            }
            continue;
        }
        for rest in crate::fieldpath::expand(rest, &[spec.get(field), Some(lv)]) {
            let Some(v) = spec.get_mut(field) else { continue };
            let before = v.clone();
            if crate::fieldpath::take(v, &rest, lv) && t.kind.spec_from_json(Value::Object(spec.clone())).is_err() {
                spec.insert(field.clone(), before);
            }
        }
    }
    if let Ok(kept) = t.kind.spec_from_json(Value::Object(spec)) {
        t.spec = kept;
    }
}

fn deletion(
    logical: &str,
    kind: Kind,
    id: &str,
    name: Option<String>,
    attrs: crate::provider::Attrs,
    force: bool,
) -> Deletion {
    Deletion { logical: logical.to_string(), kind, id: id.to_string(), name, attrs, force }
}

pub fn plan(
    stack: &Stack,
    graph: &Graph,
    state: &State,
    observed: &Observed,
    destroy: bool,
    opts: PlanOptions,
) -> Plan {
    let mut p = Plan {
        stack: stack.name.clone(),
        region: stack.region.clone(),
        destroy,
        changes: Vec::new(),
        problems: Vec::new(),
        forget: Vec::new(),
        notices: Vec::new(),
        known: Known::new(),
        target: None,
        pins: Vec::new(),
        images: observed.images.clone(),
        partial: None,
        kept: HashMap::new(),
    };
    let order: Vec<String> = graph
        .topo_order()
        .map(|o| o.into_iter().map(str::to_string).collect())
        .unwrap_or_else(|| stack.resources.iter().map(|r| r.name.clone()).collect());

    // What exists, and is ours (or a lookup), is known.
    for r in &stack.resources {
        if let Some(Some(live)) = observed.resources.get(&r.name) {
            if owner(stack, state, &r.name, r.kind(), live).is_us() || r.kind().is_lookup() {
                p.known.insert(r.name.clone(), live.attrs.clone());
            }
        }
    }

    if destroy {
        plan_destroy(stack, state, observed, &order, &mut p, opts);
        p.changes.extend(crate::discover::changes(stack, state, observed, true, opts.force));
        return p;
    }

    // Attributes of resources that will change identity are not known yet.
    let mut known = p.known.clone();
    for logical in &order {
        // The order is the graph's, whose nodes are the stack's resources.
        let r = stack.resource(logical).expect("in stack");
        let kind = r.kind();
        let (mut t, unknown) = target(stack, logical, &known, state);
        image_problems(stack, graph, logical, &known, observed, &mut p);
        let pins = crate::images::pins(&t, &observed.images);
        crate::images::pin(&mut t, &observed.images);
        p.pins.extend(pins.iter().map(|(image, pinned)| crate::images::Pin {
            resource: logical.clone(),
            image: image.clone(),
            digest: pinned.rsplit_once('@').map_or("", |(_, d)| d).to_string(),
        }));
        let live = observed.resources.get(logical).cloned().flatten();
        let mut ch = Change {
            resource: logical.clone(),
            kind,
            action: Action::NoOp,
            replace: None,
            name: r.physical_name.clone(),
            id: live.as_ref().map(|l| l.id.clone()),
            diffs: Vec::new(),
            reasons: Vec::new(),
            force_delete: false,
            deposed: false,
            status: None,
            redeploy: false,
            live: live.clone(),
            deletion: None,
        };
        if kind.is_lookup() {
            ch.action = Action::Read;
            if live.is_none() {
                let what = r.spec.given_name().map(|n| format!(" `{n}`")).unwrap_or_default();
                let at = crate::checks::place(stack, logical, &[]);
                p.problems.push(Problem {
                    resource: logical.clone(),
                    message: format!("{at}: {kind}{what} was not found"),
                    help: "a lookup reads something that exists already; check the name, the region and the account"
                        .into(),
                });
            }
            p.changes.push(ch);
            continue;
        }
        let desired = desired_fields(&t.spec, t.name.as_deref());
        match &live {
            None => {
                ch.action = Action::Create;
                // A new version of what another tool deployed keeps what it owns.
                let (mut desired, mut unknown) = (desired.clone(), unknown.clone());
                if let Some(newest) = observed.newest.get(logical) {
                    let leaves = |f: &str, v: &Value| r.spec.as_dyn().secret_leaves(f, v);
                    let mut tags = t.tags.clone();
                    let ignored = ignored(stack, logical);
                    let (d, u) = (&mut desired, &mut unknown);
                    take_ignored(kind, &ignored, d, &mut tags, u, None, newest, &leaves, &mut ch.reasons);
                    p.kept.insert(logical.clone(), newest.clone());
                }
                ch.diffs = desired
                    .iter()
                    .map(|(k, v)| FieldDiff {
                        field: k.clone(),
                        before: None,
                        after: Some(v.clone()),
                        after_unknown: unknown.contains(k),
                        forces_replacement: false,
                        sensitive_changed: Vec::new(),
                        unknown_leaves: if unknown.contains(k) {
                            crate::resolve::unknown_leaves(v)
                        } else {
                            Vec::new()
                        },
                    })
                    .collect();
                known.remove(logical);
            }
            Some(l) => {
                let shown = r.physical_name.as_deref().unwrap_or(&l.id);
                let refused = match owner(stack, state, logical, kind, l) {
                    Owner::Us => None,
                    Owner::Other(owner) => {
                        Some(format!("{kind} `{shown}` exists but belongs to {owner}; moor will not change or delete it"))
                    }
                    Owner::Unproven => Some(format!(
                        "{kind} `{shown}` has the id the record names but not moor's tags, and nothing tells whether it is the one moor made; moor will not change or delete it"
                    )),
                };
                if let Some(message) = refused {
                    let at = crate::checks::place(stack, logical, &[kind.facts().name_field]);
                    p.problems.push(Problem {
                        resource: logical.clone(),
                        message: format!("{at}: {message}"),
                        help: format!(
                            "to manage it in this stack, run `moor import {logical} {} -f {}`; otherwise give `{logical}` another name",
                            l.id, stack.file.name
                        ),
                    });
                    ch.action = Action::NoOp;
                    p.changes.push(ch);
                    continue;
                }
                // Sensitive values are recorded as hashes: the ones that still
                // match the file compare as the file's values.
                let applied = state.resources.get(logical).filter(|e| e.id == l.id).and_then(|e| e.applied.as_ref());
                let leaves = |f: &str, v: &Value| r.spec.as_dyn().secret_leaves(f, v);
                let unhashed =
                    applied.map(|a| crate::secret::unhash_fields(a, &desired, &leaves, &stack.name, logical));
                // What another tool owns is compared as AWS has it.
                let mut applied = unhashed.or_else(|| applied.cloned());
                let (mut desired, mut tags, mut unknown) = (desired.clone(), t.tags.clone(), unknown.clone());
                let ignored = ignored(stack, logical);
                take_ignored(
                    kind,
                    &ignored,
                    &mut desired,
                    &mut tags,
                    &mut unknown,
                    applied.as_mut(),
                    l,
                    &leaves,
                    &mut ch.reasons,
                );
                ch.diffs = diff(kind, &desired, &unknown, l, &tags, applied.as_ref());
                if let Some(why) = l.fields.get(crate::provider::UNUSABLE).and_then(Value::as_str) {
                    // Not a difference of the file's: no `ignore_changes` hides it.
                    ch.diffs.push(FieldDiff {
                        field: USABLE.into(),
                        before: Some(Value::String(why.to_string())),
                        after: Some(Value::Bool(true)),
                        after_unknown: false,
                        forces_replacement: true,
                        sensitive_changed: Default::default(),
                        unknown_leaves: Vec::new(),
                    });
                }
                if state.resources.get(logical).is_some_and(|e| e.id == l.id && e.unsettled) {
                    // An earlier run's wait for it was interrupted: wait again.
                    ch.diffs.push(FieldDiff {
                        field: SETTLED.into(),
                        before: Some(Value::Bool(false)),
                        after: Some(Value::Bool(true)),
                        after_unknown: false,
                        forces_replacement: false,
                        sensitive_changed: Default::default(),
                        unknown_leaves: Vec::new(),
                    });
                }
                let pending = state.resources.get(logical).filter(|e| e.id == l.id).and_then(|e| e.pending.as_ref());
                let unsettled = unsettled(&r.spec, l, pending);
                if let Some((why, redeploy)) = &unsettled {
                    ch.status = l.fields.get(crate::provider::DEPLOYMENT_STATE).cloned();
                    ch.redeploy = *redeploy;
                    ch.reasons.push(why.clone());
                }
                if ch.diffs.is_empty() {
                    ch.action = if unsettled.is_some() { Action::Wait } else { Action::NoOp };
                } else if ch.diffs.iter().any(|d| d.forces_replacement) {
                    ch.action = Action::Replace;
                    ch.reasons = ch
                        .diffs
                        .iter()
                        .filter(|d| d.forces_replacement)
                        .map(|d| match (d.field.as_str(), &d.before) {
                            (USABLE, Some(Value::String(why))) => format!("no longer usable: {why}"),
                            _ => format!("forces replacement: {}", d.field),
                        })
                        .collect();
                    let name_changes = ch.diffs.iter().any(|d| d.field == kind.facts().name_field);
                    ch.replace = Some(if kind.naming().is_some() && !name_changes {
                        ReplaceOrder::DeleteBeforeCreate
                    } else {
                        ReplaceOrder::CreateBeforeDelete
                    });
                    let users: Vec<&str> = stack
                        .resources
                        .iter()
                        .filter(|o| graph.dependencies(&o.name).contains(&logical.as_str()))
                        .map(|o| o.name.as_str())
                        .collect();
                    let in_use = kind.facts().in_use_blocks_delete && !users.is_empty();
                    if ch.replace == Some(ReplaceOrder::DeleteBeforeCreate) && in_use {
                        p.problems.push(Problem {
                            resource: logical.clone(),
                            message: format!(
                                "{kind} `{logical}` must be replaced ({}), but its fixed name means deleting it first while {} use it",
                                ch.reasons.join(", "),
                                users.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
                            ),
                            help: "remove its `name:` so moor names the new one and moves its users to it first, or give it a new name".into(),
                        });
                    }
                    if let Some(c) = kind.facts().contents.filter(|_| !opts.force) {
                        p.problems.push(Problem {
                            resource: logical.clone(),
                            message: format!("replacing {kind} `{logical}` deletes every {} in it", c.one),
                            help: format!(
                                "push the {} again after the apply, and run with --force to allow it",
                                c.many
                            ),
                        });
                    }
                    ch.deletion = Some(deletion(
                        logical,
                        kind,
                        &l.id,
                        l.fields.get("name").and_then(Value::as_str).map(str::to_string),
                        l.attrs.clone(),
                        true,
                    ));
                    known.remove(logical);
                } else {
                    ch.action = Action::Update;
                    ch.reasons.extend(crate::images::moved(&pins, l));
                    // A new version has a new id: what refers to it changes too.
                    if kind.facts().versioned {
                        known.remove(logical);
                    }
                }
            }
        }
        mask_sensitive(&mut ch.diffs, &|f, v| r.spec.as_dyn().secret_leaves(f, v));
        // Credentials anywhere else (a command line, a health check).
        for d in &mut ch.diffs {
            d.before.iter_mut().chain(d.after.iter_mut()).for_each(crate::secret::redact_value);
        }
        p.changes.push(ch);
    }

    // Replaced objects an earlier run left behind.
    for (logical, e) in &state.resources {
        for d in live_deposed(stack, observed, logical, e, &mut p) {
            p.changes.push(deposed_change(logical, e.kind, d, e.force_delete));
        }
    }
    // Versions registered but never recorded, unless a resource of the
    // stack runs one (a service its task definition's revision).
    let used: BTreeSet<&str> = observed
        .resources
        .iter()
        .filter_map(|(logical, l)| Some((stack.resource(logical)?.kind().facts().runs_version?, l.as_ref()?)))
        .filter_map(|(field, l)| l.fields.get(field).and_then(Value::as_str))
        .collect();
    p.changes.extend(unrecorded_changes(stack, state, observed, &used));
    // Removed from the file: delete, dependents first (the engine orders).
    for (logical, e) in &state.resources {
        if stack.resource(logical).is_some() {
            continue;
        }
        if let Some(live) = live_removed(stack, observed, logical, e, &mut p) {
            if retained(&live) {
                retain(&mut p, logical, e.kind, &live.id);
                continue;
            }
            p.changes.push(delete_change(
                logical,
                e.kind,
                &live,
                e.name.clone(),
                e.force_delete || opts.force,
                "removed from the file",
            ));
        }
    }
    p.changes.extend(crate::discover::changes(stack, state, observed, false, opts.force));
    p
}

/// The images a resource that starts them (and wants tasks) would find
/// missing: each a problem at the image's place in the file of the
/// resource `logical` uses that names it.
fn image_problems(stack: &Stack, graph: &Graph, logical: &str, known: &Known, observed: &Observed, p: &mut Plan) {
    let Some(r) = stack.resource(logical) else { return };
    let Some(none) = r.spec.as_dyn().runs_images() else { return };
    for used in graph.dependencies(logical) {
        let Some(u) = stack.resource(used) else { continue };
        for img in u.spec.as_dyn().images() {
            let (resolved, unknown) = crate::resolve::resolve_value(&Value::String(img.image.clone()), known);
            let at = crate::images::locate(stack, used, &img.at);
            let what = &img.what;
            // Known only after apply because a resource it names is made by
            // this plan; one that exists but is not usable (someone else's)
            // is a problem of its own.
            let made = crate::model::common::refs_in(&img.image)
                .iter()
                .all(|r| known.contains_key(*r) || matches!(observed.resources.get(*r), None | Some(None)));
            if unknown && !made {
                continue;
            }
            let (message, help) = if unknown {
                (
                    format!(
                        "{at}: the image of {what} of `{used}`, `{}`, is in a repository this plan creates: it holds no image yet, so the tasks of `{logical}` could never start",
                        img.image
                    ),
                    {
                        // The repositories the image names: made first on their own.
                        let file = &stack.file.name;
                        let repos: Vec<&str> = crate::model::common::refs_in(&img.image)
                            .into_iter()
                            .filter(|r| !known.contains_key(*r))
                            .collect();
                        match repos.as_slice() {
                            [repo] => format!(
                                "make the repository first (`moor apply {file} --target {repo}`), push the image \
                                 (`moor push {file} --resource {repo}`), then apply again; or apply with {none} on \
                                 `{logical}` first"
                            ),
                            _ => format!("apply with {none} on `{logical}` first, push the image, then apply again"),
                        }
                    },
                )
            } else {
                let image = resolved.as_str().unwrap_or_default();
                match observed.images.get(image) {
                    Some(crate::images::Resolved::Missing(why)) => (
                        format!("{at}: the image of {what} of `{used}`, `{image}`, is not there ({why}), so the tasks of `{logical}` could never start"),
                        format!("push the image first, or set {none} on `{logical}` until it is there"),
                    ),
                    _ => continue,
                }
            };
            // About the tasks of `logical`: a plan that leaves it out has none.
            p.problems.push(Problem { resource: logical.to_string(), message, help });
        }
    }
}

/// Why a service that exists is not at its desired state, if it is not,
/// and whether apply must deploy it again (its last deployment was rolled
/// back) rather than wait: the live deployment has not settled (tasks
/// missing, rollout not COMPLETED, FAILED, tasks that keep failing), or the
/// record says the last deployment was rolled back. A service whose wait
/// ended badly but that settled since is settled. A service the file does
/// not wait for (`wait: { stable: false }`) is never unsettled.
fn unsettled(spec: &Spec, live: &Live, pending: Option<&crate::state::Pending>) -> Option<(String, bool)> {
    if !spec.as_dyn().waits_until_settled() {
        return None;
    }
    if let Some(p) = pending.filter(|p| p.redeploy) {
        return Some((format!("the last deployment did not settle ({}); apply deploys it again", p.reason), true));
    }
    let state = live.fields.get(crate::provider::DEPLOYMENT_STATE)?;
    if state.get("settled").and_then(Value::as_bool).unwrap_or(true) {
        return None;
    }
    let n = |k: &str| state.get(k).and_then(Value::as_i64).unwrap_or(0);
    let mut why = match state.get("failed").and_then(Value::as_str) {
        Some(f) => format!("deployment failing: {f}"),
        None => format!(
            "deployment not settled: {} of {} tasks running, rollout {}",
            n("running"),
            n("desired"),
            state.get("rollout").and_then(Value::as_str).unwrap_or("unknown")
        ),
    };
    if let Some(p) = pending {
        why.push_str(&format!("; the last apply: {}", p.reason));
    }
    Some((why, false))
}

/// A version moor made but never recorded, deleted like a replaced one:
/// after its resource is up and its users moved on.
fn unrecorded_changes(stack: &Stack, state: &State, observed: &Observed, skip: &BTreeSet<&str>) -> Vec<Change> {
    let sorted: BTreeMap<&String, &Vec<Live>> = observed.unrecorded.iter().collect();
    let mut out = Vec::new();
    for (logical, lives) in sorted {
        let kind = stack.resource(logical).map(|r| r.kind()).or(state.resources.get(logical).map(|e| e.kind));
        let Some(kind) = kind else { continue };
        for l in lives.iter().filter(|l| !skip.contains(l.id.as_str())) {
            let family = l.fields.get(kind.facts().name_field).and_then(Value::as_str).map(str::to_string);
            let d =
                crate::state::Deposed { id: l.id.clone(), uid: l.uid.clone(), name: family, attrs: l.attrs.clone() };
            let mut ch = deposed_change(logical, kind, &d, false);
            ch.reasons = vec!["unrecorded revision: registered by moor but never recorded".into()];
            out.push(ch);
        }
    }
    out
}

/// Whose `live`, found for logical resource `logical` of the file, is.
fn owner(stack: &Stack, state: &State, logical: &str, kind: Kind, live: &Live) -> Owner {
    let entry = state.resources.get(logical).filter(|e| e.kind == kind);
    live.owner(&stack.name, logical, kind, entry.map(Entry::recorded))
}

/// The live object of a recorded entry no longer in the file, when it
/// still exists and is still the one moor made. One that is gone is
/// forgotten; one that is now someone else's namesake is forgotten too,
/// never deleted, and the plan says so.
fn live_removed(stack: &Stack, observed: &Observed, logical: &str, e: &Entry, p: &mut Plan) -> Option<Live> {
    let live = observed.removed.get(logical).cloned().flatten();
    match live.as_ref().map(|l| l.owner(&stack.name, logical, e.kind, Some(e.recorded()))) {
        Some(Owner::Us) => live,
        Some(Owner::Other(owner)) => {
            disown(p, logical, e.kind, &e.id, &owner);
            None
        }
        Some(Owner::Unproven) => {
            unproven(p, logical, e.kind, &e.id);
            None
        }
        None => {
            p.forget.push(logical.to_string());
            None
        }
    }
}

/// Shows sensitive values (the kind's [`crate::secret::Leaf`]s) as
/// `(sensitive)` in before and after, and names the ones that change. The
/// plan never holds them: everything that prints it (text, JSON, apply)
/// shows it as it is.
pub fn mask_sensitive(diffs: &mut [FieldDiff], leaves: crate::secret::Leaves<'_>) {
    for d in diffs.iter_mut() {
        // A new resource's values are all new: nothing to name. A value
        // partly unknown still has its known secrets to compare.
        if d.before.is_some() {
            d.sensitive_changed = crate::secret::changed(&d.field, d.before.as_ref(), d.after.as_ref(), leaves);
        }
        for v in [d.before.as_mut(), d.after.as_mut()].into_iter().flatten() {
            crate::secret::mask(&d.field, v, leaves);
        }
    }
}

/// The deposed objects of `e` that still exist and are still the ones
/// moor made (a namesake of someone else's is left alone).
fn live_deposed<'a>(
    stack: &Stack,
    observed: &Observed,
    logical: &str,
    e: &'a Entry,
    p: &mut Plan,
) -> Vec<&'a crate::state::Deposed> {
    let mut out = Vec::new();
    for d in &e.deposed {
        if let Some(Some(live)) = observed.deposed.get(&d.id) {
            match live.owner(&stack.name, logical, e.kind, Some(d.recorded())) {
                Owner::Us => out.push(d),
                Owner::Other(owner) => p.notices.push(Problem {
                    resource: logical.to_string(),
                    message: format!(
                        "the replaced {} `{}` that moor recorded is now {owner}; it is left alone",
                        e.kind, d.id
                    ),
                    help: "nothing to do, unless it should be deleted: then delete it yourself".into(),
                }),
                Owner::Unproven => unproven(p, logical, e.kind, &d.id),
            }
        }
    }
    out
}

/// A recorded object moor cannot prove is its own: not deleted, and kept
/// in the record, with a notice that says how to settle it.
fn unproven(p: &mut Plan, logical: &str, kind: Kind, id: &str) {
    p.notices.push(Problem {
        resource: logical.to_string(),
        message: format!(
            "{kind} `{id}` that the record names for `{logical}` has lost moor's tags, and nothing else tells whether it is the one moor made; it is left alone"
        ),
        help: format!(
            "if it is moor's, tag it again with `moor import {logical} {id} -f FILE`, and the next run manages it; if it is not, it stays someone else's"
        ),
    });
}

fn disown(p: &mut Plan, logical: &str, kind: Kind, id: &str, owner: &str) {
    p.forget.push(logical.to_string());
    p.notices.push(Problem {
        resource: logical.to_string(),
        message: format!(
            "{kind} `{id}` that the record names for `{logical}` belongs to {owner} now, not to this stack; it is left alone and dropped from the record"
        ),
        help: "nothing to do, unless it should be deleted: then delete it yourself".into(),
    });
}

/// Whether a resource carries the tag of `retain: true`.
pub(crate) fn retained(live: &Live) -> bool {
    live.tags.get(crate::provider::TAG_RETAIN).is_some_and(|v| v == "true")
}

/// A resource kept by `retain: true`: not deleted, dropped from the
/// record, and the plan says so.
fn retain(p: &mut Plan, logical: &str, kind: Kind, id: &str) {
    p.forget.push(logical.to_string());
    p.notices.push(Problem {
        resource: logical.to_string(),
        message: format!("{kind} `{id}` of `{logical}` is kept (`retain: true`): it is not deleted, and is dropped from the state record"),
        help: "delete it yourself when it is no longer needed".into(),
    });
}

fn deposed_change(logical: &str, kind: Kind, d: &crate::state::Deposed, force: bool) -> Change {
    Change {
        resource: logical.to_string(),
        kind,
        action: Action::Delete,
        replace: None,
        name: d.name.clone(),
        id: Some(d.id.clone()),
        diffs: Vec::new(),
        reasons: vec!["replaced earlier; the old one is still there".into()],
        force_delete: force,
        deposed: true,
        status: None,
        redeploy: false,
        live: None,
        deletion: Some(deletion(logical, kind, &d.id, d.name.clone(), d.attrs.clone(), force)),
    }
}

pub(crate) fn delete_change(
    logical: &str,
    kind: Kind,
    live: &Live,
    name: Option<String>,
    force: bool,
    why: &str,
) -> Change {
    Change {
        resource: logical.to_string(),
        kind,
        action: Action::Delete,
        replace: None,
        name: name.clone(),
        id: Some(live.id.clone()),
        diffs: Vec::new(),
        reasons: vec![why.to_string()],
        force_delete: force,
        deposed: false,
        status: None,
        redeploy: false,
        live: Some(live.clone()),
        deletion: Some(deletion(logical, kind, &live.id, name, live.attrs.clone(), force)),
    }
}

fn plan_destroy(stack: &Stack, state: &State, observed: &Observed, order: &[String], p: &mut Plan, opts: PlanOptions) {
    // Resources of the file that exist and are ours, in reverse order.
    let mut seen = BTreeSet::new();
    for logical in order.iter().rev() {
        // The order is the graph's, whose nodes are the stack's resources.
        let r = stack.resource(logical).expect("in stack");
        if r.kind().is_lookup() {
            continue;
        }
        let Some(Some(live)) = observed.resources.get(logical) else {
            if state.resources.contains_key(logical) {
                p.forget.push(logical.clone());
            }
            continue;
        };
        match owner(stack, state, logical, r.kind(), live) {
            Owner::Us => {}
            Owner::Other(owner) => {
                if state.resources.get(logical).is_some_and(|e| e.id == live.id) {
                    disown(p, logical, r.kind(), &live.id, &owner);
                }
                continue;
            }
            Owner::Unproven => {
                unproven(p, logical, r.kind(), &live.id);
                continue;
            }
        }
        seen.insert(logical.clone());
        if r.spec.retain() {
            retain(p, logical, r.kind(), &live.id);
            continue;
        }
        let force = r.spec.as_dyn().deletes_contents() || opts.force;
        p.changes.push(delete_change(logical, r.kind(), live, r.physical_name.clone(), force, "destroy"));
    }
    // Resources only the state record knows (removed from the file).
    for (logical, e) in &state.resources {
        if !seen.contains(logical) && stack.resource(logical).is_none() {
            if let Some(live) = live_removed(stack, observed, logical, e, p).filter(|l| {
                let keep = retained(l);
                if keep {
                    retain(p, logical, e.kind, &l.id);
                }
                !keep
            }) {
                p.changes.push(delete_change(
                    logical,
                    e.kind,
                    &live,
                    e.name.clone(),
                    e.force_delete || opts.force,
                    "destroy",
                ));
            }
        }
        for d in live_deposed(stack, observed, logical, e, p) {
            p.changes.push(deposed_change(logical, e.kind, d, e.force_delete || opts.force));
        }
    }
    p.changes.extend(unrecorded_changes(stack, state, observed, &BTreeSet::new()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_are_sets_unless_ordered() {
        assert!(matches(&json!(["a", "b"]), &json!(["b", "a"]), "subnets"));
        assert!(!matches(&json!(["a"]), &json!(["a", "b"]), "subnets"));
        let mut ordering = Kind::ALL.into_iter().filter(|k| !k.facts().ordered_lists.is_empty()).peekable();
        assert!(ordering.peek().is_some(), "some kind orders a list");
        for kind in ordering {
            for key in kind.facts().ordered_lists {
                assert!(!matches(&json!(["a", "b"]), &json!(["b", "a"]), key), "{kind}: {key}");
                // The resource's own kind says which of its lists are ordered.
                let fields = |v: Value| -> Fields { [(key.to_string(), v)].into_iter().collect() };
                let live = Live {
                    id: "x".into(),
                    fields: fields(json!(["b", "a"])),
                    attrs: Default::default(),
                    tags: Default::default(),
                    uid: None,
                };
                let tags = crate::model::common::Tags::default();
                let d = diff(kind, &fields(json!(["a", "b"])), &BTreeSet::new(), &live, &tags, None);
                assert_eq!(d.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), [*key], "{kind}");
                let other = Kind::ALL.into_iter().find(|k| !k.facts().ordered_lists.contains(key)).expect("a kind");
                let d = diff(other, &fields(json!(["a", "b"])), &BTreeSet::new(), &live, &tags, None);
                assert!(d.iter().all(|d| d.field != *key), "{other} does not order {key}");
            }
        }
    }

    #[test]
    fn the_before_of_a_change_leaves_out_what_aws_filled_in() {
        let fields = |v: Value| -> Fields { [("containers".to_string(), v)].into_iter().collect() };
        let live = Live {
            id: "x".into(),
            fields: fields(
                json!([{"name": "web", "image": "a", "port_mappings": [{"container_port": 80, "protocol": "tcp"}]}]),
            ),
            attrs: Default::default(),
            tags: Default::default(),
            uid: None,
        };
        let desired = fields(json!([{"name": "web", "image": "b", "port_mappings": [{"container_port": 80}]}]));
        let tags = crate::model::common::Tags::default();
        let kind = Kind::ALL[0];
        let d = diff(kind, &desired, &BTreeSet::new(), &live, &tags, Some(&desired));
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].before,
            Some(json!([{"name": "web", "image": "a", "port_mappings": [{"container_port": 80}]}])),
            "the live value as the file manages it"
        );
    }

    #[test]
    fn a_secret_that_changes_is_named_when_another_leaf_is_unknown() {
        let leaves = |_: &str, v: &Value| -> Vec<crate::secret::Leaf> {
            v.pointer("/0/environment/PW")
                .map(|_| crate::secret::Leaf {
                    at: ["containers", "0", "environment", "PW"].map(String::from).to_vec(),
                    name: "containers.web.environment.PW".into(),
                    salt: "PW".into(),
                    sensitive: true,
                })
                .into_iter()
                .collect()
        };
        let mut diffs = vec![FieldDiff {
            field: "containers".into(),
            before: Some(json!([{"name": "web", "image": "old", "environment": {"PW": "a"}}])),
            after: Some(json!([{"name": "web", "image": "${repo.uri}", "environment": {"PW": "b"}}])),
            after_unknown: true,
            forces_replacement: false,
            sensitive_changed: Vec::new(),
            unknown_leaves: vec![vec!["0".into(), "image".into()]],
        }];
        mask_sensitive(&mut diffs, &leaves);
        assert_eq!(diffs[0].sensitive_changed, ["containers.web.environment.PW"]);
        assert_eq!(diffs[0].after.as_ref().unwrap()[0]["environment"]["PW"], crate::secret::MASK);
        assert_eq!(diffs[0].before.as_ref().unwrap()[0]["environment"]["PW"], crate::secret::MASK);
    }

    #[test]
    fn an_ignored_path_takes_aws_value_and_the_rest_of_its_field_is_compared() {
        let kind = Kind::parse("ecs/task_definition").expect("kind");
        let live = Live {
            id: "x".into(),
            fields: [(
                "containers".to_string(),
                json!([{"name": "web", "image": "theirs:2", "cpu": 1},
                       {"name": "worker", "image": "w:1", "environment": {"X": "2"}}]),
            )]
            .into_iter()
            .collect(),
            attrs: Default::default(),
            tags: [("CostCenter", "42"), ("team", "a")].map(|(k, v)| (k.to_string(), v.to_string())).into(),
            uid: None,
        };
        let file = |web: &str, worker: &str, cpu: u32| -> Fields {
            [(
                "containers".to_string(),
                json!([{"name": "web", "image": web, "cpu": cpu}, {"name": "worker", "image": worker}]),
            )]
            .into_iter()
            .collect()
        };
        let ignored = [
            ("containers.web.image".to_string(), "the file says `ignore_changes`".to_string()),
            ("tags.CostCenter".to_string(), "the file says `ignore_changes`".to_string()),
            ("containers.worker.environment.X".to_string(), "the file says `ignore_changes`".to_string()),
        ];
        let no_leaves = |_: &str, _: &Value| Vec::new();
        let run = |desired: Fields, tags: crate::model::common::Tags, unknown: BTreeSet<String>| {
            let (mut desired, mut tags, mut unknown, mut reasons) = (desired, tags, unknown, Vec::new());
            let mut applied = Some(file("mine:1", "w:1", 1));
            let (d, t, u, a) = (&mut desired, &mut tags, &mut unknown, applied.as_mut());
            take_ignored(kind, &ignored, d, t, u, a, &live, &no_leaves, &mut reasons);
            let diffs = diff(kind, &desired, &unknown, &live, &tags, applied.as_ref());
            (diffs, reasons, desired)
        };
        let team = |v: &str| -> crate::model::common::Tags { [("team".to_string(), v.to_string())].into() };

        // The file's image differs from AWS's: no change, and a line says so.
        let (diffs, reasons, desired) = run(file("mine:1", "w:1", 1), team("a"), BTreeSet::new());
        assert!(diffs.is_empty(), "{diffs:#?}");
        assert_eq!(
            reasons,
            [
                "ignored: `containers.web.image` is \"theirs:2\" in AWS, \"mine:1\" in the file; the file says `ignore_changes`",
                "ignored: `tags.CostCenter` is \"42\" in AWS, unset in the file; the file says `ignore_changes`",
            ]
        );
        assert_eq!(desired["containers"][0]["image"], "theirs:2", "what an update sends");

        // Elsewhere in the same field, and in the other tags: compared.
        let (diffs, _, _) = run(file("mine:1", "w:2", 2), team("b"), BTreeSet::new());
        let fields: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["containers", "tags"]);
        let after = diffs[0].after.as_ref().unwrap();
        assert_eq!(after[0]["image"], "theirs:2");
        assert_eq!((after[0]["cpu"].as_u64(), after[1]["image"].as_str()), (Some(2), Some("w:2")));
        assert_eq!(diffs[1].after, Some(json!({"CostCenter": "42", "team": "b"})));

        // An image not known before apply, ignored: nothing unknown is left.
        let unknown = BTreeSet::from(["containers".to_string()]);
        let (diffs, reasons, _) = run(file("${repo.uri}:v1", "w:1", 1), team("a"), unknown);
        assert!(diffs.is_empty(), "{diffs:#?}");
        assert!(
            reasons[0]
                .ends_with("is \"theirs:2\" in AWS, (known after apply) in the file; the file says `ignore_changes`"),
            "{reasons:?}"
        );
    }

    #[test]
    fn an_ignored_path_through_every_element_takes_each_one_aws_has() {
        let kind = Kind::parse("ecs/task_definition").expect("kind");
        let live = Live {
            id: "x".into(),
            fields: [(
                "containers".to_string(),
                json!([{"name": "web", "image": "theirs:2", "cpu": 1, "environment": {"A": "1", "B": "9"}},
                       {"name": "worker", "image": "theirs:3"}]),
            )]
            .into_iter()
            .collect(),
            attrs: Default::default(),
            tags: [("CostCenter", "42")].map(|(k, v)| (k.to_string(), v.to_string())).into(),
            uid: None,
        };
        let file: Fields = [(
            "containers".to_string(),
            json!([{"name": "web", "image": "mine:1", "cpu": 2, "environment": {"A": "1"}},
                   {"name": "worker", "image": "mine:1"}]),
        )]
        .into_iter()
        .collect();
        let why = "the file says `ignore_changes`".to_string();
        let ignored = [
            ("containers.*.image".to_string(), why.clone()),
            ("containers.web.environment.*".to_string(), why.clone()),
            ("tags.*".to_string(), why.clone()),
        ];
        let no_leaves = |_: &str, _: &Value| Vec::new();
        let (mut desired, mut tags, mut unknown, mut reasons) =
            (file, crate::model::common::Tags::default(), BTreeSet::new(), Vec::new());
        let (d, t, u) = (&mut desired, &mut tags, &mut unknown);
        take_ignored(kind, &ignored, d, t, u, None, &live, &no_leaves, &mut reasons);
        assert_eq!(
            reasons,
            [
                "ignored: `containers.web.image` is \"theirs:2\" in AWS, \"mine:1\" in the file; the file says `ignore_changes`",
                "ignored: `containers.worker.image` is \"theirs:3\" in AWS, \"mine:1\" in the file; the file says `ignore_changes`",
                "ignored: `tags.*` is {\"CostCenter\":\"42\"} in AWS, {} in the file; the file says `ignore_changes`",
            ]
        );
        // A key only AWS has is no difference (the file never set it), but
        // is kept. Only the cpu is left to change; an update sends AWS's images.
        let diffs = diff(kind, &desired, &unknown, &live, &tags, None);
        assert_eq!(diffs.len(), 1, "{diffs:#?}");
        let after = diffs[0].after.as_ref().unwrap();
        assert_eq!((after[0]["image"].as_str(), after[1]["image"].as_str()), (Some("theirs:2"), Some("theirs:3")));
        assert_eq!((after[0]["cpu"].as_u64(), &after[0]["environment"]), (Some(2), &json!({"A": "1", "B": "9"})));
    }

    #[test]
    fn objects_compare_only_what_the_file_sets() {
        assert!(matches(&json!({"path": "/"}), &json!({"path": "/", "interval": 30}), "health_check"));
        assert!(!matches(&json!({"path": "/x"}), &json!({"path": "/"}), "health_check"));
        assert!(matches(&json!({"enable": false}), &json!({}), "x"));
    }
}
