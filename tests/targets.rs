//! `--target RESOURCE`: plans, applies and destroys of some resources only.
//! The header of a partial plan (snapshot, against the in-memory
//! provider); against the emulator: the task definition of the example
//! stack targeted creates it and what it depends on, nothing else; a
//! targeted destroy removes the service and nothing it depends on, and the
//! role of the task definition takes the task definition with it; a saved
//! targeted plan applies the same subset; an unknown name is refused.

#[path = "support/fake.rs"]
mod fake;
mod support;

use moor::model::Kind;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use support::text;

const EXAMPLE: &str = include_str!("../stacks/flask-app.yaml");

/// The example stack under a name of its own (its repository too), so tests
/// sharing one emulator do not meet.
fn example(name: &str) -> String {
    EXAMPLE
        .replace("stack: flask-demo", &format!("stack: {name}"))
        .replace("course/flask-app", &format!("course/{name}"))
}

fn moor(dir: &Path, args: &[&str]) -> Output {
    support::moor_in(dir, args)
}

fn recorded(dir: &Path, stack: &str) -> BTreeSet<String> {
    let path = dir.join("state").join(format!("{stack}.state.json"));
    let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    record["resources"].as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The example stack, its graph, an empty record and what an empty
/// account shows of it.
fn example_observed() -> (moor::model::Stack, moor::graph::Graph, moor::state::State, moor::plan::Observed) {
    let stack = support::load(EXAMPLE, &[]);
    let (graph, _) = moor::graph::build(&stack);
    let p = fake::FakeProvider::new();
    p.seed("net", Kind::Ec2DefaultVpc, None, &[]);
    let state = support::empty(&stack);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let observed = rt.block_on(moor::observe::observe(&p, &stack, &graph, &state)).unwrap();
    (stack, graph, state, observed)
}

#[test]
fn the_header_of_a_partial_plan() {
    let (stack, graph, state, observed) = example_observed();
    let targets = vec!["task".to_string()];
    let mut pl = moor::plan::plan(&stack, &graph, &state, &observed, false, Default::default());
    let only = moor::targets::select(&stack, &graph, &state, &targets, false).unwrap();
    moor::targets::restrict(&mut pl, &stack, &state, &only, &targets);
    insta::assert_snapshot!(moor::render::plan_text(&pl, moor::render::Style { color: false }, false));
    // Destroy: what depends on the target, and the header says so.
    let mut pl = moor::plan::plan(&stack, &graph, &state, &observed, true, Default::default());
    let only = moor::targets::select(&stack, &graph, &state, &targets, true).unwrap();
    assert_eq!(only, set(&["app", "task"]));
    moor::targets::restrict(&mut pl, &stack, &state, &only, &targets);
    let text = moor::render::plan_text(&pl, moor::render::Style { color: false }, false);
    assert!(text.contains("Partial plan (--target): only `task` and what depends on it."), "{text}");
}

#[test]
fn a_targeted_apply_creates_the_target_and_what_it_depends_on_only() {
    if support::skip_emulator() {
        return;
    }
    let d = support::workdir("target-apply", &example("tgt-apply"));

    // An unknown name: a clear error with a suggestion, before anything is read.
    let o = moor(&d, &["plan", "stack.yaml", "--target", "tsak"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--target `tsak` is no resource of stack `tgt-apply`"), "{}", text(&o));
    assert!(text(&o).contains("did you mean `task`?"), "{}", text(&o));

    let o = moor(&d, &["apply", "stack.yaml", "--target", "task", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Partial plan (--target): only `task` and what it depends on."), "{}", text(&o));
    assert!(text(&o).contains("Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", text(&o));
    // The task definition, its execution role (and the role's policy), the
    // repository its image is in and its log group; nothing else.
    assert_eq!(recorded(&d, "tgt-apply"), set(&["exec_role", "logs", "pull", "repo", "task"]));

    // A saved targeted plan applies the same subset.
    let o = moor(&d, &["plan", "stack.yaml", "--target", "cluster", "-o", "cluster.plan"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = moor(&d, &["apply", "cluster.plan", "--target", "lb"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("is a plan of `cluster`; --target cannot change what a saved plan covers"),
        "{}",
        text(&o)
    );
    let o = moor(&d, &["apply", "cluster.plan"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Partial plan (--target): only `cluster`"), "{}", text(&o));
    assert_eq!(recorded(&d, "tgt-apply"), set(&["cluster", "exec_role", "logs", "pull", "repo", "task"]));

    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_targeted_destroy_removes_the_target_and_what_depends_on_it_only() {
    if support::skip_emulator() {
        return;
    }
    let d = support::workdir("target-destroy", &example("tgt-destroy"));
    let o = moor(&d, &["apply", "stack.yaml", "--var", "desired_count=0", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let all = recorded(&d, "tgt-destroy");
    assert!(all.contains("app") && all.contains("task") && all.contains("lb"), "{all:?}");

    // The service goes; nothing it depends on does.
    let o = moor(&d, &["destroy", "stack.yaml", "--var", "desired_count=0", "--target", "app", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("0 to add, 0 to change, 0 to replace, 1 to destroy"), "{}", text(&o));
    let mut left = all.clone();
    left.remove("app");
    assert_eq!(recorded(&d, "tgt-destroy"), left);
    // The outputs of what is left are kept.
    let o = moor(&d, &["outputs", "stack.yaml", "--name", "repository"]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("course/tgt-destroy"), "{}", text(&o));

    // The execution role takes the task definition that uses it; not the role's policy.
    let o = moor(&d, &["destroy", "stack.yaml", "--var", "desired_count=0", "--target", "exec_role", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    left.remove("task");
    left.remove("exec_role");
    assert_eq!(recorded(&d, "tgt-destroy"), left);

    // Without the file, what depends on the target is what the record says: the listener on the load balancer.
    let o = moor(&d, &["destroy", "--stack", "tgt-destroy", "--target", "lb", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Partial plan (--target): only `lb` and what depends on it."), "{}", text(&o));
    left.remove("lb");
    left.remove("http");
    assert_eq!(recorded(&d, "tgt-destroy"), left);

    let o = moor(&d, &["destroy", "stack.yaml", "--var", "desired_count=0", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A resource removed from the file is deleted by a targeted plan only when
/// it is named itself.
#[test]
fn a_removed_resource_is_deleted_only_when_targeted_by_name() {
    let both = "stack: tgt-removed\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n  cluster:\n    kind: ecs/cluster\n";
    let one = "stack: tgt-removed\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let p = std::sync::Arc::new(fake::FakeProvider::new());
        let stack = support::load(both, &[]);
        let (_, summary, state) = support::converge(&p, &stack, support::empty(&stack), false).await;
        assert!(summary.ok(), "{summary:?}");
        let stack = support::load(one, &[]);
        let (graph, _) = moor::graph::build(&stack);
        let full = support::make_plan(p.as_ref(), &stack, &state, false, false).await;
        let actions = |pl: &moor::plan::Plan| -> Vec<(String, moor::plan::Action)> {
            pl.changes.iter().map(|c| (c.resource.clone(), c.action)).collect()
        };
        use moor::plan::Action::{Delete, NoOp};
        assert_eq!(actions(&full), [("repo".to_string(), NoOp), ("cluster".to_string(), Delete)]);
        for (targets, expected, left_out) in [
            (vec!["repo"], vec![("repo".to_string(), NoOp)], vec!["cluster"]),
            (vec!["cluster"], vec![("cluster".to_string(), Delete)], vec!["repo"]),
        ] {
            let targets: Vec<String> = targets.into_iter().map(String::from).collect();
            let mut pl = full.clone();
            let only = moor::targets::select(&stack, &graph, &state, &targets, false).unwrap();
            moor::targets::restrict(&mut pl, &stack, &state, &only, &targets);
            assert_eq!(actions(&pl), expected, "{targets:?}");
            assert_eq!(pl.partial.unwrap().left_out, left_out, "{targets:?}");
        }
    });
}

/// The JSON and markdown forms of a partial plan say so too.
#[test]
fn json_and_markdown_plans_say_they_are_partial() {
    let (stack, graph, state, observed) = example_observed();
    let mut pl = moor::plan::plan(&stack, &graph, &state, &observed, false, Default::default());
    assert!(moor::render::plan_json(&pl).get("partial").is_none());
    let targets = vec!["cluster".to_string(), "logs".to_string()];
    let only = moor::targets::select(&stack, &graph, &state, &targets, false).unwrap();
    moor::targets::restrict(&mut pl, &stack, &state, &only, &targets);
    let json = moor::render::plan_json(&pl);
    assert_eq!(json["partial"]["targets"], serde_json::json!(["cluster", "logs"]));
    assert_eq!(json["partial"]["left_out"].as_array().unwrap().len(), 11, "{json}");
    assert_eq!(json["summary"]["add"], 2);
    let md = moor::mdplan::plan_markdown(&pl);
    assert!(md.contains("Partial plan (--target)") && md.contains("what they depend on"), "{md}");
}
