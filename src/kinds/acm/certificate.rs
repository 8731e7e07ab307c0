//! `acm/certificate`.

use crate::kinds::{path, Attr, Kind, KindSpec, RefRule};
use crate::model::check::Checker;
use crate::model::common::Tags;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A public ACM certificate, validated through DNS: moor requests it, puts
/// its validation records (`CNAME`) in the hosted zone `zone`, and waits
/// until it is issued, so a listener that uses it (`certificate:
/// ${cert.arn}`) is made only once it can be. Its delete removes the
/// certificate, once no listener uses it, and then its validation records.
///
/// `moor import` takes the certificate's ARN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// The domain name, such as `app.example.com` or `*.example.com`.
    /// Changing it replaces the certificate.
    pub domain: String,
    /// More names the certificate covers. Changing them replaces the
    /// certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alternative_names: Vec<String>,
    /// How ACM checks that the names are yours: `dns` (the only way moor
    /// supports: validation records in `zone`).
    #[serde(default)]
    pub validation: Validation,
    /// The hosted zone that holds the names, `${zone.id}`: moor writes the
    /// validation records there. Changing it moves them.
    pub zone: String,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Validation {
    #[default]
    Dns,
}

/// What a hosted zone id field takes.
pub const ZONE_KINDS: &[Kind] = &[Kind::Route53ExistingZone];

impl KindSpec for Certificate {
    const KIND: &'static str = "acm/certificate";
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("arn", "certificate ARN, for a listener's `certificate`"),
        Attr::string("domain", "the certificate's domain name"),
        Attr::string("zone_id", "the hosted zone that holds its validation records"),
    ];
    const REPLACE_ON: &'static [&'static str] = &["domain", "subject_alternative_names"];
    // After the listeners that use it.
    const DELETE_RANK: u8 = 2;
    const IN_USE_BLOCKS_DELETE: bool = true;

    fn tags(&self) -> Option<&Tags> {
        Some(&self.tags)
    }

    fn reference_rules(&self) -> Vec<RefRule<'_>> {
        vec![RefRule::Kind { path: path(&["zone"]), value: &self.zone, kinds: ZONE_KINDS, what: "a hosted zone" }]
    }

    fn validate(&self, c: &mut Checker) {
        use crate::kinds::route53::check_domain;
        check_domain(c, &["domain"], "certificate domain", &self.domain, true);
        let mut seen = std::collections::BTreeSet::from([self.domain.as_str()]);
        for (i, san) in self.subject_alternative_names.iter().enumerate() {
            let idx = i.to_string();
            check_domain(c, &["subject_alternative_names", &idx], "certificate name", san, true);
            if !san.contains("${") && !seen.insert(san) {
                c.error(
                    "moor::certificate-names",
                    &["subject_alternative_names", &idx],
                    format!("`{san}` is named twice"),
                    "named before",
                )
                .help = Some("the domain name is covered already; list each other name once".into());
            }
        }
        // ACM's limit, unless raised for the account.
        if self.subject_alternative_names.len() + 1 > 10 {
            c.error(
                "moor::certificate-names",
                &["subject_alternative_names"],
                format!(
                    "a certificate covers at most 10 names by default, {} given",
                    self.subject_alternative_names.len() + 1
                ),
                "too many names",
            )
            .help = Some("use a wildcard (`*.example.com`), or several certificates".into());
        }
    }
}
