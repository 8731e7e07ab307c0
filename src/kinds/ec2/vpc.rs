//! `ec2/vpc`.

use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A VPC of the stack's own, for accounts without a default VPC or stacks
/// that put their tasks in private subnets. Its subnets, internet gateway
/// and route tables are resources of their own (`ec2/subnet`,
/// `ec2/internet_gateway`, `ec2/route_table`) that name it with
/// `vpc: ${net.id}`.
///
/// `moor import` takes the VPC's id (`vpc-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// IPv4 CIDR block, /16 to /28, written by its first address
    /// (`10.0.0.0/16`). Changing it replaces the VPC.
    pub cidr: String,
    /// Give instances and tasks public DNS hostnames (needs
    /// `enable_dns_support`). AWS's default: false. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_dns_hostnames: Option<bool>,
    /// Resolve DNS through the Amazon-provided server. AWS's default: true.
    /// Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_dns_support: Option<bool>,
    /// The `Name` tag the console shows; defaults to `<stack>-<logical
    /// name>`. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

impl KindSpec for Vpc {
    const KIND: &'static str = "ec2/vpc";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "VPC id, `vpc-…`"),
        Attr::string("vpc_id", "VPC id, `vpc-…` (as the VPC lookups name it)"),
        Attr::string("cidr", "IPv4 CIDR block"),
        Attr::string("cidr_block", "IPv4 CIDR block (as the VPC lookups name it)"),
        Attr::string("default_security_group_id", "id of the security group AWS made with the VPC"),
        Attr::string("arn", "VPC ARN"),
    ];
    const REPLACE_ON: &'static [&'static str] = &["cidr"];
    // Last: after everything in it.
    const DELETE_RANK: u8 = 7;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn validate(&self, c: &mut Checker) {
        super::net::check_block(c, "cidr", &self.cidr, "VPC");
        super::net::check_no_name_tag(c, &self.tags);
        if self.enable_dns_hostnames == Some(true) && self.enable_dns_support == Some(false) {
            c.error(
                "moor::vpc-dns",
                &["enable_dns_hostnames"],
                "DNS hostnames need DNS support",
                "`enable_dns_support` is false",
            )
            .help = Some("set `enable_dns_support: true`, or leave it out (AWS's default is true)".into());
        }
    }
}
