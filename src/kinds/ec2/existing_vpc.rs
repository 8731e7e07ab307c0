//! `ec2/existing_vpc`: a lookup.

use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An existing VPC, found by id or by its `Name` tag; read only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingVpc {
    /// VPC id (`vpc-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Value of the VPC's `Name` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only subnets with this tag (`key: value`) are returned in `subnet_ids`.
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub subnet_tags: Tags,
}

impl KindSpec for ExistingVpc {
    const KIND: &'static str = "ec2/existing_vpc";
    const LOOKUP: bool = true;
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = super::VPC_ATTRIBUTES;
    const DELETE_RANK: u8 = 6;

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref().or(self.id.as_deref())
    }

    fn validate(&self, c: &mut Checker) {
        if self.id.is_some() == self.name.is_some() {
            c.error(
                "moor::vpc-lookup",
                &[],
                "an existing VPC is found by `id` or by `name`",
                "set exactly one of them",
            );
        }
        if let Some(id) = &self.id {
            if !id.starts_with("vpc-") && !id.contains("${") {
                c.error("moor::vpc-lookup", &["id"], format!("`{id}` is not a VPC id"), "expected vpc-…");
            }
        }
    }
}
