//! The range of UDP ports the server hands to sessions, one each, freed when the session ends.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Why no port could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// Every port of the range is in use.
    Exhausted,
}

/// Hands out ports of `low..=high` round-robin, so a freed port rests before it is reused.
#[derive(Debug)]
pub struct PortPool {
    low: u16,
    high: u16,
    next: u16,
    used: BTreeSet<u16>,
}

impl PortPool {
    pub fn new(low: u16, high: u16) -> PortPool {
        let (low, high) = (low.min(high), low.max(high));
        PortPool {
            low,
            high,
            next: low,
            used: BTreeSet::new(),
        }
    }

    /// Ports in the range.
    fn size(&self) -> usize {
        usize::from(self.high - self.low) + 1
    }

    pub fn in_use(&self) -> usize {
        self.used.len()
    }

    /// Binds a UDP socket on `ip` at the next free port of the range (skipping ports another
    /// program holds). The socket is non-blocking, with kernel arrival times.
    pub fn bind(&mut self, ip: IpAddr) -> Result<(UdpSocket, u16), PortError> {
        for _ in 0..self.size() {
            let port = self.next;
            self.next = if port == self.high {
                self.low
            } else {
                port + 1
            };
            if self.used.contains(&port) {
                continue;
            }
            match callrec_platform::udp::bind_exclusive(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    self.used.insert(port);
                    return Ok((socket, port));
                }
                Err(e) => log::debug!("port {port}: {e}"),
            }
        }
        Err(PortError::Exhausted)
    }

    pub fn free(&mut self, port: u16) {
        self.used.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_session_port_cannot_be_taken_by_another_socket() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut pool = PortPool::new(1, 65_535);
        let (_session, port) = pool.bind(ip).unwrap();
        // Even a socket that asks for SO_REUSEADDR cannot bind it.
        assert!(callrec_platform::udp::bind(SocketAddr::new(ip, port)).is_err());
    }

    #[test]
    fn hands_out_each_port_once_and_skips_busy_ones() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Find three consecutive free ports by binding them, then release one to the pool test.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe
            .local_addr()
            .unwrap()
            .port()
            .saturating_sub(3000)
            .max(20_000);
        drop(probe);
        let mut pool = PortPool::new(base, base + 2);
        let busy = UdpSocket::bind(SocketAddr::new(ip, base + 1));
        let (_a, pa) = pool.bind(ip).unwrap();
        let (_b, pb) = pool.bind(ip).unwrap();
        assert_ne!(pa, pb);
        if busy.is_ok() {
            assert!(![pa, pb].contains(&(base + 1)));
            assert_eq!(pool.bind(ip).err(), Some(PortError::Exhausted));
        }
        pool.free(pa);
        drop(_a);
        assert_eq!(pool.bind(ip).unwrap().1, pa);
        assert_eq!(pool.in_use(), 2);
    }
}
