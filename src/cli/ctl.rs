//! `callrec ctl`: one command to the agent over its control socket.

use super::CliError;
use crate::config::board::Board;
use crate::core::control::{encode_request, encode_start, CallInfo, Command, Response, Status};
use lexopt::Arg;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where the host board's agent listens, when neither a socket nor a board is given.
const DEFAULT_SOCKET: &str = "/tmp/callrec/ctl.sock";

pub fn run(mut p: lexopt::Parser) -> Result<(), CliError> {
    let mut socket = None;
    let mut command = None;
    let mut json = false;
    let mut call = CallInfo::default();
    let mut has_call = false;
    while let Some(arg) = p.next()? {
        let mut field = |p: &mut lexopt::Parser, f: fn(&mut CallInfo) -> &mut String| {
            has_call = true;
            *f(&mut call) = super::string(p)?;
            Ok::<(), CliError>(())
        };
        match arg {
            Arg::Long("remote-number") => field(&mut p, |c| &mut c.remote_number)?,
            Arg::Long("remote-name") => field(&mut p, |c| &mut c.remote_name)?,
            Arg::Long("local-number") => field(&mut p, |c| &mut c.local_number)?,
            Arg::Long("local-name") => field(&mut p, |c| &mut c.local_name)?,
            Arg::Long("dir") => {
                has_call = true;
                call.dir = Some(super::string(&mut p)?);
            }
            Arg::Long("control-socket") => socket = Some(PathBuf::from(p.value()?)),
            Arg::Long("board") => {
                let board = Board::load(&PathBuf::from(p.value()?))
                    .map_err(|e| CliError::failed(e.to_string()))?;
                socket = Some(board.control_socket);
            }
            Arg::Long("json") => json = true,
            Arg::Value(v) if command.is_none() => {
                let name = v.to_string_lossy().into_owned();
                command = Some(
                    Command::from_name(&name)
                        .ok_or_else(|| CliError::usage(format!("unknown ctl command {name:?}")))?,
                );
            }
            other => return Err(other.unexpected().into()),
        }
    }
    let command = command.ok_or_else(|| CliError::usage("ctl needs a command"))?;
    let socket = socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let line = match (&command, has_call) {
        (Command::Start, true) => {
            call.validate().map_err(CliError::usage)?;
            encode_start(&call)
        }
        (_, true) => return Err(CliError::usage("call details go with start only")),
        _ => encode_request(&command),
    };
    let response = ask(&socket, &line)?;
    if json {
        println!("{}", response.encode().trim_end());
    } else if let Some(status) = &response.status {
        if response.ok || command == Command::Status {
            print_status(status);
        }
    }
    match response.error {
        Some(e) if !response.ok => Err(CliError::failed(format!("{}: {}", e.code, e.message))),
        _ => Ok(()),
    }
}

fn ask(socket: &PathBuf, line: &str) -> Result<Response, CliError> {
    let unreachable = |e: std::io::Error| {
        CliError::failed(format!(
            "cannot reach the agent at {}: {e}",
            socket.display()
        ))
    };
    let mut stream = UnixStream::connect(socket).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(unreachable)?;
    stream.write_all(line.as_bytes()).map_err(unreachable)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(unreachable)?;
    serde_json::from_str(line.trim_end())
        .map_err(|e| CliError::failed(format!("the agent's answer is not understood: {e}")))
}

fn print_status(s: &Status) {
    println!("state:     {}", s.state);
    println!("mode:      {}", s.mode);
    println!("recorded:  {}", clock(s.recorded_ms));
    if let Some(f) = &s.file {
        println!("file:      {f}");
    }
    if !s.files.is_empty() {
        println!("files:     {}", s.files.join(", "));
    }
    if let Some(r) = &s.last_stop {
        println!("stopped:   {r}");
    }
    if let Some(e) = &s.error {
        println!("error:     {e}");
    }
    if let Some(server) = &s.server {
        println!("server:    {server}");
    }
    match (&s.stick.path, s.stick.present) {
        _ if s.mode == "network" => {}
        (Some(p), true) => {
            let free = s
                .stick
                .free_bytes
                .map_or("?".into(), |b| format!("{} MiB free", b >> 20));
            let ro = if s.stick.read_only { ", read-only" } else { "" };
            println!("stick:     {p} ({free}{ro})");
        }
        _ => println!("stick:     none"),
    }
    println!("tap:       {}", s.tap);
    let c = &s.counters;
    println!(
        "packets:   {} received, {} audio, {} lost, {} late, {} duplicate, {} reordered, {} malformed",
        c.received,
        c.audio,
        c.lost,
        c.late,
        c.duplicates,
        c.reordered,
        c.malformed.values().sum::<u64>()
    );
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}
