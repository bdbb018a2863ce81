//! `callrec-bench-server` (run by scripts/bench-server, which builds the binaries and raises
//! the open-file limit first): the most concurrent 20 ms G.711 sessions `callrec-server` holds
//! with nothing lost and every file complete, and what a stream costs it, against
//! `ffmpeg -c copy`. Never a timed test.
//!
//! - [`level`]: one level, N sessions from `callrec-loadgen --server` against a fresh server,
//!   read at the loadgen's `send_start` and `send_end` ([`kernel`], [`sampler`]), its
//!   recordings checked after ([`checks`]);
//! - [`ladder`]: the levels in order up to the first that does not count, then bisection,
//!   within the open-file limit, the port range and the time budget;
//! - [`ffmpeg`]: M `ffmpeg -c copy` processes fed by `callrec-loadgen --raw`;
//! - [`report`]: the Markdown printed and written to target/bench-server.md.
//!
//! Exit status: 0 if the target is held, 1 if it is missed, 2 if the benchmark could not
//! measure, 128 + N on signal N (the processes are stopped and the work directory removed).
//!
//! Caveat measured as is: on loopback the kernel's receive path (UDP delivery into the
//! socket) runs in the sender's softirq and is charged to the sender, for the server and
//! ffmpeg alike.

mod checks;
mod events;
mod ffmpeg;
mod host;
mod kernel;
mod ladder;
mod level;
mod report;
mod sampler;
mod signals;

use callrec_tools::error::{Context, ToolError};
use callrec_tools::workdir::WorkDir;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
callrec-bench-server: callrec-server under concurrent 20 ms G.711 sessions, against ffmpeg
(run by scripts/bench-server)

usage:
  callrec-bench-server --server-bin PATH --callrec-bin PATH --loadgen-bin PATH
      [--seconds 60] [--counts 1000,2000,3000,4000,5000,6000] [--rate 400] [--ffmpeg 50]
      [--refine 2] [--target 2000] [--budget 840] [--workdir-in target]
      [--out target/bench-server.md] [--command TEXT]... [--keep]

--seconds: the window of RTP per level; --counts: the ladder of session counts; --rate:
  session starts per second; --ffmpeg: ffmpeg processes (0: none); --refine: bisection steps
  after a failure; --target: the sessions to hold; --budget: seconds the whole run may take;
  --workdir-in: where the temporary work directory goes (the real disk: the server's writes
  are part of its cost), removed at the end (kept with --keep, to read the sidecars and logs of
  a level); --command: a line of the report's commands.";

/// The command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub server_bin: PathBuf,
    pub callrec_bin: PathBuf,
    pub loadgen_bin: PathBuf,
    pub seconds: f64,
    /// The ladder as given (the report quotes it).
    pub counts_text: String,
    pub counts: Vec<u32>,
    pub rate: f64,
    pub ffmpeg: u32,
    pub refine: u32,
    pub target: u32,
    pub budget: f64,
    pub workdir_in: PathBuf,
    pub out: PathBuf,
    pub command: Vec<String>,
    /// Leave the work directory in place.
    pub keep: bool,
    /// The server's `--max-sessions`: the largest level and a margin.
    pub max_sessions: u32,
}

fn parse_args() -> Result<Options, ToolError> {
    use lexopt::Arg;
    let usage = |e: String| ToolError::Usage(format!("{e}\n\n{USAGE}"));
    let mut p = lexopt::Parser::from_env();
    let mut o = Options {
        server_bin: PathBuf::new(),
        callrec_bin: PathBuf::new(),
        loadgen_bin: PathBuf::new(),
        seconds: 60.0,
        counts_text: "1000,2000,3000,4000,5000,6000".into(),
        counts: Vec::new(),
        rate: 400.0,
        ffmpeg: 50,
        refine: 2,
        target: 2000,
        budget: 840.0,
        workdir_in: PathBuf::from("target"),
        out: PathBuf::from("target/bench-server.md"),
        command: Vec::new(),
        keep: false,
        max_sessions: 0,
    };
    fn value<T: std::str::FromStr>(p: &mut lexopt::Parser, name: &str) -> Result<T, String> {
        let v = p.value().map_err(|e| e.to_string())?;
        v.to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad --{name} {v:?}"))
    }
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Arg::Long("server-bin") => o.server_bin = value(&mut p, "server-bin").map_err(usage)?,
            Arg::Long("callrec-bin") => {
                o.callrec_bin = value(&mut p, "callrec-bin").map_err(usage)?
            }
            Arg::Long("loadgen-bin") => {
                o.loadgen_bin = value(&mut p, "loadgen-bin").map_err(usage)?
            }
            Arg::Long("seconds") => o.seconds = value(&mut p, "seconds").map_err(usage)?,
            Arg::Long("counts") => o.counts_text = value(&mut p, "counts").map_err(usage)?,
            Arg::Long("rate") => o.rate = value(&mut p, "rate").map_err(usage)?,
            Arg::Long("ffmpeg") => o.ffmpeg = value(&mut p, "ffmpeg").map_err(usage)?,
            Arg::Long("refine") => o.refine = value(&mut p, "refine").map_err(usage)?,
            Arg::Long("target") => o.target = value(&mut p, "target").map_err(usage)?,
            Arg::Long("budget") => o.budget = value(&mut p, "budget").map_err(usage)?,
            Arg::Long("workdir-in") => o.workdir_in = value(&mut p, "workdir-in").map_err(usage)?,
            Arg::Long("out") => o.out = value(&mut p, "out").map_err(usage)?,
            Arg::Long("command") => o.command.push(value(&mut p, "command").map_err(usage)?),
            Arg::Long("keep") => o.keep = true,
            Arg::Long("help") | Arg::Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    for (path, name) in [
        (&o.server_bin, "--server-bin"),
        (&o.callrec_bin, "--callrec-bin"),
        (&o.loadgen_bin, "--loadgen-bin"),
    ] {
        if path.as_os_str().is_empty() {
            return Err(usage(format!("{name} is required")));
        }
    }
    o.counts = o
        .counts_text
        .replace(',', " ")
        .split_whitespace()
        .map(|c| c.parse::<u32>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| usage(format!("bad --counts {:?}", o.counts_text)))?;
    if o.counts.is_empty() {
        return Err(usage("--counts is empty".into()));
    }
    if !(o.seconds > 0.0 && o.rate > 0.0) {
        return Err(usage("--seconds and --rate must be above 0".into()));
    }
    o.max_sessions = o.counts.iter().max().copied().unwrap_or(0) + 100;
    Ok(o)
}

/// The soft open-file limit (the server inherits it).
fn nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 0;
    }
    r.rlim_cur
}

/// Bytes free for an unprivileged user under `path`.
fn free_bytes(path: &std::path::Path) -> Result<u64, ToolError> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .context(|| format!("{}", path.display()))?;
    // SAFETY: statvfs fills the zeroed struct we own; `c` is a valid C string.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return Err(ToolError::setup(format!(
                "statvfs {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            )));
        }
        st
    };
    Ok(st.f_bavail * st.f_frsize)
}

fn run(o: &Options) -> Result<(), ToolError> {
    let began = Instant::now();
    let cwd = std::env::current_dir().context(|| "the current directory".into())?;
    std::fs::create_dir_all(&o.workdir_in)
        .context(|| format!("making {}", o.workdir_in.display()))?;
    let parent = o
        .workdir_in
        .canonicalize()
        .context(|| format!("resolving {}", o.workdir_in.display()))?;
    let mut work = WorkDir::new_in(&parent, "bench-server")?;
    if o.keep {
        work.keep();
        println!("== work directory (kept): {}", work.path().display());
    }
    let workdir = work.path();
    let nofile = nofile();
    // Every level's recordings stay to the end: the audio, with a margin for the page cache.
    let total: f64 = o.counts.iter().map(|&n| f64::from(n)).sum();
    let need = total * o.seconds * 8000.0 * 1.1;
    if (free_bytes(workdir)? as f64) < need + f64::from(1u32 << 30) {
        return Err(ToolError::setup(format!(
            "{:.1} GiB of free disk needed under {}",
            need / f64::from(1u32 << 30),
            workdir.display()
        )));
    }
    let limits = ladder::Limits {
        nofile,
        rate: o.rate,
        seconds: o.seconds,
        budget_s: o.budget,
        ffmpeg_s: if o.ffmpeg > 0 { o.seconds + 20.0 } else { 0.0 },
    };
    let ladder = ladder::run(o, &limits, workdir, began)?;
    let ff = if o.ffmpeg > 0 {
        println!(
            "== ffmpeg -c copy: {} processes, {} s",
            o.ffmpeg,
            report::g(o.seconds)
        );
        Some(ffmpeg::run(o, workdir)?)
    } else {
        None
    };
    let cx = report::Context {
        options: o,
        untried: &ladder.untried,
        top_note: &ladder.top_note,
        workdir,
        cwd: &cwd,
        host: host::line(workdir, nofile),
    };
    let text = report::markdown(&ladder.levels, ff.as_ref(), &cx);
    if let Some(dir) = o.out.parent() {
        std::fs::create_dir_all(dir).context(|| format!("making {}", dir.display()))?;
    }
    std::fs::write(&o.out, &text).context(|| format!("writing {}", o.out.display()))?;
    println!();
    print!("{text}");
    println!(
        "\n(written to {}; {:.0} s)",
        o.out.display(),
        began.elapsed().as_secs_f64()
    );
    let held = ladder
        .levels
        .iter()
        .filter(|l| l.clean())
        .map(|l| l.n)
        .max();
    if held.is_none_or(|n| n < o.target) {
        return Err(ToolError::check(format!(
            "target missed: fewer than {} sessions held",
            o.target
        )));
    }
    Ok(())
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-bench-server", env!("CARGO_PKG_VERSION"))
    {
        return ExitCode::SUCCESS;
    }
    signals::install();
    let result = parse_args().and_then(|o| run(&o));
    if let Some(signal) = signals::caught() {
        eprintln!("bench-server: stopped by signal {signal}");
        return ExitCode::from(128 + signal as u8);
    }
    callrec_tools::error::exit("bench-server", result)
}
