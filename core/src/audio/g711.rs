//! ITU-T G.711: A-law and μ-law companding between 8-bit codes and 16-bit linear PCM.
//!
//! Expansion follows the standard tables (the same values as the classic Sun `g711.c`): A-law
//! codes expand to 13-bit magnitudes and μ-law codes to 14-bit magnitudes, both scaled to the
//! 16-bit range. Decoding is one lookup in a 256-entry table computed at compile time.
//! Compression is the standard segment search; encoding a decoded code gives the code back,
//! except μ-law 0x7F ("negative zero"), which encodes as 0xFF.

/// A-law code of a zero sample (positive zero, the G.711 idle pattern).
pub const ALAW_ZERO: u8 = 0xD5;
/// μ-law code of a zero sample (positive zero).
pub const ULAW_ZERO: u8 = 0xFF;

/// Bits that are inverted on the line in A-law (even bits).
const ALAW_XOR: u8 = 0x55;
/// μ-law bias added before the segment search (in 16-bit units).
const ULAW_BIAS: i32 = 0x84;
/// Largest μ-law magnitude before the bias, in 14-bit units.
const ULAW_CLIP: i32 = 8159;

/// Expands one A-law code (as sent on the wire) to 16-bit linear PCM.
const fn alaw_expand(code: u8) -> i16 {
    let a = code ^ ALAW_XOR;
    let mantissa = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    let magnitude = match segment {
        0 => mantissa + 8,
        1 => mantissa + 0x108,
        _ => (mantissa + 0x108) << (segment - 1),
    };
    // The sign bit set means positive in A-law. |magnitude| <= 32256: fits in i16.
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        (-magnitude) as i16
    }
}

/// Expands one μ-law code (as sent on the wire) to 16-bit linear PCM.
const fn ulaw_expand(code: u8) -> i16 {
    let u = !code;
    let mantissa = ((u & 0x0F) as i32) << 3;
    let segment = ((u & 0x70) >> 4) as i32;
    let biased = (mantissa + ULAW_BIAS) << segment;
    // |biased - bias| <= 32124: fits in i16.
    if u & 0x80 != 0 {
        (ULAW_BIAS - biased) as i16
    } else {
        (biased - ULAW_BIAS) as i16
    }
}

/// Expands all 256 codes of one law (`alaw` false: μ-law).
const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_expand(i as u8)
        } else {
            ulaw_expand(i as u8)
        };
        i += 1;
    }
    table
}

/// Linear value of every A-law code.
static ALAW_TABLE: [i16; 256] = build_table(true);
/// Linear value of every μ-law code.
static ULAW_TABLE: [i16; 256] = build_table(false);

/// Decodes one A-law code to a 16-bit linear sample (0xD5 → 8, 0x55 → −8).
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Decodes one μ-law code to a 16-bit linear sample (0xFF → 0, 0x00 → −32124).
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Index of the first segment whose upper end is at least `value` (8 if none).
#[inline]
fn segment(value: i32, ends: &[i32; 8]) -> u8 {
    let mut seg = 0u8;
    for &end in ends {
        if value <= end {
            break;
        }
        seg += 1;
    }
    seg
}

/// Upper ends of the A-law segments, in 13-bit units.
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
/// Upper ends of the μ-law segments, in biased 14-bit units.
const ULAW_SEGMENT_ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];

/// Encodes one 16-bit linear sample as an A-law code (the 3 low bits are dropped).
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 3;
    let mask = if value >= 0 {
        0xD5
    } else {
        value = -value - 1;
        0x55
    };
    let seg = segment(value, &ALAW_SEGMENT_ENDS);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if seg < 2 { 1 } else { u32::from(seg) };
    // Masked to 4 bits: the cast cannot truncate.
    let mantissa = ((value >> shift) & 0x0F) as u8;
    ((seg << 4) | mantissa) ^ mask
}

/// Encodes one 16-bit linear sample as a μ-law code (the 2 low bits are dropped).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut value = i32::from(sample) >> 2;
    let mask = if value < 0 {
        value = -value;
        0x7F
    } else {
        0xFF
    };
    let value = value.min(ULAW_CLIP) + (ULAW_BIAS >> 2);
    let seg = segment(value, &ULAW_SEGMENT_ENDS);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    // Masked to 4 bits: the cast cannot truncate.
    let mantissa = ((value >> (u32::from(seg) + 1)) & 0x0F) as u8;
    ((seg << 4) | mantissa) ^ mask
}

#[cfg(test)]
mod tests;
