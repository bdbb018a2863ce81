//! A sender paced by the clock: packet i leaves at `start + i × period` (absolute deadlines,
//! so a late wake-up never drifts the stream), to every destination in turn (one stream, many
//! recorders), with readings taken at chosen deadlines.

use crate::stream::PERIOD_S;
use callrec_tools::error::Context;
use callrec_tools::ToolError;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// A deadline kept later than this counts as late in the report.
const LATE: Duration = Duration::from_millis(5);

/// How well the sender kept its deadlines.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pacing {
    pub max_late_s: f64,
    pub late_over_5ms: u32,
}

/// Packet i's deadline.
pub fn deadline(start: Instant, i: usize) -> Instant {
    start + Duration::from_secs_f64(i as f64 * PERIOD_S)
}

/// Sends packet i at its deadline to every destination, alternating which goes first.
/// `checkpoint(i)` runs at deadline i, before packet i is sent, for each i in `at`; index
/// `packets.len()` is the stream's end, one period after the last packet.
pub fn send_paced(
    packets: &[Vec<u8>],
    destinations: &[SocketAddr],
    start: Instant,
    at: &[usize],
    mut checkpoint: impl FnMut(usize) -> Result<(), ToolError>,
) -> Result<Pacing, ToolError> {
    let socket = UdpSocket::bind("127.0.0.1:0").context(|| "binding the sender".to_string())?;
    let mut pacing = Pacing::default();
    for i in 0..=packets.len() {
        let due = deadline(start, i);
        loop {
            let now = Instant::now();
            if now >= due {
                break;
            }
            std::thread::sleep(due - now);
        }
        let late = Instant::now() - due;
        pacing.max_late_s = pacing.max_late_s.max(late.as_secs_f64());
        pacing.late_over_5ms += u32::from(late > LATE);
        if at.contains(&i) {
            checkpoint(i)?;
        }
        if let Some(packet) = packets.get(i) {
            let send = |to: &SocketAddr| {
                socket
                    .send_to(packet, to)
                    .context(|| format!("sending packet {i} to {to}"))
            };
            if i % 2 == 0 {
                destinations.iter().try_for_each(|to| send(to).map(drop))?;
            } else {
                destinations
                    .iter()
                    .rev()
                    .try_for_each(|to| send(to).map(drop))?;
            }
        }
    }
    Ok(pacing)
}

/// One datagram, from a socket of its own.
pub fn send_once(data: &[u8], to: SocketAddr) -> Result<(), ToolError> {
    let socket = UdpSocket::bind("127.0.0.1:0").context(|| "binding the sender".to_string())?;
    socket
        .send_to(data, to)
        .context(|| format!("sending to {to}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_arrive_in_turn_and_checkpoints_run_at_their_deadlines() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dests = [a.local_addr().unwrap(), b.local_addr().unwrap()];
        let packets = vec![vec![1u8], vec![2], vec![3]];
        let start = Instant::now();
        let mut seen = Vec::new();
        send_paced(&packets, &dests, start, &[0, 3], |i| {
            seen.push((i, Instant::now() >= deadline(start, i)));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0, true), (3, true)]);
        assert!(start.elapsed() >= Duration::from_millis(60));
        for socket in [a, b] {
            let mut got = Vec::new();
            let mut buf = [0u8; 8];
            for _ in 0..3 {
                let n = socket.recv(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, vec![1, 2, 3]);
        }
    }
}
