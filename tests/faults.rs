//! The fault proxy (`scripts/latency-proxy --fault`, `POST /__proxy__/fault`)
//! does what each fault promises, seen from the SDK's own clients: throttling
//! in each protocol's wire form, 500 and 503, a reset connection, an answer
//! dropped after the change was made upstream, and a request that hangs.
//! The clients here make one attempt each (no retries), so each fault is
//! seen as the client sees it.

mod support;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use moor::provider::aws::AwsProvider;
use std::time::Duration;
use support::proxy::FaultProxy;

/// The SDK configuration of clients that go through `proxy`, one attempt per call.
async fn config(proxy: &FaultProxy) -> aws_config::SdkConfig {
    config_with(proxy, Duration::from_secs(30)).await
}

/// [`config`] with this attempt timeout.
async fn config_with(proxy: &FaultProxy, attempt: Duration) -> aws_config::SdkConfig {
    support::moto();
    AwsProvider::config_loader(Some("us-east-1".into()))
        .endpoint_url(proxy.url())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(attempt)
                .build(),
        )
        .load()
        .await
}

/// (HTTP status, error code) of a service error.
fn service_error<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E, HttpResponse>) -> (u16, Option<String>) {
    match e {
        SdkError::ServiceError(s) => (s.raw().status().as_u16(), s.err().code().map(str::to_string)),
        other => panic!("expected an answer from the service, got {other:?}"),
    }
}

// The codes the SDK classifies as throttling include `ThrottlingException`,
// `Throttling` and `RequestLimitExceeded` (aws-runtime's THROTTLING_ERRORS).
#[tokio::test]
async fn throttle_answers_each_protocols_throttling_error_without_forwarding() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let c = config(&proxy).await;
    let ecs = aws_sdk_ecs::Client::new(&c);
    let ecr = aws_sdk_ecr::Client::new(&c);
    let iam = aws_sdk_iam::Client::new(&c);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&c);
    let ec2 = aws_sdk_ec2::Client::new(&c);
    proxy.fault("ecs:CreateCluster", "throttle", 1);
    proxy.fault("ecr:DescribeRepositories", "throttle", 1);
    proxy.fault("iam:ListRoles", "throttle", 1);
    proxy.fault("elasticloadbalancing:DescribeLoadBalancers", "throttle", 1);
    proxy.fault("ec2:DescribeVpcs", "throttle", 1);

    let e = ecs.create_cluster().cluster_name("faults-throttled").send().await.unwrap_err();
    assert_eq!(service_error(&e), (400, Some("ThrottlingException".into())));
    let e = ecr.describe_repositories().send().await.unwrap_err();
    assert_eq!(service_error(&e), (400, Some("ThrottlingException".into())));
    let e = iam.list_roles().send().await.unwrap_err();
    assert_eq!(service_error(&e), (400, Some("Throttling".into())));
    let e = elb.describe_load_balancers().send().await.unwrap_err();
    assert_eq!(service_error(&e), (400, Some("Throttling".into())));
    let e = ec2.describe_vpcs().send().await.unwrap_err();
    assert_eq!(service_error(&e), (503, Some("RequestLimitExceeded".into())));
    for op in [
        "ecs:CreateCluster",
        "ecr:DescribeRepositories",
        "iam:ListRoles",
        "elasticloadbalancing:DescribeLoadBalancers",
        "ec2:DescribeVpcs",
    ] {
        assert_eq!(proxy.fired(op, "throttle"), 1, "{op}");
    }

    // Not forwarded: the throttled CreateCluster made no cluster. Each
    // fault fired once and is gone: the next calls go through.
    let found = ecs.describe_clusters().clusters("faults-throttled").send().await.unwrap();
    assert!(found.clusters().iter().all(|c| c.status() != Some("ACTIVE")), "{found:?}");
    ecr.describe_repositories().send().await.unwrap();
    iam.list_roles().send().await.unwrap();
    elb.describe_load_balancers().send().await.unwrap();
    ec2.describe_vpcs().send().await.unwrap();
    let counts = proxy.counts();
    assert_eq!(counts["phases"]["default"]["ec2:DescribeVpcs"], 2, "a faulted request is counted: {counts}");
}

#[tokio::test]
async fn status_faults_answer_500_and_503_for_the_next_n_requests() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let c = config(&proxy).await;
    let iam = aws_sdk_iam::Client::new(&c);
    let ecs = aws_sdk_ecs::Client::new(&c);
    proxy.fault("iam:ListRoles", "500", 2);
    proxy.fault("ecs:ListClusters", "503", 1);
    for _ in 0..2 {
        let e = iam.list_roles().send().await.unwrap_err();
        assert_eq!(service_error(&e).0, 500);
    }
    iam.list_roles().send().await.unwrap();
    let e = ecs.list_clusters().send().await.unwrap_err();
    assert_eq!(service_error(&e).0, 503);
    ecs.list_clusters().send().await.unwrap();
    assert_eq!(proxy.fired("iam:ListRoles", "500"), 2);
    assert_eq!(proxy.fired("ecs:ListClusters", "503"), 1);
}

#[tokio::test]
async fn reset_closes_the_connection_without_forwarding() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let c = config(&proxy).await;
    let ecr = aws_sdk_ecr::Client::new(&c);
    proxy.fault("ecr:CreateRepository", "reset", 1);
    let e = ecr.create_repository().repository_name("faults-reset").send().await.unwrap_err();
    assert!(matches!(e, SdkError::DispatchFailure(_)), "a transport error: {e:?}");
    assert_eq!(proxy.fired("ecr:CreateRepository", "reset"), 1);
    // Never forwarded: no repository.
    let e = ecr.describe_repositories().repository_names("faults-reset").send().await.unwrap_err();
    assert_eq!(e.code(), Some("RepositoryNotFoundException"), "{e:?}");
}

#[tokio::test]
async fn drop_makes_the_change_upstream_and_loses_the_answer() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let c = config(&proxy).await;
    let iam = aws_sdk_iam::Client::new(&c);
    proxy.fault("iam:CreateRole", "drop", 1);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let e = iam.create_role().role_name("faults-dropped").assume_role_policy_document(trust).send().await.unwrap_err();
    assert!(matches!(e, SdkError::DispatchFailure(_) | SdkError::ResponseError(_)), "no answer: {e:?}");
    assert_eq!(proxy.fired("iam:CreateRole", "drop"), 1);
    // The role was made all the same: asking again says so.
    let got = iam.get_role().role_name("faults-dropped").send().await.unwrap();
    assert_eq!(got.role().map(|r| r.role_name()), Some("faults-dropped"));
    let e = iam.create_role().role_name("faults-dropped").assume_role_policy_document(trust).send().await.unwrap_err();
    assert_eq!(e.code(), Some("EntityAlreadyExists"), "{e:?}");
}

#[tokio::test]
async fn hang_never_answers() {
    if support::skip_emulator() {
        return;
    }
    let proxy = FaultProxy::start();
    let c = config_with(&proxy, Duration::from_secs(2)).await;
    let ecs = aws_sdk_ecs::Client::new(&c);
    ecs.list_clusters().send().await.unwrap();
    proxy.fault("ecs:ListClusters", "hang", 1);
    // The client's 2 s attempt timeout ends the wait; no answer came before it.
    let e = ecs.list_clusters().send().await.unwrap_err();
    assert!(matches!(e, SdkError::TimeoutError(_)), "{e:?}");
    assert_eq!(proxy.fired("ecs:ListClusters", "hang"), 1);
    ecs.list_clusters().send().await.unwrap();
}

#[tokio::test]
async fn any_operation_and_rates_from_the_command_line_and_the_control_endpoint() {
    if support::skip_emulator() {
        return;
    }
    // `*` matches every operation; a rate of 1 fires always, 0 never;
    // cleared faults fire no more, and their fired counts stay.
    let proxy = FaultProxy::start_with([
        "--delay-ms",
        "0",
        "--seed",
        "7",
        "--fault",
        "*=503:2",
        "--fault",
        "ecs:ListClusters=throttle@1",
    ]);
    let c = config(&proxy).await;
    let ecs = aws_sdk_ecs::Client::new(&c);
    let iam = aws_sdk_iam::Client::new(&c);
    assert_eq!(service_error(&iam.list_roles().send().await.unwrap_err()).0, 503);
    assert_eq!(service_error(&ecs.list_clusters().send().await.unwrap_err()).0, 503);
    for _ in 0..3 {
        let e = ecs.list_clusters().send().await.unwrap_err();
        assert_eq!(service_error(&e), (400, Some("ThrottlingException".into())));
    }
    iam.list_roles().send().await.unwrap();
    assert_eq!(proxy.fired("*", "503"), 2);
    assert_eq!(proxy.fired("ecs:ListClusters", "throttle"), 3);
    proxy.clear();
    ecs.list_clusters().send().await.unwrap();
    assert_eq!(proxy.fired("ecs:ListClusters", "throttle"), 3);

    proxy.rate("iam:ListRoles", "500", 0.0);
    for _ in 0..5 {
        iam.list_roles().send().await.unwrap();
    }
    proxy.clear();
    // About half of 40 requests, seeded: some fail, some do not.
    proxy.rate("iam:ListRoles", "500", 0.5);
    let mut failed = 0;
    for _ in 0..40 {
        failed += iam.list_roles().send().await.is_err() as u64;
    }
    assert_eq!(proxy.fired("iam:ListRoles", "500"), failed);
    assert!(0 < failed && failed < 40, "{failed} of 40");

    // Bad faults are refused with a reason, and added nothing.
    for bad in [
        r#"{"op": "ecs:ListClusters", "action": "explode"}"#,
        r#"{"op": "ListClusters", "action": "500"}"#,
        r#"{"op": "*", "action": "500", "rate": 2}"#,
        r#"{"op": "*", "action": "500", "rate": 0.5, "count": 1}"#,
        r#"{"op": "*", "action": "500", "count": -1}"#,
        r#"not json"#,
    ] {
        let (code, answer) = proxy.request("POST", "/__proxy__/fault", bad);
        assert_eq!(code, 400, "{bad}: {answer}");
        assert!(!answer.is_empty());
    }
    proxy.clear();
    iam.list_roles().send().await.unwrap();

    // --reset clears the fired counts with the request counts.
    proxy.reset();
    assert_eq!(proxy.counts()["faults"], serde_json::json!({}));
}

#[test]
fn a_bad_fault_on_the_command_line_is_refused() {
    if support::skip_emulator() {
        return;
    }
    support::moto();
    let o = std::process::Command::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/latency-proxy"))
        .args(["--upstream", &support::moto().endpoint, "--fault", "ecs:ListClusters=melt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("action must be one of"), "{err}");
}
