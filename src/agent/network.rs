//! Network mode: the call goes to a record server. Each server session is a [`Leg`] (sans-IO)
//! driven by its own task that owns the TCP connection; the main loop forwards the tapped RTP,
//! packet by packet as it arrives, from a socket marked DSCP EF, to where the leg says. The
//! legs are a list so that a call can later go to several servers at once; today the settings
//! name one, and a new leg starts only after the last one ended.

use crate::config::settings::Settings;
use callrec_core::backlog::Backlog;
use callrec_core::calls::{Phase, StopWhy};
use callrec_core::control_protocol::{CallInfo, Status};
use callrec_core::line::Lines;
use callrec_core::net_client::{Leg, LegEnd, LegState, LegTimeouts};
use callrec_core::record_protocol::{Direction, Extensions, StartRequest, MAX_LINE};
use callrec_platform::clock::{Clock, SystemClock};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// DSCP EF (46) in the IP TOS byte: voice.
const TOS_EF: u32 = 46 << 2;

/// What the main loop tells a leg's task.
#[derive(Debug)]
pub enum LegCommand {
    Stop(String),
    Pause,
    Resume,
}

/// A leg's task reports every change of state.
#[derive(Debug)]
pub struct LegUpdate {
    pub id: String,
    pub state: LegState,
}

struct LegHandle {
    id: String,
    server: SocketAddr,
    commands: mpsc::Sender<LegCommand>,
    state: LegState,
    /// Where RTP goes (None while starting, paused, stopping).
    rtp: Option<SocketAddr>,
}

/// Why a network recording did not start.
#[derive(Debug)]
pub enum NetStartError {
    /// The settings name no record server: the user.
    NoServer,
    /// The RTP socket could not be opened: the phone.
    ForwardSocket(io::Error),
}

impl NetStartError {
    /// The stable code of the status's failure.
    pub fn code(&self) -> &'static str {
        match self {
            NetStartError::NoServer => "no_server",
            NetStartError::ForwardSocket(_) => "forward_socket",
        }
    }
}

impl std::fmt::Display for NetStartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetStartError::NoServer => {
                f.write_str("network mode needs server_address in the settings")
            }
            NetStartError::ForwardSocket(e) => write!(f, "cannot open the RTP socket: {e}"),
        }
    }
}

impl std::error::Error for NetStartError {}

/// A leg the shell must run: [`run_leg`] in a task of its own, reporting to the main loop.
pub struct NewLeg {
    pub leg: Leg,
    pub server: SocketAddr,
    pub commands: mpsc::Receiver<LegCommand>,
}

impl std::fmt::Debug for NewLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLeg")
            .field("id", &self.leg.id())
            .field("server", &self.server)
            .finish()
    }
}

/// The network side of the agent. See the module doc.
pub struct Network<C: Clock = SystemClock> {
    mac: String,
    clock: C,
    legs: Vec<LegHandle>,
    /// Legs started and not yet handed to the shell.
    new_legs: Vec<NewLeg>,
    forward: Option<(bool, UdpSocket)>,
    /// The server of the current or last recording, else the settings'.
    server: Option<SocketAddr>,
    /// Why the last recording ended by itself: (code, message).
    failure: Option<(&'static str, String)>,
    /// Datagrams of a wanted recording that wait for the server's answer.
    backlog: Backlog,
    forwarded: u64,
    forward_errors: u64,
    /// Streaming time of the current or last recording, pauses excluded.
    streamed_ms: u64,
    streaming_since: Option<u64>,
}

impl<C: Clock> Network<C> {
    /// Its legs report through [`Network::on_update`].
    pub fn new(mac: String, clock: C) -> Network<C> {
        Network {
            mac,
            clock,
            legs: Vec::new(),
            new_legs: Vec::new(),
            forward: None,
            server: None,
            failure: None,
            backlog: Backlog::new(),
            forwarded: 0,
            forward_errors: 0,
            streamed_ms: 0,
            streaming_since: None,
        }
    }

    /// True while any leg wants the RTP.
    pub fn forwarding(&self) -> bool {
        self.legs.iter().any(|l| l.rtp.is_some())
    }

    /// Sends one tapped datagram, unchanged, to every streaming leg; while the server is
    /// still answering a start or a resume, holds it for the moment it has.
    pub fn forward(&mut self, datagram: &[u8]) {
        if self.awaiting_server() {
            if !self.backlog.push(datagram) {
                log::trace!("backlog full: datagram dropped");
            }
            return;
        }
        let Some((_, socket)) = &self.forward else {
            return;
        };
        for leg in &self.legs {
            if let Some(to) = leg.rtp {
                match socket.send_to(datagram, to) {
                    Ok(_) => self.forwarded += 1,
                    Err(e) => {
                        self.forward_errors += 1;
                        log::trace!("forward to {to}: {e}");
                    }
                }
            }
        }
    }

    /// A recording is wanted and its server has not yet said where the RTP goes.
    fn awaiting_server(&self) -> bool {
        matches!(
            self.legs.last().map(|l| &l.state),
            Some(LegState::Connecting | LegState::Starting | LegState::Resuming { .. })
        )
    }

    /// Sends what waited for the server's answer, oldest first.
    fn flush_backlog(&mut self) {
        let Some((_, socket)) = &self.forward else {
            return;
        };
        let targets: Vec<SocketAddr> = self.legs.iter().filter_map(|l| l.rtp).collect();
        let (mut sent, mut failed) = (0u64, 0u64);
        self.backlog.drain(|d| {
            for to in &targets {
                match socket.send_to(d, to) {
                    Ok(_) => sent += 1,
                    Err(_) => failed += 1,
                }
            }
        });
        if sent + failed > 0 {
            log::debug!("sent {sent} datagrams that waited for the server's answer");
        }
        self.forwarded += sent;
        self.forward_errors += failed;
    }

    /// Where the recording stands, for the call controller.
    pub fn phase(&self) -> Phase {
        match self.legs.last().map(|l| &l.state) {
            None | Some(LegState::Ended(_)) => Phase::Idle,
            Some(LegState::Connecting | LegState::Starting) => Phase::Starting,
            Some(LegState::Streaming { .. }) => Phase::Recording,
            Some(LegState::Paused { .. }) => Phase::Paused,
            Some(LegState::Resuming { .. }) => Phase::Resuming,
            Some(LegState::Stopping) => Phase::Stopping,
        }
    }

    /// Why the last recording ended by itself, if it did.
    pub fn failure(&self) -> Option<(&'static str, &str)> {
        self.failure.as_ref().map(|(c, m)| (*c, m.as_str()))
    }

    pub fn recorded_ms(&self) -> u64 {
        let running = self
            .streaming_since
            .map_or(0, |t| self.clock.now_ms().saturating_sub(t));
        self.streamed_ms + running
    }

    /// Starts a session with the settings' server for `call`. The outcome arrives as updates.
    pub fn start(&mut self, settings: &Settings, call: &CallInfo) -> Result<(), NetStartError> {
        let Some(ip) = settings.server_address else {
            return Err(NetStartError::NoServer);
        };
        let server = SocketAddr::new(ip, settings.server_port);
        let v6 = ip.is_ipv6();
        if self.forward.as_ref().is_none_or(|(is_v6, _)| *is_v6 != v6) {
            let socket = forward_socket(v6).map_err(NetStartError::ForwardSocket)?;
            self.forward = Some((v6, socket));
        }
        // The call's own codec, else the settings' (validated when loaded).
        let codec = call.codec.unwrap_or(settings.codec);
        let request = StartRequest {
            id: random_id(),
            device: self.mac.clone(),
            remote_number: call.remote_number.clone(),
            remote_name: call.remote_name.clone(),
            local_number: call.local_number.clone(),
            local_name: call.local_name.clone(),
            dir: call.dir.unwrap_or(Direction::Out),
            codec,
            extensions: Extensions::default(),
        };
        let id = request.id.clone();
        let leg = Leg::new(request, LegTimeouts::default(), self.clock.now_ms());
        let (tx, rx) = mpsc::channel(8);
        self.new_legs.push(NewLeg {
            leg,
            server,
            commands: rx,
        });
        log::info!("network recording to {server} starting");
        log::debug!(
            "call: remote {:?} {:?}, local {:?} {:?}",
            call.remote_number,
            call.remote_name,
            call.local_number,
            call.local_name
        );
        self.legs.push(LegHandle {
            id,
            server,
            commands: tx,
            state: LegState::Connecting,
            rtp: None,
        });
        self.server = Some(server);
        self.failure = None;
        self.forwarded = 0;
        self.forward_errors = 0;
        self.streamed_ms = 0;
        self.streaming_since = None;
        Ok(())
    }

    /// Stops every leg; each ends when its server has answered.
    pub fn stop(&mut self, why: StopWhy) {
        self.backlog.clear();
        for leg in &mut self.legs {
            leg.rtp = None;
            // The task sends the stop at once; its update confirms this (or ends the leg).
            if matches!(
                leg.state,
                LegState::Streaming { .. } | LegState::Paused { .. } | LegState::Resuming { .. }
            ) {
                leg.state = LegState::Stopping;
            }
            let _ = leg.commands.try_send(LegCommand::Stop(why.phrase().into()));
        }
        self.stop_clock();
    }

    /// Forwarding stops at once; the leg tells a server that knows the extension.
    pub fn pause(&mut self) {
        for leg in &mut self.legs {
            leg.rtp = None;
            // The task pauses at once too; its update confirms this.
            if let LegState::Streaming { server, port } = &leg.state {
                leg.state = LegState::Paused {
                    server: server.clone(),
                    port: *port,
                };
            }
            let _ = leg.commands.try_send(LegCommand::Pause);
        }
        self.stop_clock();
    }

    /// Forwarding starts again when the leg reports streaming.
    pub fn resume(&mut self) {
        for leg in &mut self.legs {
            if let LegState::Paused { server, port } = &leg.state {
                leg.state = LegState::Resuming {
                    server: server.clone(),
                    port: *port,
                };
            }
            let _ = leg.commands.try_send(LegCommand::Resume);
        }
    }

    fn stop_clock(&mut self) {
        if let Some(t) = self.streaming_since.take() {
            self.streamed_ms += self.clock.now_ms().saturating_sub(t);
        }
    }

    /// The next leg to run, started since the last call.
    pub fn poll_new_leg(&mut self) -> Option<NewLeg> {
        (!self.new_legs.is_empty()).then(|| self.new_legs.remove(0))
    }

    /// A leg's task reported.
    pub fn on_update(&mut self, update: LegUpdate) {
        let Some(i) = self.legs.iter().position(|l| l.id == update.id) else {
            return;
        };
        let leg = &mut self.legs[i];
        leg.state = update.state;
        leg.rtp = None;
        match &leg.state {
            LegState::Streaming { server, port } => match server.parse() {
                Ok(ip) => {
                    let to = SocketAddr::new(ip, *port);
                    leg.rtp = Some(to);
                    log::info!("network recording: RTP to {to}");
                    if self.streaming_since.is_none() {
                        self.streaming_since = Some(self.clock.now_ms());
                    }
                    self.flush_backlog();
                }
                Err(_) => {
                    log::warn!("record server gave a server address that is not an IP: {server:?}");
                    let _ = leg
                        .commands
                        .try_send(LegCommand::Stop("bad server address".into()));
                }
            },
            LegState::Ended(end) => {
                let end = end.clone();
                self.legs.remove(i);
                self.backlog.clear();
                self.stop_clock();
                log::info!("network recording ended: {end}");
                if end != LegEnd::Stopped {
                    self.failure = Some((end.code(), end.to_string()));
                }
            }
            _ => self.stop_clock(),
        }
    }

    pub fn status(&self) -> Status {
        let mut st = Status {
            state: self.phase().name().into(),
            recorded_ms: self.recorded_ms(),
            error: self.failure.as_ref().map(|(_, m)| m.clone()),
            server: self
                .legs
                .last()
                .map(|l| l.rtp.map_or(l.server.to_string(), |a| a.to_string()))
                .or_else(|| self.server.map(|s| s.to_string())),
            ..Status::default()
        };
        st.counters.received = self.forwarded + self.forward_errors;
        st.counters.audio = self.forwarded;
        st
    }
}

/// The socket RTP leaves from, marked DSCP EF.
fn forward_socket(v6: bool) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    let marked = if v6 {
        socket.set_tclass_v6(TOS_EF)
    } else {
        socket.set_tos_v4(TOS_EF)
    };
    if let Err(e) = marked {
        log::warn!("cannot mark RTP as DSCP EF: {e}");
    }
    let any: SocketAddr = if v6 { "[::]:0" } else { "0.0.0.0:0" }
        .parse()
        .map_err(io::Error::other)?;
    socket.bind(&any.into())?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A session id, unique, not a secret: 16 hex digits, from the kernel's random source when it
/// gives any.
fn random_id() -> String {
    format!("{:016x}", callrec_platform::random::nonsecret_u64())
}

/// Drives one leg: connects, exchanges lines, reports every change of state, until it ends.
pub async fn run_leg(new: NewLeg, updates: mpsc::Sender<LegUpdate>, clock: SystemClock) {
    let NewLeg {
        mut leg,
        server,
        mut commands,
    } = new;
    let id = leg.id().to_owned();
    let report = |leg: &Leg| LegUpdate {
        id: id.clone(),
        state: leg.state().clone(),
    };
    let connect_ms = leg
        .poll_timeout()
        .unwrap_or(0)
        .saturating_sub(clock.now_ms());
    let mut stream = match tokio::time::timeout(
        Duration::from_millis(connect_ms),
        TcpStream::connect(server),
    )
    .await
    {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            leg.on_connected(clock.now_ms());
            s
        }
        Ok(Err(e)) => {
            leg.on_connect_failed(&e.to_string());
            let _ = updates.send(report(&leg)).await;
            return;
        }
        Err(_) => {
            leg.on_connect_failed("connection timed out");
            let _ = updates.send(report(&leg)).await;
            return;
        }
    };
    let mut lines = Lines::new(MAX_LINE);
    let mut last = leg.state().clone();
    let _ = updates.send(report(&leg)).await;
    let mut commands_open = true;
    loop {
        while let Some(line) = leg.poll_transmit() {
            if let Err(e) = stream.write_all(line.as_bytes()).await {
                leg.on_closed(&e.to_string());
            }
        }
        if leg.state() != &last {
            last = leg.state().clone();
            let _ = updates.send(report(&leg)).await;
        }
        if leg.ended().is_some() {
            return;
        }
        let deadline = leg
            .poll_timeout()
            .map(|ms| ms.saturating_sub(clock.now_ms()));
        let sleep = tokio::time::sleep(Duration::from_millis(deadline.unwrap_or(3_600_000)));
        tokio::select! {
            r = stream.read(lines.spare()) => match r {
                Ok(0) => leg.on_closed("closed by the server"),
                Ok(n) => {
                    lines.filled(n);
                    loop {
                        match lines.next_line() {
                            Ok(Some(line)) => leg.on_line(line),
                            Ok(None) => break,
                            Err(_) => {
                                leg.on_closed("the server sent an over-long line");
                                break;
                            }
                        }
                    }
                }
                Err(e) => leg.on_closed(&e.to_string()),
            },
            c = commands.recv(), if commands_open => match c {
                Some(LegCommand::Stop(reason)) => leg.stop(clock.now_ms(), &reason),
                Some(LegCommand::Pause) => { leg.pause(); }
                Some(LegCommand::Resume) => { leg.resume(clock.now_ms()); }
                // The agent is going away: stop the session politely.
                None => {
                    commands_open = false;
                    leg.stop(clock.now_ms(), "agent stopped");
                }
            },
            () = sleep, if deadline.is_some() => leg.handle_timeout(clock.now_ms()),
        }
    }
}

impl Network {
    /// The agent is stopping: every leg stops its session; waits (bounded) for the answers.
    pub async fn shutdown(&mut self, updates: &mut mpsc::Receiver<LegUpdate>) {
        for leg in &mut self.legs {
            leg.rtp = None;
            let _ = leg
                .commands
                .try_send(LegCommand::Stop("agent stopped".into()));
        }
        let limit = tokio::time::Instant::now() + Duration::from_secs(6);
        while !self.legs.is_empty() {
            match tokio::time::timeout_at(limit, updates.recv()).await {
                Ok(Some(u)) => self.on_update(u),
                _ => break,
            }
        }
    }
}
