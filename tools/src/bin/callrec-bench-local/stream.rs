//! The benchmark's stream, as `callrec-loadgen --write` makes it: 20 ms G.711 A-law (PCMA) RTP
//! packets of a speech-like signal, encoded by callrec-core, with seeded numbering, and the
//! RTCP BYE that ends it, so every run sends the same bytes. This module runs the load
//! generator and reads its files back; it makes no packet itself.

use callrec_tools::error::Context;
use callrec_tools::process::run_within;
use callrec_tools::ToolError;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What the benchmark sends (the load generator's `written` line must agree).
pub const CODEC: &str = "PCMA";
pub const PT_PCMA: u8 = 8;
pub const RATE_HZ: u32 = 8000;
/// One packet's audio, in seconds.
pub const PERIOD_S: f64 = 0.020;
/// 20 ms of 8 kHz A-law, one byte per sample.
pub const FRAME_BYTES: usize = 160;
/// The longest the load generator may take to write the stream.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// The packets of one stream, the payloads they carry in order, and the RTCP BYE that ends it
/// (ffmpeg's SDP input ends cleanly on it).
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub packets: Vec<Vec<u8>>,
    pub payloads: Vec<u8>,
    pub bye: Vec<u8>,
}

impl Stream {
    pub fn audio_bytes(&self) -> usize {
        self.payloads.len()
    }

    /// The stream's first `count` packets (and their payloads).
    pub fn first(&self, count: usize) -> Stream {
        let count = count.min(self.packets.len());
        Stream {
            packets: self.packets[..count].to_vec(),
            payloads: self.payloads[..(count * FRAME_BYTES).min(self.payloads.len())].to_vec(),
            bye: self.bye.clone(),
        }
    }
}

/// The packet count of `seconds` of stream.
pub fn packets_in(seconds: f64) -> usize {
    (seconds / PERIOD_S).round() as usize
}

/// The load generator's command line that writes `seconds` of the stream into `out`.
pub fn loadgen_argv(loadgen: &Path, seconds: f64, out: &Path) -> Vec<String> {
    vec![
        loadgen.display().to_string(),
        "--write".into(),
        out.display().to_string(),
        "--seconds".into(),
        callrec_tools::markdown::g(seconds),
    ]
}

/// `seconds` of the stream, written by the load generator into `out` and read back.
pub fn write_stream(loadgen: &Path, seconds: f64, out: &Path) -> Result<Stream, ToolError> {
    let argv = loadgen_argv(loadgen, seconds, out);
    let done = run_within(
        "callrec-loadgen",
        Command::new(&argv[0]).args(&argv[1..]),
        WRITE_TIMEOUT,
    )?;
    if !done.status.success() {
        return Err(ToolError::setup(format!(
            "{} failed: {}",
            argv.join(" "),
            String::from_utf8_lossy(&done.stderr).trim()
        )));
    }
    let info: Value = serde_json::from_slice(&done.stdout)
        .context(|| "callrec-loadgen --write's `written` line".to_string())?;
    check_written(&info).map_err(ToolError::setup)?;
    let read = |name: &str| {
        let path = out.join(name);
        std::fs::read(&path).context(|| format!("reading {}", path.display()))
    };
    let packets = framed_packets(&read("stream.rtp")?)
        .map_err(|e| ToolError::setup(format!("{}: {e}", out.join("stream.rtp").display())))?;
    let stream = Stream {
        packets,
        payloads: read("stream.alaw")?,
        bye: read("bye.rtcp")?,
    };
    let (packets, audio) = (info["packets"].as_u64(), info["audio_bytes"].as_u64());
    if packets != Some(stream.packets.len() as u64) || audio != Some(stream.audio_bytes() as u64) {
        return Err(ToolError::setup(format!(
            "{}: {} packets and {} audio bytes, callrec-loadgen says {info}",
            out.display(),
            stream.packets.len(),
            stream.audio_bytes()
        )));
    }
    Ok(stream)
}

/// Whether the load generator's `written` line describes the stream this benchmark sends.
pub fn check_written(info: &Value) -> Result<(), String> {
    let want = [
        ("codec", Value::from(CODEC)),
        ("payload_type", Value::from(PT_PCMA)),
        ("clock_hz", Value::from(RATE_HZ)),
        ("period_ms", Value::from((PERIOD_S * 1000.0).round() as u64)),
        ("frame_bytes", Value::from(FRAME_BYTES)),
    ];
    if want.iter().all(|(key, value)| info.get(key) == Some(value)) {
        return Ok(());
    }
    let want: serde_json::Map<String, Value> =
        want.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    Err(format!(
        "callrec-loadgen --write made another stream: {info}, want {}",
        Value::Object(want)
    ))
}

/// The datagrams of `stream.rtp`: each after its 2-byte big-endian length.
pub fn framed_packets(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut packets = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let [hi, lo, body @ ..] = rest else {
            return Err(format!(
                "a length cut short after {} packets",
                packets.len()
            ));
        };
        let n = usize::from(u16::from_be_bytes([*hi, *lo]));
        if body.len() < n {
            return Err(format!(
                "packet {} is {n} bytes but {} are left",
                packets.len(),
                body.len()
            ));
        }
        packets.push(body[..n].to_vec());
        rest = &body[n..];
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn packets_are_read_after_their_lengths_and_a_cut_file_is_an_error() {
        let data = [0, 2, 0xa, 0xb, 0, 0, 0, 1, 0xc];
        assert_eq!(
            framed_packets(&data).unwrap(),
            vec![vec![0xa, 0xb], vec![], vec![0xc]]
        );
        assert!(framed_packets(&data[..8]).unwrap_err().contains("packet 2"));
        assert!(framed_packets(&data[..1]).unwrap_err().contains("length"));
        assert_eq!(framed_packets(&[]).unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn only_the_stream_this_benchmark_sends_is_taken() {
        let mut info = json!({"event": "written", "packets": 3, "audio_bytes": 480,
            "codec": "PCMA", "payload_type": 8, "clock_hz": 8000, "period_ms": 20,
            "frame_bytes": 160});
        assert_eq!(check_written(&info), Ok(()));
        info["codec"] = json!("PCMU");
        assert!(check_written(&info).unwrap_err().contains("want"));
    }

    #[test]
    fn the_first_packets_carry_the_first_payloads() {
        let s = Stream {
            packets: vec![vec![1], vec![2], vec![3]],
            payloads: vec![7; 3 * FRAME_BYTES],
            bye: vec![9],
        };
        let two = s.first(2);
        assert_eq!(two.packets, vec![vec![1], vec![2]]);
        assert_eq!(two.audio_bytes(), 2 * FRAME_BYTES);
        assert_eq!(two.bye, vec![9]);
        assert_eq!(packets_in(10.0), 500);
        assert_eq!(
            loadgen_argv(Path::new("/l"), 2.5, Path::new("/t/s"))[4],
            "2.5"
        );
    }
}
