//! The clip the phone plays: real speech, as a phone call would carry, made by espeak-ng and
//! resampled by ffmpeg to 16 kHz mono (enough for G.722's wideband, and its own rate); the
//! simulator loops it. Without espeak-ng it is a 440 Hz tone.

use crate::failure::{failed, Failure, Result};
use crate::procs::run;
use crate::{step, Ctx};
use callrec_tools::process::on_path;
use std::fs::File;
use std::process::Command;
use std::time::Duration;

const TEXT: &str = "Hello, and thank you for calling the help desk. \
    This call is recorded by call rec, on the phone's USB stick or on a record server. \
    Some of these words are paused, and left out of the recording. \
    Thank you, and goodbye.";

/// espeak-ng and ffmpeg take well under a second for it.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Makes the clip: the simulator's options that play it (`--wav FILE` or `--sine 440`).
pub fn make(ctx: &Ctx) -> Result<Vec<String>> {
    step("a speech clip (espeak-ng, 16 kHz mono)")?;
    let speech = ctx.file("speech.wav");
    let err_path = ctx.file("espeak.err");
    let err = File::create(&err_path)
        .or_else(|e| failed(format!("making {}: {e}", ctx.rel(&err_path))))?;
    let mut command = Command::new("espeak-ng");
    command
        .args(["-s", "150", "-w"])
        .arg(&speech)
        .arg(TEXT)
        .stderr(err);
    let spoken = match run("espeak-ng", &mut command, TIMEOUT) {
        Ok(status) => status.success(),
        Err(Failure::Failed(why)) => {
            // Not started (not installed) or hung: the reason where espeak-ng's own would be.
            let _ = std::fs::write(&err_path, format!("{why}\n"));
            false
        }
        Err(interrupted) => return Err(interrupted),
    };
    if !spoken {
        let said = std::fs::read(&err_path).unwrap_or_default();
        let said: Vec<u8> = said
            .iter()
            .map(|&b| if b == b'\n' { b' ' } else { b })
            .take(200)
            .collect();
        println!(
            "   espeak-ng failed ({}); a 440 Hz tone instead",
            String::from_utf8_lossy(&said)
        );
        return Ok(vec!["--sine".into(), "440".into()]);
    }
    // The simulator takes any rate; 16 kHz keeps the clip small and is G.722's own rate.
    let clip = ctx.file("clip.wav");
    let mut resample = Command::new("ffmpeg");
    resample
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(&speech)
        .args(["-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le"])
        .arg(&clip);
    let wav = if on_path("ffmpeg") && run("ffmpeg", &mut resample, TIMEOUT)?.success() {
        clip
    } else {
        speech
    };
    println!("   {}", ctx.rel(&wav));
    Ok(vec!["--wav".into(), wav.display().to_string()])
}
