//! `iam/role`, `iam/policy` and the `iam/existing_role` lookup.

mod existing_role;
mod policy;
mod role;

pub use existing_role::*;
pub use policy::*;
pub use role::*;

use crate::model::check::Checker;
use crate::model::common::PolicyDocument;

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

/// IAM's condition operators (IAM User Guide, "IAM JSON policy elements:
/// Condition operators"), each also with `IfExists`, and the set operators
/// `ForAllValues:`/`ForAnyValue:` before them.
pub const CONDITION_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
];

/// Conditions IAM takes: a known operator, keys with a service prefix
/// (`aws:SourceAccount`), at least one value each.
pub fn check_conditions(
    c: &mut Checker,
    path: &[&str],
    conditions: &std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, crate::model::common::OneOrMany>,
    >,
) {
    for (op, keys) in conditions {
        let bare = op.strip_prefix("ForAllValues:").or_else(|| op.strip_prefix("ForAnyValue:")).unwrap_or(op);
        let bare = bare.strip_suffix("IfExists").unwrap_or(bare);
        let mut at = path.to_vec();
        at.push(op);
        if !CONDITION_OPERATORS.contains(&bare) {
            c.error(
                "moor::policy-condition",
                &at,
                format!("`{op}` is not an IAM condition operator"),
                "unknown operator",
            )
            .help = Some(crate::diag::did_you_mean(bare, CONDITION_OPERATORS, "operator"));
        }
        if keys.is_empty() {
            c.error("moor::policy-condition", &at, format!("condition `{op}` has no keys"), "no keys");
        }
        for (key, values) in keys {
            let mut kat = at.clone();
            kat.push(key);
            if !key.contains(':') && !key.contains("${") {
                c.error(
                    "moor::policy-condition",
                    &kat,
                    format!("condition key `{key}` has no service prefix"),
                    "expected a key like aws:SourceAccount",
                );
            }
            if values.to_vec().is_empty() {
                c.error("moor::policy-condition", &kat, format!("condition key `{key}` has no values"), "no values");
            }
        }
    }
}

/// What a role exports, made or looked up.
pub(crate) const ROLE_ATTRIBUTES: &[crate::kinds::Attr] = &[
    crate::kinds::Attr::string("name", "role name"),
    crate::kinds::Attr::string("arn", "role ARN"),
    crate::kinds::Attr::string("id", "unique role id"),
];
