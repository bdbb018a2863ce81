//! `callrec agent`: runs the daemon.

use super::{string, CliError};
use crate::agent::{run as run_agent, AgentOptions};
use callrec_platform::config::board::Board;
use lexopt::Arg;
use std::net::SocketAddr;
use std::path::PathBuf;

pub fn run(mut p: lexopt::Parser) -> Result<(), CliError> {
    let mut board = None;
    let mut settings = None;
    let mut usb_dir = None;
    let mut tap = None;
    let mut http = None;
    let mut control_socket = None;
    let mut mac = None;
    let mut level = std::env::var("CALLREC_LOG").unwrap_or_else(|_| "info".into());
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("board") => board = Some(string(&mut p)?),
            Arg::Long("settings") => settings = Some(PathBuf::from(p.value()?)),
            Arg::Long("usb-dir") => usb_dir = Some(PathBuf::from(p.value()?)),
            Arg::Long("tap") => tap = Some(address(&mut p, "tap")?),
            Arg::Long("http") => http = Some(address(&mut p, "http")?),
            Arg::Long("control-socket") => control_socket = Some(PathBuf::from(p.value()?)),
            Arg::Long("mac") => {
                let v = string(&mut p)?;
                let m = callrec_platform::config::board::normalize_mac(&v)
                    .ok_or_else(|| CliError::usage(format!("bad --mac {v:?}")))?;
                mac = Some(m);
            }
            Arg::Long("log") => level = string(&mut p)?,
            other => return Err(other.unexpected().into()),
        }
    }
    callrec_platform::logger::init(&level).map_err(|e| CliError::usage(e.to_string()))?;
    let board = board.ok_or_else(|| {
        let known = Board::known().collect::<Vec<_>>().join(", ");
        CliError::usage(format!("agent needs --board MODEL|FILE (models: {known})"))
    })?;
    let board = Board::resolve(&board).map_err(|e| CliError::failed(e.to_string()))?;
    let opts = AgentOptions {
        board,
        settings,
        usb_dir,
        tap,
        http,
        control_socket,
        mac,
    };
    run_agent(opts).map_err(|e| CliError::failed(e.to_string()))
}

/// `ADDR:PORT` of option `--name` (port 0: any free port).
fn address(p: &mut lexopt::Parser, name: &str) -> Result<SocketAddr, CliError> {
    let v = string(p)?;
    v.parse()
        .map_err(|_| CliError::usage(format!("bad --{name} {v:?}: expected ADDR:PORT")))
}
