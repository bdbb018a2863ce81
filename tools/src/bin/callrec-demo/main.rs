//! callrec-demo: callrec's main job on a PC, end to end, with real processes and real sockets on
//! loopback (`scripts/demo` installs what it needs, builds, then runs it): a record server
//! (`callrec-server`), the agent (`callrec agent`) and a phone (`callrec-sim`) that plays a
//! speech clip as RTP into the agent's tap and sends call events and key presses.
//!
//! - call 1, local mode, policy on_demand: the record key starts and stops, the pause key
//!   pauses; the recording lands on the "stick" (a directory) as a `Record_` file;
//! - then the settings file switches the running agent to network mode, policy always;
//! - call 2, network mode: recording starts at answer, pauses on hold, ends with the call; the
//!   record server keeps it.
//!
//! Then it shows what was recorded where, exports WAVs to listen to, and checks the durations
//! and the loudness, so the demo is also a check. Everything it makes is in `out/demo/`
//! (`CALLREC_DEMO_DIR`), removed first so it can be re-run. callrec's programs are taken from
//! this binary's own directory (`target/release/`).

mod calls;
mod checks;
mod clip;
mod events;
mod failure;
mod procs;
mod server;
mod stick;

use failure::{Failure, Result};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
callrec-demo: callrec's main job on this PC, end to end (scripts/demo builds, then runs it)

usage: callrec-demo

A record server, the agent and the phone simulator on loopback: call 1 recorded on the stick
with the record key, pause and resume; the agent switched live to network mode; call 2 recorded
on the server. Then what was recorded where, WAVs to listen to, and checks of their durations
and loudness. Everything is in out/demo/ (CALLREC_DEMO_DIR), removed first.

exit status: 0 done; 1 a step or a check failed (the last lines of each log, then the reason);
2 bad usage; 130 / 143 interrupted by SIGINT / SIGTERM (what was started is stopped first).";

/// Where things are.
pub struct Ctx {
    /// The project root (the working directory): paths under it are shown relative to it.
    pub root: PathBuf,
    /// Everything the demo makes.
    pub demo: PathBuf,
    pub callrec: PathBuf,
    pub sim: PathBuf,
    pub server: PathBuf,
}

impl Ctx {
    fn new() -> Result<Ctx> {
        let root = std::env::current_dir()
            .map_err(|e| Failure::Failed(format!("the working directory: {e}")))?;
        let demo = match std::env::var_os("CALLREC_DEMO_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => root.join("out/demo"),
        };
        let exe = std::env::current_exe()
            .map_err(|e| Failure::Failed(format!("this program's path: {e}")))?;
        let bin = exe.parent().unwrap_or(Path::new("."));
        Ok(Ctx {
            demo,
            callrec: bin.join("callrec"),
            sim: bin.join("callrec-sim"),
            server: bin.join("callrec-server"),
            root,
        })
    }

    /// A file of the demo's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.demo.join(name)
    }

    /// `path` as shown: relative to the project root when it is under it.
    pub fn rel(&self, path: &Path) -> String {
        let shown = path.display().to_string();
        let root = format!("{}/", self.root.display());
        match shown.strip_prefix(&root) {
            Some(rest) => rest.to_string(),
            None => shown,
        }
    }
}

/// Prints a step's header; an interruption is noticed here at the latest.
pub fn step(title: &str) -> Result<()> {
    failure::interrupted()?;
    println!("\n== {title}");
    Ok(())
}

/// The demo's steps, in order; what it started is left in `started` for the caller to stop.
fn demo(ctx: &Ctx, started: &mut procs::Started) -> Result<()> {
    let made = std::fs::remove_dir_all(&ctx.demo)
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })
        .and_then(|()| std::fs::create_dir_all(ctx.demo.join("stick")))
        .and_then(|()| std::fs::create_dir_all(ctx.demo.join("wav")));
    made.map_err(|e| Failure::Failed(format!("making {}: {e}", ctx.rel(&ctx.demo))))?;

    let clip = clip::make(ctx)?;
    let server = procs::start_server(ctx, started)?;
    let tap = procs::start_agent(ctx, started)?;
    procs::start_watcher(ctx, started)?;
    calls::call_local(ctx, &clip, &tap)?;
    calls::switch_to_network(ctx, &server.port)?;
    calls::call_network(ctx, &clip, &tap)?;
    let mut listen = stick::report(ctx)?;
    listen.extend(server::report(ctx, &server)?);
    events::report(ctx)?;

    step("done")?;
    for line in listen {
        println!("Listen: {line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-demo", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    let mut args = lexopt::Parser::from_env();
    match args.next() {
        Ok(None) => {}
        Ok(Some(lexopt::Arg::Long("help") | lexopt::Arg::Short('h'))) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Some(arg)) => {
            eprintln!("callrec-demo: unexpected {}\n\n{USAGE}", arg.unexpected());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("callrec-demo: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    failure::catch_signals();
    let ctx = match Ctx::new() {
        Ok(ctx) => ctx,
        Err(f) => {
            eprintln!("demo: FAILED: {}", f.reason());
            return ExitCode::from(f.exit_status());
        }
    };
    // Dropped after the failure's first report: the watcher first (so it does not report the
    // agent going away as an error), then the agent (it closes its recording cleanly on
    // SIGTERM), then the server.
    let mut started = procs::Started::default();
    let Err(failure) = demo(&ctx, &mut started) else {
        return ExitCode::SUCCESS;
    };
    if let Failure::Failed(reason) = &failure {
        eprintln!("demo: FAILED: {reason}");
    }
    drop(started);
    failure::show_logs(&ctx);
    // The reason again, after the logs, where it is seen.
    eprintln!(
        "demo: FAILED (exit {}): {}; everything is in {}/",
        failure.exit_status(),
        failure.reason(),
        ctx.rel(&ctx.demo)
    );
    ExitCode::from(failure.exit_status())
}
