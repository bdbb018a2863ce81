use super::*;

/// A canonical PCM WAV: `fmt ` (16 bytes) then `data`.
fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    let align = channels * bits / 8;
    v.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    v.extend_from_slice(&align.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn pcm(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[test]
fn reads_mono_pcm16() {
    let clip = parse_wav(&wav(1, 1, 44_100, 16, &pcm(&[1, -2, 32767, -32768]))).unwrap();
    assert_eq!(clip.rate, 44_100);
    assert_eq!(clip.samples, [1, -2, 32767, -32768]);
}

#[test]
fn mixes_stereo_down_to_mono() {
    let data = pcm(&[100, 300, -32768, -32768, 32767, -32768, 5, 6]);
    let clip = parse_wav(&wav(1, 2, 8000, 16, &data)).unwrap();
    assert_eq!(clip.samples, [200, -32768, 0, 5]);
}

#[test]
fn skips_unknown_chunks_and_odd_padding() {
    let mut v = wav(1, 1, 16_000, 16, &pcm(&[7, 8]));
    // Insert a 3-byte LIST chunk (plus its pad byte) between fmt and data.
    let data_at = v.len() - 12;
    let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc\0"].concat();
    v.splice(data_at..data_at, list);
    assert_eq!(parse_wav(&v).unwrap().samples, [7, 8]);
}

#[test]
fn accepts_extensible_pcm_and_a_streamed_data_length() {
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
    v.extend_from_slice(&40u32.to_le_bytes());
    v.extend_from_slice(&0xFFFEu16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&48_000u32.to_le_bytes());
    v.extend_from_slice(&96_000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    v.extend_from_slice(&16u16.to_le_bytes()); // valid bits
    v.extend_from_slice(&4u32.to_le_bytes()); // channel mask
    v.extend_from_slice(&[
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
    ]);
    v.extend_from_slice(b"data");
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    v.extend_from_slice(&pcm(&[3, 4, 5]));
    v.push(0xAB); // half a sample: ignored
    let clip = parse_wav(&v).unwrap();
    assert_eq!((clip.rate, clip.samples), (48_000, vec![3, 4, 5]));
}

#[test]
fn malformed_files_give_clear_errors() {
    assert_eq!(parse_wav(b""), Err(WavError::NotWave));
    assert_eq!(parse_wav(b"RIFF\0\0\0\0AVI "), Err(WavError::NotWave));
    assert_eq!(parse_wav(b"RIFF\0\0\0\0WAVE"), Err(WavError::NoFormat));
    let good = wav(1, 1, 8000, 16, &pcm(&[1, 2, 3]));
    // Cut inside the fmt chunk.
    assert_eq!(parse_wav(&good[..30]), Err(WavError::NoFormat));
    // Cut right after fmt: no data chunk.
    assert_eq!(parse_wav(&good[..36]), Err(WavError::NoData));
    // A data chunk with one byte only.
    assert_eq!(
        parse_wav(&wav(1, 1, 8000, 16, &[9])),
        Err(WavError::NoSamples)
    );
    let unsupported = |v: Vec<u8>| match parse_wav(&v) {
        Err(WavError::Unsupported(what)) => what,
        other => panic!("{other:?}"),
    };
    assert!(unsupported(wav(3, 1, 8000, 32, &[0; 8])).contains("float"));
    assert!(unsupported(wav(6, 1, 8000, 8, &[0; 8])).contains("A-law"));
    assert!(unsupported(wav(1, 1, 8000, 8, &[0; 8])).contains("8 bits"));
    assert!(unsupported(wav(1, 1, 8000, 24, &[0; 9])).contains("24 bits"));
    assert!(unsupported(wav(1, 6, 8000, 16, &[0; 24])).contains("6 channels"));
    assert!(unsupported(wav(1, 1, 0, 16, &[0; 2])).contains("0 Hz"));
    assert!(unsupported(wav(1, 0, 8000, 16, &[0; 2])).contains("0 channels"));
    let message = WavError::Unsupported("format tag 3, IEEE float".into()).to_string();
    assert!(message.contains("only 16-bit PCM"), "{message}");
}

#[test]
fn hostile_chunk_sizes_do_not_panic() {
    let mut v = b"RIFF\0\0\0\0WAVE".to_vec();
    v.extend_from_slice(b"junk");
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    assert_eq!(parse_wav(&v), Err(WavError::NoFormat));
    let mut v = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    v.extend_from_slice(&u32::MAX.to_le_bytes());
    v.extend_from_slice(&[1; 16]);
    assert_eq!(parse_wav(&v), Err(WavError::NoFormat));
    // Every prefix of a good file is either an error or a clip, never a panic.
    let good = wav(1, 2, 8000, 16, &pcm(&[1, 2, 3, 4]));
    for n in 0..good.len() {
        let _ = parse_wav(&good[..n]);
    }
}
