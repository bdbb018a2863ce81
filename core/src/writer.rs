//! Plans the writes of a recording into `Record_…` files, without doing any.
//!
//! The writer is the timeline's [`AudioSink`]: audio bytes wait in a fixed ring, silence waits
//! as a count of ticks. When the caller asks for a flush it hands out [`FileOp`]s one at a time:
//! open the next file, append a batch, commit the header and sync, close. It splits the data at
//! the size limit on a frame boundary (rollover), pads the last frame of a closed file with
//! silence, and starts a new file when the codec changes. A batch is at most [`BATCH`] bytes, so
//! one second of audio (8000 bytes) is one append and one header commit.

use super::codec::Codec;
use super::record_file::{Header, FAT32_MAX_FILE, HEADER_LEN};
use super::timeline::AudioSink;

/// Bytes of audio that can wait for a flush (4 s of any of our codecs).
pub const RING: usize = 32 * 1024;
/// Largest single append.
pub const BATCH: usize = 16 * 1024;
/// Pending segments (runs of audio or silence, codec changes) that can wait for a flush.
const SEGMENTS: usize = 64;
/// Smallest size limit: the header and a few frames of the largest payload.
pub const MIN_SIZE_LIMIT: u64 = 16 * 1024;

/// One thing to do to the stick.
#[derive(Debug, PartialEq, Eq)]
pub enum FileOp<'a> {
    /// Create the next `Record_…` file and write this header (its `data_size` is 0).
    Open(Header),
    /// Append these bytes to the open file.
    Append(&'a [u8]),
    /// Rewrite the header in place, then flush the file's data to the device (fdatasync).
    Commit(Header),
    /// Rewrite the final header, sync and close the file.
    Close(Header),
}

/// A [`FileOp`] before it borrows the scratch buffer.
enum Planned {
    Open(Header),
    Append(usize),
    Commit(Header),
    Close(Header),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Audio(usize),
    Silence(u64),
    Codec(Codec, u32),
}

#[derive(Debug, Clone, Copy)]
struct OpenFile {
    header: Header,
    /// Data bytes the header on disk says (after the last commit).
    committed: u32,
    /// Most data bytes this file takes: whole frames within the size limit.
    capacity: u32,
}

/// See the module doc.
#[derive(Debug)]
pub struct RecordWriter {
    size_limit: u64,
    ring: Box<[u8]>,
    ring_start: usize,
    ring_len: usize,
    segments: heapless::Deque<Segment, SEGMENTS>,
    scratch: Box<[u8]>,
    /// Codec of the data at the head of the queue (set when its `Codec` segment is consumed).
    codec: Option<(Codec, u32)>,
    /// Codec last announced by the timeline (tail of the queue).
    tail_codec: Option<Codec>,
    /// Silence heard before any codec was known (a call that starts in comfort noise).
    silence_before_codec: u64,
    file: Option<OpenFile>,
    flushing: bool,
    /// The flush under way only opens a new file: no header commit or sync (the timer's next
    /// commit does that), so opening costs no extra header write.
    open_only: bool,
    closing: bool,
    files_closed: u32,
    /// Ticks turned into silence because the queue was full (the caller stopped draining).
    overflow_ticks: u64,
}

impl RecordWriter {
    /// A writer that rolls over at `size_limit` bytes per file (header included).
    pub fn new(size_limit: u64) -> RecordWriter {
        RecordWriter {
            size_limit: clamp_limit(size_limit),
            ring: vec![0; RING].into_boxed_slice(),
            ring_start: 0,
            ring_len: 0,
            segments: heapless::Deque::new(),
            scratch: vec![0; BATCH].into_boxed_slice(),
            codec: None,
            tail_codec: None,
            silence_before_codec: 0,
            file: None,
            flushing: false,
            open_only: false,
            closing: false,
            files_closed: 0,
            overflow_ticks: 0,
        }
    }

    /// Forgets everything for a new recording, keeping the buffers. Pending data is dropped.
    pub fn reset(&mut self, size_limit: u64) {
        self.size_limit = clamp_limit(size_limit);
        self.ring_start = 0;
        self.ring_len = 0;
        self.segments.clear();
        self.codec = None;
        self.tail_codec = None;
        self.silence_before_codec = 0;
        self.file = None;
        self.flushing = false;
        self.open_only = false;
        self.closing = false;
        self.files_closed = 0;
        self.overflow_ticks = 0;
    }

    /// Bytes waiting to be written (audio in the ring; silence is not counted).
    pub fn pending_audio(&self) -> usize {
        self.ring_len
    }

    /// Bytes waiting to be written, silence included.
    pub fn pending_bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match *s {
                Segment::Audio(n) => n as u64,
                Segment::Silence(t) => t,
                Segment::Codec(..) => 0,
            })
            .sum()
    }

    /// True when the queue is filling up and should be flushed now rather than on the timer.
    pub fn wants_flush(&self) -> bool {
        self.ring_len >= RING * 3 / 4 || self.segments.len() >= SEGMENTS * 3 / 4
    }

    /// Ask for everything pending to be written and the header committed.
    pub fn flush(&mut self) {
        self.flushing = true;
        self.open_only = false;
    }

    /// Ask for everything pending to be written and the file closed.
    pub fn close(&mut self) {
        self.flushing = true;
        self.open_only = false;
        self.closing = true;
    }

    /// The open file's header as it will be after the pending appends.
    pub fn current(&self) -> Option<Header> {
        self.file.map(|f| f.header)
    }

    /// Files closed so far in this recording.
    pub fn files_closed(&self) -> u32 {
        self.files_closed
    }

    pub fn overflow_ticks(&self) -> u64 {
        self.overflow_ticks
    }

    /// True when nothing is pending and no flush or close is under way.
    pub fn is_idle(&self) -> bool {
        !self.flushing && self.segments.is_empty()
    }

    /// The next operation, while a flush or close is under way.
    pub fn poll_op(&mut self) -> Option<FileOp<'_>> {
        Some(match self.plan()? {
            Planned::Open(h) => FileOp::Open(h),
            Planned::Append(n) => FileOp::Append(&self.scratch[..n]),
            Planned::Commit(h) => FileOp::Commit(h),
            Planned::Close(h) => FileOp::Close(h),
        })
    }

    fn plan(&mut self) -> Option<Planned> {
        if !self.flushing {
            return None;
        }
        loop {
            match self.segments.front().copied() {
                Some(Segment::Codec(codec, frame)) => {
                    if let Some(op) = self.finish_file() {
                        return Some(op);
                    }
                    self.segments.pop_front();
                    self.codec = Some((codec, frame));
                }
                Some(_) => {
                    let Some((codec, frame)) = self.codec else {
                        // Data is only queued after its codec; drop anything that is not.
                        self.segments.pop_front();
                        continue;
                    };
                    let Some(file) = self.file else {
                        let header = Header {
                            codec,
                            rtp_len: frame,
                            increment: frame,
                            data_size: 0,
                        };
                        let capacity = capacity(self.size_limit, frame);
                        self.file = Some(OpenFile {
                            header,
                            committed: 0,
                            capacity,
                        });
                        return Some(Planned::Open(header));
                    };
                    if file.header.data_size >= file.capacity {
                        if let Some(op) = self.finish_file() {
                            return Some(op);
                        }
                        continue;
                    }
                    let room = (file.capacity - file.header.data_size) as usize;
                    let n = self.fill_scratch(room.min(BATCH));
                    if let Some(f) = self.file.as_mut() {
                        f.header.data_size += n as u32;
                    }
                    return Some(Planned::Append(n));
                }
                None => {
                    if self.closing {
                        if let Some(op) = self.finish_file() {
                            return Some(op);
                        }
                        self.closing = false;
                    }
                    self.flushing = false;
                    if core::mem::take(&mut self.open_only) {
                        return None;
                    }
                    let f = self.file.as_mut()?;
                    if f.committed == f.header.data_size {
                        return None;
                    }
                    f.committed = f.header.data_size;
                    return Some(Planned::Commit(f.header));
                }
            }
        }
    }

    /// Pads the open file to whole frames and closes it; `None` once no file is open.
    fn finish_file(&mut self) -> Option<Planned> {
        let file = self.file.as_mut()?;
        let frame = file.header.rtp_len;
        let partial = file.header.data_size % frame;
        if partial != 0 {
            let pad = (frame - partial) as usize;
            let silence = file.header.codec.silence_byte();
            file.header.data_size += pad as u32;
            let pad = pad.min(BATCH);
            self.scratch[..pad].fill(silence);
            return Some(Planned::Append(pad));
        }
        let header = file.header;
        self.file = None;
        self.files_closed += 1;
        Some(Planned::Close(header))
    }

    /// Moves up to `max` bytes of queued data into the scratch buffer.
    fn fill_scratch(&mut self, max: usize) -> usize {
        let silence = self.codec.map_or(0, |c| c.0.silence_byte());
        let mut n = 0;
        while n < max {
            let Some(seg) = self.segments.front_mut() else {
                break;
            };
            match seg {
                Segment::Audio(len) => {
                    let take = (*len).min(max - n);
                    let first = take.min(RING - self.ring_start);
                    self.scratch[n..n + first]
                        .copy_from_slice(&self.ring[self.ring_start..self.ring_start + first]);
                    self.scratch[n + first..n + take].copy_from_slice(&self.ring[..take - first]);
                    self.ring_start = (self.ring_start + take) % RING;
                    self.ring_len -= take;
                    n += take;
                    *len -= take;
                    if *len == 0 {
                        self.segments.pop_front();
                    }
                }
                Segment::Silence(ticks) => {
                    let take = (*ticks).min((max - n) as u64) as usize;
                    self.scratch[n..n + take].fill(silence);
                    n += take;
                    *ticks -= take as u64;
                    if *ticks == 0 {
                        self.segments.pop_front();
                    }
                }
                Segment::Codec(..) => break,
            }
        }
        n
    }

    fn push_segment(&mut self, seg: Segment) -> bool {
        match (self.segments.back_mut(), seg) {
            (Some(Segment::Audio(a)), Segment::Audio(b)) => *a += b,
            (Some(Segment::Silence(a)), Segment::Silence(b)) => *a += b,
            _ => return self.segments.push_back(seg).is_ok(),
        }
        true
    }
}

impl AudioSink for RecordWriter {
    fn set_codec(&mut self, codec: Codec, frame_len: usize) {
        let frame = frame_len.clamp(1, BATCH) as u32;
        // A codec segment cannot merge; if the queue is full the caller has stopped draining
        // and the data that follows is lost anyway, so this failure is counted with it.
        let _ = self.segments.push_back(Segment::Codec(codec, frame));
        self.tail_codec = Some(codec);
        // The file opens with its first audio, so the user sees it at once.
        if !self.flushing {
            self.flushing = true;
            self.open_only = true;
        }
        if self.silence_before_codec > 0 {
            let ticks = core::mem::take(&mut self.silence_before_codec);
            self.silence(ticks);
        }
    }

    fn silence(&mut self, ticks: u64) {
        if self.tail_codec.is_none() {
            self.silence_before_codec += ticks;
        } else if !self.push_segment(Segment::Silence(ticks)) {
            self.overflow_ticks += ticks;
        }
    }

    fn audio(&mut self, payload: &[u8]) {
        if self.tail_codec.is_none() {
            return;
        }
        if RING - self.ring_len < payload.len() {
            // The caller has not drained for seconds: keep the timeline true with silence.
            self.overflow_ticks += payload.len() as u64;
            self.silence(payload.len() as u64);
            return;
        }
        if !self.push_segment(Segment::Audio(payload.len())) {
            self.overflow_ticks += payload.len() as u64;
            return;
        }
        let end = (self.ring_start + self.ring_len) % RING;
        let first = payload.len().min(RING - end);
        self.ring[end..end + first].copy_from_slice(&payload[..first]);
        self.ring[..payload.len() - first].copy_from_slice(&payload[first..]);
        self.ring_len += payload.len();
    }
}

/// Keeps a size limit between [`MIN_SIZE_LIMIT`] and what FAT32 holds.
pub fn clamp_limit(limit: u64) -> u64 {
    limit.clamp(MIN_SIZE_LIMIT, FAT32_MAX_FILE)
}

/// Data bytes a file may hold: whole frames that keep the file within `limit`.
fn capacity(limit: u64, frame: u32) -> u32 {
    let data = limit - HEADER_LEN as u64;
    let frames = (data / u64::from(frame)).max(1);
    (frames * u64::from(frame)).min(u64::from(u32::MAX) / u64::from(frame) * u64::from(frame))
        as u32
}

#[cfg(test)]
mod tests;
