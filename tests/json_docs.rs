//! docs/json-plan.md and the types of the JSON plan (`moor::jsonplan`) and
//! of the apply event stream (`moor::events`) stay in step: each table of
//! the page lists exactly the fields its object has when every optional
//! field is set, every value of an enumeration is named, and the examples
//! read back into the types without losing or adding anything.

use moor::apply::Step;
use moor::events::{Event, FailedStep, ServiceEvent, SkippedStep, StepError, StepEvent, SummaryEvent, EVENTS_VERSION};
use moor::jsonplan::{
    Action, Change, FieldDiff, Image, JsonPlan, Partial, Problem, ReplaceOrder, Summary, FORMAT_VERSION,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json-plan.md")).unwrap()
}

/// The field names of the table after each `<!-- fields: NAME -->`.
fn tables(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for part in doc.split("<!-- fields: ").skip(1) {
        let (name, rest) = part.split_once(" -->").unwrap();
        let fields: BTreeSet<String> = rest
            .lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .skip(2)
            .map(|l| l.trim_start_matches('|').split('|').next().unwrap().trim().trim_matches('`').to_string())
            .collect();
        assert!(out.insert(name.to_string(), fields).is_none(), "table `{name}` twice");
    }
    out
}

/// The table row of `field` in table `table`.
fn row<'a>(doc: &'a str, table: &str, field: &str) -> &'a str {
    let part = doc.split(&format!("<!-- fields: {table} -->")).nth(1).unwrap();
    part.lines().find(|l| l.starts_with(&format!("| `{field}` |"))).unwrap_or_else(|| panic!("{table}.{field}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

fn name_of<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v).unwrap().as_str().unwrap().to_string()
}

/// A plan with every optional field set.
fn full_plan() -> JsonPlan {
    let problem = Problem { resource: "repo".into(), message: "m".into(), help: "h".into() };
    JsonPlan {
        format_version: FORMAT_VERSION,
        stack: "s".into(),
        region: Some("us-east-1".into()),
        account: Some("123456789012".into()),
        endpoint: Some("http://127.0.0.1:5000".into()),
        emulator: true,
        destroy: false,
        has_changes: true,
        summary: Summary { add: 1, change: 1, replace: 1, destroy: 1 },
        changes: vec![Change {
            resource: "web".into(),
            kind: "elbv2/target_group".into(),
            action: Action::Replace,
            replace: Some(ReplaceOrder::CreateBeforeDelete),
            name: Some("n".into()),
            id: Some("arn".into()),
            diffs: vec![FieldDiff {
                field: "port".into(),
                before: Some(json!(1)),
                after: Some(json!(2)),
                after_unknown: false,
                forces_replacement: true,
                sensitive_changed: vec!["x".into()],
                after_partial: Some(json!([{"name": "web", "image": null}])),
                unknown_leaves: vec![vec!["0".into(), "image".into()]],
            }],
            reasons: vec!["r".into()],
            force_delete: true,
            deposed: true,
            status: Some(json!({"running": 1})),
            redeploy: true,
        }],
        forget: vec!["old".into()],
        problems: vec![problem.clone()],
        notices: vec![problem],
        images: vec![Image { resource: "task".into(), image: "app:latest".into(), digest: "sha256:00".into() }],
        partial: Some(Partial { targets: vec!["web".into()], left_out: vec!["old".into()] }),
    }
}

fn error() -> StepError {
    StepError { operation: "ecr:CreateRepository".into(), code: Some("InternalFailure".into()), message: "m".into() }
}

fn step_event() -> StepEvent {
    StepEvent {
        resource: "repo".into(),
        kind: "ecr/repository".into(),
        step: name_of(Step::Create),
        elapsed_ms: 5,
        message: Some("m".into()),
        error: Some(error()),
    }
}

fn service_event() -> ServiceEvent {
    ServiceEvent {
        resource: "web".into(),
        kind: "ecs/service".into(),
        step: name_of(Step::Update),
        at: "2026-01-31T12:00:00Z".into(),
        elapsed_ms: 5,
        message: "(service web) has started 2 tasks.".into(),
    }
}

fn summary_event() -> SummaryEvent {
    SummaryEvent {
        ok: false,
        interrupted: false,
        created: vec!["a".into()],
        updated: vec![],
        replaced: vec![],
        deleted: vec![],
        failed: vec![FailedStep {
            resource: "repo".into(),
            kind: "ecr/repository".into(),
            step: name_of(Step::Create),
            error: error(),
        }],
        skipped: vec![SkippedStep { resource: "cluster".into(), reason: "r".into() }],
        state_error: Some("e".into()),
        outputs: [("url".to_string(), "http://x".to_string())].into(),
    }
}

#[test]
fn every_field_of_the_formats_is_documented_and_every_documented_field_exists() {
    let doc = doc();
    let documented = tables(&doc);
    let plan = serde_json::to_value(full_plan()).unwrap();
    let change = &plan["changes"][0];
    let step = serde_json::to_value(Event::Failed(step_event())).unwrap();
    let summary = serde_json::to_value(Event::Summary(summary_event())).unwrap();
    let plan_event = serde_json::to_value(Event::Plan { events_version: EVENTS_VERSION, plan: full_plan() }).unwrap();
    let service = serde_json::to_value(Event::ServiceEvent(service_event())).unwrap();
    let actual: BTreeMap<&str, BTreeSet<String>> = [
        ("plan", keys(&plan)),
        ("summary", keys(&plan["summary"])),
        ("change", keys(change)),
        ("diff", keys(&change["diffs"][0])),
        ("problem", keys(&plan["problems"][0])),
        ("image", keys(&plan["images"][0])),
        ("partial", keys(&plan["partial"])),
        ("event_plan", keys(&plan_event)),
        ("event_step", keys(&step)),
        ("event_error", keys(&step["error"])),
        ("event_service", keys(&service)),
        ("event_summary", keys(&summary)),
        ("event_failed", keys(&summary["failed"][0])),
        ("event_skipped", keys(&summary["skipped"][0])),
    ]
    .into();
    let names: BTreeSet<&str> = documented.keys().map(String::as_str).collect();
    assert_eq!(names, actual.keys().copied().collect(), "the tables of docs/json-plan.md");
    for (table, fields) in &actual {
        assert_eq!(&documented[*table], fields, "docs/json-plan.md, table `{table}`: its rows and the type's fields");
    }
    assert!(
        doc.contains(&format!("`format_version` (the plan) and `events_version` (the stream) are `{FORMAT_VERSION}`"))
    );
    assert_eq!(FORMAT_VERSION, EVENTS_VERSION, "the page gives both versions as one number");
}

/// Every value of an enumeration. The matches fail to compile when a
/// value is added, so that it is added here and to the page too.
#[test]
fn every_value_of_the_enumerations_is_documented() {
    let doc = doc();
    let actions =
        [Action::NoOp, Action::Read, Action::Create, Action::Update, Action::Replace, Action::Delete, Action::Wait];
    for a in actions {
        match a {
            Action::NoOp
            | Action::Read
            | Action::Create
            | Action::Update
            | Action::Replace
            | Action::Delete
            | Action::Wait => {}
        }
        let n = name_of(a);
        assert!(row(&doc, "change", "action").contains(&format!("`{n}`")), "action `{n}`");
    }
    for r in [ReplaceOrder::CreateBeforeDelete, ReplaceOrder::DeleteBeforeCreate] {
        match r {
            ReplaceOrder::CreateBeforeDelete | ReplaceOrder::DeleteBeforeCreate => {}
        }
        assert!(row(&doc, "change", "replace").contains(&format!("`{}`", name_of(r))));
    }
    let steps = [
        Step::Keep,
        Step::Read,
        Step::Create,
        Step::Update,
        Step::CreateReplacement,
        Step::DeleteOld,
        Step::Delete,
        Step::Wait,
    ];
    for s in steps {
        match s {
            Step::Keep
            | Step::Read
            | Step::Create
            | Step::Update
            | Step::CreateReplacement
            | Step::DeleteOld
            | Step::Delete
            | Step::Wait => {}
        }
        let n = name_of(s);
        assert!(row(&doc, "event_step", "step").contains(&format!("`{n}`")), "step `{n}`");
    }
    let events = [
        Event::Plan { events_version: EVENTS_VERSION, plan: full_plan() },
        Event::Started(step_event()),
        Event::Waiting(step_event()),
        Event::Done(step_event()),
        Event::Failed(step_event()),
        Event::Skipped(step_event()),
        Event::ServiceEvent(service_event()),
        Event::Summary(summary_event()),
    ];
    for e in events {
        let (table, _) = match &e {
            Event::Plan { .. } => ("event_plan", ()),
            Event::Started(_) | Event::Waiting(_) | Event::Done(_) | Event::Failed(_) | Event::Skipped(_) => {
                ("event_step", ())
            }
            Event::ServiceEvent(_) => ("event_service", ()),
            Event::Summary(_) => ("event_summary", ()),
        };
        let t = serde_json::to_value(&e).unwrap()["type"].as_str().unwrap().to_string();
        assert!(row(&doc, table, "type").contains(&format!("`{t}`")), "event type `{t}`");
    }
}

/// The fenced block of `lang` after `heading`.
fn block<'a>(doc: &'a str, heading: &str, lang: &str) -> &'a str {
    let after = doc.split(heading).nth(1).unwrap();
    let start = after.find(&format!("```{lang}\n")).unwrap() + lang.len() + 4;
    let len = after[start..].find("```").unwrap();
    &after[start..start + len]
}

#[test]
fn the_examples_read_back_into_the_types_unchanged() {
    let doc = doc();
    let text = block(&doc, "## The JSON plan", "json");
    let shown: Value = serde_json::from_str(text).unwrap();
    let plan: JsonPlan = serde_json::from_value(shown.clone()).unwrap();
    assert_eq!(plan.format_version, FORMAT_VERSION);
    assert_eq!(serde_json::to_value(&plan).unwrap(), shown, "a field of the example that the types do not have");
    let lines = block(&doc, "## The event stream", "jsonl");
    let mut types = Vec::new();
    for line in lines.lines() {
        let shown: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let event: Event = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(serde_json::to_value(&event).unwrap(), shown, "{line}");
        types.push(shown["type"].as_str().unwrap().to_string());
    }
    assert_eq!(types.first().map(String::as_str), Some("plan"));
    assert_eq!(types.last().map(String::as_str), Some("summary"));
}
