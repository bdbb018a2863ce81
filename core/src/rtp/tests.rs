use super::*;

/// PCMA, marker set, seq 0x1234, ts 0xDEADBEEF, SSRC 0x01020304, payload D5 D5 D5.
const SIMPLE: [u8; 15] = [
    0x80, 0x88, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, 0xD5, 0xD5, 0xD5,
];

/// PCMU with two CSRCs, a one-word header extension (profile 0xBEDE) and 2 bytes of padding.
const FULL: [u8; 35] = [
    0xB2, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xA0, 0xCA, 0xFE, 0xBA, 0xBE, // fixed
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, // CSRC ×2
    0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00, // extension: 1 word
    0x7F, 0x7E, 0x7D, 0x7C, 0x7B, // payload
    0x00, 0x02, // padding, count 2
];

#[test]
fn parses_the_fixed_header() {
    let p = RtpPacket::parse(&SIMPLE).unwrap();
    assert!(p.marker);
    assert_eq!(p.payload_type, 8);
    assert_eq!(p.sequence, 0x1234);
    assert_eq!(p.timestamp, 0xDEAD_BEEF);
    assert_eq!(p.ssrc, 0x0102_0304);
    assert_eq!(p.csrc_count, 0);
    assert_eq!(p.extension_profile, None);
    assert_eq!(p.payload, &[0xD5, 0xD5, 0xD5]);
}

#[test]
fn skips_csrc_extension_and_padding() {
    let p = RtpPacket::parse(&FULL).unwrap();
    assert!(!p.marker);
    assert_eq!(p.payload_type, 0);
    assert_eq!(p.sequence, 0xFFFF);
    assert_eq!(p.timestamp, 160);
    assert_eq!(p.ssrc, 0xCAFE_BABE);
    assert_eq!(p.csrc_count, 2);
    assert_eq!(p.extension_profile, Some(0xBEDE));
    assert_eq!(p.payload, &[0x7F, 0x7E, 0x7D, 0x7C, 0x7B]);
}

#[test]
fn emit_matches_the_vector() {
    let mut out = [0u8; 64];
    let n = RtpPacket::emit(
        &mut out,
        true,
        8,
        0x1234,
        0xDEAD_BEEF,
        0x0102_0304,
        &[0xD5; 3],
    );
    assert_eq!(n, Some(15));
    assert_eq!(out[..15], SIMPLE);
    assert_eq!(
        RtpPacket::emit(&mut out[..14], true, 8, 0, 0, 0, &[0; 3]),
        None
    );
}

#[test]
fn rejects_each_malformation() {
    assert_eq!(RtpPacket::parse(&SIMPLE[..11]), Err(RtpError::TooShort));
    assert_eq!(RtpPacket::parse(&[]), Err(RtpError::TooShort));

    let mut v1 = SIMPLE;
    v1[0] = 0x40;
    assert_eq!(RtpPacket::parse(&v1), Err(RtpError::BadVersion));

    assert_eq!(RtpPacket::parse(&FULL[..18]), Err(RtpError::TruncatedCsrc));
    assert_eq!(
        RtpPacket::parse(&FULL[..22]),
        Err(RtpError::TruncatedExtension)
    );
    assert_eq!(
        RtpPacket::parse(&FULL[..26]),
        Err(RtpError::TruncatedExtension)
    );

    let mut pad0 = FULL;
    pad0[34] = 0;
    assert_eq!(RtpPacket::parse(&pad0), Err(RtpError::BadPadding));
    let mut pad_big = FULL;
    pad_big[34] = 8; // more than the 7 bytes after the extension
    assert_eq!(RtpPacket::parse(&pad_big), Err(RtpError::BadPadding));

    let mut pad_all = FULL;
    pad_all[34] = 7; // padding eats the whole payload
    assert_eq!(RtpPacket::parse(&pad_all), Err(RtpError::EmptyPayload));
    assert_eq!(RtpPacket::parse(&SIMPLE[..12]), Err(RtpError::EmptyPayload));

    let mut rtcp = SIMPLE;
    rtcp[1] = 200; // RTCP SR: marker bit + PT 72
    assert_eq!(RtpPacket::parse(&rtcp), Err(RtpError::Rtcp));
}

#[test]
fn never_panics_on_any_short_prefix_or_bit_flip() {
    for len in 0..=FULL.len() {
        let _ = RtpPacket::parse(&FULL[..len]);
    }
    for i in 0..FULL.len() {
        for bit in 0..8 {
            let mut b = FULL;
            b[i] ^= 1 << bit;
            if let Ok(p) = RtpPacket::parse(&b) {
                assert!(p.payload.len() <= b.len() - FIXED_HEADER_LEN);
            }
        }
    }
}

#[test]
fn error_names_are_distinct_and_indexed() {
    for (i, e) in RtpError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
    }
    let mut names: Vec<_> = RtpError::ALL.iter().map(|e| e.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), RtpError::ALL.len());
}
