//! The ARM agent records byte for byte what the host agent records (run by `scripts/e2e-arm`,
//! which checks the tools, builds the binaries first and passes their paths).
//!
//! The same simulated call is played by the host's `callrec-sim` into two agents at once: the
//! host build (`target/release/callrec`) and the static ARM build under qemu-user. Then the
//! recordings are compared, header included ([`runs`], [`checks`]):
//!
//! - local mode, PCMA, clean: the Record files on each agent's stick;
//! - local mode, G.722 with `--loss 0.05 --reorder 0.05 --seed 7`: the same;
//! - network mode, PCMA: both agents record to one host `callrec-server` (its own temporary
//!   storage; each agent with its own MAC), and the server's Record files of the two sessions
//!   are compared, with the sidecars' codec and duration (their ids and times differ).
//!
//! Where two files differ is told from the host build's `callrec info --json` of each
//! ([`compare`]): the header fields it reads differently, or the frame of the audio and its
//! time. Each local recording is also exported to a PCM16 WAV (`callrec export`) by the host
//! build and by the ARM build under qemu: the two WAVs must be identical too (the G.711 and
//! G.722 decoders). The agents' packet counters (received, lost, reordered, late, …) are
//! printed, and a difference in them is shown, but only the bytes decide.
//!
//! Every run uses `--seed`, so both agents get the very same datagrams (SSRC, sequence numbers,
//! timestamps, loss, reorder). The clean run must also hold exactly the audio the script sends.
//!
//! Why the call is put on hold around each key press: the simulator's audio and its control
//! steps are independent threads, and the agent takes every datagram that reached the tap
//! before a command as being before it (it drains the tap first). A key pressed while audio
//! flows therefore races the packets: whether the 20 ms frame sent next to the press is
//! recorded depends on how fast the agent reads the command, which differs between a native
//! and an emulated agent and with the machine's load (measured: in 1 of 6 runs of a
//! key-press-only call with loss and reorder, the host agent recorded one frame less than the
//! ARM one). So every change of recording state here happens while the call is on hold, when
//! no audio flows (`pause_on_hold` off, so that the hold itself changes nothing): a remote
//! `start` of the held call, the pause key twice, the record key to stop, each with 200 ms or
//! more of silence on the wire on both sides. What is recorded then depends only on the
//! datagrams, and any difference is a real one (byte order, word size, arithmetic). A hold
//! while recording is in the call too: the time it leaves in the RTP timestamps is written as
//! silence.
//!
//! The agents place packets by sequence number and timestamp; lost packets become silence, and
//! swapped packets come back in order within the reorder window (5 packets or 200 ms: a
//! swapped packet is 20 ms late), so loss and reorder do not depend on arrival times either.
//! `--repeat N` plays every run N times, to check that this holds: a run must record the same
//! bytes every time.
//!
//! Output: a line per comparison as it is made, then the table (run, codec, host bytes, arm
//! bytes, equal) ([`mod@report`]). Exit status: 0 all equal, 1 a byte differs (it says where), 2
//! the check could not run (a program missing, failing or not answering).

mod calls;
mod checks;
mod compare;
mod report;
mod runs;

use callrec_tools::error::exit;
use callrec_tools::workdir::{remove_on_signal, WorkDir};
use callrec_tools::ToolError;
use calls::{play, start_server, Binaries};
use checks::{check_export, check_local, check_network, counters_note, Outcome};
use runs::{Mode, Run};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const NAME: &str = "e2e-arm";
const USAGE: &str = "\
callrec-e2e-arm: the ARM agent under qemu records byte for byte what the host agent records
(run by scripts/e2e-arm, which builds the binaries)

usage:
  callrec-e2e-arm --host-bin CALLREC --arm-bin ARM_CALLREC --qemu QEMU --sim CALLREC_SIM
                  --server CALLREC_SERVER --board BOARD --target TARGET [--repeat 1]
                  [--runs local,local-lossy,network] [--workdir DIR] [--keep]

--host-bin: the host's release callrec (the host agent, and ctl, info and export)
--arm-bin: the static ARM callrec, run as QEMU ARM_CALLREC
--target: the ARM build's target, shown in the report
--repeat: play every run this many times
--runs: which runs, comma-separated
--workdir: the working directory (made; removed at the end unless --keep)
--keep: keep the working directory (the recordings and logs)";

/// The command line.
#[derive(Debug)]
struct Options {
    bins: Binaries,
    target: String,
    repeat: usize,
    runs: Vec<Run>,
    workdir: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Result<Options, ToolError> {
    use lexopt::Arg;
    let usage = |e: String| ToolError::Usage(format!("{e}\n\n{USAGE}"));
    let mut p = lexopt::Parser::from_env();
    let text = |p: &mut lexopt::Parser| -> Result<String, ToolError> {
        p.value()
            .map_err(|e| usage(e.to_string()))?
            .into_string()
            .map_err(|v| usage(format!("{v:?} is not UTF-8")))
    };
    let (mut host, mut arm, mut qemu, mut sim, mut server, mut board, mut target) =
        (None, None, None, None, None, None, None);
    let (mut repeat, mut runs, mut workdir, mut keep) = (1, runs::all_names(), None, false);
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Arg::Long("host-bin") => host = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("arm-bin") => arm = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("qemu") => qemu = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("sim") => sim = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("server") => server = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("board") => board = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("target") => target = Some(text(&mut p)?),
            Arg::Long("repeat") => {
                let v = text(&mut p)?;
                repeat = v
                    .parse()
                    .map_err(|_| usage(format!("bad --repeat {v:?}")))?;
            }
            Arg::Long("runs") => runs = text(&mut p)?,
            Arg::Long("workdir") => workdir = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("keep") => keep = true,
            Arg::Long("help") | Arg::Short('h') => return Err(ToolError::Usage(USAGE.into())),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    let need =
        |v: Option<PathBuf>, name: &str| v.ok_or_else(|| usage(format!("--{name} is needed")));
    if repeat < 1 {
        return Err(ToolError::Usage("--repeat must be at least 1".into()));
    }
    Ok(Options {
        bins: Binaries {
            host: need(host, "host-bin")?,
            arm: need(arm, "arm-bin")?,
            qemu: need(qemu, "qemu")?,
            sim: need(sim, "sim")?,
            server: need(server, "server")?,
            board: need(board, "board")?,
        },
        target: target.ok_or_else(|| usage("--target is needed".into()))?,
        repeat,
        runs: runs::select(&runs).map_err(ToolError::Usage)?,
        workdir,
        keep,
    })
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-e2e-arm", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(e) => return exit(NAME, Err(e)),
    };
    let mut workdir = match opts.workdir.as_deref() {
        Some(dir) => WorkDir::at(dir),
        None => WorkDir::new("callrec-e2e-arm"),
    };
    if let Ok(dir) = &mut workdir {
        if opts.keep {
            dir.keep();
        }
    }
    let result = workdir.and_then(|dir| {
        if !opts.keep {
            // Removed when this ends, also on SIGINT, SIGTERM or SIGHUP.
            remove_on_signal(dir.path())?;
        }
        let outcomes = run_all(&opts, dir.path()).map_err(could_not_run)?;
        report(&opts, &outcomes, dir.path())
    });
    exit(NAME, result)
}

/// Anything that stops the runs short means the comparison could not be made (exit 2), even an
/// agent that does not stop cleanly: only the bytes decide the result.
fn could_not_run(e: ToolError) -> ToolError {
    match e {
        ToolError::Check(m) => ToolError::Setup(m),
        other => other,
    }
}

/// Every run, `repeat` times, with a line per comparison as it is made.
fn run_all(opts: &Options, workdir: &Path) -> Result<Vec<Outcome>, ToolError> {
    let started = Instant::now();
    let server = if opts.runs.iter().any(|r| r.mode == Mode::Network) {
        Some(start_server(&opts.bins, workdir)?)
    } else {
        None
    };
    let qemu = program_name(&opts.bins.qemu);
    let mut outcomes = Vec::new();
    for repeat in 0..opts.repeat {
        for run in &opts.runs {
            let t0 = Instant::now();
            let label = if opts.repeat == 1 {
                run.name.to_string()
            } else {
                format!("{} #{}", run.name, repeat + 1)
            };
            let what = format!("{} {}", run.codec, run.impair.join(" "));
            println!(
                "== {label}: {}, host agent and {} agent under {qemu}",
                what.trim_end(),
                opts.target
            );
            let dir = workdir.join(format!("{}-{repeat}", run.name));
            let control = server.as_ref().map(|s| s.control.as_str());
            let sides = play(&opts.bins, run, repeat, &dir, control)?;
            let checked = match (run.mode, &server) {
                (Mode::Network, Some(server)) => {
                    vec![check_network(
                        &opts.bins,
                        run,
                        repeat,
                        &sides,
                        &server.storage,
                    )?]
                }
                _ => vec![
                    check_local(&opts.bins, run, repeat, &sides)?,
                    check_export(&opts.bins, run, repeat, &sides[0].files, &dir)?,
                ],
            };
            for o in &checked {
                for line in &o.problems {
                    println!("   {line}");
                }
                println!(
                    "   {}: {} ({} / {} bytes)",
                    o.run,
                    if o.equal() { "equal" } else { "DIFFERENT" },
                    o.host_bytes,
                    o.arm_bytes
                );
            }
            println!(
                "   {:.1} s; {}",
                t0.elapsed().as_secs_f64(),
                counters_note(&sides[0].status, &sides[1].status)
            );
            outcomes.extend(checked);
        }
    }
    drop(server);
    println!();
    println!(
        "{NAME}: host agent vs {} agent under {qemu}, {:.0} s",
        opts.target,
        started.elapsed().as_secs_f64()
    );
    Ok(outcomes)
}

/// The table, and the result: every comparison equal, and at every repeat the same bytes.
fn report(opts: &Options, outcomes: &[Outcome], workdir: &Path) -> Result<(), ToolError> {
    println!();
    print!("{}", report::outcome_table(outcomes, opts.repeat));
    if opts.keep {
        println!(
            "\n(the recordings and logs are kept in {})",
            workdir.display()
        );
    }
    let unstable = report::unstable(outcomes);
    if opts.repeat > 1 {
        let verdict = if unstable.is_empty() {
            "yes".to_string()
        } else {
            format!("**NO** for {}", unstable.join(", "))
        };
        println!("\nthe same bytes at every repeat: {verdict}");
    }
    if outcomes.iter().all(Outcome::equal) && unstable.is_empty() {
        Ok(())
    } else {
        eprintln!();
        Err(ToolError::check("the recordings differ (see above)"))
    }
}

/// A program's file name (`qemu-arm`).
fn program_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}
