//! SIP INFO recording as a backend of the call controller (sans-IO): asks for `Record: on` and
//! `Record: off` one request at a time, and moves only on final responses. What it sends comes
//! out of [`InfoClient::poll_request`]; what the phone's SIP stack reports goes into
//! [`InfoClient::on_response`] / [`InfoClient::on_error`]; time into `handle_timeout`.

use super::dialog::Dialog;
use super::info::{build, InfoRequest};
use super::message::{parse, StartLine};
use crate::calls::{Phase, StopWhy};
use crate::control_protocol::CallInfo;

/// Timer F (RFC 3261 §17.1.2.2): 64 × T1 with T1 = 500 ms.
pub const FINAL_ANSWER_MS: u64 = 32_000;

/// A request for the stack to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The transaction's id in callrec; the stack's report names it.
    pub tid: String,
    /// callrec's id of the call.
    pub call_id: Option<String>,
    /// `Record: on` (true) or `off`.
    pub record: bool,
    pub request: InfoRequest,
    /// The complete message, when the dialog gave the Via sent-by and the last CSeq.
    pub wire: Option<String>,
}

impl Outgoing {
    /// The `sip_request` event line for the subscribers (the stack among them).
    pub fn encode(&self, seq: u64) -> String {
        let headers: Vec<[&str; 2]> = self
            .request
            .headers
            .iter()
            .map(|(n, v)| [*n, v.as_str()])
            .collect();
        let mut v = serde_json::json!({
            "v": 1, "event": "sip_request", "seq": seq, "tid": self.tid,
            "call_id": self.call_id, "record": if self.record { "on" } else { "off" },
            "method": self.request.method, "uri": self.request.uri, "headers": headers,
        });
        if let Some(w) = &self.wire {
            v["wire"] = serde_json::Value::String(w.clone());
        }
        format!("{v}\n")
    }
}

#[derive(Debug, Clone)]
struct Pending {
    tid: String,
    record: bool,
    deadline: u64,
}

/// See the module doc.
#[derive(Debug)]
pub struct InfoClient {
    /// Makes Via branches unique across agent restarts.
    seed: u64,
    counter: u64,
    dialog: Option<Dialog>,
    call_id: Option<String>,
    phase: Phase,
    pending: Option<Pending>,
    /// What to ask for once the pending request has its answer.
    queued: Option<bool>,
    next_cseq: Option<u32>,
    outbox: Option<Outgoing>,
    failure: Option<(String, String)>,
    confirmed_since: Option<u64>,
    recorded_ms: u64,
}

/// Why an answer from the stack was not taken (the request stays pending).
/// Why SIP INFO recording did not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// The call event gave no SIP dialog: the phone's firmware.
    NoDialog,
    AlreadyRecording,
}

impl StartError {
    /// The stable code of the status's failure.
    pub fn code(self) -> &'static str {
        match self {
            StartError::NoDialog => "no_dialog",
            StartError::AlreadyRecording => "already_recording",
        }
    }
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StartError::NoDialog => {
                "SIP INFO recording needs the call's SIP dialog in the call event"
            }
            StartError::AlreadyRecording => "a recording is already running",
        })
    }
}

impl std::error::Error for StartError {}

/// Why the SIP stack's report was not taken. The stack (the phone's firmware) is at fault; the
/// request stays pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportError {
    /// No request with this tid waits for an answer (at most 32 characters of it kept).
    UnknownTid(String),
    /// The response is not a SIP message.
    NotSip(crate::sip::message::SipError),
    /// A request where a response was due.
    NotAResponse,
    /// The response is for another call (its Call-ID).
    OtherCall,
    NoCallId,
    /// The response does not answer an INFO (its CSeq).
    NotInfo,
}

impl core::fmt::Display for ReportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReportError::UnknownTid(tid) => {
                write!(f, "no request {tid:?} is waiting for an answer")
            }
            ReportError::NotSip(e) => write!(f, "the response is not SIP: {e}"),
            ReportError::NotAResponse => f.write_str("a request, not a response"),
            ReportError::OtherCall => f.write_str("the response is for another call (Call-ID)"),
            ReportError::NoCallId => f.write_str("the response has no Call-ID"),
            ReportError::NotInfo => f.write_str("the response does not answer an INFO (CSeq)"),
        }
    }
}

impl std::error::Error for ReportError {}

impl InfoClient {
    /// `seed`: a random number from the shell.
    pub fn new(seed: u64) -> InfoClient {
        InfoClient {
            seed,
            counter: 0,
            dialog: None,
            call_id: None,
            phase: Phase::Idle,
            pending: None,
            queued: None,
            next_cseq: None,
            outbox: None,
            failure: None,
            confirmed_since: None,
            recorded_ms: 0,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Why the last request failed: (code, message).
    pub fn failure(&self) -> Option<(&str, &str)> {
        self.failure.as_ref().map(|(c, m)| (c.as_str(), m.as_str()))
    }

    /// Time the PBX has confirmed recording, this recording.
    pub fn recorded_ms(&self, now_ms: u64) -> u64 {
        self.recorded_ms + self.confirmed_since.map_or(0, |t| now_ms.saturating_sub(t))
    }

    /// The call the recording belongs to (callrec's id).
    pub fn call_id(&self) -> Option<&str> {
        self.call_id.as_deref()
    }

    /// Asks the PBX to record `call`, whose event carried the dialog.
    pub fn start(&mut self, now_ms: u64, call: &CallInfo) -> Result<(), StartError> {
        let Some(dialog) = &call.dialog else {
            return Err(StartError::NoDialog);
        };
        if self.phase != Phase::Idle {
            return Err(StartError::AlreadyRecording);
        }
        self.next_cseq = dialog.local_cseq.map(|c| c + 1);
        self.dialog = Some(Dialog::clone(dialog));
        self.call_id = call.id.clone();
        self.failure = None;
        self.recorded_ms = 0;
        self.confirmed_since = None;
        self.queued = None;
        self.send(now_ms, true);
        Ok(())
    }

    /// A later call event updated the dialog (a re-INVITE moved the target, the stack's CSeq
    /// went on).
    pub fn set_dialog(&mut self, dialog: &Dialog) {
        if self
            .dialog
            .as_ref()
            .is_some_and(|d| d.call_id == dialog.call_id)
        {
            if let Some(c) = dialog.local_cseq {
                self.next_cseq = Some(self.next_cseq.map_or(c + 1, |n| n.max(c + 1)));
            }
            self.dialog = Some(dialog.clone());
        }
    }

    /// Asks the PBX to stop, after a pending request if there is one. When the call ended,
    /// the dialog is gone: nothing is sent and the recording is over.
    pub fn stop(&mut self, now_ms: u64, why: StopWhy) {
        if why == StopWhy::CallEnded {
            if self.pending.take().is_some() {
                log::info!("SIP INFO: the call ended; the pending request is dropped");
            }
            self.queued = None;
            self.outbox = None;
            self.end(now_ms);
            return;
        }
        match self.phase {
            Phase::Starting => self.queued = Some(false),
            Phase::Recording => self.send(now_ms, false),
            _ => {}
        }
    }

    /// The next request for the stack.
    pub fn poll_request(&mut self) -> Option<Outgoing> {
        self.outbox.take()
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.deadline)
    }

    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.pending.as_ref().is_some_and(|p| p.deadline <= now_ms) {
            self.failed(
                now_ms,
                "sip_timeout",
                "the PBX gave no final answer within 32 s".into(),
            );
        }
    }

    /// The stack could not send request `tid`.
    pub fn on_error(&mut self, now_ms: u64, tid: &str, error: &str) -> Result<(), ReportError> {
        self.check_tid(tid)?;
        if error.trim().eq_ignore_ascii_case("timeout") {
            // The stack's own Timer F fired first.
            self.failed(
                now_ms,
                "sip_timeout",
                "the PBX gave no final answer within 32 s".into(),
            );
            return Ok(());
        }
        let shown: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        self.failed(
            now_ms,
            "sip_transport",
            format!("the phone could not send the request: {shown}"),
        );
        Ok(())
    }

    /// The stack reports a response to request `tid` (the whole message).
    pub fn on_response(&mut self, now_ms: u64, tid: &str, raw: &[u8]) -> Result<(), ReportError> {
        self.check_tid(tid)?;
        let m = parse(raw).map_err(ReportError::NotSip)?;
        let StartLine::Response { code, reason } = &m.start else {
            return Err(ReportError::NotAResponse);
        };
        let want = self.dialog.as_ref().map_or("", |d| d.call_id.as_str());
        match m.header("Call-ID") {
            Some(c) if c == want => {}
            Some(_) => return Err(ReportError::OtherCall),
            None => return Err(ReportError::NoCallId),
        }
        match m.header("CSeq").and_then(|c| c.split_whitespace().nth(1)) {
            Some(method) if method.eq_ignore_ascii_case("INFO") => {}
            _ => return Err(ReportError::NotInfo),
        }
        let record = self.pending.as_ref().is_some_and(|p| p.record);
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        match code {
            100..=199 => {}
            200..=299 => self.confirmed(now_ms, record),
            _ => {
                let what = if record { "start" } else { "stop" };
                let meaning = match code {
                    403 => "recording is not allowed for this phone",
                    481 => "the PBX does not know this call",
                    405 | 501 => "the PBX does not take recording requests by INFO",
                    _ => "the PBX refused",
                };
                self.failed(
                    now_ms,
                    &format!("sip_{code}"),
                    format!("{meaning} ({code} {reason}); recording did not {what}"),
                );
            }
        }
        Ok(())
    }

    fn check_tid(&self, tid: &str) -> Result<(), ReportError> {
        match &self.pending {
            Some(p) if p.tid == tid => Ok(()),
            _ => Err(ReportError::UnknownTid(tid.chars().take(32).collect())),
        }
    }

    fn confirmed(&mut self, now_ms: u64, record: bool) {
        self.pending = None;
        if record {
            self.phase = Phase::Recording;
            self.confirmed_since = Some(now_ms);
            log::info!("SIP INFO: the PBX records");
        } else {
            log::info!("SIP INFO: the PBX stopped recording");
            self.end(now_ms);
        }
        match self.queued.take() {
            Some(false) if self.phase == Phase::Recording => self.send(now_ms, false),
            Some(true) if self.phase == Phase::Idle => self.send(now_ms, true),
            _ => {}
        }
    }

    fn failed(&mut self, now_ms: u64, code: &str, message: String) {
        let Some(p) = self.pending.take() else { return };
        log::warn!("SIP INFO: {message}");
        self.failure = Some((code.to_owned(), message));
        self.queued = None;
        if p.record {
            self.end(now_ms);
        } else {
            // The PBX did not confirm the stop: it records as far as we know.
            self.phase = Phase::Recording;
        }
    }

    fn end(&mut self, now_ms: u64) {
        if let Some(t) = self.confirmed_since.take() {
            self.recorded_ms += now_ms.saturating_sub(t);
        }
        self.phase = Phase::Idle;
    }

    fn send(&mut self, now_ms: u64, record: bool) {
        let Some(dialog) = &self.dialog else { return };
        self.counter += 1;
        let tid = format!("info-{}", self.counter);
        let request = build(dialog, record);
        let wire = match (&dialog.via, self.next_cseq) {
            (Some(via), Some(cseq)) => {
                self.next_cseq = Some(cseq + 1);
                let branch = format!(
                    "z9hG4bK{:016x}",
                    mix(self.seed ^ self.counter.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                );
                Some(request.wire(dialog.transport.via_name(), via, &branch, cseq))
            }
            _ => None,
        };
        self.phase = if record {
            Phase::Starting
        } else {
            Phase::Stopping
        };
        self.pending = Some(Pending {
            tid: tid.clone(),
            record,
            deadline: now_ms + FINAL_ANSWER_MS,
        });
        self.outbox = Some(Outgoing {
            tid,
            call_id: self.call_id.clone(),
            record,
            request,
            wire,
        });
    }
}

/// A 64-bit mixer (splitmix64's finaliser), so consecutive branches look unrelated.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
