//! `ecs/cluster`.

use super::*;
use crate::kinds::{path, Attr, Kind, KindSpec, Naming, RefRule};
use crate::model::check::{alnum_hyphen_underscore, Checker, NameRule};
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ECS cluster.
///
/// `moor import` takes the cluster's name or ARN.
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
    /// The Service Connect namespace of services that set no
    /// `service_connect` namespace: `${ns.arn}` or a namespace ARN.
    /// Changed in place; removing it leaves services as they are. A cluster
    /// that holds the same namespace by name (made by another tool) is no
    /// change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_defaults: Option<ConnectDefaults>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectDefaults {
    /// The namespace's ARN, `${ns.arn}` (a `servicediscovery/http_namespace`).
    pub namespace: String,
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

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        match &self.service_connect_defaults {
            Some(d) => vec![RefRule::Kind {
                path: path(&["service_connect_defaults", "namespace"]),
                value: &d.namespace,
                kinds: &[Kind::ServicediscoveryHttpNamespace],
                what: "a Cloud Map namespace",
            }],
            None => Vec::new(),
        }
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            CLUSTER_NAME.check(c, &["name"], n);
        }
        // Given a name ECS does not find, CreateCluster makes a namespace of
        // that name itself, which nothing would ever delete: only an ARN.
        if let Some(d) = &self.service_connect_defaults {
            let ns = d.namespace.as_str();
            let problem = if ns.contains("${") {
                None
            } else if ns.starts_with("arn:") {
                super::namespace_problem(ns)
            } else {
                Some(format!("`{ns}` is not a namespace ARN"))
            };
            if let Some(problem) = problem {
                c.error("moor::cluster-connect", &["service_connect_defaults", "namespace"], problem, "not a namespace ARN")
                    .help = Some("name the namespace by ARN, `${ns.arn}` (a servicediscovery/http_namespace): given a name it does not find, ECS makes a namespace that no one deletes".into());
            }
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
