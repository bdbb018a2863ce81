//! The core's codecs and WAV files against an independent implementation, ffmpeg: our G.722
//! decoder and encoder agree with ffmpeg's to the bit, and ffprobe reads our WAV headers as we
//! mean them. The peers tier (`--features peers`): ffmpeg and ffprobe must be installed (CI
//! installs them); a missing tool fails the test.

use callrec_core::audio::g722::testing::{decode_all, encode_all, sine, snr_db, CODEC_DELAY, RATE};
use callrec_core::audio::wav::{needs_pad, wav_header, WavFormat};
use std::path::PathBuf;
use std::process::Command;

/// A temporary file path unique to this process and call.
fn temp_path(stem: &str, ext: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "callrec-g722-{stem}-{}-{n}.{ext}",
        std::process::id()
    ))
}

/// Runs ffmpeg with `args`, returning stdout. Panics (fails the test) if ffmpeg is missing.
fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be on the PATH for this test");
    assert!(
        output.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Interoperability with an independent implementation: ffmpeg encodes, both decoders decode.
#[test]
fn decodes_what_ffmpeg_encodes() {
    // A 1 kHz sine plus a quieter 5.5 kHz one, so both sub-bands carry signal.
    let input: Vec<i16> = sine(1000.0, 9000.0, 2 * RATE)
        .iter()
        .zip(sine(5500.0, 3000.0, 2 * RATE))
        .map(|(&a, b)| a + b)
        .collect();
    let raw: Vec<u8> = input.iter().flat_map(|s| s.to_le_bytes()).collect();
    let raw_path = temp_path("in", "raw");
    let g722_path = temp_path("out", "g722");
    std::fs::write(&raw_path, &raw).unwrap();
    let (raw_arg, g722_arg) = (raw_path.to_str().unwrap(), g722_path.to_str().unwrap());
    ffmpeg(&[
        "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", raw_arg, "-c:a", "g722", "-f", "g722",
        g722_arg,
    ]);
    let pcm = ffmpeg(&[
        "-f", "g722", "-i", g722_arg, "-f", "s16le", "-ar", "16000", "-",
    ]);
    let encoded = std::fs::read(&g722_path).unwrap();
    let _ = std::fs::remove_file(&raw_path);
    let _ = std::fs::remove_file(&g722_path);

    let theirs: Vec<i16> = pcm
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(encoded.len(), input.len() / 2);
    assert_eq!(theirs.len(), input.len());

    let ours = decode_all(&encoded);
    let snr = snr_db(&theirs, &ours, 0, 0);
    let identical = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    println!(
        "ffmpeg-encoded stream: SNR vs ffmpeg decode {snr:.1} dB, {identical}/{} samples identical",
        ours.len()
    );
    assert!(snr > 20.0, "SNR against ffmpeg's decoder {snr:.1} dB");

    // Also against the original signal, through the codec delay.
    let snr_input = snr_db(&input, &ours, CODEC_DELAY, 1600);
    println!("ffmpeg-encoded stream: SNR vs input {snr_input:.1} dB");
    assert!(snr_input > 20.0, "SNR against the input {snr_input:.1} dB");

    // Both follow the fixed-point reference algorithm, so they agree to the bit: ffmpeg's
    // decoder and encoder (without its optional trellis search) and ours.
    assert!(ours == theirs, "decoded samples differ from ffmpeg's");
    let ours_encoded = encode_all(&input);
    let same_bytes = ours_encoded
        .iter()
        .zip(&encoded)
        .filter(|(a, b)| a == b)
        .count();
    println!(
        "encoder: {same_bytes}/{} bytes identical to ffmpeg",
        encoded.len()
    );
    assert_eq!(
        same_bytes,
        encoded.len(),
        "encoded bytes differ from ffmpeg's"
    );
}

fn wav_temp_path(stem: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("callrec-wav-{stem}-{}-{n}.wav", std::process::id()))
}

/// Writes a WAV file of `data` and returns what ffprobe says about its one stream:
/// (codec_name, sample_rate, duration in seconds). Fails the test if ffprobe is missing.
fn probe(format: WavFormat, data: &[u8]) -> (String, u32, f64) {
    let path = wav_temp_path("probe");
    let data_len = u32::try_from(data.len()).unwrap();
    let mut file = wav_header(format, data_len).to_vec();
    file.extend_from_slice(data);
    if needs_pad(data_len) {
        file.push(0);
    }
    std::fs::write(&path, &file).unwrap();
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate,duration",
        ])
        .args(["-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe must be on the PATH for this test");
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "ffprobe failed on {format:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stream = &json["streams"][0];
    let field = |name: &str| stream[name].as_str().unwrap_or_default().to_owned();
    (
        field("codec_name"),
        field("sample_rate").parse().unwrap_or(0),
        field("duration").parse().unwrap_or(f64::NAN),
    )
}

#[test]
fn ffprobe_reads_our_files() {
    let alaw: Vec<u8> = (0..8000u32).map(|i| (i % 256) as u8).collect();
    let pcm: Vec<u8> = (0..4000i16).flat_map(|i| (i * 7).to_le_bytes()).collect();
    let cases: [(WavFormat, &[u8], &str, u32, f64); 5] = [
        (WavFormat::Alaw, &alaw, "pcm_alaw", 8000, 1.0),
        // An odd length, followed by its pad byte.
        (WavFormat::Alaw, &alaw[..801], "pcm_alaw", 8000, 0.100125),
        (WavFormat::Mulaw, &alaw[..4000], "pcm_mulaw", 8000, 0.5),
        (
            WavFormat::Pcm16 {
                sample_rate: 16_000,
            },
            &pcm,
            "pcm_s16le",
            16_000,
            0.25,
        ),
        (
            WavFormat::Pcm16 { sample_rate: 8000 },
            &pcm,
            "pcm_s16le",
            8000,
            0.5,
        ),
    ];
    for (format, data, codec, rate, duration) in cases {
        let (got_codec, got_rate, got_duration) = probe(format, data);
        assert_eq!(got_codec, codec, "{format:?}");
        assert_eq!(got_rate, rate, "{format:?}");
        assert!(
            (got_duration - duration).abs() < 0.001,
            "{format:?}: duration {got_duration}, expected {duration}"
        );
    }
}
