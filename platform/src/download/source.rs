//! Where a streamed answer's bytes come from: a Record file as stored, or the WAV decoded from a
//! recording's Record files (a server session's, or one file of a stick). Each call of
//! [`Source::next_block`] reads at most [`BLOCK`] bytes of a file (on a reader thread, see
//! `body.rs`), so memory does not grow with the recording and a slow client holds no thread.

use super::wav::{decode, Cursor, WavPlan};
use crate::store::reader::read_up_to;
use bytes::Bytes;
use callrec_core::audio::g722::G722Decoder;
use callrec_core::audio::wav::WavHeader;
use callrec_core::record_file::HEADER_LEN;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::PathBuf;

/// Input bytes read per block: at most 4 × this of PCM per frame.
pub const BLOCK: usize = 16 * 1024;

/// The bytes of one answer, in order.
#[derive(Debug)]
pub enum Source {
    File(FileBlocks),
    Wav(Box<WavBlocks>),
}

/// What [`Source::next_block_seen`] shows of the stored bytes it reads: the index of the file
/// among the source's files (always 0 for a [`FileBlocks`]), the offset in that file, and the
/// bytes.
pub type Seen<'a> = &'a mut dyn FnMut(usize, u64, &[u8]);

impl Source {
    /// The next block; `None` at the end. An error ends the answer (the client sees it cut).
    pub fn next_block(&mut self) -> io::Result<Option<Bytes>> {
        self.next_block_seen(&mut |_, _, _| {})
    }

    /// As [`Source::next_block`], and shows `seen` the stored bytes the block was made from, in
    /// the order read: a file's bytes as sent (a replaced head included), or the Record data a
    /// WAV block decodes (the Record headers are not read for it).
    pub fn next_block_seen(&mut self, seen: Seen<'_>) -> io::Result<Option<Bytes>> {
        match self {
            Source::File(f) => f.next_block(seen),
            Source::Wav(w) => w.next_block(seen),
        }
    }
}

/// A stretch of a file as stored.
#[derive(Debug)]
pub struct FileBlocks {
    file: File,
    /// What to send instead of the file's first bytes (empty: nothing replaced).
    head: Bytes,
    /// Offset in the file of the next byte to send.
    pos: u64,
    left: u64,
}

impl FileBlocks {
    /// `len` bytes of `file` from `start` on.
    pub fn new(file: File, start: u64, len: u64) -> io::Result<FileBlocks> {
        FileBlocks::with_head(file, Bytes::new(), start, len)
    }

    /// `len` bytes of `file` from `start` on, its first `head.len()` bytes replaced by `head`: a
    /// file still being written is sent with the header read when the answer was planned (which
    /// says how long the answer is), not a newer one that promises more than is sent.
    pub fn with_head(mut file: File, head: Bytes, start: u64, len: u64) -> io::Result<FileBlocks> {
        file.seek(SeekFrom::Start(start.max(head.len() as u64)))?;
        Ok(FileBlocks {
            file,
            head,
            pos: start,
            left: len,
        })
    }

    fn next_block(&mut self, seen: Seen<'_>) -> io::Result<Option<Bytes>> {
        if self.left == 0 {
            return Ok(None);
        }
        let head_len = self.head.len() as u64;
        if self.pos < head_len {
            // Both bounds are within `head`: the casts are exact.
            let to = head_len.min(self.pos + self.left);
            let b = self.head.slice(self.pos as usize..to as usize);
            seen(0, self.pos, &b);
            self.left -= to - self.pos;
            self.pos = to;
            return Ok(Some(b));
        }
        let mut buf = vec![0u8; BLOCK.min(self.left as usize)];
        let n = read_up_to(&mut self.file, &mut buf)?;
        if n == 0 {
            return Err(shrank());
        }
        buf.truncate(n);
        seen(0, self.pos, &buf);
        self.left -= n as u64;
        self.pos += n as u64;
        Ok(Some(Bytes::from(buf)))
    }
}

/// The WAV of a session, bytes `pos..end` of it.
#[derive(Debug)]
pub struct WavBlocks {
    /// The session's Record files, in order, one per part of the plan.
    files: Vec<PathBuf>,
    plan: WavPlan,
    header: WavHeader,
    pos: u64,
    end: u64,
    open: Option<OpenPart>,
    input: Box<[u8; BLOCK]>,
}

#[derive(Debug)]
struct OpenPart {
    part: usize,
    file: File,
    /// Input bytes of the part still to read.
    left: u64,
    /// Offset in the file of the next byte read.
    at: u64,
    /// Output bytes still to drop (a range that starts inside a G.722 file).
    discard: u64,
    g722: G722Decoder,
}

impl WavBlocks {
    /// Bytes `start..end` of the WAV of `files` (one per part of `plan`).
    pub fn new(files: Vec<PathBuf>, plan: WavPlan, start: u64, end: u64) -> WavBlocks {
        WavBlocks {
            files,
            header: plan.header(),
            plan,
            pos: start,
            end,
            open: None,
            input: Box::new([0; BLOCK]),
        }
    }

    fn next_block(&mut self, seen: Seen<'_>) -> io::Result<Option<Bytes>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let header_len = self.header.len() as u64;
        if self.pos < header_len {
            // Both bounds are within the header (at most 58 bytes): the casts are exact.
            let to = self.end.min(header_len);
            let b = Bytes::copy_from_slice(&self.header[self.pos as usize..to as usize]);
            self.pos = to;
            return Ok(Some(b));
        }
        loop {
            let rate = self.plan.rate();
            let open = match self.open.as_mut() {
                Some(open) => open,
                None => {
                    let at = self.pos - header_len;
                    let cursor = self.plan.locate(at).ok_or_else(shrank)?;
                    self.open.insert(self.open_part(cursor)?)
                }
            };
            // `open.part` came from `locate`: an index of the plan's parts.
            let codec = self.plan.parts()[open.part].codec;
            let want = (BLOCK as u64).min(open.left) as usize;
            let n = read_up_to(&mut open.file, &mut self.input[..want])?;
            if n == 0 {
                return Err(shrank());
            }
            seen(open.part, open.at, &self.input[..n]);
            open.left -= n as u64;
            open.at += n as u64;
            let mut out = Vec::with_capacity(n * self.plan.scale(codec) as usize);
            decode(codec, rate, &mut open.g722, &self.input[..n], &mut out);
            // `drop` is at most `out.len()`: the cast is exact.
            let drop = open.discard.min(out.len() as u64) as usize;
            open.discard -= drop as u64;
            if open.left == 0 {
                self.open = None;
            }
            if drop == out.len() {
                continue;
            }
            let keep = ((out.len() - drop) as u64).min(self.end - self.pos) as usize;
            self.pos += keep as u64;
            let mut bytes = Bytes::from(out);
            return Ok(Some(bytes.split_off(drop).split_to(keep)));
        }
    }

    fn open_part(&self, c: Cursor) -> io::Result<OpenPart> {
        let path = self.files.get(c.part).ok_or_else(shrank)?;
        let mut file = File::open(path)?;
        let at = HEADER_LEN as u64 + c.input;
        file.seek(SeekFrom::Start(at))?;
        Ok(OpenPart {
            part: c.part,
            file,
            left: self.plan.parts()[c.part].data_len - c.input,
            at,
            discard: c.discard,
            g722: G722Decoder::new(),
        })
    }
}

fn shrank() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while serving it")
}
