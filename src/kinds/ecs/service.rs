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
