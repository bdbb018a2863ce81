use super::*;

#[test]
fn alaw_known_values() {
    assert_eq!(alaw_to_linear(0xD5), 8);
    assert_eq!(alaw_to_linear(0x55), -8);
    for (code, value) in ALAW_VECTORS {
        assert_eq!(alaw_to_linear(code), value, "A-law code {code:#04x}");
    }
}

#[test]
fn ulaw_known_values() {
    assert_eq!(ulaw_to_linear(0xFF), 0);
    assert_eq!(ulaw_to_linear(0x7F), 0);
    assert_eq!(ulaw_to_linear(0x00), -32124);
    for (code, value) in ULAW_VECTORS {
        assert_eq!(ulaw_to_linear(code), value, "μ-law code {code:#04x}");
    }
}

#[test]
fn silence_codes_decode_to_near_zero() {
    assert_eq!(alaw_to_linear(ALAW_ZERO), 8);
    assert_eq!(ulaw_to_linear(ULAW_ZERO), 0);
    assert_eq!(linear_to_alaw(0), ALAW_ZERO);
    assert_eq!(linear_to_ulaw(0), ULAW_ZERO);
}

#[test]
fn alaw_round_trips_every_code() {
    for code in 0..=255u8 {
        assert_eq!(
            linear_to_alaw(alaw_to_linear(code)),
            code,
            "A-law code {code:#04x}"
        );
    }
}

#[test]
fn ulaw_round_trips_every_code() {
    for code in 0..=255u8 {
        // 0x7F is μ-law's negative zero; it decodes to 0, which encodes as positive zero.
        let expected = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            linear_to_ulaw(ulaw_to_linear(code)),
            expected,
            "μ-law code {code:#04x}"
        );
    }
}

#[test]
fn tables_are_monotonic_in_magnitude() {
    // Within each sign half, larger codes (after undoing the line inversion) are larger values.
    let alaw_mag = |c: u8| alaw_to_linear((c | 0x80) ^ 0x55);
    let ulaw_mag = |c: u8| ulaw_to_linear(!c);
    for c in 0..0x7Fu8 {
        assert!(alaw_mag(c) < alaw_mag(c + 1), "A-law {c}");
        assert!(ulaw_mag(c) < ulaw_mag(c + 1), "μ-law {c}");
    }
    // Symmetric: the negative half mirrors the positive half.
    for c in 0..=0x7Fu8 {
        assert_eq!(alaw_to_linear(c), -alaw_to_linear(c | 0x80));
        assert_eq!(ulaw_to_linear(c), -ulaw_to_linear(c | 0x80));
    }
}

#[test]
fn encoders_handle_the_whole_range() {
    // Every input encodes to a code whose value is the nearest level from below in magnitude,
    // within the quantization step of its segment; and nothing panics at the extremes.
    for sample in i16::MIN..=i16::MAX {
        let a = alaw_to_linear(linear_to_alaw(sample));
        let u = ulaw_to_linear(linear_to_ulaw(sample));
        let s = i32::from(sample);
        assert!((i32::from(a) - s).abs() <= 1024, "A-law {sample} -> {a}");
        assert!((i32::from(u) - s).abs() <= 1024, "μ-law {sample} -> {u}");
    }
    assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
    assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
    assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
}

/// A-law code → linear value (ITU-T G.711 Table 1a, scaled to 16 bits).
const ALAW_VECTORS: [(u8, i16); 12] = [
    (0xD5, 8),
    (0xD4, 24),
    (0xC5, 264),
    (0xF5, 528),
    (0xAA, 32256),
    (0xAB, 31232),
    (0x55, -8),
    (0x2A, -32256),
    (0x80, 5504),
    (0x00, -5504),
    (0xFF, 848),
    (0x7F, -848),
];

/// μ-law code → linear value (ITU-T G.711 Table 2a, scaled to 16 bits).
const ULAW_VECTORS: [(u8, i16); 10] = [
    (0xFF, 0),
    (0xFE, 8),
    (0xF0, 120),
    (0xEF, 132),
    (0x80, 32124),
    (0x00, -32124),
    (0x7E, -8),
    (0x70, -120),
    (0x7F, 0),
    (0x8F, 16764),
];
