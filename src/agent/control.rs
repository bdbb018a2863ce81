//! The control socket: a Unix stream socket speaking JSON lines (`docs/control-protocol.md`).
//! Each connection is a task that frames and parses lines and hands commands to the agent's
//! main loop, which owns all state.

use crate::core::control::{parse_request, CallInfo, Command, Response, MAX_LINE};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Clients connected at once; more are answered `busy` and closed.
pub const MAX_CLIENTS: usize = 8;
/// A client silent this long is disconnected.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Commands waiting for the main loop.
pub const QUEUE: usize = 16;

/// A command for the main loop and where to send its answer.
pub type Job = (Command, Option<CallInfo>, oneshot::Sender<Response>);

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

/// Accepts clients for ever.
pub async fn serve(listener: UnixListener, jobs: mpsc::Sender<Job>) {
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
                tokio::spawn(async move {
                    client(stream, jobs).await;
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

async fn client(mut stream: UnixStream, jobs: mpsc::Sender<Job>) {
    let mut buf = vec![0u8; MAX_LINE];
    let mut len = 0;
    loop {
        // Answer every whole line already buffered.
        while let Some(nl) = buf[..len].iter().position(|&b| b == b'\n') {
            let line = trim_cr(&buf[..nl]);
            let response = answer(line, &jobs).await;
            if stream
                .write_all(response.encode().as_bytes())
                .await
                .is_err()
            {
                return;
            }
            buf.copy_within(nl + 1..len, 0);
            len -= nl + 1;
        }
        if len == MAX_LINE {
            let r = Response::error(
                None,
                "line_too_long",
                format!("a line is at most {MAX_LINE} bytes"),
                None,
            );
            let _ = stream.write_all(r.encode().as_bytes()).await;
            return;
        }
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read(&mut buf[len..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => len += n,
        }
    }
}

async fn answer(line: &[u8], jobs: &mpsc::Sender<Job>) -> Response {
    let request = match parse_request(line) {
        Ok(r) => r,
        Err((e, id)) => return Response::error(id, e.code(), e.message(), None),
    };
    let (tx, rx) = oneshot::channel();
    if jobs
        .send((request.command, request.call, tx))
        .await
        .is_err()
    {
        return Response::error(
            request.id,
            "shutting_down",
            "the agent is stopping".into(),
            None,
        );
    }
    match rx.await {
        Ok(mut response) => {
            response.id = request.id;
            response
        }
        Err(_) => Response::error(
            request.id,
            "shutting_down",
            "the agent is stopping".into(),
            None,
        ),
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}
