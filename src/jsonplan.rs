//! The JSON plan: what `moor plan --json` prints on stdout.
//! docs/json-plan.md documents it for users (a test keeps the two in step).
//!
//! These types are the format, kept apart from the planner's own
//! [`crate::plan::Plan`] so that the planner can change without changing
//! what scripts read. The format is stable: a field may be added, but a
//! field is never renamed, removed or given another meaning without
//! raising [`FORMAT_VERSION`].
//!
//! ```json
//! {
//!   "format_version": 1,
//!   "stack": "flask-demo",
//!   "region": "us-east-1",            // null: the default region
//!   "destroy": false,                 // a plan of `plan --destroy`
//!   "has_changes": true,              // what `--detailed-exitcode` reports
//!   "summary": { "add": 9, "change": 0, "replace": 0, "destroy": 0 },
//!   "changes": [
//!     {
//!       "resource": "lb",             // logical name in the file
//!       "kind": "elbv2/load_balancer",
//!       "action": "create",           // no_op, read, create, update, replace, delete, wait
//!       "replace": "create_before_delete",  // replaces only; or delete_before_create
//!       "name": "flask-demo-lb",      // physical name after the change
//!       "id": "arn:aws:…",            // physical id of what exists now
//!       "diffs": [
//!         { "field": "port", "before": 80, "after": 8080,
//!           "after_unknown": false, "forces_replacement": true,
//!           "sensitive_changed": ["containers.web.environment.DB_PASSWORD"] },
//!         { "field": "containers", "before": […], "after_unknown": true,
//!           "forces_replacement": false,
//!           "after_partial": [{ "name": "web", "image": null, … }],
//!           "unknown_leaves": [["0", "image"]] }
//!       ],
//!       "reasons": ["forces replacement: port"],
//!       "force_delete": true,         // deletes: contents go too
//!       "deposed": true,              // a replaced object left from an earlier run
//!       "status": { … },              // waits: where the service stands
//!       "redeploy": true              // waits: deploy again (rolled back)
//!     }
//!   ],
//!   "forget": ["old"],                // record entries whose resources are gone
//!   "problems": [ { "resource": "repo", "message": "…", "help": "…" } ],
//!   "notices": [ { "resource": "…", "message": "…", "help": "…" } ],
//!   "images": [ { "resource": "task", "image": "….dkr.ecr.…/app:latest", "digest": "sha256:…" } ]
//! }
//! ```
//!
//! Optional members of a change (`replace`, `name`, `id`, `diffs`,
//! `reasons`, `force_delete`, `deposed`, `status`, `redeploy`) and of a
//! diff (`before`, `after`, `sensitive_changed`, `after_partial`,
//! `unknown_leaves`) are left out when empty or false. Sensitive values appear only as `(sensitive)`, exactly as in
//! the text plan; `sensitive_changed` names the entries that change.

use crate::plan;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Raised when the format stops being compatible with what it was.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonPlan {
    pub format_version: u32,
    pub stack: String,
    /// `null` when neither the file, `--region` nor the environment names one.
    pub region: Option<String>,
    /// The account of the credentials (STS), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The custom endpoint every call goes to (`AWS_ENDPOINT_URL`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The calls go to a local emulator (an endpoint on loopback, or moto's
    /// account): only written when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub emulator: bool,
    /// The plan of `moor plan --destroy`.
    pub destroy: bool,
    /// Whether apply would do anything: what `--detailed-exitcode` reports.
    pub has_changes: bool,
    pub summary: Summary,
    /// One entry per resource of the file, per resource removed from it,
    /// and per object left over from an earlier replacement.
    pub changes: Vec<Change>,
    /// Entries of the state record whose resources are already gone, or are
    /// no longer the object moor made; apply drops them from the record.
    pub forget: Vec<String>,
    /// What stops the plan from being applied (exit code 1).
    pub problems: Vec<Problem>,
    /// What the user should know but does not stop the plan.
    pub notices: Vec<Problem>,
    /// The images apply registers by digest: the digest each tag points at
    /// as planned (left out when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// A plan of some resources only (`--target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

/// An image registered by the digest its tag pointed at when planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The resource that names it.
    pub resource: String,
    /// As the file names it, by tag.
    pub image: String,
    /// The full digest (`sha256:…`).
    pub digest: String,
}

/// What a partial plan (`--target`) covers and leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// The resources named with `--target`.
    pub targets: Vec<String>,
    /// The resources of the file or the record the plan does not cover.
    pub left_out: Vec<String>,
}

/// How many changes of each sort the plan has.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub replace: usize,
    pub destroy: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Live AWS matches the file.
    NoOp,
    /// A lookup: read, never changed.
    Read,
    Create,
    /// Changed in place.
    Update,
    /// Deleted and created again (see [`Change::replace`] for the order).
    Replace,
    Delete,
    /// Nothing to change, but not settled yet (a service's deployment):
    /// apply waits for it.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceOrder {
    CreateBeforeDelete,
    DeleteBeforeCreate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The logical name in the file (or in the state record, for what was
    /// removed from the file).
    pub resource: String,
    /// The kind, as the file writes it: `ecr/repository`.
    pub kind: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<ReplaceOrder>,
    /// Physical name after the change (or of what is deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Physical id of what exists now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The fields that change, in the file's terms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<FieldDiff>,
    /// Why: "forces replacement: port", "removed from the file", …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Deletes: the contents go too (an ECR repository's images).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_delete: bool,
    /// A replaced object left over from an earlier run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deposed: bool,
    /// Waits: where the service stands (`running`, `desired`, `pending`,
    /// `failed_tasks`, `rollout`, `rollout_reason`, `events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Waits: the last deployment was rolled back, so apply deploys again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redeploy: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// The field's name in the file: `port`, `containers`.
    pub field: String,
    /// The live value (absent: nothing exists yet, or the field is unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value apply sets (absent: unset, or unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// The new value depends on a resource that is not created yet.
    pub after_unknown: bool,
    /// AWS cannot change this field in place.
    pub forces_replacement: bool,
    /// Sensitive entries whose value changes; `before` and `after` show
    /// them only as `(sensitive)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive_changed: Vec<String>,
    /// When `after_unknown`: the new value with each leaf that is known
    /// only after apply as `null` (absent: the whole value is unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_partial: Option<Value>,
    /// When `after_unknown`: where those leaves are in the value, each a
    /// list of object keys and list indexes (`["0", "image"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_leaves: Vec<Vec<String>>,
}

/// A problem (stops the plan) or a notice (does not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub resource: String,
    pub message: String,
    /// What to do about it.
    pub help: String,
}

impl From<&plan::Plan> for JsonPlan {
    fn from(p: &plan::Plan) -> Self {
        let c = p.counts();
        JsonPlan {
            format_version: FORMAT_VERSION,
            stack: p.stack.clone(),
            region: p.region.clone(),
            account: p.target.as_ref().and_then(|t| t.account.clone()),
            endpoint: p.target.as_ref().and_then(|t| t.endpoint.clone()),
            emulator: p.target.as_ref().is_some_and(|t| t.emulator),
            destroy: p.destroy,
            has_changes: p.has_changes(),
            summary: Summary { add: c.add, change: c.change, replace: c.replace, destroy: c.destroy },
            changes: p.changes.iter().map(Change::from).collect(),
            forget: p.forget.clone(),
            problems: p.problems.iter().map(Problem::from).collect(),
            notices: p.notices.iter().map(Problem::from).collect(),
            images: p
                .pins
                .iter()
                .map(|i| Image { resource: i.resource.clone(), image: i.image.clone(), digest: i.digest.clone() })
                .collect(),
            partial: p.partial.as_ref().map(|x| Partial { targets: x.targets.clone(), left_out: x.left_out.clone() }),
        }
    }
}

impl From<&plan::Change> for Change {
    fn from(c: &plan::Change) -> Self {
        Change {
            resource: c.resource.clone(),
            kind: c.kind.as_str().to_string(),
            action: c.action.into(),
            replace: c.replace.map(Into::into),
            name: c.name.clone(),
            id: c.id.clone(),
            diffs: c.diffs.iter().map(FieldDiff::from).collect(),
            reasons: c.reasons.clone(),
            force_delete: c.force_delete,
            deposed: c.deposed,
            status: c.status.clone(),
            redeploy: c.redeploy,
        }
    }
}

impl From<plan::Action> for Action {
    fn from(a: plan::Action) -> Self {
        match a {
            plan::Action::NoOp => Action::NoOp,
            plan::Action::Read => Action::Read,
            plan::Action::Create => Action::Create,
            plan::Action::Update => Action::Update,
            plan::Action::Replace => Action::Replace,
            plan::Action::Delete => Action::Delete,
            plan::Action::Wait => Action::Wait,
        }
    }
}

impl From<plan::ReplaceOrder> for ReplaceOrder {
    fn from(r: plan::ReplaceOrder) -> Self {
        match r {
            plan::ReplaceOrder::CreateBeforeDelete => ReplaceOrder::CreateBeforeDelete,
            plan::ReplaceOrder::DeleteBeforeCreate => ReplaceOrder::DeleteBeforeCreate,
        }
    }
}

impl From<&plan::FieldDiff> for FieldDiff {
    fn from(d: &plan::FieldDiff) -> Self {
        // Part of the new value is known: that part, the rest null.
        let partial = d.after.clone().filter(|_| d.after_unknown && !d.unknown_leaves.iter().any(Vec::is_empty));
        let partial = partial.map(|mut v| {
            for at in &d.unknown_leaves {
                if let Some(leaf) = at.iter().try_fold(&mut v, |v, step| match v {
                    Value::Object(m) => m.get_mut(step),
                    Value::Array(items) => items.get_mut(step.parse::<usize>().ok()?),
                    _ => None,
                }) {
                    *leaf = Value::Null;
                }
            }
            v
        });
        FieldDiff {
            field: d.field.clone(),
            before: d.before.clone(),
            // Unknown: absent, as it always was; the known part is `after_partial`.
            after: if d.after_unknown { None } else { d.after.clone() },
            after_unknown: d.after_unknown,
            forces_replacement: d.forces_replacement,
            sensitive_changed: d.sensitive_changed.clone(),
            unknown_leaves: if partial.is_some() { d.unknown_leaves.clone() } else { Vec::new() },
            after_partial: partial,
        }
    }
}

impl From<&plan::Problem> for Problem {
    fn from(p: &plan::Problem) -> Self {
        Problem { resource: p.resource.clone(), message: p.message.clone(), help: p.help.clone() }
    }
}
