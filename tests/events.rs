//! The apply event stream from the engine's reporter ([`JsonEvents`]),
//! against the in-memory provider: each line one event, `started` then
//! `done` per step, a failure's `failed` event with the call and AWS's
//! answer, a `skipped` event with the kind and step of each step it
//! stopped, and `waiting` for a step that only waits.

#[path = "support/fake.rs"]
mod fake;

use fake::FakeProvider;
use moor::apply::{apply, ApplyOptions, MemoryStore, Quiet, Reporter, Step};
use moor::events::{Event, JsonEvents};
use moor::graph::build;
use moor::load::{load_str, LoadOptions};
use moor::model::Kind;
use moor::observe::observe;
use moor::plan::{plan, PlanOptions};
use moor::state::State;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// A sink the test reads back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn events(&self) -> Vec<Event> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }
}

fn kind_of(e: &Event) -> (&'static str, &moor::events::StepEvent) {
    match e {
        Event::Started(s) => ("started", s),
        Event::Waiting(s) => ("waiting", s),
        Event::Done(s) => ("done", s),
        Event::Failed(s) => ("failed", s),
        Event::Skipped(s) => ("skipped", s),
        other => panic!("the reporter writes step events only: {other:?}"),
    }
}

#[tokio::test]
async fn a_failed_create_streams_failed_then_skipped_for_everything_downstream() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/flask-app.yaml")).unwrap();
    let loaded = load_str("flask-app.yaml", &text, &LoadOptions::default());
    let stack = loaded.stack.unwrap();
    let (graph, _) = build(&stack);
    let p = Arc::new(FakeProvider::new());
    p.seed("net", Kind::Ec2DefaultVpc, None, &[]);
    p.fail.lock().unwrap().push(("create", "pull".to_string()));
    let state = State::new(&stack.name, stack.region.as_deref());
    let observed = observe(p.as_ref(), &stack, &graph, &state).await.unwrap();
    let pl = plan(&stack, &graph, &state, &observed, false, PlanOptions::default());
    let buffer = Buffer::default();
    let events = JsonEvents::to(&Quiet, Box::new(buffer.clone()));
    let cancel = Arc::new(AtomicBool::new(false));
    let store = MemoryStore::default();
    let (summary, _) = apply(p, &stack, &graph, &pl, state, &store, &ApplyOptions::default(), &events, cancel).await;
    assert_eq!(summary.failed.len(), 1);

    let mut per: BTreeMap<String, Vec<(&str, String)>> = BTreeMap::new();
    let all = buffer.events();
    for e in &all {
        let (t, s) = kind_of(e);
        assert_eq!(Some(s.kind.as_str()), stack.resource(&s.resource).map(|r| r.kind().as_str()), "{s:?}");
        per.entry(s.resource.clone()).or_default().push((t, s.step.clone()));
    }
    let failed = all.iter().find_map(|e| if let Event::Failed(s) = e { Some(s) } else { None }).unwrap();
    assert_eq!(failed.resource, "pull");
    let error = failed.error.as_ref().unwrap();
    assert!(!error.operation.is_empty() && error.message.contains("injected failure of pull"), "{error:?}");
    assert!(failed.message.as_deref().is_some_and(|m| m.contains("injected failure of pull")), "{failed:?}");
    assert_eq!(per["pull"], [("started", "create".into()), ("failed", "create".into())]);
    // Everything that needs the policy, and only that, is skipped, once, with its kind and step.
    let skipped: Vec<&str> = summary.skipped.iter().map(|(r, _)| r.as_str()).collect();
    assert!(!skipped.is_empty());
    for r in &skipped {
        assert_eq!(per[*r], [("skipped", "create".into())], "{r}");
    }
    for e in &all {
        if let Event::Skipped(s) = e {
            assert_eq!(s.message.as_deref(), Some("created of `pull` failed"), "{s:?}");
            assert_eq!(s.elapsed_ms, 0);
        }
    }
    for (r, steps) in &per {
        if *r != "pull" && !skipped.contains(&r.as_str()) {
            let step = &steps[0].1;
            let mut expected = vec![("started", step.clone()), ("done", step.clone())];
            // A resource whose users start before it settles (a load
            // balancer) reports its wait after its create.
            if stack.resource(r).is_some_and(|res| res.kind().facts().settles_after_users_start) {
                expected.extend([("waiting", "wait".to_string()), ("done", "wait".to_string())]);
            }
            assert_eq!(steps, &expected, "{r}");
        }
    }
    assert!(per["lb"].contains(&("waiting", "wait".to_string())), "{:?}", per["lb"]);
    assert!(per.contains_key("repo") && per.contains_key("net"), "{per:?}");
}

#[test]
fn a_step_that_only_waits_is_reported_as_waiting() {
    let buffer = Buffer::default();
    let events = JsonEvents::to(&Quiet, Box::new(buffer.clone()));
    events.started("app", Kind::EcsService, Step::Wait);
    events.finished("app", Kind::EcsService, Step::Wait, std::time::Duration::from_millis(1500));
    events.started("app", Kind::EcsService, Step::Update);
    let all = buffer.events();
    let got: Vec<(&str, &str, u64)> = all
        .iter()
        .map(|e| {
            let (t, s) = kind_of(e);
            (t, s.step.as_str(), s.elapsed_ms)
        })
        .collect();
    assert_eq!(got, [("waiting", "wait", 0), ("done", "wait", 1500), ("started", "update", 0)]);
    let (_, s) = kind_of(&all[1]);
    assert_eq!((s.kind.as_str(), s.message.as_deref()), ("ecs/service", Some("waited for app")));
}

/// Each service event the engine passes on is one `service_event` line,
/// with the resource, its kind and step, the time, how long the step has
/// run and AWS's text on one line.
#[test]
fn a_service_event_is_streamed_with_resource_time_and_message() {
    let buffer = Buffer::default();
    let events = JsonEvents::to(&Quiet, Box::new(buffer.clone()));
    events.started("app", Kind::EcsService, Step::Update);
    events.event("app", Kind::EcsService, Step::Update, "(service s-app) has started 1 tasks:\n(task 1f2e).");
    events.event("app", Kind::EcsService, Step::Update, "(service s-app) has reached a steady state.");
    let all = buffer.events();
    let lines: Vec<_> = all
        .iter()
        .filter_map(|e| match e {
            Event::ServiceEvent(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 2, "{all:?}");
    let messages: Vec<&str> = lines.iter().map(|s| s.message.as_str()).collect();
    assert_eq!(
        messages,
        ["(service s-app) has started 1 tasks: (task 1f2e).", "(service s-app) has reached a steady state."]
    );
    for s in lines {
        assert_eq!((s.resource.as_str(), s.kind.as_str(), s.step.as_str()), ("app", "ecs/service", "update"));
        let at = s.at.as_bytes();
        assert!(at.len() == 20 && at[4] == b'-' && at[10] == b'T' && at[19] == b'Z', "{}", s.at);
    }
    let raw = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(raw.lines().nth(1).unwrap().starts_with(r#"{"type":"service_event","resource":"app""#), "{raw}");
}
