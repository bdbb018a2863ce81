//! SIP messages (RFC 3261 §7): requests and responses parsed from bytes, robustly.
//!
//! [`parse`] takes one whole message (what a UDP datagram or a stream transport delivered) and
//! returns a [`Message`] or a [`SipError`] that says what is wrong. It never panics on any
//! input, never recurses, and bounds everything it keeps: [`MAX_MESSAGE`] bytes in all, at most
//! [`MAX_HEADER_LINES`] header lines of at most [`MAX_LINE`] bytes each.
//!
//! What it accepts, strict where a mistake would be read as something else and liberal where
//! the meaning is plain (RFC 3261 §7 and §25, the cases of RFC 4475):
//! - Lines end with CRLF or a bare LF. Empty lines before the start line are skipped (CRLF
//!   keep-alives). A CR anywhere else, or any other control character but HT, is refused.
//! - The start line is `METHOD SP Request-URI SP SIP/2.0` (single spaces, the method a token,
//!   the URI with a scheme and no `<>`) or `SIP/2.0 SP CODE SP Reason-Phrase` (code 100–699,
//!   the reason possibly empty, with spaces or UTF-8). `SIP` may be in any case.
//! - A header is `name: value`, the name a token, with spaces or tabs around the colon. A line
//!   starting with SP or HT continues the previous header (joined with one space). Names are
//!   stored in their canonical long form ([`canonical_name`]: `i` → `Call-ID`,
//!   `content-length` → `Content-Length`); values are trimmed. The header section must be UTF-8.
//! - The body follows the empty line; without one, the end of the input ends the headers and
//!   the body is empty. Content-Length, when present, is a decimal number no larger than the
//!   body: a longer body is cut to it (RFC 3261 §18.3, a datagram's extra bytes), a shorter one
//!   is refused. Without Content-Length the body is the rest of the input (UDP semantics). The
//!   header may repeat with the same value, never with two different ones.

use core::fmt;

/// The first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed message. Header names are stored in their canonical long form (`Call-ID`, `Via`,
/// `Content-Length`, …: compact forms such as `i`, `v`, `l` are expanded); values are
/// unfolded (continuation lines joined with one space) and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// The first value of a header, by any spelling of its name (case-insensitive, compact or
    /// long form).
    pub fn header(&self, name: &str) -> Option<&str> {
        let want = canonical_name(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&want))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order (a header may repeat, or hold a comma-separated list).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let want = canonical_name(name);
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&want))
            .map(|(_, v)| v.as_str())
    }
}

/// Why bytes are not a SIP message. The sender is at fault in every case. The texts name the
/// line and the rule or limit broken, never the bytes themselves (they may hold personal data
/// or terminal escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipError {
    /// Empty input (or nothing but empty lines, a keep-alive): 0; or more than
    /// [`MAX_MESSAGE`] bytes: the input's length.
    Size(usize),
    /// The start line is not `METHOD URI SIP/2.0` or `SIP/2.0 CODE REASON`, or is longer than
    /// [`MAX_LINE`].
    StartLine(String),
    /// A header line without a name or colon, a bad character, a line longer than
    /// [`MAX_LINE`], more than [`MAX_HEADER_LINES`] lines.
    Header(String),
    /// Content-Length not a number, larger than the body, or given twice with different values.
    ContentLength(String),
    /// Not UTF-8 where text is required (the start line and the headers).
    Encoding,
}

impl fmt::Display for SipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SipError::Size(0) => f.write_str("an empty SIP message"),
            SipError::Size(n) => write!(f, "a SIP message of {n} bytes (at most {MAX_MESSAGE})"),
            SipError::StartLine(e) => write!(f, "bad start line: {e}"),
            SipError::Header(e) => write!(f, "bad header: {e}"),
            SipError::ContentLength(e) => write!(f, "bad Content-Length: {e}"),
            SipError::Encoding => f.write_str("not UTF-8"),
        }
    }
}

impl std::error::Error for SipError {}

/// Largest message accepted.
pub const MAX_MESSAGE: usize = 65_535;
/// Most header lines accepted (continuation lines count), the start line not included.
pub const MAX_HEADER_LINES: usize = 128;
/// Longest line accepted, start line or header line, without its line end.
pub const MAX_LINE: usize = 8192;

/// The compact forms (RFC 3261 §7.3.3 and the extensions registered with IANA).
const COMPACT: [(u8, &str); 20] = [
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'd', "Request-Disposition"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'j', "Reject-Contact"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'n', "Identity-Info"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
    (b'y', "Identity"),
];

/// Canonical spellings of the long names this code may meet: RFC 3261 §20, the common
/// extensions, and `Record` (the recording convention, `../shared/spec/sip-info.md`).
const KNOWN: [&str; 69] = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
];

/// The long form of a header name (`i` → `Call-ID`, `call-id` → `Call-ID`), for lookups.
/// Compact forms and known long names are matched case-insensitively; any other name keeps the
/// spelling given.
pub fn canonical_name(name: &str) -> String {
    if let [c] = name.as_bytes() {
        let c = c.to_ascii_lowercase();
        if let Some((_, long)) = COMPACT.iter().find(|(short, _)| *short == c) {
            return (*long).to_owned();
        }
    }
    match KNOWN.iter().find(|known| known.eq_ignore_ascii_case(name)) {
        Some(known) => (*known).to_owned(),
        None => name.to_owned(),
    }
}

/// The sequence number and method of the message's CSeq (`314159 INFO` → `(314159, "INFO")`),
/// or `None` if it has none or it is not `1*DIGIT LWS Method`.
pub fn cseq(message: &Message) -> Option<(u32, &str)> {
    let value = message.header("CSeq")?;
    let mut parts = value.split([' ', '\t']).filter(|p| !p.is_empty());
    let (Some(number), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if !number.bytes().all(|b| b.is_ascii_digit()) || !is_token(method) {
        return None;
    }
    // All digits (no sign), so the only failure left is a value above u32::MAX.
    let number = number.parse::<u32>().ok()?;
    Some((number, method))
}

/// Parses one whole message. See the module doc.
pub fn parse(bytes: &[u8]) -> Result<Message, SipError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(SipError::Size(bytes.len()));
    }
    let mut rest = bytes;
    // Keep-alives (CRLF, or a bare LF) before the start line.
    while let Some(after) = rest
        .strip_prefix(b"\r\n")
        .or_else(|| rest.strip_prefix(b"\n"))
    {
        rest = after;
    }
    if rest.is_empty() {
        return Err(SipError::Size(0));
    }
    let (first, after) = split_line(rest);
    rest = after;
    let start = parse_start_line(first)?;

    let mut headers: Vec<(String, String)> = Vec::new();
    let mut count = 0;
    let body = loop {
        if rest.is_empty() {
            // No empty line: the input ended the headers, and there is no body.
            break rest;
        }
        let (line, after) = split_line(rest);
        rest = after;
        if line.is_empty() {
            break rest;
        }
        count += 1;
        if count > MAX_HEADER_LINES {
            return Err(SipError::Header(format!(
                "more than {MAX_HEADER_LINES} header lines"
            )));
        }
        if line.len() > MAX_LINE {
            return Err(SipError::Header(format!(
                "header line {count} is longer than {MAX_LINE} bytes"
            )));
        }
        // An LF never ends a UTF-8 sequence part-way, so each line is checked on its own.
        let line = core::str::from_utf8(line).map_err(|_| SipError::Encoding)?;
        if line.bytes().any(is_forbidden_control) {
            return Err(SipError::Header(format!(
                "header line {count} holds a control character"
            )));
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = headers.last_mut() else {
                return Err(SipError::Header(
                    "header line 1 starts with whitespace (a continuation of no header)".into(),
                ));
            };
            let more = line.trim_matches(is_ws);
            if !more.is_empty() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(SipError::Header(format!(
                "header line {count} has no colon"
            )));
        };
        let name = name.trim_end_matches(is_ws);
        if name.is_empty() {
            return Err(SipError::Header(format!(
                "header line {count} has no name before its colon"
            )));
        }
        if !is_token(name) {
            return Err(SipError::Header(format!(
                "header line {count}: the name is not a token"
            )));
        }
        headers.push((canonical_name(name), value.trim_matches(is_ws).to_owned()));
    };

    let announced = content_length(&headers)?;
    let body = match announced {
        Some(n) => body.get(..n).ok_or_else(|| {
            SipError::ContentLength(format!("{n} announced, the body has {} bytes", body.len()))
        })?,
        None => body,
    };
    Ok(Message {
        start,
        headers,
        body: body.to_vec(),
    })
}

/// Splits off one line: the bytes before the next LF (without a CR just before it), and what
/// follows the LF. Without an LF the whole input is the line and nothing follows.
fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let (line, rest) = bytes.split_at(i);
            (line, rest.get(1..).unwrap_or_default())
        }
        None => (bytes, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, SipError> {
    let bad = |e: &str| Err(SipError::StartLine(e.to_owned()));
    if line.len() > MAX_LINE {
        return Err(SipError::StartLine(format!("longer than {MAX_LINE} bytes")));
    }
    let line = core::str::from_utf8(line).map_err(|_| SipError::Encoding)?;
    if line.bytes().any(is_forbidden_control) {
        return bad("holds a control character");
    }
    if line
        .as_bytes()
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let (version, rest) = line.split_once(' ').unwrap_or((line, ""));
        if !is_sip_2_0(version) {
            return bad("the version is not SIP/2.0");
        }
        // The reason may be empty, and the SP before it missing (liberal).
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return bad("the status code is not 3 digits");
        }
        let Ok(code @ 100..=699) = code.parse::<u16>() else {
            return bad("the status code is not from 100 to 699");
        };
        return Ok(StartLine::Response {
            code,
            reason: reason.trim_matches(is_ws).to_owned(),
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (exactly: RFC 4475 §3.1.2.8–9)
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad("not METHOD SP Request-URI SP SIP/2.0");
    };
    if method.is_empty() || !is_token(method) {
        return bad("the method is not a token");
    }
    if !is_request_uri(uri) {
        return bad("the Request-URI is not an absolute URI");
    }
    if !is_sip_2_0(version) {
        return bad("the version is not SIP/2.0");
    }
    Ok(StartLine::Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
    })
}

/// `SIP/2.0`, with `SIP` in any case.
fn is_sip_2_0(version: &str) -> bool {
    let v = version.as_bytes();
    v.len() == 7 && v[..4].eq_ignore_ascii_case(b"SIP/") && &v[4..] == b"2.0"
}

/// A scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`), a colon, then visible ASCII other
/// than `<`, `>` and `"` (so `<sip:…>` and embedded whitespace are refused: RFC 4475 §3.1.2.6–7).
fn is_request_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut s = scheme.bytes();
    s.next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'))
}

/// RFC 3261 §25.1 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Control characters no SIP text may hold (HT is allowed; CR and LF only end lines).
fn is_forbidden_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7F
}

/// The Content-Length the headers announce, if any.
fn content_length(headers: &[(String, String)]) -> Result<Option<usize>, SipError> {
    let mut announced = None;
    for (_, value) in headers.iter().filter(|(n, _)| n == "Content-Length") {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SipError::ContentLength("not a decimal number".into()));
        }
        let mut n: usize = 0;
        for d in value.bytes() {
            n = n * 10 + usize::from(d - b'0');
            if n > MAX_MESSAGE {
                return Err(SipError::ContentLength(format!(
                    "more than {MAX_MESSAGE} bytes announced"
                )));
            }
        }
        match announced {
            Some(first) if first != n => {
                return Err(SipError::ContentLength(format!(
                    "given twice, {first} and {n}"
                )));
            }
            _ => announced = Some(n),
        }
    }
    Ok(announced)
}

#[cfg(test)]
mod tests;
