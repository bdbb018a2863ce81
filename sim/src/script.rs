//! The simulator's script: one step per line, at a time in seconds from the start.
//!
//! ```text
//! # a call out to Bob, recorded with a pause
//! 0.0  call started id=c1 dir=out remote=1002 remote_name="Bob Smith" codec=PCMA
//! 0.5  call answered id=c1
//! 1.0  key record
//! 4.0  key pause
//! 6.0  key pause
//! 10.0 call ended id=c1
//! ```
//!
//! Steps: `call EVENT FIELD=VALUE…` (a call event), `key record|pause` (a key press), and the
//! plain control commands `start [FIELD=VALUE…]`, `stop`, `pause`, `resume`, `status`,
//! `reload`. Fields: `id`, `dir`, `remote`, `remote_name`, `local`, `local_name`, `codec`,
//! `tap_port`; a value with spaces is quoted (`"…"`, with `\"` and `\\` inside). `#` at the
//! start of a word begins a comment. A call event may also say `sip=none` (with `--sip`: a
//! made-up dialog instead of a real call).
//!
//! The whole script is parsed, and every field checked as the agent would, before anything is
//! sent, so a typo on line 40 does not leave the agent half-way through a call. Pure: text in,
//! steps out; [`Step`]s print back as script lines.

use callrec_core::codec::Codec;
use callrec_core::control_protocol::{
    encode_call, encode_key, valid_call_id, CallEvent, CallInfo, Command, Key, Remote,
};
use callrec_core::direction::Direction;
use core::fmt;

/// Latest step time accepted, in seconds (a day).
pub const MAX_SECONDS: u64 = 86_400;

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Milliseconds from the start.
    pub at_ms: u64,
    /// Line in the script (1-based), for messages.
    pub line: usize,
    pub action: Action,
    /// `sip=none` on a call event: with `--sip`, the call gets a dialog the PBX never saw
    /// (no INVITE, no BYE). Read where the call is first seen.
    pub sip_none: bool,
}

/// What a step sends to the agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A call event, with the call's fields as the line gives them.
    Call(CallEvent, CallInfo),
    Key(Key),
    /// `start` (optionally with the call's parties), `stop`, `pause`, `resume`, `status`,
    /// `reload`.
    Control(Command),
}

impl Action {
    /// The request line sent to the agent, newline included.
    pub fn request(&self) -> String {
        match self {
            Action::Call(event, call) => encode_call(*event, call),
            Action::Key(key) => encode_key(*key),
            Action::Control(command) => command.encode(),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Call(event, call) => write!(f, "call {}{}", event.name(), Fields(call)),
            Action::Key(key) => write!(f, "key {}", key.name()),
            Action::Control(
                command @ Command::Remote {
                    call: Some(call), ..
                },
            ) => write!(f, "{}{}", command.name(), Fields(call)),
            Action::Control(command) => f.write_str(command.name()),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", seconds(self.at_ms), self.action)?;
        if self.sip_none {
            f.write_str(" sip=none")?;
        }
        Ok(())
    }
}

/// `1500` as `1.500`.
pub fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// A call's fields as ` id=c1 remote_name="Bob Smith"`, in a fixed order, empty ones left out.
struct Fields<'a>(&'a CallInfo);

impl fmt::Display for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let port = c.tap_port.map(|p| p.to_string());
        let (dir, codec) = (c.dir.map(Direction::name), c.codec.map(Codec::name));
        let fields = [
            ("id", c.id.as_deref()),
            ("dir", dir),
            ("remote", Some(c.remote_number.as_str())),
            ("remote_name", Some(c.remote_name.as_str())),
            ("local", Some(c.local_number.as_str())),
            ("local_name", Some(c.local_name.as_str())),
            ("codec", codec),
            ("tap_port", port.as_deref()),
        ];
        for (name, value) in fields {
            match value {
                Some(v) if !v.is_empty() => write!(f, " {name}={}", quoted(v))?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// A value as the script writes it: bare when it can be, else in quotes with escapes.
fn quoted(v: &str) -> String {
    let plain = !v.is_empty()
        && !v.starts_with('#')
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\');
    if plain {
        return v.to_string();
    }
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// A script line that cannot be run. The script is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// 1-based line number; 0 for the script as a whole.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => f.write_str(&self.message),
            n => write!(f, "line {n}: {}", self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

/// Parses a whole script. Times must not go backwards; an empty script is an error.
pub fn parse_script(text: &str) -> Result<Vec<Step>, ScriptError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut steps: Vec<Step> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = |message: String| ScriptError {
            line: i + 1,
            message,
        };
        let Some(step) = parse_line(line, i + 1).map_err(at)? else {
            continue;
        };
        if let Some(last) = steps.last() {
            if step.at_ms < last.at_ms {
                return Err(at(format!(
                    "time {} is before the previous step's {} (line {})",
                    seconds(step.at_ms),
                    seconds(last.at_ms),
                    last.line
                )));
            }
        }
        steps.push(step);
    }
    if steps.is_empty() {
        return Err(ScriptError {
            line: 0,
            message: "the script has no steps".into(),
        });
    }
    Ok(steps)
}

/// A word of a line: `value` or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    key: Option<String>,
    value: String,
}

/// Splits a line into words; `None` for a blank or comment line.
fn parse_line(line: &str, number: usize) -> Result<Option<Step>, String> {
    let words = split(line)?;
    let Some((time, rest)) = words.split_first() else {
        return Ok(None);
    };
    let at_ms = match time.key {
        None => parse_seconds(&time.value)?,
        Some(_) => return Err(format!("a line starts with a time, not {:?}", time.value)),
    };
    let Some((verb, args)) = rest.split_first() else {
        return Err("a time with no step after it".into());
    };
    if verb.key.is_some() {
        return Err("expected a step (call, key, start, stop, …) after the time".into());
    }
    let mut sip_none = false;
    let action = match verb.value.as_str() {
        "call" => {
            let Some((event, fields)) = args.split_first() else {
                return Err("call needs an event: started, answered, held, resumed, ended".into());
            };
            let event = match (&event.key, CallEvent::from_name(&event.value)) {
                (None, Some(e)) => e,
                _ => {
                    return Err(format!(
                        "unknown call event {:?} (started, answered, held, resumed, ended)",
                        event.value
                    ))
                }
            };
            // `sip=…` is the simulator's own, not a field of the call.
            let (sip, fields): (Vec<&Word>, Vec<&Word>) =
                fields.iter().partition(|w| w.key.as_deref() == Some("sip"));
            match sip.as_slice() {
                [] => {}
                [w] if w.value == "none" => sip_none = true,
                [w] => return Err(format!("sip {:?}: only sip=none", w.value)),
                _ => return Err("sip given twice".into()),
            }
            let fields: Vec<Word> = fields.into_iter().cloned().collect();
            let call = call_info(&fields)?;
            if call.id.is_none() {
                return Err("a call event needs id=…".into());
            }
            Action::Call(event, call)
        }
        "key" => match args {
            [Word { key: None, value }] => match Key::from_name(value) {
                Some(k) => Action::Key(k),
                None => return Err(format!("unknown key {value:?} (record or pause)")),
            },
            _ => return Err("key needs one key name: record or pause".into()),
        },
        "watch" => return Err("watch is not a step: use --watch".into()),
        name => match Command::from_name(name) {
            Some(Command::Remote {
                action: Remote::Start,
                ..
            }) if !args.is_empty() => Action::Control(Command::Remote {
                action: Remote::Start,
                call: Some(call_info(args)?),
            }),
            Some(command) if args.is_empty() => Action::Control(command),
            Some(command) => return Err(format!("{} takes no arguments", command.name())),
            None => {
                return Err(format!(
                    "unknown step {name:?} (call, key, start, stop, pause, resume, status, reload)"
                ))
            }
        },
    };
    Ok(Some(Step {
        at_ms,
        line: number,
        action,
        sip_none,
    }))
}

/// Seconds from the start (`2`, `0.5`, `10.250`) as milliseconds, rounded; at most
/// [`MAX_SECONDS`]. The command line's times use it too.
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    let valid = s.chars().any(|c| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.matches('.').count() <= 1;
    let value: f64 = match s.parse() {
        Ok(v) if valid => v,
        _ => return Err(format!("{s:?} is not a time in seconds")),
    };
    if value > MAX_SECONDS as f64 {
        return Err(format!("time {s} is after {MAX_SECONDS} s"));
    }
    Ok((value * 1000.0).round() as u64)
}

/// The fields of a call, checked as the agent checks them.
fn call_info(words: &[Word]) -> Result<CallInfo, String> {
    let mut call = CallInfo::default();
    let mut seen: Vec<&str> = Vec::new();
    for w in words {
        let Some(key) = w.key.as_deref() else {
            return Err(format!("expected FIELD=VALUE, not {:?}", w.value));
        };
        let value = w.value.clone();
        let name = match key {
            "id" => {
                if !valid_call_id(&value) {
                    return Err("id must be 1 to 128 visible ASCII characters".into());
                }
                call.id = Some(value);
                "id"
            }
            "dir" => match Direction::from_name(&value) {
                Some(d) => {
                    call.dir = Some(d);
                    "dir"
                }
                None => return Err(format!("dir {value:?}: in or out")),
            },
            "remote" | "remote_number" => {
                call.remote_number = value;
                "remote"
            }
            "remote_name" => {
                call.remote_name = value;
                "remote_name"
            }
            "local" | "local_number" => {
                call.local_number = value;
                "local"
            }
            "local_name" => {
                call.local_name = value;
                "local_name"
            }
            "codec" => match Codec::from_name(&value) {
                Some(c) => {
                    call.codec = Some(c);
                    "codec"
                }
                None => return Err(format!("codec {value:?}: PCMA, PCMU or G722")),
            },
            "tap_port" => match callrec_core::port::parse(&value) {
                Some(p) => {
                    call.tap_port = Some(p);
                    "tap_port"
                }
                None => return Err(format!("tap_port {value:?}: a port from 1 to 65535")),
            },
            other => {
                return Err(format!(
                    "unknown field {other:?} (id, dir, remote, remote_name, local, local_name, \
                     codec, tap_port)"
                ))
            }
        };
        if seen.contains(&name) {
            return Err(format!("{name} given twice"));
        }
        seen.push(name);
    }
    call.validate()?;
    Ok(call)
}

/// Splits a line into words at whitespace, honouring quotes; stops at a `#` that starts a word.
fn split(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(words),
            Some(_) => {}
        }
        let mut word = Word {
            key: None,
            value: String::new(),
        };
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted => match chars.next() {
                    Some(e) => word.value.push(e),
                    None => return Err("a \\ at the end of the line".into()),
                },
                '=' if !quoted && word.key.is_none() => {
                    word.key = Some(std::mem::take(&mut word.value));
                }
                c if c.is_whitespace() && !quoted => break,
                c => word.value.push(c),
            }
        }
        if quoted {
            return Err("a quote is not closed".into());
        }
        words.push(word);
    }
}

#[cfg(test)]
mod tests;
