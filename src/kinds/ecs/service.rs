//! `ecs/service`.

use super::*;
use crate::kinds::elbv2::TargetType;
use crate::kinds::{path, Attr, Kind, KindSpec, Naming, RefRule, Spec};
use crate::model::check::{alnum_hyphen_underscore, Checker, NameRule};
use crate::model::common::ref_resource;
use crate::model::common::{StrList, Tags};
use crate::model::Resource;
use crate::validate::Cross;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ECS service that keeps `desired_count` tasks running.
///
/// `moor import` takes the service's ARN, or its name when its `cluster` is
/// known (written out, a lookup, or a resource the state record holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Service name, unique in its cluster; defaults to `<stack>-<logical name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The cluster's ARN, `${cluster.arn}` (an `ecs/cluster` or an
    /// `ecs/existing_cluster`).
    pub cluster: String,
    /// The task definition's ARN, `${task.arn}`.
    pub task_definition: String,
    /// Number of tasks to keep running (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<u32>,
    /// `fargate` (the default) or `ec2`; ignored when `capacity_provider_strategy` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<Strategy>,
    /// Fargate platform version, `LATEST` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,
    /// Subnets and security groups of the tasks (awsvpc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Target groups that receive the tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// Seconds to ignore failing load balancer health checks after a task starts
    /// (time for migrations to run), 0–2147483647.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// Allow `aws ecs execute-command` into tasks.
    #[serde(default)]
    pub enable_execute_command: bool,
    /// Tag the service's tasks with ECS's own `aws:ecs:clusterName` and
    /// `aws:ecs:serviceName` (default false); tasks started after a change
    /// get it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ecs_managed_tags: Option<bool>,
    /// Copy tags onto the service's tasks from the `SERVICE` or the
    /// `TASK_DEFINITION`, or `NONE` (the default); tasks started after a
    /// change get them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
    /// `ENABLED`: ECS moves tasks to keep them spread evenly across
    /// Availability Zones; `DISABLED`: it does not. ECS's default for a new
    /// service is `ENABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone_rebalancing: Option<Rebalancing>,
    /// ECS Service Connect: the service joins a Cloud Map namespace, its
    /// tasks reach the namespace's services by their client aliases, and
    /// (with `services`) others reach it. Changed in place; a change starts
    /// a new deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect: Option<ServiceConnect>,
    /// How apply waits for the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// In AWS's spelling; lower case is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropagateTags {
    #[serde(alias = "service")]
    Service,
    #[serde(alias = "task_definition")]
    TaskDefinition,
    #[serde(alias = "none")]
    None,
}

/// In AWS's spelling; lower case is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Rebalancing {
    #[serde(alias = "enabled")]
    Enabled,
    #[serde(alias = "disabled")]
    Disabled,
}

/// A service's Service Connect configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceConnect {
    /// Whether the service uses Service Connect (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The Cloud Map namespace: `${ns.arn}` (a
    /// `servicediscovery/http_namespace`), or an existing namespace's name
    /// or ARN. Needed unless the cluster has `service_connect_defaults`.
    /// A service that holds the same namespace the other way (its name for
    /// the file's ARN, as one made by another tool may) is no change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The endpoints the service offers to the namespace; none for a
    /// service that only calls others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ConnectService>,
    /// Where the Service Connect proxy of each task logs (awslogs, as a
    /// container's `logs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<Logs>,
}

/// One endpoint a service offers through Service Connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectService {
    /// The `name` of a port mapping of the task definition's containers.
    pub port_name: String,
    /// The name of the Cloud Map service ECS makes: up to 64 lowercase
    /// letters, digits, `_` and `-`, not starting with `-`; the port name
    /// when not given. Unique in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_name: Option<String>,
    /// The name and port other tasks of the namespace call it by (at most
    /// one alias).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_aliases: Vec<ClientAlias>,
    /// The port the Service Connect proxy listens on; the container port by
    /// default (awsvpc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_port_override: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConnectTimeout>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientAlias {
    /// The port clients call, 1–65535.
    pub port: u32,
    /// The name clients call: up to 127 lowercase letters, digits, `_`,
    /// `-` and `.`, not starting with `-`; `<discovery name>.<namespace>`
    /// when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
}

/// Service Connect's timeouts, in seconds; 0 turns one off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectTimeout {
    /// How long an idle connection stays open (ECS's default: 5 minutes
    /// for HTTP, HTTP/2 and gRPC, 1 hour for TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u32>,
    /// How long a request waits for its whole answer; only for a port
    /// mapping with an `app_protocol` (not TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request_seconds: Option<u32>,
}

/// The longest discovery name and client alias name ECS takes.
pub const DISCOVERY_NAME_MAX: usize = 64;
pub const DNS_NAME_MAX: usize = 127;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub subnets: StrList,
    #[serde(default, skip_serializing_if = "StrList::is_empty")]
    pub security_groups: StrList,
    /// Give each task a public IP (needed to pull images in a public subnet
    /// without a NAT gateway). Default false.
    #[serde(default)]
    pub assign_public_ip: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceLoadBalancer {
    /// The target group's ARN, `${tg.arn}`.
    pub target_group: String,
    /// A container of the task definition…
    pub container: String,
    /// …and one of its container ports.
    pub port: u32,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Stop a failing deployment; `rollback` also returns to the last good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Lower bound of running tasks during a deployment, percent (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_healthy_percent: Option<u32>,
    /// Upper bound of running tasks during a deployment, percent (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_percent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreaker {
    #[serde(default = "yes")]
    pub enable: bool,
    #[serde(default = "yes")]
    pub rollback: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Wait {
    /// Wait until the deployment completes (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<bool>,
    /// Longest wait in seconds (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
}

pub const SERVICE_NAME: NameRule = NameRule {
    what: "service name",
    max: 255,
    charset: alnum_hyphen_underscore,
    charset_text: "letters, digits, hyphens and underscores",
    extra: None,
};

impl KindSpec for Service {
    /// Its tasks: `desired_count` of its task definition, each with a public
    /// address when `assign_public_ip`.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        let on =
            match (self.launch_type.as_ref(), self.capacity_provider_strategy.iter().find(|s| s.provider != "FARGATE"))
            {
                (_, Some(s)) => Some(s.provider.as_str()),
                (Some(super::LaunchType::Ec2), None) => Some("EC2"),
                _ => None,
            };
        Some(crate::cost::Billing::Tasks {
            task_definition: &self.task_definition,
            count: self.desired_count.unwrap_or(1),
            public_ip: self.network.as_ref().is_some_and(|n| n.assign_public_ip),
            on,
        })
    }

    const KIND: &'static str = "ecs/service";
    const ATTRIBUTES: &'static [Attr] = &[Attr::string("arn", "service ARN"), Attr::string("name", "service name")];
    const NAMING: Option<Naming> = Some(Naming::NAMED);
    const REPLACE_ON: &'static [&'static str] = &["name", "cluster", "launch_type"];
    const DELETE_RANK: u8 = 0;
    const DEPLOYS: bool = true;
    const RUNS_VERSION: Option<&'static str> = Some("task_definition");

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn waits_until_settled(&self) -> bool {
        self.wait.as_ref().and_then(|w| w.stable).unwrap_or(true)
    }

    fn runs_images(&self) -> Option<&'static str> {
        (self.desired_count.unwrap_or(1) > 0).then_some("`desired_count: 0`")
    }

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.cluster)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        use crate::kinds::ec2::{SECURITY_GROUP_IDS, SUBNET_IDS};
        let mut out = Vec::new();
        if let Some(n) = &self.network {
            out.push(RefRule::Ids { path: path(&["network", "subnets"]), list: &n.subnets, ids: SUBNET_IDS });
            out.push(RefRule::Ids {
                path: path(&["network", "security_groups"]),
                list: &n.security_groups,
                ids: SECURITY_GROUP_IDS,
            });
        }
        out.push(RefRule::Kind {
            path: path(&["cluster"]),
            value: &self.cluster,
            kinds: &[Kind::EcsCluster, Kind::EcsExistingCluster],
            what: "a cluster",
        });
        out.push(RefRule::Kind {
            path: path(&["task_definition"]),
            value: &self.task_definition,
            kinds: &[Kind::EcsTaskDefinition],
            what: "a task definition",
        });
        if let Some(ns) = self.service_connect.as_ref().and_then(|sc| sc.namespace.as_deref()) {
            out.push(RefRule::Kind {
                path: path(&["service_connect", "namespace"]),
                value: ns,
                kinds: &[Kind::ServicediscoveryHttpNamespace],
                what: "a Cloud Map namespace",
            });
        }
        for (i, lb) in self.load_balancers.iter().enumerate() {
            out.push(RefRule::Kind {
                path: path(&["load_balancers", &i.to_string(), "target_group"]),
                value: &lb.target_group,
                kinds: &[Kind::Elbv2TargetGroup],
                what: "a target group",
            });
        }
        out
    }

    fn name_scope(&self) -> &str {
        &self.cluster
    }

    fn cross_check(&self, r: &Resource, x: &mut Cross<'_>) {
        self.check_task_definition(r, x);
        self.check_connect(r, x);
        self.check_attached(r, x);
        self.check_reach(r, x);
    }

    /// Its security groups given by id, whose rules decide whether the
    /// load balancer reaches its tasks.
    fn live_reads(&self) -> Vec<(Kind, &str)> {
        let groups = self.network.as_ref().and_then(|n| n.security_groups.items()).unwrap_or_default();
        groups.iter().filter(|g| !g.contains("${")).map(|g| (Kind::Ec2SecurityGroup, g.as_str())).collect()
    }

    /// The load balancer reaches its tasks, now that the rules of its
    /// security groups given by id are known; those groups exist.
    fn live_check(&self, r: &Resource, x: &mut crate::checks::LiveCross<'_>) {
        use crate::checks::Answer;
        let groups = self.network.as_ref().and_then(|n| n.security_groups.items()).unwrap_or_default();
        let mut missing = false;
        for (i, g) in groups.iter().enumerate().filter(|(_, g)| !g.contains("${")) {
            match x.read(Kind::Ec2SecurityGroup, g) {
                Answer::Missing => {
                    missing = true;
                    x.error(
                        r,
                        &["network", "security_groups", &i.to_string()],
                        format!("security group `{g}` does not exist (ec2:DescribeSecurityGroups found no such id)"),
                        "name a security group of the service's VPC that exists, or one of the file: `${sg.id}`",
                    );
                }
                Answer::Unknown => {
                    if let Some(e) = x.read_error(Kind::Ec2SecurityGroup, g) {
                        x.unchecked(
                            r,
                            &["network", "security_groups", &i.to_string()],
                            format!("could not check whether security group `{g}` lets the load balancer in: {e}"),
                            "allow ec2:DescribeSecurityGroups to have moor check it before the apply",
                        );
                    }
                }
                Answer::Found(_) => {}
            }
        }
        if missing {
            return;
        }
        let stack = x.stack;
        let found = self.unreachable(stack, &LiveGroups { x });
        for u in found {
            let (message, help) = u.words(stack);
            x.error(r, &["network", "security_groups"], message, help);
        }
    }

    fn needs_attached(&self) -> Vec<&str> {
        self.load_balancers.iter().filter_map(|lb| crate::model::common::ref_resource(&lb.target_group)).collect()
    }

    fn needs_attached_why(&self, listener: &str, target_group: &str) -> String {
        format!("listener `{listener}` attaches target group `{target_group}` to its load balancer; CreateService needs that first")
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            SERVICE_NAME.check(c, &["name"], n);
        }
        if self.launch_type.is_some() && !self.capacity_provider_strategy.is_empty() {
            c.error(
                "moor::service-launch",
                &["launch_type"],
                "set `launch_type` or `capacity_provider_strategy`, not both",
                "conflicts with capacity_provider_strategy",
            );
        }
        for (i, s) in self.capacity_provider_strategy.iter().enumerate() {
            check_strategy(c, "capacity_provider_strategy", i, s);
        }
        for (i, lb) in self.load_balancers.iter().enumerate() {
            c.port(&["load_balancers", &i.to_string(), "port"], lb.port);
        }
        if let Some(g) = self.health_check_grace_period {
            if self.load_balancers.is_empty() {
                c.error(
                    "moor::service-grace",
                    &["health_check_grace_period"],
                    "a health check grace period needs `load_balancers`",
                    "no load balancer to wait for",
                );
            }
            c.range(&["health_check_grace_period"], "health_check_grace_period", g.into(), 0, 2_147_483_647);
        }
        if let Some(d) = &self.deployment {
            let min = d.min_healthy_percent.unwrap_or(100);
            let max = d.max_percent.unwrap_or(200);
            if let Some(m) = d.min_healthy_percent {
                c.range(&["deployment", "min_healthy_percent"], "min_healthy_percent", m.into(), 0, 100);
            }
            if max <= min.min(100) && max < 100 {
                c.error(
                    "moor::service-deployment",
                    &["deployment", "max_percent"],
                    format!("max_percent {max} leaves no room to deploy"),
                    "must be at least 100, or above min_healthy_percent",
                );
            }
        }
        if let Some(w) = &self.wait {
            if let Some(t) = w.timeout {
                c.range(&["wait", "timeout"], "wait timeout", t.into(), 1, 86_400);
            }
        }
        if let Some(sc) = &self.service_connect {
            check_service_connect(c, sc);
        }
    }
}

/// A discovery name: lowercase letters, digits, `_` and `-`, not starting
/// with `-` (ECS's ServiceConnectService); `dots` lets `.` in too (a
/// client alias's DNS name).
fn connect_name_problem(name: &str, max: usize, dots: bool) -> Option<String> {
    let len = name.chars().count();
    if len == 0 || len > max {
        return Some(format!("is {len} characters long; ECS takes 1–{max}"));
    }
    if name.starts_with('-') {
        return Some("starts with a hyphen".into());
    }
    let ok = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '-' || (dots && ch == '.');
    name.chars().find(|ch| !ok(*ch)).map(|bad| format!("contains `{bad}`"))
}

/// A namespace given literally: a Cloud Map namespace ARN, or a name of
/// 1–1024 characters without `<`, `>`, `"` or `/`.
pub(crate) fn namespace_problem(ns: &str) -> Option<String> {
    if ns.contains("${") {
        return None;
    }
    if ns.starts_with("arn:") {
        let ok = ns.split(':').nth(2) == Some("servicediscovery") && ns.contains(":namespace/ns-");
        return (!ok).then(|| format!("`{ns}` is not a Cloud Map namespace ARN (`arn:aws:servicediscovery:<region>:<account>:namespace/ns-…`)"));
    }
    let len = ns.chars().count();
    if len == 0 || len > 1024 {
        return Some(format!("the namespace name is {len} characters long; Cloud Map takes 1–1024"));
    }
    ns.chars()
        .find(|ch| "<>\"/".contains(*ch))
        .map(|bad| format!("the namespace name `{ns}` contains `{bad}`, which Cloud Map does not allow"))
}

/// ECS's rules on a Service Connect configuration that the file alone
/// shows (the port names are checked against the task definition in
/// [`Service::check_connect`]).
fn check_service_connect(c: &mut Checker, sc: &ServiceConnect) {
    if let Some(problem) = sc.namespace.as_deref().and_then(namespace_problem) {
        c.error("moor::service-connect", &["service_connect", "namespace"], problem, "not a namespace").help =
            Some("name a namespace of the stack, `${ns.arn}`, or an existing one by name or ARN".into());
    }
    if !sc.enabled && (!sc.services.is_empty() || sc.log_configuration.is_some()) {
        c.error(
            "moor::service-connect",
            &["service_connect", "enabled"],
            "Service Connect is turned off, but `services` or `log_configuration` are set",
            "disabled",
        )
        .help = Some("remove `enabled: false`, or remove the `service_connect` block".into());
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, svc) in sc.services.iter().enumerate() {
        let idx = i.to_string();
        let at = |f: &'static str| ["service_connect", "services", idx.as_str(), f];
        if svc.port_name.trim().is_empty() {
            c.error("moor::service-connect", &at("port_name"), "`port_name` is empty", "empty");
        }
        if let Some(d) = svc.discovery_name.as_deref().filter(|d| !d.contains("${")) {
            if let Some(problem) = connect_name_problem(d, DISCOVERY_NAME_MAX, false) {
                c.error(
                    "moor::service-connect",
                    &at("discovery_name"),
                    format!("discovery name `{d}` {problem}"),
                    "not a discovery name",
                )
                .help = Some(format!(
                    "up to {DISCOVERY_NAME_MAX} lowercase letters, digits, `_` and `-`, not starting with `-`"
                ));
            }
        }
        let discovery = svc.discovery_name.clone().unwrap_or_else(|| svc.port_name.clone());
        if let Some((_, first)) = seen.iter().find(|(d, _)| *d == discovery) {
            c.error(
                "moor::service-connect",
                &at(if svc.discovery_name.is_some() { "discovery_name" } else { "port_name" }),
                format!("entries {first} and {i} both register the Cloud Map service `{discovery}`"),
                "same discovery name",
            )
            .help = Some("give one of them another `discovery_name`: each must be unique in the namespace".into());
        } else {
            seen.push((discovery, i));
        }
        if svc.client_aliases.len() > 1 {
            c.error(
                "moor::service-connect",
                &["service_connect", "services", &idx, "client_aliases", "1"],
                format!("{} client aliases; ECS takes at most one per entry", svc.client_aliases.len()),
                "one too many",
            )
            .help = Some("add another entry under `services` for the same port to offer a second name".into());
        }
        for (j, a) in svc.client_aliases.iter().enumerate() {
            let j = j.to_string();
            c.port(&["service_connect", "services", &idx, "client_aliases", &j, "port"], a.port);
            if let Some(d) = a.dns_name.as_deref().filter(|d| !d.contains("${")) {
                if let Some(problem) = connect_name_problem(d, DNS_NAME_MAX, true) {
                    c.error(
                        "moor::service-connect",
                        &["service_connect", "services", &idx, "client_aliases", &j, "dns_name"],
                        format!("client alias `{d}` {problem}"),
                        "not a DNS name ECS takes",
                    )
                    .help = Some(format!(
                        "up to {DNS_NAME_MAX} lowercase letters, digits, `_`, `-` and `.`, not starting with `-`"
                    ));
                }
            }
        }
        if let Some(p) = svc.ingress_port_override {
            c.port(&at("ingress_port_override"), p);
        }
        if let Some(t) = &svc.timeout {
            for (f, v) in [("idle_seconds", t.idle_seconds), ("per_request_seconds", t.per_request_seconds)] {
                if let Some(v) = v {
                    c.range(&["service_connect", "services", &idx, "timeout", f], f, v.into(), 0, 2_147_483_647);
                }
            }
        }
    }
    if let Some(l) = &sc.log_configuration {
        super::check_logs(c, &["service_connect", "log_configuration"], "the Service Connect proxy", l);
    }
}

/// A load balancer of the stack that cannot reach a service's tasks.
struct Unreachable {
    /// The service's `load_balancers` entry.
    entry: usize,
    port: u32,
    /// The load balancer's logical name.
    balancer: String,
    /// The service's groups and the balancer's, as the file names them.
    targets: Vec<String>,
    sources: Vec<String>,
}

impl Unreachable {
    /// The problem's message and help.
    fn words(&self, stack: &crate::model::Stack) -> (String, String) {
        let port = self.port;
        // A group of the file by its logical name, any other by its id.
        let shown = |g: &String| ref_resource(g).map_or_else(|| format!("`{g}`"), |r| format!("`{r}`"));
        let message = format!(
            "load balancer `{}` cannot reach the tasks on port {port}: no security group of the service allows TCP {port} from the load balancer's security groups ({}), so health checks fail and the deployment never settles",
            self.balancer,
            self.sources.iter().map(shown).collect::<Vec<_>>().join(", ")
        );
        let source = &self.sources[0];
        let target = self.targets.iter().find_map(|t| {
            let res = ref_resource(t)?;
            stack.resource(res).filter(|g| g.kind() == Kind::Ec2SecurityGroup).map(|g| g.name.clone())
        });
        let help = match target {
            Some(t) => {
                format!("add `{{ port: {port}, source_group: \"{source}\" }}` to the `ingress` of security group `{t}`")
            }
            None => format!(
                "allow TCP {port} from security group {} in one of the service's security groups ({})",
                shown(source),
                self.targets.iter().map(shown).collect::<Vec<_>>().join(", ")
            ),
        };
        (message, help)
    }
}

/// What the file says about security groups, before anything is read:
/// the rules of the file's groups; the file's references compare by name,
/// literal ids by id, and a reference with an id cannot be told apart.
struct FileGroups<'a> {
    stack: &'a crate::model::Stack,
}

impl crate::kinds::ec2::reach::Groups for FileGroups<'_> {
    fn ingress(&self, group: &str) -> Option<Vec<serde_json::Value>> {
        match &self.stack.resource(ref_resource(group)?)?.spec {
            Spec::Ec2SecurityGroup(g) => Some(g.ingress_values()),
            _ => None,
        }
    }

    fn same(&self, a: &str, b: &str) -> Option<bool> {
        match (ref_resource(a), ref_resource(b)) {
            (Some(x), Some(y)) => Some(x == y),
            (None, None) => Some(a == b),
            _ => None,
        }
    }
}

/// What the plan knows about security groups: the file's groups with the
/// rules the apply gives them and the ids of those that exist, and the
/// live rules of groups given by id.
struct LiveGroups<'a, 'b> {
    x: &'b crate::checks::LiveCross<'a>,
}

impl LiveGroups<'_, '_> {
    /// The file's group a name is (by reference, or by the id of one that
    /// exists), and its id when known.
    fn resolve(&self, g: &str) -> (Option<String>, Option<String>) {
        match ref_resource(g) {
            Some(res) => (Some(res.to_string()), self.x.attr(res, "id").map(str::to_string)),
            None => {
                let of_file = self
                    .x
                    .stack
                    .resources
                    .iter()
                    .find(|r| r.kind() == Kind::Ec2SecurityGroup && self.x.attr(&r.name, "id") == Some(g));
                (of_file.map(|r| r.name.clone()), Some(g.to_string()))
            }
        }
    }
}

impl crate::kinds::ec2::reach::Groups for LiveGroups<'_, '_> {
    fn ingress(&self, group: &str) -> Option<Vec<serde_json::Value>> {
        let (logical, id) = self.resolve(group);
        if let Some(l) = logical {
            return match &self.x.stack.resource(&l)?.spec {
                Spec::Ec2SecurityGroup(g) => Some(g.ingress_values()),
                _ => None,
            };
        }
        match self.x.read(Kind::Ec2SecurityGroup, &id?) {
            crate::checks::Answer::Found(l) => l.fields.get("ingress")?.as_array().cloned(),
            _ => None,
        }
    }

    fn same(&self, a: &str, b: &str) -> Option<bool> {
        let ((la, ia), (lb, ib)) = (self.resolve(a), self.resolve(b));
        if let (Some(x), Some(y)) = (&la, &lb) {
            return Some(x == y);
        }
        if let (Some(x), Some(y)) = (&ia, &ib) {
            return Some(x == y);
        }
        // A group of the file not made yet is none of the groups that exist.
        let unmade = |l: &Option<String>, i: &Option<String>| l.is_some() && i.is_none();
        (unmade(&la, &ia) || unmade(&lb, &ib)).then_some(false)
    }
}

impl Service {
    /// The load balancers of the stack in front of its target groups (by a
    /// listener's default action or by a listener rule) that cannot reach
    /// its tasks: none of its security groups lets TCP on the
    /// container port in from the balancer's groups (or from a CIDR). Only
    /// what can be told for sure is reported ([`crate::kinds::ec2::reach`]):
    /// groups given as a list reference, the VPC's default group (no
    /// `security_groups`), prefix lists and groups whose rules are not
    /// known are given the benefit of the doubt.
    fn unreachable(&self, stack: &crate::model::Stack, g: &dyn crate::kinds::ec2::reach::Groups) -> Vec<Unreachable> {
        use crate::kinds::ec2::reach::{reaches, Reach};
        let Some(targets) = self.network.as_ref().and_then(|n| n.security_groups.items()) else { return Vec::new() };
        let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
        let mut out: Vec<Unreachable> = Vec::new();
        for (i, lb) in self.load_balancers.iter().enumerate() {
            let Some(tg) = ref_resource(&lb.target_group) else { continue };
            for l in stack.resources.iter().filter(|l| l.spec.as_dyn().attaches().contains(&tg)) {
                // A listener forwards to it, or a rule of one.
                let listener = match &l.spec {
                    Spec::Elbv2Listener(listener) => listener,
                    Spec::Elbv2ListenerRule(rule) => {
                        match ref_resource(&rule.listener).and_then(|n| stack.resource(n)).map(|r| &r.spec) {
                            Some(Spec::Elbv2Listener(listener)) => listener,
                            _ => continue,
                        }
                    }
                    _ => continue,
                };
                let Some(b) = ref_resource(&listener.load_balancer).and_then(|b| stack.resource(b)) else { continue };
                let Spec::Elbv2LoadBalancer(balancer) = &b.spec else { continue };
                let Some(sources) = balancer.security_groups.items() else { continue };
                let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
                if out.iter().any(|u| u.balancer == b.name && u.port == lb.port) {
                    continue;
                }
                if reaches(&targets, lb.port, &sources, g) == Reach::No {
                    out.push(Unreachable {
                        entry: i,
                        port: lb.port,
                        balancer: b.name.clone(),
                        targets: targets.iter().map(|t| t.to_string()).collect(),
                        sources: sources.iter().map(|s| s.to_string()).collect(),
                    });
                }
            }
        }
        out
    }

    /// The load balancer reaches its tasks, as far as the file tells.
    ///
    /// An error, not a warning: a service behind a load balancer that cannot
    /// reach its tasks fails every health check, ECS replaces its tasks
    /// forever, and the apply waits for a deployment that never settles (or
    /// the circuit breaker rolls it back). It is reported only when every
    /// rule involved is known, so a setup moor cannot see through (a prefix
    /// list, the default group, a group whose rules are not readable) is
    /// never refused, and no switch to turn it off is needed.
    fn check_reach(&self, r: &Resource, x: &mut Cross<'_>) {
        let stack = x.stack;
        for u in self.unreachable(stack, &FileGroups { stack }) {
            let (message, help) = u.words(stack);
            let second = x.span_of(&u.balancer, &["security_groups"]);
            let port = x.span_of(&r.name, &["load_balancers", &u.entry.to_string(), "port"]);
            let mut c = x.checker(r);
            let d = c.error(
                "moor::service-unreachable",
                &["network", "security_groups"],
                message,
                "none lets the load balancer in",
            );
            d.help = Some(help);
            if let Some(span) = port {
                d.labels.push(crate::diag::Label { span, text: "the port it sends to".into() });
            }
            if let Some(span) = second {
                d.labels.push(crate::diag::Label { span, text: format!("the groups of `{}`", u.balancer) });
            }
        }
    }

    /// Its containers and ports exist in its task definition, it has a
    /// `network` block for awsvpc tasks, and its target groups register
    /// awsvpc tasks by IP.
    fn check_task_definition(&self, r: &Resource, x: &mut Cross<'_>) {
        let Some(Spec::EcsTaskDefinition(td)) = x.target(&self.task_definition).map(|t| &t.spec) else {
            return;
        };
        let td_name = ref_resource(&self.task_definition).unwrap_or("").to_string();
        if td.network_mode == NetworkMode::Awsvpc && self.network.is_none() {
            x.checker(r)
                .error("moor::service-network", &[], "a service of an awsvpc task definition needs `network`", "no network block")
                .help = Some("add `network: { subnets: ${net.subnet_ids}, security_groups: [\"${svc_sg.id}\"], assign_public_ip: true }`".into());
        }
        for (i, lb) in self.load_balancers.iter().enumerate() {
            let idx = i.to_string();
            match td.containers.iter().find(|c| c.name == lb.container) {
                None => {
                    let names: Vec<&str> = td.containers.iter().map(|c| c.name.as_str()).collect();
                    let help = crate::diag::did_you_mean(&lb.container, &names, "container");
                    x.checker(r)
                        .error(
                            "moor::service-container",
                            &["load_balancers", &idx, "container"],
                            format!("task definition `{td_name}` has no container `{}`", lb.container),
                            "unknown container",
                        )
                        .help = Some(help);
                }
                Some(c) => {
                    let udp = c
                        .port_mappings
                        .iter()
                        .find(|p| p.container_port == lb.port)
                        .is_some_and(|p| p.protocol == Some(TransportProtocol::Udp));
                    if udp {
                        x.checker(r)
                            .error(
                                "moor::service-port",
                                &["load_balancers", &idx, "port"],
                                format!(
                                    "container `{}` maps port {} for UDP, but the load balancer sends TCP (HTTP)",
                                    c.name, lb.port
                                ),
                                "UDP port",
                            )
                            .help =
                            Some(format!("map port {} with `protocol: tcp` in container `{}`", lb.port, c.name));
                    }
                    if !c.port_mappings.iter().any(|p| p.container_port == lb.port) {
                        let ports: Vec<String> = c.port_mappings.iter().map(|p| p.container_port.to_string()).collect();
                        let help = if ports.is_empty() {
                            format!(
                                "add `port_mappings: [{{ container_port: {} }}]` to container `{}`",
                                lb.port, c.name
                            )
                        } else {
                            format!("container `{}` maps port(s) {}", c.name, ports.join(", "))
                        };
                        x.checker(r)
                            .error(
                                "moor::service-port",
                                &["load_balancers", &idx, "port"],
                                format!("container `{}` has no port mapping for {}", c.name, lb.port),
                                "port not mapped",
                            )
                            .help = Some(help);
                    }
                }
            }
            // Tasks of the bridge and host modes register by instance.
            if td.network_mode != NetworkMode::Awsvpc {
                if let Some(tg) = x.target(&lb.target_group) {
                    if let Spec::Elbv2TargetGroup(g) = &tg.spec {
                        if g.target_type == TargetType::Ip {
                            let mode = if td.network_mode == NetworkMode::Bridge { "bridge" } else { "host" };
                            x.checker(tg)
                                .error(
                                    "moor::target-type",
                                    &["target_type"],
                                    format!(
                                        "target group `{}` must have target type `instance`: service `{}` runs tasks in {mode} network mode",
                                        tg.name, r.name
                                    ),
                                    "must be `instance`",
                                )
                                .help = Some("tasks of the bridge and host network modes register by EC2 instance; set `target_type: instance`".into());
                        }
                    }
                }
            }
            // Fargate / awsvpc tasks register by IP.
            if td.network_mode == NetworkMode::Awsvpc {
                if let Some(tg) = x.target(&lb.target_group) {
                    if let Spec::Elbv2TargetGroup(g) = &tg.spec {
                        if g.target_type != TargetType::Ip {
                            x.checker(tg)
                                .error(
                                    "moor::target-type",
                                    &["target_type"],
                                    format!(
                                        "target group `{}` must have target type `ip`: service `{}` runs awsvpc tasks",
                                        tg.name, r.name
                                    ),
                                    "must be `ip`",
                                )
                                .help = Some(
                                "awsvpc (and so Fargate) tasks register by IP address; set `target_type: ip`".into(),
                            );
                        }
                    }
                }
            }
        }
    }

    /// Its Service Connect configuration fits its task definition and
    /// cluster: each `port_name` names a port mapping of the task
    /// definition's containers, a per-request timeout is set only on a port
    /// with an application protocol (ECS refuses it for TCP), the tasks'
    /// network mode is one Service Connect works in, and a namespace is
    /// given unless the cluster of the file has a default one.
    fn check_connect(&self, r: &Resource, x: &mut Cross<'_>) {
        let Some(sc) = self.service_connect.as_ref().filter(|sc| sc.enabled) else { return };
        if sc.namespace.is_none() {
            let cluster = x.target(&self.cluster).map(|c| &c.spec);
            let defaults = match cluster {
                Some(Spec::EcsCluster(c)) => c.service_connect_defaults.is_some(),
                // A cluster outside the file may have defaults: ECS tells.
                _ => true,
            };
            if !defaults {
                x.checker(r)
                    .error(
                        "moor::service-connect",
                        &["service_connect"],
                        "Service Connect needs a namespace: neither the service nor its cluster names one",
                        "no namespace",
                    )
                    .help = Some("add `namespace: ${ns.arn}` (a servicediscovery/http_namespace), or `service_connect_defaults: { namespace: … }` to the cluster".into());
            }
        }
        let Some(Spec::EcsTaskDefinition(td)) = x.target(&self.task_definition).map(|t| &t.spec) else {
            return;
        };
        let td_name = ref_resource(&self.task_definition).unwrap_or("").to_string();
        if td.network_mode == NetworkMode::Host {
            x.checker(r)
                .error(
                    "moor::service-connect",
                    &["service_connect"],
                    format!("Service Connect works with the awsvpc and bridge network modes; task definition `{td_name}` uses another"),
                    "unsupported network mode",
                )
                .help = Some("use `network_mode: awsvpc` (Fargate's) or `bridge`".into());
        }
        let mappings: Vec<&PortMapping> = td.containers.iter().flat_map(|c| c.port_mappings.iter()).collect();
        let names: Vec<&str> = mappings.iter().filter_map(|m| m.name.as_deref()).collect();
        for (i, svc) in sc.services.iter().enumerate() {
            let idx = i.to_string();
            match mappings.iter().find(|m| m.name.as_deref() == Some(svc.port_name.as_str())) {
                None => {
                    let help = if names.is_empty() {
                        format!("name a port mapping of task definition `{td_name}`: `port_mappings: [{{ container_port: 8080, name: {} }}]`", svc.port_name)
                    } else {
                        crate::diag::did_you_mean(&svc.port_name, &names, "port name")
                    };
                    x.checker(r)
                        .error(
                            "moor::service-connect-port",
                            &["service_connect", "services", &idx, "port_name"],
                            format!("task definition `{td_name}` has no port mapping named `{}`", svc.port_name),
                            "unknown port name",
                        )
                        .help = Some(help);
                }
                Some(m) => {
                    let per_request = svc.timeout.as_ref().and_then(|t| t.per_request_seconds).is_some();
                    if per_request && m.app_protocol.is_none() {
                        x.checker(r)
                            .error(
                                "moor::service-connect",
                                &["service_connect", "services", &idx, "timeout", "per_request_seconds"],
                                format!("port `{}` has no `app_protocol`, so Service Connect treats it as TCP, which has no per-request timeout", svc.port_name),
                                "TCP port",
                            )
                            .help = Some(format!("set `app_protocol: http` (or http2, grpc) on port mapping `{}`, or keep only `idle_seconds`", svc.port_name));
                    }
                }
            }
        }
    }

    /// Each target group of the stack it sends traffic to is attached to a
    /// load balancer by something (a listener that forwards to it).
    fn check_attached(&self, r: &Resource, x: &mut Cross<'_>) {
        for (i, lb) in self.load_balancers.iter().enumerate() {
            let Some(tg) = ref_resource(&lb.target_group) else {
                continue;
            };
            let attached = x.stack.resources.iter().any(|o| o.spec.as_dyn().attaches().contains(&tg));
            if x.stack.resource(tg).is_some_and(|t| t.kind() == Kind::Elbv2TargetGroup) && !attached {
                x.checker(r)
                    .error("moor::target-group-unattached", &["load_balancers", &i.to_string(), "target_group"], format!("no listener forwards to target group `{tg}`"), "not attached to a load balancer")
                    .help = Some(format!("ECS refuses a target group without a load balancer; add an {} with `default_action: {{ forward: \"${{{tg}.arn}}\" }}`", Kind::Elbv2Listener));
            }
        }
    }
}
