//! The checks of one run: the two agents' Record files (local mode) or the server's files of
//! the two sessions (network mode) byte for byte, the clean run's audio, `callrec export` by
//! both builds; and the agents' packet counters, which are shown but do not decide.

use crate::calls::{export, server_sessions, Binaries, Build, Session, Side};
use crate::compare::{
    clean_audio_problem, compare_records, compare_wavs, contents, record_info, sizes,
};
use crate::runs::{mac, Run, CLEAN_AUDIO_BYTES};
use callrec_tools::error::ToolError;
use callrec_tools::process::wait_until;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the server may take to close both sessions after the calls.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The counters an agent's status must show alike for the same datagrams.
const COUNTED: [&str; 6] = [
    "received",
    "lost",
    "reordered",
    "late",
    "duplicates",
    "paused_packets",
];

/// One row of the table: a comparison and what differs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub run: String,
    /// From 0.
    pub repeat: usize,
    pub codec: String,
    pub host_bytes: u64,
    pub arm_bytes: u64,
    /// What differs or is wrong; none: equal.
    pub problems: Vec<String>,
    /// The host build's bytes, to check that a repeated run records the same every time.
    pub host_contents: Vec<u8>,
}

impl Outcome {
    pub fn equal(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A JSON value as text: strings without quotes, a missing value as `null`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An agent's status in one line: state, last stop, time recorded and its counters.
fn counters_line(status: &Value) -> String {
    let c = &status["counters"];
    let keys = [
        "received",
        "audio",
        "lost",
        "reordered",
        "late",
        "duplicates",
        "paused_packets",
        "silence_ms",
    ];
    format!(
        "state {}, last_stop {}, recorded {} ms; {}",
        plain(&status["state"]),
        plain(&status["last_stop"]),
        plain(&status["recorded_ms"]),
        keys.iter()
            .map(|k| format!("{k} {}", plain(&c[k])))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The agents' packet counters: the same datagrams should be counted the same way.
pub fn counters_note(host: &Value, arm: &Value) -> String {
    let text = |status: &Value| {
        COUNTED
            .iter()
            .map(|k| format!("{k} {}", plain(&status["counters"][k])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let differ: Vec<&str> = COUNTED
        .iter()
        .copied()
        .filter(|k| host["counters"][k] != arm["counters"][k])
        .collect();
    if differ.is_empty() {
        format!("agent counters, both: {}", text(host))
    } else {
        format!(
            "agent counters DIFFER in {}: host {}; ARM {}",
            differ.join(", "),
            text(host),
            text(arm)
        )
    }
}

fn info_by(
    bins: &Binaries,
) -> impl FnMut(&Path) -> Result<crate::compare::Reading, ToolError> + '_ {
    move |p| record_info(&bins.host, p)
}

/// Local mode: the two sticks' Record files, and in the clean run exactly the script's audio.
pub fn check_local(
    bins: &Binaries,
    run: &Run,
    repeat: usize,
    [host, arm]: &[Side; 2],
) -> Result<Outcome, ToolError> {
    let mut problems = compare_records(run.name, &host.files, &arm.files, info_by(bins))?;
    if run.impair.is_empty() {
        if let Some(p) = clean_audio_problem(
            "the host agent",
            &host.files,
            CLEAN_AUDIO_BYTES,
            info_by(bins),
        )? {
            problems.push(format!("{}: {p}", run.name));
        }
    }
    if host.files.is_empty() {
        problems.push(format!("{}: nothing recorded", run.name));
    }
    if !problems.is_empty() {
        problems.push(format!("  host agent: {}", counters_line(&host.status)));
        problems.push(format!("  ARM agent:  {}", counters_line(&arm.status)));
    }
    Ok(Outcome {
        run: run.name.to_string(),
        repeat,
        codec: run.codec.to_string(),
        host_bytes: sizes(&host.files)?,
        arm_bytes: sizes(&arm.files)?,
        problems,
        host_contents: contents(&host.files)?,
    })
}

/// `callrec export` of the host agent's recording by the host build and by the ARM build under
/// qemu: the same PCM16 WAV, byte for byte (the G.711 and G.722 decoders on ARM).
pub fn check_export(
    bins: &Binaries,
    run: &Run,
    repeat: usize,
    files: &[PathBuf],
    dir: &Path,
) -> Result<Outcome, ToolError> {
    let (host, mut problems) = export(bins, Build::Host, files, dir)?;
    let (arm, arm_failed) = export(bins, Build::Arm, files, dir)?;
    problems.extend(arm_failed);
    for p in &mut problems {
        *p = format!("{} {p}", run.name);
    }
    let name = format!("{} → export WAV", run.name);
    problems.extend(compare_wavs(&name, &host, &arm)?);
    if host.len() != arm.len() || host.is_empty() {
        problems.push(format!(
            "{name}: {} WAV(s) by the host build, {} by the ARM build",
            host.len(),
            arm.len()
        ));
    }
    Ok(Outcome {
        run: name,
        repeat,
        codec: format!("{} → PCM16", run.codec),
        host_bytes: sizes(&host)?,
        arm_bytes: sizes(&arm)?,
        problems,
        host_contents: contents(&host)?,
    })
}

/// Network mode: the server's Record files of the host agent's session and of the ARM
/// agent's, the sidecars' codec and duration, and the clean run's audio.
pub fn check_network(
    bins: &Binaries,
    run: &Run,
    repeat: usize,
    [host_side, arm_side]: &[Side; 2],
    storage: &Path,
) -> Result<Outcome, ToolError> {
    let want = |arm: bool| mac(repeat, arm).replace(':', "");
    let sessions = wait_until(
        "the server to close both sessions",
        SERVER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let s = server_sessions(storage);
            Ok((s.contains_key(&want(false)) && s.contains_key(&want(true))).then_some(s))
        },
    )
    .map_err(|e| {
        let seen: Vec<String> = server_sessions(storage)
            .iter()
            .map(|(m, s)| format!("{m}: stop_ms {}", s.sidecar["stop_ms"]))
            .collect();
        ToolError::setup(format!(
            "{e}; finished sessions by MAC: [{}]",
            seen.join(", ")
        ))
    })?;
    let host: &Session = &sessions[&want(false)];
    let arm: &Session = &sessions[&want(true)];
    let mut problems = compare_records(
        &format!("{} (server)", run.name),
        &host.files,
        &arm.files,
        info_by(bins),
    )?;
    for key in ["codec", "duration_ms"] {
        if host.sidecar[key] != arm.sidecar[key] {
            problems.push(format!(
                "{}: server sidecar {key}: host session {}, ARM session {}",
                run.name, host.sidecar[key], arm.sidecar[key]
            ));
        }
    }
    if let Some(p) = clean_audio_problem(
        "the server, from the host agent,",
        &host.files,
        CLEAN_AUDIO_BYTES,
        info_by(bins),
    )? {
        problems.push(format!("{}: {p}", run.name));
    }
    if !problems.is_empty() {
        for (who, s) in [("host", host), ("ARM", arm)] {
            problems.push(format!(
                "  server session of the {who} agent: codec {}, duration {} ms, stats {}",
                plain(&s.sidecar["codec"]),
                plain(&s.sidecar["duration_ms"]),
                s.sidecar["stats"]
            ));
        }
        problems.push(format!(
            "  host agent: {}",
            counters_line(&host_side.status)
        ));
        problems.push(format!("  arm agent: {}", counters_line(&arm_side.status)));
    }
    Ok(Outcome {
        run: run.name.to_string(),
        repeat,
        codec: run.codec.to_string(),
        host_bytes: sizes(&host.files)?,
        arm_bytes: sizes(&arm.files)?,
        problems,
        host_contents: contents(&host.files)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counters_are_shown_and_a_difference_is_named() {
        let host = json!({"state": "idle", "last_stop": "key", "recorded_ms": 4700,
            "counters": {"received": 196, "audio": 180, "lost": 14, "reordered": 7, "late": 0,
                         "duplicates": 0, "paused_packets": 58, "silence_ms": 500}});
        let mut arm = host.clone();
        assert_eq!(
            counters_note(&host, &arm),
            "agent counters, both: received 196, lost 14, reordered 7, late 0, duplicates 0, \
             paused_packets 58"
        );
        arm["counters"]["late"] = json!(1);
        assert!(counters_note(&host, &arm)
            .starts_with("agent counters DIFFER in late: host received 196"));
        assert!(counters_note(&host, &arm).ends_with(
            "; ARM received 196, lost 14, reordered 7, late 1, duplicates 0, paused_packets 58"
        ));
        assert_eq!(
            counters_line(&host),
            "state idle, last_stop key, recorded 4700 ms; received 196, audio 180, lost 14, \
             reordered 7, late 0, duplicates 0, paused_packets 58, silence_ms 500"
        );
    }
}
