//! Checks before any change: what can be known from reads is checked with
//! the plan, before the first write, so an apply never stops half way on
//! something foreseeable.
//!
//! The file alone is checked when it loads ([`crate::validate`] and each
//! kind's `validate`): a container's port against its task definition, its
//! memory against the task's, a role of the file that ECS tasks may not
//! assume, security groups of the file that keep the load balancer from the
//! tasks. What needs AWS is checked here, by each kind's
//! [`crate::kinds::KindSpec::live_check`], with what the plan read and the
//! few literal ids the file names ([`crate::kinds::KindSpec::live_reads`]:
//! a role given by its ARN, a security group given by its id), read while
//! the plan's own reads run, so the checks cost no round trip of their own.
//! A name moor would create that someone else's object holds is a problem
//! of the plan itself ([`crate::plan`]), located at the name the same way.
//!
//! Every failure is a problem of the plan: `plan` shows it and exits 1,
//! `apply` writes nothing. Each names the file, line and column, and the
//! field, of what to change. A read that fails (no permission to read a
//! role) leaves its check undone, with a warning; it never stops the plan.

use crate::model::check::Checker;
use crate::model::{Kind, Resource, Stack};
use crate::plan::{Plan, Problem};
use crate::provider::{Deletion, Live, Provider};
use crate::resolve::Known;
use crate::yaml::Node;
use std::collections::HashMap;

/// What the checks read: each literal id a kind's check asked for, with
/// the kind it is read as.
#[derive(Debug, Default, Clone)]
pub struct Reads {
    answers: HashMap<(Kind, String), Result<Option<Live>, String>>,
}

/// One answer of [`Reads`].
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    Found(&'a Live),
    /// AWS says there is no such thing.
    Missing,
    /// Not read, or the read failed: the check cannot tell.
    Unknown,
}

impl Reads {
    /// What was read for `id` as `kind`.
    pub fn get(&self, kind: Kind, id: &str) -> Answer<'_> {
        match self.answers.get(&(kind, id.to_string())) {
            Some(Ok(Some(l))) => Answer::Found(l),
            Some(Ok(None)) => Answer::Missing,
            _ => Answer::Unknown,
        }
    }

    /// Why the read of `id` as `kind` failed, if it did.
    pub fn error(&self, kind: Kind, id: &str) -> Option<&str> {
        match self.answers.get(&(kind, id.to_string())) {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// How many distinct reads were made.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

/// The literal ids the stack's checks need read, each once.
pub fn asks(stack: &Stack) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = Vec::new();
    for r in &stack.resources {
        for (kind, id) in r.spec.as_dyn().live_reads() {
            if !id.contains("${") && !out.iter().any(|(k, i)| *k == kind && i == id) {
                out.push((kind, id.to_string()));
            }
        }
    }
    out
}

/// Reads what the checks need, all at once. Nothing for a destroy.
pub async fn read<P: Provider + ?Sized>(p: &P, stack: &Stack, destroy: bool) -> Reads {
    if destroy {
        return Reads::default();
    }
    let asks = asks(stack);
    let calls = asks.iter().map(|(kind, id)| {
        let d = Deletion {
            logical: String::new(),
            kind: *kind,
            id: id.clone(),
            name: None,
            attrs: Default::default(),
            force: false,
        };
        async move { p.read_recorded(&d).await.map_err(|e| e.to_string()) }
    });
    let answers = futures::future::join_all(calls).await;
    Reads { answers: asks.into_iter().zip(answers).collect() }
}

/// Runs every kind's live checks and adds what fails to the plan's
/// problems (and checks that could not be made to its notices).
pub fn check(stack: &Stack, plan: &mut Plan, observed: &crate::plan::Observed, reads: &Reads) {
    if plan.destroy {
        return;
    }
    let tree = crate::yaml::parse(&stack.file.text, Default::default()).ok();
    let mut x = LiveCross {
        stack,
        tree: tree.as_ref(),
        known: &plan.known,
        observed,
        reads,
        problems: Vec::new(),
        notices: Vec::new(),
    };
    for r in &stack.resources {
        r.spec.as_dyn().live_check(r, &mut x);
    }
    // An index or slice out of a list the plan read (a VPC's subnets).
    for (u, why) in crate::resolve::index_problems(stack, &plan.known) {
        let (line, col) = stack.file.line_col(u.span.start);
        x.problems.push(Problem {
            resource: u.from.clone().unwrap_or_default(),
            message: match &u.from {
                Some(from) => format!("{}:{line}:{col} resources.{from}: {why}", stack.file.name),
                None => format!("{}:{line}:{col} outputs: {why}", stack.file.name),
            },
            help: format!(
                "`{}.{}` has only the items AWS gave it; index within them, or use the whole list `${{{}.{}}}`",
                u.resource, u.attribute, u.resource, u.attribute
            ),
        });
    }
    let (problems, notices) = (x.problems, x.notices);
    plan.problems.extend(problems);
    plan.notices.extend(notices);
}

/// What a kind's [`crate::kinds::KindSpec::live_check`] works with: the
/// stack, what exists (from the plan's reads), what the checks read, and
/// where its findings go.
pub struct LiveCross<'a> {
    pub stack: &'a Stack,
    tree: Option<&'a Node>,
    known: &'a Known,
    observed: &'a crate::plan::Observed,
    reads: &'a Reads,
    problems: Vec<Problem>,
    notices: Vec<Problem>,
}

impl<'a> LiveCross<'a> {
    /// The resource a whole-value reference (`${res.attr}`) names.
    pub fn target(&self, value: &str) -> Option<&'a Resource> {
        self.stack.resource(crate::model::common::ref_resource(value)?)
    }

    /// An attribute of a resource of the file that exists and is the
    /// stack's (or a lookup's).
    pub fn attr(&self, logical: &str, attr: &str) -> Option<&'a str> {
        self.known.get(logical)?.get(attr)?.as_str()
    }

    /// Whether a resource of the file exists and is the stack's (or is a
    /// lookup that was found).
    pub fn exists(&self, logical: &str) -> bool {
        self.known.contains_key(logical)
    }

    /// A field's value with its references replaced by what the plan
    /// knows; `None` while one of them is known only after apply.
    pub fn resolved(&self, value: &str) -> Option<String> {
        let (v, unknown) = crate::resolve::resolve_value(&serde_json::Value::String(value.to_string()), self.known);
        if unknown {
            return None;
        }
        v.as_str().map(str::to_string)
    }

    /// What the plan read for a resource of the file, when it exists.
    pub fn live(&self, logical: &str) -> Option<&'a Live> {
        self.observed.resources.get(logical)?.as_ref()
    }

    /// What the checks read for a literal id.
    pub fn read(&self, kind: Kind, id: &str) -> Answer<'a> {
        self.reads.get(kind, id)
    }

    /// Why the read of a literal id failed, if it did.
    pub fn read_error(&self, kind: Kind, id: &str) -> Option<&'a str> {
        self.reads.error(kind, id)
    }

    /// A problem at `path` of resource `r`: the plan cannot be applied.
    pub fn error(&mut self, r: &Resource, path: &[&str], message: impl Into<String>, help: impl Into<String>) {
        let at = place_in(self.stack, self.tree, &r.name, path);
        self.problems.push(Problem {
            resource: r.name.clone(),
            message: format!("{at}: {}", message.into()),
            help: help.into(),
        });
    }

    /// A check that could not be made (its read failed): a warning.
    pub fn unchecked(&mut self, r: &Resource, path: &[&str], message: impl Into<String>, help: impl Into<String>) {
        let at = place_in(self.stack, self.tree, &r.name, path);
        self.notices.push(Problem {
            resource: r.name.clone(),
            message: format!("{at}: {}", message.into()),
            help: help.into(),
        });
    }
}

/// Where field `path` of resource `logical` is: `stack.yaml:12:7
/// resources.web.network.security_groups` (the nearest node the file has,
/// the resource's key at worst).
pub fn place(stack: &Stack, logical: &str, path: &[&str]) -> String {
    let tree = crate::yaml::parse(&stack.file.text, Default::default()).ok();
    place_in(stack, tree.as_ref(), logical, path)
}

fn place_in(stack: &Stack, tree: Option<&Node>, logical: &str, path: &[&str]) -> String {
    let field = std::iter::once("resources").chain(std::iter::once(logical)).chain(path.iter().copied());
    let field = field.collect::<Vec<_>>().join(".");
    let key_span = stack.resource(logical).map(|r| r.key_span);
    let span = match tree.and_then(|t| t.path(&["resources", logical])) {
        Some(node) => {
            let mut diags = Vec::new();
            let c = Checker {
                file: &stack.file,
                node,
                key_span: key_span.unwrap_or(node.span),
                logical,
                diags: &mut diags,
            };
            Some(c.span(path))
        }
        None => key_span,
    };
    match span {
        Some(s) => {
            let (line, col) = stack.file.line_col(s.start);
            format!("{}:{line}:{col} {field}", stack.file.name)
        }
        None => format!("{} {field}", stack.file.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(text: &str) -> Stack {
        let l = crate::load::load_str("stack.yaml", text, &Default::default());
        assert!(!l.has_errors(), "{:?}", l.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
        l.stack.expect("loads")
    }

    #[test]
    fn a_place_names_file_line_column_and_field() {
        let s = stack("stack: s\nresources:\n  repo:\n    kind: ecr/repository\n    name: taken\n");
        assert_eq!(place(&s, "repo", &["name"]), "stack.yaml:5:11 resources.repo.name");
        // A field the file does not set: the nearest node above it.
        assert_eq!(place(&s, "repo", &["lifecycle", "rules"]), "stack.yaml:3:3 resources.repo.lifecycle.rules");
    }

    #[test]
    fn each_literal_id_is_asked_once_and_references_never() {
        let s = stack(
            "stack: s\nresources:\n  a:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    execution_role: arn:aws:iam::123456789012:role/exec\n    task_role: arn:aws:iam::123456789012:role/exec\n    containers: [{ name: web, image: nginx }]\n  b:\n    kind: ecs/task_definition\n    cpu: 256\n    memory: 512\n    execution_role: ${r.arn}\n    containers: [{ name: web, image: nginx }]\n  r:\n    kind: iam/role\n    assumed_by: { services: [ecs-tasks.amazonaws.com] }\n",
        );
        let asks = asks(&s);
        assert_eq!(asks.len(), 1, "{asks:?}");
        assert_eq!(asks[0].1, "arn:aws:iam::123456789012:role/exec");
    }
}
