//! `ecr/existing_repository`: a lookup.

use super::*;
use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ECR repository that exists already, read but never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingRepository {
    /// Repository name.
    pub name: String,
}

impl KindSpec for ExistingRepository {
    const KIND: &'static str = "ecr/existing_repository";
    const LOOKUP: bool = true;
    const ATTRIBUTES: &'static [Attr] = super::REPOSITORY_ATTRIBUTES;
    const DELETE_RANK: u8 = 6;

    fn given_name(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn validate(&self, c: &mut Checker) {
        NAME.check(c, &["name"], &self.name);
    }
}
