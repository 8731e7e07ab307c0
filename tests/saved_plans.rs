//! Saved plans against the local emulator: `moor plan -o PLANFILE` then
//! `moor apply PLANFILE` applies exactly what was reviewed, and refuses
//! when AWS, the state record, the stack file or a variable changed since;
//! and one stack file for several environments.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::text;

fn stack(name: &str) -> String {
    format!(
        "stack: {name}
region: us-east-1
variables:
  keep: {{ type: integer, default: 10 }}
resources:
  repo:
    kind: ecr/repository
    scan_on_push: true
    lifecycle:
      keep_last: ${{var.keep}}
    empty_on_delete: true
  cluster:
    kind: ecs/cluster
"
    )
}

fn moor(dir: &Path, args: &[&str]) -> Output {
    support::moor_in(dir, args)
}

/// `moor ARGS` with environment variables.
fn moor_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    support::moto();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_moor"));
    cmd.args(args).arg("--state-dir").arg(dir.join("state")).current_dir(dir).env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("moor runs")
}

fn workdir(name: &str, text: &str) -> PathBuf {
    support::workdir(&format!("saved-{name}"), text)
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    text(o)
}

/// A refusal: exit 1, nothing changed, and what differs.
fn refused(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    text(o)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

async fn repo_tags(p: &moor::provider::aws::AwsProvider, repo: &str) -> Vec<(String, String)> {
    let arn = p.ecr.describe_repositories().repository_names(repo).send().await.unwrap().repositories()[0]
        .repository_arn()
        .unwrap()
        .to_string();
    let tags = p.ecr.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

async fn repo_exists(p: &moor::provider::aws::AwsProvider, repo: &str) -> bool {
    p.ecr.describe_repositories().repository_names(repo).send().await.is_ok()
}

#[test]
fn a_saved_plan_is_applied_as_reviewed_without_asking() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("apply", &stack("saved-apply"));
    let o = moor(&d, &["plan", "stack.yaml", "-o", "plan.json"]);
    assert!(ok(&o).contains("Plan: 2 to add"), "{}", text(&o));
    let plan = d.join("plan.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777, 0o600, "only its owner reads it");
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(saved["moor_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(saved["file"]["path"], "stack.yaml", "relative to the plan file");
    assert_eq!(saved["variables"]["keep"]["value"], 10);
    assert_eq!(saved["plan"]["summary"]["add"], 2);

    // Nothing exists until the saved plan is applied; stdin is not a
    // terminal, and nothing is asked.
    let p = rt().block_on(support::provider());
    assert!(!rt().block_on(repo_exists(&p, "saved-apply/repo")));
    let o = moor(&d, &["apply", "plan.json"]);
    let out = ok(&o);
    assert!(out.contains("Applying the saved plan") && out.contains("2 created"), "{out}");
    assert!(!out.contains("--auto-approve"), "{out}");
    assert!(rt().block_on(repo_exists(&p, "saved-apply/repo")));

    // Applied once: the record changed, so the same plan is refused.
    let o = moor(&d, &["apply", "plan.json"]);
    let out = refused(&o);
    assert!(out.contains("repo: new in the state record") && out.contains("repo: new in AWS"), "{out}");

    // A plan without changes applies as a no-op.
    ok(&moor(&d, &["plan", "stack.yaml", "--out", "same.json"]));
    let o = moor(&d, &["apply", "same.json"]);
    assert!(ok(&o).contains("No changes"), "{}", text(&o));

    // A saved destroy plan destroys; --json streams the events as apply's.
    ok(&moor(&d, &["plan", "--destroy", "stack.yaml", "-o", "destroy.json"]));
    assert!(rt().block_on(repo_exists(&p, "saved-apply/repo")), "planning changes nothing");
    let o = moor(&d, &["apply", "destroy.json", "--json"]);
    assert!(ok(&o).contains("2 deleted"), "{}", text(&o));
    let events: Vec<moor::events::Event> =
        String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).expect("an event")).collect();
    assert!(
        matches!(events.first(), Some(moor::events::Event::Plan { plan, .. }) if plan.destroy && plan.summary.destroy == 2),
        "{events:?}"
    );
    assert!(matches!(events.last(), Some(moor::events::Event::Summary(_))), "{events:?}");
    assert!(!rt().block_on(repo_exists(&p, "saved-apply/repo")));
}

#[test]
fn a_change_in_aws_since_the_plan_is_refused_naming_the_resource() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("aws", &stack("saved-aws"));
    ok(&moor(&d, &["apply", "stack.yaml", "--auto-approve"]));
    let p = rt().block_on(support::provider());

    // A tag added by someone else between plan and apply.
    ok(&moor(&d, &["plan", "stack.yaml", "--var", "keep=20", "-o", "plan.json"]));
    rt().block_on(async {
        let arn = p.ecr.describe_repositories().repository_names("saved-aws/repo").send().await.unwrap().repositories()
            [0]
        .repository_arn()
        .unwrap()
        .to_string();
        let tag = aws_sdk_ecr::types::Tag::builder().key("owner").value("someone-else").build().unwrap();
        p.ecr.tag_resource().resource_arn(arn).tags(tag).send().await.unwrap();
    });
    let o = moor(&d, &["apply", "plan.json"]);
    let out = refused(&o);
    assert!(out.contains("repo: changed in AWS"), "{out}");
    assert!(!out.contains("cluster:"), "only what differs is named: {out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert!(rt().block_on(repo_tags(&p, "saved-aws/repo")).iter().any(|(k, _)| k == "owner"));

    // A resource deleted between plan and apply.
    ok(&moor(&d, &["plan", "stack.yaml", "-o", "plan2.json"]));
    rt().block_on(async {
        p.ecs.delete_cluster().cluster("saved-aws-cluster").send().await.unwrap();
    });
    let o = moor(&d, &["apply", "plan2.json"]);
    assert!(refused(&o).contains("cluster: gone from AWS"), "{}", text(&o));
    ok(&moor(&d, &["destroy", "stack.yaml", "--auto-approve"]));
}

#[test]
fn an_edited_file_or_a_changed_variable_is_refused() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("edit", &stack("saved-edit"));
    ok(&moor(&d, &["plan", "stack.yaml", "--var", "keep=30", "-o", "plan.json"]));

    // The same variable given again with another value.
    let o = moor(&d, &["apply", "plan.json", "--var", "keep=31"]);
    let out = refused(&o);
    assert!(out.contains("variable `keep`: was 30 when the plan was made, now 31"), "{out}");
    // Or in a var file, or in the environment.
    std::fs::write(d.join("more.yaml"), "keep: 32\n").unwrap();
    let o = moor(&d, &["apply", "plan.json", "--var-file", "more.yaml"]);
    assert!(refused(&o).contains("variable `keep`: was 30 when the plan was made, now 32"), "{}", text(&o));
    let o = moor_env(&d, &["apply", "plan.json"], &[("MOOR_VAR_keep", "33")]);
    assert!(refused(&o).contains("variable `keep`: was 30 when the plan was made, now 33"), "{}", text(&o));
    // Given again with the same value: fine, and the plan's value is used
    // when not given.
    let o = moor_env(&d, &["plan", "stack.yaml", "--var", "keep=30"], &[("MOOR_OUT", "plan.json")]);
    assert!(ok(&o).contains("Saved the plan to plan.json"), "MOOR_OUT is -o: {}", text(&o));

    // The file edited after the plan.
    let edited = stack("saved-edit").replace("scan_on_push: true", "scan_on_push: false");
    std::fs::write(d.join("stack.yaml"), &edited).unwrap();
    let o = moor(&d, &["apply", "plan.json"]);
    let out = refused(&o);
    assert!(out.contains("repo: changed in the file"), "{out}");
    assert!(!out.contains("cluster: changed"), "{out}");
    // Only a comment: still not the file that was reviewed.
    std::fs::write(d.join("stack.yaml"), format!("# reviewed?\n{}", stack("saved-edit"))).unwrap();
    let o = moor(&d, &["apply", "plan.json"]);
    assert!(refused(&o).contains("stack.yaml: changed in the file"), "{}", text(&o));

    // Back as it was: applies, with the plan's value of `keep`.
    std::fs::write(d.join("stack.yaml"), stack("saved-edit")).unwrap();
    ok(&moor(&d, &["apply", "plan.json"]));
    let o = moor(&d, &["plan", "stack.yaml", "--var", "keep=30", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "applied as planned, keep=30: {}", text(&o));
    ok(&moor(&d, &["destroy", "stack.yaml", "--auto-approve"]));
}

#[test]
fn a_plan_of_another_version_or_a_corrupt_one_is_refused_clearly() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("version", &stack("saved-version"));
    ok(&moor(&d, &["plan", "stack.yaml", "-o", "plan.json"]));
    let good = std::fs::read_to_string(d.join("plan.json")).unwrap();
    for cmd in ["plan", "destroy"] {
        let o = moor(&d, &[cmd, "plan.json"]);
        assert!(
            refused(&o).contains("plan.json is a saved plan, not a stack file: `moor apply plan.json`"),
            "{}",
            text(&o)
        );
    }
    let o = moor(&d, &["plan", "stack.yaml", "-o", "stack.yaml"]);
    assert!(refused(&o).contains("would overwrite the stack file"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(d.join("stack.yaml")).unwrap(), stack("saved-version"));
    let version = env!("CARGO_PKG_VERSION");

    let other = good.replace(&format!("\"moor_version\": \"{version}\""), "\"moor_version\": \"0.0.1-old\"");
    assert_ne!(other, good);
    std::fs::write(d.join("other.json"), other).unwrap();
    let out = refused(&moor(&d, &["apply", "other.json"]));
    assert!(out.contains("moor 0.0.1-old") && out.contains(&format!("this is moor {version}")), "{out}");

    let format = good.replacen("\"moor_plan\": 1", "\"moor_plan\": 99", 1);
    std::fs::write(d.join("format.json"), format).unwrap();
    let out = refused(&moor(&d, &["apply", "format.json"]));
    assert!(out.contains("plan format 99"), "{out}");

    // Cut short: told apart from a stack file by its start, then refused.
    std::fs::write(d.join("cut.json"), &good[..good.len() / 2]).unwrap();
    let out = refused(&moor(&d, &["apply", "cut.json"]));
    assert!(out.contains("cut.json is not a valid moor plan file"), "{out}");

    // Garbage of every sort: an error, never a panic.
    let garbage: [&[u8]; 4] =
        [b"{\"moor_plan\": \"x\"}", b"{\"moor_plan\": 1, \"moor_version\": 7}", b"\x00\xff\xfe garbage", b"{}"];
    for g in garbage {
        std::fs::write(d.join("garbage.json"), g).unwrap();
        let o = moor(&d, &["apply", "garbage.json"]);
        assert_eq!(o.status.code(), Some(1), "{g:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    // A plan for another region, stack or account.
    let out = refused(&moor(&d, &["apply", "plan.json", "--region", "eu-west-1"]));
    assert!(out.contains("is a plan for us-east-1, not for --region eu-west-1"), "{out}");
    let out = refused(&moor(&d, &["apply", "plan.json", "--stack-name", "saved-other"]));
    assert!(out.contains("is a plan for stack `saved-version`, not for --stack-name saved-other"), "{out}");
    let saved: serde_json::Value = serde_json::from_str(&good).unwrap();
    let account = saved["account"].as_str().expect("the account is recorded").to_string();
    assert_eq!(account.len(), 12, "{account}");
    std::fs::write(
        d.join("account.json"),
        good.replace(&format!("\"account\": \"{account}\""), "\"account\": \"000011112222\""),
    )
    .unwrap();
    let out = refused(&moor(&d, &["apply", "account.json"]));
    assert!(
        out.contains(&format!("plan for AWS account 000011112222, but these credentials are for account {account}")),
        "{out}"
    );

    let p = rt().block_on(support::provider());
    assert!(!rt().block_on(repo_exists(&p, "saved-version/repo")), "nothing was applied");
}

const SECRET_STACK: &str = "stack: saved-secret
region: us-east-1
variables:
  db_password: { type: string }
  api_token: { default: tok-default-5e4d3c2b1a }
resources:
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    containers:
      - name: web
        image: nginx:1.27
        environment:
          DB_PASSWORD: ${var.db_password}
          APP_MODE: production
          API_TOKEN: ${var.api_token}
          SESSION_SECRET: sess-literal-a1b2c3d4e5
        sensitive: [LICENSE]
        secrets: {}
";

#[test]
fn a_plan_file_holds_no_secret_and_needs_them_given_again() {
    if support::skip_emulator() {
        return;
    }
    let literal = "lic-literal-0f9a8b7c6d";
    let given = "hunter2-given-by-flag";
    let text_of = SECRET_STACK
        .replace(
            "          APP_MODE: production\n",
            &format!("          APP_MODE: production\n          LICENSE: {literal}\n"),
        )
        .replace("        secrets: {}\n", "");
    let d = workdir("secret", &text_of);
    let pass = format!("db_password={given}");
    ok(&moor(&d, &["plan", "stack.yaml", "--var", &pass, "-o", "plan.json"]));
    let saved = std::fs::read_to_string(d.join("plan.json")).unwrap();
    assert!(!saved.contains(given), "the --var secret is in the plan file");
    assert!(!saved.contains(literal), "the file's literal secret is in the plan file");
    assert!(!saved.contains("hunter2"), "no part of it either");
    assert!(!saved.contains("sess-literal-a1b2c3d4e5"), "a literal secret by its name");
    assert!(!saved.contains("tok-default-5e4d3c2b1a"), "a secret variable's default");
    let v: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert!(v["variables"]["db_password"]["value"].is_null());
    assert!(v["variables"]["db_password"]["sha256"].as_str().is_some_and(|h| h.starts_with("sha256:")));

    // Not given again: named, refused.
    let o = moor(&d, &["apply", "plan.json"]);
    let out = refused(&o);
    assert!(out.contains("variable `db_password` holds a secret") && out.contains("give it again"), "{out}");
    assert!(!out.contains("`api_token`"), "the plan used its default, which the file still has: {out}");
    // Given with another value: refused without showing either value.
    let o = moor(&d, &["apply", "plan.json", "--var", "db_password=not-the-same"]);
    let out = refused(&o);
    assert!(out.contains("variable `db_password`: not the value the plan was made with"), "{out}");
    assert!(!out.contains("not-the-same") && !out.contains(given), "{out}");
    // Given again, from the environment: applies.
    let o = moor_env(&d, &["apply", "plan.json"], &[("MOOR_VAR_db_password", given)]);
    assert!(ok(&o).contains("1 created"), "{}", text(&o));
    ok(&moor(&d, &["destroy", "stack.yaml", "--var", &pass, "--auto-approve"]));
}

#[test]
fn one_file_serves_dev_and_prod_side_by_side() {
    if support::skip_emulator() {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shop = std::fs::read_to_string(root.join("stacks/shop.yaml")).unwrap();
    // Names of this test's own, so that the example's stay free.
    let d = workdir("envs", &shop.replace("stack: shop-${var.env}", "stack: savedshop-${var.env}"));
    std::fs::create_dir_all(d.join("envs")).unwrap();
    for env in ["dev", "prod"] {
        std::fs::copy(root.join(format!("stacks/envs/{env}.yaml")), d.join(format!("envs/{env}.yaml"))).unwrap();
    }
    let o = moor(&d, &["apply", "stack.yaml", "--var-file", "envs/dev.yaml", "--auto-approve"]);
    assert!(ok(&o).contains("savedshop-dev"), "{}", text(&o));
    // prod through a saved plan.
    ok(&moor(&d, &["plan", "stack.yaml", "--var-file", "envs/prod.yaml", "-o", "prod.json"]));
    ok(&moor(&d, &["apply", "prod.json"]));

    let p = rt().block_on(support::provider());
    for env in ["dev", "prod"] {
        let tags = rt().block_on(repo_tags(&p, &format!("savedshop-{env}/repo")));
        assert!(tags.contains(&("moor:stack".into(), format!("savedshop-{env}"))), "{tags:?}");
        assert!(tags.contains(&("environment".into(), env.into())), "{tags:?}");
        let record = moor::state::LocalBackend::new(d.join("state")).load(&format!("savedshop-{env}")).unwrap();
        assert!(record.is_some_and(|r| r.resources.contains_key("repo")), "a record of its own");
    }
    // Each has its own record: the same file with the other environment's
    // values has nothing to change.
    let o = moor(
        &d,
        &[
            "plan",
            "stack.yaml",
            "--var",
            "env=dev",
            "--var",
            "keep_images=5",
            "--var",
            "log_days=3",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Destroying dev leaves prod.
    ok(&moor(&d, &["destroy", "stack.yaml", "--var-file", "envs/dev.yaml", "--auto-approve"]));
    assert!(!rt().block_on(repo_exists(&p, "savedshop-dev/repo")));
    assert!(rt().block_on(repo_exists(&p, "savedshop-prod/repo")));
    let o = moor(&d, &["plan", "stack.yaml", "--var-file", "envs/prod.yaml", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "prod untouched: {}", text(&o));

    // --stack-name (or MOOR_STACK_NAME) names a stack apart from the file's.
    let o = moor(&d, &["plan", "stack.yaml", "--stack-name", "savedshop-preview", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(plan["stack"], "savedshop-preview", "{}", text(&o));
    let o = moor_env(&d, &["plan", "stack.yaml", "--json"], &[("MOOR_STACK_NAME", "savedshop-env")]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(plan["stack"], "savedshop-env", "{}", text(&o));
    assert!(plan["changes"].as_array().is_some_and(|c| c.iter().any(|c| c["name"] == "savedshop-env/repo")), "{plan}");
    let o = moor(&d, &["plan", "stack.yaml", "--stack-name", "bad name"]);
    assert!(refused(&o).contains("--stack-name: stack name `bad name` is not valid"), "{}", text(&o));
    ok(&moor(&d, &["destroy", "stack.yaml", "--var-file", "envs/prod.yaml", "--auto-approve"]));
}

/// The example stack under its own names.
fn flask(stack: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/stacks/flask-app.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.replace("stack: flask-demo", &format!("stack: {stack}")).replace("course/", &format!("{stack}/"))
}

#[test]
fn the_same_aws_state_gives_the_same_fingerprints() {
    if support::skip_emulator() {
        return;
    }
    // Every kind of a whole app: load balancer, service (whose deployment
    // counts and events move on their own), roles, groups, task definition.
    let d = workdir("stable", &flask("saved-stable"));
    // The service waits for its image: the repository first, then the image.
    ok(&moor(&d, &["apply", "stack.yaml", "--auto-approve", "--var", "desired_count=0"]));
    let p = rt().block_on(support::provider());
    rt().block_on(support::push_image(&p, "saved-stable/flask-app", "latest", 'b'));
    ok(&moor(&d, &["apply", "stack.yaml", "--auto-approve"]));
    ok(&moor(&d, &["plan", "stack.yaml", "-o", "a.json"]));
    ok(&moor(&d, &["plan", "stack.yaml", "-o", "b.json"]));
    let read =
        |f: &str| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(d.join(f)).unwrap()).unwrap() };
    let (a, b) = (read("a.json"), read("b.json"));
    assert!(a["live"].as_object().is_some_and(|l| l.len() >= 8), "{}", a["live"]);
    assert_eq!(a["live"], b["live"]);
    assert_eq!(a["state"], b["state"]);
    assert_eq!(a["resources"], b["resources"]);
    let o = moor(&d, &["apply", "a.json"]);
    assert!(ok(&o).contains("No changes"), "{}", text(&o));

    // The service's desired count changed by someone else after the plan.
    ok(&moor(&d, &["plan", "stack.yaml", "-o", "c.json"]));
    let record = moor::state::LocalBackend::new(d.join("state")).load("saved-stable").unwrap().unwrap();
    let (cluster, service) = (&record.resources["cluster"].id, &record.resources["app"].id);
    rt().block_on(async {
        p.ecs.update_service().cluster(cluster).service(service).desired_count(5).send().await.unwrap();
    });
    let o = moor(&d, &["apply", "c.json"]);
    let out = refused(&o);
    assert!(out.contains("app: changed in AWS"), "{out}");
    assert!(!out.contains("task:") && !out.contains("lb:"), "{out}");

    // The image's tag pushed again after the plan: the plan's digest is
    // not the one the tag names now, so the saved plan refuses.
    ok(&moor(&d, &["apply", "stack.yaml", "--auto-approve"]));
    let o = moor(&d, &["plan", "stack.yaml", "-o", "e.json"]);
    assert!(ok(&o).contains("Images by digest:\n  saved-stable/flask-app:latest → sha256:"), "{}", text(&o));
    rt().block_on(support::push_image(&p, "saved-stable/flask-app", "latest", 'c'));
    let out = refused(&moor(&d, &["apply", "e.json"]));
    assert!(out.contains("saved-stable/flask-app:latest: changed in AWS"), "{out}");
    let record = moor::state::LocalBackend::new(d.join("state")).load("saved-stable").unwrap().unwrap();
    let task = &record.resources["task"].id;
    ok(&moor(&d, &["apply", "stack.yaml", "--auto-approve"]));
    let again = moor::state::LocalBackend::new(d.join("state")).load("saved-stable").unwrap().unwrap();
    assert_ne!(&again.resources["task"].id, task, "a plan made now deploys the new image");
    ok(&moor(&d, &["destroy", "stack.yaml", "--auto-approve"]));
}

#[test]
fn a_saved_plan_keeps_the_commit_it_was_reviewed_at() {
    if support::skip_emulator() {
        return;
    }
    let file = "stack: saved-git
region: us-east-1
resources:
  repo:
    kind: ecr/repository
    tags:
      commit: ${git.short_sha}
";
    let d = workdir("git", file);
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=moor", "-c", "user.email=moor@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "stack.yaml"]);
    git(&["commit", "-qm", "reviewed"]);
    let reviewed = git(&["rev-parse", "--short=7", "HEAD"]);
    ok(&moor(&d, &["plan", "stack.yaml", "-o", "plan.json"]));
    // Merged: another commit is checked out where the plan is applied.
    git(&["commit", "-q", "--allow-empty", "-m", "merge"]);
    assert_ne!(git(&["rev-parse", "--short=7", "HEAD"]), reviewed);
    ok(&moor(&d, &["apply", "plan.json"]));
    let p = rt().block_on(support::provider());
    let tags = rt().block_on(repo_tags(&p, "saved-git/repo"));
    assert!(tags.contains(&("commit".into(), reviewed)), "{tags:?}");
    ok(&moor(&d, &["destroy", "stack.yaml", "--auto-approve"]));
}
