//! `ecs/cluster`.

use super::*;
use crate::kinds::{Attr, KindSpec, Naming};
use crate::model::check::{alnum_hyphen_underscore, Checker, NameRule};
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ECS cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Cluster name; defaults to `<stack>-<logical name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// CloudWatch Container Insights: `enabled`, `enhanced` or `disabled` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_insights: Option<ContainerInsights>,
    /// Capacity providers, such as `FARGATE` and `FARGATE_SPOT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_providers: Vec<String>,
    /// The default capacity provider strategy for services that set none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_strategy: Vec<Strategy>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainerInsights {
    Enabled,
    Enhanced,
    Disabled,
}

pub const CLUSTER_NAME: NameRule = NameRule {
    what: "cluster name",
    max: 255,
    charset: alnum_hyphen_underscore,
    charset_text: "letters, digits, hyphens and underscores",
    extra: None,
};

impl KindSpec for Cluster {
    const KIND: &'static str = "ecs/cluster";
    const ATTRIBUTES: &'static [Attr] = &[Attr::string("arn", "cluster ARN"), Attr::string("name", "cluster name")];
    const NAMING: Option<Naming> = Some(Naming::NAMED);
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const DELETE_RANK: u8 = 2;

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            CLUSTER_NAME.check(c, &["name"], n);
        }
        for (i, s) in self.default_strategy.iter().enumerate() {
            check_strategy(c, "default_strategy", i, s);
            if !self.capacity_providers.contains(&s.provider) {
                c.error(
                    "moor::ecs-strategy",
                    &["default_strategy", &i.to_string(), "provider"],
                    format!("`{}` is not in `capacity_providers`", s.provider),
                    "unknown provider",
                )
                .help = Some("list it under `capacity_providers` first".into());
            }
        }
    }
}
