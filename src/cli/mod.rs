//! The `callrec` command line: `agent`, `ctl`, `info`, `export`, `repair`.

mod agent;
mod ctl;
mod export;
mod info;
mod repair;

use std::ffi::OsString;
use std::process::ExitCode;

pub const USAGE: &str = "\
callrec: call recording for BX/GP-series desk phones

usage:
  callrec agent --board MODEL|FILE [--settings FILE] [--usb-dir DIR] [--tap ADDR:PORT]
                [--http ADDR:PORT] [--control-socket PATH] [--mac MAC] [--log LEVEL]
  callrec ctl [--control-socket PATH | --board NAME|FILE] COMMAND [--json]
    COMMAND: status | start | stop | pause | resume   (remote control, as a supervisor)
           | call started|answered|held|resumed|ended --id ID   (a call event, as the phone)
           | key record|pause                          (a key press, as the phone)
           | watch                                     (print status events as they come)
           | reload                                    (read the settings file again)
           | sip-response --tid T (--response-file F | --error TEXT)
                                                       (the SIP stack's answer to a sip_request)
    call details, with start or call: [--id ID] [--remote-number N] [--remote-name S]
           [--local-number N] [--local-name S] [--dir in|out] [--codec C] [--tap-port P]
  callrec info FILE [--json]
  callrec export FILE OUT.wav [--keep-codec] [--from MS] [--to MS]
  callrec repair DIR|FILE

exit status: 0 done, 1 refused or failed (the reason is printed), 2 bad usage";

/// Why a subcommand failed, by who is at fault: the person at the command line (exit 2, with
/// the usage), or what the command worked on: the agent's refusal, a file, the machine (exit 1).
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Failed(String),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage(message.into())
    }

    pub fn failed(message: impl Into<String>) -> CliError {
        CliError::Failed(message.into())
    }

    /// The exit status.
    pub fn code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) => write!(f, "{m}\n\n{USAGE}"),
            CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<lexopt::Error> for CliError {
    fn from(e: lexopt::Error) -> Self {
        CliError::usage(e.to_string())
    }
}

pub fn main(args: Vec<OsString>) -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec", env!("CARGO_PKG_VERSION")) {
        return ExitCode::SUCCESS;
    }
    // The file tools and ctl end quietly when what reads their output goes away (`| head`), as
    // Unix tools do; the agent keeps SIGPIPE ignored (its sockets report EPIPE instead).
    if args.first().is_some_and(|a| a != "agent") {
        // SAFETY: restoring a signal's default disposition, before any thread is started.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match dispatch(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callrec: {e}");
            ExitCode::from(e.code())
        }
    }
}

fn dispatch(args: Vec<OsString>) -> Result<(), CliError> {
    // `callrec SUB --help` as well as `callrec --help`.
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let mut args = args.into_iter();
    let sub = args.next().and_then(|s| s.into_string().ok());
    let rest = lexopt::Parser::from_args(args);
    match sub.as_deref() {
        Some("agent") => agent::run(rest),
        Some("ctl") => ctl::run(rest),
        Some("info") => info::run(rest),
        Some("export") => export::run(rest),
        Some("repair") => repair::run(rest),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(CliError::usage(format!("unknown command {other:?}"))),
        None => Err(CliError::usage("no command given")),
    }
}

/// The next value of an option as a string.
fn string(parser: &mut lexopt::Parser) -> Result<String, CliError> {
    parser
        .value()?
        .into_string()
        .map_err(|_| CliError::usage("option value is not UTF-8"))
}
