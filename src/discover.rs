//! A lost state record never hides a stack.
//!
//! Every plan also asks the provider for everything that carries the
//! stack's `moor:stack` tag and a `moor:resource` tag
//! ([`Provider::discover`]), at the same time as it reads the file's
//! resources and the record's. What it finds that is neither the file's
//! resource (as read by name) nor in the record — the record was lost, is
//! stale, or the state directory is another one — is read by its id (the
//! tagging listing may lag behind a delete) and planned for deletion:
//! destroy deletes it with the rest; apply deletes it as removed from the
//! file, or, when the file still has its logical name, as an old object
//! the resource was replaced by while the record was lost.
//!
//! Without the record there are no recorded dependencies between such
//! resources, so their deletions are ordered by kind ([`delete_rank`]).
//!
//! The listing runs on every plan, not only when there is no record: a
//! record can be present and stale (another state directory applied the
//! stack since, or a run lost its record half way), and only the listing
//! can tell. It costs a converged plan a few calls in the round its reads
//! take anyway (what the record and the file know is not read again for
//! it), and a second round only when it finds something to confirm.

use crate::model::{Kind, Stack};
use crate::observe::ReadError;
use crate::plan::{Action, Change, Observed, Plan};
use crate::provider::{Deletion, Found, Live, Provider};
use crate::state::State;
use std::collections::{BTreeSet, HashSet};

/// What the plan knows by id or name already: the record's ids (current
/// and replaced ones) and the file's physical names. The provider may skip
/// reads only these would need.
pub fn known(stack: &Stack, state: &State) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in state.resources.values() {
        out.push(e.id.clone());
        out.extend(e.deposed.iter().map(|d| d.id.clone()));
    }
    out.extend(stack.resources.iter().filter_map(|r| r.physical_name.clone()));
    out
}

/// The ids the observation and the record account for.
fn accounted(state: &State, observed: &Observed) -> HashSet<String> {
    let mut ids: HashSet<String> = HashSet::new();
    for e in state.resources.values() {
        ids.insert(e.id.clone());
        ids.extend(e.deposed.iter().map(|d| d.id.clone()));
    }
    ids.extend(observed.resources.values().flatten().map(|l| l.id.clone()));
    ids.extend(observed.removed.values().flatten().map(|l| l.id.clone()));
    ids
}

fn deletion(f: &Found) -> Deletion {
    Deletion {
        logical: f.logical.clone(),
        kind: f.kind,
        id: f.id.clone(),
        name: f.name.clone(),
        attrs: Default::default(),
        force: false,
    }
}

/// Of what was found, what neither the file's reads nor the record account
/// for, confirmed by a read by id (each at the same time): the resource as
/// that read says, or as found when the kind reads nothing more. Only what
/// carries this stack's tag and a logical name is kept.
pub async fn unaccounted<P: Provider + ?Sized>(
    p: &P,
    stack: &Stack,
    state: &State,
    observed: &Observed,
    found: Vec<Found>,
) -> Result<Vec<(Found, Live)>, Vec<ReadError>> {
    let ids = accounted(state, observed);
    let mut seen = HashSet::new();
    let orphans: Vec<Found> = found
        .into_iter()
        .filter(|f| f.of_stack(&stack.name) && !f.kind.is_lookup() && !ids.contains(&f.id))
        .filter(|f| seen.insert(f.id.clone()))
        .collect();
    let deletions: Vec<Deletion> = orphans.iter().map(deletion).collect();
    let reads = futures::future::join_all(deletions.iter().map(|d| p.read_recorded(d))).await;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (f, r) in orphans.into_iter().zip(reads) {
        match r {
            // Gone since it was listed (or, for a task definition, INACTIVE).
            Ok(None) => {}
            Ok(Some(mut live)) => {
                // The read decides what exists; the listing's tags decide
                // ownership when the read has none of its own.
                if live.tags.is_empty() {
                    live.tags = f.tags.clone();
                }
                // `retain: true`: never deleted for being found.
                if !crate::plan::retained(&live) {
                    out.push((f, live));
                }
            }
            Err(error) => errors.push(ReadError { resource: f.logical.clone(), error }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The deletions of what was found and is unaccounted for. The first
/// resource found under a logical name that neither the file nor the
/// record has is deleted as removed from the file; any other is deleted as
/// an old object of its logical name (after its replacement is up).
/// Whether an object found is under the physical name the file gives its
/// logical name: then it is the file's resource, which an apply reads,
/// creates or adopts by that name (a replacement made, then not recorded,
/// is finished, not deleted), and only a destroy deletes it. Versioned
/// kinds are the exception: every version of a task definition has the
/// family's name, and only the one read is the file's.
fn files(stack: &Stack, f: &Found) -> bool {
    !f.kind.facts().versioned
        && f.name.is_some()
        && stack.resource(&f.logical).is_some_and(|r| r.kind() == f.kind && r.physical_name == f.name)
}

pub fn changes(stack: &Stack, state: &State, observed: &Observed, destroy: bool, force: bool) -> Vec<Change> {
    let mut named: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (f, live) in &observed.found {
        if !f.of_stack(&stack.name) || !live.owned_by(&stack.name, &f.logical) || (!destroy && files(stack, f)) {
            continue;
        }
        let known = stack.resource(&f.logical).is_some() || state.resources.contains_key(&f.logical);
        let old = known || !named.insert(f.logical.as_str());
        let why = match (destroy, old) {
            (true, _) => "destroy (found by its moor:stack tag; not in the state record)",
            (false, false) => "removed from the file (found by its moor:stack tag; not in the state record)",
            (false, true) => "replaced while the state record was lost (found by its moor:stack tag)",
        };
        let mut ch = crate::plan::delete_change(&f.logical, f.kind, live, f.name.clone(), force, why);
        ch.deposed = old;
        out.push(ch);
    }
    out
}

/// Deletion order by kind, for resources whose dependencies nobody
/// recorded: a lower rank goes first, users before what they use. Each kind
/// says its rank ([`crate::kinds::KindSpec::DELETE_RANK`]).
pub fn delete_rank(kind: Kind) -> u8 {
    kind.facts().delete_rank
}

/// Whether a change deletes something the record does not know.
fn unrecorded(ch: &Change, state: &State) -> bool {
    let Some(d) = &ch.deletion else { return false };
    ch.action == Action::Delete
        && !state.resources.values().any(|e| e.id == d.id || e.deposed.iter().any(|x| x.id == d.id))
}

/// Adds edges between deletions (`ops`: each operation's change index and
/// whether it deletes) so that a deletion the record does not know waits
/// for, and is waited for by, the others by [`delete_rank`]. What the file
/// or the record says comes first: the operations are put in one order that
/// keeps every edge already there (lower ranks first where those allow), and
/// an edge is added only where it agrees with that order, so no edge can
/// close a cycle. Linear in the edges it adds.
pub fn order_unrecorded(plan: &Plan, state: &State, ops: &[(usize, bool)], deps: &mut [BTreeSet<usize>]) {
    let marked: Vec<Option<(bool, u8)>> = ops
        .iter()
        .map(|&(change, deletes)| {
            let ch = &plan.changes[change];
            deletes.then(|| (unrecorded(ch, state), delete_rank(ch.kind)))
        })
        .collect();
    if !marked.iter().flatten().any(|(u, _)| *u) {
        return;
    }
    let position = positions(deps, |i| marked[i].map_or(0, |(_, r)| r));
    for a in 0..ops.len() {
        let (Some((ua, ra)), Some(pa)) = (marked[a], position[a]) else { continue };
        for b in 0..ops.len() {
            let (Some((ub, rb)), Some(pb)) = (marked[b], position[b]) else { continue };
            if (ua || ub) && rb < ra && pb < pa {
                deps[a].insert(b);
            }
        }
    }
}

/// Each operation's place in one order in which everything comes after
/// what it waits for, the lowest `rank` first among those free to go;
/// `None` for operations on a cycle (none are).
fn positions(deps: &[BTreeSet<usize>], rank: impl Fn(usize) -> u8) -> Vec<Option<usize>> {
    use std::cmp::Reverse;
    let mut waiting: Vec<usize> = deps.iter().map(BTreeSet::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); deps.len()];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependents[j].push(i);
        }
    }
    let mut free: std::collections::BinaryHeap<Reverse<(u8, usize)>> =
        (0..deps.len()).filter(|&i| waiting[i] == 0).map(|i| Reverse((rank(i), i))).collect();
    let mut out = vec![None; deps.len()];
    let mut next = 0;
    while let Some(Reverse((_, i))) = free.pop() {
        out[i] = Some(next);
        next += 1;
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                free.push(Reverse((rank(d), d)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_keeps_the_edges_there_and_ranks_the_rest() {
        // 0 waits for 1; 2 and 3 are free. Ranks: 0→2, 1→5, 2→1, 3→0.
        let deps = vec![BTreeSet::from([1]), BTreeSet::new(), BTreeSet::new(), BTreeSet::new()];
        let rank = |i: usize| [2, 5, 1, 0][i];
        let at = positions(&deps, rank);
        assert_eq!(at, vec![Some(3), Some(2), Some(1), Some(0)]);
        // A cycle leaves its operations without a place.
        let cycle = vec![BTreeSet::from([1]), BTreeSet::from([0]), BTreeSet::new()];
        assert_eq!(positions(&cycle, |_| 0), vec![None, None, Some(0)]);
    }
}
