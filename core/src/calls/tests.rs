use super::*;
use CallEvent::*;

/// A backend that carries out every step at once, like the local recorder, unless told to
/// hold starts and stops in flight like a record server.
struct Rig {
    c: Controller,
    phase: Phase,
    /// Starts and stops wait for [`Rig::server_answers`].
    slow: bool,
    failure: Option<(&'static str, &'static str)>,
    done: Vec<Action>,
    now: u64,
}

impl Rig {
    fn new(rules: Rules) -> Rig {
        Rig {
            c: Controller::new(rules),
            phase: Phase::Idle,
            slow: false,
            failure: None,
            done: Vec::new(),
            now: 0,
        }
    }

    fn policy(policy: Policy) -> Rig {
        Rig::new(Rules {
            policy,
            ..Rules::default()
        })
    }

    /// Carries out the controller's steps until there are none.
    fn settle(&mut self) {
        for _ in 0..8 {
            self.observe();
            let mut acted = false;
            while let Some(a) = self.c.poll_action() {
                acted = true;
                self.phase = match (&a, self.slow) {
                    (Action::Start { .. }, false) | (Action::Resume, _) => Phase::Recording,
                    (Action::Start { .. }, true) => Phase::Starting,
                    (Action::Stop(_), false) => Phase::Idle,
                    (Action::Stop(_), true) => Phase::Stopping,
                    (Action::Pause, _) => Phase::Paused,
                };
                self.done.push(a);
            }
            if !acted {
                return;
            }
        }
        panic!("the controller kept asking");
    }

    fn observe(&mut self) {
        let view = BackendView {
            phase: self.phase,
            file: (self.phase != Phase::Idle).then_some("Record_1.wav"),
            recorded_ms: 0,
            failure: self.failure,
        };
        self.c.observe(self.now, view);
    }

    fn call(&mut self, ev: CallEvent, id: &str) -> Result<(), Refused> {
        let info = CallInfo {
            id: Some(id.into()),
            remote_number: format!("{id}-remote"),
            ..CallInfo::default()
        };
        let r = self.c.call_event(ev, &info);
        self.settle();
        r
    }

    fn key(&mut self, key: Key) -> Result<(), Refused> {
        let r = self.c.key(key);
        self.settle();
        r
    }

    fn remote(&mut self, cmd: Remote) -> Result<(), Refused> {
        let r = self.c.remote(cmd, None);
        self.settle();
        r
    }

    /// The server answered whatever was in flight.
    fn server_answers(&mut self) {
        self.phase = match self.phase {
            Phase::Starting | Phase::Resuming => Phase::Recording,
            Phase::Stopping => Phase::Idle,
            p => p,
        };
        self.settle();
    }

    /// The backend's recording ended by itself.
    fn backend_fails(&mut self, code: &'static str) {
        self.phase = Phase::Idle;
        self.failure = Some((code, "it broke"));
        self.settle();
    }

    fn actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.done)
    }

    fn shown(&self) -> &'static str {
        self.c.view().shown
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.c.poll_event()).collect()
    }
}

fn start_of(id: &str) -> Action {
    Action::Start {
        call: CallInfo {
            id: Some(id.into()),
            remote_number: format!("{id}-remote"),
            ..CallInfo::default()
        },
        silent: false,
    }
}

fn code(r: Result<(), Refused>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn on_demand_key_starts_and_stops_the_active_call() {
    let mut r = Rig::policy(Policy::OnDemand);
    assert_eq!(code(r.key(Key::Record)), "no_call");
    r.call(Started, "c1").unwrap();
    assert_eq!(code(r.key(Key::Record)), "call_not_answered");
    r.call(Answered, "c1").unwrap();
    assert_eq!(r.actions(), []);
    r.key(Key::Record).unwrap();
    assert_eq!(r.actions(), [start_of("c1")]);
    assert_eq!(r.shown(), "recording");
    r.key(Key::Pause).unwrap();
    r.key(Key::Pause).unwrap();
    assert_eq!(r.actions(), [Action::Pause, Action::Resume]);
    r.key(Key::Record).unwrap();
    assert_eq!(r.actions(), [Action::Stop(StopWhy::Requested)]);
    assert_eq!(r.c.last_stop(), Some("requested"));
    assert_eq!(r.shown(), "idle");
    // The refusals reached the subscribers too.
    let refusals: Vec<_> = r
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Refused { what, code, .. } => Some((what, code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refusals,
        [
            ("key record".to_string(), "no_call"),
            ("key record".to_string(), "call_not_answered")
        ]
    );
}

#[test]
fn always_records_from_answer_to_end_and_the_keys_do_nothing() {
    let mut r = Rig::policy(Policy::Always);
    r.call(Started, "c1").unwrap();
    assert_eq!(r.actions(), []);
    r.call(Answered, "c1").unwrap();
    assert_eq!(r.actions(), [start_of("c1")]);
    assert_eq!(code(r.key(Key::Record)), "policy_always");
    assert_eq!(code(r.key(Key::Pause)), "policy_always");
    r.call(Ended, "c1").unwrap();
    assert_eq!(r.actions(), [Action::Stop(StopWhy::CallEnded)]);
    assert_eq!(r.c.last_stop(), Some("call_ended"));
    assert!(!r.c.busy());
}

#[test]
fn always_pause_keys_pause_and_resume() {
    let mut r = Rig::policy(Policy::AlwaysPause);
    r.call(Answered, "c1").unwrap();
    r.key(Key::Record).unwrap();
    assert_eq!(r.shown(), "paused");
    r.key(Key::Pause).unwrap();
    assert_eq!(r.actions(), [start_of("c1"), Action::Pause, Action::Resume]);
    r.call(Ended, "c1").unwrap();
    assert_eq!(code(r.key(Key::Pause)), "not_recording");
}

#[test]
fn never_refuses_keys_and_remote_starts() {
    let mut r = Rig::policy(Policy::Never);
    r.call(Answered, "c1").unwrap();
    assert_eq!(code(r.key(Key::Record)), "policy_never");
    assert_eq!(code(r.remote(Remote::Start)), "policy_never");
    assert_eq!(r.actions(), []);
    let mut off = Rig::new(Rules {
        enabled: false,
        policy: Policy::Always,
        ..Rules::default()
    });
    off.call(Answered, "c1").unwrap();
    assert_eq!(code(off.key(Key::Record)), "recording_off");
    assert_eq!(code(off.remote(Remote::Start)), "recording_off");
    assert_eq!(off.actions(), []);
}

#[test]
fn hold_pauses_and_resume_continues_unless_the_user_paused() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.call(Answered, "c1").unwrap();
    r.key(Key::Record).unwrap();
    r.call(Held, "c1").unwrap();
    assert_eq!(r.shown(), "paused");
    r.call(Resumed, "c1").unwrap();
    assert_eq!(r.actions(), [start_of("c1"), Action::Pause, Action::Resume]);
    // Paused by the user, then held and resumed: still paused.
    r.key(Key::Pause).unwrap();
    r.call(Held, "c1").unwrap();
    r.call(Resumed, "c1").unwrap();
    assert_eq!(r.actions(), [Action::Pause]);
    assert_eq!(r.shown(), "paused");
    // Repeated events change nothing.
    r.call(Resumed, "c1").unwrap();
    r.call(Answered, "c1").unwrap();
    assert_eq!(r.actions(), []);

    let mut keep = Rig::new(Rules {
        pause_on_hold: false,
        ..Rules::default()
    });
    keep.call(Answered, "c1").unwrap();
    keep.key(Key::Record).unwrap();
    keep.call(Held, "c1").unwrap();
    assert_eq!(keep.actions(), [start_of("c1")]);
    assert_eq!(keep.shown(), "recording");
}

#[test]
fn always_follows_the_active_call() {
    let mut r = Rig::policy(Policy::Always);
    r.call(Answered, "a").unwrap();
    r.call(Held, "a").unwrap();
    r.call(Answered, "b").unwrap();
    assert_eq!(
        r.actions(),
        [
            start_of("a"),
            Action::Pause,
            Action::Stop(StopWhy::CallSwitched),
            start_of("b")
        ]
    );
    r.call(Ended, "b").unwrap();
    r.call(Resumed, "a").unwrap();
    assert_eq!(
        r.actions(),
        [Action::Stop(StopWhy::CallEnded), start_of("a")]
    );
}

#[test]
fn on_demand_second_call_keeps_the_first_until_the_key() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.call(Answered, "a").unwrap();
    r.key(Key::Record).unwrap();
    r.call(Held, "a").unwrap();
    r.call(Started, "b").unwrap();
    r.call(Answered, "b").unwrap();
    assert_eq!(r.actions(), [start_of("a"), Action::Pause]);
    assert_eq!(r.c.view().call_id.as_deref(), Some("a"));
    r.key(Key::Record).unwrap();
    assert_eq!(
        r.actions(),
        [Action::Stop(StopWhy::CallSwitched), start_of("b")]
    );
    // The key on b again stops b.
    r.key(Key::Record).unwrap();
    assert_eq!(r.actions(), [Action::Stop(StopWhy::Requested)]);
}

#[test]
fn call_ended_while_the_server_is_answering() {
    let mut r = Rig::policy(Policy::Always);
    r.slow = true;
    r.call(Answered, "c1").unwrap();
    assert_eq!(r.shown(), "starting");
    r.call(Ended, "c1").unwrap();
    assert_eq!(
        r.actions(),
        [start_of("c1"), Action::Stop(StopWhy::CallEnded)]
    );
    assert_eq!(r.phase, Phase::Stopping);
    assert!(r.c.busy());
    r.server_answers();
    assert!(!r.c.busy());
    assert_eq!(r.c.last_stop(), Some("call_ended"));
    assert_eq!(r.c.failure(), None);
    assert_eq!(r.shown(), "idle");
}

#[test]
fn a_pause_asked_while_starting_is_carried_out_once_started() {
    let mut r = Rig::policy(Policy::AlwaysPause);
    r.slow = true;
    r.call(Answered, "c1").unwrap();
    r.key(Key::Pause).unwrap();
    assert_eq!(r.actions(), [start_of("c1")]);
    r.server_answers();
    assert_eq!(r.actions(), [Action::Pause]);
    assert_eq!(r.shown(), "paused");
}

#[test]
fn a_failure_shows_until_the_call_ends_and_is_not_retried() {
    let mut r = Rig::policy(Policy::Always);
    r.call(Answered, "c1").unwrap();
    r.backend_fails("stick_full");
    let v = r.c.view();
    assert_eq!((v.state, v.shown), ("idle", "failed"));
    assert_eq!(v.failure.unwrap().code, "stick_full");
    assert_eq!(r.c.last_stop(), Some("stick_full"));
    assert_eq!(r.c.failures(), 1);
    // Hold and resume do not start it again by themselves.
    r.call(Held, "c1").unwrap();
    r.call(Resumed, "c1").unwrap();
    assert_eq!(r.actions(), [start_of("c1")]);
    r.call(Ended, "c1").unwrap();
    assert_eq!(r.shown(), "idle");
    assert_eq!(r.c.failure(), None);
}

#[test]
fn a_refused_start_shows_failed_and_the_next_start_clears_it() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.call(Answered, "c1").unwrap();
    r.c.key(Key::Record).unwrap();
    assert!(matches!(r.c.poll_action(), Some(Action::Start { .. })));
    r.c.start_refused("no_stick", "no USB stick is inserted");
    r.settle();
    assert_eq!(r.shown(), "failed");
    assert!(!r.c.busy());
    r.key(Key::Record).unwrap();
    assert_eq!(r.shown(), "recording");
    assert_eq!(r.c.failure(), None);
}

#[test]
fn silent_remote_recordings_show_nothing_until_the_key() {
    let mut r = Rig::new(Rules {
        silent_remote: true,
        tone_interval_ms: Some(20_000),
        ..Rules::default()
    });
    r.call(Answered, "c1").unwrap();
    r.remote(Remote::Start).unwrap();
    let v = r.c.view();
    assert_eq!((v.state, v.shown, v.silent), ("recording", "idle", true));
    assert_eq!(r.c.poll_timeout(), None, "no tone for a silent recording");
    assert_eq!(code(r.key(Key::Pause)), "not_recording");
    r.key(Key::Record).unwrap();
    assert_eq!(r.shown(), "recording");
    assert_eq!(
        r.actions(),
        [Action::Start {
            call: CallInfo {
                id: Some("c1".into()),
                remote_number: "c1-remote".into(),
                ..CallInfo::default()
            },
            silent: true
        }]
    );
    assert_eq!(r.c.poll_timeout(), Some(20_000));
    r.remote(Remote::Stop).unwrap();
    assert_eq!(r.actions(), [Action::Stop(StopWhy::Requested)]);
}

#[test]
fn remote_commands_without_calls_record_with_no_call() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.remote(Remote::Start).unwrap();
    assert_eq!(code(r.remote(Remote::Start)), "already_recording");
    assert_eq!(code(r.remote(Remote::Resume)), "not_paused");
    r.remote(Remote::Pause).unwrap();
    assert_eq!(code(r.remote(Remote::Pause)), "already_paused");
    r.remote(Remote::Resume).unwrap();
    r.remote(Remote::Stop).unwrap();
    assert_eq!(code(r.remote(Remote::Stop)), "not_recording");
    assert_eq!(
        r.actions(),
        [
            Action::Start {
                call: CallInfo::default(),
                silent: false
            },
            Action::Pause,
            Action::Resume,
            Action::Stop(StopWhy::Requested)
        ]
    );
    // With calls up but none answered, a remote start has nothing to record.
    r.call(Started, "c1").unwrap();
    assert_eq!(code(r.remote(Remote::Start)), "call_not_answered");
    assert_eq!(code(r.c.remote(Remote::Start, Some("zz"))), "unknown_call");
}

#[test]
fn tones_come_every_interval_of_recording_and_not_while_paused() {
    let mut r = Rig::new(Rules {
        tone_interval_ms: Some(20_000),
        ..Rules::default()
    });
    r.call(Answered, "c1").unwrap();
    r.now = 1_000;
    r.key(Key::Record).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(21_000));
    r.events();
    r.c.handle_timeout(20_999);
    assert_eq!(r.events(), []);
    r.c.handle_timeout(21_000);
    r.c.handle_timeout(41_000);
    let tones = r
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Tone { .. }))
        .count();
    assert_eq!(tones, 2);
    assert_eq!(r.c.poll_timeout(), Some(61_000));
    r.key(Key::Pause).unwrap();
    assert_eq!(r.c.poll_timeout(), None);
    r.now = 100_000;
    r.key(Key::Pause).unwrap();
    assert_eq!(r.c.poll_timeout(), Some(120_000));
}

#[test]
fn unknown_and_too_many_calls_are_refused() {
    let mut r = Rig::policy(Policy::OnDemand);
    assert_eq!(code(r.call(Held, "x")), "unknown_call");
    assert_eq!(code(r.call(Ended, "x")), "unknown_call");
    for i in 0..MAX_CALLS {
        r.call(Started, &format!("c{i}")).unwrap();
    }
    assert_eq!(code(r.call(Started, "one-more")), "too_many_calls");
    r.call(Ended, "c0").unwrap();
    r.call(Started, "one-more").unwrap();
    assert_eq!(r.c.calls().count(), MAX_CALLS);
}

#[test]
fn rules_change_only_between_recordings() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.call(Answered, "c1").unwrap();
    r.key(Key::Record).unwrap();
    let always = Rules {
        policy: Policy::Always,
        ..Rules::default()
    };
    assert!(!r.c.set_rules(always));
    r.key(Key::Record).unwrap();
    assert!(r.c.set_rules(always));
    assert_eq!(r.c.rules().policy, Policy::Always);
}

#[test]
fn status_events_only_on_change() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.call(Answered, "c1").unwrap();
    r.events();
    r.key(Key::Record).unwrap();
    let statuses: Vec<_> = r
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Status { view, .. } => Some((view.state, view.shown, view.file)),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [("recording", "recording", Some("Record_1.wav".to_string()))]
    );
    r.observe();
    r.observe();
    assert_eq!(r.events(), []);
}

#[test]
fn without_pause_the_keys_and_hold_leave_the_recording_alone() {
    let mut r = Rig::new(Rules {
        can_pause: false,
        policy: Policy::AlwaysPause,
        ..Rules::default()
    });
    r.call(Answered, "c1").unwrap();
    assert_eq!(code(r.key(Key::Pause)), "pause_not_supported");
    assert_eq!(code(r.key(Key::Record)), "pause_not_supported");
    assert_eq!(code(r.remote(Remote::Pause)), "pause_not_supported");
    r.call(Held, "c1").unwrap();
    assert_eq!(r.actions(), [start_of("c1")]);
    assert_eq!(r.shown(), "recording");
}

#[test]
fn a_refused_stop_keeps_the_recording_wanted_and_says_why() {
    let mut r = Rig::policy(Policy::OnDemand);
    r.slow = true;
    r.call(Answered, "c1").unwrap();
    r.key(Key::Record).unwrap();
    r.server_answers();
    r.key(Key::Record).unwrap();
    assert_eq!(r.phase, Phase::Stopping);
    r.events();
    // The PBX refuses Record: off: the backend is recording again, with the reason.
    r.phase = Phase::Recording;
    r.failure = Some(("sip_403", "recording is not allowed"));
    let before = r.c.failures();
    r.settle();
    assert_eq!(r.c.failures(), before + 1);
    assert_eq!(r.c.last_problem().unwrap().code, "sip_403");
    assert_eq!(r.shown(), "recording");
    assert!(r.c.busy());
    let refused: Vec<_> = r
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Refused { code, message, .. } => Some((code, message)),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "stop_failed");
    assert!(refused[0].1.starts_with("sip_403"));
    // The key again sends another stop.
    r.actions();
    r.key(Key::Record).unwrap();
    assert_eq!(r.actions(), [Action::Stop(StopWhy::Requested)]);
}
