//! `logs/log_group`.

use crate::kinds::{Attr, KindSpec, Naming};
use crate::model::check::{Checker, NameRule};
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A CloudWatch Logs log group, for the `awslogs` driver of a task
/// definition (`logs: { group: ${logs.name} }`).
///
/// `moor import` takes the log group's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogGroup {
    /// Log group name: 1–512 letters, digits and `.-_/#`. Defaults to
    /// `/ecs/<stack>/<logical name>`. Changing it replaces the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Days to keep events: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365,
    /// 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653. Unset:
    /// events never expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// ARN of the KMS key that encrypts the events
    /// (`arn:aws:kms:<region>:<account>:key/<id>`); changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// Keep the group (and its events) when the stack is destroyed or the
    /// resource is removed from the file: moor forgets it instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// The allowed retention periods nearest to `days`: the one below and the
/// one above (one of them at either end).
pub fn nearest_retention(days: u32) -> Vec<u32> {
    let below = RETENTION_DAYS.iter().rev().find(|d| **d < days).copied();
    let above = RETENTION_DAYS.iter().find(|d| **d > days).copied();
    below.into_iter().chain(above).collect()
}

pub const NAME: NameRule = NameRule {
    what: "log group name",
    max: 512,
    charset: |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
    charset_text: "letters, digits, `.`, `_`, `-`, `/` and `#`",
    extra: None,
};

/// Whether `key` is a KMS key ARN (`arn:<partition>:kms:<region>:<account>:key/<id>`),
/// the only form CloudWatch Logs accepts.
pub fn is_kms_key_arn(key: &str) -> bool {
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "kms"
        && !parts[3].is_empty()
        && !parts[4].is_empty()
        && parts[5].strip_prefix("key/").is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

impl KindSpec for LogGroup {
    /// What it receives and keeps.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        Some(crate::cost::Billing::LogGroup { retention_days: self.retention_days })
    }

    const KIND: &'static str = "logs/log_group";
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("name", "log group name, for a task definition's `logs: { group: … }`"),
        Attr::string(
            "arn",
            "log group ARN, without the `:*` that DescribeLogGroups appends (add it for IAM policies on its streams)",
        ),
    ];
    const NAMING: Option<Naming> = Some(Naming { max: 512, separator: '/', lowercase: false, no_underscore: false });
    const REPLACE_ON: &'static [&'static str] = &["name"];
    // After the services and task definitions that log to it.
    const DELETE_RANK: u8 = 2;

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `/ecs/<stack>/<logical>`: the `/ecs/` prefix the ECS console gives
    /// its task definitions' groups, and one prefix per stack, so an IAM
    /// policy can name all of a stack's groups (`log-group:/ecs/<stack>/*`).
    fn default_name(&self, stack: &str, logical: &str) -> Option<String> {
        Some(crate::model::truncate_name(&format!("/ecs/{stack}/{logical}"), 512))
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn retain(&self) -> bool {
        self.retain
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(name) = &self.name {
            NAME.check(c, &["name"], name);
        }
        if let Some(days) = self.retention_days {
            if !RETENTION_DAYS.contains(&days) {
                let near: Vec<String> = nearest_retention(days).iter().map(u32::to_string).collect();
                c.error(
                    "moor::logs-retention",
                    &["retention_days"],
                    format!("CloudWatch Logs cannot keep events for {days} days"),
                    format!("nearest allowed: {}", near.join(" or ")),
                )
                .help = Some(format!(
                    "use one of {}, or leave it out to keep events forever",
                    RETENTION_DAYS.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if let Some(key) = &self.kms_key {
            if !key.contains("${") && !is_kms_key_arn(key) {
                c.error(
                    "moor::logs-kms",
                    &["kms_key"],
                    format!("`{}` is not a KMS key ARN", crate::text::abbreviate(key)),
                    "not a key ARN",
                )
                .help = Some(
                    "CloudWatch Logs takes only a key ARN, `arn:aws:kms:<region>:<account>:key/<key id>`, not an alias or a bare key id".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_retentions_are_below_and_above() {
        assert_eq!(nearest_retention(10), [7, 14]);
        assert_eq!(nearest_retention(366), [365, 400]);
        assert_eq!(nearest_retention(0), [1]);
        assert_eq!(nearest_retention(4000), [3653]);
        assert_eq!(nearest_retention(2), [1, 3]);
    }

    #[test]
    fn only_key_arns_are_kms_keys() {
        assert!(is_kms_key_arn("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(is_kms_key_arn("arn:aws-cn:kms:cn-north-1:123456789012:key/k"));
        for bad in [
            "alias/logs",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:123456789012:alias/logs",
            "arn:aws:kms:us-east-1:123456789012:key/",
            "arn:aws:s3:us-east-1:123456789012:key/k",
            "arn:aws:kms::123456789012:key/k",
        ] {
            assert!(!is_kms_key_arn(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_name_is_under_the_stacks_ecs_prefix() {
        let g = LogGroup { name: None, retention_days: None, kms_key: None, retain: false, tags: Tags::new() };
        assert_eq!(KindSpec::default_name(&g, "flask-demo", "logs").as_deref(), Some("/ecs/flask-demo/logs"));
    }
}
