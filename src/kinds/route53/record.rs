//! `route53/record`.

use crate::kinds::{path, Attr, KindSpec, RefRule};
use crate::model::check::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Route 53 record set: an alias to a load balancer (`A`/`AAAA`), or
/// `CNAME`/`TXT` values. Route 53 records carry no tags: moor knows its
/// records by its state record alone. A record that exists without one
/// (made by hand, by another tool, or by moor before its state record was
/// lost) is never changed or deleted until `moor import` takes it over.
///
/// `moor import` takes the record set as `<zone id>/<name>/<type>`, such as
/// `Z0123456789/www.example.com/CNAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The hosted zone's id, `${zone.id}`. Changing it replaces the record.
    pub zone: String,
    /// The record's full name, such as `app.example.com` (lowercase, no
    /// final dot); changed in place.
    pub name: String,
    /// `A`, `AAAA`, `CNAME` or `TXT`; changed in place.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// For `A`/`AAAA`: answer with a load balancer's addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Alias>,
    /// The values, for a record without `alias`: one host name for `CNAME`,
    /// addresses for `A`/`AAAA`, texts (without quotes) for `TXT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Seconds resolvers may cache the values (default 300); not for an alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
}

/// The target of an alias record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    /// The target's DNS name, `${alb.dns_name}`.
    pub name: String,
    /// The target's canonical hosted zone id, `${alb.zone_id}`.
    pub zone_id: String,
    /// Answer only while the target is healthy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub evaluate_target_health: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
    #[serde(rename = "CNAME")]
    Cname,
    #[serde(rename = "TXT")]
    Txt,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Txt => "TXT",
        }
    }

    pub fn parse(s: &str) -> Option<RecordType> {
        [RecordType::A, RecordType::Aaaa, RecordType::Cname, RecordType::Txt].into_iter().find(|t| t.as_str() == s)
    }
}

/// The TTL of a record whose file sets none.
pub const DEFAULT_TTL: u32 = 300;

impl KindSpec for Record {
    const KIND: &'static str = "route53/record";
    /// Route 53 gives a record set no id of its own: moor's id is
    /// `<zone>/<name>/<type>`, and the state record is what proves a record
    /// set is moor's (it has no tags). A record set of that name and type
    /// that the record names is taken as moor's.
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] =
        &[Attr::string("name", "the record's full name"), Attr::string("fqdn", "the record's full name, as `name`")];
    const REPLACE_ON: &'static [&'static str] = &["zone"];
    // Before the load balancers it points at.
    const DELETE_RANK: u8 = 1;

    fn identified_by(&self) -> Vec<&str> {
        crate::model::common::refs_in(&self.zone)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        vec![RefRule::Kind {
            path: path(&["zone"]),
            value: &self.zone,
            kinds: crate::kinds::acm::ZONE_KINDS,
            what: "a hosted zone",
        }]
    }

    fn validate(&self, c: &mut Checker) {
        super::check_domain(c, &["name"], "record name", &self.name, true);
        let t = self.record_type.as_str();
        match (&self.alias, self.values.is_empty()) {
            (Some(_), false) => {
                c.error(
                    "moor::record-values",
                    &["values"],
                    "a record has either `alias` or `values`",
                    "beside `alias`",
                )
                .help = Some("an alias answers with its target's addresses; remove `values`".into());
            }
            (None, true) => {
                c.error(
                    "moor::record-values",
                    &[],
                    format!("{} {t} record needs `values`", crate::text::article(t)),
                    "no `values`",
                )
                .help = Some(match self.record_type {
                    RecordType::A | RecordType::Aaaa => {
                        "give `values: [<address>]`, or `alias: { name: ${alb.dns_name}, zone_id: ${alb.zone_id} }`"
                            .into()
                    }
                    _ => "give `values: [...]`".into(),
                });
            }
            _ => {}
        }
        if self.alias.is_some() {
            if matches!(self.record_type, RecordType::Cname | RecordType::Txt) {
                c.error(
                    "moor::record-alias",
                    &["alias"],
                    format!("{} {t} record cannot be an alias", crate::text::article(t)),
                    "alias",
                )
                .help = Some("use `type: A` (or `AAAA`) for an alias to a load balancer".into());
            }
            if self.ttl.is_some() {
                c.error("moor::record-alias", &["ttl"], "an alias record has no TTL", "beside `alias`").help =
                    Some("Route 53 uses the target's TTL; remove `ttl`".into());
            }
        }
        if self.record_type == RecordType::Cname && self.values.len() > 1 {
            c.error(
                "moor::record-values",
                &["values"],
                format!("a CNAME record has one value, {} given", self.values.len()),
                "more than one",
            );
        }
        for (i, v) in self.values.iter().enumerate() {
            if v.contains("${") {
                continue;
            }
            let idx = i.to_string();
            let path = ["values", idx.as_str()];
            let bad = match self.record_type {
                RecordType::A => v.parse::<std::net::Ipv4Addr>().is_err().then_some("not an IPv4 address"),
                RecordType::Aaaa => v.parse::<std::net::Ipv6Addr>().is_err().then_some("not an IPv6 address"),
                RecordType::Cname => super::domain_problem(v, false),
                RecordType::Txt => (v.len() > 255).then_some("longer than 255 characters"),
            };
            if let Some(why) = bad {
                c.error(
                    "moor::record-values",
                    &path,
                    format!("`{}` is not a valid {t} value", crate::text::abbreviate(v)),
                    why,
                );
            }
        }
        if let Some(ttl) = self.ttl {
            c.range(&["ttl"], "ttl", ttl.into(), 0, 2_147_483_647);
        }
    }
}
