//! Value types shared by several resource kinds.

use crate::yaml::LIST_SLOT;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// A list of strings, or one `${resource.attribute}` reference to a list
/// attribute (such as `${net.subnet_ids}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StrList {
    Items(Vec<String>),
    Ref(String),
}

impl Default for StrList {
    fn default() -> Self {
        StrList::Items(Vec::new())
    }
}

impl StrList {
    /// The literal items, when the list is written out.
    pub fn items(&self) -> Option<&[String]> {
        match self {
            StrList::Items(v) => Some(v),
            StrList::Ref(_) => None,
        }
    }

    /// Every string in the list, and the reference when there is one.
    pub fn strings(&self) -> Vec<&str> {
        match self {
            StrList::Items(v) => v.iter().map(String::as_str).collect(),
            StrList::Ref(r) => vec![r.as_str()],
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, StrList::Items(v) if v.is_empty())
    }
}

impl<'de> Deserialize<'de> for StrList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Outer;
        impl<'de> serde::de::Visitor<'de> for Outer {
            type Value = StrList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of strings or a `${resource.attribute}` list reference")
            }
            fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, d: D) -> Result<StrList, D::Error> {
                d.deserialize_any(Inner)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StrList, E> {
                Inner.visit_str(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, a: A) -> Result<StrList, A::Error> {
                Inner.visit_seq(a)
            }
        }
        struct Inner;
        impl<'de> serde::de::Visitor<'de> for Inner {
            type Value = StrList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of strings or a `${resource.attribute}` list reference")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StrList, E> {
                Ok(StrList::Ref(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<StrList, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = a.next_element::<String>()? {
                    v.push(s);
                }
                Ok(StrList::Items(v))
            }
        }
        d.deserialize_newtype_struct(LIST_SLOT, Outer)
    }
}

impl JsonSchema for StrList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StrList".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A list of strings, or a `${resource.attribute}` reference to a list attribute.",
            "anyOf": [
                { "type": "array", "items": { "type": "string" } },
                { "type": "string", "pattern": "^\\$\\{[^}]+\\}$" }
            ]
        })
    }
}

/// One string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// An IAM policy document, written in moor's lower-case form; it becomes the
/// standard JSON document (`Version`, `Statement`, …) when applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Policy language version; `2012-10-17` when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `allow` (the default) or `deny`.
    #[serde(default)]
    pub effect: Effect,
    /// Actions such as `ecr:BatchGetImage`; wildcards allowed.
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_actions: Vec<String>,
    /// Resource ARNs; `*` for all. Not used in resource policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Who the statement is about, in resource policies (ECR repository policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principals: Option<Principals>,
    /// Conditions: operator → key → value(s), as in IAM JSON.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, BTreeMap<String, OneOrMany>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Principals {
    /// AWS account ids, or IAM user / role ARNs; `*` for anyone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws: Vec<String>,
    /// Service principals such as `ecs-tasks.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

/// A CPU or memory size: a number (CPU units, MiB) or an AWS string such as
/// `"0.5 vCPU"` or `"2 GB"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Size {
    Number(u32),
    Text(String),
}

impl Size {
    /// CPU units (1 vCPU = 1024).
    pub fn cpu_units(&self) -> Option<u32> {
        match self {
            Size::Number(n) => Some(*n),
            Size::Text(t) => {
                let t = t.trim();
                if let Ok(n) = t.parse::<u32>() {
                    return Some(n);
                }
                let lower = t.to_ascii_lowercase();
                let num = lower.strip_suffix("vcpu")?.trim();
                let v: f64 = num.parse().ok()?;
                Some((v * 1024.0).round() as u32)
            }
        }
    }

    /// Memory in MiB (1 GB = 1024).
    pub fn memory_mib(&self) -> Option<u32> {
        match self {
            Size::Number(n) => Some(*n),
            Size::Text(t) => {
                let t = t.trim();
                if let Ok(n) = t.parse::<u32>() {
                    return Some(n);
                }
                let lower = t.to_ascii_lowercase();
                if let Some(num) = lower.strip_suffix("gb") {
                    let v: f64 = num.trim().parse().ok()?;
                    return Some((v * 1024.0).round() as u32);
                }
                let num = lower.strip_suffix("mb").or_else(|| lower.strip_suffix("mib"))?;
                num.trim().parse().ok()
            }
        }
    }
}

/// The logical resource a whole-value reference (`${res.attr}`) names.
pub fn ref_resource(s: &str) -> Option<&str> {
    ref_parts(s).map(|(r, _)| r)
}

/// Resource and attribute of a whole-value reference (`${res.attr}`, also
/// with an index or slice: `${res.attr[0]}`).
pub fn ref_parts(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?.trim();
    let (res, attr) = inner.split_once('.')?;
    let attr = attr.split_once('[').map_or(attr, |(a, _)| a.trim_end());
    (res != "var" && res != "git" && !s.starts_with("$${")).then_some((res, attr))
}

/// Every logical resource named by `${res.attr}` anywhere in `s`.
pub fn refs_in(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else { break };
        if let Some((res, _)) = after[..end].trim().split_once('.') {
            if res != "var" && res != "git" && !(i > 0 && rest.as_bytes()[i - 1] == b'$') {
                out.push(res);
            }
        }
        rest = &after[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_aws_strings() {
        assert_eq!(Size::Text("0.25 vCPU".into()).cpu_units(), Some(256));
        assert_eq!(Size::Text("1 vcpu".into()).cpu_units(), Some(1024));
        assert_eq!(Size::Text("2 GB".into()).memory_mib(), Some(2048));
        assert_eq!(Size::Text("512".into()).memory_mib(), Some(512));
        assert_eq!(Size::Number(512).memory_mib(), Some(512));
    }

    #[test]
    fn refs_are_found() {
        assert_eq!(ref_resource("${td.arn}"), Some("td"));
        assert_eq!(ref_resource("${var.x}"), None);
        assert_eq!(refs_in("${repo.uri}:${var.tag} $${x.y}"), vec!["repo"]);
    }
}
