//! Reading a WAV clip for the simulator: RIFF, 16-bit PCM, any sample rate, mono or stereo.
//!
//! The clip is whatever an integrator has at hand (a phone's prompt, a recording made with
//! `arecord` or Audacity), so the reader walks the chunks rather than assuming the 44-byte
//! layout, accepts WAVE_FORMAT_EXTENSIBLE when its sub-format is PCM, and tolerates a `data`
//! length that runs past the end of the file (streamed WAVs write 0 or 0xFFFFFFFF there).
//! Anything else is a [`WavError`] saying what the file is, never a panic. Stereo is mixed down
//! to mono here; resampling is the media module's.

use core::fmt;

/// A mono clip at its own sample rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    pub rate: u32,
    pub samples: Vec<i16>,
}

/// Lowest and highest sample rates accepted (telephone band to studio rates).
pub const MIN_RATE: u32 = 1000;
pub const MAX_RATE: u32 = 384_000;

/// Format tags of the `fmt ` chunk.
const TAG_PCM: u16 = 1;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Why a file is not a clip the simulator can play. The file is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WavError {
    /// No `RIFF…WAVE` at the start.
    NotWave,
    /// No `fmt ` chunk before the end of the file, or one shorter than 16 bytes.
    NoFormat,
    /// No `data` chunk.
    NoData,
    /// A format the simulator does not read (float, A-law, 8 or 24 bits, 6 channels, …).
    Unsupported(String),
    /// The `data` chunk holds no whole sample frame.
    NoSamples,
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavError::NotWave => f.write_str("not a WAV file (no RIFF/WAVE header)"),
            WavError::NoFormat => f.write_str("malformed WAV: no complete \"fmt \" chunk"),
            WavError::NoData => f.write_str("malformed WAV: no \"data\" chunk"),
            WavError::Unsupported(what) => {
                write!(
                    f,
                    "unsupported WAV ({what}): only 16-bit PCM, mono or stereo"
                )
            }
            WavError::NoSamples => f.write_str("the WAV file holds no samples"),
        }
    }
}

impl std::error::Error for WavError {}

struct Format {
    channels: u16,
    rate: u32,
}

/// Parses a whole WAV file.
pub fn parse_wav(bytes: &[u8]) -> Result<Clip, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWave);
    }
    let mut format = None;
    let mut data = None;
    let mut pos = 12usize;
    while let Some(head) = pos.checked_add(8).and_then(|e| bytes.get(pos..e)) {
        let id = &head[0..4];
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let start = pos + 8;
        let end = start.saturating_add(size);
        match id {
            b"fmt " => {
                let body = bytes.get(start..end).ok_or(WavError::NoFormat)?;
                format = Some(parse_format(body)?);
            }
            // A data length past the end of the file: take what is there.
            b"data" => data = Some(&bytes[start..end.min(bytes.len())]),
            _ => {}
        }
        // Chunks are word-aligned: an odd size is followed by a pad byte.
        pos = end.saturating_add(size & 1);
    }
    let format = format.ok_or(WavError::NoFormat)?;
    let data = data.ok_or(WavError::NoData)?;
    let frame = 2 * usize::from(format.channels);
    let samples: Vec<i16> = data
        .chunks_exact(frame)
        .map(|f| {
            let left = i32::from(i16::from_le_bytes([f[0], f[1]]));
            if format.channels == 2 {
                let right = i32::from(i16::from_le_bytes([f[2], f[3]]));
                // The mean of two i16 values fits an i16.
                ((left + right) / 2) as i16
            } else {
                left as i16
            }
        })
        .collect();
    if samples.is_empty() {
        return Err(WavError::NoSamples);
    }
    Ok(Clip {
        rate: format.rate,
        samples,
    })
}

fn parse_format(body: &[u8]) -> Result<Format, WavError> {
    if body.len() < 16 {
        return Err(WavError::NoFormat);
    }
    let u16_at = |i: usize| u16::from_le_bytes([body[i], body[i + 1]]);
    let mut tag = u16_at(0);
    let channels = u16_at(2);
    let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    let block_align = u16_at(12);
    let bits = u16_at(14);
    if tag == TAG_EXTENSIBLE {
        // cbSize (2), valid bits (2), channel mask (4), then the sub-format GUID whose first
        // two bytes are the plain format tag.
        tag = match body.get(24..26) {
            Some(b) => u16::from_le_bytes([b[0], b[1]]),
            None => return Err(WavError::NoFormat),
        };
    }
    if tag != TAG_PCM {
        let name = match tag {
            3 => "IEEE float",
            6 => "A-law",
            7 => "μ-law",
            _ => "compressed",
        };
        return Err(WavError::Unsupported(format!("format tag {tag}, {name}")));
    }
    if bits != 16 {
        return Err(WavError::Unsupported(format!("{bits} bits per sample")));
    }
    if !(1..=2).contains(&channels) {
        return Err(WavError::Unsupported(format!("{channels} channels")));
    }
    if block_align != 2 * channels {
        return Err(WavError::Unsupported(format!(
            "block align {block_align} for {channels} channels"
        )));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&rate) {
        return Err(WavError::Unsupported(format!("sample rate {rate} Hz")));
    }
    Ok(Format { channels, rate })
}

#[cfg(test)]
mod tests;
