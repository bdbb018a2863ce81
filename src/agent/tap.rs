//! The tap: the loopback UDP port the media engine sends the mixed RTP to.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Receive buffer asked for: a few seconds of 20 ms packets even if the stick stalls a write.
pub const RECV_BUFFER: usize = 256 * 1024;

/// Binds the tap with SO_REUSEADDR (a restarted agent rebinds at once) and a receive buffer
/// sized for bursts. Returns a non-blocking std socket for tokio.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    if let Err(e) = socket.set_recv_buffer_size(RECV_BUFFER) {
        log::warn!("cannot size the tap's receive buffer: {e}");
    }
    // The kernel caps SO_RCVBUF at net.core.rmem_max; a privileged agent (as on the phone)
    // may go past it.
    if socket.recv_buffer_size().unwrap_or(0) < RECV_BUFFER {
        force_recv_buffer(&socket);
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn force_recv_buffer(socket: &Socket) {
    use std::os::fd::AsRawFd;
    let size = RECV_BUFFER as libc::c_int;
    // SAFETY: a plain setsockopt on a socket we own, with a pointer to a live c_int.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            core::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        log::debug!("SO_RCVBUFFORCE: {}", io::Error::last_os_error());
    }
}
