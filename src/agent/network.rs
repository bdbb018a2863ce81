//! Network mode: the call goes to a record server. Each server session is a [`Leg`] (sans-IO)
//! driven by its own task that owns the TCP connection; the main loop forwards the tapped RTP,
//! packet by packet as it arrives, from a socket marked DSCP EF, to where the leg says. One call
//! holds a list of legs so that it can later go to several servers at once; today the settings
//! name one.

use crate::config::settings::Settings;
use crate::core::codec::Codec;
use crate::core::control::{Response, Status};
use crate::core::net_client::{Leg, LegEnd, LegState, LegTimeouts};
use crate::core::record_protocol::{split_line, Direction, Extensions, StartRequest, MAX_LINE};
use crate::platform::clock::{Clock, SystemClock};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

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

/// The network side of the agent. See the module doc.
pub struct Network {
    settings: Settings,
    mac: String,
    clock: SystemClock,
    updates: mpsc::Sender<LegUpdate>,
    legs: Vec<LegHandle>,
    forward: UdpSocket,
    pending_start: Option<oneshot::Sender<Response>>,
    pending_stop: Option<oneshot::Sender<Response>>,
    last_stop: Option<String>,
    error: Option<String>,
    forwarded: u64,
    forward_errors: u64,
    /// Streaming time of the current or last recording, pauses excluded.
    streamed_ms: u64,
    streaming_since: Option<u64>,
}

impl Network {
    /// Sets up the forwarding socket; legs report to `updates`.
    pub fn new(
        settings: Settings,
        mac: String,
        clock: SystemClock,
        updates: mpsc::Sender<LegUpdate>,
    ) -> io::Result<Network> {
        let forward = forward_socket(settings.server_address)?;
        Ok(Network {
            settings,
            mac,
            clock,
            updates,
            legs: Vec::new(),
            forward,
            pending_start: None,
            pending_stop: None,
            last_stop: None,
            error: None,
            forwarded: 0,
            forward_errors: 0,
            streamed_ms: 0,
            streaming_since: None,
        })
    }

    /// True while any leg wants the RTP.
    pub fn forwarding(&self) -> bool {
        self.legs.iter().any(|l| l.rtp.is_some())
    }

    /// Sends one tapped datagram, unchanged, to every streaming leg.
    pub fn forward(&mut self, datagram: &[u8]) {
        for leg in &self.legs {
            if let Some(to) = leg.rtp {
                match self.forward.send_to(datagram, to) {
                    Ok(_) => self.forwarded += 1,
                    Err(e) => {
                        self.forward_errors += 1;
                        log::trace!("forward to {to}: {e}");
                    }
                }
            }
        }
    }

    /// Handles a control command. A start or stop is answered when the server has answered
    /// (or failed); the others at once.
    pub fn command(
        &mut self,
        cmd: &crate::core::control::Command,
        call: Option<crate::core::control::CallInfo>,
        reply: oneshot::Sender<Response>,
    ) {
        use crate::core::control::Command;
        match cmd {
            Command::Status => self.answer(reply, Ok(())),
            Command::Start => {
                if !self.legs.is_empty() {
                    return self.answer(
                        reply,
                        Err(("already_recording", "a recording is already running".into())),
                    );
                }
                match self.start(call.unwrap_or_default()) {
                    Ok(()) => self.pending_start = Some(reply),
                    Err(e) => self.answer(reply, Err(e)),
                }
            }
            Command::Stop => {
                if self.legs.is_empty() {
                    return self.answer(
                        reply,
                        Err(("not_recording", "no recording is running".into())),
                    );
                }
                for leg in &mut self.legs {
                    leg.rtp = None;
                    let _ = leg
                        .commands
                        .try_send(LegCommand::Stop("stopped by user".into()));
                }
                self.pending_stop = Some(reply);
            }
            Command::Pause | Command::Resume => {
                let pause = matches!(cmd, Command::Pause);
                let want = if pause { "streaming" } else { "paused" };
                if !self.legs.iter().any(|l| state_name(&l.state) == want) {
                    let (code, msg) = if pause {
                        ("not_recording", "no recording is streaming")
                    } else {
                        ("not_paused", "the recording is not paused")
                    };
                    return self.answer(reply, Err((code, msg.into())));
                }
                for leg in &mut self.legs {
                    // Forwarding stops at once; the task tells the server if it knows how.
                    if pause {
                        leg.rtp = None;
                    }
                    let c = if pause {
                        LegCommand::Pause
                    } else {
                        LegCommand::Resume
                    };
                    let _ = leg.commands.try_send(c);
                }
                // The new state arrives with the leg's update; the status says what is known.
                self.answer(reply, Ok(()));
            }
            _ => self.answer(reply, Err(("unknown_command", "not handled here".into()))),
        }
    }

    fn start(
        &mut self,
        call: crate::core::control::CallInfo,
    ) -> Result<(), (&'static str, String)> {
        let Some(ip) = self.settings.server_address else {
            return Err((
                "no_server",
                "network mode needs server_address in the settings".into(),
            ));
        };
        let server = SocketAddr::new(ip, self.settings.server_port);
        let codec = Codec::from_name(&self.settings.codec).unwrap_or(Codec::Pcma);
        let request = StartRequest {
            id: random_id(),
            device: self.mac.clone(),
            remote_number: call.remote_number,
            remote_name: call.remote_name,
            local_number: call.local_number,
            local_name: call.local_name,
            dir: if call.dir.as_deref() == Some("in") {
                Direction::In
            } else {
                Direction::Out
            },
            codec,
            extensions: Extensions::default(),
        };
        let id = request.id.clone();
        let request_numbers = (
            request.remote_number.clone(),
            request.remote_name.clone(),
            request.local_number.clone(),
            request.local_name.clone(),
        );
        let leg = Leg::new(request, LegTimeouts::default(), self.clock.now_ms());
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(run_leg(
            leg,
            server,
            rx,
            self.updates.clone(),
            self.clock.clone(),
        ));
        log::info!("network recording to {server} starting");
        log::debug!(
            "call: remote {:?} {:?}, local {:?} {:?}",
            request_numbers.0,
            request_numbers.1,
            request_numbers.2,
            request_numbers.3
        );
        self.legs.push(LegHandle {
            id,
            server,
            commands: tx,
            state: LegState::Connecting,
            rtp: None,
        });
        self.error = None;
        Ok(())
    }

    /// A leg's task reported.
    pub fn on_update(&mut self, update: LegUpdate) {
        let Some(i) = self.legs.iter().position(|l| l.id == update.id) else {
            return;
        };
        let leg = &mut self.legs[i];
        leg.state = update.state.clone();
        leg.rtp = None;
        match &update.state {
            LegState::Streaming { server, port } => match server.parse() {
                Ok(ip) => {
                    leg.rtp = Some(SocketAddr::new(ip, *port));
                    log::info!("network recording: RTP to {}", SocketAddr::new(ip, *port));
                    if let Some(r) = self.pending_start.take() {
                        self.answer(r, Ok(()));
                    }
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
                log::info!("network recording ended: {end}");
                self.last_stop = Some(end.code().into());
                self.error = (end != LegEnd::Stopped).then(|| end.to_string());
                if let Some(r) = self.pending_start.take() {
                    let e = if end == LegEnd::Stopped {
                        LegEnd::ConnectionLost("stopped".into())
                    } else {
                        end
                    };
                    self.answer(r, Err((e.code(), e.to_string())));
                } else if self.legs.is_empty() {
                    if let Some(r) = self.pending_stop.take() {
                        self.answer(r, Ok(()));
                    }
                }
            }
            _ => {}
        }
    }

    fn answer(&self, reply: oneshot::Sender<Response>, r: Result<(), (&str, String)>) {
        let status = self.status();
        let _ = reply.send(match r {
            Ok(()) => Response::ok(None, status),
            Err((code, message)) => Response::error(None, code, message, Some(status)),
        });
    }

    pub fn status(&self) -> Status {
        let leg = self.legs.first();
        let state = match leg.map(|l| &l.state) {
            None => "idle",
            Some(s) => match state_name(s) {
                "streaming" => "recording",
                other => other,
            },
        };
        let running = self
            .streaming_since
            .map_or(0, |t| self.clock.now_ms().saturating_sub(t));
        let mut st = Status {
            state: state.into(),
            mode: "network".into(),
            recorded_ms: self.streamed_ms + running,
            last_stop: self.last_stop.clone(),
            error: self.error.clone(),
            server: leg
                .map(|l| l.rtp.map_or(l.server.to_string(), |a| a.to_string()))
                .or_else(|| {
                    self.settings
                        .server_address
                        .map(|ip| SocketAddr::new(ip, self.settings.server_port).to_string())
                }),
            ..Status::default()
        };
        st.counters.received = self.forwarded + self.forward_errors;
        st.counters.audio = self.forwarded;
        st
    }
}

fn state_name(s: &LegState) -> &'static str {
    match s {
        LegState::Connecting | LegState::Starting => "starting",
        LegState::Streaming { .. } => "streaming",
        LegState::Paused { .. } | LegState::Resuming { .. } => "paused",
        LegState::Stopping => "stopping",
        LegState::Ended(_) => "idle",
    }
}

/// The socket RTP leaves from, marked DSCP EF.
fn forward_socket(server: Option<std::net::IpAddr>) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let v6 = server.is_some_and(|ip| ip.is_ipv6());
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

/// A random session id: 16 hex digits from the kernel's random source.
fn random_id() -> String {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most b.len() bytes into `b`.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // No entropy source: the time and the pid still make ids unique on one phone.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b = (t ^ (u64::from(std::process::id()) << 40)).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Drives one leg: connects, exchanges lines, reports every change of state, until it ends.
async fn run_leg(
    mut leg: Leg,
    server: SocketAddr,
    mut commands: mpsc::Receiver<LegCommand>,
    updates: mpsc::Sender<LegUpdate>,
    clock: SystemClock,
) {
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
    let mut buf = vec![0u8; MAX_LINE];
    let mut len = 0;
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
            r = stream.read(&mut buf[len..]) => match r {
                Ok(0) => leg.on_closed("closed by the server"),
                Ok(n) => {
                    len += n;
                    loop {
                        match split_line(&buf[..len]) {
                            Ok(Some((line, used))) => {
                                leg.on_line(line);
                                buf.copy_within(used..len, 0);
                                len -= used;
                            }
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
