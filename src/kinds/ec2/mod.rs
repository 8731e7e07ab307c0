//! `ec2/security_group` and the VPC lookups `ec2/default_vpc`, `ec2/existing_vpc`.

mod default_vpc;
mod existing_vpc;
mod security_group;

pub use default_vpc::*;
pub use existing_vpc::*;
pub use security_group::*;

/// What a VPC lookup exports.
pub(crate) const VPC_ATTRIBUTES: &[crate::kinds::Attr] = &[
    crate::kinds::Attr::string("vpc_id", "VPC id"),
    crate::kinds::Attr::string("cidr_block", "primary IPv4 CIDR block"),
    crate::kinds::Attr::list("subnet_ids", "subnet ids (the default subnets for the default VPC)"),
];
