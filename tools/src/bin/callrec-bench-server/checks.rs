//! What a level's recordings must show once the server has stopped: every loadgen session has
//! one sidecar saying all its packets were received and none lost, late, duplicated, malformed
//! or from a stranger, none dropped by its flood limit, stopped by the loadgen, lasting the audio
//! sent, with one file; and every file, read by `callrec info --json`, lasts the audio sent with
//! an up-to-date header (the file is its header and then exactly dataSize bytes). Problems are
//! counted by kind.

use crate::signals;
use callrec_tools::error::{Context, ToolError};
use callrec_tools::process::run_within;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Bytes of 20 ms of G.711.
pub const FRAME_BYTES: u64 = 160;
/// Milliseconds of audio per packet.
pub const PERIOD_MS: u64 = 20;
/// `callrec info` processes at once.
const INFO_WORKERS: usize = 4;
const INFO_TIMEOUT: Duration = Duration::from_secs(60);

/// Counts by kind, in the order each kind was first counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally(Vec<(String, u64)>);

impl Tally {
    /// Adds `n` to `kind` (listing it even if `n` is 0, until [`Tally::drop_zeros`]).
    pub fn add(&mut self, kind: &str, n: u64) {
        match self.0.iter_mut().find(|(k, _)| k == kind) {
            Some((_, v)) => *v += n,
            None => self.0.push((kind.to_string(), n)),
        }
    }

    pub fn drop_zeros(&mut self) {
        self.0.retain(|(_, v)| *v != 0);
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, v)| *v == 0)
    }

    pub fn get(&self, kind: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| k == kind)
            .map_or(0, |(_, v)| *v)
    }

    /// The kinds with a count, in order.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, _)| k.as_str())
    }

    /// The `n` largest counts, largest first (ties in order).
    pub fn most_common(&self, n: usize) -> Vec<(&str, u64)> {
        let mut all: Vec<(&str, u64)> = self
            .0
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        all.sort_by_key(|b| std::cmp::Reverse(b.1));
        all.truncate(n);
        all
    }
}

fn number(v: &Value, what: &str) -> Result<u64, ToolError> {
    v.as_u64()
        .ok_or_else(|| ToolError::setup(format!("{what}: {v} is not a count")))
}

/// The checks of one session's sidecar, given the packets the loadgen sent it: each kind, and
/// whether it failed.
pub fn sidecar_checks(sent: u64, sidecar: &Value) -> Result<Vec<(&'static str, bool)>, ToolError> {
    let stats = &sidecar["stats"];
    let stat = |k: &str| number(&stats[k], k);
    let files = sidecar["files"]
        .as_array()
        .ok_or_else(|| ToolError::setup(format!("sidecar without files: {sidecar}")))?;
    Ok(vec![
        ("received != sent", stat("received")? != sent),
        ("lost > 0", stat("lost")? != 0),
        ("late > 0", stat("late")? != 0),
        ("duplicates > 0", stat("duplicates")? != 0),
        ("malformed > 0", stat("malformed")? != 0),
        ("from strangers > 0", stat("from_strangers")? != 0),
        ("flood dropped > 0", stat("flood_dropped")? != 0),
        (
            "stop reason not loadgen",
            sidecar["stop_reason"].as_str() != Some("loadgen"),
        ),
        (
            "sidecar duration != audio sent",
            number(&sidecar["duration_ms"], "duration_ms")? != sent * PERIOD_MS,
        ),
        ("not one file", files.len() != 1),
    ])
}

/// What is wrong with a file, from `callrec info --json`'s answer, given the packets sent.
pub fn info_problems(sent: u64, info: &Value) -> Result<Vec<&'static str>, ToolError> {
    let audio = sent * FRAME_BYTES;
    let n = |k: &str| number(&info[k], k);
    let mut bad = Vec::new();
    if n("duration_ms")? != sent * PERIOD_MS || n("data_size")? != audio {
        bad.push("file duration != audio sent");
    }
    let stale = info["stale_header"]
        .as_bool()
        .ok_or_else(|| ToolError::setup(format!("callrec info: no stale_header in {info}")))?;
    if stale || n("header_data_size")? != audio {
        bad.push("file header stale or file size != header + audio");
    }
    Ok(bad)
}

/// Checks every session of `sessions_file` (the loadgen's `--sessions-out`) against the
/// sidecars under `storage`, then every file with `callrec info`; adds the problems to
/// `problems` and returns how many files were checked.
pub fn verify(
    problems: &mut Tally,
    callrec: &Path,
    storage: &Path,
    sessions_file: &Path,
) -> Result<usize, ToolError> {
    let text = std::fs::read_to_string(sessions_file)
        .context(|| format!("reading {}", sessions_file.display()))?;
    let sessions: Vec<Value> =
        serde_json::from_str(&text).context(|| format!("parsing {}", sessions_file.display()))?;
    let mut sidecars = std::collections::HashMap::new();
    for path in day_files(storage)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let text =
            std::fs::read_to_string(&path).context(|| format!("reading {}", path.display()))?;
        let sc: Value =
            serde_json::from_str(&text).context(|| format!("parsing {}", path.display()))?;
        let id = sc["id"].as_str().unwrap_or_default().to_string();
        sidecars.insert(id, (path, sc));
    }
    let mut files = Vec::new();
    for sess in &sessions {
        let id = sess["id"].as_str().unwrap_or_default();
        let Some((path, sc)) = sidecars.remove(id) else {
            problems.add("no sidecar", 1);
            continue;
        };
        let sent = number(&sess["sent"], "sent")?;
        for (what, bad) in sidecar_checks(sent, &sc)? {
            problems.add(what, u64::from(bad));
        }
        if let Some(name) = sc["files"][0].as_str() {
            files.push((path.with_file_name(name), sent));
        }
    }
    if !sidecars.is_empty() {
        problems.add("sidecars of no loadgen session", sidecars.len() as u64);
    }
    problems.drop_zeros();
    for bad in check_files(callrec, &files)? {
        for b in bad {
            problems.add(b, 1);
        }
    }
    Ok(files.len())
}

/// The files of the day folders under `storage` (`storage/*/*`).
pub fn day_files(storage: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let mut out = Vec::new();
    let Ok(days) = std::fs::read_dir(storage) else {
        return Ok(out);
    };
    for day in days.flatten() {
        if !day.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = day.path();
        for f in std::fs::read_dir(&dir).context(|| format!("reading {}", dir.display()))? {
            out.push(f.context(|| format!("reading {}", dir.display()))?.path());
        }
    }
    Ok(out)
}

/// Each file's problems (in the files' order), read by `callrec info --json`, a few at once.
fn check_files(
    callrec: &Path,
    files: &[(PathBuf, u64)],
) -> Result<Vec<Vec<&'static str>>, ToolError> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![Vec::new(); files.len()]);
    let first_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..INFO_WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((file, sent)) = files.get(i) else {
                    break;
                };
                match check_file(callrec, file, *sent) {
                    Ok(bad) => results.lock().unwrap()[i] = bad,
                    Err(e) => {
                        first_error.lock().unwrap().get_or_insert(e);
                        // The other workers stop at their next file.
                        next.store(files.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    Ok(results.into_inner().unwrap())
}

fn check_file(callrec: &Path, file: &Path, sent: u64) -> Result<Vec<&'static str>, ToolError> {
    signals::check()?;
    let mut cmd = Command::new(callrec);
    cmd.arg("info").arg("--json").arg(file);
    let done = run_within("callrec info", &mut cmd, INFO_TIMEOUT)?;
    if !done.status.success() {
        return Ok(vec!["file unreadable"]);
    }
    let info: Value = serde_json::from_slice(&done.stdout)
        .context(|| format!("callrec info --json {}: its answer", file.display()))?;
    info_problems(sent, &info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sidecar() -> Value {
        json!({
            "id": "lg-1-0", "codec": "PCMA", "peer": "127.0.1.1:40000",
            "start_ms": 1, "stop_ms": 2, "stop_reason": "loadgen", "duration_ms": 10_000,
            "files": ["20240101_120000_1.wav"],
            "stats": {"received": 500, "lost": 0, "reordered": 0, "duplicates": 0, "late": 0,
                      "malformed": 0, "from_strangers": 0, "flood_dropped": 0}
        })
    }

    fn failed(checks: Vec<(&'static str, bool)>) -> Vec<&'static str> {
        checks
            .into_iter()
            .filter(|(_, b)| *b)
            .map(|(k, _)| k)
            .collect()
    }

    #[test]
    fn a_complete_sidecar_passes_every_check() {
        assert!(failed(sidecar_checks(500, &sidecar()).unwrap()).is_empty());
    }

    #[test]
    fn a_sidecar_that_misses_packets_or_ended_otherwise_fails() {
        let mut sc = sidecar();
        sc["stats"]["received"] = json!(498);
        sc["stats"]["lost"] = json!(2);
        sc["stats"]["flood_dropped"] = json!(2);
        sc["stop_reason"] = json!("idle");
        sc["files"] = json!(["a.wav", "a_part2.wav"]);
        assert_eq!(
            failed(sidecar_checks(500, &sc).unwrap()),
            [
                "received != sent",
                "lost > 0",
                "flood dropped > 0",
                "stop reason not loadgen",
                "not one file"
            ]
        );
        sc["stop_reason"] = Value::Null;
        assert!(
            failed(sidecar_checks(501, &sc).unwrap()).contains(&"sidecar duration != audio sent")
        );
        sc["stats"] = json!({});
        assert!(sidecar_checks(500, &sc).is_err());
    }

    #[test]
    fn a_file_must_hold_the_audio_sent_under_an_up_to_date_header() {
        let info = json!({"file": "x.wav", "codec": "PCMA", "frame_bytes": 160, "increment": 160,
                          "data_size": 80_000, "header_data_size": 80_000, "frames": 500,
                          "duration_ms": 10_000, "stale_header": false});
        assert!(info_problems(500, &info).unwrap().is_empty());
        let mut stale = info.clone();
        stale["stale_header"] = json!(true);
        stale["header_data_size"] = json!(0);
        assert_eq!(
            info_problems(500, &stale).unwrap(),
            ["file header stale or file size != header + audio"]
        );
        assert_eq!(
            info_problems(499, &info).unwrap(),
            [
                "file duration != audio sent",
                "file header stale or file size != header + audio"
            ]
        );
    }

    #[test]
    fn a_tally_keeps_first_order_and_sorts_by_count() {
        let mut t = Tally::default();
        t.add("a", 0);
        t.add("b", 2);
        t.add("c", 2);
        t.add("a", 3);
        t.add("d", 0);
        t.drop_zeros();
        assert_eq!(t.kinds().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(t.most_common(2), [("a", 3), ("b", 2)]);
        assert_eq!(t.get("c"), 2);
        assert!(!t.is_empty());
        assert!(Tally::default().is_empty());
    }
}
