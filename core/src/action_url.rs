//! Action URLs: call events and key presses as HTTP GET requests (sans-IO parsing).
//!
//! A desk phone calls a URL on call events, with its variables substituted into the query
//! (`docs/integration.md`, "In: action URLs"):
//!
//! - `/action/call/EVENT?id=…&dir=…&remote=…&remote_name=…&local=…&local_name=…&codec=…&tap_port=…`
//!   is a `call` event (`EVENT`: `started`, `answered`, `held`, `resumed`, `ended`);
//! - `/action/key/record` and `/action/key/pause` are key presses.
//!
//! [`parse`] turns one request target into the [`Command`] (with its [`CallInfo`]) the control
//! socket would carry. Query values are percent-decoded (`+` is a space) and checked like the
//! JSON fields; an empty value counts as absent (phones substitute empty strings for variables
//! they do not know) and an unknown parameter is ignored (phones add their own). Any input gives
//! a result or an [`ActionError`], never a panic.

use super::codec::Codec;
use super::control_protocol::{
    valid_call_id, CallEvent, CallInfo, Command, Key, MAX_CALL_ID, MAX_CALL_NAME, MAX_CALL_NUMBER,
};
use super::direction::Direction;
use super::percent::{self, PercentError};
use core::fmt;

/// Longest request target (path and query) accepted, in bytes.
pub const MAX_TARGET: usize = 4096;
/// Where every action URL starts.
pub const PREFIX: &str = "/action/";

/// Why a request target is not a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The path is no action URL (HTTP 404).
    NotAction,
    /// The target is longer than [`MAX_TARGET`] bytes (HTTP 400).
    TooLong(usize),
    /// A value is wrong; `param` names the path part (`event`, `key`) or query parameter at
    /// fault (HTTP 400).
    BadValue {
        param: &'static str,
        problem: Problem,
    },
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Absent or empty, but required.
    Missing,
    /// Given more than once.
    Duplicate,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// Longer than `max` characters once decoded.
    TooLong { max: usize },
    /// Holds control characters once decoded.
    Control,
    /// Not one of the values listed (an event or key name, `dir`, `codec`).
    NotOneOf { got: String, allowed: &'static str },
    /// `id`: not 1 to [`MAX_CALL_ID`] visible ASCII characters.
    NotVisibleAscii,
    /// `tap_port`: not a decimal number from 1 to 65535.
    NotPort,
    /// Refused by [`CallInfo::validate`] (which the checks here make unreachable).
    Invalid(String),
}

impl ActionError {
    /// The HTTP status that answers this error.
    pub fn status(&self) -> u16 {
        match self {
            ActionError::NotAction => 404,
            ActionError::TooLong(_) | ActionError::BadValue { .. } => 400,
        }
    }

    /// The error code of the response line, as the control socket would give it.
    pub fn code(&self) -> &'static str {
        match self {
            ActionError::NotAction => "not_found",
            ActionError::TooLong(_) => "too_long",
            ActionError::BadValue { param: "event", .. } => "bad_event",
            ActionError::BadValue { param: "key", .. } => "bad_key",
            ActionError::BadValue { .. } => "bad_call",
        }
    }

    fn bad(param: &'static str, problem: Problem) -> ActionError {
        ActionError::BadValue { param, problem }
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (param, problem) = match self {
            ActionError::NotAction => return f.write_str("no such action URL"),
            ActionError::TooLong(n) => {
                return write!(
                    f,
                    "the request target is {n} bytes, longer than {MAX_TARGET}"
                )
            }
            ActionError::BadValue { param, problem } => (param, problem),
        };
        match problem {
            Problem::Missing => write!(f, "{param}: missing (a call event needs it)"),
            Problem::Duplicate => write!(f, "{param}: given more than once"),
            Problem::BadEscape => write!(f, "{param}: a % not followed by two hex digits"),
            Problem::NotUtf8 => write!(f, "{param}: the decoded value is not UTF-8"),
            Problem::TooLong { max } => write!(f, "{param}: longer than {max} characters"),
            Problem::Control => write!(f, "{param}: contains control characters"),
            Problem::NotOneOf { got, allowed } => {
                write!(f, "{param}: must be {allowed} (got {got:?})")
            }
            Problem::NotVisibleAscii => write!(
                f,
                "{param}: must be 1 to {MAX_CALL_ID} visible ASCII characters"
            ),
            Problem::NotPort => write!(f, "{param}: must be a port number from 1 to 65535"),
            Problem::Invalid(message) => write!(f, "{param}: {message}"),
        }
    }
}

impl std::error::Error for ActionError {}

/// The query parameters of a call event, in the order of [`Param::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Id,
    Dir,
    Remote,
    RemoteName,
    Local,
    LocalName,
    Codec,
    TapPort,
}

impl Param {
    const ALL: [Param; 8] = [
        Param::Id,
        Param::Dir,
        Param::Remote,
        Param::RemoteName,
        Param::Local,
        Param::LocalName,
        Param::Codec,
        Param::TapPort,
    ];

    fn name(self) -> &'static str {
        match self {
            Param::Id => "id",
            Param::Dir => "dir",
            Param::Remote => "remote",
            Param::RemoteName => "remote_name",
            Param::Local => "local",
            Param::LocalName => "local_name",
            Param::Codec => "codec",
            Param::TapPort => "tap_port",
        }
    }

    /// Longest value in characters, once decoded, for the free-text ones.
    fn max_chars(self) -> Option<usize> {
        match self {
            Param::Id => Some(MAX_CALL_ID),
            Param::Remote | Param::Local => Some(MAX_CALL_NUMBER),
            Param::RemoteName | Param::LocalName => Some(MAX_CALL_NAME),
            Param::Dir | Param::Codec | Param::TapPort => None,
        }
    }
}

/// Parses one request target (`/action/…?…`, as the request line carries it) into the command
/// the control socket would carry: a call event with its call (which has an `id`), or a key
/// press (its query is ignored).
pub fn parse(path_and_query: &str) -> Result<Command, ActionError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let rest = path.strip_prefix(PREFIX).ok_or(ActionError::NotAction)?;
    let (kind, name) = rest.split_once('/').ok_or(ActionError::NotAction)?;
    if !matches!(kind, "call" | "key") || name.contains('/') {
        return Err(ActionError::NotAction);
    }
    if path_and_query.len() > MAX_TARGET {
        return Err(ActionError::TooLong(path_and_query.len()));
    }
    if kind == "key" {
        let key = Key::from_name(name).ok_or_else(|| {
            let allowed = "record or pause";
            ActionError::bad(
                "key",
                Problem::NotOneOf {
                    got: shown(name),
                    allowed,
                },
            )
        })?;
        return Ok(Command::Key(key));
    }
    let event = CallEvent::from_name(name).ok_or_else(|| {
        let allowed = "started, answered, held, resumed or ended";
        ActionError::bad(
            "event",
            Problem::NotOneOf {
                got: shown(name),
                allowed,
            },
        )
    })?;
    let call = call_info(query.unwrap_or(""))?;
    Ok(Command::Call { event, call })
}

/// The call described by the query of a call event.
fn call_info(query: &str) -> Result<CallInfo, ActionError> {
    let mut values: [Option<String>; Param::ALL.len()] = Default::default();
    let mut seen = [false; Param::ALL.len()];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        // A key that does not decode is no key of ours: ignored like any unknown parameter.
        let Some(i) = decode(raw_key)
            .ok()
            .and_then(|k| Param::ALL.iter().position(|p| p.name() == k))
        else {
            continue;
        };
        let param = Param::ALL[i];
        if std::mem::replace(&mut seen[i], true) {
            return Err(ActionError::bad(param.name(), Problem::Duplicate));
        }
        let value = decode(raw_value).map_err(|p| ActionError::bad(param.name(), p))?;
        if !value.is_empty() {
            check_text(param, &value)?;
            values[i] = Some(value);
        }
    }
    let [id, dir, remote, remote_name, local, local_name, codec, tap_port] = values;
    let bad = ActionError::bad;
    let id = id.ok_or(bad("id", Problem::Missing))?;
    if !valid_call_id(&id) {
        return Err(bad("id", Problem::NotVisibleAscii));
    }
    let dir = match dir.as_deref() {
        None => None,
        Some("in") => Some(Direction::In),
        Some("out") => Some(Direction::Out),
        Some(d) => {
            let got = shown(d);
            return Err(bad(
                "dir",
                Problem::NotOneOf {
                    got,
                    allowed: "in or out",
                },
            ));
        }
    };
    let codec = match codec {
        None => None,
        Some(c) => match Codec::from_name(&c) {
            Some(codec) => Some(codec),
            None => {
                let allowed = "PCMA, PCMU or G722";
                let got = shown(&c);
                return Err(bad("codec", Problem::NotOneOf { got, allowed }));
            }
        },
    };
    let tap_port = match tap_port {
        None => None,
        Some(p) => Some(crate::port::parse(&p).ok_or(bad("tap_port", Problem::NotPort))?),
    };
    let call = CallInfo {
        id: Some(id),
        remote_number: remote.unwrap_or_default(),
        remote_name: remote_name.unwrap_or_default(),
        local_number: local.unwrap_or_default(),
        local_name: local_name.unwrap_or_default(),
        dir,
        codec,
        tap_port,
        dialog: None,
    };
    // Everything was checked above, parameter by parameter; this is the protocol's own check,
    // kept so the two can never disagree.
    call.validate()
        .map_err(|message| bad("call", Problem::Invalid(message)))?;
    Ok(call)
}

/// A value as an error message shows it: at most 32 characters.
fn shown(value: &str) -> String {
    value.chars().take(32).collect()
}

/// Length and control characters, which every parameter shares.
fn check_text(param: Param, value: &str) -> Result<(), ActionError> {
    if value.chars().any(char::is_control) {
        return Err(ActionError::bad(param.name(), Problem::Control));
    }
    match param.max_chars() {
        Some(max) if value.chars().count() > max => {
            Err(ActionError::bad(param.name(), Problem::TooLong { max }))
        }
        _ => Ok(()),
    }
}

/// Percent-decodes one query component (the one percent codec, [`crate::percent`]).
fn decode(raw: &str) -> Result<String, Problem> {
    let mut out = String::new();
    percent::decode(raw.as_bytes(), &mut out).map_err(|e| match e {
        PercentError::BadEscape => Problem::BadEscape,
        PercentError::NotUtf8 => Problem::NotUtf8,
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(target: &str) -> (&'static str, Problem) {
        match parse(target) {
            Err(ActionError::BadValue { param, problem }) => (param, problem),
            other => panic!("{target}: {other:?}"),
        }
    }

    fn call(target: &str) -> (CallEvent, CallInfo) {
        match parse(target) {
            Ok(Command::Call { event: e, call: c }) => (e, c),
            other => panic!("{target}: {other:?}"),
        }
    }

    #[test]
    fn parses_the_contracts_example() {
        let (event, c) = call(
            "/action/call/answered?id=a84b4c76e66710%40pc33.atlanta.com&remote=1002\
             &remote_name=Bob+Smith&local=1001&local_name=Desk&dir=in",
        );
        assert_eq!(event, CallEvent::Answered);
        assert_eq!(
            c,
            CallInfo {
                id: Some("a84b4c76e66710@pc33.atlanta.com".into()),
                remote_number: "1002".into(),
                remote_name: "Bob Smith".into(),
                local_number: "1001".into(),
                local_name: "Desk".into(),
                dir: Some(Direction::In),
                codec: None,
                tap_port: None,
                dialog: None,
            }
        );
    }

    #[test]
    fn parses_every_event_and_key() {
        for e in CallEvent::ALL {
            assert_eq!(call(&format!("/action/call/{}?id=c1", e.name())).0, e);
        }
        assert_eq!(parse("/action/key/record"), Ok(Command::Key(Key::Record)));
        // A key's query is the phone's business.
        assert_eq!(
            parse("/action/key/pause?mac=001565AABBCC&x=%zz"),
            Ok(Command::Key(Key::Pause))
        );
    }

    #[test]
    fn decodes_values() {
        let (_, c) = call(
            "/action/call/started?id=c%2F1&remote_name=%E5%BC%A0%E4%B8%89&local_name=a+b%2Bc\
             &codec=pcmu&tap_port=50202&remote=%2B491701234",
        );
        assert_eq!(c.id.as_deref(), Some("c/1"));
        assert_eq!(c.remote_name, "张三");
        assert_eq!(c.local_name, "a b+c");
        assert_eq!(c.remote_number, "+491701234");
        assert_eq!(c.codec, Some(Codec::Pcmu));
        assert_eq!(c.tap_port, Some(50202));
        // Raw UTF-8 is taken as it is.
        assert_eq!(
            call("/action/call/ended?id=1&local_name=Zürich")
                .1
                .local_name,
            "Zürich"
        );
    }

    #[test]
    fn empty_values_are_absent_and_unknown_parameters_ignored() {
        let (_, c) = call(
            "/action/call/held?id=c1&dir=&remote=&codec=&tap_port=&remote_name\
             &vendor=%zz&&=x&id2=9&%ff=1",
        );
        assert_eq!(
            c,
            CallInfo {
                id: Some("c1".into()),
                ..CallInfo::default()
            }
        );
    }

    #[test]
    fn a_call_event_needs_an_id() {
        assert_eq!(bad("/action/call/answered"), ("id", Problem::Missing));
        assert_eq!(bad("/action/call/answered?id="), ("id", Problem::Missing));
        assert_eq!(
            bad("/action/call/answered?remote=1002"),
            ("id", Problem::Missing)
        );
        assert_eq!(
            bad("/action/call/answered?id=a+b"),
            ("id", Problem::NotVisibleAscii)
        );
        let long = format!("/action/call/answered?id={}", "x".repeat(MAX_CALL_ID + 1));
        assert_eq!(bad(&long), ("id", Problem::TooLong { max: MAX_CALL_ID }));
        let longest = format!("/action/call/answered?id={}", "x".repeat(MAX_CALL_ID));
        assert_eq!(call(&longest).1.id.unwrap().len(), MAX_CALL_ID);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        let cases: &[(&str, &str, Problem)] = &[
            ("id=c1&remote=%4", "remote", Problem::BadEscape),
            ("id=c1&remote=%", "remote", Problem::BadEscape),
            ("id=c1&remote_name=%g1", "remote_name", Problem::BadEscape),
            ("id=c1&local_name=%ff", "local_name", Problem::NotUtf8),
            ("id=c1&local_name=%E5%BC", "local_name", Problem::NotUtf8),
            ("id=c1&local=10%0A01", "local", Problem::Control),
            ("id=c1&remote_name=a%7Fb", "remote_name", Problem::Control),
            (
                "id=c1&remote_name=a%C2%85b",
                "remote_name",
                Problem::Control,
            ),
            ("id=c%00", "id", Problem::Control),
            ("id=c1&tap_port=x", "tap_port", Problem::NotPort),
            ("id=c1&tap_port=0", "tap_port", Problem::NotPort),
            ("id=c1&tap_port=65536", "tap_port", Problem::NotPort),
            ("id=c1&tap_port=-1", "tap_port", Problem::NotPort),
            ("id=c1&tap_port=+80", "tap_port", Problem::NotPort),
            ("id=c1&tap_port=123456", "tap_port", Problem::NotPort),
            ("id=c1&id=c2", "id", Problem::Duplicate),
            ("id=c1&dir=in&dir=", "dir", Problem::Duplicate),
            (
                "id=c1&id%5Fx=1&remote=1&remote=2",
                "remote",
                Problem::Duplicate,
            ),
        ];
        for (query, param, problem) in cases {
            let target = format!("/action/call/answered?{query}");
            assert_eq!(bad(&target), (*param, problem.clone()), "{target}");
            let text = parse(&target).unwrap_err().to_string();
            assert!(text.starts_with(&format!("{param}: ")), "{text}");
        }
        let (param, problem) = bad("/action/call/answered?id=c1&dir=sideways");
        assert_eq!(param, "dir");
        assert!(matches!(problem, Problem::NotOneOf { got, .. } if got == "sideways"));
        assert_eq!(bad("/action/call/answered?id=c1&codec=opus").0, "codec");
        let name = format!("/action/call/ended?id=1&remote_name={}", "名".repeat(129));
        assert_eq!(bad(&name), ("remote_name", Problem::TooLong { max: 128 }));
        let number = format!("/action/call/ended?id=1&local={}", "1".repeat(65));
        assert_eq!(bad(&number), ("local", Problem::TooLong { max: 64 }));
        // At the limit, in characters (not bytes).
        let name = format!("/action/call/ended?id=1&remote_name={}", "名".repeat(128));
        assert_eq!(call(&name).1.remote_name.chars().count(), 128);
    }

    #[test]
    fn unknown_events_and_keys_are_bad_values() {
        let (param, problem) = bad("/action/call/rang?id=c1");
        assert_eq!(param, "event");
        assert!(matches!(problem, Problem::NotOneOf { got, .. } if got == "rang"));
        assert_eq!(bad("/action/call/?id=c1").0, "event");
        assert_eq!(bad("/action/call/Answered?id=c1").0, "event");
        assert_eq!(bad("/action/key/mute").0, "key");
        assert_eq!(bad("/action/key/").0, "key");
        let e = parse("/action/key/mute").unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "bad_key"));
        assert_eq!(e.to_string(), "key: must be record or pause (got \"mute\")");
        assert_eq!(parse("/action/call/x").unwrap_err().code(), "bad_event");
        assert_eq!(
            parse("/action/call/held?id=c1&dir=up").unwrap_err().code(),
            "bad_call"
        );
    }

    #[test]
    fn other_paths_are_not_actions() {
        for target in [
            "",
            "/",
            "*",
            "/action",
            "/action/",
            "/action/call",
            "/action/key",
            "/action/calls/answered?id=1",
            "/action/key/record/",
            "/action/key/record/x",
            "/action/call/answered/?id=1",
            "/action//record",
            "//action/key/record",
            "/Action/key/record",
            "/action%2Fkey/record",
            "/settings",
            "http://127.0.0.1/action/key/record",
        ] {
            let e = parse(target).unwrap_err();
            assert_eq!(e, ActionError::NotAction, "{target}");
            assert_eq!((e.status(), e.code()), (404, "not_found"));
        }
    }

    #[test]
    fn over_long_targets_are_refused() {
        let base = "/action/call/answered?id=c1&vendor=";
        let at_limit = format!("{base}{}", "v".repeat(MAX_TARGET - base.len()));
        assert_eq!(at_limit.len(), MAX_TARGET);
        assert!(parse(&at_limit).is_ok());
        let over = format!("{at_limit}v");
        let e = parse(&over).unwrap_err();
        assert_eq!(e, ActionError::TooLong(MAX_TARGET + 1));
        assert_eq!(e.status(), 400);
        assert_eq!(
            parse(&format!("/elsewhere?{over}")),
            Err(ActionError::NotAction)
        );
    }

    #[test]
    fn messages_byte_exact() {
        let m = |t: &str| parse(t).unwrap_err().to_string();
        assert_eq!(
            m("/action/call/ended"),
            "id: missing (a call event needs it)"
        );
        assert_eq!(
            m("/action/call/ended?id=1&tap_port=70000"),
            "tap_port: must be a port number from 1 to 65535"
        );
        assert_eq!(
            m("/action/call/ended?id=1&remote=%zz"),
            "remote: a % not followed by two hex digits"
        );
        assert_eq!(
            m("/action/call/ended?id=1&codec=opus"),
            "codec: must be PCMA, PCMU or G722 (got \"opus\")"
        );
        assert_eq!(
            m("/action/call/ended?id=1&id=1"),
            "id: given more than once"
        );
        assert_eq!(m("/nothing"), "no such action URL");
    }

    /// Every outcome is a value or an error (no panic), and what parses is valid.
    #[test]
    fn random_and_mutated_targets_never_panic() {
        let seeds = [
            "/action/call/answered?id=c1&dir=in&remote=1002&remote_name=Bob+S%C3%A9&local=1001\
             &local_name=Desk&codec=PCMA&tap_port=50200",
            "/action/call/started?id=a%40b&tap_port=1",
            "/action/key/record",
            "/action/key/pause?x=1",
            "/action/call/ended?id=z&dir=out&codec=g722",
        ];
        let pieces = [
            "%",
            "%2",
            "%41",
            "%e5%bc%a0",
            "%ff",
            "%C2%85",
            "%00",
            "+",
            "&",
            "=",
            "?",
            "/",
            "id=",
            "dir=",
            "tap_port=",
            "codec=",
            "65535",
            "65536",
            "0",
            "\u{7f}",
            "\n",
            "张",
            "é",
            "",
            "action",
            "call",
            "key",
            "record",
            "answered",
            "remote=",
            "%%",
            "==",
            "&&",
        ];
        let mut rng = crate::test_rng::Rng(0x5EED_CA11_2EC0_4D00);
        let mut ok = 0;
        for round in 0..20_000 {
            let mut t: String = if round % 10 == 0 {
                // Pure noise, sometimes past the length limit.
                let len = rng.below(if round % 100 == 0 { 6000 } else { 200 });
                (0..len)
                    .map(|_| match rng.below(4) {
                        0 => char::from_u32(rng.below(0x80) as u32).unwrap_or('?'),
                        1 => pieces[rng.below(pieces.len())]
                            .chars()
                            .next()
                            .unwrap_or('x'),
                        2 => char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'),
                        _ => ['%', '&', '=', '/', '?', '+'][rng.below(6)],
                    })
                    .collect()
            } else {
                seeds[rng.below(seeds.len())].to_owned()
            };
            for _ in 0..rng.below(6) {
                // Cut, insert or replace at a character boundary.
                let bounds: Vec<usize> =
                    t.char_indices().map(|(i, _)| i).chain([t.len()]).collect();
                let at = bounds[rng.below(bounds.len())];
                match rng.below(3) {
                    0 => t.insert_str(at, pieces[rng.below(pieces.len())]),
                    1 => t.truncate(at),
                    _ => {
                        let end = bounds.iter().copied().find(|&b| b > at).unwrap_or(at);
                        t.replace_range(at..end, pieces[rng.below(pieces.len())]);
                    }
                }
            }
            match parse(&t) {
                Ok(Command::Call { call, .. }) => {
                    assert!(call.id.is_some(), "{t:?}");
                    assert_eq!(call.validate(), Ok(()), "{t:?}");
                    ok += 1;
                }
                Ok(Command::Key(_)) => ok += 1,
                Ok(other) => panic!("{t:?}: {other:?}"),
                Err(e) => {
                    if let ActionError::TooLong(n) = e {
                        assert!(n == t.len() && n > MAX_TARGET);
                    }
                    assert!(!e.to_string().is_empty());
                    assert!(matches!(e.status(), 400 | 404));
                }
            }
        }
        // The mutations leave enough valid targets for the checks above to mean something.
        assert!(ok > 1000, "only {ok} targets parsed");
    }
}
