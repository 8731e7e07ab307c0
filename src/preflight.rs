//! The first call of every command that reaches AWS: `sts:GetCallerIdentity`,
//! made while the stack file is parsed and the state record read, so it
//! costs no round trip of its own. It tells whose account a plan is for,
//! and turns what would otherwise fail every read of the plan at once (no
//! credentials, an expired token, an endpoint that is not there, a region
//! that does not exist) into one or two lines that say what to do, before
//! anything else is sent.
//!
//! GetCallerIdentity needs no permission, but a VPC endpoint policy or a
//! deactivated regional STS endpoint can still refuse it. That says nothing
//! about the permissions the stack needs, so moor then goes on with one
//! warning, without the account: the reads themselves tell whether the
//! credentials may do the job.

use crate::provider::aws::{AwsProvider, SdkError};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// Where a plan goes: the account, region and endpoint of its header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The credentials' account; `None` when STS did not say.
    pub account: Option<String>,
    pub region: String,
    /// A custom endpoint (`AWS_ENDPOINT_URL`); `None` for AWS's own.
    pub endpoint: Option<String>,
    /// A custom endpoint on loopback, or moto's account: a local emulator.
    pub emulator: bool,
}

/// The account moto (and LocalStack) answer with.
pub const EMULATOR_ACCOUNT: &str = "123456789012";

impl Target {
    pub fn new(account: Option<String>, region: String, endpoint: Option<String>) -> Target {
        let endpoint = endpoint.map(|e| crate::secret::redact(&e));
        let emulator = endpoint.as_deref().is_some_and(on_loopback) || account.as_deref() == Some(EMULATOR_ACCOUNT);
        Target { account, region, endpoint, emulator }
    }

    /// `account 123456789012 · us-east-1 · endpoint http://127.0.0.1:5000 (local emulator)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.account {
            parts.push(format!("account {a}"));
        }
        parts.push(self.region.clone());
        match (&self.endpoint, self.emulator) {
            (Some(e), true) => parts.push(format!("endpoint {e} (local emulator)")),
            (Some(e), false) => parts.push(format!("endpoint {e}")),
            (None, true) => parts.push("(local emulator)".into()),
            (None, false) => {}
        }
        parts.join(" · ")
    }

    /// `account 123456789012 in us-east-1`, for a question.
    pub fn short(&self) -> String {
        let account = self.account.as_ref().map(|a| format!("account {a}")).unwrap_or_else(|| "AWS".into());
        let emulator = if self.emulator { " (local emulator)" } else { "" };
        format!("{account} in {}{emulator}", self.region)
    }
}

/// Whether a URL's host is a loopback address or `localhost`.
pub fn on_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials work; their account.
    Account(String),
    /// The check could not tell (refused, throttled, a strange answer):
    /// go on without the account, after this warning, if any.
    Unknown(Option<String>),
    /// Nothing can work: the error, in one or two lines.
    Fatal(String),
}

/// Asks STS who the credentials are.
pub async fn check(p: &AwsProvider) -> Verdict {
    match p.sts.get_caller_identity().send().await {
        Ok(out) => match out.account() {
            Some(a) => Verdict::Account(a.to_string()),
            None => Verdict::Unknown(None),
        },
        Err(e) => judge(&e, &p.region, p.endpoint.as_deref()),
    }
}

/// Where the endpoint came from, for the message.
fn endpoint_source(endpoint: &str) -> &'static str {
    let from_env = ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find(|k| std::env::var(k).is_ok_and(|v| v.trim_end_matches('/') == endpoint.trim_end_matches('/')));
    match from_env {
        Some("AWS_ENDPOINT_URL_STS") => " (AWS_ENDPOINT_URL_STS)",
        Some(_) => " (AWS_ENDPOINT_URL)",
        None => " (endpoint_url of the AWS configuration)",
    }
}

/// The error chain of `e`, as text, lower case.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(e);
    while let Some(err) = next {
        text.push_str(&err.to_string().to_ascii_lowercase());
        text.push_str(" | ");
        next = err.source();
    }
    text
}

/// The credentials error in `e`'s chain, if any.
fn credentials_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a CredentialsError> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(c) = err.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        next = err.source();
    }
    None
}

const LOOKED_AT: &str = "looked at: the environment (AWS_ACCESS_KEY_ID), the profile (AWS_PROFILE, ~/.aws/config and ~/.aws/credentials), SSO, web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container and EC2 instance metadata";

/// The verdict on a failed GetCallerIdentity.
pub fn judge<E>(e: &SdkError<E, HttpResponse>, region: &str, endpoint: Option<&str>) -> Verdict
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let url = endpoint.map(crate::secret::redact);
    let place = match &url {
        Some(u) => format!("{u}{}", endpoint_source(u)),
        None => format!("AWS STS in {region} (https://sts.{region}.amazonaws.com)"),
    };
    if let SdkError::ServiceError(se) = e {
        let code = se.err().code().unwrap_or_default();
        return match code {
            "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => Verdict::Fatal(format!(
                "the AWS credentials have expired (sts:GetCallerIdentity: {code}); nothing was read or changed\n  \
                 refresh them: `aws sso login` for SSO, a new session for temporary keys, or re-run the pipeline's credentials step"
            )),
            "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch" | "IncompleteSignature"
            | "InvalidToken" | "AuthFailure" => Verdict::Fatal(format!(
                "AWS does not accept these credentials (sts:GetCallerIdentity: {code}); nothing was read or changed\n  \
                 check the access key and its secret, or `aws sso login`; the call went to {place}"
            )),
            "AccessDenied" | "AccessDeniedException" | "RegionDisabledException" => Verdict::Unknown(Some(format!(
                "sts:GetCallerIdentity was refused ({code}), so the account is not shown or checked; going on"
            ))),
            "" => match se.raw().status().as_u16() {
                status if !(500..600).contains(&status) => Verdict::Fatal(format!(
                    "{place} does not answer as AWS does (sts:GetCallerIdentity: HTTP {status}); nothing was read or changed\n  \
                     check the endpoint"
                )),
                _ => Verdict::Unknown(None),
            },
            _ => Verdict::Unknown(None),
        };
    }
    let Some(source) = (match e {
        SdkError::DispatchFailure(d) => d.as_connector_error().map(|c| c as &(dyn std::error::Error + 'static)),
        _ => None,
    })
    .or_else(|| std::error::Error::source(e)) else {
        return Verdict::Unknown(None);
    };
    if let Some(c) = credentials_error(source) {
        return match c {
            CredentialsError::CredentialsNotLoaded(_) => Verdict::Fatal(format!(
                "no AWS credentials found; nothing was read or changed\n  {LOOKED_AT}: set one of them (`aws configure`, `aws sso login`, AWS_PROFILE)"
            )),
            other => {
                let why = crate::text::abbreviate(&crate::secret::redact(&other.to_string()));
                let text = chain_text(other);
                if text.contains("expired") || text.contains("sso") && text.contains("token") {
                    Verdict::Fatal(format!(
                        "the AWS credentials could not be loaded: {why}; nothing was read or changed\n  \
                         if this is an SSO profile, run `aws sso login` (with --profile), then try again"
                    ))
                } else {
                    Verdict::Fatal(format!(
                        "the AWS credentials could not be loaded: {why}; nothing was read or changed\n  \
                         check the profile (AWS_PROFILE, ~/.aws/config) and the credential settings"
                    ))
                }
            }
        };
    }
    let text = chain_text(source);
    let dns = ["dns error", "failed to lookup", "name or service not known", "no such host", "nodename nor servname"]
        .iter()
        .any(|m| text.contains(m));
    if dns && url.is_none() && !crate::region::known(region) {
        let near = crate::region::nearest(region).join(", ");
        return Verdict::Fatal(format!(
            "region `{region}` does not exist: AWS has no endpoint for it; nothing was read or changed\n  \
             the nearest regions are {near} (set with --region, the file's `region:` or AWS_REGION)"
        ));
    }
    // Only a connection that cannot be made is fatal: one reset or an
    // answer that does not come is what the reads' own retries and
    // deadlines are for.
    let how = if dns {
        "its name does not resolve"
    } else if text.contains("refused") {
        "connection refused"
    } else if text.contains("trying to connect") || text.contains("connect error") || text.contains("connect timeout") {
        "cannot connect"
    } else {
        return Verdict::Unknown(None);
    };
    let help = if url.is_some() {
        "start the emulator, or fix or unset the endpoint"
    } else {
        "check the network, a proxy (HTTPS_PROXY) or the region"
    };
    Verdict::Fatal(format!("cannot reach {place}: {how}; nothing was read or changed\n  {help}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn answered(status: u16, code: &str) -> SdkError<GetCallerIdentityError, HttpResponse> {
        let meta =
            ErrorMetadata::builder().code(code).message("The security token AKIAIOSFODNN7EXAMPLE is bad").build();
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(GetCallerIdentityError::generic(meta), raw)
    }

    #[test]
    fn a_refused_check_goes_on_with_a_warning_and_a_bad_credential_stops() {
        // GetCallerIdentity needs no permission; a VPC endpoint policy or a
        // deactivated regional STS endpoint can still refuse it. The reads
        // then tell whether the credentials may do the job.
        for code in ["AccessDenied", "RegionDisabledException"] {
            match judge(&answered(403, code), "us-east-1", None) {
                Verdict::Unknown(Some(w)) => assert!(w.contains(code) && w.contains("going on"), "{w}"),
                other => panic!("{code}: {other:?}"),
            }
        }
        // Throttled after its retries, or AWS failing: the reads retry on their own.
        assert_eq!(judge(&answered(400, "Throttling"), "us-east-1", None), Verdict::Unknown(None));
        assert_eq!(judge(&answered(503, ""), "us-east-1", None), Verdict::Unknown(None));
        for code in ["ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch"] {
            match judge(&answered(403, code), "us-east-1", None) {
                Verdict::Fatal(m) => {
                    assert!(m.lines().count() <= 2 && m.contains(code), "{m}");
                    assert!(!m.contains("AKIAIOSFODNN7EXAMPLE"), "{m}");
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        assert!(
            matches!(judge(&answered(404, ""), "us-east-1", Some("http://127.0.0.1:9")), Verdict::Fatal(m) if m.contains("HTTP 404"))
        );
    }

    #[test]
    fn an_emulator_is_a_loopback_endpoint_or_motos_account() {
        for local in ["http://127.0.0.1:5000", "http://localhost:4566/", "http://[::1]:5000", "http://u:p@127.0.0.2"] {
            assert!(on_loopback(local), "{local}");
        }
        for far in ["https://sts.us-east-1.amazonaws.com", "http://10.0.0.5:5000", "http://localhost.example.com"] {
            assert!(!on_loopback(far), "{far}");
        }
        let t = Target::new(Some("123456789012".into()), "us-east-1".into(), Some("http://127.0.0.1:5000".into()));
        assert_eq!(t.describe(), "account 123456789012 · us-east-1 · endpoint http://127.0.0.1:5000 (local emulator)");
        assert!(t.emulator);
        let aws = Target::new(Some("210987654321".into()), "eu-west-1".into(), None);
        assert_eq!(aws.describe(), "account 210987654321 · eu-west-1");
        assert_eq!(aws.short(), "account 210987654321 in eu-west-1");
        assert!(!aws.emulator);
        let moto_far = Target::new(Some(EMULATOR_ACCOUNT.into()), "us-east-1".into(), Some("http://moto:5000".into()));
        assert!(moto_far.emulator, "moto's account is an emulator wherever it runs");
        let secret = Target::new(None, "us-east-1".into(), Some("http://user:hunter2@10.1.1.1".into()));
        assert!(!secret.describe().contains("hunter2"), "{}", secret.describe());
    }
}
