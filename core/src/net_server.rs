//! The record server's side of one control connection (a [`ServerSession`]), sans-IO: the
//! counterpart of the phone's [`Leg`](crate::net_client::Leg).
//!
//! One connection carries one recording session (a refused start may be retried on it); its end
//! ends the session, and the end of the session ends the connection. The shell
//! (`callrec-server`'s `connection`) reads lines with [`Lines`](crate::line::Lines) and feeds in
//! what happens, with the time; the session hands back what to do. Nothing here reads a clock,
//! a socket or a file.
//!
//! In the manner of quinn-proto's `Connection`, every method is an input or an output:
//! - In: [`on_line`](ServerSession::on_line) (a line from the phone),
//!   [`on_closed`](ServerSession::on_closed) (end of stream, reset, an over-long line, a failed
//!   write), [`on_rtp`](ServerSession::on_rtp) (when the phone's RTP last arrived),
//!   [`handle_timeout`](ServerSession::handle_timeout) (time passed), the answers to the
//!   actions (`on_admitted`/`on_refused`, `on_media_started`/`on_media_failed`, `on_paused`,
//!   `on_resumed`, `on_stopped`) and [`on_media_ended`](ServerSession::on_media_ended) (the
//!   media ended the session by itself: a storage failure, the storage's reserve reached).
//! - Out: [`poll_transmit`](ServerSession::poll_transmit) (the answer lines),
//!   [`poll_action`](ServerSession::poll_action) (an [`Action`] for the shell),
//!   [`poll_timeout`](ServerSession::poll_timeout) (the next deadline),
//!   [`poll_notice`](ServerSession::poll_notice) (what the peer's input deserves in the log),
//!   [`state`](ServerSession::state) and [`ended`](ServerSession::ended).
//!
//! # Logs
//!
//! What a peer can repeat (a bad line, an unexpected message, a refused start, a connection that
//! never starts a session) is not logged here but handed out as a [`Notice`], so that the shell
//! can rate-limit it across all connections (`callrec-server`'s `logs`). The session logs by
//! itself only what happens once per session (its end, its idle time).
//!
//! # What the session asks of the shell
//!
//! A start is admitted in two steps: [`Action::Admit`] (the fields, the limits, the free space, a
//! UDP port: the shell's resources), then [`Action::StartMedia`] (the sidecar, the files, the
//! shard that records RTP from the phone's address on the port). Only then is the phone answered
//! `success`. Pause, resume and stop are asked of the media ([`Action::Pause`], [`Action::Resume`],
//! [`Action::Stop`] with the stop reason kept in the sidecar), and answered to the phone when the
//! shell has answered. [`Action::Release`] frees the id and the port; [`Action::Close`] is always
//! the last action: close the connection once the lines polled so far are written.
//!
//! While an action waits for its answer, new lines and the connection's end are kept, in order
//! (at most [`MAX_DEFERRED`]; one more closes the connection), and handled after the answer: the
//! session sees one input at a time whatever the shell's timing, just as if every answer had been
//! immediate.
//!
//! # Time
//!
//! A connection must start its session within [`ServerTimeouts::handshake_ms`] of opening, or it
//! is closed. Once a session runs, it ends as `idle` when neither RTP ([`ServerSession::on_rtp`])
//! nor a message the server knows from a phone (a start, stop, pause or resume request, whether
//! granted or not) has arrived for more than [`ServerTimeouts::idle_ms`]: an unknown `cmd`, a
//! line that does not parse or a message only a server sends keeps nothing alive. A session
//! that has had no RTP at all within [`ServerTimeouts::no_rtp_ms`] of its start (paused or not)
//! ends as `no_rtp`. Either way the server then closes the connection without an answer.
//!
//! # Tests
//!
//! Beside the session's own tests, `net_server/pair.rs` runs a phone's `Leg` against a session
//! through simulated time, with lines lost or delayed each way, resets, a slow or hung server.

use crate::percent;
use crate::record_protocol::{
    parse, Extensions, Message, Outcome, ParseError, StartRequest, StartResponse, StopResponse,
};
use core::fmt;
use std::collections::VecDeque;

/// Lines (and the end of the connection) kept while an action waits for the shell's answer. One
/// more closes the connection ([`ConnectionEnd::Overrun`]).
pub const MAX_DEFERRED: usize = 16;

/// Notices kept until polled ([`ServerSession::poll_notice`]); more are dropped.
pub const MAX_NOTICES: usize = 64;

/// Time limits, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerTimeouts {
    /// How long a connection may stay open without starting a session.
    pub handshake_ms: u64,
    /// A session with no RTP and no known control message for longer than this ends (`idle`).
    pub idle_ms: u64,
    /// A session with no RTP at all for longer than this after its start ends (`no_rtp`).
    pub no_rtp_ms: u64,
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        ServerTimeouts {
            handshake_ms: 30_000,
            idle_ms: 60_000,
            no_rtp_ms: 10_000,
        }
    }
}

/// Why the shell did not admit a session ([`ServerSession::on_refused`]). The text is the
/// `reason` the phone is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdmitRefusal {
    /// The peer's fault: a field the server does not accept (the text names it).
    Field(String),
    /// The server's: it does not know the address the phone reached it at.
    NoLocalAddress,
    /// The server's: its storage has less free space than its reserve (`--reserve`), or was
    /// last seen so. The reason is a stable code, `storage_full`.
    StorageFull,
    /// The peer's: a running session has this id.
    DuplicateId,
    /// The server's: `--max-sessions` sessions are running.
    SessionLimit,
    /// The peer's: its address holds `--max-sessions-per-address` sessions. The reason is a
    /// stable code, `address_limit`.
    AddressLimit,
    /// The peer's: its device (the start's `device`, as a MAC) holds
    /// `--max-sessions-per-device` sessions. The reason is a stable code, `device_limit`.
    DeviceLimit,
    /// The peer's: the server takes only the devices of its registry (`--known-devices-only`)
    /// and this one is not there. The reason is a stable code, `unknown_device`.
    UnknownDevice,
    /// The server's: every port of `--rtp-ports` is in use.
    NoFreePort,
}

impl fmt::Display for AdmitRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdmitRefusal::Field(reason) => f.write_str(reason),
            AdmitRefusal::NoLocalAddress => f.write_str("no local address"),
            AdmitRefusal::StorageFull => f.write_str("storage_full"),
            AdmitRefusal::DuplicateId => {
                f.write_str("duplicate id: a session with this id is running")
            }
            AdmitRefusal::SessionLimit => f.write_str("server busy: session limit reached"),
            AdmitRefusal::AddressLimit => f.write_str("address_limit"),
            AdmitRefusal::DeviceLimit => f.write_str("device_limit"),
            AdmitRefusal::UnknownDevice => f.write_str("unknown_device"),
            AdmitRefusal::NoFreePort => f.write_str("no free RTP port"),
        }
    }
}

/// Why an admitted session's media could not start ([`ServerSession::on_media_failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFailure {
    /// The session's files could not be created.
    Storage,
    /// No media shard took the session (its queue is full).
    Busy,
}

impl fmt::Display for MediaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MediaFailure::Storage => "server storage error",
            MediaFailure::Busy => "server busy",
        })
    }
}

/// How the media side ended a session by itself ([`ServerSession::on_media_ended`]); it has
/// finished the recording already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEnd {
    /// Writing failed; what was written is kept.
    StorageFailure,
    /// The storage's free space fell below the server's reserve: the recording was closed
    /// while there was still room to finish it.
    StorageFull,
    /// The media side went away (the server is stopping).
    Gone,
}

impl MediaEnd {
    /// The stop reason.
    pub fn reason(self) -> &'static str {
        match self {
            MediaEnd::StorageFailure => "storage failure",
            MediaEnd::StorageFull => "storage_full",
            MediaEnd::Gone => "ended",
        }
    }
}

/// Something about the peer's input worth a log line ([`ServerSession::poll_notice`]). A peer
/// can cause one per line or per connection, so the shell rate-limits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A line that is no message (answered `failed` when it meant a start or a stop).
    BadLine(ParseError),
    /// A message a phone never sends (its `cmd`); ignored.
    Unexpected(&'static str),
    /// A start the shell refused, with the reason the phone was answered.
    Refused { id: String, reason: String },
    /// An admitted start whose media could not start.
    NotStarted { id: String, failure: MediaFailure },
    /// No session started within the handshake time (ms); the connection closes.
    NoSessionStarted { after_ms: u64 },
    /// More than [`MAX_DEFERRED`] inputs waited for the shell; the connection closes.
    Overrun,
}

impl Notice {
    /// True for what the peer did wrong (the rest is the server's own refusal).
    pub fn is_peer_fault(&self) -> bool {
        !matches!(self, Notice::Refused { .. } | Notice::NotStarted { .. })
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::BadLine(e) => write!(f, "bad control line: {e}"),
            Notice::Unexpected(cmd) => write!(f, "unexpected {cmd} from a phone; ignored"),
            Notice::Refused { id, reason } => write!(f, "session {id}: refused: {reason}"),
            Notice::NotStarted { id, failure } => write!(f, "session {id}: not started: {failure}"),
            Notice::NoSessionStarted { after_ms } => {
                write!(f, "no session started within {after_ms} ms; closing")
            }
            Notice::Overrun => write!(
                f,
                "more than {MAX_DEFERRED} lines while the server was busy; closing"
            ),
        }
    }
}

/// How the connection ended ([`ServerSession::on_closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// End of stream from the phone.
    Closed,
    /// A socket error: reset, broken pipe.
    Reset,
    /// The phone sent a line longer than the protocol allows; the server closes.
    LineTooLong,
    /// An answer could not be written; the server closes.
    WriteFailed,
    /// More than [`MAX_DEFERRED`] inputs waited for the shell; the server closes.
    Overrun,
}

impl ConnectionEnd {
    /// The stop reason of a session that this ends.
    pub fn reason(self) -> &'static str {
        match self {
            ConnectionEnd::Closed => "connection closed",
            ConnectionEnd::Reset => "connection reset",
            ConnectionEnd::LineTooLong | ConnectionEnd::WriteFailed | ConnectionEnd::Overrun => {
                "connection closed by server"
            }
        }
    }
}

/// What the session asks of the shell. See the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Check the request's fields and the server's room (limits, free space) and take a UDP
    /// port for it. Answer [`ServerSession::on_admitted`] or [`ServerSession::on_refused`].
    Admit(Box<StartRequest>),
    /// Create the session's files and record RTP from the phone's address on `port`. Answer
    /// [`ServerSession::on_media_started`] or [`ServerSession::on_media_failed`] (then the
    /// session asks to release the port).
    StartMedia {
        request: Box<StartRequest>,
        port: u16,
    },
    /// Stop recording until resumed. Answer [`ServerSession::on_paused`].
    Pause { id: String },
    /// Record again. Answer [`ServerSession::on_resumed`].
    Resume { id: String },
    /// End the recording and finish its files and sidecar with `reason`. Answer
    /// [`ServerSession::on_stopped`].
    Stop { id: String, reason: String },
    /// Forget the session: free its id and its port.
    Release { id: String, port: u16 },
    /// Close the connection once every line polled so far is written. Always the last action.
    Close,
}

/// Where a server session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerState {
    /// No session yet: waiting for a `RecordStartRequest` (the handshake time runs).
    Waiting,
    /// Waiting for the shell to admit the session.
    Admitting,
    /// Admitted on `port`; waiting for the shell to start the media.
    Starting { port: u16 },
    /// Recording RTP on `port`.
    Recording { port: u16 },
    /// Paused (the pause extension); RTP that arrives is not recorded.
    Paused { port: u16 },
    /// Waiting for the shell to pause or resume the media.
    Toggling { port: u16 },
    /// Waiting for the shell to finish the recording.
    Stopping,
    /// Over; the connection is (being) closed.
    Closed(ServerEnd),
}

/// How a server session (and its connection) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEnd {
    /// The phone's `RecordStopRequest`, with its reason (`stop` when it gave none).
    Stopped(String),
    /// The connection ended, and with it the session if one ran.
    Disconnected(ConnectionEnd),
    /// No RTP and no known control message for the idle time.
    Idle,
    /// No RTP at all within the no-RTP time of the start.
    NoRtp,
    /// The media side ended the session by itself.
    MediaEnded(MediaEnd),
    /// No session started within the handshake time.
    NoSessionStarted,
}

impl ServerEnd {
    /// The stop reason (what a recording that this ended keeps in its sidecar).
    pub fn reason(&self) -> &str {
        match self {
            ServerEnd::Stopped(reason) => reason,
            ServerEnd::Disconnected(how) => how.reason(),
            ServerEnd::Idle => "idle",
            ServerEnd::NoRtp => "no_rtp",
            ServerEnd::MediaEnded(how) => how.reason(),
            ServerEnd::NoSessionStarted => "no session started",
        }
    }
}

impl fmt::Display for ServerEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// A running session.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Live {
    id: String,
    port: u16,
    /// Both sides know the pause extension.
    pause_ext: bool,
    paused: bool,
}

#[derive(Debug)]
enum Phase {
    Waiting,
    Admitting(Box<StartRequest>),
    Starting {
        request: Box<StartRequest>,
        server: String,
        port: u16,
    },
    Live(Live),
    /// A pause (`pause`) or resume asked of the shell.
    Toggling {
        live: Live,
        pause: bool,
    },
    /// The recording's end asked of the shell; `answer`: the phone's stop gets its response.
    Stopping {
        id: String,
        port: u16,
        end: ServerEnd,
        answer: bool,
    },
    Closed(ServerEnd),
}

/// An input kept while an action waits for its answer.
#[derive(Debug)]
enum Deferred {
    /// A line and when it came.
    Line(Vec<u8>, u64),
    Closed(ConnectionEnd),
}

/// The server's side of one control connection. See the module doc.
#[derive(Debug)]
pub struct ServerSession {
    timeouts: ServerTimeouts,
    opened_ms: u64,
    phase: Phase,
    /// When the last known control message came.
    last_control_ms: u64,
    last_rtp_ms: u64,
    /// When the media started, and whether any RTP has come since.
    started_ms: u64,
    rtp_seen: bool,
    deferred: VecDeque<Deferred>,
    outbox: VecDeque<String>,
    actions: VecDeque<Action>,
    notices: VecDeque<Notice>,
}

impl ServerSession {
    /// A connection that opened at `now_ms`.
    pub fn new(now_ms: u64, timeouts: ServerTimeouts) -> ServerSession {
        ServerSession {
            timeouts,
            opened_ms: now_ms,
            phase: Phase::Waiting,
            last_control_ms: now_ms,
            last_rtp_ms: now_ms,
            started_ms: now_ms,
            rtp_seen: false,
            deferred: VecDeque::new(),
            outbox: VecDeque::new(),
            actions: VecDeque::new(),
            notices: VecDeque::new(),
        }
    }

    pub fn state(&self) -> ServerState {
        match &self.phase {
            Phase::Waiting => ServerState::Waiting,
            Phase::Admitting(_) => ServerState::Admitting,
            Phase::Starting { port, .. } => ServerState::Starting { port: *port },
            Phase::Live(l) if l.paused => ServerState::Paused { port: l.port },
            Phase::Live(l) => ServerState::Recording { port: l.port },
            Phase::Toggling { live, .. } => ServerState::Toggling { port: live.port },
            Phase::Stopping { .. } => ServerState::Stopping,
            Phase::Closed(end) => ServerState::Closed(end.clone()),
        }
    }

    pub fn ended(&self) -> Option<&ServerEnd> {
        match &self.phase {
            Phase::Closed(end) => Some(end),
            _ => None,
        }
    }

    /// The next line to send.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.outbox.pop_front()
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next thing to log about the peer's input (see [`Notice`]). At most one or two come
    /// of each input, so a shell that polls after each one holds few.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// When [`ServerSession::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.phase {
            Phase::Waiting => Some(self.opened_ms.saturating_add(self.timeouts.handshake_ms)),
            // Idle is "more than idle_ms": the first ms at which that holds; so for no RTP.
            Phase::Live(_) => Some(match self.no_rtp_deadline() {
                Some(no_rtp) => no_rtp.min(self.idle_deadline()),
                None => self.idle_deadline(),
            }),
            _ => None,
        }
    }

    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.poll_timeout().is_none_or(|t| now_ms < t) {
            return;
        }
        match &self.phase {
            Phase::Waiting => {
                self.notice(Notice::NoSessionStarted {
                    after_ms: self.timeouts.handshake_ms,
                });
                self.close(ServerEnd::NoSessionStarted);
            }
            Phase::Live(live) if self.no_rtp_deadline().is_some_and(|t| t <= now_ms) => {
                log::info!(
                    "session {}: no RTP within {} ms of its start; ending",
                    live.id,
                    self.timeouts.no_rtp_ms
                );
                self.stop(ServerEnd::NoRtp, false);
            }
            Phase::Live(live) => {
                log::info!(
                    "session {}: no RTP and no control message for {} ms; ending",
                    live.id,
                    self.timeouts.idle_ms
                );
                self.stop(ServerEnd::Idle, false);
            }
            _ => {}
        }
    }

    /// RTP from the phone arrived at `at_ms` (the latest the shell knows of; earlier times are
    /// ignored).
    pub fn on_rtp(&mut self, at_ms: u64) {
        self.last_rtp_ms = self.last_rtp_ms.max(at_ms);
        self.rtp_seen = true;
    }

    /// A line from the phone, without its end of line.
    pub fn on_line(&mut self, now_ms: u64, line: &[u8]) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        if self.waiting_for_shell() {
            self.defer(Deferred::Line(line.to_vec(), now_ms));
        } else {
            self.handle_line(now_ms, line);
        }
    }

    /// The connection ended (or the shell closes it: an over-long line, a failed write).
    pub fn on_closed(&mut self, how: ConnectionEnd) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        if self.waiting_for_shell() {
            self.defer(Deferred::Closed(how));
        } else {
            self.handle_closed(how);
        }
    }

    /// Answer to [`Action::Admit`]: admitted on `port`; RTP goes to `server:port`.
    pub fn on_admitted(&mut self, server: &str, port: u16) {
        let Some(Phase::Admitting(request)) = self.take_phase(|p| matches!(p, Phase::Admitting(_)))
        else {
            return self.unasked("on_admitted");
        };
        self.actions.push_back(Action::StartMedia {
            request: request.clone(),
            port,
        });
        self.phase = Phase::Starting {
            request,
            server: server.to_owned(),
            port,
        };
        self.resume_deferred();
    }

    /// Answer to [`Action::Admit`]: refused.
    pub fn on_refused(&mut self, refusal: &AdmitRefusal) {
        let Some(Phase::Admitting(request)) = self.take_phase(|p| matches!(p, Phase::Admitting(_)))
        else {
            return self.unasked("on_refused");
        };
        let reason = refusal.to_string();
        self.failed_start(&request.id, &reason);
        self.notice(Notice::Refused {
            id: request.id,
            reason,
        });
        self.resume_deferred();
    }

    /// Answer to [`Action::StartMedia`]: recording. The phone is answered `success`.
    pub fn on_media_started(&mut self, now_ms: u64) {
        let Some(Phase::Starting {
            request,
            server,
            port,
        }) = self.take_phase(|p| matches!(p, Phase::Starting { .. }))
        else {
            return self.unasked("on_media_started");
        };
        let extensions = request.extensions.intersect(Extensions::ALL);
        let response = StartResponse {
            id: request.id.clone(),
            result: Outcome::Success,
            reason: String::new(),
            server,
            port,
            extensions,
        };
        self.send(&Message::StartResponse(response));
        self.last_control_ms = now_ms;
        self.last_rtp_ms = now_ms;
        self.started_ms = now_ms;
        self.rtp_seen = false;
        self.phase = Phase::Live(Live {
            id: request.id,
            port,
            pause_ext: extensions.pause,
            paused: false,
        });
        self.resume_deferred();
    }

    /// Answer to [`Action::StartMedia`]: it failed. The port is released and the phone answered
    /// `failed`.
    pub fn on_media_failed(&mut self, failure: MediaFailure) {
        let Some(Phase::Starting { request, port, .. }) =
            self.take_phase(|p| matches!(p, Phase::Starting { .. }))
        else {
            return self.unasked("on_media_failed");
        };
        self.actions.push_back(Action::Release {
            id: request.id.clone(),
            port,
        });
        self.failed_start(&request.id, &failure.to_string());
        self.notice(Notice::NotStarted {
            id: request.id,
            failure,
        });
        self.resume_deferred();
    }

    /// Answer to [`Action::Pause`]: `ok` if the media paused.
    pub fn on_paused(&mut self, ok: bool) {
        self.toggled(true, ok);
    }

    /// Answer to [`Action::Resume`]: `ok` if the media records again.
    pub fn on_resumed(&mut self, ok: bool) {
        self.toggled(false, ok);
    }

    /// Answer to [`Action::Stop`]: the recording is finished.
    pub fn on_stopped(&mut self) {
        let Some(Phase::Stopping {
            id,
            port,
            end,
            answer,
        }) = self.take_phase(|p| matches!(p, Phase::Stopping { .. }))
        else {
            return self.unasked("on_stopped");
        };
        self.actions.push_back(Action::Release {
            id: id.clone(),
            port,
        });
        if answer {
            let r = StopResponse {
                id,
                result: Outcome::Success,
            };
            self.send(&Message::StopResponse(r));
        }
        self.close(end);
    }

    /// The media side ended the session by itself (and finished the recording): the session
    /// is released and the connection closed.
    pub fn on_media_ended(&mut self, how: MediaEnd) {
        let live = match &self.phase {
            Phase::Live(live) | Phase::Toggling { live, .. } => live,
            // A stop is on its way to the media already, or nothing runs.
            _ => return,
        };
        log::info!("session {}: ended ({}); closing", live.id, how.reason());
        self.actions.push_back(Action::Release {
            id: live.id.clone(),
            port: live.port,
        });
        self.close(ServerEnd::MediaEnded(how));
    }

    fn toggled(&mut self, paused: bool, ok: bool) {
        let asked = |p: &Phase| matches!(p, Phase::Toggling { pause, .. } if *pause == paused);
        let Some(Phase::Toggling { mut live, pause }) = self.take_phase(asked) else {
            return self.unasked(if paused { "on_paused" } else { "on_resumed" });
        };
        if ok {
            live.paused = pause;
        }
        let id = live.id.clone();
        self.phase = Phase::Live(live);
        self.send(&toggle_response(pause, id, ok));
        self.resume_deferred();
    }

    fn handle_line(&mut self, now_ms: u64, line: &[u8]) {
        let message = match parse(line) {
            Ok(m) => m,
            Err(e) => {
                // Answer where the protocol has an answer for the command that was meant.
                let text = String::from_utf8_lossy(line);
                let id = field(&text, "id").unwrap_or_default();
                if text.starts_with("cmd=RecordStartRequest") {
                    self.failed_start(&id, &e.to_string());
                } else if text.starts_with("cmd=RecordStopRequest") {
                    self.failed_stop(&id, &e.to_string());
                }
                self.notice(Notice::BadLine(e));
                return;
            }
        };
        // What a phone sends, answered or refused, shows it is there; nothing else does.
        if matches!(
            message,
            Message::StartRequest(_)
                | Message::StopRequest(_)
                | Message::PauseRequest { .. }
                | Message::ResumeRequest { .. }
        ) {
            self.last_control_ms = self.last_control_ms.max(now_ms);
        }
        match message {
            Message::StartRequest(req) => {
                if matches!(self.phase, Phase::Waiting) {
                    self.actions.push_back(Action::Admit(Box::new(req.clone())));
                    self.phase = Phase::Admitting(Box::new(req));
                } else {
                    self.failed_start(&req.id, "a session is already running on this connection");
                }
            }
            Message::StopRequest(req) => match &self.phase {
                Phase::Live(live) if live.id == req.id => {
                    let reason = if req.reason.is_empty() {
                        "stop".to_owned()
                    } else {
                        req.reason
                    };
                    self.stop(ServerEnd::Stopped(reason), true);
                }
                _ => self.failed_stop(&req.id, "no such session on this connection"),
            },
            m @ (Message::PauseRequest { .. } | Message::ResumeRequest { .. }) => {
                let pause = matches!(m, Message::PauseRequest { .. });
                let id = m.id().to_owned();
                match core::mem::replace(&mut self.phase, Phase::Waiting) {
                    Phase::Live(live) if live.id == id && live.pause_ext => {
                        self.actions.push_back(if pause {
                            Action::Pause { id }
                        } else {
                            Action::Resume { id }
                        });
                        self.phase = Phase::Toggling { live, pause };
                    }
                    other => {
                        self.phase = other;
                        self.send(&toggle_response(pause, id, false));
                    }
                }
            }
            other => self.notice(Notice::Unexpected(other.cmd())),
        }
    }

    fn handle_closed(&mut self, how: ConnectionEnd) {
        if matches!(self.phase, Phase::Live(_)) {
            self.stop(ServerEnd::Disconnected(how), false);
        } else {
            self.close(ServerEnd::Disconnected(how));
        }
    }

    /// Asks the media to end the running session (`Phase::Live`) with `end`'s reason.
    fn stop(&mut self, end: ServerEnd, answer: bool) {
        let Some(Phase::Live(live)) = self.take_phase(|p| matches!(p, Phase::Live(_))) else {
            return;
        };
        self.actions.push_back(Action::Stop {
            id: live.id.clone(),
            reason: end.reason().to_owned(),
        });
        self.phase = Phase::Stopping {
            id: live.id,
            port: live.port,
            end,
            answer,
        };
    }

    fn close(&mut self, end: ServerEnd) {
        self.phase = Phase::Closed(end);
        self.deferred.clear();
        self.actions.push_back(Action::Close);
    }

    /// The phase, if `is` says it is the one wanted (then the session is `Waiting` until the
    /// caller sets the next); else `None`, and the phase stays.
    fn take_phase(&mut self, is: impl Fn(&Phase) -> bool) -> Option<Phase> {
        is(&self.phase).then(|| core::mem::replace(&mut self.phase, Phase::Waiting))
    }

    /// An action waits for its answer.
    fn waiting_for_shell(&self) -> bool {
        matches!(
            self.phase,
            Phase::Admitting(_)
                | Phase::Starting { .. }
                | Phase::Toggling { .. }
                | Phase::Stopping { .. }
        )
    }

    fn defer(&mut self, input: Deferred) {
        if self.deferred.len() < MAX_DEFERRED {
            self.deferred.push_back(input);
        } else if !matches!(self.deferred.back(), Some(Deferred::Closed(_))) {
            self.notice(Notice::Overrun);
            self.deferred
                .push_back(Deferred::Closed(ConnectionEnd::Overrun));
        }
    }

    /// Handles what was kept while the shell answered, until an action waits again.
    fn resume_deferred(&mut self) {
        while !self.waiting_for_shell() && !matches!(self.phase, Phase::Closed(_)) {
            match self.deferred.pop_front() {
                Some(Deferred::Line(line, at)) => self.handle_line(at, &line),
                Some(Deferred::Closed(how)) => self.handle_closed(how),
                None => break,
            }
        }
    }

    /// Keeps a notice for the shell; past [`MAX_NOTICES`] unpolled ones, drops it (a shell that
    /// never polls must not make the session grow).
    fn notice(&mut self, n: Notice) {
        if self.notices.len() < MAX_NOTICES {
            self.notices.push_back(n);
        }
    }

    fn unasked(&self, answer: &str) {
        log::debug!("{answer}: no such action is waiting; ignored");
    }

    fn idle_since(&self) -> u64 {
        self.last_control_ms.max(self.last_rtp_ms)
    }

    fn idle_deadline(&self) -> u64 {
        self.idle_since()
            .saturating_add(self.timeouts.idle_ms)
            .saturating_add(1)
    }

    /// While no RTP has come since the start: when the session ends for it.
    fn no_rtp_deadline(&self) -> Option<u64> {
        (!self.rtp_seen).then(|| {
            self.started_ms
                .saturating_add(self.timeouts.no_rtp_ms)
                .saturating_add(1)
        })
    }

    fn send(&mut self, m: &Message) {
        let mut line = String::new();
        m.encode(&mut line);
        self.outbox.push_back(line);
    }

    fn failed_start(&mut self, id: &str, reason: &str) {
        let r = StartResponse {
            id: id.to_owned(),
            result: Outcome::Failed,
            reason: reason.to_owned(),
            server: String::new(),
            port: 0,
            extensions: Extensions::default(),
        };
        self.send(&Message::StartResponse(r));
    }

    fn failed_stop(&mut self, id: &str, reason: &str) {
        // The guide's StopResponse has only `success`; `failed` with a reason is what a phone
        // that sent a bad stop can be told, and a plain phone ignores the extra key.
        let r = StopResponse {
            id: id.to_owned(),
            result: Outcome::Failed,
        };
        let mut line = String::new();
        Message::StopResponse(r).encode(&mut line);
        if line.ends_with('\n') {
            line.pop();
            line.push_str("&reason=");
            percent::encode(reason, &mut line);
            line.push('\n');
        }
        self.outbox.push_back(line);
    }
}

fn toggle_response(pause: bool, id: String, ok: bool) -> Message {
    let result = if ok {
        Outcome::Success
    } else {
        Outcome::Failed
    };
    if pause {
        Message::PauseResponse { id, result }
    } else {
        Message::ResumeResponse { id, result }
    }
}

/// A raw `key=value` from a line that did not parse (for the id in a failure answer).
fn field(text: &str, key: &str) -> Option<String> {
    text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        let mut s = String::new();
        (k == key && percent::decode(v.as_bytes(), &mut s).is_ok()).then_some(s)
    })
}

#[cfg(test)]
pub(crate) mod pair;
#[cfg(test)]
mod tests;
