//! `elbv2/load_balancer`.

use super::*;
use crate::kinds::{path, Attr, KindSpec, Naming, RefRule};
use crate::model::check::{alnum_hyphen, Checker, NameRule};
use crate::model::common::{StrList, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An application load balancer.
///
/// `moor import` takes the load balancer's ARN.
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
    /// Write access logs to an S3 bucket: `{bucket: my-logs, prefix: web}`. The bucket's
    /// policy must let the region's load balancers write to it. Left out, logging is left as it is;
    /// removed from the file after an apply, logging is turned off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<AccessLogs>,
    /// Whether clients may speak HTTP/2 to the load balancer (AWS default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http2: Option<bool>,
    /// Drop request headers whose names are not valid HTTP (AWS default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_invalid_header_fields: Option<bool>,
    /// `ipv4` (the default) or `dualstack`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<IpAddressType>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// Where a load balancer writes its access logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessLogs {
    /// The S3 bucket's name (not its ARN), in the load balancer's region.
    pub bucket: String,
    /// Key prefix of the log files, without a leading or trailing `/`; none when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
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

pub const LB_NAME: NameRule = NameRule {
    what: "load balancer name",
    max: 32,
    charset: alnum_hyphen,
    charset_text: "letters, digits and hyphens",
    extra: Some(elb_name_shape),
};

impl KindSpec for LoadBalancer {
    /// Hours, capacity units, and an address per zone when internet-facing.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        Some(crate::cost::Billing::LoadBalancer {
            public: self.scheme == Scheme::InternetFacing,
            subnets: &self.subnets,
        })
    }

    const KIND: &'static str = "elbv2/load_balancer";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("arn", "load balancer ARN"),
        Attr::string("name", "load balancer name"),
        Attr::string("dns_name", "public DNS name"),
        Attr::string("zone_id", "Route 53 hosted zone id of the load balancer"),
        Attr::string("arn_suffix", "ARN suffix for CloudWatch metrics"),
    ];
    const NAMING: Option<Naming> = Some(super::ELB_NAMING);
    const REPLACE_ON: &'static [&'static str] = &["name", "scheme"];
    const DELETE_RANK: u8 = 2;
    const IN_USE_BLOCKS_DELETE: bool = true;
    /// A listener may be added while it provisions (minutes on AWS).
    const SETTLES_AFTER_USERS_START: bool = true;

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        vec![
            RefRule::Ids { path: path(&["subnets"]), list: &self.subnets, ids: crate::kinds::ec2::SUBNET_IDS },
            RefRule::Ids {
                path: path(&["security_groups"]),
                list: &self.security_groups,
                ids: crate::kinds::ec2::SECURITY_GROUP_IDS,
            },
        ]
    }

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
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
        if let Some(l) = &self.access_logs {
            let b = &l.bucket;
            let ok = b.contains("${")
                || (3..=63).contains(&b.len())
                    && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
            if !ok {
                let d = c.error(
                    "moor::access-logs",
                    &["access_logs", "bucket"],
                    format!("`{b}` is not an S3 bucket name"),
                    "not a bucket name",
                );
                if b.starts_with("arn:") || b.starts_with("s3://") {
                    d.help = Some("give the bucket's name alone, like `my-logs`".into());
                } else {
                    d.help = Some("bucket names are 3–63 lower-case letters, digits, `.` and `-`".into());
                }
            }
            if let Some(p) = &l.prefix {
                if p.starts_with('/') || p.ends_with('/') || p.to_ascii_lowercase().contains("awslogs") {
                    c.error(
                        "moor::access-logs",
                        &["access_logs", "prefix"],
                        format!("access log prefix `{p}` is refused by ELB"),
                        "no leading or trailing `/`, no `AWSLogs`",
                    );
                }
            }
        }
    }
}
