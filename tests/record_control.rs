//! Start, pause, resume and stop through the real control socket and `callrec ctl`; the control
//! protocol's answers to bad input; `info` and `export` of the result.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

fn burst(s: &Sender, seq: &mut u16, n: u16, label: u8) {
    for _ in 0..n {
        s.send(*seq, u32::from(*seq) * 160, &[label; 160]);
        *seq += 1;
    }
}

#[test]
fn pause_leaves_the_paused_time_out_of_the_file() {
    let dir = TempDir::new("pause");
    let spec = AgentSpec::host(dir.path());
    let agent = Agent::start(&spec);
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&s, &mut seq, 10, 0x11); // before start: not recorded
    assert_eq!(agent.ok("start").state, "recording");
    burst(&s, &mut seq, 50, 0x22);
    assert_eq!(agent.ok("pause").state, "paused");
    burst(&s, &mut seq, 25, 0x33);
    assert_eq!(agent.ok("resume").state, "recording");
    burst(&s, &mut seq, 50, 0x44);
    let st = agent.ok("stop");
    assert_eq!(st.state, "idle");
    assert_eq!(st.last_stop.as_deref(), Some("requested"));
    assert_eq!(st.recorded_ms, 2000);
    assert_eq!(st.counters.paused_packets, 25);
    let file = &record_files(spec.usb_dir.as_ref().unwrap())[0];
    let data = data_of(file);
    assert_eq!(data.len(), 100 * 160);
    assert!(data[..8000].iter().all(|&b| b == 0x22));
    assert!(data[8000..].iter().all(|&b| b == 0x44));

    // info, in both forms.
    let (ok, out, _) = callrec(&["info", file.to_str().unwrap()]);
    assert!(ok.success());
    assert!(
        out.contains("codec:       PCMA") && out.contains("duration:    2000 ms"),
        "{out}"
    );
    let (_, out, _) = callrec(&["info", "--json", file.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["codec"], "PCMA");
    assert_eq!(info["frame_bytes"], 160);
    assert_eq!(info["increment"], 160);
    assert_eq!(info["data_size"], 16000);
    assert_eq!(info["frames"], 100);
    assert_eq!(info["duration_ms"], 2000);
    assert_eq!(info["stale_header"], false);

    // export: 2 s of 8 kHz PCM16 is 32000 bytes after a 44-byte header.
    let wav = dir.path().join("out.wav");
    let (ok, _, err) = callrec(&["export", file.to_str().unwrap(), wav.to_str().unwrap()]);
    assert!(ok.success(), "{err}");
    let bytes = std::fs::read(&wav).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(bytes.len(), 44 + 32_000);
    let first = i16::from_le_bytes([bytes[44], bytes[45]]);
    assert_eq!(first, callrec_core::audio::g711::alaw_to_linear(0x22));

    // Seek by time: from 990 ms (the frame holding it starts at 980 ms) to 1500 ms.
    let part = dir.path().join("part.wav");
    let (ok, out, err) = callrec(&[
        "export",
        file.to_str().unwrap(),
        part.to_str().unwrap(),
        "--from",
        "990",
        "--to",
        "1500",
    ]);
    assert!(ok.success(), "{err}");
    assert!(out.contains("520 ms"), "{out}");
    let bytes = std::fs::read(&part).unwrap();
    assert_eq!(bytes.len(), 44 + 2 * 26 * 160);
    let samples: Vec<i16> = bytes[44..]
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let (a, b) = (
        callrec_core::audio::g711::alaw_to_linear(0x22),
        callrec_core::audio::g711::alaw_to_linear(0x44),
    );
    assert!(samples[..160].iter().all(|&s| s == a));
    assert!(samples[160..].iter().all(|&s| s == b));
}

#[test]
fn ctl_prints_status_and_exits_non_zero_with_the_reason_when_refused() {
    let dir = TempDir::new("ctl");
    let spec = AgentSpec::host(dir.path());
    let agent = Agent::start(&spec);
    let sock = agent.socket.to_str().unwrap().to_owned();
    let (ok, out, _) = callrec(&["ctl", "--control-socket", &sock, "status"]);
    assert!(ok.success());
    assert!(out.contains("state:     idle"), "{out}");
    let (ok, _, err) = callrec(&["ctl", "--control-socket", &sock, "stop"]);
    assert_eq!(ok.code(), Some(1));
    assert!(err.contains("not_recording"), "{err}");
    let (ok, out, _) = callrec(&["ctl", "--control-socket", &sock, "start", "--json"]);
    assert!(ok.success());
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["v"].as_u64(), v["ok"].as_bool()), (Some(1), Some(true)));
    assert_eq!(v["status"]["state"], "recording");
    let (ok, _, err) = callrec(&["ctl", "--control-socket", &sock, "explode"]);
    assert_eq!(ok.code(), Some(2), "{err}");
    let missing = dir.path().join("nobody.sock");
    let (ok, _, err) = callrec(&[
        "ctl",
        "--control-socket",
        missing.to_str().unwrap(),
        "status",
    ]);
    assert_eq!(ok.code(), Some(1));
    assert!(err.contains("cannot reach the agent"), "{err}");
}

/// Writes raw bytes on one connection and reads `n` answer lines.
fn exchange(agent: &Agent, bytes: &[u8], n: usize) -> Vec<serde_json::Value> {
    let mut s = UnixStream::connect(&agent.socket).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(bytes).unwrap();
    let mut r = BufReader::new(s);
    (0..n)
        .map(|_| {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
        })
        .collect()
}

#[test]
fn bad_control_input_gets_a_coded_answer_and_the_agent_goes_on() {
    let dir = TempDir::new("badctl");
    let agent = Agent::start(&AgentSpec::host(dir.path()));
    let answers = exchange(
        &agent,
        b"not json\n{\"v\":2,\"cmd\":\"status\"}\n{\"v\":1}\n{\"v\":1,\"cmd\":\"fly\",\"id\":9}\r\n\
          {\"v\":1,\"cmd\":\"status\",\"id\":\"x\"}\r\n",
        5,
    );
    let codes: Vec<_> = answers.iter().map(|a| a["error"]["code"].clone()).collect();
    assert_eq!(
        codes[..4],
        [
            "bad_json",
            "unsupported_version",
            "missing_command",
            "unknown_command"
        ]
    );
    assert_eq!(answers[3]["id"], 9);
    assert_eq!(answers[4]["ok"], true);
    assert_eq!(answers[4]["id"], "x");

    // Several requests in one write, and one split across writes.
    let mut s = UnixStream::connect(&agent.socket).unwrap();
    s.write_all(b"{\"v\":1,\"cmd\":\"sta").unwrap();
    s.write_all(b"tus\"}\n").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.contains("\"ok\":true"), "{line}");

    // An over-long line is refused and the connection closed; the agent still answers others.
    let long = vec![b'x'; 20_000];
    let answers = exchange(&agent, &long, 1);
    assert_eq!(answers[0]["error"]["code"], "line_too_long");
    assert_eq!(agent.status().state, "idle");
}

#[test]
fn sigterm_closes_the_file_cleanly() {
    let dir = TempDir::new("sigterm");
    let spec = AgentSpec::host(dir.path());
    let agent = Agent::start(&spec);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&s, &mut seq, 30, 0x55);
    agent.status(); // barrier: the packets are in
    assert!(agent.terminate().success());
    let file = &record_files(spec.usb_dir.as_ref().unwrap())[0];
    let (_, out, _) = callrec(&["info", "--json", file.to_str().unwrap()]);
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (info["duration_ms"].as_u64(), info["stale_header"].as_bool()),
        (Some(600), Some(false))
    );
}
