//! A `callrec agent` on loopback, run natively or under qemu-user, with every address it binds
//! given as port 0 and its own stick directory, control socket and settings file: nothing of
//! the host's `/tmp/callrec` is used and several agents run side by side. Readiness is its
//! ready line (`callrec agent ready tap=… control=… http=…`). A static ARM binary runs as
//! `qemu-arm BINARY …` (binfmt_misc may be absent); qemu passes SIGTERM on to it.

use crate::error::{Context, ToolError};
use crate::process::{ready_field, run_within, Proc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// qemu starts a static binary in well under a second; this bounds a machine under load.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a `ctl` command may take.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an agent may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The qemu-user program that runs a target's binaries.
pub fn qemu_for(target: &str) -> Option<&'static str> {
    match target {
        "armv7-unknown-linux-gnueabihf" => Some("qemu-arm"),
        "aarch64-unknown-linux-gnu" => Some("qemu-aarch64"),
        _ => None,
    }
}

/// How to start an agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// For messages: "host", "armv7 (qemu-arm)".
    pub name: String,
    /// Run before the binary: empty natively, `[qemu-arm]` for an ARM build.
    pub prefix: Vec<PathBuf>,
    pub binary: PathBuf,
    pub board: PathBuf,
    /// Made if absent; holds `stick/`, `settings.json`, `ctl.sock` and `agent.log`.
    pub workdir: PathBuf,
    pub settings: Value,
    /// The host's `callrec`, which runs `ctl` (the same protocol whatever the agent's build).
    pub ctl_bin: PathBuf,
    /// More agent options.
    pub extra: Vec<String>,
    /// More environment (`CALLREC_LOG=info` is set).
    pub env: Vec<(String, String)>,
}

/// A running agent; stopped when dropped.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    pub process: Proc,
    pub argv: Vec<String>,
    /// The tap's address, from the ready line.
    pub tap: String,
    /// The settings page's address, from the ready line (if it has one).
    pub http: Option<String>,
    pub socket: PathBuf,
    pub stick: PathBuf,
    pub settings: PathBuf,
    pub log: PathBuf,
    ctl_bin: PathBuf,
}

impl Agent {
    /// Starts the agent and waits for its ready line.
    pub fn start(spec: &AgentSpec) -> Result<Agent, ToolError> {
        let dir = &spec.workdir;
        let stick = dir.join("stick");
        std::fs::create_dir_all(&stick).context(|| format!("making {}", stick.display()))?;
        let settings = dir.join("settings.json");
        std::fs::write(&settings, spec.settings.to_string())
            .context(|| format!("writing {}", settings.display()))?;
        let socket = dir.join("ctl.sock");
        let log = dir.join("agent.log");
        let mut argv: Vec<String> = spec
            .prefix
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        argv.push(spec.binary.display().to_string());
        for a in [
            "agent",
            "--board",
            &spec.board.display().to_string(),
            "--tap",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--control-socket",
            &socket.display().to_string(),
            "--usb-dir",
            &stick.display().to_string(),
            "--settings",
            &settings.display().to_string(),
        ] {
            argv.push(a.to_string());
        }
        argv.extend(spec.extra.iter().cloned());
        let err = std::fs::File::create(&log).context(|| format!("making {}", log.display()))?;
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env("CALLREC_LOG", "info")
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err);
        let mut process = Proc::spawn(&spec.name, &mut command)?;
        let line = process
            .ready_line(READY_TIMEOUT)
            .map_err(|e| with_log(e, "", &tail(&log, 30)))?;
        let (Some(tap), Some(_)) = (ready_field(&line, "tap"), ready_field(&line, "control"))
        else {
            return Err(ToolError::setup(format!(
                "{}: unexpected ready line {line:?}",
                spec.name
            )));
        };
        Ok(Agent {
            name: spec.name.clone(),
            tap: tap.to_string(),
            http: ready_field(&line, "http").map(str::to_string),
            process,
            argv,
            socket,
            stick,
            settings,
            log,
            ctl_bin: spec.ctl_bin.clone(),
        })
    }

    /// `callrec ctl … --json` by the host's callrec: the reply.
    pub fn ctl(&self, command: &[&str]) -> Result<Value, ToolError> {
        ctl(&self.ctl_bin, &self.socket, command)
            .map_err(|e| with_log(e, &self.name, &self.log_tail(30)))
    }

    /// [`Agent::ctl`]'s reply and the exact bytes `ctl` printed.
    pub fn ctl_reply(&self, command: &[&str]) -> Result<(Value, Vec<u8>), ToolError> {
        ctl_reply(&self.ctl_bin, &self.socket, command)
            .map_err(|e| with_log(e, &self.name, &self.log_tail(30)))
    }

    /// The agent's status (`ctl status`).
    pub fn status(&self) -> Result<Value, ToolError> {
        let reply = self.ctl(&["status"])?;
        if reply["ok"] != Value::Bool(true) {
            return Err(ToolError::check(format!(
                "{}: status refused: {reply}",
                self.name
            )));
        }
        Ok(reply["status"].clone())
    }

    /// The last `lines` of its log, indented.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }

    /// SIGTERM and a clean exit (status 0) within [`STOP_TIMEOUT`].
    pub fn terminate(&mut self) -> Result<(), ToolError> {
        self.process
            .terminate(STOP_TIMEOUT)
            .map_err(|e| with_log(e, "", &self.log_tail(30)))
    }
}

/// `e` with the agent's name in front (if not empty) and its log's tail after, of the same kind
/// (so its message is not prefixed twice).
fn with_log(e: ToolError, name: &str, log: &str) -> ToolError {
    let text = |m: String| {
        let m = if name.is_empty() {
            m
        } else {
            format!("{name}: {m}")
        };
        format!("{m}\n{log}")
    };
    match e {
        ToolError::Usage(m) => ToolError::Usage(text(m)),
        ToolError::Setup(m) => ToolError::Setup(text(m)),
        ToolError::Check(m) => ToolError::Check(text(m)),
    }
}

/// `CALLREC ctl --control-socket SOCKET COMMAND… --json`, within [`CTL_TIMEOUT`]: the reply.
pub fn ctl(callrec: &Path, socket: &Path, command: &[&str]) -> Result<Value, ToolError> {
    ctl_reply(callrec, socket, command).map(|(reply, _)| reply)
}

/// [`ctl`]'s reply and the exact bytes `ctl` printed (for a tool that counts what a reply
/// costs the agent).
pub fn ctl_reply(
    callrec: &Path,
    socket: &Path,
    command: &[&str],
) -> Result<(Value, Vec<u8>), ToolError> {
    let mut cmd = Command::new(callrec);
    cmd.arg("ctl")
        .arg("--control-socket")
        .arg(socket)
        .args(command)
        .arg("--json");
    let what = format!("ctl {}", command.join(" "));
    let out = run_within(&what, &mut cmd, CTL_TIMEOUT)?;
    let reply = serde_json::from_slice(&out.stdout).context(|| {
        format!(
            "{what}: {:?} {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((reply, out.stdout))
}

/// The last `lines` lines of a log file, each indented with `  | `.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
