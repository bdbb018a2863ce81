use super::*;
use crate::wav::Clip;
use callrec_core::rtp::RtpPacket;

fn config(codec: Codec, ptime_ms: u32, loss: f64, reorder: f64) -> StreamConfig {
    StreamConfig {
        codec,
        ptime_ms,
        loss,
        reorder,
    }
}

/// (marker, pt, seq, ts, ssrc, payload length) of every datagram emitted.
type Seen = Vec<(bool, u8, u16, u32, u32, usize)>;

fn run(stream: &mut Stream, frames: impl IntoIterator<Item = u64>, seen: &mut Seen) {
    for k in frames {
        stream.frame(k, |b| {
            let p = RtpPacket::parse(b).unwrap();
            seen.push((
                p.marker,
                p.payload_type,
                p.sequence,
                p.timestamp,
                p.ssrc,
                p.payload.len(),
            ));
        });
    }
}

fn pause(stream: &mut Stream, seen: &mut Seen) {
    stream.pause(|b| {
        let p = RtpPacket::parse(b).unwrap();
        seen.push((
            p.marker,
            p.payload_type,
            p.sequence,
            p.timestamp,
            p.ssrc,
            p.payload.len(),
        ));
    });
}

#[test]
fn payload_type_size_and_clock_per_codec() {
    for (codec, pt) in [(Codec::Pcma, 8), (Codec::Pcmu, 0), (Codec::G722, 9)] {
        for ptime in [10, 20, 30, 60] {
            let mut s = Stream::new(
                config(codec, ptime, 0.0, 0.0),
                &Audio::Sine(440.0),
                Rng::new(1),
            );
            let mut seen = Seen::new();
            run(&mut s, 0..3, &mut seen);
            let bytes = ptime as usize * 8;
            assert!(
                seen.iter().all(|p| p.1 == pt && p.5 == bytes),
                "{codec} {ptime}"
            );
            assert_eq!(seen[1].3.wrapping_sub(seen[0].3), ptime * 8, "{codec}");
        }
    }
}

#[test]
fn sequence_and_timestamp_continue_across_hold() {
    let mut s = Stream::new(
        config(Codec::Pcma, 20, 0.0, 0.0),
        &Audio::Sine(440.0),
        Rng::new(9),
    );
    let mut seen = Seen::new();
    run(&mut s, 10..25, &mut seen);
    pause(&mut s, &mut seen);
    run(&mut s, 45..60, &mut seen);
    assert_eq!(seen.len(), 30);
    for w in seen.windows(2) {
        assert_eq!(w[1].2, w[0].2.wrapping_add(1), "sequence goes on by one");
        assert_eq!(w[1].4, w[0].4, "same SSRC");
    }
    let ts_step = |i: usize| seen[i + 1].3.wrapping_sub(seen[i].3);
    assert!((0..29).filter(|&i| i != 14).all(|i| ts_step(i) == 160));
    assert_eq!(
        ts_step(14),
        (45 - 24) * 160,
        "the held time shows in the timestamp"
    );
    let markers: Vec<usize> = (0..30).filter(|&i| seen[i].0).collect();
    assert_eq!(
        markers,
        [0, 15],
        "a talkspurt starts at the first packet and after the hold"
    );
    assert_eq!(
        s.stats(),
        Stats {
            sent: 30,
            lost: 0,
            reordered: 0
        }
    );
}

#[test]
fn the_audio_starts_at_the_first_packet() {
    // Whatever the frame index of the answer, the first packet carries the clip's start.
    let clip = Clip {
        rate: 8000,
        samples: (0..400).map(|i| (i * 50) as i16).collect(),
    };
    let audio = Audio::Clip(clip);
    let mut a = Stream::new(config(Codec::Pcmu, 20, 0.0, 0.0), &audio, Rng::new(3));
    let mut b = Stream::new(config(Codec::Pcmu, 20, 0.0, 0.0), &audio, Rng::new(3));
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    a.frame(0, |d| pa.extend_from_slice(&d[12..]));
    b.frame(1000, |d| pb.extend_from_slice(&d[12..]));
    assert_eq!(pa, pb);
}

/// Emitted sequence numbers relative to the first packet made.
fn offsets(seen: &Seen, first: u16) -> Vec<i32> {
    seen.iter()
        .map(|p| i32::from(p.2.wrapping_sub(first)))
        .collect()
}

#[test]
fn loss_and_reorder_follow_their_fractions_and_the_seed() {
    const N: u64 = 20_000;
    let make = |seed| {
        let mut s = Stream::new(
            config(Codec::Pcma, 20, 0.1, 0.05),
            &Audio::Sine(440.0),
            Rng::new(seed),
        );
        let first = {
            // The first sequence number, from a copy of the generator's draws.
            let mut r = Rng::new(seed);
            r.next_u32();
            r.next_u32() as u16
        };
        let mut seen = Seen::new();
        run(&mut s, 0..N, &mut seen);
        pause(&mut s, &mut seen);
        (s.stats(), offsets(&seen, first))
    };
    let (stats, seqs) = make(42);
    assert_eq!(stats.sent + stats.lost, N);
    assert_eq!(seqs.len() as u64, stats.sent);
    assert!((1700..2300).contains(&stats.lost), "{stats:?}");
    // A packet is held with p 0.05 when not lost and nothing is held; its swap happens unless
    // its successor is lost: about 0.9 × 0.05 × 0.9 of the packets.
    assert!((600..1000).contains(&stats.reordered), "{stats:?}");
    let inversions = seqs.windows(2).filter(|w| w[1] < w[0]).count() as u64;
    assert_eq!(inversions, stats.reordered);
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seqs.len(), "no duplicates");
    assert!(sorted.iter().all(|&o| (0..N as i32).contains(&o)));
    // Repeatable with the seed, different without it.
    assert_eq!(make(42), (stats, seqs.clone()));
    assert_ne!(make(43).1, seqs);
}

#[test]
fn a_held_packet_goes_out_when_the_audio_stops() {
    let mut s = Stream::new(
        config(Codec::Pcma, 20, 0.0, 1.0),
        &Audio::Sine(440.0),
        Rng::new(5),
    );
    let mut seen = Seen::new();
    run(&mut s, 0..3, &mut seen);
    // 0 held, 1 then 0 sent, 2 held.
    assert_eq!(seen.len(), 2);
    pause(&mut s, &mut seen);
    assert_eq!(seen.len(), 3);
    let base = seen[1].2;
    assert_eq!(offsets(&seen, base), [1, 0, 2]);
    assert_eq!(
        s.stats(),
        Stats {
            sent: 3,
            lost: 0,
            reordered: 1
        }
    );
    let mut none = Stream::new(
        config(Codec::Pcma, 20, 1.0, 0.0),
        &Audio::Sine(440.0),
        Rng::new(5),
    );
    let mut seen = Seen::new();
    run(&mut none, 0..10, &mut seen);
    assert!(seen.is_empty());
    assert_eq!(
        none.stats(),
        Stats {
            sent: 0,
            lost: 10,
            reordered: 0
        }
    );
}
