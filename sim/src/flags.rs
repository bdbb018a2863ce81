//! `callrec-sim call`: the common call, from flags, as the same steps a script would give.
//!
//! Building a script (rather than a second driver) means the flags and the script cannot
//! disagree on what a call looks like, and `--dry-run` shows the script the flags make.

use super::script::{Action, Step};
use callrec_core::codec::Codec;
use callrec_core::control_protocol::{CallEvent, CallInfo, Key};
use callrec_core::direction::Direction;

/// When the call is answered if `--answer-at` is not given: half a second of ringing.
pub const DEFAULT_ANSWER_MS: u64 = 500;

/// The flags of `callrec-sim call`; times in ms from the start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFlags {
    pub id: Option<String>,
    pub dir: Option<Direction>,
    pub remote: Option<String>,
    pub remote_name: Option<String>,
    /// The codec the call event names (the one the simulator sends); PCMA when not given.
    pub codec: Option<Codec>,
    pub answer_at: Option<u64>,
    /// Record key presses to start (`--record-at`) and to stop (`--stop-at`).
    pub record_at: Vec<u64>,
    pub stop_at: Vec<u64>,
    /// Pause key presses to pause (`--pause-at`) and to resume (`--resume-at`).
    pub pause_at: Vec<u64>,
    pub resume_at: Vec<u64>,
    pub hold_at: Option<u64>,
    pub unhold_at: Option<u64>,
    pub hangup_at: Option<u64>,
}

impl CallFlags {
    /// The call as steps, in time order (at equal times: started, answered, the keys, held,
    /// resumed, ended). The error says which flag is wrong.
    pub fn steps(&self) -> Result<Vec<Step>, String> {
        let hangup = self
            .hangup_at
            .ok_or("call needs --hangup-at SECONDS (when the call ends)")?;
        let answer = self.answer_at.unwrap_or(DEFAULT_ANSWER_MS);
        if answer > hangup {
            return Err(format!(
                "--answer-at ({} s) is after --hangup-at",
                super::script::seconds(answer)
            ));
        }
        if self.unhold_at.is_some() && self.hold_at.is_none() {
            return Err("--unhold-at needs --hold-at".into());
        }
        if let (Some(hold), Some(unhold)) = (self.hold_at, self.unhold_at) {
            if unhold < hold {
                return Err("--unhold-at is before --hold-at".into());
            }
        }
        let keys = [
            ("--record-at", &self.record_at, Key::Record),
            ("--pause-at", &self.pause_at, Key::Pause),
            ("--resume-at", &self.resume_at, Key::Pause),
            ("--stop-at", &self.stop_at, Key::Record),
        ];
        let late = keys
            .iter()
            .filter(|(_, times, _)| times.iter().any(|&t| t > hangup))
            .map(|(flag, _, _)| *flag)
            .chain(self.hold_at.filter(|&t| t > hangup).map(|_| "--hold-at"))
            .chain(
                self.unhold_at
                    .filter(|&t| t > hangup)
                    .map(|_| "--unhold-at"),
            )
            .next();
        if let Some(flag) = late {
            return Err(format!("{flag} is after --hangup-at"));
        }

        let id = self.id.clone().unwrap_or_else(|| "c1".into());
        let only_id = CallInfo {
            id: Some(id.clone()),
            ..CallInfo::default()
        };
        let started = CallInfo {
            dir: self.dir,
            remote_number: self.remote.clone().unwrap_or_default(),
            remote_name: self.remote_name.clone().unwrap_or_default(),
            codec: Some(self.codec.unwrap_or(Codec::Pcma)),
            ..only_id.clone()
        };
        started.validate()?;
        let mut steps = vec![
            (0, Action::Call(CallEvent::Started, started)),
            (answer, Action::Call(CallEvent::Answered, only_id.clone())),
        ];
        for (_, times, key) in keys {
            steps.extend(times.iter().map(|&t| (t, Action::Key(key))));
        }
        if let Some(t) = self.hold_at {
            steps.push((t, Action::Call(CallEvent::Held, only_id.clone())));
        }
        if let Some(t) = self.unhold_at {
            steps.push((t, Action::Call(CallEvent::Resumed, only_id.clone())));
        }
        steps.push((hangup, Action::Call(CallEvent::Ended, only_id)));
        // Stable: equal times keep the order above.
        steps.sort_by_key(|(t, _)| *t);
        Ok(steps
            .into_iter()
            .enumerate()
            .map(|(i, (at_ms, action))| Step {
                at_ms,
                line: i + 1,
                action,
                sip_none: false,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(flags: &CallFlags) -> String {
        flags
            .steps()
            .unwrap()
            .iter()
            .map(|s| format!("{s}\n"))
            .collect()
    }

    #[test]
    fn builds_the_call_as_a_script() {
        let flags = CallFlags {
            dir: Some(Direction::In),
            remote: Some("1002".into()),
            remote_name: Some("Bob Smith".into()),
            answer_at: Some(1000),
            record_at: vec![1000],
            pause_at: vec![3000],
            resume_at: vec![4000],
            stop_at: vec![6000],
            hold_at: Some(4000),
            unhold_at: Some(5000),
            hangup_at: Some(6000),
            ..CallFlags::default()
        };
        assert_eq!(
            script(&flags),
            "0.000 call started id=c1 dir=in remote=1002 remote_name=\"Bob Smith\" codec=PCMA\n\
             1.000 call answered id=c1\n\
             1.000 key record\n\
             3.000 key pause\n\
             4.000 key pause\n\
             4.000 call held id=c1\n\
             5.000 call resumed id=c1\n\
             6.000 key record\n\
             6.000 call ended id=c1\n"
        );
        // The printed script parses back to the same steps.
        let back = super::super::script::parse_script(&script(&flags)).unwrap();
        assert_eq!(back, flags.steps().unwrap());
    }

    #[test]
    fn minimal_call() {
        let flags = CallFlags {
            id: Some("x@pbx".into()),
            codec: Some(Codec::G722),
            hangup_at: Some(2000),
            ..CallFlags::default()
        };
        assert_eq!(
            script(&flags),
            "0.000 call started id=x@pbx codec=G722\n0.500 call answered id=x@pbx\n\
             2.000 call ended id=x@pbx\n"
        );
    }

    #[test]
    fn bad_flags_are_named() {
        let err = |f: CallFlags| f.steps().unwrap_err();
        let base = CallFlags {
            hangup_at: Some(2000),
            ..CallFlags::default()
        };
        assert!(err(CallFlags::default()).contains("--hangup-at"));
        assert!(err(CallFlags {
            hangup_at: Some(100),
            ..CallFlags::default()
        })
        .contains("--answer-at (0.500 s) is after --hangup-at"));
        assert!(err(CallFlags {
            unhold_at: Some(1000),
            ..base.clone()
        })
        .contains("needs --hold-at"));
        assert!(err(CallFlags {
            hold_at: Some(1500),
            unhold_at: Some(1000),
            ..base.clone()
        })
        .contains("before --hold-at"));
        assert!(err(CallFlags {
            stop_at: vec![1000, 3000],
            ..base.clone()
        })
        .contains("--stop-at is after"));
        assert!(err(CallFlags {
            id: Some("with space".into()),
            ..base
        })
        .contains("call.id"));
    }
}
