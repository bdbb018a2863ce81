//! Which datagrams on a record-server session's UDP port are recorded: the latch and the flood
//! limit, sans-IO. The server's media shard hands each datagram in with its source and kernel
//! arrival time and records it only if the gate says [`Verdict::Record`].
//!
//! # The latch
//!
//! A session's RTP comes from one source. The first datagram that parses as RTP and comes from
//! the phone's IP (the control connection's peer) latches the session to its source address
//! (IP and port) and SSRC. From then on:
//! - a datagram from the latched address is the phone's, whatever it holds: a new SSRC is the
//!   phone's media engine restarting its stream (the gate follows it; the timeline places the
//!   new stream by the clock), a malformed one is counted by the recorder;
//! - anything else (another port of the phone's IP, another IP, whatever its SSRC) is a
//!   stranger: counted, never recorded.
//!
//! Before the latch, what does not parse as RTP is a stranger too, so junk sent to a fresh port
//! can neither take the latch nor be recorded.
//!
//! # The flood limit
//!
//! What the latched source sends passes two token buckets, both over the arrival times: one of
//! packets, one of bytes (the whole datagram). Each refills at a steady rate up to a burst; a
//! datagram costs one packet and its length in bytes and is recorded only if both buckets hold
//! that much, else it is dropped and counted ([`GateStats::flood_dropped`]). The defaults
//! ([`GateLimits::default`]) are what a G.711 or G.722 stream can send with room to spare: 20
//! or 10 ms frames of 64 kbit/s with their headers, and a burst that takes the phone agent's
//! backlog (what it held while the server answered, sent at once) and network jitter. Dropped
//! datagrams still show that the phone is there ([`Verdict::is_from_phone`]).

use crate::backlog::BACKLOG_BYTES;
use crate::rtp::RtpPacket;
use core::net::{IpAddr, SocketAddr};

/// The flood limit's rates and bursts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateLimits {
    /// Packets a second, steady.
    pub packets_per_s: u64,
    /// Packets at once.
    pub packet_burst: u64,
    /// Datagram bytes a second, steady.
    pub bytes_per_s: u64,
    /// Datagram bytes at once.
    pub byte_burst: u64,
}

/// 10 ms frames (100 a second, the shortest packet time the server takes at full rate) with 10%
/// over for the sender's clock and jitter.
pub const PACKETS_PER_S: u64 = 110;
/// 64 kbit/s of payload (8,000 bytes a second) with 10% over, and 28 bytes of RTP header
/// (fixed header, CSRCs or an extension) for each of [`PACKETS_PER_S`].
pub const BYTES_PER_S: u64 = 12_000;
/// The phone agent's backlog ([`BACKLOG_BYTES`], about 7 s of 20 ms frames) and half as much
/// again for jitter.
pub const BYTE_BURST: u64 = BACKLOG_BYTES as u64 * 3 / 2;
/// As many 10 ms frames (92 bytes with the fixed header) as [`BYTE_BURST`] holds.
pub const PACKET_BURST: u64 = BYTE_BURST / 92;

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            packets_per_s: PACKETS_PER_S,
            packet_burst: PACKET_BURST,
            bytes_per_s: BYTES_PER_S,
            byte_burst: BYTE_BURST,
        }
    }
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The phone's, within the limits: record it.
    Record,
    /// Not from the latched source (or, before the latch, not the phone's RTP): dropped.
    Stranger,
    /// The phone's, past the flood limit: dropped.
    Flood,
}

impl Verdict {
    /// True if it came from the latched source (recorded or not): the phone is sending.
    pub fn is_from_phone(self) -> bool {
        self != Verdict::Stranger
    }
}

/// What the gate dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateStats {
    /// Datagrams from anyone but the latched source.
    pub strangers: u64,
    /// The latched source's datagrams past the flood limit.
    pub flood_dropped: u64,
}

/// One token bucket, in thousandths of a token so that integer refills stay exact at ms steps.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    per_s: u64,
    cap_milli: u64,
    level_milli: u64,
    at_ms: u64,
}

impl Bucket {
    fn full(per_s: u64, burst: u64, now_ms: u64) -> Bucket {
        let cap_milli = burst.saturating_mul(1000);
        Bucket {
            per_s,
            cap_milli,
            level_milli: cap_milli,
            at_ms: now_ms,
        }
    }

    /// Refills up to `now_ms` (a time before the last one refills nothing).
    fn refill(&mut self, now_ms: u64) {
        if now_ms > self.at_ms {
            // ms × tokens/s = thousandths of a token.
            let add = (now_ms - self.at_ms).saturating_mul(self.per_s);
            self.level_milli = self.level_milli.saturating_add(add).min(self.cap_milli);
            self.at_ms = now_ms;
        }
    }

    fn holds(&self, tokens: u64) -> bool {
        self.level_milli >= tokens.saturating_mul(1000)
    }

    fn take(&mut self, tokens: u64) {
        self.level_milli = self.level_milli.saturating_sub(tokens.saturating_mul(1000));
    }
}

/// The latch and the flood limit of one session. See the module doc.
#[derive(Debug, Clone)]
pub struct RtpGate {
    phone: IpAddr,
    latch: Option<(SocketAddr, u32)>,
    packets: Bucket,
    bytes: Bucket,
    stats: GateStats,
}

impl RtpGate {
    /// A session of the phone at `phone` that starts at `now_ms`, its buckets full.
    pub fn new(phone: IpAddr, limits: GateLimits, now_ms: u64) -> RtpGate {
        RtpGate {
            phone: phone.to_canonical(),
            latch: None,
            packets: Bucket::full(limits.packets_per_s, limits.packet_burst, now_ms),
            bytes: Bucket::full(limits.bytes_per_s, limits.byte_burst, now_ms),
            stats: GateStats::default(),
        }
    }

    /// The source and SSRC the session is latched to, once it is.
    pub fn latched(&self) -> Option<(SocketAddr, u32)> {
        self.latch
    }

    pub fn stats(&self) -> GateStats {
        self.stats
    }

    /// Judges one datagram from `from` (`None`: the kernel gave no source) that arrived at
    /// `at_ms`.
    pub fn check(&mut self, from: Option<SocketAddr>, at_ms: u64, datagram: &[u8]) -> Verdict {
        let Some(from) = from.map(canonical) else {
            return self.stranger();
        };
        match self.latch {
            Some((source, ssrc)) if source == from => {
                if let Ok(p) = RtpPacket::parse(datagram) {
                    if p.ssrc != ssrc {
                        log::debug!("{from}: new SSRC {:08x} (was {ssrc:08x})", p.ssrc);
                        self.latch = Some((source, p.ssrc));
                    }
                }
            }
            Some(_) => return self.stranger(),
            None => match RtpPacket::parse(datagram) {
                Ok(p) if from.ip() == self.phone => {
                    log::debug!("latched to {from}, SSRC {:08x}", p.ssrc);
                    self.latch = Some((from, p.ssrc));
                }
                _ => return self.stranger(),
            },
        }
        self.packets.refill(at_ms);
        self.bytes.refill(at_ms);
        let len = datagram.len() as u64;
        if self.packets.holds(1) && self.bytes.holds(len) {
            self.packets.take(1);
            self.bytes.take(len);
            Verdict::Record
        } else {
            self.stats.flood_dropped += 1;
            Verdict::Flood
        }
    }

    fn stranger(&mut self) -> Verdict {
        self.stats.strangers += 1;
        Verdict::Stranger
    }
}

/// The address with an IPv4-mapped IPv6 address as plain IPv4 (a dual-stack socket's view).
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

#[cfg(test)]
mod tests;
