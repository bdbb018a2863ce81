//! The one percent codec (RFC 3986 components, with `+` read as a space): the record
//! protocol's fields, the action URLs' query, the record server's web queries and links.

use core::fmt;

/// Why a percent-encoded component does not decode. Whoever sent it is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PercentError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl PercentError {
    /// A stable snake_case name.
    pub fn code(self) -> &'static str {
        match self {
            PercentError::BadEscape => "bad_escape",
            PercentError::NotUtf8 => "not_utf8",
        }
    }
}

impl fmt::Display for PercentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PercentError::BadEscape => "a '%' not followed by two hex digits",
            PercentError::NotUtf8 => "not UTF-8 once decoded",
        })
    }
}

impl std::error::Error for PercentError {}

/// The bytes of a percent-encoded component, decoded one at a time. Stops after an error.
pub struct Decoder<'a> {
    rest: &'a [u8],
}

impl Decoder<'_> {
    /// The decoded bytes of `raw`, with no allocation (for a lookup in a stack buffer).
    pub fn new(raw: &[u8]) -> Decoder<'_> {
        Decoder { rest: raw }
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<u8, PercentError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&b, tail) = self.rest.split_first()?;
        let (byte, rest) = match (b, tail) {
            (b'+', _) => (Ok(b' '), tail),
            (b'%', [hi, lo, more @ ..]) => match (hex_value(*hi), hex_value(*lo)) {
                (Some(hi), Some(lo)) => (Ok(hi << 4 | lo), more),
                _ => (Err(PercentError::BadEscape), &[][..]),
            },
            (b'%', _) => (Err(PercentError::BadEscape), &[][..]),
            (b, _) => (Ok(b), tail),
        };
        self.rest = rest;
        Some(byte)
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Size of the stack buffer that decoded bytes pass through on their way to the `String`.
pub(crate) const CHUNK: usize = 64;

/// Percent-decodes `s` (RFC 3986, with `+` read as a space) and appends it to `out`.
///
/// The decoded bytes must be UTF-8. Bytes that need no escape are taken as they are, so raw UTF-8
/// is accepted too. On error `out` is left as it was.
pub fn decode(s: &[u8], out: &mut String) -> Result<(), PercentError> {
    let start = out.len();
    let result = decode_append(s, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn decode_append(s: &[u8], out: &mut String) -> Result<(), PercentError> {
    if !s.iter().any(|&b| b == b'%' || b == b'+') {
        let text = core::str::from_utf8(s).map_err(|_| PercentError::NotUtf8)?;
        out.push_str(text);
        return Ok(());
    }
    out.reserve(s.len());
    let mut chunk = [0u8; CHUNK];
    let mut len = 0;
    for byte in (Decoder { rest: s }) {
        // `len < CHUNK` here: it is at most 3 after a flush and flushed as soon as it reaches CHUNK.
        chunk[len] = byte?;
        len += 1;
        if len == CHUNK {
            len = flush_utf8(&mut chunk, len, out)?;
        }
    }
    match flush_utf8(&mut chunk, len, out)? {
        0 => Ok(()),
        _ => Err(PercentError::NotUtf8), // a multi-byte sequence cut off at the end
    }
}

/// Appends the UTF-8 in `chunk[..len]` to `out`. A multi-byte sequence cut off at the end (at
/// most 3 bytes) moves to the front of `chunk` to be completed by the next bytes; returns its
/// length.
fn flush_utf8(
    chunk: &mut [u8; CHUNK],
    len: usize,
    out: &mut String,
) -> Result<usize, PercentError> {
    let valid = match core::str::from_utf8(&chunk[..len]) {
        Ok(text) => {
            out.push_str(text);
            return Ok(0);
        }
        Err(e) if e.error_len().is_some() => return Err(PercentError::NotUtf8),
        Err(e) => e.valid_up_to(),
    };
    // The prefix up to `valid_up_to` is UTF-8 by definition; the check cannot fail.
    out.push_str(core::str::from_utf8(&chunk[..valid]).map_err(|_| PercentError::NotUtf8)?);
    chunk.copy_within(valid..len, 0);
    Ok(len - valid)
}

/// Percent-encodes `s` and appends it to `out`: every byte but the unreserved
/// `A-Z a-z 0-9 - . _ ~` becomes `%XX` (upper-case hex), a space included.
pub fn encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
}
