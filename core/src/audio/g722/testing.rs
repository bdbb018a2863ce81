//! Signals and measures for the codec's tests: its own and the interop tests against ffmpeg
//! (`tests/codec_interop.rs`). Not used by the product.

use super::{G722Decoder, G722Encoder};

/// The codec's sample rate.
pub const RATE: usize = 16_000;

/// Encoder plus decoder delay in samples (`codec_delay_on_broadband_noise` measures it).
pub const CODEC_DELAY: usize = 22;

/// `len` samples of a sine of `freq` Hz at 16 kHz.
pub fn sine(freq: f64, amplitude: f64, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| {
            let t = n as f64 / RATE as f64;
            (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()).round() as i16
        })
        .collect()
}

/// All of `input` encoded (one byte per two samples).
pub fn encode_all(input: &[i16]) -> Vec<u8> {
    let mut out = vec![0u8; input.len() / 2];
    let n = G722Encoder::new().encode(input, &mut out);
    assert_eq!(n, out.len());
    out
}

/// All of `input` decoded (two samples per byte).
pub fn decode_all(input: &[u8]) -> Vec<i16> {
    let mut out = vec![0i16; input.len() * 2];
    let n = G722Decoder::new().decode(input, &mut out);
    assert_eq!(n, out.len());
    out
}

/// SNR in dB of `output` delayed by `lag` against `reference`, skipping the first `skip`
/// samples (the adaptation transient).
pub fn snr_db(reference: &[i16], output: &[i16], lag: usize, skip: usize) -> f64 {
    let mut signal = 0.0f64;
    let mut noise = 0.0f64;
    for (&x, &y) in reference.iter().zip(output.iter().skip(lag)).skip(skip) {
        let (x, y) = (f64::from(x), f64::from(y));
        signal += x * x;
        noise += (x - y) * (x - y);
    }
    if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    }
}
