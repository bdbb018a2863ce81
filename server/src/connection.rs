//! One phone's control connection: the thin shell around the core's [`ServerSession`], which
//! decides everything the protocol says (the answers, when a session starts, pauses, stops or
//! idles, and why). This file only moves bytes and carries out what the session asks: it reads
//! lines with [`Lines`], feeds them in with the time, performs the session's [`Action`]s
//! (admission and ports in [`Shared`], the files in the store, the media in a shard), writes the
//! answers, and sleeps until the session's deadline.
//!
//! Logs: what the session says about the peer's input ([`Notice`]) and anything else a peer can
//! repeat per line or per connection goes through [`crate::limited!`] (see [`crate::logs`]).

use super::catalog::Device;
use super::logs::Kind;
use super::media::{Command, MediaSession};
use super::metrics::{End, Refused, METRICS};
use super::store::Sidecar;
use super::{Admitted, Shared};
use callrec_core::line::Lines;
use callrec_core::net_server::{
    Action, AdmitRefusal, ConnectionEnd, MediaEnd, MediaFailure, Notice, ServerEnd, ServerSession,
};
use callrec_core::record_protocol::{StartRequest, MAX_LINE};
use callrec_platform::clock::{local_time_of, Clock};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long a stop's answer waits for the catalog's final row.
const STOP_FLUSH: Duration = Duration::from_secs(2);

/// A port admitted for the session, until its media starts.
struct Granted {
    shard: usize,
    port: u16,
    socket: UdpSocket,
    /// The device's registry entry at admission.
    device: Option<Arc<Device>>,
}

/// The session's media, in its shard.
struct Running {
    id: String,
    shard: usize,
    /// When the shard last drained RTP from the phone (ms on the shared clock; `NO_RTP` before
    /// the first).
    last_rtp_ms: Arc<AtomicU64>,
    /// Told when the media ends by itself (a storage failure, the reserve reached), and how.
    ended: oneshot::Receiver<MediaEnd>,
}

/// What the shell holds for one connection besides the socket.
struct Shell {
    shared: Arc<Shared>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    granted: Option<Granted>,
    running: Option<Running>,
    /// A session's media started on this connection.
    recorded: bool,
}

/// Serves one connection until its session says to close it.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let mut session = ServerSession::new(shared.clock.now_ms(), shared.timeouts);
    let mut shell = Shell {
        local: stream.local_addr().ok(),
        shared,
        peer,
        granted: None,
        running: None,
        recorded: false,
    };
    let mut lines = Lines::new(MAX_LINE);
    'serve: loop {
        if shell.run(&mut session, &mut stream).await {
            break;
        }
        let now = shell.shared.clock.now_ms();
        let deadline = session.poll_timeout();
        let wait = Duration::from_millis(deadline.map_or(0, |t| t.saturating_sub(now)));
        let ended = async {
            match shell.running.as_mut() {
                Some(r) => (&mut r.ended).await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = stream.read(lines.spare()) => match r {
                Ok(0) => session.on_closed(ConnectionEnd::Closed),
                Ok(n) => {
                    lines.filled(n);
                    // Each whole line is answered before the next is read, as it came.
                    loop {
                        match lines.next_line() {
                            Ok(Some(line)) => {
                                session.on_line(shell.shared.clock.now_ms(), line);
                                if shell.run(&mut session, &mut stream).await {
                                    break 'serve;
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                crate::limited!(
                                    Kind::Connection,
                                    "{peer}: control line: {e}; closing"
                                );
                                session.on_closed(ConnectionEnd::LineTooLong);
                                break;
                            }
                        }
                    }
                }
                Err(_) => session.on_closed(ConnectionEnd::Reset),
            },
            () = tokio::time::sleep(wait), if deadline.is_some() => {
                // What the shard last saw counts as activity before the session judges idle
                // (or that no RTP came at all).
                if let Some(r) = &shell.running {
                    let at = r.last_rtp_ms.load(Ordering::Relaxed);
                    if at != super::media::NO_RTP {
                        session.on_rtp(at);
                    }
                }
                session.handle_timeout(shell.shared.clock.now_ms());
            }
            e = ended => {
                // The media ended by itself and has finished the recording.
                shell.running = None;
                session.on_media_ended(e.unwrap_or(MediaEnd::Gone));
            }
        }
    }
    if shell.recorded {
        if let Some(end) = session.ended().and_then(End::of) {
            METRICS.session_ended(end);
        }
    }
    match session.ended() {
        // Said by its notice.
        Some(ServerEnd::NoSessionStarted) => {}
        // A connection that never ran a session is what a flood of connections is made of.
        Some(end @ ServerEnd::Disconnected(_)) if !shell.recorded => {
            crate::limited!(Kind::Closed, "{peer}: closed ({end}) without a session");
        }
        Some(end) => log::info!("{peer}: closed ({end})"),
        None => {}
    }
}

impl Shell {
    /// Carries out the session's actions and writes its answers; true once the connection must
    /// close.
    async fn run(&mut self, session: &mut ServerSession, stream: &mut TcpStream) -> bool {
        let mut close = false;
        let mut out = String::new();
        loop {
            while let Some(action) = session.poll_action() {
                close |= self.perform(session, action).await;
            }
            while let Some(notice) = session.poll_notice() {
                let kind = match notice {
                    Notice::BadLine(_) | Notice::Unexpected(_) => Kind::BadLine,
                    Notice::Refused { .. } | Notice::NotStarted { .. } => Kind::Refused,
                    Notice::NoSessionStarted { .. } | Notice::Overrun => Kind::Connection,
                };
                crate::limited!(kind, "{}: {notice}", self.peer);
            }
            out.clear();
            while let Some(line) = session.poll_transmit() {
                out.push_str(&line);
            }
            if out.is_empty() {
                return close;
            }
            if stream.write_all(out.as_bytes()).await.is_err() {
                // What the session asks now (the end of its recording) is carried out next.
                session.on_closed(ConnectionEnd::WriteFailed);
            }
        }
    }

    /// One action; true for [`Action::Close`].
    async fn perform(&mut self, session: &mut ServerSession, action: Action) -> bool {
        match action {
            Action::Admit(request) => match self.admit(&request) {
                Ok((server, port)) => session.on_admitted(&server, port),
                Err(refusal) => {
                    METRICS.refused(Refused::of_admission(&refusal));
                    session.on_refused(&refusal)
                }
            },
            Action::StartMedia { request, port } => match self.start_media(&request, port) {
                Ok(()) => {
                    METRICS.session_started();
                    session.on_media_started(self.shared.clock.now_ms())
                }
                Err(failure) => {
                    METRICS.refused(Refused::of_media(failure));
                    session.on_media_failed(failure)
                }
            },
            Action::Pause { id } => {
                let ok = self.toggle(id, true).await;
                session.on_paused(ok);
            }
            Action::Resume { id } => {
                let ok = self.toggle(id, false).await;
                session.on_resumed(ok);
            }
            Action::Stop { id, reason } => {
                if let Some(r) = self.running.take() {
                    let (tx, rx) = oneshot::channel();
                    let cmd = Command::Stop {
                        id,
                        reason,
                        reply: tx,
                    };
                    if self.shared.send(r.shard, cmd) {
                        let _ = rx.await;
                        // The phone is answered once the catalog holds the final row, so that
                        // whoever looks after the answer finds the session ended (bounded: a
                        // catalog that is away delays the answer, never loses it).
                        let catalog = self.shared.catalog.clone();
                        let _ =
                            tokio::task::spawn_blocking(move || catalog.flush(STOP_FLUSH)).await;
                    }
                }
                session.on_stopped();
            }
            Action::Release { id, port } => {
                // An admitted port whose media never started: its socket closes here.
                self.granted = None;
                self.shared.release(&id, port);
            }
            Action::Close => return true,
        }
        false
    }

    /// The fields, this connection's address, then the server's room and a port.
    fn admit(&mut self, req: &StartRequest) -> Result<(String, u16), AdmitRefusal> {
        super::validate::start_request(req).map_err(AdmitRefusal::Field)?;
        let local_ip = self
            .local
            .map(|l| l.ip())
            .ok_or(AdmitRefusal::NoLocalAddress)?;
        let Admitted {
            shard,
            port,
            socket,
            device,
        } = self
            .shared
            .admit(&req.id, self.peer.ip(), &req.device, local_ip)?;
        self.granted = Some(Granted {
            shard,
            port,
            socket,
            device,
        });
        Ok((local_ip.to_string(), port))
    }

    /// The sidecar and the files, then the session in its shard.
    fn start_media(&mut self, req: &StartRequest, port: u16) -> Result<(), MediaFailure> {
        let Some(granted) = self.granted.take().filter(|g| g.port == port) else {
            // The session asks only for the port it was granted.
            log::error!("{}: media asked for port {port}, not granted", self.peer);
            return Err(MediaFailure::Busy);
        };
        let shared = &self.shared;
        let now = shared.clock.now_ms();
        let registered = granted.device.as_deref().cloned().unwrap_or_default();
        let sidecar = Sidecar {
            id: req.id.clone(),
            device: req.device.clone(),
            remote_number: req.remote_number.clone(),
            remote_name: req.remote_name.clone(),
            local_number: req.local_number.clone(),
            local_name: req.local_name.clone(),
            dir: req.dir,
            codec: req.codec,
            peer: self.peer.ip().to_string(),
            start_ms: super::media::unix_ms(),
            owner: registered.owner,
            extension: registered.extension,
            group: registered.group,
            ..Sidecar::default()
        };
        let t = local_time_of(callrec_platform::clock::unix_seconds());
        let slot = shared.store.create(&t, &sidecar).map_err(|e| {
            crate::limited!(Kind::Storage, "storage: {e}");
            MediaFailure::Storage
        })?;
        shared.catalog.put_slot(&slot, &sidecar);
        let mut media = MediaSession::new(
            req.id.clone(),
            self.peer.ip(),
            granted.socket,
            slot,
            sidecar,
            shared.finals.clone(),
            now,
        );
        let (ended_tx, ended_rx) = oneshot::channel();
        media.ended = Some(ended_tx);
        let last_rtp_ms = media.last_rtp_ms.clone();
        if !shared.send(granted.shard, Command::Add(Box::new(media))) {
            return Err(MediaFailure::Busy);
        }
        log::info!("{}: session started on port {port}", self.peer);
        log::debug!(
            "{}: session id {:?} device {:?}",
            self.peer,
            req.id,
            req.device
        );
        self.recorded = true;
        self.running = Some(Running {
            id: req.id.clone(),
            shard: granted.shard,
            last_rtp_ms,
            ended: ended_rx,
        });
        Ok(())
    }

    /// Pauses (`pause`) or resumes the media; true if it did.
    async fn toggle(&self, id: String, pause: bool) -> bool {
        let Some(r) = self.running.as_ref().filter(|r| r.id == id) else {
            return false;
        };
        let (tx, rx) = oneshot::channel();
        let cmd = if pause {
            Command::Pause { id, reply: tx }
        } else {
            Command::Resume { id, reply: tx }
        };
        self.shared.send(r.shard, cmd) && rx.await.unwrap_or(false)
    }
}
