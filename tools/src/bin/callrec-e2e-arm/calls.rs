//! Playing a run: the two agents (the host build natively, the ARM build under qemu-user), one
//! `callrec-sim run` into each at the same time, the record server of the network runs and
//! the sessions it finished, and `callrec export` by either build.

use crate::runs::{call_script, mac, Mode, Run, SEED};
use callrec_tools::agent::{Agent, AgentSpec};
use callrec_tools::error::{Context, ToolError};
use callrec_tools::process::{ready_field, run_within, Proc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The longest one simulated call may take (it lasts 9 s).
const SIM_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest `callrec export` may take (under qemu).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to print its ready line.
const SERVER_READY: Duration = Duration::from_secs(60);

/// The programs and files every run uses.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The host's release `callrec`: the host agent, and `ctl`, `info` and `export`.
    pub host: PathBuf,
    /// The static ARM `callrec`, run as `QEMU ARM …`.
    pub arm: PathBuf,
    pub qemu: PathBuf,
    pub sim: PathBuf,
    pub server: PathBuf,
    pub board: PathBuf,
}

/// Which build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    Host,
    Arm,
}

impl Build {
    pub const BOTH: [Build; 2] = [Build::Host, Build::Arm];

    /// As in file names and the agents' names: `host`, `arm`.
    pub fn word(self) -> &'static str {
        match self {
            Build::Host => "host",
            Build::Arm => "arm",
        }
    }

    /// The command that runs this build's `callrec`.
    fn command(self, bins: &Binaries) -> Command {
        match self {
            Build::Host => Command::new(&bins.host),
            Build::Arm => {
                let mut c = Command::new(&bins.qemu);
                c.arg(&bins.arm);
                c
            }
        }
    }
}

/// What one agent left after a run: its last status and the Record files on its stick, in
/// name order.
#[derive(Debug)]
pub struct Side {
    pub status: Value,
    pub files: Vec<PathBuf>,
}

/// A running `callrec-server` on loopback with its own storage.
pub struct Server {
    _process: Proc,
    /// Its control address (`127.0.0.1:PORT`).
    pub control: String,
    pub storage: PathBuf,
}

/// Starts `callrec-server` with storage and log in `workdir`, and waits for its ready line.
pub fn start_server(bins: &Binaries, workdir: &Path) -> Result<Server, ToolError> {
    let storage = workdir.join("server-storage");
    let log = workdir.join("server.log");
    let err = File::create(&log).context(|| format!("making {}", log.display()))?;
    let mut cmd = Command::new(&bins.server);
    cmd.args(["--listen", "127.0.0.1:0", "--storage"])
        .arg(&storage)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err);
    let mut process = Proc::spawn("callrec-server", &mut cmd)?;
    let log_text =
        || String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let line = process
        .ready_line(SERVER_READY)
        .map_err(|e| ToolError::setup(format!("{e}\n{}", log_text())))?;
    let Some(control) = ready_field(&line, "control") else {
        return Err(ToolError::setup(format!(
            "callrec-server did not start: {line:?}\n{}",
            log_text()
        )));
    };
    Ok(Server {
        control: control.to_string(),
        _process: process,
        storage,
    })
}

/// The agents' settings for a run: `pause_on_hold` off (so that a hold changes nothing), and
/// in network mode the server and the codec.
fn settings(run: &Run, server: Option<&str>) -> Result<Value, ToolError> {
    let mut s = json!({"pause_on_hold": false});
    if run.mode == Mode::Network {
        let server = server.ok_or_else(|| ToolError::setup("a network run without a server"))?;
        let (host, port) = server
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| ToolError::setup(format!("the server's address {server:?}")))?;
        s["mode"] = json!("network");
        s["server_address"] = json!(host);
        s["server_port"] = json!(port);
        s["codec"] = json!(run.codec);
    }
    Ok(s)
}

/// `callrec-sim run SCRIPT` into `agent`, its output (both streams) into `out`.
fn start_sim(
    bins: &Binaries,
    agent: &Agent,
    run: &Run,
    script: &Path,
    out: &Path,
    build: Build,
) -> Result<Proc, ToolError> {
    let file = File::create(out).context(|| format!("making {}", out.display()))?;
    let err = file
        .try_clone()
        .context(|| format!("opening {}", out.display()))?;
    let mut cmd = Command::new(&bins.sim);
    cmd.arg("run")
        .arg(script)
        .args(["--tap", &agent.tap, "--control-socket"])
        .arg(&agent.socket)
        .args([
            "--codec",
            run.codec,
            "--sine",
            "440",
            "--seed",
            &SEED.to_string(),
        ])
        .args(run.impair)
        .arg("--strict")
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err);
    Proc::spawn(
        &format!("callrec-sim into the {} agent", build.word()),
        &mut cmd,
    )
}

/// Waits for a simulator to end, successfully.
fn wait_sim(sim: &mut Proc, out: &Path) -> Result<(), ToolError> {
    let Some(status) = sim.wait_timeout(SIM_TIMEOUT) else {
        sim.stop(Duration::ZERO);
        return Err(ToolError::setup(format!(
            "{} took over {} s",
            sim.name(),
            SIM_TIMEOUT.as_secs()
        )));
    };
    if !status.success() {
        let text = String::from_utf8_lossy(&std::fs::read(out).unwrap_or_default()).into_owned();
        return Err(ToolError::setup(format!(
            "{} exited ({status}):\n{text}",
            sim.name()
        )));
    }
    Ok(())
}

/// One run into both agents at once, in `dir` (made; it must not exist yet): per build, the
/// agent's final status and its stick's Record files. Both agents are stopped (and must exit
/// cleanly) before this returns.
pub fn play(
    bins: &Binaries,
    run: &Run,
    repeat: usize,
    dir: &Path,
    server: Option<&str>,
) -> Result<[Side; 2], ToolError> {
    std::fs::create_dir_all(dir.parent().unwrap_or(dir))
        .context(|| format!("making {}", dir.display()))?;
    std::fs::create_dir(dir).context(|| {
        format!(
            "making {} (it must not exist: a --workdir used before?)",
            dir.display()
        )
    })?;
    let script = dir.join("call.script");
    std::fs::write(&script, call_script(run.codec))
        .context(|| format!("writing {}", script.display()))?;
    let settings = settings(run, server)?;
    let mut agents = Vec::new();
    for build in Build::BOTH {
        let (prefix, binary) = match build {
            Build::Host => (vec![], bins.host.clone()),
            Build::Arm => (vec![bins.qemu.clone()], bins.arm.clone()),
        };
        let extra = match run.mode {
            Mode::Network => vec!["--mac".to_string(), mac(repeat, build == Build::Arm)],
            Mode::Local => vec![],
        };
        agents.push(Agent::start(&AgentSpec {
            name: format!("{} agent", build.word()),
            prefix,
            binary,
            board: bins.board.clone(),
            workdir: dir.join(build.word()),
            settings: settings.clone(),
            ctl_bin: bins.host.clone(),
            extra,
            env: vec![],
        })?);
    }
    let mut sims = Vec::new();
    for (agent, build) in agents.iter().zip(Build::BOTH) {
        let out = dir.join(format!("sim-{}.txt", build.word()));
        sims.push((start_sim(bins, agent, run, &script, &out, build)?, out));
    }
    for (sim, out) in &mut sims {
        wait_sim(sim, out)?;
    }
    let mut sides = Vec::new();
    for agent in &mut agents {
        let status = agent.status()?;
        agent.terminate()?;
        sides.push(Side {
            status,
            files: record_files(&agent.stick)?,
        });
    }
    let arm = sides.pop().expect("two agents");
    let host = sides.pop().expect("two agents");
    Ok([host, arm])
}

/// The Record files in a directory, by name.
fn record_files(dir: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).context(|| format!("reading {}", dir.display()))? {
        let entry = entry.context(|| format!("reading {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with("Record_") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// A session the server finished: its sidecar and its Record files in order.
#[derive(Debug, Clone)]
pub struct Session {
    pub sidecar: Value,
    pub files: Vec<PathBuf>,
}

/// The sessions the server has finished (a stop time in the sidecar), by the device's MAC in
/// lower case without colons. Sidecars that do not parse (being written) are left out.
pub fn server_sessions(storage: &Path) -> BTreeMap<String, Session> {
    let mut sidecars = Vec::new();
    for dir in std::fs::read_dir(storage).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "json") {
                sidecars.push(f.path());
            }
        }
    }
    sidecars.sort();
    let mut out = BTreeMap::new();
    for path in sidecars {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(s) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if s["stop_ms"].is_null() {
            continue;
        }
        let Some(device) = s["device"].as_str() else {
            continue;
        };
        let parent = path.parent().unwrap_or(storage);
        let files = s["files"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(Value::as_str)
                    .map(|f| parent.join(f))
                    .collect()
            })
            .unwrap_or_default();
        out.insert(
            device.replace(':', "").to_lowercase(),
            Session { sidecar: s, files },
        );
    }
    out
}

/// `callrec export` of each of `files` to a PCM16 WAV in `dir` (`export-host-1.wav`, …) by
/// `build`: the WAVs written, and a line for each export that failed.
pub fn export(
    bins: &Binaries,
    build: Build,
    files: &[PathBuf],
    dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), ToolError> {
    let (mut wavs, mut failed) = (Vec::new(), Vec::new());
    for (i, f) in files.iter().enumerate() {
        let wav = dir.join(format!("export-{}-{}.wav", build.word(), i + 1));
        let mut cmd = build.command(bins);
        cmd.arg("export").arg(f).arg(&wav);
        let out = run_within(
            &format!("callrec export by the {} build", build.word()),
            &mut cmd,
            EXPORT_TIMEOUT,
        )?;
        if !out.status.success() {
            failed.push(format!(
                "export by the {} build failed: {}",
                build.word(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        } else if wav.exists() {
            wavs.push(wav);
        }
    }
    Ok((wavs, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::RUNS;
    use callrec_tools::workdir::WorkDir;

    #[test]
    fn network_runs_point_the_agents_at_the_server() {
        assert_eq!(
            settings(&RUNS[0], None).unwrap(),
            json!({"pause_on_hold": false})
        );
        assert_eq!(
            settings(&RUNS[2], Some("127.0.0.1:4321")).unwrap(),
            json!({"pause_on_hold": false, "mode": "network", "server_address": "127.0.0.1",
                   "server_port": 4321, "codec": "PCMA"})
        );
    }

    #[test]
    fn only_finished_sessions_are_found_by_their_mac() {
        let dir = WorkDir::new("callrec-e2e-arm-test").unwrap();
        let day = dir.path().join("2024-01-01");
        std::fs::create_dir(&day).unwrap();
        let write = |name: &str, v: Value| {
            std::fs::write(day.join(name), v.to_string()).unwrap();
        };
        write(
            "a.json",
            json!({"device": "02:00:00:00:00:01", "stop_ms": 5, "files": ["a_1"]}),
        );
        write(
            "b.json",
            json!({"device": "02:00:00:00:00:02", "stop_ms": null, "files": []}),
        );
        std::fs::write(day.join("c.json"), "{half").unwrap();
        let s = server_sessions(dir.path());
        assert_eq!(s.keys().collect::<Vec<_>>(), ["020000000001"]);
        assert_eq!(s["020000000001"].files, [day.join("a_1")]);
        assert!(server_sessions(&dir.path().join("absent")).is_empty());
    }
}
