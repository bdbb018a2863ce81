//! The agent's control protocol: JSON lines over a Unix socket (documented in
//! `docs/control-protocol.md`). Parsing and encoding only; the socket is the shell's.

use crate::codec::Codec;
use crate::direction::Direction;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The protocol version this agent speaks.
pub const VERSION: u32 = 1;
/// Longest request line, newline included; a longer one is refused and the connection closed.
pub const MAX_LINE: usize = 16 * 1024;
/// Longest answer or event line a client reads from the agent, newline included.
pub const MAX_ANSWER_LINE: usize = 64 * 1024;

/// A supervisor's remote control of the recording (`start`, `stop`, `pause`, `resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    Start,
    Stop,
    Pause,
    Resume,
}

impl Remote {
    pub const ALL: [Remote; 4] = [Remote::Start, Remote::Stop, Remote::Pause, Remote::Resume];

    pub fn name(self) -> &'static str {
        match self {
            Remote::Start => "start",
            Remote::Stop => "stop",
            Remote::Pause => "pause",
            Remote::Resume => "resume",
        }
    }

    pub fn from_name(name: &str) -> Option<Remote> {
        Remote::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What a request asks of the agent; each variant carries what it needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Remote control, of the call given (its `id`; for `start`, also the parties to record)
    /// or of the active one.
    Remote {
        action: Remote,
        call: Option<CallInfo>,
    },
    Status,
    /// A call event from the phone (`docs/integration.md`); the call has its `id`.
    Call {
        event: CallEvent,
        call: CallInfo,
    },
    /// A key press on the phone.
    Key(Key),
    /// Subscribe to status events.
    Watch,
    /// Read the settings file again.
    Reload,
    /// The phone's SIP stack reports the answer to a request callrec built.
    SipResponse(SipReport),
    /// The settings, with what the page needs to offer (modes, limits).
    Settings,
    /// Check, save and apply these new settings (checked field by field by the agent).
    SetSettings(serde_json::Map<String, serde_json::Value>),
    /// Delete this recording on the stick (a file name).
    DeleteRecording(String),
}

impl Command {
    /// A remote control command with no call named.
    pub fn remote(action: Remote) -> Command {
        Command::Remote { action, call: None }
    }

    /// The `cmd` of the request line.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Remote { action, .. } => action.name(),
            Command::Status => "status",
            Command::Call { .. } => "call",
            Command::Key(_) => "key",
            Command::Watch => "watch",
            Command::Reload => "reload",
            Command::SipResponse(_) => "sip_response",
            Command::Settings => "settings",
            Command::SetSettings(_) => "set_settings",
            Command::DeleteRecording(_) => "delete_recording",
        }
    }

    /// The commands that take no argument, by name.
    pub fn from_name(name: &str) -> Option<Command> {
        if let Some(action) = Remote::from_name(name) {
            return Some(Command::remote(action));
        }
        Some(match name {
            "status" => Command::Status,
            "watch" => Command::Watch,
            "reload" => Command::Reload,
            "settings" => Command::Settings,
            _ => return None,
        })
    }

    /// The request line of this command (version 1), newline included. A command with no
    /// argument, and a key, are `v` and `cmd` first; the others are JSON objects with their
    /// keys in order.
    pub fn encode(&self) -> String {
        use serde_json::json;
        match self {
            Command::Remote { call: None, .. }
            | Command::Status
            | Command::Watch
            | Command::Reload
            | Command::Settings => {
                return format!("{{\"v\":{VERSION},\"cmd\":\"{}\"}}\n", self.name())
            }
            Command::Key(k) => {
                return format!(
                    "{{\"v\":{VERSION},\"cmd\":\"key\",\"key\":\"{}\"}}\n",
                    k.name()
                )
            }
            _ => {}
        }
        let mut v = json!({ "v": VERSION, "cmd": self.name() });
        let fields = match self {
            Command::Remote {
                call: Some(call), ..
            } => json!({ "call": call }),
            Command::Call { event, call } => json!({ "event": event.name(), "call": call }),
            Command::SipResponse(r) => match &r.outcome {
                Ok(response) => json!({ "tid": r.tid, "response": response }),
                Err(error) => json!({ "tid": r.tid, "error": error }),
            },
            Command::SetSettings(settings) => json!({ "settings": settings }),
            Command::DeleteRecording(name) => json!({ "name": name }),
            _ => json!({}),
        };
        if let (Some(v), serde_json::Value::Object(fields)) = (v.as_object_mut(), fields) {
            v.extend(fields);
        }
        format!("{v}\n")
    }
}

/// What happened to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    /// Ringing or dialling.
    Started,
    Answered,
    Held,
    /// Taken off hold.
    Resumed,
    Ended,
}

impl CallEvent {
    pub const ALL: [CallEvent; 5] = [
        CallEvent::Started,
        CallEvent::Answered,
        CallEvent::Held,
        CallEvent::Resumed,
        CallEvent::Ended,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CallEvent::Started => "started",
            CallEvent::Answered => "answered",
            CallEvent::Held => "held",
            CallEvent::Resumed => "resumed",
            CallEvent::Ended => "ended",
        }
    }

    pub fn from_name(name: &str) -> Option<CallEvent> {
        CallEvent::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// A key on the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The record DSS key or soft key.
    Record,
    Pause,
}

impl Key {
    pub fn name(self) -> &'static str {
        match self {
            Key::Record => "record",
            Key::Pause => "pause",
        }
    }

    pub fn from_name(name: &str) -> Option<Key> {
        [Key::Record, Key::Pause]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// One parsed request line.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub command: Command,
    /// Echoed back in the response, so a client can match answers to questions.
    pub id: Option<serde_json::Value>,
}

impl Request {
    pub fn new(command: Command, id: Option<serde_json::Value>) -> Request {
        Request { command, id }
    }
}

/// What the phone's SIP stack reports for request `tid`: the final response, or that it
/// could not send the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipReport {
    pub tid: String,
    pub outcome: Result<String, String>,
}

/// Longest SIP response accepted in a report (the control line limit is raised for it).
pub const MAX_SIP_REPORT: usize = 8192;

/// A call as the phone describes it. Every field is optional in the message; a call event
/// needs `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub remote_number: String,
    pub remote_name: String,
    pub local_number: String,
    pub local_name: String,
    /// `in` or `out`.
    pub dir: Option<Direction>,
    /// `PCMA`, `PCMU` or `G722`: what the media engine sends for this call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codec: Option<Codec>,
    /// The loopback port this call's mixed RTP goes to, if not the board's tap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tap_port: Option<u16>,
    /// The call's SIP dialog (SIP INFO mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialog: Option<Box<crate::sip::dialog::Dialog>>,
}

/// Longest number and name accepted in [`CallInfo`] (so a record server line always fits).
pub const MAX_CALL_NUMBER: usize = 64;
pub const MAX_CALL_NAME: usize = 128;
/// Longest call id (a SIP Call-ID fits).
pub const MAX_CALL_ID: usize = 128;

/// A call id: 1 to [`MAX_CALL_ID`] visible ASCII characters.
pub fn valid_call_id(id: &str) -> bool {
    (1..=MAX_CALL_ID).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

impl CallInfo {
    /// Checks lengths, characters and the direction; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(id) = &self.id {
            if !valid_call_id(id) {
                return Err(format!(
                    "call.id must be 1 to {MAX_CALL_ID} visible ASCII characters"
                ));
            }
        }
        if self.tap_port == Some(0) {
            return Err("call.tap_port must be 1 to 65535".into());
        }
        if let Some(d) = &self.dialog {
            d.validate().map_err(|e| format!("call.{e}"))?;
        }
        for (field, v, max) in [
            ("remote_number", &self.remote_number, MAX_CALL_NUMBER),
            ("local_number", &self.local_number, MAX_CALL_NUMBER),
            ("remote_name", &self.remote_name, MAX_CALL_NAME),
            ("local_name", &self.local_name, MAX_CALL_NAME),
        ] {
            if v.chars().count() > max {
                return Err(format!("call.{field} is longer than {max} characters"));
            }
            if v.chars().any(char::is_control) {
                return Err(format!("call.{field} contains control characters"));
            }
        }
        Ok(())
    }
}

/// Why a request line was refused. The client is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Not a JSON object.
    BadJson(String),
    /// `v` is missing or not a version this agent speaks.
    UnsupportedVersion(Option<u64>),
    /// `cmd` is missing.
    MissingCommand,
    /// `cmd` names nothing this agent does (the commands of later versions included).
    UnknownCommand(String),
    /// `call` is not a valid call description.
    BadCall(String),
    /// `event` of a `call` is missing or unknown.
    BadEvent(String),
    /// `key` of a `key` is missing or unknown.
    BadKey(String),
    /// A `sip_response` without a usable `tid`, `response` or `error`.
    BadSipReport(String),
    /// `set_settings` without a settings object, `delete_recording` without a name.
    BadSettings(String),
}

impl RequestError {
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::BadJson(_) => "bad_json",
            RequestError::UnsupportedVersion(_) => "unsupported_version",
            RequestError::MissingCommand => "missing_command",
            RequestError::UnknownCommand(_) => "unknown_command",
            RequestError::BadCall(_) => "bad_call",
            RequestError::BadEvent(_) => "bad_event",
            RequestError::BadKey(_) => "bad_key",
            RequestError::BadSipReport(_) => "bad_sip_report",
            RequestError::BadSettings(_) => "bad_request",
        }
    }

    pub fn message(&self) -> String {
        match self {
            RequestError::BadJson(e) => format!("not a JSON object: {e}"),
            RequestError::UnsupportedVersion(v) => {
                format!("protocol version {v:?} not supported; this agent speaks {VERSION}")
            }
            RequestError::MissingCommand => "no \"cmd\" in the request".into(),
            RequestError::UnknownCommand(c) => format!("unknown command {c:?}"),
            RequestError::BadCall(e) => e.clone(),
            RequestError::BadEvent(e) => {
                format!("\"event\" must be started, answered, held, resumed or ended (got {e:?})")
            }
            RequestError::BadKey(e) => format!("\"key\" must be record or pause (got {e:?})"),
            RequestError::BadSipReport(e) | RequestError::BadSettings(e) => e.clone(),
        }
    }
}

#[derive(Deserialize)]
struct RawRequest {
    v: Option<serde_json::Value>,
    cmd: Option<String>,
    id: Option<serde_json::Value>,
    call: Option<serde_json::Value>,
    event: Option<serde_json::Value>,
    key: Option<serde_json::Value>,
    tid: Option<serde_json::Value>,
    response: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    settings: Option<serde_json::Value>,
    name: Option<serde_json::Value>,
}

/// A string field as text for an error message (at most 64 characters).
fn shown(v: &Option<serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::String(s)) => s.chars().take(64).collect(),
        Some(other) => other.to_string().chars().take(64).collect(),
        None => "nothing".into(),
    }
}

/// Parses one line (without its newline). Unknown fields are ignored, so newer clients can
/// add optional fields without breaking older agents.
pub fn parse_request(line: &[u8]) -> Result<Request, (RequestError, Option<serde_json::Value>)> {
    let raw: RawRequest =
        serde_json::from_slice(line).map_err(|e| (RequestError::BadJson(e.to_string()), None))?;
    let id = raw.id;
    let v = raw.v.as_ref().and_then(serde_json::Value::as_u64);
    if v != Some(u64::from(VERSION)) {
        return Err((RequestError::UnsupportedVersion(v), id));
    }
    let Some(cmd) = raw.cmd else {
        return Err((RequestError::MissingCommand, id));
    };
    let call = match raw.call {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let c: CallInfo = serde_json::from_value(v)
                .map_err(|e| (RequestError::BadCall(format!("call: {e}")), id.clone()))?;
            c.validate()
                .map_err(|e| (RequestError::BadCall(e), id.clone()))?;
            Some(c)
        }
    };
    let command = match cmd.as_str() {
        "call" => {
            let event = raw
                .event
                .as_ref()
                .and_then(|e| e.as_str())
                .and_then(CallEvent::from_name);
            let Some(event) = event else {
                return Err((RequestError::BadEvent(shown(&raw.event)), id));
            };
            match call {
                Some(call) if call.id.is_some() => Command::Call { event, call },
                _ => {
                    return Err((
                        RequestError::BadCall("a call event needs call.id".into()),
                        id,
                    ))
                }
            }
        }
        "key" => match raw
            .key
            .as_ref()
            .and_then(|k| k.as_str())
            .and_then(Key::from_name)
        {
            Some(k) => Command::Key(k),
            None => return Err((RequestError::BadKey(shown(&raw.key)), id)),
        },
        "sip_response" => match sip_report(&raw.tid, raw.response, raw.error) {
            Ok(report) => Command::SipResponse(report),
            Err(e) => return Err((e, id)),
        },
        "set_settings" => match raw.settings {
            Some(serde_json::Value::Object(settings)) => Command::SetSettings(settings),
            _ => {
                return Err((
                    RequestError::BadSettings("\"settings\" must be an object".into()),
                    id,
                ))
            }
        },
        "delete_recording" => match raw.name {
            Some(serde_json::Value::String(n)) if n.len() <= 255 => Command::DeleteRecording(n),
            _ => {
                return Err((
                    RequestError::BadSettings("\"name\" must be a file name".into()),
                    id,
                ))
            }
        },
        other => match (Remote::from_name(other), Command::from_name(other)) {
            (Some(action), _) => Command::Remote { action, call },
            (None, Some(c)) => c,
            (None, None) => {
                let shown: String = cmd.chars().take(64).collect();
                return Err((RequestError::UnknownCommand(shown), id));
            }
        },
    };
    Ok(Request { command, id })
}

fn sip_report(
    tid: &Option<serde_json::Value>,
    response: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
) -> Result<SipReport, RequestError> {
    let bad = |m: &str| RequestError::BadSipReport(m.into());
    let tid = match tid.as_ref().and_then(|t| t.as_str()) {
        Some(t) if (1..=64).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()) => t,
        _ => return Err(bad("\"tid\" must be the request's id")),
    };
    let outcome = match (response, error) {
        (Some(serde_json::Value::String(r)), None) if r.len() <= MAX_SIP_REPORT => Ok(r),
        (Some(serde_json::Value::String(_)), None) => {
            return Err(bad("\"response\" is longer than 8192 bytes"))
        }
        (None, Some(serde_json::Value::String(e))) => Err(e.chars().take(200).collect()),
        _ => return Err(bad("give either \"response\" or \"error\", as a string")),
    };
    Ok(SipReport {
        tid: tid.to_owned(),
        outcome,
    })
}

/// Encodes a request line (for `callrec ctl`): [`Command::encode`].
pub fn encode_request(command: &Command) -> String {
    command.encode()
}

/// Encodes a `start` with the call's parties.
pub fn encode_start(call: &CallInfo) -> String {
    Command::Remote {
        action: Remote::Start,
        call: Some(call.clone()),
    }
    .encode()
}

/// Encodes a call event.
pub fn encode_call(event: CallEvent, call: &CallInfo) -> String {
    Command::Call {
        event,
        call: call.clone(),
    }
    .encode()
}

/// Encodes a SIP stack's report.
pub fn encode_sip_response(report: &SipReport) -> String {
    Command::SipResponse(report.clone()).encode()
}

/// Encodes a key press.
pub fn encode_key(key: Key) -> String {
    Command::Key(key).encode()
}

/// An error in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    /// `invalid` settings: a message per field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

/// A response line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// `settings` and `set_settings`: the settings and what may be chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<serde_json::Value>,
}

impl Response {
    pub fn ok(id: Option<serde_json::Value>, status: Status) -> Response {
        Response {
            v: VERSION,
            id,
            ok: true,
            error: None,
            status: Some(status),
            settings: None,
        }
    }

    pub fn error(
        id: Option<serde_json::Value>,
        code: &str,
        message: String,
        status: Option<Status>,
    ) -> Response {
        let error = Some(ErrorBody {
            code: code.into(),
            message,
            fields: None,
        });
        Response {
            v: VERSION,
            id,
            ok: false,
            error,
            status,
            settings: None,
        }
    }

    /// The response as one line, newline included.
    pub fn encode(&self) -> String {
        // Serialising these plain structs cannot fail (no maps with non-string keys).
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The agent's state as clients see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The recording's state: `idle`, `starting`, `recording`, `paused`, `resuming`, `stopping`.
    pub state: String,
    /// What the phone's screen shows: `idle`, `starting`, `recording`, `paused`, `failed`.
    #[serde(default)]
    pub shown: String,
    /// Why the phone shows `failed`.
    #[serde(default)]
    pub failure: Option<crate::calls::Failure>,
    /// The call being recorded (or whose recording failed).
    #[serde(default)]
    pub call_id: Option<String>,
    /// The recording policy in force.
    #[serde(default)]
    pub policy: String,
    /// The calls the agent knows.
    #[serde(default)]
    pub calls: Vec<CallStatus>,
    /// A settings change waits for the recording to end.
    #[serde(default)]
    pub settings_pending: bool,
    /// `local`, `network` or `off`.
    pub mode: String,
    /// The file being written, if one is open.
    pub file: Option<String>,
    /// Files of the current (or last) recording, oldest first.
    pub files: Vec<String>,
    /// Length of the current (or last) recording in ms, paused time excluded.
    pub recorded_ms: u64,
    /// Why the last recording ended (`requested`, `stick_full`, `stick_removed`, …).
    pub last_stop: Option<String>,
    /// What went wrong last, in words (network mode: the server's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Network mode: the record server's RTP address while streaming, else its control address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub stick: StickStatus,
    /// The tap's local address.
    pub tap: String,
    pub counters: Counters,
}

/// One call the agent knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatus {
    pub id: String,
    /// `started`, `answered` or `held`.
    pub state: String,
    pub dir: Option<Direction>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StickStatus {
    pub present: bool,
    pub path: Option<String>,
    pub read_only: bool,
    pub free_bytes: Option<u64>,
}

/// Packet counters of the current (or last) recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub received: u64,
    pub audio: u64,
    /// Malformed datagrams by reason (`too_short`, `bad_version`, …).
    pub malformed: BTreeMap<String, u64>,
    pub unknown_payload_type: u64,
    pub oversized: u64,
    pub telephone_events: u64,
    pub comfort_noise: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub late: u64,
    pub lost: u64,
    pub out_of_sequence: u64,
    pub ssrc_changes: u64,
    pub discontinuities: u64,
    pub paused_packets: u64,
    pub silence_ms: u64,
    /// Heap allocations made while handling packets (only in an `alloc-count` build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet_path_allocations: Option<u64>,
    /// Bytes on the agent's heap now, and the most since it started (only in an `alloc-count`
    /// build; the sizes asked for, not the allocator's rounding or bookkeeping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_now_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_peak_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_requests() {
        let r = parse_request(br#"{"v":1,"cmd":"start","id":7,"future":"ignored"}"#).unwrap();
        assert_eq!(
            r,
            Request {
                command: Command::remote(Remote::Start),
                id: Some(json!(7)),
            }
        );
        let r = parse_request(
            r#"{"v":1,"cmd":"start","call":{"remote_number":"1002","remote_name":"张三","dir":"in"}}"#
                .as_bytes(),
        )
        .unwrap();
        let Command::Remote {
            action: Remote::Start,
            call: Some(call),
        } = r.command
        else {
            panic!("{r:?}");
        };
        assert_eq!(
            (call.remote_name.as_str(), call.dir),
            ("张三", Some(Direction::In))
        );
        let back = parse_request(encode_start(&call).trim_end().as_bytes()).unwrap();
        assert_eq!(
            back.command,
            Command::Remote {
                action: Remote::Start,
                call: Some(call)
            }
        );
        for c in ["start", "stop", "pause", "resume", "status"] {
            let line = format!("{{\"v\":1,\"cmd\":\"{c}\"}}");
            assert_eq!(parse_request(line.as_bytes()).unwrap().command.name(), c);
        }
    }

    #[test]
    fn refuses_bad_requests_with_codes() {
        let code = |l: &[u8]| parse_request(l).unwrap_err().0.code();
        assert_eq!(code(b"start"), "bad_json");
        assert_eq!(code(b"[1,2]"), "bad_json");
        assert_eq!(code(b"\xff\xfe"), "bad_json");
        assert_eq!(code(br#"{"cmd":"start"}"#), "unsupported_version");
        assert_eq!(code(br#"{"v":2,"cmd":"start"}"#), "unsupported_version");
        assert_eq!(code(br#"{"v":"1","cmd":"start"}"#), "unsupported_version");
        assert_eq!(code(br#"{"v":1}"#), "missing_command");
        assert_eq!(code(br#"{"v":1,"cmd":"launch"}"#), "unknown_command");
        assert_eq!(code(br#"{"v":1,"cmd":7}"#), "bad_json");
        assert_eq!(
            code(br#"{"v":1,"cmd":"start","call":{"dir":"sideways"}}"#),
            "bad_call"
        );
        assert_eq!(
            code(br#"{"v":1,"cmd":"start","call":{"remote_name":"a\u0000b"}}"#),
            "bad_call"
        );
        assert_eq!(
            code(br#"{"v":1,"cmd":"start","call":{"nick":"x"}}"#),
            "bad_call"
        );
        let long = format!(
            r#"{{"v":1,"cmd":"start","call":{{"local_name":"{}"}}}}"#,
            "n".repeat(129)
        );
        assert_eq!(code(long.as_bytes()), "bad_call");
        let (e, id) = parse_request(br#"{"v":1,"cmd":"x","id":"a"}"#).unwrap_err();
        assert_eq!((e.code(), id), ("unknown_command", Some(json!("a"))));
    }

    #[test]
    fn every_command_round_trips_with_its_payload() {
        let call = CallInfo {
            id: Some("c1".into()),
            remote_number: "1002".into(),
            dir: Some(Direction::In),
            ..CallInfo::default()
        };
        let mut settings = serde_json::Map::new();
        settings.insert("mode".into(), json!("network"));
        let commands = [
            Command::remote(Remote::Stop),
            Command::Remote {
                action: Remote::Start,
                call: Some(call.clone()),
            },
            Command::Status,
            Command::Call {
                event: CallEvent::Held,
                call,
            },
            Command::Key(Key::Pause),
            Command::Watch,
            Command::Reload,
            Command::SipResponse(SipReport {
                tid: "t1".into(),
                outcome: Err("no route".into()),
            }),
            Command::Settings,
            Command::SetSettings(settings),
            Command::DeleteRecording("Record_20261203_090000.wav".into()),
        ];
        for c in commands {
            let line = c.encode();
            assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
            let back = parse_request(line.trim_end().as_bytes()).unwrap();
            assert_eq!(back.command, c, "{line}");
        }
    }

    #[test]
    fn encodes_byte_exact() {
        assert_eq!(
            encode_request(&Command::remote(Remote::Pause)),
            "{\"v\":1,\"cmd\":\"pause\"}\n"
        );
        let r = Response::error(Some(json!(3)), "no_stick", "no USB stick".into(), None);
        assert_eq!(
            r.encode(),
            "{\"v\":1,\"id\":3,\"ok\":false,\"error\":{\"code\":\"no_stick\",\"message\":\"no USB stick\"}}\n"
        );
        let back: Response = serde_json::from_str(r.encode().trim_end()).unwrap();
        assert_eq!(back, r);
    }
}
