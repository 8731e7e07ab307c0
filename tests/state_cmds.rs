//! `moor state list` and `moor state rm` against the emulator, on the
//! local and the S3 backend: what the record holds; forgetting entries
//! under the stack's lock, never touching AWS; unknown names refused with a
//! suggestion; and what the next plan does with what was forgotten, as the
//! command says it.

mod support;

use moor::backend::{Backend, Location, LockOptions};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::text;

const BUCKET: &str = "moor-state-cmds-tests";

fn stack(name: &str, with_cluster: bool) -> String {
    let cluster = if with_cluster { "  cluster:\n    kind: ecs/cluster\n" } else { "" };
    format!(
        "stack: {name}\nregion: us-east-1\nresources:\n  repo:\n    kind: ecr/repository\n    empty_on_delete: true\n{cluster}"
    )
}

/// `moor ARGS --state STATE` in `dir`, against the emulator, no terminal.
fn moor(dir: &Path, state: &str, args: &[&str]) -> Output {
    let moto = support::moto();
    Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(args)
        .args(["--state", state])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env_remove("MOOR_STATE")
        .stdin(Stdio::null())
        .output()
        .expect("moor runs")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

fn record(dir: &Path, state: &str, name: &str) -> serde_json::Value {
    let o = moor(dir, state, &["state", "show", "--stack", name]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn names(record: &serde_json::Value) -> Vec<String> {
    record["resources"].as_object().unwrap().keys().cloned().collect()
}

/// The whole story on one backend (`state`: a directory or s3://…).
fn list_and_forget(dir: &Path, state: &str, name: &str) {
    let o = moor(dir, state, &["apply", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let before = record(dir, state, name);
    let repo_arn = before["resources"]["repo"]["id"].as_str().unwrap().to_string();

    // One line per resource: logical name, kind, physical id.
    let o = moor(dir, state, &["state", "list", "stack.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("repo") && lines[1].contains("ecr/repository") && lines[1].contains(&repo_arn),
        "{out}"
    );
    assert!(lines[0].starts_with("cluster") && lines[0].contains("ecs/cluster"), "{out}");
    let o = moor(dir, state, &["state", "list", "--stack", name, "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let items: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(items[1]["logical"], "repo", "{items}");
    assert_eq!(items[1]["id"], repo_arn.as_str(), "{items}");
    assert_eq!(items[1]["imported"], false, "{items}");
    assert!(items[1].get("in_file").is_none(), "no file, so not known: {items}");

    // An unknown name: refused with the known one suggested, nothing changed.
    let o = moor(dir, state, &["state", "rm", "rep", "-f", "stack.yaml", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("`rep` is not in the record; did you mean `repo`?"), "{}", text(&o));
    assert_eq!(record(dir, state, name), before);

    // Without a terminal and without --auto-approve there is no one to confirm.
    let o = moor(dir, state, &["state", "rm", "repo", "-f", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pass --auto-approve"), "{}", text(&o));
    assert_eq!(record(dir, state, name), before);

    // Under the stack's lock: refused while another run holds it.
    rt().block_on(async {
        let backend = Backend::open(&Location::parse(state).unwrap(), Some("us-east-1")).await.unwrap();
        let (held, _) = backend.lock(name, LockOptions::default(), &|_| {}).await.unwrap();
        let o = moor(dir, state, &["state", "rm", "repo", "--stack", name, "--auto-approve"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("is locked"), "{}", text(&o));
        held.release().await;
    });
    assert_eq!(record(dir, state, name), before);

    // Forgotten: gone from the record, still in AWS, and the next plan takes it back.
    let o = moor(dir, state, &["state", "rm", "repo", "-f", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("Forgotten: repo (ecr/repository)"), "{said}");
    assert!(said.contains("takes it back as `repo`"), "{said}");
    let after = record(dir, state, name);
    assert_eq!(names(&after), ["cluster"]);
    assert!(after["serial"].as_u64() > before["serial"].as_u64());
    let o = moor(dir, state, &["plan", "stack.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "the repository is found by name and tags, not created: {}", text(&o));
    let o = moor(dir, state, &["apply", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(record(dir, state, name)["resources"]["repo"]["id"], repo_arn.as_str(), "recorded again");

    // Forgotten and untagged: moor lets go of it; its name is now taken by
    // something moor does not manage, and the plan refuses to touch it.
    let o = moor(dir, state, &["state", "rm", "repo", "-f", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    rt().block_on(async {
        let config = moor::provider::aws::AwsProvider::config_loader(Some("us-east-1".into())).load().await;
        let ecr = aws_sdk_ecr::Client::new(&config);
        ecr.untag_resource()
            .resource_arn(&repo_arn)
            .tag_keys("moor:stack")
            .tag_keys("moor:resource")
            .send()
            .await
            .unwrap();
    });
    let o = moor(dir, state, &["plan", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("belongs to nothing moor manages"), "{}", text(&o));
    let o = moor(dir, state, &["import", "repo", &repo_arn, "-f", "stack.yaml"]);
    assert!(o.status.success(), "{}", text(&o));

    // Forgotten and gone from the file: the next plan finds it by its tag and deletes it, as said.
    std::fs::write(dir.join("stack.yaml"), stack(name, false)).unwrap();
    let o = moor(dir, state, &["state", "rm", "cluster", "-f", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("deletes it as removed from the file"), "{}", text(&o));
    let o = moor(dir, state, &["plan", "stack.yaml"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("found by its moor:stack tag"), "{}", text(&o));
    assert!(text(&o).contains("0 to add, 0 to change, 0 to replace, 1 to destroy"), "{}", text(&o));

    let o = moor(dir, state, &["destroy", "stack.yaml", "--auto-approve"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn state_list_and_rm_on_the_local_backend() {
    if support::skip_emulator() {
        return;
    }
    let name = format!("strm-local-{}", std::process::id());
    let dir = support::workdir("state-rm-local", &stack(&name, true));
    let state = dir.join("state").display().to_string();
    list_and_forget(&dir, &state, &name);
}

#[test]
fn state_list_and_rm_on_the_s3_backend() {
    if support::skip_emulator() {
        return;
    }
    rt().block_on(async {
        support::moto();
        let config = moor::provider::aws::AwsProvider::config_loader(Some("us-east-1".into())).load().await;
        let c =
            aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
        let _ = c.create_bucket().bucket(BUCKET).send().await;
    });
    let name = format!("strm-s3-{}", std::process::id());
    let dir = support::workdir("state-rm-s3", &stack(&name, true));
    list_and_forget(&dir, &format!("s3://{BUCKET}/cmds"), &name);
}
