//! `elbv2/load_balancer`, `elbv2/target_group` and `elbv2/listener`
//! (application load balancers).

use super::check::{alnum_hyphen, Checker, NameRule};
use super::common::{StrList, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An application load balancer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// At most 32 letters, digits and hyphens; defaults from stack and logical name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `internet_facing` (the default) or `internal`. Changing it replaces the load balancer.
    #[serde(default)]
    pub scheme: Scheme,
    /// At least two subnets in different availability zones, e.g. `${net.subnet_ids}`.
    pub subnets: StrList,
    /// Security group ids.
    #[serde(default, skip_serializing_if = "StrList::is_empty")]
    pub security_groups: StrList,
    /// Idle connection timeout in seconds, 1–4000 (AWS default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u32>,
    /// Refuse deletion while set.
    #[serde(default)]
    pub deletion_protection: bool,
    /// `ipv4` (the default) or `dualstack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<IpAddressType>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IpAddressType {
    Ipv4,
    Dualstack,
}

/// A target group: where a listener sends traffic, and how targets are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    /// At most 32 letters, digits and hyphens, unique per region. Changing it replaces the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port the targets listen on. Changing it replaces the group.
    pub port: u32,
    /// `HTTP` (the default) or `HTTPS`. Changing it replaces the group.
    #[serde(default)]
    pub protocol: HttpProtocol,
    /// `HTTP1` (the default), `HTTP2` or `GRPC`. Changing it replaces the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<ProtocolVersion>,
    /// `ip` (the default, needed by Fargate) or `instance`. Changing it replaces the group.
    #[serde(default)]
    pub target_type: TargetType,
    /// VPC id, usually `${net.vpc_id}`. Changing it replaces the group.
    pub vpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Seconds to wait before a deregistered target is dropped, 0–3600 (AWS default 300).
    /// Destroying a service waits this long; dev stacks may want 5–30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistration_delay: Option<u32>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum HttpProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProtocolVersion {
    #[serde(rename = "HTTP1")]
    Http1,
    #[serde(rename = "HTTP2")]
    Http2,
    #[serde(rename = "GRPC")]
    Grpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    #[default]
    Ip,
    Instance,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// Path requested, starting with `/` (AWS default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A port number; the traffic port when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<HttpProtocol>,
    /// Seconds between checks, 5–300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// Seconds before a check fails, 2–120; less than `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Checks in a row to become healthy, 2–10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<u32>,
    /// Checks in a row to become unhealthy, 2–10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<u32>,
    /// HTTP codes that mean healthy, like `200` or `200-299`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
}

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

/// The name of a target group the file does not name: `<stack>-<logical>-<hash>`,
/// where the hash covers the fields that force a replacement. Changing one
/// of them gives the new group a new name, so it can be created (and the
/// listener and service moved to it) before the old one is deleted.
pub fn default_target_group_name(stack: &str, logical: &str, tg: &TargetGroup) -> String {
    use sha2::{Digest, Sha256};
    let key = format!("{}|{:?}|{:?}|{:?}|{}", tg.port, tg.protocol, tg.protocol_version, tg.target_type, tg.vpc);
    let digest = Sha256::digest(key.as_bytes());
    let hash: String = digest.iter().take(2).map(|b| format!("{b:02x}")).collect();
    let base = format!("{stack}-{logical}").replace('_', "-");
    let base = crate::model::truncate_name(&base, 32 - 5);
    format!("{}-{hash}", base.trim_end_matches('-'))
}

fn elb_name_shape(n: &str) -> Option<&'static str> {
    if n.starts_with('-') || n.ends_with('-') {
        Some("may not start or end with a hyphen")
    } else if n.starts_with("internal-") {
        Some("may not start with `internal-`")
    } else {
        None
    }
}

pub const LB_NAME: NameRule = NameRule {
    what: "load balancer name",
    max: 32,
    charset: alnum_hyphen,
    charset_text: "letters, digits and hyphens",
    extra: Some(elb_name_shape),
};

pub const TG_NAME: NameRule = NameRule {
    what: "target group name",
    max: 32,
    charset: alnum_hyphen,
    charset_text: "letters, digits and hyphens",
    extra: Some(elb_name_shape),
};

impl LoadBalancer {
    pub fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            LB_NAME.check(c, &["name"], n);
        }
        if let Some(items) = self.subnets.items() {
            if items.len() < 2 {
                c.error("moor::lb-subnets", &["subnets"], format!("an application load balancer needs at least two subnets, {} given", items.len()), "too few subnets")
                    .help = Some("give subnets in two or more availability zones, for example `${net.subnet_ids}` of an `ec2/default_vpc`".into());
            }
        }
        if let Some(t) = self.idle_timeout {
            c.range(&["idle_timeout"], "idle_timeout", t.into(), 1, 4000);
        }
    }
}

impl TargetGroup {
    pub fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            TG_NAME.check(c, &["name"], n);
        }
        c.port(&["port"], self.port);
        if let Some(d) = self.deregistration_delay {
            c.range(&["deregistration_delay"], "deregistration_delay", d.into(), 0, 3600);
        }
        if let Some(h) = &self.health_check {
            if let Some(p) = &h.path {
                if !p.starts_with('/') {
                    c.error(
                        "moor::health-check-path",
                        &["health_check", "path"],
                        format!("health check path `{p}` does not start with `/`"),
                        "must start with `/`",
                    )
                    .help = Some(format!("write `/{p}`"));
                }
            }
            if let Some(p) = h.port {
                c.port(&["health_check", "port"], p);
            }
            if let Some(i) = h.interval {
                c.range(&["health_check", "interval"], "health check interval", i.into(), 5, 300);
            }
            if let Some(t) = h.timeout {
                c.range(&["health_check", "timeout"], "health check timeout", t.into(), 2, 120);
                if h.interval.is_some_and(|i| t >= i) {
                    c.error(
                        "moor::health-check-timeout",
                        &["health_check", "timeout"],
                        "health check timeout must be shorter than its interval",
                        "timeout ≥ interval",
                    );
                }
            }
            for (f, v) in [("healthy_threshold", h.healthy_threshold), ("unhealthy_threshold", h.unhealthy_threshold)] {
                if let Some(v) = v {
                    c.range(&["health_check", f], f, v.into(), 2, 10);
                }
            }
        }
    }
}

impl Listener {
    pub fn validate(&self, c: &mut Checker) {
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
