//! `acm/existing_certificate`: a lookup.

use crate::kinds::{Attr, KindSpec};
use crate::model::check::Checker;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An existing ACM certificate, found by its domain name: the most recently
/// issued of the `ISSUED` certificates whose domain name is `domain`; read
/// only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExistingCertificate {
    /// The certificate's domain name, such as `example.com` or `*.example.com`.
    pub domain: String,
}

impl KindSpec for ExistingCertificate {
    const KIND: &'static str = "acm/existing_certificate";
    const LOOKUP: bool = true;
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = &[
        Attr::string("arn", "certificate ARN, for a listener's `certificate`"),
        Attr::string("domain", "the certificate's domain name"),
    ];
    const DELETE_RANK: u8 = 6;

    fn given_name(&self) -> Option<&str> {
        Some(&self.domain)
    }

    fn validate(&self, c: &mut Checker) {
        crate::kinds::route53::check_domain(c, &["domain"], "certificate domain", &self.domain, true);
    }
}
