//! `ec2/security_group` and the VPC lookups `ec2/default_vpc`, `ec2/existing_vpc`.

mod default_vpc;
mod existing_vpc;
pub mod reach;
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

/// Security group ids, as a load balancer's or a service's
/// `security_groups` takes them.
pub const SECURITY_GROUP_IDS: crate::kinds::Ids = crate::kinds::Ids {
    want: "security group",
    kinds: &[crate::kinds::Kind::Ec2SecurityGroup],
    attr: "id",
    example: "security group ids, such as `${app_sg.id}`",
};

/// Subnet ids, as a load balancer's or a service's `subnets` takes them:
/// a VPC lookup's `subnet_ids`.
pub const SUBNET_IDS: crate::kinds::Ids = crate::kinds::Ids {
    want: "subnet",
    kinds: &[],
    attr: "subnet_ids",
    example: "subnet ids, such as `${net.subnet_ids}`",
};
