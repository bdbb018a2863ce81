//! Glue between the recorder and the stick: performs the recorder's file ops on a [`Storage`],
//! follows the stick as it comes and goes, and answers commands. No sockets here, and time comes
//! from a [`Clock`], so tests drive it directly with a fault-injecting storage.

use crate::config::settings::Settings;
use callrec_core::calls::{BackendView, Phase};
use callrec_core::control_protocol::{Counters, Status, StickStatus};
use callrec_core::record_file::file_name;
use callrec_core::recorder::{Recorder, State, StickState, StopReason};
use callrec_core::rtp::RtpError;
use callrec_platform::clock::Clock;
use callrec_platform::store::repair::repair_dir;
use callrec_platform::store::writer::{Done, Durability, RecordWriter};
use callrec_platform::store::{Storage, StorageError};
use callrec_platform::usb::Stick;

/// Files listed in the status of one recording; older names are dropped past this.
const MAX_LISTED_FILES: usize = 64;
/// `Record_…_N.wav` names tried within one second before giving up.
const MAX_NAME_TRIES: u32 = 99;

/// Why a step was refused: (code, message).
/// Why the local recording did not take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The model has no USB host port.
    NoUsbHost,
    /// The recorder's own refusal (no stick, stick full, not recording, …).
    Recorder(callrec_core::recorder::Refusal),
}

impl Refusal {
    /// The stable code of the control protocol's error and the status's failure.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NoUsbHost => "no_usb_host",
            Refusal::Recorder(r) => r.name(),
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::NoUsbHost => {
                "this phone model has no USB host port: local recording is not available"
            }
            Refusal::Recorder(r) => r.message(),
        }
    }
}

/// Makes the storage for a stick that appeared.
pub type StorageFactory<S> = Box<dyn FnMut(&Stick) -> S>;

/// See the module doc.
pub struct LocalSession<S: Storage> {
    recorder: Recorder,
    settings: Settings,
    make_storage: StorageFactory<S>,
    stick: Option<Stick>,
    storage: Option<S>,
    free_bytes: Option<u64>,
    writer: RecordWriter<S::File>,
    files: Vec<String>,
    tap: String,
    /// False on a model without a USB host port: local recording is refused.
    usb_host: bool,
    packet_allocations: u64,
}

impl<S: Storage> LocalSession<S> {
    pub fn new(
        settings: Settings,
        make_storage: StorageFactory<S>,
        tap: String,
    ) -> LocalSession<S> {
        LocalSession {
            recorder: Recorder::new(settings.recorder_config()),
            settings,
            make_storage,
            stick: None,
            storage: None,
            free_bytes: None,
            writer: RecordWriter::new(Durability::SyncEveryCommit),
            files: Vec::with_capacity(MAX_LISTED_FILES),
            tap,
            usb_host: true,
            packet_allocations: 0,
        }
    }

    /// Whether the board has a USB host port (the guide: BX5S and BX6 do, BX3S and BX4 not).
    pub fn set_usb_host(&mut self, usb_host: bool) {
        self.usb_host = usb_host;
    }

    /// The tap moved (a call with its own RTP port).
    pub fn set_tap(&mut self, tap: String) {
        self.tap = tap;
    }

    /// New settings: they apply from the next recording.
    pub fn set_settings(&mut self, settings: Settings) {
        self.recorder.set_config(settings.recorder_config());
        self.settings = settings;
    }

    /// The stick appeared, changed or went away.
    pub fn stick_changed(&mut self, stick: Option<Stick>) {
        let recording = self.recorder.state() != State::Idle;
        match &stick {
            None => {
                if self.stick.is_some() {
                    log::warn!("USB stick removed");
                }
                if recording || self.writer.current().is_some() {
                    self.fail(StorageError::Gone);
                }
                self.storage = None;
                self.free_bytes = None;
            }
            Some(s) if s.read_only => {
                log::warn!("USB stick at {} is read-only", s.path.display());
                if recording || self.writer.current().is_some() {
                    self.fail(StorageError::ReadOnly);
                }
                self.storage = None;
                self.free_bytes = None;
            }
            Some(s) => {
                let same = self
                    .stick
                    .as_ref()
                    .is_some_and(|old| old.mount_id == s.mount_id);
                if !same {
                    log::info!("USB stick at {} ({})", s.path.display(), s.fs_type);
                    if recording || self.writer.current().is_some() {
                        // A different stick under the same path: the open file is not on it.
                        self.fail(StorageError::Gone);
                    }
                    repair_stick(&s.path);
                    self.storage = Some((self.make_storage)(s));
                    self.refresh_free_space();
                }
            }
        }
        self.stick = stick;
    }

    fn refresh_free_space(&mut self) -> Option<u64> {
        self.free_bytes = self.storage.as_ref().and_then(|s| s.free_bytes().ok());
        self.free_bytes
    }

    /// A datagram from the tap.
    pub fn datagram(&mut self, now_ms: u64, datagram: &[u8], clock: &impl Clock) {
        let before = crate::alloc_count::allocations();
        self.recorder.handle_datagram(now_ms, datagram);
        let opened = self.drain(clock);
        if !opened {
            self.packet_allocations += crate::alloc_count::allocations() - before;
        }
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.recorder.poll_timeout()
    }

    pub fn timeout(&mut self, now_ms: u64, clock: &impl Clock) {
        if self.recorder.handle_timeout(now_ms) {
            if let Some(free) = self.refresh_free_space() {
                self.recorder.handle_free_space(free);
            }
        }
        self.drain(clock);
    }

    /// Starts a recording (the call controller decided to); refused with (code, message).
    pub fn start(&mut self, now_ms: u64, clock: &impl Clock) -> Result<(), Refusal> {
        if !self.usb_host {
            return Err(Refusal::NoUsbHost);
        }
        let stick = StickState {
            present: self.stick.is_some(),
            read_only: self.stick.as_ref().is_some_and(|s| s.read_only),
            free_bytes: self.refresh_free_space().unwrap_or(0),
        };
        self.recorder
            .start(now_ms, stick)
            .map_err(Refusal::Recorder)?;
        self.files.clear();
        self.packet_allocations = 0;
        log::info!("recording started");
        self.drain(clock);
        Ok(())
    }

    pub fn stop(&mut self, clock: &impl Clock) -> Result<(), Refusal> {
        self.recorder
            .stop(StopReason::Requested)
            .map_err(Refusal::Recorder)?;
        self.drain(clock);
        self.log_stop();
        Ok(())
    }

    pub fn pause(&mut self, clock: &impl Clock) -> Result<(), Refusal> {
        self.recorder.pause().map_err(Refusal::Recorder)?;
        self.drain(clock);
        Ok(())
    }

    pub fn resume(&mut self, now_ms: u64, clock: &impl Clock) -> Result<(), Refusal> {
        self.recorder.resume(now_ms).map_err(Refusal::Recorder)?;
        self.drain(clock);
        Ok(())
    }

    /// What the call controller needs to know.
    pub fn view(&self) -> BackendView<'_> {
        BackendView {
            phase: match self.recorder.state() {
                State::Idle => Phase::Idle,
                State::Recording => Phase::Recording,
                State::Paused => Phase::Paused,
            },
            file: self.writer.current().map(|r| r.name.as_str()),
            recorded_ms: self.recorder.stats().recorded_ms,
            failure: self
                .recorder
                .last_stop()
                .filter(|r| r.is_failure())
                .map(|r| (r.name(), r.message())),
        }
    }

    /// Stops a recording because the agent is going down.
    pub fn shutdown(&mut self, clock: &impl Clock) {
        if self.recorder.stop(StopReason::Shutdown).is_ok() {
            self.drain(clock);
            self.log_stop();
        }
    }

    fn log_stop(&self) {
        let s = self.recorder.stats();
        log::info!(
            "recording stopped ({}): {} ms in {} file(s)",
            self.recorder.last_stop().map_or("?", StopReason::name),
            s.recorded_ms,
            self.files.len()
        );
    }

    /// Performs pending file ops. Returns true if a file was opened (allocations expected).
    fn drain(&mut self, clock: &impl Clock) -> bool {
        let mut opened = false;
        while let Some(op) = self.recorder.poll_op() {
            let storage = &mut self.storage;
            let result = self.writer.perform(op, || create_next(storage, clock));
            match result {
                Ok(Done::Opened) => {
                    opened = true;
                    let name = self.writer.current().map(|r| r.name.clone());
                    if let Some(name) = name {
                        log::info!("writing {name}");
                        if self.files.len() == MAX_LISTED_FILES {
                            self.files.remove(0);
                        }
                        self.files.push(name);
                    }
                }
                Ok(Done::Closed(rec)) => {
                    log::info!("closed {} ({} ms)", rec.name, rec.header.duration_ms());
                }
                Ok(Done::Wrote) => {}
                Err(e) => {
                    self.fail(e);
                    break;
                }
            }
        }
        opened
    }

    /// The stick failed: stop with its reason, keep what is on it readable.
    fn fail(&mut self, e: StorageError) {
        let reason = e.stop_reason();
        log::warn!("recording stopped: {e}");
        self.recorder.abort(reason);
        if let Some((name, header)) = self.writer.abandon() {
            log::info!("kept {name} ({} ms)", header.duration_ms());
        }
    }

    pub fn status(&self) -> Status {
        let s = self.recorder.stats();
        let t = s.timeline;
        let malformed = RtpError::ALL
            .iter()
            .filter(|e| t.malformed[e.index()] > 0)
            .map(|e| (e.name().to_string(), t.malformed[e.index()]))
            .collect();
        Status {
            state: self.recorder.state().name().into(),
            mode: self.settings.mode.name().into(),
            file: self.writer.current().map(|r| r.name.clone()),
            files: self.files.clone(),
            recorded_ms: s.recorded_ms,
            last_stop: self.recorder.last_stop().map(|r| r.name().into()),
            error: None,
            server: None,
            stick: StickStatus {
                present: self.stick.is_some(),
                path: self.stick.as_ref().map(|s| s.path.display().to_string()),
                read_only: self.stick.as_ref().is_some_and(|s| s.read_only),
                free_bytes: self.free_bytes,
            },
            tap: self.tap.clone(),
            counters: Counters {
                received: t.received,
                audio: t.audio,
                malformed,
                unknown_payload_type: t.unknown_payload_type,
                oversized: t.oversized,
                telephone_events: t.telephone_events,
                comfort_noise: t.comfort_noise,
                reordered: t.reordered,
                duplicates: t.duplicates,
                late: t.late,
                lost: t.lost,
                out_of_sequence: t.out_of_sequence,
                ssrc_changes: t.ssrc_changes,
                discontinuities: t.discontinuities,
                paused_packets: s.paused_packets,
                silence_ms: t.silence_ticks / 8,
                packet_path_allocations: crate::alloc_count::ENABLED
                    .then_some(self.packet_allocations),
                heap_now_bytes: crate::alloc_count::ENABLED.then(crate::alloc_count::heap_now),
                heap_peak_bytes: crate::alloc_count::ENABLED.then(crate::alloc_count::heap_peak),
            },
            ..Status::default()
        }
    }
}

/// Creates the next free `Record_` file of this second on the stick.
fn create_next<S: Storage>(
    storage: &mut Option<S>,
    clock: &impl Clock,
) -> Result<(S::File, String), StorageError> {
    let storage = storage.as_mut().ok_or(StorageError::Gone)?;
    let stamp = clock.local_time();
    for n in 1..=MAX_NAME_TRIES {
        let name = file_name(&stamp, n);
        if let Some(file) = storage.create_new(&name)? {
            return Ok((file, name.as_str().to_owned()));
        }
    }
    Err(StorageError::NamesExhausted)
}

/// Repairs files a power cut or kill -9 left with a lagging header.
fn repair_stick(dir: &std::path::Path) {
    match repair_dir(dir) {
        Ok(results) => {
            for (path, r) in results {
                callrec_platform::store::repair::log_outcome(&path, &r);
            }
        }
        Err(e) => log::warn!("cannot scan {} for repairs: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests;
