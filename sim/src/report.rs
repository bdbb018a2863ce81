//! What the simulator prints: one line per step with the agent's answer, and the summary.
//!
//! Answers are read as plain JSON rather than as the full `Response` type: the simulator must
//! keep working against an agent whose `status` has grown fields (or a test's minimal one), and
//! it only shows `ok`, the error, and the state and file.

use super::script::{seconds, Step};
use super::stream::Stats;
use serde_json::Value;

/// The agent's answer to one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `ok: true`: the state and the file, e.g. `recording Record_…`.
    Ok(String),
    /// `ok: false`: `code: message`.
    Refused(String),
    /// Not a response line.
    Garbled(String),
}

impl Answer {
    /// Reads one response line.
    pub fn parse(line: &str) -> Answer {
        let v: Value = match serde_json::from_str(line.trim_end()) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let shown: String = line.trim_end().chars().take(120).collect();
                return Answer::Garbled(format!("not a response: {shown:?}"));
            }
        };
        let text = |v: &Value| v.as_str().map(str::to_string);
        match v.get("ok").and_then(Value::as_bool) {
            Some(true) => {
                let status = v.get("status");
                let state = status.and_then(|s| s.get("state")).and_then(text);
                let file = status.and_then(|s| s.get("file")).and_then(text);
                let words: Vec<String> = state.into_iter().chain(file).collect();
                Answer::Ok(words.join(" "))
            }
            Some(false) => {
                let error = v.get("error");
                let code = error.and_then(|e| e.get("code")).and_then(text);
                let message = error.and_then(|e| e.get("message")).and_then(text);
                Answer::Refused(format!(
                    "{}: {}",
                    code.as_deref().unwrap_or("?"),
                    message.as_deref().unwrap_or("")
                ))
            }
            None => Answer::Garbled("a response without \"ok\"".into()),
        }
    }
}

/// `  1.000 key record -> ok recording Record_…`.
pub fn step_line(step: &Step, answer: &Answer) -> String {
    let outcome = match answer {
        Answer::Ok(s) if s.is_empty() => "ok".to_string(),
        Answer::Ok(s) => format!("ok {s}"),
        Answer::Refused(s) => format!("refused {s}"),
        Answer::Garbled(s) => format!("bad answer: {s}"),
    };
    format!("{:>7} {} -> {outcome}", seconds(step.at_ms), step.action)
}

/// `sent N packets (M lost on purpose, K reordered)`.
pub fn summary(stats: &Stats) -> String {
    format!(
        "sent {} packets ({} lost on purpose, {} reordered)",
        stats.sent, stats.lost, stats.reordered
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::Action;
    use callrec_core::control_protocol::{Key, Response, Status};

    #[test]
    fn answers() {
        let status = Status {
            state: "recording".into(),
            file: Some("Record_20261121_101500_1.wav".into()),
            ..Status::default()
        };
        let ok = Response::ok(Some(7.into()), status.clone()).encode();
        assert_eq!(
            Answer::parse(&ok),
            Answer::Ok("recording Record_20261121_101500_1.wav".into())
        );
        let refused =
            Response::error(None, "no_call", "no call is up".into(), Some(status)).encode();
        assert_eq!(
            Answer::parse(&refused),
            Answer::Refused("no_call: no call is up".into())
        );
        // A minimal answer, and fields this simulator does not know.
        assert_eq!(
            Answer::parse(r#"{"v":1,"ok":true,"status":{"state":"idle","shown":"idle"}}"#),
            Answer::Ok("idle".into())
        );
        assert_eq!(Answer::parse(r#"{"v":1,"ok":true}"#), Answer::Ok("".into()));
        assert!(matches!(Answer::parse("hello"), Answer::Garbled(_)));
        assert!(matches!(Answer::parse("[true]"), Answer::Garbled(_)));
        assert!(matches!(Answer::parse(r#"{"v":1}"#), Answer::Garbled(_)));
    }

    #[test]
    fn lines() {
        let step = Step {
            at_ms: 1000,
            line: 3,
            action: Action::Key(Key::Record),
            sip_none: false,
        };
        assert_eq!(
            step_line(&step, &Answer::Ok("recording Record_x.wav".into())),
            "  1.000 key record -> ok recording Record_x.wav"
        );
        assert_eq!(
            step_line(&step, &Answer::Refused("no_call: no call is up".into())),
            "  1.000 key record -> refused no_call: no call is up"
        );
        assert_eq!(
            step_line(&step, &Answer::Ok(String::new())),
            "  1.000 key record -> ok"
        );
        let stats = Stats {
            sent: 95,
            lost: 5,
            reordered: 2,
        };
        assert_eq!(
            summary(&stats),
            "sent 95 packets (5 lost on purpose, 2 reordered)"
        );
    }
}
