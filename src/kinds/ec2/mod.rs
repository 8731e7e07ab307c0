//! `ec2/security_group`, the VPC lookups `ec2/default_vpc`, `ec2/existing_vpc`,
//! and a VPC of the stack's own: `ec2/vpc`, `ec2/subnet`,
//! `ec2/internet_gateway`, `ec2/route_table`, `ec2/nat_gateway`.

mod default_vpc;
mod existing_vpc;
mod internet_gateway;
mod nat_gateway;
pub mod net;
pub mod reach;
mod route_table;
mod security_group;
mod subnet;
mod vpc;

pub use default_vpc::*;
pub use existing_vpc::*;
pub use internet_gateway::*;
pub use nat_gateway::*;
pub use route_table::*;
pub use security_group::*;
pub use subnet::*;
pub use vpc::*;

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
    also: &[],
    example: "security group ids, such as `${app_sg.id}`",
};

/// Subnet ids, as a load balancer's or a service's `subnets` takes them:
/// a VPC lookup's `subnet_ids`, or an `ec2/subnet`'s `id`.
pub const SUBNET_IDS: crate::kinds::Ids = crate::kinds::Ids {
    want: "subnet",
    kinds: &[],
    attr: "subnet_ids",
    also: &[(crate::kinds::Kind::Ec2Subnet, "id")],
    example: "subnet ids, such as `${net.subnet_ids}` or `${public_a.id}`",
};
