//! `callrec ctl`: one command to the agent over its control socket.

use super::CliError;
use crate::config::board::Board;
use crate::core::control::{
    encode_call, encode_key, encode_request, encode_sip_response, encode_start, CallEvent,
    CallInfo, Command, Key, Response, SipReport, Status,
};
use lexopt::Arg;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where the host board's agent listens, when neither a socket nor a board is given.
const DEFAULT_SOCKET: &str = "/tmp/callrec/ctl.sock";

pub fn run(mut p: lexopt::Parser) -> Result<(), CliError> {
    let mut socket = None;
    let mut words: Vec<String> = Vec::new();
    let mut json = false;
    let mut call = CallInfo::default();
    let mut has_call = false;
    let (mut tid, mut response_file, mut sip_error) = (None, None, None);
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
            Arg::Long("id") => {
                has_call = true;
                call.id = Some(super::string(&mut p)?);
            }
            Arg::Long("codec") => {
                has_call = true;
                call.codec = Some(super::string(&mut p)?);
            }
            Arg::Long("tap-port") => {
                has_call = true;
                call.tap_port = Some(lexopt::ValueExt::parse(&p.value()?)?);
            }
            Arg::Long("tid") => tid = Some(super::string(&mut p)?),
            Arg::Long("response-file") => response_file = Some(PathBuf::from(p.value()?)),
            Arg::Long("error") => sip_error = Some(super::string(&mut p)?),
            Arg::Long("control-socket") => socket = Some(PathBuf::from(p.value()?)),
            Arg::Long("board") => {
                let board = Board::resolve(&super::string(&mut p)?)
                    .map_err(|e| CliError::failed(e.to_string()))?;
                socket = Some(board.control_socket);
            }
            Arg::Long("json") => json = true,
            Arg::Value(v) if words.len() < 2 => words.push(
                v.into_string()
                    .map_err(|_| CliError::usage("arguments must be UTF-8"))?,
            ),
            other => return Err(other.unexpected().into()),
        }
    }
    let command = command_of(&words)?;
    let socket = socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    if has_call {
        call.validate().map_err(CliError::usage)?;
    }
    let sip_line = |tid: Option<String>| -> Result<String, CliError> {
        let tid = tid.ok_or_else(|| CliError::usage("sip-response needs --tid"))?;
        let outcome = match (&response_file, &sip_error) {
            (Some(f), None) => Ok(std::fs::read_to_string(f)
                .map_err(|e| CliError::failed(format!("{}: {e}", f.display())))?),
            (None, Some(e)) => Err(e.clone()),
            _ => {
                return Err(CliError::usage(
                    "sip-response needs --response-file F or --error TEXT",
                ))
            }
        };
        Ok(encode_sip_response(&SipReport { tid, outcome }))
    };
    let line = match (command, has_call) {
        (Command::SipResponse, false) => sip_line(tid)?,
        (Command::Start, true) => encode_start(&call),
        (Command::Call(ev), true) if call.id.is_some() => encode_call(ev, &call),
        (Command::Call(_), _) => return Err(CliError::usage("a call event needs --id")),
        (Command::Key(k), false) => encode_key(k),
        (_, true) => return Err(CliError::usage("call details go with start and call only")),
        _ => encode_request(&command),
    };
    if command == Command::Watch {
        return watch(&socket, &line, json);
    }
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

/// `start`, `call answered`, `key record`, …
fn command_of(words: &[String]) -> Result<Command, CliError> {
    let (first, second) = match words {
        [] => return Err(CliError::usage("ctl needs a command")),
        [a] => (a.as_str(), None),
        [a, b, ..] => (a.as_str(), Some(b.as_str())),
    };
    match (first, second) {
        ("call", Some(e)) => CallEvent::from_name(e)
            .map(Command::Call)
            .ok_or_else(|| CliError::usage(format!("unknown call event {e:?}"))),
        ("call", None) => Err(CliError::usage(
            "call needs an event: started, answered, held, resumed or ended",
        )),
        ("key", Some(k)) => Key::from_name(k)
            .map(Command::Key)
            .ok_or_else(|| CliError::usage(format!("unknown key {k:?}"))),
        ("key", None) => Err(CliError::usage("key needs record or pause")),
        ("sip-response", None) => Ok(Command::SipResponse),
        (name, None) => Command::from_name(name)
            .ok_or_else(|| CliError::usage(format!("unknown ctl command {name:?}"))),
        (name, Some(extra)) => Err(CliError::usage(format!(
            "{name} takes no argument (got {extra:?})"
        ))),
    }
}

/// Subscribes and prints every event line until the agent goes away.
fn watch(socket: &PathBuf, line: &str, json: bool) -> Result<(), CliError> {
    let unreachable = |e: std::io::Error| {
        CliError::failed(format!(
            "cannot reach the agent at {}: {e}",
            socket.display()
        ))
    };
    let mut stream = UnixStream::connect(socket).map_err(unreachable)?;
    stream.write_all(line.as_bytes()).map_err(unreachable)?;
    let mut lines = BufReader::new(stream).lines();
    let first = lines
        .next()
        .ok_or_else(|| CliError::failed("the agent closed the connection"))?
        .map_err(unreachable)?;
    let response: Response = serde_json::from_str(&first)
        .map_err(|e| CliError::failed(format!("the agent's answer is not understood: {e}")))?;
    if let Some(e) = response.error.filter(|_| !response.ok) {
        return Err(CliError::failed(format!("{}: {}", e.code, e.message)));
    }
    if json {
        println!("{first}");
    } else if let Some(status) = &response.status {
        println!("state: {} (shown: {})", status.state, status.shown);
    }
    let mut out = std::io::stdout().lock();
    for line in lines {
        let line = line.map_err(unreachable)?;
        // Each event as it comes (a pipe reader sees it at once).
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| CliError::failed(format!("stdout: {e}")))?;
    }
    Ok(())
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
    match &s.failure {
        Some(f) if s.shown == "failed" => println!("shown:     failed ({}: {})", f.code, f.message),
        _ => println!("shown:     {}", s.shown),
    }
    println!("mode:      {} (policy {})", s.mode, s.policy);
    if let Some(id) = &s.call_id {
        println!("call:      {id}");
    }
    for c in &s.calls {
        println!(
            "known:     {} {} {}",
            c.id,
            c.state,
            c.dir.as_deref().unwrap_or("")
        );
    }
    if s.settings_pending {
        println!("settings:  changed; they apply when the recording ends");
    }
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
