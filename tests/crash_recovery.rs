//! kill -9 mid-call: what was committed survives, the loss is bounded by the commit interval,
//! and a restarted agent repairs headers that lagged behind the data. Rollover across files.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn kill_9_loses_at_most_about_a_second_and_restart_keeps_the_file() {
    let dir = TempDir::new("kill9");
    let spec = AgentSpec::host(dir.path());
    let stick = spec.usb_dir.clone().unwrap();
    let mut agent = Agent::start(&spec);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    // Five seconds of audio, paced as a phone sends it: the commit timer runs on the clock.
    let start = std::time::Instant::now();
    for seq in 0..250u16 {
        let due = start + Duration::from_millis(20 * u64::from(seq));
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        s.send(seq, u32::from(seq) * 160, &[0x3C; 160]);
    }
    let before = agent.status().recorded_ms;
    agent.kill9();
    let file = &record_files(&stick)[0];
    let i = info(file);
    let kept = i["duration_ms"].as_u64().unwrap();
    // Lost: at most one commit interval (1 s), the reorder hold (200 ms) and one frame.
    assert!(kept + 1_220 >= before, "kept {kept} ms of {before} ms");
    assert!(kept <= 5_000);

    // Restarted, the agent finds the file on the stick and leaves a consistent one consistent.
    let agent = Agent::start(&spec);
    assert_eq!(info(file)["duration_ms"].as_u64().unwrap(), kept);
    assert!(!agent.log().contains("repaired"), "{}", agent.log());
}

#[test]
fn a_restarted_agent_repairs_a_header_that_lagged() {
    let dir = TempDir::new("repair");
    let spec = AgentSpec::host(dir.path());
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    for seq in 0..100u16 {
        s.send(seq, u32::from(seq) * 160, &[0x3C; 160]);
    }
    agent.ok("stop");
    drop(agent);
    // A power cut after the data reached the disk but before the header did: the header says
    // one second, the file holds two and a half frames more.
    let file = &record_files(&stick)[0];
    let mut bytes = std::fs::read(file).unwrap();
    bytes[72..76].copy_from_slice(&8000u32.to_le_bytes());
    bytes.extend([0x3C; 400]);
    std::fs::write(file, &bytes).unwrap();
    let i = info(file);
    assert_eq!(i["stale_header"], true);
    assert_eq!(i["header_data_size"], 8000);
    assert_eq!(i["data_size"], 16_320); // the reader trusts whole frames on disk
    let agent = Agent::start(&spec);
    assert!(agent.log().contains("repaired"), "{}", agent.log());
    let i = info(file);
    assert_eq!(i["stale_header"], false);
    assert_eq!(i["data_size"], 16_480); // every byte kept, the torn frame padded
    let data = data_of(file);
    assert!(data[..16_400].iter().all(|&b| b == 0x3C));
    assert!(data[16_400..].iter().all(|&b| b == 0xD5));

    // A file that is not a Record file is reported and left alone.
    std::fs::write(stick.join("Record_20260101_000000.wav"), b"RIFF....").unwrap();
    let (ok, out, _) = callrec(&["repair", stick.to_str().unwrap()]);
    assert_eq!(ok.code(), Some(1));
    assert!(out.contains("not a Record file"), "{out}");
    assert_eq!(
        std::fs::read(stick.join("Record_20260101_000000.wav")).unwrap(),
        b"RIFF...."
    );
}

#[test]
fn rollover_splits_a_call_across_files_without_losing_or_repeating_a_frame() {
    let dir = TempDir::new("rollover");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"size_limit_bytes": 16384}"#);
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    // 500 frames, each labelled with its number, so any loss or repeat shows.
    for seq in 0..500u16 {
        s.send(seq, u32::from(seq) * 160, &[(seq % 250) as u8 + 1; 160]);
        if seq % 100 == 99 {
            agent.status();
        }
    }
    let st = agent.ok("stop");
    let files = record_files(&stick);
    assert_eq!(st.files.len(), files.len());
    assert_eq!(files.len(), 5, "{:?}", st.files); // 101 frames per 16 KiB file
    let mut frames = Vec::new();
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 16_384);
        let i = info(f);
        assert_eq!(i["stale_header"], false);
        frames.extend(data_of(f).chunks(160).map(|c| c[0]));
    }
    let want: Vec<u8> = (0..500u16).map(|s| (s % 250) as u8 + 1).collect();
    assert_eq!(frames, want);
    // Names follow the spec: the same second gets _2, _3, …
    for name in &st.files {
        assert!(callrec_core::record_file::is_record_name(name), "{name}");
    }
}
