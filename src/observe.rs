//! Reading live AWS for a plan.
//!
//! Resources are read in batches along the dependency graph, because some
//! resources are found through another's attributes (a listener by its load
//! balancer's ARN and its port). Everything that can be read goes in one
//! batch of concurrent, batched calls; what others are found through goes
//! in a batch of its own, and those others start as soon as it is in. So a
//! plan costs as many round trips as its chain of identities is long, not as
//! many as it has resources. State entries that are no longer in the file, and
//! replaced objects an earlier run left, are read by their recorded ids.

use crate::graph::Graph;
use crate::model::Stack;
use crate::plan::{self, Observed};
use crate::provider::{Deletion, Provider, ProviderError};
use crate::resolve::Known;
use crate::state::{Entry, State};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::HashSet;

/// A read that failed: which resource, and what AWS said.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub resource: String,
    pub error: ProviderError,
}

/// The resources whose attributes identify this one when it is read (a
/// group's VPC, a listener's load balancer, a service's cluster): its read
/// waits for theirs. None for kinds found by their own name or recorded id
/// ([`crate::kinds::KindSpec::identified_by`]).
fn identified_by(spec: &crate::model::Spec) -> Vec<&str> {
    spec.as_dyn().identified_by()
}

pub async fn observe<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
) -> Result<Observed, Vec<ReadError>> {
    let known = crate::discover::known(stack, state);
    // Images are resolved side by side with the reads, those that name a
    // resource by what the record knows of it too.
    let early = crate::images::wanted(stack, &recorded_known(stack, state));
    let (files, recorded, unrecorded, found, images) = futures::join!(
        observe_file(p, stack, graph, state),
        observe_recorded(p, stack, state),
        observe_unrecorded(p, stack, state),
        p.discover(&stack.name, &known),
        p.image_digests(&early)
    );
    let mut observed = files?;
    match images {
        Ok(i) => observed.images = i,
        Err(error) => return Err(vec![ReadError { resource: "the stack's container images".into(), error }]),
    }
    // Those that name a resource the record does not know, once it is read.
    let mut now = recorded_known(stack, state);
    now.extend(observed.resources.iter().filter_map(|(n, l)| Some((n.clone(), l.as_ref()?.attrs.clone()))));
    let late: Vec<String> = crate::images::wanted(stack, &now).into_iter().filter(|i| !early.contains(i)).collect();
    if !late.is_empty() {
        match p.image_digests(&late).await {
            Ok(i) => observed.images.extend(i),
            Err(error) => return Err(vec![ReadError { resource: "the stack's container images".into(), error }]),
        }
    }
    let (removed, deposed, mut errors) = recorded;
    errors.extend(newest_versions(p, stack, state, &mut observed, &now).await);
    let mut unrecorded = match unrecorded {
        Ok(u) => u,
        Err(e) => {
            errors.extend(e);
            Default::default()
        }
    };
    if let Err(error) = &found {
        errors.push(ReadError {
            resource: format!("the resources tagged moor:stack={}", stack.name),
            error: error.clone(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // What the file's resources are now is not unrecorded.
    for (name, lives) in unrecorded.iter_mut() {
        if let Some(Some(live)) = observed.resources.get(name) {
            lives.retain(|l| l.id != live.id);
        }
    }
    unrecorded.retain(|_, lives| !lives.is_empty());
    observed.removed = removed;
    observed.deposed = deposed;
    observed.unrecorded = unrecorded;
    let found = found.unwrap_or_default();
    let mut found = crate::discover::unaccounted(p, stack, state, &observed, found).await?;
    // An unrecorded revision of a family in the file or the record is
    // planned once, as such.
    found.retain(|(f, _)| !observed.unrecorded.values().flatten().any(|l| l.id == f.id));
    observed.found = found;
    Ok(observed)
}

/// What AWS has at the paths a versioned resource ignores is what its
/// newest version has (a task definition's newest ACTIVE revision): another
/// tool that owns them (a deploy that sets an image) registers versions of
/// its own, which the record does not name. Those paths of each such
/// resource that exists are taken from its newest version, read by name;
/// a recorded one that is gone (the deploy retired moor's version) is made
/// anew from the file with those paths as its newest version has them.
async fn newest_versions<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    state: &State,
    observed: &mut plan::Observed,
    known: &Known,
) -> Vec<ReadError> {
    let asks: Vec<(&str, crate::provider::Target)> = stack
        .resources
        .iter()
        .filter(|r| r.kind().facts().versioned && !plan::ignored(stack, &r.name).is_empty())
        .filter(|r| match observed.resources.get(&r.name) {
            Some(Some(_)) => true,
            // Gone, though recorded: the next version keeps what is ignored.
            Some(None) => state.resources.get(&r.name).is_some_and(|e| e.kind == r.kind()),
            None => false,
        })
        .map(|r| {
            let mut t = plan::target(stack, &r.name, known, state).0;
            t.id = None;
            (r.name.as_str(), t)
        })
        .collect();
    let reads = futures::future::join_all(asks.iter().map(|(_, t)| p.read(t))).await;
    let mut errors = Vec::new();
    for ((name, _), r) in asks.iter().zip(reads) {
        match r {
            Ok(Some(newest)) => match observed.resources.get_mut(*name) {
                Some(Some(live)) if live.id != newest.id => plan::take_ignored_live(stack, name, live, &newest),
                Some(Some(_)) => {}
                _ => {
                    observed.newest.insert(name.to_string(), newest);
                }
            },
            Ok(None) => {}
            Err(error) => errors.push(ReadError { resource: name.to_string(), error }),
        }
    }
    errors
}

/// Versions of the stack's versioned resources (task definitions; of the
/// file, and of the record only) that carry their tags but that the record
/// does not know, read side by side with everything else.
async fn observe_unrecorded<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    state: &State,
) -> Result<std::collections::HashMap<String, Vec<crate::provider::Live>>, Vec<ReadError>> {
    let mut asks: Vec<(Deletion, Vec<String>)> = Vec::new();
    for r in stack.resources.iter().filter(|r| r.kind().facts().versioned) {
        let entry = state.resources.get(&r.name).filter(|e| e.kind == r.kind());
        let known = entry.map(Entry::ids);
        let d = Deletion {
            logical: r.name.clone(),
            kind: r.kind(),
            id: entry.map(|e| e.id.clone()).unwrap_or_default(),
            name: r.physical_name.clone(),
            attrs: Default::default(),
            force: false,
        };
        asks.push((d, known.unwrap_or_default()));
    }
    for (name, e) in &state.resources {
        if e.kind.facts().versioned && stack.resource(name).is_none() {
            asks.push((e.deletion(name), e.ids()));
        }
    }
    let reads = asks.iter().map(|(d, known)| p.unrecorded(d, &stack.name, known));
    let mut out = std::collections::HashMap::new();
    let mut errors = Vec::new();
    for ((d, _), r) in asks.iter().zip(futures::future::join_all(reads).await) {
        match r {
            Ok(lives) if !lives.is_empty() => {
                out.insert(d.logical.clone(), lives);
            }
            Ok(_) => {}
            Err(error) => errors.push(ReadError { resource: d.logical.clone(), error }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// What the last apply recorded of the file's resources' attributes.
fn recorded_known(stack: &Stack, state: &State) -> Known {
    stack
        .resources
        .iter()
        .filter_map(|r| {
            state.resources.get(&r.name).filter(|e| e.kind == r.kind()).map(|e| (r.name.clone(), e.attrs.clone()))
        })
        .collect()
}

/// What is known of the resources `logical` depends on, for a read of it
/// alone (`moor import`): what the record holds of each, as a plan starts
/// with, and what the lookups among them read now, in dependency order.
/// A resource neither recorded nor a lookup stays unknown.
pub async fn known_for<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
    logical: &str,
) -> Result<Known, ReadError> {
    let mut known = recorded_known(stack, state);
    let mut needed: HashSet<&str> = HashSet::new();
    let mut next = graph.dependencies(logical);
    while let Some(d) = next.pop() {
        if needed.insert(d) {
            next.extend(graph.dependencies(d));
        }
    }
    for n in graph.topo_order().unwrap_or_default() {
        let Some(r) = stack.resource(n).filter(|r| needed.contains(n) && r.kind().is_lookup()) else { continue };
        let t = plan::target(stack, n, &known, state).0;
        match p.read(&t).await {
            Ok(Some(l)) => {
                known.insert(r.name.clone(), l.attrs);
            }
            Ok(None) => {
                known.remove(n);
            }
            Err(error) => return Err(ReadError { resource: n.to_string(), error }),
        }
    }
    Ok(known)
}

/// The resources of the file, in as few rounds as their identities allow.
async fn observe_file<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    graph: &Graph,
    state: &State,
) -> Result<Observed, Vec<ReadError>> {
    let mut observed = Observed::default();
    let mut errors = Vec::new();
    // What the last apply recorded stands in for what is not read yet.
    let mut known: Known = stack
        .resources
        .iter()
        .filter_map(|r| {
            state.resources.get(&r.name).filter(|e| e.kind == r.kind()).map(|e| (r.name.clone(), e.attrs.clone()))
        })
        .collect();
    let order = graph.topo_order().unwrap_or_default();
    let mut done: HashSet<&str> = HashSet::new();
    let mut left: Vec<&str> = order.clone();
    // Batches of reads in flight. A batch starts as soon as what identifies
    // its resources has been read, not when the batch before it has ended.
    let mut in_flight = FuturesUnordered::new();
    loop {
        let (mut ready, rest): (Vec<&str>, Vec<&str>) = left.iter().partition(|n| {
            let kind = stack.resource(n).map(|r| r.kind());
            let recorded = state.resources.get(**n).is_some_and(|e| Some(e.kind) == kind);
            let ids = stack.resource(n).map(|r| identified_by(&r.spec)).unwrap_or_default();
            recorded
                || ids.iter().all(|d| done.contains(d) || known.contains_key(*d) || !graph.dependencies(n).contains(d))
        });
        left = rest;
        if ready.is_empty() && in_flight.is_empty() && !left.is_empty() {
            ready.push(left.remove(0));
        }
        if !ready.is_empty() {
            // What the rest waits for is read in a batch of its own, so that
            // the rest can start once that batch is in, whatever else is
            // still being read. That batch has every ready resource of the
            // kinds waited for, so that each kind is still read in one batch.
            let waited: HashSet<crate::model::Kind> = left
                .iter()
                .filter_map(|n| stack.resource(n))
                .flat_map(|r| identified_by(&r.spec))
                .filter_map(|d| stack.resource(d).map(|r| r.kind()))
                .collect();
            let (first, second): (Vec<&str>, Vec<&str>) =
                ready.iter().partition(|n| stack.resource(n).is_some_and(|r| waited.contains(&r.kind())));
            for batch in [first, second].into_iter().filter(|b| !b.is_empty()) {
                let targets: Vec<_> = batch.iter().map(|n| plan::target(stack, n, &known, state).0).collect();
                in_flight.push(async move { (batch, p.read_many(&targets).await) });
            }
        }
        let Some((batch, results)) = in_flight.next().await else { break };
        for (name, r) in batch.into_iter().zip(results) {
            if crate::trace::verbose() >= 1 {
                read_line(name, stack.resource(name).map(|r| r.kind()), &r);
            }
            match r {
                Ok(live) => {
                    known.remove(name);
                    if let Some(l) = &live {
                        let kind = stack.resource(name).map(|r| r.kind());
                        let entry = state.resources.get(name).filter(|e| Some(e.kind) == kind);
                        let ours =
                            kind.is_some_and(|k| l.owner(&stack.name, name, k, entry.map(|e| e.recorded())).is_us());
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
    }
    if errors.is_empty() {
        Ok(observed)
    } else {
        Err(errors)
    }
}

/// `-v`: what the read of one resource found.
fn read_line(name: &str, kind: Option<crate::model::Kind>, r: &Result<Option<crate::provider::Live>, ProviderError>) {
    let kind = kind.map(|k| format!(" ({k})")).unwrap_or_default();
    let got = match r {
        Ok(Some(live)) => format!("found {}", live.id),
        Ok(None) => "not found".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    crate::trace::detail(&format!("  read {name}{kind}: {got}"));
}

type Recorded = (
    std::collections::HashMap<String, Option<crate::provider::Live>>,
    std::collections::HashMap<String, Option<crate::provider::Live>>,
    Vec<ReadError>,
);

/// What only the record knows: entries no longer in the file, and replaced
/// objects an earlier run left.
async fn observe_recorded<P: Provider + ?Sized>(p: &P, stack: &Stack, state: &State) -> Recorded {
    let mut removed = std::collections::HashMap::new();
    let mut deposed = std::collections::HashMap::new();
    let mut errors = Vec::new();
    let mut recorded = Vec::new();
    for (name, e) in &state.resources {
        if stack.resource(name).is_none() {
            recorded.push((name.clone(), None, e.deletion(name)));
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
    for ((name, dep, d), r) in recorded.iter().zip(futures::future::join_all(reads).await) {
        if crate::trace::verbose() >= 1 {
            read_line(name, Some(d.kind), &r);
        }
        match (r, dep) {
            (Ok(live), None) => {
                removed.insert(name.clone(), live);
            }
            (Ok(live), Some(id)) => {
                deposed.insert(id.clone(), live);
            }
            (Err(error), _) => errors.push(ReadError { resource: name.clone(), error }),
        }
    }
    (removed, deposed, errors)
}
