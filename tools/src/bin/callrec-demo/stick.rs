//! What call 1 left on the stick: exactly one `Record_` file, shown by `callrec info`, its
//! duration checked, exported by `callrec export` to a WAV that is checked again (ffprobe's
//! duration, loudness).

use crate::checks::{audible_or_fail, duration, probe_ms, CALL1_EXPECT_MS};
use crate::failure::{failed, Result};
use crate::procs::run_ok;
use crate::{step, Ctx};
use callrec_tools::process::run_within;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `callrec info` and `export` of a 10 s recording take milliseconds.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The stick's `Record_*.wav` files, sorted by name.
fn records(stick: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(stick)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("Record_") && n.ends_with(".wav"))
        })
        .collect();
    files.sort();
    files
}

/// A recording's duration by `callrec info --json`.
fn duration_ms(ctx: &Ctx, file: &Path) -> Result<i64> {
    let mut command = Command::new(&ctx.callrec);
    command.arg("info").arg(file).arg("--json");
    let done = run_within("callrec info --json", &mut command, TIMEOUT)?;
    let info: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap_or_default();
    match info["duration_ms"].as_i64() {
        Some(ms) if done.status.success() => Ok(ms),
        _ => failed(format!(
            "callrec info --json {} ({}): {}{}",
            ctx.rel(file),
            done.status,
            String::from_utf8_lossy(&done.stdout).trim(),
            String::from_utf8_lossy(&done.stderr).trim()
        )),
    }
}

/// Reports the stick; the `Listen:` line of its WAV.
pub fn report(ctx: &Ctx) -> Result<Vec<String>> {
    step("on the stick (local mode)")?;
    let files = records(&ctx.file("stick"));
    match files.len() {
        0 => return failed("no Record_ file on the stick"),
        1 => {}
        n => return failed(format!("{n} Record_ files on the stick, expected 1")),
    }
    let mut listen = Vec::new();
    for file in &files {
        run_ok(
            "callrec info",
            Command::new(&ctx.callrec).arg("info").arg(file),
            TIMEOUT,
        )?;
        let ms = duration_ms(ctx, file)?;
        duration(&ctx.rel(file), ms, CALL1_EXPECT_MS)?;
        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
        let wav = ctx.file("wav").join(format!("{stem}.wav"));
        run_ok(
            "callrec export",
            Command::new(&ctx.callrec).arg("export").arg(file).arg(&wav),
            TIMEOUT,
        )?;
        let probed = probe_ms(ctx, &wav)?;
        println!(
            "exported:    {}{}",
            ctx.rel(&wav),
            probed.map_or(String::new(), |ms| format!(" (ffprobe: {ms} ms)"))
        );
        if let Some(probed) = probed {
            duration(&ctx.rel(&wav), probed, CALL1_EXPECT_MS)?;
        }
        audible_or_fail(ctx, &wav)?;
        listen.push(format!(
            "{} (local call with Bob, {ms} ms, from {})",
            ctx.rel(&wav),
            ctx.rel(file)
        ));
    }
    Ok(listen)
}
