//! The agent's status events, as `callrec ctl watch` wrote them to `events.log` (what a
//! phone's screen would follow): one line each, and the check that the agent recorded in local
//! and in network mode. The log's first line is the answer to the subscription.

use crate::failure::{failed, Result};
use crate::{step, Ctx};
use serde_json::Value;
use std::collections::BTreeSet;

/// The events' lines, and the modes in which the agent was seen recording.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub lines: Vec<String>,
    pub recorded: BTreeSet<String>,
}

/// A JSON value as a person reads it: a string without quotes, `True`, `False`, `None`.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// Whether a value says something (not null, false, 0 or empty).
fn given(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `v` if it says something, else `or`.
fn or(v: &Value, or: &str) -> String {
    if given(v) {
        shown(v)
    } else {
        or.to_string()
    }
}

/// Sums up the events of a watch log (its first line, the subscription's answer, left out).
pub fn summarize(log: &str) -> std::result::Result<Summary, String> {
    let mut lines = Vec::new();
    let mut recorded = BTreeSet::new();
    for (n, line) in log.lines().enumerate().skip(1) {
        let e: Value = serde_json::from_str(line)
            .map_err(|err| format!("line {} is not JSON ({err}): {line}", n + 1))?;
        let seq = shown(&e["seq"]);
        match e["event"].as_str() {
            Some("status") => {
                lines.push(format!(
                    "  #{seq:<3} {:<9} shown={:<9} mode={:<7} call={:<6} file={}",
                    shown(&e["state"]),
                    shown(&e["shown"]),
                    shown(&e["mode"]),
                    or(&e["call_id"], "-"),
                    or(&e["file"], "-"),
                ));
                if e["state"] == "recording" && e["shown"] == "recording" {
                    recorded.insert(shown(&e["mode"]));
                }
            }
            Some("settings") => {
                let message = if given(&e["message"]) {
                    &e["message"]
                } else {
                    &e["error"]
                };
                lines.push(format!(
                    "  #{seq:<3} settings  applied={} {}",
                    shown(&e["applied"]),
                    or(message, "")
                ));
            }
            _ => {
                let seq = e.get("seq").map_or("-".to_string(), shown);
                lines.push(format!("  #{seq:<3} {}", line.trim()));
            }
        }
    }
    Ok(Summary { lines, recorded })
}

/// The check: a recording in local and in network mode among the events.
pub fn check_modes(recorded: &BTreeSet<String>) -> std::result::Result<(), String> {
    let missing: Vec<&str> = ["local", "network"]
        .into_iter()
        .filter(|m| !recorded.contains(*m))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "no recording in {} mode among the events",
        missing.join(" or ")
    ))
}

/// Prints the events and checks them.
pub fn report(ctx: &Ctx) -> Result<()> {
    let path = ctx.file("events.log");
    let log = std::fs::read(&path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .or_else(|e| failed(format!("reading {}: {e}", ctx.rel(&path))))?;
    step(&format!(
        "the agent's status events ({}, {} lines)",
        ctx.rel(&path),
        log.matches('\n').count()
    ))?;
    let summary = summarize(&log).or_else(|e| failed(format!("{}: {e}", ctx.rel(&path))))?;
    for line in &summary.lines {
        println!("{line}");
    }
    check_modes(&summary.recorded).or_else(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"state: idle (shown: idle)
{"call_id":"call-1","elapsed_ms":0,"event":"status","failure":null,"file":null,"mode":"local","seq":1,"shown":"recording","silent":false,"state":"recording","v":1}
{"call_id":"call-1","elapsed_ms":280,"event":"status","failure":null,"file":"Record_20261203_110619.wav","mode":"local","seq":2,"shown":"recording","silent":false,"state":"recording","v":1}
{"call_id":null,"event":"status","file":null,"mode":"local","seq":5,"shown":"idle","state":"idle","v":1}
{"applied":true,"event":"settings","message":"the settings apply now","seq":6,"v":1}
{"applied":false,"error":"bad port","event":"settings","seq":7,"v":1}
{"applied":true,"event":"settings","seq":8,"v":1}
{"call_id":"call-2","event":"status","file":null,"mode":"network","seq":11,"shown":"recording","state":"resuming","v":1}
{"event":"lagged","v":1}
"#;

    #[test]
    fn each_event_is_one_line() {
        let s = summarize(LOG).unwrap();
        assert_eq!(
            s.lines,
            [
                "  #1   recording shown=recording mode=local   call=call-1 file=-",
                "  #2   recording shown=recording mode=local   call=call-1 file=Record_20261203_110619.wav",
                "  #5   idle      shown=idle      mode=local   call=-      file=-",
                "  #6   settings  applied=True the settings apply now",
                "  #7   settings  applied=False bad port",
                "  #8   settings  applied=True ",
                "  #11  resuming  shown=recording mode=network call=call-2 file=-",
                r#"  #-   {"event":"lagged","v":1}"#,
            ]
        );
    }

    #[test]
    fn recording_counts_only_when_shown_as_recording() {
        let s = summarize(LOG).unwrap();
        assert_eq!(s.recorded, BTreeSet::from(["local".to_string()]));
        assert_eq!(
            check_modes(&s.recorded),
            Err("no recording in network mode among the events".into())
        );
        assert_eq!(
            check_modes(&BTreeSet::new()),
            Err("no recording in local or network mode among the events".into())
        );
        let both = BTreeSet::from(["local".to_string(), "network".to_string()]);
        assert_eq!(check_modes(&both), Ok(()));
    }

    #[test]
    fn a_line_that_is_not_json_is_an_error() {
        let err = summarize("subscribed\n{\"event\":\n").unwrap_err();
        assert!(err.starts_with("line 2 is not JSON"), "{err}");
    }
}
