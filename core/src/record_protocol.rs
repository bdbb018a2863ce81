//! The record server protocol: the TCP control lines between the phone and a record server
//! (network recording). Framing, percent-encoding, parsing and encoding only; the socket, the
//! timeouts and the session state are the shell's. The protocol is fixed in
//! `../shared/spec/record-protocol.md`, which reads the phone recording guide.
//!
//! # The protocol
//!
//! The phone opens one TCP connection per recording session. Each message is one line of
//! `key=value` pairs joined by `&` and ended by `\n` (`\r\n` accepted), at most [`MAX_LINE`]
//! bytes. Keys and values are percent-encoded UTF-8 (RFC 3986; `+` also reads as a space).
//! `cmd` comes first; unknown keys are ignored.
//!
//! ```text
//! phone:  cmd=RecordStartRequest&id=ID&device=MAC&remote_number=N&remote_name=S&local_number=N&local_name=S&dir=in|out&codec=PCMA|PCMU|G722
//! server: cmd=RecordStartResponse&id=ID&result=success|failed&reason=TEXT&server=ADDR&port=PORT
//! phone:  cmd=RecordStopRequest&id=ID&remote_number=N&remote_name=S&local_number=N&local_name=S&reason=TEXT
//! server: cmd=RecordStopResponse&id=ID&result=success
//! ```
//!
//! After `success` the phone sends the call's RTP to `server:port` (UDP) until it sends
//! `RecordStopRequest` or the connection breaks; on `failed` it shows a recording-failed prompt.
//!
//! # The pause/resume extension
//!
//! The guide has no pause. callrec negotiates it so that a server knowing only the guide's
//! messages keeps working:
//!
//! 1. The phone adds `ext=pause` to its `RecordStartRequest`. A plain server ignores the unknown
//!    key.
//! 2. A server that knows pause/resume answers with `ext=pause` in its `RecordStartResponse`. A
//!    plain server does not, and then the phone never sends a pause message in that session: it
//!    just stops sending RTP while paused.
//! 3. In a session where both said `pause`, the phone may send
//!    `cmd=RecordPauseRequest&id=ID` / `cmd=RecordResumeRequest&id=ID`, answered by
//!    `cmd=RecordPauseResponse&id=ID&result=success|failed` /
//!    `cmd=RecordResumeResponse&id=ID&result=success|failed`.
//!
//! `ext` is a comma-separated list of tokens ([`Extensions`]); unknown tokens are ignored, and
//! the key is written only when some extension is on.
//!
//! # Reading rules where the guide is silent
//!
//! - Duplicate keys: the first occurrence wins, later ones are ignored (`cmd` included).
//! - Empty pieces between `&` are skipped; a piece without `=` is a key with an empty value.
//! - Keys are percent-decoded before matching; a key that does not decode is an unknown key.
//!   Values of unknown keys, and of keys the message does not use, are never decoded.
//! - `cmd` names and keys match exactly; the values of `dir`, `codec`, `result` and the `ext`
//!   tokens ignore ASCII case.
//! - `id`, `device` and (on success) `server` must not be empty. Every decoded value is at most
//!   [`MAX_FIELD`] bytes.
//! - With `result=failed`, `server` and `port` mean nothing: absent, empty or invalid values read
//!   as an empty string and port 0 (a failure must reach the user however it is written).
//!   Encoding writes port 0 as `port=`.
//!
//! Every error here is the peer's fault: the caller answers by ending the session. Parsing never
//! panics, and allocates only the decoded fields of the message it returns.

use core::fmt::{self, Write as _};

use crate::codec::Codec;
pub use crate::direction::Direction;
use crate::percent::{self, PercentError};

/// Longest line, `\n` included; a longer one is refused and the connection closed.
pub const MAX_LINE: usize = 4096;
/// Longest decoded value of one field, in bytes.
pub const MAX_FIELD: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Messages

/// The `result` of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Failed,
}

impl Outcome {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failed => "failed",
        }
    }

    /// Parses a wire name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Outcome> {
        [Outcome::Success, Outcome::Failed]
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Protocol extensions, carried by the `ext` key of `RecordStartRequest` (what the phone offers)
/// and `RecordStartResponse` (what the server accepts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Extensions {
    /// `pause`: the Record{Pause,Resume}{Request,Response} messages.
    pub pause: bool,
}

impl Extensions {
    /// No extension: a plain guide-only peer.
    pub const NONE: Extensions = Extensions { pause: false };
    /// Every extension this build knows.
    pub const ALL: Extensions = Extensions { pause: true };

    /// True when no extension is on (then `ext` is not written).
    pub fn is_empty(self) -> bool {
        self == Extensions::NONE
    }

    /// The extensions both sides know: what a server answers to an offer.
    pub fn intersect(self, other: Extensions) -> Extensions {
        Extensions {
            pause: self.pause && other.pause,
        }
    }

    /// Reads a decoded `ext` value: comma-separated tokens, surrounding spaces and ASCII case
    /// ignored, unknown tokens ignored.
    pub fn from_value(value: &str) -> Extensions {
        let mut ext = Extensions::NONE;
        for token in value.split(',').map(str::trim) {
            if token.eq_ignore_ascii_case("pause") {
                ext.pause = true;
            }
        }
        ext
    }

    /// Writes the `ext` value (tokens are unreserved characters; `,` is a legal sub-delimiter).
    fn write_value(self, out: &mut String) {
        let tokens = [(self.pause, "pause")];
        let on = tokens.iter().filter(|(on, _)| *on).map(|(_, name)| *name);
        for (i, name) in on.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(name);
        }
    }
}

/// `RecordStartRequest`, phone to server: open a recording session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// Random, chosen by the phone, fixed for the session.
    pub id: String,
    /// The phone's MAC address.
    pub device: String,
    pub remote_number: String,
    pub remote_name: String,
    pub local_number: String,
    pub local_name: String,
    pub dir: Direction,
    /// The RTP codec of the stream.
    pub codec: Codec,
    /// What the phone offers (`ext`, an extension).
    pub extensions: Extensions,
}

/// `RecordStartResponse`, server to phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartResponse {
    pub id: String,
    pub result: Outcome,
    /// Why it failed; may be empty.
    pub reason: String,
    /// Where to send RTP (UDP). Non-empty on success; anything (usually empty) on failure.
    pub server: String,
    /// Where to send RTP. 1..=65535 on success; 0 when failed without a usable port.
    pub port: u16,
    /// What the server accepts of the phone's offer (`ext`, an extension).
    pub extensions: Extensions,
}

/// `RecordStopRequest`, phone to server: end the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub id: String,
    pub remote_number: String,
    pub remote_name: String,
    pub local_number: String,
    pub local_name: String,
    /// Why the recording stopped; free text.
    pub reason: String,
}

/// `RecordStopResponse`, server to phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopResponse {
    pub id: String,
    pub result: Outcome,
}

/// One control line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    StartRequest(StartRequest),
    StartResponse(StartResponse),
    StopRequest(StopRequest),
    StopResponse(StopResponse),
    /// Extension `pause`: stop recording until resumed (`RecordPauseRequest`).
    PauseRequest {
        id: String,
    },
    /// Extension `pause`: `RecordResumeRequest`.
    ResumeRequest {
        id: String,
    },
    /// Extension `pause`: `RecordPauseResponse`.
    PauseResponse {
        id: String,
        result: Outcome,
    },
    /// Extension `pause`: `RecordResumeResponse`.
    ResumeResponse {
        id: String,
        result: Outcome,
    },
}

const CMD_START_REQUEST: &str = "RecordStartRequest";
const CMD_START_RESPONSE: &str = "RecordStartResponse";
const CMD_STOP_REQUEST: &str = "RecordStopRequest";
const CMD_STOP_RESPONSE: &str = "RecordStopResponse";
const CMD_PAUSE_REQUEST: &str = "RecordPauseRequest";
const CMD_RESUME_REQUEST: &str = "RecordResumeRequest";
const CMD_PAUSE_RESPONSE: &str = "RecordPauseResponse";
const CMD_RESUME_RESPONSE: &str = "RecordResumeResponse";

impl Message {
    /// The `cmd` value.
    pub fn cmd(&self) -> &'static str {
        match self {
            Message::StartRequest(_) => CMD_START_REQUEST,
            Message::StartResponse(_) => CMD_START_RESPONSE,
            Message::StopRequest(_) => CMD_STOP_REQUEST,
            Message::StopResponse(_) => CMD_STOP_RESPONSE,
            Message::PauseRequest { .. } => CMD_PAUSE_REQUEST,
            Message::ResumeRequest { .. } => CMD_RESUME_REQUEST,
            Message::PauseResponse { .. } => CMD_PAUSE_RESPONSE,
            Message::ResumeResponse { .. } => CMD_RESUME_RESPONSE,
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        match self {
            Message::StartRequest(m) => &m.id,
            Message::StartResponse(m) => &m.id,
            Message::StopRequest(m) => &m.id,
            Message::StopResponse(m) => &m.id,
            Message::PauseRequest { id }
            | Message::ResumeRequest { id }
            | Message::PauseResponse { id, .. }
            | Message::ResumeResponse { id, .. } => id,
        }
    }

    /// Appends the message as one line, `\n` included: `cmd` first, then the keys in the guide's
    /// order with percent-encoded values, then `ext` if any extension is on.
    ///
    /// The length is not checked: with long names the line can pass [`MAX_LINE`], which the
    /// caller must check before sending.
    pub fn encode(&self, out: &mut String) {
        out.push_str("cmd=");
        out.push_str(self.cmd());
        match self {
            Message::StartRequest(m) => {
                put(out, Key::Id, &m.id);
                put(out, Key::Device, &m.device);
                put(out, Key::RemoteNumber, &m.remote_number);
                put(out, Key::RemoteName, &m.remote_name);
                put(out, Key::LocalNumber, &m.local_number);
                put(out, Key::LocalName, &m.local_name);
                put(out, Key::Dir, m.dir.name());
                put(out, Key::Codec, m.codec.name());
                put_extensions(out, m.extensions);
            }
            Message::StartResponse(m) => {
                put(out, Key::Id, &m.id);
                put(out, Key::Result, m.result.name());
                put(out, Key::Reason, &m.reason);
                put(out, Key::Server, &m.server);
                put_key(out, Key::Port);
                if m.port != 0 {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "{}", m.port);
                }
                put_extensions(out, m.extensions);
            }
            Message::StopRequest(m) => {
                put(out, Key::Id, &m.id);
                put(out, Key::RemoteNumber, &m.remote_number);
                put(out, Key::RemoteName, &m.remote_name);
                put(out, Key::LocalNumber, &m.local_number);
                put(out, Key::LocalName, &m.local_name);
                put(out, Key::Reason, &m.reason);
            }
            Message::StopResponse(m) => {
                put(out, Key::Id, &m.id);
                put(out, Key::Result, m.result.name());
            }
            Message::PauseRequest { id } | Message::ResumeRequest { id } => put(out, Key::Id, id),
            Message::PauseResponse { id, result } | Message::ResumeResponse { id, result } => {
                put(out, Key::Id, id);
                put(out, Key::Result, result.name());
            }
        }
        out.push('\n');
    }
}

fn put_key(out: &mut String, key: Key) {
    out.push('&');
    out.push_str(key.name());
    out.push('=');
}

fn put(out: &mut String, key: Key, value: &str) {
    put_key(out, key);
    percent::encode(value, out);
}

fn put_extensions(out: &mut String, ext: Extensions) {
    if !ext.is_empty() {
        put_key(out, Key::Ext);
        ext.write_value(out);
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Why a line is not a message. The peer is at fault; the session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No `key=value` pair at all.
    Empty,
    /// A field the message uses is not UTF-8 once decoded.
    NotUtf8 { field: &'static str },
    /// A field the message uses has a `%` not followed by two hex digits.
    BadEncoding { field: &'static str },
    /// No `cmd` key.
    MissingCmd,
    /// `cmd` is present but not the first key.
    CmdNotFirst,
    /// `cmd` names no message this build knows (shown up to 64 characters).
    UnknownCmd(String),
    /// A field the message requires is absent.
    MissingField(&'static str),
    /// A field's value is not acceptable.
    BadField {
        field: &'static str,
        reason: &'static str,
    },
}

impl ParseError {
    /// A stable snake_case name, for logs and counters.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Empty => "empty",
            ParseError::NotUtf8 { .. } => "not_utf8",
            ParseError::BadEncoding { .. } => "bad_encoding",
            ParseError::MissingCmd => "missing_cmd",
            ParseError::CmdNotFirst => "cmd_not_first",
            ParseError::UnknownCmd(_) => "unknown_cmd",
            ParseError::MissingField(_) => "missing_field",
            ParseError::BadField { .. } => "bad_field",
        }
    }

    fn from_field(field: &'static str, e: PercentError) -> ParseError {
        match e {
            PercentError::BadEscape => ParseError::BadEncoding { field },
            PercentError::NotUtf8 => ParseError::NotUtf8 { field },
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty line"),
            ParseError::NotUtf8 { field } => write!(f, "field {field} is not UTF-8"),
            ParseError::BadEncoding { field } => {
                write!(f, "field {field} has a bad percent escape")
            }
            ParseError::MissingCmd => f.write_str("no cmd"),
            ParseError::CmdNotFirst => f.write_str("cmd is not the first key"),
            ParseError::UnknownCmd(cmd) => write!(f, "unknown cmd {cmd:?}"),
            ParseError::MissingField(field) => write!(f, "field {field} is missing"),
            ParseError::BadField { field, reason } => write!(f, "field {field}: {reason}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Every key any message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Cmd,
    Id,
    Device,
    RemoteNumber,
    RemoteName,
    LocalNumber,
    LocalName,
    Dir,
    Codec,
    Result,
    Reason,
    Server,
    Port,
    Ext,
}

impl Key {
    const ALL: [Key; 14] = [
        Key::Cmd,
        Key::Id,
        Key::Device,
        Key::RemoteNumber,
        Key::RemoteName,
        Key::LocalNumber,
        Key::LocalName,
        Key::Dir,
        Key::Codec,
        Key::Result,
        Key::Reason,
        Key::Server,
        Key::Port,
        Key::Ext,
    ];
    /// Longer than the longest key name, so a longer decoded key is unknown.
    const BUF: usize = 16;

    fn name(self) -> &'static str {
        match self {
            Key::Cmd => "cmd",
            Key::Id => "id",
            Key::Device => "device",
            Key::RemoteNumber => "remote_number",
            Key::RemoteName => "remote_name",
            Key::LocalNumber => "local_number",
            Key::LocalName => "local_name",
            Key::Dir => "dir",
            Key::Codec => "codec",
            Key::Result => "result",
            Key::Reason => "reason",
            Key::Server => "server",
            Key::Port => "port",
            Key::Ext => "ext",
        }
    }

    /// Decodes a raw key into a stack buffer and finds it; `None` for an unknown key, including
    /// one that does not decode.
    fn lookup(raw: &[u8]) -> Option<Key> {
        let mut buf = [0u8; Key::BUF];
        let mut len = 0;
        for byte in percent::Decoder::new(raw) {
            *buf.get_mut(len)? = byte.ok()?;
            len += 1;
        }
        let name = &buf[..len];
        Key::ALL.into_iter().find(|k| k.name().as_bytes() == name)
    }
}

/// The raw (still encoded) value of each known key, first occurrence only.
struct Fields<'a> {
    raw: [Option<&'a [u8]>; Key::ALL.len()],
}

impl<'a> Fields<'a> {
    fn get(&self, key: Key) -> Option<&'a [u8]> {
        self.raw[key as usize]
    }

    /// The decoded value, `None` if the key is absent.
    fn optional(&self, key: Key) -> Result<Option<String>, ParseError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let too_long = ParseError::BadField {
            field: key.name(),
            reason: "too long",
        };
        // Each decoded byte takes at most 3 encoded ones: a longer value cannot fit once decoded,
        // and a shorter one allocates at most 3 × MAX_FIELD.
        if raw.len() > 3 * MAX_FIELD {
            return Err(too_long);
        }
        let mut value = String::new();
        percent::decode(raw, &mut value).map_err(|e| ParseError::from_field(key.name(), e))?;
        if value.len() > MAX_FIELD {
            return Err(too_long);
        }
        Ok(Some(value))
    }

    /// The decoded value, empty if the key is absent.
    fn text(&self, key: Key) -> Result<String, ParseError> {
        Ok(self.optional(key)?.unwrap_or_default())
    }

    /// The decoded value, which must be present and not empty.
    fn required(&self, key: Key) -> Result<String, ParseError> {
        let value = self
            .optional(key)?
            .ok_or(ParseError::MissingField(key.name()))?;
        if value.is_empty() {
            return Err(ParseError::BadField {
                field: key.name(),
                reason: "empty",
            });
        }
        Ok(value)
    }

    /// A required value read by `read`, or `BadField` with `reason`.
    fn required_as<T>(
        &self,
        key: Key,
        reason: &'static str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, ParseError> {
        let value = self
            .optional(key)?
            .ok_or(ParseError::MissingField(key.name()))?;
        read(&value).ok_or(ParseError::BadField {
            field: key.name(),
            reason,
        })
    }

    fn dir(&self) -> Result<Direction, ParseError> {
        self.required_as(Key::Dir, "not in|out", Direction::from_name)
    }

    fn codec(&self) -> Result<Codec, ParseError> {
        self.required_as(Key::Codec, "not PCMA|PCMU|G722", Codec::from_name)
    }

    fn result(&self) -> Result<Outcome, ParseError> {
        self.required_as(Key::Result, "not success|failed", Outcome::from_name)
    }

    fn port(&self) -> Result<u16, ParseError> {
        self.required_as(Key::Port, "not 1..=65535", crate::port::parse)
    }

    fn extensions(&self) -> Result<Extensions, ParseError> {
        Ok(self
            .optional(Key::Ext)?
            .map_or(Extensions::NONE, |v| Extensions::from_value(&v)))
    }
}

/// Parses one line, without its `\n` (one trailing `\r` is ignored).
///
/// See the module doc for the reading rules: `cmd` first, unknown keys ignored, the first of
/// duplicate keys wins.
pub fn parse(line: &[u8]) -> Result<Message, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut fields = Fields {
        raw: [None; Key::ALL.len()],
    };
    let mut first_key = None;
    for pair in line.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &[][..]),
        };
        let key = Key::lookup(raw_key);
        first_key.get_or_insert(key);
        if let Some(key) = key {
            let slot = &mut fields.raw[key as usize];
            if slot.is_none() {
                *slot = Some(raw_value);
            }
        }
    }
    let Some(first_key) = first_key else {
        return Err(ParseError::Empty);
    };
    if fields.get(Key::Cmd).is_none() {
        return Err(ParseError::MissingCmd);
    }
    if first_key != Some(Key::Cmd) {
        return Err(ParseError::CmdNotFirst);
    }
    let cmd = fields.text(Key::Cmd)?;
    let f = &fields;
    Ok(match cmd.as_str() {
        CMD_START_REQUEST => Message::StartRequest(StartRequest {
            id: f.required(Key::Id)?,
            device: f.required(Key::Device)?,
            remote_number: f.text(Key::RemoteNumber)?,
            remote_name: f.text(Key::RemoteName)?,
            local_number: f.text(Key::LocalNumber)?,
            local_name: f.text(Key::LocalName)?,
            dir: f.dir()?,
            codec: f.codec()?,
            extensions: f.extensions()?,
        }),
        CMD_START_RESPONSE => {
            let id = f.required(Key::Id)?;
            let result = f.result()?;
            let reason = f.text(Key::Reason)?;
            let (server, port) = match result {
                Outcome::Success => (f.required(Key::Server)?, f.port()?),
                Outcome::Failed => (
                    f.optional(Key::Server).ok().flatten().unwrap_or_default(),
                    f.port().unwrap_or(0),
                ),
            };
            Message::StartResponse(StartResponse {
                id,
                result,
                reason,
                server,
                port,
                extensions: f.extensions()?,
            })
        }
        CMD_STOP_REQUEST => Message::StopRequest(StopRequest {
            id: f.required(Key::Id)?,
            remote_number: f.text(Key::RemoteNumber)?,
            remote_name: f.text(Key::RemoteName)?,
            local_number: f.text(Key::LocalNumber)?,
            local_name: f.text(Key::LocalName)?,
            reason: f.text(Key::Reason)?,
        }),
        CMD_STOP_RESPONSE => Message::StopResponse(StopResponse {
            id: f.required(Key::Id)?,
            result: f.result()?,
        }),
        CMD_PAUSE_REQUEST => Message::PauseRequest {
            id: f.required(Key::Id)?,
        },
        CMD_RESUME_REQUEST => Message::ResumeRequest {
            id: f.required(Key::Id)?,
        },
        CMD_PAUSE_RESPONSE => Message::PauseResponse {
            id: f.required(Key::Id)?,
            result: f.result()?,
        },
        CMD_RESUME_RESPONSE => Message::ResumeResponse {
            id: f.required(Key::Id)?,
            result: f.result()?,
        },
        _ => return Err(ParseError::UnknownCmd(cmd.chars().take(64).collect())),
    })
}

#[cfg(test)]
mod tests;
