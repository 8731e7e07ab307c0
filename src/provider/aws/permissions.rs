//! The IAM permissions moor needs to plan, apply and destroy a stack
//! (`moor policy`).
//!
//! Each kind states its own in its provider module
//! ([`super::kinds::AwsKind::permissions`]), next to the calls it makes:
//! the actions of each phase (read, create, update, delete, tag, wait) and
//! the resources AWS lets them be scoped to, `"*"` only where AWS does not
//! scope the action (with the reason), and conditions where they tighten
//! it. [`engine`] gives what moor calls whatever the stack (discovery by
//! tag, the account's registry, the S3 state record). [`policy`] gathers
//! them for a stack and merges them into statements, one per set of
//! resources and conditions, in a stable order.
//!
//! A test lists every operation the provider's source calls and fails
//! when one is declared by no kind and not by the engine: a new call
//! without its permission does not go unnoticed.

use crate::model::Stack;
use crate::provider::Target;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// When moor makes the calls of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Every plan's reads (and apply's and destroy's, which plan first).
    Read,
    Create,
    Update,
    Delete,
    /// Tags set or removed on a resource that exists.
    Tag,
    /// Reads while waiting for a change to settle (apply only).
    Wait,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Read => "read",
            Phase::Create => "create",
            Phase::Update => "update",
            Phase::Delete => "delete",
            Phase::Tag => "tag",
            Phase::Wait => "wait",
        }
    }
}

/// Which calls a policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// plan, apply and destroy.
    Apply,
    /// plan only: every read, no write.
    Plan,
}

/// A condition of a statement: `{test: {key: values}}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Condition {
    pub test: &'static str,
    pub key: String,
    pub values: Vec<String>,
}

/// Some actions on some resources, in one phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub phase: Phase,
    /// `service:Action`, as IAM names them.
    pub actions: Vec<&'static str>,
    /// ARN patterns, or `*`.
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    /// Why the resource is `*` (AWS does not scope the action), or why the
    /// pattern is wider than one resource.
    pub why: Option<&'static str>,
    /// Actions AWS checks within other calls (`iam:PassRole` within
    /// `ecs:RegisterTaskDefinition`): the calls that need them. Empty for
    /// actions moor calls itself.
    pub within: Vec<&'static str>,
}

impl Grant {
    /// `actions` on `resources`.
    pub fn on(phase: Phase, actions: &[&'static str], resources: impl IntoIterator<Item = String>) -> Grant {
        Grant {
            phase,
            actions: actions.to_vec(),
            resources: resources.into_iter().collect(),
            conditions: Vec::new(),
            why: None,
            within: Vec::new(),
        }
    }

    /// `actions` on `*`, because AWS does not scope them: `why` says so.
    pub fn any(phase: Phase, actions: &[&'static str], why: &'static str) -> Grant {
        Grant { why: Some(why), ..Grant::on(phase, actions, ["*".to_string()]) }
    }

    /// With a condition.
    pub fn when(
        mut self,
        test: &'static str,
        key: impl Into<String>,
        values: impl IntoIterator<Item = String>,
    ) -> Grant {
        self.conditions.push(Condition { test, key: key.into(), values: values.into_iter().collect() });
        self
    }

    /// Only on resources tagged as this stack's.
    pub fn owned(self, stack: &str) -> Grant {
        let key = format!("aws:ResourceTag/{}", crate::provider::TAG_STACK);
        self.when("StringEquals", key, [stack.to_string()])
    }

    /// Only when the request tags the new resource as this stack's.
    pub fn tagged_on_create(self, stack: &str) -> Grant {
        let key = format!("aws:RequestTag/{}", crate::provider::TAG_STACK);
        self.when("StringEquals", key, [stack.to_string()])
    }

    /// The reason for a resource wider than one.
    pub fn because(mut self, why: &'static str) -> Grant {
        self.why = Some(why);
        self
    }

    /// Actions AWS checks within these calls of moor's.
    pub fn within(mut self, calls: &[&'static str]) -> Grant {
        self.within = calls.to_vec();
        self
    }
}

/// Where the stack's resources are: what their ARNs are made of. `*` for a
/// part not known (an account not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub stack: String,
}

impl Scope {
    /// `arn:<partition>:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:{}:{service}:{}:{}:{resource}", self.partition, self.region, self.account)
    }

    /// An ARN of a global service (IAM, Route 53): no region.
    pub fn global(&self, service: &str, resource: &str) -> String {
        format!("arn:{}:{service}::{}:{resource}", self.partition, self.account)
    }

    /// An ARN with neither region nor account (S3, Route 53 zones).
    pub fn bare(&self, service: &str, resource: &str) -> String {
        format!("arn:{}:{service}:::{resource}", self.partition)
    }
}

/// A value of the file as a name in an ARN: `*` where it still holds a
/// reference that cannot be known before the apply.
pub fn known(value: &str) -> &str {
    if value.is_empty() || value.contains("${") {
        "*"
    } else {
        value
    }
}

const WHY_DISCOVER: &str =
    "finding what carries the stack's tags lists the account: these calls take no resource, or every one";

/// What moor calls whatever the stack: discovery of the stack's tagged
/// resources, the account's registry, and the state record in S3 when the
/// stack keeps it there (`state_bucket`, `record_key`).
pub fn engine(at: &Scope, s3_record: Option<(&str, &str)>) -> Vec<Grant> {
    let mut g = vec![
        Grant::any(Phase::Read, &["tag:GetResources"], "the Resource Groups Tagging API takes no resource"),
        Grant::any(
            Phase::Read,
            &["iam:GetAccountAuthorizationDetails", "iam:ListRoles", "iam:ListPolicies"],
            "IAM's account listings take no resource: moor finds roles and policies by their tags with them",
        ),
        Grant::on(Phase::Read, &["iam:GetPolicy"], [at.global("iam", "policy/*")]).because(WHY_DISCOVER),
        Grant::on(
            Phase::Read,
            &["ecr:DescribeRepositories", "ecr:ListTagsForResource"],
            [at.arn("ecr", "repository/*")],
        )
        .because(WHY_DISCOVER),
        Grant::any(
            Phase::Read,
            &["ec2:DescribeAddresses", "ec2:DescribeNatGateways"],
            "EC2's Describe calls take no resource: moor finds the Elastic IPs it allocated for NAT gateways by \
             their tags with them (the tagging API does not list them)",
        ),
        Grant::on(
            Phase::Read,
            &["ecr-public:DescribeRepositories", "ecr-public:ListTagsForResource"],
            [at.global("ecr-public", "repository/*")],
        )
        .because(WHY_DISCOVER),
        Grant::any(
            Phase::Read,
            &["ecr:DescribeRegistry", "ecr:GetAuthorizationToken"],
            "ECR's registry and its login token are the account's, not a repository's",
        ),
    ];
    if let Some((bucket, key)) = s3_record {
        let objects = at.bare("s3", &format!("{bucket}/{key}*"));
        g.push(Grant::on(Phase::Read, &["s3:GetObject"], [objects.clone()]));
        g.push(Grant::on(Phase::Update, &["s3:PutObject", "s3:DeleteObject"], [objects]));
    }
    g
}

/// Calls that need no permission: AWS answers them for any identity.
pub const NEEDS_NONE: &[(&str, &str)] =
    &[("sts:GetCallerIdentity", "any identity may ask who it is; an explicit deny does not apply to it")];

/// One statement of the policy, with what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
    /// `read`, `create`, … of the grants merged into it.
    pub phases: BTreeSet<Phase>,
    /// The resources of the file it serves (logical names), or `(every
    /// stack)` for the engine's calls.
    pub serves: BTreeSet<String>,
    pub why: BTreeSet<&'static str>,
    /// The calls of moor's that AWS checks these actions within.
    pub within: BTreeSet<&'static str>,
}

/// The policy of a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

impl Policy {
    /// The IAM policy document.
    pub fn document(&self) -> Value {
        let statements: Vec<Value> = self.statements.iter().map(statement_json).collect();
        json!({ "Version": "2012-10-17", "Statement": statements })
    }

    /// Every action, once, sorted.
    #[cfg(test)]
    pub fn actions(&self) -> BTreeSet<String> {
        self.statements.iter().flat_map(|s| s.actions.iter().cloned()).collect()
    }

    /// What each statement is for, and why a resource is `*`.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for s in &self.statements {
            let phases: Vec<&str> = s.phases.iter().map(|p| p.as_str()).collect();
            out.push_str(&format!("{}: {}\n", s.sid, s.actions.join(", ")));
            out.push_str(&format!("  on: {}\n", s.resources.join(", ")));
            for c in &s.conditions {
                out.push_str(&format!("  when: {} {} {}\n", c.key, c.test, c.values.join(", ")));
            }
            let serves: Vec<&str> = s.serves.iter().map(String::as_str).collect();
            out.push_str(&format!("  for: {} ({})\n", serves.join(", "), phases.join(", ")));
            for w in &s.why {
                out.push_str(&format!("  why: {w}\n"));
            }
            if !s.within.is_empty() {
                let within: Vec<&str> = s.within.iter().copied().collect();
                out.push_str(&format!("  checked by AWS within: {}\n", within.join(", ")));
            }
        }
        for (call, why) in NEEDS_NONE {
            out.push_str(&format!("(not in the policy) {call}: {why}\n"));
        }
        out
    }
}

fn statement_json(s: &Statement) -> Value {
    let mut m = Map::new();
    m.insert("Sid".into(), json!(s.sid));
    m.insert("Effect".into(), json!("Allow"));
    m.insert("Action".into(), one_or_many(&s.actions));
    m.insert("Resource".into(), one_or_many(&s.resources));
    if !s.conditions.is_empty() {
        let mut tests: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for c in &s.conditions {
            tests.entry(c.test).or_default().insert(c.key.clone(), one_or_many(&c.values));
        }
        m.insert("Condition".into(), json!(tests));
    }
    Value::Object(m)
}

fn one_or_many(v: &[String]) -> Value {
    match v {
        [one] => json!(one),
        _ => json!(v),
    }
}

/// The label of the engine's grants in `--explain`.
pub const EVERY_STACK: &str = "(every stack)";

/// Gathers the grants (each with the resource it serves) into statements:
/// grants on the same resources under the same conditions are merged;
/// statements are ordered by their first action's service, then their
/// resources, and named `<Service><n>`.
pub fn merge(grants: Vec<(String, Grant)>, mode: Mode) -> Policy {
    type Key = (Vec<String>, Vec<Condition>);
    let mut by: BTreeMap<Key, Statement> = BTreeMap::new();
    for (serves, g) in grants {
        if mode == Mode::Plan && g.phase != Phase::Read {
            continue;
        }
        let mut resources = g.resources.clone();
        resources.sort();
        resources.dedup();
        if resources.iter().any(|r| r == "*") {
            resources = vec!["*".to_string()];
        }
        let mut conditions = g.conditions.clone();
        for c in &mut conditions {
            c.values.sort();
            c.values.dedup();
        }
        conditions.sort();
        let s = by.entry((resources.clone(), conditions.clone())).or_insert_with(|| Statement {
            sid: String::new(),
            actions: Vec::new(),
            resources,
            conditions,
            phases: BTreeSet::new(),
            serves: BTreeSet::new(),
            why: BTreeSet::new(),
            within: BTreeSet::new(),
        });
        s.actions.extend(g.actions.iter().map(|a| a.to_string()));
        s.phases.insert(g.phase);
        s.serves.insert(serves);
        s.why.extend(g.why);
        s.within.extend(g.within.iter().copied());
    }
    let mut statements: Vec<Statement> = by
        .into_values()
        .map(|mut s| {
            s.actions.sort();
            s.actions.dedup();
            s
        })
        .collect();
    statements.sort_by(|a, b| {
        (service(&a.actions[0]), &a.resources, &a.conditions).cmp(&(
            service(&b.actions[0]),
            &b.resources,
            &b.conditions,
        ))
    });
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in &mut statements {
        let name = sid_word(service(&s.actions[0]));
        let n = counts.entry(name.clone()).or_default();
        *n += 1;
        s.sid = format!("{name}{n}");
    }
    Policy { statements }
}

fn service(action: &str) -> &str {
    action.split(':').next().unwrap_or(action)
}

/// `elasticloadbalancing` → `Elasticloadbalancing`, `ecr-public` → `EcrPublic`.
fn sid_word(service: &str) -> String {
    service
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The stack's targets, their references to other resources' names and
/// ARNs resolved where the file makes them known before any apply.
fn targets(stack: &Stack, at: &Scope) -> Vec<Target> {
    let state = crate::state::State::new(&stack.name, None);
    let mut known = crate::resolve::Known::new();
    for r in &stack.resources {
        let t = crate::plan::target(stack, &r.name, &known, &state).0;
        let mut attrs = crate::provider::Attrs::new();
        if let Some(name) = &r.physical_name {
            attrs.insert("name".into(), Value::String(name.clone()));
        }
        if let Some(arn) = super::kinds::arn_of(&t, at) {
            attrs.insert("arn".into(), Value::String(arn));
        }
        known.insert(r.name.clone(), attrs);
    }
    stack.resources.iter().map(|r| crate::plan::target(stack, &r.name, &known, &state).0).collect()
}

/// Every grant of the stack: each kind's for each resource, and the
/// engine's; each with the resource it serves.
pub fn grants(stack: &Stack, at: &Scope) -> Vec<(String, Grant)> {
    let mut out: Vec<(String, Grant)> = Vec::new();
    for t in targets(stack, at) {
        let serves = format!("{} ({})", t.logical, t.kind);
        out.extend(super::kinds::permissions_of(&t, at).into_iter().map(|g| (serves.clone(), g)));
    }
    // What the checks before any change read by the id the file writes out
    // (crate::checks::asks), beside the plan's reads.
    for (kind, id) in crate::checks::asks(stack) {
        let serves = format!("the checks of what the file gives by id ({id})");
        out.extend(check_reads(kind, &id).into_iter().map(|g| (serves.clone(), g)));
    }
    let s3 = match &stack.state {
        Some(crate::backend::Location::S3 { bucket, key, .. }) => {
            Some((bucket.clone(), crate::backend::record_key(key, &stack.name)))
        }
        _ => None,
    };
    let s3 = s3.as_ref().map(|(b, k)| (b.as_str(), k.as_str()));
    out.extend(engine(at, s3).into_iter().map(|g| (EVERY_STACK.to_string(), g)));
    out
}

/// What reading `id` for a check takes: the read of the kind it is given
/// as (a kind's `live_reads`).
fn check_reads(kind: crate::kinds::Kind, id: &str) -> Vec<Grant> {
    use crate::kinds::Kind;
    match kind {
        Kind::Ec2SecurityGroup => vec![super::ec2::ec2_describe(&["ec2:DescribeSecurityGroups"])],
        Kind::IamExistingRole => vec![Grant::on(Phase::Read, &["iam:GetRole"], [id.to_string()])],
        // No other kind is read for a check.
        _ => Vec::new(),
    }
}

/// The policy of a stack in `mode`.
pub fn policy(stack: &Stack, at: &Scope, mode: Mode) -> Policy {
    merge(grants(stack, at), mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The operations the source calls on each client, as IAM names them:
    /// `p.ecs.create_service()` → `ecs:CreateService`, whatever the
    /// spacing and line breaks of the builder chain.
    pub(crate) fn called_operations() -> BTreeMap<String, BTreeSet<String>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("src readable").flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let clients = [
            ("ec2", "ec2"),
            ("ecr", "ecr"),
            ("iam", "iam"),
            ("elb", "elasticloadbalancing"),
            ("ecs", "ecs"),
            ("logs", "logs"),
            ("sts", "sts"),
            ("ecr_public", "ecr-public"),
            ("acm", "acm"),
            ("route53", "route53"),
            ("tagging", "tag"),
            ("appautoscaling", "application-autoscaling"),
            ("client", "s3"),
            ("servicediscovery", "servicediscovery"),
        ];
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files {
            let text: String = std::fs::read_to_string(&f).expect("readable").split_whitespace().collect();
            // Only the files that send requests: a spec field named like a client is no call.
            if !text.contains(".send()") {
                continue;
            }
            for (field, service) in clients {
                let needle = format!(".{field}.");
                let mut rest = text.as_str();
                while let Some(i) = rest.find(&needle) {
                    rest = &rest[i + needle.len()..];
                    let op: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                    // A spec field named like a client (`authorization_config.iam`) is no call either.
                    let accessor =
                        ["clone", "is_some", "is_none", "as_ref", "as_deref", "to_string"].contains(&op.as_str());
                    if op.is_empty() || !rest[op.len()..].starts_with("()") || accessor {
                        continue;
                    }
                    let name: String = op
                        .split('_')
                        .map(|w| {
                            let mut c = w.chars();
                            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
                        })
                        .collect();
                    let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&f).display().to_string();
                    out.entry(format!("{service}:{name}")).or_default().insert(rel);
                }
            }
        }
        out
    }

    /// The IAM actions a call needs: itself, or (S3's CopyObject) the
    /// actions AWS checks for it.
    fn needs(op: &str) -> Vec<String> {
        match op {
            "s3:CopyObject" => vec!["s3:GetObject".into(), "s3:PutObject".into()],
            _ => vec![op.to_string()],
        }
    }

    /// The stacks the tests gather permissions from: the examples, and a
    /// file of the kinds they do not use.
    pub(crate) fn sample_stacks() -> Vec<Stack> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(root.join("stacks"))
            .expect("stacks/")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.push(root.join("tests/fixtures/policy/lookups.yaml"));
        files.sort();
        files
            .iter()
            .map(|f| {
                let loaded = crate::load::load_file(f, &Default::default());
                loaded.stack.unwrap_or_else(|| panic!("{}: {:?}", f.display(), loaded.diags))
            })
            .collect()
    }

    /// Every action declared for the sample stacks (which use every kind)
    /// and by the engine.
    fn declared() -> BTreeSet<String> {
        let at = Scope { partition: "aws".into(), region: "us-east-1".into(), account: "*".into(), stack: "s".into() };
        let stacks = sample_stacks();
        let used: BTreeSet<crate::model::Kind> =
            stacks.iter().flat_map(|s| s.resources.iter().map(|r| r.kind())).collect();
        let unused: Vec<_> = crate::model::Kind::ALL.iter().filter(|k| !used.contains(k)).collect();
        assert!(unused.is_empty(), "no sample stack uses {unused:?}: add them to tests/fixtures/policy/lookups.yaml");
        let mut out = BTreeSet::new();
        for s in &stacks {
            out.extend(grants(s, &at).into_iter().flat_map(|(_, g)| g.actions.into_iter().map(String::from)));
        }
        for g in engine(&at, Some(("b", "k"))) {
            out.extend(g.actions.iter().map(|a| a.to_string()));
        }
        out
    }

    /// Each operation the provider calls is declared by some kind or by
    /// the engine, so a new call without its permission fails here.
    #[test]
    fn every_call_moor_makes_has_its_permission_declared() {
        let called = called_operations();
        assert!(called.len() > 150, "the scan finds moor's calls: {}", called.len());
        assert!(called.contains_key("ecs:CreateService") && called.contains_key("s3:GetObject"), "{called:?}");
        let declared = declared();
        let exempt: BTreeSet<&str> = NEEDS_NONE.iter().map(|(c, _)| *c).collect();
        let missing: Vec<String> = called
            .iter()
            .filter(|(op, _)| !exempt.contains(op.as_str()))
            .filter(|(op, _)| needs(op).iter().any(|a| !declared.contains(a)))
            .map(|(op, files)| format!("{op} (called in {})", files.iter().cloned().collect::<Vec<_>>().join(", ")))
            .collect();
        assert!(missing.is_empty(), "calls with no declared permission:\n{}", missing.join("\n"));
    }

    /// Grants on the same resources and conditions become one statement,
    /// in a stable order with Sids; `--mode plan` keeps only the reads.
    #[test]
    fn grants_merge_per_resource_set_and_plan_keeps_reads() {
        let a = "arn:aws:ecr:us-east-1:1:repository/a".to_string();
        let grants = vec![
            ("a".to_string(), Grant::on(Phase::Create, &["ecr:CreateRepository"], [a.clone()])),
            ("a".to_string(), Grant::on(Phase::Read, &["ecr:DescribeImages"], [a.clone()])),
            ("b".to_string(), Grant::any(Phase::Read, &["ecs:ListClusters", "ecs:DescribeClusters"], "no resource")),
            ("c".to_string(), Grant::on(Phase::Delete, &["ecr:DeleteRepository"], [a.clone()]).owned("s")),
        ];
        let p = merge(grants.clone(), Mode::Apply);
        let doc = p.document();
        assert_eq!(
            doc["Statement"],
            json!([
                {"Sid": "Ecr1", "Effect": "Allow", "Action": ["ecr:CreateRepository", "ecr:DescribeImages"], "Resource": a},
                {"Sid": "Ecr2", "Effect": "Allow", "Action": "ecr:DeleteRepository", "Resource": a,
                 "Condition": {"StringEquals": {"aws:ResourceTag/moor:stack": "s"}}},
                {"Sid": "Ecs1", "Effect": "Allow", "Action": ["ecs:DescribeClusters", "ecs:ListClusters"], "Resource": "*"},
            ])
        );
        let plan = merge(grants, Mode::Plan);
        assert_eq!(
            plan.actions(),
            ["ecr:DescribeImages", "ecs:DescribeClusters", "ecs:ListClusters"].map(String::from).into()
        );
        assert!(plan.explain().contains("why: no resource"), "{}", plan.explain());
    }

    #[test]
    fn sid_words_are_alphanumeric() {
        assert_eq!(sid_word("ecr-public"), "EcrPublic");
        assert_eq!(sid_word("application-autoscaling"), "ApplicationAutoscaling");
    }
}
