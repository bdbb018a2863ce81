//! callrec agent vs `ffmpeg -c copy` recording the same 20 ms PCMA RTP stream (run by
//! `scripts/bench-local`, which builds the binaries first).
//!
//! The stream is written by `callrec-loadgen --write` ([`stream`]); the agent's recording is
//! read back through `callrec info --json`. One sender ([`pacer`]) paces one stream to both
//! recorders at once: each packet goes to the agent's tap and to ffmpeg's RTP port. Both
//! processes are started, bound and (for the agent) recording before the first packet, and
//! their counters are read from `/proc` at fixed points of the stream ([`main_run`]):
//!
//! ```text
//! S0  stream start, just before packet 0      (start-up of both processes excluded)
//! SW  stream time 1 s, the end of the warm-up  (ffmpeg's probing, the agent's file open)
//! S1  stream end, one period after the last packet
//! S2  callrec: right after `ctl stop` returns (the file is closed, the last audio written)
//! F2  ffmpeg: after it has exited on the stream's RTCP BYE, before it is reaped
//! ```
//!
//! Metrics and why they are read where they are ([`rows`]):
//! - Peak RSS: VmHWM, read as late as the process still has memory: callrec at S2, ffmpeg at
//!   S1.
//! - CPU time: utime + stime of the whole process life up to the end of the recording,
//!   start-up included: callrec at S2 (its stop and close included), ffmpeg at S1 (its trailer
//!   and exit excluded). Both are read while the process runs, never after a signal. The
//!   on-CPU time during the stream alone (S0 → S2 / S1, from schedstat in ns) is shown under
//!   it, per packet.
//! - Write calls per second, steady state: syscw from SW to S1 over that stretch of stream
//!   time. The agent commits once a second, counted from `ctl start`; the stream starts
//!   [`main_run::PHASE`] after it, so every commit falls about half a second from SW and S1
//!   and the count cannot depend on a race between a sample and a commit. The stretch is
//!   measured in stream time (deadlines), since the samples are taken at the deadlines (their
//!   lateness is reported). The eventfd wake-ups of the agent's runtime are write calls too;
//!   they are counted in, and shown apart below.
//! - Bytes written per audio byte: wchar over the whole recording (callrec S0 → S2, ffmpeg
//!   S0 → F2) over the stream's payload bytes. Not S0 → S1: at S1 both still hold audio (the
//!   agent up to a second of it until `ctl stop`, ffmpeg its whole output buffer until it
//!   exits), so the bytes written would not match the audio bytes counted. The whole
//!   recording includes the per-file costs (the first header, the closing commit); the
//!   steady-state figure (SW → S1, over the audio of that stretch) is shown under it. A
//!   control reply is sent on the control socket inside S0 → S2; its cost is measured once
//!   before the run (a `ctl status` between two samples): send() is not counted by
//!   `/proc/PID/io`, and if a reply ever is a write() of its length, `ctl stop`'s reply is
//!   subtracted.
//! - Packet-path allocations: from the alloc-count build's `ctl stop` reply, at two stream
//!   lengths ([`alloc_run`]; the count must not grow with the number of packets; it should
//!   be 0).
//!
//! Exit status: 0 when every target is met, 1 when one is missed, 2 when the benchmark could
//! not measure (a process failed, a port never opened…).

mod alloc_run;
mod ffmpeg;
mod main_run;
mod pacer;
mod report;
mod rows;
mod stream;

use callrec_tools::error::{exit, Context};
use callrec_tools::workdir::WorkDir;
use callrec_tools::ToolError;
use std::path::PathBuf;
use std::process::ExitCode;

const NAME: &str = "bench-local";
const USAGE: &str = "\
callrec-bench-local: the callrec agent vs ffmpeg -c copy on one paced PCMA stream (run by
scripts/bench-local, which builds the binaries)

usage:
  callrec-bench-local --bin CALLREC --alloc-bin CALLREC --loadgen LOADGEN --board BOARD
                      --out FILE [--seconds 60] [--alloc-seconds 10,20] [--workdir DIR]
                      [--command LINE]...

--bin: the release callrec (the agent measured, and ctl and info)
--alloc-bin: callrec built with the alloc-count feature (the allocation runs)
--loadgen: callrec-loadgen, which writes the stream
--seconds: the main run's stream length (at least 3)
--alloc-seconds: the allocation runs' lengths
--workdir: the temporary directory (made if absent, removed at the end)
--out: where the Markdown report is written
--command: a line shown among the report's commands";

/// The command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub bin: PathBuf,
    pub alloc_bin: PathBuf,
    pub loadgen: PathBuf,
    pub board: PathBuf,
    pub seconds: f64,
    pub alloc_seconds: Vec<f64>,
    /// Resolved, and removed at the end.
    pub workdir: PathBuf,
    pub out: PathBuf,
    pub commands: Vec<String>,
}

impl Options {
    /// The stream written once: as long as the longest run.
    pub fn stream_seconds(&self) -> f64 {
        self.alloc_seconds
            .iter()
            .fold(self.seconds, |a, &b| a.max(b))
    }
}

/// An option's value, as text.
fn text(p: &mut lexopt::Parser) -> Result<String, ToolError> {
    let usage = |e: String| ToolError::Usage(format!("{e}\n\n{USAGE}"));
    let v = p.value().map_err(|e| usage(e.to_string()))?;
    v.into_string()
        .map_err(|v| usage(format!("{v:?} is not UTF-8")))
}

/// The options, and the work directory named by `--workdir` if any.
fn parse_args() -> Result<(Options, Option<PathBuf>), ToolError> {
    use lexopt::Arg;
    let usage = |e: String| ToolError::Usage(format!("{e}\n\n{USAGE}"));
    let mut p = lexopt::Parser::from_env();
    let (mut bin, mut alloc_bin, mut loadgen, mut board, mut out) = (None, None, None, None, None);
    let mut seconds: f64 = 60.0;
    let mut alloc_seconds = vec![10.0, 20.0];
    let mut workdir = None;
    let mut commands = Vec::new();
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Arg::Long("bin") => bin = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("alloc-bin") => alloc_bin = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("loadgen") => loadgen = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("board") => board = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("out") => out = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("workdir") => workdir = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("command") => commands.push(text(&mut p)?),
            Arg::Long("seconds") => {
                let v = text(&mut p)?;
                seconds = v
                    .parse()
                    .map_err(|_| usage(format!("bad --seconds {v:?}")))?;
            }
            Arg::Long("alloc-seconds") => {
                let v = text(&mut p)?;
                alloc_seconds = v
                    .split(',')
                    .map(|s| s.trim().parse::<f64>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| usage(format!("bad --alloc-seconds {v:?}")))?;
            }
            Arg::Long("help") | Arg::Short('h') => return Err(ToolError::Usage(USAGE.into())),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    let need =
        |v: Option<PathBuf>, name: &str| v.ok_or_else(|| usage(format!("--{name} is needed")));
    let min = main_run::WARMUP_S + 2.0;
    if !seconds.is_finite() || seconds < min {
        return Err(ToolError::Usage(format!(
            "BENCH_SECONDS must be at least {}",
            callrec_tools::markdown::g(min)
        )));
    }
    if alloc_seconds.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(usage("--alloc-seconds must be above 0".into()));
    }
    let opts = Options {
        bin: need(bin, "bin")?,
        alloc_bin: need(alloc_bin, "alloc-bin")?,
        loadgen: need(loadgen, "loadgen")?,
        board: need(board, "board")?,
        seconds,
        alloc_seconds,
        workdir: PathBuf::new(),
        out: need(out, "out")?,
        commands,
    };
    Ok((opts, workdir))
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-bench-local", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    exit(NAME, parse_args().and_then(|(opts, dir)| run(opts, dir)))
}

fn run(mut opts: Options, dir: Option<PathBuf>) -> Result<(), ToolError> {
    let workdir = WorkDir::for_run(dir.as_deref(), "callrec-bench")?;
    opts.workdir = workdir.path().to_path_buf();
    let dir = workdir.path();

    let full = stream::write_stream(&opts.loadgen, opts.stream_seconds(), &dir.join("stream"))?;
    let main_stream = full.first(stream::packets_in(opts.seconds));
    let g = callrec_tools::markdown::g;
    println!(
        "== main run: {} s to callrec and ffmpeg -c copy",
        g(opts.seconds)
    );
    let run = main_run::main_run(&opts, &main_stream, &dir.join("main"))?;
    let mut allocs = Vec::new();
    for (i, &seconds) in opts.alloc_seconds.iter().enumerate() {
        println!("== alloc-count run: {} s to callrec", g(seconds));
        allocs.push(alloc_run::alloc_run(
            &opts,
            &full,
            seconds,
            &dir.join(format!("alloc{i}")),
        )?);
    }
    let rows = rows::rows_for(&run, &allocs);
    let text = report::markdown(&rows, &run, &allocs, &opts);
    if let Some(parent) = opts.out.parent() {
        std::fs::create_dir_all(parent).context(|| format!("making {}", parent.display()))?;
    }
    std::fs::write(&opts.out, &text).context(|| format!("writing {}", opts.out.display()))?;
    println!();
    print!("{text}");
    println!("\n(written to {})", opts.out.display());
    let missed = rows::missed(&rows);
    if !missed.is_empty() {
        return Err(ToolError::check(format!(
            "target missed: {}",
            missed.join("; ")
        )));
    }
    Ok(())
}
