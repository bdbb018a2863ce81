use super::*;
use crate::line::{split_line, FrameError};

fn decode(s: &[u8]) -> Result<String, PercentError> {
    let mut out = String::new();
    percent::decode(s, &mut out).map(|()| out)
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    percent::encode(s, &mut out);
    out
}

fn line(m: &Message) -> String {
    let mut out = String::new();
    m.encode(&mut out);
    out
}

fn err(line: &str) -> ParseError {
    parse(line.as_bytes()).unwrap_err()
}

// ---------------------------------------------------------------------------------------------
// Framing

/// The record protocol's own limit, through the one framer.
#[test]
fn a_line_of_exactly_max_line_bytes_is_accepted_and_one_more_is_not() {
    let mut buf = vec![b'a'; MAX_LINE - 1];
    assert_eq!(split_line(&buf, MAX_LINE), Ok(None));
    buf.push(b'\n');
    assert_eq!(
        split_line(&buf, MAX_LINE),
        Ok(Some((&buf[..MAX_LINE - 1], MAX_LINE)))
    );

    let mut crlf = vec![b'a'; MAX_LINE - 2];
    crlf.extend_from_slice(b"\r\n");
    assert_eq!(
        split_line(&crlf, MAX_LINE),
        Ok(Some((&crlf[..MAX_LINE - 2], MAX_LINE)))
    );

    let mut long = vec![b'a'; MAX_LINE];
    assert_eq!(
        split_line(&long, MAX_LINE),
        Err(FrameError::TooLong { max: MAX_LINE })
    );
    long.push(b'\n');
    assert_eq!(
        split_line(&long, MAX_LINE),
        Err(FrameError::TooLong { max: MAX_LINE })
    );
    assert_eq!(
        FrameError::TooLong { max: MAX_LINE }.code(),
        "line_too_long"
    );
    assert_eq!(
        FrameError::TooLong { max: MAX_LINE }.to_string(),
        "no end of line within 4096 bytes"
    );
}

#[test]
fn splits_a_buffer_of_several_lines_and_a_partial_one() {
    let mut buf = Vec::new();
    buf.extend_from_slice(START_RESPONSE_OK.as_bytes());
    buf.extend_from_slice(PAUSE_RESPONSE.trim_end().as_bytes());
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(STOP_RESPONSE.as_bytes());
    buf.extend_from_slice(b"cmd=RecordResumeRes");

    let mut got = Vec::new();
    let mut rest = &buf[..];
    while let Some((l, used)) = split_line(rest, MAX_LINE).unwrap() {
        got.push(parse(l).unwrap());
        rest = &rest[used..];
    }
    assert_eq!(
        got,
        vec![start_response_ok(), pause_response(), stop_response()]
    );
    assert_eq!(rest, b"cmd=RecordResumeRes");
}

// ---------------------------------------------------------------------------------------------
// Percent-encoding

#[test]
fn decodes_escapes_plus_and_utf8() {
    assert_eq!(decode(b"").unwrap(), "");
    assert_eq!(decode(b"abc").unwrap(), "abc");
    assert_eq!(decode(b"Li+Lei").unwrap(), "Li Lei");
    assert_eq!(decode(b"%2B").unwrap(), "+");
    assert_eq!(decode(b"%2b%20%3d").unwrap(), "+ =");
    assert_eq!(decode(b"a%26b%3Dc").unwrap(), "a&b=c");
    assert_eq!(decode(b"%E5%BC%A0%E4%B8%89").unwrap(), "张三");
    assert_eq!(decode(b"%e5%bc%a0%E4%B8%89").unwrap(), "张三");
    // Raw UTF-8 is accepted, with and without escapes around it.
    assert_eq!(decode("张三".as_bytes()).unwrap(), "张三");
    assert_eq!(decode("张+%E4%B8%89".as_bytes()).unwrap(), "张 三");
}

#[test]
fn refuses_bad_escapes() {
    for bad in [
        &b"%zz"[..],
        b"%",
        b"a%",
        b"%2",
        b"ab%2",
        b"%2z",
        b"%z2",
        b"%%41",
        b"%+1",
    ] {
        assert_eq!(decode(bad), Err(PercentError::BadEscape), "{bad:?}");
    }
}

#[test]
fn refuses_what_is_not_utf8_once_decoded() {
    for bad in [
        &b"%FF"[..],
        b"%C0%80",          // overlong NUL
        b"%E5%BC",          // cut off at the end
        b"%E5%BCx",         // cut off in the middle
        b"%ED%A0%80",       // a UTF-16 surrogate
        b"\xff",            // raw, no escape at all
        b"\xe5\xbc",        // raw and cut off
        b"ok+\xe5\xbc%41",  // raw and cut off, escapes around it
        b"%F4%90%80%80abc", // above U+10FFFF
    ] {
        assert_eq!(decode(bad), Err(PercentError::NotUtf8), "{bad:?}");
    }
}

#[test]
fn decoding_appends_and_leaves_out_unchanged_on_error() {
    let mut out = String::from("keep");
    percent::decode(b"+%E4%B8%89", &mut out).unwrap();
    assert_eq!(out, "keep 三");
    let bad = [&[b'a'; 200][..], b"+%FF"].concat();
    assert_eq!(percent::decode(&bad, &mut out), Err(PercentError::NotUtf8));
    assert_eq!(out, "keep 三");
    assert_eq!(
        percent::decode(b"%E5%BC%A0%zz", &mut out),
        Err(PercentError::BadEscape)
    );
    assert_eq!(out, "keep 三");
}

#[test]
fn decodes_multibyte_characters_across_every_chunk_boundary() {
    for k in 0..3 * crate::percent::CHUNK {
        let pad = "a".repeat(k);
        let encoded = format!("{pad}%E5%BC%A0+%F0%9F%93%9E{pad}");
        assert_eq!(
            decode(encoded.as_bytes()).unwrap(),
            format!("{pad}张 📞{pad}"),
            "k = {k}"
        );
        let raw = format!("{pad}+张三📞");
        assert_eq!(decode(raw.as_bytes()).unwrap(), format!("{pad} 张三📞"));
        let cut = format!("{pad}+%E5%BC");
        assert_eq!(decode(cut.as_bytes()), Err(PercentError::NotUtf8));
    }
}

#[test]
fn encodes_everything_but_unreserved() {
    assert_eq!(encode(""), "");
    assert_eq!(
        encode("AZaz09-._~"),
        "AZaz09-._~",
        "unreserved stays as it is"
    );
    assert_eq!(encode("a b+c&d=e"), "a%20b%2Bc%26d%3De");
    assert_eq!(
        encode("%,/:?#[]@!$'()*;"),
        "%25%2C%2F%3A%3F%23%5B%5D%40%21%24%27%28%29%2A%3B"
    );
    assert_eq!(encode("张三"), "%E5%BC%A0%E4%B8%89");
    assert_eq!(encode("\r\n\0\u{7f}"), "%0D%0A%00%7F");
    assert_eq!(encode("📞"), "%F0%9F%93%9E");
}

#[test]
fn encoding_round_trips_every_character_class() {
    let mut all: String = (0u8..=127).map(char::from).collect();
    all.push_str("éß张三📞\u{10FFFF}");
    let encoded = encode(&all);
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
    assert_eq!(decode(encoded.as_bytes()).unwrap(), all);
    assert_eq!(PercentError::BadEscape.code(), "bad_escape");
    assert_eq!(PercentError::NotUtf8.code(), "not_utf8");
}

// ---------------------------------------------------------------------------------------------
// Reading rules

#[test]
fn refuses_each_malformation_with_its_code() {
    assert_eq!(err(""), ParseError::Empty);
    assert_eq!(err("\r"), ParseError::Empty);
    assert_eq!(err("&&"), ParseError::Empty);
    assert_eq!(err("id=1&result=success"), ParseError::MissingCmd);
    assert_eq!(err("="), ParseError::MissingCmd);
    assert_eq!(
        err("id=1&cmd=RecordStopResponse&result=success"),
        ParseError::CmdNotFirst
    );
    assert_eq!(
        err("cmd=RecordFoo&id=1"),
        ParseError::UnknownCmd("RecordFoo".into())
    );
    assert_eq!(
        err("cmd=recordpauserequest&id=1"),
        ParseError::UnknownCmd("recordpauserequest".into()),
        "cmd names are case-sensitive"
    );
    assert_eq!(
        err("cmd=Record%zz&id=1"),
        ParseError::BadEncoding { field: "cmd" }
    );
    assert_eq!(
        err("cmd=RecordStopResponse&result=success"),
        ParseError::MissingField("id")
    );
    assert_eq!(
        err("cmd=RecordStopResponse&id=&result=success"),
        ParseError::BadField {
            field: "id",
            reason: "empty"
        }
    );
    assert_eq!(
        err("cmd=RecordStopResponse&id=1&result=ok"),
        ParseError::BadField {
            field: "result",
            reason: "not success|failed"
        }
    );
    assert_eq!(
        err("cmd=RecordPauseResponse&id=1"),
        ParseError::MissingField("result")
    );
    assert_eq!(
        err("cmd=RecordStopRequest&id=1&remote_name=%zz"),
        ParseError::BadEncoding {
            field: "remote_name"
        }
    );
    assert_eq!(
        err("cmd=RecordStopRequest&id=1&local_name=%FF"),
        ParseError::NotUtf8 {
            field: "local_name"
        }
    );

    let start = "cmd=RecordStartRequest&id=1&device=m";
    assert_eq!(
        err(&format!("{start}&codec=PCMA")),
        ParseError::MissingField("dir")
    );
    assert_eq!(
        err(&format!("{start}&dir=sideways&codec=PCMA")),
        ParseError::BadField {
            field: "dir",
            reason: "not in|out"
        }
    );
    assert_eq!(
        err(&format!("{start}&dir=in")),
        ParseError::MissingField("codec")
    );
    assert_eq!(
        err(&format!("{start}&dir=in&codec=G729")),
        ParseError::BadField {
            field: "codec",
            reason: "not PCMA|PCMU|G722"
        }
    );
    assert_eq!(
        err("cmd=RecordStartRequest&id=1&dir=in&codec=PCMA"),
        ParseError::MissingField("device")
    );
    assert_eq!(
        err("cmd=RecordStartRequest&id=1&device=&dir=in&codec=PCMA"),
        ParseError::BadField {
            field: "device",
            reason: "empty"
        }
    );
    assert_eq!(
        err(&format!("{start}&dir=in&codec=PCMA&ext=%zz")),
        ParseError::BadEncoding { field: "ext" }
    );

    let ok = "cmd=RecordStartResponse&id=1&result=success";
    assert_eq!(
        err(&format!("{ok}&port=5004")),
        ParseError::MissingField("server")
    );
    assert_eq!(
        err(&format!("{ok}&server=&port=5004")),
        ParseError::BadField {
            field: "server",
            reason: "empty"
        }
    );
    assert_eq!(
        err(&format!("{ok}&server=10.0.0.9")),
        ParseError::MissingField("port")
    );
}

#[test]
fn error_codes_are_distinct_and_display_names_the_field() {
    let all = [
        ParseError::Empty,
        ParseError::NotUtf8 { field: "id" },
        ParseError::BadEncoding { field: "id" },
        ParseError::MissingCmd,
        ParseError::CmdNotFirst,
        ParseError::UnknownCmd("X".into()),
        ParseError::MissingField("id"),
        ParseError::BadField {
            field: "port",
            reason: "not 1..=65535",
        },
    ];
    let mut codes: Vec<_> = all.iter().map(ParseError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
    assert_eq!(
        all.iter().map(ParseError::to_string).collect::<Vec<_>>(),
        [
            "empty line",
            "field id is not UTF-8",
            "field id has a bad percent escape",
            "no cmd",
            "cmd is not the first key",
            "unknown cmd \"X\"",
            "field id is missing",
            "field port: not 1..=65535",
        ]
    );
    // A hostile cmd is shown escaped, never raw.
    assert_eq!(
        ParseError::UnknownCmd("a\nb".into()).to_string(),
        "unknown cmd \"a\\nb\""
    );
}

#[test]
fn unknown_cmd_is_cut_to_64_characters() {
    let long = "张".repeat(100);
    let ParseError::UnknownCmd(shown) = err(&format!("cmd={long}&id=1")) else {
        panic!("not UnknownCmd");
    };
    assert_eq!(shown, "张".repeat(64));
}

#[test]
fn checks_the_port_range() {
    let ok = "cmd=RecordStartResponse&id=1&result=success&server=10.0.0.9&port=";
    let port = |p: &str| match parse(format!("{ok}{p}").as_bytes()) {
        Ok(Message::StartResponse(r)) => Ok(r.port),
        Ok(m) => panic!("{m:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(port("1"), Ok(1));
    assert_eq!(port("5004"), Ok(5004));
    assert_eq!(port("65535"), Ok(65535));
    assert_eq!(port("05004"), Ok(5004));
    for bad in [
        "", "0", "00000", "65536", "99999", "123456", "+1", "-1", " 1", "1 ", "1a", "0x10",
    ] {
        assert_eq!(
            port(bad),
            Err(ParseError::BadField {
                field: "port",
                reason: "not 1..=65535"
            }),
            "{bad:?}"
        );
    }
}

#[test]
fn a_field_is_at_most_max_field_bytes_decoded() {
    let stop =
        |reason: &str| parse(format!("cmd=RecordStopRequest&id=1&reason={reason}").as_bytes());
    let too_long = Err(ParseError::BadField {
        field: "reason",
        reason: "too long",
    });
    let Ok(Message::StopRequest(m)) = stop(&"a".repeat(MAX_FIELD)) else {
        panic!();
    };
    assert_eq!(m.reason.len(), MAX_FIELD);
    assert_eq!(stop(&"a".repeat(MAX_FIELD + 1)), too_long);
    // 341 three-byte characters decode to 1023 bytes from 3069 encoded ones; 342 are too many.
    let Ok(Message::StopRequest(m)) = stop(&encode(&"张".repeat(341))) else {
        panic!();
    };
    assert_eq!(m.reason, "张".repeat(341));
    assert_eq!(stop(&encode(&"张".repeat(342))), too_long);
    assert_eq!(stop(&"%41".repeat(MAX_FIELD + 1)), too_long);
    // A long value of a key the message does not use is never looked at.
    assert!(
        parse(format!("cmd=RecordPauseRequest&id=1&reason={}", "a".repeat(9000)).as_bytes())
            .is_ok()
    );
}

#[test]
fn the_first_of_duplicate_keys_wins() {
    assert_eq!(
        parse(b"cmd=RecordStopResponse&id=first&result=success&id=second&result=failed"),
        Ok(Message::StopResponse(StopResponse {
            id: "first".into(),
            result: Outcome::Success
        }))
    );
    assert_eq!(
        parse(b"cmd=RecordPauseRequest&cmd=RecordStopRequest&id=1"),
        Ok(Message::PauseRequest { id: "1".into() })
    );
    // A later duplicate is ignored even when it is malformed.
    assert_eq!(
        parse(b"cmd=RecordPauseRequest&id=1&id=%zz"),
        Ok(Message::PauseRequest { id: "1".into() })
    );
}

#[test]
fn ignores_unknown_keys_and_keys_the_message_does_not_use() {
    assert_eq!(
        parse(
            b"cmd=RecordStopResponse&x=%FF&id=7&%zz=1&codec=%zz&result=success&device=&ext=pause"
        ),
        Ok(Message::StopResponse(StopResponse {
            id: "7".into(),
            result: Outcome::Success
        }))
    );
}

#[test]
fn reads_encoded_keys_empty_pieces_and_pieces_without_equals() {
    assert_eq!(
        parse(b"c%6Dd=RecordPauseRequest&i%64=7"),
        Ok(Message::PauseRequest { id: "7".into() })
    );
    assert_eq!(
        parse(b"&cmd=RecordResumeRequest&&id=7&"),
        Ok(Message::ResumeRequest { id: "7".into() })
    );
    assert_eq!(
        parse(b"cmd=RecordStopRequest&id=7&reason&remote_name=a=b"),
        Ok(Message::StopRequest(StopRequest {
            id: "7".into(),
            remote_number: String::new(),
            remote_name: "a=b".into(),
            local_number: String::new(),
            local_name: String::new(),
            reason: String::new(),
        }))
    );
    assert_eq!(
        err("cmd=RecordPauseRequest&id"),
        ParseError::BadField {
            field: "id",
            reason: "empty"
        }
    );
}

#[test]
fn values_of_dir_codec_result_and_ext_ignore_case() {
    let Ok(Message::StartRequest(m)) =
        parse(b"cmd=RecordStartRequest&id=1&device=m&dir=IN&codec=pcmu&ext=+Pause+%2Cfuture")
    else {
        panic!();
    };
    assert_eq!(
        (m.dir, m.codec, m.extensions),
        (Direction::In, Codec::Pcmu, Extensions::ALL)
    );
    assert_eq!(
        parse(b"cmd=RecordResumeResponse&id=1&result=SUCCESS"),
        Ok(Message::ResumeResponse {
            id: "1".into(),
            result: Outcome::Success
        })
    );
}

#[test]
fn reads_the_ext_list() {
    assert_eq!(Extensions::from_value(""), Extensions::NONE);
    assert_eq!(Extensions::from_value("future"), Extensions::NONE);
    assert_eq!(Extensions::from_value("pauses"), Extensions::NONE);
    assert_eq!(Extensions::from_value("pause"), Extensions::ALL);
    assert_eq!(Extensions::from_value("future, pause,,"), Extensions::ALL);
    assert!(Extensions::NONE.is_empty());
    assert!(!Extensions::ALL.is_empty());
    assert_eq!(
        Extensions::ALL.intersect(Extensions::NONE),
        Extensions::NONE
    );
    assert_eq!(Extensions::ALL.intersect(Extensions::ALL), Extensions::ALL);
}

#[test]
fn a_failed_start_response_needs_no_server_or_port() {
    let failed = |rest: &str| match parse(
        format!("cmd=RecordStartResponse&id=1&result=failed{rest}").as_bytes(),
    ) {
        Ok(Message::StartResponse(r)) => (r.reason, r.server, r.port),
        other => panic!("{other:?}"),
    };
    assert_eq!(failed(""), ("".into(), "".into(), 0));
    assert_eq!(
        failed("&reason=busy&server=&port="),
        ("busy".into(), "".into(), 0)
    );
    assert_eq!(failed("&server=%zz&port=abc"), ("".into(), "".into(), 0));
    assert_eq!(
        failed("&server=10.0.0.9&port=0"),
        ("".into(), "10.0.0.9".into(), 0)
    );
    assert_eq!(
        failed("&server=10.0.0.9&port=5004"),
        ("".into(), "10.0.0.9".into(), 5004)
    );
    // The reason is what the user sees: it must be well-formed.
    assert_eq!(
        err("cmd=RecordStartResponse&id=1&result=failed&reason=%zz"),
        ParseError::BadEncoding { field: "reason" }
    );
}

// ---------------------------------------------------------------------------------------------
// Extension negotiation against a guide-only peer

/// The guide's keys of each message, in the guide's order.
const GUIDE_KEYS: [(&str, &[&str]); 4] = [
    (
        "RecordStartRequest",
        &[
            "cmd",
            "id",
            "device",
            "remote_number",
            "remote_name",
            "local_number",
            "local_name",
            "dir",
            "codec",
        ],
    ),
    (
        "RecordStartResponse",
        &["cmd", "id", "result", "reason", "server", "port"],
    ),
    (
        "RecordStopRequest",
        &[
            "cmd",
            "id",
            "remote_number",
            "remote_name",
            "local_number",
            "local_name",
            "reason",
        ],
    ),
    ("RecordStopResponse", &["cmd", "id", "result"]),
];

fn keys(line: &str) -> Vec<&str> {
    line.trim_end()
        .split('&')
        .map(|p| p.split('=').next().unwrap_or(""))
        .collect()
}

#[test]
fn guide_messages_carry_the_guide_keys_in_order_and_ext_only_last() {
    for (m, with_ext) in [
        (start_request(), true),
        (plain_start_request(), false),
        (start_response_ok(), true),
        (start_response_failed(), false),
        (stop_request(), false),
        (stop_response(), false),
    ] {
        let encoded = line(&m);
        let guide = GUIDE_KEYS.iter().find(|(c, _)| *c == m.cmd()).unwrap().1;
        let mut expected = guide.to_vec();
        if with_ext {
            expected.push("ext");
        }
        assert_eq!(keys(&encoded), expected, "{encoded}");
    }
}

#[test]
fn a_plain_server_answer_negotiates_no_extension() {
    // The phone offers pause; a guide-only server ignores `ext` and answers without it.
    let offer = match parse(START_REQUEST.trim_end().as_bytes()) {
        Ok(Message::StartRequest(r)) => r.extensions,
        other => panic!("{other:?}"),
    };
    assert_eq!(offer, Extensions::ALL);
    let plain = b"cmd=RecordStartResponse&id=5f3a9c71&result=success&reason=&server=192.168.1.20&port=10000";
    let answer = match parse(plain) {
        Ok(Message::StartResponse(r)) => r.extensions,
        other => panic!("{other:?}"),
    };
    assert_eq!(offer.intersect(answer), Extensions::NONE);
    // A server that knows pause says so.
    let answer = match parse(START_RESPONSE_OK.trim_end().as_bytes()) {
        Ok(Message::StartResponse(r)) => r.extensions,
        other => panic!("{other:?}"),
    };
    assert_eq!(offer.intersect(answer), Extensions::ALL);
    // A plain phone offers nothing; the line is the guide's exactly.
    assert!(!PLAIN_START_REQUEST.contains("ext="));
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/// Whatever parses must encode to a line that parses back to the same message.
fn check_round_trip(input: &[u8]) -> bool {
    let Ok(m) = parse(input) else {
        return false;
    };
    let encoded = line(&m);
    assert!(
        encoded.ends_with('\n') && encoded.matches('\n').count() == 1,
        "{encoded}"
    );
    assert_eq!(
        parse(encoded.trim_end_matches('\n').as_bytes()),
        Ok(m.clone()),
        "{input:?}"
    );
    true
}

#[test]
fn never_panics_on_any_prefix_or_byte_change_of_the_vectors() {
    for (vector, _) in vectors() {
        let bytes = vector.as_bytes();
        for len in 0..=bytes.len() {
            let _ = split_line(&bytes[..len], MAX_LINE);
            check_round_trip(&bytes[..len]);
        }
        let mut b = bytes.to_vec();
        for i in 0..b.len() {
            let original = b[i];
            for value in 0..=255u8 {
                b[i] = value;
                if let Ok(Some((l, used))) = split_line(&b, MAX_LINE) {
                    assert!(used <= b.len() && !l.contains(&b'\n'));
                    check_round_trip(l);
                }
            }
            b[i] = original;
        }
    }
}

fn good_value(key: &str) -> &'static str {
    match key {
        "dir" => "in",
        "codec" => "PCMA",
        "result" => "success",
        "port" => "5004",
        "ext" => "pause",
        _ => "v",
    }
}

#[test]
fn never_panics_on_random_lines_and_what_parses_round_trips() {
    const KEYS: &[&str] = &[
        "cmd",
        "id",
        "device",
        "remote_number",
        "remote_name",
        "local_number",
        "local_name",
        "dir",
        "codec",
        "result",
        "reason",
        "server",
        "port",
        "ext",
        "c%6Dd",
        "i%64",
        "%zz",
        "x",
        "",
    ];
    const VALUES: &[&str] = &[
        "RecordStartRequest",
        "RecordStartResponse",
        "RecordStopRequest",
        "RecordStopResponse",
        "RecordPauseRequest",
        "RecordResumeRequest",
        "RecordPauseResponse",
        "RecordResumeResponse",
        "in",
        "OUT",
        "PCMA",
        "pcmu",
        "G722",
        "success",
        "failed",
        "pause",
        "0",
        "1",
        "5004",
        "65535",
        "65536",
        "%",
        "%z",
        "%2",
        "%E5%BC%A0",
        "%E5",
        "%FF",
        "+",
        "a+b",
        "=",
        "张",
        "\r",
        "",
    ];
    let mut rng = crate::test_rng::Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    let mut bytes = Vec::new();
    for _ in 0..20_000 {
        bytes.clear();
        if rng.below(8) == 0 {
            // Any bytes at all.
            for _ in 0..rng.below(300) {
                bytes.push(rng.next_u64() as u8);
            }
        } else {
            if rng.below(4) != 0 {
                bytes.extend_from_slice(b"cmd=");
                bytes.extend_from_slice(rng.pick(&VALUES[..8]).as_bytes());
            }
            for _ in 0..rng.below(24) {
                bytes.push(b'&');
                let key = rng.pick(KEYS);
                bytes.extend_from_slice(key.as_bytes());
                if rng.below(10) != 0 {
                    bytes.push(b'=');
                }
                if rng.below(2) == 0 {
                    // A well-formed value for the key, so that some lines get all the way through.
                    bytes.extend_from_slice(good_value(key).as_bytes());
                    continue;
                }
                for _ in 0..rng.below(4) {
                    if rng.below(6) == 0 {
                        bytes.push(rng.next_u64() as u8);
                    } else {
                        bytes.extend_from_slice(rng.pick(VALUES).as_bytes());
                    }
                }
            }
            if rng.below(200) == 0 {
                let long = rng.below(4 * MAX_FIELD);
                bytes.extend(core::iter::repeat_n(b'a', long));
            }
        }
        if check_round_trip(&bytes) {
            parsed += 1;
        }
        bytes.push(b'\n');
        match split_line(&bytes, MAX_LINE) {
            Ok(Some((l, used))) => assert!(used <= bytes.len() && l.len() < MAX_LINE),
            Ok(None) => panic!("a line ending in \\n within MAX_LINE is whole"),
            Err(FrameError::TooLong { max }) => assert!(max == MAX_LINE && bytes.len() > MAX_LINE),
        }
    }
    // The generator reaches past the checks often enough to mean something.
    assert!(parsed > 2000, "only {parsed} lines parsed");
}

// ---------------------------------------------------------------------------------------------
// Byte-exact vectors

const ID: &str = "5f3a9c71";

/// An outgoing PCMA call to 张三 (+8613800138000) from "R&D = Sales desk" (8001), offering pause.
const START_REQUEST: &str = "cmd=RecordStartRequest&id=5f3a9c71&device=00%3A15%3A65%3Aab%3Acd%3Aef\
&remote_number=%2B8613800138000&remote_name=%E5%BC%A0%E4%B8%89&local_number=8001\
&local_name=R%26D%20%3D%20Sales%20desk&dir=out&codec=PCMA&ext=pause\n";

fn start_request() -> Message {
    Message::StartRequest(StartRequest {
        id: ID.into(),
        device: "00:15:65:ab:cd:ef".into(),
        remote_number: "+8613800138000".into(),
        remote_name: "张三".into(),
        local_number: "8001".into(),
        local_name: "R&D = Sales desk".into(),
        dir: Direction::Out,
        codec: Codec::Pcma,
        extensions: Extensions { pause: true },
    })
}

/// An incoming G.722 call from an unknown caller, as a guide-only phone sends it.
const PLAIN_START_REQUEST: &str = "cmd=RecordStartRequest&id=a1&device=001565ABCDEF\
&remote_number=&remote_name=&local_number=8001&local_name=&dir=in&codec=G722\n";

fn plain_start_request() -> Message {
    Message::StartRequest(StartRequest {
        id: "a1".into(),
        device: "001565ABCDEF".into(),
        remote_number: String::new(),
        remote_name: String::new(),
        local_number: "8001".into(),
        local_name: String::new(),
        dir: Direction::In,
        codec: Codec::G722,
        extensions: Extensions::NONE,
    })
}

const START_RESPONSE_OK: &str = "cmd=RecordStartResponse&id=5f3a9c71&result=success&reason=\
&server=192.168.1.20&port=10000&ext=pause\n";

fn start_response_ok() -> Message {
    Message::StartResponse(StartResponse {
        id: ID.into(),
        result: Outcome::Success,
        reason: String::new(),
        server: "192.168.1.20".into(),
        port: 10000,
        extensions: Extensions { pause: true },
    })
}

const START_RESPONSE_FAILED: &str = "cmd=RecordStartResponse&id=5f3a9c71&result=failed\
&reason=disk%20full%2C%20try%20later&server=&port=\n";

fn start_response_failed() -> Message {
    Message::StartResponse(StartResponse {
        id: ID.into(),
        result: Outcome::Failed,
        reason: "disk full, try later".into(),
        server: String::new(),
        port: 0,
        extensions: Extensions::NONE,
    })
}

const STOP_REQUEST: &str = "cmd=RecordStopRequest&id=5f3a9c71&remote_number=%2B8613800138000\
&remote_name=%E5%BC%A0%E4%B8%89&local_number=8001&local_name=R%26D%20%3D%20Sales%20desk\
&reason=call%20ended\n";

fn stop_request() -> Message {
    Message::StopRequest(StopRequest {
        id: ID.into(),
        remote_number: "+8613800138000".into(),
        remote_name: "张三".into(),
        local_number: "8001".into(),
        local_name: "R&D = Sales desk".into(),
        reason: "call ended".into(),
    })
}

const STOP_RESPONSE: &str = "cmd=RecordStopResponse&id=5f3a9c71&result=success\n";

fn stop_response() -> Message {
    Message::StopResponse(StopResponse {
        id: ID.into(),
        result: Outcome::Success,
    })
}

const PAUSE_REQUEST: &str = "cmd=RecordPauseRequest&id=5f3a9c71\n";
const PAUSE_RESPONSE: &str = "cmd=RecordPauseResponse&id=5f3a9c71&result=success\n";
const RESUME_REQUEST: &str = "cmd=RecordResumeRequest&id=5f3a9c71\n";
const RESUME_RESPONSE: &str = "cmd=RecordResumeResponse&id=5f3a9c71&result=failed\n";

fn pause_response() -> Message {
    Message::PauseResponse {
        id: ID.into(),
        result: Outcome::Success,
    }
}

fn vectors() -> Vec<(&'static str, Message)> {
    vec![
        (START_REQUEST, start_request()),
        (PLAIN_START_REQUEST, plain_start_request()),
        (START_RESPONSE_OK, start_response_ok()),
        (START_RESPONSE_FAILED, start_response_failed()),
        (STOP_REQUEST, stop_request()),
        (STOP_RESPONSE, stop_response()),
        (PAUSE_REQUEST, Message::PauseRequest { id: ID.into() }),
        (PAUSE_RESPONSE, pause_response()),
        (RESUME_REQUEST, Message::ResumeRequest { id: ID.into() }),
        (
            RESUME_RESPONSE,
            Message::ResumeResponse {
                id: ID.into(),
                result: Outcome::Failed,
            },
        ),
    ]
}

#[test]
fn encodes_and_parses_the_vectors_byte_exact() {
    for (vector, m) in vectors() {
        assert_eq!(line(&m), vector);
        assert_eq!(
            m.id(),
            if vector == PLAIN_START_REQUEST {
                "a1"
            } else {
                ID
            }
        );
        assert!(vector.starts_with(&format!("cmd={}&", m.cmd())));

        let (l, used) = split_line(vector.as_bytes(), MAX_LINE).unwrap().unwrap();
        assert_eq!(used, vector.len());
        assert_eq!(parse(l), Ok(m.clone()), "{vector}");

        let crlf = vector.replace('\n', "\r\n");
        let (l, used) = split_line(crlf.as_bytes(), MAX_LINE).unwrap().unwrap();
        assert_eq!(used, crlf.len());
        assert_eq!(parse(l), Ok(m.clone()));
        // parse itself also drops a trailing `\r`.
        assert_eq!(parse(crlf.trim_end_matches('\n').as_bytes()), Ok(m));
    }
}
