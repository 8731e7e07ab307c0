//! The AWS provider: the SDK clients, and one module per service.
//!
//! Credentials come from the standard chain (environment, profiles, SSO,
//! web identity for CI); `AWS_ENDPOINT_URL` points every client at another
//! endpoint (the local emulator). The SDK's own retries (each request backs
//! off on its own, with jitter; see `config_loader`) absorb throttling, and
//! every call has a deadline (a hung endpoint fails it, named, in
//! [`OPERATION_DEADLINE`]); [`eventually`] retries
//! the errors IAM's eventual consistency causes; [`wait`] polls quickly at
//! first and backs off, so a resource that is ready at once costs one poll.
//!
//! Each kind's provider implements the typed traits of [`kinds`], in its
//! service's module (next to the calls and batched reads its service's
//! kinds share); `kinds` generates the dispatch from the kinds registry.

mod acm;
mod appautoscaling;
mod calltrace;
mod discover;
mod ec2;
mod ecr;
mod ecr_public;
mod ecs;
mod elbv2;
mod iam;
mod kinds;
mod logs;
pub(crate) mod permissions;
mod policy;
mod route53;
mod servicediscovery;
mod shared;
mod vpc;

pub use calltrace::CallTrace;
pub(crate) use shared::*;

use super::{ErrorKind, ProviderError, ProviderOptions};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
pub(crate) use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Counts the AWS calls a provider makes, by `service:Operation` (one per
/// call, however many attempts the SDK's retries make).
#[derive(Debug, Default, Clone)]
pub struct CallCounter(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>);

impl CallCounter {
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
    pub fn total(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).values().sum()
    }
    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "moor-call-counter"
    }
    // Once per call (retries repeat only later hooks), and after the SDK
    // stored the operation's metadata.
    fn read_before_serialization(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(m) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>() {
            let key = format!("{}:{}", m.service().to_ascii_lowercase(), m.name());
            *self.0.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default() += 1;
        }
        Ok(())
    }
}

/// Counts the requests one call sent, the SDK's retries included (an
/// interceptor given to the call: `.customize().interceptor(sent.clone())`).
/// More than one means an earlier attempt may have been carried out
/// although its answer was lost.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sent(Arc<std::sync::atomic::AtomicU32>);

impl Sent {
    pub(crate) fn count(&self) -> u32 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Sent {
    fn name(&self) -> &'static str {
        "moor-sent"
    }
    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// An HTTP client that lets at most so many requests be in flight at once
/// (one semaphore shared by every service's client): the SDK's clients
/// otherwise send whatever the code asks for at the same moment.
#[derive(Debug, Clone)]
struct Bounded {
    inner: SharedHttpClient,
    permits: Arc<Semaphore>,
}

impl HttpClient for Bounded {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        let inner = self.inner.http_connector(settings, components);
        SharedHttpConnector::new(BoundedConnector { inner, permits: self.permits.clone() })
    }
}

#[derive(Debug)]
struct BoundedConnector {
    inner: SharedHttpConnector,
    permits: Arc<Semaphore>,
}

impl HttpConnector for BoundedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, permits) = (self.inner.clone(), self.permits.clone());
        HttpConnectorFuture::new(async move {
            // Held until the answer's headers are in; the semaphore is never closed.
            let _permit = permits.acquire_owned().await.expect("nothing closes the semaphore");
            // The attempt's clock starts with its turn: time spent waiting
            // for a turn under `max_requests` is not the endpoint's fault.
            let limit = answer_timeout(&request);
            match tokio::time::timeout(limit, inner.call(request)).await {
                Ok(answer) => answer,
                Err(_) => Err(ConnectorError::timeout(
                    format!("no answer within {} s of sending the request", limit.as_secs()).into(),
                )),
            }
        })
    }
}

/// How long one attempt may wait for AWS's answer once sent: AWS answers
/// reads in well under a second and its slowest writes (creating a load
/// balancer or a service) in a few seconds. An attempt cut off is retried
/// (a timeout is a transient error to the SDK), within the call's
/// [`OPERATION_DEADLINE`].
fn answer_timeout(request: &HttpRequest) -> Duration {
    let action = match request.headers().get("x-amz-target") {
        // JSON protocols: `AmazonEC2ContainerServiceV20141113.ListClusters`.
        Some(target) => target.rsplit('.').next().unwrap_or_default().to_string(),
        // Query protocols: `Action=DescribeVpcs&...` in the form body.
        None => request
            .body()
            .bytes()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("Action=")))
            .unwrap_or_default()
            .to_string(),
    };
    if ["Describe", "List", "Get"].iter().any(|p| action.starts_with(p)) {
        READ_TIMEOUT
    } else {
        WRITE_TIMEOUT
    }
}

#[cfg(test)]
mod answer_timeout_tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn request(target: Option<&str>, body: &str) -> HttpRequest {
        let mut r = HttpRequest::new(SdkBody::from(body.to_string()));
        if let Some(t) = target {
            r.headers_mut().insert("x-amz-target", t.to_string());
        }
        r
    }

    #[test]
    fn reads_wait_less_than_writes_in_both_protocols() {
        let json = |op: &str| request(Some(&format!("AmazonEC2ContainerServiceV20141113.{op}")), "{}");
        let query = |op: &str| request(None, &format!("Action={op}&Version=2016-11-15"));
        assert_eq!(answer_timeout(&json("DescribeServices")), READ_TIMEOUT);
        assert_eq!(answer_timeout(&json("ListClusters")), READ_TIMEOUT);
        assert_eq!(answer_timeout(&json("CreateService")), WRITE_TIMEOUT);
        assert_eq!(answer_timeout(&query("DescribeVpcs")), READ_TIMEOUT);
        assert_eq!(answer_timeout(&query("GetRole")), READ_TIMEOUT);
        assert_eq!(answer_timeout(&query("CreateLoadBalancer")), WRITE_TIMEOUT);
        assert_eq!(answer_timeout(&request(None, "")), WRITE_TIMEOUT, "unknown: the longer one");
        assert!(READ_TIMEOUT < WRITE_TIMEOUT && WRITE_TIMEOUT < OPERATION_DEADLINE);
    }
}

/// The longest one read attempt waits for its answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest one write attempt waits for its answer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest one call takes, all attempts and backoffs included: a hung
/// endpoint fails the call in this time, naming it.
pub const OPERATION_DEADLINE: Duration = Duration::from_secs(30);
/// A call that has had no answer for this long is named on stderr, once.
pub const STALL_NOTICE: Duration = Duration::from_secs(5);

/// Says on stderr which call is waiting, once a call has had no answer for
/// [`STALL_NOTICE`] (retries and their backoff included). Polling moor does
/// on purpose (for a load balancer or a service to be ready) sleeps between
/// calls, not in one, so it is never reported.
#[derive(Debug, Clone)]
struct StallNotice {
    after: Duration,
}

/// The pending notice of one call: cancelled when the call ends (or is
/// dropped, which drops the call's configuration bag and this with it).
#[derive(Debug)]
struct StallTimer(tokio::task::AbortHandle);

impl Drop for StallTimer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl aws_smithy_types::config_bag::Storable for StallTimer {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

/// `service:Operation` as moor's errors name it.
fn operation_name(m: &aws_smithy_runtime_api::client::orchestrator::Metadata) -> String {
    let service = match m.service().to_ascii_lowercase() {
        s if s.starts_with("elastic load balancing") => "elbv2".to_string(),
        s if s.starts_with("cloudwatch logs") => "logs".to_string(),
        s if s.starts_with("ecr public") => "ecr-public".to_string(),
        s if s.starts_with("resource groups tagging") => "tagging".to_string(),
        s if s.starts_with("route 53") => "route53".to_string(),
        s if s.starts_with("application auto scaling") => "application-autoscaling".to_string(),
        s => s,
    };
    format!("{service}:{}", m.name())
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for StallNotice {
    fn name(&self) -> &'static str {
        "moor-stall-notice"
    }

    fn read_before_serialization(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let (Some(m), Ok(runtime)) = (
            cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return Ok(());
        };
        let (operation, after) = (operation_name(m), self.after);
        let task = runtime.spawn(async move {
            tokio::time::sleep(after).await;
            crate::trace::notice(&format!(
                "moor: still waiting for AWS: {operation} has had no answer for {} s",
                after.as_secs()
            ));
        });
        cfg.interceptor_state().store_put(StallTimer(task.abort_handle()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        cfg.interceptor_state().unset::<StallTimer>();
        Ok(())
    }
}

/// The configuration's HTTP client; when it names none (as a configuration
/// loaded from the environment does), the one the SDK would choose for it.
fn http_client(config: &aws_config::SdkConfig) -> Option<SharedHttpClient> {
    if let Some(client) = config.http_client() {
        return Some(client);
    }
    let version = config.behavior_version().unwrap_or(aws_config::BehaviorVersion::latest());
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(version)?;
    plugin.runtime_components(&RuntimeComponentsBuilder::new("moor")).http_client()
}

/// The most attempts one call makes (the first and its retries).
pub const MAX_ATTEMPTS: u32 = 8;

/// The retry quota of one provider's clients (one token bucket for all
/// five services). The SDK's quota (500 tokens, 5 taken by each retry, 10
/// by a retry after a timeout, given back as calls succeed) stops retries
/// when an endpoint keeps failing, so an outage is not made worse; it is
/// kept for those errors. A retry after throttling takes nothing from it:
/// each such retry already waits its own backoff, and the attempts and
/// the call's deadline bound it; counted against the quota, a burst of
/// throttling over moor's 64 requests in flight (100 throttled retries)
/// would turn every call after it into a hard failure.
fn retry_partition() -> aws_smithy_runtime::client::retries::RetryPartition {
    use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
    let bucket =
        TokenBucket::builder().capacity(500).retry_cost(5).timeout_retry_cost(10).throttling_retry_cost(0).build();
    RetryPartition::custom("moor").token_bucket(bucket).build()
}

pub struct AwsProvider {
    pub ecr: aws_sdk_ecr::Client,
    pub iam: aws_sdk_iam::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// ECR Public, always in us-east-1: its API exists only there.
    pub ecr_public: aws_sdk_ecrpublic::Client,
    /// The public registry's alias, read once per run (`ecr_public`).
    pub ecr_public_alias: tokio::sync::OnceCell<Option<String>>,
    pub acm: aws_sdk_acm::Client,
    pub route53: aws_sdk_route53::Client,
    pub appautoscaling: aws_sdk_applicationautoscaling::Client,
    pub servicediscovery: aws_sdk_servicediscovery::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    /// Only for the first check of a command ([`crate::preflight`]): two
    /// attempts, so an endpoint that refuses connections fails at once.
    pub sts: aws_sdk_sts::Client,
    /// The endpoint every client is sent to instead of AWS's own, if any
    /// (`AWS_ENDPOINT_URL`, a profile's `endpoint_url`).
    pub endpoint: Option<String>,
    pub region: String,
    pub opts: ProviderOptions,
    /// Every call made, by operation.
    pub calls: CallCounter,
    /// The names of the Cloud Map namespaces read so far, by ARN (a
    /// namespace's ARN and name never change).
    pub namespace_names: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// The container images of the task definition revisions registered or
    /// described in this run, by ARN: a revision never changes, so a
    /// service's image check needs no DescribeTaskDefinition of them.
    pub revision_images: std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>,
    /// The ECR images ECR showed in their repository in this run.
    pub images_found: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl AwsProvider {
    /// Clients for `region` (or the environment's region) from the standard
    /// credential chain.
    pub async fn connect(region: Option<String>, opts: ProviderOptions) -> Result<AwsProvider, ProviderError> {
        let config = AwsProvider::config_loader(region).load().await;
        let Some(region) = config.region().map(|r| r.to_string()) else {
            return Err(ProviderError::new(
                ErrorKind::Setup,
                "moor:config",
                "no AWS region: set `region:` in the stack file, pass --region, or set AWS_REGION",
            ));
        };
        if let Err(why) = crate::region::check(&region) {
            let from = ["AWS_REGION", "AWS_DEFAULT_REGION"]
                .into_iter()
                .find(|k| std::env::var(k).is_ok_and(|v| v == region))
                .unwrap_or("the AWS configuration");
            return Err(ProviderError::new(ErrorKind::Setup, "moor:config", format!("{why} (from {from})")));
        }
        Ok(AwsProvider::from_config(&config, region, opts))
    }

    /// The SDK configuration [`AwsProvider::connect`] loads (retries,
    /// timeouts, and `region` or the environment's), before loading: a
    /// caller may set more (another endpoint) and load it itself.
    pub fn config_loader(region: Option<String>) -> aws_config::ConfigLoader {
        // Retries: each request backs off on its own, exponentially with
        // full jitter (a random wait up to 1 s, 2 s, 4 s, ... capped at
        // 10 s), for at most 8 attempts. Not the SDK's adaptive mode: its
        // rate limiter is shared by every call to a service, and one
        // throttled answer cuts the whole client's rate (to as little as
        // 0.5 request/s, waits of up to the backoff cap), so a single
        // throttled request cost 8-20 s and 10 % throttling slowed an apply
        // 50-200 times. With full jitter the throttled requests spread out
        // by themselves and the others go on at full speed; `max_requests`
        // already bounds what moor sends at once. The retry quota is
        // `RETRY_QUOTA`'s (see `from_config`).
        let retry = aws_config::retry::RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_secs(1))
            .with_max_backoff(Duration::from_secs(10));
        // Timeouts: connecting takes a few seconds at most (3.1 s: just over
        // the 3 s of a lost SYN's first retransmission); each attempt then
        // waits for its answer as long as the call needs (`answer_timeout`,
        // counted from its turn under `max_requests`), and every call ends
        // within `OPERATION_DEADLINE`, attempts included, so an endpoint
        // that accepts and never answers fails the call, named, in well
        // under a minute.
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_millis(3100))
            .operation_timeout(OPERATION_DEADLINE)
            .build();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).retry_config(retry).timeout_config(timeouts);
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r));
        }
        loader
    }

    /// Clients from an SDK configuration (any endpoint and credentials).
    pub fn from_config(config: &aws_config::SdkConfig, region: String, opts: ProviderOptions) -> AwsProvider {
        let mut config = config.clone();
        if let Some(client) = http_client(&config) {
            let bounded = Bounded { inner: client, permits: Arc::new(Semaphore::new(opts.max_requests.max(1))) };
            // The SDK's check that an upload keeps moving starts its clock
            // before the connector is called, so it counts a request's wait
            // for its turn as a stalled upload, and fails it after about 6 s.
            // moor's request bodies are a few hundred bytes: the check is off
            // for uploads, and stays on for answers.
            let grace = config.stalled_stream_protection().map(|s| s.grace_period());
            let mut stalled = StalledStreamProtectionConfig::enabled().upload_enabled(false);
            if let Some(g) = grace {
                stalled = stalled.grace_period(g);
            }
            config = config.into_builder().http_client(bounded).stalled_stream_protection(stalled.build()).build();
        }
        let calls = CallCounter::default();
        let stall = StallNotice { after: STALL_NOTICE };
        let quota = retry_partition();
        AwsProvider {
            ecr: aws_sdk_ecr::Client::from_conf(
                aws_sdk_ecr::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(
                aws_sdk_elasticloadbalancingv2::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            ecs: aws_sdk_ecs::Client::from_conf(
                aws_sdk_ecs::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            acm: aws_sdk_acm::Client::from_conf(
                aws_sdk_acm::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            route53: aws_sdk_route53::Client::from_conf(
                aws_sdk_route53::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            // `AWS_ENDPOINT_URL_ECR_PUBLIC` (the service's own endpoint
            // variable) is honoured by `Builder::from`, before `AWS_ENDPOINT_URL`.
            ecr_public: aws_sdk_ecrpublic::Client::from_conf(
                aws_sdk_ecrpublic::config::Builder::from(&config)
                    .region(aws_config::Region::new(crate::kinds::ecr_public::PUBLIC_REGION))
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            appautoscaling: aws_sdk_applicationautoscaling::Client::from_conf(
                aws_sdk_applicationautoscaling::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall.clone())
                    .retry_partition(quota.clone())
                    .build(),
            ),
            servicediscovery: aws_sdk_servicediscovery::Client::from_conf(
                aws_sdk_servicediscovery::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .interceptor(stall)
                    .retry_partition(quota)
                    .build(),
            ),
            ecr_public_alias: tokio::sync::OnceCell::new(),
            revision_images: Default::default(),
            images_found: Default::default(),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                aws_sdk_resourcegroupstagging::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config)
                    .interceptor(calls.clone())
                    .interceptor(CallTrace)
                    .retry_config(
                        aws_config::retry::RetryConfig::standard()
                            .with_max_attempts(2)
                            .with_initial_backoff(Duration::from_millis(200)),
                    )
                    .build(),
            ),
            endpoint: config.endpoint_url().map(str::to_string),
            region,
            opts,
            calls,
            namespace_names: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    mod progress;

    use super::*;
    use crate::model::Kind;
    use crate::provider::{Provider, Target};
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers every request after a pause, and notes the most in flight.
    #[derive(Debug, Clone, Default)]
    struct Slow {
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl HttpConnector for Slow {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let this = self.clone();
            HttpConnectorFuture::new(async move {
                let n = this.now.fetch_add(1, Ordering::SeqCst) + 1;
                this.most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                this.now.fetch_sub(1, Ordering::SeqCst);
                let status = 200u16.try_into().expect("a status");
                Ok(HttpResponse::new(status, SdkBody::from(r#"{"repositories":[]}"#)))
            })
        }
    }

    impl HttpClient for Slow {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    /// A configuration with this HTTP client and test credentials.
    pub(super) fn test_config(client: impl HttpClient + 'static) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .http_client(client)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecr::config::SharedCredentialsProvider::new(
                aws_sdk_ecr::config::Credentials::for_tests(),
            ))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[tokio::test]
    async fn requests_in_flight_are_bounded() {
        let slow = Slow::default();
        let config = test_config(slow.clone());
        let opts = ProviderOptions { max_requests: 3, ..ProviderOptions::default() };
        let p = AwsProvider::from_config(&config, "us-east-1".into(), opts);
        let calls = (0..12).map(|_| p.ecr.describe_repositories().send());
        for r in futures::future::join_all(calls).await {
            r.expect("answered");
        }
        assert_eq!(p.calls.total(), 12);
        assert_eq!(slow.most.load(Ordering::SeqCst), 3, "at most 3 at once, and 3 used");
    }

    /// A request that waits for its turn longer than the SDK's upload
    /// check allows (a 1 s window, then the grace period) still goes out.
    #[tokio::test]
    async fn a_long_wait_for_a_turn_is_not_a_stalled_upload() {
        #[derive(Debug, Clone)]
        struct Slower;
        impl HttpConnector for Slower {
            fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
                HttpConnectorFuture::new(async move {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    let status = 200u16.try_into().expect("a status");
                    Ok(HttpResponse::new(status, SdkBody::from(r#"{"repositories":[]}"#)))
                })
            }
        }
        impl HttpClient for Slower {
            fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
                SharedHttpConnector::new(self.clone())
            }
        }
        let stalled = StalledStreamProtectionConfig::enabled().grace_period(Duration::from_millis(10)).build();
        // No retries: a request taken for a stalled upload would fail.
        let config = test_config(Slower)
            .into_builder()
            .stalled_stream_protection(stalled)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let opts = ProviderOptions { max_requests: 1, ..ProviderOptions::default() };
        let p = AwsProvider::from_config(&config, "us-east-1".into(), opts);
        // The third waits 1.4 s for its turn.
        let calls = (0..3).map(|_| p.ecr.describe_repositories().send());
        for r in futures::future::join_all(calls).await {
            r.expect("answered");
        }
    }

    /// The configuration `connect` loads names no HTTP client: the SDK's
    /// default one is bounded too. A loopback server counts connections open
    /// at once (each answers one request, then closes).
    #[tokio::test]
    async fn the_sdks_default_client_is_bounded_too() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (n, m) = (now.clone(), most.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let (n, m) = (n.clone(), m.clone());
                tokio::spawn(async move {
                    m.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let k = sock.read(&mut chunk).await.unwrap_or(0);
                        buf.extend_from_slice(&chunk[..k]);
                        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                break;
                            }
                        }
                        if k == 0 {
                            return;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    n.fetch_sub(1, Ordering::SeqCst);
                    let body = r#"{"repositories":[]}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                });
            }
        });
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(format!("http://{addr}"))
            .credentials_provider(aws_sdk_ecr::config::Credentials::for_tests())
            .load()
            .await;
        assert!(config.http_client().is_none(), "the SDK chooses the client per service client");
        let opts = ProviderOptions { max_requests: 3, ..ProviderOptions::default() };
        let p = AwsProvider::from_config(&config, "us-east-1".into(), opts);
        let calls = (0..12).map(|_| p.ecr.describe_repositories().send());
        for r in futures::future::join_all(calls).await {
            r.expect("answered");
        }
        assert_eq!(most.load(Ordering::SeqCst), 3, "at most 3 at once, and 3 used");
    }

    /// Answers (status, body) by operation, in order; the last one repeats.
    pub(super) type Answers = std::collections::HashMap<String, Vec<(u16, String)>>;

    /// The status of an answer that never comes: the endpoint hangs.
    pub(super) const HANG: u16 = 0;

    /// Answers AWS calls from a script, by operation, and notes the calls:
    /// how AWS answers what the emulator does not do.
    #[derive(Debug, Clone, Default)]
    pub(super) struct Scripted {
        answers: Arc<std::sync::Mutex<Answers>>,
        calls: Arc<std::sync::Mutex<Vec<String>>>,
        /// Each request's body, in order.
        bodies: Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Scripted {
        /// The reads around a stack of one recorded service: no task
        /// definition, no tasks, nothing else tagged, no repository or role.
        pub(super) fn service_only_reads(&self) -> &Self {
            let no_td =
                serde_json::json!({"__type": "ClientException", "message": "Unable to describe task definition."});
            self.answer("DescribeTaskDefinition", 400, no_td)
                .answer("ListTasks", 200, serde_json::json!({"taskArns": []}))
                .answer("GetResources", 200, serde_json::json!({"ResourceTagMappingList": []}))
                .answer("DescribeRepositories", 200, serde_json::json!({"repositories": []}))
                .answer_raw(
                    "GetAccountAuthorizationDetails",
                    200,
                    "<GetAccountAuthorizationDetailsResponse><GetAccountAuthorizationDetailsResult>\
                     <IsTruncated>false</IsTruncated><RoleDetailList/><Policies/>\
                     </GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>",
                )
                .answer_raw(
                    "DescribeAddresses",
                    200,
                    "<DescribeAddressesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                     <addressesSet/></DescribeAddressesResponse>",
                )
        }

        pub(super) fn answer(&self, op: &str, status: u16, body: serde_json::Value) -> &Self {
            self.answer_raw(op, status, &body.to_string())
        }

        /// An answer of the query protocols (XML), or any other text.
        pub(super) fn answer_raw(&self, op: &str, status: u16, body: &str) -> &Self {
            self.answers.lock().unwrap().entry(op.to_string()).or_default().push((status, body.to_string()));
            self
        }

        /// The operations called, in order.
        pub(super) fn ops(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }

        /// The operations called with their JSON bodies (`null` for others).
        pub(super) fn requests(&self) -> Vec<(String, serde_json::Value)> {
            let bodies = self.bodies.lock().unwrap().clone();
            let parsed = bodies.iter().map(|b| serde_json::from_str(b).unwrap_or(serde_json::Value::Null));
            self.ops().into_iter().zip(parsed).collect()
        }
    }

    impl HttpConnector for Scripted {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let target = request.headers().get("x-amz-target").unwrap_or_default();
            let body = request.body().bytes().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            // The JSON protocols name the operation in a header, the query
            // protocols (IAM) in the body.
            // Route 53's REST protocol, by its path.
            let op = match target {
                "" => match body.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
                    Some(action) => action.to_string(),
                    None => rest_op(request.method(), request.uri()),
                },
                t => t.rsplit('.').next().unwrap_or_default().to_string(),
            };
            self.calls.lock().unwrap().push(op.clone());
            self.bodies.lock().unwrap().push(body);
            let mut answers = self.answers.lock().unwrap();
            let queue = answers.get_mut(&op).unwrap_or_else(|| panic!("no answer for {op}"));
            let (status, body) = if queue.len() > 1 { queue.remove(0) } else { queue[0].clone() };
            if status == HANG {
                return HttpConnectorFuture::new(std::future::pending());
            }
            let status = status.try_into().expect("a status");
            let mut response = HttpResponse::new(status, SdkBody::from(body));
            response.headers_mut().insert("content-type", "application/x-amz-json-1.1");
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    /// The operation of a Route 53 REST request, by its method and path.
    fn rest_op(method: &str, uri: &str) -> String {
        let path = uri.split('?').next().unwrap_or_default().trim_end_matches('/');
        let op = match (method, path.rsplit('/').nth(1), path.rsplit('/').next()) {
            (_, Some("change"), _) => "GetChange",
            ("POST", _, Some("rrset")) => "ChangeResourceRecordSets",
            ("GET", _, Some("rrset")) => "ListResourceRecordSets",
            _ => "",
        };
        op.to_string()
    }

    impl HttpClient for Scripted {
        fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    fn scripted_provider(script: &Scripted) -> AwsProvider {
        let config = test_config(script.clone());
        let opts = ProviderOptions { poll: Duration::from_millis(1), ..ProviderOptions::default() };
        AwsProvider::from_config(&config, "us-east-1".into(), opts)
    }

    /// A stack of one service `app` in a fixed cluster, with `desired` tasks.
    /// The service of [`service_stack`] as its record holds it.
    fn recorded_service() -> crate::state::Entry {
        crate::state::Entry {
            kind: Kind::EcsService,
            id: SERVICE.into(),
            uid: None,
            name: Some("s-app".into()),
            attrs: Default::default(),
            depends_on: vec![],
            force_delete: false,
            applied: None,
            deposed: vec![],
            unsettled: false,
            pending: None,
        }
    }

    fn service_stack(desired: u32) -> crate::model::Stack {
        let text = format!(
            "
stack: s
resources:
  app:
    kind: ecs/service
    cluster: arn:aws:ecs:us-east-1:123456789012:cluster/c
    task_definition: arn:aws:ecs:us-east-1:123456789012:task-definition/t:1
    desired_count: {desired}
    network:
      subnets: [subnet-1]
"
        );
        crate::load::load_str("s.yaml", &text, &Default::default()).stack.expect("a stack")
    }

    fn service_target() -> Target {
        let stack = service_stack(0);
        let state = crate::state::State::new("s", None);
        crate::plan::target(&stack, "app", &Default::default(), &state).0
    }

    const SERVICE: &str = "arn:aws:ecs:us-east-1:123456789012:service/c/s-app";

    fn active() -> serde_json::Value {
        serde_json::json!({
            "serviceArn": SERVICE, "serviceName": "s-app", "status": "ACTIVE", "desiredCount": 0,
            "runningCount": 0, "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1",
            "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "desiredCount": 0, "runningCount": 0,
                "rolloutState": "COMPLETED",
                "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1"}]
        })
    }

    #[tokio::test]
    async fn a_service_is_created_at_once_and_waits_out_a_draining_namesake_only_when_refused() {
        // Refused while the old service of the name drains: described, waited
        // out, created again.
        let script = Scripted::default();
        let refused = serde_json::json!({"__type": "InvalidParameterException",
            "message": "Creation of service was not idempotent."});
        script
            .answer("CreateService", 400, refused)
            .answer("CreateService", 200, serde_json::json!({"service": active()}))
            .answer(
                "DescribeServices",
                200,
                serde_json::json!({"services": [{"serviceArn": SERVICE,
                "serviceName": "s-app", "status": "DRAINING"}], "failures": []}),
            )
            .answer(
                "DescribeServices",
                200,
                serde_json::json!({"services": [{"serviceArn": SERVICE,
                "serviceName": "s-app", "status": "DRAINING"}], "failures": []}),
            )
            .answer(
                "DescribeServices",
                200,
                serde_json::json!({"services": [{"serviceArn": SERVICE,
                "serviceName": "s-app", "status": "INACTIVE"}], "failures": []}),
            )
            .answer("DescribeServices", 200, serde_json::json!({"services": [active()], "failures": []}));
        let p = scripted_provider(&script);
        let live = p.create(&service_target()).await.expect("created");
        assert_eq!(live.id, SERVICE);
        let calls = script.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [
                "CreateService",
                "DescribeServices",
                "DescribeServices",
                "DescribeServices",
                "CreateService",
                "DescribeServices"
            ]
        );

        // Nothing in the way: one CreateService, then the stability wait's
        // one DescribeServices, and no read-back.
        let script = Scripted::default();
        script.answer("CreateService", 200, serde_json::json!({"service": active()})).answer(
            "DescribeServices",
            200,
            serde_json::json!({"services": [active()], "failures": []}),
        );
        let p = scripted_provider(&script);
        p.create(&service_target()).await.expect("created");
        assert_eq!(script.calls.lock().unwrap().clone(), ["CreateService", "DescribeServices"]);

        // Refused for another reason: the error stands, after one describe.
        let script = Scripted::default();
        let refused = serde_json::json!({"__type": "InvalidParameterException", "message": "bad subnet"});
        script.answer("CreateService", 400, refused).answer(
            "DescribeServices",
            200,
            serde_json::json!({"services": [], "failures": []}),
        );
        let p = scripted_provider(&script);
        let e = p.create(&service_target()).await.expect_err("refused");
        assert!(e.to_string().contains("bad subnet"), "{e}");
        assert_eq!(script.calls.lock().unwrap().clone(), ["CreateService", "DescribeServices"]);
    }

    /// A wait's check that AWS never answers is abandoned at the wait's
    /// deadline (here 5 s, less than one call's own 10 s deadline): the
    /// error is the wait's, naming the call that had no answer.
    #[tokio::test(start_paused = true)]
    async fn a_wait_whose_check_hangs_gives_up_at_its_deadline() {
        let script = Scripted::default();
        script
            .answer("CreateService", 200, serde_json::json!({"service": active()}))
            .answer("DescribeServices", HANG, serde_json::json!({}))
            .answer("ListTasks", 200, serde_json::json!({"taskArns": []}));
        let config = test_config(script.clone());
        let opts = ProviderOptions {
            poll: Duration::from_millis(1),
            wait_timeout: Duration::from_secs(5),
            ..ProviderOptions::default()
        };
        let p = AwsProvider::from_config(&config, "us-east-1".into(), opts);
        let e = p.create(&service_target()).await.expect_err("the wait gives up");
        assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::Wait, "ecs:DescribeServices"), "{e}");
        assert!(e.message.starts_with("gave up after 5s waiting for service `s-app` to finish its deployment"), "{e}");
        assert!(e.message.contains("ecs:DescribeServices had no answer within 5s"), "{e}");
        let describes = script.ops().iter().filter(|o| *o == "DescribeServices").count();
        assert_eq!(describes, 1, "one check, abandoned, not retried: {:?}", script.ops());
    }

    /// The tagging API's pages are followed to the end; what moor does not
    /// make, and what lacks the stack's tag or a logical name, is left out.
    #[tokio::test]
    async fn the_stacks_tagged_resources_are_listed_page_by_page() {
        let tags = |stack: &str, logical: Option<&str>| {
            let mut t = vec![serde_json::json!({"Key": "moor:stack", "Value": stack})];
            if let Some(l) = logical {
                t.push(serde_json::json!({"Key": "moor:resource", "Value": l}));
            }
            serde_json::Value::Array(t)
        };
        let arn = |rest: &str| format!("arn:aws:{rest}");
        let script = Scripted::default();
        script
            .answer(
                "GetResources",
                200,
                serde_json::json!({"PaginationToken": "page-2", "ResourceTagMappingList": [
                    {"ResourceARN": arn("ecs:us-east-1:123:service/s-c/s-app"), "Tags": tags("s", Some("app"))},
                    {"ResourceARN": arn("ecs:us-east-1:123:task/s-c/0123"), "Tags": tags("s", Some("app"))},
                ]}),
            )
            .answer(
                "GetResources",
                200,
                serde_json::json!({"PaginationToken": "", "ResourceTagMappingList": [
                    {"ResourceARN": arn("ec2:us-east-1:123:security-group/sg-1"), "Tags": tags("s", Some("lb_sg"))},
                    {"ResourceARN": arn("ecr:us-east-1:123:repository/s/web"), "Tags": tags("s", None)},
                    {"ResourceARN": arn("ecs:us-east-1:123:cluster/x"), "Tags": tags("other", Some("cluster"))},
                ]}),
            );
        let p = scripted_provider(&script);
        let found = discover::tagged(&p, "s").await.expect("listed");
        let got: Vec<_> =
            found.iter().map(|f| (f.kind, f.logical.as_str(), f.id.as_str(), f.name.as_deref())).collect();
        assert_eq!(
            got,
            [
                (Kind::EcsService, "app", "arn:aws:ecs:us-east-1:123:service/s-c/s-app", Some("s-app")),
                (Kind::Ec2SecurityGroup, "lb_sg", "sg-1", None),
            ]
        );
        assert_eq!(script.calls.lock().unwrap().clone(), ["GetResources", "GetResources"]);

        // Refused: the error says which call and what AWS answered.
        let script = Scripted::default();
        let denied = serde_json::json!({"__type": "AccessDeniedException", "Message": "not allowed: tag:GetResources"});
        script.answer("GetResources", 400, denied);
        let e = discover::tagged(&scripted_provider(&script), "s").await.expect_err("refused");
        assert_eq!(e.operation, "tag:GetResources");
        assert!(e.to_string().contains("not allowed"), "{e}");
    }

    #[tokio::test]
    async fn a_retried_service_create_sends_the_same_idempotency_token() {
        // The first answer is a passing fault, so the SDK sends the same
        // request again: with the same clientToken, AWS answers it with the
        // service the first attempt made, if it made one.
        let script = Scripted::default();
        script
            .answer("CreateService", 500, serde_json::json!({"__type": "ServerException", "message": "try again"}))
            .answer("CreateService", 200, serde_json::json!({"service": active()}))
            .answer("DescribeServices", 200, serde_json::json!({"services": [active()], "failures": []}));
        let p = scripted_provider(&script);
        p.create(&service_target()).await.expect("created");
        let bodies = script.bodies.lock().unwrap().clone();
        let token = |b: &str| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            v["clientToken"].as_str().map(str::to_string)
        };
        let (first, second) = (token(&bodies[0]), token(&bodies[1]));
        assert!(first.as_ref().is_some_and(|t| !t.is_empty() && t.len() <= 36), "{first:?}");
        assert_eq!(first, second);
        // Another create is another request: another token.
        assert_ne!(super::ecs::client_token(), super::ecs::client_token());
    }

    #[tokio::test]
    async fn a_refused_task_definition_echoes_no_environment_value() {
        let text = r#"
stack: s
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
          SIGNING: plain-s3cret-value
          DATABASE_URL: postgres://app:Xq9hunter2pass@db/app
          OTHER_URL: mysql://root:0therpass@db2/x
          AWS_ACCESS_KEY_ID: AKIAQWERTYUIOPASDFGH
"#;
        let loaded = crate::load::load_str("s.yaml", text, &Default::default());
        let stack = loaded.stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        let t = crate::plan::target(&stack, "task", &Default::default(), &state).0;
        // AWS quoting what it was sent, in part and in full.
        let refused = serde_json::json!({"__type": "ClientException", "message":
            "Invalid environment: SIGNING=plain-s3cret-value, DATABASE_URL=postgres://app:Xq9hunter2pass@db, \
             password 0therpass of mysql://root:0therpass@other, key AKIAQWERTYUIOPASDFGH"});
        let script = Scripted::default();
        script.answer("RegisterTaskDefinition", 400, refused);
        let p = scripted_provider(&script);
        let e = p.create(&t).await.expect_err("refused").to_string();
        for secret in ["plain-s3cret-value", "Xq9hunter2pass", "0therpass", "AKIAQWERTYUIOPASDFGH"] {
            assert!(!e.contains(secret), "{secret} in {e}");
        }
        assert!(e.contains("ecs:RegisterTaskDefinition") && e.contains("ClientException"), "{e}");
    }

    /// A service of the given counts and deployments `(id, status, rollout)`,
    /// all of revision `t:1`, as DescribeServices answers it.
    fn service_at(desired: i32, running: i32, deployments: &[(&str, &str, &str)]) -> serde_json::Value {
        let td = "arn:aws:ecs:us-east-1:123456789012:task-definition/t:1";
        let deployments: Vec<_> = deployments
            .iter()
            .map(|(id, status, rollout)| {
                serde_json::json!({"id": id, "status": status, "taskDefinition": td, "desiredCount": desired,
                    "runningCount": if *status == "PRIMARY" { running } else { 0 },
                    "failedTasks": if *rollout == "FAILED" { 3 } else { 0 },
                    "rolloutState": rollout, "rolloutStateReason": "circuit breaker: tasks failed health checks"})
            })
            .collect();
        serde_json::json!({"serviceArn": SERVICE, "serviceName": "s-app", "status": "ACTIVE",
            "desiredCount": desired, "runningCount": running, "taskDefinition": td, "deployments": deployments,
            "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/c", "launchType": "FARGATE",
            "tags": [{"key": "moor:stack", "value": "s"}, {"key": "moor:resource", "value": "app"}],
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"}},
            "events": [{"id": "e1", "message": "(service s-app) rolling back to deployment ecs-svc/1."}]})
    }

    async fn plan_and_apply(
        p: &Arc<AwsProvider>,
        stack: &crate::model::Stack,
        state: crate::state::State,
    ) -> (crate::plan::Plan, crate::apply::Summary, crate::state::State) {
        let (graph, _) = crate::graph::build(stack);
        let observed = crate::observe::observe(p.as_ref(), stack, &graph, &state).await.expect("read");
        let plan = crate::plan::plan(stack, &graph, &state, &observed, false, Default::default());
        let store = crate::apply::MemoryStore::default();
        let (summary, state) = crate::apply::apply(
            p.clone(),
            stack,
            &graph,
            &plan,
            state,
            &store,
            &Default::default(),
            &crate::apply::Quiet,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .await;
        (plan, summary, state)
    }

    #[tokio::test]
    async fn a_rolled_back_deployment_stays_failed_until_a_deployment_settles() {
        let stack = service_stack(2);
        let mut state = crate::state::State::new("s", None);
        state.resources.insert("app".into(), recorded_service());
        let script = Scripted::default();
        script
            .service_only_reads()
            // Scaled out: the deployment moor started is rolled back by the
            // circuit breaker to one of the same revision.
            .answer("DescribeServices", 200, serde_json::json!({"services": [service_at(0, 0, &[("d1", "PRIMARY", "COMPLETED")])]}))
            .answer("UpdateService", 200, serde_json::json!({"service": service_at(2, 0, &[("d2", "PRIMARY", "IN_PROGRESS"), ("d1", "ACTIVE", "COMPLETED")])}))
            .answer("DescribeServices", 200, serde_json::json!({"services": [service_at(2, 2, &[("d3", "PRIMARY", "COMPLETED"), ("d2", "ACTIVE", "FAILED")])]}))
            // The next plan: the rollback completed, the service looks settled.
            .answer("DescribeServices", 200, serde_json::json!({"services": [service_at(2, 2, &[("d3", "PRIMARY", "COMPLETED")])]}))
            // Deployed again, rolled back again.
            .answer("UpdateService", 200, serde_json::json!({"service": service_at(2, 2, &[("d4", "PRIMARY", "IN_PROGRESS"), ("d3", "ACTIVE", "COMPLETED")])}))
            .answer("DescribeServices", 200, serde_json::json!({"services": [service_at(2, 2, &[("d5", "PRIMARY", "COMPLETED"), ("d4", "ACTIVE", "FAILED")])]}))
            .answer("DescribeServices", 200, serde_json::json!({"services": [service_at(2, 2, &[("d5", "PRIMARY", "COMPLETED")])]}))
            // Deployed again, and this time it completes.
            .answer("UpdateService", 200, serde_json::json!({"service": service_at(2, 2, &[("d6", "PRIMARY", "IN_PROGRESS"), ("d5", "ACTIVE", "COMPLETED")])}))
            .answer("DescribeServices", 200, serde_json::json!({"services": [service_at(2, 2, &[("d6", "PRIMARY", "COMPLETED")])]}));
        let p = Arc::new(scripted_provider(&script));

        let (plan, summary, state) = plan_and_apply(&p, &stack, state).await;
        assert_eq!(plan.change("app").unwrap().action, crate::plan::Action::Update);
        assert_eq!(summary.failed.len(), 1, "{summary:#?}");
        assert!(summary.failed[0].error.message.contains("rolled back"), "{}", summary.failed[0].error);
        let pending = state.resources["app"].pending.clone().expect("the record remembers the failed deployment");
        assert!(pending.redeploy && pending.reason.contains("rolled back"), "{pending:?}");

        // The service looks settled, but on the revision it was rolled back
        // to: the plan is not empty, and apply deploys again and fails again.
        let state = {
            let (plan, summary, state) = plan_and_apply(&p, &stack, state).await;
            let ch = plan.change("app").unwrap();
            assert_eq!(ch.action, crate::plan::Action::Wait, "{ch:?}");
            assert!(ch.redeploy && plan.has_changes());
            assert!(crate::render::plan_text(&plan, crate::render::Style { color: false }, false)
                .contains("deploy again and wait"));
            assert_eq!(summary.failed.len(), 1, "{summary:#?}");
            assert_eq!(summary.failed[0].error.code.as_deref(), Some(crate::provider::ROLLED_BACK));
            assert!(state.resources["app"].pending.as_ref().is_some_and(|p| p.redeploy));
            state
        };
        let calls = script.calls.lock().unwrap().clone();
        assert_eq!(calls.iter().filter(|c| *c == "UpdateService").count(), 2, "{calls:?}");

        // Once a deployment completes, the record forgets, and the plan is empty.
        let (plan, summary, state) = plan_and_apply(&p, &stack, state).await;
        assert_eq!(plan.change("app").unwrap().action, crate::plan::Action::Wait);
        assert!(summary.ok(), "{summary:#?}");
        assert_eq!(state.resources["app"].pending, None);
        let (plan, summary, _) = plan_and_apply(&p, &stack, state).await;
        assert_eq!(plan.change("app").unwrap().action, crate::plan::Action::NoOp);
        assert!(!plan.has_changes() && summary.ok());
    }

    /// A lookup's provider has reads only: a create, update, delete or
    /// adopt asked of one answers that it is a lookup, and calls nothing.
    #[tokio::test]
    async fn a_lookup_is_never_created_changed_deleted_or_adopted() {
        let text = r#"
stack: s
resources:
  vpc:
    kind: ec2/default_vpc
  repo:
    kind: ecr/existing_repository
    name: base
  role:
    kind: iam/existing_role
    name: ops
"#;
        let stack = crate::load::load_str("s.yaml", text, &Default::default()).stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        let script = Scripted::default();
        let p = scripted_provider(&script);
        for logical in ["vpc", "repo", "role"] {
            let t = crate::plan::target(&stack, logical, &Default::default(), &state).0;
            let live = crate::provider::Live {
                id: "id-1".into(),
                fields: Default::default(),
                attrs: Default::default(),
                tags: Default::default(),
                uid: None,
            };
            let d = crate::provider::Deletion {
                logical: logical.into(),
                kind: t.kind,
                id: "id-1".into(),
                name: None,
                attrs: Default::default(),
                force: false,
            };
            let errors = [
                p.create(&t).await.map(|_| ()).expect_err("create"),
                p.update(&t, &live, &["tags".to_string()]).await.map(|_| ()).expect_err("update"),
                p.delete(&d).await.expect_err("delete"),
                p.adopt(&t, &live).await.map(|_| ()).expect_err("adopt"),
            ];
            for (e, op) in errors.iter().zip(["create", "update", "delete", "adopt"]) {
                assert_eq!(e.kind, crate::provider::ErrorKind::Rejected, "{e}");
                assert_eq!(e.operation, format!("moor:{op}"));
                assert!(e.message.starts_with(&format!("{} is a lookup", t.kind)), "{e}");
            }
            assert_eq!(p.settle(&t, &live, true).await.expect("settled as it is"), live);
            assert!(p.unrecorded(&d, "s", &[]).await.expect("none").is_empty());
        }
        assert!(script.calls.lock().unwrap().is_empty());
    }

    /// Every kind moor manages is found by its tags: its provider says how
    /// its ARNs look (a new kind that forgot would be left behind by a
    /// destroy after its record was lost). Lookups are never found, nor
    /// are the kinds AWS cannot tag (Route 53 record sets: only their state
    /// record knows them).
    #[test]
    fn every_managed_kind_is_recognised_in_an_arn() {
        const UNTAGGED: &[Kind] = &[Kind::Route53Record];
        let found: Vec<Kind> = kinds::arn_kinds().map(|k| k.kind).collect();
        for k in Kind::ALL {
            assert_eq!(found.contains(&k), !k.is_lookup() && !UNTAGGED.contains(&k), "{k}");
        }
    }

    /// A request part the SDK will not build is refused, naming the call.
    #[test]
    fn an_unbuilt_request_is_refused_naming_its_call() {
        let unbuilt = aws_sdk_iam::types::Tag::builder().key("team").build().expect_err("no value");
        let e = build_failed("iam:TagRole", unbuilt);
        assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::Rejected, "iam:TagRole"));
        assert!(e.message.starts_with("could not build the request") && e.message.contains("value"), "{}", e.message);
    }

    /// A lock poisoned by a thread that panicked while holding it still
    /// counts: the counter never panics in turn.
    #[test]
    fn the_call_counter_survives_a_poisoned_lock() {
        let counter = CallCounter::default();
        counter.0.lock().unwrap_or_else(PoisonError::into_inner).insert("ecr:DescribeRepositories".into(), 2);
        let held = counter.clone();
        let poisoner = std::thread::spawn(move || {
            let _guard = held.0.lock().unwrap_or_else(PoisonError::into_inner);
            panic!("poisons the lock");
        });
        assert!(poisoner.join().is_err());
        assert!(counter.0.is_poisoned());
        assert_eq!(counter.total(), 2);
        assert_eq!(counter.snapshot().get("ecr:DescribeRepositories"), Some(&2));
        counter.reset();
        assert_eq!(counter.total(), 0);
    }

    /// A role's inline policy listed twice (a listing paged while it
    /// changed) is read once, the file's or not, and the read answers.
    #[tokio::test]
    async fn an_inline_policy_listed_twice_is_read_once() {
        let text = r#"
stack: s
resources:
  app:
    kind: iam/role
    assumed_by:
      services: [ecs-tasks.amazonaws.com]
    inline_policies:
      deploy:
        statements:
          - actions: [logs:PutLogEvents]
            resources: ["*"]
"#;
        let loaded = crate::load::load_str("s.yaml", text, &Default::default());
        let stack = loaded.stack.expect("a stack");
        let state = crate::state::State::new("s", None);
        let t = crate::plan::target(&stack, "app", &Default::default(), &state).0;
        // {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}]}
        let doc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C\
                   %22Action%22%3A%22logs%3APutLogEvents%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        let script = Scripted::default();
        script
            .answer_raw(
                "GetRole",
                200,
                "<GetRoleResponse><GetRoleResult><Role><Path>/</Path><RoleName>s-app</RoleName>\
                 <RoleId>AROAEXAMPLE</RoleId><Arn>arn:aws:iam::123456789012:role/s-app</Arn>\
                 <CreateDate>2024-01-01T00:00:00Z</CreateDate></Role></GetRoleResult></GetRoleResponse>",
            )
            .answer_raw(
                "ListRolePolicies",
                200,
                "<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames>\
                 <member>deploy</member><member>deploy</member><member>extra</member><member>extra</member>\
                 </PolicyNames><IsTruncated>false</IsTruncated></ListRolePoliciesResult></ListRolePoliciesResponse>",
            )
            .answer_raw(
                "GetRolePolicy",
                200,
                &format!(
                    "<GetRolePolicyResponse><GetRolePolicyResult><RoleName>s-app</RoleName>\
                     <PolicyName>deploy</PolicyName><PolicyDocument>{doc}</PolicyDocument>\
                     </GetRolePolicyResult></GetRolePolicyResponse>"
                ),
            );
        let p = scripted_provider(&script);
        let live = p.read(&t).await.expect("read").expect("the role exists");
        let inline = live.fields["inline_policies"].as_object().expect("inline policies");
        assert_eq!(inline.keys().collect::<Vec<_>>(), ["deploy", "extra"]);
        let calls = script.calls.lock().unwrap().clone();
        assert_eq!(calls.iter().filter(|c| *c == "GetRolePolicy").count(), 2, "{calls:?}");
    }
}
