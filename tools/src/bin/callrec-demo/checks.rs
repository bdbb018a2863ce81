//! The checks of a recording: its duration against the calls' timetable, ffprobe's duration of
//! an exported WAV, and its loudness (ffmpeg's volumedetect): a recording of the right length
//! could still be all silence. Without ffprobe or ffmpeg those checks are left out.

use crate::failure::{failed, Result};
use crate::Ctx;
use callrec_tools::process::{on_path, run_within};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What the two calls should leave, in ms of recorded audio (the simulator's timetable): call 1
/// records 1-4 s and 6-10 s; call 2 records from answer (0.5 s) to hangup (9 s) less the hold
/// (4-5 s).
pub const CALL1_EXPECT_MS: i64 = 7000;
pub const CALL2_EXPECT_MS: i64 = 7500;
/// The agent places audio on a 20 ms grid and flushes once a second: the slack allowed.
pub const SLACK_MS: i64 = 1000;
/// Below this mean loudness a recording is silent; speech or the tone is around -15 to -30 dB.
const SILENT_DB: f64 = -50.0;
/// ffprobe and ffmpeg read a 10 s WAV in well under a second.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// An error unless `ms` is within [`SLACK_MS`] of `expect` (and not 0).
pub fn check_duration(what: &str, ms: i64, expect: i64) -> std::result::Result<(), String> {
    if ms <= 0 {
        return Err(format!("{what}: duration 0"));
    }
    if ms < expect - SLACK_MS || ms > expect + SLACK_MS {
        return Err(format!(
            "{what}: {ms} ms recorded, expected about {expect} ms"
        ));
    }
    Ok(())
}

/// [`check_duration`] as a step's result.
pub fn duration(what: &str, ms: i64, expect: i64) -> Result<()> {
    check_duration(what, ms, expect).or_else(failed)
}

/// ffprobe's duration (`format=duration`, in seconds) as whole ms, cut as `%d` would; 0 if it
/// is not a number (`N/A`), `None` if ffprobe printed nothing.
pub fn parse_probe(stdout: &str) -> Option<i64> {
    let text = stdout.split_whitespace().next()?;
    Some(text.parse::<f64>().map_or(0, |s| (s * 1000.0) as i64))
}

/// ffprobe's duration of a WAV in ms, when ffprobe is there.
pub fn probe_ms(ctx: &Ctx, wav: &Path) -> Result<Option<i64>> {
    if !on_path("ffprobe") {
        return Ok(None);
    }
    let mut command = Command::new("ffprobe");
    command
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(wav);
    let done = run_within("ffprobe", &mut command, TOOL_TIMEOUT)?;
    if !done.status.success() {
        return failed(format!(
            "ffprobe failed on {} ({}): {}",
            ctx.rel(wav),
            done.status,
            String::from_utf8_lossy(&done.stderr).trim()
        ));
    }
    Ok(parse_probe(&String::from_utf8_lossy(&done.stdout)))
}

/// The mean loudness in ffmpeg's volumedetect report (`… mean_volume: -20.8 dB`), as written
/// (`-inf` for digital silence).
pub fn parse_mean_volume(stderr: &str) -> Option<String> {
    stderr.lines().find_map(|line| {
        let (_, after) = line.rsplit_once("mean_volume: ")?;
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || "-.inf".contains(c)))
            .unwrap_or(after.len());
        after[end..]
            .starts_with(" dB")
            .then(|| after[..end].to_string())
    })
}

/// Whether a mean loudness (as ffmpeg writes it) is above [`SILENT_DB`].
pub fn audible(db: &str) -> bool {
    !db.contains("inf") && db.parse::<f64>().is_ok_and(|v| v > SILENT_DB)
}

/// The mean loudness of a WAV in dB, when ffmpeg is there.
fn mean_db(ctx: &Ctx, wav: &Path) -> Result<Option<String>> {
    if !on_path("ffmpeg") {
        return Ok(None);
    }
    let mut command = Command::new("ffmpeg");
    command
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(wav)
        .args(["-af", "volumedetect", "-f", "null", "-"]);
    let done = run_within("ffmpeg", &mut command, TOOL_TIMEOUT)?;
    if !done.status.success() {
        return failed(format!(
            "ffmpeg volumedetect failed on {} ({})",
            ctx.rel(wav),
            done.status
        ));
    }
    Ok(parse_mean_volume(&String::from_utf8_lossy(&done.stderr)))
}

/// Prints a WAV's loudness; an error if it is (nearly) silent.
pub fn audible_or_fail(ctx: &Ctx, wav: &Path) -> Result<()> {
    let Some(db) = mean_db(ctx, wav)? else {
        return Ok(());
    };
    println!("loudness:    mean {db} dB");
    if !audible(&db) {
        return failed(format!("{} is silent (mean {db} dB)", ctx.rel(wav)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_within_the_slack_pass() {
        assert_eq!(check_duration("a", 7000, 7000), Ok(()));
        assert_eq!(check_duration("a", 6000, 7000), Ok(()));
        assert_eq!(check_duration("a", 8000, 7000), Ok(()));
        assert_eq!(check_duration("b", 7460, CALL2_EXPECT_MS), Ok(()));
    }

    #[test]
    fn durations_outside_the_slack_or_zero_fail() {
        assert_eq!(
            check_duration("f.wav", 5999, 7000),
            Err("f.wav: 5999 ms recorded, expected about 7000 ms".into())
        );
        assert_eq!(
            check_duration("f.wav", 8001, 7000),
            Err("f.wav: 8001 ms recorded, expected about 7000 ms".into())
        );
        assert_eq!(
            check_duration("f.wav", 0, 7000),
            Err("f.wav: duration 0".into())
        );
    }

    #[test]
    fn ffprobe_durations_are_cut_to_whole_ms() {
        assert_eq!(parse_probe("7.000000\n"), Some(7000));
        assert_eq!(parse_probe("7.460000\n"), Some(7460));
        assert_eq!(parse_probe("0.0199\n"), Some(19));
        assert_eq!(parse_probe("N/A\n"), Some(0));
        assert_eq!(parse_probe(""), None);
    }

    #[test]
    fn the_mean_volume_line_is_found_among_ffmpegs_report() {
        let report = "\
Input #0, wav, from 'x.wav':
  Duration: 00:00:07.00, bitrate: 128 kb/s
[Parsed_volumedetect_0 @ 0x55d0c1e2a880] n_samples: 56000
[Parsed_volumedetect_0 @ 0x55d0c1e2a880] mean_volume: -20.8 dB
[Parsed_volumedetect_0 @ 0x55d0c1e2a880] max_volume: -3.1 dB
";
        assert_eq!(parse_mean_volume(report).as_deref(), Some("-20.8"));
        let silence = "[Parsed_volumedetect_0 @ 0x1] mean_volume: -inf dB\n";
        assert_eq!(parse_mean_volume(silence).as_deref(), Some("-inf"));
        assert_eq!(parse_mean_volume("no report\n"), None);
        assert_eq!(
            parse_mean_volume("mean_volume: -20.8 dBFS x\n").as_deref(),
            Some("-20.8")
        );
    }

    #[test]
    fn silence_is_not_audible() {
        assert!(audible("-20.8"));
        assert!(audible("-49.9"));
        assert!(!audible("-50.0"));
        assert!(!audible("-91.0"));
        assert!(!audible("-inf"));
        assert!(!audible(""));
    }
}
