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
    /// The cluster's ARN, `${cluster.arn}`.
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
    /// How apply waits for the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
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
            kinds: &[Kind::EcsCluster],
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

impl Service {
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
