//! Failed logins, slowed. The rule:
//!
//! 1. Per (account, address): the first [`FREE_FAILURES`] failures cost nothing; after the
//!    n-th failure beyond them, that account cannot be tried from that address for
//!    2^(n-1) s (1 s, 2 s, 4 s, …, at most [`MAX_DELAY_MS`]). A success there clears it; a pair
//!    with no failure for [`FORGET_MS`] is forgotten.
//! 2. Per address: at most [`ADDRESS_BUDGET`] failures (any accounts) in a window of
//!    [`ADDRESS_WINDOW_MS`] from its first failure; past that the address may try nothing
//!    until the window ends.
//!
//! An address is an IPv4 address, or the /64 of an IPv6 address (one host owns a /64). No rule
//! counts failures of an account across addresses, so failures from one address never delay
//! the same account from another: an attacker cannot lock the admin out. Memory is bounded:
//! each table holds at most [`MAX_ENTRIES`]; when full, the entry whose last failure is oldest
//! goes. Time is a parameter (Unix ms).

use std::collections::HashMap;
use std::net::IpAddr;

pub const FREE_FAILURES: u32 = 3;
pub const MAX_DELAY_MS: u64 = 5 * 60 * 1000;
pub const FORGET_MS: u64 = 60 * 60 * 1000;
pub const ADDRESS_BUDGET: u32 = 30;
pub const ADDRESS_WINDOW_MS: u64 = 15 * 60 * 1000;
pub const MAX_ENTRIES: usize = 10_000;
/// Longer account names are cut to this many bytes for the table's key.
const MAX_NAME: usize = 64;

/// Where failures are counted from.
fn source(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6([s[0], s[1], s[2], s[3], 0, 0, 0, 0].into())
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    last_ms: u64,
    until_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Address {
    failures: u32,
    window_start_ms: u64,
    last_ms: u64,
}

/// The failures seen, by pair and by address.
#[derive(Debug, Default)]
pub struct Throttle {
    pairs: HashMap<(String, IpAddr), Pair>,
    addresses: HashMap<IpAddr, Address>,
}

fn key(account: &str, addr: IpAddr) -> (String, IpAddr) {
    let mut end = account.len().min(MAX_NAME);
    while !account.is_char_boundary(end) {
        end -= 1;
    }
    (account[..end].to_string(), source(addr))
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// `Ok` if `account` may be tried from `addr` now; else the milliseconds to wait.
    pub fn check(&self, account: &str, addr: IpAddr, now_ms: u64) -> Result<(), u64> {
        let mut wait = 0;
        if let Some(a) = self.addresses.get(&source(addr)) {
            let end = a.window_start_ms.saturating_add(ADDRESS_WINDOW_MS);
            if a.failures >= ADDRESS_BUDGET && now_ms < end {
                wait = end - now_ms;
            }
        }
        if let Some(p) = self.pairs.get(&key(account, addr)) {
            if now_ms < p.until_ms {
                wait = wait.max(p.until_ms - now_ms);
            }
        }
        if wait == 0 {
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// A failed login of `account` from `addr`.
    pub fn failed(&mut self, account: &str, addr: IpAddr, now_ms: u64) {
        let k = key(account, addr);
        if !self.pairs.contains_key(&k) && self.pairs.len() >= MAX_ENTRIES {
            self.forget(now_ms);
            evict(&mut self.pairs, |p| p.last_ms);
        }
        let p = self.pairs.entry(k).or_insert(Pair {
            failures: 0,
            last_ms: now_ms,
            until_ms: 0,
        });
        if now_ms.saturating_sub(p.last_ms) >= FORGET_MS {
            p.failures = 0;
        }
        p.failures = p.failures.saturating_add(1);
        p.last_ms = now_ms;
        if p.failures > FREE_FAILURES {
            let n = (p.failures - FREE_FAILURES - 1).min(20);
            p.until_ms = now_ms.saturating_add((1000u64 << n).min(MAX_DELAY_MS));
        }
        let s = source(addr);
        if !self.addresses.contains_key(&s) && self.addresses.len() >= MAX_ENTRIES {
            self.forget(now_ms);
            evict(&mut self.addresses, |a| a.last_ms);
        }
        let a = self.addresses.entry(s).or_insert(Address {
            failures: 0,
            window_start_ms: now_ms,
            last_ms: now_ms,
        });
        if now_ms >= a.window_start_ms.saturating_add(ADDRESS_WINDOW_MS) {
            a.failures = 0;
            a.window_start_ms = now_ms;
        }
        a.failures = a.failures.saturating_add(1);
        a.last_ms = now_ms;
    }

    /// A successful login of `account` from `addr`: that pair starts again.
    pub fn succeeded(&mut self, account: &str, addr: IpAddr) {
        self.pairs.remove(&key(account, addr));
    }

    /// Drops what no longer slows anything.
    fn forget(&mut self, now_ms: u64) {
        self.pairs
            .retain(|_, p| now_ms.saturating_sub(p.last_ms) < FORGET_MS || now_ms < p.until_ms);
        self.addresses
            .retain(|_, a| now_ms < a.window_start_ms.saturating_add(ADDRESS_WINDOW_MS));
    }

    /// Entries held (pairs, addresses).
    pub fn len(&self) -> (usize, usize) {
        (self.pairs.len(), self.addresses.len())
    }
}

fn evict<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, V>, last: impl Fn(&V) -> u64) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    if let Some(k) = map
        .iter()
        .min_by_key(|(_, v)| last(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_pair_waits_longer_after_each_failure_past_the_free_ones() {
        let mut t = Throttle::new();
        let a = ip("192.0.2.7");
        let mut now = 1_000_000;
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.check("admin", a, now), Ok(()));
            t.failed("admin", a, now);
        }
        assert_eq!(t.check("admin", a, now), Ok(()));
        t.failed("admin", a, now);
        assert_eq!(t.check("admin", a, now), Err(1000));
        now += 1000;
        assert_eq!(t.check("admin", a, now), Ok(()));
        t.failed("admin", a, now);
        assert_eq!(t.check("admin", a, now), Err(2000));
        for _ in 0..10 {
            t.failed("admin", a, now);
        }
        assert_eq!(t.check("admin", a, now), Err(MAX_DELAY_MS));
        t.succeeded("admin", a);
        assert_eq!(
            t.check("admin", a, now),
            Ok(()),
            "15 failures: within the budget"
        );
        for _ in 0..15 {
            t.failed("other", a, now);
        }
        assert_eq!(t.check("admin", a, now), Err(ADDRESS_WINDOW_MS - 1000));
    }

    #[test]
    fn failures_from_one_address_never_slow_the_account_elsewhere() {
        let mut t = Throttle::new();
        let attacker = ip("198.51.100.9");
        let now = 5_000;
        for _ in 0..1000 {
            t.failed("admin", attacker, now);
        }
        assert!(t.check("admin", attacker, now).is_err());
        assert!(
            t.check("someone", attacker, now).is_err(),
            "the address budget"
        );
        assert_eq!(t.check("admin", ip("192.0.2.1"), now), Ok(()));
        assert_eq!(t.check("admin", ip("2001:db8::1"), now), Ok(()));
    }

    #[test]
    fn an_address_has_a_budget_across_accounts_and_ipv6_counts_by_64() {
        let mut t = Throttle::new();
        let now = 0;
        for i in 0..ADDRESS_BUDGET {
            let a = ip(&format!("2001:db8:0:1::{:x}", i + 1));
            assert_eq!(t.check(&format!("user{i}"), a, now), Ok(()));
            t.failed(&format!("user{i}"), a, now);
        }
        assert_eq!(
            t.check("fresh", ip("2001:db8:0:1::ffff"), now + 1),
            Err(ADDRESS_WINDOW_MS - 1)
        );
        assert_eq!(t.check("fresh", ip("2001:db8:0:2::1"), now), Ok(()));
        assert_eq!(
            t.check("fresh", ip("2001:db8:0:1::1"), ADDRESS_WINDOW_MS),
            Ok(())
        );
    }

    #[test]
    fn the_tables_stay_bounded() {
        let mut t = Throttle::new();
        for i in 0..(MAX_ENTRIES as u32 + 50) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failed("admin", a, u64::from(i));
        }
        let (pairs, addresses) = t.len();
        assert!(pairs <= MAX_ENTRIES && addresses <= MAX_ENTRIES);
    }
}
