//! What a long wait shows: its status, the service events of its
//! deployment once each, and heartbeats without a terminal, driven by a
//! scripted AWS and tokio's paused clock (so nothing here is timed).

use super::*;
use std::io::Write;

/// Lines written to a shared buffer.
#[derive(Clone, Default)]
struct Buf(Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The service with its deployment (started at second 1000) at `running`
/// of 2 tasks, and these events (id, second, message), newest first as
/// AWS lists them.
fn service(running: i32, rollout: &str, events: &[(&str, u32, &str)]) -> serde_json::Value {
    let td = "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1";
    let events: Vec<_> =
        events.iter().rev().map(|(id, at, m)| serde_json::json!({"id": id, "createdAt": at, "message": m})).collect();
    serde_json::json!({"serviceArn": SERVICE, "serviceName": "s-app", "status": "ACTIVE",
        "desiredCount": 2, "runningCount": running, "taskDefinition": td,
        "deployments": [{"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": td, "desiredCount": 2,
            "runningCount": running, "failedTasks": 0, "rolloutState": rollout, "createdAt": 1000}],
        "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c", "launchType": "FARGATE",
        "tags": [{"key": "moor:stack", "value": "s"}, {"key": "moor:resource", "value": "app"}],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"}},
        "events": events})
}

#[tokio::test(start_paused = true)]
async fn a_deployment_in_progress_shows_heartbeats_and_each_service_event_once() {
    let stack = service_stack(2);
    let mut state = crate::state::State::new("s", None);
    state.resources.insert("app".into(), recorded_service());
    let old = ("e0", 900, "(service s-app) has reached a steady state.");
    let started = ("e1", 1001, "(service s-app) has started 2 tasks: (task 1) (task 2).");
    let registered = ("e2", 1030, "(service s-app) registered 1 targets in (target-group tg).");
    let steady = ("e3", 1045, "(service s-app) has reached a steady state.");
    let describe = |running, rollout, events: &[(&str, u32, &str)]| serde_json::json!({"services": [service(running, rollout, events)], "failures": []});
    let script = Scripted::default();
    script
        .service_only_reads()
        // The plan's read, then the polls at 0, 8, 16, 24, 32, 40 and 48 s
        // (8 s apart: the first poll is longer than a twentieth of the time
        // waited until 160 s).
        .answer("DescribeServices", 200, describe(0, "IN_PROGRESS", &[old]))
        .answer("DescribeServices", 200, describe(0, "IN_PROGRESS", &[old, started]))
        .answer("DescribeServices", 200, describe(0, "IN_PROGRESS", &[old, started]))
        .answer("DescribeServices", 200, describe(1, "IN_PROGRESS", &[old, started]))
        .answer("DescribeServices", 200, describe(1, "IN_PROGRESS", &[old, started]))
        .answer("DescribeServices", 200, describe(1, "IN_PROGRESS", &[old, started]))
        .answer("DescribeServices", 200, describe(1, "IN_PROGRESS", &[old, started, registered]))
        .answer("DescribeServices", 200, describe(2, "COMPLETED", &[old, started, registered, steady]));
    let config = test_config(script.clone());
    let opts = ProviderOptions { poll: Duration::from_secs(8), ..ProviderOptions::default() };
    let p = Arc::new(AwsProvider::from_config(&config, "us-east-1".into(), opts));

    let (graph, _) = crate::graph::build(&stack);
    let observed = crate::observe::observe(p.as_ref(), &stack, &graph, &state).await.expect("read");
    let plan = crate::plan::plan(&stack, &graph, &state, &observed, false, Default::default());
    assert_eq!(plan.change("app").unwrap().action, crate::plan::Action::Wait);

    let (text, json) = (Buf::default(), Buf::default());
    let progress = crate::render::Progress::plain(crate::render::Style { color: false }, Box::new(text.clone()));
    let events = crate::events::JsonEvents::to(&progress, Box::new(json.clone()));
    let store = crate::apply::MemoryStore::default();
    let (summary, _) = crate::apply::apply(
        p.clone(),
        &stack,
        &graph,
        &plan,
        state,
        &store,
        &Default::default(),
        &events,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .await;
    assert!(summary.ok(), "{summary:#?}");
    let text = text.text();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    insta::assert_snapshot!("service_wait_progress_without_a_terminal", text);
    // When moor received each service event is the wall clock's.
    let json: Vec<String> = json
        .text()
        .lines()
        .map(|l| match l.find(r#""at":""#) {
            Some(i) => format!("{}\"at\":\"<now>\"{}", &l[..i], &l[i + 27..]),
            None => l.to_string(),
        })
        .collect();
    insta::assert_snapshot!("service_wait_json_events", json.join("\n"));
}

/// `--wait-timeout 30s` on a deployment that never completes: the wait
/// stops at 30 s (not at the last backed-off poll before it), within one
/// poll interval, and says how long it waited, through the SDK's own
/// timers and retries on the same paused clock.
#[tokio::test(start_paused = true)]
async fn a_deployment_that_never_completes_stops_at_the_wait_timeout() {
    let script = Scripted::default();
    let stuck = ("e1", 1001, "(service s-app) has started 2 tasks: (task 1) (task 2).");
    script
        .answer("DescribeServices", 200, serde_json::json!({"services": [service(1, "IN_PROGRESS", &[stuck])]}))
        .answer("ListTasks", 200, serde_json::json!({"taskArns": []}));
    let config = test_config(script.clone());
    let timeout = Duration::from_secs(30);
    let opts = ProviderOptions { wait_timeout: timeout, ..ProviderOptions::default() };
    let p = AwsProvider::from_config(&config, "us-east-1".into(), opts);
    let stack = service_stack(2);
    let t = crate::plan::target(&stack, "app", &Default::default(), &crate::state::State::new("s", None)).0;
    let live = p.read(&t).await.expect("read").expect("the service");

    let start = tokio::time::Instant::now();
    let e = p.settle(&t, &live, false).await.expect_err("never completes");
    let waited = start.elapsed();
    assert!(waited >= timeout && waited <= timeout + Duration::from_secs(15), "waited {waited:?}");
    assert_eq!(e.kind, crate::provider::ErrorKind::Wait);
    assert!(
        e.message.starts_with(
            "gave up after 30s waiting for service `s-app` to finish its deployment (limit 30s) (1 of 2 tasks running"
        ),
        "{e}"
    );
}

/// The service as DescribeServices answers it while it is deleted: `status`,
/// `running` tasks, behind one target group.
fn leaving(status: &str, running: i32) -> serde_json::Value {
    serde_json::json!({"services": [{"serviceArn": SERVICE, "serviceName": "s-app", "status": status,
        "desiredCount": 0, "runningCount": running,
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "web", "containerPort": 80}]}], "failures": []})
}

const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/1";

/// DescribeTargetHealth's answer: targets in these states.
fn health(states: &[&str]) -> String {
    let members: String = states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "<member><Target><Id>10.0.0.{i}</Id><Port>80</Port></Target>\
                 <TargetHealth><State>{s}</State></TargetHealth></member>"
            )
        })
        .collect();
    format!(
        "<DescribeTargetHealthResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
         <DescribeTargetHealthResult><TargetHealthDescriptions>{members}</TargetHealthDescriptions>\
         </DescribeTargetHealthResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>\
         </DescribeTargetHealthResponse>"
    )
}

/// A service deleted behind a load balancer drains its targets for the
/// target group's deregistration delay: the wait says how many targets
/// are still draining, as the number drops, and without a target group
/// (or when the group cannot be read) what it said before.
#[tokio::test(start_paused = true)]
async fn a_deleted_service_says_how_many_targets_it_drains() {
    let script = Scripted::default();
    script
        .answer("DeleteService", 200, serde_json::json!({"service": leaving("DRAINING", 2)["services"][0]}))
        .answer("DescribeServices", 200, leaving("DRAINING", 2))
        .answer("DescribeServices", 200, leaving("DRAINING", 1))
        .answer("DescribeServices", 200, leaving("DRAINING", 0))
        .answer("DescribeServices", 200, leaving("DRAINING", 0))
        .answer("DescribeServices", 200, leaving("INACTIVE", 0))
        .answer_raw("DescribeTargetHealth", 200, &health(&["draining", "draining", "healthy"]))
        .answer_raw("DescribeTargetHealth", 200, &health(&["draining", "healthy"]))
        .answer_raw("DescribeTargetHealth", 200, &health(&["healthy"]))
        .answer_raw(
            "DescribeTargetHealth",
            400,
            "<ErrorResponse><Error><Code>TargetGroupNotFound</Code><Message>gone</Message></Error></ErrorResponse>",
        );
    let config = test_config(script.clone());
    let opts = ProviderOptions { poll: Duration::from_secs(1), ..ProviderOptions::default() };
    let p = AwsProvider::from_config(&config, "us-east-1".into(), opts);
    let said = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = said.clone();
    let sink: crate::progress::Sink = Arc::new(move |n| s.lock().unwrap().push(n));
    let d = crate::provider::Deletion {
        logical: "app".into(),
        kind: Kind::EcsService,
        id: SERVICE.into(),
        name: Some("s-app".into()),
        attrs: Default::default(),
        force: false,
    };
    crate::progress::scope(sink, p.delete(&d)).await.expect("deleted");
    use crate::progress::Note::Status;
    assert_eq!(
        *said.lock().unwrap(),
        [
            Status("draining 2 targets, 2 tasks running".into()),
            Status("draining 1 target, 1 tasks running".into()),
            Status("service draining, 0 tasks running".into()),
            Status("service draining, 0 tasks running".into()),
        ]
    );
    let ops = script.ops();
    assert_eq!(ops.iter().filter(|o| *o == "DescribeTargetHealth").count(), 4, "{ops:?}");
}

/// A deployment's wait paces its polls from the last change it saw: once
/// one of two tasks is up, the next poll comes at the first poll's pause
/// (250 ms), not a twentieth of the time waited, so the wait sees the
/// deployment complete sooner than one that saw no change in between
/// (same answers but the middle one, same number of polls).
#[tokio::test(start_paused = true)]
async fn a_deployment_wait_polls_sooner_after_a_task_comes_up() {
    async fn waited(middle: i32) -> Duration {
        let script = Scripted::default();
        let answer =
            |running, rollout| serde_json::json!({"services": [service(running, rollout, &[])], "failures": []});
        // The read, then 60 polls of no task up, one of `middle`, and the end.
        for _ in 0..61 {
            script.answer("DescribeServices", 200, answer(0, "IN_PROGRESS"));
        }
        script.answer("DescribeServices", 200, answer(middle, "IN_PROGRESS")).answer(
            "DescribeServices",
            200,
            answer(2, "COMPLETED"),
        );
        let config = test_config(script.clone());
        let p = AwsProvider::from_config(&config, "us-east-1".into(), ProviderOptions::default());
        let stack = service_stack(2);
        let t = crate::plan::target(&stack, "app", &Default::default(), &crate::state::State::new("s", None)).0;
        let live = p.read(&t).await.expect("read").expect("the service");
        let start = tokio::time::Instant::now();
        p.settle(&t, &live, false).await.expect("completes");
        assert_eq!(script.ops().iter().filter(|o| *o == "DescribeServices").count(), 63);
        start.elapsed()
    }
    let (moved, still) = (waited(1).await, waited(0).await);
    assert!(moved + Duration::from_millis(500) < still, "{moved:?} after a task came up, {still:?} without");
}
