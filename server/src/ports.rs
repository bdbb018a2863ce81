//! The range of UDP ports the server hands to sessions: one each, drawn at random, and rested
//! after use until nothing arrives on them any more.
//!
//! - **Drawn at random** from the ports neither in use nor resting, with the kernel's CSPRNG
//!   (`getrandom`); if it gives nothing, no port is handed out ([`PortError::NoRandom`]): a port
//!   that could be guessed is what the random draw is there to prevent.
//! - **Rested**: a freed port is bound again at once (the session's own socket has closed) and
//!   kept open, and once a second ([`SWEEP`]) its socket is drained. It goes back to the draw only
//!   when a drain finds nothing and the last one that found something (or the release) was at
//!   least [`QUIET`] ago: so a port is never handed out while datagrams still arrive on it, and
//!   every port rests at least [`QUIET`]. If the port cannot be bound again (another program
//!   took it, no descriptors left), it rests [`QUIET`] unobserved.
//! - A port another program holds when it is drawn is left out and tried again after
//!   [`FOREIGN_RETRY`].
//!
//! Every port of the range is in exactly one of these states, so the memory is bounded by the
//! range (a few bytes a port, one socket for each resting port).

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How long a freed port must hear nothing before it is handed out again.
pub const QUIET: Duration = Duration::from_secs(5);
/// How often the resting ports are drained.
pub const SWEEP: Duration = Duration::from_secs(1);
/// When a port another program held is tried again.
pub const FOREIGN_RETRY: Duration = Duration::from_secs(60);
/// Datagrams read from one resting port per sweep at most (the rest wait for the next).
const DRAIN_MAX: usize = 4096;

/// Why no port could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortError {
    /// Every port of the range is in use, resting or held by another program.
    Exhausted,
    /// The kernel's random source failed: no port is drawn.
    NoRandom,
}

/// See the module doc. Shared by the control connections and the sweeper thread.
#[derive(Debug)]
pub struct PortPool {
    epoch: Instant,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Ports neither in use nor resting nor held elsewhere: the draw.
    free: Vec<u16>,
    /// Ports in use, with the address they are bound on.
    used: HashMap<u16, IpAddr>,
    resting: Vec<Resting>,
    /// Ports another program held, with when to try them again (ms).
    foreign: Vec<(u16, u64)>,
}

#[derive(Debug)]
struct Resting {
    port: u16,
    /// Kept open to see what still arrives; `None` if the port could not be bound again.
    socket: Option<UdpSocket>,
    /// When it was freed or last heard something (ms).
    heard_ms: u64,
    /// Whether it heard anything since it was freed (logged once).
    noisy: bool,
}

impl PortPool {
    /// A pool of `low..=high` (either order).
    pub fn new(low: u16, high: u16) -> PortPool {
        let (low, high) = (low.min(high), low.max(high));
        PortPool {
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                free: (low..=high).collect(),
                used: HashMap::new(),
                resting: Vec::new(),
                foreign: Vec::new(),
            }),
        }
    }

    /// A pool with its sweeper thread, which ends when the pool is dropped.
    pub fn start(low: u16, high: u16) -> std::io::Result<Arc<PortPool>> {
        let pool = Arc::new(PortPool::new(low, high));
        let weak: Weak<PortPool> = Arc::downgrade(&pool);
        std::thread::Builder::new()
            .name("ports".into())
            .spawn(move || loop {
                std::thread::sleep(SWEEP);
                match weak.upgrade() {
                    Some(pool) => pool.sweep(),
                    None => return,
                }
            })?;
        Ok(pool)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug elsewhere; the lists stay consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn in_use(&self) -> usize {
        self.inner().used.len()
    }

    /// Ports resting now.
    pub fn resting(&self) -> usize {
        self.inner().resting.len()
    }

    /// Binds a UDP socket on `ip` at a port drawn at random from the free ones. The socket is
    /// non-blocking, with kernel arrival times, and no other socket can bind the port.
    pub fn bind(&self, ip: IpAddr) -> Result<(UdpSocket, u16), PortError> {
        self.bind_at(ip, self.now_ms())
    }

    fn bind_at(&self, ip: IpAddr, now_ms: u64) -> Result<(UdpSocket, u16), PortError> {
        let mut inner = self.inner();
        while !inner.free.is_empty() {
            let r = callrec_platform::random::try_u64().map_err(|e| {
                log::error!("kernel random source: {e}; no RTP port handed out");
                PortError::NoRandom
            })?;
            // The bias of a 64-bit draw modulo at most 65,536 is below 2^-48.
            let i = (r % inner.free.len() as u64) as usize;
            let port = inner.free.swap_remove(i);
            match callrec_platform::udp::bind_exclusive(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    inner.used.insert(port, ip);
                    return Ok((socket, port));
                }
                Err(e) => {
                    log::debug!("port {port}: {e}; left out for a while");
                    let retry = now_ms.saturating_add(ms(FOREIGN_RETRY));
                    inner.foreign.push((port, retry));
                }
            }
        }
        Err(PortError::Exhausted)
    }

    /// The session on `port` has ended (its socket is closed): the port rests.
    pub fn free(&self, port: u16) {
        self.free_at(port, self.now_ms());
    }

    fn free_at(&self, port: u16, now_ms: u64) {
        let mut inner = self.inner();
        let Some(ip) = inner.used.remove(&port) else {
            return;
        };
        let socket = UdpSocket::bind(SocketAddr::new(ip, port))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| log::debug!("port {port}: cannot watch it while it rests: {e}"))
            .ok();
        inner.resting.push(Resting {
            port,
            socket,
            heard_ms: now_ms,
            noisy: false,
        });
    }

    /// Drains the resting ports and hands back the quiet ones (the sweeper's work).
    pub fn sweep(&self) {
        self.sweep_at(self.now_ms());
    }

    fn sweep_at(&self, now_ms: u64) {
        // The sockets are drained without the lock, so that admissions do not wait on it.
        let mut resting = std::mem::take(&mut self.inner().resting);
        let mut buf = [0u8; 64];
        let mut back = Vec::new();
        resting.retain_mut(|r| {
            let heard = r.socket.as_ref().is_some_and(|s| drain(s, &mut buf));
            if heard {
                if !r.noisy {
                    log::info!(
                        "port {}: datagrams still arrive after its session ended; resting it \
                         until quiet for {} s",
                        r.port,
                        QUIET.as_secs()
                    );
                    r.noisy = true;
                }
                r.heard_ms = now_ms;
            }
            let quiet = now_ms.saturating_sub(r.heard_ms) >= ms(QUIET);
            if quiet {
                back.push(r.port);
            }
            !quiet
        });
        let mut inner = self.inner();
        // Ports freed while this sweep ran come after the older ones.
        resting.append(&mut inner.resting);
        inner.resting = resting;
        inner.free.append(&mut back);
        let mut retry = Vec::new();
        inner.foreign.retain(|&(port, at)| {
            let due = at <= now_ms;
            if due {
                retry.push(port);
            }
            !due
        });
        inner.free.append(&mut retry);
    }
}

/// Reads what is queued on `s`; true if anything was.
fn drain(s: &UdpSocket, buf: &mut [u8]) -> bool {
    let mut got = false;
    for _ in 0..DRAIN_MAX {
        match s.recv_from(buf) {
            Ok(_) => got = true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Empty (WouldBlock), or an error that is no datagram: the next sweep reads on.
            Err(_) => break,
        }
    }
    got
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
