//! `moor policy`: the document, its plan-only subset, its errors, the
//! README's permission list generated from the same declarations, and the
//! test evaluator of IAM's rules the lifecycle proof uses.
//!
//! Regenerate the README's list with
//!
//! ```sh
//! UPDATE_README_PERMISSIONS=1 cargo test --test policy
//! ```

#[path = "support/iam_eval.rs"]
mod iam_eval;

use iam_eval::{evaluate, wildcard, Decision, Request};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn moor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(args)
        .current_dir(root())
        .env_remove("MOOR_REGION")
        .env_remove("MOOR_STATE")
        .env_remove("MOOR_POLICY_MODE")
        .env_remove("MOOR_POLICY_ACCOUNT")
        .env_remove("MOOR_POLICY_EXPLAIN")
        .env_remove("MOOR_POLICY_PARTITION")
        .output()
        .expect("moor runs")
}

fn policy(args: &[&str]) -> Value {
    let mut all = vec!["policy"];
    all.extend(args);
    let o = moor(&all);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("a JSON document")
}

fn statements(doc: &Value) -> Vec<Value> {
    doc["Statement"].as_array().expect("statements").clone()
}

fn actions_of(s: &Value) -> Vec<String> {
    match &s["Action"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        _ => vec![],
    }
}

fn all_actions(doc: &Value) -> BTreeSet<String> {
    statements(doc).iter().flat_map(actions_of).collect()
}

/// The example stacks and the fixture of the kinds they do not use.
fn sample_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("stacks"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.push(root().join("tests/fixtures/policy/lookups.yaml"));
    files.push(root().join("tests/fixtures/policy/given-by-id.yaml"));
    files.sort();
    files
}

// ---- the command ---------------------------------------------------------------------------

#[test]
fn the_flask_stack_gets_scoped_statements_with_sids_and_conditions() {
    let doc = policy(&["stacks/flask-app.yaml", "--account", "123456789012"]);
    assert_eq!(doc["Version"], "2012-10-17");
    let st = statements(&doc);
    let sids: Vec<&str> = st.iter().map(|s| s["Sid"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = sids.iter().copied().collect();
    assert_eq!(unique.len(), sids.len(), "Sids are unique: {sids:?}");
    assert!(sids.iter().all(|s| s.chars().all(|c| c.is_ascii_alphanumeric())), "{sids:?}");
    // PassRole only to ECS tasks, only on the stack's roles.
    let pass = st.iter().find(|s| actions_of(s).contains(&"iam:PassRole".to_string())).expect("PassRole");
    assert_eq!(pass["Condition"]["StringEquals"]["iam:PassedToService"], "ecs-tasks.amazonaws.com");
    let roles = pass["Resource"].to_string();
    assert!(roles.contains("arn:aws:iam::123456789012:role/"), "{roles}");
    assert!(!roles.contains("role/*\""), "scoped to the stack's roles: {roles}");
    // Repository actions on the repository's ARN, not `*`.
    let create = st.iter().find(|s| actions_of(s).contains(&"ecr:CreateRepository".to_string())).unwrap();
    assert!(create["Resource"].to_string().contains(":repository/"), "{create}");
    // The same command twice prints the same document.
    assert_eq!(doc, policy(&["stacks/flask-app.yaml", "--account", "123456789012"]));
}

#[test]
fn plan_mode_has_the_reads_and_none_of_the_writes() {
    for f in sample_files() {
        let f = f.display().to_string();
        let apply = all_actions(&policy(&[&f]));
        let plan = all_actions(&policy(&[&f, "--mode", "plan"]));
        assert!(plan.is_subset(&apply), "{f}");
        let write = |a: &str| {
            let op = a.split(':').nth(1).unwrap_or(a);
            [
                "Create",
                "Delete",
                "Put",
                "Update",
                "Modify",
                "Set",
                "Tag",
                "Untag",
                "Attach",
                "Detach",
                "Register",
                "Deregister",
                "Authorize",
                "Revoke",
                "Associate",
                "Disassociate",
                "Replace",
                "Request",
                "Add",
                "Remove",
                "Allocate",
                "Release",
                "Change",
                "Pass",
            ]
            .iter()
            .any(|w| op.starts_with(w))
        };
        let writes: Vec<&String> = plan.iter().filter(|a| write(a)).collect();
        assert!(writes.is_empty(), "{f}: plan mode allows writes {writes:?}");
        assert!(plan.iter().any(|a| a.starts_with("tag:GetResources")), "{f}: discovery is a read of every plan");
    }
}

/// What the file gives by id is read before any change (the checks of
/// `moor plan`), so even the plan-only policy allows those reads, though
/// the stack has no security group or role of its own.
#[test]
fn what_the_checks_read_by_id_is_allowed_in_plan_mode() {
    let doc = policy(&["tests/fixtures/policy/given-by-id.yaml", "--mode", "plan"]);
    let st = statements(&doc);
    let allows = |action: &str, resource: &str| {
        st.iter().any(|s| {
            actions_of(s).iter().any(|a| a == action)
                && match &s["Resource"] {
                    Value::String(r) => wildcard(r, resource),
                    Value::Array(rs) => rs.iter().any(|r| wildcard(r.as_str().unwrap(), resource)),
                    _ => false,
                }
        })
    };
    assert!(allows("ec2:DescribeSecurityGroups", "*"), "{doc:#}");
    assert!(allows("iam:GetRole", "arn:aws:iam::123456789012:role/team-task-execution"), "{doc:#}");
    assert!(!allows("iam:GetRole", "arn:aws:iam::123456789012:role/other"), "scoped to the role it names: {doc:#}");
}

#[test]
fn explain_says_why_a_resource_is_any() {
    let o = moor(&["policy", "stacks/flask-app.yaml", "--explain"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    // Every statement on `*` has its reason.
    for block in text.split("\n").collect::<Vec<_>>().split(|l| !l.starts_with("  ")).filter(|b| !b.is_empty()) {
        if block.iter().any(|l| l.trim() == "on: *") {
            assert!(block.iter().any(|l| l.trim_start().starts_with("why: ")), "{block:?}");
        }
    }
    assert!(text.contains("on: *"), "{text}");
    assert!(text.contains("sts:GetCallerIdentity"), "{text}");
}

#[test]
fn a_stack_in_s3_gets_its_record_objects_only() {
    let doc = policy(&["stacks/flask-app.yaml", "--state", "s3://team-state/moor"]);
    let st = statements(&doc);
    let put = st.iter().find(|s| actions_of(s).contains(&"s3:PutObject".to_string())).expect("PutObject");
    assert_eq!(put["Resource"], "arn:aws:s3:::team-state/moor/flask-demo.state.json*");
    let local = all_actions(&policy(&["stacks/flask-app.yaml"]));
    assert!(!local.iter().any(|a| a.starts_with("s3:")), "{local:?}");
}

#[test]
fn errors_are_located_like_other_commands() {
    let dir = std::env::temp_dir().join(format!("moor-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("bad.yaml");
    std::fs::write(&f, "stack: s\nresources:\n  r:\n    kind: ecr/repository\n    nonsense: 1\n").unwrap();
    let o = moor(&["policy", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.yaml:5:5"), "{err}");
    assert!(o.stdout.is_empty());
    let o = moor(&["policy", "stacks/flask-app.yaml", "--account", "12345"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("12 digits"));
}

// ---- the README's list ---------------------------------------------------------------------

const BEGIN: &str = "<!-- permissions:begin -->";
const END: &str = "<!-- permissions:end -->";

/// The README's table: every action any kind or the engine declares, per
/// service, from the policies of the example stacks and the fixture of the
/// kinds they do not use.
fn permission_table() -> String {
    let mut by: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in sample_files() {
        for a in all_actions(&policy(&[&f.display().to_string()])) {
            let (svc, op) = a.split_once(':').unwrap();
            by.entry(svc.to_string()).or_default().insert(op.to_string());
        }
    }
    let mut t = String::from("| Service | Actions |\n|---|---|\n");
    for (svc, ops) in by {
        let ops: Vec<String> = ops.iter().map(|o| format!("`{o}`")).collect();
        t.push_str(&format!("| `{svc}` | {} |\n", ops.join(", ")));
    }
    t
}

#[test]
fn the_readme_lists_the_permissions_moor_declares() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (Some(b), Some(e)) = (readme.find(BEGIN), readme.find(END)) else { panic!("README.md has no {BEGIN}") };
    let table = permission_table();
    let want = format!("{}{BEGIN}\n{table}{}", &readme[..b], &readme[e..]);
    if std::env::var_os("UPDATE_README_PERMISSIONS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        readme == want,
        "README.md's permission list differs from the declarations: UPDATE_README_PERMISSIONS=1 cargo test --test policy"
    );
    for a in ["`GetAccountAuthorizationDetails`", "`ListRoles`", "`PassRole`"] {
        assert!(table.contains(a), "{a}");
    }
}

// ---- the evaluator, on AWS's documented rules -----------------------------------------------

fn doc(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[test]
fn evaluator_default_deny_and_explicit_deny_wins() {
    let p = doc(json!([
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "arn:aws:s3:::prod"}
    ]));
    assert_eq!(evaluate(&p, &Request::new("s3:GetObject", "arn:aws:s3:::prod/a")), Decision::Allow);
    assert_eq!(evaluate(&p, &Request::new("s3:DeleteBucket", "arn:aws:s3:::prod")), Decision::ExplicitDeny);
    assert_eq!(evaluate(&p, &Request::new("s3:DeleteBucket", "arn:aws:s3:::dev")), Decision::Allow);
    assert_eq!(evaluate(&p, &Request::new("ec2:RunInstances", "*")), Decision::ImplicitDeny);
    assert_eq!(evaluate(&doc(json!([])), &Request::new("s3:GetObject", "*")), Decision::ImplicitDeny);
}

#[test]
fn evaluator_actions_are_case_insensitive_arns_case_sensitive() {
    let p = doc(json!([{"Effect": "Allow", "Action": "IAM:get*", "Resource": "arn:aws:iam::1:role/App*"}]));
    assert_eq!(evaluate(&p, &Request::new("iam:GetRole", "arn:aws:iam::1:role/AppRole")), Decision::Allow);
    assert_eq!(evaluate(&p, &Request::new("iam:getrole", "arn:aws:iam::1:role/AppRole")), Decision::Allow);
    assert_eq!(evaluate(&p, &Request::new("iam:GetRole", "arn:aws:iam::1:role/approle")), Decision::ImplicitDeny);
    assert_eq!(evaluate(&p, &Request::new("iam:ListRoles", "arn:aws:iam::1:role/AppRole")), Decision::ImplicitDeny);
}

#[test]
fn evaluator_wildcards_in_arns() {
    assert!(wildcard("a?c*", "abcdef") && !wildcard("a?c", "ac") && wildcard("*", ""));
    let p = doc(json!([{"Effect": "Allow", "Action": "ecs:UpdateService",
        "Resource": "arn:aws:ecs:us-east-1:*:service/c?/web"}]));
    assert_eq!(
        evaluate(&p, &Request::new("ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/c1/web")),
        Decision::Allow
    );
    assert_eq!(
        evaluate(&p, &Request::new("ecs:UpdateService", "arn:aws:ecs:us-east-1:123456789012:service/c12/web")),
        Decision::ImplicitDeny
    );
    assert_eq!(
        evaluate(&p, &Request::new("ecs:UpdateService", "arn:aws:ecs:us-west-2:123456789012:service/c1/web")),
        Decision::ImplicitDeny
    );
    // NotAction and NotResource.
    let p = doc(json!([{"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"}]));
    assert_eq!(evaluate(&p, &Request::new("s3:GetObject", "arn:aws:s3:::open/a")), Decision::Allow);
    assert_eq!(evaluate(&p, &Request::new("s3:GetObject", "arn:aws:s3:::secret/a")), Decision::ImplicitDeny);
    assert_eq!(evaluate(&p, &Request::new("iam:GetRole", "*")), Decision::ImplicitDeny);
}

#[test]
fn evaluator_conditions() {
    let p = doc(json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}}]));
    let pass = Request::new("iam:PassRole", "arn:aws:iam::1:role/r");
    assert_eq!(evaluate(&p, &pass.clone().with("iam:PassedToService", &["ecs-tasks.amazonaws.com"])), Decision::Allow);
    assert_eq!(evaluate(&p, &pass.clone().with("iam:PassedToService", &["ec2.amazonaws.com"])), Decision::ImplicitDeny);
    // A key the request does not give fails the condition.
    assert_eq!(evaluate(&p, &pass), Decision::ImplicitDeny);
    // Keys are case-insensitive; IfExists passes a missing key.
    let p = doc(json!([{"Effect": "Allow", "Action": "ec2:*", "Resource": "*",
        "Condition": {"StringEqualsIfExists": {"AWS:ResourceTag/moor:stack": "s"}}}]));
    assert_eq!(evaluate(&p, &Request::new("ec2:DeleteVpc", "*")), Decision::Allow);
    assert_eq!(
        evaluate(&p, &Request::new("ec2:DeleteVpc", "*").with("aws:resourcetag/moor:stack", &["t"])),
        Decision::ImplicitDeny
    );
    // ForAllValues: every value must match (and no value matches vacuously).
    let p = doc(json!([{"Effect": "Allow", "Action": "route53:ChangeResourceRecordSets", "Resource": "*",
        "Condition": {"ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": "*.example.com"}}}]));
    let change = Request::new("route53:ChangeResourceRecordSets", "arn:aws:route53:::hostedzone/Z1");
    let key = "route53:ChangeResourceRecordSetsNormalizedRecordNames";
    assert_eq!(evaluate(&p, &change.clone().with(key, &["_a.example.com", "_b.example.com"])), Decision::Allow);
    assert_eq!(evaluate(&p, &change.clone().with(key, &["_a.example.com", "evil.org"])), Decision::ImplicitDeny);
    // ArnLike, and a deny with a condition.
    let p = doc(json!([
        {"Effect": "Allow", "Action": "iam:DetachRolePolicy", "Resource": "*",
         "Condition": {"ArnLike": {"iam:PolicyARN": "arn:aws:iam::*:policy/app-*"}}},
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}}
    ]));
    let detach =
        Request::new("iam:DetachRolePolicy", "arn:aws:iam::1:role/r").with("aws:RequestedRegion", &["us-east-1"]);
    assert_eq!(evaluate(&p, &detach.clone().with("iam:PolicyARN", &["arn:aws:iam::1:policy/app-x"])), Decision::Allow);
    assert_eq!(
        evaluate(&p, &detach.clone().with("iam:PolicyARN", &["arn:aws:iam::1:policy/other"])),
        Decision::ImplicitDeny
    );
    let elsewhere =
        detach.with("iam:PolicyARN", &["arn:aws:iam::1:policy/app-x"]).with("aws:RequestedRegion", &["eu-west-1"]);
    assert_eq!(evaluate(&p, &elsewhere), Decision::ExplicitDeny);
}
