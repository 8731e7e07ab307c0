//! `route53/existing_zone`: a lookup.

use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An existing Route 53 hosted zone, found by its domain name; read only.
/// Its `id` is what a certificate's `zone` and a record's `zone` take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingZone {
    /// The zone's domain name, such as `example.com` (no final dot).
    pub name: String,
    /// Find the private zone of that name rather than the public one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
}

impl KindSpec for ExistingZone {
    const KIND: &'static str = "route53/existing_zone";
    const LOOKUP: bool = true;
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("id", "hosted zone id (`Z…`, without `/hostedzone/`), for a record's or a certificate's `zone`"),
        Attr::string("name", "the zone's domain name, without the final dot"),
    ];
    const DELETE_RANK: u8 = 6;

    fn given_name(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn validate(&self, c: &mut Checker) {
        super::check_domain(c, &["name"], "hosted zone name", &self.name, false);
    }
}
