//! AWS that is slow to answer, or never answers, or throttles: through the
//! fault proxy (`scripts/latency-proxy --fault`) in front of moto.
//!
//! - An endpoint that accepts and never answers fails the command in a
//!   bounded time, with an error that names the call, and a line on stderr
//!   names the call while it waits.
//! - Throttling costs each throttled request its own short backoff: a whole
//!   apply under heavy throttling completes, and a burst of throttling does
//!   not use up the retry quota (which would turn calls into hard failures).

mod support;

use support::text;

use moor::provider::aws::{AwsProvider, MAX_ATTEMPTS, OPERATION_DEADLINE};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use support::proxy::FaultProxy;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("moor-slow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `moor ARGS stacks/flask-app.yaml` through the proxy, with the stack's
/// names suffixed so tests of this binary keep apart.
fn flask(proxy: &FaultProxy, dir: &Path, args: &[&str]) -> Output {
    proxy
        .moor()
        .args(args)
        .arg(root().join("stacks/flask-app.yaml"))
        .args(["--var", "desired_count=0", "--state-dir"])
        .arg(dir.join("state"))
        .current_dir(dir)
        .output()
        .expect("moor runs")
}

/// The retry configuration moor's clients get: per-request exponential
/// backoff with full jitter from 1 s, capped at 10 s (not the adaptive
/// mode, whose client-wide rate limiter turned one throttled request into
/// 8-20 s), and a deadline per call.
#[tokio::test]
async fn the_retry_and_timeout_configuration() {
    use aws_config::retry::RetryMode;
    let config = AwsProvider::config_loader(Some("us-east-1".into())).load().await;
    let retry = config.retry_config().expect("a retry configuration");
    assert_eq!(retry.mode(), RetryMode::Standard);
    assert_eq!(retry.max_attempts(), MAX_ATTEMPTS);
    assert_eq!(retry.initial_backoff(), Duration::from_secs(1));
    assert_eq!(retry.max_backoff(), Duration::from_secs(10));
    assert!(!retry.use_static_exponential_base(), "the backoff is jittered");
    let timeouts = config.timeout_config().expect("a timeout configuration");
    assert!(timeouts.connect_timeout().unwrap() <= Duration::from_secs(5));
    assert_eq!(timeouts.operation_timeout(), Some(OPERATION_DEADLINE));
    assert!(OPERATION_DEADLINE < Duration::from_secs(60));
}

/// A read that is never answered: the command fails in about
/// `OPERATION_DEADLINE` (not 8 attempts of 60 s), the error names the call,
/// and while it waits a line names it.
#[test]
fn a_hung_endpoint_fails_the_command_in_bounded_time_naming_the_call() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("hang");
    let proxy = FaultProxy::start_with(["--delay-ms", "0", "--fault", "ecr:DescribeRepositories=hang@1"]);
    let start = Instant::now();
    let o = flask(&proxy, &d, &["plan"]);
    let took = start.elapsed();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(!out.contains("panicked"), "{out}");
    assert!(out.contains("ecr:DescribeRepositories"), "the error names the call: {out}");
    assert!(out.contains("no answer from AWS within 30 s"), "{out}");
    assert!(
        out.contains("still waiting for AWS: ecr:DescribeRepositories has had no answer for 5 s"),
        "a line names the call while it waits: {out}"
    );
    // Each attempt waited its own timeout, then was tried again, within the
    // deadline; two calls hang: the repository's read, and ECR's listing for
    // what carries the stack's tags.
    let hung = proxy.fired("ecr:DescribeRepositories", "hang");
    assert!((4..=8).contains(&hung), "{hung} attempts");
    // A generous bound (the deadline is 30 s; before it, 8 attempts of 60 s).
    assert!(took < Duration::from_secs(120), "took {took:?}");
}

/// The whole Flask stack applied and destroyed while 30 % of all requests
/// are throttled: every throttled request is retried on its own and both
/// complete, and the plan after the apply is clean.
#[test]
fn an_apply_under_heavy_throttling_completes() {
    if support::skip_emulator() {
        return;
    }
    let d = workdir("throttled");
    let proxy = FaultProxy::start_with(["--delay-ms", "0", "--seed", "3", "--fault", "*=throttle@0.3"]);
    let o = flask(&proxy, &d, &["apply", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("Apply complete: 12 created"), "{}", text(&o));
    let throttled = proxy.fired("*", "throttle");
    assert!(throttled >= 5, "the apply was throttled: {}", proxy.counts());

    let o = flask(&proxy, &d, &["plan", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "nothing left to change: {}", text(&o));
    let o = flask(&proxy, &d, &["destroy", "--auto-approve"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("12 deleted"), "{}", text(&o));
    assert!(proxy.fired("*", "throttle") > throttled, "the destroy was throttled too");
}

/// 60 calls at once, each throttled twice (120 throttled answers): all
/// succeed. Counted against the SDK's usual retry quota (500, 5 per
/// retry) the 101st retry would be refused and its call fail.
#[tokio::test]
async fn a_burst_of_throttling_does_not_use_up_the_retry_quota() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let p = support::provider_via(&proxy.url()).await;
    p.ecs.list_clusters().send().await.unwrap();
    proxy.fault("ecs:ListClusters", "throttle", 120);
    let calls = (0..60).map(|_| p.ecs.list_clusters().send());
    let failed: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{:?}", aws_smithy_types::error::display::DisplayErrorContext(e))))
        .collect();
    assert!(failed.is_empty(), "{} of 60 failed: {:?}", failed.len(), failed.first());
    assert_eq!(proxy.fired("ecs:ListClusters", "throttle"), 120);
}

/// One throttled answer costs its request a backoff of at most a second
/// (a random wait up to 1 s), not the 8-20 s of a client-wide rate limiter.
/// The bound below is generous: the wait is at most 1 s, and the rest is
/// moto answering twice on a loopback.
#[tokio::test]
async fn one_throttled_request_waits_about_a_second() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let p = support::provider_via(&proxy.url()).await;
    p.ecs.list_clusters().send().await.unwrap();
    proxy.fault("ecs:ListClusters", "throttle", 1);
    let start = Instant::now();
    p.ecs.list_clusters().send().await.unwrap();
    let took = start.elapsed();
    assert_eq!(proxy.fired("ecs:ListClusters", "throttle"), 1);
    // The calls after it are not held back.
    let start = Instant::now();
    for _ in 0..5 {
        p.ecs.list_clusters().send().await.unwrap();
    }
    let after = start.elapsed();
    // Adaptive retry took 20 s here; a jittered backoff takes up to 1 s.
    assert!(took < Duration::from_secs(12), "one throttled request took {took:?}");
    assert!(after < Duration::from_secs(8), "5 calls after it took {after:?}");
}
