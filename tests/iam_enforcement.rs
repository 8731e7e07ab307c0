//! moor under IAM enforcement on the emulator: every request is signed
//! with a user's keys and checked against that user's policies, as on AWS
//! (`support::enforce`; what moto checks and what not: docs/emulator.md).
//!
//! The Flask example's whole lifecycle runs as a user holding the policy
//! document given to [`lifecycle_under`], and an apply as a user denied one
//! call moor needs stops at that call, naming it and AWS's refusal.

mod support;

use std::path::{Path, PathBuf};
use support::enforce::{self, moor_as, user_with_policy, Keys};
use support::{text, workdir};

/// The tests of this binary share one stack's names (the example's
/// repository name is fixed), so they run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn flask() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/flask-app.yaml")
}

fn plan_json(dir: &Path, file: &str, keys: &Keys, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", file, "--format", "json"];
    args.extend_from_slice(extra);
    let out = moor_as(dir, &args, keys);
    assert!(out.status.success(), "plan of {file} failed:\n{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("plan of {file} is not JSON ({e}):\n{}", text(&out)))
}

fn run_ok(dir: &Path, args: &[&str], keys: &Keys) {
    let out = moor_as(dir, args, keys);
    assert!(out.status.success(), "`moor {}` failed:\n{}", args.join(" "), text(&out));
}

/// The Flask example's lifecycle as user `user` holding `policy` (an IAM
/// policy document): plan, apply without tasks, the image pushed, apply,
/// a plan with no changes, destroy, and a plan that would create
/// everything again (nothing left behind).
async fn lifecycle_under(user: &str, policy: &str) {
    let keys = user_with_policy(user, policy).await;
    let path = flask();
    let file = path.to_str().unwrap();
    let dir = workdir(user, &std::fs::read_to_string(&path).unwrap());
    let no_tasks = ["--var", "desired_count=0"];

    let first = plan_json(&dir, file, &keys, &no_tasks);
    assert!(first["problems"].as_array().unwrap().is_empty(), "{}", first["problems"]);
    assert!(first["summary"]["add"].as_u64().unwrap() > 0, "the first plan creates nothing");

    let mut apply = vec!["apply", file, "--auto-approve"];
    apply.extend_from_slice(&no_tasks);
    run_ok(&dir, &apply, &keys);
    support::push_image(&*support::provider().await, "course/flask-app", "latest", 'd').await;
    run_ok(&dir, &["apply", file, "--auto-approve"], &keys);

    let again = moor_as(&dir, &["plan", file, "--detailed-exitcode"], &keys);
    assert_eq!(again.status.code(), Some(0), "the plan after apply is not empty:\n{}", text(&again));

    run_ok(&dir, &["destroy", file, "--auto-approve", "--force"], &keys);
    let after = plan_json(&dir, file, &keys, &no_tasks);
    assert!(after["problems"].as_array().unwrap().is_empty(), "left behind: {}", after["problems"]);
    assert_eq!(
        after["summary"], first["summary"],
        "after destroy the plan is not the first one again: {}",
        after["changes"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flask_example_runs_its_lifecycle_under_an_allow_all_policy() {
    if support::skip_emulator() {
        return;
    }
    enforce::moto();
    let _one = ONE_AT_A_TIME.lock().await;
    lifecycle_under("flask-allow-all", &enforce::allow_all()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_policy_denies_stops_the_apply_naming_the_resource_the_call_and_the_refusal() {
    if support::skip_emulator() {
        return;
    }
    enforce::moto();
    let _one = ONE_AT_A_TIME.lock().await;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            { "Effect": "Allow", "Action": "*", "Resource": "*" },
            { "Effect": "Deny", "Action": "ecs:CreateService", "Resource": "*" },
        ],
    });
    let keys = user_with_policy("flask-no-create-service", &policy.to_string()).await;
    let path = flask();
    let file = path.to_str().unwrap();
    let dir = workdir("flask-no-create-service", &std::fs::read_to_string(&path).unwrap());

    let out = moor_as(&dir, &["apply", file, "--auto-approve", "--var", "desired_count=0"], &keys);
    let all = text(&out);
    // Everything else was created and recorded: the same user destroys it
    // (first, so a failed check below leaves nothing for the other tests).
    let destroyed = moor_as(&dir, &["destroy", file, "--auto-approve", "--force"], &keys);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(destroyed.status.success(), "destroy failed:\n{}", text(&destroyed));
    assert!(!out.status.success(), "the apply succeeded:\n{all}");
    assert!(all.contains("11 created"), "{all}");
    let line = all
        .lines()
        .find(|l| l.contains("app (ecs/service)") && l.contains("ecs:CreateService"))
        .unwrap_or_else(|| panic!("no line names the service and its call:\n{all}"));
    assert!(line.contains("AccessDenied"), "{line}");
    assert!(line.contains("not authorized to perform: ecs:CreateService"), "{line}");
    assert!(!all.contains("IAM not caught up"), "the caller's own refusal was retried:\n{all}");
    for secret in [&keys.access_key_id, &keys.secret_access_key, &enforce::admin().secret_access_key] {
        assert!(!all.contains(secret.as_str()), "the output shows a credential:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn enforcement_refuses_unknown_keys_and_a_user_without_policy() {
    if support::skip_emulator() {
        return;
    }
    enforce::moto();
    let _one = ONE_AT_A_TIME.lock().await;
    let path = flask();
    let file = path.to_str().unwrap();
    let dir = workdir("flask-refused", &std::fs::read_to_string(&path).unwrap());

    let stranger = Keys { access_key_id: "AKIAIOSFODNN7EXAMPLE".into(), secret_access_key: "not-a-secret".into() };
    let out = moor_as(&dir, &["plan", file], &stranger);
    assert!(!out.status.success(), "unknown keys were accepted:\n{}", text(&out));
    assert!(text(&out).contains("InvalidClientTokenId"), "{}", text(&out));

    let nothing = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*" }],
    });
    let keys = user_with_policy("flask-nothing", &nothing.to_string()).await;
    let out = moor_as(&dir, &["plan", file], &keys);
    assert!(!out.status.success(), "a user allowed nothing planned:\n{}", text(&out));
    assert!(text(&out).contains("AccessDenied"), "{}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `moor policy`'s document as the emulator can check it: the same
/// actions, each statement on `"*"`. moto checks an action against the
/// resource `"*"` only (so a statement scoped to the stack's ARNs would
/// allow nothing there) and takes every condition as met; the resource
/// scoping and conditions are proven by `tests/policy.rs`'s evaluator.
fn printed_policy(mode: &str) -> String {
    let path = flask();
    let dir = workdir(&format!("policy-{mode}"), "");
    let out = moor_as(&dir, &["policy", path.to_str().unwrap(), "--mode", mode], enforce::admin());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "moor policy failed:\n{}", text(&out));
    let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON policy");
    for s in doc["Statement"].as_array_mut().expect("statements") {
        let s = s.as_object_mut().unwrap();
        assert_eq!(s["Effect"], "Allow", "{s:?}");
        s.insert("Resource".into(), "*".into());
        s.remove("Condition");
        // moto names an action after the signing name of the service
        // (`tagging:GetResources`); IAM's prefix for it is `tag`.
        let mut actions: Vec<serde_json::Value> = match &s["Action"] {
            serde_json::Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        let moto_names: Vec<serde_json::Value> = actions
            .iter()
            .filter_map(|a| a.as_str()?.strip_prefix("tag:").map(|op| format!("tagging:{op}").into()))
            .collect();
        actions.extend(moto_names);
        s.insert("Action".into(), actions.into());
    }
    doc.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_flask_example_runs_its_lifecycle_under_the_actions_moor_policy_prints() {
    if support::skip_emulator() {
        return;
    }
    enforce::moto();
    let _one = ONE_AT_A_TIME.lock().await;
    lifecycle_under("flask-printed-policy", &printed_policy("apply")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_policy_lets_a_plan_run_and_refuses_the_apply() {
    if support::skip_emulator() {
        return;
    }
    enforce::moto();
    let _one = ONE_AT_A_TIME.lock().await;
    let keys = user_with_policy("flask-plan-only", &printed_policy("plan")).await;
    let path = flask();
    let file = path.to_str().unwrap();
    let dir = workdir("flask-plan-only", &std::fs::read_to_string(&path).unwrap());
    let first = plan_json(&dir, file, &keys, &["--var", "desired_count=0"]);
    assert!(first["problems"].as_array().unwrap().is_empty(), "{}", first["problems"]);
    assert!(first["summary"]["add"].as_u64().unwrap() > 0, "{}", first["summary"]);
    let out = moor_as(&dir, &["apply", file, "--auto-approve", "--var", "desired_count=0"], &keys);
    let all = text(&out);
    // Nothing was made: the first write was refused.
    let destroyed = moor_as(&dir, &["destroy", file, "--auto-approve", "--force"], enforce::admin());
    let _ = std::fs::remove_dir_all(&dir);
    assert!(destroyed.status.success(), "destroy failed:\n{}", text(&destroyed));
    assert!(!out.status.success(), "a plan-only user applied:\n{all}");
    assert!(all.contains("AccessDenied"), "{all}");
    assert!(all.contains("0 created, 0 changed, 0 replaced, 0 deleted"), "a plan-only user changed something:\n{all}");
}
