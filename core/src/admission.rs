//! The record server's count of live sessions, sans-IO: which ids run, and how many sessions
//! each phone address and each device holds, against the server's limits.
//!
//! A session is live from its admission until its release, whether or not its media has
//! started. A start is refused, in this order, when its id runs already (`duplicate id`), its
//! address holds `per_address` sessions (`address_limit`), its device holds `per_device`
//! (`device_limit`), or the server holds `sessions` (`session limit`). Each map holds only the
//! live sessions' entries, so memory is bounded by the session limit whatever the peers send.
//!
//! Addresses are counted as [`IpAddr::to_canonical`] gives them (an IPv4 phone is one address
//! whether a listener sees it as IPv4 or IPv4-mapped IPv6); devices by [`device_key`].

use crate::mac::Mac;
use crate::net_server::AdmitRefusal;
use core::net::IpAddr;
use std::collections::HashMap;

/// How many sessions may be live at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// In all (`--max-sessions`).
    pub sessions: usize,
    /// From one phone address (`--max-sessions-per-address`).
    pub per_address: usize,
    /// Of one device (`--max-sessions-per-device`).
    pub per_device: usize,
}

/// The key a start's `device` is counted under: its [`Mac`] written the one way, so that
/// `00:15:65:aa:bb:cc` and `001565AABBCC` are one device; a device field that is no MAC (the
/// server accepts up to 32 hex digits with separators) is counted as its hex digits in upper
/// case.
pub fn device_key(device: &str) -> String {
    match Mac::parse(device) {
        Some(mac) => mac.to_string(),
        None => device
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Live {
    address: IpAddr,
    device: String,
}

/// The live sessions and their counts.
#[derive(Debug, Clone)]
pub struct Sessions {
    limits: Limits,
    live: HashMap<String, Live>,
    by_address: HashMap<IpAddr, usize>,
    by_device: HashMap<String, usize>,
}

impl Sessions {
    pub fn new(limits: Limits) -> Sessions {
        Sessions {
            limits,
            live: HashMap::new(),
            by_address: HashMap::new(),
            by_device: HashMap::new(),
        }
    }

    /// Admits session `id` from `address` for `device` (the start's field, as sent), or says
    /// why not; nothing changes when it is refused.
    pub fn admit(&mut self, id: &str, address: IpAddr, device: &str) -> Result<(), AdmitRefusal> {
        if self.live.contains_key(id) {
            return Err(AdmitRefusal::DuplicateId);
        }
        let address = address.to_canonical();
        let device = device_key(device);
        if self.of_address(address) >= self.limits.per_address {
            return Err(AdmitRefusal::AddressLimit);
        }
        if self.by_device.get(&device).copied().unwrap_or(0) >= self.limits.per_device {
            return Err(AdmitRefusal::DeviceLimit);
        }
        if self.live.len() >= self.limits.sessions {
            return Err(AdmitRefusal::SessionLimit);
        }
        *self.by_address.entry(address).or_insert(0) += 1;
        *self.by_device.entry(device.clone()).or_insert(0) += 1;
        self.live.insert(id.to_owned(), Live { address, device });
        Ok(())
    }

    /// Forgets session `id`; false if it was not live.
    pub fn release(&mut self, id: &str) -> bool {
        let Some(live) = self.live.remove(id) else {
            return false;
        };
        decrement(&mut self.by_address, &live.address);
        decrement(&mut self.by_device, &live.device);
        true
    }

    /// Live sessions in all.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Live sessions from `address`.
    pub fn of_address(&self, address: IpAddr) -> usize {
        self.by_address
            .get(&address.to_canonical())
            .copied()
            .unwrap_or(0)
    }

    /// Live sessions of `device` (as a start spells it).
    pub fn of_device(&self, device: &str) -> usize {
        self.by_device
            .get(&device_key(device))
            .copied()
            .unwrap_or(0)
    }
}

fn decrement<K: Eq + core::hash::Hash>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sessions(total: usize, per_address: usize, per_device: usize) -> Sessions {
        Sessions::new(Limits {
            sessions: total,
            per_address,
            per_device,
        })
    }

    #[test]
    fn one_spelling_of_a_mac_is_one_device() {
        assert_eq!(device_key("00:15:65:aa:bb:cc"), "001565AABBCC");
        assert_eq!(device_key("0015.65AA.BBCC"), "001565AABBCC");
        assert_eq!(device_key("00:15:65"), "001565");
        assert_eq!(device_key("ab-cd"), "ABCD");
    }

    #[test]
    fn an_address_holds_at_most_its_limit_and_gets_room_back_as_sessions_end() {
        let mut s = sessions(100, 2, 10);
        let phone = ip("192.0.2.10");
        assert_eq!(s.admit("a", phone, "001565000001"), Ok(()));
        assert_eq!(s.admit("b", phone, "001565000002"), Ok(()));
        assert_eq!(
            s.admit("c", phone, "001565000003"),
            Err(AdmitRefusal::AddressLimit)
        );
        // The same phone seen by a dual-stack listener is the same address.
        assert_eq!(
            s.admit("c", ip("::ffff:192.0.2.10"), "001565000003"),
            Err(AdmitRefusal::AddressLimit)
        );
        // Another address is not affected.
        assert_eq!(s.admit("d", ip("192.0.2.11"), "001565000004"), Ok(()));
        assert_eq!(s.of_address(phone), 2);
        assert!(s.release("a"));
        assert_eq!(s.of_address(phone), 1);
        assert_eq!(s.admit("c", phone, "001565000003"), Ok(()));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn a_device_holds_at_most_its_limit_from_any_address_in_any_spelling() {
        let mut s = sessions(100, 10, 2);
        assert_eq!(s.admit("a", ip("192.0.2.10"), "00:15:65:aa:bb:cc"), Ok(()));
        assert_eq!(s.admit("b", ip("192.0.2.20"), "001565AABBCC"), Ok(()));
        assert_eq!(
            s.admit("c", ip("192.0.2.30"), "00-15-65-AA-BB-CC"),
            Err(AdmitRefusal::DeviceLimit)
        );
        assert_eq!(s.of_device("0015.65aa.bbcc"), 2);
        // A refusal changes nothing.
        assert_eq!(s.of_address(ip("192.0.2.30")), 0);
        assert_eq!(s.admit("c", ip("192.0.2.30"), "001565AABBCD"), Ok(()));
        assert!(s.release("b"));
        assert_eq!(s.admit("d", ip("192.0.2.30"), "001565AABBCC"), Ok(()));
    }

    #[test]
    fn refusals_come_in_their_order_and_the_total_last() {
        let mut s = sessions(2, 1, 1);
        assert_eq!(s.admit("a", ip("192.0.2.1"), "000000000001"), Ok(()));
        assert_eq!(
            s.admit("a", ip("192.0.2.9"), "000000000009"),
            Err(AdmitRefusal::DuplicateId)
        );
        // Both the address and the device are at their limits: the address is named.
        assert_eq!(
            s.admit("b", ip("192.0.2.1"), "000000000001"),
            Err(AdmitRefusal::AddressLimit)
        );
        assert_eq!(
            s.admit("b", ip("192.0.2.2"), "000000000001"),
            Err(AdmitRefusal::DeviceLimit)
        );
        assert_eq!(s.admit("b", ip("192.0.2.2"), "000000000002"), Ok(()));
        assert_eq!(
            s.admit("c", ip("192.0.2.3"), "000000000003"),
            Err(AdmitRefusal::SessionLimit)
        );
    }

    #[test]
    fn released_sessions_leave_nothing_behind() {
        let mut s = sessions(10_000, 4, 2);
        for round in 0..3 {
            for i in 0..1000u32 {
                let addr = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
                let id = format!("{round}-{i}");
                assert_eq!(s.admit(&id, addr, &format!("{i:012X}")), Ok(()));
            }
            assert_eq!(s.len(), 1000);
            for i in 0..1000u32 {
                assert!(s.release(&format!("{round}-{i}")));
            }
            // A second release of one session is none.
            assert!(!s.release(&format!("{round}-0")));
            assert!(s.is_empty());
            assert!(s.by_address.is_empty() && s.by_device.is_empty());
        }
        // Releasing what never ran changes nothing.
        assert!(!s.release("never"));
        assert!(s.is_empty());
    }
}
