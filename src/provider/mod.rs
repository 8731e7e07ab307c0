//! Providers: the only code that talks to AWS.
//!
//! The engine knows nothing of kinds' APIs; it asks a [`Provider`] to read,
//! create, update and delete one resource at a time, and diffs what comes
//! back. The contract that makes a generic diff possible:
//!
//! - A resource's *desired fields* are its spec serialized (serde names,
//!   unset options left out), plus `name` (or `family`) when the kind has a
//!   physical name. See [`desired_fields`].
//! - [`Live::fields`] reports the same fields in the same shape, read from
//!   AWS and normalized: AWS's defaults and formats are turned back into what
//!   a file would say (policy documents in moor's form, sets in any order,
//!   durations in the file's units). A field the provider cannot read is left
//!   out, and is then never reported as changed.
//! - [`Live::attrs`] are the kind's exported attributes ([`Kind::attributes`]).
//! - Every resource moor creates carries the tags in [`Target::tags`],
//!   including `moor:stack` and `moor:resource`; they are how ownership is
//!   recognised and how a lost state record is rebuilt.
//!
//! Providers wait as part of their calls (a load balancer until active, a
//! service until its deployment completes, a service until INACTIVE before
//! returning from delete), retry throttling and IAM's eventual consistency
//! with bounded backoff, and say in every error which call failed and what
//! AWS answered.

pub mod aws;

use crate::model::common::Tags;
use crate::model::{Kind, Spec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub type Fields = serde_json::Map<String, Value>;
pub type Attrs = BTreeMap<String, Value>;

/// Tag keys moor puts on what it creates.
pub const TAG_STACK: &str = "moor:stack";
pub const TAG_RESOURCE: &str = "moor:resource";
/// Tag on a resource whose file says `retain: true` (value `true`): a
/// destroy, or its removal from the file, forgets it instead of deleting it,
/// even when only the record or the tags know it.
pub const TAG_RETAIN: &str = "moor:retain";

/// The live field of a service that says where its deployment stands
/// (`settled`, `failed`, running and desired counts, rollout state, recent
/// events). No file sets it, so it is never compared; the plan reads it to
/// find services that are not at their desired state.
pub const DEPLOYMENT_STATE: &str = "moor:deployment";

/// The live field of a resource AWS no longer lets be used as it is (a
/// certificate that expired, was revoked or failed): its value says why.
/// No file sets it; the plan replaces such a resource.
pub const UNUSABLE: &str = "moor:unusable";

/// The error code of a wait whose deployment was rolled back.
pub const ROLLED_BACK: &str = "DeploymentRolledBack";

/// What one provider call is about.
#[derive(Debug, Clone)]
pub struct Target {
    pub stack: String,
    pub logical: String,
    pub kind: Kind,
    /// Physical name, given or derived; `None` for kinds without one.
    pub name: Option<String>,
    /// Physical id recorded by an earlier apply (ARN, group id, …).
    pub id: Option<String>,
    /// The settings. For `create` and `update` every reference is resolved;
    /// for `read` references to resources not yet created may remain.
    pub spec: Spec,
    /// Every tag the resource must carry.
    pub tags: Tags,
    /// The attributes recorded by an earlier apply: hints that save a read
    /// (a policy's default version is got with the policy, not after it).
    /// Never trusted: what AWS answers decides.
    pub recorded: Attrs,
}

/// A resource as it is in AWS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Live {
    /// The id later calls use: an ARN for most kinds, the group id for a
    /// security group, the VPC id for a VPC lookup.
    pub id: String,
    pub fields: Fields,
    pub attrs: Attrs,
    pub tags: Tags,
    /// An id AWS never gives twice, for kinds whose `id` is built from the
    /// name (a role's RoleId, a policy's PolicyId, a repository's or a
    /// service's creation time): it tells the resource moor made from a
    /// namesake someone made after deleting it. `None` where the id itself
    /// is unique ([`Kind::id_is_unique`]) or AWS gives nothing better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl Live {
    /// Whether the resource carries this stack's ownership tags.
    pub fn owned_by(&self, stack: &str, logical: &str) -> bool {
        self.tags.get(TAG_STACK).map(String::as_str) == Some(stack)
            && self.tags.get(TAG_RESOURCE).map(String::as_str) == Some(logical)
    }

    /// Whose the resource is, for logical resource `logical` of `stack`
    /// whose record (if any) says it was `recorded`.
    ///
    /// The tags decide when there are any: this stack's tags for this
    /// logical name make it ours, moor tags of anything else make it
    /// another's, whatever the record says. A resource without moor's tags
    /// is ours only when the record names this very object: the same id,
    /// and, for kinds whose id is built from the name, the same unique id
    /// ([`Live::uid`]); a namesake re-created by someone else after a
    /// delete matches the record's id but not its unique id. Without a unique
    /// id on both sides it is [`Owner::Unproven`].
    pub fn owner(&self, stack: &str, logical: &str, kind: Kind, recorded: Option<(&str, Option<&str>)>) -> Owner {
        if self.owned_by(stack, logical) {
            return Owner::Us;
        }
        if let Some(other) = self.tags.get(TAG_STACK) {
            return Owner::Other(match self.tags.get(TAG_RESOURCE) {
                Some(res) => format!("resource `{res}` of stack `{other}`"),
                None => format!("stack `{other}`"),
            });
        }
        match recorded {
            Some((id, _)) if id == self.id && kind.id_is_unique() => Owner::Us,
            Some((id, Some(uid))) if id == self.id && self.uid.is_some() => {
                if self.uid.as_deref() == Some(uid) {
                    Owner::Us
                } else {
                    Owner::Other("nothing moor manages (the record names this id, but not this object)".into())
                }
            }
            // The record's id, and nothing to tell the object moor made from
            // a namesake: a record from before unique ids were kept, or a
            // kind AWS gives none (a cluster).
            Some((id, _)) if id == self.id => Owner::Unproven,
            _ => Owner::Other("nothing moor manages".into()),
        }
    }
}

/// The answer of [`Live::owner`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Us,
    /// Someone else, described for a message: "resource `x` of stack `y`",
    /// "nothing moor manages".
    Other(String),
    /// The object the record names by id, without moor's tags and with
    /// nothing that proves it is the one moor made: left alone, and kept in
    /// the record, until `moor import` tags it again.
    Unproven,
}

impl Owner {
    pub fn is_us(&self) -> bool {
        matches!(self, Owner::Us)
    }
}

/// A resource found by its tags alone (see [`Provider::discover`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub kind: Kind,
    /// The logical name, from its `moor:resource` tag.
    pub logical: String,
    /// The id a deletion uses (an ARN, a group id).
    pub id: String,
    /// Physical name, when the kind has one.
    pub name: Option<String>,
    pub tags: Tags,
}

impl Found {
    /// Whether it carries this stack's tag and a logical name: only such
    /// resources are ever deleted for being found.
    pub fn of_stack(&self, stack: &str) -> bool {
        self.tags.get(TAG_STACK).map(String::as_str) == Some(stack)
            && self.tags.get(TAG_RESOURCE).is_some_and(|l| !l.is_empty() && *l == self.logical)
    }
}

/// What to delete. Deletion works from what was recorded, so a resource
/// removed from the file (or a whole stack whose file is gone) can go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deletion {
    pub logical: String,
    pub kind: Kind,
    pub id: String,
    pub name: Option<String>,
    pub attrs: Attrs,
    /// Delete contents too (an ECR repository's images).
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The resource does not exist (deletes treat it as done).
    NotFound,
    /// Throttled or a passing fault; the provider has retried already.
    Transient,
    /// Something still uses the resource (DependencyViolation, ResourceInUse).
    InUse,
    /// A create met an object of the same name (made by an earlier attempt
    /// whose answer was lost, or by someone else).
    AlreadyExists,
    /// A wait ran out of time, or a deployment failed or rolled back.
    Wait,
    /// Anything else AWS refused.
    Rejected,
    /// No credentials, no region, no network.
    Setup,
}

/// A failed provider call: which resource, which call, what AWS answered.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// The AWS operation, like `ecs:CreateService`.
    pub operation: String,
    /// AWS's error code, like `ClusterNotFoundException`.
    pub code: Option<String>,
    pub message: String,
    /// The resource as it was made or changed before the error, when a wait
    /// for it was interrupted: it exists, so it is recorded, as not settled.
    #[serde(skip)]
    pub made: Option<Box<Live>>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, operation: impl Into<String>, message: impl Into<String>) -> Self {
        ProviderError { kind, operation: operation.into(), code: None, message: message.into(), made: None }
    }

    /// The error of a wait that ended because the run was interrupted.
    pub fn is_interrupted(&self) -> bool {
        self.kind == ErrorKind::Wait && self.message.starts_with("interrupted while waiting")
    }

    /// This error, for a resource that exists as `made` all the same.
    pub fn with_made(mut self, made: Live) -> Self {
        self.made = Some(Box::new(made));
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for ProviderError {}

/// Settings that shape how a provider works, not what it creates.
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// Longest wait for one resource to settle (`--wait-timeout`).
    pub wait_timeout: Duration,
    /// First poll interval of waits; later polls back off to 15 s.
    pub poll: Duration,
    /// Most requests in flight at once, over all services: a plan of a
    /// thousand resources reads in bursts this wide rather than all at once,
    /// which AWS's rate limits and the connection setup would punish.
    pub max_requests: usize,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions { wait_timeout: Duration::from_secs(600), poll: Duration::from_millis(250), max_requests: 64 }
    }
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// Reads one resource by `id` when given, else by name (or, for kinds
    /// without a name, by what identifies them: a listener by load balancer
    /// and port). `Ok(None)` when it does not exist.
    async fn read(&self, t: &Target) -> Result<Option<Live>, ProviderError>;

    /// Reads many resources. Providers batch where the API allows (many
    /// names per Describe call); the default reads concurrently.
    async fn read_many(&self, ts: &[Target]) -> Vec<Result<Option<Live>, ProviderError>> {
        let mut out = Vec::with_capacity(ts.len());
        for chunk in ts.chunks(16) {
            let reads: Vec<_> = chunk.iter().map(|t| self.read(t)).collect();
            out.extend(futures::future::join_all(reads).await);
        }
        out
    }

    /// Reads a recorded resource by its id (for one no longer in the file,
    /// or a replaced one). `Ok(None)` when it is gone.
    async fn read_recorded(&self, d: &Deletion) -> Result<Option<Live>, ProviderError>;

    /// Creates the resource with its tags, waits until it is usable, and
    /// returns it as read back. A kind that settles after its users start
    /// (`SETTLES_AFTER_USERS_START`) returns once AWS answered; apply then
    /// calls [`Provider::settle`] beside its users.
    async fn create(&self, t: &Target) -> Result<Live, ProviderError>;

    /// Changes the named fields in place (for a task definition: registers a
    /// new revision), waits, and returns the resource as read back.
    async fn update(&self, t: &Target, live: &Live, changed: &[String]) -> Result<Live, ProviderError>;

    /// Deletes the resource and waits until it is gone. A resource that is
    /// already gone is not an error.
    async fn delete(&self, d: &Deletion) -> Result<(), ProviderError>;

    /// Waits until a resource that exists is at the state the file asks for
    /// (a service whose deployment has not settled, a load balancer still
    /// provisioning, one whose wait an earlier run was interrupted in),
    /// failing the way its create or update would; with `redeploy`, first
    /// starts the deployment again (one that was rolled back). Kinds without
    /// such a state are settled as they are.
    async fn settle(&self, _t: &Target, live: &Live, _redeploy: bool) -> Result<Live, ProviderError> {
        Ok(live.clone())
    }

    /// Versions of a resource that carry this stack's and this logical
    /// name's `moor:*` tags but that no record knows: a task definition
    /// revision registered by a run that was killed or cancelled before it
    /// recorded it, or registered twice when the SDK retried a call whose
    /// answer was lost. `d` names the resource (a task definition's family
    /// is its `name`); the ids in `known` are accounted for and not read.
    /// Kinds without versions have none.
    async fn unrecorded(&self, _d: &Deletion, _stack: &str, _known: &[String]) -> Result<Vec<Live>, ProviderError> {
        Ok(Vec::new())
    }

    /// What the registries this provider reads (ECR of its region) say of
    /// `images`: the digest each tag points at now, or that it is missing.
    /// Images of other registries are left out, and are used as written.
    async fn image_digests(&self, _images: &[String]) -> Result<crate::images::Images, ProviderError> {
        Ok(crate::images::Images::new())
    }

    /// What each ECR repository of `arns` holds, for the cost estimate: its
    /// images' sizes as ECR reports them, summed, and how many there are,
    /// or the error of the listing. Repositories this provider does not
    /// read are left out (their contents are then assumed).
    async fn repository_storage(
        &self,
        _arns: &[String],
    ) -> std::collections::BTreeMap<String, Result<crate::cost::Stored, ProviderError>> {
        std::collections::BTreeMap::new()
    }

    /// Puts this stack's ownership tags on an existing resource (`moor import`).
    async fn adopt(&self, t: &Target, live: &Live) -> Result<Live, ProviderError>;

    /// Every resource in the region (and IAM) that carries `moor:stack =
    /// stack` and a `moor:resource` tag, whatever the state record says: how
    /// a lost or stale record is kept from hiding what the stack owns.
    /// `known` are ids and physical names the caller knows already (the
    /// record's, the file's); a provider may skip reads it would only make
    /// to learn about those.
    async fn discover(&self, stack: &str, known: &[String]) -> Result<Vec<Found>, ProviderError>;
}

/// The fields a resource should have: its resolved spec as the file says
/// it, with the physical name, without tags (compared on their own).
pub fn desired_fields(spec: &Spec, name: Option<&str>) -> Fields {
    // Cannot fail: specs are plain structs with string-keyed maps.
    let mut v = serde_json::to_value(spec).expect("specs serialize");
    let mut fields = match v.take() {
        Value::Object(m) => m,
        _ => Fields::new(),
    };
    fields.remove("tags");
    spec.as_dyn().strip_moor_only(&mut fields);
    if let Some(n) = name {
        let facts = spec.kind().facts();
        if facts.naming.is_some() {
            fields.insert(facts.name_field.into(), Value::String(n.to_string()));
        }
    }
    fields
}

/// The tags a resource of this stack must carry.
pub fn stack_tags(stack_tags: &Tags, own: Option<&Tags>, stack: &str, logical: &str) -> Tags {
    let mut t = stack_tags.clone();
    if let Some(own) = own {
        t.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    t.insert(TAG_STACK.into(), stack.into());
    t.insert(TAG_RESOURCE.into(), logical.into());
    t
}
