//! The `Range` request header (RFC 9110 §14): one `bytes=` range is served as 206; several
//! ranges, another unit or a malformed value are ignored (the whole answer, 200); a range that
//! starts past the end is 416. No I/O.

/// What to send of an answer `len` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranged {
    /// Everything (200).
    Full,
    /// Bytes `start..end` (206), `start < end <= len`.
    Part { start: u64, end: u64 },
    /// Nothing of it can be sent (416).
    Unsatisfiable,
}

/// Decides from the `Range` header value (if any) what to send of `len` bytes.
pub fn ranged(header: Option<&[u8]>, len: u64) -> Ranged {
    let Some(spec) = header
        .and_then(|h| core::str::from_utf8(h).ok())
        .and_then(|h| h.trim().strip_prefix("bytes="))
    else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(last) {
            Some(0) => Ranged::Unsatisfiable,
            Some(n) if len > 0 => Ranged::Part {
                start: len.saturating_sub(n),
                end: len,
            },
            Some(_) => Ranged::Unsatisfiable,
            None => Ranged::Full,
        },
        // bytes=A- or bytes=A-B.
        (false, _) => {
            let Some(start) = num(first) else {
                return Ranged::Full;
            };
            let end = if last.is_empty() {
                len
            } else {
                match num(last) {
                    Some(b) if b >= start => b.saturating_add(1).min(len),
                    _ => return Ranged::Full,
                }
            };
            if start >= len {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part { start, end }
            }
        }
        (true, true) => Ranged::Full,
    }
}
