//! `elbv2/target_group`.

use super::*;
use crate::kinds::{Attr, KindSpec, Naming};
use crate::model::check::{alnum_hyphen, Checker, NameRule};
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A target group: where a listener sends traffic, and how targets are checked.
///
/// `moor import` takes the target group's ARN.
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
    /// Send each client's requests to the same target, by a cookie. Left out, stickiness is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stickiness: Option<Stickiness>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// A target group's stickiness: by a cookie of the load balancer's, or of the application's (`cookie_name`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stickiness {
    /// `false` turns stickiness off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Seconds a client sticks to its target, 1–604800 (AWS default 86400, one day).
    #[serde(default = "one_day")]
    pub duration: u32,
    /// The application's cookie that decides stickiness; a load balancer cookie when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<String>,
}

fn yes() -> bool {
    true
}

fn one_day() -> u32 {
    86_400
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

pub const TG_NAME: NameRule = NameRule {
    what: "target group name",
    max: 32,
    charset: alnum_hyphen,
    charset_text: "letters, digits and hyphens",
    extra: Some(elb_name_shape),
};

impl KindSpec for TargetGroup {
    const KIND: &'static str = "elbv2/target_group";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("arn", "target group ARN"),
        Attr::string("name", "target group name"),
        Attr::string("arn_suffix", "ARN suffix for CloudWatch metrics"),
        Attr::integer("port", "target port"),
    ];
    const NAMING: Option<Naming> = Some(super::ELB_NAMING);
    const REPLACE_ON: &'static [&'static str] = &["name", "port", "protocol", "protocol_version", "target_type", "vpc"];
    const DELETE_RANK: u8 = 2;
    const IN_USE_BLOCKS_DELETE: bool = true;

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn default_name(&self, stack: &str, logical: &str) -> Option<String> {
        Some(default_target_group_name(stack, logical, self))
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            TG_NAME.check(c, &["name"], n);
        }
        c.port(&["port"], self.port);
        if let Some(d) = self.deregistration_delay {
            c.range(&["deregistration_delay"], "deregistration_delay", d.into(), 0, 3600);
        }
        if let Some(st) = &self.stickiness {
            c.range(&["stickiness", "duration"], "stickiness duration", st.duration.into(), 1, 604_800);
            if let Some(n) = &st.cookie_name {
                let reserved = ["AWSALB", "AWSALBAPP", "AWSALBTG"].iter().any(|r| n.starts_with(r));
                if n.is_empty() || reserved {
                    c.error(
                        "moor::stickiness-cookie",
                        &["stickiness", "cookie_name"],
                        format!("`{n}` cannot be the application's cookie"),
                        "reserved by the load balancer",
                    )
                    .help = Some("names starting with AWSALB, AWSALBAPP or AWSALBTG are the load balancer's own; name the cookie your application sets".into());
                }
            }
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
