//! Receiving RTP over UDP in batches: the agent's tap (the loopback port the media engine sends
//! the mixed RTP to) and the record server's per-session ports.
//!
//! Neither wakes for every packet. It drains the socket in batches (`recvmmsg`, up to
//! [`BATCH`] datagrams per system call) on a fixed tick and before every command, and the kernel
//! stamps each datagram's arrival (`SO_TIMESTAMPNS`), so the timeline still sees true arrival
//! times. All buffers are allocated once.

use crate::clock::Clock;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Receive buffer asked for: seconds of 20 ms packets even if the stick stalls a write.
pub const RECV_BUFFER: usize = 256 * 1024;
/// Datagrams read per system call.
pub const BATCH: usize = 16;
/// Largest datagram kept whole; longer ones arrive truncated and are counted as oversized.
pub const SLOT: usize = 4096;
const CMSG_SPACE: usize = 64;

/// Binds the tap with SO_REUSEADDR (a restarted agent rebinds at once), a receive buffer sized
/// for bursts and kernel arrival timestamps.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    bind_with(addr, true)
}

/// [`bind`] for a record server's session port: without SO_REUSEADDR, so no other program can
/// bind the same port and take a live session's packets (a taken port fails to bind instead).
pub fn bind_exclusive(addr: SocketAddr) -> io::Result<UdpSocket> {
    bind_with(addr, false)
}

fn bind_with(addr: SocketAddr, reuse: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(reuse)?;
    if let Err(e) = socket.set_recv_buffer_size(RECV_BUFFER) {
        log::warn!("cannot size the tap's receive buffer: {e}");
    }
    // The kernel caps SO_RCVBUF at net.core.rmem_max; a privileged agent (as on the phone)
    // may go past it.
    if socket.recv_buffer_size().unwrap_or(0) < RECV_BUFFER {
        let _ = set_int(&socket, libc::SO_RCVBUFFORCE, RECV_BUFFER as libc::c_int);
    }
    // Arrival times: nanoseconds if the kernel offers them, else microseconds (qemu-user only
    // translates the older option), else the time the batch is read (up to a tick late).
    if set_int(&socket, libc::SO_TIMESTAMPNS, 1).is_err() {
        if let Err(e) = set_int(&socket, libc::SO_TIMESTAMP, 1) {
            log::warn!("no kernel arrival times on the tap ({e}); using the read time");
        }
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn set_int(socket: &Socket, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: a plain setsockopt on a socket we own, with a pointer to a live c_int.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The tap socket with its batch receiver.
pub struct TapReader {
    socket: UdpSocket,
    receiver: BatchReceiver,
}

impl TapReader {
    pub fn new(socket: UdpSocket) -> TapReader {
        TapReader {
            socket,
            receiver: BatchReceiver::new(),
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The socket's descriptor, to wait for readiness on it.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }

    /// See [`BatchReceiver::drain`].
    pub fn drain(&mut self, f: impl FnMut(&[u8], Received)) -> io::Result<usize> {
        self.receiver.drain(&self.socket, f)
    }
}

/// Buffers to read any non-blocking UDP socket in batches (one set can serve many sockets).
pub struct BatchReceiver {
    bufs: Box<[[u8; SLOT]; BATCH]>,
    cmsgs: Box<[[u8; CMSG_SPACE]; BATCH]>,
    /// Source addresses of the last batch.
    names: Box<[libc::sockaddr_storage; BATCH]>,
    /// Length and arrival time of each datagram of the last batch.
    meta: [(usize, Option<Duration>); BATCH],
}

/// One received datagram's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Arrival time since the epoch, from the kernel (`None` if it gave none).
    pub arrival: Option<Duration>,
    /// Who sent it.
    pub from: Option<SocketAddr>,
}

impl Default for BatchReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchReceiver {
    pub fn new() -> BatchReceiver {
        BatchReceiver {
            bufs: Box::new([[0; SLOT]; BATCH]),
            cmsgs: Box::new([[0; CMSG_SPACE]; BATCH]),
            // SAFETY: all-zero is a valid sockaddr_storage.
            names: Box::new(unsafe { core::mem::zeroed() }),
            meta: [(0, None); BATCH],
        }
    }

    /// Hands every datagram waiting on `socket` to `f` with its envelope, oldest first, until
    /// the socket is empty.
    pub fn drain(
        &mut self,
        socket: &UdpSocket,
        mut f: impl FnMut(&[u8], Received),
    ) -> io::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.read_batch(socket)?;
            for i in 0..n {
                let (len, arrival) = self.meta[i];
                let from = sockaddr_to_std(&self.names[i]);
                f(&self.bufs[i][..len], Received { arrival, from });
            }
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    /// One `recvmmsg` without blocking; returns how many datagrams it read (0 if none).
    fn read_batch(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let mut iov: [libc::iovec; BATCH] = unsafe { core::mem::zeroed() };
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { core::mem::zeroed() };
        for i in 0..BATCH {
            iov[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.cmsgs[i].as_mut_ptr().cast();
            h.msg_controllen = CMSG_SPACE as _;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = core::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every pointer in `msgs` points into buffers owned by `self` or into `iov`,
        // all of which outlive the call; lengths match the buffers.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                core::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        for (i, msg) in msgs.iter().enumerate().take(n) {
            self.meta[i] = ((msg.msg_len as usize).min(SLOT), arrival(&msg.msg_hdr));
        }
        Ok(n)
    }
}

/// A source address filled in by the kernel.
fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: libc::sockaddr_in =
                unsafe { core::ptr::read_unaligned((ss as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 =
                unsafe { core::ptr::read_unaligned((ss as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The SCM_TIMESTAMPNS or SCM_TIMESTAMP control message of a received datagram.
fn arrival(hdr: &libc::msghdr) -> Option<Duration> {
    // SAFETY: `hdr` was filled by recvmmsg; the CMSG macros walk only within msg_controllen,
    // and the data of these messages is a timespec or a timeval (read unaligned to be safe).
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET {
                if (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec = core::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    return Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                if (*c).cmsg_type == libc::SCM_TIMESTAMP {
                    let tv: libc::timeval = core::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    return Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000));
                }
            }
            c = libc::CMSG_NXTHDR(hdr, c);
        }
    }
    None
}

/// Converts a kernel arrival time (on the system time) to `clock`'s milliseconds: `clock`'s
/// time now less the datagram's age. Both clocks are read here, the system time first and then
/// `clock`, for each datagram: a `now` read before (at the start of a drain or of a cycle over
/// many sockets) would put every datagram read after it too early by the time in between, and a
/// timeline held to the wall clock drops packets that seem to run ahead of it. A missing or
/// future stamp counts as now.
pub fn arrival_ms(stamp: Option<Duration>, clock: &impl Clock) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now_ms = clock.now_ms();
    let Some(stamp) = stamp else { return now_ms };
    let age = now.saturating_sub(stamp).as_millis() as u64;
    now_ms.saturating_sub(age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn drains_batches_with_arrival_times() {
        let mut tap = TapReader::new(bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let to = tap.local_addr().unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..40u8 {
            tx.send_to(&[i; 33], to).unwrap();
        }
        tx.send_to(&[7; SLOT + 100], to).unwrap();
        let mut seen = Vec::new();
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let from = tx.local_addr().unwrap();
        let n = tap
            .drain(|d, r| {
                assert_eq!(r.from, Some(from));
                let stamp = r.arrival.expect("kernel timestamp");
                assert!(stamp <= before + Duration::from_secs(1));
                assert!(before.saturating_sub(stamp) < Duration::from_secs(5));
                seen.push((d.len(), d[0]));
            })
            .unwrap();
        assert_eq!(n, 41);
        assert_eq!(
            seen[..40],
            (0..40u8).map(|i| (33, i)).collect::<Vec<_>>()[..]
        );
        assert_eq!(seen[40], (SLOT, 7)); // truncated to the slot
        assert_eq!(tap.drain(|_, _| panic!("empty")).unwrap(), 0);
    }

    #[test]
    fn arrival_is_placed_on_the_monotonic_clock() {
        let clock = ManualClock::new(10_000);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let ms = arrival_ms(Some(now - Duration::from_millis(150)), &clock);
        assert!((9_840..=9_850).contains(&ms), "{ms}");
        assert_eq!(arrival_ms(None, &clock), 10_000);
        assert_eq!(
            arrival_ms(Some(now + Duration::from_secs(9)), &clock),
            10_000
        );
        assert_eq!(arrival_ms(Some(Duration::ZERO), &ManualClock::new(10)), 0);
    }
}
