use super::*;

/// Records what the timeline hands out, as a flat byte timeline plus events.
#[derive(Default)]
struct Tape {
    bytes: Vec<u8>,
    codecs: Vec<(Codec, usize)>,
}

impl AudioSink for Tape {
    fn set_codec(&mut self, codec: Codec, frame_len: usize) {
        self.codecs.push((codec, frame_len));
    }
    fn silence(&mut self, ticks: u64) {
        let b = self.codecs.last().map_or(0xEE, |c| c.0.silence_byte());
        self.bytes.extend(std::iter::repeat_n(b, ticks as usize));
    }
    fn audio(&mut self, payload: &[u8]) {
        self.bytes.extend_from_slice(payload);
    }
}

const SSRC: u32 = 0x1111_2222;

fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 12 + payload.len()];
    RtpPacket::emit(&mut out, false, pt, seq, ts, ssrc, payload).unwrap();
    out
}

/// A 20 ms PCMA frame whose every byte is `n` (so the tape shows which packet landed where).
fn frame(n: u8) -> [u8; 160] {
    [n; 160]
}

fn pcma(seq: u16, ts: u32, n: u8) -> Vec<u8> {
    pkt(8, seq, ts, SSRC, &frame(n))
}

fn timeline() -> Timeline {
    Timeline::new(TimelineConfig {
        window: 4,
        hold_ms: 100,
        telephone_event_pt: 101,
        max_ahead_ms: None,
    })
}

/// The tape as one label per 160-byte frame.
fn frames(t: &Tape) -> Vec<u8> {
    t.bytes.chunks(160).map(|c| c[0]).collect()
}

#[test]
fn in_order_stream_is_copied() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    for i in 0..10u8 {
        tl.push(
            u64::from(i) * 20,
            &pcma(1000 + u16::from(i), 5000 + u32::from(i) * 160, i + 1),
            &mut tape,
        );
    }
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), (1..=10).collect::<Vec<_>>());
    assert_eq!(tape.codecs, vec![(Codec::Pcma, 160)]);
    assert_eq!(tl.position(), 1600);
    let s = tl.stats();
    assert_eq!(
        (s.audio, s.lost, s.late, s.duplicates, s.reordered),
        (10, 0, 0, 0, 0)
    );
}

#[test]
fn reordered_packets_are_put_back() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    for (k, i) in [0u8, 2, 1, 3, 5, 4, 6].into_iter().enumerate() {
        tl.push(
            k as u64 * 20,
            &pcma(u16::from(i), u32::from(i) * 160, i),
            &mut tape,
        );
    }
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(tl.stats().reordered, 2);
}

#[test]
fn loss_becomes_silence_and_is_counted() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    for i in [0u8, 1, 4, 5] {
        tl.push(
            u64::from(i) * 20,
            &pcma(u16::from(i), u32::from(i) * 160, 10 + i),
            &mut tape,
        );
    }
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![10, 11, 0xD5, 0xD5, 14, 15]);
    let s = tl.stats();
    assert_eq!(s.lost, 2);
    assert_eq!(s.silence_ticks, 320);
}

#[test]
fn duplicates_and_late_packets_are_dropped_and_counted() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    for i in 0..8u8 {
        tl.push(
            u64::from(i) * 20,
            &pcma(u16::from(i), u32::from(i) * 160, i),
            &mut tape,
        );
        if i == 2 {
            tl.push(41, &pcma(2, 320, 99), &mut tape); // duplicate still in the window
        }
    }
    // Seq 1 again, long after it was written: a duplicate (remembered).
    tl.push(200, &pcma(1, 160, 98), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), (0..8).collect::<Vec<_>>());
    assert_eq!(tl.stats().duplicates, 2);

    // A packet that was lost, then shows up after its place was written: late.
    let mut tl = timeline();
    let mut tape = Tape::default();
    for i in [0u8, 1, 3, 4, 5, 6, 7, 8] {
        tl.push(
            u64::from(i) * 20,
            &pcma(u16::from(i), u32::from(i) * 160, i),
            &mut tape,
        );
    }
    tl.push(500, &pcma(2, 320, 2), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![0, 1, 0xD5, 3, 4, 5, 6, 7, 8]);
    assert_eq!((tl.stats().late, tl.stats().duplicates), (1, 0));
}

#[test]
fn sequence_and_timestamp_wrap_around() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    let seq0 = 65_533u16;
    let ts0 = u32::MAX - 320 + 1; // wraps after two frames
    for i in 0..6u16 {
        let seq = seq0.wrapping_add(i);
        let ts = ts0.wrapping_add(u32::from(i) * 160);
        if i == 4 {
            continue; // one lost packet right after the wrap
        }
        tl.push(u64::from(i) * 20, &pcma(seq, ts, i as u8), &mut tape);
    }
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![0, 1, 2, 3, 0xD5, 5]);
    assert_eq!(tl.stats().lost, 1);
    assert_eq!(tl.stats().discontinuities, 0);
}

#[test]
fn comfort_noise_interval_is_silence() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    tl.push(20, &pkt(13, 1, 160, SSRC, &[40]), &mut tape); // CN, then nothing for 100 ms
    tl.push(120, &pcma(2, 960, 2), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![1, 0xD5, 0xD5, 0xD5, 0xD5, 0xD5, 2]);
    assert_eq!(tl.stats().comfort_noise, 1);
    assert_eq!(tl.stats().lost, 0);
}

#[test]
fn telephone_events_are_not_audio_and_not_loss() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    // DTMF for 40 ms: two event packets carrying the event's start timestamp.
    tl.push(20, &pkt(101, 1, 160, SSRC, &[5, 10, 0, 160]), &mut tape);
    tl.push(40, &pkt(101, 2, 160, SSRC, &[5, 0x8A, 1, 64]), &mut tape);
    tl.push(60, &pcma(3, 480, 2), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![1, 0xD5, 0xD5, 2]);
    let s = tl.stats();
    assert_eq!((s.telephone_events, s.lost, s.duplicates), (2, 0, 0));

    // With another telephone-event payload type configured, 101 is unknown.
    let mut tl = Timeline::new(TimelineConfig {
        telephone_event_pt: 96,
        ..Default::default()
    });
    tl.push(0, &pkt(101, 1, 160, SSRC, &[5, 10, 0, 160]), &mut tape);
    tl.push(0, &pkt(96, 2, 160, SSRC, &[5, 10, 0, 160]), &mut tape);
    assert_eq!(
        (tl.stats().unknown_payload_type, tl.stats().telephone_events),
        (1, 1)
    );
}

#[test]
fn new_ssrc_continues_on_the_wall_clock() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    for i in 0..3u8 {
        tl.push(
            u64::from(i) * 20,
            &pcma(u16::from(i), u32::from(i) * 160, 1),
            &mut tape,
        );
    }
    // The engine restarts: new SSRC, random numbering, first packet 100 ms after the last one.
    for i in 0..2u8 {
        let p = pkt(
            8,
            40_000 + u16::from(i),
            77_777 + u32::from(i) * 160,
            0xABCD,
            &frame(2),
        );
        tl.push(140 + u64::from(i) * 20, &p, &mut tape);
    }
    tl.flush(&mut tape);
    // Old frames at 0,20,40 ms; the new stream's first frame belongs at 40 + 100 = 140 ms.
    assert_eq!(frames(&tape), vec![1, 1, 1, 0xD5, 0xD5, 0xD5, 0xD5, 2, 2]);
    assert_eq!(tl.stats().ssrc_changes, 1);
    assert_eq!(tl.stats().lost, 0);
}

#[test]
fn timestamp_jump_without_a_matching_pause_is_placed_by_the_clock() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    tl.push(20, &pcma(1, 160, 1), &mut tape);
    // Next packet 20 ms later claims to be 10 minutes later.
    tl.push(40, &pcma(2, 160 + 8000 * 600, 2), &mut tape);
    tl.push(60, &pcma(3, 320 + 8000 * 600, 3), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![1, 1, 2, 3]);
    assert_eq!(tl.stats().discontinuities, 1);

    // A 3 s gap within the trusted bound is silence even if it arrives at once (a burst).
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    tl.push(1, &pcma(1, 160 + 24_000, 2), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(tape.bytes.len(), 160 + 24_000 + 160);
}

#[test]
fn sequence_restart_is_confirmed_by_a_second_packet() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(100, 0, 1), &mut tape);
    tl.push(20, &pcma(101, 160, 1), &mut tape);
    // A stray packet far away in sequence space is dropped...
    tl.push(30, &pcma(30_000, 999, 9), &mut tape);
    // ...but two in a row mean the numbering restarted.
    tl.push(40, &pcma(20_000, 320, 2), &mut tape);
    tl.push(60, &pcma(20_001, 480, 3), &mut tape);
    tl.flush(&mut tape);
    // As in RFC 3550 A.1 the packet that opened the jump is dropped; the confirming one is
    // placed by the clock, 40 ms after the last good packet.
    assert_eq!(frames(&tape), vec![1, 1, 0xD5, 3]);
    assert_eq!(tl.stats().out_of_sequence, 3);
    assert_eq!(tl.stats().discontinuities, 1);
}

#[test]
fn packet_time_change_is_written_by_timestamp() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    tl.push(20, &pkt(8, 1, 160, SSRC, &[2; 320]), &mut tape); // 40 ms now
    tl.push(60, &pkt(8, 2, 480, SSRC, &[3; 80]), &mut tape); // 10 ms
    tl.flush(&mut tape);
    assert_eq!(tape.bytes.len(), 160 + 320 + 80);
    assert_eq!(tape.codecs, vec![(Codec::Pcma, 160)]);
    assert_eq!(&tape.bytes[470..490], &[[2u8; 10], [3u8; 10]].concat()[..]);
}

#[test]
fn codec_change_is_announced() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    tl.push(20, &pkt(0, 1, 160, SSRC, &[2; 160]), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(tape.codecs, vec![(Codec::Pcma, 160), (Codec::Pcmu, 160)]);
}

#[test]
fn hold_time_releases_without_more_packets() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(1000, &pcma(0, 0, 1), &mut tape);
    assert_eq!(tl.poll_timeout(), Some(1100));
    tl.handle_timeout(1099, &mut tape);
    assert!(tape.bytes.is_empty());
    tl.handle_timeout(1100, &mut tape);
    assert_eq!(frames(&tape), vec![1]);
    assert_eq!(tl.poll_timeout(), None);
}

#[test]
fn resume_continues_at_the_end_without_the_paused_gap() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &pcma(0, 0, 1), &mut tape);
    tl.flush(&mut tape);
    tl.restart_at_end();
    // Ten seconds later, same stream.
    tl.push(10_000, &pcma(500, 80_000, 2), &mut tape);
    tl.flush(&mut tape);
    assert_eq!(frames(&tape), vec![1, 2]);
}

#[test]
fn malformed_and_oversized_are_counted_by_reason() {
    let mut tl = timeline();
    let mut tape = Tape::default();
    tl.push(0, &[0x80, 8, 0], &mut tape);
    tl.push(0, &[0x40; 20], &mut tape);
    tl.push(0, &pkt(8, 0, 0, SSRC, &[0; MAX_PAYLOAD + 1]), &mut tape);
    tl.push(0, &pkt(18, 0, 0, SSRC, &[0; 20]), &mut tape);
    let s = tl.stats();
    assert_eq!(s.malformed[RtpError::TooShort.index()], 1);
    assert_eq!(s.malformed[RtpError::BadVersion.index()], 1);
    assert_eq!((s.oversized, s.unknown_payload_type, s.received), (1, 1, 4));
    assert!(tape.bytes.is_empty());
}

#[test]
fn random_input_never_panics_and_output_is_bounded_by_time() {
    // A deterministic stream of hostile packets.
    let mut rng = crate::test_rng::Rng(0x9E37_79B9_7F4A_7C15);
    let mut next = || rng.next_u64();
    let mut tl = timeline();
    let mut tape = Tape::default();
    for i in 0..20_000u64 {
        let r = next();
        let pt = [0u8, 8, 9, 13, 101, 77][(r % 6) as usize];
        let len = (r >> 8) as usize % 400;
        let mut p = pkt(
            pt,
            (r >> 16) as u16 % 50,
            (r >> 32) as u32 % 100_000,
            SSRC ^ (r as u32 & 1),
            &vec![7; len],
        );
        if r % 17 == 0 {
            p.truncate((r >> 40) as usize % p.len());
        }
        tl.push(i, &p, &mut tape);
        tl.handle_timeout(i, &mut tape);
    }
    tl.flush(&mut tape);
    // Whatever came in, the timeline never runs far ahead of the 20 s of wall clock fed in
    // (5 s trusted gap per jump is the most any single packet can add).
    assert!(tape.bytes.len() as u64 <= tl.position());
}

fn limited(max_ahead_ms: u64) -> Timeline {
    Timeline::new(TimelineConfig {
        max_ahead_ms: Some(max_ahead_ms),
        ..TimelineConfig::default()
    })
}

/// `n` 20 ms PCMA packets numbered one after the other from `seq0`, the k-th arriving at
/// `at(k)`, with `ssrc(k)`.
fn feed(
    tl: &mut Timeline,
    tape: &mut Tape,
    n: u32,
    at: impl Fn(u32) -> u64,
    ssrc: impl Fn(u32) -> u32,
) {
    for k in 0..n {
        let p = pkt(8, k as u16, k * 160, ssrc(k), &frame(1));
        tl.push(at(k), &p, tape);
        tl.handle_timeout(at(k), tape);
    }
    tl.flush(tape);
}

#[test]
fn a_flood_of_numbered_packets_keeps_to_the_wall_clock() {
    // 10,000 packets (200 s of audio) in 10 s: without a limit the recording is 200 s long...
    let mut tl = timeline();
    let mut tape = Tape::default();
    feed(&mut tl, &mut tape, 10_000, u64::from, |_| SSRC);
    assert_eq!(tl.position(), 200 * 8000);
    // ...with one, at most the 10 s plus the second ahead, a frame and the drift allowance.
    let mut tl = limited(1000);
    let mut tape = Tape::default();
    feed(&mut tl, &mut tape, 10_000, u64::from, |_| SSRC);
    let most = (10_000 + 1000 + 20 + 10) * 8;
    assert!(tl.position() <= most, "{} > {most}", tl.position());
    assert!(tl.position() >= 10_000 * 8, "{}", tl.position());
    assert_eq!(tape.bytes.len() as u64, tl.position());
    let s = tl.stats();
    assert!(s.too_early > 9000, "{s:?}");
    assert_eq!(s.audio + s.too_early, 10_000);
}

#[test]
fn new_ssrcs_gain_a_flood_no_lead() {
    // The same flood, a new SSRC every three packets.
    let mut tl = limited(1000);
    let mut tape = Tape::default();
    feed(&mut tl, &mut tape, 10_000, u64::from, |k| SSRC + k / 3);
    assert!(
        tl.position() <= (10_000 + 1000 + 20 + 10) * 8,
        "{}",
        tl.position()
    );
    assert!(tl.stats().ssrc_changes > 3000);
}

#[test]
fn a_backlog_then_the_live_stream_is_kept_whole() {
    // The agent's backlog: 7.5 s of audio at once, then the stream on time for a minute.
    let mut tl = limited(8192);
    let mut tape = Tape::default();
    let held = 375;
    feed(
        &mut tl,
        &mut tape,
        held + 3000,
        |k| u64::from(k.saturating_sub(held)) * 20,
        |_| SSRC,
    );
    let s = tl.stats();
    assert_eq!((s.too_early, s.discontinuities, s.lost), (0, 0, 0));
    assert_eq!(tl.position(), u64::from(held + 3000) * 160);
    // A backlog past the limit loses its end, and only that.
    let mut tl = limited(1000);
    let mut tape = Tape::default();
    feed(
        &mut tl,
        &mut tape,
        100 + 50,
        |k| u64::from(k.saturating_sub(100)) * 20,
        |_| SSRC,
    );
    let s = tl.stats();
    assert!(s.too_early > 0 && s.too_early < 100, "{s:?}");
}

#[test]
fn a_sender_clock_a_little_fast_loses_nothing_in_an_hour() {
    // Timestamps 0.05% fast: 1.8 s ahead after an hour, within the jitter allowance and 1 ms a
    // second (no backlog: the opening burst ends after a second).
    let mut tl = limited(1000);
    let mut tape = Tape::default();
    let n = 180_000;
    feed(
        &mut tl,
        &mut tape,
        n,
        |k| u64::from(k) * 19_990 / 1000,
        |_| SSRC,
    );
    let s = tl.stats();
    assert_eq!((s.too_early, s.discontinuities), (0, 0), "{s:?}");
    assert_eq!(tl.position(), u64::from(n) * 160);
}

#[test]
fn a_resume_starts_the_wall_clock_again() {
    let mut tl = limited(1000);
    let mut tape = Tape::default();
    feed(&mut tl, &mut tape, 50, |k| u64::from(k) * 20, |_| SSRC);
    tl.restart_at_end();
    // After a pause of a minute, 2 s of backlog at once: 1 s of it fits ahead of the clock.
    for k in 0..100u32 {
        let p = pkt(8, 1000 + k as u16, 500_000 + k * 160, SSRC, &frame(2));
        tl.push(61_000, &p, &mut tape);
    }
    tl.flush(&mut tape);
    let s = tl.stats();
    let kept = tl.position() / 160 - 50;
    assert!((50..=52).contains(&kept), "{kept} {s:?}");
    assert_eq!(s.too_early, 100 - kept);
}

/// What a phone sends for the lead tests: 20 ms PCMA frames numbered one after the other.
struct Phone {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Phone {
    fn new(ssrc: u32, seq: u16, ts: u32) -> Phone {
        Phone { ssrc, seq, ts }
    }

    /// The next frame, labelled `label`, arriving at `at_ms`.
    fn send(&mut self, tl: &mut Timeline, tape: &mut Tape, at_ms: u64, label: u8) {
        tl.push(
            at_ms,
            &pkt(8, self.seq, self.ts, self.ssrc, &frame(label)),
            tape,
        );
        tl.handle_timeout(at_ms, tape);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
    }
}

/// The server's limit: the agent's backlog in G.711.
const SERVER_AHEAD_MS: u64 = 8192;

/// Ticks a recording whose packets came over `wall_ms` of the clock may hold past its true
/// length: the jitter allowance, a frame and the drift allowance (and a ms for rounding).
fn slack(wall_ms: u64) -> u64 {
    (LEAD_JITTER_MS + 20 + wall_ms / 1000 + 1) * 8
}

#[test]
fn a_flood_mid_call_keeps_the_recording_to_its_true_length() {
    // With no backlog, 2 s of it and the agent's whole one (375 frames): live for 3 s, then a
    // flood of twenty times the packet rate for 10 s. Before the lead rule the flood ran up to
    // 8,192 ms ahead of the clock.
    for backlog in [0u64, 100, 375] {
        let mut tl = limited(SERVER_AHEAD_MS);
        let mut tape = Tape::default();
        let mut phone = Phone::new(SSRC, 4000, 90_000);
        for _ in 0..backlog {
            phone.send(&mut tl, &mut tape, 0, 1);
        }
        for k in 0..150 {
            phone.send(&mut tl, &mut tape, 20 + k * 20, 1);
        }
        let before = tl.stats();
        for k in 0..10_000 {
            phone.send(&mut tl, &mut tape, 3020 + k, 2);
        }
        tl.flush(&mut tape);
        // The true length: the backlog's lead (all but its last frame) and the wall clock up to
        // the last arrival, 13,019 ms, and that packet's frame.
        let last_ms = 3020 + 9_999;
        let lead_ms = backlog.saturating_sub(1) * 20;
        let true_ticks = (lead_ms + last_ms + 20) * 8;
        let got = tl.position();
        assert!(
            got <= true_ticks + slack(last_ms),
            "backlog {backlog}: {got} > {true_ticks} + {}",
            slack(last_ms)
        );
        assert!(
            got + 160 >= true_ticks,
            "backlog {backlog}: {got} < {true_ticks}"
        );
        assert_eq!(before.too_early, 0, "backlog {backlog}: {before:?}");
        // The backlog and the live audio are all there, in order, before the flood's.
        let f = frames(&tape);
        let normal = backlog as usize + 150;
        assert!(f[..normal].iter().all(|&x| x == 1), "backlog {backlog}");
        assert!(f[normal..].iter().all(|&x| x == 2), "backlog {backlog}");
        assert!(tl.stats().too_early > 9000, "{:?}", tl.stats());
    }
}

#[test]
fn the_agents_backlog_survives_a_stall_and_jitter_whole() {
    // 375 frames held while the server answered: 200 at once, a 400 ms stall, the rest 150 ms
    // later still (the network congested from then on). The live stream, delayed the same
    // 150 ms for its first 2 s, then on time with up to 30 ms of jitter (so up to 150 ms
    // earlier than while the opening burst measured its lead), a 300 ms stall delivered at
    // once, and on for a minute. The network keeps the order (a queue): reordering is the
    // window's business, tested above.
    let mut tl = limited(SERVER_AHEAD_MS);
    let mut tape = Tape::default();
    let mut phone = Phone::new(SSRC, 65_000, u32::MAX - 8000);
    let mut rng = crate::test_rng::Rng(0x5EED);
    let mut labels = Vec::new();
    let label = |n: usize| (n % 200) as u8 + 1;
    let mut n = 0;
    for k in 0..375 {
        let at = if k < 200 { 0 } else { 400 + 150 };
        phone.send(&mut tl, &mut tape, at, label(n));
        labels.push(label(n));
        n += 1;
    }
    let mut arrivals: Vec<u64> = Vec::new();
    let mut prev = 0;
    for j in 0..3000u64 {
        let nominal = 400 + (j + 1) * 20;
        let at = if j < 100 {
            nominal + 150
        } else if (500..515).contains(&j) {
            500 * 20 + 400 + 300 // the stall: all at once
        } else {
            nominal + rng.next_u64() % 30
        };
        prev = at.max(prev);
        arrivals.push(prev);
    }
    let mut live: Vec<Vec<u8>> = Vec::new();
    for _ in 0..arrivals.len() {
        live.push(pkt(8, phone.seq, phone.ts, SSRC, &frame(label(n))));
        labels.push(label(n));
        phone.seq = phone.seq.wrapping_add(1);
        phone.ts = phone.ts.wrapping_add(160);
        n += 1;
    }
    for (at, p) in arrivals.iter().zip(&live) {
        tl.push(*at, p, &mut tape);
        tl.handle_timeout(*at, &mut tape);
    }
    tl.flush(&mut tape);
    let s = tl.stats();
    assert_eq!(
        (s.too_early, s.discontinuities, s.lost, s.late),
        (0, 0, 0, 0),
        "{s:?}"
    );
    assert_eq!(frames(&tape), labels);
    assert_eq!(tape.bytes.len(), n * 160);
}

#[test]
fn a_resume_takes_its_backlog_and_then_holds_a_flood_to_the_clock() {
    let mut tl = limited(SERVER_AHEAD_MS);
    let mut tape = Tape::default();
    let mut phone = Phone::new(SSRC, 0, 0);
    for k in 0..100 {
        phone.send(&mut tl, &mut tape, k * 20, 1);
    }
    tl.flush(&mut tape);
    tl.restart_at_end();
    // A minute's pause, then 3 s held while the server answered the resume, at once, then live
    // for 2 s, then a flood for 5 s.
    let resumed = 62_000;
    for _ in 0..150 {
        phone.send(&mut tl, &mut tape, resumed, 2);
    }
    for k in 0..100 {
        phone.send(&mut tl, &mut tape, resumed + 20 + k * 20, 3);
    }
    assert_eq!(tl.stats().too_early, 0);
    for k in 0..5000 {
        phone.send(&mut tl, &mut tape, resumed + 2020 + k, 4);
    }
    tl.flush(&mut tape);
    let f = frames(&tape);
    assert!(f[..100].iter().all(|&x| x == 1));
    assert!(f[100..250].iter().all(|&x| x == 2));
    assert!(f[250..350].iter().all(|&x| x == 3));
    // Before the pause 2 s; after it the backlog's lead (2,980 ms) and the clock to the last
    // arrival (7,019 ms), and its frame.
    let last_ms = 2020 + 4999;
    let true_ticks = (2000 + 2980 + last_ms + 20) * 8;
    let got = tl.position();
    assert!(got <= true_ticks + slack(last_ms), "{got} > {true_ticks}");
    assert!(got + 160 >= true_ticks, "{got} < {true_ticks}");
    assert!(tl.stats().too_early > 4000);
}

#[test]
fn a_new_ssrc_mid_call_keeps_the_backlogs_lead_and_gains_a_flood_none() {
    let mut tl = limited(SERVER_AHEAD_MS);
    let mut tape = Tape::default();
    // 2 s of backlog, live for 2 s; the media engine restarts (new SSRC and numbering, the next
    // frame on time), live for 2 s more.
    let mut phone = Phone::new(SSRC, 100, 1000);
    for _ in 0..100 {
        phone.send(&mut tl, &mut tape, 0, 1);
    }
    for k in 0..100 {
        phone.send(&mut tl, &mut tape, 20 + k * 20, 1);
    }
    let mut restarted = Phone::new(0xABCD, 30_000, 7_777_777);
    for k in 0..100 {
        restarted.send(&mut tl, &mut tape, 2020 + k * 20, 2);
    }
    let s = tl.stats();
    assert_eq!((s.too_early, s.ssrc_changes), (0, 1), "{s:?}");
    // Then a flood for 5 s with a new SSRC every three packets.
    for k in 0..5000u32 {
        let mut p = Phone::new(0x7000_0000 + k / 3, k as u16, k * 160);
        p.send(&mut tl, &mut tape, 4020 + u64::from(k), 3);
    }
    tl.flush(&mut tape);
    let f = frames(&tape);
    assert!(f[..200].iter().all(|&x| x == 1));
    assert!(f[200..300].iter().all(|&x| x == 2), "{:?}", &f[195..305]);
    let last_ms = 4020 + 4999;
    let true_ticks = (1980 + last_ms + 20) * 8;
    let got = tl.position();
    assert!(got <= true_ticks + slack(last_ms), "{got} > {true_ticks}");
    assert!(tl.stats().ssrc_changes > 1600);
}

#[test]
fn the_opening_burst_ends_a_backlogs_worth_of_time_after_it_began() {
    // A sender half as fast again as real time from the start never keeps pace, so its opening
    // burst lasts until 8,192 ms have passed: by then 4 s ahead, and no further after.
    let mut tl = limited(SERVER_AHEAD_MS);
    let mut tape = Tape::default();
    let mut phone = Phone::new(SSRC, 0, 0);
    for k in 0..2250u64 {
        phone.send(&mut tl, &mut tape, k * 40 / 3, 1);
    }
    tl.flush(&mut tape);
    let last_ms = 2249 * 40 / 3;
    let got = tl.position();
    let most = (last_ms + SERVER_AHEAD_MS / 2 + 20) * 8 + slack(last_ms);
    assert!(got <= most, "{got} > {most}");
    assert!(got >= (last_ms + SERVER_AHEAD_MS / 2) * 8, "{got}");
}
