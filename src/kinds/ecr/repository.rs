//! `ecr/repository`.

use crate::kinds::{Attr, Contents, KindSpec, Naming};
use crate::model::check::{Checker, NameRule};
use crate::model::common::{PolicyDocument, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An ECR image repository.
///
/// `moor import` takes the repository's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// Repository name, may be namespaced (`team/widget-server`); lower case.
    /// Defaults to `<stack>/<logical name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `mutable` (the AWS default) or `immutable`: whether a tag may be pushed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_mutability: Option<TagMutability>,
    /// Scan each image for vulnerabilities when it is pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_on_push: Option<bool>,
    /// `aes256` (the default), or `{ kms: <key ARN or alias> }`. Changing it replaces the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Which images ECR expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Who may pull (and push): a shorthand that becomes the repository policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_access: Option<PullAccess>,
    /// A full repository policy document; combined with `pull_access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyDocument>,
    /// Delete the images with the repository on destroy. Without it, destroy
    /// stops at a repository that still holds images.
    #[serde(default)]
    pub empty_on_delete: bool,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagMutability {
    Mutable,
    Immutable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encryption {
    Aes256,
    Kms(String),
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// Keep only the newest N images (tagged or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Expire untagged images this many days after they were pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_untagged_after_days: Option<u32>,
    /// Rules in ECR's own terms, for anything the shorthands do not cover.
    /// They keep their priorities; the shorthands come after them
    /// (`expire_untagged_after_days`, then `keep_last`), because ECR applies
    /// a rule for `any` images last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<LifecycleRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRule {
    /// Unique; lower numbers are applied first.
    pub priority: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tag_status: TagStatus,
    /// Required when `tag_status` is `tagged`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_prefixes: Vec<String>,
    /// Expire images beyond this count…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count_more_than: Option<u32>,
    /// …or older than this many days. Exactly one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_since_pushed: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullAccess {
    /// AWS account ids allowed to pull.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// IAM role or user ARNs allowed to pull.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Service principals allowed to pull (for example `codebuild.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

pub const NAME: NameRule = NameRule {
    what: "ECR repository name",
    max: 256,
    charset: |c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c),
    charset_text: "lower-case letters, digits, `.`, `_`, `-` and `/` between path parts",
    extra: Some(ecr_name_shape),
};

/// `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`, 2+ chars.
pub(crate) fn ecr_name_shape(name: &str) -> Option<&'static str> {
    if name.len() < 2 {
        return Some("is shorter than 2 characters");
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Some("has an empty path part (`//`, or `/` at either end)");
        }
        let b = part.as_bytes();
        let sep = |c: u8| matches!(c, b'.' | b'_' | b'-');
        if sep(b[0]) || sep(b[b.len() - 1]) {
            return Some("has a path part that starts or ends with `.`, `_` or `-`");
        }
        if b.windows(2).any(|w| sep(w[0]) && sep(w[1])) {
            return Some("has two separators in a row");
        }
    }
    None
}

impl KindSpec for Repository {
    /// The images it stores.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        Some(crate::cost::Billing::Registry)
    }

    const KIND: &'static str = "ecr/repository";
    const ATTRIBUTES: &'static [Attr] = super::REPOSITORY_ATTRIBUTES;
    const NAMING: Option<Naming> = Some(Naming { max: 256, separator: '/', lowercase: true, no_underscore: false });
    const REPLACE_ON: &'static [&'static str] = &["name", "encryption"];
    const DELETE_RANK: u8 = 5;
    /// The statements of its repository policy, in the order the file gives them.
    const ORDERED_LISTS: &'static [&'static str] = &["statements"];
    const CONTENTS: Option<Contents> = Some(Contents { one: "image", many: "images", empty_field: "empty_on_delete" });

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn deletes_contents(&self) -> bool {
        self.empty_on_delete
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(name) = &self.name {
            NAME.check(c, &["name"], name);
        }
        if let Some(Encryption::Kms(key)) = &self.encryption {
            if key.trim().is_empty() {
                c.error("moor::ecr-kms", &["encryption", "kms"], "KMS key is empty", "needs a key ARN, id or alias");
            }
        }
        if let Some(l) = &self.lifecycle {
            if l.keep_last == Some(0) {
                c.error(
                    "moor::out-of-range",
                    &["lifecycle", "keep_last"],
                    "keep_last must be at least 1",
                    "would expire every image",
                );
            }
            if l.expire_untagged_after_days == Some(0) {
                c.error(
                    "moor::out-of-range",
                    &["lifecycle", "expire_untagged_after_days"],
                    "expire_untagged_after_days must be at least 1",
                    "at least 1 day",
                );
            }
            let mut priorities = Vec::new();
            for (i, r) in l.rules.iter().enumerate() {
                let idx = i.to_string();
                if priorities.contains(&r.priority) {
                    c.error(
                        "moor::ecr-lifecycle",
                        &["lifecycle", "rules", &idx, "priority"],
                        format!("two lifecycle rules have priority {}", r.priority),
                        "duplicate priority",
                    );
                }
                priorities.push(r.priority);
                if r.tag_status == TagStatus::Any {
                    if l.keep_last.is_some() {
                        c.error(
                            "moor::ecr-lifecycle",
                            &["lifecycle", "rules", &idx, "tag_status"],
                            "a rule for `any` image cannot be combined with `keep_last`",
                            "second rule for any image",
                        )
                        .help = Some("`keep_last` is itself a rule for any image; keep one of the two".into());
                    }
                    if l.expire_untagged_after_days.is_some() {
                        c.error(
                            "moor::ecr-lifecycle",
                            &["lifecycle", "rules", &idx, "tag_status"],
                            "a rule for `any` image cannot be combined with `expire_untagged_after_days`",
                            "the shorthand would come after this rule",
                        )
                        .help = Some("ECR applies a rule for any image last; write the untagged rule as a raw rule with a lower priority".into());
                    }
                    if l.rules.iter().any(|o| o.priority > r.priority) {
                        c.error(
                            "moor::ecr-lifecycle",
                            &["lifecycle", "rules", &idx, "priority"],
                            "a rule for `any` image must have the highest priority number",
                            "not the last rule",
                        )
                        .help = Some("ECR evaluates a rule for any image last; give it the largest priority".into());
                    }
                }
                if r.count_more_than.is_some() == r.days_since_pushed.is_some() {
                    c.error(
                        "moor::ecr-lifecycle",
                        &["lifecycle", "rules", &idx],
                        "a lifecycle rule needs exactly one of `count_more_than` and `days_since_pushed`",
                        "this rule",
                    );
                }
                if r.tag_status == TagStatus::Tagged && r.tag_prefixes.is_empty() {
                    c.error(
                        "moor::ecr-lifecycle",
                        &["lifecycle", "rules", &idx, "tag_status"],
                        "a rule for tagged images needs `tag_prefixes`",
                        "tagged without prefixes",
                    );
                }
            }
        }
    }
}
