//! `ec2/subnet`.

use super::net::Cidr;
use crate::kinds::{path, Attr, Kind, KindSpec, RefRule};
use crate::model::check::Checker;
use crate::model::common::{ref_resource, Tags};
use crate::model::{Resource, Spec};
use crate::validate::Cross;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A subnet of an `ec2/vpc`, in one availability zone. Load balancers and
/// services take a list of them: `subnets: ["${a.id}", "${b.id}"]`.
///
/// `moor import` takes the subnet's id (`subnet-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    /// The VPC, usually `${net.id}`. Changing it replaces the subnet.
    pub vpc: String,
    /// IPv4 CIDR block inside the VPC's, /16 to /28 (`10.0.1.0/24`).
    /// Changing it replaces the subnet.
    pub cidr: String,
    /// Availability zone of the stack's region, such as `us-east-1a`,
    /// `${region}a`, `${var.azs[0]}` or another subnet's
    /// `${a.availability_zone}`. Changing it replaces the subnet.
    pub availability_zone: String,
    /// Give a public IPv4 address to every network interface launched in
    /// it (a public subnet's tasks). AWS's default: false. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_public_ip_on_launch: Option<bool>,
    /// The `Name` tag; defaults to `<stack>-<logical name>`. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// Whether `az` looks like an availability zone name (`us-east-1a`,
/// `us-west-2-lax-1a`): lowercase letters, digits and `-`, ending in a
/// letter after a digit or `-`.
fn is_zone_name(az: &str) -> bool {
    let b = az.as_bytes();
    b.len() >= 4
        && az.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && b[b.len() - 1].is_ascii_lowercase()
        && b[b.len() - 2].is_ascii_digit()
        && az.contains('-')
        // Every region starts with a two-letter area (us, eu, ap, …): an id
        // such as `subnet-0d…6a` also ends in a digit and a letter.
        && az.split('-').next().is_some_and(|area| area.len() == 2)
}

/// What is wrong with `az` as a zone of `region` (when the region is
/// known): the message, the label and the help.
fn zone_problem(az: &str, region: Option<&str>) -> Option<(String, &'static str, String)> {
    if !is_zone_name(az) {
        return Some((
            format!("`{az}` is not an availability zone name"),
            "expected a zone such as us-east-1a",
            "write the zone's name: the region followed by a letter (`eu-west-1b`)".into(),
        ));
    }
    let region = region?;
    // `us-east-1a`, and local zones such as `us-west-2-lax-1a`.
    let ours =
        az.strip_prefix(region).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '-'));
    (!ours).then(|| {
        (
            format!("`{az}` is not an availability zone of the stack's region `{region}`"),
            "another region's zone",
            format!("name a zone of `{region}` (`{region}a`, or `${{region}}a`), or plan in the zone's region"),
        )
    })
}

impl KindSpec for Subnet {
    const KIND: &'static str = "ec2/subnet";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "subnet id, `subnet-…`"),
        Attr::string("availability_zone", "availability zone"),
        Attr::string("cidr", "IPv4 CIDR block"),
        Attr::string("vpc_id", "VPC of the subnet"),
        Attr::string("arn", "subnet ARN"),
    ];
    const REPLACE_ON: &'static [&'static str] = &["vpc", "cidr", "availability_zone"];
    // After the load balancers, NAT gateways and route tables in it; before
    // its internet gateway and VPC.
    const DELETE_RANK: u8 = 5;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    /// A subnet is made after its VPC's internet gateway is attached, so
    /// what is put in it (an internet-facing load balancer, a NAT gateway)
    /// finds the VPC reachable, and deleted before the gateway is detached.
    fn needs_attached(&self) -> Vec<&str> {
        ref_resource(&self.vpc).into_iter().collect()
    }

    fn needs_attached_why(&self, gateway: &str, vpc: &str) -> String {
        format!(
            "internet gateway `{gateway}` is attached to VPC `{vpc}` before its subnets are used, and detached after"
        )
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        vec![RefRule::Kind { path: path(&["vpc"]), value: &self.vpc, kinds: VPC_KINDS, what: "a VPC" }]
    }

    fn validate(&self, c: &mut Checker) {
        super::net::check_block(c, "cidr", &self.cidr, "subnet");
        super::net::check_no_name_tag(c, &self.tags);
        // A zone given by reference is checked once it is known, with the plan.
        let az = &self.availability_zone;
        if let Some((message, label, help)) = zone_problem(az, None).filter(|_| !az.contains("${")) {
            c.error("moor::subnet-zone", &["availability_zone"], message, label).help = Some(help);
        }
    }

    /// A zone that a reference gives (`${a.availability_zone}`), once the
    /// plan knows it: a zone name, of the stack's region.
    fn live_check(&self, r: &Resource, x: &mut crate::checks::LiveCross<'_>) {
        let az = &self.availability_zone;
        if !az.contains("${") {
            return;
        }
        let Some(value) = x.resolved(az) else { return };
        if let Some((message, _, help)) = zone_problem(&value, x.stack.region.as_deref()) {
            x.error(r, &["availability_zone"], message, help);
        }
    }

    /// The block lies inside its VPC's and overlaps no other subnet of that
    /// VPC, when both are written out in the file.
    fn cross_check(&self, r: &Resource, x: &mut Cross<'_>) {
        // A zone written out (or from a variable or `${region}`) is in the
        // stack's region, when that is known.
        let az = &self.availability_zone;
        if !az.contains("${") && is_zone_name(az) {
            if let Some((message, label, help)) = zone_problem(az, x.stack.region.as_deref()) {
                x.checker(r).error("moor::subnet-zone", &["availability_zone"], message, label).help = Some(help);
            }
        }
        let Some(mine) = Cidr::parse(&self.cidr) else { return };
        let Some(vpc) = x.target(&self.vpc) else { return };
        let vpc_name = vpc.name.clone();
        if let Spec::Ec2Vpc(v) = &vpc.spec {
            if Cidr::parse(&v.cidr).is_some_and(|b| !b.contains(mine)) {
                let vpc_span = x.span_of(&vpc_name, &["cidr"]);
                let mut c = x.checker(r);
                let d = c.error(
                    "moor::subnet-cidr",
                    &["cidr"],
                    format!("subnet block `{}` is not inside VPC `{vpc_name}`'s block `{}`", self.cidr, v.cidr),
                    "outside the VPC",
                );
                if let Some(span) = vpc_span {
                    d.labels.push(crate::diag::Label { span, text: "the VPC's block".into() });
                }
                d.help = Some(format!("give the subnet a block inside `{}`", v.cidr));
                return;
            }
        }
        // Overlaps: each pair reported once, at the later subnet.
        let earlier = x.stack.resources.iter().take_while(|o| o.name != r.name).find_map(|o| match &o.spec {
            Spec::Ec2Subnet(s) if s.vpc == self.vpc => {
                Cidr::parse(&s.cidr).filter(|b| b.overlaps(mine)).map(|_| (o.name.clone(), s.cidr.clone()))
            }
            _ => None,
        });
        if let Some((other, block)) = earlier {
            let other_span = x.span_of(&other, &["cidr"]);
            let mut c = x.checker(r);
            let d = c.error(
                "moor::subnet-cidr",
                &["cidr"],
                format!("subnet block `{}` overlaps `{block}` of subnet `{other}` in the same VPC", self.cidr),
                "overlaps another subnet",
            );
            if let Some(span) = other_span {
                d.labels.push(crate::diag::Label { span, text: format!("`{other}`'s block") });
            }
            d.help = Some("the subnets of a VPC need blocks that do not overlap".into());
        }
    }
}

/// What a `vpc:` of the VPC kinds may name.
pub(crate) const VPC_KINDS: &[Kind] = &[Kind::Ec2Vpc, Kind::Ec2DefaultVpc, Kind::Ec2ExistingVpc];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_names_end_in_a_letter_after_the_region() {
        for ok in ["us-east-1a", "eu-west-2c", "us-west-2-lax-1a", "ap-southeast-1b"] {
            assert!(is_zone_name(ok), "{ok}");
        }
        for bad in ["us-east-1", "US-EAST-1A", "a", "us east 1a", "us-east-1ab", "subnet-d6410598a24830a6a"] {
            assert!(!is_zone_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_zone_belongs_to_the_region_it_starts_with() {
        for ok in ["us-east-1a", "us-east-1f"] {
            assert!(zone_problem(ok, Some("us-east-1")).is_none(), "{ok}");
        }
        assert!(zone_problem("us-west-2-lax-1a", Some("us-west-2")).is_none());
        assert!(zone_problem("eu-west-1a", None).is_none(), "no region: only the name is checked");
        for bad in ["eu-west-1a", "us-east-2a", "us-east-11a"] {
            let (message, ..) = zone_problem(bad, Some("us-east-1")).expect(bad);
            assert!(message.contains("not an availability zone of the stack's region `us-east-1`"), "{message}");
        }
        assert!(zone_problem("subnet-0abc", Some("us-east-1")).unwrap().0.contains("is not an availability zone name"));
    }
}
