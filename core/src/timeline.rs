//! From RTP packets to a true timeline of audio.
//!
//! The timeline puts packets back in timestamp order within a small window, drops duplicates and
//! packets too late to place, turns gaps and comfort-noise intervals into silence, and keeps one
//! continuous timeline across a new SSRC or a timestamp jump (the media engine restarted the mix)
//! by placing the new stream where the wall clock says it belongs. It never allocates: the
//! window's slots are fixed arrays. Time comes in as milliseconds from the caller.
//!
//! With [`TimelineConfig::max_ahead_ms`], the timeline also never runs ahead of the wall clock by
//! more than it may: a sender whose timestamps advance faster than real time (a flood of packets
//! numbered one after the other) gets its packets placed by the clock, and those that even so
//! would land too far ahead are dropped and counted ([`TimelineStats::too_early`]). The clock is
//! counted from the first packet after a start or a resume and kept across new SSRCs, so
//! switching streams gains a sender nothing.
//!
//! How far ahead it may run depends on where the call is. A lead over the clock is legitimate in
//! one place only: the opening burst after a start or a resume, when the phone agent sends at
//! once what it held while the server answered (its backlog). During that burst the lead may grow
//! up to `max_ahead_ms`. The burst is over once the lead has not grown by [`LEAD_STEP_MS`] or more
//! for [`SETTLE_MS`] (the sender keeps pace with the clock: the backlog is in, or there was none),
//! and at the latest `max_ahead_ms` after it began (a backlog sent at all faster than twice real
//! time is in by then). From then on the lead may exceed the highest the burst reached by
//! [`LEAD_JITTER_MS`] at most (never past `max_ahead_ms`): a backlog keeps its lead for the rest
//! of the call, network jitter is absorbed, and a burst later in the call (a flood) is held to
//! the wall clock. To all of it 1 ms a second is added for a sender clock that runs a little fast.

use super::codec::{classify_payload_type, Codec, PayloadKind, RTP_CLOCK_HZ};
use super::rtp::{RtpError, RtpPacket};

/// Largest reorder window, in packets.
pub const MAX_WINDOW: usize = 16;
/// Largest payload the timeline accepts (256 ms of any of our codecs); longer ones are counted.
pub const MAX_PAYLOAD: usize = 2048;
/// A timestamp gap up to this many ticks (5 s) is silence, whatever the wall clock says.
const TRUSTED_GAP: i64 = 5 * RTP_CLOCK_HZ as i64;
/// A longer gap counts only if the wall clock agrees within this many ticks (1 s).
const JUMP_TOLERANCE: i64 = RTP_CLOCK_HZ as i64;
/// RFC 3550 A.1: sequence jumps beyond these are not the same stream continuing.
const MAX_DROPOUT: i64 = 3000;
const MAX_MISORDER: i64 = 100;
/// How many released sequence numbers are remembered to tell a duplicate from a late packet.
const HISTORY: usize = 32;

const TICKS_PER_MS: u64 = (RTP_CLOCK_HZ / 1000) as u64;

/// Once the opening burst is over, how far past the lead it reached a packet may arrive early:
/// network jitter. 200 ms, the reorder window's default hold time (a packet delayed that much is
/// still put back in order; one that much early is still placed by its timestamp).
pub const LEAD_JITTER_MS: u64 = 200;
/// The opening burst is over once the lead over the clock has not grown by [`LEAD_STEP_MS`] or
/// more for this long. Longer than a stall in the middle of a backlog's delivery is likely to be.
pub const SETTLE_MS: u64 = 1000;
/// Growth of the lead smaller than this (one 20 ms frame) does not keep the opening burst going:
/// a live stream's jitter.
pub const LEAD_STEP_MS: u64 = 20;

/// Where the timeline's output goes: the Record file writer.
pub trait AudioSink {
    /// The codec of the audio that follows, and the payload length of its first packet.
    fn set_codec(&mut self, codec: Codec, frame_len: usize);
    /// `ticks` of the codec's silence.
    fn silence(&mut self, ticks: u64);
    /// Audio bytes, one per tick.
    fn audio(&mut self, payload: &[u8]);
}

/// Settings of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineConfig {
    /// Packets held to put reordered ones back in order (1..=16).
    pub window: usize,
    /// The longest a packet waits in the window before it is written, in ms.
    pub hold_ms: u64,
    /// The dynamic payload type of telephone-event.
    pub telephone_event_pt: u8,
    /// How far the timeline may run ahead of the wall clock, in ms (one frame more at most),
    /// counted from the first packet after a start or a resume, plus 1 ms for every second
    /// since (the sender's clock may run a little fast): the most the opening burst's backlog
    /// may hold. After that burst, only [`LEAD_JITTER_MS`] past the lead it reached (see the
    /// module doc). `None`: no limit.
    pub max_ahead_ms: Option<u64>,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        TimelineConfig {
            window: 5,
            hold_ms: 200,
            telephone_event_pt: 101,
            max_ahead_ms: None,
        }
    }
}

/// Counters of what the timeline saw and did, per recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimelineStats {
    /// Datagrams handed in.
    pub received: u64,
    /// Malformed datagrams, by [`RtpError::index`].
    pub malformed: [u64; RtpError::ALL.len()],
    /// Packets with a payload type we do not record.
    pub unknown_payload_type: u64,
    /// Payloads over [`MAX_PAYLOAD`].
    pub oversized: u64,
    pub telephone_events: u64,
    pub comfort_noise: u64,
    /// Audio packets placed on the timeline.
    pub audio: u64,
    /// Packets that arrived after a later one and were put back in order.
    pub reordered: u64,
    pub duplicates: u64,
    /// Packets that arrived after their place on the timeline was written.
    pub late: u64,
    /// Sequence numbers never seen (RFC 3550 cumulative loss, summed over streams).
    pub lost: u64,
    /// Packets whose sequence number jumped too far to belong to the stream.
    pub out_of_sequence: u64,
    pub ssrc_changes: u64,
    /// Timestamp or sequence jumps that re-anchored the stream by the wall clock.
    pub discontinuities: u64,
    /// Packets dropped because they would have put the timeline further ahead of the wall clock
    /// than [`TimelineConfig::max_ahead_ms`].
    pub too_early: u64,
    /// Ticks of silence written for gaps and comfort noise.
    pub silence_ticks: u64,
    /// Ticks of audio written.
    pub audio_ticks: u64,
}

impl TimelineStats {
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotKind {
    Audio(Codec),
    ComfortNoise,
}

#[derive(Debug)]
struct Slot {
    out: u64,
    ext_seq: i64,
    arrival_ms: u64,
    kind: SlotKind,
    payload: heapless::Vec<u8, MAX_PAYLOAD>,
}

/// One SSRC's numbering, unwrapped against its highest packet so far.
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// Extended sequence number of the newest packet.
    highest_seq: i64,
    /// Extended timestamp of the newest packet.
    highest_ts: i64,
    /// Timeline position of the newest packet, and when it arrived.
    highest_out: i64,
    highest_arrival_ms: u64,
    /// `out = ext_ts + base`.
    base: i64,
    first_seq: i64,
    /// Distinct packets seen, for the loss count.
    seen: u64,
    /// RFC 3550 A.1: after a big jump, the sequence number that would confirm a restart.
    bad_seq: Option<u16>,
}

impl Stream {
    fn ext_seq(&self, seq: u16) -> i64 {
        self.highest_seq + i64::from(seq.wrapping_sub(self.highest_seq as u16) as i16)
    }
    fn ext_ts(&self, ts: u32) -> i64 {
        self.highest_ts + i64::from(ts.wrapping_sub(self.highest_ts as u32) as i32)
    }
    fn lost(&self) -> u64 {
        let expected = (self.highest_seq - self.first_seq + 1).max(0) as u64;
        expected.saturating_sub(self.seen)
    }
}

/// How the next new stream is placed on the timeline.
#[derive(Debug, Clone, Copy)]
enum Anchor {
    /// Right where the timeline ends: the start of a recording or a resume.
    AtEnd,
    /// Where the wall clock puts it, counted from the previous stream's newest packet.
    ByClock { out: i64, arrival_ms: u64 },
}

/// Where the wall clock says the timeline is: `out = ticks(now_ms) + base`, counted from
/// `since_ms`, and how far ahead of it the timeline may run.
#[derive(Debug, Clone, Copy)]
struct WallClock {
    base: i64,
    since_ms: u64,
    lead: Lead,
}

/// The timeline's lead over the wall clock (ticks; a packet's start minus the clock's position
/// when it arrived). See the module doc.
#[derive(Debug, Clone, Copy)]
enum Lead {
    /// The opening burst: the lead may grow up to `max_ahead_ms`. `high` is the highest lead a
    /// placed packet had; `step` the lead when it last grew by [`LEAD_STEP_MS`] or more, at
    /// `step_ms`.
    Opening { high: i64, step: i64, step_ms: u64 },
    /// After it: the lead may be up to `allowance`.
    Settled { allowance: i64 },
}

/// Reorders, de-duplicates and gap-fills one recording's packets. See the module doc.
#[derive(Debug)]
pub struct Timeline {
    cfg: TimelineConfig,
    stream: Option<Stream>,
    anchor: Anchor,
    /// Set by the first packet after a start or a resume, for [`TimelineConfig::max_ahead_ms`].
    clock: Option<WallClock>,
    /// The first tick not yet handed to the sink.
    next_out: u64,
    codec: Option<Codec>,
    /// Payload length of the first audio packet: clock placements are rounded to it.
    frame: u64,
    slots: [Slot; MAX_WINDOW],
    used: usize,
    history: [i64; HISTORY],
    history_at: usize,
    stats: TimelineStats,
}

impl Timeline {
    pub fn new(mut cfg: TimelineConfig) -> Timeline {
        cfg.window = cfg.window.clamp(1, MAX_WINDOW);
        Timeline {
            cfg,
            stream: None,
            anchor: Anchor::AtEnd,
            clock: None,
            next_out: 0,
            codec: None,
            frame: 0,
            slots: core::array::from_fn(|_| Slot {
                out: 0,
                ext_seq: 0,
                arrival_ms: 0,
                kind: SlotKind::ComfortNoise,
                payload: heapless::Vec::new(),
            }),
            used: 0,
            history: [i64::MIN; HISTORY],
            history_at: 0,
            stats: TimelineStats::default(),
        }
    }

    /// Forgets everything for a new recording, keeping the allocation-free buffers.
    pub fn reset(&mut self, cfg: TimelineConfig) {
        self.cfg = TimelineConfig {
            window: cfg.window.clamp(1, MAX_WINDOW),
            ..cfg
        };
        self.stream = None;
        self.anchor = Anchor::AtEnd;
        self.clock = None;
        self.next_out = 0;
        self.codec = None;
        self.frame = 0;
        self.used = 0;
        self.history = [i64::MIN; HISTORY];
        self.stats = TimelineStats::default();
    }

    /// Counters so far, with the loss of the current stream included.
    pub fn stats(&self) -> TimelineStats {
        let mut s = self.stats;
        if let Some(stream) = &self.stream {
            s.lost += stream.lost();
        }
        s
    }

    /// Ticks handed to the sink so far (audio and silence): the recording's length.
    pub fn position(&self) -> u64 {
        self.next_out
    }

    /// The codec of the audio so far.
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// When [`Timeline::handle_timeout`] must next be called, if a packet is waiting.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.slots[..self.used]
            .iter()
            .map(|s| s.arrival_ms + self.cfg.hold_ms)
            .min()
    }

    /// Writes the packets that have waited their hold time (and every earlier one).
    pub fn handle_timeout(&mut self, now_ms: u64, sink: &mut impl AudioSink) {
        while let Some(due) = self.poll_timeout() {
            if due > now_ms {
                break;
            }
            self.release_first(sink);
        }
    }

    /// Writes every waiting packet (before a stop or a pause).
    pub fn flush(&mut self, sink: &mut impl AudioSink) {
        while self.used > 0 {
            self.release_first(sink);
        }
    }

    /// Ends the current stream so that the next packet continues at the end of the timeline
    /// (a resume: paused time is not recorded). Call [`Timeline::flush`] first.
    pub fn restart_at_end(&mut self) {
        self.end_stream();
        self.anchor = Anchor::AtEnd;
    }

    /// Hands in one datagram that arrived at `now_ms`.
    pub fn push(&mut self, now_ms: u64, datagram: &[u8], sink: &mut impl AudioSink) {
        self.stats.received += 1;
        let packet = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed[e.index()] += 1;
                log::trace!("malformed RTP: {e}");
                return;
            }
        };
        let Some(kind) = classify_payload_type(packet.payload_type, self.cfg.telephone_event_pt)
        else {
            self.stats.unknown_payload_type += 1;
            return;
        };
        if packet.payload.len() > MAX_PAYLOAD {
            self.stats.oversized += 1;
            return;
        }
        if self.stream.is_some_and(|s| s.ssrc != packet.ssrc) {
            log::debug!("new SSRC {:08x} mid-call", packet.ssrc);
            self.stats.ssrc_changes += 1;
            self.flush(sink);
            self.end_stream();
        }
        let stream = match self.stream {
            Some(s) => s,
            None => self.begin_stream(now_ms, &packet),
        };
        let ext_seq = stream.ext_seq(packet.sequence);
        let d_seq = ext_seq - stream.highest_seq;
        if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&d_seq) {
            self.stats.out_of_sequence += 1;
            if stream.bad_seq == Some(packet.sequence) {
                // Two packets in sequence after the jump: the sender restarted its numbering.
                self.stats.discontinuities += 1;
                self.flush(sink);
                self.end_stream();
                let s = self.begin_stream(now_ms, &packet);
                self.place(now_ms, s, 0, &packet, kind, sink);
            } else if let Some(s) = self.stream.as_mut() {
                s.bad_seq = Some(packet.sequence.wrapping_add(1));
            }
            return;
        }
        self.place(now_ms, stream, d_seq, &packet, kind, sink);
    }

    fn place(
        &mut self,
        now_ms: u64,
        mut stream: Stream,
        d_seq: i64,
        packet: &RtpPacket<'_>,
        kind: PayloadKind,
        sink: &mut impl AudioSink,
    ) {
        let ext_seq = stream.highest_seq + d_seq;
        stream.bad_seq = None;
        let ext_ts = stream.ext_ts(packet.timestamp);
        let mut out = ext_ts + stream.base;
        if d_seq > 0 && kind != PayloadKind::TelephoneEvent {
            // A newer packet: check its timestamp against the wall clock.
            let gap = out - stream.highest_out;
            let by_clock = ticks_since(stream.highest_arrival_ms, now_ms);
            let jump = gap < -TRUSTED_GAP || (gap > TRUSTED_GAP && gap > by_clock + JUMP_TOLERANCE);
            let ahead = self.ahead_limit(now_ms).is_some_and(|limit| out > limit);
            if jump || ahead {
                self.flush(sink);
                let placed = self.by_clock(stream.highest_out + by_clock);
                if ahead && self.ahead_limit(now_ms).is_some_and(|limit| placed > limit) {
                    // Even by the clock it would run ahead: what is written already is.
                    log::trace!("RTP ahead of the wall clock; dropped");
                    self.stats.too_early += 1;
                    return;
                }
                log::debug!("RTP timestamp jump of {gap} ticks; placing by the clock");
                self.stats.discontinuities += 1;
                out = placed;
                stream.base = out - ext_ts;
            }
        }
        if self.is_known(ext_seq) {
            self.stats.duplicates += 1;
            self.stream = Some(stream);
            return;
        }
        stream.seen += 1;
        if d_seq > 0 {
            stream.highest_seq = ext_seq;
            stream.highest_ts = ext_ts;
            stream.highest_out = out;
            stream.highest_arrival_ms = now_ms;
            if kind != PayloadKind::TelephoneEvent {
                self.note_lead(now_ms, out);
            }
        }
        self.stream = Some(stream);
        let slot_kind = match kind {
            PayloadKind::TelephoneEvent => {
                self.stats.telephone_events += 1;
                self.remember(ext_seq);
                return;
            }
            PayloadKind::ComfortNoise => {
                self.stats.comfort_noise += 1;
                SlotKind::ComfortNoise
            }
            PayloadKind::Audio(codec) => SlotKind::Audio(codec),
        };
        let len = if slot_kind == SlotKind::ComfortNoise {
            0
        } else {
            packet.payload.len()
        };
        let end = out + len as i64;
        if out < 0 || end < self.next_out as i64 || (len > 0 && end == self.next_out as i64) {
            self.stats.late += 1;
            return;
        }
        if d_seq < 0 {
            self.stats.reordered += 1;
        }
        let slot = &mut self.slots[self.used];
        slot.out = out as u64;
        slot.ext_seq = ext_seq;
        slot.arrival_ms = now_ms;
        slot.kind = slot_kind;
        slot.payload.clear();
        if slot_kind != SlotKind::ComfortNoise {
            // Cannot fail: the payload was checked against MAX_PAYLOAD above.
            let _ = slot.payload.extend_from_slice(packet.payload);
        }
        self.used += 1;
        if self.used > self.cfg.window {
            self.release_first(sink);
        }
    }

    fn begin_stream(&mut self, now_ms: u64, packet: &RtpPacket<'_>) -> Stream {
        let ext_ts = i64::from(packet.timestamp);
        let out = match self.anchor {
            Anchor::AtEnd => {
                // After a start or a resume the clock starts again where the timeline ends.
                self.clock = Some(WallClock {
                    base: self.next_out as i64 - ticks_at(now_ms),
                    since_ms: now_ms,
                    lead: Lead::Opening {
                        high: 0,
                        step: 0,
                        step_ms: now_ms,
                    },
                });
                self.next_out as i64
            }
            Anchor::ByClock { out, arrival_ms } => {
                self.by_clock(out + ticks_since(arrival_ms, now_ms))
            }
        };
        let seq = i64::from(packet.sequence);
        let stream = Stream {
            ssrc: packet.ssrc,
            highest_seq: seq - 1,
            highest_ts: ext_ts,
            highest_out: out,
            highest_arrival_ms: now_ms,
            base: out - ext_ts,
            first_seq: seq,
            seen: 0,
            bad_seq: None,
        };
        self.history = [i64::MIN; HISTORY];
        self.stream = Some(stream);
        stream
    }

    /// A position the wall clock gave (millisecond precision), never before what is written,
    /// rounded to whole frames after it so the file stays frame-aligned.
    fn by_clock(&self, out: i64) -> i64 {
        let end = self.next_out as i64;
        let frame = self.frame as i64;
        if out <= end || frame == 0 {
            return end;
        }
        end + ((out - end) + frame / 2) / frame * frame
    }

    /// The furthest a packet may start at `now_ms` ([`TimelineConfig::max_ahead_ms`]).
    fn ahead_limit(&self, now_ms: u64) -> Option<i64> {
        let (max_ms, clock) = (self.cfg.max_ahead_ms?, self.clock?);
        let drift = ticks_since(0, now_ms.saturating_sub(clock.since_ms) / 1000);
        let ahead = match settled(clock, now_ms, max_ms) {
            Lead::Opening { .. } => ticks_since(0, max_ms),
            Lead::Settled { allowance } => allowance,
        };
        Some(
            ticks_at(now_ms)
                .saturating_add(clock.base)
                .saturating_add(ahead)
                .saturating_add(drift),
        )
    }

    /// A newer packet starting at `out` was placed at `now_ms`: the opening burst ends if its
    /// time is up, else takes the packet's lead into account.
    fn note_lead(&mut self, now_ms: u64, out: i64) {
        let Some(max_ms) = self.cfg.max_ahead_ms else {
            return;
        };
        let Some(clock) = self.clock.as_mut() else {
            return;
        };
        clock.lead = settled(*clock, now_ms, max_ms);
        if let Lead::Opening {
            high,
            step,
            step_ms,
        } = &mut clock.lead
        {
            let lead = out.saturating_sub(ticks_at(now_ms).saturating_add(clock.base));
            *high = (*high).max(lead);
            if lead >= step.saturating_add(ticks_since(0, LEAD_STEP_MS)) {
                *step = lead;
                *step_ms = now_ms;
            }
        }
    }

    fn end_stream(&mut self) {
        if let Some(s) = self.stream.take() {
            self.stats.lost += s.lost();
            self.anchor = Anchor::ByClock {
                out: s.highest_out,
                arrival_ms: s.highest_arrival_ms,
            };
        }
    }

    fn is_known(&self, ext_seq: i64) -> bool {
        self.history.contains(&ext_seq)
            || self.slots[..self.used].iter().any(|s| s.ext_seq == ext_seq)
    }

    fn remember(&mut self, ext_seq: i64) {
        self.history[self.history_at] = ext_seq;
        self.history_at = (self.history_at + 1) % HISTORY;
    }

    /// Hands the earliest waiting packet to the sink.
    fn release_first(&mut self, sink: &mut impl AudioSink) {
        let Some(i) = (0..self.used).min_by_key(|&i| (self.slots[i].out, self.slots[i].ext_seq))
        else {
            return;
        };
        self.used -= 1;
        self.slots.swap(i, self.used);
        let slot = &self.slots[self.used];
        let ext_seq = slot.ext_seq;
        if let SlotKind::Audio(codec) = slot.kind {
            if self.codec != Some(codec) {
                sink.set_codec(codec, slot.payload.len());
                self.codec = Some(codec);
                self.frame = slot.payload.len() as u64;
            }
        }
        if slot.out > self.next_out {
            let gap = slot.out - self.next_out;
            sink.silence(gap);
            self.stats.silence_ticks += gap;
            self.next_out = slot.out;
        }
        if slot.kind != SlotKind::ComfortNoise {
            // Skip a head that overlaps what is written already (a packet-time change).
            let skip = (self.next_out - slot.out) as usize;
            if let Some(rest) = slot.payload.get(skip..).filter(|r| !r.is_empty()) {
                sink.audio(rest);
                self.stats.audio += 1;
                self.stats.audio_ticks += rest.len() as u64;
                self.next_out += rest.len() as u64;
            }
        }
        self.remember(ext_seq);
    }
}

/// `clock`'s lead rule at `now_ms`: the opening burst ends [`SETTLE_MS`] after the lead last
/// grew by a step, or `max_ms` after it began; the allowance from then on is the highest lead it
/// reached and [`LEAD_JITTER_MS`], within `max_ms`.
fn settled(clock: WallClock, now_ms: u64, max_ms: u64) -> Lead {
    match clock.lead {
        Lead::Opening { high, step_ms, .. }
            if now_ms.saturating_sub(step_ms) >= SETTLE_MS
                || now_ms.saturating_sub(clock.since_ms) >= max_ms =>
        {
            let allowance = high
                .max(0)
                .saturating_add(ticks_since(0, LEAD_JITTER_MS))
                .min(ticks_since(0, max_ms));
            Lead::Settled { allowance }
        }
        lead => lead,
    }
}

/// `now_ms` in ticks.
fn ticks_at(now_ms: u64) -> i64 {
    ticks_since(0, now_ms)
}

fn ticks_since(then_ms: u64, now_ms: u64) -> i64 {
    (now_ms.saturating_sub(then_ms).saturating_mul(TICKS_PER_MS)).min(i64::MAX as u64) as i64
}

#[cfg(test)]
mod tests;
