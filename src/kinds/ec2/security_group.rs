//! `ec2/security_group`.

use crate::kinds::{path, Attr, Kind, KindSpec, Naming, RefRule};
use crate::model::check::{Checker, NameRule};
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A VPC security group.
///
/// `moor import` takes the group's id (`sg-…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// Group name; defaults to `<stack>-<logical name>`. Changing it replaces the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Set at creation; changing it replaces the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// VPC id, usually `${net.vpc_id}`.
    pub vpc: String,
    /// Inbound rules. None by default; removing the last one revokes it.
    #[serde(default)]
    pub ingress: Vec<Rule>,
    /// Outbound rules. When not given, all outbound traffic is allowed (the AWS
    /// default) and moor leaves outbound rules alone, also when an `egress`
    /// list is later removed from the file; to go back to allow-all, write
    /// `egress: [{ protocol: all, cidr: 0.0.0.0/0 }]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<Rule>>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

/// One rule: a protocol, a port or range, and exactly one kind of peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `tcp` (the default), `udp`, `icmp` or `all`.
    #[serde(default)]
    pub protocol: Protocol,
    /// A single port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// A port range, instead of `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<PortRange>,
    /// IPv4 CIDR blocks (`cidr` for one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<String>,
    /// IPv6 CIDR blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_cidrs: Vec<String>,
    /// Another security group, usually `${lb_sg.id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PortRange {
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Icmp,
    All,
}

pub const NAME: NameRule = NameRule {
    what: "security group name",
    max: 255,
    charset: |c| c.is_ascii() && !c.is_ascii_control(),
    charset_text: "ASCII letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
    extra: Some(|n| n.to_ascii_lowercase().starts_with("sg-").then_some("may not start with `sg-`")),
};

fn is_cidr(s: &str, v6: bool) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    if v6 {
        addr.parse::<std::net::Ipv6Addr>().is_ok() && len <= 128
    } else {
        addr.parse::<std::net::Ipv4Addr>().is_ok() && len <= 32
    }
}

impl SecurityGroup {
    /// Its ingress rules in the shape [`super::reach`] reads.
    pub fn ingress_values(&self) -> Vec<serde_json::Value> {
        self.ingress.iter().filter_map(|r| serde_json::to_value(r).ok()).collect()
    }
}

impl KindSpec for SecurityGroup {
    const KIND: &'static str = "ec2/security_group";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "group id, `sg-…`"),
        Attr::string("name", "group name"),
        Attr::string("arn", "group ARN"),
        Attr::string("vpc_id", "VPC of the group"),
    ];
    const NAMING: Option<Naming> = Some(Naming::NAMED);
    const REPLACE_ON: &'static [&'static str] = &["name", "description", "vpc"];
    const DELETE_RANK: u8 = 3;

    fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.vpc)
    }

    // A rule that names a group (`source_group`) is late: on AWS a group
    // is made first and its rules are authorised after, by calls of their
    // own, so a rule may name its own group or a group whose rules name this
    // one, which as ordinary references would be a cycle. A separate rule
    // kind would do the same, but then a group's rules would be split
    // between two resources that each think they own them (the group
    // revoking what the rule resource authorised); as late references the
    // group keeps owning all of its rules. Destroy revokes such rules of the
    // stack's groups before it deletes the group they name (see the
    // provider's delete): AWS refuses to delete a group another group's
    // rule names (DependencyViolation).
    fn late_refs(&self) -> Vec<&str> {
        let egress = self.egress.iter().flatten();
        self.ingress
            .iter()
            .chain(egress)
            .filter_map(|r| r.source_group.as_deref())
            .filter(|s| s.contains("${"))
            .collect()
    }

    fn strip_unresolved_late(&self, fields: &mut serde_json::Map<String, serde_json::Value>) {
        for dir in ["ingress", "egress"] {
            if let Some(serde_json::Value::Array(rules)) = fields.get_mut(dir) {
                rules.retain(|r| !r.get("source_group").and_then(|s| s.as_str()).is_some_and(|s| s.contains("${")));
            }
        }
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        let mut out = Vec::new();
        for (dir, rules) in [("ingress", Some(&self.ingress)), ("egress", self.egress.as_ref())] {
            for (i, rule) in rules.into_iter().flatten().enumerate() {
                if let Some(src) = &rule.source_group {
                    out.push(RefRule::Kind {
                        path: path(&[dir, &i.to_string(), "source_group"]),
                        value: src,
                        kinds: &[Kind::Ec2SecurityGroup],
                        what: "a security group",
                    });
                }
            }
        }
        out
    }

    fn validate(&self, c: &mut Checker) {
        if let Some(n) = &self.name {
            NAME.check(c, &["name"], n);
        }
        if let Some(d) = &self.description {
            if d.len() > 255 {
                c.error(
                    "moor::sg-description",
                    &["description"],
                    "description is longer than 255 characters",
                    "too long",
                );
            }
        }
        for (dir, rules) in [("ingress", Some(&self.ingress)), ("egress", self.egress.as_ref())] {
            for (i, r) in rules.into_iter().flatten().enumerate() {
                check_rule(c, dir, &i.to_string(), r);
            }
        }
    }
}

fn check_rule(c: &mut Checker, dir: &str, idx: &str, r: &Rule) {
    let here = [dir, idx];
    let peers = usize::from(r.cidr.is_some() || !r.cidrs.is_empty())
        + usize::from(!r.ipv6_cidrs.is_empty())
        + usize::from(r.source_group.is_some());
    if peers == 0 {
        c.error(
            "moor::sg-rule-peer",
            &here,
            format!("{dir} rule has no peer"),
            "no cidr, ipv6_cidrs or source_group",
        )
        .help = Some("set `cidr: 0.0.0.0/0` for anyone, or `source_group: ${other_sg.id}`".into());
    } else if r.source_group.is_some() && peers > 1 {
        c.error(
            "moor::sg-rule-peer",
            &[dir, idx, "source_group"],
            format!("{dir} rule mixes a source group with CIDRs"),
            "write two rules instead",
        );
    }
    for (j, cidr) in r.cidr.iter().chain(&r.cidrs).enumerate() {
        if !cidr.contains("${") && !is_cidr(cidr, false) {
            let path: Vec<String> = if r.cidr.is_some() && j == 0 {
                vec![dir.into(), idx.into(), "cidr".into()]
            } else {
                let k = j - usize::from(r.cidr.is_some());
                vec![dir.into(), idx.into(), "cidrs".into(), k.to_string()]
            };
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            c.error("moor::sg-cidr", &path, format!("`{cidr}` is not an IPv4 CIDR block"), "expected a.b.c.d/n").help =
                Some("0.0.0.0/0 means anywhere".into());
        }
    }
    for (j, cidr) in r.ipv6_cidrs.iter().enumerate() {
        if !cidr.contains("${") && !is_cidr(cidr, true) {
            c.error(
                "moor::sg-cidr",
                &[dir, idx, "ipv6_cidrs", &j.to_string()],
                format!("`{cidr}` is not an IPv6 CIDR block"),
                "expected addr/n, like ::/0",
            );
        }
    }
    match r.protocol {
        Protocol::All => {
            if r.port.is_some() || r.ports.is_some() {
                c.error("moor::sg-ports", &here, "protocol `all` covers every port", "drop `port`/`ports`");
            }
        }
        Protocol::Icmp => {}
        Protocol::Tcp | Protocol::Udp => match (r.port, &r.ports) {
            (Some(_), Some(_)) => {
                c.error("moor::sg-ports", &[dir, idx, "ports"], "a rule has either `port` or `ports`", "both given")
                    .help =
                    Some("use `port: 80` for one port, or `ports: { from: 8000, to: 8100 }` for a range".into());
            }
            (None, None) => {
                c.error("moor::sg-ports", &here, format!("{dir} rule needs `port` or `ports`"), "no port").help =
                    Some("use `protocol: all` for all traffic".into());
            }
            (Some(p), None) => c.port(&[dir, idx, "port"], p),
            (None, Some(range)) => {
                c.port(&[dir, idx, "ports", "from"], range.from);
                c.port(&[dir, idx, "ports", "to"], range.to);
                if range.from > range.to {
                    c.error(
                        "moor::sg-ports",
                        &[dir, idx, "ports"],
                        format!("port range {}–{} is reversed", range.from, range.to),
                        "from > to",
                    )
                    .help = Some(format!("write `ports: {{ from: {}, to: {} }}`", range.to, range.from));
                }
            }
        },
    }
}
