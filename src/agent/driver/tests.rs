//! The driver in process and in simulated time: commands in, [`Output`]s out, a
//! [`ManualClock`] for time. Settings that wait for a recording's end, remote commands that wait
//! for the record server's answer, and the SIP INFO exchange with its 32 s limit, in
//! milliseconds of real time.

use super::*;
use crate::agent::local::StorageFactory;
use crate::agent::network;
use callrec_core::calls::Policy;
use callrec_core::control_protocol::{CallEvent, CallInfo, Key, Remote, SipReport};
use callrec_core::net_client::{LegEnd, LegState};
use callrec_platform::clock::ManualClock;
use callrec_platform::store::fs::DirStorage;
use callrec_platform::usb::Stick;

struct Rig {
    dir: PathBuf,
    clock: ManualClock,
    driver: Driver<DirStorage, ManualClock>,
    next_job: u64,
    /// Outputs polled and not yet looked at.
    seen: Vec<Output>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rig(name: &str, settings: Settings) -> Rig {
    let dir = std::env::temp_dir().join(format!("callrec-driver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("stick")).unwrap();
    let settings_path = dir.join("settings.json");
    settings.save(&settings_path).unwrap();
    let clock = ManualClock::new(1_000);
    let factory: StorageFactory<DirStorage> = Box::new(|s: &Stick| DirStorage::new(&s.path));
    let mut local = LocalSession::new(settings.clone(), factory, "127.0.0.1:50200".into());
    local.stick_changed(Some(Stick {
        path: dir.join("stick"),
        read_only: false,
        fs_type: "dir".into(),
        device: "test".into(),
        mount_id: 1,
    }));
    let network = Network::new("00:11:22:33:44:55".into(), clock.clone());
    let driver = Driver::new(settings, settings_path, local, network, true, clock.clone());
    Rig {
        dir,
        clock,
        driver,
        next_job: 0,
        seen: Vec::new(),
    }
}

impl Rig {
    /// Hands `command` to the driver as the main loop does; its job id.
    fn send(&mut self, command: Command) -> JobId {
        self.next_job += 1;
        let job = JobId(self.next_job);
        if let Some(p) = self.driver.job(job, Request::new(command, None)) {
            self.driver.reply(p);
        }
        job
    }

    /// Everything the driver has asked of the shell and no check has taken yet.
    fn outputs(&mut self) -> Vec<Output> {
        self.seen
            .extend(std::iter::from_fn(|| self.driver.poll_output()));
        std::mem::take(&mut self.seen)
    }

    /// The answer to `job` among the outputs now, if any (the others stay for later checks).
    fn answer(&mut self, job: JobId) -> Option<Response> {
        self.seen
            .extend(std::iter::from_fn(|| self.driver.poll_output()));
        let i = self
            .seen
            .iter()
            .position(|o| matches!(o, Output::Reply { job: j, .. } if *j == job))?;
        match self.seen.remove(i) {
            Output::Reply { response, .. } => Some(*response),
            _ => None,
        }
    }

    fn ask(&mut self, command: Command) -> Response {
        let job = self.send(command);
        self.answer(job).expect("an answer at once")
    }

    fn state(&mut self) -> String {
        self.ask(Command::Status).status.unwrap().state
    }
}

fn call(id: &str) -> CallInfo {
    CallInfo {
        id: Some(id.into()),
        remote_number: "1002".into(),
        ..CallInfo::default()
    }
}

#[test]
fn a_settings_change_during_a_recording_waits_for_its_end() {
    let mut r = rig("settings-wait", Settings::default());
    assert!(r.ask(Command::remote(Remote::Start)).ok);
    assert_eq!(r.state(), "recording");
    let mut change = serde_json::Map::new();
    change.insert("codec".into(), "G722".into());
    let saved = r.ask(Command::SetSettings(change));
    assert!(saved.ok, "{saved:?}");
    let view = saved.settings.unwrap();
    assert_eq!(view["applied"], false, "{view}");
    assert!(saved.status.unwrap().settings_pending);
    // The file has the new settings at once; the recording keeps the old ones.
    let on_disk = Settings::load(&r.dir.join("settings.json")).unwrap();
    assert_eq!(on_disk.codec, callrec_core::codec::Codec::G722);
    r.clock.advance(2_000);
    r.driver.tick();
    assert!(r.ask(Command::Status).status.unwrap().settings_pending);
    assert!(r.ask(Command::remote(Remote::Stop)).ok);
    let status = r.ask(Command::Status).status.unwrap();
    assert!(!status.settings_pending, "applied once the recording ended");
    let view = r.ask(Command::Settings).settings.unwrap();
    assert_eq!(view["settings"]["codec"], "G722", "{view}");
}

#[test]
fn a_bad_settings_change_is_refused_field_by_field_and_changes_nothing() {
    let mut r = rig("settings-bad", Settings::default());
    let mut change = serde_json::Map::new();
    change.insert("server_port".into(), 70_000.into());
    change.insert("policy".into(), "sometimes".into());
    let refused = r.ask(Command::SetSettings(change));
    let error = refused.error.unwrap();
    assert_eq!(error.code, "invalid");
    let fields = error.fields.unwrap();
    assert!(
        fields.contains_key("server_port") && fields.contains_key("policy"),
        "{fields:?}"
    );
    assert_eq!(
        Settings::load(&r.dir.join("settings.json")).unwrap(),
        Settings::default()
    );
}

fn network_settings() -> Settings {
    Settings {
        mode: Mode::Network,
        server_address: Some("127.0.0.1".parse().unwrap()),
        server_port: 5060,
        ..Settings::default()
    }
}

/// The leg the driver asked the shell to run.
fn opened_leg(outputs: &[Output]) -> String {
    outputs
        .iter()
        .find_map(|o| match o {
            Output::OpenLeg(leg) => Some(leg.leg.id().to_owned()),
            _ => None,
        })
        .expect("a leg to run")
}

#[test]
fn a_remote_start_in_network_mode_is_answered_when_the_server_has_answered() {
    let mut r = rig("net-wait", network_settings());
    let job = r.send(Command::remote(Remote::Start));
    let outputs = r.outputs();
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Reply { job: j, .. } if *j == job)),
        "no answer before the server's"
    );
    let leg = opened_leg(&outputs);
    r.clock.advance(40);
    r.driver.network.on_update(network::LegUpdate {
        id: leg.clone(),
        state: LegState::Streaming {
            server: "127.0.0.1".into(),
            port: 40_000,
        },
    });
    r.driver.settle();
    let answer = r
        .answer(job)
        .expect("answered once the server said where RTP goes");
    assert!(answer.ok, "{answer:?}");
    assert_eq!(answer.status.unwrap().state, "recording");
}

#[test]
fn a_remote_start_that_the_server_refuses_is_answered_with_the_reason() {
    let mut r = rig("net-refused", network_settings());
    let job = r.send(Command::remote(Remote::Start));
    let leg = opened_leg(&r.outputs());
    r.driver.network.on_update(network::LegUpdate {
        id: leg,
        state: LegState::Ended(LegEnd::Refused("storage full".into())),
    });
    r.driver.settle();
    let answer = r.answer(job).expect("answered with the failure");
    let error = answer.error.unwrap();
    assert_eq!(error.code, "server_refused", "{}", error.message);
    assert_eq!(answer.status.unwrap().shown, "failed");
}

/// The `sip_request` events among `outputs`, as JSON.
fn sip_requests(outputs: &[Output]) -> Vec<serde_json::Value> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event {
                line,
                sip_request: true,
            } => Some(serde_json::from_str(line.trim_end()).unwrap()),
            _ => None,
        })
        .collect()
}

fn sip_rig(name: &str) -> Rig {
    let mut r = rig(
        name,
        Settings {
            mode: Mode::SipInfo,
            policy: Policy::OnDemand,
            ..Settings::default()
        },
    );
    let mut c = call("c1");
    c.dialog = Some(Box::new(callrec_core::sip::dialog::sample()));
    for event in [CallEvent::Started, CallEvent::Answered] {
        assert!(
            r.ask(Command::Call {
                event,
                call: c.clone()
            })
            .ok
        );
    }
    r
}

#[test]
fn sip_info_records_once_the_pbx_answers_200() {
    let mut r = sip_rig("sip-ok");
    assert!(r.ask(Command::Key(Key::Record)).ok);
    // The request goes out as an event for the phone's SIP stack; the state waits for the PBX.
    let outputs = r.outputs();
    let requests = sip_requests(&outputs);
    assert_eq!(requests.len(), 1, "one INFO asked for");
    assert_eq!(requests[0]["record"], "on");
    assert_eq!(r.state(), "starting");
    let tid = requests[0]["tid"].as_str().unwrap().to_owned();
    // The complete wire message carries the CSeq the answer must echo.
    let wire = requests[0]["wire"].as_str().expect("a wire message");
    let cseq = wire
        .split("\r\n")
        .find_map(|l| l.strip_prefix("CSeq: "))
        .expect("a CSeq")
        .to_owned();
    let d = callrec_core::sip::dialog::sample();
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKx\r\n\
         From: <{}>;tag={}\r\nTo: <{}>;tag={}\r\nCall-ID: {}\r\nCSeq: {cseq}\r\n\
         Content-Length: 0\r\n\r\n",
        d.local_uri, d.local_tag, d.remote_uri, d.remote_tag, d.call_id
    );
    r.clock.advance(120);
    let taken = r.ask(Command::SipResponse(SipReport {
        tid,
        outcome: Ok(ok),
    }));
    assert!(taken.ok, "{taken:?}");
    assert_eq!(r.state(), "recording");
}

#[test]
fn sip_info_with_no_final_answer_fails_after_32_simulated_seconds() {
    let mut r = sip_rig("sip-timeout");
    assert!(r.ask(Command::Key(Key::Record)).ok);
    assert_eq!(sip_requests(&r.outputs()).len(), 1);
    r.clock.advance(31_000);
    r.driver.tick();
    assert_eq!(r.state(), "starting", "still waiting at 31 s");
    r.clock.advance(1_500);
    r.driver.tick();
    let status = r.ask(Command::Status).status.unwrap();
    assert_eq!(status.shown, "failed");
    assert_eq!(status.failure.unwrap().code, "sip_timeout");
}
