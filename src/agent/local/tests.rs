//! The session over a real directory wrapped in a fault-injecting stick, driven by a fake clock.

use super::*;
use callrec_core::control_protocol::{Remote, Response};
use callrec_core::rtp::RtpPacket;
use callrec_platform::clock::ManualClock;
use callrec_platform::store::faulty::{FaultPlan, Faults, FaultyStorage};
use callrec_platform::store::fs::DirStorage;
use callrec_platform::store::reader::RecordReader;
use std::path::{Path, PathBuf};

struct Rig {
    dir: PathBuf,
    faults: Faults,
    clock: ManualClock,
    session: LocalSession<FaultyStorage<DirStorage>>,
    seq: u16,
}

fn rig(name: &str, plan: FaultPlan) -> Rig {
    let dir = std::env::temp_dir().join(format!("callrec-session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let faults = Faults::new(plan);
    let f = faults.clone();
    let factory: StorageFactory<_> =
        Box::new(move |s: &Stick| FaultyStorage::new(DirStorage::new(&s.path), f.clone()));
    let settings = Settings {
        reserve_bytes: 0,
        ..Settings::default()
    };
    let mut session = LocalSession::new(settings, factory, "127.0.0.1:0".into());
    let clock = ManualClock::new(0);
    session.stick_changed(Some(stick(&dir, 1)));
    Rig {
        dir,
        faults,
        clock,
        session,
        seq: 0,
    }
}

fn stick(dir: &Path, id: u64) -> Stick {
    Stick {
        path: dir.to_owned(),
        read_only: false,
        fs_type: "dir".into(),
        device: dir.display().to_string(),
        mount_id: id,
    }
}

impl Rig {
    fn cmd(&mut self, c: Remote) -> Response {
        let now = self.clock.now_ms();
        let r = match c {
            Remote::Start => self.session.start(now, &self.clock),
            Remote::Stop => self.session.stop(&self.clock),
            Remote::Pause => self.session.pause(&self.clock),
            Remote::Resume => self.session.resume(now, &self.clock),
        };
        let status = self.session.status();
        match r {
            Ok(()) => Response::ok(None, status),
            Err(e) => Response::error(None, e.code(), e.message().into(), Some(status)),
        }
    }

    /// Plays `ms` of 20 ms PCMA packets in simulated time, firing every deadline.
    fn play(&mut self, ms: u64) {
        let end = self.clock.now_ms() + ms;
        let mut buf = [0u8; 172];
        while self.clock.now_ms() < end {
            let now = self.clock.now_ms();
            let ts = u32::from(self.seq) * 160;
            RtpPacket::emit(&mut buf, false, 8, self.seq, ts, 42, &[0x55; 160]).unwrap();
            self.seq = self.seq.wrapping_add(1);
            self.session.datagram(now, &buf, &self.clock);
            while let Some(t) = self.session.poll_timeout().filter(|&t| t <= now + 20) {
                self.clock.set(t.max(now));
                self.session.timeout(t, &self.clock);
            }
            self.clock.set(now + 20);
        }
    }

    fn read(&self, name: &str) -> RecordReader {
        RecordReader::open(&self.dir.join(name)).unwrap()
    }

    fn status(&self) -> Status {
        self.session.status()
    }
}

#[test]
fn a_call_is_written_and_synced_once_a_second() {
    let mut r = rig("plain", FaultPlan::default());
    assert!(r.cmd(Remote::Start).ok);
    r.play(5_000);
    assert_eq!(r.faults.plan().syncs, 5); // once a second; opening the file adds none
    let resp = r.cmd(Remote::Stop);
    assert!(resp.ok);
    let st = resp.status.unwrap();
    assert_eq!(st.files, vec!["Record_20261121_093000.wav"]);
    assert_eq!(st.last_stop.as_deref(), Some("requested"));
    let rd = r.read("Record_20261121_093000.wav");
    assert!(!rd.stale());
    assert_eq!(rd.header().duration_ms(), 5_000);
}

#[test]
fn a_taken_name_gets_a_suffix() {
    let mut r = rig("names", FaultPlan::default());
    for _ in 0..3 {
        assert!(r.cmd(Remote::Start).ok);
        r.play(100);
        r.cmd(Remote::Stop);
    }
    for name in [
        "Record_20261121_093000.wav",
        "Record_20261121_093000_2.wav",
        "Record_20261121_093000_3.wav",
    ] {
        assert_eq!(r.read(name).header().duration_ms(), 100, "{name}");
    }
}

#[test]
fn eio_mid_call_stops_with_a_reason_and_keeps_what_was_written() {
    // Fail after 3 s of audio and a few headers have gone through.
    let mut r = rig(
        "eio",
        FaultPlan {
            fail_after: Some((24_500, StorageError::Io(libc::EIO))),
            ..Default::default()
        },
    );
    assert!(r.cmd(Remote::Start).ok);
    r.play(6_000);
    let st = r.status();
    assert_eq!(st.state, "idle");
    assert_eq!(st.last_stop.as_deref(), Some("write_error"));
    let rd = r.read("Record_20261121_093000.wav");
    assert!(rd.header().duration_ms() >= 2_000, "{:?}", rd.header());
    // The agent goes on: a new start works once the stick behaves.
    r.faults.plan().fail_after = None;
    assert!(r.cmd(Remote::Start).ok);
    r.play(1_000);
    assert!(r.cmd(Remote::Stop).ok);
}

#[test]
fn a_full_stick_stops_with_stick_full() {
    let mut r = rig(
        "full",
        FaultPlan {
            capacity: Some(100_000),
            ..Default::default()
        },
    );
    assert!(r.cmd(Remote::Start).ok);
    r.play(20_000);
    let st = r.status();
    assert_eq!(st.last_stop.as_deref(), Some("stick_full"));
    let rd = r.read("Record_20261121_093000.wav");
    assert!(rd.header().duration_ms() >= 10_000, "{:?}", rd.header());
    // Starting again is refused with the reason while the stick is full.
    let resp = r.cmd(Remote::Start);
    assert!(!resp.ok);
    assert_eq!(resp.error.unwrap().code, "stick_full");
}

#[test]
fn a_removed_stick_stops_the_recording_and_the_agent_refuses_to_start() {
    let mut r = rig("removed", FaultPlan::default());
    assert!(r.cmd(Remote::Start).ok);
    r.play(2_500);
    r.session.stick_changed(None);
    let st = r.status();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("stick_removed"))
    );
    assert!(!st.stick.present);
    let resp = r.cmd(Remote::Start);
    assert_eq!(resp.error.unwrap().code, "no_stick");
    // What reached the file is readable.
    // At most one commit interval (1 s) and the reorder hold (200 ms) are lost.
    let h = r.read("Record_20261121_093000.wav").header();
    assert!(h.duration_ms() >= 2_500 - 1_000 - 200, "{h:?}");
    // The stick comes back (a new mount): recording works again.
    let dir = r.dir.clone();
    r.session.stick_changed(Some(stick(&dir, 2)));
    assert!(r.cmd(Remote::Start).ok);
}

#[test]
fn a_read_only_stick_is_refused() {
    let mut r = rig("ro", FaultPlan::default());
    let dir = r.dir.clone();
    r.session.stick_changed(Some(Stick {
        read_only: true,
        ..stick(&dir, 3)
    }));
    let resp = r.cmd(Remote::Start);
    assert_eq!(resp.error.unwrap().code, "stick_read_only");
    assert!(r.status().stick.read_only);
}

#[test]
fn commands_in_the_wrong_state_are_refused_with_codes() {
    let mut r = rig("states", FaultPlan::default());
    let code = |resp: Response| resp.error.map(|e| e.code);
    assert_eq!(code(r.cmd(Remote::Stop)).as_deref(), Some("not_recording"));
    assert_eq!(
        code(r.cmd(Remote::Resume)).as_deref(),
        Some("not_recording")
    );
    assert!(r.cmd(Remote::Start).ok);
    assert_eq!(
        code(r.cmd(Remote::Start)).as_deref(),
        Some("already_recording")
    );
    assert_eq!(code(r.cmd(Remote::Resume)).as_deref(), Some("not_paused"));
    assert!(r.cmd(Remote::Pause).ok);
    assert_eq!(
        code(r.cmd(Remote::Pause)).as_deref(),
        Some("already_paused")
    );
}

#[test]
fn a_stick_turning_read_only_mid_call_stops_with_stick_read_only() {
    let plan = FaultPlan {
        fail_after: Some((30_000, StorageError::ReadOnly)),
        ..Default::default()
    };
    let mut r = rig("erofs", plan);
    assert!(r.cmd(Remote::Start).ok);
    r.play(6_000);
    let st = r.status();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("stick_read_only"))
    );
    let h = r.read("Record_20261121_093000.wav").header();
    assert!(h.duration_ms() >= 2_800, "{h:?}");
}

#[test]
fn a_model_without_usb_refuses_local_recording() {
    let mut r = rig("nousb", FaultPlan::default());
    r.session.set_usb_host(false);
    let resp = r.cmd(Remote::Start);
    assert_eq!(resp.error.unwrap().code, "no_usb_host");
    assert_eq!(r.status().state, "idle");
}
