//! What a command says when it cannot start working with AWS (no
//! credentials, expired ones, an endpoint that is not there, a region that
//! does not exist): one or two lines, exit code 1, no secret; and the header
//! that names the account a plan is for. Each case runs the real binary
//! with only the environment that case needs.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STACK: &str = "\
stack: setup-demo
region: us-east-1
variables:
  image_tag: { type: string }
resources:
  repo:
    kind: ecr/repository
    name: setup-demo/app-${var.image_tag}
  cluster:
    kind: ecs/cluster
outputs:
  cluster: ${cluster.arn}
";

/// A secret key no output may show.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";

/// A directory with the stack and an empty home.
fn dir(name: &str) -> PathBuf {
    let d = support::workdir(&format!("setup-{name}"), STACK);
    std::fs::create_dir_all(d.join("home")).unwrap();
    d
}

/// `moor ARGS` in `d` with nothing of this process's environment but
/// PATH, an empty HOME, no instance metadata, and `env`.
fn moor(d: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", d.join("home"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .env("MOOR_VAR_image_tag", "v1")
        .args(args)
        .arg("--state-dir")
        .arg(d.join("state"))
        .current_dir(d);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("moor runs")
}

const KEYS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET)];

/// The one- or two-line setup error of a failed run, checked: exit 1,
/// nothing on stdout, at most two lines, no secret.
fn setup_error(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(o.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&o.stdout));
    assert!(err.lines().count() <= 2, "more than two lines:\n{err}");
    assert!(err.starts_with("error: "), "{err}");
    for secret in [SECRET, KEY_ID, TOKEN] {
        assert!(!err.contains(secret), "shows a secret: {err}");
    }
    err
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server on loopback that answers every request with `status` and
/// `body` (as STS does, in XML), for the life of the test process.
fn scripted(status: u16, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut length = 0;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body_in = vec![0; length];
                    if reader.read_exact(&mut body_in).is_err() {
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 {status} Error\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[test]
fn no_credentials_is_one_error_naming_where_moor_looked() {
    let d = dir("nocreds");
    let o = moor(&d, &["plan", "stack.yaml"], &[]);
    let err = setup_error(&o);
    insta::assert_snapshot!("no_credentials", err);
}

#[test]
fn an_unreachable_endpoint_is_named_with_where_it_came_from() {
    let d = dir("closed");
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut env = KEYS.to_vec();
    env.push(("AWS_ENDPOINT_URL", &url));
    let o = moor(&d, &["plan", "stack.yaml"], &env);
    let err = setup_error(&o).replace(&port.to_string(), "PORT");
    insta::assert_snapshot!("unreachable_endpoint", err);
    // apply stops the same way, before any read.
    let o = moor(&d, &["apply", "stack.yaml", "--auto-approve"], &env);
    assert_eq!(setup_error(&o).replace(&port.to_string(), "PORT"), err);
}

#[test]
fn a_region_that_does_not_exist_names_the_nearest_ones() {
    let d = dir("region");
    let o = moor(&d, &["plan", "stack.yaml", "--region", "us-east-9"], &KEYS);
    let err = setup_error(&o);
    insta::assert_snapshot!("region_does_not_exist", err);
}

const EXPIRED: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
<Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error>\
<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>";

const INVALID: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
<Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error>\
<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c8</RequestId></ErrorResponse>";

#[test]
fn an_expired_token_says_how_to_refresh_it() {
    let d = dir("expired");
    let url = scripted(400, EXPIRED);
    let mut env = KEYS.to_vec();
    env.push(("AWS_SESSION_TOKEN", TOKEN));
    env.push(("AWS_ENDPOINT_URL", &url));
    let o = moor(&d, &["plan", "stack.yaml"], &env);
    let err = setup_error(&o);
    insta::assert_snapshot!("expired_token", err);
}

#[test]
fn credentials_aws_refuses_are_one_error() {
    let d = dir("invalid");
    let url = scripted(403, INVALID);
    let mut env = KEYS.to_vec();
    env.push(("AWS_ENDPOINT_URL", &url));
    let o = moor(&d, &["plan", "stack.yaml"], &env);
    let err = setup_error(&o).replace(&url, "URL");
    insta::assert_snapshot!("invalid_credentials", err);
}

#[test]
fn an_endpoint_that_is_not_aws_is_one_error() {
    let d = dir("notaws");
    let url = scripted(404, "<html><body>Not Found</body></html>");
    let mut env = KEYS.to_vec();
    env.push(("AWS_ENDPOINT_URL", &url));
    let o = moor(&d, &["plan", "stack.yaml"], &env);
    let err = setup_error(&o).replace(&url, "URL");
    insta::assert_snapshot!("not_an_aws_endpoint", err);
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let o = Command::new(env!("CARGO_BIN_EXE_moor")).arg("--version").output().unwrap();
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        // The test binary is built with moor, from the same checkout.
        Some(head) => assert_eq!(text, format!("moor {} ({head})", env!("CARGO_PKG_VERSION"))),
        None => assert_eq!(text, format!("moor {}", env!("CARGO_PKG_VERSION"))),
    }
}

#[test]
fn outputs_need_no_variables() {
    let d = dir("outputs");
    let mut state = moor::state::State::new("setup-demo", Some("us-east-1"));
    state.outputs.insert("cluster".into(), "arn:aws:ecs:us-east-1:123456789012:cluster/setup-demo".into());
    moor::state::LocalBackend::new(d.join("state")).save(&state).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_moor"));
    let o = c
        .env_remove("MOOR_VAR_image_tag")
        .args(["outputs", "stack.yaml", "--name", "cluster", "--state-dir"])
        .arg(d.join("state"))
        .current_dir(&d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", support::text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "arn:aws:ecs:us-east-1:123456789012:cluster/setup-demo\n");
}

#[test]
fn the_plan_header_names_the_account_region_and_emulator() {
    if support::skip_emulator() {
        return;
    }
    let d = dir("header");
    let endpoint = &support::moto().endpoint;
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--var", "image_tag=v1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let first = err.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "moor plan for stack setup-demo · account 123456789012 · us-east-1 · endpoint {endpoint} (local emulator)"
        )
    );
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--var", "image_tag=v1", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).expect("a JSON plan");
    assert_eq!(plan["account"], "123456789012");
    assert_eq!(plan["endpoint"], endpoint.as_str());
    assert_eq!(plan["emulator"], true);
    let o = support::moor_in(&d, &["plan", "stack.yaml", "--var", "image_tag=v1", "--format", "markdown"]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("· account 123456789012 · us-east-1 · endpoint"), "{md}");
}

#[test]
fn no_changes_is_never_said_above_an_error() {
    let problem = moor::plan::Problem {
        resource: "repo".into(),
        message: "a repository named `x` exists without this stack's tags".into(),
        help: "adopt it with `moor import`".into(),
    };
    let plan = moor::plan::Plan {
        stack: "setup-demo".into(),
        region: Some("us-east-1".into()),
        destroy: false,
        changes: Vec::new(),
        problems: vec![problem],
        forget: Vec::new(),
        notices: Vec::new(),
        known: Default::default(),
        target: None,
        pins: Vec::new(),
        images: Default::default(),
        partial: None,
        kept: Default::default(),
    };
    let text = moor::render::plan_text(&plan, moor::render::Style { color: false }, false);
    assert!(!text.contains("No changes"), "{text}");
    assert!(text.contains("error: repo: a repository named"), "{text}");
    let md = moor::mdplan::plan_markdown(&plan);
    assert!(!md.to_lowercase().contains("no changes"), "{md}");
    assert!(md.contains("cannot be applied"), "{md}");
    // Without a problem, it is said.
    let plan = moor::plan::Plan { problems: Vec::new(), ..plan };
    assert!(moor::render::plan_text(&plan, moor::render::Style { color: false }, false).contains("No changes."));
    assert!(moor::mdplan::plan_markdown(&plan).contains("no changes"));
}

const DENIED: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
<Code>AccessDenied</Code><Message>not allowed by the endpoint policy</Message></Error>\
<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c9</RequestId></ErrorResponse>";

#[test]
fn account_id_without_an_account_from_sts_is_one_error() {
    let d = dir("no-account");
    std::fs::write(
        d.join("account.yaml"),
        "stack: setup-account\nregion: us-east-1\nresources:\n  deployer:\n    kind: iam/role\n    assumed_by:\n      principals: [\"arn:${partition}:iam::${account_id}:root\"]\n",
    )
    .unwrap();
    let url = scripted(403, DENIED);
    let mut env = KEYS.to_vec();
    env.push(("AWS_ENDPOINT_URL", &url));
    // `validate` asks no one: the account is known later.
    let o = Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(["validate", "account.yaml"])
        .current_dir(&d)
        .env_clear()
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = moor(&d, &["plan", "account.yaml"], &env);
    let err = setup_error(&o);
    assert!(err.contains("uses `${account_id}`") && err.contains("refused (AccessDenied)"), "{err}");
    // Without `${account_id}`, a refused check is a warning and the run goes on.
    let o = moor(&d, &["plan", "stack.yaml"], &env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("warning: sts:GetCallerIdentity was refused") && !err.contains("account_id"), "{err}");
}
