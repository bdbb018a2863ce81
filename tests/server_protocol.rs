//! The real `callrec-server` driven by raw TCP lines from a test client, with real RTP over UDP:
//! framing (split lines, several lines in one segment, CRLF), percent-encoded UTF-8 names, and
//! every kind of bad input. Nothing here sleeps to wait: a response line is the barrier.

mod common;
use common::server::{get, Server};
use common::{info, Sender, TempDir};
use std::net::{SocketAddr, UdpSocket};

const START: &str = "cmd=RecordStartRequest&id=abc123&device=00:15:65:AA:BB:CC&remote_number=1002\
&remote_name=%E5%BC%A0%E4%B8%89&local_number=1001&local_name=Front+desk&dir=in&codec=PCMA";

#[test]
fn a_session_records_the_phones_rtp_and_keeps_a_sidecar() {
    let dir = TempDir::new("srv-basic");
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    // The request split across two TCP writes, ended by CRLF.
    c.send(&START.as_bytes()[..40]);
    c.send(format!("{}\r\n", &START[40..]).as_bytes());
    let resp = c.line();
    assert_eq!(get(&resp, "cmd"), Some("RecordStartResponse"), "{resp}");
    assert_eq!(
        (get(&resp, "id"), get(&resp, "result")),
        (Some("abc123"), Some("success"))
    );
    let port: u16 = get(&resp, "port").unwrap().parse().unwrap();
    let rtp_to: SocketAddr = format!("{}:{port}", get(&resp, "server").unwrap())
        .parse()
        .unwrap();

    let phone = Sender::new(rtp_to);
    // Another address on the same machine sends to the session's port too.
    let stranger = Sender {
        socket: UdpSocket::bind("127.0.0.2:0").unwrap(),
        ..Sender::new(rtp_to)
    };
    for seq in 0..100u16 {
        phone.send(seq, u32::from(seq) * 160, &[0x5A; 160]);
        if seq % 10 == 0 {
            stranger.send(seq, u32::from(seq) * 160, &[0x5A; 160]);
        }
    }
    c.send(b"cmd=RecordStopRequest&id=abc123&remote_number=1002&local_number=1001&reason=user\n");
    let resp = c.line();
    assert_eq!(
        (get(&resp, "cmd"), get(&resp, "result")),
        (Some("RecordStopResponse"), Some("success"))
    );
    assert!(c.closed());

    let sc = &server.sidecars()[0];
    assert_eq!(sc["remote_name"], "张三");
    assert_eq!(sc["local_name"], "Front desk");
    assert_eq!(
        (sc["dir"].as_str(), sc["codec"].as_str()),
        (Some("in"), Some("PCMA"))
    );
    assert_eq!(sc["stop_reason"], "user");
    assert_eq!(sc["duration_ms"], 2000);
    assert_eq!(sc["stats"]["from_strangers"], 10);
    assert_eq!(sc["stats"]["lost"], 0);
    let file = server.day_dir().join(sc["files"][0].as_str().unwrap());
    let i = info(&file);
    assert_eq!(
        (i["codec"].as_str(), i["duration_ms"].as_u64()),
        (Some("PCMA"), Some(2000))
    );
    assert_eq!(i["stale_header"], false);
}

#[test]
fn bad_input_is_answered_failed_or_closed_and_never_hurts_other_sessions() {
    let dir = TempDir::new("srv-bad");
    let server = Server::start(dir.path(), &["--max-sessions", "2"]);
    let mut good = server.connect();
    good.send(format!("{START}\n").as_bytes());
    assert_eq!(get(&good.line(), "result"), Some("success"));

    let mut c = server.connect();
    // Several lines in one segment: unknown cmd (ignored), a start missing its codec, a hostile
    // id, a duplicate id, a stop without a start.
    c.send(
        b"cmd=Hello&id=1\n\
          cmd=RecordStartRequest&id=x1&device=00:11:22:33:44:55&dir=in\n\
          cmd=RecordStartRequest&id=..%2F..%2Fetc%2Fpasswd&device=00:11:22:33:44:55&dir=in&codec=PCMA\n\
          cmd=RecordStartRequest&id=abc123&device=00:11:22:33:44:55&dir=in&codec=PCMA\n\
          cmd=RecordStopRequest&id=nothing\n\
          id=first&cmd=RecordStartRequest\n",
    );
    let missing = c.line();
    assert_eq!(
        (get(&missing, "id"), get(&missing, "result")),
        (Some("x1"), Some("failed")),
        "{missing}"
    );
    assert!(
        get(&missing, "reason").unwrap().contains("codec"),
        "{missing}"
    );
    let hostile = c.line();
    assert_eq!(get(&hostile, "result"), Some("failed"));
    assert!(get(&hostile, "reason").unwrap().contains("id"), "{hostile}");
    let dup = c.line();
    assert_eq!(get(&dup, "result"), Some("failed"));
    assert!(get(&dup, "reason").unwrap().contains("duplicate"), "{dup}");
    let stop = c.line();
    assert_eq!(
        (get(&stop, "cmd"), get(&stop, "result")),
        (Some("RecordStopResponse"), Some("failed"))
    );
    // A line that is not `cmd=` first has no answer; the connection stays usable.
    c.send(b"cmd=RecordStartRequest&id=ok2&device=00:11:22:33:44:55&dir=out&codec=PCMU\n");
    assert_eq!(get(&c.line(), "result"), Some("success"));

    // The session limit (2) answers failed.
    let mut third = server.connect();
    third.send(b"cmd=RecordStartRequest&id=ok3&device=00:11:22:33:44:55&dir=out&codec=G722\n");
    let busy = third.line();
    assert_eq!(get(&busy, "result"), Some("failed"));
    assert!(get(&busy, "reason").unwrap().contains("busy"), "{busy}");

    // An over-long line closes that connection only.
    let mut long = server.connect();
    long.send(&vec![b'a'; 5000]);
    assert!(long.closed());
    // A name over the limit is refused with the reason.
    let name = "n".repeat(300);
    let mut c2 = server.connect();
    c2.send(format!("cmd=RecordStartRequest&id=n1&device=00:11:22:33:44:55&dir=in&codec=PCMA&remote_name={name}\n").as_bytes());
    assert!(get(&c2.line(), "reason").unwrap().contains("remote_name"));

    // The first session is untouched.
    good.send(b"cmd=RecordStopRequest&id=abc123&reason=done\n");
    assert_eq!(get(&good.line(), "result"), Some("success"));
    // No path was made from a field: only server-named files exist.
    for e in std::fs::read_dir(server.day_dir()).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(name.starts_with("20") && !name.contains(".."), "{name}");
    }
}

#[test]
fn a_dropped_connection_ends_the_session_and_keeps_the_recording() {
    let dir = TempDir::new("srv-drop");
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    c.send(format!("{START}\n").as_bytes());
    let resp = c.line();
    let port: u16 = get(&resp, "port").unwrap().parse().unwrap();
    let phone = Sender::new(SocketAddr::from(([127, 0, 0, 1], port)));
    for seq in 0..50u16 {
        phone.send(seq, u32::from(seq) * 160, &[0x5A; 160]);
    }
    // An unknown stop is refused and changes nothing; then the phone vanishes. Ending the
    // session drains its socket first, so the packets sent before are in the recording.
    c.send(b"cmd=RecordStopRequest&id=other\n");
    assert_eq!(get(&c.line(), "result"), Some("failed"));
    drop(c);
    // The same id may start again once the first session is over (the port and id are free).
    let mut again = server.connect();
    let start = Server::wait(|| {
        again.send(format!("{START}\n").as_bytes());
        let l = again.line();
        (get(&l, "result") == Some("success")).then_some(l)
    });
    assert!(start.is_some());
    let done: Vec<_> = server
        .sidecars()
        .into_iter()
        .filter(|s| !s["stop_reason"].is_null())
        .collect();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["stop_reason"], "connection closed");
    assert_eq!(done[0]["duration_ms"], 1000);
}

#[test]
fn pause_is_an_extension_only_for_phones_that_offered_it() {
    let dir = TempDir::new("srv-pause");
    let server = Server::start(dir.path(), &[]);
    // The phone sends from one socket for the whole session (the server latches to it).
    let send = |phone: &Sender, from: u16, n: u16, label: u8| {
        for seq in from..from + n {
            phone.send(seq, u32::from(seq) * 160, &[label; 160]);
        }
    };
    // A guide-only phone: no ext in the answer, and a pause request is refused.
    let mut plain = server.connect();
    plain.send(b"cmd=RecordStartRequest&id=p1&device=001565000001&dir=out&codec=PCMU\n");
    let resp = plain.line();
    assert_eq!(
        (get(&resp, "result"), get(&resp, "ext")),
        (Some("success"), None),
        "{resp}"
    );
    plain.send(b"cmd=RecordPauseRequest&id=p1\n");
    assert_eq!(get(&plain.line(), "result"), Some("failed"));

    // A phone that offers it.
    let mut c = server.connect();
    c.send(b"cmd=RecordStartRequest&id=p2&device=001565000002&dir=out&codec=PCMU&ext=pause\n");
    let resp = c.line();
    assert_eq!(get(&resp, "ext"), Some("pause"), "{resp}");
    let port: u16 = get(&resp, "port").unwrap().parse().unwrap();
    let phone = Sender {
        pt: 0,
        ..Sender::new(SocketAddr::from(([127, 0, 0, 1], port)))
    };
    send(&phone, 0, 50, 1);
    c.send(b"cmd=RecordPauseRequest&id=p2\n");
    let r = c.line();
    assert_eq!(
        (get(&r, "cmd"), get(&r, "result")),
        (Some("RecordPauseResponse"), Some("success"))
    );
    send(&phone, 50, 25, 2); // while paused: not recorded
    c.send(b"cmd=RecordResumeRequest&id=p2\n");
    assert_eq!(get(&c.line(), "result"), Some("success"));
    send(&phone, 75, 50, 3);
    c.send(b"cmd=RecordStopRequest&id=p2&reason=done\n");
    assert_eq!(get(&c.line(), "result"), Some("success"));
    let sc = server
        .sidecars()
        .into_iter()
        .find(|s| s["id"] == "p2")
        .unwrap();
    assert_eq!(sc["duration_ms"], 2000);
    let data = common::data_of(&server.day_dir().join(sc["files"][0].as_str().unwrap()));
    assert!(data[..8000].iter().all(|&b| b == 1));
    assert!(data[8000..].iter().all(|&b| b == 3));
}

#[test]
fn a_silent_session_ends_after_the_idle_timeout() {
    let dir = TempDir::new("srv-idle");
    let server = Server::start(dir.path(), &["--idle-timeout", "1"]);
    let mut c = server.connect();
    c.send(format!("{START}\n").as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));
    // No RTP, no control traffic: the server ends the session and closes the connection
    // (the read returns when it does; its 10 s timeout is only an upper bound).
    assert!(c.closed());
    let sc = &server.sidecars()[0];
    assert_eq!(sc["stop_reason"], "idle");
}

#[test]
fn a_flood_of_connections_from_one_address_is_capped_and_others_go_on() {
    let dir = TempDir::new("srv-flood");
    let server = Server::start(dir.path(), &[]);
    // 64 idle connections are allowed from one address...
    let mut held: Vec<_> = (0..64).map(|_| server.connect()).collect();
    // ...a session on the last one still works (connections are accepted in order, so its
    // answer means all 64 are counted)...
    held[63].send(format!("{START}\n").as_bytes());
    assert_eq!(get(&held[63].line(), "result"), Some("success"));
    // ...and the 65th is closed at once.
    let mut extra = server.connect();
    assert!(extra.closed());
    // Freeing one makes room again.
    drop(held.remove(0));
    // (The server notices the close on its own time: retry, bounded, until a new connection is
    // answered instead of closed or reset.)
    let mut again = Server::wait(|| {
        use std::io::{BufRead, BufReader, Write};
        let mut s = std::net::TcpStream::connect(server.control).ok()?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        s.write_all(b"cmd=RecordStopRequest&id=none\n").ok()?;
        let mut l = String::new();
        BufReader::new(&s).read_line(&mut l).ok()?;
        (!l.is_empty()).then_some(s)
    });
    assert!(again.is_some());
    let last = held.last_mut().unwrap();
    last.send(b"cmd=RecordStopRequest&id=abc123&reason=done\n");
    assert_eq!(get(&last.line(), "result"), Some("success"));
    let _ = again.take();
}
