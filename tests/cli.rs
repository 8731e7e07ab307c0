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
    assert!(text(&o).contains(r#"AWS_ACCESS_KEY_ID: "(sensitive)""#), "{}", text(&o));
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

const ONCE_STACK: &str = "\
stack: cli-once
region: us-east-1
resources:
  repo:
    kind: ecr/repository
  cluster:
    kind: ecs/cluster
    depends_on: [repo]
";

/// How many lines of `text` contain `needle`.
fn lines_with(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// A create that AWS keeps refusing: its failure, with what AWS answered,
/// is printed once (as it happens, not again in the summary), and what it
/// stopped is listed once.
#[test]
fn a_failed_apply_prints_each_failure_and_each_skip_once() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("once", ONCE_STACK);
    let proxy = support::proxy::FaultProxy::start();
    proxy.rate("ecr:CreateRepository", "500", 1.0);
    let o = proxy
        .moor()
        .args(["apply", "stack.yaml", "--auto-approve", "--state-dir"])
        .arg(d.join("state"))
        .current_dir(&d)
        .output()
        .expect("moor runs");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(proxy.fired("ecr:CreateRepository", "500") > 0, "{}\n{err}", proxy.counts());
    assert_eq!(lines_with(&err, "repo (ecr/repository):"), 1, "the failure once:\n{err}");
    // What AWS answered; or, when the SDK's backoff between the retried
    // 500s outlasts the call's deadline (a busy machine), that deadline.
    assert!(
        err.contains("InternalFailure") || err.contains("500") || err.contains("no answer from AWS within"),
        "what AWS answered:\n{err}"
    );
    assert_eq!(lines_with(&err, "skipped cluster"), 1, "the skip once:\n{err}");
    assert_eq!(lines_with(&err, "Apply failed:"), 1, "{err}");
    assert!(err.contains("1 failed, 1 skipped"), "{err}");
}

/// A command's own failures are printed once, each on its own line.
#[test]
fn a_commands_failure_is_printed_once() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("fail-once", &STACK.replace("cli-demo", "cli-fail-once"));

    // No state record yet.
    let o = moor_plain(&d, &["outputs", "stack.yaml", "--state-dir", "state"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(lines_with(&text(&o), "has no state record"), 1, "{}", text(&o));

    // A broken file: its diagnostic once, its count once, and no AWS call.
    std::fs::write(d.join("broken.yaml"), "stack: x\nresources:\n  r:\n    kind: ecr/repositry\n").unwrap();
    let o = moor(&d, &["apply", "broken.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(lines_with(&text(&o), "did you mean `ecr/repository`?"), 1, "{}", text(&o));
    assert_eq!(lines_with(&text(&o), "nothing was read from or sent to AWS"), 1, "{}", text(&o));

    // No one to confirm.
    let o = moor(&d, &["apply", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(lines_with(&text(&o), "pass --auto-approve"), 1, "{}", text(&o));

    // A resource the stack does not have.
    let o = moor(&d, &["import", "rpeo", "arn:aws:ecr:us-east-1:123456789012:repository/x", "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(lines_with(&text(&o), "the stack has no resource `rpeo`"), 1, "{}", text(&o));

    // A lookup reads what it names without owning it: nothing to import.
    let lookups = "stack: cli-lookups\nregion: us-east-1\nresources:\n  zone:\n    kind: route53/existing_zone\n    name: example.com\n  cluster:\n    kind: ecs/existing_cluster\n    name: shared\n  cert:\n    kind: acm/existing_certificate\n    domain: example.com\n";
    std::fs::write(d.join("lookups.yaml"), lookups).unwrap();
    for (logical, id) in [
        ("zone", "Z0123456789ABCDEFGHIJ"),
        ("cluster", "arn:aws:ecs:us-east-1:123456789012:cluster/shared"),
        ("cert", "arn:aws:acm:us-east-1:123456789012:certificate/1234"),
    ] {
        let o = moor(&d, &["import", logical, id, "-f", "lookups.yaml"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let said = format!("`{logical}` is a lookup");
        assert_eq!(lines_with(&text(&o), &said), 1, "{}", text(&o));
        assert!(text(&o).contains("nothing to import"), "{}", text(&o));
    }
}

/// The product of a command that cannot be written is an error, said once.
#[cfg(target_os = "linux")]
#[test]
fn output_that_cannot_be_written_is_an_error_said_once() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("full", &STACK.replace("cli-demo", "cli-full"));
    for args in [&["schema"][..], &["graph", "stack.yaml"][..], &["plan", "stack.yaml", "--json"][..]] {
        support::moto();
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let o = Command::new(env!("CARGO_BIN_EXE_moor"))
            .args(args)
            .arg("--color=never")
            .current_dir(&d)
            .stdout(full)
            .output()
            .expect("moor runs");
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(lines_with(&err, "cannot write output"), 1, "{args:?}: {err}");
    }
}

/// `destroy --stack NAME` takes NAME as it is: a name that is not a stack
/// name is refused, not read as YAML (where `# …` is a comment, and
/// `cli-gone2 # x` would be the stack `cli-gone2`).
#[test]
fn destroy_by_name_takes_the_name_as_it_is() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("byname", &STACK.replace("cli-demo", "cli-byname"));
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for name in ["cli-byname # old", "cli-byname\nregion: us-west-2", "\"cli-byname\""] {
        let o = moor(&d, &["destroy", "--stack", name, "--auto-approve"]);
        assert_eq!(o.status.code(), Some(1), "{name:?}: {}", text(&o));
        assert_eq!(lines_with(&text(&o), "is not valid"), 1, "{name:?}: {}", text(&o));
        assert!(!text(&o).contains("deleted"), "{name:?}: {}", text(&o));
    }
    let o = moor(&d, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "nothing was destroyed: {}", text(&o));
    let o = moor(&d, &["destroy", "--stack", "cli-byname", "--region", "us-east-1", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("2 deleted"), "{}", text(&o));
}

const SAME_STACK: &str = "\
stack: cli-same
region: us-east-1
resources:
  repo:
    kind: ecr/repository
    scan_on_push: true
    empty_on_delete: true
  cluster:
    kind: ecs/cluster
    depends_on: [repo]
";

/// The record's entries, without the fields as applied: import cannot know
/// them (AWS has not been made to match the file).
fn entries_without_applied(dir: &Path, stack: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("state/{stack}.state.json"))).unwrap();
    let mut record: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut entries = record["resources"].take();
    for (_, e) in entries.as_object_mut().unwrap() {
        e.as_object_mut().unwrap().remove("applied");
    }
    entries
}

/// Import records a resource as apply records it (id, uid, name, attributes,
/// dependencies, deletion of contents), all but the fields as applied.
#[test]
fn import_records_what_apply_records() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("same", SAME_STACK);
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let applied = entries_without_applied(&d, "cli-same");
    assert_eq!(applied["repo"]["force_delete"], true, "{applied:#}");
    assert_eq!(applied["cluster"]["depends_on"], serde_json::json!(["repo"]), "{applied:#}");

    // The record is lost; both are imported back.
    std::fs::remove_file(d.join("state/cli-same.state.json")).unwrap();
    for logical in ["repo", "cluster"] {
        let arn = applied[logical]["attrs"]["arn"].as_str().unwrap_or_else(|| panic!("{applied:#}"));
        let o = moor(&d, &["import", logical, arn, "-f", "stack.yaml"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    assert_eq!(entries_without_applied(&d, "cli-same"), applied);

    let o = moor(&d, &["destroy", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
