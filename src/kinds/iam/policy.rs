//! `iam/policy`.

use super::*;
use crate::kinds::{Attr, KindSpec, Naming};
use crate::model::check::{check_iam_path, iam_char, Checker, NameRule};
use crate::model::common::{PolicyDocument, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A customer managed IAM policy.
///
/// `moor import` takes the policy's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy name; defaults to `<stack>-<logical name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Set at creation; changing it replaces the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub document: PolicyDocument,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

pub const POLICY_NAME: NameRule = NameRule {
    what: "IAM policy name",
    max: 128,
    charset: iam_char,
    charset_text: "letters, digits and `+=,.@_-`",
    extra: None,
};

impl KindSpec for Policy {
    const KIND: &'static str = "iam/policy";
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("name", "policy name"),
        Attr::string("arn", "policy ARN"),
        Attr::string("default_version", "id of the policy's default version, like `v1`"),
    ];
    const NAMING: Option<Naming> = Some(Naming { max: 128, ..Naming::NAMED });
    const REPLACE_ON: &'static [&'static str] = &["name", "path", "description"];
    const DELETE_RANK: u8 = 4;
    /// The statements of its document, in the order the file gives them.
    const ORDERED_LISTS: &'static [&'static str] = &["statements"];

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            POLICY_NAME.check(c, &["name"], n);
        }
        if let Some(p) = &self.path {
            check_iam_path(c, &["path"], p);
        }
        check_document(c, &["document"], &self.document, false);
    }
}
