//! What call 2 left on the record server: exactly one session, read from its sidecar
//! (`STORAGE/YYYY-MM-DD/STEM.json`), waited for until the session has ended so its duration is
//! the final one; its Record files present; the WAV to listen to fetched from the server's web
//! side as a browser would, and checked (ffprobe's duration, loudness).

use crate::checks::{audible_or_fail, duration, probe_ms, CALL2_EXPECT_MS};
use crate::failure::{failed, interrupted, Result};
use crate::procs::{ServerAddrs, POLL};
use crate::{step, Ctx};
use callrec_tools::http::Client;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many times the sidecars are read while the session ends (about 5 s).
const END_POLLS: usize = 100;
/// The longest the WAV's download may wait on the server, per read.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// One session, as its sidecar says.
#[derive(Debug, PartialEq)]
pub struct Sidecar {
    pub path: PathBuf,
    pub duration_ms: i64,
    pub dir: String,
    pub remote_number: String,
    pub remote_name: String,
    pub codec: String,
    pub device: String,
    /// How the session ended; `None` while it runs.
    pub stop_reason: Option<String>,
    /// Its Record files, in the sidecar's directory.
    pub files: Vec<String>,
    /// RTP packets received.
    pub received: u64,
}

impl Sidecar {
    /// Reads a sidecar's JSON.
    pub fn parse(path: &Path, text: &str) -> std::result::Result<Sidecar, String> {
        let s: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let text_of = |key: &str| {
            s[key]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("no {key}"))
        };
        let files = s["files"]
            .as_array()
            .ok_or("no files")?
            .iter()
            .map(|f| {
                f.as_str()
                    .map(str::to_string)
                    .ok_or("a file that is not a name")
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Sidecar {
            path: path.to_path_buf(),
            duration_ms: s["duration_ms"].as_i64().ok_or("no duration_ms")?,
            dir: text_of("dir")?,
            remote_number: text_of("remote_number")?,
            remote_name: text_of("remote_name")?,
            codec: text_of("codec")?,
            device: text_of("device")?,
            stop_reason: s["stop_reason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            files,
            received: s["stats"]["received"].as_u64().ok_or("no stats.received")?,
        })
    }

    /// The day directory it is in and its stem (`2026-12-03`, `20261203_110629_1`).
    pub fn day_and_stem(&self) -> (String, String) {
        let name = |p: Option<&Path>| {
            p.and_then(|p| p.file_stem())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        (name(self.path.parent()), name(Some(&self.path)))
    }

    /// The three lines that describe it; `sidecar` is its path as shown.
    pub fn describe(&self, sidecar: &str) -> [String; 3] {
        [
            format!("sidecar:     {sidecar}"),
            format!(
                "call:        {}, remote {} ({}), device {}, codec {}",
                self.dir, self.remote_number, self.remote_name, self.device, self.codec
            ),
            format!(
                "duration:    {} ms ({} packets received; ended: {})",
                self.duration_ms,
                self.received,
                self.stop_reason.as_deref().unwrap_or("-")
            ),
        ]
    }
}

/// Every sidecar of the storage (`*/*.json`, hidden names left out), sorted by path.
fn read_sidecars(storage: &Path) -> std::result::Result<Vec<Sidecar>, String> {
    let visible = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
    };
    let entries = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| visible(p))
            .collect()
    };
    let mut paths: Vec<PathBuf> = entries(storage)
        .iter()
        .filter(|d| d.is_dir())
        .flat_map(|d| entries(d))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Sidecar::parse(p, &text).map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

/// Reports the server's recording; the `Listen:` line of its WAV.
pub fn report(ctx: &Ctx, server: &ServerAddrs) -> Result<Vec<String>> {
    step("on the record server (network mode)")?;
    let storage = ctx.file("server");
    // The agent's stop reaches the server as the call ends; wait (bounded) for the sidecar to
    // say the session ended, so the duration read is the final one.
    let mut sidecars = Ok(Vec::new());
    for _ in 0..END_POLLS {
        interrupted()?;
        sidecars = read_sidecars(&storage);
        if let Ok(s) = &sidecars {
            if !s.is_empty() && s.iter().all(|s| s.stop_reason.is_some()) {
                break;
            }
        }
        std::thread::sleep(POLL);
    }
    let sidecars = sidecars.or_else(|e| failed(format!("a sidecar of the server: {e}")))?;
    match sidecars.len() {
        0 => return failed("no recording on the server"),
        1 => {}
        n => return failed(format!("{n} recordings on the server, expected 1")),
    }
    let mut listen = Vec::new();
    for sidecar in &sidecars {
        let (day, stem) = sidecar.day_and_stem();
        let shown = ctx.rel(&sidecar.path);
        for line in sidecar.describe(&shown) {
            println!("{line}");
        }
        if sidecar.stop_reason.is_none() {
            return failed(format!("the server's session {stem} has not ended"));
        }
        duration(&shown, sidecar.duration_ms, CALL2_EXPECT_MS)?;
        for record in &sidecar.files {
            let path = storage.join(&day).join(record);
            if std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
                return failed(format!("the server's file {day}/{record} is missing"));
            }
            println!(
                "file:        {} (a Record file, {})",
                ctx.rel(&path),
                sidecar.codec
            );
        }
        // The server's web side makes the WAV to listen to: fetch it as a browser would.
        let wav = ctx.file("wav").join(format!("server_{stem}.wav"));
        let path = format!("/recordings/{day}_{stem}/download.wav");
        let body = fetch(&server.http, &server.token, &path).or_else(failed)?;
        std::fs::write(&wav, body)
            .or_else(|e| failed(format!("writing {}: {e}", ctx.rel(&wav))))?;
        let probed = probe_ms(ctx, &wav)?;
        println!(
            "from http:   {}{}",
            ctx.rel(&wav),
            probed.map_or(String::new(), |ms| format!(" (ffprobe: {ms} ms)"))
        );
        if let Some(probed) = probed {
            duration(&ctx.rel(&wav), probed, CALL2_EXPECT_MS)?;
        }
        audible_or_fail(ctx, &wav)?;
        listen.push(format!(
            "{} (server call with Alice, {} ms, from {})",
            ctx.rel(&wav),
            sidecar.duration_ms,
            ctx.rel(&storage.join(&day).join(format!("{stem}.wav")))
        ));
    }
    Ok(listen)
}

/// `GET path` from the server's web side (`host:port`), as a browser fetches the WAV: the
/// body of a 2xx answer, or why not.
fn fetch(addr: &str, token: &str, path: &str) -> std::result::Result<Vec<u8>, String> {
    let url = format!("http://{addr}{path}");
    let target: std::net::SocketAddr =
        addr.parse().map_err(|_| format!("{url}: not an address"))?;
    let answer = Client::connect_timeout(target, HTTP_TIMEOUT)
        .and_then(|c| c.with_token(token).get(path))
        .map_err(|e| format!("{url}: {e}"))?;
    if answer.status / 100 != 2 {
        return Err(format!("{url}: answered {}", answer.status));
    }
    Ok(answer.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDECAR: &str = r#"{
  "id": "ea7e4da8112f42d8", "device": "020000000001", "remote_number": "1003",
  "remote_name": "Alice", "local_number": "", "local_name": "", "dir": "in", "codec": "G722",
  "peer": "127.0.0.1", "start_ms": 1796295989632, "stop_ms": 1796295998133,
  "stop_reason": "call ended", "duration_ms": 7460, "files": ["20261203_110629_1.wav"],
  "stats": {"received": 373, "lost": 0, "reordered": 0, "duplicates": 0, "late": 0,
            "malformed": 0, "from_strangers": 0}
}"#;

    #[test]
    fn a_sidecar_is_summed_up_in_three_lines() {
        let path = Path::new("/d/server/2026-12-03/20261203_110629_1.json");
        let s = Sidecar::parse(path, SIDECAR).unwrap();
        assert_eq!(
            s.day_and_stem(),
            ("2026-12-03".to_string(), "20261203_110629_1".to_string())
        );
        assert_eq!(s.files, ["20261203_110629_1.wav"]);
        assert_eq!(
            s.describe("out/demo/server/2026-12-03/20261203_110629_1.json"),
            [
                "sidecar:     out/demo/server/2026-12-03/20261203_110629_1.json",
                "call:        in, remote 1003 (Alice), device 020000000001, codec G722",
                "duration:    7460 ms (373 packets received; ended: call ended)",
            ]
        );
    }

    #[test]
    fn a_running_session_has_no_stop_reason() {
        for running in [
            SIDECAR.replace(r#""stop_reason": "call ended""#, r#""stop_reason": null"#),
            SIDECAR.replace(r#""stop_reason": "call ended""#, r#""stop_reason": """#),
            SIDECAR.replace(r#""stop_reason": "call ended","#, ""),
        ] {
            let s = Sidecar::parse(Path::new("a/b.json"), &running).unwrap();
            assert_eq!(s.stop_reason, None);
            assert!(s.describe("b.json")[2].ends_with("ended: -)"));
        }
    }

    #[test]
    fn a_sidecar_without_a_field_is_an_error() {
        let broken = SIDECAR.replace(r#""duration_ms": 7460,"#, "");
        assert_eq!(
            Sidecar::parse(Path::new("b.json"), &broken).unwrap_err(),
            "no duration_ms"
        );
        assert!(Sidecar::parse(Path::new("b.json"), "{").is_err());
    }
}
