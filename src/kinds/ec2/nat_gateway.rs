//! `ec2/nat_gateway`.

use crate::kinds::{path, Attr, Kind, KindSpec, RefRule};
use crate::model::check::Checker;
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A NAT gateway in a public subnet, through which a private subnet's
/// tasks reach the internet (its route table: `{ cidr: 0.0.0.0/0,
/// nat_gateway: ${nat.id} }`). moor allocates its Elastic IP and releases
/// it when the gateway is deleted. Made and deleted in minutes on AWS;
/// apply waits for both.
///
/// `moor import` takes the NAT gateway's id (`nat-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NatGateway {
    /// The subnet it is in, usually a public one: `${public_a.id}`.
    /// Changing it replaces the gateway.
    pub subnet: String,
    /// `public` (the default: with an Elastic IP, to the internet) or
    /// `private` (to other VPCs and networks only). Changing it replaces
    /// the gateway.
    #[serde(default)]
    pub connectivity: Connectivity,
    /// The `Name` tag; defaults to `<stack>-<logical name>`. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Connectivity {
    #[default]
    Public,
    Private,
}

impl KindSpec for NatGateway {
    /// Hours, data processed, and its Elastic IP when public.
    fn billing(&self) -> Option<crate::cost::Billing<'_>> {
        Some(crate::cost::Billing::NatGateway { public: self.connectivity == Connectivity::Public })
    }

    const KIND: &'static str = "ec2/nat_gateway";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "NAT gateway id, `nat-…`"),
        Attr::string("public_ip", "its Elastic IP address (public gateways)"),
        Attr::string("allocation_id", "its Elastic IP's allocation id (public gateways)"),
        Attr::string("subnet_id", "the subnet it is in"),
    ];
    const REPLACE_ON: &'static [&'static str] = &["subnet", "connectivity"];
    // After the route tables that send to it; before its subnet and the
    // internet gateway (its address keeps the gateway attached).
    const DELETE_RANK: u8 = 4;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        vec![RefRule::Kind {
            path: path(&["subnet"]),
            value: &self.subnet,
            kinds: &[Kind::Ec2Subnet],
            what: "a subnet",
        }]
    }

    fn validate(&self, c: &mut Checker) {
        super::net::check_no_name_tag(c, &self.tags);
    }
}
