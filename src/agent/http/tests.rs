//! The action URLs' routing, the listener over real sockets (action URLs, a page, the
//! connection limit, requests refused before any handler: head and body limits, transfer
//! codings, slow clients) and the connection's reading and writing against in-memory streams
//! with the clock paused.

use super::conn::{read_request, refusal, write_answer, Early};
use super::wire::Fault;
use super::*;
use callrec_core::control_protocol::{CallEvent, Key, Status};
use callrec_platform::download::guard::StallGuard;
use callrec_platform::download::pool::Pool;
use callrec_platform::download::source::{FileBlocks, Source};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// The settings page's state, for tests that only use the action URLs.
fn test_web() -> Arc<Web> {
    let pool = callrec_platform::download::pool::Pool::new(1, 4).unwrap();
    let file = std::env::temp_dir().join(format!("callrec-http-test-{}.json", std::process::id()));
    Arc::new(Web::new(
        file,
        pool,
        callrec_platform::clock::SystemClock::new(),
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
        Outcome::Command(Command::Key(Key::Record))
    );
    let v6: IpAddr = "::1".parse().unwrap();
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    for peer in [v6, mapped, "127.1.2.3".parse().unwrap()] {
        match route("HEAD", "/action/call/ended?id=c1&remote=1002", peer) {
            Outcome::Command(Command::Call {
                event: CallEvent::Ended,
                call,
            }) => {
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
    let ok = Reply::ok(None, Status::default());
    assert_eq!(status_of(&ok), 200);
    let refused = Reply::error(None, "no_call", "no call is up".into(), None);
    assert_eq!(status_of(&refused), 409);
    let stopping = Reply::error(None, "shutting_down", "stopping".into(), None);
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
            let answer = match request.command {
                Command::Key(_) => Reply::error(None, "no_call", "no call is up".into(), None),
                Command::Call { call, .. } => {
                    assert_eq!(call.remote_name, "Bob Smith");
                    Reply::ok(None, Status::default())
                }
                other => panic!("{other:?}"),
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

/// A listener with no main loop behind it (the page's refusals need none).
async fn listener() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel::<Job>(4);
    // The main loop is gone: anything handed to it is answered `shutting_down`.
    drop(rx);
    tokio::spawn(serve(listener, tx, test_web()));
    addr
}

/// The status and the `code` of a JSON error answer.
fn error_of(r: &str) -> (u16, String) {
    let status = r
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an answer: {r:?}"));
    let body = r.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn heads_past_the_limits_are_431_and_malformed_ones_400() {
    let addr = listener().await;
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(MAX_HEAD));
    let r = get(addr, &long).await;
    assert_eq!(error_of(&r), (431, "head_too_large".into()), "{r}");
    assert!(r.contains("content-security-policy: "), "{r}");
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..=MAX_HEADERS {
        many.push_str(&format!("X-{i}: y\r\n"));
    }
    let r = get(addr, &format!("{many}\r\n")).await;
    assert_eq!(error_of(&r), (431, "head_too_large".into()), "{r}");
    let r = get(addr, "GET / HTTP/1.1\r\nNo colon here\r\n\r\n").await;
    assert_eq!(error_of(&r), (400, "bad_request".into()), "{r}");
    let r = get(addr, "GET / HTTP/2.0\r\n\r\n").await;
    assert_eq!(error_of(&r), (505, "http_version".into()), "{r}");
    // Nothing at all, or half a head and gone: closed without an answer.
    assert_eq!(get(addr, "").await, "");
    assert_eq!(get(addr, "GET / HT").await, "");
}

#[tokio::test]
async fn bodies_need_a_content_length_within_the_limit() {
    let addr = listener().await;
    // Refused from its head; the body that follows is read and dropped, so the answer arrives.
    let body = "x".repeat(MAX_BODY + 1);
    let r = get(
        addr,
        &format!(
            "POST /api/login HTTP/1.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(error_of(&r), (413, "too_long".into()), "{r}");
    let chunked =
        "POST /api/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    assert_eq!(
        error_of(&get(addr, chunked).await),
        (411, "length_required".into())
    );
    let gzip = "POST /api/login HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(
        error_of(&get(addr, gzip).await),
        (501, "not_implemented".into())
    );
    let r = get(addr, "PUT / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nab").await;
    assert_eq!(error_of(&r), (400, "bad_request".into()), "{r}");
    // No Content-Length: no body, at once.
    let r = get(
        addr,
        "POST /api/login HTTP/1.1\r\nContent-Type: application/json\r\n\r\n",
    )
    .await;
    assert_eq!(error_of(&r), (400, "bad_json".into()), "{r}");
}

#[tokio::test]
async fn a_client_that_expects_100_continue_is_told_to_go_on() {
    let addr = listener().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"PUT /api/settings HTTP/1.1\r\nContent-Type: application/json\r\n\
          Expect: 100-continue\r\nContent-Length: 2\r\n\r\n",
    )
    .await
    .unwrap();
    let mut go_on = [0u8; 25];
    s.read_exact(&mut go_on).await.unwrap();
    assert_eq!(&go_on, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"{}").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert_eq!(error_of(&out), (401, "login_required".into()), "{out}");
}

#[tokio::test]
async fn head_answers_with_the_headers_of_get_and_no_body() {
    let addr = listener().await;
    let login = crate::agent::web::assets::get("/login").unwrap().gzip;
    let r = get(
        addr,
        "HEAD http://phone/login HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains(&format!("\r\ncontent-length: {}\r\n", login.len())),
        "{r}"
    );
    assert!(r.contains("\r\ncontent-encoding: gzip\r\n"), "{r}");
    assert!(r.contains("\r\nconnection: close\r\n"), "{r}");
    assert!(r.contains("\r\ndate: "), "{r}");
    assert!(r.ends_with("\r\n\r\n"), "{r}");
    let r = get(addr, "GET /favicon.ico HTTP/1.0\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 204 No Content\r\n"), "{r}");
    assert!(!r.contains("content-length"), "{r}");
}

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

const SHORT: Duration = Duration::from_millis(50);

#[tokio::test]
async fn a_request_is_read_whole_within_its_time_limits() {
    // The body in pieces; what follows it is not the request's.
    let (mut client, mut server) = tokio::io::duplex(64);
    let reader = tokio::spawn(async move {
        read_request(
            &mut server,
            peer(),
            Duration::from_secs(5),
            Duration::from_secs(5),
        )
        .await
    });
    client
        .write_all(b"POST /api/x?y=1 HTTP/1.1\r\nX-A: 1\r\nContent-Length: 10\r\n\r\n0123")
        .await
        .unwrap();
    client.write_all(b"456789extra").await.unwrap();
    let req = reader.await.unwrap().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path(), req.query()),
        ("POST", "/api/x", Some("y=1"))
    );
    assert_eq!(req.header("x-a"), Some("1"));
    assert_eq!(req.body, b"0123456789");
    assert_eq!(req.peer, peer());

    // A head that never ends: closed without an answer.
    let (mut client, mut server) = tokio::io::duplex(64);
    client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let r = read_request(&mut server, peer(), SHORT, SHORT).await;
    assert_eq!(r, Err(Early::Close));
    // A body that never ends: 408.
    let (mut client, mut server) = tokio::io::duplex(64);
    client
        .write_all(b"HEAD / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        .await
        .unwrap();
    let r = read_request(&mut server, peer(), SHORT, SHORT).await;
    let fault = Fault::TooSlow;
    assert_eq!(
        r,
        Err(Early::Refuse {
            fault,
            head_only: true
        })
    );
    assert_eq!(refusal(fault).status, 408);
    // A client gone mid-body.
    let (mut client, mut server) = tokio::io::duplex(64);
    client
        .write_all(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        .await
        .unwrap();
    drop(client);
    let r = read_request(&mut server, peer(), SHORT, SHORT).await;
    assert_eq!(r, Err(Early::Close));
}

/// Everything `write_answer` wrote, split at the end of the head.
async fn written(answer: Answer, head_only: bool, pool: &Pool) -> (String, Vec<u8>, bool) {
    let (mut client, mut server) = tokio::io::duplex(4096);
    let pool = pool.clone();
    let writer = tokio::spawn(async move {
        let r = write_answer(&mut server, answer, head_only, &pool).await;
        r.is_ok()
    });
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.unwrap();
    let ok = writer.await.unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8(all[..split].to_vec()).unwrap();
    (head, all[split..].to_vec(), ok)
}

#[tokio::test]
async fn a_stream_is_sent_block_by_block_as_announced_or_cut() {
    let dir = std::env::temp_dir().join(format!("callrec-http-stream-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let pool = Pool::new(1, 4).unwrap();
    let stream = |start: u64, len: u64, announced: u64| {
        let file = std::fs::File::open(&path).unwrap();
        let source = Source::File(FileBlocks::new(file, start, len).unwrap());
        let mut a = Answer::new(
            206,
            AnswerBody::Stream {
                source,
                len: announced,
            },
        );
        a.set("content-type", "audio/wav");
        a
    };
    let (head, body, ok) = written(stream(0, 40_000, 40_000), false, &pool).await;
    assert!(ok);
    assert!(
        head.starts_with(
            "HTTP/1.1 206 Partial Content\r\ncontent-type: audio/wav\r\n\
                              content-length: 40000\r\nconnection: close\r\ndate: "
        ),
        "{head}"
    );
    assert!(body == data);
    // HEAD: the same head, nothing read or sent.
    let (head_only, body, ok) = written(stream(0, 40_000, 40_000), true, &pool).await;
    assert!(ok && body.is_empty());
    assert_eq!(head_only.split("date:").next(), head.split("date:").next());
    // A source shorter than announced: what it had, then the end of the connection.
    let (_, body, ok) = written(stream(100, 30, 31), false, &pool).await;
    assert!(!ok);
    assert_eq!(body, data[100..130]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    let (_client, server) = tokio::io::duplex(1024);
    let mut io = StallGuard::new(server, SHORT);
    let big = AnswerBody::Bytes(vec![b'x'; 100_000].into());
    let pool = Pool::new(1, 1).unwrap();
    let e = write_answer(&mut io, Answer::new(200, big), false, &pool)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
}
