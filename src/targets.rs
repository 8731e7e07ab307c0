//! `--target RESOURCE`: a plan of some resources only.
//!
//! A plan (or apply) covers the named resources and everything they depend
//! on, transitively, along the graph ([`crate::graph`]); a destroy covers
//! the named resources and everything that depends on them, along the graph
//! and the dependencies the record remembers. A resource removed from the
//! file (known only to the record) is deleted only when it is named itself.
//! The full plan is made, then cut down to those resources
//! ([`restrict`]): what it leaves out is named in the plan's header.

use crate::graph::Graph;
use crate::model::Stack;
use crate::plan::Plan;
use crate::state::State;
use std::collections::{BTreeMap, BTreeSet};

/// What a partial plan was asked for, and what it left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    /// The resources named with `--target`, as given (duplicates dropped).
    pub targets: Vec<String>,
    /// Resources of the file or the record the plan does not cover.
    pub left_out: Vec<String>,
}

/// The resources a plan for `targets` covers; an unknown name is an error
/// naming it, with a suggestion.
pub fn select(
    stack: &Stack,
    graph: &Graph,
    state: &State,
    targets: &[String],
    destroy: bool,
) -> Result<BTreeSet<String>, String> {
    let known: BTreeSet<&str> =
        stack.resources.iter().map(|r| r.name.as_str()).chain(state.resources.keys().map(String::as_str)).collect();
    let names: Vec<&str> = known.iter().copied().collect();
    let unknown: Vec<String> = targets
        .iter()
        .filter(|t| !known.contains(t.as_str()))
        .map(|t| {
            format!(
                "--target `{t}` is no resource of stack `{}` (not in the file nor in its record); {}",
                stack.name,
                crate::diag::did_you_mean(t, &names, "resource")
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(unknown.join("\n"));
    }
    // What each resource depends on, or what depends on it (destroy).
    let mut next: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &stack.resources {
        for d in graph.dependencies(&r.name) {
            let (from, to) = if destroy { (d, r.name.as_str()) } else { (r.name.as_str(), d) };
            next.entry(from.to_string()).or_default().insert(to.to_string());
        }
    }
    if destroy {
        for (name, e) in &state.resources {
            for d in &e.depends_on {
                next.entry(d.clone()).or_default().insert(name.clone());
            }
        }
    }
    let mut set = BTreeSet::new();
    let mut queue: Vec<String> = targets.to_vec();
    while let Some(n) = queue.pop() {
        if !set.insert(n.clone()) {
            continue;
        }
        // A removed resource's deletion goes along only when named (or, in
        // a destroy, when it depends on what is destroyed).
        let follow = destroy || stack.resource(&n).is_some();
        if follow {
            queue.extend(next.get(&n).into_iter().flatten().cloned());
        }
    }
    Ok(set)
}

/// Cuts `plan` down to the resources of `set` ([`select`]): the other
/// resources' changes, problems and notices go, and the plan says it is
/// partial and what it left out.
pub fn restrict(plan: &mut Plan, stack: &Stack, state: &State, set: &BTreeSet<String>, targets: &[String]) {
    let mut all: BTreeSet<String> = stack.resources.iter().map(|r| r.name.clone()).collect();
    all.extend(state.resources.keys().cloned());
    all.extend(plan.changes.iter().map(|c| c.resource.clone()));
    plan.changes.retain(|c| set.contains(&c.resource));
    plan.problems.retain(|p| set.contains(&p.resource));
    plan.notices.retain(|p| set.contains(&p.resource));
    plan.forget.retain(|f| set.contains(f));
    let mut named = Vec::new();
    for t in targets {
        if !named.contains(t) {
            named.push(t.clone());
        }
    }
    plan.partial = Some(Partial { targets: named, left_out: all.into_iter().filter(|n| !set.contains(n)).collect() });
}

/// The header line of a partial plan.
pub fn header(p: &Partial, destroy: bool) -> String {
    let targets = p.targets.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
    let with = match (destroy, p.targets.len() == 1) {
        (true, true) => "what depends on it",
        (true, false) => "what depends on them",
        (false, true) => "what it depends on",
        (false, false) => "what they depend on",
    };
    let left = if p.left_out.is_empty() {
        "nothing".to_string()
    } else {
        p.left_out.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
    };
    format!("Partial plan (--target): only {targets} and {with}. Left out ({}): {left}.", p.left_out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Stack {
        let text = "stack: t\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n  \
                    pull:\n    kind: iam/policy\n    document:\n      statements:\n        - actions: [ecr:BatchGetImage]\n          resources: [\"${repo.arn}\"]\n  \
                    role:\n    kind: iam/role\n    assumed_by: { services: [ecs-tasks.amazonaws.com] }\n    policies: [\"${pull.arn}\"]\n  \
                    other:\n    kind: ecr/repository\n";
        let loaded = crate::load::load_str("t.yaml", text, &Default::default());
        loaded.stack.unwrap_or_else(|| panic!("{:?}", loaded.diags))
    }

    #[test]
    fn a_target_brings_what_it_depends_on_and_a_destroy_what_depends_on_it() {
        let s = stack();
        let (g, _) = crate::graph::build(&s);
        let st = State::new("t", None);
        let set = select(&s, &g, &st, &["role".into()], false).unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["pull", "repo", "role"]);
        let set = select(&s, &g, &st, &["repo".into()], true).unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["pull", "repo", "role"]);
        let set = select(&s, &g, &st, &["role".into()], true).unwrap();
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["role"]);
        let e = select(&s, &g, &st, &["rol".into()], false).unwrap_err();
        assert!(e.contains("--target `rol` is no resource of stack `t`") && e.contains("did you mean `role`?"), "{e}");
    }
}
