//! The PCM16 WAV made on the fly from a recording's Record files (one or more, in order): its length, its header, which
//! input byte makes which output byte (for `Range`), and the decoding of one block. No I/O.
//!
//! - G.711 (PCMA, PCMU) becomes 8 kHz PCM16, G.722 16 kHz PCM16. A session whose files mix the
//!   two (the far end changed codec mid-call) is served at 16 kHz, its G.711 samples doubled.
//! - The files are concatenated in order under one header that holds the total length. The
//!   G.722 decoder starts afresh with each file, as `callrec export` does for one file.
//! - The data chunk's length is a 32-bit field: past 4 GiB of PCM (about 37 h of G.722, 74 h of
//!   G.711) the header says `u32::MAX` ("read to the end") and the data still follows in full.

use callrec_core::audio::g711::{alaw_to_linear, ulaw_to_linear};
use callrec_core::audio::g722::G722Decoder;
use callrec_core::audio::wav::{wav_header, WavFormat, WavHeader};
use callrec_core::codec::Codec;

/// One Record file of the session: its codec and the audio bytes it holds that can be trusted
/// (after header recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub codec: Codec,
    pub data_len: u64,
}

/// Where the output byte at some offset comes from: decode part `part` from input byte `input`
/// on and drop the first `discard` output bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub part: usize,
    pub input: u64,
    pub discard: u64,
}

/// The WAV of one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavPlan {
    parts: Vec<Part>,
    rate: u32,
}

impl WavPlan {
    /// The WAV of `parts`; `codec` (the session's) picks the rate when there is no part.
    pub fn new(parts: Vec<Part>, codec: Codec) -> WavPlan {
        let wide = if parts.is_empty() {
            codec == Codec::G722
        } else {
            parts.iter().any(|p| p.codec == Codec::G722)
        };
        WavPlan {
            parts,
            rate: if wide { 16_000 } else { 8000 },
        }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Samples per second of the output.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Output bytes per input byte of `codec`: a G.711 byte is one sample (two at 16 kHz), a
    /// G.722 byte two 16 kHz samples; two bytes per sample.
    pub fn scale(&self, codec: Codec) -> u64 {
        match (codec, self.rate) {
            (Codec::G722, _) | (_, 16_000) => 4,
            _ => 2,
        }
    }

    /// Bytes of PCM after the header.
    pub fn data_len(&self) -> u64 {
        self.parts
            .iter()
            .map(|p| p.data_len * self.scale(p.codec))
            .sum()
    }

    pub fn header(&self) -> WavHeader {
        let data_len = u32::try_from(self.data_len()).unwrap_or(u32::MAX);
        wav_header(
            WavFormat::Pcm16 {
                sample_rate: self.rate,
            },
            data_len,
        )
    }

    /// Length of the whole answer: header and PCM (always even, so never a pad byte).
    // Never empty (the header is always there): no `is_empty` to go with it.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        WavFormat::Pcm16 {
            sample_rate: self.rate,
        }
        .header_len() as u64
            + self.data_len()
    }

    /// Duration of the audio in ms (rounded down).
    pub fn duration_ms(&self) -> u64 {
        self.data_len() / 2 * 1000 / u64::from(self.rate)
    }

    /// Where data byte `at` (counted from the start of the data, after the header) comes from;
    /// `None` past the end.
    pub fn locate(&self, at: u64) -> Option<Cursor> {
        let mut base = 0;
        for (i, p) in self.parts.iter().enumerate() {
            let scale = self.scale(p.codec);
            let len = p.data_len * scale;
            if at < base + len {
                let within = at - base;
                // G.722 is adaptive: the samples depend on every byte before, so decode the file
                // from its start and drop what precedes. G.711 is byte by byte.
                return Some(match p.codec {
                    Codec::G722 => Cursor {
                        part: i,
                        input: 0,
                        discard: within,
                    },
                    _ => Cursor {
                        part: i,
                        input: within / scale,
                        discard: within % scale,
                    },
                });
            }
            base += len;
        }
        None
    }
}

/// Decodes `input` of `codec` to PCM16 little-endian at `rate`, appended to `out`.
pub fn decode(codec: Codec, rate: u32, g722: &mut G722Decoder, input: &[u8], out: &mut Vec<u8>) {
    let law: fn(u8) -> i16 = match codec {
        Codec::Pcma => alaw_to_linear,
        Codec::Pcmu => ulaw_to_linear,
        Codec::G722 => {
            let mut pcm = [0i16; 512];
            for chunk in input.chunks(pcm.len() / 2) {
                let n = g722.decode(chunk, &mut pcm);
                for s in &pcm[..n] {
                    out.extend_from_slice(&s.to_le_bytes());
                }
            }
            return;
        }
    };
    for &b in input {
        let s = law(b).to_le_bytes();
        out.extend_from_slice(&s);
        if rate == 16_000 {
            out.extend_from_slice(&s);
        }
    }
}
