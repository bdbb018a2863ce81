//! The loadgen's output: one JSON object per line (`started`, `send_start`, `send_end`,
//! `summary`), read from its stdout by a thread as they come and handed over with a deadline.

use crate::signals;
use callrec_tools::process::Proc;
use callrec_tools::ToolError;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A line of a child's stdout, or the reason there is none.
type Line = std::io::Result<String>;

/// The JSON lines of one process.
pub struct Events {
    what: String,
    rx: mpsc::Receiver<Line>,
}

impl Events {
    /// Reads `p`'s stdout (which must be piped) from now on.
    pub fn of(p: &mut Proc) -> Result<Events, ToolError> {
        let what = p.name().to_string();
        let stdout = p
            .take_stdout()
            .ok_or_else(|| ToolError::setup(format!("{what}: stdout is not piped")))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let end = line.is_err();
                if tx.send(line).is_err() || end {
                    break;
                }
            }
        });
        Ok(Events { what, rx })
    }

    /// The next event, or `None` at the end of the output; an error if nothing comes within
    /// `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Value>, ToolError> {
        let deadline = Instant::now() + timeout;
        loop {
            signals::check()?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ToolError::setup(format!(
                    "{}: nothing for {:.0} s",
                    self.what,
                    timeout.as_secs_f64()
                )));
            }
            match self.rx.recv_timeout(left.min(signals::SLICE)) {
                Ok(Ok(line)) => return parse(&line).map(Some).map_err(|e| self.error(e)),
                Ok(Err(e)) => return Err(self.error(format!("reading its output: {e}"))),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn error(&self, what: String) -> ToolError {
        ToolError::setup(format!("{}: {what}", self.what))
    }
}

/// One line as a JSON object.
pub fn parse(line: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(format!("not a JSON object: {line:?}")),
        Err(e) => Err(format!("{e} in {line:?}")),
    }
}

/// The `event` of an event line ("" if it has none).
pub fn kind(event: &Value) -> &str {
    event["event"].as_str().unwrap_or("")
}

/// A number of an event (`f(ev, &["pacing", "end_late_ms", "p99"])`), 0 if absent: the report
/// shows 0 where the loadgen said nothing, as the Python did.
pub fn f(ev: &Value, path: &[&str]) -> f64 {
    path.iter().fold(ev, |v, k| &v[*k]).as_f64().unwrap_or(0.0)
}

/// A required count of an event.
pub fn count(ev: &Value, path: &[&str]) -> Result<u64, ToolError> {
    path.iter()
        .fold(ev, |v, k| &v[*k])
        .as_u64()
        .ok_or_else(|| ToolError::setup(format!("loadgen: no {} in {ev}", path.join("."))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loadgens_lines_are_read_as_events() {
        let started = r#"{"event":"started","mode":"server","sessions_requested":500,"sessions_started":500,"sessions_refused":0,"refused_reasons":{},"sources":10,"start_seconds":1.25,"start_rate_per_s":400.0,"start_latency_ms":{"p50":1.0,"p99":17.5,"max":30.0}}"#;
        let ev = parse(started).unwrap();
        assert_eq!(kind(&ev), "started");
        assert_eq!(count(&ev, &["sessions_started"]).unwrap(), 500);
        assert_eq!(f(&ev, &["start_latency_ms", "p99"]), 17.5);
        assert_eq!(f(&ev, &["start_latency_ms", "p90"]), 0.0);
        assert!(count(&ev, &["packets_sent"]).is_err());
        let end = r#"{"event":"send_end","pacing":{"end_late_ms":{"p99":5.43,"max":16.68},"seconds_over_20ms_late":[[0,25.4]]}}"#;
        let ev = parse(end).unwrap();
        assert_eq!(kind(&ev), "send_end");
        assert_eq!(f(&ev, &["pacing", "end_late_ms", "max"]), 16.68);
        assert!(parse("[1]").is_err());
        assert!(parse("started").is_err());
    }

    #[test]
    fn events_come_with_a_deadline_and_end_with_the_output() {
        let mut p = Proc::spawn(
            "sh",
            std::process::Command::new("sh")
                .args([
                    "-c",
                    r#"echo '{"event":"a"}'; sleep 1; echo '{"event":"b"}'"#,
                ])
                .stdout(std::process::Stdio::piped()),
        )
        .unwrap();
        let mut events = Events::of(&mut p).unwrap();
        let a = events.next(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(kind(&a), "a");
        let err = events.next(Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("nothing for"), "{err}");
        let b = events.next(Duration::from_secs(10)).unwrap().unwrap();
        assert_eq!(kind(&b), "b");
        assert!(events.next(Duration::from_secs(10)).unwrap().is_none());
    }
}
