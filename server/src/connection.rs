//! One phone's control connection: framing, the session's start and stop, and the answers to
//! bad input. One connection carries one session; its end ends the session.

use super::media::{Command, Ended, MediaSession};
use super::store::Sidecar;
use super::Shared;
use callrec_core::line::Lines;
use callrec_core::record_protocol::{
    parse, Extensions, Message, Outcome, StartRequest, StartResponse, StopResponse, MAX_LINE,
};
use callrec_platform::clock::{local_time_of, Clock};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long a connection may stay open without starting a session.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The session a connection runs.
struct Active {
    id: String,
    shard: usize,
    port: u16,
    last_control_ms: Arc<std::sync::atomic::AtomicU64>,
    ended: oneshot::Receiver<Ended>,
    pause_ext: bool,
}

/// Serves one connection until the phone closes it, an error, or its session ends.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let local = stream.local_addr().ok();
    let mut lines = Lines::new(MAX_LINE);
    let mut active: Option<Active> = None;
    let mut out = String::new();
    let end_reason = loop {
        // Answer every whole line already here.
        let mut close = false;
        loop {
            match lines.next_line() {
                Ok(Some(line)) => {
                    if let Some(a) = &active {
                        a.last_control_ms
                            .store(shared.clock.now_ms(), Ordering::Relaxed);
                    }
                    out.clear();
                    close = handle_line(&shared, line, peer, local, &mut active, &mut out).await;
                    if !out.is_empty() && stream.write_all(out.as_bytes()).await.is_err() {
                        close = true;
                    }
                    if close {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("{peer}: control line: {e}; closing");
                    close = true;
                    break;
                }
            }
        }
        if close {
            break "connection closed by server";
        }
        // A connection must start its session soon; once it has, the session's idle timer
        // (RTP or control traffic) decides.
        let patience = if active.is_some() {
            None
        } else {
            Some(HANDSHAKE_TIMEOUT)
        };
        let ended = async {
            match active.as_mut() {
                Some(a) => (&mut a.ended).await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = stream.read(lines.spare()) => match r {
                Ok(0) => break "connection closed",
                Ok(n) => lines.filled(n),
                Err(_) => break "connection reset",
            },
            () = tokio::time::sleep(patience.unwrap_or_default()), if patience.is_some() => {
                log::warn!("{peer}: no session started within {HANDSHAKE_TIMEOUT:?}; closing");
                break "no session started";
            }
            e = ended => {
                // The session ended by itself (idle, storage): nothing left to serve.
                let reason = e.map_or_else(|| "ended".to_string(), |e| e.reason);
                log::info!("{peer}: session ended ({reason}); closing");
                if let Some(a) = active.take() {
                    shared.release(&a.id, a.port);
                }
                return;
            }
        }
    };
    if let Some(a) = active.take() {
        stop(&shared, a, end_reason).await;
    }
}

/// Handles one line; returns true when the connection must close.
async fn handle_line(
    shared: &Arc<Shared>,
    line: &[u8],
    peer: SocketAddr,
    local: Option<SocketAddr>,
    active: &mut Option<Active>,
    out: &mut String,
) -> bool {
    let message = match parse(line) {
        Ok(m) => m,
        Err(e) => {
            log::warn!("{peer}: bad control line: {e}");
            // Answer where the protocol has an answer for the command that was meant.
            let text = String::from_utf8_lossy(line);
            let id = field(&text, "id").unwrap_or_default();
            if text.starts_with("cmd=RecordStartRequest") {
                failed_start(&id, &e.to_string(), out);
            } else if text.starts_with("cmd=RecordStopRequest") {
                failed_stop(&id, &e.to_string(), out);
            }
            return false;
        }
    };
    match message {
        Message::StartRequest(req) => {
            if active.is_some() {
                failed_start(
                    &req.id,
                    "a session is already running on this connection",
                    out,
                );
                return false;
            }
            match start(shared, &req, peer, local) {
                Ok((a, response)) => {
                    *active = Some(a);
                    Message::StartResponse(response).encode(out);
                }
                Err(reason) => failed_start(&req.id, &reason, out),
            }
            false
        }
        Message::StopRequest(req) => {
            match active.take() {
                Some(a) if a.id == req.id => {
                    let reason = if req.reason.is_empty() {
                        "stop"
                    } else {
                        &req.reason
                    };
                    stop(shared, a, reason).await;
                    let r = StopResponse {
                        id: req.id,
                        result: Outcome::Success,
                    };
                    Message::StopResponse(r).encode(out);
                    // The session is over, and with it the connection.
                    return true;
                }
                other => {
                    *active = other;
                    failed_stop(&req.id, "no such session on this connection", out);
                }
            }
            false
        }
        m @ (Message::PauseRequest { .. } | Message::ResumeRequest { .. }) => {
            let pause = matches!(m, Message::PauseRequest { .. });
            let id = m.id().to_owned();
            let ok = match active.as_ref() {
                Some(a) if a.id == id && a.pause_ext => {
                    let (tx, rx) = oneshot::channel();
                    let cmd = if pause {
                        Command::Pause {
                            id: id.clone(),
                            reply: tx,
                        }
                    } else {
                        Command::Resume {
                            id: id.clone(),
                            reply: tx,
                        }
                    };
                    shared.send(a.shard, cmd) && rx.await.unwrap_or(false)
                }
                _ => false,
            };
            let result = if ok {
                Outcome::Success
            } else {
                Outcome::Failed
            };
            let m = if pause {
                Message::PauseResponse { id, result }
            } else {
                Message::ResumeResponse { id, result }
            };
            m.encode(out);
            false
        }
        other => {
            log::warn!(
                "{peer}: unexpected {:?} from a phone; ignored",
                kind(&other)
            );
            false
        }
    }
}

fn kind(m: &Message) -> &'static str {
    match m {
        Message::StartRequest(_) => "RecordStartRequest",
        Message::StartResponse(_) => "RecordStartResponse",
        Message::StopRequest(_) => "RecordStopRequest",
        Message::StopResponse(_) => "RecordStopResponse",
        Message::PauseRequest { .. } => "RecordPauseRequest",
        Message::ResumeRequest { .. } => "RecordResumeRequest",
        Message::PauseResponse { .. } => "RecordPauseResponse",
        Message::ResumeResponse { .. } => "RecordResumeResponse",
    }
}

/// Starts a session; the error is the reason sent to the phone.
fn start(
    shared: &Arc<Shared>,
    req: &StartRequest,
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<(Active, StartResponse), String> {
    super::validate::start_request(req)?;
    let local_ip = local.map(|l| l.ip()).ok_or("no local address")?;
    let (shard, port, socket) = shared.admit(&req.id, local_ip)?;
    let now = shared.clock.now_ms();
    let sidecar = Sidecar {
        id: req.id.clone(),
        device: req.device.clone(),
        remote_number: req.remote_number.clone(),
        remote_name: req.remote_name.clone(),
        local_number: req.local_number.clone(),
        local_name: req.local_name.clone(),
        dir: req.dir.name().into(),
        codec: req.codec.name().into(),
        peer: peer.ip().to_string(),
        start_ms: super::media::unix_ms(),
        ..Sidecar::default()
    };
    let t = local_time_of(callrec_platform::clock::unix_seconds());
    let slot = match shared.store.create(&t, &sidecar) {
        Ok(slot) => slot,
        Err(e) => {
            log::error!("storage: {e}");
            shared.release(&req.id, port);
            return Err("server storage error".into());
        }
    };
    let mut session = MediaSession::new(req.id.clone(), peer.ip(), socket, slot, sidecar, now);
    let (ended_tx, ended_rx) = oneshot::channel();
    session.ended = Some(ended_tx);
    let last_control_ms = session.last_control_ms.clone();
    if !shared.send(shard, Command::Add(Box::new(session))) {
        shared.release(&req.id, port);
        return Err("server busy".into());
    }
    log::info!("{peer}: session started on port {port}");
    log::debug!("{peer}: session id {:?} device {:?}", req.id, req.device);
    let pause_ext = req.extensions.pause;
    let response = StartResponse {
        id: req.id.clone(),
        result: Outcome::Success,
        reason: String::new(),
        server: local_ip.to_string(),
        port,
        extensions: Extensions { pause: pause_ext },
    };
    let active = Active {
        id: req.id.clone(),
        shard,
        port,
        last_control_ms,
        ended: ended_rx,
        pause_ext,
    };
    Ok((active, response))
}

async fn stop(shared: &Arc<Shared>, a: Active, reason: &str) {
    let (tx, rx) = oneshot::channel();
    let cmd = Command::Stop {
        id: a.id.clone(),
        reason: reason.to_owned(),
        reply: tx,
    };
    if shared.send(a.shard, cmd) {
        let _ = rx.await;
    }
    shared.release(&a.id, a.port);
}

fn failed_start(id: &str, reason: &str, out: &mut String) {
    let r = StartResponse {
        id: id.to_owned(),
        result: Outcome::Failed,
        reason: reason.to_owned(),
        server: String::new(),
        port: 0,
        extensions: Extensions::default(),
    };
    Message::StartResponse(r).encode(out);
}

fn failed_stop(id: &str, reason: &str, out: &mut String) {
    // The guide's StopResponse has only `success`; `failed` with a reason is what a phone that
    // sent a bad stop can be told, and a plain phone ignores the extra key.
    let r = StopResponse {
        id: id.to_owned(),
        result: Outcome::Failed,
    };
    Message::StopResponse(r).encode(out);
    if out.ends_with('\n') {
        out.pop();
        out.push_str("&reason=");
        callrec_core::percent::encode(reason, out);
        out.push('\n');
    }
}

/// A raw `key=value` from a line that did not parse (for the id in a failure answer).
fn field(text: &str, key: &str) -> Option<String> {
    text.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        let mut s = String::new();
        (k == key && callrec_core::percent::decode(v.as_bytes(), &mut s).is_ok()).then_some(s)
    })
}
