//! ffmpeg as an independent RTP sender into the real agent: a spoken clip (espeak-ng) is sent
//! in real time as PCMA, PCMU and G.722, recorded, exported, and compared with the source by
//! duration and by normalised cross-correlation. `--keep-codec` exports are checked against
//! ffmpeg's own G.711 decoder. ffmpeg's default packets (1460 and 588 bytes in turn) and
//! 160-byte packets with a 128-byte one every 256 ms exercise the packet-time-change path.
//!
//! ffmpeg, ffprobe and espeak-ng are required: a missing tool fails the test, it never skips
//! (CI installs them).

mod common;
use common::*;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// About four seconds of speech.
const SENTENCE: &str = "Hello, this is a test call. Please leave a message after the tone.";
/// Largest allowed difference between the source's and the recording's duration.
const MAX_DURATION_DIFF_S: f64 = 0.040;
/// Lags searched for the best alignment, either way.
const MAX_LAG_S: f64 = 0.100;
/// Lowest acceptable normalised cross-correlation at the best lag.
const MIN_NCC: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    Pcma,
    Pcmu,
    G722,
}

impl Codec {
    /// The sample rate of the source signal and of the PCM16 export.
    fn rate(self) -> u32 {
        match self {
            Codec::Pcma | Codec::Pcmu => 8000,
            Codec::G722 => 16_000,
        }
    }

    /// ffmpeg's encoder, which is also the codec name ffprobe reports for a `--keep-codec` WAV.
    fn ffmpeg_codec(self) -> &'static str {
        match self {
            Codec::Pcma => "pcm_alaw",
            Codec::Pcmu => "pcm_mulaw",
            Codec::G722 => "g722",
        }
    }
}

/// How ffmpeg cuts the audio into RTP packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Packets {
    /// Exactly 20 ms per packet (160 payload bytes), like a phone.
    Phone,
    /// ffmpeg's defaults: as much as fits in 1472 bytes, so with this source payloads of
    /// 1460 and 588 bytes in turn (182.5 ms and 73.5 ms).
    FfmpegDefault,
    /// `-packetsize 172` alone: ffmpeg cuts each 2048-sample block of the demuxer into twelve
    /// 160-byte payloads and one of 128 bytes (16 ms).
    Cut160,
}

/// Runs a required tool and returns its stdout; a missing tool or a failure fails the test.
fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required by this test (CI installs it; apt-get install it): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A RIFF WAV file as far as these tests need it.
#[derive(Debug)]
struct Wav {
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
    data: Vec<u8>,
}

impl Wav {
    fn read(path: &Path) -> Wav {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
            "{}: not a RIFF WAVE file",
            path.display()
        );
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let mut fmt = None;
        let mut pos = 12;
        while pos + 8 <= bytes.len() {
            let id = &bytes[pos..pos + 4];
            let size = u32_at(pos + 4) as usize;
            let body = pos + 8;
            let end = (body + size).min(bytes.len());
            match id {
                b"fmt " => {
                    fmt = Some((
                        u16_at(body),
                        u16_at(body + 2),
                        u32_at(body + 4),
                        u16_at(body + 14),
                    ))
                }
                b"data" => {
                    let (format_tag, channels, sample_rate, bits) =
                        fmt.unwrap_or_else(|| panic!("{}: data before fmt", path.display()));
                    return Wav {
                        format_tag,
                        channels,
                        sample_rate,
                        bits,
                        data: bytes[body..end].to_vec(),
                    };
                }
                _ => {}
            }
            // Chunks are padded to an even length.
            pos = body + size + (size & 1);
        }
        panic!("{}: no data chunk", path.display());
    }

    /// The samples of a PCM16 mono file.
    fn samples(&self) -> Vec<i16> {
        assert_eq!(
            (self.format_tag, self.channels, self.bits),
            (1, 1, 16),
            "not PCM16 mono"
        );
        self.data
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    fn seconds(&self) -> f64 {
        self.samples().len() as f64 / f64::from(self.sample_rate)
    }
}

/// The ffprobe view of a file's first stream: (codec_name, sample_rate, channels).
fn probe(path: &Path) -> (String, u32, u64) {
    let out = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
            "-of",
            "json",
            s(path),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let st = &v["streams"][0];
    (
        st["codec_name"].as_str().unwrap_or_default().to_owned(),
        st["sample_rate"].as_str().unwrap_or("0").parse().unwrap(),
        st["channels"].as_u64().unwrap_or(0),
    )
}

/// The spoken clip as mono s16le at `rate`, at `<dir>/src.wav`.
fn make_source(dir: &Path, rate: u32) -> PathBuf {
    let clip = dir.join("clip.wav");
    let src = dir.join("src.wav");
    run("espeak-ng", &["-w", s(&clip), SENTENCE]);
    let rate = rate.to_string();
    run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-i",
            s(&clip),
            "-ac",
            "1",
            "-ar",
            &rate,
            "-c:a",
            "pcm_s16le",
            s(&src),
        ],
    );
    src
}

/// ffmpeg's arguments that choose the codec and the packetisation.
fn encoder_args(codec: Codec, packets: Packets) -> Vec<&'static str> {
    match (codec, packets) {
        (Codec::Pcma | Codec::Pcmu, Packets::Phone) => vec![
            "-af",
            "asetnsamples=n=160:p=0",
            "-ac",
            "1",
            "-c:a",
            codec.ffmpeg_codec(),
            "-packetsize",
            "172",
        ],
        // G.722 codes two 16 kHz samples per byte: 320 samples make a 160-byte, 20 ms payload.
        (Codec::G722, Packets::Phone) => vec![
            "-ar",
            "16000",
            "-af",
            "asetnsamples=n=320:p=0",
            "-ac",
            "1",
            "-c:a",
            "g722",
            "-packetsize",
            "172",
        ],
        (_, Packets::FfmpegDefault) => vec!["-ac", "1", "-c:a", codec.ffmpeg_codec()],
        (_, Packets::Cut160) => vec![
            "-ac",
            "1",
            "-c:a",
            codec.ffmpeg_codec(),
            "-packetsize",
            "172",
        ],
    }
}

/// A call recorded from ffmpeg and exported to PCM16.
struct Recorded {
    dir: TempDir,
    source: Wav,
    /// The Record file on the stick.
    file: PathBuf,
    /// The header's frame size (`rtpLen`), in bytes.
    frame_bytes: u32,
    /// Its PCM16 export.
    export: Wav,
}

/// Sends the clip from ffmpeg into a real agent in real time and exports the one Record file.
fn record(name: &str, codec: Codec, packets: Packets) -> Recorded {
    record_via(name, codec, packets, false)
}

/// As [`record`]; with `via_server`, the agent is in network mode and the Record file is the
/// one the real `callrec-server` wrote.
fn record_via(name: &str, codec: Codec, packets: Packets, via_server: bool) -> Recorded {
    let dir = TempDir::new(name);
    let src = make_source(dir.path(), codec.rate());
    let server = via_server.then(|| common::server::Server::start(dir.path(), &[]));
    let mut spec = AgentSpec::host(dir.path());
    if let Some(server) = &server {
        let codec_name = match codec {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::G722 => "G722",
        };
        spec = spec.settings(&format!(
            r#"{{"mode":"network","server_address":"127.0.0.1","server_port":{},"codec":"{codec_name}"}}"#,
            server.control.port()
        ));
    }
    let agent = Agent::start(&spec);
    agent.ok("start");

    // ffmpeg sends RTCP to a second port; give it one of ours so it reaches nobody else.
    let rtcp_sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "rtp://{}?rtcpport={}",
        agent.tap,
        rtcp_sink.local_addr().unwrap().port()
    );
    let mut args = vec![
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-re",
        "-i",
        s(&src),
    ];
    args.extend(encoder_args(codec, packets));
    args.extend(["-f", "rtp", &url]);
    eprintln!("{name}: ffmpeg {}", args.join(" "));
    run("ffmpeg", &args);

    // The agent answers only after the datagrams already at the tap: no sleep needed (and a
    // server drains a session's socket before it closes the file).
    let st = agent.ok("stop");
    eprintln!("{name}: counters {:?}", st.counters);
    let files = match &server {
        None => record_files(spec.usb_dir.as_ref().unwrap()),
        Some(server) => {
            let sc = &server.sidecars()[0];
            assert_eq!(sc["stats"]["lost"], 0, "{sc}");
            vec![server.day_dir().join(sc["files"][0].as_str().unwrap())]
        }
    };
    assert_eq!(files.len(), 1, "{files:?}\n{}", agent.log());
    let file = files[0].clone();

    let (ok, info, err) = callrec(&["info", "--json", s(&file)]);
    assert!(ok.success(), "info failed: {err}");
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    eprintln!("{name}: info {info}");
    let frame_bytes = u32::try_from(info["frame_bytes"].as_u64().unwrap()).unwrap();
    let data_size = info["data_size"].as_u64().unwrap();
    assert_eq!(
        data_size % u64::from(frame_bytes),
        0,
        "{name}: a closed file holds whole frames"
    );

    let out = dir.path().join("out.wav");
    let (ok, _, err) = callrec(&["export", s(&file), s(&out)]);
    assert!(ok.success(), "export failed: {err}");
    assert_eq!(
        probe(&out),
        ("pcm_s16le".to_owned(), codec.rate(), 1),
        "ffprobe of the export"
    );
    let export = Wav::read(&out);
    assert_eq!(
        (
            export.format_tag,
            export.channels,
            export.sample_rate,
            export.bits
        ),
        (1, 1, codec.rate(), 16),
        "export header"
    );
    Recorded {
        source: Wav::read(&src),
        dir,
        file,
        frame_bytes,
        export,
    }
}

/// The normalised cross-correlation `Σx·y / sqrt(Σx²·Σy²)` over the overlap of `x[i]` and
/// `y[i + lag]`, at the best lag within `±max_lag`: (ncc, lag).
fn best_ncc(x: &[i16], y: &[i16], max_lag: usize) -> (f64, i64) {
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = y.iter().map(|&v| f64::from(v)).collect();
    let max_lag = max_lag as i64;
    let mut best = (f64::MIN, 0);
    for lag in -max_lag..=max_lag {
        let (xs, ys) = if lag >= 0 {
            (&x[..], y.get(lag as usize..).unwrap_or(&[]))
        } else {
            (x.get((-lag) as usize..).unwrap_or(&[]), &y[..])
        };
        let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
        for (a, b) in xs.iter().zip(ys) {
            xy += a * b;
            xx += a * a;
            yy += b * b;
        }
        if xx > 0.0 && yy > 0.0 {
            let ncc = xy / (xx * yy).sqrt();
            if ncc > best.0 {
                best = (ncc, lag);
            }
        }
    }
    best
}

/// Asserts that the recording has the source's duration and sounds like it. With
/// `whole_frame_padding`, the recording may also be longer by less than one frame: the writer
/// pads the last frame with silence, and a frame of ffmpeg's default packets is 182.5 ms.
fn assert_matches_source(name: &str, r: &Recorded, whole_frame_padding: bool) {
    let rate = r.export.sample_rate;
    assert_eq!(r.source.sample_rate, rate);
    let diff = r.export.seconds() - r.source.seconds();
    let pad = if whole_frame_padding {
        // One byte per 8 kHz clock tick for all three codecs.
        let frame_s = f64::from(r.frame_bytes) / 8000.0;
        (r.source.seconds() / frame_s).ceil() * frame_s - r.source.seconds()
    } else {
        0.0
    };
    let max_lag = (MAX_LAG_S * f64::from(rate)) as usize;
    let (ncc, lag) = best_ncc(&r.source.samples(), &r.export.samples(), max_lag);
    eprintln!(
        "{name}: source {:.3} s, recording {:.3} s, difference {:+.1} ms \
         ({:.1} ms of it padding the last {}-byte frame); NCC {ncc:.4} at lag {lag} samples ({:+.2} ms)",
        r.source.seconds(),
        r.export.seconds(),
        diff * 1000.0,
        pad * 1000.0,
        r.frame_bytes,
        lag as f64 * 1000.0 / f64::from(rate)
    );
    assert!(
        (diff - pad).abs() <= MAX_DURATION_DIFF_S,
        "{name}: duration differs by {:.1} ms beyond {:.1} ms of padding (source {:.3} s, recording {:.3} s)",
        diff * 1000.0,
        pad * 1000.0,
        r.source.seconds(),
        r.export.seconds()
    );
    assert!(
        ncc >= MIN_NCC,
        "{name}: NCC {ncc:.4} at lag {lag} is below {MIN_NCC}"
    );
}

/// `--keep-codec` writes the G.711 bytes as they are: ffprobe names the codec, and ffmpeg's
/// decoder gives exactly the samples of the PCM16 export (both use the standard G.711 tables).
fn assert_keep_codec_matches(name: &str, codec: Codec, r: &Recorded) {
    let keep = r.dir.path().join("keep.wav");
    let (ok, _, err) = callrec(&["export", s(&r.file), s(&keep), "--keep-codec"]);
    assert!(ok.success(), "export --keep-codec failed: {err}");
    assert_eq!(
        probe(&keep),
        (codec.ffmpeg_codec().to_owned(), 8000, 1),
        "ffprobe of the --keep-codec export"
    );
    let decoded = run(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-i",
            s(&keep),
            "-f",
            "s16le",
            "-",
        ],
    );
    assert_eq!(decoded.len(), r.export.data.len(), "{name}: sample count");
    let first_diff = decoded
        .chunks_exact(2)
        .zip(r.export.data.chunks_exact(2))
        .position(|(a, b)| a != b);
    assert_eq!(
        first_diff, None,
        "{name}: first sample where ffmpeg's decoding of the --keep-codec export differs from the PCM16 export"
    );
    eprintln!(
        "{name}: --keep-codec decodes to the PCM16 export exactly ({} samples)",
        decoded.len() / 2
    );
}

#[test]
fn pcma_from_ffmpeg_matches_the_source() {
    let r = record("ffmpeg-pcma", Codec::Pcma, Packets::Phone);
    assert_matches_source("PCMA", &r, false);
    assert_keep_codec_matches("PCMA", Codec::Pcma, &r);
}

#[test]
fn pcmu_from_ffmpeg_matches_the_source() {
    let r = record("ffmpeg-pcmu", Codec::Pcmu, Packets::Phone);
    assert_matches_source("PCMU", &r, false);
    assert_keep_codec_matches("PCMU", Codec::Pcmu, &r);
}

#[test]
fn g722_from_ffmpeg_matches_the_source() {
    let r = record("ffmpeg-g722", Codec::G722, Packets::Phone);
    assert_matches_source("G722", &r, false);
}

#[test]
fn pcma_with_ffmpeg_default_packet_sizes_matches_the_source() {
    let r = record("ffmpeg-pcma-irregular", Codec::Pcma, Packets::FfmpegDefault);
    assert_matches_source("PCMA default packets", &r, true);
}

#[test]
fn pcma_with_a_short_packet_every_256_ms_matches_the_source() {
    let r = record("ffmpeg-pcma-cut160", Codec::Pcma, Packets::Cut160);
    assert_matches_source("PCMA cut at 160", &r, false);
}

#[test]
fn pcma_from_ffmpeg_through_the_record_server_matches_the_source() {
    let r = record_via("ff-net-pcma", Codec::Pcma, Packets::Phone, true);
    assert_matches_source("PCMA via the record server", &r, false);
}

#[test]
fn g722_from_ffmpeg_through_the_record_server_matches_the_source() {
    let r = record_via("ff-net-g722", Codec::G722, Packets::Phone, true);
    assert_matches_source("G722 via the record server", &r, false);
}
