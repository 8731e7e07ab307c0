//! What every service module uses: AWS's errors in moor's terms, waits and
//! retries, tag syncing, and the small facts of ARNs. One copy of each.

use super::{SdkError, OPERATION_DEADLINE};
use crate::provider::{ErrorKind, ProviderError, ProviderOptions};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// AWS error codes that mean "does not exist".
const NOT_FOUND: &[&str] = &[
    "RepositoryNotFoundException",
    "NoSuchEntity",
    "InvalidGroup.NotFound",
    "InvalidGroupId.NotFound",
    "InvalidVpcID.NotFound",
    "LoadBalancerNotFound",
    "TargetGroupNotFound",
    "ListenerNotFound",
    "ClusterNotFoundException",
    "ServiceNotFoundException",
    "ResourceNotFoundException",
    "LifecyclePolicyNotFoundException",
    "RepositoryPolicyNotFoundException",
    "NoSuchHostedZone",
];

/// AWS error codes that mean "something still uses it".
const IN_USE: &[&str] = &[
    "ResourceInUse",
    "DependencyViolation",
    "DeleteConflict",
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
    "RepositoryNotEmptyException",
    "ResourceInUseException",
];

/// What a create answers when the name is taken. ELBv2 answers a repeated
/// identical CreateTargetGroup or CreateLoadBalancer with the object itself
/// (moto answers DuplicateTargetGroupName instead).
const ALREADY_EXISTS: &[&str] = &[
    "RepositoryAlreadyExistsException",
    "EntityAlreadyExists",
    "InvalidGroup.Duplicate",
    "DuplicateTargetGroupName",
    "DuplicateLoadBalancerName",
    "DuplicateListener",
    "ResourceAlreadyExistsException",
    "NamespaceAlreadyExists",
];

const TRANSIENT: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "ServerException",
];

/// A request part the SDK would not build (a required field left unset):
/// the call is refused before anything is sent.
pub(crate) fn build_failed(operation: &str, e: aws_smithy_types::error::operation::BuildError) -> ProviderError {
    ProviderError::new(ErrorKind::Rejected, operation, format!("could not build the request: {e}"))
}

/// A provider error from an SDK error: which call, AWS's code and message.
/// Never includes request parameters, so nothing secret can leak.
pub(crate) fn sdk_err<E>(operation: &str, e: SdkError<E, aws_smithy_runtime_api::http::Response>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().map(str::to_string);
    let status = e.raw_response().map(|r| r.status().as_u16());
    let message = match (&e, e.message()) {
        (_, Some(m)) => m.to_string(),
        (SdkError::DispatchFailure(_), None) => format!("could not reach AWS: {}", DisplayErrorContext(&e)),
        (SdkError::TimeoutError(_), None) => {
            format!("no answer from AWS within {} s, retries included", OPERATION_DEADLINE.as_secs())
        }
        // An answer that is not an AWS error document (a proxy, an emulator's crash).
        (SdkError::ServiceError(_) | SdkError::ResponseError(_), None) if code.is_none() => {
            format!(
                "the endpoint answered HTTP {} without an AWS error",
                status.map_or("?".to_string(), |s| s.to_string())
            )
        }
        _ => DisplayErrorContext(&e).to_string(),
    };
    // AWS may quote what it was sent; credentials in it are never shown.
    let message = crate::secret::redact(&message);
    let kind = match code.as_deref() {
        Some(c) if NOT_FOUND.contains(&c) || c.ends_with("NotFound") || c.ends_with("NotFoundException") => {
            ErrorKind::NotFound
        }
        Some(c) if IN_USE.contains(&c) => ErrorKind::InUse,
        Some(c) if ALREADY_EXISTS.contains(&c) => ErrorKind::AlreadyExists,
        Some(c) if TRANSIENT.contains(&c) => ErrorKind::Transient,
        Some(c)
            if c.contains("Credentials")
                || c == "UnrecognizedClientException"
                || c == "InvalidClientTokenId"
                || c == "ExpiredToken" =>
        {
            ErrorKind::Setup
        }
        _ => match &e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ErrorKind::Setup,
            _ => ErrorKind::Rejected,
        },
    };
    ProviderError { kind, operation: operation.to_string(), code, message, made: None }
}

/// `Ok(None)` for "does not exist", the error otherwise.
pub(crate) fn found<T>(r: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// How long a wait's last check, at its deadline, may take to answer.
pub(crate) const CHECK_GRACE: Duration = Duration::from_secs(2);

/// What share of the time a wait has gone on for it pauses before its
/// next poll: a twentieth, so that it ends at most 5% after AWS is ready.
/// A twelfth (8%) left the apply of the Flask stack under the AWS model up
/// to 1.13x its critical path when the load balancer turned active just
/// after a poll (docs/benchmarks.md); a twentieth costs about 30 more
/// polls over a 3-minute wait, one every 9 s at its end.
const SHARE: u32 = 20;

/// The pause before the next poll of a wait (or the next try of a retry)
/// that has gone on for `elapsed`: a twentieth of it ([`SHARE`]), at least
/// `first` and at most `most`. A wait then ends at most 5% (or `first`)
/// after what it waits for happened, at any pace of AWS, while a long wait
/// still polls rarely (its count is in the tests). Doubling pauses would
/// end a wait up to its own length late.
pub(crate) fn pause(elapsed: Duration, first: Duration, most: Duration) -> Duration {
    (elapsed / SHARE).clamp(first, most.max(first))
}

/// The longest pause between two polls of a wait.
const MOST_BETWEEN_POLLS: Duration = Duration::from_secs(15);

/// What a check tells its wait besides "not yet": that what it waits for
/// moved since the last poll (one of a deployment's tasks came up). The
/// wait then paces its next polls from that moment, as if it had begun
/// then ([`wait_paced`]).
#[derive(Debug, Default)]
pub(crate) struct Progress(std::sync::atomic::AtomicBool);

impl Progress {
    pub(crate) fn saw(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    fn take(&self) -> bool {
        self.0.swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}

/// The pause of a wait that began at `start` and last saw progress at
/// `moved`: [`pause`] from the progress, and never less than a quarter
/// of the wait's own pause (at most four times as many polls).
fn paced(
    now: tokio::time::Instant,
    start: tokio::time::Instant,
    moved: tokio::time::Instant,
    first: Duration,
) -> Duration {
    let own = pause(now - start, first, MOST_BETWEEN_POLLS);
    pause(now - moved, first, MOST_BETWEEN_POLLS).max(own / 4)
}

/// Polls `check` until it returns `Some`, pausing as [`pause`] says (from
/// `opts.poll` up to 15 s), for at most `timeout` counted from the first poll:
/// the last sleep is cut short to end at the deadline, where `check` runs
/// once more before the wait gives up. A check that hangs is abandoned
/// when the time is up, at most [`CHECK_GRACE`] past the deadline. `what`
/// says what is awaited, for the error and, while no check said anything
/// more specific, for the progress shown ([`crate::progress::status`]).
pub(crate) async fn wait<T, F, Fut>(
    opts: &ProviderOptions,
    timeout: Duration,
    operation: &str,
    what: &str,
    check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    wait_paced(opts, timeout, operation, what, &Progress::default(), check).await
}

/// [`wait`] for something that reports its progress: after a check that
/// said [`Progress::saw`], the pauses start again from the first poll and
/// grow as a twentieth of the time since that progress, but stay at least
/// a quarter of the wait's own pause. What moved once tends to move again
/// soon (a deployment's tasks start together and come up close to each
/// other), so the wait ends at most a twentieth of the time since the last
/// progress after AWS is ready, rather than a twentieth of the whole wait.
pub(crate) async fn wait_paced<T, F, Fut>(
    opts: &ProviderOptions,
    timeout: Duration,
    operation: &str,
    what: &str,
    progress: &Progress,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    // Tokio's clock, so that tests with paused time see the same deadline.
    let start = tokio::time::Instant::now();
    let mut moved = start;
    let deadline = start + timeout;
    let interrupted =
        || ProviderError::new(ErrorKind::Wait, operation, format!("interrupted while waiting for {what}"));
    let said = crate::progress::said();
    let gave_up = |now: tokio::time::Instant, why: &str| {
        ProviderError::new(
            ErrorKind::Wait,
            operation,
            format!(
                "gave up after {} waiting for {what} (limit {}){why}",
                crate::progress::human(now - start),
                crate::progress::human(timeout)
            ),
        )
    };
    loop {
        // A check is one call that may hang: it gets the time left (at
        // least [`CHECK_GRACE`], so that the check at the deadline can
        // answer) and is abandoned after that.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now()).max(CHECK_GRACE);
        match tokio::time::timeout(left, check()).await {
            Ok(answer) => {
                if let Some(v) = answer? {
                    return Ok(v);
                }
            }
            Err(_) => {
                let now = tokio::time::Instant::now();
                return Err(gave_up(
                    now,
                    &format!("; {operation} had no answer within {}", crate::progress::human(left)),
                ));
            }
        }
        if crate::progress::said() == said {
            crate::progress::status(format!("waiting for {what}"));
        }
        if crate::interrupt::is_set() {
            return Err(interrupted());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(gave_up(now, ""));
        }
        if progress.take() {
            moved = now;
        }
        let delay = paced(now, start, moved, opts.poll);
        tokio::select! {
            () = tokio::time::sleep(delay.min(deadline - now)) => {}
            () = crate::interrupt::signalled() => return Err(interrupted()),
        }
    }
}

/// Retries `call` while `retry` accepts its error, for at most `limit`,
/// pausing as [`pause`] says, from 250 ms up to 4 s.
pub(crate) async fn retry_for<T, F, Fut>(
    limit: Duration,
    mut call: F,
    retry: impl Fn(&ProviderError) -> bool,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let start = Instant::now();
    let deadline = start + limit;
    loop {
        let r = call().await;
        let delay = pause(start.elapsed(), Duration::from_millis(250), Duration::from_secs(4));
        match r {
            Err(e) if retry(&e) && Instant::now() + delay < deadline && !crate::interrupt::is_set() => {
                crate::progress::status(retrying(&e));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = crate::interrupt::signalled() => return Err(e),
                }
            }
            other => return other,
        }
    }
}

/// What a retry waits for, for the progress shown.
fn retrying(e: &ProviderError) -> String {
    let m = e.message.to_ascii_lowercase();
    if m.contains("assume") && m.contains("role") {
        return "role not yet assumable, retrying".into();
    }
    if iam_not_ready(e) {
        return "IAM not caught up yet, retrying".into();
    }
    match &e.code {
        Some(code) => format!("{} answered {code}, retrying", e.operation),
        None => format!("{} not ready yet, retrying", e.operation),
    }
}

/// [`retry_for`] for about a minute: what IAM's eventual consistency needs
/// (a role created a second ago is not yet usable).
pub(crate) async fn eventually<T, F, Fut>(call: F, retry: impl Fn(&ProviderError) -> bool) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    retry_for(Duration::from_secs(60), call, retry).await
}

/// Whether an error is IAM not having caught up with a new role or policy.
/// A refusal of the caller itself ("User: arn:aws:iam::…:user/x is not
/// authorized to perform: ecs:CreateService …") names IAM in the caller's
/// ARN: only what it may not do (`iam:PassRole` on a new role) can be IAM
/// catching up, so the caller's identity is not read.
pub(crate) fn iam_not_ready(e: &ProviderError) -> bool {
    let m = e.message.to_ascii_lowercase();
    let about = m.split_once("is not authorized to perform:").map_or(m.as_str(), |(_, denied)| denied);
    (about.contains("role") || about.contains("iam") || about.contains("passrole"))
        && (m.contains("unable to assume")
            || m.contains("not authorized")
            || m.contains("is not valid")
            || m.contains("does not exist")
            || m.contains("cannot be assumed"))
}

/// Brings a resource's tags from `have` to `want`: `untag` the keys no
/// longer wanted (never AWS's own `aws:` tags), then `tag` the new and
/// changed ones; each only when it has something to do.
pub(crate) async fn retag<U, UF, S, SF>(
    want: &crate::model::common::Tags,
    have: &crate::model::common::Tags,
    untag: U,
    tag: S,
) -> Result<(), ProviderError>
where
    U: FnOnce(Vec<String>) -> UF,
    UF: Future<Output = Result<(), ProviderError>>,
    S: FnOnce(crate::model::common::Tags) -> SF,
    SF: Future<Output = Result<(), ProviderError>>,
{
    let (set, remove) = tag_changes(want, have);
    if !remove.is_empty() {
        untag(remove).await?;
    }
    if !set.is_empty() {
        tag(set).await?;
    }
    Ok(())
}

/// Tags to set and tag keys to remove to go from `have` to `want` (AWS's
/// own `aws:` tags are never removed).
pub(super) fn tag_changes(
    want: &crate::model::common::Tags,
    have: &crate::model::common::Tags,
) -> (crate::model::common::Tags, Vec<String>) {
    let set = want.iter().filter(|(k, v)| have.get(*k) != Some(v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = have.keys().filter(|k| !want.contains_key(*k) && !k.starts_with("aws:")).cloned().collect();
    (set, remove)
}

/// A `Live` tag map from key/value pairs, without AWS's own tags.
pub(crate) fn tag_map<'a>(
    pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> crate::model::common::Tags {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or("").to_string())))
        .filter(|(k, _)| !k.starts_with("aws:"))
        .collect()
}

/// A delete's answer, with "it is already gone" as success.
pub(crate) fn ok_if_gone(r: Result<(), ProviderError>) -> Result<(), ProviderError> {
    match r {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Whether an identifying value still holds a reference not yet known.
pub(crate) fn unresolved(s: &str) -> bool {
    s.contains("${")
}

/// The ARN partition of a region.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A live field that AWS may leave out: the value, or null.
pub(crate) fn opt_str(v: Option<&str>) -> serde_json::Value {
    v.map_or(serde_json::Value::Null, |s| serde_json::json!(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A wait that never settles stops at its deadline (within one poll
    /// interval, here exactly: the last sleep is cut short), checks once
    /// more there, and says how long it really waited.
    #[tokio::test(start_paused = true)]
    async fn a_wait_that_never_settles_stops_at_its_deadline_and_says_how_long() {
        let opts = ProviderOptions { poll: Duration::from_millis(250), ..ProviderOptions::default() };
        for secs in [30, 61, 600] {
            let timeout = Duration::from_secs(secs);
            let checks = AtomicUsize::new(0);
            let start = Instant::now();
            let at_last_check = std::sync::Mutex::new(start);
            let e = wait(&opts, timeout, "elbv2:DescribeLoadBalancers", "the load balancer to be active", || async {
                checks.fetch_add(1, Ordering::SeqCst);
                *at_last_check.lock().unwrap() = Instant::now();
                Ok::<Option<()>, ProviderError>(None)
            })
            .await
            .expect_err("never settles");
            let waited = start.elapsed();
            assert!(waited >= timeout && waited <= timeout + Duration::from_secs(15), "{secs}s: waited {waited:?}");
            assert_eq!(*at_last_check.lock().unwrap() - start, waited, "checked once more at the deadline");
            assert_eq!(e.kind, ErrorKind::Wait);
            let human = crate::progress::human(waited);
            assert_eq!(
                e.message,
                format!("gave up after {human} waiting for the load balancer to be active (limit {human})"),
                "{secs}s"
            );
            assert!(checks.load(Ordering::SeqCst) > 2);
        }
    }

    /// A wait ends soon after what it waits for happened, at any pace: at
    /// most a twentieth of the time waited (or the first poll) late, never
    /// more than 15 s; and a 3-minute wait (a load balancer provisioning)
    /// polls a bounded number of times, every 8 to 9 s at its end.
    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_within_a_twentieth_of_its_length_after_aws_is_ready() {
        let opts = ProviderOptions::default();
        for ready_ms in [100u64, 700, 3_000, 9_000, 20_000, 60_000, 150_000, 180_000, 400_000] {
            let ready = Duration::from_millis(ready_ms);
            let start = Instant::now();
            let checks = AtomicUsize::new(0);
            let gaps = std::sync::Mutex::new(Vec::new());
            let last = std::sync::Mutex::new(start);
            wait(&opts, Duration::from_secs(600), "elbv2:DescribeLoadBalancers", "the load balancer", || async {
                checks.fetch_add(1, Ordering::SeqCst);
                let now = Instant::now();
                let before = std::mem::replace(&mut *last.lock().unwrap(), now);
                gaps.lock().unwrap().push(now - before);
                Ok::<_, ProviderError>((now - start >= ready).then_some(()))
            })
            .await
            .expect("settles");
            let late = start.elapsed() - ready;
            let bound = (ready / 20).max(opts.poll).min(Duration::from_secs(15));
            assert!(late <= bound, "ready at {ready:?}: ended {late:?} late (bound {bound:?})");
            let checks = checks.load(Ordering::SeqCst);
            if ready_ms == 180_000 {
                assert!(checks <= 95, "a 3-minute wait polled {checks} times");
                let gaps = gaps.lock().unwrap();
                assert!(gaps[gaps.len() - 1] >= Duration::from_secs(8), "polls at its end: {gaps:?}");
            }
        }
    }

    /// A wait told of progress (a deployment's first task up at `moves`,
    /// its last at `ready`) ends at most a twentieth of the time since that
    /// progress late, or a quarter of its own pause: not a twentieth of the
    /// whole wait. It polls no more than about twice as often as a wait
    /// told nothing, and every pause is at least a quarter of its own.
    #[tokio::test(start_paused = true)]
    async fn a_wait_told_of_progress_paces_its_polls_from_it() {
        /// How late the wait ends, and its polls.
        async fn run(opts: &ProviderOptions, moves: Duration, ready: Duration, progress: bool) -> (Duration, usize) {
            let start = Instant::now();
            let checks = AtomicUsize::new(0);
            let told = Progress::default();
            let moved = std::sync::atomic::AtomicBool::new(false);
            let last = std::sync::Mutex::new(start);
            wait_paced(opts, Duration::from_secs(600), "ecs:DescribeServices", "the deployment", &told, || async {
                let n = checks.fetch_add(1, Ordering::SeqCst);
                let now = Instant::now();
                let before = std::mem::replace(&mut *last.lock().unwrap(), now);
                let own = pause(before - start, opts.poll, MOST_BETWEEN_POLLS);
                assert!(n == 0 || now - before >= own / 4, "a pause of {:?} at {:?}", now - before, before - start);
                if progress && now - start >= moves && !moved.swap(true, Ordering::SeqCst) {
                    told.saw();
                }
                Ok::<_, ProviderError>((now - start >= ready).then_some(()))
            })
            .await
            .expect("settles");
            (start.elapsed() - ready, checks.load(Ordering::SeqCst))
        }
        let opts = ProviderOptions::default();
        for (moves_ms, ready_ms) in
            [(5_250u64, 7_500u64), (3_000, 7_000), (60_000, 75_000), (105_000, 150_000), (100_000, 250_000)]
        {
            let (moves, ready) = (Duration::from_millis(moves_ms), Duration::from_millis(ready_ms));
            let (late, checks) = run(&opts, moves, ready, true).await;
            let (_, alone) = run(&opts, moves, ready, false).await;
            let bound = ((ready - moves) / 20).max(pause(ready, opts.poll, MOST_BETWEEN_POLLS) / 4).max(opts.poll);
            assert!(late <= bound, "moved at {moves:?}, ready at {ready:?}: ended {late:?} late (bound {bound:?})");
            assert!(checks <= 2 * alone, "moved at {moves:?}, ready at {ready:?}: {checks} polls, {alone} without");
        }
    }

    /// A retry (a role not yet assumable) ends at most a twentieth of the
    /// time it retried (or 250 ms) after AWS accepts the call.
    #[tokio::test(start_paused = true)]
    async fn a_retry_ends_within_a_twentieth_of_its_length_after_aws_accepts() {
        for ready_ms in [300u64, 800, 5_000, 15_000, 45_000] {
            let ready = Duration::from_millis(ready_ms);
            let start = Instant::now();
            retry_for(
                Duration::from_secs(120),
                || async {
                    if start.elapsed() >= ready {
                        Ok(())
                    } else {
                        Err(ProviderError::new(ErrorKind::Rejected, "ecs:CreateService", "unable to assume the role"))
                    }
                },
                |_| true,
            )
            .await
            .expect("accepted");
            let late = start.elapsed() - ready;
            let bound = (ready / 20).max(Duration::from_millis(250)).min(Duration::from_secs(4));
            assert!(late <= bound, "accepted at {ready:?}: ended {late:?} late (bound {bound:?})");
        }
    }

    /// A check that never answers is abandoned when the wait's time is up
    /// (here at once: the check starts with the whole time left), and the
    /// error says which call had no answer and that the wait gave up.
    #[tokio::test(start_paused = true)]
    async fn a_check_that_hangs_is_abandoned_when_the_time_is_up() {
        let opts = ProviderOptions { poll: Duration::from_millis(250), ..ProviderOptions::default() };
        let abandoned = std::sync::Arc::new(AtomicUsize::new(0));
        struct Dropped(std::sync::Arc<AtomicUsize>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let e = wait(&opts, Duration::from_secs(30), "ecs:DescribeServices", "service `app` to drain", || {
            let guard = Dropped(abandoned.clone());
            async move {
                let _guard = guard;
                std::future::pending::<Result<Option<()>, ProviderError>>().await
            }
        })
        .await
        .expect_err("the check never answers");
        assert_eq!(abandoned.load(Ordering::SeqCst), 1, "the hanging check was dropped");
        assert_eq!((e.kind, e.operation.as_str()), (ErrorKind::Wait, "ecs:DescribeServices"));
        assert_eq!(
            e.message,
            "gave up after 30s waiting for service `app` to drain (limit 30s); \
             ecs:DescribeServices had no answer within 30s"
        );
    }

    /// A wait says what it waits for while its checks say nothing more
    /// specific, and leaves a check's own status alone.
    #[tokio::test(start_paused = true)]
    async fn a_wait_says_what_it_waits_for_unless_its_check_says_more() {
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = said.clone();
        let sink: crate::progress::Sink = std::sync::Arc::new(move |n| s.lock().unwrap().push(n));
        let opts = ProviderOptions { poll: Duration::from_secs(1), ..ProviderOptions::default() };
        let n = AtomicUsize::new(0);
        crate::progress::scope(sink, async {
            wait(&opts, Duration::from_secs(60), "ecs:DescribeClusters", "the cluster to become ACTIVE", || async {
                Ok::<_, ProviderError>((n.fetch_add(1, Ordering::SeqCst) == 1).then_some(()))
            })
            .await
            .expect("settles");
            wait(&opts, Duration::from_secs(60), "elbv2:DescribeLoadBalancers", "the load balancer", || async {
                crate::progress::status("load balancer provisioning");
                Ok::<_, ProviderError>((n.fetch_add(1, Ordering::SeqCst) == 3).then_some(()))
            })
            .await
            .expect("settles");
        })
        .await;
        use crate::progress::Note::Status;
        assert_eq!(
            *said.lock().unwrap(),
            vec![
                Status("waiting for the cluster to become ACTIVE".into()),
                Status("load balancer provisioning".into()),
                Status("load balancer provisioning".into()),
            ]
        );
    }

    /// The caller's own refusal is no IAM delay, even though its ARN names
    /// IAM or a role; being refused a role on a new role may be one.
    #[test]
    fn the_callers_own_refusal_is_not_iam_catching_up() {
        let denied = |m: &str| ProviderError::new(ErrorKind::Rejected, "ecs:CreateService", m);
        for caller in ["arn:aws:iam::123456789012:user/ci", "arn:aws:sts::123456789012:assumed-role/deployer/s"] {
            let own = format!(
                "AccessDeniedException: User: {caller} is not authorized to perform: ecs:CreateService on resource: \
                 arn:aws:ecs:us-east-1:123456789012:service/c/web because no identity-based policy allows it"
            );
            assert!(!iam_not_ready(&denied(&own)), "{own}");
            let pass = format!(
                "AccessDeniedException: User: {caller} is not authorized to perform: iam:PassRole on resource: \
                 arn:aws:iam::123456789012:role/exec"
            );
            assert!(iam_not_ready(&denied(&pass)), "{pass}");
        }
        assert!(iam_not_ready(&denied("ECS was unable to assume the role 'arn:aws:iam::123456789012:role/x'")));
    }

    /// A retry of IAM's eventual consistency says so while it retries.
    #[tokio::test(start_paused = true)]
    async fn a_retry_says_what_it_waits_for() {
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = said.clone();
        let sink: crate::progress::Sink = std::sync::Arc::new(move |n| s.lock().unwrap().push(n));
        let n = AtomicUsize::new(0);
        crate::progress::scope(sink, async {
            eventually(
                || async {
                    match n.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => Err(ProviderError::new(
                            ErrorKind::Rejected,
                            "ecs:CreateService",
                            "ECS was unable to assume the role 'arn:aws:iam::123456789012:role/x'",
                        )),
                        _ => Ok(()),
                    }
                },
                iam_not_ready,
            )
            .await
            .expect("IAM caught up");
        })
        .await;
        let status = crate::progress::Note::Status("role not yet assumable, retrying".into());
        assert_eq!(*said.lock().unwrap(), vec![status.clone(), status]);
    }
}
