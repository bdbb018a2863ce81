//! ITU-T G.722 at 64 kbit/s (mode 1): 16 kHz linear PCM ⇄ one byte per pair of samples.
//!
//! The algorithm is the fixed-point one of the Recommendation, block by block:
//!
//! - a 24-tap quadrature mirror filter (QMF) splits the 16 kHz signal into a lower and an upper
//!   sub-band at 8 kHz each (and the receive QMF joins them again);
//! - the lower sub-band is coded with 6-bit ADPCM, the upper with 2-bit ADPCM; each byte is
//!   `upper << 6 | lower`;
//! - each sub-band has a backward-adaptive quantizer scale (blocks 3L/3H) and a pole-zero
//!   predictor (two poles, six zeros) updated from the 4-bit (lower) or 2-bit (upper) quantized
//!   difference (block 4), so encoder and decoder track the same state without side
//!   information.
//!
//! All arithmetic is in `i32` on values kept within 16 bits, with the saturations the
//! Recommendation prescribes, so no input makes it overflow or panic. Nothing allocates.
//!
//! The encoder followed by the decoder delays the signal by 22 samples (the two QMFs).

/// Transmit/receive QMF coefficients h0, h2, …, h22 (the odd ones mirror them:
/// h(2i+1) = h(22−2i)).
const QMF_COEFFS: [i32; 12] = [3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11];

/// Lower sub-band quantizer decision levels (block 1L), in units of the scale factor / 4096.
const Q6: [i32; 32] = [
    0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940,
    1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0, 0,
];
/// 6-bit code of quantizer interval `i` for a negative difference.
const ILN: [u8; 32] = [
    0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,
    10, 9, 8, 7, 6, 5, 4, 0,
];
/// 6-bit code of quantizer interval `i` for a non-negative difference.
const ILP: [u8; 32] = [
    0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39,
    38, 37, 36, 35, 34, 33, 32, 0,
];
/// Lower sub-band inverse quantizer, all 6 bits (block 5L, mode 1), scaled by 2^15.
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232,
    -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776,
    -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280,
    11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776,
    2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Lower sub-band inverse quantizer on the 4 most significant bits (block 2L), scaled by 2^15.
const QM4: [i32; 16] = [
    0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584,
    1200, 0,
];
/// Magnitude class (0–7) of a 4-bit lower sub-band code, for the log scale update.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
/// Lower sub-band log scale factor multipliers (block 3L).
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];

/// Upper sub-band inverse quantizer (block 2H), scaled by 2^15.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
/// 2-bit code of the upper quantizer interval (index 1 inner, 2 outer) for a negative difference.
const IHN: [u8; 3] = [0, 1, 0];
/// 2-bit code of the upper quantizer interval for a non-negative difference.
const IHP: [u8; 3] = [0, 3, 2];
/// Magnitude class of a 2-bit upper sub-band code.
const RH2: [usize; 4] = [2, 1, 2, 1];
/// Upper sub-band log scale factor multipliers (block 3H).
const WH: [i32; 3] = [0, -214, 798];
/// Upper quantizer decision level, in units of the scale factor / 4096.
const Q2: i32 = 564;

/// Antilog table of the scale factor: 2^(i/32) scaled by 2048 (blocks 3L/3H).
const ILB: [i32; 32] = [
    2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
    2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
];

/// Largest log scale factor of the lower sub-band.
const NB_MAX_LOW: i32 = 18432;
/// Largest log scale factor of the upper sub-band.
const NB_MAX_HIGH: i32 = 22528;

/// Saturates to the 16-bit range.
#[inline]
fn sat16(x: i32) -> i32 {
    x.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// Which sub-band a [`Band`] codes: they differ in quantizer scale range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubBand {
    Low,
    High,
}

/// The adaptive state of one sub-band, identical in encoder and decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Band {
    sub_band: SubBand,
    /// Log scale factor (∇).
    nb: i32,
    /// Linear quantizer scale factor (Δ).
    det: i32,
    /// Signal estimate: the full predictor output.
    s: i32,
    /// Zero-section (six-tap) predictor output.
    sz: i32,
    /// Pole coefficients a1, a2.
    a: [i32; 2],
    /// Zero coefficients b1…b6.
    b: [i32; 6],
    /// Past quantized differences d(n−1)…d(n−6).
    d: [i32; 6],
    /// Past reconstructed signals r(n−1), r(n−2).
    r: [i32; 2],
    /// Past partially reconstructed signals p(n−1), p(n−2).
    p: [i32; 2],
}

impl Band {
    const fn new(sub_band: SubBand) -> Band {
        Band {
            sub_band,
            nb: 0,
            det: match sub_band {
                SubBand::Low => 32,
                SubBand::High => 8,
            },
            s: 0,
            sz: 0,
            a: [0; 2],
            b: [0; 6],
            d: [0; 6],
            r: [0; 2],
            p: [0; 2],
        }
    }

    /// Blocks 3L/3H: adapts the log scale factor with the multiplier `w`, then the linear one.
    fn adapt_scale(&mut self, w: i32) {
        let (nb_max, shift_base) = match self.sub_band {
            SubBand::Low => (NB_MAX_LOW, 8),
            SubBand::High => (NB_MAX_HIGH, 10),
        };
        // LOGSCL / LOGSCH: leaky log-domain update, 127/128 leakage.
        self.nb = (((self.nb * 127) >> 7) + w).clamp(0, nb_max);
        // SCALEL / SCALEH: antilog by table lookup and shift. nb <= 22528, so the shift is at
        // most 1 to the left and at most 10 to the right.
        let mantissa = ILB[((self.nb >> 6) & 31) as usize];
        let shift = shift_base - (self.nb >> 11);
        let det = if shift < 0 {
            mantissa << -shift
        } else {
            mantissa >> shift
        };
        self.det = det << 2;
    }

    /// Block 4: updates the predictor with the quantized difference `d` and computes the next
    /// signal estimate.
    fn adapt_predictor(&mut self, d: i32) {
        let [a1, a2] = self.a;
        let [p1, p2] = self.p;
        // RECONS and PARREC: reconstructed and partially reconstructed signals.
        let r0 = sat16(self.s + d);
        let p0 = sat16(self.sz + d);
        let (sg0, sg1, sg2) = (p0 < 0, p1 < 0, p2 < 0);

        // UPPOL2: second pole coefficient.
        let wd1 = sat16(a1 << 2);
        let wd2 = if sg0 == sg1 { -wd1 } else { wd1 };
        let wd2 = wd2.min(i32::from(i16::MAX));
        let wd3 = if sg0 == sg2 { 128 } else { -128 };
        let leaked = (a2 * 32512) >> 15;
        let new_a2 = ((wd2 >> 7) + wd3 + leaked).clamp(-12288, 12288);

        // UPPOL1: first pole coefficient, limited for stability by the new a2.
        let wd1 = if sg0 == sg1 { 192 } else { -192 };
        let wd2 = (a1 * 32640) >> 15;
        let limit = sat16(15360 - new_a2);
        let new_a1 = sat16(wd1 + wd2).clamp(-limit, limit);

        // UPZERO: zero coefficients, sign-sign algorithm with 255/256 leakage.
        let step = if d == 0 { 0 } else { 128 };
        let sgd = d < 0;
        for (b, &past) in self.b.iter_mut().zip(self.d.iter()) {
            let wd2 = if (past < 0) == sgd { step } else { -step };
            *b = sat16(wd2 + ((*b * 32640) >> 15));
        }

        // DELAYA: shift the histories.
        self.d.copy_within(0..5, 1);
        self.d[0] = d;
        self.r = [r0, self.r[0]];
        self.p = [p0, p1];
        self.a = [new_a1, new_a2];

        // FILTEP: pole section.
        let sp1 = (new_a1 * sat16(self.r[0] * 2)) >> 15;
        let sp2 = (new_a2 * sat16(self.r[1] * 2)) >> 15;
        let sp = sat16(sp1 + sp2);

        // FILTEZ: zero section.
        let sz: i32 = self
            .b
            .iter()
            .zip(self.d.iter())
            .map(|(&b, &d)| (b * sat16(d * 2)) >> 15)
            .sum();
        self.sz = sat16(sz);

        // PREDIC: signal estimate.
        self.s = sat16(sp + self.sz);
    }
}

/// The QMF delay line: the last 24 samples, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QmfHistory([i32; 24]);

impl QmfHistory {
    /// Shifts in two samples and returns the two polyphase sums (even taps, odd taps).
    #[inline]
    fn push_and_filter(&mut self, first: i32, second: i32) -> (i32, i32) {
        let x = &mut self.0;
        x.copy_within(2.., 0);
        x[22] = first;
        x[23] = second;
        let mut even = 0;
        let mut odd = 0;
        for (i, pair) in x.chunks_exact(2).enumerate() {
            even += pair[0] * QMF_COEFFS[i];
            odd += pair[1] * QMF_COEFFS[11 - i];
        }
        (even, odd)
    }
}

/// G.722 64 kbit/s decoder: one byte in, two 16 kHz samples out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct G722Decoder {
    low: Band,
    high: Band,
    qmf: QmfHistory,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A decoder in the reset state of the Recommendation.
    pub const fn new() -> G722Decoder {
        G722Decoder {
            low: Band::new(SubBand::Low),
            high: Band::new(SubBand::High),
            qmf: QmfHistory([0; 24]),
        }
    }

    /// Decodes `input`, writing two samples per byte to `out`.
    ///
    /// Decodes as many bytes as fit: `min(input.len(), out.len() / 2)`. Returns the number of
    /// samples written (always even).
    pub fn decode(&mut self, input: &[u8], out: &mut [i16]) -> usize {
        let mut written = 0;
        for (&code, pair) in input.iter().zip(out.chunks_exact_mut(2)) {
            let [first, second] = self.decode_byte(code);
            pair[0] = first;
            pair[1] = second;
            written += 2;
        }
        written
    }

    /// Decodes one byte into two consecutive samples.
    fn decode_byte(&mut self, code: u8) -> [i16; 2] {
        let ilow = usize::from(code & 0x3F);
        let ihigh = usize::from(code >> 6);

        // Lower sub-band. INVQBL and RECONS/LIMIT: the output uses all six bits.
        let low = &mut self.low;
        let dlow6 = (low.det * QM6[ilow]) >> 15;
        let rlow = (low.s + dlow6).clamp(-16384, 16383);
        // INVQAL: adaptation uses only the four most significant bits.
        let ril = ilow >> 2;
        let dlow = (low.det * QM4[ril]) >> 15;
        low.adapt_scale(WL[RL42[ril]]);
        low.adapt_predictor(dlow);

        // Upper sub-band. INVQAH, RECONS/LIMIT.
        let high = &mut self.high;
        let dhigh = (high.det * QM2[ihigh]) >> 15;
        let rhigh = (high.s + dhigh).clamp(-16384, 16383);
        high.adapt_scale(WH[RH2[ihigh]]);
        high.adapt_predictor(dhigh);

        // Receive QMF.
        let (even, odd) = self.qmf.push_and_filter(rlow + rhigh, rlow - rhigh);
        // Saturated to 16 bits: the casts cannot truncate.
        [sat16(odd >> 11) as i16, sat16(even >> 11) as i16]
    }
}

/// G.722 64 kbit/s encoder: two 16 kHz samples in, one byte out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct G722Encoder {
    low: Band,
    high: Band,
    qmf: QmfHistory,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// An encoder in the reset state of the Recommendation.
    pub const fn new() -> G722Encoder {
        G722Encoder {
            low: Band::new(SubBand::Low),
            high: Band::new(SubBand::High),
            qmf: QmfHistory([0; 24]),
        }
    }

    /// Encodes `input` (16 kHz mono), writing one byte per pair of samples to `out`.
    ///
    /// Encodes as many whole pairs as fit: `min(input.len() / 2, out.len())`; an odd last
    /// sample is not consumed. Returns the number of bytes written (the samples consumed are
    /// twice that).
    pub fn encode(&mut self, input: &[i16], out: &mut [u8]) -> usize {
        let mut written = 0;
        for (pair, code) in input.chunks_exact(2).zip(out.iter_mut()) {
            *code = self.encode_pair(pair[0], pair[1]);
            written += 1;
        }
        written
    }

    /// Encodes two consecutive samples into one byte.
    fn encode_pair(&mut self, first: i16, second: i16) -> u8 {
        // Transmit QMF: split into the two sub-bands, decimated by 2.
        let (even, odd) = self
            .qmf
            .push_and_filter(i32::from(first), i32::from(second));
        let xlow = (odd + even) >> 14;
        let xhigh = (odd - even) >> 14;

        // Lower sub-band. SUBTRA and QUANTL: 6-bit code of the prediction error.
        let low = &mut self.low;
        let el = sat16(xlow - low.s);
        let magnitude = if el >= 0 { el } else { -(el + 1) };
        let interval = (1..30)
            .find(|&i| magnitude < (Q6[i] * low.det) >> 12)
            .unwrap_or(30);
        let ilow = if el < 0 { ILN[interval] } else { ILP[interval] };
        // INVQAL, then adaptation, exactly as the decoder does.
        let ril = usize::from(ilow >> 2);
        let dlow = (low.det * QM4[ril]) >> 15;
        low.adapt_scale(WL[RL42[ril]]);
        low.adapt_predictor(dlow);

        // Upper sub-band. SUBTRA and QUANTH: 2-bit code.
        let high = &mut self.high;
        let eh = sat16(xhigh - high.s);
        let magnitude = if eh >= 0 { eh } else { -(eh + 1) };
        let interval = if magnitude >= (Q2 * high.det) >> 12 {
            2
        } else {
            1
        };
        let ihigh = if eh < 0 { IHN[interval] } else { IHP[interval] };
        let dhigh = (high.det * QM2[usize::from(ihigh)]) >> 15;
        high.adapt_scale(WH[RH2[usize::from(ihigh)]]);
        high.adapt_predictor(dhigh);

        (ihigh << 6) | ilow
    }
}

pub mod testing;

#[cfg(test)]
mod tests;
