//! The record server's media rules against the real `callrec-server`, with real RTP over
//! loopback: a session is latched to the phone's source (a stranger on the phone's own address
//! is never recorded), a freed port is not handed out while a stale sender still sends to it,
//! a flood keeps the recording's true length and is counted, and sessions with no RTP end
//! (unknown lines keep nothing alive).
//!
//! The waits here are bounded retries for what the server does on its own time (a port's rest,
//! a timeout); nothing asserts how fast anything is.

mod common;
use common::server::{get, Server};
use common::{data_of, info, Sender, TempDir};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a freed port rests at least (`server/src/ports.rs`, `QUIET`).
const QUIET: Duration = Duration::from_secs(5);
/// How far past the lead the phone's backlog gave it a recording may run ahead of the wall clock
/// after the opening burst (`core/src/timeline.rs`, `LEAD_JITTER_MS`).
const LEAD_JITTER_MS: u64 = 200;

fn start_line(id: &str) -> String {
    format!(
        "cmd=RecordStartRequest&id={id}&device=00:15:65:AA:BB:CC&remote_number=1002\
         &local_number=1001&dir=in&codec=PCMA\n"
    )
}

fn stop_line(id: &str) -> String {
    format!("cmd=RecordStopRequest&id={id}&reason=done\n")
}

/// Starts session `id`; its RTP port, or the `failed` answer's reason.
fn start(c: &mut common::server::Conn, id: &str) -> Result<u16, String> {
    c.send(start_line(id).as_bytes());
    let l = c.line();
    match get(&l, "result") {
        Some("success") => Ok(get(&l, "port").unwrap().parse().unwrap()),
        _ => Err(get(&l, "reason").unwrap_or(&l).to_owned()),
    }
}

fn stop(c: &mut common::server::Conn, id: &str) {
    c.send(stop_line(id).as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));
}

fn to(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `n` 20 ms PCMA frames of `label` from `s`, numbered from `seq`.
fn send(s: &Sender, seq: u16, n: u16, label: u8) {
    for k in seq..seq + n {
        s.send(k, u32::from(k) * 160, &[label; 160]);
    }
}

fn sidecar(server: &Server, id: &str) -> Value {
    server
        .sidecars()
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no sidecar for {id}"))
}

/// A session's recorded audio bytes (all its files).
fn audio(server: &Server, sc: &Value) -> Vec<u8> {
    sc["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| data_of(&server.day_dir().join(f.as_str().unwrap())))
        .collect()
}

/// Two consecutive UDP ports on loopback that are free now.
fn two_free_ports() -> (u16, u16) {
    let base = 50_000 + (std::process::id() % 500) as u16 * 20;
    for p in (base..base + 2000).step_by(2) {
        let a = UdpSocket::bind(to(p));
        let b = UdpSocket::bind(to(p + 1));
        if a.is_ok() && b.is_ok() {
            return (p, p + 1);
        }
    }
    panic!("no two free ports");
}

#[test]
fn a_stale_sender_never_reaches_the_next_call_and_its_port_rests_while_it_sends() {
    let dir = TempDir::new("media-stale");
    let (a, b) = two_free_ports();
    let range = format!("{a}-{b}");
    let server = Server::start(dir.path(), &["--rtp-ports", &range]);

    // Call 1, then its sender goes on after the stop (a phone whose media engine did not stop).
    let mut c1 = server.connect();
    let p1 = start(&mut c1, "call1").unwrap();
    let old = Sender::new(to(p1));
    send(&old, 0, 50, 1);
    stop(&mut c1, "call1");
    let sending = Arc::new(AtomicBool::new(true));
    let stale = {
        let (socket, sending) = (old.socket.try_clone().unwrap(), sending.clone());
        thread::spawn(move || {
            let s = Sender {
                socket,
                ..Sender::new(to(p1))
            };
            let mut seq = 50;
            while sending.load(Ordering::Relaxed) {
                send(&s, seq, 1, 9);
                seq = seq.wrapping_add(1);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // Call 2 gets the other port and only its own audio.
    let mut c2 = server.connect();
    let p2 = start(&mut c2, "call2").unwrap();
    assert_ne!(p2, p1);
    let phone2 = Sender::new(to(p2));
    send(&phone2, 0, 50, 2);
    stop(&mut c2, "call2");

    // Once call 2's port has rested, a new call gets it again: never the port still hearing
    // the stale sender, however long it has been since call 1 ended.
    let mut c3 = server.connect();
    let p3 = retry(Duration::from_secs(20), || start(&mut c3, "call3").ok());
    assert_eq!(p3, Some(p2));
    // With that one in use, there is no port at all.
    let mut c4 = server.connect();
    assert_eq!(
        start(&mut c4, "call4"),
        Err("no%20free%20RTP%20port".to_owned())
    );

    // The stale sender stops: its port comes back, after resting at least QUIET.
    sending.store(false, Ordering::Relaxed);
    stale.join().unwrap();
    let stopped = Instant::now();
    let p4 = retry(Duration::from_secs(20), || start(&mut c4, "call4").ok());
    assert_eq!(p4, Some(p1));
    assert!(stopped.elapsed() >= QUIET - Duration::from_millis(100));
    let phone4 = Sender::new(to(p1));
    send(&phone4, 0, 50, 4);
    stop(&mut c4, "call4");
    stop(&mut c3, "call3");

    for (id, label) in [("call1", 1), ("call2", 2), ("call4", 4)] {
        let sc = sidecar(&server, id);
        let data = audio(&server, &sc);
        assert_eq!(sc["duration_ms"], 1000, "{id}: {sc}");
        assert!(
            data.iter().all(|&x| x == label),
            "{id} holds another call's audio"
        );
        assert_eq!(sc["stats"]["from_strangers"], 0, "{id}: {sc}");
    }
}

/// Calls `f` every 100 ms until it gives something or `limit` has passed.
fn retry<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(t) = f() {
            return Some(t);
        }
        if Instant::now() > until {
            return None;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_stranger_on_the_phones_own_address_is_never_recorded() {
    let dir = TempDir::new("media-stranger");
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let port = start(&mut c, "s1").unwrap();
    let phone = Sender::new(to(port));
    // Another program on the phone's address: junk before the phone's first packet (which does
    // not take the latch), then RTP with the phone's own SSRC and numbering, and with its own.
    let neighbour = Sender::new(to(port));
    neighbour.raw(b"\x00\x01hello");
    send(&phone, 0, 25, 1);
    send(&neighbour, 25, 20, 9);
    let other_ssrc = Sender {
        ssrc: 0x0BAD_0BAD,
        ..Sender::new(to(port))
    };
    send(&other_ssrc, 0, 10, 9);
    // Another address.
    let far = Sender {
        socket: UdpSocket::bind("127.0.0.2:0").unwrap(),
        ..Sender::new(to(port))
    };
    send(&far, 0, 10, 9);
    send(&phone, 25, 25, 1);
    // The phone's media engine restarts: a new SSRC and numbering from the same source goes on.
    let restarted = Sender {
        socket: phone.socket.try_clone().unwrap(),
        ssrc: 0x5EED_0002,
        ..Sender::new(to(port))
    };
    for k in 0..50u16 {
        restarted.send(7000 + k, 90_000 + u32::from(k) * 160, &[1; 160]);
    }
    stop(&mut c, "s1");

    let sc = sidecar(&server, "s1");
    assert_eq!(sc["stats"]["from_strangers"], 1 + 20 + 10 + 10, "{sc}");
    assert_eq!(sc["stats"]["flood_dropped"], 0, "{sc}");
    let data = audio(&server, &sc);
    assert!(!data.contains(&9), "a stranger's audio was recorded");
    // All the phone's audio, and at most a frame of silence where the new stream was placed.
    assert_eq!(data.iter().filter(|&&x| x == 1).count(), 100 * 160);
    assert!(data.len() <= 101 * 160, "{}", data.len());
}

#[test]
fn a_flood_keeps_the_recordings_true_length_and_is_counted() {
    let dir = TempDir::new("media-flood");
    let server = Server::start(dir.path(), &["--http", "127.0.0.1:0"]);
    let mut c = server.connect();
    let port = start(&mut c, "f1").unwrap();
    let phone = Sender::new(to(port));
    // The phone as the agent sends: 1 s it held while the server answered, at once, then live
    // for 1.5 s.
    let first = Instant::now();
    send(&phone, 0, 50, 1);
    for k in 0..75u16 {
        let due = first + Duration::from_millis(20) * (u32::from(k) + 1);
        thread::sleep(due.saturating_duration_since(Instant::now()));
        send(&phone, 50 + k, 1, 1);
    }
    // Then a flood from it: 4,000 packets of 20 ms numbered one after the other (80 s of audio)
    // in about 4 s, twenty times what a G.711 phone sends.
    for burst in 0..400u16 {
        send(&phone, 125 + burst * 10, 10, 7);
        thread::sleep(Duration::from_millis(10));
    }
    let span_ms = first.elapsed().as_millis() as u64;
    // Another session at the same time records as it should.
    let mut ok = server.connect();
    let port2 = start(&mut ok, "ok1").unwrap();
    send(&Sender::new(to(port2)), 0, 100, 3);
    stop(&mut ok, "ok1");
    stop(&mut c, "f1");

    let sc = sidecar(&server, "f1");
    let d = sc["duration_ms"].as_u64().unwrap();
    // The true length: the backlog's second, then the wall clock from its first packet to the
    // flood's last.
    let true_ms = 1000 + span_ms;
    eprintln!(
        "flood: {d} ms recorded, true length {true_ms} ms, stats {}",
        sc["stats"]
    );
    // Without the limits this is 82,500 ms; with the rate limit alone it was up to the agent's
    // backlog (8,192 ms) longer than the truth. Now at most the jitter allowance, a frame and
    // the sender-clock drift (1 ms a second) past it, and at most a frame short (the server's
    // clock runs from the first packet's arrival to the last one's, within this test's span).
    let most = true_ms + LEAD_JITTER_MS + 20 + span_ms / 1000 + 1;
    assert!(d <= most, "{d} ms recorded, true length {true_ms} ms");
    assert!(
        d + 100 >= true_ms,
        "{d} ms recorded, true length {true_ms} ms"
    );
    let data = audio(&server, &sc);
    assert!(
        data[..125 * 160].iter().all(|&x| x == 1),
        "the call's audio"
    );
    // The flood, and silence where the clock placed a frame after a pause in it.
    assert!(data[125 * 160..].iter().all(|&x| x == 7 || x == 0xD5));
    let stats = &sc["stats"];
    let (received, dropped) = (
        stats["received"].as_u64().unwrap(),
        stats["flood_dropped"].as_u64().unwrap(),
    );
    assert!(received <= 4125 && dropped > received / 2, "{stats}");
    assert_eq!(stats["from_strangers"], 0);
    let file = server.day_dir().join(sc["files"][0].as_str().unwrap());
    assert_eq!(info(&file)["duration_ms"].as_u64(), Some(d));
    let other = sidecar(&server, "ok1");
    assert_eq!(
        (
            other["duration_ms"].as_u64(),
            other["stats"]["flood_dropped"].as_u64()
        ),
        (Some(2000), Some(0))
    );

    // The catalog and the API have the counter too.
    let rows = api_get(server.http.unwrap(), "/api/recordings");
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "f1")
        .unwrap();
    assert_eq!(row["stats"]["flood_dropped"], dropped);
}

/// GET `path` from the web side; the JSON body.
fn api_get(http: SocketAddr, path: &str) -> Value {
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        common::server::token_of(http).unwrap_or_default()
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(
        all.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&all)
    );
    serde_json::from_slice(&all[at + 4..]).unwrap()
}

/// A control connection whose lines are written by a thread while the test waits for its end.
struct Chatter {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    talking: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Chatter {
    /// Starts session `id` on a new connection, then writes `lines` over and over, 100 ms apart.
    fn start(server: &Server, id: &str, lines: &'static [&'static str]) -> (Chatter, u16) {
        let s = TcpStream::connect(server.control).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let writer = s.try_clone().unwrap();
        let mut w = s;
        w.write_all(start_line(id).as_bytes()).unwrap();
        let mut l = String::new();
        reader.read_line(&mut l).unwrap();
        assert_eq!(get(&l, "result"), Some("success"), "{l}");
        let port = get(&l, "port").unwrap().parse().unwrap();
        let talking = Arc::new(AtomicBool::new(true));
        let t = talking.clone();
        let thread = thread::spawn(move || {
            while t.load(Ordering::Relaxed) {
                for line in lines {
                    if w.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        (
            Chatter {
                reader,
                writer,
                talking,
                thread: Some(thread),
            },
            port,
        )
    }

    /// Waits until the server closes the connection; the lines it answered meanwhile.
    fn wait_closed(&mut self) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let mut l = String::new();
            match self.reader.read_line(&mut l) {
                Ok(0) => break,
                Ok(_) => got.push(l),
                // Closed while the thread still wrote: a reset.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("the server did not close the connection: {e}"),
            }
        }
        got
    }

    fn quiet(&mut self) {
        self.talking.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the chatter, sends the session's stop and reads up to its answer.
    fn stop(&mut self, id: &str) -> String {
        self.quiet();
        self.writer.write_all(stop_line(id).as_bytes()).unwrap();
        loop {
            let mut l = String::new();
            assert!(self.reader.read_line(&mut l).unwrap() > 0, "closed");
            if get(&l, "cmd") == Some("RecordStopResponse") && get(&l, "id") == Some(id) {
                return l;
            }
        }
    }
}

impl Drop for Chatter {
    fn drop(&mut self) {
        self.quiet();
    }
}

#[test]
fn sessions_without_rtp_end_as_no_rtp_whatever_lines_they_send() {
    let dir = TempDir::new("media-nortp");
    // Five sessions of one phone at once: more than its address and its device may hold by
    // default.
    let server = Server::start(
        dir.path(),
        &[
            "--no-rtp-timeout",
            "1",
            "--idle-timeout",
            "60",
            "--max-sessions-per-address",
            "8",
            "--max-sessions-per-device",
            "8",
        ],
    );
    // Silent; chatting unknown and malformed lines; chatting known messages (a refused pause,
    // a stop of another id); sent RTP only by a stranger. None has sent RTP.
    let (mut silent, _) = Chatter::start(&server, "n1", &[]);
    let (mut junk, _) = Chatter::start(&server, "n2", &["cmd=Hello&id=n2\n", "garbage\n", "\n"]);
    let (mut known, _) = Chatter::start(
        &server,
        "n3",
        &[
            "cmd=RecordPauseRequest&id=n3\n",
            "cmd=RecordStopRequest&id=x\n",
        ],
    );
    let mut c4 = server.connect();
    let p4 = start(&mut c4, "n4").unwrap();
    let far = Sender {
        socket: UdpSocket::bind("127.0.0.2:0").unwrap(),
        ..Sender::new(to(p4))
    };
    // One that sends a single packet: RTP came, so only the idle time applies to it.
    let mut alive = server.connect();
    let p5 = start(&mut alive, "n5").unwrap();
    send(&Sender::new(to(p5)), 0, 1, 5);

    let sending = Arc::new(AtomicBool::new(true));
    let stranger = {
        let sending = sending.clone();
        thread::spawn(move || {
            let mut seq = 0;
            while sending.load(Ordering::Relaxed) {
                send(&far, seq, 1, 9);
                seq += 1;
                thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // Each connection is closed by the server (a read sees its end), without an answer.
    assert!(c4.closed());
    sending.store(false, Ordering::Relaxed);
    stranger.join().unwrap();
    assert!(silent.wait_closed().is_empty());
    assert!(junk.wait_closed().is_empty());
    // The known messages were answered (failed), and still the session ended.
    assert!(known
        .wait_closed()
        .iter()
        .all(|l| get(l, "result") == Some("failed")));
    for id in ["n1", "n2", "n3", "n4"] {
        assert_eq!(sidecar(&server, id)["stop_reason"], "no_rtp", "{id}");
    }
    stop(&mut alive, "n5");
    assert_eq!(sidecar(&server, "n5")["stop_reason"], "done");
    assert_eq!(sidecar(&server, "n5")["duration_ms"], 20);
}

#[test]
fn unknown_lines_do_not_keep_a_session_from_idling_and_known_ones_do() {
    let dir = TempDir::new("media-idle");
    let server = Server::start(dir.path(), &["--idle-timeout", "1"]);
    let (mut junk, p1) = Chatter::start(&server, "i1", &["cmd=Hello&id=i1\n", "x=1\n"]);
    send(&Sender::new(to(p1)), 0, 1, 1);
    let (mut known, p2) = Chatter::start(
        &server,
        "i2",
        &[
            "cmd=RecordPauseRequest&id=i2\n",
            "cmd=RecordStopRequest&id=x\n",
        ],
    );
    send(&Sender::new(to(p2)), 0, 1, 2);
    assert!(junk.wait_closed().is_empty());
    assert_eq!(sidecar(&server, "i1")["stop_reason"], "idle");
    // The other has sent a known message every 100 ms all this while: still running, so its
    // stop is answered.
    let answer = known.stop("i2");
    assert_eq!(get(&answer, "result"), Some("success"), "{answer}");
    assert_eq!(sidecar(&server, "i2")["stop_reason"], "done");
}
