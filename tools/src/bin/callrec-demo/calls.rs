//! The two calls, played by `callrec-sim` (the clip as RTP into the tap, call events and keys
//! on the control socket, on a timetable; its output shown and kept in a log, as `tee` would),
//! and the live switch of the agent's settings to network mode between them.

use crate::failure::{failed, interrupted, Result};
use crate::procs::{write_settings, POLL};
use crate::{step, Ctx};
use callrec_tools::agent::ctl;
use callrec_tools::process::{run_within, Proc};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest call (11 s of timetable) takes this long at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How many times the agent's mode is asked after the reload (about 5 s).
const MODE_POLLS: usize = 100;
/// The longest `callrec ctl status` may take.
const CTL_TIMEOUT: Duration = Duration::from_secs(30);

/// A pipe: its read end and its write end, both closed on exec.
fn pipe() -> std::io::Result<(File, File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 fills both descriptors on success; each is then owned by one File.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])))
    }
}

/// One call by the simulator; `--strict`: any refusal by the agent fails it. Its stdout and
/// stderr, in the order written, go to the demo's stdout and to `log`.
fn sim_call(ctx: &Ctx, clip: &[String], tap: &str, log: &str, args: &[&str]) -> Result<bool> {
    let log_path = ctx.file(log);
    let mut log = File::create(&log_path)
        .or_else(|e| failed(format!("making {}: {e}", ctx.rel(&log_path))))?;
    let (read, write) = pipe().or_else(|e| failed(format!("a pipe: {e}")))?;
    let mut sim = {
        let mut command = Command::new(&ctx.sim);
        command
            .args(["call", "--control-socket"])
            .arg(ctx.file("ctl.sock"))
            .args(["--tap", tap])
            .args(clip)
            .arg("--strict")
            .args(args)
            .stdin(Stdio::null())
            .stdout(
                write
                    .try_clone()
                    .or_else(|e| failed(format!("a pipe: {e}")))?,
            )
            .stderr(write);
        // The command (holding the pipe's write ends) is dropped here, so the read end ends
        // when the simulator does.
        Proc::spawn("callrec-sim", &mut command)?
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(read);
        loop {
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(n) if n > 0 && tx.send(line).is_ok() => {}
                _ => break,
            }
        }
    });
    let deadline = Instant::now() + CALL_TIMEOUT;
    let mut out = std::io::stdout();
    loop {
        interrupted()?;
        match rx.recv_timeout(POLL) {
            Ok(line) => {
                let _ = out.write_all(&line);
                let _ = log.write_all(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                return Ok(false);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let _ = out.flush();
    while Instant::now() < deadline {
        interrupted()?;
        if let Some(status) = sim.wait_timeout(POLL) {
            return Ok(status.success());
        }
    }
    Ok(false)
}

/// Call 1, local mode: the record key starts and stops, the pause key pauses and resumes.
pub fn call_local(ctx: &Ctx, clip: &[String], tap: &str) -> Result<()> {
    step("call 1 (local): Bob (1002) calls in; record key at 1 s, pause 4-6 s, stop at 10 s")?;
    let args = [
        "--id",
        "call-1",
        "--codec",
        "PCMA",
        "--remote",
        "1002",
        "--remote-name",
        "Bob",
        "--dir",
        "in",
        "--answer-at",
        "0.5",
        "--record-at",
        "1",
        "--pause-at",
        "4",
        "--resume-at",
        "6",
        "--stop-at",
        "10",
        "--hangup-at",
        "11",
    ];
    if !sim_call(ctx, clip, tap, "call1.log", &args)? {
        return failed(format!(
            "call 1: callrec-sim failed ({})",
            ctx.rel(&ctx.file("call1.log"))
        ));
    }
    Ok(())
}

/// Call 2, network mode, policy always: recorded from answer to hangup, paused on hold.
pub fn call_network(ctx: &Ctx, clip: &[String], tap: &str) -> Result<()> {
    step(
        "call 2 (network): Alice (1003) calls in; recorded from answer, on hold 4-5 s, \
         hangs up at 9 s",
    )?;
    let args = [
        "--id",
        "call-2",
        "--codec",
        "G722",
        "--remote",
        "1003",
        "--remote-name",
        "Alice",
        "--dir",
        "in",
        "--answer-at",
        "0.5",
        "--hold-at",
        "4",
        "--unhold-at",
        "5",
        "--hangup-at",
        "9",
    ];
    if !sim_call(ctx, clip, tap, "call2.log", &args)? {
        return failed(format!(
            "call 2: callrec-sim failed ({})",
            ctx.rel(&ctx.file("call2.log"))
        ));
    }
    Ok(())
}

/// `callrec ctl … --json` against the agent; an error unless it answers `ok`.
fn ctl_ok(ctx: &Ctx, command: &[&str]) -> Result<serde_json::Value> {
    let reply = ctl(&ctx.callrec, &ctx.file("ctl.sock"), command)?;
    if reply["ok"] != serde_json::Value::Bool(true) {
        return failed(format!("ctl {}: {reply}", command.join(" ")));
    }
    Ok(reply)
}

/// A new settings file (network mode, policy always, G.722 to the record server), read by the
/// running agent; it must say so in its status.
pub fn switch_to_network(ctx: &Ctx, server_port: &str) -> Result<()> {
    step(&format!(
        "network mode, live: new settings file (policy always, G.722 to 127.0.0.1:{server_port})"
    ))?;
    write_settings(
        ctx,
        &format!(
            r#"{{"mode":"network","policy":"always","server_address":"127.0.0.1","server_port":{server_port},"codec":"G722"}}"#
        ),
    )?;
    if let Ok(text) = std::fs::read_to_string(ctx.file("settings.json")) {
        print!("{text}");
    }
    // The agent would notice within half a second by itself; reload makes it immediate.
    ctl_ok(ctx, &["reload"])?;
    let mut mode = String::new();
    for _ in 0..MODE_POLLS {
        interrupted()?;
        let reply = ctl_ok(ctx, &["status"])?;
        mode = reply["status"]["mode"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if mode == "network" {
            break;
        }
        std::thread::sleep(POLL);
    }
    if mode != "network" {
        let mode = if mode.is_empty() { "?" } else { &mode };
        return failed(format!(
            "the agent is still in mode {mode} after the reload"
        ));
    }
    // The status as a person reads it: its mode line.
    let mut status = Command::new(&ctx.callrec);
    status
        .args(["ctl", "--control-socket"])
        .arg(ctx.file("ctl.sock"))
        .arg("status");
    let done = run_within("callrec ctl status", &mut status, CTL_TIMEOUT)?;
    if !done.status.success() {
        return failed(format!(
            "callrec ctl status failed ({}): {}",
            done.status,
            String::from_utf8_lossy(&done.stderr).trim()
        ));
    }
    for line in String::from_utf8_lossy(&done.stdout).lines() {
        if let Some(rest) = line.strip_prefix("mode:") {
            println!("   mode {}", rest.trim_start_matches(' '));
        }
    }
    Ok(())
}
