//! The typed stack: what a stack file means once it is loaded and checked.
//!
//! Each resource kind is its own module under [`crate::kinds`], which also
//! holds the registry of kinds; this module holds the stack around them.

pub mod check;
pub mod common;

pub use crate::kinds::{Attr, AttrType, Kind, Naming, Spec};

use crate::diag::SourceFile;
use crate::yaml::Span;
use common::Tags;
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A resource of the stack.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Logical name: the key under `resources:`.
    pub name: String,
    pub spec: Spec,
    /// Physical name: given in the file or derived (see [`default_name`]).
    pub physical_name: Option<String>,
    pub depends_on: Vec<String>,
    /// Fields of the spec, or paths into them ([`crate::fieldpath`]), that
    /// are set at create and never compared afterwards (another tool owns
    /// them): `ignore_changes`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_changes: Vec<String>,
    #[serde(skip)]
    pub key_span: Span,
}

impl Resource {
    pub fn kind(&self) -> Kind {
        self.spec.kind()
    }
}

/// A variable's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarType {
    #[default]
    String,
    Integer,
    Boolean,
    List,
}

/// A variable's value once resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    String(String),
    Integer(i64),
    Boolean(bool),
    List(Vec<String>),
}

impl Value {
    /// The item (a string) or slice (a list) of a list value that `index`
    /// names; `Err` says why there is none (out of range, not a list).
    pub fn item(&self, index: crate::expr::Index) -> Result<Value, String> {
        let Value::List(items) = self else {
            return Err("not a list".into());
        };
        let r = index.range(items.len())?;
        Ok(match index {
            crate::expr::Index::At(_) => Value::String(items[r.start].clone()),
            crate::expr::Index::Slice(..) => Value::List(items[r].to_vec()),
        })
    }

    pub fn type_of(&self) -> VarType {
        match self {
            Value::String(_) => VarType::String,
            Value::Integer(_) => VarType::Integer,
            Value::Boolean(_) => VarType::Boolean,
            Value::List(_) => VarType::List,
        }
    }

    /// The value as text inside a string; lists have none.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            Value::Boolean(b) => Some(b.to_string()),
            Value::List(_) => None,
        }
    }
}

/// Where a variable's value came from, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum VarSource {
    Default,
    Environment(String),
    VarFile(String),
    Flag,
}

#[derive(Debug, Clone, Serialize)]
pub struct Variable {
    pub name: String,
    pub ty: VarType,
    pub description: Option<String>,
    pub value: Value,
    pub source: VarSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Output {
    pub name: String,
    pub value: String,
    pub description: Option<String>,
}

/// One `${resource.attribute}` in the file.
#[derive(Debug, Clone, Serialize)]
pub struct RefUse {
    /// The resource that holds the reference; `None` for outputs.
    pub from: Option<String>,
    pub resource: String,
    pub attribute: String,
    /// `[i]` or `[a:b]` after the attribute.
    #[serde(skip)]
    pub index: Option<crate::expr::Index>,
    #[serde(skip)]
    pub span: Span,
}

/// A loaded, checked stack.
#[derive(Debug, Clone, Serialize)]
pub struct Stack {
    pub name: String,
    pub region: Option<String>,
    pub description: Option<String>,
    pub tags: Tags,
    pub variables: Vec<Variable>,
    /// In file order.
    pub resources: Vec<Resource>,
    pub outputs: Vec<Output>,
    pub refs: Vec<RefUse>,
    /// Where the state record is (`state:`), when the file says.
    #[serde(skip)]
    pub state: Option<crate::backend::Location>,
    #[serde(skip)]
    pub file: Arc<SourceFile>,
    #[serde(skip)]
    pub depends_on_spans: BTreeMap<(String, String), Span>,
    /// Logical name → position in `resources`.
    #[serde(skip)]
    pub index: std::collections::HashMap<String, usize>,
}

impl Stack {
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.index.get(name).map(|i| &self.resources[*i])
    }

    /// Rebuilds the name index after `resources` changed.
    pub fn reindex(&mut self) {
        self.index = self.resources.iter().enumerate().map(|(i, r)| (r.name.clone(), i)).collect();
    }
}

/// The default physical name of a resource: `<stack><sep><logical>`, cut
/// to the kind's length limit with a hash suffix that keeps it unique.
pub fn default_name(stack: &str, logical: &str, naming: Naming) -> String {
    let mut name = format!("{stack}{}{logical}", naming.separator);
    if naming.lowercase {
        name = name.to_lowercase();
    }
    if naming.no_underscore {
        name = name.replace('_', "-");
    }
    truncate_name(&name, naming.max)
}

pub fn truncate_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let suffix: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let keep = max - suffix.len() - 1;
    let head: String = name.chars().take(keep).collect();
    let head = head.trim_end_matches(['-', '_', '.', '/']);
    format!("{head}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_respect_limits() {
        let n = Kind::Elbv2TargetGroup.naming().unwrap();
        assert_eq!(default_name("flask-demo", "web_tg", n), "flask-demo-web-tg");
        let long = default_name("a-very-long-stack-name-for-testing", "target_group_of_web", n);
        assert_eq!(long.len(), 32);
        assert_ne!(long, default_name("a-very-long-stack-name-for-testing", "target_group_of_api", n));
        let ecr = Kind::EcrRepository.naming().unwrap();
        assert_eq!(default_name("Flask-Demo", "repo", ecr), "flask-demo/repo");
    }
}
