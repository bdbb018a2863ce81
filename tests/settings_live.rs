//! Settings changed while the agent runs: taken at once between recordings, held back while a
//! recording runs (which keeps its mode), refused with the field's name when bad. The agent
//! notices the file by itself; the tests wait for its `settings` events, not for the clock.

mod common;
use common::*;
use std::path::Path;

/// Replaces the settings file the way the web UI does: a new file renamed over the old one.
fn write_settings(path: &Path, json: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_change_during_a_recording_waits_for_its_end() {
    let dir = TempDir::new("live-wait");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"mode":"local"}"#);
    let settings = spec.settings.clone().unwrap();
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    let mut w = agent.watch();
    let s = Sender::new(agent.tap);
    agent.ok("start");
    for seq in 0..25u16 {
        s.send(seq, u32::from(seq) * 160, &[0x61; 160]);
    }
    write_settings(
        &settings,
        r#"{"mode":"network","server_address":"127.0.0.1","server_port":9,"policy":"always"}"#,
    );
    let e = w.until(&mut Vec::new(), |e| e["event"] == "settings");
    assert_eq!(e["applied"], false, "{e}");
    let st = agent.status();
    assert!(st.settings_pending);
    assert_eq!(
        (st.mode.as_str(), st.policy.as_str()),
        ("local", "on_demand")
    );
    // The recording goes on to the stick, untouched.
    for seq in 25..50u16 {
        s.send(seq, u32::from(seq) * 160, &[0x62; 160]);
    }
    let st = agent.ok("stop");
    assert_eq!(
        (st.mode.as_str(), st.policy.as_str()),
        ("network", "always")
    );
    assert!(!st.settings_pending);
    let e = w.until(&mut Vec::new(), |e| e["event"] == "settings");
    assert_eq!(e["applied"], true, "{e}");
    assert_eq!(data_of(&record_files(&stick)[0]).len(), 50 * 160);
}

#[test]
fn a_change_between_calls_applies_at_once() {
    let dir = TempDir::new("live-now");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"policy":"on_demand"}"#);
    let settings = spec.settings.clone().unwrap();
    let agent = Agent::start(&spec);
    let mut w = agent.watch();
    write_settings(&settings, r#"{"policy":"always"}"#);
    let e = w.until(&mut Vec::new(), |e| e["event"] == "settings");
    assert_eq!(e["applied"], true, "{e}");
    let st = agent.call("answered", "c1", "").status.unwrap();
    assert_eq!(st.state, "recording", "always starts at answer now");
}

#[test]
fn a_bad_settings_file_is_refused_with_the_field_and_the_old_ones_stay() {
    let dir = TempDir::new("live-bad");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"policy":"always"}"#);
    let settings = spec.settings.clone().unwrap();
    let agent = Agent::start(&spec);
    let mut w = agent.watch();
    write_settings(&settings, r#"{"policy":"on_demand","tone_interval_s":5}"#);
    let e = w.until(&mut Vec::new(), |e| e["event"] == "settings");
    assert_eq!(e["applied"], false);
    assert!(
        e["error"].as_str().unwrap().contains("tone_interval_s"),
        "{e}"
    );
    assert_eq!(agent.status().policy, "always");
    // Not JSON at all; `reload` says so too.
    write_settings(&settings, "{\"policy\":");
    let r = agent.cmd("reload");
    assert_eq!(r.error.unwrap().code, "bad_settings");
    assert_eq!(agent.status().policy, "always");
    // A good file again, by `reload` at once.
    write_settings(&settings, r#"{"policy":"never"}"#);
    assert_eq!(agent.ok("reload").policy, "never");
}
