//! `callrec_core::sip::message::parse` on arbitrary bytes: never a panic, and every message it
//! accepts is consistent (names canonical tokens, values one trimmed line, the body as long as
//! Content-Length says, the limits kept), and reads back the same once written out again.
#![no_main]

use callrec_core::sip::message::{
    canonical_name, cseq, parse, Message, StartLine, MAX_HEADER_LINES, MAX_LINE, MAX_MESSAGE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse(data) else {
        return;
    };
    assert!(data.len() <= MAX_MESSAGE);
    match &m.start {
        StartLine::Request { method, uri } => {
            assert!(!method.is_empty() && !uri.is_empty());
            assert!(!method.contains([' ', '\t']) && !uri.contains([' ', '\t']));
        }
        StartLine::Response { code, reason } => {
            assert!((100..=699).contains(code));
            assert!(!reason.contains(['\r', '\n']));
        }
    }
    assert!(m.headers.len() <= MAX_HEADER_LINES);
    for (name, value) in &m.headers {
        assert!(!name.is_empty(), "an empty header name");
        assert!(!name.contains([':', ' ', '\t', '\r', '\n']), "{name:?}");
        assert_eq!(&canonical_name(name), name, "a name not in canonical form");
        assert!(!value.contains(['\r', '\n', '\0']), "{value:?}");
        assert_eq!(value.trim_matches([' ', '\t']), value, "an untrimmed value");
        assert!(m.header(name).is_some());
    }
    // Every Content-Length agrees with the body, which is no longer than the input.
    for value in m.headers_named("l") {
        let n: usize = value.trim_start_matches('0').parse().unwrap_or(0);
        assert_eq!(
            n,
            m.body.len(),
            "Content-Length {value:?} for a body of {}",
            m.body.len()
        );
    }
    assert!(m.body.len() <= data.len());
    if m.header("Content-Length").is_none() {
        assert!(data.ends_with(&m.body));
    }
    if let Some((_, method)) = cseq(&m) {
        assert!(!method.is_empty());
    }
    // Written out again plainly (one line per header, CRLF), it reads back the same, unless the
    // unfolded lines or the long names took it past a limit.
    let again = render(&m);
    let within = again.len() <= MAX_MESSAGE
        && again
            .split(|&b| b == b'\n')
            .all(|line| line.len() <= MAX_LINE + 1);
    if within {
        assert_eq!(
            parse(&again).as_ref(),
            Ok(&m),
            "written out: {:?}",
            String::from_utf8_lossy(&again)
        );
    }
});

fn render(m: &Message) -> Vec<u8> {
    let mut out = match &m.start {
        StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
        StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
    };
    for (name, value) in &m.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&m.body);
    out
}
