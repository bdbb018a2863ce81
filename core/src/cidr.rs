//! Address ranges in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`), for the record server's
//! `--allow`: which peers may open a control connection.
//!
//! Parsing is strict, so that a typo is an error at start-up rather than a range that lets in
//! other peers than meant, or none: `ADDRESS/LENGTH` with the address as the standard library
//! reads it (IPv4 dotted quad without leading zeros, IPv6 without a zone) and the length in
//! decimal, without a sign, leading zeros or spaces, at most 32 (IPv4) or 128 (IPv6). The
//! address must be the range's first: `10.1.2.3/16` is refused (`10.1.0.0/16` was meant, or
//! `10.1.2.3/32`). An address alone is the one-host range (`/32`, `/128`).
//!
//! An IPv4 peer that reaches a dual-stack listener shows as an IPv4-mapped IPv6 address
//! (`::ffff:192.0.2.7`); it is matched as the IPv4 address it is, as well as the IPv6 address
//! it shows as.

use core::fmt;
use core::net::IpAddr;

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    len: u8,
}

/// Why a text is no range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// No IPv4 or IPv6 address before the `/`.
    Address,
    /// The length is not a decimal number within the address's bits.
    Length,
    /// The address has bits set past the length; the range that was probably meant.
    HostBits(Cidr),
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Address => f.write_str("not an IPv4 or IPv6 address"),
            CidrError::Length => {
                f.write_str("the prefix length is not 0-32 (IPv4) or 0-128 (IPv6)")
            }
            CidrError::HostBits(meant) => write!(
                f,
                "the address has bits set past the prefix length (the range is {meant})"
            ),
        }
    }
}

impl Cidr {
    /// The range `text` writes (see the module doc).
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let (address, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| CidrError::Address)?;
        let bits = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let len = match len {
            None => bits,
            Some(l) => {
                let digits = !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit());
                if !digits || (l.len() > 1 && l.starts_with('0')) {
                    return Err(CidrError::Length);
                }
                let n: u8 = l.parse().map_err(|_| CidrError::Length)?;
                if n > bits {
                    return Err(CidrError::Length);
                }
                n
            }
        };
        let cidr = Cidr { network, len };
        let first = Cidr {
            network: cidr.first(),
            len,
        };
        if first != cidr {
            return Err(CidrError::HostBits(first));
        }
        Ok(cidr)
    }

    /// The range's first address.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length: the bits of the address that every address of the range shares.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// `ip` is in the range (an IPv4-mapped IPv6 address also as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.holds(ip) || self.holds(ip.to_canonical())
    }

    fn holds(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = mask32(self.len);
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = mask128(self.len);
                u128::from(a) & mask == u128::from(n) & mask
            }
            _ => false,
        }
    }

    /// The network address with the host bits cleared.
    fn first(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(self.len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(self.len)).into()),
        }
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// `ADDRESS/LENGTH`.
impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

/// The peers allowed: in any of its ranges, or everyone when it has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    pub fn new(ranges: Vec<Cidr>) -> AllowList {
        AllowList(ranges)
    }

    /// True if `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|c| c.contains(ip))
    }

    /// The ranges (none: everyone is allowed).
    pub fn ranges(&self) -> &[Cidr] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_read_and_written_back() {
        for (text, written) in [
            ("192.0.2.0/24", "192.0.2.0/24"),
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("127.0.0.1/32", "127.0.0.1/32"),
            ("127.0.0.1", "127.0.0.1/32"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:0db8:0:0::/48", "2001:db8::/48"),
            ("::/0", "::/0"),
            ("::1", "::1/128"),
            ("fe80::/10", "fe80::/10"),
            ("::ffff:192.0.2.0/120", "::ffff:192.0.2.0/120"),
        ] {
            let c = Cidr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(c.to_string(), written);
        }
    }

    #[test]
    fn anything_loose_is_refused_with_its_reason() {
        for text in [
            "",
            "/24",
            "192.0.2",
            "192.0.2.0.0/24",
            "192.0.02.0/24",
            "192.0.2.256/32",
            " 192.0.2.0/24",
            "192.0.2.0 /24",
            "fe80::1%eth0/128",
            "example.com/24",
            "[::1]/128",
        ] {
            assert_eq!(Cidr::parse(text), Err(CidrError::Address), "{text:?}");
        }
        for text in [
            "192.0.2.0/",
            "192.0.2.0/33",
            "192.0.2.0/024",
            "192.0.2.0/+24",
            "192.0.2.0/-1",
            "192.0.2.0/24 ",
            "192.0.2.0/2a",
            "192.0.2.0/1000",
            "192.0.2.0/24/8",
            "2001:db8::/129",
            "2001:db8::/00",
        ] {
            assert_eq!(Cidr::parse(text), Err(CidrError::Length), "{text:?}");
        }
        let e = Cidr::parse("10.1.2.3/16").unwrap_err();
        assert_eq!(e, CidrError::HostBits(Cidr::parse("10.1.0.0/16").unwrap()));
        assert_eq!(
            e.to_string(),
            "the address has bits set past the prefix length (the range is 10.1.0.0/16)"
        );
        assert!(matches!(
            Cidr::parse("2001:db8::1/64"),
            Err(CidrError::HostBits(_))
        ));
        assert!(matches!(
            Cidr::parse("0.0.0.1/0"),
            Err(CidrError::HostBits(_))
        ));
    }

    #[test]
    fn membership_follows_the_prefix_bit_by_bit() {
        let c = Cidr::parse("192.0.2.128/25").unwrap();
        assert!(c.contains(ip("192.0.2.128")));
        assert!(c.contains(ip("192.0.2.255")));
        assert!(!c.contains(ip("192.0.2.127")));
        assert!(!c.contains(ip("192.0.3.128")));
        let host = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(host.contains(ip("127.0.0.1")));
        assert!(!host.contains(ip("127.0.0.2")));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!(!all.contains(ip("2001:db8::1")));
        let v6 = Cidr::parse("2001:db8:ab00::/40").unwrap();
        assert!(v6.contains(ip("2001:db8:abff:ffff::1")));
        assert!(!v6.contains(ip("2001:db8:ac00::")));
        assert!(!v6.contains(ip("192.0.2.1")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(!Cidr::parse("::1").unwrap().contains(ip("::2")));
    }

    #[test]
    fn an_ipv4_peer_of_a_dual_stack_listener_is_matched_as_ipv4() {
        let v4 = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(v4.contains(ip("::ffff:192.0.2.7")));
        assert!(!v4.contains(ip("::ffff:192.0.3.7")));
        // An IPv4-compatible (not mapped) address is an IPv6 address.
        assert!(!v4.contains(ip("::192.0.2.7")));
        let mapped = Cidr::parse("::ffff:192.0.2.0/120").unwrap();
        assert!(mapped.contains(ip("::ffff:192.0.2.7")));
    }

    #[test]
    fn no_ranges_allow_everyone_and_some_allow_only_theirs() {
        assert!(AllowList::default().allows(ip("203.0.113.9")));
        let list = AllowList::new(vec![
            Cidr::parse("127.0.0.1/32").unwrap(),
            Cidr::parse("2001:db8::/32").unwrap(),
        ]);
        assert!(list.allows(ip("127.0.0.1")));
        assert!(list.allows(ip("::ffff:127.0.0.1")));
        assert!(list.allows(ip("2001:db8::5")));
        assert!(!list.allows(ip("127.0.0.2")));
        assert!(!list.allows(ip("::1")));
        assert_eq!(list.ranges().len(), 2);
    }
}
