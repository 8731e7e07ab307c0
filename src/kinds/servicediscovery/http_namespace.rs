//! `servicediscovery/http_namespace`.

use crate::kinds::{Attr, KindSpec, Naming};
use crate::model::check::{Checker, NameRule};
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Cloud Map HTTP namespace: where ECS Service Connect registers the
/// services of a stack, so they call each other by name
/// (`service_connect: { namespace: ${ns.arn} }` on a service, or
/// `service_connect_defaults` on a cluster).
///
/// `moor import` takes the namespace's id (`ns-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpNamespace {
    /// Namespace name: 1–1024 printable characters without spaces, unique
    /// in the account and region. Defaults to `<stack>-<logical name>`.
    /// Changing it replaces the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Up to 1024 characters; changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

pub const NAME: NameRule = NameRule {
    what: "namespace name",
    max: 1024,
    charset: |c| c.is_ascii_graphic(),
    charset_text: "printable ASCII characters other than spaces",
    extra: None,
};

/// The longest description Cloud Map keeps.
pub const DESCRIPTION_MAX: usize = 1024;

impl KindSpec for HttpNamespace {
    const KIND: &'static str = "servicediscovery/http_namespace";
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "namespace id (`ns-…`)"),
        Attr::string("arn", "namespace ARN, for a service's `service_connect: { namespace: … }`"),
        Attr::string("name", "namespace name"),
    ];
    const NAMING: Option<Naming> = Some(Naming { max: 1024, separator: '-', lowercase: false, no_underscore: false });
    const ID_IS_UNIQUE: bool = true;
    const REPLACE_ON: &'static [&'static str] = &["name"];
    // After the services registered in it and the clusters that default to it.
    const DELETE_RANK: u8 = 3;
    const IN_USE_BLOCKS_DELETE: bool = true;

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(name) = &self.name {
            NAME.check(c, &["name"], name);
        }
        if let Some(d) = &self.description {
            let len = d.chars().count();
            if len > DESCRIPTION_MAX && !d.contains("${") {
                c.error(
                    "moor::servicediscovery-description",
                    &["description"],
                    format!("the description is {len} characters long"),
                    format!("at most {DESCRIPTION_MAX} characters"),
                )
                .help = Some(format!("Cloud Map keeps descriptions of up to {DESCRIPTION_MAX} characters"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_the_stacks_and_the_resources() {
        let n = HttpNamespace { name: None, description: None, tags: Tags::new() };
        assert_eq!(KindSpec::default_name(&n, "shop", "ns").as_deref(), Some("shop-ns"));
    }
}
