//! `ecs/service`.

use super::*;
use crate::kinds::{Attr, KindSpec, Naming};
use crate::model::check::{alnum_hyphen_underscore, Checker, NameRule};
use crate::model::common::{StrList, Tags};
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

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn waits_until_settled(&self) -> bool {
        self.wait.as_ref().and_then(|w| w.stable).unwrap_or(true)
    }

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.cluster)
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
