//! Byte-for-byte comparison of the two builds' files, and where two Record files differ: the
//! offset, whether it is in the header (and which header fields `callrec info` reads
//! differently) or in the audio (which frame, at what time). The header is read by the host
//! build's `callrec info --json`, never here.

use callrec_tools::error::{Context, ToolError};
use callrec_tools::markdown::g;
use callrec_tools::process::run_within;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The longest `callrec info` may take.
const INFO_TIMEOUT: Duration = Duration::from_secs(30);
/// A PCM16 WAV's header, as `callrec export` writes it.
const WAV_HEADER: usize = 44;

/// A Record file's header as `callrec info --json` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub codec: String,
    pub frame_bytes: u64,
    pub increment: u64,
    /// dataSize as the reader trusts it.
    pub data_size: u64,
    /// dataSize as written in the header.
    pub header_data_size: u64,
    pub frames: u64,
    pub duration_ms: u64,
    pub stale_header: bool,
}

/// What `callrec info` made of a file: its header, or why it cannot read it.
pub type Reading = Result<Info, String>;

impl Info {
    /// From `callrec info --json`'s object; None if a field is missing or of another type.
    pub fn from_json(v: &Value) -> Option<Info> {
        let n = |k: &str| v[k].as_u64();
        Some(Info {
            codec: v["codec"].as_str()?.to_string(),
            frame_bytes: n("frame_bytes")?,
            increment: n("increment")?,
            data_size: n("data_size")?,
            header_data_size: n("header_data_size")?,
            frames: n("frames")?,
            duration_ms: n("duration_ms")?,
            stale_header: v["stale_header"].as_bool()?,
        })
    }

    /// The header fields compared between two files, by `callrec info`'s names.
    fn fields(&self) -> [(&'static str, String); 6] {
        [
            ("codec", self.codec.clone()),
            ("frame_bytes", self.frame_bytes.to_string()),
            ("increment", self.increment.to_string()),
            ("header_data_size", self.header_data_size.to_string()),
            ("data_size", self.data_size.to_string()),
            ("stale_header", self.stale_header.to_string()),
        ]
    }
}

/// `CALLREC info FILE --json`: the file's header as callrec reads it, or why it cannot (its
/// message). An error only if callrec could not be run or printed no JSON.
pub fn record_info(callrec: &Path, file: &Path) -> Result<Reading, ToolError> {
    let mut cmd = Command::new(callrec);
    cmd.arg("info").arg(file).arg("--json");
    let out = run_within("callrec info", &mut cmd, INFO_TIMEOUT)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Ok(Err(if err.is_empty() {
            format!("callrec info {}", out.status)
        } else {
            err
        }));
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .context(|| format!("callrec info {} --json", file.display()))?;
    Info::from_json(&v)
        .map(Ok)
        .ok_or_else(|| ToolError::setup(format!("callrec info printed an unknown form: {v}")))
}

/// Where the audio starts in a file of `len` bytes: an up-to-date header is followed by exactly
/// its dataSize bytes. None if the header is stale or unreadable.
fn audio_start(reading: &Reading, len: usize) -> Option<usize> {
    match reading {
        Ok(info) if !info.stale_header => Some(len.saturating_sub(info.header_data_size as usize)),
        _ => None,
    }
}

/// Where `offset` is in a Record file whose audio starts at `start`: the header, or a byte and
/// frame of the audio and its time (frame size and duration from `info`).
fn describe_offset(offset: usize, start: Option<usize>, info: Option<&Info>) -> String {
    let Some(start) = start else {
        return "header or audio unknown (neither header is up to date)".to_string();
    };
    if offset < start {
        return format!("in the header (bytes 0-{})", start.saturating_sub(1));
    }
    let byte = offset - start;
    let Some(info) = info.filter(|i| i.frame_bytes > 0) else {
        return format!("data byte {byte}");
    };
    let frame = byte as u64 / info.frame_bytes;
    let mut text = format!("data byte {byte}, frame {frame}");
    if info.frames > 0 {
        let ms = frame as f64 * info.duration_ms as f64 / info.frames as f64;
        text += &format!(" (at {} ms of the recording)", g(ms));
    }
    text
}

/// One line of a header as `callrec info` read it.
fn header_summary(reading: &Reading) -> String {
    match reading {
        Err(why) => format!("unreadable ({why})"),
        Ok(i) => format!(
            "codec {} frame_bytes {} increment {} dataSize {}{}",
            i.codec,
            i.frame_bytes,
            i.increment,
            i.header_data_size,
            if i.stale_header { ", stale" } else { "" }
        ),
    }
}

/// The header fields `callrec info` reads differently from the two files.
fn header_differences(host: &Reading, arm: &Reading) -> String {
    let (Ok(h), Ok(a)) = (host, arm) else {
        return "header fields: not compared (callrec info cannot read a file)".to_string();
    };
    let differ: Vec<String> = h
        .fields()
        .into_iter()
        .zip(a.fields())
        .filter(|((_, hv), (_, av))| hv != av)
        .map(|((k, hv), (_, av))| format!("{k} host {hv}, ARM {av}"))
        .collect();
    if differ.is_empty() {
        "header fields (callrec info): the same".to_string()
    } else {
        format!(
            "header fields that differ (callrec info): {}",
            differ.join(", ")
        )
    }
}

/// Where two byte strings differ within their common length: the offsets.
fn differing(host: &[u8], arm: &[u8]) -> Vec<usize> {
    host.iter()
        .zip(arm)
        .enumerate()
        .filter(|(_, (h, a))| h != a)
        .map(|(k, _)| k)
        .collect()
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

fn names(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")
}

fn read(path: &Path) -> Result<Vec<u8>, ToolError> {
    std::fs::read(path).context(|| format!("reading {}", path.display()))
}

/// Byte-for-byte comparison of two lists of Record files, in order: one line for each pair
/// that differs (where, from `info`'s reading of each file: normally [`record_info`]), and one
/// if the counts differ. No lines: the same bytes.
pub fn compare_records(
    label: &str,
    host: &[PathBuf],
    arm: &[PathBuf],
    mut info: impl FnMut(&Path) -> Result<Reading, ToolError>,
) -> Result<Vec<String>, ToolError> {
    let mut problems = Vec::new();
    if host.len() != arm.len() {
        problems.push(format!(
            "{label}: {} file(s) on the host, {} on ARM: [{}] vs [{}]",
            host.len(),
            arm.len(),
            names(host),
            names(arm)
        ));
    }
    for (i, (h, a)) in host.iter().zip(arm).enumerate() {
        let (hb, ab) = (read(h)?, read(a)?);
        if hb == ab {
            continue;
        }
        let (hi, ai) = (info(h)?, info(a)?);
        let start = audio_start(&hi, hb.len()).or_else(|| audio_start(&ai, ab.len()));
        let frames_of = hi.as_ref().ok().or(ai.as_ref().ok());
        let common = hb.len().min(ab.len());
        let differ = differing(&hb, &ab);
        let first = differ.first().copied().unwrap_or(common);
        let what = if first < common {
            format!("host 0x{:02x}, ARM 0x{:02x}", hb[first], ab[first])
        } else {
            format!(
                "one file ends there: host {} bytes, ARM {} bytes",
                hb.len(),
                ab.len()
            )
        };
        let mut text = format!(
            "{label} file {} ({} vs {}): first difference at offset {first}, {}: {what}; {} \
             differing byte(s) in the common {common}",
            i + 1,
            name(h),
            name(a),
            describe_offset(first, start, frames_of),
            differ.len()
        );
        if let Some(start) = start.filter(|s| first < *s) {
            if let Some(&in_audio) = differ.iter().find(|&&k| k >= start) {
                text += &format!(
                    "; the first in the audio at offset {in_audio}, {}",
                    describe_offset(in_audio, Some(start), frames_of)
                );
            }
        }
        problems.push(format!(
            "{text}; {}; host header: {}; ARM header: {}",
            header_differences(&hi, &ai),
            header_summary(&hi),
            header_summary(&ai)
        ));
    }
    Ok(problems)
}

/// Byte-for-byte comparison of the WAVs `callrec export` wrote from the same recording: one line
/// for each pair that differs (in the RIFF header or which PCM sample).
pub fn compare_wavs(
    label: &str,
    host: &[PathBuf],
    arm: &[PathBuf],
) -> Result<Vec<String>, ToolError> {
    let mut problems = Vec::new();
    for (i, (h, a)) in host.iter().zip(arm).enumerate() {
        let (hb, ab) = (read(h)?, read(a)?);
        if hb == ab {
            continue;
        }
        let first = differing(&hb, &ab)
            .first()
            .copied()
            .unwrap_or(hb.len().min(ab.len()));
        let place = if first < WAV_HEADER {
            "the RIFF header".to_string()
        } else {
            format!("PCM sample {}", (first - WAV_HEADER) / 2)
        };
        problems.push(format!(
            "{label} file {}: first difference at offset {first} ({place}); host {} bytes, ARM \
             {} bytes",
            i + 1,
            hb.len(),
            ab.len()
        ));
    }
    Ok(problems)
}

/// The audio bytes of Record files by `info`, and a line for each file it cannot vouch for
/// (unreadable, or a stale header).
fn recorded_audio(
    files: &[PathBuf],
    mut info: impl FnMut(&Path) -> Result<Reading, ToolError>,
) -> Result<(u64, Vec<String>), ToolError> {
    let (mut audio, mut bad) = (0, Vec::new());
    for f in files {
        let reading = info(f)?;
        match &reading {
            Ok(i) if !i.stale_header => audio += i.data_size,
            Ok(i) => {
                audio += i.data_size;
                bad.push(format!("{}: {}", name(f), header_summary(&reading)));
            }
            Err(_) => bad.push(format!("{}: {}", name(f), header_summary(&reading))),
        }
    }
    Ok((audio, bad))
}

/// The clean run must record exactly the script's audio (`want` bytes) in one file with an
/// up-to-date header; otherwise what `who` recorded instead.
pub fn clean_audio_problem(
    who: &str,
    files: &[PathBuf],
    want: u64,
    info: impl FnMut(&Path) -> Result<Reading, ToolError>,
) -> Result<Option<String>, ToolError> {
    let (audio, bad) = recorded_audio(files, info)?;
    if audio == want && files.len() == 1 && bad.is_empty() {
        return Ok(None);
    }
    let mut text = format!(
        "{who} recorded {audio} audio bytes in {} file(s), the script sends {want} in one",
        files.len()
    );
    for b in bad {
        text += &format!("; {b}");
    }
    Ok(Some(text))
}

/// The total size of files.
pub fn sizes(files: &[PathBuf]) -> Result<u64, ToolError> {
    files.iter().try_fold(0, |sum, f| {
        let m = std::fs::metadata(f).context(|| format!("reading {}", f.display()))?;
        Ok(sum + m.len())
    })
}

/// The files' bytes one after the other: what a repeated run must record again.
pub fn contents(files: &[PathBuf]) -> Result<Vec<u8>, ToolError> {
    let mut all = Vec::new();
    for f in files {
        all.extend(read(f)?);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use callrec_core::codec::Codec;
    use callrec_core::record_file::testing::file_bytes;
    use callrec_tools::workdir::WorkDir;

    /// What `callrec info` reports of a `file_bytes` file of PCMA with `data` bytes of audio,
    /// an increment of `increment` and dataSize `claimed`.
    fn pcma(increment: u64, data: u64, claimed: u64) -> Info {
        let frames = claimed.min(data) / 160;
        Info {
            codec: "PCMA".into(),
            frame_bytes: 160,
            increment,
            data_size: claimed.min(data),
            header_data_size: claimed,
            frames,
            duration_ms: frames * increment / 8,
            stale_header: claimed != data,
        }
    }

    /// Writes `files` (name, bytes, what callrec info says of it) in `dir`; their paths, and an
    /// `info` that answers for them as callrec would.
    fn setup(
        dir: &Path,
        files: Vec<(&str, Vec<u8>, Reading)>,
    ) -> (
        Vec<PathBuf>,
        impl FnMut(&Path) -> Result<Reading, ToolError>,
    ) {
        let mut paths = Vec::new();
        let mut readings = Vec::new();
        for (n, bytes, reading) in files {
            let p = dir.join(n);
            std::fs::write(&p, bytes).unwrap();
            paths.push(p.clone());
            readings.push((p, reading));
        }
        let info = move |p: &Path| {
            Ok(readings
                .iter()
                .find(|(q, _)| q == p)
                .map(|(_, r)| r.clone())
                .expect("a file of the test"))
        };
        (paths, info)
    }

    #[test]
    fn a_header_field_and_a_frame_that_differ_are_both_named() {
        let dir = WorkDir::new("callrec-e2e-arm-test").unwrap();
        let audio = vec![0xd5u8; 5 * 160];
        let host = file_bytes(Codec::Pcma, audio.len(), &audio);
        // The ARM file: increment 80 instead of 160 (header bytes 68-71), and one byte of the
        // third frame (data byte 325) changed.
        let mut arm = host.clone();
        arm[68..72].copy_from_slice(&80i32.to_le_bytes());
        arm[76 + 325] = 0x55;
        let (paths, info) = setup(
            dir.path(),
            vec![
                ("Record_host", host, Ok(pcma(160, 800, 800))),
                ("Record_arm", arm, Ok(pcma(80, 800, 800))),
            ],
        );
        let problems = compare_records("local", &paths[..1], &paths[1..], info).unwrap();
        assert_eq!(
            problems,
            [
                "local file 1 (Record_host vs Record_arm): first difference at offset 68, in the \
                 header (bytes 0-75): host 0xa0, ARM 0x50; 2 differing byte(s) in the common \
                 876; the first in the audio at offset 401, data byte 325, frame 2 (at 40 ms of \
                 the recording); header fields that differ (callrec info): increment host 160, \
                 ARM 80; host header: codec PCMA frame_bytes 160 increment 160 dataSize 800; \
                 ARM header: codec PCMA frame_bytes 160 increment 80 dataSize 800"
            ]
        );
    }

    #[test]
    fn a_shorter_file_and_a_missing_one_are_told() {
        let dir = WorkDir::new("callrec-e2e-arm-test").unwrap();
        let audio = vec![0x2au8; 3 * 160];
        let host = file_bytes(Codec::Pcma, 480, &audio);
        // The ARM build stopped a frame earlier but its header claims all three (stale).
        let arm = file_bytes(Codec::Pcma, 480, &audio[..320]);
        let (paths, info) = setup(
            dir.path(),
            vec![
                ("Record_1", host.clone(), Ok(pcma(160, 480, 480))),
                ("Record_2", host, Ok(pcma(160, 480, 480))),
                ("Record_a", arm, Ok(pcma(160, 320, 480))),
            ],
        );
        let problems = compare_records("x", &paths[..2], &paths[2..], info).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            problems[0],
            "x: 2 file(s) on the host, 1 on ARM: [Record_1, Record_2] vs [Record_a]"
        );
        assert!(
            problems[1].starts_with(
                "x file 1 (Record_1 vs Record_a): first difference at offset 396, data byte \
                 320, frame 2 (at 40 ms of the recording): one file ends there: host 556 bytes, \
                 ARM 396 bytes; 0 differing byte(s) in the common 396; header fields that \
                 differ (callrec info): data_size host 480, ARM 320, stale_header host false, \
                 ARM true;"
            ),
            "{}",
            problems[1]
        );
        assert!(
            problems[1].ends_with("dataSize 480, stale"),
            "{}",
            problems[1]
        );
    }

    #[test]
    fn equal_files_are_not_read_by_callrec_and_unreadable_ones_are_said_so() {
        let dir = WorkDir::new("callrec-e2e-arm-test").unwrap();
        let bytes = file_bytes(Codec::G722, 160, &[1; 160]);
        let (paths, _) = setup(
            dir.path(),
            vec![
                ("a", bytes.clone(), Err("never asked".into())),
                ("b", bytes, Err("never asked".into())),
            ],
        );
        let never = |_: &Path| -> Result<Reading, ToolError> { panic!("read equal files") };
        assert!(compare_records("y", &paths[..1], &paths[1..], never)
            .unwrap()
            .is_empty());

        let bad = |_: &Path| Ok(Err("not a Record file".to_string()));
        std::fs::write(&paths[1], b"garbage").unwrap();
        let problems = compare_records("y", &paths[..1], &paths[1..], bad).unwrap();
        assert!(
            problems[0].contains(
                "offset 0, header or audio unknown (neither header is up to date): host 0x47, \
                 ARM 0x67"
            ),
            "{}",
            problems[0]
        );
        assert!(problems[0].ends_with(
            "header fields: not compared (callrec info cannot read a file); host header: \
             unreadable (not a Record file); ARM header: unreadable (not a Record file)"
        ));
    }

    #[test]
    fn the_clean_run_needs_all_its_audio_in_one_up_to_date_file() {
        let dir = WorkDir::new("callrec-e2e-arm-test").unwrap();
        let (paths, mut info) = setup(
            dir.path(),
            vec![
                ("one", vec![], Ok(pcma(160, 800, 800))),
                ("stale", vec![], Ok(pcma(160, 800, 640))),
            ],
        );
        assert_eq!(
            clean_audio_problem("the host agent", &paths[..1], 800, &mut info).unwrap(),
            None
        );
        assert_eq!(
            clean_audio_problem("the host agent", &paths, 800, &mut info)
                .unwrap()
                .unwrap(),
            "the host agent recorded 1440 audio bytes in 2 file(s), the script sends 800 in \
             one; stale: codec PCMA frame_bytes 160 increment 160 dataSize 640, stale"
        );
    }

    #[test]
    fn wavs_that_differ_name_the_sample() {
        let dir = WorkDir::new("callrec-e2e-arm-test").unwrap();
        let mut a = vec![0u8; 44 + 20];
        let b = a.clone();
        a[44 + 7] = 1;
        let (paths, _) = setup(dir.path(), vec![("h.wav", a, Err(String::new()))]);
        std::fs::write(dir.path().join("a.wav"), b).unwrap();
        let arm = [dir.path().join("a.wav")];
        assert_eq!(
            compare_wavs("local → export WAV", &paths, &arm).unwrap(),
            [
                "local → export WAV file 1: first difference at offset 51 (PCM sample 3); host 64 \
              bytes, ARM 64 bytes"
            ]
        );
        assert!(compare_wavs("z", &paths, &paths).unwrap().is_empty());
        assert_eq!(sizes(&paths).unwrap(), 64);
    }

    #[test]
    fn callrec_infos_json_is_read() {
        let v: Value = serde_json::from_str(
            r#"{"file": "f", "codec": "G722", "frame_bytes": 160, "increment": 160,
                "data_size": 320, "header_data_size": 320, "frames": 2, "duration_ms": 40,
                "stale_header": false}"#,
        )
        .unwrap();
        let i = Info::from_json(&v).unwrap();
        assert_eq!(
            (i.codec.as_str(), i.frames, i.stale_header),
            ("G722", 2, false)
        );
        assert_eq!(Info::from_json(&serde_json::json!({"codec": "PCMA"})), None);
    }
}
