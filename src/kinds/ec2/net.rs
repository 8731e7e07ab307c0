//! IPv4 CIDR blocks and the rules the VPC kinds share about them and about
//! their `Name` tag.

use crate::model::check::Checker;
use crate::model::common::Tags;

/// An IPv4 CIDR block: its first address and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: u32,
    pub len: u8,
}

impl Cidr {
    /// `a.b.c.d/n`, or `None`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = s.split_once('/')?;
        let addr: std::net::Ipv4Addr = addr.parse().ok()?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        Some(Cidr { addr: u32::from(addr), len })
    }

    fn mask(self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// Whether the address is the block's first (no host bits set).
    pub fn is_network(self) -> bool {
        self.addr & !self.mask() == 0
    }

    /// The block's network address, as `a.b.c.d/n`.
    pub fn network(self) -> String {
        format!("{}/{}", std::net::Ipv4Addr::from(self.addr & self.mask()), self.len)
    }

    /// Whether every address of `other` is in this block.
    pub fn contains(self, other: Cidr) -> bool {
        other.len >= self.len && (other.addr & self.mask()) == (self.addr & self.mask())
    }

    /// Whether the two blocks share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

/// Checks the CIDR block of a VPC or subnet at `field`: an IPv4 block
/// written as its network address, sized /16 to /28 as EC2 requires.
/// `what` is "VPC" or "subnet". A `${…}` value is checked at apply.
pub fn check_block(c: &mut Checker, field: &str, value: &str, what: &str) -> Option<Cidr> {
    if value.contains("${") {
        return None;
    }
    let Some(cidr) = Cidr::parse(value) else {
        c.error("moor::vpc-cidr", &[field], format!("`{value}` is not an IPv4 CIDR block"), "expected a.b.c.d/n")
            .help = Some(format!("a {what} takes a block such as `10.0.0.0/16`"));
        return None;
    };
    if !(16..=28).contains(&cidr.len) {
        c.error(
            "moor::vpc-cidr",
            &[field],
            format!("a {what} block must be /16 to /28, `{value}` is /{}", cidr.len),
            "size out of range",
        )
        .help = Some("EC2 allows blocks from /16 (65,536 addresses) to /28 (16 addresses)".into());
        return None;
    }
    if !cidr.is_network() {
        c.error(
            "moor::vpc-cidr",
            &[field],
            format!("`{value}` has host bits set"),
            format!("did you mean `{}`?", cidr.network()),
        )
        .help = Some(format!("write the block by its first address, `{}`", cidr.network()));
        return None;
    }
    Some(cidr)
}

/// The `Name` tag is the resource's `name:`, not one of its `tags`.
pub fn check_no_name_tag(c: &mut Checker, tags: &Tags) {
    if tags.contains_key("Name") {
        c.error("moor::vpc-name-tag", &["tags", "Name"], "the `Name` tag is set by `name:`", "use `name:`").help =
            Some("move the value to `name: …`; moor sets the `Name` tag from it".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_contain_and_overlap_by_their_prefix() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        assert!(vpc.contains(Cidr::parse("10.0.1.0/24").unwrap()));
        assert!(vpc.contains(vpc));
        assert!(!vpc.contains(Cidr::parse("10.1.0.0/24").unwrap()));
        assert!(!vpc.contains(Cidr::parse("10.0.0.0/8").unwrap()));
        assert!(Cidr::parse("10.0.0.0/8").unwrap().overlaps(vpc));
        assert!(!Cidr::parse("10.0.1.0/24").unwrap().overlaps(Cidr::parse("10.0.2.0/24").unwrap()));
        assert!(!Cidr::parse("10.0.0.1/16").unwrap().is_network());
        assert_eq!(Cidr::parse("10.0.0.1/16").unwrap().network(), "10.0.0.0/16");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(vpc));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/16", "x/8", "::/0"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }
}
