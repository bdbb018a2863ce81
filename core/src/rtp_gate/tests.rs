use super::*;

const PHONE: [u8; 4] = [192, 0, 2, 10];

fn addr(ip: [u8; 4], port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::from((ip, port)))
}

/// An RTP datagram of `payload` bytes.
fn rtp(ssrc: u32, seq: u16, payload: usize) -> Vec<u8> {
    let mut out = vec![0u8; 12 + payload];
    let body = vec![0xD5; payload];
    RtpPacket::emit(&mut out, false, 8, seq, u32::from(seq) * 160, ssrc, &body).unwrap();
    out
}

fn gate() -> RtpGate {
    RtpGate::new(IpAddr::from(PHONE), GateLimits::default(), 0)
}

#[test]
fn the_first_rtp_from_the_phone_latches_its_source() {
    let mut g = gate();
    let phone = addr(PHONE, 5004);
    assert_eq!(g.check(phone, 0, &rtp(1, 0, 160)), Verdict::Record);
    assert_eq!(g.latched(), Some((phone.unwrap(), 1)));
    // Another port of the phone's IP, another IP, another SSRC from another port: strangers.
    assert_eq!(
        g.check(addr(PHONE, 5006), 1, &rtp(1, 1, 160)),
        Verdict::Stranger
    );
    assert_eq!(
        g.check(addr([192, 0, 2, 11], 5004), 2, &rtp(1, 2, 160)),
        Verdict::Stranger
    );
    assert_eq!(
        g.check(addr(PHONE, 6000), 3, &rtp(2, 0, 160)),
        Verdict::Stranger
    );
    assert_eq!(g.check(None, 4, &rtp(1, 3, 160)), Verdict::Stranger);
    // The latched source goes on, a malformed datagram included (the recorder counts it).
    assert_eq!(g.check(phone, 20, &rtp(1, 1, 160)), Verdict::Record);
    assert_eq!(g.check(phone, 21, b"junk"), Verdict::Record);
    assert_eq!(
        g.stats(),
        GateStats {
            strangers: 4,
            flood_dropped: 0
        }
    );
    assert_eq!(g.latched(), Some((phone.unwrap(), 1)));
}

#[test]
fn a_new_ssrc_from_the_latched_source_is_the_engine_restarting() {
    let mut g = gate();
    let phone = addr(PHONE, 5004);
    assert_eq!(g.check(phone, 0, &rtp(1, 0, 160)), Verdict::Record);
    assert_eq!(g.check(phone, 20, &rtp(7, 900, 160)), Verdict::Record);
    assert_eq!(g.latched(), Some((phone.unwrap(), 7)));
    // The old SSRC from elsewhere is still a stranger.
    assert_eq!(
        g.check(addr(PHONE, 5005), 40, &rtp(1, 1, 160)),
        Verdict::Stranger
    );
}

#[test]
fn nothing_but_the_phones_rtp_takes_the_latch() {
    let mut g = gate();
    // Junk and RTCP from the phone's IP, RTP from another IP: all strangers, no latch.
    assert_eq!(g.check(addr(PHONE, 9), 0, b"\x00"), Verdict::Stranger);
    let mut rtcp = rtp(1, 0, 20);
    rtcp[1] = 200; // an RTCP sender report's packet type
    assert_eq!(g.check(addr(PHONE, 9), 0, &rtcp), Verdict::Stranger);
    assert_eq!(
        g.check(addr([198, 51, 100, 1], 5004), 0, &rtp(1, 0, 160)),
        Verdict::Stranger
    );
    assert_eq!(g.latched(), None);
    // Then the phone's first packet, from a port that sent junk before, latches.
    assert_eq!(g.check(addr(PHONE, 9), 1, &rtp(3, 0, 160)), Verdict::Record);
    assert_eq!(g.latched(), Some((addr(PHONE, 9).unwrap(), 3)));
    assert_eq!(g.stats().strangers, 3);
}

#[test]
fn an_ipv4_mapped_phone_address_matches_its_ipv4_source() {
    let mapped: IpAddr = "::ffff:192.0.2.10".parse().unwrap();
    let mut g = RtpGate::new(mapped, GateLimits::default(), 0);
    assert_eq!(
        g.check(addr(PHONE, 5004), 0, &rtp(1, 0, 160)),
        Verdict::Record
    );
    let v6src: SocketAddr = "[::ffff:192.0.2.10]:5004".parse().unwrap();
    assert_eq!(g.check(Some(v6src), 20, &rtp(1, 1, 160)), Verdict::Record);
}

/// Sends `n` datagrams of `len` payload bytes from the phone, the k-th at `at(k)`; returns how
/// many were recorded.
fn run(g: &mut RtpGate, n: u32, len: usize, at: impl Fn(u32) -> u64) -> u32 {
    let phone = addr(PHONE, 5004);
    (0..n)
        .filter(|&k| g.check(phone, at(k), &rtp(1, k as u16, len)) == Verdict::Record)
        .count() as u32
}

#[test]
fn a_real_stream_passes_whole_at_20_and_10_ms() {
    // An hour of 20 ms G.711, then an hour of 10 ms: nothing dropped.
    let mut g = gate();
    assert_eq!(run(&mut g, 180_000, 160, |k| u64::from(k) * 20), 180_000);
    let mut g = gate();
    assert_eq!(run(&mut g, 360_000, 80, |k| u64::from(k) * 10), 360_000);
    assert_eq!(g.stats().flood_dropped, 0);
}

#[test]
fn jitter_and_the_agents_backlog_pass() {
    // The agent's full backlog at once (about 7 s of 20 ms frames, each kept with a 2-byte
    // length), then the live stream in bunches of 10 every 200 ms for ten minutes.
    let mut g = gate();
    let backlog = (BACKLOG_BYTES / (2 + 172)) as u32;
    assert_eq!(run(&mut g, backlog, 160, |_| 0), backlog);
    let live = run(&mut g, 30_000, 160, |k| 1 + u64::from(k / 10) * 200);
    assert_eq!(live, 30_000);
    assert_eq!(g.stats().flood_dropped, 0);
}

#[test]
fn a_flood_is_cut_to_the_codecs_rate_and_counted() {
    // 10 s of 20 ms frames sent at 10,000 a second: 100,000 packets, 2,000 s of audio.
    let mut g = gate();
    let n = 100_000;
    let kept = run(&mut g, n, 160, |k| u64::from(k) / 10);
    // At most the byte burst plus 10 s at the steady byte rate, in 172-byte datagrams.
    let most = ((BYTE_BURST + 10 * BYTES_PER_S) / 172) as u32;
    assert!(kept <= most, "{kept} > {most}");
    assert!(kept >= most - 2, "{kept}");
    assert_eq!(g.stats().flood_dropped, u64::from(n - kept));
}

#[test]
fn tiny_packets_are_held_by_the_packet_rate() {
    // One-byte payloads at 10,000 a second for 10 s.
    let mut g = gate();
    let kept = run(&mut g, 100_000, 1, |k| u64::from(k) / 10);
    let most = (PACKET_BURST + 10 * PACKETS_PER_S) as u32;
    assert!(kept <= most && kept >= most - 2, "{kept} vs {most}");
}

#[test]
fn arrival_times_out_of_order_refill_nothing() {
    let limits = GateLimits {
        packets_per_s: 1,
        packet_burst: 2,
        bytes_per_s: 1_000_000,
        byte_burst: 1_000_000,
    };
    let mut g = RtpGate::new(IpAddr::from(PHONE), limits, 10_000);
    let phone = addr(PHONE, 5004);
    assert_eq!(g.check(phone, 10_000, &rtp(1, 0, 160)), Verdict::Record);
    assert_eq!(g.check(phone, 10_000, &rtp(1, 1, 160)), Verdict::Record);
    // Earlier than the gate's start and than the last arrival: no tokens.
    assert_eq!(g.check(phone, 0, &rtp(1, 2, 160)), Verdict::Flood);
    assert_eq!(g.check(phone, 9_999, &rtp(1, 3, 160)), Verdict::Flood);
    // A second later, one token.
    assert_eq!(g.check(phone, 11_000, &rtp(1, 4, 160)), Verdict::Record);
    assert_eq!(g.check(phone, 11_000, &rtp(1, 5, 160)), Verdict::Flood);
    assert_eq!(g.check(phone, u64::MAX, &rtp(1, 6, 160)), Verdict::Record);
    assert_eq!(g.stats().flood_dropped, 3);
    assert!(Verdict::Flood.is_from_phone() && !Verdict::Stranger.is_from_phone());
}
