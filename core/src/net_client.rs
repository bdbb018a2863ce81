//! The phone's side of one record server session (a *leg*), sans-IO.
//!
//! The shell connects the TCP socket and feeds in what happens (connected, lines, closed, time);
//! the leg hands out lines to send, where RTP must go, and how it ended. A recording that goes to
//! several servers at once is several legs (see `agent::network`).

use super::record_protocol::{
    parse, Extensions, Message, Outcome, StartRequest, StopRequest, MAX_LINE,
};
use core::fmt;

/// Time limits, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegTimeouts {
    pub connect_ms: u64,
    pub start_ms: u64,
    pub stop_ms: u64,
}

impl Default for LegTimeouts {
    fn default() -> Self {
        LegTimeouts {
            connect_ms: 3000,
            start_ms: 5000,
            stop_ms: 5000,
        }
    }
}

/// Where a leg is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegState {
    Connecting,
    /// RecordStartRequest sent, waiting for the answer.
    Starting,
    /// Sending RTP to `server:port`.
    Streaming {
        server: String,
        port: u16,
    },
    /// Not sending RTP (pause asked; the server told if it knows the extension).
    Paused {
        server: String,
        port: u16,
    },
    /// Resume asked of a server that knows the extension: RTP flows again once it has answered
    /// (so none reaches it while it still counts the session paused).
    Resuming {
        server: String,
        port: u16,
    },
    /// RecordStopRequest sent, waiting for the answer.
    Stopping,
    Ended(LegEnd),
}

/// How a leg ended. `Stopped` is the only good end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEnd {
    Stopped,
    /// The server answered `failed` with this reason.
    Refused(String),
    /// The server could not be reached.
    Unreachable(String),
    StartTimeout,
    StopTimeout,
    /// The connection broke or the server closed it mid-session.
    ConnectionLost(String),
    /// The server broke the protocol.
    ProtocolError(String),
}

impl LegEnd {
    /// A stable snake_case name for status output.
    pub fn code(&self) -> &'static str {
        match self {
            LegEnd::Stopped => "stopped",
            LegEnd::Refused(_) => "server_refused",
            LegEnd::Unreachable(_) => "server_unreachable",
            LegEnd::StartTimeout => "server_start_timeout",
            LegEnd::StopTimeout => "server_stop_timeout",
            LegEnd::ConnectionLost(_) => "server_connection_lost",
            LegEnd::ProtocolError(_) => "server_protocol_error",
        }
    }
}

impl fmt::Display for LegEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegEnd::Stopped => f.write_str("stopped"),
            LegEnd::Refused(r) => write!(f, "the record server refused: {r}"),
            LegEnd::Unreachable(e) => write!(f, "the record server is unreachable: {e}"),
            LegEnd::StartTimeout => f.write_str("the record server did not answer the start"),
            LegEnd::StopTimeout => f.write_str("the record server did not answer the stop"),
            LegEnd::ConnectionLost(e) => write!(f, "the record server connection broke: {e}"),
            LegEnd::ProtocolError(e) => write!(f, "the record server broke the protocol: {e}"),
        }
    }
}

/// One session with one record server. See the module doc.
#[derive(Debug)]
pub struct Leg {
    request: StartRequest,
    timeouts: LegTimeouts,
    state: LegState,
    deadline: Option<u64>,
    /// The server accepted the pause extension.
    pause_ext: bool,
    outbox: Vec<String>,
}

impl Leg {
    /// A leg that is connecting at `now_ms`. The request offers the pause extension.
    pub fn new(mut request: StartRequest, timeouts: LegTimeouts, now_ms: u64) -> Leg {
        request.extensions = Extensions { pause: true };
        Leg {
            request,
            timeouts,
            state: LegState::Connecting,
            deadline: Some(now_ms + timeouts.connect_ms),
            pause_ext: false,
            outbox: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.request.id
    }

    pub fn state(&self) -> &LegState {
        &self.state
    }

    /// Where RTP must go now, if anywhere.
    pub fn rtp_destination(&self) -> Option<(&str, u16)> {
        match &self.state {
            LegState::Streaming { server, port } => Some((server, *port)),
            _ => None,
        }
    }

    pub fn ended(&self) -> Option<&LegEnd> {
        match &self.state {
            LegState::Ended(e) => Some(e),
            _ => None,
        }
    }

    /// The next line to send.
    pub fn poll_transmit(&mut self) -> Option<String> {
        (!self.outbox.is_empty()).then(|| self.outbox.remove(0))
    }

    pub fn poll_timeout(&self) -> Option<u64> {
        self.deadline
    }

    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.deadline.is_some_and(|d| d <= now_ms) {
            let end = match &self.state {
                LegState::Connecting => LegEnd::Unreachable("connection timed out".into()),
                LegState::Starting => LegEnd::StartTimeout,
                LegState::Stopping => LegEnd::StopTimeout,
                LegState::Resuming { server, port } => {
                    // No answer to the resume: send anyway; the server may still record.
                    log::warn!("record server did not answer the resume");
                    self.state = LegState::Streaming {
                        server: server.clone(),
                        port: *port,
                    };
                    self.deadline = None;
                    return;
                }
                _ => return,
            };
            self.end(end);
        }
    }

    pub fn on_connected(&mut self, now_ms: u64) {
        if self.state == LegState::Connecting {
            self.send(Message::StartRequest(self.request.clone()));
            self.state = LegState::Starting;
            self.deadline = Some(now_ms + self.timeouts.start_ms);
        }
    }

    pub fn on_connect_failed(&mut self, error: &str) {
        if self.state == LegState::Connecting {
            self.end(LegEnd::Unreachable(error.to_owned()));
        }
    }

    /// The connection ended (`error` says how).
    pub fn on_closed(&mut self, error: &str) {
        match self.state {
            LegState::Ended(_) => {}
            // A server that closes after our stop has finished the session.
            LegState::Stopping => self.end(LegEnd::Stopped),
            _ => self.end(LegEnd::ConnectionLost(error.to_owned())),
        }
    }

    /// A line from the server.
    pub fn on_line(&mut self, line: &[u8]) {
        let message = match parse(line) {
            Ok(m) => m,
            Err(e) => {
                log::warn!("record server sent a bad line: {e}");
                // An answer to our start that cannot be read: fail now, not at the timeout.
                if self.state == LegState::Starting && line.starts_with(b"cmd=RecordStartResponse")
                {
                    self.end(LegEnd::ProtocolError(e.to_string()));
                }
                return;
            }
        };
        if message.id() != self.request.id {
            log::warn!("record server answered for another session; ignored");
            return;
        }
        match (&self.state, message) {
            (LegState::Starting, Message::StartResponse(r)) => match r.result {
                Outcome::Success if r.port != 0 && !r.server.is_empty() => {
                    self.pause_ext = r.extensions.pause;
                    self.state = LegState::Streaming {
                        server: r.server,
                        port: r.port,
                    };
                    self.deadline = None;
                }
                Outcome::Success => self.end(LegEnd::ProtocolError(
                    "success without server and port".into(),
                )),
                Outcome::Failed => {
                    let reason = if r.reason.is_empty() {
                        "no reason given".into()
                    } else {
                        r.reason
                    };
                    self.end(LegEnd::Refused(reason));
                }
            },
            (LegState::Stopping, Message::StopResponse(_)) => self.end(LegEnd::Stopped),
            (LegState::Resuming { server, port }, Message::ResumeResponse { result, .. }) => {
                if result == Outcome::Failed {
                    log::warn!("record server refused the resume; sending anyway");
                }
                self.state = LegState::Streaming {
                    server: server.clone(),
                    port: *port,
                };
                self.deadline = None;
            }
            (
                _,
                Message::PauseResponse {
                    result: Outcome::Failed,
                    ..
                },
            )
            | (
                _,
                Message::ResumeResponse {
                    result: Outcome::Failed,
                    ..
                },
            ) => {
                log::warn!("record server refused a pause or resume");
            }
            (_, m) => log::debug!("record server: {} ignored here", m.cmd()),
        }
    }

    /// Stops: RecordStopRequest, then wait for the answer. Before the start was answered, the
    /// leg just ends (there is no session to stop).
    pub fn stop(&mut self, now_ms: u64, reason: &str) {
        match self.state {
            LegState::Streaming { .. } | LegState::Paused { .. } | LegState::Resuming { .. } => {
                let r = &self.request;
                self.send(Message::StopRequest(StopRequest {
                    id: r.id.clone(),
                    remote_number: r.remote_number.clone(),
                    remote_name: r.remote_name.clone(),
                    local_number: r.local_number.clone(),
                    local_name: r.local_name.clone(),
                    reason: reason.to_owned(),
                }));
                self.state = LegState::Stopping;
                self.deadline = Some(now_ms + self.timeouts.stop_ms);
            }
            LegState::Connecting | LegState::Starting => self.end(LegEnd::Stopped),
            LegState::Stopping | LegState::Ended(_) => {}
        }
    }

    /// Stops forwarding; tells a server that knows the extension.
    pub fn pause(&mut self) -> bool {
        let LegState::Streaming { server, port } = &self.state else {
            return false;
        };
        let (server, port) = (server.clone(), *port);
        if self.pause_ext {
            self.send(Message::PauseRequest {
                id: self.request.id.clone(),
            });
        }
        self.state = LegState::Paused { server, port };
        true
    }

    /// Forwards again: at once to a plain server; after its answer to one that knows the
    /// extension (bounded by the start timeout).
    pub fn resume(&mut self, now_ms: u64) -> bool {
        let LegState::Paused { server, port } = &self.state else {
            return false;
        };
        let (server, port) = (server.clone(), *port);
        if self.pause_ext {
            self.send(Message::ResumeRequest {
                id: self.request.id.clone(),
            });
            self.state = LegState::Resuming { server, port };
            self.deadline = Some(now_ms + self.timeouts.start_ms);
        } else {
            self.state = LegState::Streaming { server, port };
        }
        true
    }

    fn send(&mut self, m: Message) {
        let mut line = String::new();
        m.encode(&mut line);
        if line.len() > MAX_LINE {
            // Only names can make it long; the fields were limited when the request was built.
            log::warn!("control line of {} bytes not sent", line.len());
            return;
        }
        self.outbox.push(line);
    }

    fn end(&mut self, end: LegEnd) {
        self.state = LegState::Ended(end);
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests;
