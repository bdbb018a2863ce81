//! The control socket: a Unix stream socket speaking JSON lines (`docs/control-protocol.md`).
//! Each connection is a task that frames and parses lines and hands commands to the agent's
//! main loop, which owns all state.

use callrec_core::calls::event::dropped_line;
use callrec_core::control_protocol::{parse_request, Command, Request, Response, MAX_LINE};
use callrec_core::line::Lines;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

/// Clients connected at once, subscribers included; more are answered `busy` and closed.
pub const MAX_CLIENTS: usize = 16;
/// Events a subscriber may fall behind before it is dropped.
pub const SUBSCRIBER_QUEUE: usize = 64;
/// A subscriber that takes no event for this long is dropped.
pub const SUBSCRIBER_STALL: Duration = Duration::from_secs(5);
/// A client silent this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Commands waiting for the main loop.
pub const QUEUE: usize = 16;

/// A command for the main loop and where to send its answer.
pub struct Job {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Binds the socket, replacing a stale one left by a killed agent.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if meta.file_type().is_socket() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another agent is listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    UnixListener::bind(path)
}

/// Accepts clients for ever. `events` carries the status events for subscribers.
pub async fn serve(
    listener: UnixListener,
    jobs: mpsc::Sender<Job>,
    events: broadcast::Sender<Arc<str>>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                log::warn!("control socket accept: {e}");
                // EMFILE and the like: give the system a moment rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let jobs = jobs.clone();
                let events = events.clone();
                tokio::spawn(async move {
                    client(stream, jobs, events).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(async move {
                    let r = Response::error(None, "busy", "too many control clients".into(), None);
                    let mut stream = stream;
                    let _ = stream.write_all(r.encode().as_bytes()).await;
                });
            }
        }
    }
}

async fn client(
    mut stream: UnixStream,
    jobs: mpsc::Sender<Job>,
    events: broadcast::Sender<Arc<str>>,
) {
    let mut lines = Lines::new(MAX_LINE);
    loop {
        // Answer every whole line already buffered.
        loop {
            let line = match lines.next_line() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(_) => {
                    let r = Response::error(
                        None,
                        "line_too_long",
                        format!("a line is at most {MAX_LINE} bytes"),
                        None,
                    );
                    let _ = stream.write_all(r.encode().as_bytes()).await;
                    return;
                }
            };
            let request = parse_request(line);
            if let Ok(Request {
                command: Command::Watch,
                id,
                ..
            }) = request
            {
                // Subscribed before the status is read, so no change falls between the two.
                let subscription = events.subscribe();
                let response = ask(Request::new(Command::Watch, id), &jobs).await;
                if stream.write_all(response.encode().as_bytes()).await.is_ok() {
                    watch(stream, subscription).await;
                }
                return;
            }
            let response = match request {
                Ok(r) => ask(r, &jobs).await,
                Err((e, id)) => Response::error(id, e.code(), e.message(), None),
            };
            if stream
                .write_all(response.encode().as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read(lines.spare())).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => lines.filled(n),
        }
    }
}

/// Hands a command to the main loop and waits for its answer.
pub async fn ask(request: Request, jobs: &mpsc::Sender<Job>) -> Response {
    let (tx, rx) = oneshot::channel();
    let id = request.id.clone();
    let job = Job { request, reply: tx };
    if jobs.send(job).await.is_err() {
        return Response::error(id, "shutting_down", "the agent is stopping".into(), None);
    }
    match rx.await {
        Ok(mut response) => {
            response.id = id;
            response
        }
        Err(_) => Response::error(id, "shutting_down", "the agent is stopping".into(), None),
    }
}

/// Sends every event to a subscriber until it goes away, falls [`SUBSCRIBER_QUEUE`] events
/// behind or stalls for [`SUBSCRIBER_STALL`]. The main loop never waits for it: events wait in
/// the broadcast ring, which overwrites what a slow subscriber has not taken.
async fn watch(mut stream: UnixStream, mut events: broadcast::Receiver<Arc<str>>) {
    let mut scratch = [0u8; 256];
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(line) => {
                    let sent = tokio::time::timeout(SUBSCRIBER_STALL, stream.write_all(line.as_bytes())).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        log::info!("event subscriber dropped: it stopped reading");
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    log::info!("event subscriber dropped: {n} events behind");
                    let last = dropped_line(&format!("the subscriber fell more than {SUBSCRIBER_QUEUE} events behind"));
                    let _ = tokio::time::timeout(Duration::from_millis(100), stream.write_all(last.as_bytes())).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            // Whatever a subscriber sends is ignored; its end closes the subscription.
            r = stream.read(&mut scratch) => if matches!(r, Ok(0) | Err(_)) { return },
        }
    }
}
