//! The listener's I/O: connections accepted up to [`MAX_CONNECTIONS`] at once, one request read
//! from each within its time limits, its answer written (a download block by block, read on the
//! reader [`Pool`] with one block in flight), then the connection closed. The HTTP itself is
//! [`super::wire`]'s.

use super::message::{Answer, AnswerBody, Request};
use super::wire::{self, Fault, Head, MAX_HEAD};
use crate::agent::control_socket::Job;
use crate::agent::web::api::{self, Web};
use callrec_platform::download::guard::StallGuard;
use callrec_platform::download::pool::Pool;
use callrec_platform::download::source::Source;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;

/// Connections served at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 16;
/// A client must send its request line and headers within this (else the connection is
/// closed without an answer).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body must arrive within this, once the head is in (else 408).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that takes nothing of an answer for this long is dropped (a download goes on as
/// long as the client reads).
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// After an answer to a request refused unread, what the client still sends is read and
/// dropped for at most this long, and at most [`LINGER_BYTES`]: closing with unread bytes
/// would reset the connection, and the client could lose the answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// Serves `listener` until the runtime stops: an action URL's command is handed to the main
/// loop on `jobs`, every other path is answered by `web`, the settings page.
pub async fn serve(listener: TcpListener, jobs: mpsc::Sender<Job>, web: Arc<Web>) {
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log::warn!("http accept: {e}");
                // EMFILE and the like: give the system a moment rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(place) = places.clone().try_acquire_owned() else {
            log::debug!("http {peer}: {MAX_CONNECTIONS} connections already; closed");
            drop(stream);
            continue;
        };
        let jobs = jobs.clone();
        let web = web.clone();
        tokio::spawn(async move {
            connection(stream, peer, &jobs, &web).await;
            drop(place);
        });
    }
}

/// One connection: one request, its answer, the close.
async fn connection(stream: TcpStream, peer: SocketAddr, jobs: &mpsc::Sender<Job>, web: &Web) {
    // The answer goes out as it is written; nothing waits for a later write.
    let _ = stream.set_nodelay(true);
    let mut io = StallGuard::new(stream, WRITE_STALL_TIMEOUT);
    let read = read_request(&mut io, peer, HEADER_READ_TIMEOUT, BODY_READ_TIMEOUT);
    let (answer, head_only, unread) = match read.await {
        Ok(req) => {
            let head_only = req.method == "HEAD";
            (super::answer(&req, jobs, web).await, head_only, false)
        }
        Err(Early::Close) => return,
        Err(Early::Refuse { fault, head_only }) => {
            log::debug!("http {peer}: {}", fault.status());
            (refusal(fault), head_only, true)
        }
    };
    if let Err(e) = write_answer(&mut io, answer, head_only, web.pool()).await {
        log::debug!("http {peer}: {e}");
        return;
    }
    close(&mut io, unread).await;
}

/// A request that is not to be answered by a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Early {
    /// Close without an answer: the client went away, or sent no head in time.
    Close,
    /// Answer with the fault's error (`head_only`: the request was a HEAD).
    Refuse { fault: Fault, head_only: bool },
}

/// The error answer for `fault`, as the settings page's errors look.
pub fn refusal(fault: Fault) -> Answer {
    api::error(fault.status(), fault.code(), fault.message())
}

/// Reads one request from `io`: its head within `head_limit` ([`HEADER_READ_TIMEOUT`]), its
/// body (as long as `Content-Length` says, at most [`wire::MAX_BODY`]) within `body_limit`
/// ([`BODY_READ_TIMEOUT`]). A client that sent `Expect: 100-continue` is told to go on first.
pub async fn read_request<S>(
    io: &mut S,
    peer: SocketAddr,
    head_limit: Duration,
    body_limit: Duration,
) -> Result<Request, Early>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    let head = match timeout(head_limit, read_head(io, &mut buf, &mut filled)).await {
        Ok(head) => head?,
        Err(_) => {
            log::debug!("http {peer}: no request in time");
            return Err(Early::Close);
        }
    };
    let head_only = head.method == "HEAD";
    let len =
        wire::body_length(&head.headers).map_err(|fault| Early::Refuse { fault, head_only })?;
    // What came with the head; a client that sent more than its body gets no say.
    let mut body = buf[head.len..filled].to_vec();
    body.truncate(len);
    if body.len() < len {
        let expects = head.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("expect") && v.eq_ignore_ascii_case(b"100-continue")
        });
        if expects {
            io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| Early::Close)?;
        }
        match timeout(body_limit, read_body(io, &mut body, len)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Early::Close),
            Err(_) => {
                let fault = Fault::TooSlow;
                return Err(Early::Refuse { fault, head_only });
            }
        }
    }
    let Head {
        method,
        target,
        headers,
        ..
    } = head;
    Ok(Request {
        method,
        target,
        headers,
        body,
        peer,
    })
}

/// Reads into `buf` until it holds a whole head.
async fn read_head<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut [u8],
    filled: &mut usize,
) -> Result<Head, Early> {
    loop {
        if *filled == buf.len() {
            // `parse_head` said so already for a full buffer; this keeps the read below from
            // being given no room.
            let fault = Fault::HeadTooLarge;
            return Err(Early::Refuse {
                fault,
                head_only: false,
            });
        }
        let n = io
            .read(&mut buf[*filled..])
            .await
            .map_err(|_| Early::Close)?;
        if n == 0 {
            // Gone before a whole head (a browser's spare connection, mostly).
            return Err(Early::Close);
        }
        *filled += n;
        match wire::parse_head(&buf[..*filled]) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) => {}
            Err(fault) => {
                return Err(Early::Refuse {
                    fault,
                    head_only: false,
                })
            }
        }
    }
}

/// Reads until `body` holds `len` bytes.
async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    body: &mut Vec<u8>,
    len: usize,
) -> io::Result<()> {
    let mut chunk = [0u8; 2048];
    while body.len() < len {
        let want = chunk.len().min(len - body.len());
        let n = io.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// Writes `answer` to `io`: its head (with `Content-Length`, `Connection: close` and `Date`),
/// then its body unless `head_only` (a HEAD request: the GET's headers, nothing read for the
/// body). A stream is read on `pool`, one block in flight; a source that fails, or gives more
/// or less than announced, cuts the answer short (an error: the client sees the connection end
/// early).
pub async fn write_answer<S: AsyncWrite + Unpin>(
    io: &mut S,
    answer: Answer,
    head_only: bool,
    pool: &Pool,
) -> io::Result<()> {
    let Answer {
        status,
        headers,
        body,
    } = answer;
    let has_body = wire::has_body(status);
    let length = has_body.then(|| body.len());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = wire::encode_head(status, &headers, length, &wire::http_date(now));
    match body {
        _ if head_only || !has_body => io.write_all(&out).await?,
        AnswerBody::Empty => io.write_all(&out).await?,
        AnswerBody::Bytes(bytes) => {
            out.extend_from_slice(&bytes);
            io.write_all(&out).await?;
        }
        AnswerBody::Stream { source, len } => {
            io.write_all(&out).await?;
            stream(io, source, len, pool).await?;
        }
    }
    io.flush().await
}

/// `len` bytes of `source` to `io`, each block read on `pool` while nothing else is.
async fn stream<S: AsyncWrite + Unpin>(
    io: &mut S,
    mut source: Source,
    len: u64,
    pool: &Pool,
) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let job = pool
            .submit(move || {
                let block = source.next_block();
                (source, block)
            })
            .map_err(|_| io::Error::other("reader queue full"))?;
        let (back, block) = job
            .await
            .map_err(|_| io::Error::other("a reader job failed"))?;
        source = back;
        let Some(block) = block? else {
            return Err(io::Error::other("source shorter than announced"));
        };
        let n = block.len() as u64;
        if n > left {
            return Err(io::Error::other("source longer than announced"));
        }
        left -= n;
        io.write_all(&block).await?;
    }
    Ok(())
}

/// Ends the connection: the answer is complete. `unread`: the request was refused before all
/// of it was read, so what the client still sends is drained for a moment first.
async fn close<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, unread: bool) {
    let _ = io.shutdown().await;
    if !unread {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 2048];
        let mut total = 0;
        while total < LINGER_BYTES {
            match io.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    };
    let _ = timeout(LINGER, drain).await;
}
