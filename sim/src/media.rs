//! What the simulated media engine says: a sine or a clip, at the codec's sample rate, encoded
//! one packet time at a time.
//!
//! Pure: samples in, payload bytes out. The position in the audio is an argument (the stream
//! derives it from the wall-clock frame index), so a call put on hold comes back later in the
//! clip, as a real conversation would, and the clip loops when the call outlasts it.

use super::wav::Clip;
use callrec_core::audio::g711::{linear_to_alaw, linear_to_ulaw};
use callrec_core::audio::g722::G722Encoder;
use callrec_core::codec::Codec;

/// Longest packet time the simulator sends, in ms.
pub const MAX_PTIME_MS: u32 = 60;
/// Shortest packet time.
pub const MIN_PTIME_MS: u32 = 10;
/// Samples in the longest frame at the highest rate (60 ms of G.722 at 16 kHz).
pub const MAX_FRAME_SAMPLES: usize = (MAX_PTIME_MS as usize) * 16;
/// Payload bytes in the longest frame: every codec here is one byte per 8 kHz clock tick.
pub const MAX_PAYLOAD: usize = (MAX_PTIME_MS as usize) * 8;
/// Peak of the generated sine: a quarter of full scale (about −12 dBFS), loud but never clipped.
pub const SINE_AMPLITUDE: f64 = 8192.0;

/// The audio the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Audio {
    /// A sine of this frequency in Hz.
    Sine(f64),
    /// A clip at its own rate, mono.
    Clip(Clip),
}

/// The codec's sample rate: 8 kHz for G.711, 16 kHz for G.722.
pub fn sample_rate(codec: Codec) -> u32 {
    match codec {
        Codec::G722 => 16_000,
        Codec::Pcma | Codec::Pcmu => 8000,
    }
}

/// Audio ready for one codec: at its sample rate, addressed by sample index.
#[derive(Debug, Clone, PartialEq)]
pub enum Samples {
    Sine {
        hz: f64,
        rate: u32,
    },
    /// A clip resampled to the codec's rate, never empty; it loops.
    Looped(Vec<i16>),
}

impl Samples {
    /// Prepares `audio` for a codec running at `rate` Hz.
    pub fn new(audio: &Audio, rate: u32) -> Samples {
        match audio {
            Audio::Sine(hz) => Samples::Sine { hz: *hz, rate },
            Audio::Clip(clip) => {
                let mut v = resample(&clip.samples, clip.rate, rate);
                if v.is_empty() {
                    // A clip of a few samples at a high rate: one sample of it rather than none.
                    v.push(clip.samples.first().copied().unwrap_or(0));
                }
                Samples::Looped(v)
            }
        }
    }

    /// Fills `out` with the samples from index `start` on.
    pub fn fill(&self, start: u64, out: &mut [i16]) {
        match self {
            Samples::Sine { hz, rate } => {
                let step = hz / f64::from(*rate);
                for (n, s) in (start..).zip(out.iter_mut()) {
                    // The phase in cycles, reduced first so it stays exact for long calls.
                    let cycles = (n as f64 * step).fract();
                    *s = (SINE_AMPLITUDE * (cycles * std::f64::consts::TAU).sin()).round() as i16;
                }
            }
            Samples::Looped(clip) => {
                let len = clip.len() as u64;
                for (n, s) in (start..).zip(out.iter_mut()) {
                    // `len` is not zero (see `new`), and the index is below it.
                    *s = clip[(n % len) as usize];
                }
            }
        }
    }
}

/// Resamples by linear interpolation between neighbouring input samples.
///
/// Output sample `i` sits at input position `i * from / to`; exact integer arithmetic, so the
/// result does not depend on floating-point rounding. No anti-alias filter: a clip for a phone
/// call is speech, and this is a test tool.
pub fn resample(input: &[i16], from: u32, to: u32) -> Vec<i16> {
    if from == to {
        return input.to_vec();
    }
    if input.is_empty() || from == 0 || to == 0 {
        return Vec::new();
    }
    let (from, to) = (u64::from(from), u64::from(to));
    let out_len = input.len() as u64 * to / from;
    (0..out_len)
        .map(|i| {
            let pos = i * from;
            let (idx, frac) = ((pos / to) as usize, (pos % to) as i64);
            // `idx < input.len()` because `i < input.len() * to / from`.
            let a = i64::from(input[idx]);
            let b = i64::from(*input.get(idx + 1).unwrap_or(&input[idx]));
            (a + (b - a) * frac / to as i64) as i16
        })
        .collect()
}

/// One codec's encoder, with its state (G.722 is adaptive; G.711 is a table).
#[derive(Debug, Clone)]
pub enum Encoder {
    Alaw,
    Ulaw,
    /// Boxed: its state is a few hundred bytes, the others none.
    G722(Box<G722Encoder>),
}

impl Encoder {
    pub fn new(codec: Codec) -> Encoder {
        match codec {
            Codec::Pcma => Encoder::Alaw,
            Codec::Pcmu => Encoder::Ulaw,
            Codec::G722 => Encoder::G722(Box::default()),
        }
    }

    /// Encodes `pcm` into `out`, returning the bytes written: one per sample for G.711, one per
    /// pair for G.722; at most `out.len()`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Encoder::Alaw | Encoder::Ulaw => {
                let law = if matches!(self, Encoder::Alaw) {
                    linear_to_alaw
                } else {
                    linear_to_ulaw
                };
                let n = pcm.len().min(out.len());
                for (o, s) in out.iter_mut().zip(pcm) {
                    *o = law(*s);
                }
                n
            }
            Encoder::G722(e) => e.encode(pcm, out),
        }
    }
}

#[cfg(test)]
mod tests;
