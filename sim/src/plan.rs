//! When audio flows, worked out from the script before the run starts.
//!
//! A phone's media engine sends the mixed RTP of the active call (answered and not held) and
//! nothing otherwise: from `answered` until `held`, again from `resumed`, until `ended`. Which
//! call is active and where its RTP goes (the board's tap, or the call's own `tap_port`) depends
//! only on the call events, never on what the agent answers, so the plan is fixed in advance and
//! the media thread needs nothing from the control side. Pure and testable on its own.

use super::script::{Action, Step};
use callrec_core::codec::Codec;
use callrec_core::control_protocol::CallEvent;
use core::ops::Range;

/// A stretch of time during which one call's audio flows to one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The call (`None` for `callrec-sim play`): each call is one RTP stream, one SSRC.
    pub call: Option<String>,
    pub from_ms: u64,
    /// Exclusive.
    pub to_ms: u64,
    /// The call's own loopback port, if its events gave one.
    pub tap_port: Option<u16>,
    /// The codec the call's events name, if any (used when its stream starts).
    pub codec: Option<Codec>,
}

impl Segment {
    /// `callrec-sim play`: audio from the start for `ms`.
    pub fn whole(ms: u64) -> Segment {
        Segment {
            call: None,
            from_ms: 0,
            to_ms: ms,
            tap_port: None,
            codec: None,
        }
    }

    /// Indices of the packet-time frames that start within the segment: frame `k` starts at
    /// `k * ptime_ms` on the simulation's clock, so segments share one grid and never drift.
    pub fn frames(&self, ptime_ms: u32) -> Range<u64> {
        let p = u64::from(ptime_ms.max(1));
        self.from_ms.div_ceil(p)..self.to_ms.div_ceil(p)
    }
}

#[derive(Debug)]
struct CallState {
    id: String,
    answered: bool,
    held: bool,
    tap_port: Option<u16>,
    codec: Option<Codec>,
    /// When the call last became active (answered or resumed), to pick the latest one.
    active_since: usize,
}

/// The audio segments of a script. Audio stops at the last step at the latest.
pub fn segments(steps: &[Step]) -> Vec<Segment> {
    let mut calls: Vec<CallState> = Vec::new();
    let mut out = Vec::new();
    let mut current: Option<Segment> = None;
    for (n, step) in steps.iter().enumerate() {
        let Action::Call(event, info) = &step.action else {
            continue;
        };
        let Some(id) = info.id.as_deref() else {
            continue;
        };
        let i = match calls.iter().position(|c| c.id == id) {
            Some(i) => i,
            None => {
                calls.push(CallState {
                    id: id.to_string(),
                    answered: false,
                    held: false,
                    tap_port: None,
                    codec: None,
                    active_since: 0,
                });
                calls.len() - 1
            }
        };
        let call = &mut calls[i];
        call.tap_port = info.tap_port.or(call.tap_port);
        call.codec = info.codec.or(call.codec);
        match event {
            CallEvent::Started => {}
            CallEvent::Answered => {
                if !call.answered {
                    call.answered = true;
                    call.active_since = n;
                }
            }
            CallEvent::Held => call.held = true,
            CallEvent::Resumed => {
                if call.held {
                    call.held = false;
                    call.active_since = n;
                }
            }
            CallEvent::Ended => {
                calls.remove(i);
            }
        }
        let active = calls
            .iter()
            .filter(|c| c.answered && !c.held)
            .max_by_key(|c| c.active_since);
        let want = active.map(|c| (c.id.as_str(), c.tap_port));
        let have = current
            .as_ref()
            .map(|s| (s.call.as_deref().unwrap_or(""), s.tap_port));
        if want == have {
            continue;
        }
        close(&mut current, step.at_ms, &mut out);
        current = active.map(|c| Segment {
            call: Some(c.id.clone()),
            from_ms: step.at_ms,
            to_ms: step.at_ms,
            tap_port: c.tap_port,
            codec: c.codec,
        });
    }
    if let Some(last) = steps.last() {
        close(&mut current, last.at_ms, &mut out);
    }
    out
}

fn close(current: &mut Option<Segment>, at_ms: u64, out: &mut Vec<Segment>) {
    if let Some(mut s) = current.take() {
        s.to_ms = at_ms;
        if s.to_ms > s.from_ms {
            out.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::parse_script;

    fn plan(text: &str) -> Vec<(String, u64, u64, Option<u16>)> {
        segments(&parse_script(text).unwrap())
            .into_iter()
            .map(|s| (s.call.unwrap(), s.from_ms, s.to_ms, s.tap_port))
            .collect()
    }

    fn seg(id: &str, from: u64, to: u64, port: Option<u16>) -> (String, u64, u64, Option<u16>) {
        (id.to_string(), from, to, port)
    }

    #[test]
    fn audio_from_answer_to_end_but_not_while_held() {
        let text = "0 call started id=c1 codec=G722\n0.5 call answered id=c1\n1 key record\n\
                    7 call held id=c1\n7.5 call held id=c1\n8 call resumed id=c1\n10 call ended id=c1\n\
                    11 status\n";
        assert_eq!(
            plan(text),
            [seg("c1", 500, 7000, None), seg("c1", 8000, 10_000, None)]
        );
        let s = segments(&parse_script(text).unwrap());
        assert_eq!(s[0].codec, Some(Codec::G722));
    }

    #[test]
    fn no_answer_no_audio_and_the_last_step_ends_it() {
        assert!(plan("0 call started id=c1\n3 call ended id=c1\n").is_empty());
        assert!(plan("0 key record\n3 stop\n").is_empty());
        assert_eq!(
            plan("0 call answered id=c1\n2 key record\n"),
            [seg("c1", 0, 2000, None)]
        );
    }

    #[test]
    fn tap_port_and_a_second_call() {
        let text = "0 call started id=a tap_port=50300\n1 call answered id=a\n\
                    2 call started id=b\n3 call held id=a\n3 call answered id=b\n\
                    4 call resumed id=a tap_port=50400\n5 call ended id=a\n6 call ended id=b\n";
        assert_eq!(
            plan(text),
            [
                seg("a", 1000, 3000, Some(50300)),
                // While b is answered and a held, b is active; resuming a takes over.
                seg("b", 3000, 4000, None),
                seg("a", 4000, 5000, Some(50400)),
                // a ends and b, still answered and not held, is active again.
                seg("b", 5000, 6000, None),
            ]
        );
    }

    #[test]
    fn frames_sit_on_one_grid() {
        let s = |from_ms, to_ms| Segment {
            from_ms,
            to_ms,
            ..Segment::whole(0)
        };
        assert_eq!(s(500, 7000).frames(20), 25..350);
        assert_eq!(s(510, 530).frames(20), 26..27);
        assert_eq!(s(510, 520).frames(20), 26..26);
        assert_eq!(Segment::whole(1000).frames(30), 0..34);
        assert_eq!(Segment::whole(0).frames(20), 0..0);
    }
}
