//! The image loop against the local emulator: `moor ecr login` writes
//! Docker's configuration (and nothing else of it), the credential helper
//! speaks Docker's protocol, and `moor push` logs in, tags and pushes with
//! a recording `docker` (there is no Docker engine here), or says what to
//! do without one.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// moto's account, and the token it hands out for it.
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const PASSWORD: &str = "123456789012-auth-token";
/// base64("AWS:" + PASSWORD), as `auths` holds it.
const AUTH: &str = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";

const STACK: &str = "\
stack: imgloop
region: us-east-1
variables:
  image_tag: { default: v3 }
resources:
  repo:
    kind: ecr/repository
    name: imgloop/web
  base:
    kind: ecr/existing_repository
    name: imgloop/base
  missing:
    kind: ecr/repository
    name: imgloop/not-made
  role:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com]
  task:
    kind: ecs/task_definition
    cpu: 256
    memory: 512
    execution_role: ${role.arn}
    containers:
      - name: web
        image: ${repo.uri}:${var.image_tag}
";

/// Creates the repositories the stack reads (its `repo`, and `base`,
/// which it looks up), once per test process.
fn repositories() {
    static MADE: std::sync::Once = std::sync::Once::new();
    MADE.call_once(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let p = support::provider().await;
            for name in ["imgloop/web", "imgloop/base"] {
                p.ecr.create_repository().repository_name(name).send().await.unwrap();
            }
        });
    });
}

/// A directory with the stack, an empty `bin/` and a Docker config dir.
fn workdir(name: &str) -> PathBuf {
    let d = support::workdir(&format!("ecr-{name}"), STACK);
    std::fs::create_dir_all(d.join("bin")).unwrap();
    std::fs::create_dir_all(d.join("docker")).unwrap();
    d
}

fn config_path(d: &Path) -> PathBuf {
    d.join("docker/config.json")
}

fn read_config(d: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(config_path(d)).unwrap()).unwrap()
}

/// `moor ARGS` in `d`, with `d/docker` as Docker's config, `d/bin` first
/// on PATH (or alone, with `only_bin`), and `input` on stdin.
fn moor_with(d: &Path, args: &[&str], input: &str, only_bin: bool) -> Output {
    support::moto();
    let path = if only_bin {
        d.join("bin").display().to_string()
    } else {
        format!("{}:{}", d.join("bin").display(), std::env::var("PATH").unwrap_or_default())
    };
    run(Command::new(env!("CARGO_BIN_EXE_moor")).args(args), d, &path, input)
}

fn run(cmd: &mut Command, d: &Path, path: &str, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .current_dir(d)
        .env("NO_COLOR", "1")
        .env("DOCKER_CONFIG", d.join("docker"))
        .env("HOME", d)
        .env("PATH", path)
        .env("FAKE_LOG", d.join("calls.log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("moor runs");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn moor(d: &Path, args: &[&str]) -> Output {
    moor_with(d, args, "", false)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Neither the token nor its password was printed.
fn no_secret(o: &Output) {
    let all = support::text(o);
    assert!(!all.contains(PASSWORD) && !all.contains(AUTH), "a token was printed:\n{all}");
}

fn script(d: &Path, name: &str, body: &str) {
    let p = d.join("bin").join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A `docker` (or `podman`) that records its arguments, one call a line,
/// and at `push` keeps a copy of the Docker config as it was then.
/// `info` fails when `info_fails`; `push` talks on stdout, as docker does.
fn fake_engine(d: &Path, name: &str, info_fails: bool) {
    let info = if info_fails {
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1"
    } else {
        "exit 0"
    };
    script(
        d,
        name,
        &format!(
            "echo \"$*\" >> \"$FAKE_LOG\"\ncase \"$1\" in\n  info) {info} ;;\n  push) /bin/cat \"$DOCKER_CONFIG/config.json\" > \"$FAKE_LOG.config\"; echo \"The push refers to repository [$2]\" ;;\nesac\nexit 0\n"
        ),
    );
}

fn calls(d: &Path) -> Vec<String> {
    std::fs::read_to_string(d.join("calls.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_writes_the_token_for_the_stacks_registry_and_keeps_the_rest_of_the_config() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("login");
    let before = r#"{"auths":{"ghcr.io":{"auth":"Z2g6eA=="}},"psFormat":"table {{.ID}}","currentContext":"colima","plugins":{"x":{"y":"z"}}}"#;
    std::fs::write(config_path(&d), before).unwrap();
    std::fs::set_permissions(config_path(&d), std::fs::Permissions::from_mode(0o644)).unwrap();

    let o = moor(&d, &["ecr", "login", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    no_secret(&o);
    assert_eq!(stdout(&o), "", "the login is not a product on stdout");
    assert!(stderr(&o).contains(&format!("Login Succeeded: {HOST}")), "{}", stderr(&o));

    let after = read_config(&d);
    assert_eq!(after["auths"][HOST], serde_json::json!({ "auth": AUTH }));
    // Every other key is kept, in its order, with its value.
    let mut expected: serde_json::Value = serde_json::from_str(before).unwrap();
    expected["auths"][HOST] = serde_json::json!({ "auth": AUTH });
    assert_eq!(serde_json::to_string(&after).unwrap(), serde_json::to_string(&expected).unwrap());
    assert_eq!(mode(&config_path(&d)), 0o600, "the file holds a token");
    let left: Vec<_> = std::fs::read_dir(d.join("docker")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("config.json")], "no temporary file is left");

    // Without a file: the credentials' own registry, in a new config (and directory).
    std::fs::remove_dir_all(d.join("docker")).unwrap();
    let o = moor(&d, &["ecr", "login", "--region", "us-east-1"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    no_secret(&o);
    assert_eq!(read_config(&d), serde_json::json!({ "auths": { HOST: { "auth": AUTH } } }));
    assert_eq!(mode(&config_path(&d)), 0o600);
}

#[test]
fn login_never_overwrites_a_config_it_cannot_read() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("broken");
    std::fs::write(config_path(&d), "{ not json").unwrap();
    let o = moor(&d, &["ecr", "login", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    assert!(stderr(&o).contains("config.json is not valid JSON"), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(config_path(&d)).unwrap(), "{ not json");
    no_secret(&o);
}

#[test]
fn with_a_credential_store_the_login_goes_to_the_store_as_docker_login_does() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("store");
    std::fs::write(config_path(&d), r#"{"credsStore":"teststore","auths":{}}"#).unwrap();
    // The store is missing: a clear refusal, nothing written.
    let o = moor(&d, &["ecr", "login", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("credential store `teststore`")
            && err.contains("docker-credential-teststore` is not on PATH")
            && err.contains("--helper"),
        "{err}"
    );
    assert_eq!(read_config(&d), serde_json::json!({"credsStore":"teststore","auths":{}}));
    no_secret(&o);

    // The store is there: it gets the login on stdin, the file an empty entry.
    script(
        &d,
        "docker-credential-teststore",
        "echo \"$1\" > \"$FAKE_LOG.store-arg\"\n/bin/cat > \"$FAKE_LOG.store\"\n",
    );
    let o = moor(&d, &["ecr", "login", "stack.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    no_secret(&o);
    assert_eq!(std::fs::read_to_string(d.join("calls.log.store-arg")).unwrap().trim(), "store");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("calls.log.store")).unwrap()).unwrap();
    assert_eq!(stored, serde_json::json!({"ServerURL": HOST, "Username": "AWS", "Secret": PASSWORD}));
    assert_eq!(read_config(&d), serde_json::json!({"credsStore":"teststore","auths":{HOST: {}}}));
}

#[test]
fn credential_helper_protocol_round_trip() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("helper");
    let get = |server: &str| moor_with(&d, &["ecr", "credential-helper", "get"], server, false);

    let o = get(&format!("https://{HOST}\n"));
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        answer,
        serde_json::json!({"ServerURL": format!("https://{HOST}"), "Username": "AWS", "Secret": PASSWORD})
    );
    assert!(!stderr(&o).contains(PASSWORD), "{}", stderr(&o));

    // Not an ECR registry: Docker's "not found" answer, so Docker goes on without.
    let o = get("https://index.docker.io/v1/");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o).trim(), "credentials not found in native keychain");
    assert!(stderr(&o).contains("not an ECR registry"), "{}", stderr(&o));

    // store and erase take their input and keep nothing; list has nothing.
    for action in ["store", "erase"] {
        let input = format!(r#"{{"ServerURL":"{HOST}","Username":"AWS","Secret":"x"}}"#);
        let o = moor_with(&d, &["ecr", "credential-helper", action], &input, false);
        assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), ""), "{action}: {}", support::text(&o));
    }
    let o = moor_with(&d, &["ecr", "credential-helper", "list"], "", false);
    assert_eq!((o.status.code(), stdout(&o).trim()), (Some(0), "{}"));

    // As Docker runs it: `login --helper` names moor for the registry, and
    // moor linked as docker-credential-moor answers `get`.
    let o = moor_with(&d, &["ecr", "login", "--helper", "--region", "us-east-1"], "", false);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    no_secret(&o);
    assert!(stderr(&o).contains("docker-credential-moor is not on PATH"), "{}", stderr(&o));
    let config = read_config(&d);
    assert_eq!(config, serde_json::json!({"credHelpers": {HOST: "moor"}}), "no token stored");
    let helper = d.join("bin").join(format!("docker-credential-{}", config["credHelpers"][HOST].as_str().unwrap()));
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_moor"), &helper).unwrap();
    let path = format!("{}:{}", d.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let o = run(Command::new(&helper).arg("get"), &d, &path, HOST);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(answer["Secret"], PASSWORD);
    // With the helper on PATH, a second login has nothing to warn about or write.
    let o = moor_with(&d, &["ecr", "login", "--region", "us-east-1"], "", false);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(read_config(&d), serde_json::json!({"credHelpers": {HOST: "moor"}}));
}

#[test]
fn push_logs_in_then_tags_and_pushes_with_the_commit_in_the_tag() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("push");
    for args in [
        &["init", "-q"][..],
        &["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x"],
    ] {
        assert!(Command::new("git").args(args).current_dir(&d).status().unwrap().success());
    }
    let sha =
        String::from_utf8(Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&d).output().unwrap().stdout)
            .unwrap();
    fake_engine(&d, "docker", false);

    let o = moor(
        &d,
        &["push", "stack.yaml", "--resource", "repo", "--image", "web:dev", "--tag", "v1.0.0-${git.short_sha}"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    no_secret(&o);
    let target = format!("{HOST}/imgloop/web:v1.0.0-{}", &sha[..7]);
    assert_eq!(stdout(&o), format!("{target}\n"), "the pushed reference is the product");
    assert_eq!(
        calls(&d),
        vec!["info --format {{json .}}".to_string(), format!("tag web:dev {target}"), format!("push {target}")]
    );
    // Logged in before the push.
    let at_push: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("calls.log.config")).unwrap()).unwrap();
    assert_eq!(at_push["auths"][HOST]["auth"], AUTH);

    // Without --tag and --image: the tag the task definition uses, the repository's name.
    std::fs::remove_file(d.join("calls.log")).unwrap();
    let o = moor(&d, &["push", "stack.yaml", "--resource", "repo"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let target = format!("{HOST}/imgloop/web:v3");
    assert_eq!(calls(&d)[1..], [format!("tag imgloop/web {target}"), format!("push {target}")]);

    // A looked-up repository is pushed to as well.
    let o = moor(&d, &["push", "stack.yaml", "--resource", "base", "--tag", "7"]);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert_eq!(stdout(&o), format!("{HOST}/imgloop/base:7\n"));
}

#[test]
fn push_uses_podman_when_there_is_no_docker() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("podman");
    fake_engine(&d, "podman", false);
    let o = moor_with(&d, &["push", "stack.yaml", "--resource", "repo", "--tag", "p1"], "", true);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let target = format!("{HOST}/imgloop/web:p1");
    let config = config_path(&d).display().to_string();
    assert_eq!(calls(&d)[1..], [format!("tag imgloop/web {target}"), format!("push --authfile {config} {target}")]);
}

#[test]
fn push_without_a_docker_engine_says_what_to_do() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("nodocker");
    // Nothing on PATH at all.
    let o = moor_with(&d, &["push", "stack.yaml", "--resource", "repo", "--tag", "v1"], "", true);
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    assert_eq!(stdout(&o), "");
    insta::assert_snapshot!("no_docker_advice", stderr(&o));
    assert!(!config_path(&d).exists(), "no login without an engine to use it");

    // A docker whose engine does not answer.
    fake_engine(&d, "docker", true);
    let o = moor(&d, &["push", "stack.yaml", "--resource", "repo", "--tag", "v1"]);
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the docker engine does not answer (`docker info` failed: Cannot connect to the Docker daemon")
            && err.contains("sudo systemctl start docker")
            && err.contains(&format!("docker push {HOST}/imgloop/web:v1"))
            && err.contains("Nothing was pushed."),
        "{err}"
    );
    assert_eq!(calls(&d), vec!["info --format {{json .}}"], "neither tag nor push");
}

#[test]
fn push_names_what_is_not_a_repository_of_the_stack() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("notrepo");
    fake_engine(&d, "docker", false);
    let o = moor(&d, &["push", "stack.yaml", "--resource", "rpeo"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "error: no resource `rpeo` in stack.yaml; did you mean `repo`?");
    let o = moor(&d, &["push", "stack.yaml", "--resource", "role"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "error: stack.yaml:15:3: `role` is an iam/role, not an ECR repository; its repositories: `repo`, `base`, `missing`"
    );
    // In the file, not in AWS yet.
    let o = moor(&d, &["push", "stack.yaml", "--resource", "missing"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "error: repository `missing` (imgloop/not-made) does not exist in us-east-1: `moor apply stack.yaml` creates it"
    );
    assert_eq!(calls(&d), Vec::<String>::new(), "docker was not called");
}

#[test]
fn an_endpoint_that_is_not_there_is_one_short_error_and_nothing_is_written() {
    let d = workdir("noendpoint");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let path = std::env::var("PATH").unwrap_or_default();
    let moor = |args: &[&str], input: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_moor"));
        cmd.args(args)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_PROFILE");
        run(&mut cmd, &d, &path, input)
    };
    let o = moor(&["ecr", "login", "stack.yaml"], "");
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "error: cannot reach {endpoint} (AWS_ENDPOINT_URL): connection refused; nothing was read or changed\n  \
             start the emulator, or fix or unset the endpoint\n"
        )
    );
    assert!(!config_path(&d).exists());

    // The helper says it where Docker reads it, on stdout, and on stderr.
    let o = moor(&["ecr", "credential-helper", "get"], HOST);
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    assert!(stdout(&o).starts_with(&format!("cannot reach {endpoint}")), "{}", stdout(&o));
    assert!(stderr(&o).starts_with(&format!("error: cannot reach {endpoint}")), "{}", stderr(&o));

    let o = moor(&["push", "stack.yaml", "--resource", "repo"], "");
    assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
    assert!(stderr(&o).starts_with(&format!("error: cannot reach {endpoint}")), "{}", stderr(&o));
    assert_eq!(calls(&d), Vec::<String>::new());
}

#[test]
fn linked_as_docker_credential_moor_without_an_action_it_says_how_it_is_used() {
    let d = workdir("helperusage");
    let helper = d.join("bin/docker-credential-moor");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_moor"), &helper).unwrap();
    for args in [&[][..], &["version-please"][..]] {
        let o = run(Command::new(&helper).args(args), &d, "", "");
        assert_eq!(o.status.code(), Some(1), "{}", support::text(&o));
        assert_eq!(
            stderr(&o).trim(),
            "usage: docker-credential-moor get|store|erase|list (Docker's credential helper protocol)"
        );
    }
}

#[test]
fn a_throttled_or_failing_token_call_is_tried_again_as_aws_needs() {
    if support::skip_emulator() {
        return;
    }
    repositories();
    let d = workdir("throttled");
    let proxy = support::proxy::FaultProxy::start();
    let path = format!("{}:{}", d.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    proxy.fault("ecr:GetAuthorizationToken", "throttle", 1);
    proxy.fault("ecr:DescribeRepositories", "503", 1);
    let o = run(proxy.moor().args(["ecr", "login", "stack.yaml"]), &d, &path, "");
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert_eq!(read_config(&d)["auths"][HOST]["auth"], AUTH);
    assert_eq!(proxy.fired("ecr:GetAuthorizationToken", "throttle"), 1);
    assert_eq!(proxy.fired("ecr:DescribeRepositories", "503"), 1);

    // What Docker runs at a pull, while ECR answers 500 once.
    proxy.fault("ecr:GetAuthorizationToken", "500", 1);
    let o = run(proxy.moor().args(["ecr", "credential-helper", "get"]), &d, &path, HOST);
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(answer["Secret"], PASSWORD);
    assert_eq!(proxy.fired("ecr:GetAuthorizationToken", "500"), 1);
}
