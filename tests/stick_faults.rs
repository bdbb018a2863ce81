//! The stick misbehaving under a real agent: full (a small tmpfs), the reserve reached,
//! read-only, removed, and inserted later, found through /proc/self/mountinfo. Each agent runs
//! in a private mount namespace (`unshare -m`, as root) so the mounts are real and invisible to
//! the rest of the machine; the test reaches them with `nsenter` and `/proc/PID/root`.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// An agent whose stick directory is a tmpfs of `size` in its own mount namespace.
fn agent_on_tmpfs(dir: &TempDir, size: &str, settings: &str) -> (Agent, PathBuf) {
    let mut spec = AgentSpec::host(dir.path()).settings(settings);
    let stick = spec.usb_dir.clone().unwrap();
    spec.wrapper = vec![
        "unshare".into(),
        "-m".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        format!(
            "mount -t tmpfs -o size={size} tmpfs '{}' && exec \"$@\"",
            stick.display()
        ),
        "sh".into(),
    ];
    let agent = Agent::start(&spec);
    let seen = PathBuf::from(format!(
        "/proc/{}/root{}",
        agent.child.id(),
        stick.display()
    ));
    (agent, seen)
}

/// Runs a command inside the agent's mount namespace.
fn in_ns(agent: &Agent, args: &[&str]) {
    let pid = agent.child.id().to_string();
    let out = Command::new("nsenter")
        .args(["-t", &pid, "-m", "--"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends packets as fast as the agent takes them: a status request every 100 packets is a
/// barrier, so the tap's receive buffer never overflows.
fn burst(agent: &Agent, s: &Sender, seq: &mut u16, packets: u32) {
    for i in 0..packets {
        s.send(*seq, u32::from(*seq) * 160, &[0x2A; 160]);
        *seq = seq.wrapping_add(1);
        if i % 100 == 99 {
            agent.cmd("status");
        }
    }
}

#[test]
fn a_full_stick_stops_with_stick_full_and_the_file_stays_readable() {
    let dir = TempDir::new("full");
    let (agent, seen) = agent_on_tmpfs(&dir, "256k", r#"{"reserve_bytes": 0}"#);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&agent, &s, &mut seq, 3000); // 60 s of audio, 480 kB, onto 256 kB
    let st = agent.wait_for("stick_full", Duration::from_secs(10), |s| s.state == "idle");
    assert_eq!(
        st.last_stop.as_deref(),
        Some("stick_full"),
        "{}",
        agent.log()
    );
    let file = &record_files(&seen)[0];
    let i = info(file);
    let len = std::fs::metadata(file).unwrap().len();
    assert_eq!(i["stale_header"], false, "{i} len {len}\n{}", agent.log());
    let ms = i["duration_ms"].as_u64().unwrap();
    assert!((25_000..32_800).contains(&ms), "{i}");
    // The agent goes on, and refuses a new start with the reason.
    let r = agent.cmd("start");
    assert_eq!(r.error.unwrap().code, "stick_full");
}

#[test]
fn recording_stops_at_the_reserve_before_the_stick_is_full() {
    let dir = TempDir::new("reserve");
    let (agent, seen) = agent_on_tmpfs(&dir, "1m", r#"{"reserve_bytes": 600000}"#);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&agent, &s, &mut seq, 3000); // 480 kB: leaves less than the reserve free
    let st = agent.wait_for("the reserve check", Duration::from_secs(10), |s| {
        s.state == "idle"
    });
    assert_eq!(st.last_stop.as_deref(), Some("stick_full"));
    assert!(st.stick.free_bytes.unwrap() < 600_000);
    let i = info(&record_files(&seen)[0]);
    assert_eq!(
        (i["duration_ms"].as_u64(), i["stale_header"].as_bool()),
        (Some(60_000), Some(false))
    );
    assert!(
        !agent.log().contains("I/O error"),
        "stopped by the reserve, not by ENOSPC"
    );
}

#[test]
fn a_read_only_stick_is_refused_with_its_reason() {
    let dir = TempDir::new("ro");
    let (agent, seen) = agent_on_tmpfs(&dir, "4m", r#"{"reserve_bytes": 0}"#);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&agent, &s, &mut seq, 200);
    agent.ok("stop");
    // The kernel refuses remount,ro while a file is open for writing, so a stick that turns
    // read-only mid-call is covered with the fault-injecting stick (agent::session tests).
    in_ns(
        &agent,
        &[
            "mount",
            "-o",
            "remount,ro",
            seen_in_ns(&agent, &seen).as_str(),
        ],
    );
    let st = agent.wait_for("read-only", Duration::from_secs(5), |s| s.stick.read_only);
    assert!(st.stick.present);
    assert_eq!(agent.cmd("start").error.unwrap().code, "stick_read_only");
    let i = info(&record_files(&seen)[0]);
    assert_eq!(
        (i["duration_ms"].as_u64(), i["stale_header"].as_bool()),
        (Some(4_000), Some(false))
    );
}

/// The stick's path inside the namespace (the part after /proc/PID/root).
fn seen_in_ns(agent: &Agent, seen: &Path) -> String {
    let prefix = format!("/proc/{}/root", agent.child.id());
    seen.to_str()
        .unwrap()
        .strip_prefix(&prefix)
        .unwrap()
        .to_owned()
}

#[test]
fn a_removed_stick_directory_stops_the_recording_and_a_new_one_is_found() {
    let dir = TempDir::new("yank");
    let spec = AgentSpec::host(dir.path());
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    agent.ok("start");
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&agent, &s, &mut seq, 100);
    agent.status();
    let pulled = dir.path().join("pulled");
    std::fs::rename(&stick, &pulled).unwrap();
    let st = agent.wait_for("removal", Duration::from_secs(5), |s| !s.stick.present);
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("stick_removed"))
    );
    assert_eq!(agent.cmd("start").error.unwrap().code, "no_stick");
    // What was written before the pull is on the stick, readable (flushed at most a second late).
    assert_eq!(record_files(&pulled).len(), 1);
    info(&record_files(&pulled)[0]);
    // Plug it back in.
    std::fs::rename(&pulled, &stick).unwrap();
    agent.wait_for("insertion", Duration::from_secs(5), |s| s.stick.present);
    agent.ok("start");
}

#[test]
fn sticks_are_found_in_mountinfo_when_mounted_and_lost_when_unmounted() {
    let dir = TempDir::new("mounts");
    let media = dir.path().join("media");
    std::fs::create_dir_all(media.join("usb1")).unwrap();
    std::fs::create_dir_all(media.join("keep")).unwrap();
    let board = dir.path().join("board.json");
    std::fs::write(
        &board,
        format!(
            r#"{{"model":"test","usb_host":true,"stick":{{"mounts":["{}/usb*"]}},
                "tap":"127.0.0.1:0","http":"127.0.0.1:0","control_socket":"{}","settings":"{}"}}"#,
            media.display(),
            dir.path().join("ctl.sock").display(),
            dir.path().join("none.json").display()
        ),
    )
    .unwrap();
    let mut spec = AgentSpec::host(dir.path()).settings(r#"{"reserve_bytes": 0}"#);
    spec.board = board;
    spec.usb_dir = None;
    spec.wrapper = ["unshare", "-m", "--propagation", "private"]
        .map(String::from)
        .to_vec();
    let agent = Agent::start(&spec);
    assert_eq!(agent.cmd("start").error.unwrap().code, "no_stick");

    let usb1 = media.join("usb1");
    in_ns(
        &agent,
        &[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=2m",
            "tmpfs",
            usb1.to_str().unwrap(),
        ],
    );
    let st = agent.wait_for("insertion", Duration::from_secs(5), |s| s.stick.present);
    assert_eq!(st.stick.path.as_deref(), usb1.to_str());
    agent.ok("start");
    let s = Sender::new(agent.tap);
    let mut seq = 0;
    burst(&agent, &s, &mut seq, 150);
    agent.status();
    // Keep a second view of the stick, then pull it (a lazy unmount, as a yank leaves it).
    let keep = media.join("keep");
    in_ns(
        &agent,
        &[
            "mount",
            "--bind",
            usb1.to_str().unwrap(),
            keep.to_str().unwrap(),
        ],
    );
    in_ns(&agent, &["umount", "-l", usb1.to_str().unwrap()]);
    let st = agent.wait_for("removal", Duration::from_secs(5), |s| !s.stick.present);
    assert_eq!(st.last_stop.as_deref(), Some("stick_removed"));
    let kept = PathBuf::from(format!("/proc/{}/root{}", agent.child.id(), keep.display()));
    assert_eq!(record_files(&kept).len(), 1);
    info(&record_files(&kept)[0]);
}
