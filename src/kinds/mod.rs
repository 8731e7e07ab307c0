//! The resource kinds: one module per kind, and the one list of them.
//!
//! A kind is its spec type (what the file says about one resource) and the
//! facts the engine needs about it, given by implementing [`KindSpec`]: its
//! `service/kind` name, validation rules, exported attributes, naming rule,
//! which fields force a replacement, whether its id is unique, when it is
//! deleted among found resources, whether it has versions, deploys, holds
//! contents or sensitive values, what identifies it on read, what its
//! references may name, the dependencies no reference states, and its
//! checks against the resources it refers to. Each fact is named by what it
//! means and defaults to the common answer, so a kind states only how it
//! differs. The engine asks these facts through [`Kind::facts`] and
//! [`Spec::as_dyn`] and never names a kind: `tests/engine_knows_no_kind.rs`
//! fails, naming file and line, where an engine file does.
//!
//! [`for_each_kind!`] is the registry: one line per kind. From it come the
//! [`Kind`] and [`Spec`] enums, [`Kind::ALL`], the YAML, JSON and schema
//! dispatch, and (in `provider::aws`) the typed dispatch to each kind's
//! provider. Adding a kind: its spec module here, its provider module, one
//! registry line.

pub mod acm;
pub mod appautoscaling;
pub mod ec2;
pub mod ecr;
pub mod ecr_public;
pub mod ecs;
pub mod elbv2;
pub mod iam;
pub mod logs;
pub mod route53;
pub mod servicediscovery;

use crate::model::check::Checker;
use crate::model::common::Tags;
use crate::yaml::{DeContext, DeError, Node};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;

/// The registry: every kind, as `Variant => spec type, managed | lookup;`.
/// Calls the macro it is given with the list, so each place that needs
/// every kind (the enums here, the providers' dispatch) is generated from
/// this one list. The order is the order of [`Kind::ALL`] (and of `Kind`'s
/// `Ord`).
#[macro_export]
macro_rules! for_each_kind {
    ($m:ident) => {
        $m! {
            EcrRepository => $crate::kinds::ecr::Repository, managed;
            EcrExistingRepository => $crate::kinds::ecr::ExistingRepository, lookup;
            IamRole => $crate::kinds::iam::Role, managed;
            IamPolicy => $crate::kinds::iam::Policy, managed;
            IamExistingRole => $crate::kinds::iam::ExistingRole, lookup;
            Ec2SecurityGroup => $crate::kinds::ec2::SecurityGroup, managed;
            Ec2DefaultVpc => $crate::kinds::ec2::DefaultVpc, lookup;
            Ec2ExistingVpc => $crate::kinds::ec2::ExistingVpc, lookup;
            Elbv2LoadBalancer => $crate::kinds::elbv2::LoadBalancer, managed;
            Elbv2TargetGroup => $crate::kinds::elbv2::TargetGroup, managed;
            Elbv2Listener => $crate::kinds::elbv2::Listener, managed;
            Elbv2ListenerRule => $crate::kinds::elbv2::ListenerRule, managed;
            EcsCluster => $crate::kinds::ecs::Cluster, managed;
            EcsTaskDefinition => $crate::kinds::ecs::TaskDefinition, managed;
            EcsService => $crate::kinds::ecs::Service, managed;
            LogsLogGroup => $crate::kinds::logs::LogGroup, managed;
            EcrPublicRepository => $crate::kinds::ecr_public::PublicRepository, managed;
            Route53ExistingZone => $crate::kinds::route53::ExistingZone, lookup;
            Route53Record => $crate::kinds::route53::Record, managed;
            AcmExistingCertificate => $crate::kinds::acm::ExistingCertificate, lookup;
            AcmCertificate => $crate::kinds::acm::Certificate, managed;
            Ec2Vpc => $crate::kinds::ec2::Vpc, managed;
            Ec2Subnet => $crate::kinds::ec2::Subnet, managed;
            Ec2InternetGateway => $crate::kinds::ec2::InternetGateway, managed;
            Ec2RouteTable => $crate::kinds::ec2::RouteTable, managed;
            Ec2NatGateway => $crate::kinds::ec2::NatGateway, managed;
            AppautoscalingEcsServiceScaling => $crate::kinds::appautoscaling::EcsServiceScaling, managed;
            EcsExistingCluster => $crate::kinds::ecs::ExistingCluster, lookup;
            ServicediscoveryHttpNamespace => $crate::kinds::servicediscovery::HttpNamespace, managed;
        }
    };
}

/// The type of a resource attribute, as seen by references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttrType {
    String,
    Integer,
    List,
}

/// An attribute a kind exports to `${resource.attribute}` references.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub doc: &'static str,
}

impl Attr {
    pub const fn string(name: &'static str, doc: &'static str) -> Attr {
        Attr { name, ty: AttrType::String, doc }
    }
    pub const fn integer(name: &'static str, doc: &'static str) -> Attr {
        Attr { name, ty: AttrType::Integer, doc }
    }
    pub const fn list(name: &'static str, doc: &'static str) -> Attr {
        Attr { name, ty: AttrType::List, doc }
    }
}

/// How a kind's default physical name is made.
#[derive(Debug, Clone, Copy)]
pub struct Naming {
    pub max: usize,
    /// `/` for ECR's namespaced names, `-` otherwise.
    pub separator: char,
    pub lowercase: bool,
    /// Replace `_` with `-` (load balancer and target group names).
    pub no_underscore: bool,
}

impl Naming {
    /// `<stack>-<logical>`, up to 255 characters, as given.
    pub const NAMED: Naming = Naming { max: 255, separator: '-', lowercase: false, no_underscore: false };
}

/// What a kind is: its spec type and the facts the engine asks about it.
///
/// `KIND`, `ATTRIBUTES` and `DELETE_RANK` are required. Every other item
/// has the common answer as its default, so a kind states only how it
/// differs.
pub trait KindSpec:
    Sized + Clone + PartialEq + fmt::Debug + Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static
{
    /// `service/kind`, as the file's `kind:` says it.
    const KIND: &'static str;
    /// A read-only lookup: finds something that exists and never changes it.
    const LOOKUP: bool = false;
    /// Whether AWS gives every new resource of this kind an id never used
    /// before (a group id, an ARN with a random suffix, a task definition
    /// revision). For the other kinds the id is built from the name, so a
    /// namesake made after a delete has the same id, and only the tags or
    /// [`crate::provider::Live::uid`] tell the two apart.
    const ID_IS_UNIQUE: bool = false;
    /// What `${resource.attribute}` references may read.
    const ATTRIBUTES: &'static [Attr];
    /// Rules for the default physical name; `None` for kinds without a name
    /// of their own (listeners, lookups).
    const NAMING: Option<Naming> = None;
    /// The field that holds the physical name (`family` for a task definition).
    const NAME_FIELD: &'static str = "name";
    /// Fields AWS cannot change in place: changing one replaces the resource.
    const REPLACE_ON: &'static [&'static str] = &[];
    /// Resources found by their tags alone are deleted in rounds, lowest
    /// rank first: users before what they use.
    const DELETE_RANK: u8;
    /// Whether an update registers a new version under the same name, with
    /// an id of its own (a task definition's revision): what refers to it
    /// changes with it, the previous version is retired once its users moved
    /// on, every version carries the name (so the name is not unique and
    /// does not tell the file's version from the others), and a run cut short
    /// may leave versions registered that no record knows.
    const VERSIONED: bool = false;
    /// Whether AWS refuses to delete it while another resource uses it (a
    /// target group a listener forwards to, a load balancer with listeners):
    /// with a fixed name it cannot be replaced by deleting it first while it
    /// has users.
    const IN_USE_BLOCKS_DELETE: bool = false;
    /// Whether an update (or a wait) follows a deployment that may not
    /// settle (a service's): the record marks the deployment pending from
    /// before the call until it settled, and remembers one whose wait failed.
    const DEPLOYS: bool = false;
    /// Whether its create returns once AWS answered, before it is ready (a
    /// load balancer provisioning), because its users may be made while it
    /// comes up: they start at once, and apply waits for it to settle (and
    /// fails if it does not) beside them, before it finishes. Until it
    /// settled the record marks it unsettled, so a later apply waits again.
    const SETTLES_AFTER_USERS_START: bool = false;
    /// What it holds that its delete takes with it (a repository's images),
    /// if anything.
    const CONTENTS: Option<Contents> = None;
    /// The live field that holds the id of a version it runs (a service's
    /// `task_definition`): a version registered but never recorded is left
    /// alone while a resource of the stack runs it.
    const RUNS_VERSION: Option<&'static str> = None;
    /// The keys, anywhere in its fields, of lists whose order matters (a
    /// container's command, a policy's statements): compared item by item.
    /// Every other list is compared as a set.
    const ORDERED_LISTS: &'static [&'static str] = &[];
    /// Where its resources hold secrets in the stack file, so that
    /// diagnostics mask them even in a file that does not load.
    const SECRETS_IN_FILE: &'static [SecretPlace] = &[];
    /// Whether its provider reads its tags, so that they are compared and
    /// prove ownership. Without them (a kind whose tags AWS cannot list
    /// everywhere) only the record's id and unique id tell moor's object
    /// from another, and tags are never planned.
    const TAGGED: bool = true;

    /// The kind's rules, run on what loaded; errors go to `c`.
    fn validate(&self, _c: &mut Checker) {}

    /// The physical name the file sets, if any.
    fn given_name(&self) -> Option<&str> {
        None
    }

    /// The physical name moor gives when the file sets none.
    fn default_name(&self, stack: &str, logical: &str) -> Option<String> {
        Self::NAMING.map(|n| crate::model::default_name(stack, logical, n))
    }

    /// The resource's own tags (the stack's tags are added to them); `None`
    /// for kinds that carry no tags (lookups, and record sets, which AWS
    /// cannot tag: those get no tags, and only their state record says
    /// they are the stack's).
    fn tags(&self) -> Option<&Tags> {
        None
    }

    /// Whether destroying the stack, or removing the resource from the
    /// file, keeps the resource and only forgets it (`retain: true`).
    fn retain(&self) -> bool {
        false
    }

    /// Whether its delete takes its [`KindSpec::CONTENTS`] with it (the file
    /// asks for that), rather than fail while it holds any.
    fn deletes_contents(&self) -> bool {
        false
    }

    /// Whether apply waits for it to settle, and a plan reports it while it
    /// has not (a service's deployment, unless `wait: { stable: false }`).
    fn waits_until_settled(&self) -> bool {
        false
    }

    /// The values of field `field` (its value `value`, as the file or AWS
    /// has it) that may hold secrets (a container's environment entries),
    /// each saying whether it is sensitive. Plans show the sensitive ones
    /// as `(sensitive)` and name those that change, the record keeps their
    /// hashes, and a recorded hash compares equal to the file's value at a
    /// leaf of the same name. None for kinds that hold no secrets.
    fn secret_leaves(&self, _field: &str, _value: &serde_json::Value) -> Vec<crate::secret::Leaf> {
        Vec::new()
    }

    /// Removes from its desired fields what only moor reads and AWS never
    /// holds, so it is never compared (a container's `sensitive` list).
    fn strip_moor_only(&self, _fields: &mut crate::provider::Fields) {}

    /// The resources whose attributes identify this one when it is read (a
    /// group's VPC, a listener's load balancer, a service's cluster): its
    /// read waits for theirs. Kinds found by their own name or id have none.
    fn identified_by(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The resources this one attaches so that others can use them (a
    /// listener attaches the target group it forwards to, to its load
    /// balancer). What [`KindSpec::needs_attached`] waits for.
    fn attaches(&self) -> Vec<&str> {
        Vec::new()
    }

    /// The resources that must be attached (by another's
    /// [`KindSpec::attaches`]) before this one is made (a service's target
    /// groups: CreateService fails while one has no load balancer). It
    /// depends on what attaches them, though no reference says so.
    fn needs_attached(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Why this one waits for `attacher`, which attaches `attached`.
    fn needs_attached_why(&self, attacher: &str, attached: &str) -> String {
        format!("`{attacher}` attaches `{attached}`, which this one needs attached first")
    }

    /// The resources whatever uses this one also depends on (a role's
    /// managed policies: they exist before the role is used and are kept
    /// until its users are gone).
    fn users_need(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Why `user`, which uses `me`, depends on `needed`.
    fn users_need_why(&self, user: &str, me: &str, needed: &str) -> String {
        format!("`{user}` uses `{me}`, which needs `{needed}`")
    }

    /// What its reference fields may name: checked against the stack
    /// before any API call (a service's `cluster` names a cluster).
    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        Vec::new()
    }

    /// Its "late" references, as written (`${web_sg.id}`): values that AWS
    /// takes after the resource exists, by a call of their own (a security
    /// group's rule naming a group: the group is made first, its rules are
    /// authorised after). They order nothing, so they may name the resource
    /// itself or one that names it back; a resource made in the same run
    /// is made without them ([`KindSpec::strip_unresolved_late`]) and they
    /// are applied as an update once what they name exists.
    fn late_refs(&self) -> Vec<&str> {
        Vec::new()
    }

    /// Removes from its resolved fields the parts that hold a late
    /// reference that is not known yet (still `${…}`).
    fn strip_unresolved_late(&self, _fields: &mut serde_json::Map<String, serde_json::Value>) {}

    /// Rules between this resource (`r`) and those it refers to, which AWS
    /// would refuse only after a long apply (a service's port against its
    /// task definition, two listeners on one port).
    fn cross_check(&self, _r: &crate::model::Resource, _x: &mut crate::validate::Cross<'_>) {}

    /// What the file names by a literal id that [`KindSpec::live_check`]
    /// needs read (a role by its ARN, a security group by its id), each with
    /// the kind it is read as. They are read while the plan's own reads run.
    fn live_reads(&self) -> Vec<(Kind, &str)> {
        Vec::new()
    }

    /// Rules between this resource and what exists in AWS, checked with the
    /// plan before anything is written (an existing role's trust policy, the
    /// rules of a security group moor does not manage).
    fn live_check(&self, _r: &crate::model::Resource, _x: &mut crate::checks::LiveCross<'_>) {}

    /// Where its physical name must be unique besides its kind (a service's
    /// cluster); `""` for the whole region or account.
    fn name_scope(&self) -> &str {
        ""
    }

    /// The container images it names (a task definition's containers), each
    /// with where the file sets it and whether it is pinned to its digest.
    /// The plan resolves them in their registry ([`crate::images`]).
    fn images(&self) -> Vec<crate::images::ImageUse> {
        Vec::new()
    }

    /// The fields of other resources that this one keeps changing once
    /// they exist (a scaler sets its service's task count): each as the
    /// logical name of the resource and the field. That resource then
    /// ignores differences there after its create, as if its file said
    /// `ignore_changes`, so an apply never undoes what this one chose.
    fn sets_fields_of(&self) -> Vec<(&str, &'static str)> {
        Vec::new()
    }

    /// Its own fields that something it makes keeps changing once it
    /// exists (a scaling's schedules set its `min` and `max`), each with
    /// why: ignored after its create, as [`KindSpec::sets_fields_of`] is.
    fn sets_own_fields(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Whether it starts the images of what it uses (a service that wants
    /// tasks): an image missing from its registry is then a problem of the
    /// plan, since the tasks could never start. If it does, the setting that
    /// makes it start none, for the problem's help (`desired_count: 0`).
    fn runs_images(&self) -> Option<&'static str> {
        None
    }

    /// What it is billed for, by its own fields ([`crate::cost`] joins
    /// these across references and prices them); `None` for what bills
    /// nothing by itself.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        None
    }
}

/// A rule on one reference field of a resource (see
/// [`KindSpec::reference_rules`]).
#[derive(Debug, Clone)]
pub enum RefRule<'a> {
    /// The field at `path`, set to `value`, takes the ARN (or id) of a
    /// resource of one of `kinds`; `what` says so in words ("a cluster").
    Kind { path: Vec<String>, value: &'a str, kinds: &'static [Kind], what: &'static str },
    /// The list at `path` takes ids of one sort, each `${res.attr}`.
    Ids { path: Vec<String>, list: &'a crate::model::common::StrList, ids: Ids },
}

/// A sort of id a list field takes (security group ids, subnet ids).
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    /// In words: `security group`.
    pub want: &'static str,
    /// The kinds whose attribute gives such ids; any kind when empty.
    pub kinds: &'static [Kind],
    /// The attribute that gives them.
    pub attr: &'static str,
    /// Other kinds' attributes that give one such id each (a subnet's `id`).
    pub also: &'static [(Kind, &'static str)],
    /// How the field is filled, for the help line.
    pub example: &'static str,
}

/// A path of a rule, from its parts.
pub fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

/// The facts of [`KindSpec`] as values, for code that holds a [`Kind`].
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub kind: &'static str,
    pub lookup: bool,
    pub id_is_unique: bool,
    pub attributes: &'static [Attr],
    pub naming: Option<Naming>,
    pub name_field: &'static str,
    pub replace_on: &'static [&'static str],
    pub delete_rank: u8,
    pub versioned: bool,
    pub in_use_blocks_delete: bool,
    pub deploys: bool,
    pub settles_after_users_start: bool,
    pub contents: Option<Contents>,
    pub runs_version: Option<&'static str>,
    pub ordered_lists: &'static [&'static str],
    pub secrets_in_file: &'static [SecretPlace],
    pub tagged: bool,
}

/// A place in a resource's mapping of the stack file that holds secrets
/// (see [`KindSpec::SECRETS_IN_FILE`]). `at` is a path of keys from the
/// resource's mapping, where `*` is every item of a list.
#[derive(Debug, Clone, Copy)]
pub enum SecretPlace {
    /// A mapping of names to values (an environment): the value of each
    /// entry flagged by [`crate::secret::flagged`], or named in the list
    /// under the key `marked` beside the mapping, is a secret. Where a
    /// mapping belongs, a string (`NAME=value`) or a list of strings is
    /// masked whole.
    Entries { at: &'static [&'static str], marked: &'static str },
    /// A mapping whose values must be ARNs (or `${…}` references): any
    /// other value there is likely the secret itself.
    Arns { at: &'static [&'static str] },
}

/// What a resource holds that goes with its delete: `image`/`images` of a
/// repository, and the field that lets its delete empty it.
#[derive(Debug, Clone, Copy)]
pub struct Contents {
    pub one: &'static str,
    pub many: &'static str,
    /// The field of the file that empties it on delete.
    pub empty_field: &'static str,
}

impl Facts {
    pub const fn of<S: KindSpec>() -> Facts {
        Facts {
            kind: S::KIND,
            lookup: S::LOOKUP,
            id_is_unique: S::ID_IS_UNIQUE,
            attributes: S::ATTRIBUTES,
            naming: S::NAMING,
            name_field: S::NAME_FIELD,
            replace_on: S::REPLACE_ON,
            delete_rank: S::DELETE_RANK,
            versioned: S::VERSIONED,
            in_use_blocks_delete: S::IN_USE_BLOCKS_DELETE,
            deploys: S::DEPLOYS,
            settles_after_users_start: S::SETTLES_AFTER_USERS_START,
            contents: S::CONTENTS,
            runs_version: S::RUNS_VERSION,
            ordered_lists: S::ORDERED_LISTS,
            secrets_in_file: S::SECRETS_IN_FILE,
            tagged: S::TAGGED,
        }
    }
}

/// The methods of [`KindSpec`] that take a spec, callable on any kind's
/// spec through [`Spec::as_dyn`].
pub trait DynSpec {
    fn validate(&self, c: &mut Checker);
    fn given_name(&self) -> Option<&str>;
    fn default_name(&self, stack: &str, logical: &str) -> Option<String>;
    fn tags(&self) -> Option<&Tags>;
    fn retain(&self) -> bool;
    fn deletes_contents(&self) -> bool;
    fn waits_until_settled(&self) -> bool;
    fn secret_leaves(&self, field: &str, value: &serde_json::Value) -> Vec<crate::secret::Leaf>;
    fn strip_moor_only(&self, fields: &mut crate::provider::Fields);
    fn identified_by(&self) -> Vec<&str>;
    fn attaches(&self) -> Vec<&str>;
    fn needs_attached(&self) -> Vec<&str>;
    fn needs_attached_why(&self, attacher: &str, attached: &str) -> String;
    fn users_need(&self) -> Vec<&str>;
    fn users_need_why(&self, user: &str, me: &str, needed: &str) -> String;
    fn reference_rules(&self) -> Vec<RefRule<'_>>;
    fn late_refs(&self) -> Vec<&str>;
    fn strip_unresolved_late(&self, fields: &mut serde_json::Map<String, serde_json::Value>);
    fn cross_check(&self, r: &crate::model::Resource, x: &mut crate::validate::Cross<'_>);
    fn live_reads(&self) -> Vec<(Kind, &str)>;
    fn live_check(&self, r: &crate::model::Resource, x: &mut crate::checks::LiveCross<'_>);
    fn name_scope(&self) -> &str;
    fn images(&self) -> Vec<crate::images::ImageUse>;
    fn runs_images(&self) -> Option<&'static str>;
    fn sets_fields_of(&self) -> Vec<(&str, &'static str)>;
    fn sets_own_fields(&self) -> Vec<(&'static str, &'static str)>;
    fn billing(&self) -> Option<crate::cost::Billing<'_>>;
}

impl<S: KindSpec> DynSpec for S {
    fn validate(&self, c: &mut Checker) {
        KindSpec::validate(self, c)
    }
    fn given_name(&self) -> Option<&str> {
        KindSpec::given_name(self)
    }
    fn default_name(&self, stack: &str, logical: &str) -> Option<String> {
        KindSpec::default_name(self, stack, logical)
    }
    fn tags(&self) -> Option<&Tags> {
        KindSpec::tags(self)
    }
    fn retain(&self) -> bool {
        KindSpec::retain(self)
    }
    fn deletes_contents(&self) -> bool {
        KindSpec::deletes_contents(self)
    }
    fn waits_until_settled(&self) -> bool {
        KindSpec::waits_until_settled(self)
    }
    fn secret_leaves(&self, field: &str, value: &serde_json::Value) -> Vec<crate::secret::Leaf> {
        KindSpec::secret_leaves(self, field, value)
    }
    fn strip_moor_only(&self, fields: &mut crate::provider::Fields) {
        KindSpec::strip_moor_only(self, fields)
    }
    fn identified_by(&self) -> Vec<&str> {
        KindSpec::identified_by(self)
    }
    fn attaches(&self) -> Vec<&str> {
        KindSpec::attaches(self)
    }
    fn needs_attached(&self) -> Vec<&str> {
        KindSpec::needs_attached(self)
    }
    fn needs_attached_why(&self, attacher: &str, attached: &str) -> String {
        KindSpec::needs_attached_why(self, attacher, attached)
    }
    fn users_need(&self) -> Vec<&str> {
        KindSpec::users_need(self)
    }
    fn users_need_why(&self, user: &str, me: &str, needed: &str) -> String {
        KindSpec::users_need_why(self, user, me, needed)
    }
    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        KindSpec::reference_rules(self)
    }
    fn late_refs(&self) -> Vec<&str> {
        KindSpec::late_refs(self)
    }
    fn strip_unresolved_late(&self, fields: &mut serde_json::Map<String, serde_json::Value>) {
        KindSpec::strip_unresolved_late(self, fields)
    }
    fn cross_check(&self, r: &crate::model::Resource, x: &mut crate::validate::Cross<'_>) {
        KindSpec::cross_check(self, r, x)
    }
    fn live_reads(&self) -> Vec<(Kind, &str)> {
        KindSpec::live_reads(self)
    }
    fn live_check(&self, r: &crate::model::Resource, x: &mut crate::checks::LiveCross<'_>) {
        KindSpec::live_check(self, r, x)
    }
    fn name_scope(&self) -> &str {
        KindSpec::name_scope(self)
    }
    fn images(&self) -> Vec<crate::images::ImageUse> {
        KindSpec::images(self)
    }
    fn runs_images(&self) -> Option<&'static str> {
        KindSpec::runs_images(self)
    }
    fn sets_fields_of(&self) -> Vec<(&str, &'static str)> {
        KindSpec::sets_fields_of(self)
    }
    fn sets_own_fields(&self) -> Vec<(&'static str, &'static str)> {
        KindSpec::sets_own_fields(self)
    }
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        KindSpec::billing(self)
    }
}

macro_rules! lookup_flag {
    (managed) => {
        false
    };
    (lookup) => {
        true
    };
}

macro_rules! define_kinds {
    ($($variant:ident => $ty:ty, $role:ident;)*) => {
        /// A resource kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $($variant,)*
        }

        /// A resource's settings, by kind.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Spec {
            $($variant($ty),)*
        }

        // The registry's `managed`/`lookup` agrees with the kind's own word.
        $(const _: () = assert!(<$ty as KindSpec>::LOOKUP == lookup_flag!($role));)*

        impl Kind {
            /// Every kind, in the registry's order.
            pub const ALL: [Kind; [$(stringify!($variant)),*].len()] = [$(Kind::$variant,)*];

            /// The kind's facts.
            pub fn facts(self) -> &'static Facts {
                match self {
                    $(Kind::$variant => {
                        const F: Facts = Facts::of::<$ty>();
                        &F
                    })*
                }
            }

            /// Deserializes this kind's spec from a resource mapping
            /// (without its `kind` and `depends_on` keys).
            pub fn spec_from(self, node: &Node, cx: &DeContext) -> Result<Spec, DeError> {
                Ok(match self {
                    $(Kind::$variant => Spec::$variant(crate::yaml::from_node(node, cx)?),)*
                })
            }

            /// This kind's spec from JSON (serde's own, not the YAML loader).
            pub fn spec_from_json(self, v: serde_json::Value) -> Result<Spec, serde_json::Error> {
                Ok(match self {
                    $(Kind::$variant => Spec::$variant(serde_json::from_value(v)?),)*
                })
            }

            /// This kind's JSON Schema (an object schema without `kind`).
            pub fn schema(self, g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self {
                    $(Kind::$variant => <$ty as JsonSchema>::json_schema(g),)*
                }
            }
        }

        impl Spec {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Spec::$variant(_) => Kind::$variant,)*
                }
            }

            /// The spec as its kind's [`DynSpec`].
            pub fn as_dyn(&self) -> &dyn DynSpec {
                match self {
                    $(Spec::$variant(s) => s,)*
                }
            }
        }
    };
}

for_each_kind!(define_kinds);

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.facts().kind
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Read-only lookups find something that exists and never change it.
    pub fn is_lookup(self) -> bool {
        self.facts().lookup
    }

    /// See [`KindSpec::ID_IS_UNIQUE`].
    pub fn id_is_unique(self) -> bool {
        self.facts().id_is_unique
    }

    pub fn attributes(self) -> &'static [Attr] {
        self.facts().attributes
    }

    pub fn attribute(self, name: &str) -> Option<Attr> {
        self.attributes().iter().copied().find(|a| a.name == name)
    }

    /// Rules for the default physical name; `None` for kinds without a name
    /// of their own (listeners, lookups).
    pub fn naming(self) -> Option<Naming> {
        self.facts().naming
    }

    /// See [`KindSpec::REPLACE_ON`].
    pub fn replace_fields(self) -> &'static [&'static str] {
        self.facts().replace_on
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Kind::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown kind `{s}`")))
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Spec {
    pub fn validate(&self, c: &mut Checker) {
        self.as_dyn().validate(c)
    }

    /// The physical name the file sets, if any (`name`, or `family`).
    pub fn given_name(&self) -> Option<&str> {
        self.as_dyn().given_name()
    }

    /// The physical name moor gives when the file sets none.
    pub fn default_name(&self, stack: &str, logical: &str) -> Option<String> {
        self.as_dyn().default_name(stack, logical)
    }

    /// The resource's own tags (the stack's tags are added to them).
    pub fn tags(&self) -> Option<&Tags> {
        self.as_dyn().tags()
    }

    /// See [`KindSpec::retain`].
    pub fn retain(&self) -> bool {
        self.as_dyn().retain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_its_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn kind_names_are_unique() {
        let names: std::collections::BTreeSet<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }

    #[test]
    /// Found resources are deleted in rounds by rank (`discover::delete_rank`).
    fn users_rank_before_what_they_use() {
        use Kind::*;
        for (user, used) in [
            (EcsService, EcsCluster),
            (EcsService, Elbv2TargetGroup),
            (EcsService, Ec2SecurityGroup),
            (EcsService, IamRole),
            (EcsService, EcsTaskDefinition),
            (Elbv2Listener, Elbv2TargetGroup),
            (Elbv2Listener, Elbv2LoadBalancer),
            (Elbv2LoadBalancer, Ec2SecurityGroup),
            (EcsTaskDefinition, IamRole),
            (EcsService, LogsLogGroup),
            (EcsTaskDefinition, LogsLogGroup),
            (EcsTaskDefinition, EcrRepository),
            (EcsTaskDefinition, EcrPublicRepository),
            (IamRole, IamPolicy),
            (IamPolicy, EcrRepository),
            (Elbv2Listener, AcmCertificate),
            (Route53Record, Elbv2LoadBalancer),
            (Elbv2LoadBalancer, Ec2Subnet),
            (Ec2SecurityGroup, Ec2Vpc),
            (Ec2RouteTable, Ec2InternetGateway),
            (Ec2RouteTable, Ec2Subnet),
            (Ec2Subnet, Ec2InternetGateway),
            (Ec2Subnet, Ec2Vpc),
            (Ec2InternetGateway, Ec2Vpc),
            (Ec2RouteTable, Ec2NatGateway),
            (Ec2NatGateway, Ec2Subnet),
            (Ec2NatGateway, Ec2InternetGateway),
        ] {
            assert!(user.facts().delete_rank < used.facts().delete_rank, "{user} before {used}");
        }
    }
}
