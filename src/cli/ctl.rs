//! `callrec ctl`: one command to the agent over its control socket.

use super::CliError;
use callrec_core::codec::Codec;
use callrec_core::control_protocol::{
    CallEvent, CallInfo, Command, Key, Remote, SipReport, MAX_ANSWER_LINE,
};
use callrec_core::direction::Direction;
use callrec_platform::config::board::Board;
use callrec_platform::line_reader::LineReader;
use lexopt::Arg;
use serde_json::Value;
use std::io::Write;
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
                let v = super::string(&mut p)?;
                let dir = Direction::from_name(&v)
                    .ok_or_else(|| CliError::usage(format!("--dir {v:?}: in or out")))?;
                call.dir = Some(dir);
            }
            Arg::Long("id") => {
                has_call = true;
                call.id = Some(super::string(&mut p)?);
            }
            Arg::Long("codec") => {
                has_call = true;
                let v = super::string(&mut p)?;
                let codec = Codec::from_name(&v)
                    .ok_or_else(|| CliError::usage(format!("--codec {v:?}: PCMA, PCMU or G722")))?;
                call.codec = Some(codec);
            }
            Arg::Long("tap-port") => {
                has_call = true;
                let v = super::string(&mut p)?;
                let port = callrec_core::port::parse(&v).ok_or_else(|| {
                    CliError::usage(format!("--tap-port {v:?}: a port from 1 to 65535"))
                })?;
                call.tap_port = Some(port);
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
    let word = command_of(&words)?;
    let socket = socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    if has_call {
        call.validate().map_err(CliError::usage)?;
    }
    let sip_report = |tid: Option<String>| -> Result<SipReport, CliError> {
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
        Ok(SipReport { tid, outcome })
    };
    let command = match (word, has_call) {
        (Word::SipResponse, false) => Command::SipResponse(sip_report(tid)?),
        (Word::Call(event), true) if call.id.is_some() => Command::Call { event, call },
        (Word::Call(_), _) => return Err(CliError::usage("a call event needs --id")),
        (
            Word::Other(Command::Remote {
                action: Remote::Start,
                ..
            }),
            true,
        ) => Command::Remote {
            action: Remote::Start,
            call: Some(call),
        },
        (_, true) => return Err(CliError::usage("call details go with start and call only")),
        (Word::Other(command), false) => command,
    };
    let line = command.encode();
    if command == Command::Watch {
        return watch(&socket, &line, json);
    }
    let (raw, response) = ask(&socket, &line)?;
    let ok = response["ok"] == true;
    if json {
        println!("{raw}");
    } else if response["status"].is_object() && (ok || command == Command::Status) {
        print_status(&response["status"]);
    }
    refusal(&response)
}

/// The answer's refusal as the command's failure.
fn refusal(response: &Value) -> Result<(), CliError> {
    if response["ok"] == true {
        return Ok(());
    }
    let e = &response["error"];
    Err(CliError::failed(format!(
        "{}: {}",
        e["code"].as_str().unwrap_or("refused"),
        e["message"].as_str().unwrap_or("")
    )))
}

/// What the command line's words name; the payload comes from the options.
enum Word {
    Call(CallEvent),
    SipResponse,
    /// A command whose words are all it needs.
    Other(Command),
}

/// `start`, `call answered`, `key record`, …
fn command_of(words: &[String]) -> Result<Word, CliError> {
    let (first, second) = match words {
        [] => return Err(CliError::usage("ctl needs a command")),
        [a] => (a.as_str(), None),
        [a, b, ..] => (a.as_str(), Some(b.as_str())),
    };
    match (first, second) {
        ("call", Some(e)) => CallEvent::from_name(e)
            .map(Word::Call)
            .ok_or_else(|| CliError::usage(format!("unknown call event {e:?}"))),
        ("call", None) => Err(CliError::usage(
            "call needs an event: started, answered, held, resumed or ended",
        )),
        ("key", Some(k)) => Key::from_name(k)
            .map(|k| Word::Other(Command::Key(k)))
            .ok_or_else(|| CliError::usage(format!("unknown key {k:?}"))),
        ("key", None) => Err(CliError::usage("key needs record or pause")),
        ("sip-response", None) => Ok(Word::SipResponse),
        (name, None) => Command::from_name(name)
            .map(Word::Other)
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
    let mut lines = LineReader::new(stream, MAX_ANSWER_LINE);
    let first = match lines.read_line().map_err(unreachable)? {
        Some(line) => String::from_utf8_lossy(line).into_owned(),
        None => return Err(CliError::failed("the agent closed the connection")),
    };
    let response = understood(&first)?;
    refusal(&response)?;
    if json {
        println!("{first}");
    } else {
        let st = &response["status"];
        println!(
            "state: {} (shown: {})",
            st["state"].as_str().unwrap_or(""),
            st["shown"].as_str().unwrap_or("")
        );
    }
    let mut out = std::io::stdout().lock();
    while let Some(line) = lines.read_line().map_err(unreachable)? {
        // Each event as it comes (a pipe reader sees it at once).
        out.write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| CliError::failed(format!("stdout: {e}")))?;
    }
    Ok(())
}

/// The agent's answer line as JSON.
fn understood(line: &str) -> Result<Value, CliError> {
    match serde_json::from_str::<Value>(line.trim_end()) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(CliError::failed("the agent's answer is not understood")),
        Err(e) => Err(CliError::failed(format!(
            "the agent's answer is not understood: {e}"
        ))),
    }
}

/// Sends one request line; the answer as text and as JSON.
fn ask(socket: &PathBuf, line: &str) -> Result<(String, Value), CliError> {
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
    let mut lines = LineReader::new(stream, MAX_ANSWER_LINE);
    let line = match lines.read_line().map_err(unreachable)? {
        Some(line) => String::from_utf8_lossy(line).into_owned(),
        None => String::new(),
    };
    let response = understood(&line)?;
    Ok((line, response))
}

/// Prints a status as `callrec ctl status` shows it. The answer is read as plain JSON (the
/// phone binary carries no typed reader of it; a newer agent's extra fields do not matter).
fn print_status(s: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    println!("state:     {}", text(&s["state"]));
    match s["failure"].as_object() {
        Some(f) if s["shown"] == "failed" => println!(
            "shown:     failed ({}: {})",
            text(&f["code"]),
            text(&f["message"])
        ),
        _ => println!("shown:     {}", text(&s["shown"])),
    }
    println!(
        "mode:      {} (policy {})",
        text(&s["mode"]),
        text(&s["policy"])
    );
    if let Some(id) = s["call_id"].as_str() {
        println!("call:      {id}");
    }
    for c in s["calls"].as_array().into_iter().flatten() {
        println!(
            "known:     {} {} {}",
            text(&c["id"]),
            text(&c["state"]),
            text(&c["dir"])
        );
    }
    if s["settings_pending"] == true {
        println!("settings:  changed; they apply when the recording ends");
    }
    println!("recorded:  {}", clock(num(&s["recorded_ms"])));
    if let Some(f) = s["file"].as_str() {
        println!("file:      {f}");
    }
    let files: Vec<&str> = s["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !files.is_empty() {
        println!("files:     {}", files.join(", "));
    }
    for (key, label) in [
        ("last_stop", "stopped"),
        ("error", "error"),
        ("server", "server"),
    ] {
        if let Some(v) = s[key].as_str() {
            println!("{label}:{:pad$}{v}", "", pad = 10 - label.len());
        }
    }
    let stick = &s["stick"];
    match (stick["path"].as_str(), stick["present"] == true) {
        _ if s["mode"] == "network" => {}
        (Some(p), true) => {
            let free = stick["free_bytes"]
                .as_u64()
                .map_or("?".into(), |b| format!("{} MiB free", b >> 20));
            let ro = if stick["read_only"] == true {
                ", read-only"
            } else {
                ""
            };
            println!("stick:     {p} ({free}{ro})");
        }
        _ => println!("stick:     none"),
    }
    println!("tap:       {}", text(&s["tap"]));
    let c = &s["counters"];
    let malformed: u64 = c["malformed"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, v)| v.as_u64())
        .sum();
    println!(
        "packets:   {} received, {} audio, {} lost, {} late, {} duplicate, {} reordered, {} malformed",
        num(&c["received"]),
        num(&c["audio"]),
        num(&c["lost"]),
        num(&c["late"]),
        num(&c["duplicates"]),
        num(&c["reordered"]),
        malformed
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
