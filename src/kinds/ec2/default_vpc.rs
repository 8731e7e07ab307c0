//! `ec2/default_vpc`: a lookup.

use crate::kinds::{Attr, KindSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The default VPC of the region and its default subnets, read only.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultVpc {}

impl KindSpec for DefaultVpc {
    const KIND: &'static str = "ec2/default_vpc";
    const LOOKUP: bool = true;
    const ID_IS_UNIQUE: bool = true;
    const ATTRIBUTES: &'static [Attr] = super::VPC_ATTRIBUTES;
    const DELETE_RANK: u8 = 6;
}
