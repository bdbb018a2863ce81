//! What the agent tells its subscribers (the phone's GUI, the web UI, `callrec ctl watch`).

use serde::{Deserialize, Serialize};

/// Why the phone shows `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// The state as the phone shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    /// The recording's own state: `idle`, `starting`, `recording`, `paused`, `stopping`.
    pub state: &'static str,
    /// What the phone's screen shows: `idle`, `starting`, `recording`, `paused`, `failed`.
    pub shown: &'static str,
    pub mode: &'static str,
    pub call_id: Option<String>,
    pub file: Option<String>,
    pub silent: bool,
    pub failure: Option<Failure>,
}

/// One event for the subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Status {
        view: View,
        elapsed_ms: u64,
    },
    Tone {
        call_id: Option<String>,
        elapsed_ms: u64,
    },
    Refused {
        what: String,
        code: &'static str,
        message: String,
    },
    Settings {
        applied: bool,
        message: String,
        error: Option<String>,
    },
}

impl Event {
    /// The event as one JSON line, newline included.
    pub fn encode(&self, seq: u64) -> String {
        let v = match self {
            Event::Status { view, elapsed_ms } => serde_json::json!({
                "v": 1, "event": "status", "seq": seq, "state": view.state, "shown": view.shown,
                "mode": view.mode, "call_id": view.call_id, "file": view.file,
                "elapsed_ms": elapsed_ms, "silent": view.silent, "failure": view.failure,
            }),
            Event::Tone {
                call_id,
                elapsed_ms,
            } => serde_json::json!({
                "v": 1, "event": "tone", "seq": seq, "call_id": call_id, "elapsed_ms": elapsed_ms,
            }),
            Event::Refused {
                what,
                code,
                message,
            } => serde_json::json!({
                "v": 1, "event": "refused", "seq": seq, "what": what, "code": code,
                "message": message,
            }),
            Event::Settings {
                applied,
                message,
                error,
            } => {
                let mut v = serde_json::json!({
                    "v": 1, "event": "settings", "seq": seq, "applied": applied, "message": message,
                });
                if let Some(e) = error {
                    v["error"] = serde_json::Value::String(e.clone());
                }
                v
            }
        };
        format!("{v}\n")
    }
}

/// The last line a subscriber gets when it is dropped for falling behind.
pub fn dropped_line(reason: &str) -> String {
    let v = serde_json::json!({ "v": 1, "event": "dropped", "reason": reason });
    format!("{v}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_byte_exact() {
        let e = Event::Status {
            view: View {
                state: "idle",
                shown: "failed",
                mode: "local",
                call_id: Some("c1".into()),
                file: None,
                silent: false,
                failure: Some(Failure {
                    code: "stick_full".into(),
                    message: "full".into(),
                }),
            },
            elapsed_ms: 41230,
        };
        assert_eq!(
            e.encode(9),
            "{\"call_id\":\"c1\",\"elapsed_ms\":41230,\"event\":\"status\",\"failure\":{\"code\":\"stick_full\",\"message\":\"full\"},\"file\":null,\"mode\":\"local\",\"seq\":9,\"shown\":\"failed\",\"silent\":false,\"state\":\"idle\",\"v\":1}\n"
        );
        let t = Event::Tone {
            call_id: None,
            elapsed_ms: 20000,
        };
        assert_eq!(
            t.encode(12),
            "{\"call_id\":null,\"elapsed_ms\":20000,\"event\":\"tone\",\"seq\":12,\"v\":1}\n"
        );
        assert_eq!(
            dropped_line("slow"),
            "{\"event\":\"dropped\",\"reason\":\"slow\",\"v\":1}\n"
        );
    }
}
