//! The main run: one stream to the release agent and to ffmpeg at once, their `/proc`
//! counters read at the stream's fixed points (see the tool's doc), then both recordings read
//! back (the agent's through `callrec info --json`).

use crate::ffmpeg;
use crate::pacer::{self, Pacing};
use crate::stream::{Stream, PERIOD_S};
use crate::Options;
use callrec_tools::agent::{Agent, AgentSpec};
use callrec_tools::error::Context;
use callrec_tools::process::run_within;
use callrec_tools::procfs::{self, Sample};
use callrec_tools::ToolError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// From `ctl start` to the first packet: the agent's commits fall half a second from the
/// samples.
pub const PHASE: Duration = Duration::from_millis(500);
/// The warm-up: stream time before the steady state is measured.
pub const WARMUP_S: f64 = 1.0;
/// How long `callrec info` may take.
const INFO_TIMEOUT: Duration = Duration::from_secs(15);
/// How long ffmpeg may take to exit on the RTCP BYE.
const FFMPEG_EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Both processes at one point of the stream.
#[derive(Debug, Clone, Copy)]
pub struct Both {
    pub callrec: Sample,
    pub ffmpeg: Sample,
}

/// What the main run measured.
#[derive(Debug, Clone)]
pub struct MainRun {
    pub packets: usize,
    pub audio_bytes: usize,
    /// The payload bytes sent, in order.
    pub sent: Vec<u8>,
    pub s0: Both,
    pub sw: Both,
    pub s1: Both,
    /// The agent right after `ctl stop`.
    pub s2: Sample,
    /// ffmpeg's `/proc/PID/io` after it exited, before it was reaped.
    pub ffmpeg_final_io: BTreeMap<String, u64>,
    /// What one control reply costs in syscw and wchar (0, 0 when replies go out by send()).
    pub reply_writes: i64,
    pub reply_bytes: i64,
    pub stop_reply: Vec<u8>,
    /// The agent's counters from the `ctl stop` reply.
    pub counters: Value,
    pub agent_data: Vec<u8>,
    pub agent_files: usize,
    /// Files whose header `callrec info` finds stale.
    pub agent_stale: usize,
    pub ffmpeg_data: Vec<u8>,
    pub pacing: Pacing,
    pub agent_argv: Vec<String>,
    pub ffmpeg_argv: Vec<String>,
}

/// How the benchmark starts an agent: its own directory, and `CALLREC_LOG=warn` so that
/// nothing is logged while it records and its wchar is the recording alone.
pub fn agent_spec(binary: &Path, opts: &Options, dir: PathBuf) -> AgentSpec {
    AgentSpec {
        name: "callrec agent".into(),
        prefix: vec![],
        binary: binary.to_path_buf(),
        board: opts.board.clone(),
        workdir: dir,
        // The defaults, whatever the host's /tmp/callrec/settings.json says.
        settings: serde_json::json!({}),
        ctl_bin: opts.bin.clone(),
        extra: vec![],
        env: vec![("CALLREC_LOG".into(), "warn".into())],
    }
}

/// `ctl start`, refused unless the reply says ok.
pub fn ctl_start(agent: &Agent) -> Result<(), ToolError> {
    let reply = agent.ctl(&["start"])?;
    if reply["ok"] != Value::Bool(true) {
        return Err(ToolError::setup(format!("ctl start refused: {reply}")));
    }
    Ok(())
}

fn tap(agent: &Agent) -> Result<SocketAddr, ToolError> {
    agent
        .tap
        .parse()
        .context(|| format!("the agent's tap {:?}", agent.tap))
}

pub fn main_run(opts: &Options, stream: &Stream, dir: &Path) -> Result<MainRun, ToolError> {
    std::fs::create_dir_all(dir).context(|| format!("making {}", dir.display()))?;
    let mut agent = Agent::start(&agent_spec(&opts.bin, opts, dir.join("agent")))?;
    let mut ff = ffmpeg::start(dir)?;
    let (agent_pid, ff_pid) = (agent.process.pid(), ff.process.pid());

    // What one control reply costs in the agent's /proc/PID/io (its runtime's eventfd
    // wake-ups aside): nothing if it is sent with send(), one write of its length if write().
    let before = procfs::sample(agent_pid)?;
    let (_, status_reply) = agent.ctl_reply(&["status"])?;
    let after = procfs::sample(agent_pid)?;
    let wakes = diff(after.eventfd_writes, before.eventfd_writes);
    let reply_writes = diff(after.syscw, before.syscw) - wakes;
    let reply_bytes = diff(after.wchar, before.wchar) - 8 * wakes;
    let reply_len = status_reply.len() as i64;
    if ![(0, 0), (1, reply_len)].contains(&(reply_writes, reply_bytes)) {
        return Err(ToolError::setup(format!(
            "a {reply_len} B control reply cost the agent {reply_writes} write(s) and \
             {reply_bytes} B: cannot tell recording writes from control traffic"
        )));
    }

    ctl_start(&agent)?;
    let start = Instant::now() + PHASE;
    let warm = (WARMUP_S / PERIOD_S).round() as usize;
    let end = stream.packets.len();
    let mut points: BTreeMap<usize, Both> = BTreeMap::new();
    let destinations = [tap(&agent)?, SocketAddr::from(([127, 0, 0, 1], ff.port))];
    let pacing = pacer::send_paced(
        &stream.packets,
        &destinations,
        start,
        &[0, warm, end],
        |i| {
            let callrec = procfs::sample(agent_pid)?;
            let ffmpeg = procfs::sample(ff_pid)?;
            points.insert(i, Both { callrec, ffmpeg });
            Ok(())
        },
    )?;

    let (reply, stop_reply) = agent.ctl_reply(&["stop"])?;
    let s2 = procfs::sample(agent_pid)?;
    let counters = reply["status"]["counters"].clone();
    if !counters.is_object() {
        return Err(ToolError::setup(format!(
            "ctl stop: no counters in {reply}"
        )));
    }

    pacer::send_once(&stream.bye, SocketAddr::from(([127, 0, 0, 1], ff.port + 1)))?;
    if !ff.process.wait_exited_unreaped(FFMPEG_EXIT_TIMEOUT) {
        return Err(ToolError::setup("ffmpeg did not exit on the RTCP BYE"));
    }
    let ffmpeg_final_io = procfs::io_counters(ff_pid)?;
    match ff.process.wait_timeout(FFMPEG_EXIT_TIMEOUT) {
        Some(status) if status.success() => {}
        status => {
            return Err(ToolError::setup(format!(
                "ffmpeg exited {status:?}: {}",
                ffmpeg::log_text(dir)
            )))
        }
    }
    agent.terminate().map_err(could_not_measure)?;

    let files = record_files(&agent.stick)?;
    let (agent_data, agent_stale) = recorded_audio(&opts.bin, &files)?;
    let ffmpeg_path = dir.join("ffmpeg.alaw");
    let ffmpeg_data =
        std::fs::read(&ffmpeg_path).context(|| format!("reading {}", ffmpeg_path.display()))?;
    let point = |i: usize| {
        points
            .get(&i)
            .copied()
            .expect("every checkpoint is sampled")
    };
    Ok(MainRun {
        packets: stream.packets.len(),
        audio_bytes: stream.audio_bytes(),
        sent: stream.payloads.clone(),
        s0: point(0),
        sw: point(warm),
        s1: point(end),
        s2,
        ffmpeg_final_io,
        reply_writes,
        reply_bytes,
        stop_reply,
        counters,
        agent_data,
        agent_files: files.len(),
        agent_stale,
        ffmpeg_data,
        pacing,
        agent_argv: agent.argv.clone(),
        ffmpeg_argv: ff.argv.clone(),
    })
}

/// Any failure of the benchmark's processes (an agent that does not exit cleanly, too) as
/// "could not measure" (exit 2): no row says anything of it.
pub fn could_not_measure(e: ToolError) -> ToolError {
    match e {
        ToolError::Usage(m) | ToolError::Setup(m) | ToolError::Check(m) => ToolError::Setup(m),
    }
}

/// `a - b` of two counters, signed.
pub fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

/// The stick's `Record_*` files, by name.
pub fn record_files(stick: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(stick)
        .context(|| format!("reading {}", stick.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("Record_"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The audio of Record files, in order, and how many have a stale header. `callrec info
/// --json` gives the data size; a header that is not stale means the file is the header and
/// then that many bytes of audio.
pub fn recorded_audio(callrec: &Path, files: &[PathBuf]) -> Result<(Vec<u8>, usize), ToolError> {
    let mut audio = Vec::new();
    let mut stale = 0;
    for file in files {
        let done = run_within(
            "callrec info",
            Command::new(callrec).arg("info").arg(file).arg("--json"),
            INFO_TIMEOUT,
        )?;
        if !done.status.success() {
            return Err(ToolError::setup(format!(
                "callrec info {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&done.stderr).trim()
            )));
        }
        let (data_size, is_stale) = info_fields(&done.stdout)
            .map_err(|e| ToolError::setup(format!("callrec info {}: {e}", file.display())))?;
        stale += usize::from(is_stale);
        let data = std::fs::read(file).context(|| format!("reading {}", file.display()))?;
        audio.extend_from_slice(&data[data.len().saturating_sub(data_size)..]);
    }
    Ok((audio, stale))
}

/// `data_size` and `stale_header` of `callrec info --json`.
pub fn info_fields(json: &[u8]) -> Result<(usize, bool), String> {
    let info: Value = serde_json::from_slice(json).map_err(|e| e.to_string())?;
    let size = info["data_size"]
        .as_u64()
        .ok_or_else(|| format!("no data_size in {info}"))?;
    let stale = info["stale_header"]
        .as_bool()
        .ok_or_else(|| format!("no stale_header in {info}"))?;
    Ok((size as usize, stale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_info_of_a_recording_gives_its_audio_size_and_whether_its_header_is_stale() {
        let json = br#"{"data_size": 80000, "header_data_size": 79000, "stale_header": true}"#;
        assert_eq!(info_fields(json), Ok((80000, true)));
        assert!(info_fields(br#"{"stale_header": false}"#)
            .unwrap_err()
            .contains("data_size"));
        assert!(info_fields(b"not json").is_err());
    }
}
