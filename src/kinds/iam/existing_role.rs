//! `iam/existing_role`: a lookup.

use super::*;
use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A role that exists already, read but never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingRole {
    /// Role name (not ARN).
    pub name: String,
}

impl KindSpec for ExistingRole {
    const KIND: &'static str = "iam/existing_role";
    const LOOKUP: bool = true;
    const ATTRIBUTES: &'static [Attr] = super::ROLE_ATTRIBUTES;
    const DELETE_RANK: u8 = 6;

    fn given_name(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn validate(&self, c: &mut Checker) {
        ROLE_NAME.check(c, &["name"], &self.name);
    }
}
