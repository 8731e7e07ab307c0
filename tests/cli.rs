//! The `moor` command against the local emulator, as a pipeline uses it:
//! exit codes, JSON plans, the state record, outputs, import, destroy.

mod support;

use support::text;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STACK: &str = "\
stack: cli-demo
region: us-east-1
variables:
  keep: { type: integer, default: 10 }
resources:
  repo:
    kind: ecr/repository
    scan_on_push: true
    lifecycle:
      keep_last: ${var.keep}
    empty_on_delete: true
  cluster:
    kind: ecs/cluster
outputs:
  repository: ${repo.uri}
  cluster: ${cluster.arn}
";

fn moor(dir: &Path, args: &[&str]) -> Output {
    support::moor_in(dir, args)
}

fn moor_plain(dir: &Path, args: &[&str]) -> Output {
    support::moto();
    Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("moor runs")
}

fn workdir(name: &str, stack: &str) -> PathBuf {
    support::workdir(&format!("cli-{name}"), stack)
}

#[test]
fn plan_apply_plan_outputs_destroy_with_pipeline_exit_codes() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("life", STACK);

    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "changes present: {}", text(&o));
    assert!(text(&o).contains("Plan: 2 to add, 0 to change, 0 to replace, 0 to destroy."), "{}", text(&o));

    let o = moor(&d, &["plan", "stack.yaml", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is only JSON");
    assert_eq!(plan["format_version"], 1);
    assert_eq!(plan["summary"]["add"], 2);
    assert_eq!(plan["changes"][0]["action"], "create");

    // A pipeline without a terminal must say so.
    let o = moor(&d, &["apply", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--auto-approve"), "{}", text(&o));

    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Apply complete: 2 created"), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("repository = "), "outputs on stdout");
    assert!(d.join("state/cli-demo.state.json").exists());

    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "no changes after apply: {}", text(&o));
    assert!(text(&o).contains("No changes."));

    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve", "--var", "keep=5"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("1 changed"), "{}", text(&o));

    let o = moor_plain(&d, &["outputs", "stack.yaml", "--name", "repository", "--state-dir", "state"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).trim().ends_with("cli-demo/repo"), "{}", text(&o));

    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Destroy complete: 0 created, 0 changed, 0 replaced, 2 deleted."), "{}", text(&o));

    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "everything is gone again");
}

#[test]
fn a_broken_file_is_an_error_not_a_change() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("broken", "stack: x\nresources:\n  r:\n    kind: ecr/repositry\n");
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "stdout stays clean");
    assert!(text(&o).contains("did you mean `ecr/repository`?"));
}

#[test]
fn a_corrupt_state_record_is_set_aside_and_rebuilt_from_tags() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("corrupt", &STACK.replace("cli-demo", "cli-corrupt"));
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(d.join("state/cli-corrupt.state.json"), "{ truncated").unwrap();
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("is corrupt"), "{}", text(&o));
    assert!(text(&o).contains("No changes."), "found by their tags: {}", text(&o));
    assert!(std::fs::read_dir(d.join("state")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".corrupt-")));
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn destroy_works_when_the_file_is_gone() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("gone", &STACK.replace("cli-demo", "cli-gone"));
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::remove_file(d.join("stack.yaml")).unwrap();
    let o = moor(&d, &["destroy", "--stack", "cli-gone", "--region", "us-east-1", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("2 deleted"), "{}", text(&o));
}

#[test]
fn import_adopts_an_unowned_resource() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("import", &STACK.replace("cli-demo", "cli-import"));
    // Someone made the repository by hand.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let arn = rt.block_on(async {
        let p = support::provider().await;
        let r = p.ecr.create_repository().repository_name("cli-import/repo").send().await.unwrap();
        r.repository().unwrap().repository_arn().unwrap().to_string()
    });
    let o = moor(&d, &["plan", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "refused: {}", text(&o));
    assert!(text(&o).contains("moor import repo"), "{}", text(&o));
    let o = moor(&d, &["import", "repo", &arn, "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The environment says one region, the file another: the file's wins (the
/// connection started early in the environment's region is not used), and
/// `--region` beats both.
#[tokio::test]
async fn the_files_region_beats_the_environments() {
    if support::skip_emulator() {
        return;
    }
    let stack = "stack: cli-region\nregion: us-west-2\nresources:\n  repo:\n    kind: ecr/repository\n";
    let dir = workdir("region", stack);
    let o = moor(&dir, &["apply", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let in_region = |region: &'static str| async move {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region))
            .load()
            .await;
        let ecr = aws_sdk_ecr::Client::new(&config);
        let out = ecr.describe_repositories().send().await.unwrap();
        out.repositories().iter().any(|r| r.repository_name() == Some("cli-region/repo"))
    };
    assert_eq!(std::env::var("AWS_REGION").as_deref(), Ok("us-east-1"));
    assert!(in_region("us-west-2").await, "created in the file's region");
    assert!(!in_region("us-east-1").await, "not in the environment's");

    // --region beats the file: in us-east-1 there is nothing to destroy.
    let o = moor(&dir, &["plan", "stack.yaml", "--region", "us-east-1", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = moor(&dir, &["destroy", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!in_region("us-west-2").await, "destroyed in the file's region");
}

const SECRET_STACK: &str = "\
stack: cli-secrets
region: us-east-1
variables:
  signing: { default: marked-s3cret-value }
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1
        sensitive: [SIGNING]
        environment:
          DATABASE_URL: postgres://app:Xq9hunter2pass@db.internal:5432/app
          AWS_ACCESS_KEY_ID: AKIAQWERTYUIOPASDFGH
          AWS_SECRET_ACCESS_KEY: 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
          SIGNING: ${var.signing}
          MODE: production
";

/// The values no output and no file of moor may hold.
const SECRETS: [&str; 5] = [
    "Xq9hunter2pass",
    "AKIAQWERTYUIOPASDFGH",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq8secretK",
    "marked-s3cret-value",
    "other-s3cret-value",
];

fn assert_no_secret(what: &str, out: &str) {
    for s in SECRETS {
        assert!(!out.contains(s), "{what} shows the secret {s:?}:\n{out}");
    }
}

#[cfg(unix)]
#[test]
fn secret_values_are_never_printed_nor_stored() {
    if support::skip_emulator() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let d = workdir("secrets", SECRET_STACK);

    let o = moor_plain(&d, &["validate", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "warnings only: {}", text(&o));
    assert!(text(&o).contains("moor::secret-in-environment"), "{}", text(&o));
    assert!(text(&o).contains("`DATABASE_URL` looks like a secret"), "{}", text(&o));
    assert_no_secret("validate", &text(&o));
    assert!(text(&o).contains("DATABASE_URL: ****"), "the snippet is there, masked: {}", text(&o));
    let o = moor_plain(&d, &["validate", "stack.yaml", "--format", "json"]);
    assert_no_secret("validate --format json", &text(&o));
    let o = moor_plain(&d, &["graph", "stack.yaml", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret("graph --format json", &text(&o));

    let o = moor(&d, &["plan", "stack.yaml"]);
    assert!(text(&o).contains(r#""AWS_ACCESS_KEY_ID":"(sensitive)""#), "{}", text(&o));
    assert_no_secret("plan", &text(&o));
    let o = moor(&d, &["plan", "stack.yaml", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret("plan --json", &text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is only JSON");
    let env = &plan["changes"][0]["diffs"].as_array().unwrap().iter().find(|d| d["field"] == "containers").unwrap()
        ["after"][0]["environment"];
    assert_eq!(env["SIGNING"], "(sensitive)");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "(sensitive)");
    assert_eq!(env["MODE"], "production");

    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret("apply", &text(&o));
    let state = d.join("state/cli-secrets.state.json");
    assert_no_secret("the state record", &std::fs::read_to_string(&state).unwrap());
    assert!(std::fs::read_to_string(&state).unwrap().contains("sha256:"));
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o600);

    // Recorded as hashes, unchanged secrets are no change…
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "no changes after apply: {}", text(&o));

    // …and a changed one is, without either value.
    let o = moor(&d, &["plan", "stack.yaml", "--json", "--var", "signing=other-s3cret-value"]);
    assert_no_secret("plan --json of a change", &text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is only JSON");
    assert_eq!(plan["summary"]["change"], 1, "{plan}");
    let diff = plan["changes"][0]["diffs"].as_array().unwrap().iter().find(|d| d["field"] == "containers").unwrap();
    assert_eq!(diff["sensitive_changed"], serde_json::json!(["containers.web.environment.SIGNING"]));
    assert_eq!(diff["before"][0]["environment"]["SIGNING"], "(sensitive)");
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve", "--var", "signing=other-s3cret-value"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("containers.web.environment.SIGNING changes (sensitive)"), "{}", text(&o));
    assert_no_secret("apply of a change", &text(&o));
    assert_no_secret("the state record", &std::fs::read_to_string(&state).unwrap());

    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret("destroy", &text(&o));
}
