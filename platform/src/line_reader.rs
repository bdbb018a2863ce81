//! Blocking reads of whole lines through the one framer (`callrec_core::line`), for the
//! programs that talk to the agent as its clients: `callrec ctl` and the simulator.

use callrec_core::line::{FrameError, Lines};
use std::io::{self, Read};

/// A stream and the lines read from it.
pub struct LineReader<R> {
    inner: R,
    lines: Lines,
}

impl<R: Read> LineReader<R> {
    /// Lines of at most `max_line` bytes from `inner`; a longer one is an error.
    pub fn new(inner: R, max_line: usize) -> LineReader<R> {
        LineReader {
            inner,
            lines: Lines::new(max_line),
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The next whole line, without its `\n` (and one `\r` before it); `Ok(None)` at the end
    /// of the stream. A read error, a timeout included, keeps what was read before it, so a
    /// line split across reads still comes out whole at a later call. A line longer than the
    /// limit is [`io::ErrorKind::InvalidData`].
    pub fn read_line(&mut self) -> io::Result<Option<&[u8]>> {
        let invalid = |e: FrameError| io::Error::new(io::ErrorKind::InvalidData, e);
        while !self.lines.ready().map_err(invalid)? {
            let n = self.inner.read(self.lines.spare())?;
            if n == 0 {
                return Ok(None);
            }
            self.lines.filled(n);
        }
        self.lines.next_line().map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives its bytes a few at a time, with a timeout between every two reads.
    struct Trickle {
        data: &'static [u8],
        timeout_next: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.timeout_next = !self.timeout_next;
            if !self.timeout_next {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(3).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_split_across_reads_and_timeouts_come_out_whole() {
        let mut r = LineReader::new(
            Trickle {
                data: b"{\"ok\":true}\r\nevent two\nrest",
                timeout_next: false,
            },
            64,
        );
        let mut got = Vec::new();
        loop {
            match r.read_line() {
                Ok(Some(line)) => got.push(String::from_utf8(line.to_vec()).unwrap()),
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, ["{\"ok\":true}", "event two"]);
    }

    #[test]
    fn an_over_long_line_is_invalid_data() {
        let mut r = LineReader::new(&b"0123456789\n"[..], 8);
        assert_eq!(
            r.read_line().unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
