//! Every recording policy and event order of `docs/integration.md`, through the real agent:
//! call events and key presses on the control socket, RTP on the tap, files on the stick.
//! A command is answered after every datagram sent before it, so no test sleeps.

mod common;
use callrec_core::control_protocol::Response;
use common::*;

/// Sends `n` 20 ms PCMA packets filled with `label`.
struct Rtp {
    s: Sender,
    seq: u16,
}

impl Rtp {
    fn new(agent: &Agent) -> Rtp {
        Rtp {
            s: Sender::new(agent.tap),
            seq: 0,
        }
    }

    fn play(&mut self, n: u16, label: u8) {
        for _ in 0..n {
            self.s
                .send(self.seq, u32::from(self.seq) * 160, &[label; 160]);
            self.seq += 1;
        }
    }
}

fn agent_with(dir: &TempDir, settings: &str) -> (Agent, std::path::PathBuf) {
    let spec = AgentSpec::host(dir.path()).settings(settings);
    let stick = spec.usb_dir.clone().unwrap();
    (Agent::start(&spec), stick)
}

#[track_caller]
fn refused(r: Response, code: &str) {
    assert!(!r.ok, "expected {code}, got ok");
    assert_eq!(r.error.unwrap().code, code);
}

#[track_caller]
fn state(r: Response) -> (String, String) {
    assert!(r.ok, "{:?}", r.error);
    let s = r.status.unwrap();
    (s.state, s.shown)
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[test]
fn on_demand_record_key_starts_and_stops_and_pause_key_pauses() {
    let dir = TempDir::new("pol-demand");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"on_demand"}"#);
    let mut rtp = Rtp::new(&agent);
    refused(agent.key("record"), "no_call");
    agent.call("started", "c1", r#""dir":"in","remote_number":"1002""#);
    refused(agent.key("record"), "call_not_answered");
    assert_eq!(
        state(agent.call("answered", "c1", "")),
        pair("idle", "idle")
    );
    rtp.play(10, 0x11); // answered, not recorded yet
    let st = agent.key("record").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("recording", Some("c1"))
    );
    assert_eq!(st.calls[0].state, "answered");
    rtp.play(50, 0x22);
    assert_eq!(state(agent.key("pause")), pair("paused", "paused"));
    rtp.play(25, 0x33);
    assert_eq!(state(agent.key("pause")), pair("recording", "recording"));
    rtp.play(50, 0x44);
    let st = agent.key("record").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("requested"))
    );
    rtp.play(10, 0x55); // stopped: not recorded
    agent.call("ended", "c1", "");
    let files = record_files(&stick);
    assert_eq!(files.len(), 1);
    let data = data_of(&files[0]);
    assert_eq!(data.len(), 100 * 160);
    assert!(data[..8000].iter().all(|&b| b == 0x22) && data[8000..].iter().all(|&b| b == 0x44));
}

#[test]
fn always_records_from_answer_to_hangup_and_pauses_on_hold() {
    let dir = TempDir::new("pol-always");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"always"}"#);
    let mut rtp = Rtp::new(&agent);
    agent.call("started", "c1", "");
    rtp.play(10, 0x11); // ringing: not recorded
    assert_eq!(
        state(agent.call("answered", "c1", "")),
        pair("recording", "recording")
    );
    rtp.play(50, 0x22);
    refused(agent.key("record"), "policy_always");
    refused(agent.key("pause"), "policy_always");
    assert_eq!(
        state(agent.call("held", "c1", "")),
        pair("paused", "paused")
    );
    rtp.play(25, 0x33); // on hold: left out
    assert_eq!(
        state(agent.call("resumed", "c1", "")),
        pair("recording", "recording")
    );
    rtp.play(50, 0x44);
    let st = agent.call("ended", "c1", "").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("call_ended"))
    );
    assert!(st.calls.is_empty());
    let data = data_of(&record_files(&stick)[0]);
    assert_eq!(
        data.len(),
        100 * 160,
        "the same recording goes on after the hold"
    );
    assert!(data[..8000].iter().all(|&b| b == 0x22) && data[8000..].iter().all(|&b| b == 0x44));
}

#[test]
fn always_pause_keys_pause_and_resume_and_hold_keeps_a_user_pause() {
    let dir = TempDir::new("pol-always-pause");
    let (agent, _stick) = agent_with(&dir, r#"{"policy":"always_pause"}"#);
    assert_eq!(
        state(agent.call("answered", "c1", "")),
        pair("recording", "recording")
    );
    assert_eq!(state(agent.key("record")), pair("paused", "paused"));
    // Held and resumed while the user has it paused: still paused.
    agent.call("held", "c1", "");
    assert_eq!(
        state(agent.call("resumed", "c1", "")),
        pair("paused", "paused")
    );
    assert_eq!(state(agent.key("pause")), pair("recording", "recording"));
    let st = agent.call("ended", "c1", "").status.unwrap();
    assert_eq!(st.last_stop.as_deref(), Some("call_ended"));
}

#[test]
fn never_and_off_refuse_everything() {
    let dir = TempDir::new("pol-never");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"never"}"#);
    agent.call("answered", "c1", "");
    refused(agent.key("record"), "policy_never");
    refused(agent.key("pause"), "policy_never");
    refused(agent.cmd("start"), "policy_never");
    let dir2 = TempDir::new("pol-off");
    let (off, stick2) = agent_with(&dir2, r#"{"mode":"off","policy":"always"}"#);
    assert_eq!(state(off.call("answered", "c1", "")), pair("idle", "idle"));
    refused(off.key("record"), "recording_off");
    refused(off.cmd("start"), "recording_off");
    assert!(record_files(&stick).is_empty() && record_files(&stick2).is_empty());
}

#[test]
fn keep_recording_on_hold_when_the_setting_says_so() {
    let dir = TempDir::new("pol-hold-keep");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"always","pause_on_hold":false}"#);
    let mut rtp = Rtp::new(&agent);
    agent.call("answered", "c1", "");
    rtp.play(25, 0x22);
    assert_eq!(
        state(agent.call("held", "c1", "")),
        pair("recording", "recording")
    );
    rtp.play(25, 0x33); // music on hold, say: recorded
    agent.call("ended", "c1", "");
    assert_eq!(data_of(&record_files(&stick)[0]).len(), 50 * 160);
}

#[test]
fn always_follows_the_active_call_across_a_second_call() {
    let dir = TempDir::new("pol-second");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"always"}"#);
    let mut rtp = Rtp::new(&agent);
    agent.call("answered", "a", r#""remote_number":"1001""#);
    rtp.play(25, 0xA1);
    agent.call("held", "a", "");
    agent.call("started", "b", r#""dir":"in""#);
    let st = agent.call("answered", "b", "").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("recording", Some("b"))
    );
    assert_eq!(st.last_stop.as_deref(), Some("call_switched"));
    assert_eq!(st.calls.len(), 2);
    rtp.play(25, 0xB1);
    agent.call("ended", "b", "");
    let st = agent.call("resumed", "a", "").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("recording", Some("a"))
    );
    rtp.play(25, 0xA2);
    agent.call("ended", "a", "");
    // Three recordings: a, b, then a again. Names may share a second, so compare contents.
    let mut labels: Vec<u8> = record_files(&stick).iter().map(|f| data_of(f)[0]).collect();
    labels.sort();
    assert_eq!(labels, [0xA1, 0xA2, 0xB1]);
}

#[test]
fn on_demand_keeps_a_held_calls_recording_until_the_key_on_the_new_call() {
    let dir = TempDir::new("pol-second-demand");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"on_demand"}"#);
    let mut rtp = Rtp::new(&agent);
    agent.call("answered", "a", "");
    agent.key("record");
    rtp.play(25, 0xA1);
    agent.call("held", "a", "");
    let st = agent.call("answered", "b", "").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("paused", Some("a"))
    );
    let st = agent.key("record").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("recording", Some("b"))
    );
    rtp.play(25, 0xB1);
    agent.call("ended", "b", "");
    agent.call("ended", "a", "");
    assert_eq!(record_files(&stick).len(), 2);
}

#[test]
fn repeated_and_unknown_events_are_harmless_or_refused_with_a_reason() {
    let dir = TempDir::new("pol-events");
    let (agent, _stick) = agent_with(&dir, r#"{"policy":"always"}"#);
    refused(agent.call("held", "nobody", ""), "unknown_call");
    refused(agent.call("ended", "nobody", ""), "unknown_call");
    agent.call("answered", "c1", "");
    assert_eq!(
        state(agent.call("answered", "c1", "")),
        pair("recording", "recording")
    );
    assert_eq!(
        state(agent.call("started", "c1", "")),
        pair("recording", "recording")
    );
    agent.call("held", "c1", "");
    assert_eq!(
        state(agent.call("held", "c1", "")),
        pair("paused", "paused")
    );
    // A call event without an id, a bad event name, a hostile field.
    let r = agent.request(r#"{"v":1,"cmd":"call","event":"answered","call":{}}"#);
    assert_eq!(r.error.unwrap().code, "bad_call");
    let r = agent.request(r#"{"v":1,"cmd":"call","event":"exploded","call":{"id":"x"}}"#);
    assert_eq!(r.error.unwrap().code, "bad_event");
    let r = agent.call("started", "c2", r#""remote_name":"a\u0007b""#);
    assert_eq!(r.error.unwrap().code, "bad_call");
    let r = agent.call("started", "bad id", "");
    assert_eq!(r.error.unwrap().code, "bad_call");
    for i in 0..7 {
        assert!(agent.call("started", &format!("x{i}"), "").ok);
    }
    refused(agent.call("started", "one-too-many", ""), "too_many_calls");
    // Still recording c1 through all of it.
    assert_eq!(agent.status().call_id.as_deref(), Some("c1"));
}

#[test]
fn silent_remote_recording_shows_nothing_until_the_user_presses_record() {
    let dir = TempDir::new("pol-silent");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"on_demand","silent_remote":true}"#);
    let mut rtp = Rtp::new(&agent);
    let mut watch = agent.watch();
    agent.call("answered", "c1", "");
    let st = agent
        .request(r#"{"v":1,"cmd":"start","call":{"id":"c1"}}"#)
        .status
        .unwrap();
    assert_eq!(
        (st.state.as_str(), st.shown.as_str()),
        ("recording", "idle")
    );
    let e = watch.status("recording");
    assert_eq!(
        (e["shown"].as_str(), e["silent"].as_bool()),
        (Some("idle"), Some(true))
    );
    rtp.play(10, 0x21);
    // The pause key does not touch what the user cannot see.
    refused(agent.key("pause"), "not_recording");
    // The record key makes it visible: same recording, same file.
    assert_eq!(state(agent.key("record")), pair("recording", "recording"));
    let e = watch.until(&mut Vec::new(), |e| {
        e["event"] == "status" && e["silent"] == false
    });
    assert_eq!(e["shown"], "recording");
    rtp.play(10, 0x22);
    agent.ok("stop");
    let files = record_files(&stick);
    assert_eq!(files.len(), 1);
    assert_eq!(data_of(&files[0]).len(), 20 * 160);
}

#[test]
fn remote_start_picks_the_call_by_id() {
    let dir = TempDir::new("pol-remote-id");
    let (agent, _stick) = agent_with(&dir, "{}");
    agent.call("answered", "a", "");
    agent.call("held", "a", "");
    agent.call("started", "b", "");
    let r = agent.request(r#"{"v":1,"cmd":"start","call":{"id":"b"}}"#);
    assert_eq!(r.error.unwrap().code, "call_not_answered");
    let r = agent.request(r#"{"v":1,"cmd":"start","call":{"id":"zz"}}"#);
    assert_eq!(r.error.unwrap().code, "unknown_call");
    // A held call may be recorded; it starts paused (pause on hold).
    let st = agent
        .request(r#"{"v":1,"cmd":"start","call":{"id":"a"}}"#)
        .status
        .unwrap();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("paused", Some("a"))
    );
    assert_eq!(
        state(agent.call("resumed", "a", "")),
        pair("recording", "recording")
    );
}

#[test]
fn a_model_without_usb_shows_the_failure_on_the_key() {
    let dir = TempDir::new("pol-nousb");
    let spec = AgentSpec {
        board: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("board/bx3s.json"),
        ..AgentSpec::host(dir.path())
    };
    let agent = Agent::start(&spec);
    agent.call("answered", "c1", "");
    let r = agent.key("record");
    let e = r.error.unwrap();
    assert_eq!(e.code, "no_usb_host");
    assert!(e.message.contains("no USB host port"), "{}", e.message);
    let st = r.status.unwrap();
    assert_eq!((st.state.as_str(), st.shown.as_str()), ("idle", "failed"));
    assert_eq!(st.failure.unwrap().code, "no_usb_host");
    // The failure prompt goes when the call ends.
    assert_eq!(state(agent.call("ended", "c1", "")), pair("idle", "idle"));
}

#[test]
fn a_call_with_its_own_tap_port_is_recorded_from_that_port() {
    let dir = TempDir::new("pol-tap-port");
    let (agent, stick) = agent_with(&dir, r#"{"policy":"always"}"#);
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let st = agent
        .call("answered", "c1", &format!(r#""tap_port":{port}"#))
        .status
        .unwrap();
    assert_eq!(st.tap, format!("127.0.0.1:{port}"));
    let s = Sender::new(format!("127.0.0.1:{port}").parse().unwrap());
    for seq in 0..50u16 {
        s.send(seq, u32::from(seq) * 160, &[0x66; 160]);
    }
    let st = agent.call("ended", "c1", "").status.unwrap();
    assert_eq!(st.tap, agent.tap.to_string(), "the tap came back");
    assert_eq!(data_of(&record_files(&stick)[0]).len(), 50 * 160);
}
