//! The agent's HTTP listener on the board's `http` address: the action URLs (call events and
//! key presses from the phone, `docs/integration.md`) and the settings page (`super::web`,
//! `docs/web-api.md`).
//!
//! - [`route`] decides, without I/O, what an action URL gets from its method, target and peer:
//!   a command for the main loop or an answer at once. Every other path is the page's.
//! - [`serve`] is the driver: it accepts at most [`MAX_CONNECTIONS`] connections at once (one
//!   more is closed at once), runs hyper on each (one request per connection, headers within
//!   [`HEADER_READ_TIMEOUT`], a client that stops reading dropped after
//!   [`WRITE_STALL_TIMEOUT`]), hands commands to the main loop as a control-socket [`Job`] and
//!   answers with the same JSON response line.

use super::control::Job;
use super::web::api::Web;
use crate::core::action_url::{self, ActionError};
use crate::core::control::{CallInfo, Command, Response as Answer};
use crate::download::body::Body;
use crate::download::guard::StallGuard;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Connections served at once; one more is closed as soon as it is accepted.
pub const MAX_CONNECTIONS: usize = 16;
/// A client must send its request line and headers within this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that takes nothing of an answer for this long is dropped (a download goes on as
/// long as the client reads).
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Request line and headers, in bytes (an action URL is at most 4 KiB); past this hyper
/// answers 431.
pub const MAX_HEADER_SIZE: usize = 8 * 1024;
/// Header fields in one request.
pub const MAX_HEADERS: usize = 32;
/// hyper's read and write buffers, per connection (hyper's minimum).
const MAX_BUF: usize = 8 * 1024;
/// What `Allow` says on a 405.
const ALLOWED: &str = "GET, HEAD";

/// The parts of the site, by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    /// `/action/…`: call events and key presses, from loopback peers only.
    Action,
}

impl Area {
    fn of(path: &str) -> Option<Area> {
        if path == "/action" || path.starts_with(action_url::PREFIX) {
            return Some(Area::Action);
        }
        None
    }
}

/// What a request gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Hand this to the main loop and answer with its response.
    Command(Command, Option<CallInfo>),
    /// Answer at once.
    Refuse(Refusal),
}

/// An answer that needs no main loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 403, 404 or 405 (with `Allow: GET, HEAD`).
    pub status: u16,
    /// The `code` of the response line's error.
    pub code: &'static str,
    pub message: String,
}

fn refuse(status: u16, code: &'static str, message: &str) -> Outcome {
    Outcome::Refuse(Refusal {
        status,
        code,
        message: message.into(),
    })
}

impl From<ActionError> for Refusal {
    fn from(e: ActionError) -> Refusal {
        Refusal {
            status: e.status(),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// What a request with `method` for `target` (the path and query, as the request line carries
/// them) from `peer` gets. In order: a path of no area is 404; an action URL from a peer other
/// than loopback is 403; a method other than GET or HEAD is 405; then the action URL's own
/// answer (404 for no such action, 400 for a bad value, else the command).
pub fn route(method: &str, target: &str, peer: IpAddr) -> Outcome {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match Area::of(path) {
        None => refuse(404, "not_found", "no such page"),
        Some(Area::Action) => {
            if !peer.to_canonical().is_loopback() {
                return refuse(403, "forbidden", "action URLs are for loopback peers only");
            }
            if method != "GET" && method != "HEAD" {
                return refuse(405, "method_not_allowed", "only GET and HEAD");
            }
            match action_url::parse(target) {
                Ok((command, call)) => Outcome::Command(command, call),
                Err(e) => Outcome::Refuse(e.into()),
            }
        }
    }
}

/// The HTTP status of the main loop's answer: 200 when done, 503 when the agent is stopping,
/// 409 when refused.
pub fn status_of(answer: &Answer) -> u16 {
    match &answer.error {
        _ if answer.ok => 200,
        Some(e) if e.code == "shutting_down" => 503,
        _ => 409,
    }
}

/// Serves `listener` until the runtime stops, handing commands to the main loop on `jobs`;
/// `web` answers everything but the action URLs (the settings page).
pub async fn serve(listener: TcpListener, jobs: mpsc::Sender<Job>, web: Arc<Web>) {
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .max_header_size(MAX_HEADER_SIZE)
        .max_headers(MAX_HEADERS)
        .max_buf_size(MAX_BUF);
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
        let service = service_fn(move |req| {
            let jobs = jobs.clone();
            let web = web.clone();
            async move { Ok::<_, Infallible>(answer(req, peer, &jobs, &web).await) }
        });
        let io = TokioIo::new(StallGuard::new(stream, WRITE_STALL_TIMEOUT));
        let conn = http.serve_connection(io, service);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                log::debug!("http {peer}: {e}");
            }
            drop(place);
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    peer: SocketAddr,
    jobs: &mpsc::Sender<Job>,
    web: &Web,
) -> Response<Body> {
    if Area::of(req.uri().path()).is_none() {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let r = super::web::api::handle(web, jobs, req).await;
        log::debug!("http {peer} {method} {path}: {}", r.status().as_u16());
        return r;
    }
    let target = req.uri().path_and_query().map_or("", |p| p.as_str());
    let (status, answer) = match route(req.method().as_str(), target, peer.ip()) {
        Outcome::Command(command, call) => ask(jobs, command, call).await,
        Outcome::Refuse(r) => (r.status, Answer::error(None, r.code, r.message, None)),
    };
    // The query may hold phone numbers and names: personal data, so the path only.
    log::debug!(
        "http {peer} {} {}: {status}",
        req.method(),
        req.uri().path()
    );
    let body = Bytes::from(answer.encode());
    let len = body.len();
    let body = if req.method() == Method::HEAD {
        Bytes::new()
    } else {
        body
    };
    let mut resp = Response::new(Body::full(body));
    // Every status made here is a valid one (200 to 503).
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if status == 405 {
        headers.insert(header::ALLOW, HeaderValue::from_static(ALLOWED));
    }
    resp
}

/// Hands a command to the main loop and waits for its answer, as a control client does.
async fn ask(jobs: &mpsc::Sender<Job>, command: Command, call: Option<CallInfo>) -> (u16, Answer) {
    let stopping = || {
        let answer = Answer::error(None, "shutting_down", "the agent is stopping".into(), None);
        (503, answer)
    };
    let (tx, rx) = oneshot::channel();
    let job = Job {
        request: crate::core::control::Request {
            call,
            ..crate::core::control::Request::new(command, None)
        },
        reply: tx,
    };
    if jobs.send(job).await.is_err() {
        return stopping();
    }
    match rx.await {
        Ok(answer) => (status_of(&answer), answer),
        Err(_) => stopping(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::control::{CallEvent, Key, Status};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// The settings page's state, for tests that only use the action URLs.
    fn test_web() -> Arc<Web> {
        let pool = crate::download::pool::Pool::new(1, 4).unwrap();
        let file =
            std::env::temp_dir().join(format!("callrec-http-test-{}.json", std::process::id()));
        Arc::new(Web::new(
            file,
            pool,
            crate::platform::clock::SystemClock::new(),
        ))
    }

    fn refused(method: &str, target: &str, peer: IpAddr) -> (u16, &'static str) {
        match route(method, target, peer) {
            Outcome::Refuse(r) => (r.status, r.code),
            other => panic!("{method} {target}: {other:?}"),
        }
    }

    #[test]
    fn routes_action_urls_from_loopback() {
        assert_eq!(
            route("GET", "/action/key/record", LOOPBACK),
            Outcome::Command(Command::Key(Key::Record), None)
        );
        let v6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        for peer in [v6, mapped, "127.1.2.3".parse().unwrap()] {
            match route("HEAD", "/action/call/ended?id=c1&remote=1002", peer) {
                Outcome::Command(Command::Call(CallEvent::Ended), Some(call)) => {
                    assert_eq!(call.id.as_deref(), Some("c1"));
                    assert_eq!(call.remote_number, "1002");
                }
                other => panic!("{peer}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_with_the_right_status() {
        let lan: IpAddr = "192.168.1.20".parse().unwrap();
        let mapped_lan: IpAddr = "::ffff:192.168.1.20".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let cases: &[(&str, &str, IpAddr, u16, &str)] = &[
            ("GET", "/", LOOPBACK, 404, "not_found"),
            ("GET", "/actions/key/record", LOOPBACK, 404, "not_found"),
            ("GET", "/action/key/record", lan, 403, "forbidden"),
            ("GET", "/action/key/record", mapped_lan, 403, "forbidden"),
            ("GET", "/action/key/record", any, 403, "forbidden"),
            ("GET", "/action/nothing", lan, 403, "forbidden"),
            (
                "POST",
                "/action/key/record",
                LOOPBACK,
                405,
                "method_not_allowed",
            ),
            (
                "PUT",
                "/action/nothing",
                LOOPBACK,
                405,
                "method_not_allowed",
            ),
            ("POST", "/elsewhere", LOOPBACK, 404, "not_found"),
            ("GET", "/action", LOOPBACK, 404, "not_found"),
            ("GET", "/action/nothing", LOOPBACK, 404, "not_found"),
            ("GET", "/action/key/mute", LOOPBACK, 400, "bad_key"),
            ("GET", "/action/call/rang?id=1", LOOPBACK, 400, "bad_event"),
            ("GET", "/action/call/ended", LOOPBACK, 400, "bad_call"),
            (
                "GET",
                "/action/call/ended?id=1&tap_port=0",
                LOOPBACK,
                400,
                "bad_call",
            ),
            ("GET", "", LOOPBACK, 404, "not_found"),
        ];
        for (method, target, peer, status, code) in cases {
            assert_eq!(
                refused(method, target, *peer),
                (*status, *code),
                "{method} {target} from {peer}"
            );
        }
        match route("GET", "/action/call/ended?id=1&remote=%zz", LOOPBACK) {
            Outcome::Refuse(r) => assert!(r.message.starts_with("remote: "), "{}", r.message),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_map_to_statuses() {
        let ok = Answer::ok(None, Status::default());
        assert_eq!(status_of(&ok), 200);
        let refused = Answer::error(None, "no_call", "no call is up".into(), None);
        assert_eq!(status_of(&refused), 409);
        let stopping = Answer::error(None, "shutting_down", "stopping".into(), None);
        assert_eq!(status_of(&stopping), 503);
    }

    /// One request over a real socket; the answer's status line, headers and body.
    async fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// The shell against a stand-in for the main loop: a key press is refused `no_call`, a call
    /// event is done, and then the loop goes away.
    #[tokio::test]
    async fn serves_jobs_and_refusals_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<Job>(4);
        tokio::spawn(serve(listener, tx, test_web()));
        let main_loop = tokio::spawn(async move {
            for _ in 0..2 {
                let Job { request, reply } = rx.recv().await.unwrap();
                let (command, call) = (request.command, request.call);
                let answer = match command {
                    Command::Key(_) => Answer::error(None, "no_call", "no call is up".into(), None),
                    _ => {
                        assert_eq!(call.unwrap().remote_name, "Bob Smith");
                        Answer::ok(None, Status::default())
                    }
                };
                reply.send(answer).unwrap();
            }
            // Dropping `rx` here: the agent is stopping.
        });

        let r = get(addr, "GET /action/key/record HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 409 "), "{r}");
        assert!(r.contains("content-type: application/json\r\n"), "{r}");
        assert!(
            r.ends_with("\"code\":\"no_call\",\"message\":\"no call is up\"}}\n"),
            "{r}"
        );
        let r = get(
            addr,
            "GET /action/call/answered?id=c1&remote_name=Bob+Smith HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .await;
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        assert!(r.contains("\"ok\":true"), "{r}");
        main_loop.await.unwrap();
        let r = get(addr, "GET /action/key/pause HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        assert!(r.contains("shutting_down"), "{r}");

        let r = get(addr, "POST /action/key/pause HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
        assert!(r.contains("allow: GET, HEAD\r\n"), "{r}");
        let r = get(addr, "GET /action/key/nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        assert!(r.contains("key: must be record or pause"), "{r}");
        let r = get(addr, "HEAD /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        assert!(r.ends_with("\r\n\r\n"), "HEAD has no body: {r}");
    }

    #[tokio::test]
    async fn closes_connections_past_the_limit_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, _rx) = mpsc::channel::<Job>(4);
        tokio::spawn(serve(listener, tx, test_web()));
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        // Accepted in order: the one past the limit is closed without an answer.
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 64];
        let n = extra.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
        // The held ones are still served.
        let s = &mut held[0];
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(
            out.starts_with("HTTP/1.1 303 "),
            "the settings page sends to its login: {out}"
        );
    }
}
