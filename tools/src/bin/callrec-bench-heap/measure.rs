//! One agent through the call: started (natively or under qemu-user), read idle, then while
//! `callrec-sim` plays the call into it (when the simulator prints its `status` step), then
//! after the stop and the hang-up, and stopped. An `alloc-count` build is read through
//! `ctl status` (its heap counters), the release build through `/proc/PID/status` (VmHWM,
//! VmRSS).

use crate::script::status_at;
use crate::Options;
use callrec_tools::agent::{Agent, AgentSpec};
use callrec_tools::error::Context;
use callrec_tools::process::Proc;
use callrec_tools::procfs::status_kib;
use callrec_tools::ToolError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufRead;
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How much longer than the call the simulator may take (a hung run ends then).
const SIM_EXTRA: Duration = Duration::from_secs(60);

/// Where the figures are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    Idle,
    Recording,
    Stopped,
}

impl Point {
    pub const ALL: [Point; 3] = [Point::Idle, Point::Recording, Point::Stopped];

    /// The point in the report, for a call of `seconds`.
    pub fn text(self, seconds: f64) -> String {
        match self {
            Point::Idle => "idle after start-up".into(),
            Point::Recording => format!(
                "recording, {} s into the call (after pause and resume)",
                callrec_tools::markdown::g(status_at(seconds))
            ),
            Point::Stopped => "after stop and hang-up".into(),
        }
    }
}

/// One agent to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The report's column.
    pub name: String,
    pub binary: PathBuf,
    /// Empty natively, `[qemu-arm]` for an ARM build.
    pub prefix: Vec<PathBuf>,
    /// An `alloc-count` build (heap figures), or the release build (RSS).
    pub heap: bool,
}

impl Variant {
    /// `NAME=BINARY[,QEMU]` (an alloc-count build).
    pub fn parse_heap(spec: &str) -> Result<Variant, String> {
        let (name, rest) = spec
            .split_once('=')
            .ok_or_else(|| format!("--heap {spec:?} is not NAME=BINARY[,QEMU]"))?;
        let mut parts = rest.split(',');
        let binary = parts.next().filter(|b| !b.is_empty());
        let binary = binary.ok_or_else(|| format!("--heap {spec:?} names no binary"))?;
        Ok(Variant {
            name: name.to_string(),
            binary: binary.into(),
            prefix: parts.map(PathBuf::from).collect(),
            heap: true,
        })
    }
}

/// What was read of one agent.
#[derive(Debug, Clone)]
pub struct Measured {
    pub variant: Variant,
    /// `ctl status`'s status at each point (heap builds).
    pub status: BTreeMap<Point, Value>,
    /// (VmHWM, VmRSS) in KiB at each point (the release build).
    pub rss_kib: BTreeMap<Point, (u64, u64)>,
    pub argv: Vec<String>,
    pub sim_argv: Vec<String>,
    pub error: Option<String>,
}

impl Measured {
    pub fn new(variant: Variant) -> Measured {
        Measured {
            variant,
            status: BTreeMap::new(),
            rss_kib: BTreeMap::new(),
            argv: vec![],
            sim_argv: vec![],
            error: None,
        }
    }

    /// A heap counter (`heap_now_bytes`, `heap_peak_bytes`, …) at a point.
    pub fn heap(&self, point: Point, key: &str) -> Option<u64> {
        self.status.get(&point)?["counters"][key].as_u64()
    }

    fn take(&mut self, point: Point, agent: &Agent) -> Result<(), ToolError> {
        if self.variant.heap {
            self.status.insert(point, agent.status()?);
        } else {
            let kib = status_kib(agent.process.pid(), &["VmHWM", "VmRSS"])?;
            let field = |k: &str| kib.get(k).copied().unwrap_or(0);
            self.rss_kib.insert(point, (field("VmHWM"), field("VmRSS")));
        }
        Ok(())
    }
}

/// Runs one agent through the call; what could not be done is kept in `error`.
pub fn measure(opts: &Options, variant: Variant, dir: &Path, script: &Path) -> Measured {
    let mut m = Measured::new(variant);
    if let Err(e) = measure_into(opts, dir, script, &mut m) {
        m.error = Some(e.to_string());
    }
    m
}

fn measure_into(
    opts: &Options,
    dir: &Path,
    script: &Path,
    m: &mut Measured,
) -> Result<(), ToolError> {
    let name = m.variant.name.clone();
    let mut agent = Agent::start(&AgentSpec {
        name: name.clone(),
        prefix: m.variant.prefix.clone(),
        binary: m.variant.binary.clone(),
        board: opts.board.clone(),
        workdir: dir.to_path_buf(),
        settings: serde_json::json!({}),
        ctl_bin: opts.ctl.clone(),
        extra: vec![],
        env: vec![],
    })?;
    m.argv = agent.argv.clone();
    m.take(Point::Idle, &agent)?;

    m.sim_argv = vec![
        opts.sim.display().to_string(),
        "run".into(),
        script.display().to_string(),
        "--tap".into(),
        agent.tap.clone(),
        "--control-socket".into(),
        agent.socket.display().to_string(),
        "--sine".into(),
        "440".into(),
        "--seed".into(),
        "7".into(),
        "--strict".into(),
    ];
    // Its stdout and stderr into one pipe, read line by line as it runs.
    let (reader, writer) = pipe()?;
    let writer2 = writer
        .try_clone()
        .context(|| "a pipe for callrec-sim".to_string())?;
    let mut sim = Proc::spawn(
        "callrec-sim",
        Command::new(&m.sim_argv[0])
            .args(&m.sim_argv[1..])
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer2),
    )?;
    // (The command, and with it this process's write ends, is gone: the pipe ends with sim.)
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The simulator prints each step when the agent has answered it: the `status` step is
    // the point "while recording"; the deadline only bounds a hung run.
    let deadline = Instant::now() + Duration::from_secs_f64(opts.seconds) + SIM_EXTRA;
    let mut lines = Vec::new();
    let output = |lines: &[String]| lines.join("\n");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if is_status_step(&line) {
                    m.take(Point::Recording, &agent)?;
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                sim.stop(Duration::ZERO);
                return Err(ToolError::setup(format!(
                    "{name}: callrec-sim still running {} s after the call's end:\n{}",
                    SIM_EXTRA.as_secs(),
                    output(&lines)
                )));
            }
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let status = sim
        .wait_timeout(left)
        .unwrap_or_else(|| sim.stop(Duration::ZERO));
    if !status.success() {
        return Err(ToolError::setup(format!(
            "{name}: callrec-sim exited {status}:\n{}",
            output(&lines)
        )));
    }
    if !m.status.contains_key(&Point::Recording) && !m.rss_kib.contains_key(&Point::Recording) {
        return Err(ToolError::setup(format!(
            "{name}: no status step seen:\n{}",
            output(&lines)
        )));
    }
    let state = agent.status()?;
    check_stopped(&state, opts.seconds).map_err(|e| ToolError::setup(format!("{name}: {e}")))?;
    m.take(Point::Stopped, &agent)?;
    agent.terminate()
}

/// A pipe: its read end and its write end, both closed on exec.
fn pipe() -> Result<(File, File), ToolError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors of the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(ToolError::setup(format!(
            "making a pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: both descriptors are new and owned by nothing else.
    Ok(unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) })
}

/// Whether a line of the simulator's is its `status` step (`8.000 status …`).
pub fn is_status_step(line: &str) -> bool {
    line.split_whitespace().nth(1) == Some("status")
}

/// The agent's status after the call: idle, stopped by the record key, with a recording of
/// at least 80 % of the time the key was on.
pub fn check_stopped(state: &Value, seconds: f64) -> Result<(), String> {
    if state["state"] != "idle" || state["last_stop"] != "requested" {
        return Err(format!("not stopped by the record key: {state}"));
    }
    let files = state["files"].as_array().map_or(0, Vec::len);
    let recorded_ms = state["recorded_ms"].as_f64().unwrap_or(0.0);
    if files == 0 || recorded_ms < (seconds - 2.0) * 1000.0 * 0.8 {
        return Err(format!(
            "recorded {} ms in {}",
            state["recorded_ms"], state["files"]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_heap_spec_names_the_column_the_binary_and_the_emulator() {
        let v = Variant::parse_heap("armv7 (qemu-arm)=/t/callrec,/usr/bin/qemu-arm").unwrap();
        assert_eq!(v.name, "armv7 (qemu-arm)");
        assert_eq!(v.binary, PathBuf::from("/t/callrec"));
        assert_eq!(v.prefix, vec![PathBuf::from("/usr/bin/qemu-arm")]);
        let host = Variant::parse_heap("x86_64 host=/t/callrec").unwrap();
        assert!(host.prefix.is_empty() && host.heap);
        assert!(Variant::parse_heap("no binary").is_err());
        assert!(Variant::parse_heap("x=").is_err());
    }

    #[test]
    fn the_status_step_is_found_and_the_stop_is_checked() {
        assert!(is_status_step("8.000 status state=recording"));
        assert!(!is_status_step("8.000 key record"));
        assert!(!is_status_step("status"));
        let ok = json!({"state": "idle", "last_stop": "requested", "files": ["Record_1"],
            "recorded_ms": 6500});
        assert_eq!(check_stopped(&ok, 10.0), Ok(()));
        let mut short = ok.clone();
        short["recorded_ms"] = json!(6000);
        assert!(check_stopped(&short, 10.0)
            .unwrap_err()
            .contains("recorded 6000 ms"));
        let mut running = ok.clone();
        running["state"] = json!("recording");
        assert!(check_stopped(&running, 10.0).is_err());
        let mut none = ok;
        none["files"] = json!([]);
        assert!(check_stopped(&none, 10.0).is_err());
    }

    #[test]
    fn points_read_as_the_report_names_them() {
        assert_eq!(
            Point::Recording.text(10.0),
            "recording, 8 s into the call (after pause and resume)"
        );
        let mut m = Measured::new(Variant::parse_heap("h=/b").unwrap());
        m.status
            .insert(Point::Idle, json!({"counters": {"heap_now_bytes": 5}}));
        assert_eq!(m.heap(Point::Idle, "heap_now_bytes"), Some(5));
        assert_eq!(m.heap(Point::Stopped, "heap_now_bytes"), None);
    }
}
