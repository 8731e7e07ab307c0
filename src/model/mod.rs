//! The typed stack: what a stack file means once it is loaded and checked.
//!
//! Each resource kind is a plain struct in its service's module. This module
//! is the registry: the [`Kind`] enum lists them, and every `match` on it is
//! exhaustive (no `_ =>`), so adding a kind makes the compiler name each
//! place that must learn about it.

pub mod check;
pub mod common;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
pub mod iam;

use crate::diag::SourceFile;
use crate::yaml::{DeContext, DeError, Node, Span};
use check::Checker;
use common::Tags;
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    EcrRepository,
    EcrExistingRepository,
    IamRole,
    IamPolicy,
    IamExistingRole,
    Ec2SecurityGroup,
    Ec2DefaultVpc,
    Ec2ExistingVpc,
    Elbv2LoadBalancer,
    Elbv2TargetGroup,
    Elbv2Listener,
    EcsCluster,
    EcsTaskDefinition,
    EcsService,
}

/// The type of a resource attribute, as seen by references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AttrType {
    String,
    Integer,
    List,
}

#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub doc: &'static str,
}

const fn s(name: &'static str, doc: &'static str) -> Attr {
    Attr { name, ty: AttrType::String, doc }
}
const fn i(name: &'static str, doc: &'static str) -> Attr {
    Attr { name, ty: AttrType::Integer, doc }
}
const fn l(name: &'static str, doc: &'static str) -> Attr {
    Attr { name, ty: AttrType::List, doc }
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

const NAMED: Naming = Naming { max: 255, separator: '-', lowercase: false, no_underscore: false };

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::EcrRepository,
        Kind::EcrExistingRepository,
        Kind::IamRole,
        Kind::IamPolicy,
        Kind::IamExistingRole,
        Kind::Ec2SecurityGroup,
        Kind::Ec2DefaultVpc,
        Kind::Ec2ExistingVpc,
        Kind::Elbv2LoadBalancer,
        Kind::Elbv2TargetGroup,
        Kind::Elbv2Listener,
        Kind::EcsCluster,
        Kind::EcsTaskDefinition,
        Kind::EcsService,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EcrRepository => "ecr/repository",
            Kind::EcrExistingRepository => "ecr/existing_repository",
            Kind::IamRole => "iam/role",
            Kind::IamPolicy => "iam/policy",
            Kind::IamExistingRole => "iam/existing_role",
            Kind::Ec2SecurityGroup => "ec2/security_group",
            Kind::Ec2DefaultVpc => "ec2/default_vpc",
            Kind::Ec2ExistingVpc => "ec2/existing_vpc",
            Kind::Elbv2LoadBalancer => "elbv2/load_balancer",
            Kind::Elbv2TargetGroup => "elbv2/target_group",
            Kind::Elbv2Listener => "elbv2/listener",
            Kind::EcsCluster => "ecs/cluster",
            Kind::EcsTaskDefinition => "ecs/task_definition",
            Kind::EcsService => "ecs/service",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Read-only lookups find something that exists and never change it.
    pub fn is_lookup(self) -> bool {
        match self {
            Kind::EcrExistingRepository | Kind::IamExistingRole | Kind::Ec2DefaultVpc | Kind::Ec2ExistingVpc => true,
            Kind::EcrRepository
            | Kind::IamRole
            | Kind::IamPolicy
            | Kind::Ec2SecurityGroup
            | Kind::Elbv2LoadBalancer
            | Kind::Elbv2TargetGroup
            | Kind::Elbv2Listener
            | Kind::EcsCluster
            | Kind::EcsTaskDefinition
            | Kind::EcsService => false,
        }
    }

    /// Whether AWS gives every new resource of this kind an id never used
    /// before (a group id, an ARN with a random suffix, a task definition
    /// revision). For the other kinds the id is built from the name, so a
    /// namesake made after a delete has the same id, and only the tags or
    /// [`crate::provider::Live::uid`] tell the two apart.
    pub fn id_is_unique(self) -> bool {
        match self {
            Kind::Ec2SecurityGroup
            | Kind::Ec2DefaultVpc
            | Kind::Ec2ExistingVpc
            | Kind::Elbv2LoadBalancer
            | Kind::Elbv2TargetGroup
            | Kind::Elbv2Listener
            | Kind::EcsTaskDefinition => true,
            Kind::EcrRepository
            | Kind::EcrExistingRepository
            | Kind::IamRole
            | Kind::IamPolicy
            | Kind::IamExistingRole
            | Kind::EcsCluster
            | Kind::EcsService => false,
        }
    }

    pub fn attributes(self) -> &'static [Attr] {
        match self {
            Kind::EcrRepository | Kind::EcrExistingRepository => {
                const A: &[Attr] = &[
                    s("name", "repository name"),
                    s("arn", "repository ARN"),
                    s("uri", "registry URI to push and pull, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`"),
                    s("registry_id", "AWS account id of the registry"),
                ];
                A
            }
            Kind::IamRole | Kind::IamExistingRole => {
                const A: &[Attr] = &[s("name", "role name"), s("arn", "role ARN"), s("id", "unique role id")];
                A
            }
            Kind::IamPolicy => {
                const A: &[Attr] = &[
                    s("name", "policy name"),
                    s("arn", "policy ARN"),
                    s("default_version", "id of the policy's default version, like `v1`"),
                ];
                A
            }
            Kind::Ec2SecurityGroup => {
                const A: &[Attr] = &[
                    s("id", "group id, `sg-…`"),
                    s("name", "group name"),
                    s("arn", "group ARN"),
                    s("vpc_id", "VPC of the group"),
                ];
                A
            }
            Kind::Ec2DefaultVpc | Kind::Ec2ExistingVpc => {
                const A: &[Attr] = &[
                    s("vpc_id", "VPC id"),
                    s("cidr_block", "primary IPv4 CIDR block"),
                    l("subnet_ids", "subnet ids (the default subnets for the default VPC)"),
                ];
                A
            }
            Kind::Elbv2LoadBalancer => {
                const A: &[Attr] = &[
                    s("arn", "load balancer ARN"),
                    s("name", "load balancer name"),
                    s("dns_name", "public DNS name"),
                    s("zone_id", "Route 53 hosted zone id of the load balancer"),
                    s("arn_suffix", "ARN suffix for CloudWatch metrics"),
                ];
                A
            }
            Kind::Elbv2TargetGroup => {
                const A: &[Attr] = &[
                    s("arn", "target group ARN"),
                    s("name", "target group name"),
                    s("arn_suffix", "ARN suffix for CloudWatch metrics"),
                    i("port", "target port"),
                ];
                A
            }
            Kind::Elbv2Listener => {
                const A: &[Attr] = &[s("arn", "listener ARN"), i("port", "listener port")];
                A
            }
            Kind::EcsCluster => {
                const A: &[Attr] = &[s("arn", "cluster ARN"), s("name", "cluster name")];
                A
            }
            Kind::EcsTaskDefinition => {
                const A: &[Attr] = &[
                    s("arn", "ARN of the current revision"),
                    s("family", "family name"),
                    i("revision", "current revision number"),
                ];
                A
            }
            Kind::EcsService => {
                const A: &[Attr] = &[s("arn", "service ARN"), s("name", "service name")];
                A
            }
        }
    }

    pub fn attribute(self, name: &str) -> Option<Attr> {
        self.attributes().iter().copied().find(|a| a.name == name)
    }

    /// Rules for the default physical name; `None` for kinds without a name
    /// of their own (listeners, lookups).
    pub fn naming(self) -> Option<Naming> {
        match self {
            Kind::EcrRepository => Some(Naming { max: 256, separator: '/', lowercase: true, no_underscore: false }),
            Kind::IamRole => Some(Naming { max: 64, ..NAMED }),
            Kind::IamPolicy => Some(Naming { max: 128, ..NAMED }),
            Kind::Ec2SecurityGroup | Kind::EcsCluster | Kind::EcsTaskDefinition | Kind::EcsService => Some(NAMED),
            Kind::Elbv2LoadBalancer | Kind::Elbv2TargetGroup => {
                Some(Naming { max: 32, separator: '-', lowercase: false, no_underscore: true })
            }
            Kind::Elbv2Listener
            | Kind::EcrExistingRepository
            | Kind::IamExistingRole
            | Kind::Ec2DefaultVpc
            | Kind::Ec2ExistingVpc => None,
        }
    }

    /// Deserializes this kind's spec from a resource mapping (without its
    /// `kind` and `depends_on` keys).
    pub fn spec_from<'a>(self, node: &'a Node, cx: &'a DeContext) -> Result<Spec, DeError> {
        use crate::yaml::from_node as de;
        Ok(match self {
            Kind::EcrRepository => Spec::EcrRepository(de(node, cx)?),
            Kind::EcrExistingRepository => Spec::EcrExistingRepository(de(node, cx)?),
            Kind::IamRole => Spec::IamRole(de(node, cx)?),
            Kind::IamPolicy => Spec::IamPolicy(de(node, cx)?),
            Kind::IamExistingRole => Spec::IamExistingRole(de(node, cx)?),
            Kind::Ec2SecurityGroup => Spec::Ec2SecurityGroup(de(node, cx)?),
            Kind::Ec2DefaultVpc => Spec::Ec2DefaultVpc(de(node, cx)?),
            Kind::Ec2ExistingVpc => Spec::Ec2ExistingVpc(de(node, cx)?),
            Kind::Elbv2LoadBalancer => Spec::Elbv2LoadBalancer(de(node, cx)?),
            Kind::Elbv2TargetGroup => Spec::Elbv2TargetGroup(de(node, cx)?),
            Kind::Elbv2Listener => Spec::Elbv2Listener(de(node, cx)?),
            Kind::EcsCluster => Spec::EcsCluster(de(node, cx)?),
            Kind::EcsTaskDefinition => Spec::EcsTaskDefinition(de(node, cx)?),
            Kind::EcsService => Spec::EcsService(de(node, cx)?),
        })
    }

    /// This kind's JSON Schema (an object schema without `kind`).
    pub fn schema(self, g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        fn sch<T: JsonSchema>(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
            T::json_schema(g)
        }
        match self {
            Kind::EcrRepository => sch::<ecr::Repository>(g),
            Kind::EcrExistingRepository => sch::<ecr::ExistingRepository>(g),
            Kind::IamRole => sch::<iam::Role>(g),
            Kind::IamPolicy => sch::<iam::Policy>(g),
            Kind::IamExistingRole => sch::<iam::ExistingRole>(g),
            Kind::Ec2SecurityGroup => sch::<ec2::SecurityGroup>(g),
            Kind::Ec2DefaultVpc => sch::<ec2::DefaultVpc>(g),
            Kind::Ec2ExistingVpc => sch::<ec2::ExistingVpc>(g),
            Kind::Elbv2LoadBalancer => sch::<elbv2::LoadBalancer>(g),
            Kind::Elbv2TargetGroup => sch::<elbv2::TargetGroup>(g),
            Kind::Elbv2Listener => sch::<elbv2::Listener>(g),
            Kind::EcsCluster => sch::<ecs::Cluster>(g),
            Kind::EcsTaskDefinition => sch::<ecs::TaskDefinition>(g),
            Kind::EcsService => sch::<ecs::Service>(g),
        }
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

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource's settings, by kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Spec {
    EcrRepository(ecr::Repository),
    EcrExistingRepository(ecr::ExistingRepository),
    IamRole(iam::Role),
    IamPolicy(iam::Policy),
    IamExistingRole(iam::ExistingRole),
    Ec2SecurityGroup(ec2::SecurityGroup),
    Ec2DefaultVpc(ec2::DefaultVpc),
    Ec2ExistingVpc(ec2::ExistingVpc),
    Elbv2LoadBalancer(elbv2::LoadBalancer),
    Elbv2TargetGroup(elbv2::TargetGroup),
    Elbv2Listener(elbv2::Listener),
    EcsCluster(ecs::Cluster),
    EcsTaskDefinition(ecs::TaskDefinition),
    EcsService(ecs::Service),
}

impl Spec {
    pub fn kind(&self) -> Kind {
        match self {
            Spec::EcrRepository(_) => Kind::EcrRepository,
            Spec::EcrExistingRepository(_) => Kind::EcrExistingRepository,
            Spec::IamRole(_) => Kind::IamRole,
            Spec::IamPolicy(_) => Kind::IamPolicy,
            Spec::IamExistingRole(_) => Kind::IamExistingRole,
            Spec::Ec2SecurityGroup(_) => Kind::Ec2SecurityGroup,
            Spec::Ec2DefaultVpc(_) => Kind::Ec2DefaultVpc,
            Spec::Ec2ExistingVpc(_) => Kind::Ec2ExistingVpc,
            Spec::Elbv2LoadBalancer(_) => Kind::Elbv2LoadBalancer,
            Spec::Elbv2TargetGroup(_) => Kind::Elbv2TargetGroup,
            Spec::Elbv2Listener(_) => Kind::Elbv2Listener,
            Spec::EcsCluster(_) => Kind::EcsCluster,
            Spec::EcsTaskDefinition(_) => Kind::EcsTaskDefinition,
            Spec::EcsService(_) => Kind::EcsService,
        }
    }

    pub fn validate(&self, c: &mut Checker) {
        match self {
            Spec::EcrRepository(x) => x.validate(c),
            Spec::EcrExistingRepository(x) => x.validate(c),
            Spec::IamRole(x) => x.validate(c),
            Spec::IamPolicy(x) => x.validate(c),
            Spec::IamExistingRole(x) => x.validate(c),
            Spec::Ec2SecurityGroup(x) => x.validate(c),
            Spec::Ec2DefaultVpc(_) => {}
            Spec::Ec2ExistingVpc(x) => x.validate(c),
            Spec::Elbv2LoadBalancer(x) => x.validate(c),
            Spec::Elbv2TargetGroup(x) => x.validate(c),
            Spec::Elbv2Listener(x) => x.validate(c),
            Spec::EcsCluster(x) => x.validate(c),
            Spec::EcsTaskDefinition(x) => x.validate(c),
            Spec::EcsService(x) => x.validate(c),
        }
    }

    /// The physical name the file sets, if any (`name`, or `family`).
    pub fn given_name(&self) -> Option<&str> {
        match self {
            Spec::EcrRepository(x) => x.name.as_deref(),
            Spec::EcrExistingRepository(x) => Some(&x.name),
            Spec::IamRole(x) => x.name.as_deref(),
            Spec::IamPolicy(x) => x.name.as_deref(),
            Spec::IamExistingRole(x) => Some(&x.name),
            Spec::Ec2SecurityGroup(x) => x.name.as_deref(),
            Spec::Ec2DefaultVpc(_) => None,
            Spec::Ec2ExistingVpc(x) => x.name.as_deref().or(x.id.as_deref()),
            Spec::Elbv2LoadBalancer(x) => x.name.as_deref(),
            Spec::Elbv2TargetGroup(x) => x.name.as_deref(),
            Spec::Elbv2Listener(_) => None,
            Spec::EcsCluster(x) => x.name.as_deref(),
            Spec::EcsTaskDefinition(x) => x.family.as_deref(),
            Spec::EcsService(x) => x.name.as_deref(),
        }
    }

    /// The resource's own tags (the stack's tags are added to them).
    pub fn tags(&self) -> Option<&Tags> {
        match self {
            Spec::EcrRepository(x) => Some(&x.tags),
            Spec::IamRole(x) => Some(&x.tags),
            Spec::IamPolicy(x) => Some(&x.tags),
            Spec::Ec2SecurityGroup(x) => Some(&x.tags),
            Spec::Elbv2LoadBalancer(x) => Some(&x.tags),
            Spec::Elbv2TargetGroup(x) => Some(&x.tags),
            Spec::Elbv2Listener(x) => Some(&x.tags),
            Spec::EcsCluster(x) => Some(&x.tags),
            Spec::EcsTaskDefinition(x) => Some(&x.tags),
            Spec::EcsService(x) => Some(&x.tags),
            Spec::EcrExistingRepository(_)
            | Spec::IamExistingRole(_)
            | Spec::Ec2DefaultVpc(_)
            | Spec::Ec2ExistingVpc(_) => None,
        }
    }
}

/// A resource of the stack.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Logical name: the key under `resources:`.
    pub name: String,
    pub spec: Spec,
    /// Physical name: given in the file or derived (see [`default_name`]).
    pub physical_name: Option<String>,
    pub depends_on: Vec<String>,
    #[serde(skip)]
    pub key_span: Span,
}

impl Resource {
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }
}

/// A variable's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    #[default]
    String,
    Integer,
    Boolean,
    List,
}

/// A variable's value once resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    String(String),
    Integer(i64),
    Boolean(bool),
    List(Vec<String>),
}

impl Value {
    pub fn type_of(&self) -> VarType {
        match self {
            Value::String(_) => VarType::String,
            Value::Integer(_) => VarType::Integer,
            Value::Boolean(_) => VarType::Boolean,
            Value::List(_) => VarType::List,
        }
    }

    /// The value as text inside a string; lists have none.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::List(_) => None,
        }
    }
}

/// Where a variable's value came from, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum VarSource {
    Default,
    Environment(String),
    VarFile(String),
    Flag,
}

#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub name: String,
    pub ty: VarType,
    pub description: Option<String>,
    pub value: Value,
    pub source: VarSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub name: String,
    pub value: String,
    pub description: Option<String>,
}

/// One `${resource.attribute}` in the file.
#[derive(Debug, Clone, Serialize)]
pub struct RefUse {
    /// The resource that holds the reference; `None` for outputs.
    pub from: Option<String>,
    pub resource: String,
    pub attribute: String,
    #[serde(skip)]
    pub span: Span,
}

/// A loaded, checked stack.
#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    pub name: String,
    pub region: Option<String>,
    pub description: Option<String>,
    pub tags: Tags,
    pub variables: Vec<Variable>,
    /// In file order.
    pub resources: Vec<Resource>,
    pub outputs: Vec<Output>,
    pub refs: Vec<RefUse>,
    #[serde(skip)]
    pub file: Arc<SourceFile>,
    #[serde(skip)]
    pub depends_on_spans: BTreeMap<(String, String), Span>,
    /// Logical name → position in `resources`.
    #[serde(skip)]
    pub index: std::collections::HashMap<String, usize>,
}

impl Stack {
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.index.get(name).map(|i| &self.resources[*i])
    }

    /// Rebuilds the name index after `resources` changed.
    pub fn reindex(&mut self) {
        self.index = self.resources.iter().enumerate().map(|(i, r)| (r.name.clone(), i)).collect();
    }
}

/// The default physical name of a resource: `<stack><sep><logical>`, cut
/// to the kind's length limit with a hash suffix that keeps it unique.
pub fn default_name(stack: &str, logical: &str, naming: Naming) -> String {
    let mut name = format!("{stack}{}{logical}", naming.separator);
    if naming.lowercase {
        name = name.to_lowercase();
    }
    if naming.no_underscore {
        name = name.replace('_', "-");
    }
    truncate_name(&name, naming.max)
}

pub fn truncate_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let suffix: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let keep = max - suffix.len() - 1;
    let head: String = name.chars().take(keep).collect();
    let head = head.trim_end_matches(['-', '_', '.', '/']);
    format!("{head}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_respect_limits() {
        let n = Kind::Elbv2TargetGroup.naming().unwrap();
        assert_eq!(default_name("flask-demo", "web_tg", n), "flask-demo-web-tg");
        let long = default_name("a-very-long-stack-name-for-testing", "target_group_of_web", n);
        assert_eq!(long.len(), 32);
        assert_ne!(long, default_name("a-very-long-stack-name-for-testing", "target_group_of_api", n));
        let ecr = Kind::EcrRepository.naming().unwrap();
        assert_eq!(default_name("Flask-Demo", "repo", ecr), "flask-demo/repo");
    }

    #[test]
    fn every_kind_round_trips_its_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
