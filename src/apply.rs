//! Apply: a bounded-parallel walk of a plan over the dependency graph.
//!
//! A plan becomes operations, each an API-level step on one resource:
//! bring a resource up (create, update, or nothing but learn its
//! attributes), delete an old one after its replacement took over, or
//! delete one that is gone from the file. Edges between operations:
//!
//! - a resource comes up after everything it depends on came up;
//! - a replaced (or superseded) object is deleted after its replacement is
//!   up and every dependent has moved to the replacement;
//! - a resource is deleted after every resource that depended on it was
//!   deleted or moved away (the dependency graph reversed);
//! - with delete-before-create, the old object goes before the new comes;
//! - a late reference that closes a cycle ([`Graph::late`]: a group's rule
//!   naming the group itself, or a group whose rules name it) is left out
//!   when its resource comes up while what it names is not up yet, and
//!   applied by a second update once both are up, before the old object of
//!   what it names is deleted.
//!
//! At most `parallelism` operations run at once. A failed operation stops
//! only what depends on it; everything else goes on, and the summary lists
//! what was created, changed, deleted, failed and skipped. The state record
//! is written after every operation that changed AWS, so a run killed at
//! any point leaves a record the next run can finish from. Cancelling (Ctrl-C)
//! starts nothing new, lets the calls in flight finish and records them.

use crate::graph::Graph;
use crate::model::{Kind, Stack};
use crate::plan::{self, Action, Change, Plan, ReplaceOrder};
use crate::provider::{desired_fields, Deletion, ErrorKind, Live, Owner, Provider, ProviderError, Target};
use crate::resolve::Known;
use crate::state::{Deposed, Entry, Pending, State, StateError};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Where the engine writes the state record after each step.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    async fn save(&self, state: &State) -> Result<(), StateError>;
}

#[async_trait::async_trait]
impl StateStore for crate::state::LocalBackend {
    async fn save(&self, state: &State) -> Result<(), StateError> {
        crate::state::LocalBackend::save(self, state)
    }
}

/// Keeps the record in memory (tests, `plan`).
#[derive(Default)]
pub struct MemoryStore(pub std::sync::Mutex<Option<State>>);

#[async_trait::async_trait]
impl StateStore for MemoryStore {
    async fn save(&self, state: &State) -> Result<(), StateError> {
        // A poisoned lock still holds a whole record: it is replaced at once.
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(state.clone());
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Nothing to call; the resource's attributes are passed on.
    Keep,
    Read,
    Create,
    Update,
    /// Create the replacement (create-before-delete).
    CreateReplacement,
    /// Delete the old object of a replacement or a superseded revision.
    DeleteOld,
    Delete,
    /// Wait for a resource that is not at its desired state (a service's
    /// deployment), deploying it again first when it was rolled back.
    Wait,
}

impl Step {
    pub fn verb(self) -> &'static str {
        match self {
            Step::Keep => "kept",
            Step::Read => "read",
            Step::Create => "created",
            Step::Update => "updated",
            Step::CreateReplacement => "created replacement of",
            Step::DeleteOld => "deleted the old",
            Step::Delete => "deleted",
            Step::Wait => "waited for",
        }
    }

    pub fn writes(self) -> bool {
        !matches!(self, Step::Keep | Step::Read)
    }
}

/// What the engine reports while it works (progress output).
pub trait Reporter: Send + Sync {
    fn started(&self, _resource: &str, _kind: Kind, _step: Step) {}
    fn finished(&self, _resource: &str, _kind: Kind, _step: Step, _elapsed: Duration) {}
    fn failed(&self, _resource: &str, _kind: Kind, _step: Step, _error: &ProviderError) {}
    fn skipped(&self, _resource: &str, _because: &str) {}
    /// What a running step waits for now, as its provider said it
    /// ([`crate::progress::status`]): "load balancer provisioning".
    fn waiting(&self, _resource: &str, _kind: Kind, _step: Step, _status: &str) {}
    /// A line AWS wrote about the resource while the step ran (a service
    /// event of the deployment moor started), each once.
    fn event(&self, _resource: &str, _kind: Kind, _step: Step, _line: &str) {}
    /// About once a second while steps run (heartbeats of long waits).
    fn tick(&self) {}
    /// A step that will not run because `because`; by default [`Reporter::skipped`].
    fn skipped_step(&self, resource: &str, _kind: Kind, _step: Step, because: &str) {
        self.skipped(resource, because)
    }
}

pub struct Quiet;
impl Reporter for Quiet {}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub parallelism: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { parallelism: 10 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub resource: String,
    pub kind: Kind,
    pub step: Step,
    pub error: ProviderError,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub replaced: Vec<String>,
    pub deleted: Vec<String>,
    pub failed: Vec<Failure>,
    /// (resource, why it did not run)
    pub skipped: Vec<(String, String)>,
    pub interrupted: bool,
    /// Calls that changed AWS.
    pub writes: usize,
    /// A state record that could not be written (the run stops).
    pub state_error: Option<String>,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted && self.state_error.is_none()
    }
}

#[derive(Debug, Clone)]
struct Op {
    resource: String,
    kind: Kind,
    step: Step,
    /// Index into the plan's changes.
    change: usize,
    deps: BTreeSet<usize>,
    /// The update that applies late references once what they name is up.
    late: bool,
    /// An update that reads its resource again before it writes: a
    /// dependency is replaced in this run, and deleting the object it
    /// replaces can change this resource (a policy deleted is detached from
    /// its roles), so the plan's read may be stale by then.
    reread: bool,
}

/// The operations of a plan and the edges between them.
fn operations(stack: &Stack, graph: &Graph, state: &State, plan: &Plan) -> Vec<Op> {
    let mut ops: Vec<Op> = Vec::new();
    let mut up: HashMap<&str, usize> = HashMap::new();
    let mut delete_old: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut delete: HashMap<&str, usize> = HashMap::new();
    for (i, ch) in plan.changes.iter().enumerate() {
        let mut push = |step| {
            ops.push(Op {
                resource: ch.resource.clone(),
                kind: ch.kind,
                step,
                change: i,
                deps: BTreeSet::new(),
                late: false,
                reread: false,
            });
            ops.len() - 1
        };
        match (ch.action, ch.replace, ch.deposed) {
            (Action::Delete, _, true) => delete_old.entry(&ch.resource).or_default().push(push(Step::DeleteOld)),
            (Action::Delete, _, false) => {
                delete.insert(&ch.resource, push(Step::Delete));
            }
            (Action::NoOp, ..) => {
                up.insert(&ch.resource, push(Step::Keep));
            }
            (Action::Read, ..) => {
                up.insert(&ch.resource, push(Step::Read));
            }
            (Action::Wait, ..) => {
                up.insert(&ch.resource, push(Step::Wait));
            }
            (Action::Create, ..) => {
                up.insert(&ch.resource, push(Step::Create));
            }
            (Action::Update, ..) => {
                up.insert(&ch.resource, push(Step::Update));
                if ch.kind.facts().versioned {
                    // The previous version is retired once its users moved on.
                    delete_old.entry(&ch.resource).or_default().push(push(Step::DeleteOld));
                }
            }
            (Action::Replace, Some(ReplaceOrder::DeleteBeforeCreate), _) => {
                let d = push(Step::DeleteOld);
                let c = push(Step::Create);
                ops[c].deps.insert(d);
                delete_old.entry(&ch.resource).or_default().push(d);
                up.insert(&ch.resource, c);
            }
            (Action::Replace, ..) => {
                up.insert(&ch.resource, push(Step::CreateReplacement));
                delete_old.entry(&ch.resource).or_default().push(push(Step::DeleteOld));
            }
        }
    }

    // An update after a dependency's replacement reads its resource again.
    // Other changes of a dependency (a new revision, a new object to refer
    // to) delete nothing before this update, so the plan's read stands.
    let replaced: HashSet<&str> =
        plan.changes.iter().filter(|c| c.action == Action::Replace).map(|c| c.resource.as_str()).collect();
    for op in ops.iter_mut().filter(|o| o.step == Step::Update) {
        op.reread = graph.dependencies(&op.resource).iter().any(|d| replaced.contains(d));
    }

    // Who depends on whom: the file's graph, and what the record remembers.
    let mut dependents: HashMap<String, BTreeSet<String>> = HashMap::new();
    for r in &stack.resources {
        for d in graph.dependencies(&r.name) {
            dependents.entry(d.to_string()).or_default().insert(r.name.clone());
        }
    }
    for (name, e) in &state.resources {
        for d in &e.depends_on {
            dependents.entry(d.clone()).or_default().insert(name.clone());
        }
    }

    let mut edges: Vec<(usize, usize)> = Vec::new();
    for op in 0..ops.len() {
        let (name, step) = (ops[op].resource.clone(), ops[op].step);
        let deps_of = |n: &str| dependents.get(n).cloned().unwrap_or_default();
        match step {
            Step::Keep | Step::Read | Step::Create | Step::Update | Step::CreateReplacement | Step::Wait => {
                for d in graph.dependencies(&name) {
                    if let Some(&u) = up.get(d) {
                        edges.push((op, u));
                    }
                }
            }
            Step::DeleteOld => {
                let dbc = ops.iter().any(|o| o.resource == name && o.step == Step::Create && o.deps.contains(&op));
                if !dbc {
                    if let Some(&u) = up.get(name.as_str()) {
                        edges.push((op, u));
                    }
                    for y in deps_of(&name) {
                        if let Some(&u) = up.get(y.as_str()) {
                            edges.push((op, u));
                        }
                        if let Some(&d) = delete.get(y.as_str()) {
                            edges.push((op, d));
                        }
                    }
                } else {
                    // Dependents replaced the same way go first.
                    for y in deps_of(&name) {
                        for &d in delete_old.get(y.as_str()).into_iter().flatten() {
                            edges.push((op, d));
                        }
                        if let Some(&d) = delete.get(y.as_str()) {
                            edges.push((op, d));
                        }
                    }
                }
            }
            Step::Delete => {
                for y in deps_of(&name) {
                    if let Some(&d) = delete.get(y.as_str()) {
                        edges.push((op, d));
                    }
                    for &d in delete_old.get(y.as_str()).into_iter().flatten() {
                        edges.push((op, d));
                    }
                    if let Some(&u) = up.get(y.as_str()) {
                        edges.push((op, u));
                    }
                }
            }
        }
    }
    // Late references to what comes up in this run: one more update of
    // the resource once it and what it names are up.
    let mut late_op: HashMap<&str, usize> = HashMap::new();
    for (from, to) in &graph.late {
        let (Some(&a), Some(&b)) = (up.get(from.as_str()), up.get(to.as_str())) else { continue };
        let made = matches!(ops[b].step, Step::Create | Step::CreateReplacement);
        if !matches!(ops[a].step, Step::Create | Step::CreateReplacement | Step::Update) || !made {
            continue;
        }
        let l = match late_op.get(from.as_str()) {
            Some(&l) => l,
            None => {
                let op = Op { step: Step::Update, deps: BTreeSet::from([a]), late: true, ..ops[a].clone() };
                ops.push(op);
                late_op.insert(from.as_str(), ops.len() - 1);
                ops.len() - 1
            }
        };
        ops[l].deps.insert(b);
        for &d in delete_old.get(to.as_str()).into_iter().flatten() {
            edges.push((d, l));
        }
    }
    for (a, b) in edges {
        if a != b {
            ops[a].deps.insert(b);
        }
    }
    // Deletions nobody recorded the dependencies of go in order of kind.
    let deleting: Vec<(usize, bool)> =
        ops.iter().map(|o| (o.change, matches!(o.step, Step::Delete | Step::DeleteOld))).collect();
    let mut deps: Vec<BTreeSet<usize>> = ops.iter().map(|o| o.deps.clone()).collect();
    crate::discover::order_unrecorded(plan, state, &deleting, &mut deps);
    for (op, d) in ops.iter_mut().zip(deps) {
        op.deps = d;
    }
    ops
}

/// What a finished operation did (one per operation, short-lived: the size
/// of its larger variant costs nothing worth a box).
#[allow(clippy::large_enum_variant)]
enum Done {
    Up { live: Option<Live>, wrote: bool, replaced_old: Option<Deposed> },
    Deleted { deposed_id: Option<String> },
}

struct Job {
    op: usize,
    /// The wait for a resource that settles after its users start
    /// ([`crate::kinds::Facts::settles_after_users_start`]), begun when its
    /// create finished: a [`Step::Wait`] of an operation already finished.
    settle: bool,
    started: Instant,
    result: Result<Done, ProviderError>,
}

/// Runs the plan. Returns the summary and the final state record.
#[allow(clippy::too_many_arguments)]
pub async fn apply<P: Provider + 'static>(
    provider: Arc<P>,
    stack: &Stack,
    graph: &Graph,
    plan: &Plan,
    mut state: State,
    store: &dyn StateStore,
    opts: &ApplyOptions,
    reporter: &dyn Reporter,
    cancel: Arc<AtomicBool>,
) -> (Summary, State) {
    let mut summary = Summary::default();
    let ops = operations(stack, graph, &state, plan);
    let mut order = Order::new(&ops);
    let mut known: Known = plan.known.clone();
    let mut running: JoinSet<Job> = JoinSet::new();
    let parallelism = opts.parallelism.max(1);
    // What the providers say while they wait, by operation.
    let (notes_tx, mut notes) = tokio::sync::mpsc::unbounded_channel::<(usize, Step, crate::progress::Note)>();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let note = |(i, step, n): (usize, Step, crate::progress::Note)| {
        let op: &Op = &ops[i];
        match n {
            crate::progress::Note::Status(s) => reporter.waiting(&op.resource, op.kind, step, &s),
            crate::progress::Note::Event(l) => reporter.event(&op.resource, op.kind, step, &l),
        }
    };
    // Waits of resources whose users started before they settled: they
    // run beside the operations, outside the concurrency bound (they only
    // wait), and the apply ends after them.
    let mut settling = 0usize;
    let mut settle_targets: HashMap<usize, Target> = HashMap::new();

    // Entries whose resources are gone already.
    if !plan.forget.is_empty() {
        for f in &plan.forget {
            state.resources.remove(f);
        }
        save(&mut state, store, &mut summary).await;
    }

    loop {
        while running.len() - settling < parallelism && !cancel.load(Ordering::SeqCst) && summary.state_error.is_none()
        {
            let Some(i) = order.ready.pop_first() else { break };
            let op = ops[i].clone();
            let ch = plan.changes[op.change].clone();
            // An update that needed no new revision leaves nothing to retire.
            let current = state.resources.get(&op.resource).map(|e| e.id.as_str());
            if op.step == Step::DeleteOld
                && ch.action == Action::Update
                && current == ch.live.as_ref().map(|l| l.id.as_str())
            {
                order.finished(i);
                continue;
            }
            reporter.started(&op.resource, op.kind, op.step);
            let provider = provider.clone();
            // A deployment is pending in the record from before moor waits
            // for it until it settled.
            if op.kind.facts().deploys && matches!(op.step, Step::Update | Step::Wait) {
                if let Some(e) = state.resources.get_mut(&op.resource).filter(|e| e.pending.is_none()) {
                    e.pending =
                        Some(Pending { reason: "moor stopped before its deployment settled".into(), redeploy: false });
                    save(&mut state, store, &mut summary).await;
                }
            }
            let target = match op.step {
                Step::Create | Step::Update | Step::CreateReplacement | Step::Wait => {
                    let (mut t, mut unknown) = plan::target(stack, &op.resource, &known, &state);
                    // Exactly the digests the plan showed.
                    crate::images::pin(&mut t, &plan.images);
                    // What another tool owns stays as AWS has it.
                    let kept = match op.step {
                        Step::Update => ch.live.as_ref(),
                        Step::Create => plan.kept.get(&op.resource),
                        _ => None,
                    };
                    if let Some(live) = kept {
                        plan::keep_ignored(stack, &mut t, live);
                    }
                    if !op.late && graph.late.iter().any(|(from, _)| from == &op.resource) {
                        without_unresolved_late(&mut t, &mut unknown);
                    }
                    if !unknown.is_empty() {
                        let e = ProviderError::new(
                            crate::provider::ErrorKind::Rejected,
                            "moor:resolve",
                            format!(
                                "references not known after their resources ran: {}",
                                unknown.into_iter().collect::<Vec<_>>().join(", ")
                            ),
                        );
                        running.spawn(
                            async move { Job { op: i, settle: false, started: Instant::now(), result: Err(e) } },
                        );
                        continue;
                    }
                    Some(t)
                }
                _ => None,
            };
            if op.kind.facts().settles_after_users_start && matches!(op.step, Step::Create | Step::CreateReplacement) {
                if let Some(t) = &target {
                    settle_targets.insert(i, t.clone());
                }
            }
            let tx = notes_tx.clone();
            let step = op.step;
            let sink: crate::progress::Sink = Arc::new(move |n| {
                let _ = tx.send((i, step, n));
            });
            running.spawn(async move {
                let started = Instant::now();
                let result = crate::progress::scope(sink, run(provider.as_ref(), &op, &ch, target)).await;
                Job { op: i, settle: false, started, result }
            });
        }
        let first = loop {
            tokio::select! {
                biased;
                Some(n) = notes.recv() => note(n),
                joined = running.join_next() => break joined,
                _ = ticks.tick() => reporter.tick(),
            }
        };
        // What was said before a step ended is shown before its end.
        while let Ok(n) = notes.try_recv() {
            note(n);
        }
        let Some(first) = first else { break };
        // Every job that has finished by now is recorded, then the record
        // is saved once for all of them (group commit): each write is saved
        // before anything that depends on it starts, with fewer rewrites of
        // a large record.
        let mut finished = vec![first];
        while let Some(more) = running.try_join_next() {
            finished.push(more);
        }
        let mut wrote = false;
        for joined in finished {
            let job = match joined {
                Ok(j) => j,
                Err(e) => {
                    summary.state_error = Some(format!("an operation panicked: {e}"));
                    continue;
                }
            };
            let op = &ops[job.op];
            let ch = &plan.changes[op.change];
            if job.settle {
                settling -= 1;
                wrote |= settled(&mut state, op, job, reporter, &mut summary);
                continue;
            }
            match job.result {
                Ok(result) => {
                    // Made, and its users may start: it settles beside them.
                    let settle = match (&result, settle_targets.remove(&job.op)) {
                        (Done::Up { live: Some(live), .. }, Some(t)) => Some((t, live.clone())),
                        _ => None,
                    };
                    order.finished(job.op);
                    reporter.finished(&op.resource, op.kind, op.step, job.started.elapsed());
                    record(&mut state, &mut known, stack, graph, op, ch, result, &mut summary, &plan.images);
                    wrote |= op.step.writes();
                    if let Some((t, live)) = settle {
                        if let Some(entry) = state.resources.get_mut(&op.resource) {
                            entry.unsettled = true;
                        }
                        reporter.started(&op.resource, op.kind, Step::Wait);
                        let provider = provider.clone();
                        let tx = notes_tx.clone();
                        let i = job.op;
                        let sink: crate::progress::Sink = Arc::new(move |n| {
                            let _ = tx.send((i, Step::Wait, n));
                        });
                        settling += 1;
                        running.spawn(async move {
                            let started = Instant::now();
                            let result = crate::progress::scope(sink, provider.settle(&t, &live, false)).await;
                            let result = result.map(|l| Done::Up { live: Some(l), wrote: true, replaced_old: None });
                            Job { op: i, settle: true, started, result }
                        });
                    }
                }
                Err(mut e) => {
                    settle_targets.remove(&job.op);
                    if let Some(made) = e.made.take() {
                        // Made or changed, then its wait was interrupted: it
                        // exists, so it is recorded, and the next run waits.
                        let replaced_old = (op.step == Step::CreateReplacement)
                            .then(|| ch.live.as_ref().map(|l| deposed_of(op.kind, l)))
                            .flatten();
                        let done = Done::Up { live: Some(*made), wrote: true, replaced_old };
                        record(&mut state, &mut known, stack, graph, op, ch, done, &mut summary, &plan.images);
                        if let Some(entry) = state.resources.get_mut(&op.resource) {
                            entry.unsettled = true;
                        }
                        wrote = true;
                    }
                    reporter.failed(&op.resource, op.kind, op.step, &e);
                    // The record remembers a deployment that did not settle.
                    if op.kind.facts().deploys && e.kind == crate::provider::ErrorKind::Wait {
                        let redeploy = e.code.as_deref() == Some(crate::provider::ROLLED_BACK);
                        let pending = Some(Pending { reason: e.to_string(), redeploy });
                        match (state.resources.get_mut(&op.resource), &ch.live) {
                            (Some(entry), _) => entry.pending = pending,
                            (None, Some(l)) => {
                                let entry = Entry { pending, ..entry_of(stack, graph, &op.resource, op.kind, l) };
                                state.resources.insert(op.resource.clone(), entry);
                            }
                            (None, None) => {}
                        }
                        wrote = true;
                    }
                    summary.failed.push(Failure {
                        resource: op.resource.clone(),
                        kind: op.kind,
                        step: op.step,
                        error: e,
                    });
                    // Everything downstream is skipped, once, naming the cause.
                    let why = format!("{} of `{}` failed", op.step.verb().trim_end_matches(" of"), op.resource);
                    for d in order.failed(job.op) {
                        reporter.skipped_step(&ops[d].resource, ops[d].kind, ops[d].step, &why);
                        summary.skipped.push((ops[d].resource.clone(), why.clone()));
                    }
                }
            }
        }
        if wrote {
            save(&mut state, store, &mut summary).await;
        }
    }
    if cancel.load(Ordering::SeqCst) {
        summary.interrupted = true;
        for (i, op) in ops.iter().enumerate() {
            if !order.done[i] {
                summary.skipped.push((op.resource.clone(), "not started: interrupted".into()));
            }
        }
    }
    // Outputs as of now; a partial destroy keeps those of what it left.
    let partial_destroy = plan.destroy && plan.partial.is_some();
    if partial_destroy {
        for ch in plan.changes.iter().filter(|c| c.action == Action::Delete && !c.deposed) {
            known.remove(&ch.resource);
        }
    }
    if partial_destroy && stack.outputs.is_empty() {
        // Destroyed by name without the file: which outputs used what is not known here.
    } else if !plan.destroy || partial_destroy {
        state.outputs = stack
            .outputs
            .iter()
            .filter_map(|o| match crate::resolve::resolve_str(&o.value, &known) {
                (serde_json::Value::String(s), false) => Some((o.name.clone(), s)),
                (v, false) => Some((o.name.clone(), v.to_string())),
                _ => None,
            })
            .collect();
    } else {
        state.outputs.clear();
    }
    save(&mut state, store, &mut summary).await;
    (summary, state)
}

/// Which operations may start: each once everything it depends on has
/// finished, none after one of those failed.
struct Order {
    /// Dependencies of each operation not finished yet.
    pending: Vec<usize>,
    /// The operations that depend on each one.
    dependents: Vec<Vec<usize>>,
    /// Finished, failed or skipped.
    done: Vec<bool>,
    ready: BTreeSet<usize>,
}

impl Order {
    fn new(ops: &[Op]) -> Order {
        let pending: Vec<usize> = ops.iter().map(|o| o.deps.len()).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
        for (i, o) in ops.iter().enumerate() {
            for &d in &o.deps {
                dependents[d].push(i);
            }
        }
        let ready = (0..ops.len()).filter(|i| pending[*i] == 0).collect();
        Order { pending, dependents, done: vec![false; ops.len()], ready }
    }

    /// `i` finished: what waited only for it is ready.
    fn finished(&mut self, i: usize) {
        self.done[i] = true;
        for &d in &self.dependents[i] {
            self.pending[d] -= 1;
            if self.pending[d] == 0 && !self.done[d] {
                self.ready.insert(d);
            }
        }
    }

    /// `i` failed: everything downstream of it that was not done yet is
    /// skipped, each once; returns those.
    fn failed(&mut self, i: usize) -> Vec<usize> {
        self.done[i] = true;
        let mut skipped = Vec::new();
        let mut next: Vec<usize> = self.dependents[i].clone();
        while let Some(d) = next.pop() {
            if self.done[d] {
                continue;
            }
            self.done[d] = true;
            self.ready.remove(&d);
            skipped.push(d);
            next.extend(self.dependents[d].iter().copied());
        }
        skipped
    }
}

/// The end of the wait for a resource that settled after its users started
/// (its create finished before): settled, its record no longer says
/// unsettled; not, the apply fails with it and the record still says so,
/// so that the next apply waits again. Whether the record changed.
fn settled(state: &mut State, op: &Op, job: Job, reporter: &dyn Reporter, summary: &mut Summary) -> bool {
    match job.result {
        Ok(Done::Up { live: Some(live), .. }) => {
            reporter.finished(&op.resource, op.kind, Step::Wait, job.started.elapsed());
            match state.resources.get_mut(&op.resource).filter(|e| e.id == live.id) {
                Some(entry) => {
                    entry.unsettled = false;
                    entry.attrs = live.attrs;
                    true
                }
                None => false,
            }
        }
        Ok(_) => false,
        Err(mut e) => {
            // Interrupted: it is recorded already, as unsettled.
            e.made = None;
            reporter.failed(&op.resource, op.kind, Step::Wait, &e);
            summary.failed.push(Failure { resource: op.resource.clone(), kind: op.kind, step: Step::Wait, error: e });
            false
        }
    }
}

async fn save(state: &mut State, store: &dyn StateStore, summary: &mut Summary) {
    state.serial += 1;
    if let Err(e) = store.save(state).await {
        summary.state_error = Some(e.to_string());
    }
}

async fn run<P: Provider + ?Sized>(p: &P, op: &Op, ch: &Change, target: Option<Target>) -> Result<Done, ProviderError> {
    match op.step {
        Step::Keep | Step::Read => Ok(Done::Up { live: ch.live.clone(), wrote: false, replaced_old: None }),
        Step::Wait => {
            // The plan gives every wait, create and update a target, and
            // waits and updates are of objects it read (`ch.live`).
            let t = target.expect("target for wait");
            let live = ch.live.as_ref().expect("a wait for something that exists");
            let settled = p.settle(&t, live, ch.redeploy).await?;
            Ok(Done::Up { live: Some(settled), wrote: ch.redeploy, replaced_old: None })
        }
        Step::Create | Step::CreateReplacement => {
            let t = target.expect("target for create");
            let live = match p.create(&t).await {
                Ok(live) => live,
                Err(e) if may_have_been_made(&e) => made_before(p, &t, ch.live.as_ref(), e).await?,
                Err(e) => return Err(e),
            };
            let replaced_old = (op.step == Step::CreateReplacement)
                .then(|| ch.live.as_ref().map(|l| deposed_of(op.kind, l)))
                .flatten();
            Ok(Done::Up { live: Some(live), wrote: true, replaced_old })
        }
        Step::Update if op.late => {
            let t = target.expect("target for update");
            // Read now: the resource was made or changed in this run.
            let Some(live) = p.read(&t).await? else {
                return Err(ProviderError::new(ErrorKind::NotFound, "moor:late", "the resource is gone"));
            };
            let desired = desired_fields(&t.spec, t.name.as_deref());
            let diffs = plan::diff(t.kind, &desired, &BTreeSet::new(), &live, &t.tags, None);
            if diffs.is_empty() {
                return Ok(Done::Up { live: Some(live), wrote: false, replaced_old: None });
            }
            let changed: Vec<String> = diffs.into_iter().map(|d| d.field).collect();
            let new = p.update(&t, &live, &changed).await?;
            Ok(Done::Up { live: Some(new), wrote: true, replaced_old: None })
        }
        Step::Update => {
            let t = target.expect("target for update");
            let planned = ch.live.as_ref().expect("update of something that exists");
            // A dependency was replaced since the plan read this resource (a
            // policy deleted and made again is detached from its roles): read
            // it again rather than trust the plan's snapshot.
            let fresh = if op.reread && ch.diffs.iter().any(|d| d.after_unknown) { p.read(&t).await? } else { None };
            let live = fresh.as_ref().unwrap_or(planned);
            // Compare again with every reference known now; removals (of a
            // field, or of part of one, such as a container's option) were
            // found against what was last applied, and stay.
            let desired = desired_fields(&t.spec, t.name.as_deref());
            let mut diffs = plan::diff(t.kind, &desired, &BTreeSet::new(), live, &t.tags, None);
            for d in &ch.diffs {
                // A part removed is checked again when live was read again.
                let removal = !d.after_unknown && d.field != plan::SETTLED && (d.after.is_none() || fresh.is_none());
                if removal && !diffs.iter().any(|x| x.field == d.field) {
                    diffs.push(d.clone());
                }
            }
            if diffs.is_empty() {
                if ch.diffs.iter().any(|d| d.field == plan::SETTLED) {
                    let settled = p.settle(&t, live, false).await?;
                    return Ok(Done::Up { live: Some(settled), wrote: true, replaced_old: None });
                }
                return Ok(Done::Up { live: Some(live.clone()), wrote: false, replaced_old: None });
            }
            let changed: Vec<String> = diffs.into_iter().map(|d| d.field).collect();
            let new = p.update(&t, live, &changed).await?;
            let replaced_old = (new.id != planned.id).then(|| deposed_of(op.kind, planned));
            Ok(Done::Up { live: Some(new), wrote: true, replaced_old })
        }
        Step::DeleteOld | Step::Delete => {
            let d: Deletion = match (&ch.deletion, op.step, ch.kind) {
                // The superseded revision of an updated task definition.
                (None, Step::DeleteOld, _) => match &ch.live {
                    Some(l) => Deletion {
                        logical: ch.resource.clone(),
                        kind: ch.kind,
                        id: l.id.clone(),
                        name: ch.name.clone(),
                        attrs: l.attrs.clone(),
                        force: false,
                    },
                    None => return Ok(Done::Deleted { deposed_id: None }),
                },
                (Some(d), ..) => d.clone(),
                (None, ..) => return Ok(Done::Deleted { deposed_id: None }),
            };
            match p.delete(&d).await {
                Ok(()) => {}
                Err(e) if e.kind == crate::provider::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let deposed_id = (op.step == Step::DeleteOld).then(|| d.id.clone());
            Ok(Done::Deleted { deposed_id })
        }
    }
}

/// Leaves out of a target the late references that are not known yet
/// (what they name is not up): a later update of the resource applies them.
fn without_unresolved_late(t: &mut Target, unknown: &mut BTreeSet<String>) {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::to_value(&t.spec) else { return };
    t.spec.as_dyn().strip_unresolved_late(&mut fields);
    unknown.retain(|f| fields.get(f).is_some_and(|v| !crate::resolve::unknown_leaves(v).is_empty()));
    if let Ok(spec) = t.kind.spec_from_json(serde_json::Value::Object(fields)) {
        t.spec = spec;
    }
}

/// Whether a failed create may have made the object all the same: AWS
/// answered that the name is taken (the SDK retried a create whose first
/// answer was lost), or no answer came back (the connection dropped or
/// timed out after the request was sent).
fn may_have_been_made(e: &ProviderError) -> bool {
    match e.kind {
        ErrorKind::AlreadyExists | ErrorKind::Transient | ErrorKind::Setup => true,
        ErrorKind::Rejected => e.code.is_none(),
        ErrorKind::NotFound | ErrorKind::InUse | ErrorKind::Wait => false,
    }
}

/// After a create failed as [`may_have_been_made`] says: the object of
/// that name when it carries this stack's tags for this logical name (the
/// create sent them, so only an earlier attempt of this create made it),
/// brought to what the file says, since whatever the create would have
/// done after its first call did not happen. Anything else: the error.
async fn made_before<P: Provider + ?Sized>(
    p: &P,
    t: &Target,
    replaced: Option<&Live>,
    e: ProviderError,
) -> Result<Live, ProviderError> {
    // By name, not by a recorded id: a replacement's target still names
    // the object it replaces.
    let by_name = Target { id: None, recorded: Default::default(), ..t.clone() };
    let live = match p.read(&by_name).await {
        Ok(Some(live)) => live,
        Ok(None) | Err(_) => return Err(e),
    };
    // The object this create replaces, still seen just after its delete
    // (IAM is eventually consistent), is not the new one.
    let same_as_replaced = replaced
        .is_some_and(|old| old.id == live.id && (t.kind.id_is_unique() || (old.uid.is_some() && old.uid == live.uid)));
    if same_as_replaced {
        return Err(e);
    }
    if let Owner::Other(owner) = live.owner(&t.stack, &t.logical, t.kind, None) {
        return Err(ProviderError {
            message: format!("{} (it belongs to {owner}; moor will not change it)", e.message),
            ..e
        });
    }
    let desired = desired_fields(&t.spec, t.name.as_deref());
    let changed: Vec<String> =
        plan::diff(t.kind, &desired, &BTreeSet::new(), &live, &t.tags, None).into_iter().map(|d| d.field).collect();
    if changed.is_empty() {
        // Whatever it waits for (a load balancer provisioning, a service's
        // first deployment) was not waited for by the attempt that made it.
        return p.settle(t, &live, false).await;
    }
    p.update(t, &live, &changed).await
}

fn deposed_of(kind: Kind, l: &Live) -> Deposed {
    Deposed {
        id: l.id.clone(),
        uid: l.uid.clone(),
        name: l.fields.get(kind.facts().name_field).and_then(|v| v.as_str()).map(str::to_string),
        attrs: l.attrs.clone(),
    }
}

/// The record of the logical resource `logical` as the object `live`:
/// what apply records for it, and what import records, so that the two
/// cannot differ. Without the fields as applied, replaced objects, an
/// unsettled wait or a pending deployment: the caller adds what it knows.
pub fn entry_of(stack: &Stack, graph: &Graph, logical: &str, kind: Kind, live: &Live) -> Entry {
    let r = stack.resource(logical);
    Entry {
        kind,
        id: live.id.clone(),
        uid: live.uid.clone(),
        name: r.and_then(|r| r.physical_name.clone()),
        attrs: live.attrs.clone(),
        depends_on: graph.dependencies(logical).into_iter().map(str::to_string).collect(),
        force_delete: r.is_some_and(|r| r.spec.as_dyn().deletes_contents()),
        applied: None,
        deposed: Vec::new(),
        unsettled: false,
        pending: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    state: &mut State,
    known: &mut Known,
    stack: &Stack,
    graph: &Graph,
    op: &Op,
    ch: &Change,
    result: Done,
    summary: &mut Summary,
    images: &crate::images::Images,
) {
    match result {
        Done::Up { live, wrote, replaced_old } => {
            let Some(live) = live else { return };
            known.insert(op.resource.clone(), live.attrs.clone());
            if op.kind.is_lookup() {
                return;
            }
            let r = stack.resource(&op.resource);
            // What the file says now, with every reference known: AWS matches it.
            // Sensitive values are recorded as hashes only.
            let applied = r.map(|r| {
                let (mut t, _) = plan::target(stack, &op.resource, known, state);
                crate::images::pin(&mut t, images);
                let mut f = desired_fields(&t.spec, t.name.as_deref());
                crate::secret::hash_fields(
                    &mut f,
                    &|k, v| r.spec.as_dyn().secret_leaves(k, v),
                    &stack.name,
                    &op.resource,
                );
                f
            });
            let mut deposed = state.resources.get(&op.resource).map(|e| e.deposed.clone()).unwrap_or_default();
            if let Some(old) = replaced_old {
                if !deposed.iter().any(|d| d.id == old.id) {
                    deposed.push(old);
                }
            }
            state.resources.insert(
                op.resource.clone(),
                Entry { applied, deposed, ..entry_of(stack, graph, &op.resource, op.kind, &live) },
            );
            if wrote {
                summary.writes += 1;
                match op.step {
                    Step::Create if ch.action == Action::Replace => summary.replaced.push(op.resource.clone()),
                    Step::Create => summary.created.push(op.resource.clone()),
                    Step::CreateReplacement => summary.replaced.push(op.resource.clone()),
                    Step::Update if !op.late => summary.updated.push(op.resource.clone()),
                    _ => {}
                }
            }
        }
        Done::Deleted { deposed_id } => {
            summary.writes += 1;
            match deposed_id {
                Some(id) => {
                    if let Some(e) = state.resources.get_mut(&op.resource) {
                        e.deposed.retain(|d| d.id != id);
                        // Delete-before-create: the entry itself was the old one.
                        if e.id == id {
                            state.resources.remove(&op.resource);
                        }
                    }
                }
                None => {
                    state.resources.remove(&op.resource);
                    summary.deleted.push(op.resource.clone());
                }
            }
        }
    }
}
