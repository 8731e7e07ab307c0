//! The emulator with IAM enforcement: every request is checked against the
//! caller's IAM policies and its SigV4 signature, as AWS does.
//!
//! [`moto`] starts this test process's moto through `scripts/moto-server`
//! (moto with two fixes to its enforcement, explained there and in
//! docs/emulator.md), creates an administrator user with an allow-all
//! policy while requests are still unchecked, points the process's
//! credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) at that user,
//! and only then turns enforcement on (`POST /moto-api/reset-auth` with
//! `0`). From then on [`super::provider`] and [`super::moor_in`] act as the
//! administrator, and [`user_with_policy`] makes a user holding a given
//! policy document, whose keys [`moor_as`] runs `moor` with.

use super::{Moto, MOTO};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// An IAM user's access key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({}, secret hidden)", self.access_key_id)
    }
}

/// The administrator's name: allowed everything, made before enforcement.
pub const ADMIN: &str = "moor-test-admin";

/// A policy document allowing every action on every resource.
pub fn allow_all() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": "*", "Resource": "*" }],
    })
    .to_string()
}

static ENFORCING: OnceLock<Keys> = OnceLock::new();

/// This test process's moto, enforcing IAM (see the module). It must be
/// the first use of the emulator in the test binary: a binary whose moto
/// already runs unchecked panics here.
pub fn moto() -> &'static Moto {
    let m = MOTO.get_or_init(|| {
        let m = super::start_moto();
        let admin = unchecked_user(&m.endpoint, ADMIN, &allow_all());
        std::env::set_var("AWS_ACCESS_KEY_ID", &admin.access_key_id);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", &admin.secret_access_key);
        std::env::remove_var("AWS_SESSION_TOKEN");
        let answer = http(&m.endpoint, "/moto-api/reset-auth", "text/plain", &[], "0");
        assert!(ok(&answer), "turning enforcement on: {answer}");
        ENFORCING.set(admin).unwrap();
        m
    });
    assert!(
        ENFORCING.get().is_some(),
        "this binary's moto was started without enforcement: call support::enforce::moto() before any other use"
    );
    m
}

/// The administrator's keys (the process's credentials once [`moto`] ran).
pub fn admin() -> &'static Keys {
    moto();
    ENFORCING.get().unwrap()
}

/// Makes IAM user `name` holding `document` as its only (inline) policy,
/// as the administrator, under enforcement; returns its access key.
pub async fn user_with_policy(name: &str, document: &str) -> Keys {
    let p = super::provider().await;
    p.iam.create_user().user_name(name).send().await.unwrap_or_else(|e| panic!("creating user {name}: {e:?}"));
    p.iam
        .put_user_policy()
        .user_name(name)
        .policy_name("moor-test")
        .policy_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("giving user {name} its policy: {e:?}"));
    let key =
        p.iam.create_access_key().user_name(name).send().await.unwrap_or_else(|e| panic!("a key for {name}: {e:?}"));
    let key = key.access_key().expect("an access key");
    Keys { access_key_id: key.access_key_id().to_string(), secret_access_key: key.secret_access_key().to_string() }
}

/// The `moor` binary run in `dir` as the user whose keys are `keys`, its
/// record under `dir/state`, against this test process's emulator.
pub fn moor_as(dir: &Path, args: &[&str], keys: &Keys) -> std::process::Output {
    moto();
    Command::new(env!("CARGO_BIN_EXE_moor"))
        .args(args)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", &keys.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &keys.secret_access_key)
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("moor runs")
}

/// Creates user `name` with `document` and an access key through moto's
/// IAM while requests are unchecked (no signature needed; the credential
/// scope only routes the request to IAM).
fn unchecked_user(endpoint: &str, name: &str, document: &str) -> Keys {
    let iam = |params: &[(&str, &str)]| {
        let mut all = vec![("Version", "2010-05-08")];
        all.extend_from_slice(params);
        let body = all.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let auth =
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0";
        let answer = http(endpoint, "/", "application/x-www-form-urlencoded", &[("Authorization", auth)], &body);
        assert!(ok(&answer), "IAM {}: {answer}", params[0].1);
        answer
    };
    iam(&[("Action", "CreateUser"), ("UserName", name)]);
    iam(&[("Action", "PutUserPolicy"), ("UserName", name), ("PolicyName", "moor-test"), ("PolicyDocument", document)]);
    let answer = iam(&[("Action", "CreateAccessKey"), ("UserName", name)]);
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = answer.find(&open).unwrap_or_else(|| panic!("no {tag} in CreateAccessKey's answer")) + open.len();
        answer[start..].split('<').next().unwrap().to_string()
    };
    Keys { access_key_id: field("AccessKeyId"), secret_access_key: field("SecretAccessKey") }
}

/// Percent-encodes a form value as the SDK does (space as `%20`).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether an HTTP answer's status is 200.
fn ok(answer: &str) -> bool {
    answer.split_whitespace().nth(1) == Some("200")
}

/// One HTTP/1.1 POST; the whole answer, status line first.
fn http(endpoint: &str, path: &str, content_type: &str, headers: &[(&str, &str)], body: &str) -> String {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to moto");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}
