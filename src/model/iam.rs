//! `iam/role`, `iam/policy` and the `iam/existing_role` lookup.

use super::check::{check_iam_path, iam_char, Checker, NameRule};
use super::common::{PolicyDocument, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An IAM role.
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
    /// IAM user or role ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    /// Require `sts:ExternalId` to equal this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Require the caller to have signed in with MFA (for people).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
}

/// A customer managed IAM policy.
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

/// A role that exists already, read but never changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingRole {
    /// Role name (not ARN).
    pub name: String,
}

pub const ROLE_NAME: NameRule = NameRule {
    what: "IAM role name",
    max: 64,
    charset: iam_char,
    charset_text: "letters, digits and `+=,.@_-`",
    extra: None,
};

pub const POLICY_NAME: NameRule = NameRule {
    what: "IAM policy name",
    max: 128,
    charset: iam_char,
    charset_text: "letters, digits and `+=,.@_-`",
    extra: None,
};

pub fn check_document(c: &mut Checker, path: &[&str], doc: &PolicyDocument, resource_policy: bool) {
    if doc.statements.is_empty() {
        let mut p = path.to_vec();
        p.push("statements");
        c.error("moor::policy-empty", &p, "policy document has no statements", "no statements").help =
            Some("add a statement such as `- { actions: [ecr:BatchGetImage], resources: [\"*\"] }`".into());
    }
    if let Some(v) = &doc.version {
        if v != "2012-10-17" && v != "2008-10-17" {
            let mut p = path.to_vec();
            p.push("version");
            c.error("moor::policy-version", &p, format!("unknown policy version `{v}`"), "use 2012-10-17");
        }
    }
    for (i, s) in doc.statements.iter().enumerate() {
        let idx = i.to_string();
        let mut p = path.to_vec();
        p.extend(["statements", idx.as_str()]);
        if s.actions.is_empty() && s.not_actions.is_empty() {
            c.error("moor::policy-statement", &p, "statement has no `actions`", "no actions");
        }
        for (j, a) in s.actions.iter().enumerate() {
            if a != "*" && !a.contains(':') && !a.contains("${") {
                let j = j.to_string();
                let mut ap = p.clone();
                ap.extend(["actions", j.as_str()]);
                c.error(
                    "moor::policy-action",
                    &ap,
                    format!("action `{a}` has no service prefix"),
                    "expected `service:Action`",
                )
                .help = Some("for example `ecr:BatchGetImage` or `logs:*`".into());
            }
        }
        if resource_policy {
            if s.principals.is_none() {
                c.error(
                    "moor::policy-principal",
                    &p,
                    "a statement of a resource policy needs `principals`",
                    "no principals",
                );
            }
        } else {
            if s.resources.is_empty() {
                c.error(
                    "moor::policy-resource",
                    &p,
                    "statement has no `resources`",
                    "use `resources: [\"*\"]` for all",
                )
                .help = Some("identity policies name the resources they allow; `*` means all".into());
            }
            if s.principals.is_some() {
                let mut pp = p.clone();
                pp.push("principals");
                c.error(
                    "moor::policy-principal",
                    &pp,
                    "an identity policy cannot name principals",
                    "only in resource policies",
                );
            }
        }
    }
}

impl Role {
    pub fn validate(&self, c: &mut Checker) {
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
            {
                c.error(
                    "moor::role-trust",
                    &["assumed_by", "principals", &i.to_string()],
                    format!("`{p}` is not an IAM user or role ARN"),
                    "expected arn:aws:iam::<account>:user/<name> or :role/<name>",
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

impl Policy {
    pub fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            POLICY_NAME.check(c, &["name"], n);
        }
        if let Some(p) = &self.path {
            check_iam_path(c, &["path"], p);
        }
        check_document(c, &["document"], &self.document, false);
    }
}

impl ExistingRole {
    pub fn validate(&self, c: &mut Checker) {
        ROLE_NAME.check(c, &["name"], &self.name);
    }
}
