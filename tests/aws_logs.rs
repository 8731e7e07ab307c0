//! CloudWatch Logs log groups against the moto emulator: retention and tags
//! apply with no drift afterwards and change in place, a rename replaces,
//! destroy deletes unless the file says `retain: true`, a namesake someone
//! else made is never adopted, and a group a lost record left is found by
//! its tags and deleted.

mod support;

use moor::plan::{Action, Plan, ReplaceOrder};
use moor::provider::aws::AwsProvider;
use moor::provider::Provider;
use std::collections::{BTreeMap, BTreeSet};
use support::{apply_clean, converge, empty, load, make_plan, provider};

type Group = aws_sdk_cloudwatchlogs::types::LogGroup;

async fn group(p: &AwsProvider, name: &str) -> Option<Group> {
    let out = p.logs.describe_log_groups().log_group_name_prefix(name).send().await.expect("describe");
    out.log_groups().iter().find(|g| g.log_group_name() == Some(name)).cloned()
}

async fn tags(p: &AwsProvider, g: &Group) -> BTreeMap<String, String> {
    let arn = g.log_group_arn().expect("arn");
    let out = p.logs.list_tags_for_resource().resource_arn(arn).send().await.expect("tags");
    out.tags().cloned().unwrap_or_default().into_iter().collect()
}

fn action(pl: &Plan, resource: &str) -> Action {
    pl.change(resource).unwrap_or_else(|| panic!("{resource} is in the plan: {:#?}", pl.changes)).action
}

fn changed(pl: &Plan, resource: &str) -> BTreeSet<String> {
    pl.change(resource).unwrap().diffs.iter().map(|d| d.field.clone()).collect()
}

fn stack(name: &str, settings: &str) -> String {
    format!("stack: {name}\ntags:\n  team: web\nresources:\n  logs:\n    kind: logs/log_group\n{settings}")
}

#[tokio::test]
async fn a_log_group_applies_clean_changes_in_place_and_is_replaced_by_a_rename() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "/ecs/t-logs-life/logs";
    let v1 = load(&stack("t-logs-life", "    retention_days: 14\n    tags: { app: flask }\n"), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;

    // The default name; the ARN without `:*`; the creation time as unique id.
    let g = group(&p, name).await.expect("created");
    assert_eq!(g.retention_in_days(), Some(14));
    let e = &state.resources["logs"];
    assert_eq!(e.attrs["name"], name);
    assert_eq!(e.attrs["arn"], g.log_group_arn().unwrap());
    assert!(!e.id.ends_with(":*") && e.id.ends_with(&format!(":log-group:{name}")), "{}", e.id);
    assert_eq!(e.uid, g.creation_time().map(|t| t.to_string()));
    let t = tags(&p, &g).await;
    for (k, v) in [("moor:stack", "t-logs-life"), ("moor:resource", "logs"), ("team", "web"), ("app", "flask")] {
        assert_eq!(t.get(k).map(String::as_str), Some(v), "{k} in {t:?}");
    }

    // Retention changes in place.
    let v2 = load(&stack("t-logs-life", "    retention_days: 30\n    tags: { app: flask }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(action(&pl, "logs"), Action::Update);
    assert_eq!(changed(&pl, "logs"), BTreeSet::from(["retention_days".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    assert_eq!(group(&p, name).await.unwrap().retention_in_days(), Some(30));

    // Left out, it is removed: events never expire. Tags change in place.
    let v3 = load(&stack("t-logs-life", "    tags: { app: django }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v3, &state, false, false).await;
    assert_eq!(action(&pl, "logs"), Action::Update);
    assert_eq!(changed(&pl, "logs"), BTreeSet::from(["retention_days".to_string(), "tags".to_string()]));
    let state = apply_clean(&p, &v3, state).await;
    let g = group(&p, name).await.unwrap();
    assert_eq!(g.retention_in_days(), None);
    assert_eq!(tags(&p, &g).await.get("app").map(String::as_str), Some("django"));
    let uid = state.resources["logs"].uid.clone();
    assert_eq!(uid, g.creation_time().map(|t| t.to_string()), "updated in place, not made again");

    // `retain: true` is a tag on the group, set in place.
    let v3r = load(&stack("t-logs-life", "    retain: true\n    tags: { app: django }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v3r, &state, false, false).await;
    assert_eq!(changed(&pl, "logs"), BTreeSet::from(["tags".to_string()]));
    let state = apply_clean(&p, &v3r, state).await;
    assert_eq!(tags(&p, &g).await.get("moor:retain").map(String::as_str), Some("true"));

    // A new name is a new group: made first, then the old one deleted,
    // retained or not.
    let v4 = load(&stack("t-logs-life", "    name: /ecs/t-logs-life/app\n    tags: { app: django }\n"), &[]);
    let pl = make_plan(p.as_ref(), &v4, &state, false, false).await;
    let ch = pl.change("logs").unwrap();
    assert_eq!(ch.action, Action::Replace);
    assert_eq!(ch.replace, Some(ReplaceOrder::CreateBeforeDelete));
    assert_eq!(ch.reasons, ["forces replacement: name"]);
    let state = apply_clean(&p, &v4, state).await;
    assert!(group(&p, name).await.is_none(), "the old group is deleted");
    assert!(group(&p, "/ecs/t-logs-life/app").await.is_some());

    // Destroy deletes it.
    let (pl, summary, state) = converge(&p, &v4, state, true).await;
    assert_eq!(action(&pl, "logs"), Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(group(&p, "/ecs/t-logs-life/app").await.is_none());
    assert!(state.resources.is_empty());
}

#[tokio::test]
async fn a_retained_log_group_outlives_destroy_and_leaves_the_record() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "/ecs/t-logs-keep/logs";
    let text = stack("t-logs-keep", "    retention_days: 7\n    retain: true\n");
    let keep = load(&text, &[]);
    let state = apply_clean(&p, &keep, empty(&keep)).await;
    assert!(state.resources.contains_key("logs"));

    // Destroy keeps it, says so, and forgets it.
    let (pl, summary, state) = converge(&p, &keep, state, true).await;
    assert!(pl.change("logs").is_none(), "{:#?}", pl.changes);
    assert_eq!(pl.forget, ["logs"]);
    assert!(pl.notices.iter().any(|n| n.resource == "logs" && n.message.contains("retain: true")), "{:#?}", pl.notices);
    let shown = moor::render::plan_text(&pl, moor::render::Style { color: false }, false);
    assert!(shown.contains("is kept (`retain: true`)"), "{shown}");
    assert!(summary.ok(), "{summary:#?}");
    assert!(state.resources.is_empty(), "{:?}", state.resources);
    assert!(group(&p, name).await.is_some(), "kept");

    // Its tags make it this stack's again: the next apply takes it over.
    let state = apply_clean(&p, &keep, empty(&keep)).await;
    assert!(state.resources.contains_key("logs"));

    // Removed from the file, it is kept and forgotten too: the record
    // alone knows it, and its tag says to keep it.
    let other = load(&stack("t-logs-keep", "    name: /ecs/t-logs-keep/other\n").replace("  logs:", "  other:"), &[]);
    let (pl, summary, state) = converge(&p, &other, state, false).await;
    assert!(!pl.changes.iter().any(|c| c.resource == "logs"), "{:#?}", pl.changes);
    assert!(pl.forget.contains(&"logs".to_string()));
    assert!(summary.ok(), "{summary:#?}");
    assert!(!state.resources.contains_key("logs"));
    assert!(group(&p, name).await.is_some(), "kept");

    // Without a record, found by its tags: still never deleted.
    let (pl, summary, _) = converge(&p, &other, empty(&other), true).await;
    assert!(!pl.changes.iter().any(|c| c.resource == "logs"), "{:#?}", pl.changes);
    assert!(summary.ok(), "{summary:#?}");
    assert!(group(&p, name).await.is_some(), "kept");
    assert!(group(&p, "/ecs/t-logs-keep/other").await.is_none(), "the other one is destroyed");
}

#[tokio::test]
async fn a_namesake_someone_else_made_is_not_adopted() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "/ecs/t-logs-theirs/logs";
    p.logs.create_log_group().log_group_name(name).tags("owner", "someone").send().await.expect("made by hand");
    let s = load(&stack("t-logs-theirs", "    retention_days: 1\n"), &[]);
    let pl = make_plan(p.as_ref(), &s, &empty(&s), false, false).await;
    assert_eq!(action(&pl, "logs"), Action::NoOp);
    let problem = pl.problems.iter().find(|x| x.resource == "logs").expect("refused");
    assert!(problem.message.contains("belongs to nothing moor manages"), "{}", problem.message);
    assert!(problem.help.contains("moor import logs"), "{}", problem.help);

    // Destroy leaves it alone.
    let pl = make_plan(p.as_ref(), &s, &empty(&s), true, false).await;
    assert!(!pl.changes.iter().any(|c| c.resource == "logs" && c.action == Action::Delete), "{:#?}", pl.changes);
    let g = group(&p, name).await.expect("still there");
    assert_eq!(g.retention_in_days(), None, "untouched");
    assert_eq!(tags(&p, &g).await.get("moor:stack"), None);

    // A record that names its ARN, with another creation time: the group
    // is a namesake of the one moor made, not moor's; with its own
    // creation time, the record proves it is moor's.
    let arn = g.log_group_arn().unwrap().to_string();
    let recorded = |uid: &str| {
        let mut state = empty(&s);
        state.resources.insert(
            "logs".into(),
            moor::state::Entry {
                kind: moor::model::Kind::LogsLogGroup,
                id: arn.clone(),
                uid: Some(uid.to_string()),
                name: Some(name.to_string()),
                attrs: Default::default(),
                depends_on: vec![],
                force_delete: false,
                applied: None,
                deposed: vec![],
                unsettled: false,
                pending: None,
            },
        );
        state
    };
    let pl = make_plan(p.as_ref(), &s, &recorded("1"), false, false).await;
    assert!(pl.problems.iter().any(|x| x.message.contains("not this object")), "{:?}", pl.problems);
    let created = g.creation_time().unwrap().to_string();
    let pl = make_plan(p.as_ref(), &s, &recorded(&created), false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);

    // `moor import` tags it (it keeps its own tags); then it is managed.
    let state = empty(&s);
    let t = moor::plan::target(&s, "logs", &Default::default(), &state).0;
    let live = p.read(&t).await.expect("read").expect("found");
    let adopted = p.adopt(&t, &live).await.expect("adopted");
    assert_eq!(adopted.uid, g.creation_time().map(|t| t.to_string()));
    let t = tags(&p, &g).await;
    assert_eq!(
        (t.get("moor:stack"), t.get("owner")),
        (Some(&"t-logs-theirs".to_string()), Some(&"someone".to_string()))
    );
    let pl = make_plan(p.as_ref(), &s, &state, false, false).await;
    assert!(pl.problems.is_empty(), "{:?}", pl.problems);
    assert_eq!(changed(&pl, "logs"), BTreeSet::from(["retention_days".to_string(), "tags".to_string()]));
}

#[tokio::test]
async fn a_group_a_lost_record_left_is_found_by_its_tags_and_deleted() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let both = load(
        "stack: t-logs-lost\nresources:\n  logs:\n    kind: logs/log_group\n  audit:\n    kind: logs/log_group\n",
        &[],
    );
    apply_clean(&p, &both, empty(&both)).await;
    assert!(group(&p, "/ecs/t-logs-lost/logs").await.is_some());

    // The record is lost and `logs` left the file: found, and deleted as
    // removed from the file.
    let one = load("stack: t-logs-lost\nresources:\n  audit:\n    kind: logs/log_group\n", &[]);
    let (pl, summary, _) = converge(&p, &one, empty(&one), false).await;
    let ch = pl.change("logs").expect("found");
    assert_eq!(ch.action, Action::Delete);
    assert!(summary.ok(), "{summary:#?}");
    assert!(group(&p, "/ecs/t-logs-lost/logs").await.is_none());
    assert!(group(&p, "/ecs/t-logs-lost/audit").await.is_some());
}

/// A tagging tool owns one tag: `ignore_changes: [tags.CostCenter]` plans
/// no change for it, and an update of the group's other tags and its
/// retention leaves it as that tool set it.
#[tokio::test]
async fn a_tag_another_tool_owns_is_neither_planned_nor_removed_by_an_update() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "/ecs/t-logs-ignore/logs";
    let settings = |days: u32, app: &str| {
        format!("    retention_days: {days}\n    tags: {{ app: {app} }}\n    ignore_changes: [tags.CostCenter]\n")
    };
    let v1 = load(&stack("t-logs-ignore", &settings(14, "flask")), &[]);
    let state = apply_clean(&p, &v1, empty(&v1)).await;
    let g = group(&p, name).await.expect("created");
    let arn = g.log_group_arn().unwrap().to_string();
    p.logs.tag_resource().resource_arn(&arn).tags("CostCenter", "42").send().await.expect("tag");

    let pl = make_plan(p.as_ref(), &v1, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);
    let reasons = &pl.change("logs").unwrap().reasons;
    assert_eq!(
        reasons,
        &["ignored: `tags.CostCenter` is \"42\" in AWS, unset in the file; the file says `ignore_changes`"]
    );

    // Another tag and the retention change; the other tool's tag stays.
    let v2 = load(&stack("t-logs-ignore", &settings(30, "django")), &[]);
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert_eq!(changed(&pl, "logs"), BTreeSet::from(["retention_days".to_string(), "tags".to_string()]));
    let state = apply_clean(&p, &v2, state).await;
    let t = tags(&p, &group(&p, name).await.unwrap()).await;
    assert_eq!((t.get("CostCenter"), t.get("app")), (Some(&"42".to_string()), Some(&"django".to_string())), "{t:?}");
    let pl = make_plan(p.as_ref(), &v2, &state, false, false).await;
    assert!(!pl.has_changes(), "{:#?}", pl.changes);

    let (_, summary, _) = converge(&p, &v2, state, true).await;
    assert!(summary.ok(), "{summary:#?}");
}

/// `moor import` with the group's ARN, as the plan's help names it: the
/// group is tagged as the stack's, a retention and a KMS key given by hand
/// that the file also gives plan no change, and destroy deletes it.
#[tokio::test]
async fn moor_import_adopts_a_group_by_its_arn_and_it_plans_clean() {
    if support::skip_emulator() {
        return;
    }
    let p = provider().await;
    let name = "/ecs/t-logs-import/logs";
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    p.logs.create_log_group().log_group_name(name).kms_key_id(key).send().await.expect("made by hand");
    p.logs.put_retention_policy().log_group_name(name).retention_in_days(7).send().await.expect("retention");
    let g = group(&p, name).await.expect("made");
    let arn = g.log_group_arn().unwrap().to_string();
    let d = support::workdir(
        "logs-import",
        &stack("t-logs-import", &format!("    retention_days: 7\n    kms_key: {key}\n")),
    );
    let o = support::moor_in(&d, &["import", "logs", &arn, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert_eq!(tags(&p, &g).await.get("moor:resource").map(String::as_str), Some("logs"));
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let o = support::moor_in(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(group(&p, name).await.is_none(), "deleted");
}
