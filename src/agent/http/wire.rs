//! The listener's HTTP/1.1, without I/O: the request head parsed with `httparse` within
//! [`MAX_HEAD`] bytes and [`MAX_HEADERS`] fields, the body's length from `Content-Length`
//! (RFC 9112 §6.3, at most [`MAX_BODY`]; `Transfer-Encoding` is not taken), and the answer's
//! head. One request per connection, so nothing here knows of keep-alive: every answer says
//! `Connection: close`. Any input gives a [`Head`], `None` (send more) or a [`Fault`]; never a
//! panic.

use std::borrow::Cow;

/// Request line and header fields, in bytes (an action URL is at most 4 KiB); past it: 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Header fields in one request; past it: 431.
pub const MAX_HEADERS: usize = 32;
/// Largest request body (a settings object, a password change); past it: 413.
pub const MAX_BODY: usize = 16 * 1024;

/// A request's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    /// In origin form (`/path?query`): an absolute-form target is cut to its path and query.
    pub target: String,
    /// The fields in order: the name as sent, the value's bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes the head took: the body starts there.
    pub len: usize,
}

/// Why a request is answered with an error before any handler sees it; the connection closes
/// after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Not HTTP/1.x syntax, a target that is no path, a bad `Content-Length`: 400.
    Malformed,
    /// More than [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields: 431.
    HeadTooLarge,
    /// Not HTTP/1.0 or 1.1: 505.
    Version,
    /// `Content-Length` over [`MAX_BODY`]: 413.
    BodyTooLong,
    /// A chunked body: 411 (send it with `Content-Length`).
    Chunked,
    /// Another transfer coding: 501.
    Coding,
    /// The body did not come in time: 408.
    TooSlow,
}

impl Fault {
    pub fn status(self) -> u16 {
        match self {
            Fault::Malformed => 400,
            Fault::HeadTooLarge => 431,
            Fault::Version => 505,
            Fault::BodyTooLong => 413,
            Fault::Chunked => 411,
            Fault::Coding => 501,
            Fault::TooSlow => 408,
        }
    }

    /// The `code` of the answer's `{"error":{…}}`.
    pub fn code(self) -> &'static str {
        match self {
            Fault::Malformed => "bad_request",
            Fault::HeadTooLarge => "head_too_large",
            Fault::Version => "http_version",
            Fault::BodyTooLong => "too_long",
            Fault::Chunked => "length_required",
            Fault::Coding => "not_implemented",
            Fault::TooSlow => "too_slow",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Fault::Malformed => "the request is malformed",
            Fault::HeadTooLarge => "the request line and headers are too large",
            Fault::Version => "only HTTP/1.1 and HTTP/1.0",
            Fault::BodyTooLong => "the request body is too long",
            Fault::Chunked => "send the body with Content-Length",
            Fault::Coding => "no transfer coding is supported",
            Fault::TooSlow => "the request body did not come in time",
        }
    }
}

/// The head at the start of `buf`: `Ok(None)` while it is incomplete (read more, unless `buf`
/// already holds [`MAX_HEAD`] bytes: then it is [`Fault::HeadTooLarge`]).
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, Fault> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(Fault::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Fault::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(Fault::Version),
        Err(_) => return Err(Fault::Malformed),
    };
    if len > MAX_HEAD {
        return Err(Fault::HeadTooLarge);
    }
    // A complete parse has both.
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(Fault::Malformed);
    };
    let target = origin_form(target).ok_or(Fault::Malformed)?;
    let headers = req
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();
    Ok(Some(Head {
        method: method.to_owned(),
        target,
        headers,
        len,
    }))
}

/// The target as a path and query: as sent when it starts with `/`, the part after the
/// authority of an absolute `http://` or `https://` target; `None` for anything else (`*`, an
/// authority alone, non-ASCII bytes).
fn origin_form(target: &str) -> Option<String> {
    if !target.is_ascii() {
        return None;
    }
    if target.starts_with('/') {
        return Some(target.to_owned());
    }
    let scheme = |s: &str| {
        target
            .get(..s.len())
            .filter(|p| p.eq_ignore_ascii_case(s))
            .map(|_| &target[s.len()..])
    };
    let rest = scheme("http://").or_else(|| scheme("https://"))?;
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(at);
    if authority.is_empty() {
        return None;
    }
    Some(if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    })
}

/// The body's length from the head's fields: 0 without `Content-Length`; repeated values must
/// agree (RFC 9112 §6.3).
pub fn body_length(headers: &[(String, Vec<u8>)]) -> Result<usize, Fault> {
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    };
    if let Some(coding) = named("transfer-encoding").next_back() {
        let last = coding.split(|&b| b == b',').next_back().map(trim);
        return Err(match last {
            Some(c) if c.eq_ignore_ascii_case(b"chunked") => Fault::Chunked,
            _ => Fault::Coding,
        });
    }
    let mut length: Option<u64> = None;
    for item in named("content-length").flat_map(|v| v.split(|&b| b == b',')) {
        let item = trim(item);
        if item.is_empty() || item.len() > 19 || !item.iter().all(u8::is_ascii_digit) {
            return Err(Fault::Malformed);
        }
        // At most 19 digits: fits a u64.
        let n = item.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if length.is_some_and(|l| l != n) {
            return Err(Fault::Malformed);
        }
        length = Some(n);
    }
    match length {
        // At most MAX_BODY: the cast is exact.
        Some(n) if n <= MAX_BODY as u64 => Ok(n as usize),
        Some(_) => Err(Fault::BodyTooLong),
        None => Ok(0),
    }
}

/// Without spaces and tabs around it.
fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !matches!(c, b' ' | b'\t'));
    let end = b.iter().rposition(|c| !matches!(c, b' ' | b'\t'));
    match (start, end) {
        (Some(s), Some(e)) => &b[s..=e],
        _ => &[],
    }
}

/// The answer's head: status line, `headers`, `Content-Length` if given, `Connection: close`
/// and `Date` (`date` from [`http_date`]). A value that could break the head (a control
/// character) is left out and logged: every value is made by the agent, so it is a bug.
pub fn encode_head(
    status: u16,
    headers: &[(&'static str, Cow<'static, str>)],
    content_length: Option<u64>,
    date: &str,
) -> Vec<u8> {
    use std::fmt::Write;
    let mut out = String::with_capacity(256);
    // Writing to a String cannot fail.
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            log::error!("http: a bad value for {name} left out");
            continue;
        }
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if let Some(n) = content_length {
        let _ = write!(out, "content-length: {n}\r\n");
    }
    let _ = write!(out, "connection: close\r\ndate: {date}\r\n\r\n");
    out.into_bytes()
}

/// The reason phrase of each status the listener sends (empty for another: it is optional).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether an answer with `status` has a body (and a `Content-Length`): not 1xx, 204, 304.
pub fn has_body(status: u16) -> bool {
    status >= 200 && status != 204 && status != 304
}

/// `secs` after 1970 as an HTTP date (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (days, time) = (secs / 86_400, secs % 86_400);
    // The civil calendar from a day count, in eras of 400 years that start on 1 March, so
    // that the leap day ends a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    // mp is 0..=11, March first.
    let month = if mp < 10 { mp + 2 } else { mp - 10 };
    let year = yoe + era * 400 + u64::from(month < 2);
    // Both indexes are in range: days % 7 < 7, month < 12.
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[month as usize],
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_head_parses_to_method_target_and_fields() {
        let wire = b"PUT /api/settings?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8089\r\n\
                     content-length: 2\r\nCookie: a=1\r\nCookie: b=\xff\r\n\r\n{}";
        let head = parse_head(wire).unwrap().unwrap();
        assert_eq!(
            head,
            Head {
                method: "PUT".into(),
                target: "/api/settings?x=1".into(),
                headers: vec![
                    ("Host".into(), b"127.0.0.1:8089".to_vec()),
                    ("content-length".into(), b"2".to_vec()),
                    ("Cookie".into(), b"a=1".to_vec()),
                    ("Cookie".into(), b"b=\xff".to_vec()),
                ],
                len: wire.len() - 2,
            }
        );
        assert_eq!(body_length(&head.headers), Ok(2));
        // Every shorter prefix asks for more.
        for n in 0..head.len {
            assert_eq!(parse_head(&wire[..n]), Ok(None), "{n}");
        }
        // HTTP/1.0, bare LF line ends, an empty line before the request line.
        let head = parse_head(b"\r\nHEAD / HTTP/1.0\nHost: x\n\n")
            .unwrap()
            .unwrap();
        assert_eq!((head.method.as_str(), head.target.as_str()), ("HEAD", "/"));
        assert_eq!(head.len, 27);
    }

    #[test]
    fn an_absolute_target_is_cut_to_its_path() {
        let target = |t: &str| {
            parse_head(format!("GET {t} HTTP/1.1\r\n\r\n").as_bytes()).map(|h| h.map(|h| h.target))
        };
        assert_eq!(
            target("http://127.0.0.1:8089/login"),
            Ok(Some("/login".into()))
        );
        assert_eq!(target("HTTPS://phone/a?b=/c"), Ok(Some("/a?b=/c".into())));
        assert_eq!(target("http://phone"), Ok(Some("/".into())));
        assert_eq!(target("http://phone?x"), Ok(Some("/?x".into())));
        for bad in [
            "*",
            "phone:80",
            "http:///x",
            "ftp://x/y",
            "/caf\u{e9}",
            "http:/x",
        ] {
            assert_eq!(target(bad), Err(Fault::Malformed), "{bad}");
        }
    }

    #[test]
    fn limits_and_malformed_heads_are_faults() {
        let big = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            parse_head(&big.as_bytes()[..MAX_HEAD]),
            Err(Fault::HeadTooLarge)
        );
        assert_eq!(parse_head(&big.as_bytes()[..MAX_HEAD - 1]), Ok(None));
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..MAX_HEADERS {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        assert!(parse_head(format!("{many}\r\n").as_bytes())
            .unwrap()
            .is_some());
        many.push_str("X-last: y\r\n\r\n");
        assert_eq!(parse_head(many.as_bytes()), Err(Fault::HeadTooLarge));
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(Fault::Version), "{bad:?}");
        }
        for bad in [
            &b"GET  / HTTP/1.1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad name: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
            b"G\0T / HTTP/1.1\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ] {
            assert_eq!(parse_head(bad), Err(Fault::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn content_length_rules() {
        let len = |list: &[(&str, &str)]| body_length(&fields(list));
        assert_eq!(len(&[]), Ok(0));
        assert_eq!(len(&[("Content-Length", "0")]), Ok(0));
        assert_eq!(len(&[("CONTENT-LENGTH", " 16384\t")]), Ok(MAX_BODY));
        assert_eq!(len(&[("Content-Length", "16385")]), Err(Fault::BodyTooLong));
        assert_eq!(
            len(&[("Content-Length", "99999999999999999999")]),
            Err(Fault::Malformed)
        );
        assert_eq!(
            len(&[("Content-Length", "9999999999999999999")]),
            Err(Fault::BodyTooLong)
        );
        assert_eq!(
            len(&[("Content-Length", "5, 5"), ("content-length", "5")]),
            Ok(5)
        );
        for bad in ["5, 6", "", "-1", "+5", "0x10", "5 5", "1e3", ","] {
            assert_eq!(
                len(&[("Content-Length", bad)]),
                Err(Fault::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            len(&[("Content-Length", "5"), ("Content-Length", "6")]),
            Err(Fault::Malformed)
        );
        assert_eq!(
            len(&[("Transfer-Encoding", "chunked")]),
            Err(Fault::Chunked)
        );
        assert_eq!(
            len(&[
                ("Content-Length", "3"),
                ("transfer-encoding", "gzip, Chunked ")
            ]),
            Err(Fault::Chunked)
        );
        assert_eq!(len(&[("Transfer-Encoding", "gzip")]), Err(Fault::Coding));
        assert_eq!(len(&[("Transfer-Encoding", "")]), Err(Fault::Coding));
    }

    #[test]
    fn an_answer_head_is_byte_exact() {
        let date = http_date(784_111_777);
        let head = encode_head(
            200,
            &[
                ("content-type", "application/json".into()),
                ("cache-control", "no-store".into()),
            ],
            Some(5),
            &date,
        );
        assert_eq!(
            head,
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\n\
              content-length: 5\r\nconnection: close\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
        let head = encode_head(
            204,
            &[
                ("x-bad", "a\r\nset-cookie: x".into()),
                ("x-tab", "a\tb".into()),
            ],
            None,
            "D",
        );
        assert_eq!(
            head,
            b"HTTP/1.1 204 No Content\r\nx-tab: a\tb\r\nconnection: close\r\ndate: D\r\n\r\n"
        );
        assert_eq!(
            encode_head(599, &[], Some(0), "D"),
            b"HTTP/1.1 599 \r\ncontent-length: 0\r\nconnection: close\r\ndate: D\r\n\r\n"
        );
        assert!(has_body(200) && has_body(404) && !has_body(204) && !has_body(304));
        assert!(!has_body(100));
    }

    #[test]
    fn dates_are_imf_fixdates() {
        for (secs, text) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (951_868_799, "Tue, 29 Feb 2000 23:59:59 GMT"),
            (1_795_824_000, "Sat, 28 Nov 2026 00:00:00 GMT"),
            (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (4_133_980_799, "Fri, 31 Dec 2100 23:59:59 GMT"),
        ] {
            assert_eq!(http_date(secs), text, "{secs}");
        }
    }

    /// Random bytes (a fixed seed) biased toward what HTTP heads are made of, every prefix of
    /// a valid head with bytes changed, and long runs: a head, `None` or a fault, never a panic.
    #[test]
    fn no_input_panics() {
        let mut rng = callrec_core::test_rng::Rng(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
        let alphabet =
            b"GET /?=&%:\r\n\t ,HTTP/1.01content-lengthtransfer-encodingchunked\0\x7f\xff\xc3";
        let check = |buf: &[u8]| {
            if let Ok(Some(head)) = parse_head(buf) {
                assert!(head.len <= buf.len() && head.target.starts_with('/'));
                let _ = body_length(&head.headers);
            }
        };
        for _ in 0..20_000 {
            let len = (next() % 300) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            check(&buf);
        }
        let valid = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
        for i in 0..valid.len() {
            for b in [0u8, b'\r', b'\n', b' ', b':', b',', 0x80, 0xff] {
                let mut m = valid.to_vec();
                m[i] = b;
                for n in 0..=m.len() {
                    check(&m[..n]);
                }
            }
        }
        check(&vec![b'a'; 3 * MAX_HEAD]);
        check(&[b"GET / HTTP/1.1\r\n".as_slice(), &b"\r\n".repeat(MAX_HEAD)].concat());
        check(&[b"GET / HTTP/1.1\r\nX:".as_slice(), &vec![b' '; MAX_HEAD]].concat());
    }
}
