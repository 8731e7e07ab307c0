//! `elbv2/load_balancer`.

use super::*;
use crate::kinds::{path, Attr, KindSpec, Naming, RefRule};
use crate::model::check::{alnum_hyphen, Checker, NameRule};
use crate::model::common::{StrList, Tags};
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

pub const LB_NAME: NameRule = NameRule {
    what: "load balancer name",
    max: 32,
    charset: alnum_hyphen,
    charset_text: "letters, digits and hyphens",
    extra: Some(elb_name_shape),
};

impl KindSpec for LoadBalancer {
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
    }
}
