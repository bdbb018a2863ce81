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
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
