//! Reading live AWS for a plan.
//!
//! Resources are read in waves along the dependency graph: everything whose
//! dependencies have been read goes in one batch, because some resources
//! are found through another's attributes (a listener by its load balancer's
//! ARN and its port). Each wave is one round of concurrent, batched calls,
//! so a plan costs as many round trips as the graph is deep, not as many as
//! it has resources. State entries that are no longer in the file, and
//! replaced objects an earlier run left, are read by their recorded ids.

use crate::graph::Graph;
use crate::model::Stack;
use crate::plan::{self, Observed};
use crate::provider::{Deletion, Provider, ProviderError};
use crate::resolve::Known;
use crate::state::State;
use std::collections::HashSet;

/// A read that failed: which resource, and what AWS said.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub resource: String,
    pub error: ProviderError,
}

pub async fn observe<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
) -> Result<Observed, Vec<ReadError>> {
    let mut observed = Observed::default();
    let mut errors = Vec::new();
    let mut known = Known::new();
    let order = graph.topo_order().unwrap_or_default();
    let mut done: HashSet<&str> = HashSet::new();
    let mut left: Vec<&str> = order.clone();
    while !left.is_empty() {
        let (wave, rest): (Vec<&str>, Vec<&str>) =
            left.iter().partition(|n| graph.dependencies(n).iter().all(|d| done.contains(d)));
        if wave.is_empty() {
            break;
        }
        let targets: Vec<_> = wave.iter().map(|n| plan::target(stack, n, &known, state).0).collect();
        let results = p.read_many(&targets).await;
        for (name, r) in wave.iter().zip(results) {
            match r {
                Ok(live) => {
                    if let Some(l) = &live {
                        let ours =
                            l.owned_by(&stack.name, name) || state.resources.get(*name).is_some_and(|e| e.id == l.id);
                        let lookup = stack.resource(name).is_some_and(|r| r.kind().is_lookup());
                        if ours || lookup {
                            known.insert(name.to_string(), l.attrs.clone());
                        }
                    }
                    observed.resources.insert(name.to_string(), live);
                }
                Err(error) => errors.push(ReadError { resource: name.to_string(), error }),
            }
            done.insert(name);
        }
        left = rest;
    }

    // What only the record knows.
    let mut recorded = Vec::new();
    for (name, e) in &state.resources {
        if stack.resource(name).is_none() {
            recorded.push((
                name.clone(),
                None,
                Deletion {
                    logical: name.clone(),
                    kind: e.kind,
                    id: e.id.clone(),
                    name: e.name.clone(),
                    attrs: e.attrs.clone(),
                    force: false,
                },
            ));
        }
        for d in &e.deposed {
            recorded.push((
                name.clone(),
                Some(d.id.clone()),
                Deletion {
                    logical: name.clone(),
                    kind: e.kind,
                    id: d.id.clone(),
                    name: d.name.clone(),
                    attrs: d.attrs.clone(),
                    force: false,
                },
            ));
        }
    }
    let reads: Vec<_> = recorded.iter().map(|(_, _, d)| p.read_recorded(d)).collect();
    for ((name, deposed, _), r) in recorded.iter().zip(futures::future::join_all(reads).await) {
        match (r, deposed) {
            (Ok(live), None) => {
                observed.removed.insert(name.clone(), live);
            }
            (Ok(live), Some(id)) => {
                observed.deposed.insert(id.clone(), live.is_some());
            }
            (Err(error), _) => errors.push(ReadError { resource: name.clone(), error }),
        }
    }
    if errors.is_empty() {
        Ok(observed)
    } else {
        Err(errors)
    }
}
