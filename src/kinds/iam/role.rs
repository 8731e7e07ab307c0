//! `iam/role`.

use super::*;
use crate::kinds::{path, Attr, Kind, KindSpec, Naming, RefRule};
use crate::model::check::{check_iam_path, iam_char, Checker, NameRule};
use crate::model::common::{PolicyDocument, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An IAM role.
///
/// `moor import` takes the role's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role name; defaults to `<stack>-<logical name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// IAM path, `/` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who may assume the role.
    pub assumed_by: Trust,
    /// Managed policy ARNs to attach: AWS managed ones or `${policy.arn}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Inline policies, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, PolicyDocument>,
    /// Maximum session length in seconds, 3600–43200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_duration: Option<u32>,
    /// ARN of a managed policy used as the permissions boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions_boundary: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// The principals in a role's trust policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    /// Service principals, such as `ecs-tasks.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// AWS account ids (12 digits) whose principals may assume the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// IAM user or role ARNs, or STS role session ARNs
    /// (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Require `sts:ExternalId` to equal this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Require the caller to have signed in with MFA (for people).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
    /// More conditions on every principal, in the form of a policy
    /// statement's: operator → key → value(s), e.g. the confused-deputy
    /// guard of a service principal:
    /// `{ StringEquals: { aws:SourceAccount: "123456789012" }, ArnLike:
    /// { aws:SourceArn: "arn:aws:ecs:eu-west-1:123456789012:*" } }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, BTreeMap<String, crate::model::common::OneOrMany>>,
}

pub const ROLE_NAME: NameRule = NameRule {
    what: "IAM role name",
    max: 64,
    charset: iam_char,
    charset_text: "letters, digits and `+=,.@_-`",
    extra: None,
};

impl KindSpec for Role {
    const KIND: &'static str = "iam/role";
    const ATTRIBUTES: &'static [Attr] = super::ROLE_ATTRIBUTES;
    const NAMING: Option<Naming> = Some(Naming { max: 64, ..Naming::NAMED });
    const REPLACE_ON: &'static [&'static str] = &["name", "path"];
    const DELETE_RANK: u8 = 3;
    /// The statements of its inline policies, in the order the file gives them.
    const ORDERED_LISTS: &'static [&'static str] = &["statements"];

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        let policies = self.policies.iter().enumerate();
        policies
            .map(|(i, p)| RefRule::Kind {
                path: path(&["policies", &i.to_string()]),
                value: p,
                kinds: &[Kind::IamPolicy],
                what: "a managed policy ARN",
            })
            .collect()
    }

    fn users_need(&self) -> Vec<&str> {
        self.policies.iter().filter_map(|p| crate::model::common::ref_resource(p)).collect()
    }

    fn users_need_why(&self, user: &str, role: &str, policy: &str) -> String {
        format!("`{user}` uses role `{role}`, which needs policy `{policy}` attached")
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            ROLE_NAME.check(c, &["name"], n);
        }
        if let Some(p) = &self.path {
            check_iam_path(c, &["path"], p);
        }
        let t = &self.assumed_by;
        if t.services.is_empty() && t.accounts.is_empty() && t.principals.is_empty() {
            c.error("moor::role-trust", &["assumed_by"], "nobody may assume this role", "empty trust").help =
                Some("set `services` (such as ecs-tasks.amazonaws.com), `accounts` or `principals`".into());
        }
        for (i, a) in t.accounts.iter().enumerate() {
            let account_id = a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
            if !a.contains("${") && !account_id {
                c.error(
                    "moor::role-trust",
                    &["assumed_by", "accounts", &i.to_string()],
                    format!("`{a}` is not an AWS account id"),
                    "expected 12 digits",
                )
                .help = Some(
                    "an account id is 12 digits, such as \"123456789012\" (quote it to keep leading zeros)".into(),
                );
            }
        }
        for (i, p) in t.principals.iter().enumerate() {
            if !p.contains("${")
                && !(p.starts_with("arn:") && (p.contains(":user/") || p.contains(":role/") || p.contains(":root")))
                && !assumed_role_session(p)
            {
                c.error(
                    "moor::role-trust",
                    &["assumed_by", "principals", &i.to_string()],
                    format!("`{p}` is not an IAM user or role ARN, nor an STS role session ARN"),
                    "expected arn:aws:iam::<account>:user/<name>, :role/<name> or arn:aws:sts::<account>:assumed-role/<role>/<session>",
                );
            }
        }
        for (i, s) in t.services.iter().enumerate() {
            if !s.contains("${") && !s.ends_with(".amazonaws.com") {
                c.error(
                    "moor::role-trust",
                    &["assumed_by", "services", &i.to_string()],
                    format!("`{s}` is not a service principal"),
                    "expected a name like ecs-tasks.amazonaws.com",
                );
            }
        }
        check_conditions(c, &["assumed_by", "conditions"], &t.conditions);
        for (op, keys) in &t.conditions {
            for key in keys.keys() {
                let external = op == "StringEquals" && key.eq_ignore_ascii_case("sts:ExternalId");
                let mfa = op == "Bool" && key.eq_ignore_ascii_case("aws:MultiFactorAuthPresent");
                if external || mfa {
                    let field = if external { "external_id" } else { "require_mfa" };
                    c.error(
                        "moor::role-trust",
                        &["assumed_by", "conditions", op, key],
                        format!("`{key}` is what `assumed_by.{field}` says"),
                        format!("use `{field}`"),
                    );
                }
            }
        }
        if let Some(d) = self.max_session_duration {
            c.range(&["max_session_duration"], "max_session_duration", d.into(), 3600, 43200);
        }
        if self.policies.len() > 20 {
            c.error(
                "moor::role-policies",
                &["policies"],
                format!("{} managed policies attached", self.policies.len()),
                "AWS allows at most 20 per role",
            );
        }
        for (name, doc) in &self.inline_policies {
            POLICY_NAME.check(c, &["inline_policies", name], name);
            check_document(c, &["inline_policies", name], doc, false);
        }
    }
}

/// An STS role session ARN, which a trust policy may name as a principal:
/// `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`, the role
/// name without its path and a session name of 2–64 of `\w+=,.@-`.
pub fn assumed_role_session(p: &str) -> bool {
    let parts: Vec<&str> = p.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts[..] else { return false };
    let Some(rest) = resource.strip_prefix("assumed-role/") else { return false };
    let Some((role, session)) = rest.split_once('/') else { return false };
    let role_ok = !role.is_empty()
        && role.len() <= 64
        && role.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    let session_ok = (2..=64).contains(&session.len())
        && session.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    arn == "arn"
        && !partition.is_empty()
        && service == "sts"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && role_ok
        && session_ok
}

#[cfg(test)]
mod tests {
    fn trust_errors(principal: &str) -> usize {
        let text = format!(
            "stack: s\nresources:\n  r:\n    kind: iam/role\n    assumed_by:\n      principals: [\"{principal}\"]\n"
        );
        let l = crate::load::load_str("t.yaml", &text, &Default::default());
        l.diags.iter().filter(|d| d.code == "moor::role-trust").count()
    }

    #[test]
    fn trust_principals_take_sts_role_session_arns() {
        for ok in [
            "arn:aws:sts::123456789012:assumed-role/deployer/ci-run-42",
            "arn:aws-cn:sts::123456789012:assumed-role/Admin_Role/jane@example.com",
            "arn:aws:iam::123456789012:role/deployer",
            "arn:aws:iam::123456789012:user/jane",
            "arn:aws:iam::123456789012:root",
        ] {
            assert_eq!(trust_errors(ok), 0, "{ok} is a principal");
        }
        for bad in [
            "arn:aws:sts::123456789012:assumed-role/deployer",
            "arn:aws:sts::123456789012:assumed-role/deployer/x",
            "arn:aws:sts::123456789012:assumed-role/deployer/a/b",
            "arn:aws:sts:us-east-1:123456789012:assumed-role/deployer/run",
            "arn:aws:sts::12345:assumed-role/deployer/run",
            "arn:aws:sts::123456789012:federated/run",
            "deployer",
        ] {
            assert_eq!(trust_errors(bad), 1, "{bad} is not a principal");
        }
    }
}
