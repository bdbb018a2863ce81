//! RTP in over real loopback UDP, the Record file out: loss, reorder, duplicates, wrap-around,
//! SSRC change, comfort noise, telephone-event, packet-time change and malformed packets.
//! Every packet's payload is one repeated label byte, so the file shows where each landed.

mod common;
use common::*;

const SIL: u8 = 0xD5; // PCMA silence

/// Starts an agent, records what `send` sends, stops, and returns the file's frames as labels
/// (one per 160 bytes) with the final status.
fn record(
    name: &str,
    send: impl FnOnce(&Sender),
) -> (Vec<u8>, callrec_core::control_protocol::Status) {
    let dir = TempDir::new(name);
    let spec = AgentSpec::host(dir.path());
    let agent = Agent::start(&spec);
    agent.ok("start");
    let sender = Sender::new(agent.tap);
    send(&sender);
    let status = agent.ok("stop");
    let files = record_files(spec.usb_dir.as_ref().unwrap());
    assert_eq!(files.len(), 1, "{status:?}");
    let data = data_of(&files[0]);
    assert_eq!(data.len() % 160, 0);
    let labels = data
        .chunks(160)
        .map(|c| {
            assert!(c.iter().all(|&b| b == c[0]), "a frame mixes two packets");
            c[0]
        })
        .collect();
    (labels, status)
}

fn frame(label: u8) -> [u8; 160] {
    [label; 160]
}

#[test]
fn loss_becomes_silence() {
    let (frames, st) = record("loss", |s| {
        for i in [0u16, 1, 2, 5, 6] {
            s.send(100 + i, 1000 + u32::from(i) * 160, &frame(i as u8 + 1));
        }
    });
    assert_eq!(frames, vec![1, 2, 3, SIL, SIL, 6, 7]);
    assert_eq!(st.counters.lost, 2);
    assert_eq!(st.recorded_ms, 140);
}

#[test]
fn reordered_packets_are_put_back_in_order() {
    let (frames, st) = record("reorder", |s| {
        for i in [0u16, 2, 1, 3, 6, 4, 5, 7] {
            s.send(i, u32::from(i) * 160, &frame(i as u8 + 1));
        }
    });
    assert_eq!(frames, (1..=8).collect::<Vec<u8>>());
    assert_eq!(st.counters.reordered, 3);
    assert_eq!(st.counters.lost, 0);
}

#[test]
fn duplicates_and_late_packets_are_dropped_and_counted() {
    let (frames, st) = record("dups", |s| {
        for i in 0..12u16 {
            s.send(i, u32::from(i) * 160, &frame(i as u8 + 1));
            if i % 4 == 1 {
                s.send(i, u32::from(i) * 160, &frame(0xEE)); // duplicate
            }
        }
        // Seq 20 arrives, then seq 13..19 never do, then seq 12 arrives 8 packets too late.
        for i in 20..28u16 {
            s.send(i, u32::from(i) * 160, &frame(i as u8 + 1));
        }
        s.send(12, 12 * 160, &frame(0xEF));
    });
    assert!(!frames.contains(&0xEE) && !frames.contains(&0xEF));
    assert_eq!(&frames[..12], &(1..=12).collect::<Vec<u8>>()[..]);
    assert_eq!(&frames[12..20], &[SIL; 8]);
    assert_eq!(st.counters.duplicates, 3);
    assert_eq!(st.counters.late, 1);
}

#[test]
fn sequence_and_timestamp_wrap_around() {
    let (frames, st) = record("wrap", |s| {
        for i in 0..10u16 {
            let seq = 65_530u16.wrapping_add(i);
            let ts = (u32::MAX - 5 * 160 + 1).wrapping_add(u32::from(i) * 160);
            s.send(seq, ts, &frame(i as u8 + 1));
        }
    });
    assert_eq!(frames, (1..=10).collect::<Vec<u8>>());
    assert_eq!((st.counters.lost, st.counters.discontinuities), (0, 0));
}

#[test]
fn a_new_ssrc_continues_the_same_recording() {
    let (frames, st) = record("ssrc", |s| {
        for i in 0..5u16 {
            s.send(i, u32::from(i) * 160, &frame(1));
        }
        // The media engine restarts the mix: new SSRC, new numbering. The 100 ms pause before
        // it is real input timing (it is what the timeline must reproduce), not a wait.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let s2 = Sender {
            ssrc: 0xC0FF_EE00,
            ..Sender::new(s.to)
        };
        for i in 0..5u16 {
            s2.send(30_000 + i, 9_999_999 + u32::from(i) * 160, &frame(2));
        }
    });
    assert_eq!(st.counters.ssrc_changes, 1);
    let ones = frames.iter().filter(|&&f| f == 1).count();
    let twos = frames.iter().filter(|&&f| f == 2).count();
    assert_eq!((ones, twos), (5, 5));
    // Between them, silence for the time the mix was away (100 ms after the last packet's
    // start, so at least 4 frames; scheduling may add a few).
    let gap = frames.len() - 10;
    assert!((4..=15).contains(&gap), "{frames:?}");
    assert!(frames[5..5 + gap].iter().all(|&f| f == SIL));
}

#[test]
fn comfort_noise_is_silence_and_telephone_events_are_not_audio() {
    let (frames, st) = record("cn-dtmf", |s| {
        s.send(0, 0, &frame(1));
        let cn = Sender {
            pt: 13,
            ..Sender::new(s.to)
        };
        let cn = Sender { ssrc: s.ssrc, ..cn };
        cn.send(1, 160, &[42]);
        s.send(2, 800, &frame(2)); // CN covered 160..800: four frames of silence
        let te = Sender {
            pt: 101,
            ssrc: s.ssrc,
            ..Sender::new(s.to)
        };
        te.send(3, 960, &[5, 10, 0, 160]);
        te.send(4, 960, &[5, 0x8A, 1, 64]);
        s.send(5, 1280, &frame(3)); // the DTMF time (960..1280) is silence, not the events
    });
    assert_eq!(frames, vec![1, SIL, SIL, SIL, SIL, 2, SIL, SIL, 3]);
    assert_eq!(
        (st.counters.comfort_noise, st.counters.telephone_events),
        (1, 2)
    );
    assert_eq!(st.counters.lost, 0);
}

#[test]
fn packet_time_change_is_written_by_timestamp() {
    let dir = TempDir::new("ptime");
    let spec = AgentSpec::host(dir.path());
    let agent = Agent::start(&spec);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    s.send(0, 0, &[1; 160]); // 20 ms: the file's frame size
    s.send(1, 160, &[2; 320]); // 40 ms
    s.send(2, 480, &[3; 80]); // 10 ms
    s.send(3, 560, &[4; 160]);
    let st = agent.ok("stop");
    let data = data_of(&record_files(spec.usb_dir.as_ref().unwrap())[0]);
    let mut want = vec![1u8; 160];
    want.extend([2u8; 320]);
    want.extend([3u8; 80]);
    want.extend([4u8; 160]);
    want.extend([SIL; 80]); // padded to whole 160-byte frames at close
    assert_eq!(data, want);
    assert_eq!(st.recorded_ms, 90);
    let (_, out, _) = callrec(&[
        "info",
        "--json",
        record_files(spec.usb_dir.as_ref().unwrap())[0]
            .to_str()
            .unwrap(),
    ]);
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["frame_bytes"], 160);
    assert_eq!(info["duration_ms"], 100);
}

#[test]
fn malformed_packets_are_counted_by_reason_and_never_stop_the_recording() {
    let (frames, st) = record("malformed", |s| {
        s.send(0, 0, &frame(1));
        s.raw(&[0x80, 8, 0, 1]); // too short
        s.raw(&[0x40; 40]); // version 1
        let mut csrc = [0u8; 20];
        csrc[0] = 0x8F; // 15 CSRCs announced, none there
        s.raw(&csrc);
        let mut pad = [0x80u8; 30];
        pad[0] = 0xA0;
        pad[29] = 200; // padding longer than the packet
        s.raw(&pad);
        s.raw(&[0u8; 0]);
        s.raw(&vec![0xFFu8; 4000]);
        let odd = Sender {
            pt: 18,
            ssrc: s.ssrc,
            ..Sender::new(s.to)
        };
        odd.send(1, 160, &frame(9)); // G.729: not recordable, counted
        s.send(2, 320, &frame(2));
    });
    assert_eq!(frames, vec![1, SIL, 2]);
    let m = &st.counters.malformed;
    assert_eq!(m.get("too_short"), Some(&2));
    assert_eq!(m.get("bad_version"), Some(&2));
    assert_eq!(m.get("truncated_csrc"), Some(&1));
    assert_eq!(m.get("bad_padding"), Some(&1));
    assert_eq!(st.counters.unknown_payload_type, 1);
}
