//! What every service module uses: AWS's errors in moor's terms, waits and
//! retries, tag syncing, and the small facts of ARNs. One copy of each.

use super::{SdkError, OPERATION_DEADLINE};
use crate::provider::{ErrorKind, ProviderError, ProviderOptions};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::{Duration, Instant};

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
];

/// AWS error codes that mean "something still uses it".
const IN_USE: &[&str] = &[
    "ResourceInUse",
    "DependencyViolation",
    "DeleteConflict",
    "ClusterContainsServicesException",
    "ClusterContainsTasksException",
    "RepositoryNotEmptyException",
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

/// Polls `check` until it returns `Some`, starting at `opts.poll` and
/// backing off to 15 s, for at most `timeout`. `what` says what is awaited,
/// for the error.
pub(crate) async fn wait<T, F, Fut>(
    opts: &ProviderOptions,
    timeout: Duration,
    operation: &str,
    what: &str,
    mut check: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProviderError>>,
{
    let start = Instant::now();
    let mut delay = opts.poll;
    let interrupted =
        || ProviderError::new(ErrorKind::Wait, operation, format!("interrupted while waiting for {what}"));
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if crate::interrupt::is_set() {
            return Err(interrupted());
        }
        if start.elapsed() + delay > timeout {
            return Err(ProviderError::new(
                ErrorKind::Wait,
                operation,
                format!("gave up after {}s waiting for {what}", timeout.as_secs()),
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = crate::interrupt::signalled() => return Err(interrupted()),
        }
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

/// Retries `call` while `retry` accepts its error, for at most `limit`,
/// waiting 250 ms at first and twice as long each time (at most 4 s).
pub(crate) async fn retry_for<T, F, Fut>(
    limit: Duration,
    mut call: F,
    retry: impl Fn(&ProviderError) -> bool,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let deadline = Instant::now() + limit;
    let mut delay = Duration::from_millis(250);
    loop {
        match call().await {
            Err(e) if retry(&e) && Instant::now() + delay < deadline && !crate::interrupt::is_set() => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = crate::interrupt::signalled() => return Err(e),
                }
                delay = (delay * 2).min(Duration::from_secs(4));
            }
            other => return other,
        }
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
pub(crate) fn iam_not_ready(e: &ProviderError) -> bool {
    let m = e.message.to_ascii_lowercase();
    (m.contains("role") || m.contains("iam") || m.contains("passrole"))
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
