//! One call's RTP stream as a phone's media engine sends it, with deliberate loss and reorder.
//!
//! Sans-IO: the caller says which frame is due (its index on the wall-clock grid of packet
//! times since the simulation started) and gets the datagrams to send now through a callback.
//! The sequence number counts packets made (a packet lost on purpose still uses its number, as
//! loss on a network does); the timestamp is the frame index times the packet time, so across a
//! hold the sequence goes on by one and the timestamp jumps by the time held, as a media engine
//! does. SSRC, first sequence number and first timestamp are random (RFC 3550 §5.1).
//!
//! Reorder swaps a packet with the next one: it is held back, and sent right after its
//! successor. Nothing here allocates after [`Stream::new`].

use super::media::{sample_rate, Audio, Encoder, Samples, MAX_FRAME_SAMPLES, MAX_PAYLOAD};
use super::rng::Rng;
use callrec_core::codec::{Codec, RTP_CLOCK_HZ};
use callrec_core::rtp::{RtpPacket, FIXED_HEADER_LEN};
use core::ops::AddAssign;

/// Largest datagram the simulator sends.
pub const MAX_DATAGRAM: usize = FIXED_HEADER_LEN + MAX_PAYLOAD;

/// How the stream is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamConfig {
    pub codec: Codec,
    /// 10 to 60 ms.
    pub ptime_ms: u32,
    /// Fraction of packets not sent.
    pub loss: f64,
    /// Fraction of packets swapped with the next one.
    pub reorder: f64,
}

impl StreamConfig {
    /// RTP clock ticks per packet (8000 Hz for every codec here, G.722 included).
    pub fn ticks_per_frame(&self) -> u32 {
        self.ptime_ms * RTP_CLOCK_HZ / 1000
    }

    /// Audio samples per packet at the codec's sample rate.
    pub fn samples_per_frame(&self) -> usize {
        (sample_rate(self.codec) / 1000 * self.ptime_ms) as usize
    }
}

/// What a stream did, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to the socket.
    pub sent: u64,
    /// Packets made but not sent, on purpose.
    pub lost: u64,
    /// Packets sent after their successor.
    pub reordered: u64,
}

impl AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.sent += o.sent;
        self.lost += o.lost;
        self.reordered += o.reordered;
    }
}

/// A datagram in a fixed buffer (the one held back for a swap).
#[derive(Debug, Clone, Copy)]
struct Datagram {
    buf: [u8; MAX_DATAGRAM],
    len: usize,
}

impl Datagram {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// One call's stream.
#[derive(Debug, Clone)]
pub struct Stream {
    config: StreamConfig,
    samples: Samples,
    encoder: Encoder,
    rng: Rng,
    ssrc: u32,
    next_seq: u16,
    first_ts: u32,
    /// Frame index of the first packet: the audio starts there.
    origin: Option<u64>,
    /// The next packet starts a talkspurt (the first, and the first after a hold).
    marker: bool,
    held: Option<Datagram>,
    pcm: [i16; MAX_FRAME_SAMPLES],
    stats: Stats,
}

impl Stream {
    /// A stream; `config.ptime_ms` must be within the media module's limits (the command line
    /// checks it), and `rng` gives SSRC, first sequence number, timestamp and impairments.
    pub fn new(config: StreamConfig, audio: &Audio, mut rng: Rng) -> Stream {
        let ssrc = rng.next_u32();
        let next_seq = rng.next_u32() as u16;
        let first_ts = rng.next_u32();
        Stream {
            config,
            samples: Samples::new(audio, sample_rate(config.codec)),
            encoder: Encoder::new(config.codec),
            rng,
            ssrc,
            next_seq,
            first_ts,
            origin: None,
            marker: true,
            held: None,
            pcm: [0; MAX_FRAME_SAMPLES],
            stats: Stats::default(),
        }
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Makes the packet of frame `index` (packet times since the simulation's start; frames
    /// come in increasing order) and emits what is to be sent now: nothing (lost, or held back
    /// for a swap), the packet, or the packet and then the one held back.
    pub fn frame(&mut self, index: u64, mut emit: impl FnMut(&[u8])) {
        let packet = self.make(index);
        let lost = self.rng.chance(self.config.loss);
        if let Some(held) = self.held.take() {
            if !lost {
                self.send(packet.bytes(), &mut emit);
                self.stats.reordered += 1;
            } else {
                self.stats.lost += 1;
            }
            // Late by one packet time even when its successor was lost.
            self.send(held.bytes(), &mut emit);
            return;
        }
        if lost {
            self.stats.lost += 1;
        } else if self.rng.chance(self.config.reorder) {
            self.held = Some(packet);
        } else {
            self.send(packet.bytes(), &mut emit);
        }
    }

    /// The audio stops (hold, end of the call): a packet held back for a swap goes now, and
    /// the next packet starts a talkspurt.
    pub fn pause(&mut self, mut emit: impl FnMut(&[u8])) {
        if let Some(held) = self.held.take() {
            self.send(held.bytes(), &mut emit);
        }
        self.marker = true;
    }

    fn send(&mut self, bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        emit(bytes);
        self.stats.sent += 1;
    }

    fn make(&mut self, index: u64) -> Datagram {
        let origin = *self.origin.get_or_insert(index);
        let spf = self.config.samples_per_frame().min(MAX_FRAME_SAMPLES);
        let position = index.saturating_sub(origin) * spf as u64;
        self.samples.fill(position, &mut self.pcm[..spf]);
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = self.encoder.encode(&self.pcm[..spf], &mut payload);
        let ticks = index.wrapping_mul(u64::from(self.config.ticks_per_frame()));
        let ts = self.first_ts.wrapping_add(ticks as u32);
        let mut d = Datagram {
            buf: [0; MAX_DATAGRAM],
            len: 0,
        };
        // The buffer holds any payload of at most MAX_PAYLOAD bytes, so emit always fits.
        d.len = RtpPacket::emit(
            &mut d.buf,
            self.marker,
            self.config.codec.payload_type(),
            self.next_seq,
            ts,
            self.ssrc,
            &payload[..n],
        )
        .unwrap_or(0);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.marker = false;
        d
    }
}

#[cfg(test)]
mod tests;
