//! The engine against an in-memory provider: order, the concurrency bound,
//! failures that skip exactly their dependents, interruption at every step,
//! and the updates and replacements users make every day.

use moor::apply::{apply, ApplyOptions, MemoryStore, Quiet, Summary};
use moor::graph::build;
use moor::load::{load_str, LoadOptions};
use moor::model::{Kind, Stack};
use moor::observe::observe;
use moor::plan::{plan, Action, Plan, PlanOptions, ReplaceOrder};
use moor::provider::{Deletion, Found, Live, ProviderError};
use moor::state::State;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[path = "support/fake.rs"]
mod fake;
use fake::FakeProvider;

/// The example stack; with no tasks unless `extra_vars` sets
/// `desired_count` (its repository is new, and holds no image to run).
fn flask(extra_vars: &[&str]) -> Stack {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let mut vars = extra_vars.to_vec();
    if !vars.iter().any(|v| v.starts_with("desired_count=")) {
        vars.insert(0, "desired_count=0");
    }
    stack_from(&text, &vars)
}

fn stack_from(text: &str, vars: &[&str]) -> Stack {
    let opts = LoadOptions { vars: vars.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let l = load_str("stack.yaml", text, &opts);
    assert!(!l.has_errors(), "{:?}", l.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    l.stack.unwrap()
}

fn fake() -> Arc<FakeProvider> {
    let f = FakeProvider::new();
    f.seed("net", Kind::Ec2DefaultVpc, None, &[]);
    Arc::new(f)
}

async fn make_plan(p: &FakeProvider, stack: &Stack, state: &State, destroy: bool) -> Plan {
    let (graph, _) = build(stack);
    let observed = observe(p, stack, &graph, state).await.map_err(|e| format!("{:?}", e)).unwrap();
    plan(stack, &graph, state, &observed, destroy, PlanOptions::default())
}

async fn run(
    p: &Arc<FakeProvider>,
    stack: &Stack,
    state: State,
    destroy: bool,
    parallelism: usize,
) -> (Plan, Summary, State) {
    let (graph, _) = build(stack);
    let pl = make_plan(p, stack, &state, destroy).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    let store = MemoryStore::default();
    let (summary, state) = apply(
        p.clone(),
        stack,
        &graph,
        &pl,
        state,
        &store,
        &ApplyOptions { parallelism },
        &Quiet,
        Arc::new(AtomicBool::new(false)),
    )
    .await;
    // The record was written, and the last write is the final state.
    assert_eq!(store.0.lock().unwrap().as_ref(), Some(&state));
    (pl, summary, state)
}

fn empty(stack: &Stack) -> State {
    State::new(&stack.name, stack.region.as_deref())
}

/// What the provider holds, per logical name (lookups excluded).
fn inventory(p: &FakeProvider) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in p.store.lock().unwrap().values() {
        if !s.kind.is_lookup() {
            *m.entry(s.logical.clone()).or_default() += 1;
        }
    }
    m
}

fn position(writes: &[String], entry: &str) -> usize {
    writes.iter().position(|w| w == entry).unwrap_or_else(|| panic!("{entry} not in {writes:?}"))
}

#[tokio::test]
async fn apply_from_empty_creates_everything_in_dependency_order() {
    let stack = flask(&[]);
    let p = fake();
    let (pl, summary, state) = run(&p, &stack, empty(&stack), false, 10).await;
    assert!(summary.ok(), "{summary:?}");
    assert_eq!(pl.counts().add, 12);
    assert_eq!(summary.created.len(), 12);
    let writes = p.writes.lock().unwrap().clone();
    let (graph, _) = build(&stack);
    for r in &stack.resources {
        if r.kind().is_lookup() {
            continue;
        }
        for d in graph.dependencies(&r.name) {
            if stack.resource(d).unwrap().kind().is_lookup() {
                continue;
            }
            assert!(
                position(&writes, &format!("create {d}")) < position(&writes, &format!("create {}", r.name)),
                "{d} before {}",
                r.name
            );
        }
    }
    // The service comes after the listener (implicit edge).
    assert!(position(&writes, "create http") < position(&writes, "create app"));
    assert_eq!(state.resources.len(), 12);
    assert!(state.outputs["url"].starts_with("http://dns_name-of-"), "{:?}", state.outputs);
    assert_eq!(inventory(&p).values().copied().collect::<Vec<_>>(), vec![1; 12]);
}

#[tokio::test]
async fn a_second_apply_makes_zero_write_calls_and_plan_shows_no_changes() {
    let stack = flask(&[]);
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    let writes = p.write_count();
    let pl = make_plan(&p, &stack, &state, false).await;
    assert!(!pl.has_changes(), "{:?}", pl.changes.iter().filter(|c| c.action != Action::NoOp).collect::<Vec<_>>());
    let (_, summary, _) = run(&p, &stack, state, false, 10).await;
    assert!(summary.ok());
    assert_eq!(summary.writes, 0);
    assert_eq!(p.write_count(), writes, "no write call on a converged stack");
}

#[tokio::test]
async fn the_concurrency_bound_is_reached_and_never_exceeded() {
    let mut src = String::from("stack: wide\nresources:\n");
    for i in 0..40 {
        src.push_str(&format!("  c{i}:\n    kind: ecs/cluster\n"));
    }
    let stack = stack_from(&src, &[]);
    for bound in [1, 4, 10] {
        let p = Arc::new(FakeProvider::with_delay(Duration::from_millis(15)));
        let (_, summary, _) = run(&p, &stack, empty(&stack), false, bound).await;
        assert!(summary.ok());
        // Reads during observation are batched separately; the writes are bounded.
        let before = p.max_in_flight.load(Ordering::SeqCst);
        assert!(before >= bound, "bound {bound} reached (max {before})");
        let p2 = Arc::new(FakeProvider::with_delay(Duration::from_millis(15)));
        let pl = make_plan(&p2, &stack, &empty(&stack), false).await;
        p2.max_in_flight.store(0, Ordering::SeqCst);
        let (graph, _) = build(&stack);
        let store = MemoryStore::default();
        let (s, _) = apply(
            p2.clone(),
            &stack,
            &graph,
            &pl,
            empty(&stack),
            &store,
            &ApplyOptions { parallelism: bound },
            &Quiet,
            Arc::new(AtomicBool::new(false)),
        )
        .await;
        assert!(s.ok());
        assert_eq!(p2.max_in_flight.load(Ordering::SeqCst), bound, "exactly {bound} at once, never more");
    }
}

#[tokio::test]
async fn a_failure_skips_exactly_its_dependents() {
    let stack = flask(&[]);
    let p = fake();
    p.fail.lock().unwrap().push(("create", "web".into()));
    let (_, summary, state) = run(&p, &stack, empty(&stack), false, 10).await;
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].resource, "web");
    assert_eq!(summary.failed[0].error.code.as_deref(), Some("InjectedFailure"));
    let mut skipped: Vec<&str> = summary.skipped.iter().map(|(r, _)| r.as_str()).collect();
    skipped.sort();
    assert_eq!(skipped, ["app", "http"], "only what depends on web");
    assert!(summary.skipped.iter().all(|(_, why)| why.contains("`web`")));
    assert_eq!(summary.created.len(), 9);
    // The next run finishes the job.
    p.fail.lock().unwrap().clear();
    let (pl, summary, _) = run(&p, &stack, state, false, 10).await;
    assert_eq!(pl.counts().add, 3);
    assert!(summary.ok());
    assert_eq!(inventory(&p).len(), 12);
}

async fn interrupted_then_resumed(effect_before_crash: bool) {
    let stack = flask(&[]);
    let clean = fake();
    run(&clean, &stack, empty(&stack), false, 10).await;
    let total = clean.write_count();
    assert_eq!(total, 12);
    for k in 0..total {
        let p = fake();
        *p.crash_after.lock().unwrap() = Some(k);
        p.crash_after_effect.store(effect_before_crash, Ordering::SeqCst);
        let (_, summary, state) = run(&p, &stack, empty(&stack), false, 10).await;
        assert!(!summary.ok(), "crash at write {k}");
        *p.crash_after.lock().unwrap() = None;
        let (_, summary, state) = run(&p, &stack, state, false, 10).await;
        assert!(summary.ok(), "resume after crash at write {k}: {summary:?}");
        let inv = inventory(&p);
        assert_eq!(inv.len(), 12, "crash at {k}: {inv:?}");
        assert!(inv.values().all(|n| *n == 1), "no duplicates after crash at {k}: {inv:?}");
        assert_eq!(state.resources.len(), 12);
        for (name, e) in &state.resources {
            assert!(p.store.lock().unwrap().contains_key(&e.id), "{name} recorded as what exists");
        }
        let pl = make_plan(&p, &stack, &state, false).await;
        assert!(!pl.has_changes(), "converged after crash at {k}");
    }
}

#[tokio::test]
async fn an_interruption_before_any_write_is_finished_by_the_next_run() {
    interrupted_then_resumed(false).await;
}

#[tokio::test]
async fn an_interruption_after_aws_answered_but_before_the_record_is_finished_by_the_next_run() {
    interrupted_then_resumed(true).await;
}

#[tokio::test]
async fn a_resource_removed_from_the_file_is_deleted() {
    let stack = flask(&[]);
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    // Without the service.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let cut = text.find("  # The service keeps").unwrap();
    let end = text.find("outputs:").unwrap();
    let smaller = stack_from(&format!("{}{}", &text[..cut], &text[end..]), &[]);
    let (pl, summary, state) = run(&p, &smaller, state, false, 10).await;
    assert_eq!(pl.counts().destroy, 1);
    assert_eq!(pl.change("app").unwrap().reasons, vec!["removed from the file"]);
    assert!(summary.ok());
    assert_eq!(summary.deleted, vec!["app"]);
    assert!(!state.resources.contains_key("app"));
    assert!(p.of_kind(Kind::EcsService).is_empty());
}

#[tokio::test]
async fn destroy_deletes_everything_dependents_first() {
    let stack = flask(&[]);
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    let before = p.write_count();
    let (pl, summary, state) = run(&p, &stack, state, true, 10).await;
    assert_eq!(pl.counts().destroy, 12);
    assert!(summary.ok(), "{summary:?}");
    assert!(inventory(&p).is_empty());
    assert!(state.resources.is_empty());
    let writes = p.writes.lock().unwrap()[before..].to_vec();
    let (graph, _) = build(&stack);
    for r in &stack.resources {
        for d in graph.dependencies(&r.name) {
            if stack.resource(d).unwrap().kind().is_lookup() {
                continue;
            }
            assert!(
                position(&writes, &format!("delete {}", r.name)) < position(&writes, &format!("delete {d}")),
                "{} before {d}",
                r.name
            );
        }
    }
    // Destroy works without the file too: the record remembers the order.
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    let nothing = stack_from("stack: flask-demo\n", &[]);
    let (_, summary, _) = run(&p, &nothing, state, true, 10).await;
    assert!(summary.ok(), "{summary:?}");
    assert!(inventory(&p).is_empty());
}

#[tokio::test]
async fn a_resource_with_the_same_name_but_not_ours_is_never_touched() {
    let stack = flask(&[]);
    let p = fake();
    p.seed("other", Kind::EcrRepository, Some("course/flask-app"), &[("team", "data")]);
    let pl = make_plan(&p, &stack, &empty(&stack), false).await;
    assert_eq!(pl.problems.len(), 1);
    let problem = &pl.problems[0];
    assert_eq!(problem.resource, "repo");
    assert!(problem.message.contains("exists but belongs to nothing moor manages"), "{}", problem.message);
    assert!(
        problem.help.contains("moor import repo arn:fake:ecr/repository:course/flask-app -f stack.yaml"),
        "{}",
        problem.help
    );
    // Destroy of the stack leaves it alone too.
    let pl = make_plan(&p, &stack, &empty(&stack), true).await;
    assert!(pl.changes.is_empty());
}

#[tokio::test]
async fn a_new_image_tag_registers_a_revision_updates_the_service_and_retires_the_old_revision() {
    let p = fake();
    let v1 = flask(&["image_tag=v1"]);
    let (_, _, state) = run(&p, &v1, empty(&v1), false, 10).await;
    let old = state.resources["task"].id.clone();
    let v2 = flask(&["image_tag=v2"]);
    let pl = make_plan(&p, &v2, &state, false).await;
    let task = pl.change("task").unwrap();
    assert_eq!(task.action, Action::Update);
    let image = task.diffs.iter().find(|d| d.field == "containers").unwrap();
    assert!(image.after.as_ref().unwrap().to_string().contains(":v2"));
    let app = pl.change("app").unwrap();
    assert_eq!(app.action, Action::Update);
    assert!(app.diffs.iter().any(|d| d.field == "task_definition" && d.after_unknown));
    assert_eq!(pl.counts(), moor::plan::Counts { add: 0, change: 2, replace: 0, destroy: 0 });
    let before = p.write_count();
    let (_, summary, state) = run(&p, &v2, state, false, 10).await;
    assert!(summary.ok());
    let writes = p.writes.lock().unwrap()[before..].to_vec();
    assert_eq!(writes, ["update task", "update app", "delete task"]);
    assert_ne!(state.resources["task"].id, old);
    assert_eq!(p.of_kind(Kind::EcsTaskDefinition).len(), 1, "the old revision is retired");
    let pl = make_plan(&p, &v2, &state, false).await;
    assert!(!pl.has_changes());
}

#[tokio::test]
async fn desired_count_changes_in_place() {
    let p = fake();
    let a = flask(&[]);
    let (_, _, state) = run(&p, &a, empty(&a), false, 10).await;
    let b = flask(&["desired_count=3"]);
    let pl = make_plan(&p, &b, &state, false).await;
    let app = pl.change("app").unwrap();
    assert_eq!(app.action, Action::Update);
    assert_eq!(app.diffs.len(), 1);
    assert_eq!(app.diffs[0].before, Some(serde_json::json!(0)));
    assert_eq!(app.diffs[0].after, Some(serde_json::json!(3)));
    assert_eq!(pl.counts().change, 1);
}

#[tokio::test]
async fn a_target_group_port_change_creates_the_new_group_moves_its_users_then_deletes_the_old() {
    let p = fake();
    let a = flask(&[]);
    let (_, _, state) = run(&p, &a, empty(&a), false, 10).await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let b = stack_from(&text.replace("5000", "8000"), &[]);
    let pl = make_plan(&p, &b, &state, false).await;
    let web = pl.change("web").unwrap();
    assert_eq!(web.action, Action::Replace);
    assert_eq!(web.replace, Some(ReplaceOrder::CreateBeforeDelete));
    assert!(web.reasons.contains(&"forces replacement: port".to_string()), "{:?}", web.reasons);
    assert_eq!(pl.change("http").unwrap().action, Action::Update);
    let before = p.write_count();
    let (_, summary, state) = run(&p, &b, state, false, 10).await;
    assert!(summary.ok(), "{summary:?}");
    let writes = p.writes.lock().unwrap()[before..].to_vec();
    let at = |w: &str| position(&writes, w);
    assert!(at("create web") < at("update http"));
    assert!(at("update http") < at("delete web"));
    assert!(at("update app") < at("delete web"));
    assert_eq!(p.of_kind(Kind::Elbv2TargetGroup).len(), 1);
    assert!(state.resources["web"].deposed.is_empty());
    let pl = make_plan(&p, &b, &state, false).await;
    assert!(!pl.has_changes());
}

#[tokio::test]
async fn cancelling_starts_nothing_new_and_records_what_ran() {
    let stack = flask(&[]);
    let p = fake();
    let pl = make_plan(&p, &stack, &empty(&stack), false).await;
    let (graph, _) = build(&stack);
    let store = MemoryStore::default();
    let cancel = Arc::new(AtomicBool::new(true));
    let (summary, state) =
        apply(p.clone(), &stack, &graph, &pl, empty(&stack), &store, &ApplyOptions::default(), &Quiet, cancel).await;
    assert!(summary.interrupted);
    assert_eq!(p.write_count(), 0);
    assert_eq!(summary.skipped.len(), pl.changes.len());
    assert!(state.resources.is_empty());
}

#[tokio::test]
async fn a_setting_removed_from_the_file_is_planned_and_applied() {
    let p = fake();
    let a = flask(&[]);
    let (_, _, state) = run(&p, &a, empty(&a), false, 10).await;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let b = stack_from(
        &text.replace("    scan_on_push: true\n", "").replace("      expire_untagged_after_days: 7\n", ""),
        &[],
    );
    let pl = make_plan(&p, &b, &state, false).await;
    let repo = pl.change("repo").unwrap();
    assert_eq!(repo.action, Action::Update, "{:#?}", repo);
    let fields: Vec<&str> = repo.diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["lifecycle", "scan_on_push"]);
    let removed = repo.diffs.iter().find(|d| d.field == "scan_on_push").unwrap();
    assert_eq!((removed.before.clone(), removed.after.clone()), (Some(serde_json::json!(true)), None));
    let (_, summary, state) = run(&p, &b, state, false, 10).await;
    assert!(summary.ok());
    let pl = make_plan(&p, &b, &state, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes.iter().filter(|c| c.action != Action::NoOp).collect::<Vec<_>>());
}

/// The flask stack without its service.
fn flask_without_the_service() -> Stack {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let cut = text.find("  # The service keeps").unwrap();
    let end = text.find("outputs:").unwrap();
    stack_from(&format!("{}{}", &text[..cut], &text[end..]), &[])
}

#[tokio::test]
async fn destroy_without_the_record_finds_the_stack_by_its_tags_and_deletes_users_first() {
    let stack = flask(&[]);
    let p = fake();
    run(&p, &stack, empty(&stack), false, 10).await;
    // Another stack's resources of the same logical names, and an untagged one.
    let theirs =
        p.seed("app", Kind::EcsService, Some("other-web"), &[("moor:stack", "other"), ("moor:resource", "app")]);
    let untagged = p.seed("cluster", Kind::EcsCluster, Some("loose"), &[("moor:resource", "cluster")]);
    let before = p.write_count();
    // The record is lost and the file is gone: `destroy --stack flask-demo`.
    let nothing = stack_from("stack: flask-demo\n", &[]);
    let (pl, summary, state) = run(&p, &nothing, empty(&nothing), true, 10).await;
    assert_eq!(pl.counts().destroy, 12, "{:#?}", pl.changes);
    assert!(summary.ok(), "{summary:?}");
    assert!(state.resources.is_empty());
    let left: Vec<String> = p.store.lock().unwrap().keys().filter(|id| !id.starts_with("vpc-")).cloned().collect();
    assert_eq!(left, vec![untagged, theirs]);
    // No record says what depends on what: each user still goes before
    // what it uses, as the file's graph says.
    let writes = p.writes.lock().unwrap()[before..].to_vec();
    let (graph, _) = build(&stack);
    for r in &stack.resources {
        for d in graph.dependencies(&r.name) {
            if stack.resource(d).unwrap().kind().is_lookup() {
                continue;
            }
            assert!(
                position(&writes, &format!("delete {}", r.name)) < position(&writes, &format!("delete {d}")),
                "{} before {d}: {writes:?}",
                r.name
            );
        }
    }
}

#[tokio::test]
async fn a_resource_removed_from_the_file_while_the_record_was_lost_is_deleted_by_apply() {
    let stack = flask(&[]);
    let p = fake();
    run(&p, &stack, empty(&stack), false, 10).await;
    let smaller = flask_without_the_service();
    let (pl, summary, state) = run(&p, &smaller, empty(&smaller), false, 10).await;
    assert_eq!(pl.counts().destroy, 1, "{:#?}", pl.changes);
    let app = pl.change("app").unwrap();
    assert_eq!(app.action, Action::Delete);
    assert!(app.reasons[0].starts_with("removed from the file"), "{:?}", app.reasons);
    assert!(summary.ok(), "{summary:?}");
    assert!(p.of_kind(Kind::EcsService).is_empty());
    // The record is rebuilt, and the next plan has nothing to do.
    assert!(!state.resources.contains_key("app"));
    let again = make_plan(&p, &smaller, &state, false).await;
    assert!(!again.has_changes(), "{:#?}", again.changes);
}

#[tokio::test]
async fn a_resource_replaced_while_the_record_was_lost_is_deleted_after_its_replacement() {
    let stack = flask(&[]);
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    // An older target group of the same logical name, left by a run whose
    // record was lost.
    let old = p.seed(
        "web",
        Kind::Elbv2TargetGroup,
        Some("flask-demo-old"),
        &[("moor:stack", "flask-demo"), ("moor:resource", "web")],
    );
    let current = state.resources["web"].id.clone();
    // With the record, and without it: the old one is found either way.
    for state in [state.clone(), empty(&stack)] {
        let pl = make_plan(&p, &stack, &state, false).await;
        let deletes: Vec<_> = pl.changes.iter().filter(|c| c.action == Action::Delete).collect();
        assert_eq!(deletes.len(), 1, "{deletes:#?}");
        assert!(deletes[0].deposed && deletes[0].id.as_deref() == Some(old.as_str()), "{:#?}", deletes[0]);
    }
    let (_, summary, state) = run(&p, &stack, empty(&stack), false, 10).await;
    assert!(summary.ok(), "{summary:?}");
    assert!(!p.store.lock().unwrap().contains_key(&old));
    assert_eq!(state.resources["web"].id, current);
    assert!(!make_plan(&p, &stack, &state, false).await.has_changes());
}

#[tokio::test]
async fn a_plan_that_cannot_look_for_the_stacks_tags_stops() {
    let stack = flask(&[]);
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    p.fail.lock().unwrap().push(("discover", "flask-demo".into()));
    let (graph, _) = build(&stack);
    let errors = observe(p.as_ref(), &stack, &graph, &state).await.unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].resource.contains("moor:stack=flask-demo"), "{:?}", errors[0]);
    assert_eq!(errors[0].error.code.as_deref(), Some("InjectedFailure"));
}

/// A provider whose listing answers everything it holds, whatever the tags
/// (a listing that ignored the filter).
struct Careless(Arc<FakeProvider>);

#[async_trait::async_trait]
impl moor::provider::Provider for Careless {
    async fn read(&self, t: &moor::provider::Target) -> Result<Option<Live>, ProviderError> {
        self.0.read(t).await
    }
    async fn read_recorded(&self, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        self.0.read_recorded(d).await
    }
    async fn create(&self, t: &moor::provider::Target) -> Result<Live, ProviderError> {
        self.0.create(t).await
    }
    async fn update(&self, t: &moor::provider::Target, live: &Live, changed: &[String]) -> Result<Live, ProviderError> {
        self.0.update(t, live, changed).await
    }
    async fn delete(&self, d: &Deletion) -> Result<(), ProviderError> {
        self.0.delete(d).await
    }
    async fn adopt(&self, t: &moor::provider::Target, live: &Live) -> Result<Live, ProviderError> {
        self.0.adopt(t, live).await
    }
    async fn discover(&self, _stack: &str, _known: &[String]) -> Result<Vec<Found>, ProviderError> {
        let store = self.0.store.lock().unwrap();
        Ok(store
            .values()
            .map(|s| Found {
                kind: s.kind,
                logical: s.logical.clone(),
                id: s.live.id.clone(),
                name: None,
                tags: s.live.tags.clone(),
            })
            .collect())
    }
}

#[tokio::test]
async fn only_what_carries_the_stacks_tag_and_a_logical_name_is_ever_planned_for_deletion() {
    let f = FakeProvider::new();
    f.seed("app", Kind::EcsService, Some("theirs"), &[("moor:stack", "other"), ("moor:resource", "app")]);
    f.seed("repo", Kind::EcrRepository, Some("untagged"), &[]);
    f.seed("half", Kind::EcrRepository, Some("half"), &[("moor:stack", "flask-demo")]);
    f.seed("cluster", Kind::EcsCluster, Some("other-name"), &[("moor:stack", "flask-demo"), ("moor:resource", "x")]);
    let mine =
        f.seed("web", Kind::Elbv2TargetGroup, Some("mine"), &[("moor:stack", "flask-demo"), ("moor:resource", "web")]);
    let p = Careless(Arc::new(f));
    let nothing = stack_from("stack: flask-demo\n", &[]);
    let (graph, _) = build(&nothing);
    let observed = observe(&p, &nothing, &graph, &empty(&nothing)).await.unwrap();
    let pl = plan(&nothing, &graph, &empty(&nothing), &observed, true, PlanOptions::default());
    let ids: Vec<_> = pl.changes.iter().filter_map(|c| c.id.as_deref()).collect();
    assert_eq!(ids, [mine.as_str()], "{:#?}", pl.changes);
}

const SECRET_TASK: &str = "\
stack: sec
region: us-east-1
variables:
  signing: { default: first-s3cret }
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1
        command: [serve, \"--db=mysql://root:c0mmandpass@db/x\"]
        sensitive: [SIGNING]
        environment:
          SIGNING: ${var.signing}
          MODE: prod
";

#[tokio::test]
async fn a_recorded_secret_is_a_hash_that_still_tells_a_change() {
    let p = fake();
    let stack = stack_from(SECRET_TASK, &[]);
    let (created, summary, state) = run(&p, &stack, empty(&stack), false, 4).await;
    assert!(summary.ok());
    let shown = serde_json::to_string(&moor::render::plan_json(&created)).unwrap();
    assert!(!shown.contains("first-s3cret") && !shown.contains("c0mmandpass"), "{shown}");
    assert!(shown.contains("mysql://root:***@db/x"), "a URL's password is redacted anywhere: {shown}");
    // Through the record's file, as the command line keeps it.
    let dir = std::env::temp_dir().join(format!("moor-engine-secret-{}", std::process::id()));
    let backend = moor::state::LocalBackend::new(&dir);
    backend.save(&state).unwrap();
    let state = backend.load("sec").unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let record = serde_json::to_string(&state).unwrap();
    assert!(!record.contains("first-s3cret") && record.contains("sha256:"), "{record}");

    // AWS reports a default the file does not set; the hash equals the
    // file's value, so nothing was narrowed since the last apply.
    for s in p.store.lock().unwrap().values_mut().filter(|s| s.logical == "task") {
        let c = s.live.fields.get_mut("containers").and_then(|c| c.get_mut(0)).unwrap();
        c.as_object_mut().unwrap().insert("cpu".into(), serde_json::json!(0));
    }
    let pl = make_plan(&p, &stack, &state, false).await;
    assert!(!pl.has_changes(), "{:?}", pl.changes);

    let changed = stack_from(SECRET_TASK, &["signing=second-s3cret"]);
    let pl = make_plan(&p, &changed, &state, false).await;
    let ch = pl.change("task").unwrap();
    assert_eq!(ch.action, Action::Update);
    let d = ch.diffs.iter().find(|d| d.field == "containers").unwrap();
    assert_eq!(d.sensitive_changed, ["containers.web.environment.SIGNING"]);
    let shown = serde_json::to_string(&moor::render::plan_json(&pl)).unwrap()
        + &moor::render::plan_text(&pl, moor::render::Style { color: false }, true);
    assert!(!shown.contains("first-s3cret") && !shown.contains("second-s3cret"), "{shown}");
    assert!(shown.contains("(sensitive)"), "{shown}");
}

/// A version registered but never recorded is deregistered, unless a
/// resource of the stack runs it (a service still on that revision).
#[tokio::test]
async fn an_unrecorded_revision_a_service_runs_is_left_alone() {
    let stack = flask(&[]);
    let p = fake();
    let (_, _, state) = run(&p, &stack, empty(&stack), false, 10).await;
    let (graph, _) = build(&stack);
    let mut observed = observe(p.as_ref(), &stack, &graph, &state).await.map_err(|e| format!("{e:?}")).unwrap();
    let stray = Live {
        id: "arn:aws:ecs:us-east-1:123456789012:task-definition/stray:9".into(),
        fields: Default::default(),
        attrs: Default::default(),
        tags: Default::default(),
        uid: None,
    };
    observed.unrecorded.insert("task".into(), vec![stray.clone()]);
    let unrecorded = |pl: &Plan| {
        pl.changes.iter().filter(|c| c.reasons.iter().any(|r| r.starts_with("unrecorded revision"))).count()
    };
    let pl = plan(&stack, &graph, &state, &observed, false, PlanOptions::default());
    assert_eq!(unrecorded(&pl), 1, "no service runs it: deregistered");
    let service = observed.resources.get_mut("app").unwrap().as_mut().expect("the service exists");
    service.fields.insert("task_definition".into(), stray.id.clone().into());
    let pl = plan(&stack, &graph, &state, &observed, false, PlanOptions::default());
    assert_eq!(unrecorded(&pl), 0, "the service runs it: left alone");
}

/// A target group AWS refuses to delete while a listener forwards to it
/// cannot be replaced delete-first under its fixed name: the plan says so
/// and names its users, rather than fail halfway through the apply.
#[tokio::test]
async fn replacing_a_fixed_name_target_group_in_use_is_a_problem_naming_its_users() {
    let p = fake();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let fixed = text.replace("kind: elbv2/target_group\n", "kind: elbv2/target_group\n    name: web-fixed\n");
    let a = stack_from(&fixed, &["desired_count=0"]);
    let (_, _, state) = run(&p, &a, empty(&a), false, 10).await;
    let b = stack_from(&fixed.replace("5000", "8000"), &["desired_count=0"]);
    let pl = make_plan(&p, &b, &state, false).await;
    assert_eq!(pl.change("web").unwrap().replace, Some(ReplaceOrder::DeleteBeforeCreate));
    let problems: Vec<&str> = pl.problems.iter().map(|x| x.message.as_str()).collect();
    assert!(
        matches!(&problems[..], [m] if m.contains("fixed name means deleting it first while") && m.contains("`http`")),
        "{problems:?}"
    );
}

/// A destroy plan says what a repository's delete does with its images:
/// takes them with it when the file empties it on delete, else fails on
/// them.
#[tokio::test]
async fn a_destroy_plan_says_whether_a_repository_goes_with_its_images() {
    let line = |pl: &Plan| {
        let text = moor::render::plan_text(pl, moor::render::Style { color: false }, false);
        text.lines().find(|l| l.contains("course/flask-app")).expect("the repository's line").to_string()
    };
    let p = fake();
    let a = flask(&[]);
    let (_, _, state) = run(&p, &a, empty(&a), false, 10).await;
    let pl = make_plan(&p, &a, &state, true).await;
    assert!(line(&pl).contains(", with its images)"), "{}", line(&pl));
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let kept = stack_from(&text.replace("empty_on_delete: true", "empty_on_delete: false"), &[]);
    let (_, _, state) = run(&p, &kept, state, false, 10).await;
    let pl = make_plan(&p, &kept, &state, true).await;
    assert!(line(&pl).contains("; fails if it holds images (set empty_on_delete or use --force)"), "{}", line(&pl));
}

/// A certificate AWS will no longer serve (expired, revoked, failed) is
/// replaced: the plan says why, the listener moves to the new one before
/// the old is deleted, and the plan after is clean.
#[tokio::test]
async fn a_certificate_that_is_no_longer_usable_is_replaced_with_the_reason() {
    let p = fake();
    p.seed("zone", Kind::Route53ExistingZone, Some("example.com"), &[]);
    let s = stack_from(
        r#"stack: certs
resources:
  net:
    kind: ec2/default_vpc
  zone:
    kind: route53/existing_zone
    name: example.com
  cert:
    kind: acm/certificate
    domain: app.example.com
    zone: ${zone.id}
  lb:
    kind: elbv2/load_balancer
    subnets: ${net.subnet_ids}
  web:
    kind: elbv2/target_group
    port: 8000
    vpc: ${net.vpc_id}
  https:
    kind: elbv2/listener
    load_balancer: ${lb.arn}
    port: 443
    protocol: HTTPS
    certificate: ${cert.arn}
    default_action:
      forward: ${web.arn}
"#,
        &[],
    );
    let (_, summary, state) = run(&p, &s, empty(&s), false, 10).await;
    assert!(summary.ok(), "{summary:?}");
    let old = state.resources["cert"].id.clone();
    p.store
        .lock()
        .unwrap()
        .get_mut(&old)
        .unwrap()
        .live
        .fields
        .insert(moor::provider::UNUSABLE.into(), serde_json::json!("the certificate is EXPIRED"));
    let pl = make_plan(&p, &s, &state, false).await;
    let cert = pl.change("cert").unwrap();
    assert_eq!(cert.action, Action::Replace, "{cert:#?}");
    assert_eq!(cert.reasons, ["no longer usable: the certificate is EXPIRED"]);
    assert_eq!(pl.change("https").unwrap().action, Action::Update);
    let before = p.write_count();
    let (_, summary, state) = run(&p, &s, state, false, 10).await;
    assert!(summary.ok(), "{summary:?}");
    let writes = p.writes.lock().unwrap()[before..].to_vec();
    let at = |w: &str| position(&writes, w);
    assert!(at("create cert") < at("update https"));
    assert!(at("update https") < at("delete cert"));
    assert_ne!(state.resources["cert"].id, old);
    assert_eq!(p.of_kind(Kind::AcmCertificate).len(), 1);
    let pl = make_plan(&p, &s, &state, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes.iter().filter(|c| c.action != Action::NoOp).collect::<Vec<_>>());
}

/// A provider whose load balancer takes a minute to settle (AWS's
/// provisioning), or never does; everything else as the fake has it.
struct Provisioning {
    inner: Arc<FakeProvider>,
    fails: bool,
    log: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl moor::provider::Provider for Provisioning {
    async fn read(&self, t: &moor::provider::Target) -> Result<Option<Live>, ProviderError> {
        self.inner.read(t).await
    }
    async fn read_recorded(&self, d: &Deletion) -> Result<Option<Live>, ProviderError> {
        self.inner.read_recorded(d).await
    }
    async fn create(&self, t: &moor::provider::Target) -> Result<Live, ProviderError> {
        let live = self.inner.create(t).await?;
        self.log.lock().unwrap().push(format!("create {}", t.logical));
        Ok(live)
    }
    async fn update(&self, t: &moor::provider::Target, live: &Live, changed: &[String]) -> Result<Live, ProviderError> {
        self.inner.update(t, live, changed).await
    }
    async fn delete(&self, d: &Deletion) -> Result<(), ProviderError> {
        self.inner.delete(d).await
    }
    async fn settle(&self, t: &moor::provider::Target, live: &Live, redeploy: bool) -> Result<Live, ProviderError> {
        if t.kind != Kind::Elbv2LoadBalancer {
            return self.inner.settle(t, live, redeploy).await;
        }
        self.log.lock().unwrap().push(format!("settling {}", t.logical));
        tokio::time::sleep(Duration::from_secs(60)).await;
        self.log.lock().unwrap().push(format!("settled {}", t.logical));
        if self.fails {
            return Err(ProviderError::new(
                moor::provider::ErrorKind::Rejected,
                "elbv2:CreateLoadBalancer",
                "the load balancer failed to come up: no capacity",
            ));
        }
        Ok(live.clone())
    }
    async fn adopt(&self, t: &moor::provider::Target, live: &Live) -> Result<Live, ProviderError> {
        self.inner.adopt(t, live).await
    }
    async fn discover(&self, stack: &str, known: &[String]) -> Result<Vec<Found>, ProviderError> {
        self.inner.discover(stack, known).await
    }
}

/// A load balancer's users (its listener, and the service behind it) are
/// made while it provisions, even one operation at a time (the wait is no
/// operation of the bound), and the apply ends only after it settled.
/// One that never becomes active fails the apply and stays unsettled in the
/// record, so that the next apply waits for it again.
#[tokio::test(start_paused = true)]
async fn a_load_balancers_users_start_while_it_provisions_and_the_apply_waits_for_it() {
    for fails in [false, true] {
        let stack = flask(&[]);
        let p = Arc::new(Provisioning { inner: fake(), fails, log: Default::default() });
        let (graph, _) = build(&stack);
        let observed = observe(p.as_ref(), &stack, &graph, &empty(&stack)).await.unwrap();
        let pl = plan(&stack, &graph, &empty(&stack), &observed, false, PlanOptions::default());
        let store = MemoryStore::default();
        let (summary, state) = apply(
            p.clone(),
            &stack,
            &graph,
            &pl,
            empty(&stack),
            &store,
            &ApplyOptions { parallelism: 1 },
            &Quiet,
            Arc::new(AtomicBool::new(false)),
        )
        .await;
        let log = p.log.lock().unwrap().clone();
        let at = |e: &str| log.iter().position(|l| l == e).unwrap_or_else(|| panic!("{e} not in {log:?}"));
        assert!(at("create lb") < at("settling lb"), "{log:?}");
        assert!(at("settling lb") < at("create http"), "the listener waited for the load balancer: {log:?}");
        assert!(at("create http") < at("settled lb"), "{log:?}");
        assert!(at("create app") < at("settled lb"), "the service waited for the load balancer: {log:?}");
        assert_eq!(log.last().map(String::as_str), Some("settled lb"), "the apply ended before it settled");
        assert_eq!(store.0.lock().unwrap().as_ref(), Some(&state));
        if !fails {
            assert!(summary.failed.is_empty(), "{:?}", summary.failed);
            assert!(!state.resources["lb"].unsettled);
            continue;
        }
        assert_eq!(summary.failed.len(), 1, "{:?}", summary.failed);
        assert_eq!(summary.failed[0].resource, "lb");
        assert!(summary.failed[0].error.message.contains("failed to come up"), "{:?}", summary.failed[0]);
        assert!(state.resources["lb"].unsettled, "the record forgot that it did not settle");
        // The next apply waits for it again.
        let observed = observe(p.as_ref(), &stack, &graph, &state).await.unwrap();
        let next = plan(&stack, &graph, &state, &observed, false, PlanOptions::default());
        let lb = next.changes.iter().find(|c| c.resource == "lb").unwrap();
        assert_ne!(lb.action, Action::NoOp, "{lb:?}");
    }
}
