//! `elbv2/listener`.

use super::*;
use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A listener: a port on the load balancer and what it does with requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// The load balancer's ARN, `${lb.arn}`.
    pub load_balancer: String,
    pub port: u32,
    /// `HTTP` (the default) or `HTTPS`.
    #[serde(default)]
    pub protocol: HttpProtocol,
    /// ACM certificate ARN; required for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// TLS policy for HTTPS, e.g. `ELBSecurityPolicy-TLS13-1-2-2021-06`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_policy: Option<String>,
    pub default_action: Action,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// `forward: ${tg.arn}`, `redirect: {…}` or `fixed_response: {…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send to a target group (its ARN).
    Forward(String),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<HttpProtocol>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `301` (the default) or `302`.
    #[serde(default = "default_redirect_status")]
    pub status_code: u32,
}

fn default_redirect_status() -> u32 {
    301
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedResponse {
    pub status_code: u32,
    /// `text/plain` (the default), `text/html`, `text/css`, `application/javascript` or `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
}

impl KindSpec for Listener {
    const KIND: &'static str = "elbv2/listener";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[Attr::string("arn", "listener ARN"), Attr::integer("port", "listener port")];
    const REPLACE_ON: &'static [&'static str] = &["load_balancer"];
    const DELETE_RANK: u8 = 1;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.load_balancer)
    }

    fn validate(&self, c: &mut Checker) {
        c.port(&["port"], self.port);
        match self.protocol {
            HttpProtocol::Https if self.certificate.is_none() => {
                c.error(
                    "moor::https-certificate",
                    &["protocol"],
                    "an HTTPS listener needs a certificate",
                    "HTTPS without `certificate`",
                )
                .help = Some("set `certificate: arn:aws:acm:…` (an ACM certificate in the same region)".into());
            }
            HttpProtocol::Http if self.certificate.is_some() => {
                c.error(
                    "moor::https-certificate",
                    &["certificate"],
                    "a certificate is only used by an HTTPS listener",
                    "set `protocol: HTTPS`",
                );
            }
            _ => {}
        }
        match &self.default_action {
            Action::Forward(_) => {}
            Action::Redirect(r) => {
                if let Some(p) = r.port {
                    c.port(&["default_action", "redirect", "port"], p);
                }
                if r.status_code != 301 && r.status_code != 302 {
                    c.error(
                        "moor::listener-action",
                        &["default_action", "redirect", "status_code"],
                        format!("redirect status {} is not 301 or 302", r.status_code),
                        "301 or 302",
                    );
                }
                if r.port == Some(self.port)
                    && r.protocol == Some(self.protocol)
                    && r.host.is_none()
                    && r.path.is_none()
                {
                    c.error(
                        "moor::listener-action",
                        &["default_action", "redirect"],
                        "this redirect points at the listener itself",
                        "redirect loop",
                    );
                }
            }
            Action::FixedResponse(f) => {
                if !(200..=599).contains(&f.status_code) {
                    c.error(
                        "moor::listener-action",
                        &["default_action", "fixed_response", "status_code"],
                        format!("status {} is not an HTTP status", f.status_code),
                        "200–599",
                    );
                }
                if let Some(ct) = &f.content_type {
                    const TYPES: [&str; 5] =
                        ["text/plain", "text/css", "text/html", "application/javascript", "application/json"];
                    if !TYPES.contains(&ct.as_str()) {
                        c.error(
                            "moor::listener-action",
                            &["default_action", "fixed_response", "content_type"],
                            format!("content type `{ct}` is not offered by ELB"),
                            "unsupported",
                        )
                        .help = Some(format!("one of: {}", TYPES.join(", ")));
                    }
                }
                if f.message_body.as_ref().is_some_and(|b| b.len() > 1024) {
                    c.error(
                        "moor::listener-action",
                        &["default_action", "fixed_response", "message_body"],
                        "a fixed response body is at most 1024 characters",
                        "too long",
                    );
                }
            }
        }
    }
}
