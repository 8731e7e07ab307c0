//! `ecs/existing_cluster`: a lookup.

use super::*;
use crate::kinds::{Attr, KindSpec};

/// An ECS cluster that exists already, found by its name; read but never
/// changed. Services name it as `${c.arn}` or `${c.name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingCluster {
    /// Cluster name (not ARN).
    pub name: String,
}

impl KindSpec for ExistingCluster {
    const KIND: &'static str = "ecs/existing_cluster";
    const LOOKUP: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[Attr::string("arn", "cluster ARN"), Attr::string("name", "cluster name")];
    const DELETE_RANK: u8 = 6;

    fn given_name(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn validate(&self, c: &mut Checker) {
        CLUSTER_NAME.check(c, &["name"], &self.name);
    }
}
