//! `elbv2/load_balancer`, `elbv2/target_group`, `elbv2/listener` and
//! `elbv2/listener_rule`
//! (application load balancers).

mod listener;
mod listener_rule;
mod load_balancer;
mod target_group;

pub use listener::*;
pub use listener_rule::*;
pub use load_balancer::*;
pub use target_group::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum HttpProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

fn elb_name_shape(n: &str) -> Option<&'static str> {
    if n.starts_with('-') || n.ends_with('-') {
        Some("may not start or end with a hyphen")
    } else if n.starts_with("internal-") {
        Some("may not start with `internal-`")
    } else {
        None
    }
}

/// Load balancer and target group names: 32 characters, no `_`.
pub(crate) const ELB_NAMING: crate::kinds::Naming =
    crate::kinds::Naming { max: 32, separator: '-', lowercase: false, no_underscore: true };
