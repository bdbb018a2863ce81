//! Call events in network mode: a call recorded on the real `callrec-server` from answer to
//! hangup, a call that ends while the server is still answering, and a server that is down.
//! Waits are for events (`watch`) or for what the server received, never blind sleeps.

mod common;
use common::server::Server;
use common::*;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;

fn network_agent(dir: &TempDir, port: u16) -> Agent {
    let spec = AgentSpec::host(dir.path()).settings(&format!(
        r#"{{"mode":"network","policy":"always","server_address":"127.0.0.1",
            "server_port":{port},"codec":"PCMA"}}"#
    ));
    Agent::start(&spec)
}

#[test]
fn an_answered_call_is_recorded_on_the_server_until_hangup() {
    let dir = TempDir::new("calnet-basic");
    let server = Server::start(dir.path(), &[]);
    let agent = network_agent(&dir, server.control.port());
    let mut w = agent.watch();
    agent.call(
        "answered",
        "c1",
        r#""dir":"in","remote_number":"1002","remote_name":"Bob","codec":"PCMU""#,
    );
    w.status("recording");
    let s = Sender {
        pt: 0,
        ..Sender::new(agent.tap)
    };
    for seq in 0..50u16 {
        s.send(seq, u32::from(seq) * 160, &[0x42; 160]);
    }
    agent.status(); // barrier: forwarded
    agent.call("ended", "c1", "");
    let idle = w.status("idle");
    assert_eq!(idle["failure"], serde_json::Value::Null);
    let st = agent.status();
    assert_eq!(st.last_stop.as_deref(), Some("call_ended"));
    let sc = &server.sidecars()[0];
    assert_eq!(sc["remote_number"], "1002");
    assert_eq!(sc["dir"], "in");
    assert_eq!(
        sc["codec"], "PCMU",
        "the call's codec wins over the settings'"
    );
    assert_eq!(sc["stop_reason"], "call ended");
    assert_eq!(sc["duration_ms"], 1000);
}

#[test]
fn a_call_that_ends_while_the_server_is_answering_leaves_nothing_behind() {
    let dir = TempDir::new("calnet-race");
    // A server that takes the connection and the start request, and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let agent = network_agent(&dir, silent.local_addr().unwrap().port());
    let mut w = agent.watch();
    let st = agent.call("answered", "c1", "").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.shown.as_str()),
        ("starting", "starting")
    );
    let (conn, _) = silent.accept().unwrap();
    let mut lines = BufReader::new(conn);
    let mut start = String::new();
    lines.read_line(&mut start).unwrap();
    assert!(start.starts_with("cmd=RecordStartRequest"), "{start}");
    // The start is in flight: the call ends.
    agent.call("ended", "c1", "");
    let idle = w.status("idle");
    assert_eq!(idle["failure"], serde_json::Value::Null);
    assert_eq!(idle["shown"], "idle");
    let st = agent.status();
    assert_eq!(st.last_stop.as_deref(), Some("call_ended"));
    assert!(st.calls.is_empty());
    // The agent hung up on the silent server: nothing more was sent, the connection closed.
    let mut rest = String::new();
    assert_eq!(lines.read_line(&mut rest).unwrap(), 0, "{rest}");
}

#[test]
fn audio_that_comes_while_the_server_answers_is_sent_once_it_has() {
    use callrec_core::record_protocol::{parse, Extensions, Message, Outcome, StartResponse};
    let dir = TempDir::new("calnet-backlog");
    // A server that answers only when the test says so, and takes RTP on its own socket.
    let slow = TcpListener::bind("127.0.0.1:0").unwrap();
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let agent = network_agent(&dir, slow.local_addr().unwrap().port());
    agent.call("answered", "c1", "");
    let (mut conn, _) = slow.accept().unwrap();
    let mut lines = BufReader::new(conn.try_clone().unwrap());
    let mut start = String::new();
    lines.read_line(&mut start).unwrap();
    let Ok(Message::StartRequest(req)) = parse(start.trim_end().as_bytes()) else {
        panic!("{start}")
    };
    // The call's first half second, while the server has not answered.
    let s = Sender::new(agent.tap);
    for seq in 0..25u16 {
        s.send(seq, u32::from(seq) * 160, &[seq as u8; 160]);
    }
    assert_eq!(agent.status().state, "starting"); // barrier: the 25 are held
    let mut answer = String::new();
    Message::StartResponse(StartResponse {
        id: req.id,
        result: Outcome::Success,
        reason: String::new(),
        server: "127.0.0.1".into(),
        port: rtp.local_addr().unwrap().port(),
        extensions: Extensions::default(),
    })
    .encode(&mut answer);
    std::io::Write::write_all(&mut conn, answer.as_bytes()).unwrap();
    let mut buf = [0u8; 1500];
    for seq in 0..25u16 {
        let n = rtp.recv(&mut buf).unwrap();
        assert_eq!(n, 172);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), seq, "in order");
    }
    assert_eq!(agent.status().counters.audio, 25);
}

#[test]
fn a_server_that_is_down_shows_failed_until_the_call_ends() {
    let dir = TempDir::new("calnet-down");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let agent = network_agent(&dir, port);
    let mut w = agent.watch();
    agent.call("answered", "c1", "");
    let e = w.until(&mut Vec::new(), |e| e["shown"] == "failed");
    assert_eq!(e["failure"]["code"], "server_unreachable");
    assert_eq!(e["call_id"], "c1");
    // Always does not retry by itself in that call; the prompt goes with the call.
    agent.call("held", "c1", "");
    let st = agent.call("resumed", "c1", "").status.unwrap();
    assert_eq!((st.state.as_str(), st.shown.as_str()), ("idle", "failed"));
    let st = agent.call("ended", "c1", "").status.unwrap();
    assert_eq!((st.state.as_str(), st.shown.as_str()), ("idle", "idle"));
}
