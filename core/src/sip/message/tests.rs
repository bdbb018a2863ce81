//! Byte-exact vectors in the spirit of RFC 3261's examples and RFC 4475's torture messages
//! (written here, not copied), then a seeded mutation run that no input may panic.

use super::*;
use crate::test_rng::Rng;

fn ok(bytes: &[u8]) -> Message {
    match parse(bytes) {
        Ok(m) => m,
        Err(e) => panic!("{e:?} for {:?}", String::from_utf8_lossy(bytes)),
    }
}

fn err(bytes: &[u8]) -> SipError {
    match parse(bytes) {
        Ok(m) => panic!("parsed {m:?} from {:?}", String::from_utf8_lossy(bytes)),
        Err(e) => e,
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// An INVITE with an SDP body of exactly its Content-Length (88).
const INVITE: &[u8] = b"INVITE sip:1002@pbx.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK74bf9\r\n\
Max-Forwards: 70\r\n\
From: \"Desk 1001\" <sip:1001@pbx.example.com>;tag=9fxced76sl\r\n\
To: <sip:1002@pbx.example.com>\r\n\
Call-ID: 3848276298220188511@192.0.2.9\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:1001@192.0.2.9:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 88\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 192.0.2.9\r\n\
s=-\r\n\
c=IN IP4 192.0.2.9\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 8\r\n";

/// The PBX's answer to a `Record: on` INFO.
const OK_200: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK776asdhds;received=192.0.2.9\r\n\
From: <sip:1001@pbx.example.com>;tag=1928301774\r\n\
To: <sip:1002@pbx.example.com>;tag=a6c85cf\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314160 INFO\r\n\
Content-Length: 0\r\n\
\r\n";

fn ok_200_headers() -> Vec<(String, String)> {
    owned(&[
        (
            "Via",
            "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK776asdhds;received=192.0.2.9",
        ),
        ("From", "<sip:1001@pbx.example.com>;tag=1928301774"),
        ("To", "<sip:1002@pbx.example.com>;tag=a6c85cf"),
        ("Call-ID", "a84b4c76e66710@pc33.example.com"),
        ("CSeq", "314160 INFO"),
        ("Content-Length", "0"),
    ])
}

#[test]
fn parses_a_request_with_a_body() {
    let m = ok(INVITE);
    assert_eq!(
        m.start,
        StartLine::Request {
            method: "INVITE".into(),
            uri: "sip:1002@pbx.example.com".into()
        }
    );
    assert_eq!(m.headers.len(), 9);
    assert_eq!(
        m.header("from"),
        Some("\"Desk 1001\" <sip:1001@pbx.example.com>;tag=9fxced76sl")
    );
    assert_eq!(m.header("Max-Forwards"), Some("70"));
    assert_eq!(m.body.len(), 88);
    assert!(m.body.starts_with(b"v=0\r\no=- 1 1"));
    assert!(m.body.ends_with(b"RTP/AVP 8\r\n"));
    assert_eq!(cseq(&m), Some((1, "INVITE")));
}

#[test]
fn parses_a_response() {
    let m = ok(OK_200);
    assert_eq!(
        m,
        Message {
            start: StartLine::Response {
                code: 200,
                reason: "OK".into()
            },
            headers: ok_200_headers(),
            body: Vec::new(),
        }
    );
    assert_eq!(cseq(&m), Some((314_160, "INFO")));
    assert_eq!(m.header("i"), Some("a84b4c76e66710@pc33.example.com"));
    assert_eq!(m.header("CALL-ID"), m.header("Call-ID"));
    assert_eq!(m.header("Record"), None);
}

#[test]
fn bare_lf_line_ends_are_accepted() {
    let lf: Vec<u8> = String::from_utf8(OK_200.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    assert_eq!(ok(&lf), ok(OK_200));
    // Mixed within one message.
    let mixed = b"SIP/2.0 200 OK\nCall-ID: x\r\nCSeq: 1 INFO\n\r\nbody";
    let m = ok(mixed);
    assert_eq!(m.header("CSeq"), Some("1 INFO"));
    assert_eq!(m.body, b"body");
}

#[test]
fn keep_alives_before_the_start_line_are_skipped() {
    let mut bytes = b"\r\n\r\n\n\r\n".to_vec();
    bytes.extend_from_slice(OK_200);
    assert_eq!(ok(&bytes), ok(OK_200));
}

#[test]
fn empty_input_and_keep_alives_alone_are_no_message() {
    assert_eq!(err(b""), SipError::Size(0));
    assert_eq!(err(b"\r\n\r\n"), SipError::Size(0));
    assert_eq!(err(b"\n"), SipError::Size(0));
    assert_eq!(SipError::Size(0).to_string(), "an empty SIP message");
    // Whitespace is not an empty line: it is a (bad) start line.
    assert!(matches!(err(b" \r\n"), SipError::StartLine(_)));
}

/// Compact forms, any case, whitespace around the colon, folded values, the lowercase
/// version, unknown names kept as written (RFC 4475 §3.1.1.1 in spirit).
#[test]
fn compact_forms_folding_and_mixed_case() {
    let bytes = b"OPTIONS sip:1002@pbx.example.com sip/2.0\r\n\
v:SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n\
V  :  SIP/2.0/TCP 192.0.2.10;branch=z9hG4bK2  \r\n\
i\t:\tabc@host\r\n\
f: <sip:1001@pbx.example.com>\r\n \
;tag=77\r\n\
t:\r\n\
\t<sip:1002@pbx.example.com>\r\n\
cseq: 7 OPTIONS\r\n\
SUBJECT: a\r\n   \
folded\r\n\
\t\t three   times \r\n \r\n\
m: <sip:1001@192.0.2.9>\r\n\
k: timer, 100rel\r\n\
c: text/plain\r\n\
e: identity\r\n\
o: refer\r\n\
u: talk\r\n\
r: <sip:1003@pbx.example.com>\r\n\
b: <sip:1001@pbx.example.com>\r\n\
x: 1800\r\n\
a: *;audio\r\n\
j: *;video\r\n\
d: proxy\r\n\
y: abc\r\n\
n: <https://example.com/cert>\r\n\
s: hi\r\n\
www-authenticate: Digest realm=\"pbx\"\r\n\
max-forwards: 69\r\n\
record: ON\r\n\
X-Vendor-Thing: kept\r\n\
cOnTeNt-LeNgTh:   5\r\n\
\r\n\
hello";
    let m = ok(bytes);
    assert_eq!(
        m.start,
        StartLine::Request {
            method: "OPTIONS".into(),
            uri: "sip:1002@pbx.example.com".into()
        }
    );
    assert_eq!(
        m.headers,
        owned(&[
            ("Via", "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1"),
            ("Via", "SIP/2.0/TCP 192.0.2.10;branch=z9hG4bK2"),
            ("Call-ID", "abc@host"),
            ("From", "<sip:1001@pbx.example.com> ;tag=77"),
            ("To", "<sip:1002@pbx.example.com>"),
            ("CSeq", "7 OPTIONS"),
            ("Subject", "a folded three   times"),
            ("Contact", "<sip:1001@192.0.2.9>"),
            ("Supported", "timer, 100rel"),
            ("Content-Type", "text/plain"),
            ("Content-Encoding", "identity"),
            ("Event", "refer"),
            ("Allow-Events", "talk"),
            ("Refer-To", "<sip:1003@pbx.example.com>"),
            ("Referred-By", "<sip:1001@pbx.example.com>"),
            ("Session-Expires", "1800"),
            ("Accept-Contact", "*;audio"),
            ("Reject-Contact", "*;video"),
            ("Request-Disposition", "proxy"),
            ("Identity", "abc"),
            ("Identity-Info", "<https://example.com/cert>"),
            ("Subject", "hi"),
            ("WWW-Authenticate", "Digest realm=\"pbx\""),
            ("Max-Forwards", "69"),
            ("Record", "ON"),
            ("X-Vendor-Thing", "kept"),
            ("Content-Length", "5"),
        ])
    );
    assert_eq!(m.body, b"hello");
    let vias: Vec<&str> = m.headers_named("v").collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(m.header("x-vendor-thing"), Some("kept"));
    assert_eq!(m.header("l"), Some("5"));
    assert_eq!(cseq(&m), Some((7, "OPTIONS")));
}

#[test]
fn canonical_names() {
    for (given, want) in [
        ("i", "Call-ID"),
        ("I", "Call-ID"),
        ("call-id", "Call-ID"),
        ("CALL-ID", "Call-ID"),
        ("cseq", "CSeq"),
        ("content-length", "Content-Length"),
        ("L", "Content-Length"),
        ("via", "Via"),
        ("www-authenticate", "WWW-Authenticate"),
        ("record-route", "Record-Route"),
        ("RECORD", "Record"),
        ("mime-version", "MIME-Version"),
        ("rack", "RAck"),
        ("X-Unknown", "X-Unknown"),
        ("x-unknown", "x-unknown"),
        ("q", "q"),
        ("", ""),
        ("é", "é"),
    ] {
        assert_eq!(canonical_name(given), want, "{given}");
    }
    // Each compact letter maps to a long name the table knows (so both spellings meet).
    for (short, long) in COMPACT {
        assert_eq!(canonical_name(&char::from(short).to_string()), long);
        assert_eq!(canonical_name(&long.to_ascii_lowercase()), long);
    }
}

#[test]
fn status_lines() {
    let reason = |line: &str| match ok(format!("{line}\r\n\r\n").as_bytes()).start {
        StartLine::Response { code, reason } => (code, reason),
        other => panic!("{other:?}"),
    };
    assert_eq!(reason("SIP/2.0 180 Ringing"), (180, "Ringing".into()));
    assert_eq!(reason("sip/2.0 100 Trying"), (100, "Trying".into()));
    assert_eq!(reason("Sip/2.0 699 x"), (699, "x".into()));
    // Empty reason, with or without its SP (RFC 4475 §3.1.1.13 in spirit).
    assert_eq!(reason("SIP/2.0 100 "), (100, String::new()));
    assert_eq!(reason("SIP/2.0 100"), (100, String::new()));
    // Spaces, tabs and UTF-8 in the reason (§3.1.1.12 in spirit).
    assert_eq!(
        reason("SIP/2.0 200 Très bien,  merci \u{1F4DE} "),
        (200, "Très bien,  merci \u{1F4DE}".into())
    );
    assert_eq!(
        reason("SIP/2.0 403 Recording\tnot enabled"),
        (403, "Recording\tnot enabled".into())
    );
    assert_eq!(reason("SIP/2.0 481 Call/Transaction Does Not Exist").0, 481);
}

#[test]
fn bad_status_lines() {
    for (line, why) in [
        ("SIP/2.0 99 Too Low", "the status code is not 3 digits"),
        (
            "SIP/2.0 099 Too Low",
            "the status code is not from 100 to 699",
        ),
        (
            "SIP/2.0 700 Too High",
            "the status code is not from 100 to 699",
        ),
        ("SIP/2.0 000 Zero", "the status code is not from 100 to 699"),
        (
            "SIP/2.0 4294967301 Overflow",
            "the status code is not 3 digits",
        ),
        ("SIP/2.0 2OO OK", "the status code is not 3 digits"),
        ("SIP/2.0 +20 OK", "the status code is not 3 digits"),
        ("SIP/2.0  200 OK", "the status code is not 3 digits"),
        ("SIP/2.0", "the status code is not 3 digits"),
        ("SIP/3.0 200 OK", "the version is not SIP/2.0"),
        ("SIP/2.00 200 OK", "the version is not SIP/2.0"),
        ("SIP/ 200 OK", "the version is not SIP/2.0"),
        ("SIP/2.0\t200 OK", "the version is not SIP/2.0"),
    ] {
        assert_eq!(
            err(format!("{line}\r\n\r\n").as_bytes()),
            SipError::StartLine(why.into()),
            "{line}"
        );
    }
}

#[test]
fn bad_request_lines() {
    let shape = "not METHOD SP Request-URI SP SIP/2.0";
    for (line, why) in [
        // Several SP between the parts, a trailing SP (RFC 4475 §3.1.2.8, §3.1.2.9).
        ("INVITE  sip:a@b SIP/2.0", shape),
        ("INVITE sip:a@b SIP/2.0 ", shape),
        ("INVITE sip:a@b", shape),
        ("INVITE", shape),
        ("INVITE sip:a@b SIP/2.0 x", shape),
        // The Request-URI in <> or with embedded whitespace (§3.1.2.6, §3.1.2.7).
        (
            "INVITE <sip:a@b> SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        (
            "INVITE sip:a@b\tx SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        (
            "INVITE a@b SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        (
            "INVITE sip: SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        (
            "INVITE :a@b SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        (
            "INVITE 1p:a@b SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        (
            "INVITE sip:zoë@b SIP/2.0",
            "the Request-URI is not an absolute URI",
        ),
        // A version other than 2.0 (§3.1.2.15).
        ("INVITE sip:a@b SIP/7.0", "the version is not SIP/2.0"),
        ("INVITE sip:a@b SIP/2.0.", "the version is not SIP/2.0"),
        ("INVITE sip:a@b HTTP/1.1", "the version is not SIP/2.0"),
        ("INV@ITE sip:a@b SIP/2.0", "the method is not a token"),
        (" INVITE sip:a@b SIP/2.0", shape),
        ("HTTP/1.1 200 OK", "the method is not a token"),
        ("INVITE sip:a@b\0 SIP/2.0", "holds a control character"),
        ("INVITE sip:a@b SIP/2.0\r", "holds a control character"),
    ] {
        assert_eq!(
            err(format!("{line}\r\n\r\n").as_bytes()),
            SipError::StartLine(why.into()),
            "{line:?}"
        );
    }
    // Unusual but valid: a method token with punctuation (§3.1.1.2), any scheme.
    let m = ok(b"!interesting-Method0123456789_*+`.%indeed'~ tel:+1-201-555-0123 SIP/2.0\r\n\r\n");
    assert_eq!(
        m.start,
        StartLine::Request {
            method: "!interesting-Method0123456789_*+`.%indeed'~".into(),
            uri: "tel:+1-201-555-0123".into()
        }
    );
}

#[test]
fn bad_header_lines() {
    let with = |line: &[u8]| {
        let mut bytes = b"INFO sip:1002@192.0.2.4 SIP/2.0\r\nCall-ID: x\r\n".to_vec();
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\nCSeq: 1 INFO\r\n\r\n");
        err(&bytes)
    };
    let header = |s: &str| SipError::Header(s.into());
    assert_eq!(
        with(b"Via SIP/2.0/UDP 192.0.2.9"),
        header("header line 2 has no colon")
    );
    assert_eq!(
        with(b": no name"),
        header("header line 2 has no name before its colon")
    );
    assert_eq!(
        with(b"Call ID: x"),
        header("header line 2: the name is not a token")
    );
    assert_eq!(
        with(b"Call-ID;x: y"),
        header("header line 2: the name is not a token")
    );
    assert_eq!(
        with("Zoë: x".as_bytes()),
        header("header line 2: the name is not a token")
    );
    assert_eq!(
        with(b"Subject: a\0b"),
        header("header line 2 holds a control character")
    );
    assert_eq!(
        with(b"Subject: a\x7fb"),
        header("header line 2 holds a control character")
    );
    // A bare CR does not end a line.
    assert_eq!(
        with(b"Subject: a\rTo: b"),
        header("header line 2 holds a control character")
    );
    // A continuation line with nothing before it.
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\n Call-ID: x\r\n\r\n"),
        header("header line 1 starts with whitespace (a continuation of no header)")
    );
}

#[test]
fn a_line_with_only_whitespace_continues_the_header_with_nothing() {
    let m = ok(b"SIP/2.0 200 OK\r\nSubject: a\r\n \t \r\nCall-ID: x\r\n\r\n");
    assert_eq!(m.headers, owned(&[("Subject", "a"), ("Call-ID", "x")]));
    let m = ok(b"SIP/2.0 200 OK\r\nSubject:\r\n\r\n");
    assert_eq!(m.headers, owned(&[("Subject", "")]));
}

#[test]
fn content_length_cuts_a_longer_body() {
    // A datagram's bytes after Content-Length are ignored (RFC 3261 §18.3).
    let m = ok(b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabcdef");
    assert_eq!(m.body, b"abc");
    // Two requests in one datagram: only the first counts (RFC 4475 §3.1.1.8 in spirit).
    let mut two = b"REGISTER sip:pbx.example.com SIP/2.0\r\nCall-ID: r1\r\nl: 0\r\n\r\n".to_vec();
    two.extend_from_slice(INVITE);
    let m = ok(&two);
    assert_eq!(
        m.headers,
        owned(&[("Call-ID", "r1"), ("Content-Length", "0")])
    );
    assert!(m.body.is_empty());
    // Leading zeros are still a decimal number.
    assert_eq!(ok(b"SIP/2.0 200 OK\r\nl: 0002\r\n\r\nabc").body, b"ab");
}

#[test]
fn without_content_length_the_body_is_the_rest() {
    let m = ok(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n\r\nrest \x00\xff");
    assert_eq!(m.body, b"\r\nrest \x00\xff");
    // No empty line at all: the input ends the headers.
    let m = ok(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n");
    assert_eq!(m.headers, owned(&[("Call-ID", "x")]));
    assert!(m.body.is_empty());
    let m = ok(b"SIP/2.0 200 OK\r\nCall-ID: x");
    assert_eq!(m.headers, owned(&[("Call-ID", "x")]));
    let m = ok(b"SIP/2.0 200 OK");
    assert!(m.headers.is_empty() && m.body.is_empty());
    let m = ok(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n");
    assert!(m.body.is_empty());
}

#[test]
fn bad_content_lengths() {
    let cl = |s: &str| SipError::ContentLength(s.into());
    // Larger than the body (RFC 4475 §3.1.2.2 in spirit).
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        cl("10 announced, the body has 3 bytes")
    );
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\nContent-Length: 1\r\n"),
        cl("1 announced, the body has 0 bytes")
    );
    // Huge, even beyond u64 (§3.1.2.4 in spirit).
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999999999999\r\n\r\n"),
        cl("more than 65535 bytes announced")
    );
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\nContent-Length: 65536\r\n\r\n"),
        cl("more than 65535 bytes announced")
    );
    // Negative and other non-numbers (§3.1.2.3 in spirit).
    for value in ["-1", "+5", "0x10", "", "5 5", "5,5", "five", "٣"] {
        let bytes = format!("SIP/2.0 200 OK\r\nContent-Length: {value}\r\n\r\nabcde");
        assert_eq!(
            err(bytes.as_bytes()),
            cl("not a decimal number"),
            "{value:?}"
        );
    }
    // Two different values, in any spelling; the same value twice is fine.
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\nContent-Length: 3\r\nl: 4\r\n\r\nabcd"),
        cl("given twice, 3 and 4")
    );
    assert_eq!(
        ok(b"SIP/2.0 200 OK\r\nContent-Length: 3\r\nl: 003\r\n\r\nabcd").body,
        b"abc"
    );
    assert_eq!(
        cl("given twice, 3 and 4").to_string(),
        "bad Content-Length: given twice, 3 and 4"
    );
}

#[test]
fn the_header_section_must_be_utf8_the_body_need_not() {
    assert_eq!(
        err(b"SIP/2.0 200 OK\r\nSubject: caf\xe9\r\n\r\n"),
        SipError::Encoding
    );
    assert_eq!(err(b"SIP/2.0 200 \xc3\r\n\r\n"), SipError::Encoding);
    assert_eq!(
        err(b"INVITE sip:a@b SIP/2.0\xff\r\n\r\n"),
        SipError::Encoding
    );
    // An encoded surrogate and an overlong form are not UTF-8 either.
    assert_eq!(err(b"SIP/2.0 200 \xed\xa0\x80\r\n\r\n"), SipError::Encoding);
    assert_eq!(err(b"SIP/2.0 200 \xc0\xaf\r\n\r\n"), SipError::Encoding);
    // A character cut by the end of the input.
    assert_eq!(
        err("SIP/2.0 200 Zoë".as_bytes()[..15].as_ref()),
        SipError::Encoding
    );
    let mut bytes = "SIP/2.0 200 OK\r\nFrom: \"Zoë 张\" <sip:1001@b>\r\n\r\n"
        .as_bytes()
        .to_vec();
    bytes.extend_from_slice(b"\xff\xfe\x00");
    let m = ok(&bytes);
    assert_eq!(m.header("From"), Some("\"Zoë 张\" <sip:1001@b>"));
    let m = ok(b"SIP/2.0 200 OK\r\n\r\n\xff\xfe\x00");
    assert_eq!(m.body, b"\xff\xfe\x00");
}

#[test]
fn limits() {
    // The whole message: MAX_MESSAGE bytes pass, one more does not.
    let head = b"MESSAGE sip:a@b SIP/2.0\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.resize(MAX_MESSAGE, b'x');
    assert_eq!(ok(&bytes).body.len(), MAX_MESSAGE - head.len());
    bytes.push(b'x');
    assert_eq!(err(&bytes), SipError::Size(MAX_MESSAGE + 1));
    assert_eq!(
        SipError::Size(MAX_MESSAGE + 1).to_string(),
        "a SIP message of 65536 bytes (at most 65535)"
    );

    // Header lines: 128 pass, 129 do not; continuation lines count.
    let lines = |n: usize, line: &str| {
        let mut s = String::from("SIP/2.0 200 OK\r\n");
        for _ in 0..n {
            s.push_str(line);
            s.push_str("\r\n");
        }
        s.push_str("\r\n");
        s
    };
    assert_eq!(ok(lines(128, "Via: x").as_bytes()).headers.len(), 128);
    assert_eq!(
        err(lines(129, "Via: x").as_bytes()),
        SipError::Header("more than 128 header lines".into())
    );
    let folded = format!("Subject: a\r\n{}", lines(127, " b").split_at(16).1);
    let m = ok(format!("SIP/2.0 200 OK\r\n{folded}").as_bytes());
    assert_eq!(m.headers.len(), 1);
    let folded = format!("Subject: a\r\n{}", lines(128, " b").split_at(16).1);
    assert_eq!(
        err(format!("SIP/2.0 200 OK\r\n{folded}").as_bytes()),
        SipError::Header("more than 128 header lines".into())
    );

    // One line: 8192 bytes pass, 8193 do not, a header or the start line.
    let value = |n: usize| "v".repeat(n - "Subject: ".len());
    let m = ok(format!("SIP/2.0 200 OK\r\nSubject: {}\r\n\r\n", value(8192)).as_bytes());
    assert_eq!(m.header("Subject").map(str::len), Some(8192 - 9));
    assert_eq!(
        err(format!(
            "SIP/2.0 200 OK\r\nCSeq: 1 A\r\nSubject: {}\r\n\r\n",
            value(8193)
        )
        .as_bytes()),
        SipError::Header("header line 2 is longer than 8192 bytes".into())
    );
    let reason = |n: usize| "r".repeat(n - "SIP/2.0 200 ".len());
    ok(format!("SIP/2.0 200 {}\r\n\r\n", reason(8192)).as_bytes());
    assert_eq!(
        err(format!("SIP/2.0 200 {}\r\n\r\n", reason(8193)).as_bytes()),
        SipError::StartLine("longer than 8192 bytes".into())
    );
}

#[test]
fn cseq_values() {
    let with = |value: &str| {
        let m = ok(format!("SIP/2.0 200 OK\r\nCSeq: {value}\r\n\r\n").as_bytes());
        cseq(&m).map(|(n, method)| (n, method.to_owned()))
    };
    assert_eq!(with("314159 INFO"), Some((314_159, "INFO".into())));
    assert_eq!(with("0 ACK"), Some((0, "ACK".into())));
    assert_eq!(with("7 \t BYE"), Some((7, "BYE".into())));
    assert_eq!(with("4294967295 INFO"), Some((u32::MAX, "INFO".into())));
    assert_eq!(with("4294967296 INFO"), None);
    assert_eq!(with("99999999999999999999999 INFO"), None);
    assert_eq!(with("+1 INFO"), None);
    assert_eq!(with("-1 INFO"), None);
    assert_eq!(with("abc INFO"), None);
    assert_eq!(with("1"), None);
    assert_eq!(with("INFO"), None);
    assert_eq!(with("1 INFO extra"), None);
    assert_eq!(with("1 IN/FO"), None);
    assert_eq!(with(""), None);
    assert_eq!(cseq(&ok(b"SIP/2.0 200 OK\r\n\r\n")), None);
    // Folded over two lines, it is still one value.
    let m = ok(b"SIP/2.0 200 OK\r\ncseq: 12\r\n INFO\r\n\r\n");
    assert_eq!(cseq(&m), Some((12, "INFO")));
}

/// What every parsed message must satisfy, whatever the input.
fn check_invariants(m: &Message) {
    match &m.start {
        StartLine::Request { method, uri } => {
            assert!(is_token(method));
            assert!(is_request_uri(uri));
        }
        StartLine::Response { code, reason } => {
            assert!((100..=699).contains(code));
            assert!(!reason.starts_with([' ', '\t']) && !reason.ends_with([' ', '\t']));
            assert!(!reason.bytes().any(is_forbidden_control));
        }
    }
    assert!(m.headers.len() <= MAX_HEADER_LINES);
    for (name, value) in &m.headers {
        assert!(is_token(name), "{name:?}");
        assert_eq!(canonical_name(name), *name);
        assert!(!value.bytes().any(is_forbidden_control), "{value:?}");
        assert!(!value.starts_with([' ', '\t']) && !value.ends_with([' ', '\t']));
    }
    for value in m.headers_named("Content-Length") {
        assert_eq!(
            value.trim_start_matches('0').parse::<usize>().unwrap_or(0),
            m.body.len()
        );
    }
    assert!(m.body.len() <= MAX_MESSAGE);
    // Written out again plainly (one line per header), it reads back the same, unless the
    // unfolded lines or the long names took it past a limit.
    let mut again = match &m.start {
        StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
        StartLine::Response { code, reason } => format!("SIP/2.0 {code} {reason}\r\n"),
    };
    for (name, value) in &m.headers {
        again.push_str(&format!("{name}: {value}\r\n"));
    }
    again.push_str("\r\n");
    let mut again = again.into_bytes();
    again.extend_from_slice(&m.body);
    if again.len() <= MAX_MESSAGE
        && again
            .split(|&b| b == b'\n')
            .all(|l| l.len() <= MAX_LINE + 1)
    {
        assert_eq!(parse(&again).as_ref(), Ok(m));
    }
}

/// Seeded mutations of valid messages and plain random bytes: every input gives a message or
/// an error, never a panic, and every message satisfies the invariants.
#[test]
fn mutated_and_random_inputs_never_panic() {
    let seeds: [&[u8]; 6] = [
        INVITE,
        OK_200,
        b"SIP/2.0 403 Forbidden\nv: SIP/2.0/UDP h\ni: c\n\tfolded\nl: 2\n\nab",
        b"\r\n\r\nINFO sip:1002@192.0.2.4:5060 SIP/2.0\r\nRecord: on\r\nContent-Length: 0\r\n\r\n",
        b"OPTIONS sip:a@b sip/2.0\r\nSubject: Zo\xc3\xab \xe5\xbc\xa0\r\n\r\n",
        b"SIP/2.0 100 \r\n\r\n",
    ];
    let pieces: [&[u8]; 24] = [
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b" ",
        b"\t",
        b":",
        b": ",
        b"\r\n ",
        b"\x00",
        b"\xff",
        b"\xc3",
        b"\xe5\xbc",
        "张".as_bytes(),
        b"Content-Length: ",
        b"l: 99999999999999999999",
        b"l: 1\r\n",
        b"0",
        b"65535",
        b"SIP/2.0",
        b"SIP/2.0 ",
        b"INVITE sip:a@b ",
        b"<",
        b"i",
    ];
    let mut rng = Rng(0x5EED_0F51_5109);
    let mut parsed = 0;
    for round in 0..6000 {
        let mut bytes: Vec<u8> = if round % 10 == 9 {
            // Plain random bytes, biased towards the characters that matter.
            let len = rng.below(300);
            (0..len)
                .map(|_| match rng.below(4) {
                    0 => b"\r\n :\tSIP/2.0"[rng.below(12)],
                    _ => rng.next_u64() as u8,
                })
                .collect()
        } else {
            seeds[rng.below(seeds.len())].to_vec()
        };
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(bytes.len() + 1);
            match rng.below(6) {
                0 => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let piece = pieces[rng.below(pieces.len())];
                    bytes.splice(at..at, piece.iter().copied());
                }
                2 => {
                    let end = (at + rng.below(16)).min(bytes.len());
                    bytes.drain(at..end);
                }
                3 => bytes.truncate(at),
                4 => {
                    let end = (at + rng.below(64)).min(bytes.len());
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(at..at, copy);
                }
                _ => {
                    if let Some(b) = bytes.get_mut(at) {
                        *b = rng.next_u64() as u8;
                    }
                }
            }
        }
        if let Ok(m) = parse(&bytes) {
            check_invariants(&m);
            parsed += 1;
        }
    }
    // The mutations leave enough valid messages for the invariants to be exercised.
    assert!(parsed > 600, "only {parsed} parsed");
}

#[test]
fn the_vectors_satisfy_the_invariants() {
    check_invariants(&ok(INVITE));
    check_invariants(&ok(OK_200));
}
