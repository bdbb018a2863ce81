//! A phone's [`Leg`] against a [`ServerSession`] through simulated time, in the manner of
//! quinn-proto's `Pair` (`quinn-proto/src/tests/util.rs`): two endpoints, a clock in ms, the
//! lines in flight each way (with a delay and a loss of their own), and [`Pair::drive`], which
//! delivers what is due, lets each side act, and then advances the clock to the next deadline of
//! either side, line or answer. Nothing here sleeps: a test of minutes runs in microseconds.
//!
//! The server's host is [`Host`]: it carries out the session's [`Action`]s as the server's shell
//! would (admission, the media, ports) with answers a test chooses, after a delay of its own, and
//! records what it was asked. RTP is modelled as a tick every [`Pair::rtp_interval_ms`] while the
//! leg says where RTP goes: the host counts it recorded or dropped, and the session hears of it.
//!
//! The connection: a side that closes sends an end of stream after its last line (TCP delivers
//! the data before the FIN); lines that reach a closed side are discarded. [`Pair::reset`] breaks
//! it on both sides at once, discarding what is in flight. A hung server ([`Pair::server_hangs`])
//! accepts the connection and never reads it or runs its timers.

use super::{Action, AdmitRefusal, ConnectionEnd, MediaEnd, MediaFailure, ServerSession};
use super::{ServerEnd, ServerTimeouts};
use crate::codec::Codec;
use crate::net_client::{Leg, LegEnd, LegTimeouts};
use crate::record_protocol::{Direction, Extensions, StartRequest};
use crate::test_rng::Rng;
use std::collections::VecDeque;

/// The address the host gives for RTP.
pub const SERVER_ADDR: &str = "10.0.0.5";
/// The first port the host hands out.
pub const FIRST_PORT: u16 = 40_000;
/// Simulated time after which [`Pair::drive`] gives up: a pair that has not settled by then is a
/// bug (a timer that never fires, a side that never ends).
const HORIZON_MS: u64 = 2 * 3600 * 1000;

/// The phone's start request.
pub fn request(id: &str) -> StartRequest {
    StartRequest {
        id: id.into(),
        device: "001565AABBCC".into(),
        remote_number: "1002".into(),
        remote_name: "张三".into(),
        local_number: "1001".into(),
        local_name: "Desk".into(),
        dir: Direction::In,
        codec: Codec::Pcma,
        extensions: Extensions::default(),
    }
}

/// Which lines a link loses.
pub enum Loss {
    None,
    /// The lines with these indices (0 = the first line sent on this link).
    Nth(Vec<usize>),
    /// Every line whose `cmd` is this.
    Cmd(&'static str),
    /// Each line with this chance, in thousandths.
    Random {
        per_mille: u32,
        rng: Rng,
    },
}

/// What travels on the connection, one way.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Line(String),
    /// The sender closed: end of stream.
    Fin,
}

/// One direction of the connection.
pub struct Link {
    pub delay_ms: u64,
    pub loss: Loss,
    /// Every line put on the link, lost or not, in order.
    pub sent: Vec<String>,
    /// The lines the link lost.
    pub lost: Vec<String>,
    /// The lines delivered.
    pub delivered: Vec<String>,
    in_flight: VecDeque<(u64, Segment)>,
}

impl Link {
    fn new() -> Link {
        Link {
            delay_ms: 0,
            loss: Loss::None,
            sent: Vec::new(),
            lost: Vec::new(),
            delivered: Vec::new(),
            in_flight: VecDeque::new(),
        }
    }

    fn send(&mut self, now: u64, line: String) {
        let n = self.sent.len();
        self.sent.push(line.clone());
        let lose = match &mut self.loss {
            Loss::None => false,
            Loss::Nth(which) => which.contains(&n),
            Loss::Cmd(cmd) => line
                .strip_prefix("cmd=")
                .is_some_and(|rest| rest.split('&').next() == Some(cmd)),
            Loss::Random { per_mille, rng } => rng.below(1000) < *per_mille as usize,
        };
        if lose {
            self.lost.push(line);
        } else {
            self.in_flight
                .push_back((now + self.delay_ms, Segment::Line(line)));
        }
    }

    fn close(&mut self, now: u64) {
        self.in_flight
            .push_back((now + self.delay_ms, Segment::Fin));
    }

    /// The first segment due at `now`. In order: a later line never overtakes an earlier one,
    /// even if the delay was shortened in between (TCP).
    fn due(&mut self, now: u64) -> Option<Segment> {
        if self.in_flight.front().is_some_and(|(at, _)| *at <= now) {
            self.in_flight.pop_front().map(|(_, s)| s)
        } else {
            None
        }
    }

    fn next_due(&self) -> Option<u64> {
        self.in_flight.front().map(|(at, _)| *at)
    }
}

/// What the host's media is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Off,
    Recording,
    Paused,
    /// Finished with this stop reason.
    Finished(String),
    /// Writing failed; the media finished by itself.
    Failed,
}

/// An answer the host owes the session.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Admitted(u16),
    Refused(AdmitRefusal),
    MediaStarted,
    MediaFailed(MediaFailure),
    Paused(bool),
    Resumed(bool),
    Stopped,
}

/// The server's shell, simulated. See the module doc.
pub struct Host {
    /// How admission answers.
    pub admission: Result<(), AdmitRefusal>,
    /// How starting the media answers.
    pub media_start: Result<(), MediaFailure>,
    /// How long each answer takes (a slow disk, a busy shard).
    pub answer_delay_ms: u64,
    /// What the session asked, in order: `admit ID`, `start PORT`, `pause ID`, `resume ID`,
    /// `stop ID REASON`, `release ID PORT`, `close`.
    pub log: Vec<String>,
    pub media: Media,
    /// RTP packets recorded.
    pub recorded: u32,
    /// RTP packets that arrived while paused (counted, not written).
    pub dropped_paused: u32,
    /// Ports handed out and not yet released.
    pub in_use: Vec<u16>,
    /// Every port handed out.
    pub granted: Vec<u16>,
    /// Every port released.
    pub released: Vec<u16>,
    pub closed: bool,
    next_port: u16,
    answers: VecDeque<(u64, Answer)>,
}

impl Host {
    fn new() -> Host {
        Host {
            admission: Ok(()),
            media_start: Ok(()),
            answer_delay_ms: 0,
            log: Vec::new(),
            media: Media::Off,
            recorded: 0,
            dropped_paused: 0,
            in_use: Vec::new(),
            granted: Vec::new(),
            released: Vec::new(),
            closed: false,
            next_port: FIRST_PORT,
            answers: VecDeque::new(),
        }
    }

    /// Carries out one action; returns true for [`Action::Close`].
    fn perform(&mut self, now: u64, action: Action) -> bool {
        let at = now + self.answer_delay_ms;
        match action {
            Action::Admit(request) => {
                self.log.push(format!("admit {}", request.id));
                let answer = match &self.admission {
                    Ok(()) => {
                        let port = self.next_port;
                        self.next_port += 1;
                        self.in_use.push(port);
                        self.granted.push(port);
                        Answer::Admitted(port)
                    }
                    Err(r) => Answer::Refused(r.clone()),
                };
                self.answers.push_back((at, answer));
            }
            Action::StartMedia { port, .. } => {
                self.log.push(format!("start {port}"));
                assert!(self.in_use.contains(&port), "media on a port not granted");
                let answer = match self.media_start {
                    Ok(()) => {
                        self.media = Media::Recording;
                        Answer::MediaStarted
                    }
                    Err(f) => Answer::MediaFailed(f),
                };
                self.answers.push_back((at, answer));
            }
            Action::Pause { id } => {
                self.log.push(format!("pause {id}"));
                // As the recorder: only a recording pauses.
                let ok = self.media == Media::Recording;
                if ok {
                    self.media = Media::Paused;
                }
                self.answers.push_back((at, Answer::Paused(ok)));
            }
            Action::Resume { id } => {
                self.log.push(format!("resume {id}"));
                let ok = self.media == Media::Paused;
                if ok {
                    self.media = Media::Recording;
                }
                self.answers.push_back((at, Answer::Resumed(ok)));
            }
            Action::Stop { id, reason } => {
                self.log.push(format!("stop {id} {reason}"));
                if matches!(self.media, Media::Recording | Media::Paused) {
                    self.media = Media::Finished(reason);
                }
                self.answers.push_back((at, Answer::Stopped));
            }
            Action::Release { id, port } => {
                self.log.push(format!("release {id} {port}"));
                let i = self.in_use.iter().position(|&p| p == port);
                let i = i.unwrap_or_else(|| panic!("release of port {port}, not in use"));
                self.in_use.swap_remove(i);
                self.released.push(port);
            }
            Action::Close => {
                self.log.push("close".into());
                assert!(!self.closed, "closed twice");
                self.closed = true;
                return true;
            }
        }
        false
    }
}

/// A phone's leg and a server session on one connection. See the module doc.
pub struct Pair {
    pub now: u64,
    pub leg: Leg,
    pub server: ServerSession,
    pub host: Host,
    /// Phone to server.
    pub to_server: Link,
    /// Server to phone.
    pub to_phone: Link,
    /// The server accepted the connection and then hung: it reads nothing and runs no timer.
    pub server_hangs: bool,
    /// RTP every this many ms while the leg streams; `None`: no RTP.
    pub rtp_interval_ms: Option<u64>,
    /// RTP packets the phone sent.
    pub rtp_sent: u32,
    /// When each side ended.
    pub leg_ended_at: Option<u64>,
    pub server_ended_at: Option<u64>,
    phone_closed: bool,
    server_closed: bool,
    /// The next RTP packet, while the leg streams.
    next_rtp: Option<u64>,
}

impl Pair {
    /// A leg with the default time limits connected at 0 to a server with its defaults.
    pub fn new() -> Pair {
        Pair::with(LegTimeouts::default(), ServerTimeouts::default())
    }

    pub fn with(leg: LegTimeouts, server: ServerTimeouts) -> Pair {
        let mut l = Leg::new(request("r1"), leg, 0);
        l.on_connected(0);
        Pair {
            now: 0,
            leg: l,
            server: ServerSession::new(0, server),
            host: Host::new(),
            to_server: Link::new(),
            to_phone: Link::new(),
            server_hangs: false,
            rtp_interval_ms: None,
            rtp_sent: 0,
            leg_ended_at: None,
            server_ended_at: None,
            phone_closed: false,
            server_closed: false,
            next_rtp: None,
        }
    }

    /// Sends RTP every `ms` while the leg streams (the first `ms` after it starts to).
    pub fn with_rtp(mut self, ms: u64) -> Pair {
        self.rtp_interval_ms = Some(ms);
        self
    }

    /// Runs until nothing more can happen; panics if that takes more than two hours.
    pub fn drive(&mut self) {
        self.drive_until(HORIZON_MS);
        assert!(
            self.next_event().is_none(),
            "not settled after {HORIZON_MS} ms"
        );
    }

    /// Runs every event up to and including `until` (then the clock reads `until`).
    pub fn drive_until(&mut self, until: u64) {
        loop {
            while self.step() {}
            match self.next_event() {
                Some(t) if t <= until => {
                    self.now = t.max(self.now);
                    self.tick();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
        while self.step() {}
    }

    /// Breaks the connection on both sides; what is in flight is lost.
    pub fn reset(&mut self) {
        self.to_server.in_flight.clear();
        self.to_phone.in_flight.clear();
        if !self.phone_closed {
            self.phone_closed = true;
            self.leg.on_closed("connection reset");
        }
        if !self.server_closed {
            self.server_closed = true;
            self.server.on_closed(ConnectionEnd::Reset);
        }
        while self.step() {}
    }

    /// The host's storage fails mid-session: the media finishes by itself.
    pub fn fail_storage(&mut self) {
        if matches!(self.host.media, Media::Recording | Media::Paused) {
            self.host.media = Media::Failed;
            self.server.on_media_ended(MediaEnd::StorageFailure);
        }
        while self.step() {}
    }

    /// How the leg ended (panics if it has not).
    pub fn leg_end(&self) -> &LegEnd {
        self.leg.ended().expect("the leg has ended")
    }

    /// How the server session ended (panics if it has not).
    pub fn server_end(&self) -> &ServerEnd {
        self.server.ended().expect("the server session has ended")
    }

    /// No port is left in use, and each one handed out was released once.
    pub fn assert_released(&self) {
        assert!(
            self.host.in_use.is_empty(),
            "ports left: {:?}",
            self.host.in_use
        );
        let mut granted = self.host.granted.clone();
        let mut released = self.host.released.clone();
        granted.sort_unstable();
        released.sort_unstable();
        assert_eq!(granted, released);
    }

    /// Timers due now.
    fn tick(&mut self) {
        if self.leg.poll_timeout().is_some_and(|t| t <= self.now) {
            self.leg.handle_timeout(self.now);
        }
        if !self.server_hangs && self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
    }

    /// Does what is due at `now`; false when there was nothing.
    fn step(&mut self) -> bool {
        let now = self.now;
        let mut progress = false;
        // The phone writes; an ended leg closes its socket.
        while let Some(line) = self.leg.poll_transmit() {
            progress = true;
            if !self.phone_closed {
                self.to_server.send(now, line);
            }
        }
        if self.leg.ended().is_some() {
            self.leg_ended_at.get_or_insert(now);
            if !self.phone_closed {
                self.phone_closed = true;
                self.to_server.close(now);
                progress = true;
            }
        }
        // The server's shell: actions, then the answers written, then the close.
        while let Some(action) = self.server.poll_action() {
            progress = true;
            if self.host.perform(now, action) {
                // Written before the close: the lines polled so far.
                self.server_writes();
                if !self.server_closed {
                    self.server_closed = true;
                    self.to_phone.close(now);
                }
            }
        }
        progress |= self.server_writes();
        if self.server.ended().is_some() {
            self.server_ended_at.get_or_insert(now);
        }
        // The host's answers.
        while self.host.answers.front().is_some_and(|(at, _)| *at <= now) {
            progress = true;
            let Some((_, answer)) = self.host.answers.pop_front() else {
                break;
            };
            match answer {
                Answer::Admitted(port) => self.server.on_admitted(SERVER_ADDR, port),
                Answer::Refused(r) => self.server.on_refused(&r),
                Answer::MediaStarted => self.server.on_media_started(now),
                Answer::MediaFailed(f) => self.server.on_media_failed(f),
                Answer::Paused(ok) => self.server.on_paused(ok),
                Answer::Resumed(ok) => self.server.on_resumed(ok),
                Answer::Stopped => self.server.on_stopped(),
            }
        }
        // Deliveries.
        if !self.server_hangs {
            while let Some(segment) = self.to_server.due(now) {
                progress = true;
                if self.server_closed {
                    continue;
                }
                match segment {
                    Segment::Line(line) => {
                        let bytes = line.strip_suffix('\n').unwrap_or(&line).as_bytes();
                        self.server.on_line(now, bytes);
                        self.to_server.delivered.push(line);
                    }
                    Segment::Fin => self.server.on_closed(ConnectionEnd::Closed),
                }
            }
        }
        while let Some(segment) = self.to_phone.due(now) {
            progress = true;
            if self.phone_closed {
                continue;
            }
            match segment {
                Segment::Line(line) => {
                    let bytes = line.strip_suffix('\n').unwrap_or(&line).as_bytes();
                    self.leg.on_line(bytes);
                    self.to_phone.delivered.push(line);
                }
                Segment::Fin => self.leg.on_closed("closed by the server"),
            }
        }
        // RTP, on the UDP path beside the connection.
        let streaming = self.leg.rtp_destination().is_some() && !self.phone_closed;
        match (self.rtp_interval_ms, self.next_rtp) {
            (Some(every), None) if streaming => self.next_rtp = Some(now + every),
            (Some(every), Some(at)) if streaming && at <= now => {
                progress = true;
                self.next_rtp = Some(at + every);
                self.rtp_sent += 1;
                match self.host.media {
                    Media::Recording => self.host.recorded += 1,
                    Media::Paused => self.host.dropped_paused += 1,
                    _ => {}
                }
                if !self.server_hangs {
                    self.server.on_rtp(now);
                }
            }
            (_, _) if !streaming => self.next_rtp = None,
            _ => {}
        }
        progress
    }

    /// The server's lines onto the link; true if there were any.
    fn server_writes(&mut self) -> bool {
        let mut any = false;
        while let Some(line) = self.server.poll_transmit() {
            any = true;
            if !self.server_closed {
                self.to_phone.send(self.now, line);
            }
        }
        any
    }

    /// The earliest thing that will happen, if anything still can.
    fn next_event(&self) -> Option<u64> {
        let server_timer = (!self.server_hangs)
            .then(|| self.server.poll_timeout())
            .flatten();
        let to_server = (!self.server_hangs)
            .then(|| self.to_server.next_due())
            .flatten();
        // RTP matters only while the leg streams.
        let rtp = self.next_rtp;
        [
            self.leg.poll_timeout(),
            server_timer,
            to_server,
            self.to_phone.next_due(),
            self.host.answers.front().map(|(at, _)| *at),
            rtp,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
