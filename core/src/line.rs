//! The one line framer of callrec's line protocols: the record protocol (phone and server), the
//! control protocol and the integration contract on the agent's socket. Whether a whole line
//! has arrived is decided here; what the line says is each protocol's parser's business
//! (`record_protocol::parse`, `control_protocol::parse_request`).
//!
//! [`Lines`] is a fixed buffer that a stream is read into ([`Lines::spare`], [`Lines::filled`])
//! and whole lines are taken out of ([`Lines::next_line`]); it never grows, so a peer that never
//! sends a newline holds at most `max_line` bytes and then gets [`FrameError::TooLong`].

use core::fmt;

/// Why the received bytes cannot be split into lines. The peer is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// No `\n` within the first `max` bytes.
    TooLong { max: usize },
}

impl FrameError {
    /// A stable snake_case name, for answers, logs and counters.
    pub fn code(self) -> &'static str {
        match self {
            FrameError::TooLong { .. } => "line_too_long",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "no end of line within {max} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Finds the first whole line in `buf`, the bytes received so far.
///
/// Returns the line without its `\n` (and without one `\r` before it) and the number of bytes it
/// took, newline included; `Ok(None)` while no whole line has arrived; [`FrameError::TooLong`]
/// when the first `max_line` bytes hold no `\n` (a line of exactly `max_line` bytes, newline
/// included, is accepted).
pub fn split_line(buf: &[u8], max_line: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let window = &buf[..buf.len().min(max_line)];
    match window.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = &window[..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok(Some((line, end + 1)))
        }
        None if buf.len() >= max_line => Err(FrameError::TooLong { max: max_line }),
        None => Ok(None),
    }
}

/// Bytes read from a stream, and the whole lines among them. See the module doc.
pub struct Lines {
    buf: Vec<u8>,
    /// The first byte not yet taken as part of a line.
    start: usize,
    /// The end of the bytes read.
    end: usize,
}

impl Lines {
    /// A buffer for lines of at most `max_line` bytes, newline included. Allocates once.
    pub fn new(max_line: usize) -> Lines {
        Lines {
            buf: vec![0; max_line.max(1)],
            start: 0,
            end: 0,
        }
    }

    /// Where the next read goes: the free end of the buffer, after moving the unread bytes to
    /// its front. Empty only when `max_line` bytes with no newline are waiting, which
    /// [`Lines::next_line`] reports as [`FrameError::TooLong`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Counts `n` bytes just read into [`Lines::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Whether a whole line is waiting ("is a whole line here?", apart from taking it).
    pub fn ready(&self) -> Result<bool, FrameError> {
        split_line(&self.buf[self.start..self.end], self.buf.len()).map(|l| l.is_some())
    }

    /// Takes the next whole line (without its `\n` and one `\r` before it); `Ok(None)` while
    /// the bytes so far hold none.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let max = self.buf.len();
        let Some((line, used)) = split_line(&self.buf[self.start..self.end], max)? else {
            return Ok(None);
        };
        let (from, len) = (self.start, line.len());
        self.start += used;
        Ok(Some(&self.buf[from..from + len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_whole_lines_and_waits_for_partial_ones() {
        let s = |b: &'static [u8]| split_line(b, 4096);
        assert_eq!(s(b""), Ok(None));
        assert_eq!(s(b"cmd=RecordStopRe"), Ok(None));
        assert_eq!(s(b"\n"), Ok(Some((&b""[..], 1))));
        assert_eq!(s(b"\r\n"), Ok(Some((&b""[..], 2))));
        assert_eq!(s(b"a=1\nb=2\n"), Ok(Some((&b"a=1"[..], 4))));
        assert_eq!(s(b"a=1\r\nb"), Ok(Some((&b"a=1"[..], 5))));
        // Only the `\r` right before the `\n` goes; one inside the line stays.
        assert_eq!(s(b"a\r=1\r\r\n"), Ok(Some((&b"a\r=1\r"[..], 7))));
    }

    #[test]
    fn a_line_of_exactly_max_line_bytes_is_accepted_and_one_more_is_not() {
        let mut line = vec![b'x'; 7];
        line.push(b'\n');
        assert_eq!(split_line(&line, 8), Ok(Some((&line[..7], 8))));
        assert_eq!(split_line(&line[..7], 8), Ok(None));
        let long = vec![b'x'; 8];
        assert_eq!(split_line(&long, 8), Err(FrameError::TooLong { max: 8 }));
        assert_eq!(split_line(&line, 7), Err(FrameError::TooLong { max: 7 }));
    }

    /// Feeds `input` to a [`Lines`] in reads of `step` bytes; returns the lines and the error.
    fn feed(input: &[u8], step: usize, max: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
        let mut lines = Lines::new(max);
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            loop {
                match lines.next_line() {
                    Ok(Some(l)) => out.push(l.to_vec()),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
            if rest.is_empty() {
                return (out, None);
            }
            let spare = lines.spare();
            let n = step.min(rest.len()).min(spare.len());
            spare[..n].copy_from_slice(&rest[..n]);
            lines.filled(n);
            rest = &rest[n..];
        }
    }

    #[test]
    fn lines_come_out_whole_however_the_bytes_arrive() {
        let input = b"a=1\r\nbb=22\n\nccc=333\npartial";
        for step in 1..input.len() {
            let (got, err) = feed(input, step, 16);
            assert_eq!(err, None, "step {step}");
            assert_eq!(got, [&b"a=1"[..], b"bb=22", b"", b"ccc=333"], "step {step}");
        }
    }

    #[test]
    fn a_peer_that_sends_no_newline_fills_the_buffer_and_no_more() {
        let (got, err) = feed(b"ok\nxxxxxxxxxxxxxxxxxxxxxxxx\n", 5, 8);
        assert_eq!(got, [&b"ok"[..]]);
        assert_eq!(err, Some(FrameError::TooLong { max: 8 }));
        let mut lines = Lines::new(4);
        let n = lines.spare().len();
        // More than the buffer holds counts as full, never past its end.
        lines.filled(n + 10);
        assert!(lines.spare().is_empty());
        assert_eq!(lines.ready(), Err(FrameError::TooLong { max: 4 }));
        assert_eq!(lines.next_line(), Err(FrameError::TooLong { max: 4 }));
    }
}
