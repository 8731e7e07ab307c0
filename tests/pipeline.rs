//! What a pipeline relies on, against the local emulator: the event stream
//! of `moor apply --json` (and destroy), its failures and skips, and
//! `moor drift`'s exit codes.

mod support;

use moor::events::{Event, StepEvent};
use support::text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STACK: &str = "\
stack: kit-events
region: us-east-1
tags:
  team: web
resources:
  repo:
    kind: ecr/repository
    empty_on_delete: true
  cluster:
    kind: ecs/cluster
    depends_on: [repo]
outputs:
  repository: ${repo.uri}
";

fn workdir(name: &str, stack: &str) -> PathBuf {
    support::workdir(&format!("kit-{name}"), stack)
}

/// Every line of stdout, each one JSON event.
fn events(o: &Output) -> Vec<Event> {
    let out = String::from_utf8_lossy(&o.stdout);
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not an event ({e}): {l}\n{}", text(o))))
        .collect()
}

/// The step events of `resource` as (type, step), in order.
fn steps_of(all: &[Event], resource: &str) -> Vec<(&'static str, String)> {
    let pick = |t: &'static str, e: &StepEvent| (e.resource == resource).then(|| (t, e.step.clone()));
    all.iter()
        .filter_map(|e| match e {
            Event::Started(s) => pick("started", s),
            Event::Waiting(s) => pick("waiting", s),
            Event::Done(s) => pick("done", s),
            Event::Failed(s) => pick("failed", s),
            Event::Skipped(s) => pick("skipped", s),
            Event::Plan { .. } | Event::ServiceEvent(_) | Event::Summary(_) => None,
        })
        .collect()
}

fn moor(dir: &Path, args: &[&str]) -> Output {
    support::moor_in(dir, args)
}

/// The command of [`moor`], to add to its environment.
fn moor_cmd(dir: &Path, args: &[&str]) -> Command {
    support::moto();
    let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
    c.args(args).arg("--state-dir").arg(dir.join("state")).current_dir(dir).env("NO_COLOR", "1");
    c
}

#[test]
fn apply_and_destroy_stream_one_event_per_line_on_stdout() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("events", STACK);

    // --json does not answer the confirmation.
    let o = moor(&d, &["apply", "stack.yaml", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--auto-approve"), "{}", text(&o));

    let o = moor(&d, &["apply", "stack.yaml", "--json", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = events(&o);
    match all.first() {
        Some(Event::Plan { events_version, plan }) => {
            assert_eq!(*events_version, moor::events::EVENTS_VERSION);
            assert_eq!(plan.stack, "kit-events");
            assert_eq!(plan.summary.add, 2);
        }
        other => panic!("the first event is the plan: {other:?}"),
    }
    for r in ["repo", "cluster"] {
        assert_eq!(
            steps_of(&all, r),
            vec![("started", "create".to_string()), ("done", "create".to_string())],
            "{r}: {all:?}"
        );
    }
    // The cluster depends on the repository: its step starts after the repository's ended.
    let at = |t: &str, r: &str| {
        all.iter()
            .position(
                |e| matches!((t, e), ("done", Event::Done(s)) | ("started", Event::Started(s)) if s.resource == r),
            )
            .unwrap()
    };
    assert!(at("done", "repo") < at("started", "cluster"), "{all:?}");
    let Some(Event::Summary(s)) = all.last() else { panic!("the last event is the summary: {all:?}") };
    assert!(s.ok && !s.interrupted, "{s:?}");
    assert_eq!(s.created.len(), 2);
    assert!(s.outputs.get("repository").is_some_and(|u| u.contains("kit-events/repo")), "{s:?}");
    // People still get their progress and summary, on stderr.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Apply complete: 2 created"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("repository = "), "outputs are in the summary event only");

    // With nothing to change: the plan, the steps that only read, the summary.
    let o = moor(&d, &["apply", "stack.yaml", "--json", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = events(&o);
    assert!(matches!(all.first(), Some(Event::Plan { plan, .. }) if !plan.has_changes), "{all:?}");
    assert!(matches!(all.last(), Some(Event::Summary(s)) if s.ok && s.created.is_empty()), "{all:?}");

    // The variable does what the switch does.
    let o = moor_cmd(&d, &["destroy", "stack.yaml"])
        .env("MOOR_JSON", "true")
        .env("MOOR_AUTO_APPROVE", "1")
        .output()
        .expect("moor runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = events(&o);
    for r in ["repo", "cluster"] {
        assert_eq!(
            steps_of(&all, r),
            vec![("started", "delete".to_string()), ("done", "delete".to_string())],
            "{r}: {all:?}"
        );
    }
    let Some(Event::Summary(s)) = all.last() else { panic!("{all:?}") };
    assert!(s.ok && s.deleted.len() == 2 && s.outputs.is_empty(), "{s:?}");
    assert!(at_most_once(&all, "cluster"), "{all:?}");
}

/// Whether `resource` has one `done` event at most.
fn at_most_once(all: &[Event], resource: &str) -> bool {
    all.iter().filter(|e| matches!(e, Event::Done(s) if s.resource == resource)).count() <= 1
}

/// A create AWS keeps refusing: a `failed` event naming the call and AWS's
/// answer, a `skipped` event for what depends on it, and a summary that
/// says so.
#[test]
fn a_failed_step_streams_failed_and_its_dependents_skipped() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("events-fail", &STACK.replace("kit-events", "kit-events-fail"));
    let proxy = support::proxy::FaultProxy::start();
    proxy.rate("ecr:CreateRepository", "500", 1.0);
    let o = proxy
        .moor()
        .args(["apply", "stack.yaml", "--auto-approve", "--json", "--state-dir"])
        .arg(d.join("state"))
        .current_dir(&d)
        .output()
        .expect("moor runs");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let all = events(&o);
    assert!(matches!(all.first(), Some(Event::Plan { .. })), "{all:?}");
    assert_eq!(steps_of(&all, "repo"), vec![("started", "create".into()), ("failed", "create".into())], "{all:?}");
    assert_eq!(steps_of(&all, "cluster"), vec![("skipped", "create".into())], "{all:?}");
    let failed = all
        .iter()
        .find_map(|e| match e {
            Event::Failed(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(failed.kind, "ecr/repository");
    let error = failed.error.expect("a failed event carries its error");
    // The call that failed; AWS's answer, or the call's deadline when the
    // SDK's backoff between the retried 500s outlasts it (a busy machine).
    assert!(error.operation.contains("CreateRepository") || error.operation.starts_with("ecr"), "{error:?}");
    assert!(!error.message.is_empty(), "{error:?}");
    let skipped = all
        .iter()
        .find_map(|e| match e {
            Event::Skipped(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(skipped.kind, "ecs/cluster");
    assert!(skipped.message.as_deref().is_some_and(|m| m.contains("`repo`")), "{skipped:?}");
    let Some(Event::Summary(s)) = all.last() else { panic!("{all:?}") };
    assert!(!s.ok, "{s:?}");
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.failed[0].resource, "repo");
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(s.skipped[0].resource, "cluster");
    assert!(String::from_utf8_lossy(&o.stderr).contains("Apply failed:"), "{}", text(&o));
}

/// `moor drift`: 0 while live AWS matches the file, 2 once something was
/// changed out of band (shown as a plan), 1 on error.
#[tokio::test(flavor = "multi_thread")]
async fn drift_exits_2_when_aws_was_changed_out_of_band() {
    if support::skip_emulator() {
        return;
    }
    let stack = STACK.replace("kit-events", "kit-drift");
    let d = workdir("drift", &stack);
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = moor(&d, &["drift", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "no drift: {}", text(&o));
    assert!(text(&o).contains("No drift"), "{}", text(&o));

    // Someone tags the repository by hand.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let ecr = aws_sdk_ecr::Client::new(&config);
    let repo = ecr.describe_repositories().repository_names("kit-drift/repo").send().await.unwrap();
    let arn = repo.repositories()[0].repository_arn().unwrap().to_string();
    let tag = aws_sdk_ecr::types::Tag::builder().key("team").value("ops").build().unwrap();
    ecr.tag_resource().resource_arn(&arn).tags(tag).send().await.unwrap();

    let o = moor(&d, &["drift", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(2), "drift: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("~ repo") && err.contains("tags") && err.contains("\"ops\""), "what differs: {err}");
    assert!(err.contains("Drift:"), "{err}");

    // The same as JSON, for a job that files an issue.
    let o = moor(&d, &["drift", "stack.yaml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is the JSON plan");
    assert_eq!(plan["has_changes"], true);
    assert_eq!(plan["summary"]["change"], 1);

    // The same as a pull-request comment, on stdout, chosen by the variable.
    let o = moor_cmd(&d, &["plan", "stack.yaml"]).env("MOOR_PLAN_FORMAT", "markdown").output().expect("moor runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("### moor plan for stack <code>kit-drift</code>"), "{md}");
    assert!(md.contains("<code>~ repo</code>") && md.contains("```diff"), "{md}");
    assert!(!md.contains('\x1b'), "{md}");

    // An error is 1, never 2.
    std::fs::write(d.join("broken.yaml"), "stack: kit-drift\nresources:\n  r:\n    kind: ecr/repositry\n").unwrap();
    let o = moor(&d, &["drift", "broken.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // Applying the file again puts it back.
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["drift", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
