//! The agent's heap while it records a call, on the host and on ARM under qemu-user (run by
//! `scripts/bench-heap`, which builds the binaries first).
//!
//! Every agent records the same simulated call at the same time (one `callrec-sim run` each,
//! [`script`]): answered at 0.5 s, the record key at 1 s, the pause key at 1/3 and at 5/12 of
//! the call (pause, resume), a `status` step 2 s before the end, the record key (stop) 1 s
//! before it, the hang-up at the end; 20 ms PCMA, a 440 Hz tone.
//!
//! What is read, and where ([`measure`]):
//! - Heap (the `alloc-count` builds: host, armv7, aarch64 if built): `heap_now_bytes` and
//!   `heap_peak_bytes` of `callrec ctl status --json` at three points: idle after start-up
//!   (before the call), while recording (when the simulator prints its `status` step, 2 s
//!   before the end: the pause and resume are behind it), and idle after the stop and the
//!   hang-up. The peak is the highest since the process started. The figures are the sizes the
//!   program asked for (`Layout::size`), not what malloc rounds them to or its own overhead, so
//!   they are the same measure on every target and show what the code needs; the status
//!   request being answered is part of them (a few KiB).
//! - Peak RSS of the host's release build without `alloc-count` (what ships, on x86_64): VmHWM
//!   from `/proc/PID/status` at the same three points. Under qemu-user the RSS is qemu's (the
//!   emulator and its translated code, tens of MiB), so no RSS is given for ARM.
//!
//! Why host and ARM differ ([`report`] works it out from the figures): armv7 is a 32-bit
//! target: every pointer, `usize`, `Vec`/`String` header (3 words) and `Box` is half the size
//! of x86_64's, so the same data structures take less; aarch64 is 64-bit like x86_64 and
//! should be within a few bytes of the host. Buffers whose size is a byte count (the 32 KiB
//! audio ring, the receive slots, the reorder window's packet storage) are the same
//! everywhere.
//!
//! Exit status: 0 with the report, 2 when it could not measure (an agent or a simulator
//! failed, a build is not an alloc-count one).

mod measure;
mod report;
mod script;

use callrec_tools::error::{exit, Context};
use callrec_tools::markdown::g;
use callrec_tools::workdir::WorkDir;
use callrec_tools::ToolError;
use measure::{Measured, Point, Variant};
use std::path::PathBuf;
use std::process::ExitCode;

const NAME: &str = "bench-heap";
const USAGE: &str = "\
callrec-bench-heap: the agent's heap while it records one call, host and ARM (run by
scripts/bench-heap, which builds the binaries)

usage:
  callrec-bench-heap --heap NAME=BINARY[,QEMU]... [--rss-bin CALLREC] --ctl CALLREC
                     --sim CALLREC_SIM --board BOARD --out FILE [--seconds 60]
                     [--workdir DIR] [--note LINE]... [--command LINE]...

--heap: an alloc-count agent (run under QEMU if given), a column of the report; the first
  is the host
--rss-bin: the host's release agent (without alloc-count), for its RSS
--ctl: the host's callrec, which runs ctl
--sim: callrec-sim, which plays the call
--seconds: the call's length (at least 8)
--workdir: the temporary directory (made if absent, removed at the end)
--out: where the Markdown report is written
--note: a line added after the notes
--command: a line shown among the report's commands";

/// The command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub heap: Vec<Variant>,
    pub rss_bin: Option<PathBuf>,
    pub ctl: PathBuf,
    pub sim: PathBuf,
    pub board: PathBuf,
    pub seconds: f64,
    /// Resolved, and removed at the end.
    pub workdir: PathBuf,
    pub out: PathBuf,
    pub notes: Vec<String>,
    pub commands: Vec<String>,
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
    let (mut ctl, mut sim, mut board, mut out, mut rss_bin, mut workdir) =
        (None, None, None, None, None, None);
    let mut heap = Vec::new();
    let mut seconds: f64 = 60.0;
    let (mut notes, mut commands) = (Vec::new(), Vec::new());
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Arg::Long("heap") => heap.push(Variant::parse_heap(&text(&mut p)?).map_err(usage)?),
            Arg::Long("rss-bin") => rss_bin = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("ctl") => ctl = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("sim") => sim = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("board") => board = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("out") => out = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("workdir") => workdir = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("note") => notes.push(text(&mut p)?),
            Arg::Long("command") => commands.push(text(&mut p)?),
            Arg::Long("seconds") => {
                let v = text(&mut p)?;
                seconds = v
                    .parse()
                    .map_err(|_| usage(format!("bad --seconds {v:?}")))?;
            }
            Arg::Long("help") | Arg::Short('h') => return Err(ToolError::Usage(USAGE.into())),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    let need =
        |v: Option<PathBuf>, name: &str| v.ok_or_else(|| usage(format!("--{name} is needed")));
    if !seconds.is_finite() || seconds < 8.0 {
        return Err(ToolError::Usage("BENCH_SECONDS must be at least 8".into()));
    }
    if heap.is_empty() {
        return Err(usage("give at least one --heap (the host's first)".into()));
    }
    let opts = Options {
        heap,
        rss_bin,
        ctl: need(ctl, "ctl")?,
        sim: need(sim, "sim")?,
        board: need(board, "board")?,
        seconds,
        workdir: PathBuf::new(),
        out: need(out, "out")?,
        notes,
        commands,
    };
    Ok((opts, workdir))
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-bench-heap", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    exit(NAME, parse_args().and_then(|(opts, dir)| run(opts, dir)))
}

fn run(mut opts: Options, dir: Option<PathBuf>) -> Result<(), ToolError> {
    let workdir = WorkDir::for_run(dir.as_deref(), "callrec-heap")?;
    opts.workdir = workdir.path().to_path_buf();

    let mut variants = opts.heap.clone();
    if let Some(bin) = &opts.rss_bin {
        variants.push(Variant {
            name: "host release".into(),
            binary: bin.clone(),
            prefix: vec![],
            heap: false,
        });
    }
    let script = workdir.path().join("call.script");
    std::fs::write(&script, script::call_script(opts.seconds))
        .context(|| format!("writing {}", script.display()))?;
    let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    println!(
        "== {} s call into {} agents at once: {}",
        g(opts.seconds),
        variants.len(),
        names.join(", ")
    );
    // One thread per agent, so that all record the same call at the same time; each starts
    // and stops its own processes (they die with the thread that started them).
    let measured: Vec<Measured> = std::thread::scope(|s| {
        let handles: Vec<_> = variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (opts, script) = (&opts, &script);
                let dir = workdir.path().join(format!("agent{i}"));
                s.spawn(move || measure::measure(opts, v.clone(), &dir, script))
            })
            .collect();
        handles
            .into_iter()
            .zip(&variants)
            .map(|(h, v)| {
                h.join().unwrap_or_else(|_| {
                    let mut m = Measured::new(v.clone());
                    m.error = Some(format!("{}: the measuring thread panicked", v.name));
                    m
                })
            })
            .collect()
    });
    let failed: Vec<&Measured> = measured.iter().filter(|m| m.error.is_some()).collect();
    for m in &failed {
        eprintln!("{NAME}: {}", m.error.as_deref().unwrap_or_default());
    }
    if !failed.is_empty() {
        return Err(ToolError::setup(format!(
            "{} of {} agents could not be measured",
            failed.len(),
            measured.len()
        )));
    }
    let missing: Vec<&str> = measured
        .iter()
        .filter(|m| m.variant.heap && m.heap(Point::Idle, "heap_peak_bytes").is_none())
        .map(|m| m.variant.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ToolError::setup(format!(
            "no heap figures from {}: not alloc-count builds?",
            missing.join(", ")
        )));
    }
    let mut text = report::markdown(&opts, &measured);
    if !opts.notes.is_empty() {
        text += &format!("\n{}\n", opts.notes.join("\n"));
    }
    if let Some(parent) = opts.out.parent() {
        std::fs::create_dir_all(parent).context(|| format!("making {}", parent.display()))?;
    }
    std::fs::write(&opts.out, &text).context(|| format!("writing {}", opts.out.display()))?;
    println!();
    print!("{text}");
    println!("\n(written to {})", opts.out.display());
    Ok(())
}
