//! Golden plans: the text plan and the JSON plan (`moor::jsonplan`) of every
//! example stack in `stacks/`, planned from an empty state against the
//! in-memory provider, so they need no emulator and never vary.
//!
//! `cargo insta review` (or `INSTA_UPDATE=always`) accepts a changed plan.

#[path = "support/fake.rs"]
mod fake;

use fake::FakeProvider;
use moor::graph::build;
use moor::jsonplan::{JsonPlan, FORMAT_VERSION};
use moor::load::{load_str, LoadOptions};
use moor::mdplan::plan_markdown;
use moor::model::Kind;
use moor::observe::observe;
use moor::plan::{plan, Plan, PlanOptions};
use moor::render::{plan_json, plan_text, Style};
use moor::state::State;
use std::path::Path;

/// The plan of one example stack against an empty account that has only a
/// default VPC.
fn plan_of(path: &Path) -> Plan {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let loaded = load_str(&name, &text, &LoadOptions::default());
    assert!(!loaded.has_errors(), "{name}: {:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    let mut stack = loaded.stack.unwrap();
    moor::resolve::fill_account(&mut stack, "123456789012");
    let (graph, _) = build(&stack);
    let p = FakeProvider::new();
    for r in &stack.resources {
        if r.kind() == Kind::Ec2DefaultVpc {
            p.seed(&r.name, Kind::Ec2DefaultVpc, None, &[]);
        }
    }
    let state = State::new(&stack.name, stack.region.as_deref());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let observed = rt.block_on(observe(&p, &stack, &graph, &state)).map_err(|e| format!("{e:?}")).unwrap();
    plan(&stack, &graph, &state, &observed, false, PlanOptions::default())
}

#[test]
fn text_plans_of_the_example_stacks() {
    insta::glob!("../stacks", "*.yaml", |path| {
        let pl = plan_of(path);
        insta::assert_snapshot!(plan_text(&pl, Style { color: false }, false));
    });
}

#[test]
fn json_plans_of_the_example_stacks() {
    insta::glob!("../stacks", "*.yaml", |path| {
        let pl = plan_of(path);
        let mut text = serde_json::to_string_pretty(&plan_json(&pl)).unwrap();
        text.push('\n');
        insta::assert_snapshot!(text);
    });
}

#[test]
fn the_json_plan_reads_back_into_its_own_types() {
    let pl = plan_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/flask-app.yaml"));
    let shown = plan_json(&pl);
    let read: JsonPlan = serde_json::from_value(shown.clone()).unwrap();
    assert_eq!(read.format_version, FORMAT_VERSION);
    assert_eq!(read.changes.len(), pl.changes.len());
    assert_eq!(serde_json::to_value(&read).unwrap(), shown, "nothing is lost or added on the way back");
}

#[test]
fn markdown_plans_of_the_example_stacks() {
    insta::glob!("../stacks", "*.yaml", |path| {
        let pl = plan_of(path);
        insta::assert_snapshot!(plan_markdown(&pl));
    });
}

/// The flask example with a second repository that holds images, a
/// password in the environment, and its variables as given.
fn flask_variant(extra: bool, port: u16, password: &str) -> String {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/flask-app.yaml")).unwrap();
    let mut text =
        text.replace("    port: 5000\n    target_type: ip", &format!("    port: {port}\n    target_type: ip")).replace(
            "          FLASK_ENV: production\n",
            &format!("          FLASK_ENV: production\n          DB_PASSWORD: {password}\n"),
        );
    if extra {
        text = text.replace(
            "  cluster:\n    kind: ecs/cluster\n",
            "  cluster:\n    kind: ecs/cluster\n\n  old_images:\n    kind: ecr/repository\n    empty_on_delete: true\n",
        );
    }
    text
}

fn load_text(text: &str, vars: &[&str]) -> moor::model::Stack {
    let opts = LoadOptions { vars: vars.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    let loaded = load_str("stack.yaml", text, &opts);
    assert!(!loaded.has_errors(), "{:?}", loaded.diags.iter().map(|d| &d.message).collect::<Vec<_>>());
    loaded.stack.unwrap()
}

/// `stack` planned from nothing and applied on the fake provider: its record.
async fn apply_all(p: &std::sync::Arc<FakeProvider>, stack: &moor::model::Stack) -> State {
    let (graph, _) = build(stack);
    let state = State::new(&stack.name, stack.region.as_deref());
    let observed = observe(p.as_ref(), stack, &graph, &state).await.unwrap();
    let pl = plan(stack, &graph, &state, &observed, false, PlanOptions::default());
    let store = moor::apply::MemoryStore::default();
    let (summary, state) = moor::apply::apply(
        p.clone(),
        stack,
        &graph,
        &pl,
        state,
        &store,
        &moor::apply::ApplyOptions::default(),
        &moor::apply::Quiet,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .await;
    assert!(summary.ok(), "{summary:?}");
    state
}

/// Applied with the first file, then planned with the second: an update
/// (desired count, a password), a replacement (the target group's port) and
/// deletions (a repository and its images, the superseded task revision).
fn changed_plan(destroy: bool) -> Plan {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let p = std::sync::Arc::new(FakeProvider::new());
        p.seed("net", Kind::Ec2DefaultVpc, None, &[]);
        let before = load_text(&flask_variant(true, 5000, "hunter2-old"), &[]);
        let state = apply_all(&p, &before).await;
        let after = load_text(&flask_variant(false, 5001, "hunter2-new"), &["desired_count=3"]);
        let (graph, _) = build(&after);
        let observed = observe(p.as_ref(), &after, &graph, &state).await.unwrap();
        plan(&after, &graph, &state, &observed, destroy, PlanOptions::default())
    })
}

#[test]
fn markdown_plan_of_an_update_a_replacement_and_a_deletion() {
    let pl = changed_plan(false);
    let c = pl.counts();
    assert!(c.change >= 1 && c.replace >= 1 && c.destroy >= 1, "{c:?}");
    let md = plan_markdown(&pl);
    // The password is masked exactly as the text plan masks it.
    let text = plan_text(&pl, Style { color: false }, false);
    for shown in [&md, &text] {
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("DB_PASSWORD changes (sensitive)"), "{shown}");
    }
    assert!(!md.contains('\x1b'), "no colour codes");
    // Replacements and deletions come before the per-resource sections.
    let risky = md.find("**Replaced or deleted:**").expect("replacements and deletions are called out");
    assert!(risky < md.find("<details>").unwrap());
    assert!(md.contains("its images are deleted with it"), "{md}");
    insta::assert_snapshot!(md);
    insta::assert_snapshot!("markdown_destroy_plan", plan_markdown(&changed_plan(true)));
}

#[test]
fn a_markdown_plan_without_changes_is_one_line() {
    let mut pl = changed_plan(false);
    pl.changes.retain(|c| c.action == moor::plan::Action::NoOp || c.action == moor::plan::Action::Read);
    pl.forget.clear();
    let md = plan_markdown(&pl);
    assert_eq!(md.lines().count(), 1, "{md}");
    assert!(md.contains("no changes"), "{md}");
}

#[test]
fn a_long_markdown_plan_stays_under_githubs_comment_limit() {
    let mut pl = changed_plan(false);
    let template: Vec<_> = pl.changes.iter().filter(|c| !c.diffs.is_empty()).cloned().collect();
    let mut many = Vec::new();
    for i in 0..400 {
        for c in &template {
            let mut c = c.clone();
            c.resource = format!("{}_{i}", c.resource);
            for d in &mut c.diffs {
                d.after = Some(serde_json::Value::String("x".repeat(3000)));
            }
            many.push(c);
        }
    }
    let n = many.len();
    pl.changes = many;
    let md = plan_markdown(&pl);
    assert!(md.chars().count() < moor::mdplan::LIMIT, "{} characters", md.chars().count());
    let note = md.lines().last().unwrap();
    assert!(note.starts_with("**Truncated:**") && note.contains("left out"), "{note}");
    // The count in the note is what is missing.
    let shown = md.matches("<details>").count();
    let risky = pl
        .changes
        .iter()
        .filter(|c| matches!(c.action, moor::plan::Action::Replace | moor::plan::Action::Delete))
        .count();
    let listed = md.lines().filter(|l| l.starts_with("- **")).count();
    let left: usize = note.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(left, n + risky - shown - listed, "{note}");
}

/// One edit per kind of the flask example: a nested field whose element
/// is added, removed or changed (the text to find, what it becomes).
const UPDATES: &[(&str, &[(&str, &str)])] = &[
    ("ecr_repository", &[("      keep_last: 10                 # keep the ten newest images\n      expire_untagged_after_days: 7\n", "      keep_last: 20\n")]),
    ("iam_role", &[("      services: [ecs-tasks.amazonaws.com]", "      services: [ecs-tasks.amazonaws.com, ec2.amazonaws.com]")]),
    (
        "iam_policy",
        &[(
            "        - actions: [logs:CreateLogStream, logs:PutLogEvents]\n          resources: [\"*\"]\n",
            "        - actions: [logs:CreateLogStream, logs:CreateLogGroup]\n          resources: [\"*\"]\n        - actions: [ssm:GetParameters]\n          resources: [\"*\"]\n",
        )],
    ),
    ("ec2_security_group", &[("      - port: 80\n        cidr: 0.0.0.0/0\n", "      - port: 443\n        cidr: 0.0.0.0/0\n      - port: 8080\n        cidr: 10.0.0.0/8\n")]),
    ("elbv2_load_balancer", &[("    security_groups: [\"${lb_sg.id}\"] #", "    security_groups: [\"${lb_sg.id}\", \"${app_sg.id}\"] #")]),
    ("elbv2_target_group", &[("      path: /\n      matcher: \"200\"\n", "      path: /health\n      interval: 15\n")]),
    ("elbv2_listener", &[("    load_balancer: ${lb.arn}\n    port: 80\n", "    load_balancer: ${lb.arn}\n    port: 8080\n")]),
    ("ecs_cluster", &[("    kind: ecs/cluster\n", "    kind: ecs/cluster\n    tags: { team: web, tier: app }\n")]),
    ("logs_log_group", &[("    retention_days: 14\n", "    retention_days: 30\n    tags: { team: web }\n")]),
    (
        "ecs_task_definition",
        &[
            ("          - container_port: 5000\n", "          - container_port: 5000\n          - container_port: 8000\n"),
            ("          FLASK_ENV: production\n", "          FLASK_ENV: staging\n          LOG_LEVEL: debug\n"),
        ],
    ),
    (
        "ecs_service",
        &[
            ("      assign_public_ip: true ", "      assign_public_ip: false "),
            ("{ enable: true, rollback: true }", "{ enable: true, rollback: false }"),
        ],
    ),
];

/// The flask example applied, then planned with one kind's nested field
/// edited: each plan shows what changes inside the field, line by line.
#[test]
fn text_plans_of_an_update_of_each_kind() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/flask-app.yaml")).unwrap();
    rt.block_on(async {
        let p = std::sync::Arc::new(FakeProvider::new());
        p.seed("net", Kind::Ec2DefaultVpc, None, &[]);
        let before = load_text(&base, &[]);
        let state = apply_all(&p, &before).await;
        for (kind, edits) in UPDATES {
            let mut text = base.clone();
            for (from, to) in *edits {
                assert!(text.contains(from), "{kind}: {from}");
                text = text.replace(from, to);
            }
            let after = load_text(&text, &[]);
            let (graph, _) = build(&after);
            let observed = observe(p.as_ref(), &after, &graph, &state).await.unwrap();
            let pl = plan(&after, &graph, &state, &observed, false, PlanOptions::default());
            let shown = plan_text(&pl, Style { color: false }, false);
            assert!(pl.has_changes(), "{kind}: {shown}");
            insta::assert_snapshot!(format!("update_of_{kind}"), shown);
        }
    });
}

/// Only the leaves that refer to what is not created yet are "known after
/// apply": a new task definition still shows its ports and environment,
/// a service its desired count and the rest of its load balancer.
#[test]
fn only_unknown_leaves_are_known_after_apply() {
    let pl = plan_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/flask-app.yaml"));
    let text = plan_text(&pl, Style { color: false }, false);
    let task = text.split("ecs/task_definition").nth(1).unwrap().split("ecs/service").next().unwrap();
    for shown in [
        "+ execution_role: (known after apply)",
        "+         image: (known after apply)",
        "+                 container_port: 5000",
        "+             FLASK_ENV: \"production\"",
        "+             group: (known after apply)",
        "+             stream_prefix: \"flask\"",
    ] {
        assert!(task.contains(shown), "{shown:?} in {task}");
    }
    let json = plan_json(&pl);
    let diffs = json["changes"].as_array().unwrap().iter().find(|c| c["resource"] == "task").unwrap()["diffs"].clone();
    let containers = diffs.as_array().unwrap().iter().find(|d| d["field"] == "containers").unwrap();
    assert_eq!(containers["after_unknown"], true);
    assert!(containers.get("after").is_none(), "an unknown value has no `after`, as before");
    assert_eq!(containers["after_partial"][0]["image"], serde_json::Value::Null);
    assert_eq!(containers["after_partial"][0]["environment"]["FLASK_ENV"], "production");
    assert!(containers["unknown_leaves"].as_array().unwrap().contains(&serde_json::json!(["0", "image"])));

    // An update: the task definition gets a new revision, the target group
    // is replaced; the service's other values stay shown.
    let md = plan_markdown(&changed_plan(false));
    let app = md.split("ecs/service").nth(1).unwrap();
    for shown in [
        "+ task_definition: (known after apply)",
        "- desired_count: 2\n+ desired_count: 3",
        "+         target_group: (known after apply)",
        "          2 unchanged elements hidden",
    ] {
        assert!(app.contains(shown), "{shown:?} in {app}");
    }
}

/// Text of several lines is compared line by line in the Markdown plan
/// too, and a line of backticks in it does not end the `diff` block.
#[test]
fn markdown_text_diffs_stay_inside_their_block() {
    let mut pl = changed_plan(false);
    let c = pl.changes.iter_mut().find(|c| c.resource == "app").unwrap();
    c.diffs = vec![moor::plan::FieldDiff {
        field: "message_body".into(),
        before: Some(serde_json::json!("Down.\n```\nold\n```\nBack soon.")),
        after: Some(serde_json::json!("Down.\n```\nnew\n```\nBack soon.")),
        after_unknown: false,
        forces_replacement: false,
        sensitive_changed: Vec::new(),
        unknown_leaves: Vec::new(),
    }];
    let md = plan_markdown(&pl);
    let app = md.split("ecs/service").nth(1).unwrap();
    assert!(
        app.contains("\n````diff\n~ message_body\n      Down.\n      ```\n-     old\n+     new\n      ```\n"),
        "{app}"
    );
    assert!(app.contains("\n````\n"), "{app}");
}
