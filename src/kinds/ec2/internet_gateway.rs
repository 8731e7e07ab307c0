//! `ec2/internet_gateway`.

use crate::kinds::{path, Attr, KindSpec, RefRule};
use crate::model::check::Checker;
use crate::model::common::{ref_resource, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An internet gateway, attached to its VPC: what a public route table's
/// `0.0.0.0/0` route goes to (`gateway: ${igw.id}`). On delete it is
/// detached first.
///
/// `moor import` takes the gateway's id (`igw-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InternetGateway {
    /// The VPC it is attached to, usually `${net.id}`. Changing it replaces
    /// the gateway.
    pub vpc: String,
    /// The `Name` tag; defaults to `<stack>-<logical name>`. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

impl KindSpec for InternetGateway {
    const KIND: &'static str = "ec2/internet_gateway";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "internet gateway id, `igw-…`"),
        Attr::string("vpc_id", "the VPC it is attached to"),
        Attr::string("arn", "internet gateway ARN"),
    ];
    const REPLACE_ON: &'static [&'static str] = &["vpc"];
    // After the route tables and NAT gateways that use it and the subnets
    // of its VPC (their public addresses keep it attached); before the VPC.
    const DELETE_RANK: u8 = 6;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    /// It attaches its VPC to the internet, which the VPC's subnets wait for.
    fn attaches(&self) -> Vec<&str> {
        ref_resource(&self.vpc).into_iter().collect()
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        vec![RefRule::Kind { path: path(&["vpc"]), value: &self.vpc, kinds: super::subnet::VPC_KINDS, what: "a VPC" }]
    }

    fn validate(&self, c: &mut Checker) {
        super::net::check_no_name_tag(c, &self.tags);
    }
}
