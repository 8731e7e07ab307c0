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
    let stack = loaded.stack.unwrap();
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
