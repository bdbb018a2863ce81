//! Calls, keys and recording policies (sans-IO): the [`Controller`] decides what is recorded.
//!
//! Call events, key presses and remote commands change what the controller *wants* (a recording
//! of some call, paused or not); the backend (the local recorder or the record server's client)
//! reports what *is* ([`BackendView`]); [`Controller::poll_action`] hands out the next step that
//! brings the two together. Because the steps come from the difference, races settle by
//! themselves: a call that ends while the record server is still answering leaves "nothing
//! wanted", so the start is abandoned or the begun session stopped, whatever the order.
//!
//! There is one recording at a time (the tap carries one mixed stream). The rules a user meets
//! are written down in `docs/integration.md`.

pub mod event;
pub mod rules;

pub use event::{Event, Failure, View};
pub use rules::{Policy, Rules};

use crate::control_protocol::{CallEvent, CallInfo, Key, Remote};
use crate::direction::Direction;
use core::fmt;
use std::collections::VecDeque;

/// Calls known at once (a desk phone has a handful of lines).
pub const MAX_CALLS: usize = 8;
/// Events waiting for the shell; it takes them after every input, so this is never reached in
/// practice. Past it the oldest is dropped.
const MAX_EVENTS: usize = 64;

/// The backend's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    /// Waiting for the record server to take the session.
    Starting,
    Recording,
    Paused,
    /// Waiting for the record server to take the resume.
    Resuming,
    /// Waiting for the record server to confirm the stop.
    Stopping,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Starting => "starting",
            Phase::Recording => "recording",
            Phase::Paused => "paused",
            Phase::Resuming => "resuming",
            Phase::Stopping => "stopping",
        }
    }

    /// Waiting for someone else: no new step is taken until it settles.
    pub fn settling(self) -> bool {
        matches!(self, Phase::Starting | Phase::Resuming | Phase::Stopping)
    }
}

/// What the backend reports after every step.
#[derive(Debug, Clone, Copy)]
pub struct BackendView<'a> {
    pub phase: Phase,
    /// The file being written (local mode).
    pub file: Option<&'a str>,
    /// Recorded time of the current or last recording, pauses excluded.
    pub recorded_ms: u64,
    /// Why the backend's last recording ended, if it failed: (code, message).
    pub failure: Option<(&'a str, &'a str)>,
}

/// Why the controller stops a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopWhy {
    /// A key press or a remote `stop`.
    Requested,
    /// The recorded call ended.
    CallEnded,
    /// The recording moves to another call.
    CallSwitched,
}

impl StopWhy {
    pub fn name(self) -> &'static str {
        match self {
            StopWhy::Requested => "requested",
            StopWhy::CallEnded => "call_ended",
            StopWhy::CallSwitched => "call_switched",
        }
    }

    /// In words, for a record server's stop request.
    pub fn phrase(self) -> &'static str {
        match self {
            StopWhy::Requested => "stopped by user",
            StopWhy::CallEnded => "call ended",
            StopWhy::CallSwitched => "call switched",
        }
    }
}

/// A step for the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start recording; `call` is empty for a recording with no call.
    Start {
        call: CallInfo,
        silent: bool,
    },
    Stop(StopWhy),
    Pause,
    Resume,
}

/// Why a key press, call event or command did nothing. The user or the client is at fault;
/// [`Refused::code`] is the stable code of the control protocol's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A call event without the call's id.
    BadCall,
    /// More calls at once than the agent follows.
    TooManyCalls,
    /// No such call is up.
    UnknownCall,
    /// No call is up.
    NoCall,
    /// The call is still ringing.
    CallNotAnswered,
    RecordingOff,
    PolicyNever,
    /// Under `always` the keys do nothing.
    PolicyAlways,
    /// SIP INFO recording cannot pause.
    PauseNotSupported,
    NotRecording,
    AlreadyRecording,
    AlreadyPaused,
    NotPaused,
}

impl Refused {
    pub fn code(self) -> &'static str {
        match self {
            Refused::BadCall => "bad_call",
            Refused::TooManyCalls => "too_many_calls",
            Refused::UnknownCall => "unknown_call",
            Refused::NoCall => "no_call",
            Refused::CallNotAnswered => "call_not_answered",
            Refused::RecordingOff => "recording_off",
            Refused::PolicyNever => "policy_never",
            Refused::PolicyAlways => "policy_always",
            Refused::PauseNotSupported => "pause_not_supported",
            Refused::NotRecording => "not_recording",
            Refused::AlreadyRecording => "already_recording",
            Refused::AlreadyPaused => "already_paused",
            Refused::NotPaused => "not_paused",
        }
    }

    pub fn message(self) -> String {
        match self {
            Refused::BadCall => "a call event needs call.id".into(),
            Refused::TooManyCalls => format!("the agent follows at most {MAX_CALLS} calls"),
            Refused::UnknownCall => "no such call is up".into(),
            Refused::NoCall => "no call is up".into(),
            Refused::CallNotAnswered => "the call is not answered yet".into(),
            Refused::RecordingOff => "recording is switched off in the settings".into(),
            Refused::PolicyNever => "the recording policy is never".into(),
            Refused::PolicyAlways => {
                "every call is recorded; the keys do nothing under the policy always".into()
            }
            Refused::PauseNotSupported => "recording through SIP INFO cannot pause".into(),
            Refused::NotRecording => "no recording is running".into(),
            Refused::AlreadyRecording => "a recording is already running".into(),
            Refused::AlreadyPaused => "the recording is already paused".into(),
            Refused::NotPaused => "the recording is not paused".into(),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Refused {}

/// Where a known call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    Started,
    Answered,
    Held,
}

impl CallState {
    pub fn name(self) -> &'static str {
        match self {
            CallState::Started => "started",
            CallState::Answered => "answered",
            CallState::Held => "held",
        }
    }
}

#[derive(Debug, Clone)]
struct Call {
    info: CallInfo,
    state: CallState,
    /// Automatic policies leave this call alone (its recording failed or was stopped).
    no_auto: bool,
}

impl Call {
    fn id(&self) -> &str {
        self.info.id.as_deref().unwrap_or("")
    }
}

/// The recording the controller wants.
#[derive(Debug, Clone)]
struct Want {
    gen: u64,
    call: Option<String>,
    silent: bool,
    user_paused: bool,
    hold_paused: bool,
}

/// The recording handed to the backend.
#[derive(Debug, Clone)]
struct Running {
    gen: u64,
    call: Option<String>,
    /// The stop that was asked for, if any.
    stop: Option<StopWhy>,
    /// The last pause (true) or resume (false) asked for.
    asked_paused: bool,
}

#[derive(Debug, Clone)]
struct FailureRec {
    failure: Failure,
    call: Option<String>,
    silent: bool,
}

/// See the module doc.
#[derive(Debug)]
pub struct Controller {
    rules: Rules,
    calls: Vec<Call>,
    want: Option<Want>,
    running: Option<Running>,
    next_gen: u64,
    /// Why `running` stops when it is no longer wanted.
    stop_why: StopWhy,
    phase: Phase,
    file: Option<String>,
    recorded_ms: u64,
    last_stop: Option<String>,
    failure: Option<FailureRec>,
    failures: u64,
    last_problem: Option<Failure>,
    shown: View,
    events: VecDeque<Event>,
    tone_due: Option<u64>,
}

impl Controller {
    pub fn new(rules: Rules) -> Controller {
        let mut c = Controller {
            rules,
            calls: Vec::with_capacity(MAX_CALLS),
            want: None,
            running: None,
            next_gen: 0,
            stop_why: StopWhy::Requested,
            phase: Phase::Idle,
            file: None,
            recorded_ms: 0,
            last_stop: None,
            failure: None,
            failures: 0,
            last_problem: None,
            shown: View::default(),
            events: VecDeque::with_capacity(MAX_EVENTS),
            tone_due: None,
        };
        c.shown = c.view();
        c
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// True while a recording is wanted or still on the backend: settings wait for the end.
    pub fn busy(&self) -> bool {
        self.want.is_some() || self.running.is_some() || self.phase != Phase::Idle
    }

    /// New rules; only taken when not [`busy`](Self::busy). Returns whether they were taken.
    pub fn set_rules(&mut self, rules: Rules) -> bool {
        if self.busy() {
            return false;
        }
        self.rules = rules;
        true
    }

    /// Failures so far (a shell compares counts to tell whether a command's outcome failed).
    pub fn failures(&self) -> u64 {
        self.failures
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_ref().map(|f| &f.failure)
    }

    pub fn last_stop(&self) -> Option<&str> {
        self.last_stop.as_deref()
    }

    /// The known calls: id, state, direction.
    pub fn calls(&self) -> impl Iterator<Item = (&str, CallState, Option<Direction>)> {
        self.calls.iter().map(|c| (c.id(), c.state, c.info.dir))
    }

    /// The active call (answered, not held), if any.
    pub fn active_call(&self) -> Option<&CallInfo> {
        self.active_index().map(|i| &self.calls[i].info)
    }

    /// A call event from the phone. `info.id` must be set.
    pub fn call_event(&mut self, ev: CallEvent, info: &CallInfo) -> Result<(), Refused> {
        let r = self.call_event_inner(ev, info);
        if let Err(e) = &r {
            self.refused_event(format!("call {}", ev.name()), e);
        }
        r
    }

    fn call_event_inner(&mut self, ev: CallEvent, info: &CallInfo) -> Result<(), Refused> {
        let Some(id) = info.id.as_deref() else {
            return Err(Refused::BadCall);
        };
        let known = self.calls.iter().position(|c| c.id() == id);
        let i = match (known, ev) {
            (Some(i), _) => {
                merge(&mut self.calls[i].info, info);
                i
            }
            (None, CallEvent::Started | CallEvent::Answered) => {
                if self.calls.len() == MAX_CALLS {
                    return Err(Refused::TooManyCalls);
                }
                self.calls.push(Call {
                    info: info.clone(),
                    state: CallState::Started,
                    no_auto: false,
                });
                self.calls.len() - 1
            }
            (None, _) => return Err(Refused::UnknownCall),
        };
        let wanted_here = self.want_is_for(id);
        match ev {
            CallEvent::Started => {}
            CallEvent::Answered => {
                if self.calls[i].state == CallState::Started {
                    self.calls[i].state = CallState::Answered;
                    self.became_active(i);
                }
            }
            CallEvent::Held => {
                if self.calls[i].state == CallState::Answered {
                    self.calls[i].state = CallState::Held;
                    if wanted_here && self.rules.pause_on_hold && self.rules.can_pause {
                        if let Some(w) = self.want.as_mut() {
                            w.hold_paused = true;
                        }
                    }
                }
            }
            CallEvent::Resumed => {
                if self.calls[i].state == CallState::Held {
                    self.calls[i].state = CallState::Answered;
                    if wanted_here {
                        if let Some(w) = self.want.as_mut() {
                            w.hold_paused = false;
                        }
                    } else {
                        self.became_active(i);
                    }
                }
            }
            CallEvent::Ended => {
                self.calls.remove(i);
                if wanted_here {
                    self.want = None;
                    self.stop_why = StopWhy::CallEnded;
                }
                if self.failure.as_ref().and_then(|f| f.call.as_deref()) == Some(id) {
                    self.failure = None;
                }
                if self.want.is_none() {
                    if let Some(a) = self.active_index() {
                        self.became_active(a);
                    }
                }
            }
        }
        Ok(())
    }

    /// Call `i` is now the active one: automatic policies record it.
    fn became_active(&mut self, i: usize) {
        let call = &self.calls[i];
        if !self.rules.enabled || !self.rules.policy.automatic() || call.no_auto {
            return;
        }
        if self.want_is_for(call.id()) {
            return;
        }
        let id = call.id().to_owned();
        if self.want.is_some() {
            self.stop_why = StopWhy::CallSwitched;
        }
        self.want_recording(Some(id), false);
    }

    /// A key press on the phone.
    pub fn key(&mut self, key: Key) -> Result<(), Refused> {
        let r = self.key_inner(key);
        if let Err(e) = &r {
            self.refused_event(format!("key {}", key.name()), e);
        }
        r
    }

    fn key_inner(&mut self, key: Key) -> Result<(), Refused> {
        if !self.rules.enabled {
            return Err(Refused::RecordingOff);
        }
        match (self.rules.policy, key) {
            (Policy::Never, _) => Err(Refused::PolicyNever),
            (Policy::Always, _) => Err(Refused::PolicyAlways),
            (Policy::AlwaysPause, _) | (Policy::OnDemand, Key::Pause) => self.toggle_pause(),
            (Policy::OnDemand, Key::Record) => self.record_key(),
        }
    }

    fn record_key(&mut self) -> Result<(), Refused> {
        let active = self.active_index().map(|i| self.calls[i].id().to_owned());
        if let Some(w) = self.want.as_mut() {
            if w.silent {
                // The user asks for what is already happening: show it.
                w.silent = false;
                return Ok(());
            }
            match active {
                Some(a) if w.call.is_some() && w.call.as_deref() != Some(a.as_str()) => {
                    self.stop_why = StopWhy::CallSwitched;
                    self.want_recording(Some(a), false);
                }
                _ => {
                    self.stop_why = StopWhy::Requested;
                    self.want = None;
                }
            }
            return Ok(());
        }
        match active {
            Some(a) => {
                self.want_recording(Some(a), false);
                Ok(())
            }
            None => Err(self.no_active_call()),
        }
    }

    fn toggle_pause(&mut self) -> Result<(), Refused> {
        if !self.rules.can_pause {
            return Err(Refused::PauseNotSupported);
        }
        match self.want.as_mut() {
            Some(w) if !w.silent => {
                w.user_paused = !w.user_paused;
                Ok(())
            }
            _ => Err(Refused::NotRecording),
        }
    }

    /// A remote command through the control API (`start`, `stop`, `pause`, `resume`).
    /// `call_id` picks the call for `start`.
    pub fn remote(&mut self, cmd: Remote, call_id: Option<&str>) -> Result<(), Refused> {
        self.remote_inner(cmd, call_id)
    }

    fn remote_inner(&mut self, cmd: Remote, call_id: Option<&str>) -> Result<(), Refused> {
        match cmd {
            Remote::Start => {
                if !self.rules.enabled {
                    return Err(Refused::RecordingOff);
                }
                if self.rules.policy == Policy::Never {
                    return Err(Refused::PolicyNever);
                }
                if self.want.is_some() {
                    return Err(Refused::AlreadyRecording);
                }
                let target = match call_id {
                    Some(id) => {
                        let Some(c) = self.calls.iter().find(|c| c.id() == id) else {
                            return Err(Refused::UnknownCall);
                        };
                        if c.state == CallState::Started {
                            return Err(Refused::CallNotAnswered);
                        }
                        Some(id.to_owned())
                    }
                    None => match self.active_index() {
                        Some(i) => Some(self.calls[i].id().to_owned()),
                        None if self.calls.is_empty() => None,
                        None => return Err(self.no_active_call()),
                    },
                };
                let held = target.as_deref().is_some_and(|id| {
                    self.calls
                        .iter()
                        .any(|c| c.id() == id && c.state == CallState::Held)
                });
                self.want_recording(target, self.rules.silent_remote);
                if let Some(w) = self.want.as_mut() {
                    w.hold_paused = held && self.rules.pause_on_hold && self.rules.can_pause;
                }
                Ok(())
            }
            Remote::Stop => {
                let Some(w) = self.want.take() else {
                    return Err(Refused::NotRecording);
                };
                self.stop_why = StopWhy::Requested;
                self.leave_alone(w.call.as_deref());
                Ok(())
            }
            Remote::Pause | Remote::Resume if !self.rules.can_pause => {
                Err(Refused::PauseNotSupported)
            }
            Remote::Pause | Remote::Resume => {
                let pause = cmd == Remote::Pause;
                let Some(w) = self.want.as_mut() else {
                    return Err(Refused::NotRecording);
                };
                match (pause, w.user_paused) {
                    (true, true) => Err(Refused::AlreadyPaused),
                    (false, false) => Err(Refused::NotPaused),
                    _ => {
                        w.user_paused = pause;
                        Ok(())
                    }
                }
            }
        }
    }

    /// The next step for the backend, if any. The shell carries it out at once, then calls
    /// [`observe`](Self::observe).
    pub fn poll_action(&mut self) -> Option<Action> {
        if let Some(r) = self.running.as_mut() {
            let want = self.want.as_ref().filter(|w| w.gen == r.gen);
            let Some(w) = want else {
                if r.stop.is_some() {
                    return None;
                }
                r.stop = Some(self.stop_why);
                return Some(Action::Stop(self.stop_why));
            };
            let paused = w.user_paused || w.hold_paused;
            return match self.phase {
                Phase::Recording if paused && !r.asked_paused => {
                    r.asked_paused = true;
                    Some(Action::Pause)
                }
                Phase::Paused if !paused && r.asked_paused => {
                    r.asked_paused = false;
                    Some(Action::Resume)
                }
                _ => None,
            };
        }
        let w = self.want.as_ref()?;
        if self.phase != Phase::Idle {
            return None;
        }
        let call = match &w.call {
            Some(id) => self
                .calls
                .iter()
                .find(|c| c.id() == id)
                .map(|c| c.info.clone())
                .unwrap_or_default(),
            None => CallInfo::default(),
        };
        self.running = Some(Running {
            gen: w.gen,
            call: w.call.clone(),
            stop: None,
            asked_paused: false,
        });
        Some(Action::Start {
            call,
            silent: w.silent,
        })
    }

    /// The backend could not stop (a PBX refused `Record: off`): it records as far as anyone
    /// knows, so the recording is wanted again as it was, and the subscribers are told why.
    fn stop_failed(&mut self, failure: Option<(&str, &str)>) {
        let stopped = self
            .running
            .as_mut()
            .and_then(|r| r.stop.take().map(|why| (r.gen, r.call.clone(), why)));
        let Some((gen, call, why)) = stopped else {
            return;
        };
        let (code, message) = failure.unwrap_or(("stop_failed", "the recording did not stop"));
        let problem = Failure {
            code: code.into(),
            message: message.into(),
        };
        self.failures += 1;
        self.last_problem = Some(problem.clone());
        self.push(Event::Refused {
            what: format!("stop ({})", why.name()),
            code: "stop_failed",
            message: format!("{}: {}", problem.code, problem.message),
        });
        if self.want.is_none() && why != StopWhy::CallEnded {
            self.want = Some(Want {
                gen,
                call,
                silent: false,
                user_paused: false,
                hold_paused: false,
            });
        }
    }

    /// What went wrong last, for answering the command that caused it.
    pub fn last_problem(&self) -> Option<&Failure> {
        self.last_problem.as_ref()
    }

    /// The backend refused the start it was just given (`code`, `message` say why).
    pub fn start_refused(&mut self, code: &str, message: &str) {
        if let Some(r) = self.running.take() {
            self.fail(&r, code, message);
        }
    }

    /// What the backend is doing now.
    pub fn observe(&mut self, now_ms: u64, view: BackendView<'_>) {
        let was = self.phase;
        self.phase = view.phase;
        if was == Phase::Stopping && matches!(view.phase, Phase::Recording | Phase::Paused) {
            self.stop_failed(view.failure);
        }
        if self.file.as_deref() != view.file {
            self.file = view.file.map(str::to_owned);
        }
        self.recorded_ms = view.recorded_ms;
        if view.phase == Phase::Idle {
            if let Some(r) = self.running.take() {
                match r.stop {
                    Some(why) => self.last_stop = Some(why.name().into()),
                    None => {
                        let (code, message) = view
                            .failure
                            .unwrap_or(("recording_ended", "the recording ended by itself"));
                        self.fail(&r, code, message);
                    }
                }
            }
        }
        let toning = self
            .rules
            .tone_interval_ms
            .filter(|_| view.phase == Phase::Recording && self.running.is_some() && !self.silent());
        match (toning, self.tone_due) {
            (Some(every), None) => self.tone_due = Some(now_ms + every),
            (None, Some(_)) => self.tone_due = None,
            _ => {}
        }
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.tone_due
    }

    pub fn handle_timeout(&mut self, now_ms: u64) {
        let (Some(due), Some(every)) = (self.tone_due, self.rules.tone_interval_ms) else {
            return;
        };
        if due > now_ms {
            return;
        }
        let call_id = self.running.as_ref().and_then(|r| r.call.clone());
        self.push(Event::Tone {
            call_id,
            elapsed_ms: self.recorded_ms,
        });
        let next = due + every;
        self.tone_due = Some(if next <= now_ms { now_ms + every } else { next });
    }

    /// Tells the subscribers what happened to a settings change.
    pub fn settings_event(&mut self, applied: bool, message: String, error: Option<String>) {
        self.push(Event::Settings {
            applied,
            message,
            error,
        });
    }

    /// The next event for the subscribers. A status event is made here, when the state differs
    /// from the last one sent, so the steps of one settling are not each reported.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.emit_status();
        self.events.pop_front()
    }

    /// The state as the phone and the web UI show it.
    pub fn view(&self) -> View {
        View {
            state: self.phase.name(),
            shown: self.shown_name(),
            mode: self.rules.mode,
            call_id: self.call_id().map(str::to_owned),
            file: self.file.clone(),
            silent: self.silent(),
            failure: self.failure.as_ref().map(|f| f.failure.clone()),
        }
    }

    fn shown_name(&self) -> &'static str {
        if let Some(f) = &self.failure {
            return if f.silent { "idle" } else { "failed" };
        }
        if self.silent() {
            return "idle";
        }
        match self.phase {
            Phase::Idle if self.want.is_some() => "starting",
            Phase::Idle | Phase::Stopping => "idle",
            Phase::Starting => "starting",
            Phase::Recording | Phase::Resuming => "recording",
            Phase::Paused => "paused",
        }
    }

    fn silent(&self) -> bool {
        self.want.as_ref().is_some_and(|w| w.silent)
    }

    fn call_id(&self) -> Option<&str> {
        match (&self.running, &self.want, &self.failure) {
            (Some(r), _, _) => r.call.as_deref(),
            (None, Some(w), _) => w.call.as_deref(),
            (None, None, Some(f)) => f.call.as_deref(),
            _ => None,
        }
    }

    fn want_is_for(&self, id: &str) -> bool {
        self.want
            .as_ref()
            .is_some_and(|w| w.call.as_deref() == Some(id))
    }

    fn active_index(&self) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| c.state == CallState::Answered)
    }

    fn no_active_call(&self) -> Refused {
        if self.calls.iter().any(|c| c.state == CallState::Started) {
            Refused::CallNotAnswered
        } else {
            Refused::NoCall
        }
    }

    fn want_recording(&mut self, call: Option<String>, silent: bool) {
        self.next_gen += 1;
        self.want = Some(Want {
            gen: self.next_gen,
            call,
            silent,
            user_paused: false,
            hold_paused: false,
        });
        self.failure = None;
    }

    /// Automatic policies do not start this call again by themselves.
    fn leave_alone(&mut self, call: Option<&str>) {
        if let Some(c) = self.calls.iter_mut().find(|c| Some(c.id()) == call) {
            c.no_auto = true;
        }
    }

    fn fail(&mut self, r: &Running, code: &str, message: &str) {
        let silent = self.want.as_ref().is_some_and(|w| w.silent);
        if self.want.as_ref().is_some_and(|w| w.gen == r.gen) {
            self.want = None;
        }
        self.leave_alone(r.call.as_deref());
        self.last_stop = Some(code.into());
        self.failures += 1;
        self.last_problem = Some(Failure {
            code: code.into(),
            message: message.into(),
        });
        self.failure = Some(FailureRec {
            failure: Failure {
                code: code.into(),
                message: message.into(),
            },
            call: r.call.clone(),
            silent,
        });
    }

    fn refused_event(&mut self, what: String, e: &Refused) {
        self.push(Event::Refused {
            what,
            code: e.code(),
            message: e.message(),
        });
    }

    /// Queues a status event if anything a subscriber sees changed. Allocates only then.
    fn emit_status(&mut self) {
        let same = {
            let s = &self.shown;
            s.state == self.phase.name()
                && s.shown == self.shown_name()
                && s.mode == self.rules.mode
                && s.call_id.as_deref() == self.call_id()
                && s.file == self.file
                && s.silent == self.silent()
                && s.failure.as_ref().map(|f| &f.code)
                    == self.failure.as_ref().map(|f| &f.failure.code)
        };
        if same {
            return;
        }
        self.shown = self.view();
        self.push(Event::Status {
            view: self.shown.clone(),
            elapsed_ms: self.recorded_ms,
        });
    }

    fn push(&mut self, e: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }
}

/// A later event's details win over an earlier one's; empty strings say nothing.
fn merge(into: &mut CallInfo, from: &CallInfo) {
    for (dst, src) in [
        (&mut into.remote_number, &from.remote_number),
        (&mut into.remote_name, &from.remote_name),
        (&mut into.local_number, &from.local_number),
        (&mut into.local_name, &from.local_name),
    ] {
        if !src.is_empty() {
            dst.clone_from(src);
        }
    }
    if from.dir.is_some() {
        into.dir.clone_from(&from.dir);
    }
    if from.codec.is_some() {
        into.codec.clone_from(&from.codec);
    }
    if from.tap_port.is_some() {
        into.tap_port = from.tap_port;
    }
    if from.dialog.is_some() {
        into.dialog.clone_from(&from.dialog);
    }
}

#[cfg(test)]
mod tests;
