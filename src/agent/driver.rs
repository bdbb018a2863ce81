//! The agent's state in one place: the call controller, the two backends (the stick, the record
//! server), the settings and the subscribers. The main loop hands it every input; after each it
//! settles: carries out the controller's steps, applies settings that waited for the end of a
//! recording, answers clients that wait for an outcome, and queues the events.
//!
//! It sends nothing itself: what it asks of the shell comes out as [`Output`]s, in order
//! ([`Driver::poll_output`]), and its time comes from a [`Clock`], so tests drive it in
//! simulated time (`tests.rs` beside this file).

use super::local::LocalSession;
use super::network::{Network, NewLeg};
use super::refusal::{DeleteRefusal, Refusal, ReloadError};
use crate::config::settings::{Mode, Settings};
use callrec_core::calls::{Action, BackendView, Controller, Phase};
use callrec_core::control_protocol::Request;
use callrec_core::control_protocol::{CallStatus, Command, Response, Status};
use callrec_core::sip::client::InfoClient;
use callrec_platform::clock::Clock;
use callrec_platform::store::Storage;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

/// Clients waiting for a record server's answer; more are answered at once.
const MAX_WAITERS: usize = 32;

/// Which backend the current or last recording used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Local,
    Network,
    SipInfo,
}

/// Which command an answer is for: the shell keeps the way back to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(pub u64);

/// What the driver asks of the shell, in the order it must happen.
#[derive(Debug)]
pub enum Output {
    /// Send `response` to the client of `job`.
    Reply { job: JobId, response: Box<Response> },
    /// Send this line to every subscriber. `sip_request`: it is a request for the phone's SIP
    /// stack, which must be subscribed to send it.
    Event { line: Arc<str>, sip_request: bool },
    /// Run this record server leg (network mode) in a task of its own.
    OpenLeg(Box<NewLeg>),
}

/// A command's answer, ready to send.
pub struct Pending {
    job: JobId,
    failures: u64,
    refused: Option<Refusal>,
    extra: Extra,
}

/// What some answers carry besides the status.
#[derive(Default)]
struct Extra {
    settings: Option<serde_json::Value>,
    fields: Option<crate::config::form::FieldErrors>,
}

struct Waiter {
    job: JobId,
    /// The controller's failure count when the command came: more at the answer means it failed.
    failures: u64,
}

/// The identity of a settings file's content, to notice a change without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
            inode: m.ino(),
        })
    }
}

/// See the module doc.
pub struct Driver<S: Storage, C: Clock> {
    controller: Controller,
    pub local: LocalSession<S>,
    pub network: Network<C>,
    sip: InfoClient,
    backend: Backend,
    settings: Settings,
    /// A valid change that waits for the recording to end.
    pending: Option<Settings>,
    settings_path: PathBuf,
    stamp: Option<FileStamp>,
    usb_host: bool,
    waiters: Vec<Waiter>,
    outputs: VecDeque<Output>,
    seq: u64,
    clock: C,
}

impl<S: Storage, C: Clock> Driver<S, C> {
    pub fn new(
        settings: Settings,
        settings_path: PathBuf,
        local: LocalSession<S>,
        network: Network<C>,
        usb_host: bool,
        clock: C,
    ) -> Driver<S, C> {
        let d = Driver {
            controller: Controller::new(settings.rules()),
            local,
            network,
            sip: InfoClient::new(callrec_platform::random::nonsecret_u64()),
            backend: Backend::Local,
            stamp: FileStamp::of(&settings_path),
            settings,
            pending: None,
            settings_path,
            usb_host,
            waiters: Vec::with_capacity(MAX_WAITERS),
            outputs: VecDeque::new(),
            seq: 0,
            clock,
        };
        d.warn_if_unusable();
        d
    }

    /// A command from a control client or an action URL. Its answer is returned, for
    /// [`reply`](Self::reply) once the main loop has done its part (moving the tap), unless it
    /// waits for a record server.
    pub fn job(&mut self, job: JobId, request: Request) -> Option<Pending> {
        let failures = self.controller.failures();
        let now = self.clock.now_ms();
        let mut extra = Extra::default();
        let remote = matches!(request.command, Command::Remote { .. });
        let result = match request.command {
            Command::Settings => {
                extra.settings = Some(self.settings_view());
                Ok(())
            }
            Command::SetSettings(given) => self.set_settings(&given, &mut extra),
            Command::DeleteRecording(name) => self.delete_recording(&name),
            Command::SipResponse(report) => {
                log::debug!("SIP stack reports for {}: {:?}", report.tid, report.outcome);
                let r = match &report.outcome {
                    Ok(response) => self.sip.on_response(now, &report.tid, response.as_bytes()),
                    Err(error) => self.sip.on_error(now, &report.tid, error),
                };
                r.map_err(|e| {
                    log::warn!("SIP stack report not taken: {e}");
                    Refusal::SipReport(e)
                })
            }
            Command::Status | Command::Watch => Ok(()),
            Command::Reload => self.reload(true).map_err(Refusal::Reload),
            Command::Call { event, call } => {
                // A dialog update for the call SIP INFO records (a re-INVITE, the stack's CSeq).
                if let Some(d) = &call.dialog {
                    if call.id.is_some() && call.id.as_deref() == self.sip.call_id() {
                        self.sip.set_dialog(d);
                    }
                }
                self.controller
                    .call_event(event, &call)
                    .map_err(Refusal::from)
            }
            Command::Key(k) => self.controller.key(k).map_err(Refusal::from),
            Command::Remote { action, call } => {
                let call_id = call.as_ref().and_then(|c| c.id.as_deref());
                self.controller
                    .remote(action, call_id)
                    .map_err(Refusal::from)
            }
        };
        self.settle();
        match result {
            // A remote command is answered with its outcome, once the server has answered;
            // call events and keys as soon as they are taken (their outcome is in the events).
            Ok(()) if remote && self.phase().settling() && self.waiters.len() < MAX_WAITERS => {
                self.waiters.push(Waiter { job, failures });
                None
            }
            result => Some(Pending {
                job,
                failures,
                refused: result.err(),
                extra,
            }),
        }
    }

    /// The settings (a saved change that waits, if any) and what the page may offer.
    fn settings_view(&self) -> serde_json::Value {
        let s = self.pending.as_ref().unwrap_or(&self.settings);
        crate::config::form::view(s, self.pending.is_some(), self.usb_host)
    }

    /// Checks every field, saves the file atomically, applies the settings now or when the
    /// recording in progress ends.
    fn set_settings(
        &mut self,
        given: &serde_json::Map<String, serde_json::Value>,
        extra: &mut Extra,
    ) -> Result<(), Refusal> {
        let base = self.pending.as_ref().unwrap_or(&self.settings).clone();
        let new = match crate::config::form::apply(&base, given, self.usb_host) {
            Ok(s) => s,
            Err(fields) => {
                let names = fields.keys().cloned().collect();
                extra.fields = Some(fields);
                return Err(Refusal::InvalidSettings { fields: names });
            }
        };
        if let Err(e) = new.save(&self.settings_path) {
            log::warn!("cannot save {}: {e}", self.settings_path.display());
            return Err(Refusal::SaveFailed(e));
        }
        // The file is ours now: the tick must not read it back as a change.
        self.stamp = FileStamp::of(&self.settings_path);
        let applied = if new == self.settings {
            self.pending = None;
            true
        } else if self.controller.busy() {
            log::info!("settings saved; they apply when the recording ends");
            self.pending = Some(new);
            self.controller.settings_event(
                false,
                "the settings apply when the recording ends".into(),
                None,
            );
            false
        } else {
            self.apply(new);
            true
        };
        let mut view = self.settings_view();
        view["applied"] = applied.into();
        view["message"] = if applied {
            "saved and applied".into()
        } else {
            "saved; they apply when the recording in progress ends".into()
        };
        extra.settings = Some(view);
        Ok(())
    }

    /// Deletes a recording on the stick, never the one being written.
    fn delete_recording(&mut self, name: &str) -> Result<(), Refusal> {
        let refuse = |d| Err(Refusal::Delete(d));
        if !callrec_core::record_file::is_record_name(name) {
            return refuse(DeleteRefusal::BadName);
        }
        let status = self.local.status();
        if status.file.as_deref() == Some(name) {
            return refuse(DeleteRefusal::BeingWritten);
        }
        let Some(dir) = status.stick.path.filter(|_| status.stick.present) else {
            return refuse(DeleteRefusal::NoStick);
        };
        match std::fs::remove_file(std::path::Path::new(&dir).join(name)) {
            Ok(()) => {
                log::info!("deleted {name}");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => refuse(DeleteRefusal::NotFound),
            Err(e) => refuse(DeleteRefusal::Io(e)),
        }
    }

    /// Answers a command [`job`](Self::job) returned.
    pub fn reply(&mut self, p: Pending) {
        match p.refused {
            Some(e) => {
                let status = Some(self.status());
                let mut r = Response::error(None, e.code(), e.to_string(), status);
                if let Some(error) = r.error.as_mut() {
                    error.fields = p.extra.fields;
                }
                self.send_reply(p.job, r);
            }
            None if p.extra.settings.is_some() => {
                let mut r = Response::ok(None, self.status());
                r.settings = p.extra.settings;
                self.send_reply(p.job, r);
            }
            None => self.answer(p.job, p.failures),
        }
    }

    /// Runs the controller's deadlines and notices a changed settings file.
    pub fn tick(&mut self) {
        let now = self.clock.now_ms();
        if self.controller.poll_timeout().is_some_and(|t| t <= now) {
            self.controller.handle_timeout(now);
        }
        if self.sip.poll_timeout().is_some_and(|t| t <= now) {
            self.sip.handle_timeout(now);
        }
        let _ = self.reload(false);
        self.settle();
    }

    /// Reads the settings file again if it changed (or `force`). A bad file is ignored; the
    /// error names the field.
    pub fn reload(&mut self, force: bool) -> Result<(), ReloadError> {
        let stamp = FileStamp::of(&self.settings_path);
        if !force && stamp == self.stamp {
            return Ok(());
        }
        self.stamp = stamp;
        if stamp.is_none() {
            let e = ReloadError::Missing(self.settings_path.clone());
            log::warn!("{e}; the settings stay as they are");
            return Err(e);
        }
        let new = match Settings::load(&self.settings_path) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("settings file ignored: {e}");
                self.controller.settings_event(
                    false,
                    "the settings file was not taken".into(),
                    Some(e.to_string()),
                );
                self.settle();
                return Err(ReloadError::Invalid(e));
            }
        };
        if new == self.settings {
            self.pending = None;
        } else if self.controller.busy() {
            log::info!("settings changed; they apply when the recording ends");
            self.pending = Some(new);
            self.controller.settings_event(
                false,
                "the settings apply when the recording ends".into(),
                None,
            );
        } else {
            self.apply(new);
        }
        self.settle();
        Ok(())
    }

    fn apply(&mut self, new: Settings) {
        self.local.set_settings(new.clone());
        if !self.controller.set_rules(new.rules()) {
            // Callers apply only when the controller is not busy.
            log::warn!("settings not applied: a recording is running");
            self.pending = Some(new);
            return;
        }
        self.settings = new;
        log::info!(
            "settings applied: mode {}, policy {}",
            self.settings.mode.name(),
            self.settings.policy.name()
        );
        self.warn_if_unusable();
        self.controller
            .settings_event(true, "the settings apply now".into(), None);
    }

    fn warn_if_unusable(&self) {
        if !self.usb_host && self.settings.mode == Mode::Local {
            log::warn!("this model has no USB host port: local recording is not available");
        }
    }

    /// The loopback port the active call's RTP goes to, if the phone said so.
    pub fn wanted_tap_port(&self) -> Option<u16> {
        self.controller.active_call().and_then(|c| c.tap_port)
    }

    /// Carries out the controller's steps until there are none, then answers waiting clients
    /// and sends the events.
    pub fn settle(&mut self) {
        let now = self.clock.now_ms();
        for _ in 0..8 {
            self.observe(now);
            let mut acted = false;
            while let Some(a) = self.controller.poll_action() {
                acted = true;
                self.exec(now, a);
            }
            if !acted {
                break;
            }
        }
        if !self.controller.busy() {
            if let Some(s) = self.pending.take() {
                self.apply(s);
                self.observe(now);
            }
        }
        if !self.phase().settling() && !self.waiters.is_empty() {
            let waiters = std::mem::take(&mut self.waiters);
            for w in waiters {
                self.answer(w.job, w.failures);
            }
        }
        while let Some(e) = self.controller.poll_event() {
            self.seq += 1;
            let line = e.encode(self.seq);
            self.publish(line, false);
        }
        while let Some(request) = self.sip.poll_request() {
            self.seq += 1;
            log::info!(
                "SIP INFO: Record: {} ({})",
                if request.record { "on" } else { "off" },
                request.tid
            );
            let line = request.encode(self.seq);
            self.publish(line, true);
        }
        while let Some(leg) = self.network.poll_new_leg() {
            self.outputs.push_back(Output::OpenLeg(Box::new(leg)));
        }
    }

    fn publish(&mut self, line: String, sip_request: bool) {
        log::debug!("event {}", line.trim_end());
        self.outputs.push_back(Output::Event {
            line: Arc::from(line),
            sip_request,
        });
    }

    /// The next thing the shell must do, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn send_reply(&mut self, job: JobId, response: Response) {
        self.outputs.push_back(Output::Reply {
            job,
            response: Box::new(response),
        });
    }

    fn phase(&self) -> Phase {
        match self.backend {
            Backend::Local => self.local.view().phase,
            Backend::Network => self.network.phase(),
            Backend::SipInfo => self.sip.phase(),
        }
    }

    fn observe(&mut self, now: u64) {
        let view = match self.backend {
            Backend::Local => self.local.view(),
            Backend::Network => BackendView {
                phase: self.network.phase(),
                file: None,
                recorded_ms: self.network.recorded_ms(),
                failure: self.network.failure(),
            },
            Backend::SipInfo => BackendView {
                phase: self.sip.phase(),
                file: None,
                recorded_ms: self.sip.recorded_ms(now),
                failure: self.sip.failure(),
            },
        };
        self.controller.observe(now, view);
    }

    fn exec(&mut self, now: u64, action: Action) {
        let clock = &self.clock;
        match action {
            Action::Start { call, silent } => {
                self.backend = match self.settings.mode {
                    Mode::Network => Backend::Network,
                    Mode::SipInfo => Backend::SipInfo,
                    _ => Backend::Local,
                };
                if silent {
                    log::info!("silent recording requested through the control API");
                }
                let r = match self.backend {
                    Backend::Local => self
                        .local
                        .start(now, clock)
                        .map_err(|e| (e.code(), e.message().to_owned())),
                    Backend::Network => self
                        .network
                        .start(&self.settings, &call)
                        .map_err(|e| (e.code(), e.to_string())),
                    Backend::SipInfo => self
                        .sip
                        .start(now, &call)
                        .map_err(|e| (e.code(), e.to_string())),
                };
                if let Err((code, message)) = r {
                    log::warn!("recording not started: {message}");
                    self.controller.start_refused(code, &message);
                }
            }
            // The backend's own refusals cannot happen here (the controller follows its
            // state); they are logged, not acted on.
            Action::Stop(why) => match self.backend {
                Backend::Local => log_refusal(self.local.stop(clock)),
                Backend::Network => self.network.stop(why),
                Backend::SipInfo => self.sip.stop(now, why),
            },
            // The controller asks SIP INFO for no pause (its rules say it cannot).
            Action::Pause => match self.backend {
                Backend::Local => log_refusal(self.local.pause(clock)),
                Backend::Network => self.network.pause(),
                Backend::SipInfo => log::warn!("SIP INFO cannot pause"),
            },
            Action::Resume => match self.backend {
                Backend::Local => log_refusal(self.local.resume(now, clock)),
                Backend::Network => self.network.resume(),
                Backend::SipInfo => log::warn!("SIP INFO cannot resume"),
            },
        }
    }

    fn answer(&mut self, job: JobId, failures_before: u64) {
        let status = self.status();
        let response = match self.controller.last_problem() {
            Some(f) if self.controller.failures() > failures_before => {
                Response::error(None, &f.code, f.message.clone(), Some(status))
            }
            _ => Response::ok(None, status),
        };
        self.send_reply(job, response);
    }

    pub fn status(&self) -> Status {
        let mut st = self.local.status();
        if self.backend == Backend::Network {
            let n = self.network.status();
            st.recorded_ms = n.recorded_ms;
            st.error = n.error;
            st.server = n.server;
            st.counters = n.counters;
            st.file = None;
            st.files = Vec::new();
        }
        if self.backend == Backend::SipInfo {
            st.recorded_ms = self.sip.recorded_ms(self.clock.now_ms());
            st.error = self.sip.failure().map(|(_, m)| m.to_owned());
            st.file = None;
            st.files = Vec::new();
            st.counters = Default::default();
        }
        let v = self.controller.view();
        st.state = v.state.into();
        st.shown = v.shown.into();
        st.failure = v.failure;
        st.call_id = v.call_id;
        st.mode = self.controller.rules().mode.into();
        if st.server.is_none() && self.settings.mode == Mode::Network {
            st.server = self
                .settings
                .server_address
                .map(|ip| std::net::SocketAddr::new(ip, self.settings.server_port).to_string());
        }
        st.policy = self.settings.policy.name().into();
        st.settings_pending = self.pending.is_some();
        st.last_stop = self.controller.last_stop().map(str::to_owned);
        st.calls = self
            .controller
            .calls()
            .map(|(id, state, dir)| CallStatus {
                id: id.into(),
                state: state.name().into(),
                dir,
            })
            .collect();
        st
    }
}

fn log_refusal(r: Result<(), super::local::Refusal>) {
    if let Err(e) = r {
        log::warn!("recorder refused a step ({}): {}", e.code(), e.message());
    }
}

#[cfg(test)]
mod tests;
