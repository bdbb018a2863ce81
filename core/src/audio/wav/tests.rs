use super::*;

#[test]
fn pcm16_header_is_byte_exact() {
    let header = wav_header(
        WavFormat::Pcm16 {
            sample_rate: 16_000,
        },
        32_000,
    );
    assert_eq!(header.as_slice(), &PCM16_16K_32000[..]);
    assert_eq!(
        header.len(),
        WavFormat::Pcm16 {
            sample_rate: 16_000
        }
        .header_len()
    );
}

#[test]
fn alaw_header_is_byte_exact() {
    let header = wav_header(WavFormat::Alaw, 8001);
    assert_eq!(header.as_slice(), &ALAW_8001[..]);
    assert_eq!(header.len(), WavFormat::Alaw.header_len());
}

#[test]
fn mulaw_differs_from_alaw_only_in_the_format_tag() {
    let alaw = wav_header(WavFormat::Alaw, 1234);
    let mulaw = wav_header(WavFormat::Mulaw, 1234);
    assert_eq!(mulaw[20], 7);
    assert_eq!(alaw[20], 6);
    assert_eq!(alaw[..20], mulaw[..20]);
    assert_eq!(alaw[21..], mulaw[21..]);
}

#[test]
fn riff_size_counts_the_pad_byte() {
    let riff_size = |h: &WavHeader| u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    assert!(!needs_pad(0));
    assert!(needs_pad(1));
    assert!(!needs_pad(160));
    assert!(needs_pad(u32::MAX));
    for format in [
        WavFormat::Pcm16 { sample_rate: 8000 },
        WavFormat::Alaw,
        WavFormat::Mulaw,
    ] {
        for data_len in [0u32, 1, 2, 159, 160] {
            let h = wav_header(format, data_len);
            let file_len = h.len() as u32 + data_len + u32::from(needs_pad(data_len));
            assert_eq!(riff_size(&h), file_len - 8, "{format:?} {data_len}");
            assert_eq!(riff_size(&h) % 2, 0);
            // The data chunk length itself excludes the pad.
            assert_eq!(h[h.len() - 4..], data_len.to_le_bytes());
        }
    }
}

#[test]
fn huge_sizes_saturate_instead_of_wrapping() {
    for format in [
        WavFormat::Pcm16 {
            sample_rate: u32::MAX,
        },
        WavFormat::Alaw,
    ] {
        let h = wav_header(format, u32::MAX);
        assert_eq!(h[4..8], u32::MAX.to_le_bytes());
        assert_eq!(h[h.len() - 4..], u32::MAX.to_le_bytes());
    }
    let h = wav_header(
        WavFormat::Pcm16 {
            sample_rate: u32::MAX,
        },
        0,
    );
    assert_eq!(h[28..32], u32::MAX.to_le_bytes(), "byte rate");
}

/// Mono 16-bit PCM at 16 kHz, 32000 bytes of data (one second).
const PCM16_16K_32000: [u8; 44] = [
    b'R', b'I', b'F', b'F', 0x24, 0x7D, 0x00, 0x00, // RIFF, size 36 + 32000
    b'W', b'A', b'V', b'E', //
    b'f', b'm', b't', b' ', 0x10, 0x00, 0x00, 0x00, // fmt, 16 bytes
    0x01, 0x00, 0x01, 0x00, // PCM, mono
    0x80, 0x3E, 0x00, 0x00, // 16000 Hz
    0x00, 0x7D, 0x00, 0x00, // 32000 bytes/s
    0x02, 0x00, 0x10, 0x00, // block align 2, 16 bits
    b'd', b'a', b't', b'a', 0x00, 0x7D, 0x00, 0x00, // data, 32000 bytes
];

/// A-law, 8001 bytes of data (odd: a pad byte follows, counted in the RIFF size).
const ALAW_8001: [u8; 58] = [
    b'R', b'I', b'F', b'F', 0x74, 0x1F, 0x00, 0x00, // RIFF, size 50 + 8001 + 1
    b'W', b'A', b'V', b'E', //
    b'f', b'm', b't', b' ', 0x12, 0x00, 0x00, 0x00, // fmt, 18 bytes
    0x06, 0x00, 0x01, 0x00, // A-law, mono
    0x40, 0x1F, 0x00, 0x00, // 8000 Hz
    0x40, 0x1F, 0x00, 0x00, // 8000 bytes/s
    0x01, 0x00, 0x08, 0x00, // block align 1, 8 bits
    0x00, 0x00, // cbSize 0
    b'f', b'a', b'c', b't', 0x04, 0x00, 0x00, 0x00, // fact, 4 bytes
    0x41, 0x1F, 0x00, 0x00, // 8001 samples
    b'd', b'a', b't', b'a', 0x41, 0x1F, 0x00, 0x00, // data, 8001 bytes
];
