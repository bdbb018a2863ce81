//! The comparison: M processes `ffmpeg -c copy`, one SDP stream each (RTP on 18000 + 2K, its
//! RTCP on the port above), fed by `callrec-loadgen --raw` with the same packets for the same
//! window and read at the same two points (`send_start`, `send_end`): their CPU time summed,
//! their VmRSS at the end. Each must end on the loadgen's RTCP BYE, and its output must hold
//! all the audio sent.

use crate::checks::{Tally, FRAME_BYTES};
use crate::events::{self, Events};
use crate::kernel;
use crate::level::{command, status_text, READY_TIMEOUT};
use crate::report::g;
use crate::signals;
use crate::Options;
use callrec_tools::error::{Context, ToolError};
use callrec_tools::process::Proc;
use callrec_tools::procfs;
use serde_json::Value;
use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The first stream's RTP port.
pub const FFMPEG_BASE: u16 = 18000;
const PERIOD_S: f64 = 0.020;

/// The comparison's readings.
#[derive(Debug, Default)]
pub struct FfmpegRun {
    pub m: u32,
    pub window_s: f64,
    pub cpu_s: f64,
    pub rss_kib: u64,
    pub complete: u32,
    pub argv: Vec<String>,
    pub loadgen_argv: Vec<String>,
    pub problems: Tally,
}

impl FfmpegRun {
    pub fn cpu_pct_per_stream(&self) -> f64 {
        if self.window_s > 0.0 {
            self.cpu_s / self.window_s * 100.0 / f64::from(self.m)
        } else {
            0.0
        }
    }

    pub fn us_per_packet(&self) -> f64 {
        let packets = f64::from(self.m) * self.window_s / PERIOD_S;
        if packets > 0.0 {
            self.cpu_s / packets * 1e6
        } else {
            0.0
        }
    }
}

/// The SDP of one PCMA stream on `port`.
pub fn sdp(port: u16) -> String {
    callrec_tools::ffmpeg::pcma_sdp("callrec bench-server", port)
}

fn read(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

pub fn run(o: &Options, workdir: &Path) -> Result<FfmpegRun, ToolError> {
    let m = o.ffmpeg;
    let mut run = FfmpegRun {
        m,
        ..FfmpegRun::default()
    };
    let d = workdir.join("ffmpeg");
    std::fs::create_dir_all(&d).context(|| format!("making {}", d.display()))?;
    let top = FFMPEG_BASE + 2 * m as u16;
    let ports: Vec<u16> = (0..m as u16).map(|k| FFMPEG_BASE + 2 * k).collect();
    let taken = kernel::read_udp_sockets(FFMPEG_BASE, top)?.bound;
    if !taken.is_empty() {
        let first: Vec<String> = taken.iter().take(5).map(u16::to_string).collect();
        return Err(ToolError::setup(format!(
            "UDP ports [{}]… are taken; ffmpeg needs {FFMPEG_BASE}-{}",
            first.join(", "),
            top - 1
        )));
    }
    let log_path = d.join("ffmpeg.log");
    let log = File::create(&log_path).context(|| format!("creating {}", log_path.display()))?;
    let mut ffs = Vec::new();
    for (k, &port) in ports.iter().enumerate() {
        let sdp_path = d.join(format!("s{k}.sdp"));
        std::fs::write(&sdp_path, sdp(port))
            .context(|| format!("writing {}", sdp_path.display()))?;
        run.argv = callrec_tools::ffmpeg::copy_argv(&sdp_path, &d.join(format!("s{k}.alaw")));
        let err = log.try_clone().context(|| "sharing ffmpeg.log".into())?;
        ffs.push(Proc::spawn(
            "ffmpeg",
            command(&run.argv)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err),
        )?);
    }
    let deadline = Instant::now() + READY_TIMEOUT + Duration::from_secs_f64(f64::from(m) * 0.2);
    loop {
        let bound = kernel::read_udp_sockets(FFMPEG_BASE, top)?.bound;
        if ports
            .iter()
            .all(|p| bound.contains(p) && bound.contains(&(p + 1)))
        {
            break;
        }
        if Instant::now() > deadline || ffs.iter_mut().any(|f| f.try_wait().is_some()) {
            return Err(ToolError::setup(format!(
                "ffmpeg did not open its ports: {}",
                read(&log_path)
            )));
        }
        signals::sleep(Duration::from_millis(50))?;
    }
    signals::sleep(Duration::from_millis(500))?;
    let streams_file = d.join("streams.json");
    run.loadgen_argv = vec![
        o.loadgen_bin.display().to_string(),
        "--raw".into(),
        format!("127.0.0.1:{FFMPEG_BASE}"),
        "--count".into(),
        m.to_string(),
        "--step".into(),
        "2".into(),
        "--seconds".into(),
        g(o.seconds),
        "--bye".into(),
        "--sessions-out".into(),
        streams_file.display().to_string(),
    ];
    let lg_err = d.join("loadgen.err");
    let mut lg = Proc::spawn(
        "loadgen --raw",
        command(&run.loadgen_argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&lg_err).context(|| format!("creating {}", lg_err.display()))?),
    )?;
    let mut events = Events::of(&mut lg)?;
    let cpu = |ffs: &[Proc]| -> Result<f64, ToolError> {
        ffs.iter().map(|f| procfs::cpu_seconds(f.pid())).sum()
    };
    let mut start = None;
    while let Some(ev) = events.next(Duration::from_secs_f64(o.seconds + 60.0))? {
        match events::kind(&ev) {
            "send_start" => start = Some((Instant::now(), cpu(&ffs)?)),
            "send_end" => {
                let (t1, c1) = (Instant::now(), cpu(&ffs)?);
                run.rss_kib = 0;
                for f in &ffs {
                    run.rss_kib += procfs::rss_kib(f.pid())?.unwrap_or(0);
                }
                if let Some((t0, c0)) = start {
                    run.window_s = (t1 - t0).as_secs_f64();
                    run.cpu_s = c1 - c0;
                }
            }
            _ => {}
        }
    }
    let rc = signals::wait(&mut lg, Duration::from_secs(30))?;
    if !rc.is_some_and(|s| s.success()) || start.is_none() || run.window_s == 0.0 {
        return Err(ToolError::setup(format!(
            "loadgen --raw failed ({}): {}",
            rc.map_or("still running after 30 s".into(), status_text),
            read(&lg_err)
        )));
    }
    let text = read(&streams_file);
    let streams: Vec<Value> =
        serde_json::from_str(&text).context(|| format!("parsing {}", streams_file.display()))?;
    for (k, f) in ffs.iter_mut().enumerate() {
        if signals::wait(f, Duration::from_secs(15))?.is_none() {
            run.problems.add("ffmpeg did not end on the RTCP BYE", 1);
        }
        f.stop(Duration::from_secs(5));
        let out = d.join(format!("s{k}.alaw"));
        let size = std::fs::metadata(&out).map_or(-1, |m| m.len() as i64);
        let sent = streams.get(k).and_then(|s| s["sent"].as_u64()).unwrap_or(0);
        if size == (sent * FRAME_BYTES) as i64 {
            run.complete += 1;
        } else {
            run.problems.add("ffmpeg output != audio sent", 1);
        }
    }
    drop(ffs);
    std::fs::remove_dir_all(&d).context(|| format!("removing {}", d.display()))?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_one_pcma_sdp_and_one_ffmpeg_copy() {
        let s = sdp(18004);
        assert!(s.contains("m=audio 18004 RTP/AVP 8\r\n"), "{s}");
        assert!(s.ends_with("a=ptime:20\r\n"));
        assert_eq!(s.matches("\r\n").count(), 8);
        let argv =
            callrec_tools::ffmpeg::copy_argv(Path::new("/t/s2.sdp"), Path::new("/t/s2.alaw"));
        assert_eq!(
            argv.join(" "),
            "ffmpeg -nostdin -nostats -loglevel error -protocol_whitelist file,udp,rtp \
             -localaddr 127.0.0.1 -i /t/s2.sdp -c copy -f alaw -y /t/s2.alaw"
        );
        let run = FfmpegRun {
            m: 10,
            window_s: 10.0,
            cpu_s: 0.28,
            ..FfmpegRun::default()
        };
        assert!((run.cpu_pct_per_stream() - 0.28).abs() < 1e-9);
        assert!((run.us_per_packet() - 56.0).abs() < 1e-9);
    }
}
