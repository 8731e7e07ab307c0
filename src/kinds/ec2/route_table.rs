//! `ec2/route_table`.

use crate::kinds::{path, Attr, Ids, Kind, KindSpec, RefRule};
use crate::model::check::Checker;
use crate::model::common::{StrList, Tags};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A route table of a VPC: its routes and the subnets that use it. A
/// public subnet's table sends `0.0.0.0/0` to the internet gateway. Routes
/// and subnets are sets, changed in place; the VPC's own `local` route is
/// AWS's and not listed.
///
/// `moor import` takes the route table's id (`rtb-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// The VPC, usually `${net.id}`. Changing it replaces the table.
    pub vpc: String,
    /// Routes, each a destination `cidr` and one target.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The subnets associated with it, such as `["${public_a.id}",
    /// "${public_b.id}"]`. A subnet not listed in any table uses the VPC's
    /// main table.
    #[serde(default, skip_serializing_if = "StrList::is_empty")]
    pub subnets: StrList,
    /// The `Name` tag; defaults to `<stack>-<logical name>`. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// One route: where to (`cidr`) and through exactly one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination IPv4 CIDR block; `0.0.0.0/0` for everything.
    pub cidr: String,
    /// An internet gateway, `${igw.id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// A NAT gateway, `${nat.id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<String>,
}

/// Subnet ids, as a route table's `subnets` takes them.
const SUBNETS: Ids = Ids {
    want: "subnet",
    kinds: &[Kind::Ec2Subnet],
    attr: "id",
    also: &[],
    example: "subnet ids, such as `${public_a.id}`",
};

impl KindSpec for RouteTable {
    const KIND: &'static str = "ec2/route_table";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "route table id, `rtb-…`"),
        Attr::string("vpc_id", "VPC of the table"),
        Attr::string("arn", "route table ARN"),
    ];
    const REPLACE_ON: &'static [&'static str] = &["vpc"];
    // After the load balancers; before the gateways its routes go to and
    // the subnets it is associated with.
    const DELETE_RANK: u8 = 3;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        let mut out = vec![RefRule::Kind {
            path: path(&["vpc"]),
            value: &self.vpc,
            kinds: super::subnet::VPC_KINDS,
            what: "a VPC",
        }];
        for (i, r) in self.routes.iter().enumerate() {
            let i = i.to_string();
            if let Some(g) = &r.gateway {
                out.push(RefRule::Kind {
                    path: path(&["routes", &i, "gateway"]),
                    value: g,
                    kinds: &[Kind::Ec2InternetGateway],
                    what: "an internet gateway",
                });
            }
            if let Some(n) = &r.nat_gateway {
                out.push(RefRule::Kind {
                    path: path(&["routes", &i, "nat_gateway"]),
                    value: n,
                    kinds: &[Kind::Ec2NatGateway],
                    what: "a NAT gateway",
                });
            }
        }
        out.push(RefRule::Ids { path: path(&["subnets"]), list: &self.subnets, ids: SUBNETS });
        out
    }

    fn validate(&self, c: &mut Checker) {
        super::net::check_no_name_tag(c, &self.tags);
        let mut seen: Vec<(super::net::Cidr, &str)> = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let i = i.to_string();
            let targets = usize::from(r.gateway.is_some()) + usize::from(r.nat_gateway.is_some());
            if targets != 1 {
                let (message, label) = if targets == 0 {
                    (format!("route to `{}` has no target", r.cidr), "no gateway or nat_gateway")
                } else {
                    (format!("route to `{}` has two targets", r.cidr), "both gateway and nat_gateway")
                };
                c.error("moor::route-target", &["routes", &i], message, label).help = Some(
                    "set exactly one of `gateway: ${igw.id}` (an internet gateway) and `nat_gateway: ${nat.id}`".into(),
                );
            }
            if r.cidr.contains("${") {
                continue;
            }
            match super::net::Cidr::parse(&r.cidr) {
                None => {
                    c.error(
                        "moor::route-cidr",
                        &["routes", &i, "cidr"],
                        format!("`{}` is not an IPv4 CIDR block", r.cidr),
                        "expected a.b.c.d/n",
                    )
                    .help = Some("`0.0.0.0/0` sends everything not in the VPC".into());
                }
                Some(b) if !b.is_network() => {
                    c.error(
                        "moor::route-cidr",
                        &["routes", &i, "cidr"],
                        format!("`{}` has host bits set", r.cidr),
                        format!("did you mean `{}`?", b.network()),
                    );
                }
                Some(b) => {
                    if let Some((_, first)) = seen.iter().find(|(s, _)| *s == b) {
                        c.error(
                            "moor::route-cidr",
                            &["routes", &i, "cidr"],
                            format!("two routes to `{first}`"),
                            "a table has one route per destination",
                        );
                    } else {
                        seen.push((b, &r.cidr));
                    }
                }
            }
        }
    }
}
