//! The phone's Record file (`../shared/spec/record-file.md`, mirrored in `docs/record-file.md`).
//!
//! A 76-byte little-endian header (`codec[64]`, `rtpLen`, `increment`, `dataSize`) followed by
//! whole frames of RTP payload. This module only encodes, decodes and reasons about sizes; the
//! bytes come from and go to the caller.

use super::codec::{Codec, RTP_CLOCK_HZ};
use core::fmt;

/// Length of the header in bytes.
pub const HEADER_LEN: usize = 76;
const CODEC_FIELD_LEN: usize = 64;

/// Largest file FAT32 can hold is 4 GiB − 1; a size limit must stay below it.
pub const FAT32_MAX_FILE: u64 = u32::MAX as u64;

/// The Record file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub codec: Codec,
    /// Bytes of audio in one frame.
    pub rtp_len: u32,
    /// RTP timestamp increment of one frame.
    pub increment: u32,
    /// Bytes of audio data after the header.
    pub data_size: u32,
}

/// Why a header could not be read. The file is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than 76 bytes.
    TooShort { len: u64 },
    /// The codec field is not PCMA, PCMU or G722 (NUL-padded ASCII).
    UnknownCodec,
    /// rtpLen is zero, negative or absurd.
    BadFrameLength(i32),
    /// increment is zero, negative or absurd.
    BadIncrement(i32),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::TooShort { len } => {
                write!(
                    f,
                    "file is {len} bytes, shorter than the {HEADER_LEN}-byte header"
                )
            }
            HeaderError::UnknownCodec => f.write_str("codec field is not PCMA, PCMU or G722"),
            HeaderError::BadFrameLength(n) => write!(f, "rtpLen {n} is not a usable frame size"),
            HeaderError::BadIncrement(n) => write!(f, "increment {n} is not a usable value"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Frame sizes above this are not plausible RTP payloads (a 1500-byte MTU carries at most ~1460).
const MAX_FRAME: i32 = 65_535;

impl Header {
    /// Encodes the header as it sits at the start of the file.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let name = self.codec.name().as_bytes();
        out[..name.len()].copy_from_slice(name);
        out[64..68].copy_from_slice(&(self.rtp_len as i32).to_le_bytes());
        out[68..72].copy_from_slice(&(self.increment as i32).to_le_bytes());
        out[72..76].copy_from_slice(&self.data_size.to_le_bytes());
        out
    }

    /// Decodes and validates a header.
    pub fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(HeaderError::TooShort {
                len: bytes.len() as u64,
            });
        };
        let field = &bytes[..CODEC_FIELD_LEN];
        let end = field
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(CODEC_FIELD_LEN);
        // Everything after the name must be NUL padding.
        if field[end..].iter().any(|&b| b != 0) {
            return Err(HeaderError::UnknownCodec);
        }
        let codec = core::str::from_utf8(&field[..end])
            .ok()
            .and_then(Codec::from_name)
            .ok_or(HeaderError::UnknownCodec)?;
        let rtp_len = le_i32(&bytes[64..68]);
        let increment = le_i32(&bytes[68..72]);
        if !(1..=MAX_FRAME).contains(&rtp_len) {
            return Err(HeaderError::BadFrameLength(rtp_len));
        }
        if !(1..=MAX_FRAME).contains(&increment) {
            return Err(HeaderError::BadIncrement(increment));
        }
        Ok(Header {
            codec,
            rtp_len: rtp_len as u32,
            increment: increment as u32,
            data_size: u32::from_le_bytes([bytes[72], bytes[73], bytes[74], bytes[75]]),
        })
    }

    /// Whole frames in `data_size`.
    pub fn frames(&self) -> u64 {
        u64::from(self.data_size) / u64::from(self.rtp_len)
    }

    /// Duration in ms as the phone computes it: `dataSize / rtpLen * increment * 1000 / 8000`.
    pub fn duration_ms(&self) -> u64 {
        self.frames() * u64::from(self.increment) * 1000 / u64::from(RTP_CLOCK_HZ)
    }

    /// Byte offset into the data (not counting the header) of the frame that holds time `ms`,
    /// clamped to the end of the data. Seeking is by whole frames, as on the phone.
    pub fn data_offset_at_ms(&self, ms: u64) -> u64 {
        let ticks = ms.saturating_mul(u64::from(RTP_CLOCK_HZ)) / 1000;
        let frame = (ticks / u64::from(self.increment)).min(self.frames());
        frame * u64::from(self.rtp_len)
    }
}

fn le_i32(b: &[u8]) -> i32 {
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// What a reader makes of a header and the file's real length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// The header with `data_size` set to the audio that can be trusted.
    pub header: Header,
    /// The header's `dataSize` did not match what the file holds (power cut or kill -9).
    pub stale: bool,
    /// `dataSize` as written in the file.
    pub header_data_size: u32,
}

/// Reconciles the header with the file length (spec: "After a power cut").
///
/// When the header says less than the file holds, the data is `min(file length − 76, whole
/// frames on disk)`. When the header says more than the file holds (the header reached the disk
/// before the data), only the whole frames on disk count. Both are reported as stale.
pub fn recover(header: Header, file_len: u64) -> Recovered {
    let on_disk = file_len
        .saturating_sub(HEADER_LEN as u64)
        .min(FAT32_MAX_FILE);
    let rtp_len = u64::from(header.rtp_len);
    let whole_on_disk = on_disk / rtp_len * rtp_len;
    let claimed = u64::from(header.data_size);
    let (data, stale) = if claimed == on_disk && claimed % rtp_len == 0 {
        (claimed, false)
    } else if claimed < on_disk {
        // Trailing bytes past the claim: take every whole frame that reached the disk, but never
        // less than a claim that is itself on disk.
        (whole_on_disk.max(claimed), true)
    } else {
        (whole_on_disk.min(claimed), true)
    };
    Recovered {
        header: Header {
            data_size: data as u32,
            ..header
        },
        stale,
        header_data_size: header.data_size,
    }
}

/// Name of the `n`th file opened in the same second (`n` starts at 1):
/// `Record_YYYYMMDD_HHMMSS.wav`, then `Record_YYYYMMDD_HHMMSS_2.wav`, …
pub fn file_name(stamp: &LocalTime, n: u32) -> heapless::String<40> {
    use core::fmt::Write;
    let mut s = heapless::String::new();
    // The longest name, Record_YYYYMMDD_HHMMSS_4294967295.wav, is 37 bytes: writes cannot fail.
    let _ = write!(
        s,
        "Record_{:04}{:02}{:02}_{:02}{:02}{:02}",
        stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second
    );
    if n > 1 {
        let _ = write!(s, "_{n}");
    }
    let _ = s.push_str(".wav");
    s
}

/// True for exactly the names the agent writes ([`file_name`]): `Record_YYYYMMDD_HHMMSS.wav`,
/// or with `_N` before `.wav` for the Nth file of a second (2 to 99, no leading zero), with a
/// plausible date and time. Nothing else: no other characters, no percent-encoding. Used to
/// pick the files to repair, list, serve or delete, before anything touches the file system.
pub fn is_record_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("Record_")
        .and_then(|r| r.strip_suffix(".wav"))
    else {
        return false;
    };
    let b = rest.as_bytes();
    if b.len() < 15 || b[8] != b'_' || !b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit) {
        return false;
    }
    // All ASCII digits (checked above): no underflow.
    let num = |s: &[u8]| s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let (month, day) = (num(&b[4..6]), num(&b[6..8]));
    let (hour, minute, second) = (num(&b[9..11]), num(&b[11..13]), num(&b[13..15]));
    // A leap second (60) is a time the clock may give.
    let stamp = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60;
    // `_N`: 2 to 99, without a leading zero.
    stamp
        && matches!(
            &b[15..],
            [] | [b'_', b'2'..=b'9'] | [b'_', b'1'..=b'9', b'0'..=b'9']
        )
}

/// A local wall-clock time, as the phone shows it. Supplied by the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalTime {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

pub mod testing;

#[cfg(test)]
mod tests;
