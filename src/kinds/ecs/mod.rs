//! `ecs/cluster`, `ecs/existing_cluster`, `ecs/task_definition` and `ecs/service`.

mod cluster;
mod existing_cluster;
mod service;
mod task_definition;

pub use cluster::*;
pub use existing_cluster::*;
pub use service::*;
pub use task_definition::*;

use crate::model::check::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// `FARGATE`, `FARGATE_SPOT` or a capacity provider name.
    pub provider: String,
    /// Relative share of tasks, 0–1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Tasks placed on this provider first, 0–100000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LaunchType {
    #[default]
    Fargate,
    Ec2,
}

fn check_strategy(c: &mut Checker, field: &str, i: usize, s: &Strategy) {
    let idx = i.to_string();
    if let Some(w) = s.weight {
        c.range(&[field, &idx, "weight"], "weight", w.into(), 0, 1000);
    }
    if let Some(b) = s.base {
        c.range(&[field, &idx, "base"], "base", b.into(), 0, 100_000);
    }
}
