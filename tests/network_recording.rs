//! Network mode end to end: the real agent streams to the real `callrec-server` over loopback
//! (start, stop, pause/resume, the server down at start, refusing, killed mid-call, a connection
//! reset mid-call). A control command to the agent is answered after every datagram already at
//! its tap has been forwarded, and a session's end drains the server's socket, so no test sleeps
//! to wait for packets.

mod common;
use common::server::Server;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

fn network_agent(dir: &TempDir, server_port: u16) -> Agent {
    let spec = AgentSpec::host(dir.path()).settings(&format!(
        r#"{{"mode": "network", "server_address": "127.0.0.1", "server_port": {server_port},
            "codec": "PCMU"}}"#
    ));
    Agent::start(&spec)
}

fn play(agent: &Agent, from: u16, n: u16, label: u8) {
    let s = Sender {
        pt: 0,
        ..Sender::new(agent.tap)
    };
    for seq in from..from + n {
        s.send(seq, u32::from(seq) * 160, &[label; 160]);
    }
    agent.status(); // barrier: forwarded
}

#[test]
fn a_call_streamed_to_the_server_is_recorded_there() {
    let dir = TempDir::new("net-basic");
    let server = Server::start(dir.path(), &[]);
    let agent = network_agent(&dir, server.control.port());
    let st = agent.ok("start");
    assert_eq!(
        (st.state.as_str(), st.mode.as_str()),
        ("recording", "network")
    );
    assert!(
        st.server.as_deref().unwrap().starts_with("127.0.0.1:"),
        "{st:?}"
    );
    play(&agent, 0, 100, 0x21);
    let st = agent.ok("stop");
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("requested"))
    );
    assert_eq!(st.counters.audio, 100);

    let sc = &server.sidecars()[0];
    assert_eq!(sc["device"], "020000000001");
    assert_eq!(
        (sc["codec"].as_str(), sc["dir"].as_str()),
        (Some("PCMU"), Some("out"))
    );
    assert_eq!(sc["stop_reason"], "stopped by user");
    assert_eq!(sc["duration_ms"], 2000);
    let data = data_of(&server.day_dir().join(sc["files"][0].as_str().unwrap()));
    assert!(data.len() == 16_000 && data.iter().all(|&b| b == 0x21));
}

#[test]
fn pause_stops_forwarding_and_the_server_leaves_the_pause_out() {
    let dir = TempDir::new("net-pause");
    let server = Server::start(dir.path(), &[]);
    let agent = network_agent(&dir, server.control.port());
    agent.ok("start");
    play(&agent, 0, 50, 1);
    assert_eq!(agent.ok("pause").state, "paused"); // forwarding stops at once
    let st = agent.wait_for("paused", Duration::from_secs(5), |s| s.state == "paused");
    assert_eq!(st.counters.audio, 50);
    play(&agent, 50, 25, 2);
    agent.ok("resume");
    agent.wait_for("resumed", Duration::from_secs(5), |s| {
        s.state == "recording"
    });
    play(&agent, 75, 50, 3);
    let st = agent.ok("stop");
    assert_eq!(st.counters.audio, 100, "nothing forwarded while paused");
    let sc = &server.sidecars()[0];
    assert_eq!(sc["duration_ms"], 2000);
    let data = data_of(&server.day_dir().join(sc["files"][0].as_str().unwrap()));
    assert!(data[..8000].iter().all(|&b| b == 1) && data[8000..].iter().all(|&b| b == 3));
}

#[test]
fn a_server_that_is_down_or_refuses_fails_the_start_with_the_reason() {
    let dir = TempDir::new("net-down");
    // Nobody listens on this port (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let agent = network_agent(&dir, port);
    let r = agent.cmd("start");
    let e = r.error.unwrap();
    assert_eq!(e.code, "server_unreachable", "{}", e.message);
    let st = r.status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("server_unreachable"))
    );
    drop(agent);

    let dir = TempDir::new("net-refuse");
    let server = Server::start(dir.path(), &["--max-sessions", "0"]);
    let agent = network_agent(&dir, server.control.port());
    let e = agent.cmd("start").error.unwrap();
    assert_eq!(e.code, "server_refused");
    assert!(e.message.contains("busy"), "{}", e.message);
    // The agent goes on: a status works, a stop says nothing runs.
    assert_eq!(agent.cmd("stop").error.unwrap().code, "not_recording");
}

#[test]
fn a_server_killed_mid_call_ends_the_session_and_keeps_what_it_had() {
    let dir = TempDir::new("net-kill");
    let mut server = Server::start(dir.path(), &[]);
    let agent = network_agent(&dir, server.control.port());
    agent.ok("start");
    play(&agent, 0, 150, 7);
    // The server commits once a second: wait (bounded) until the 3 s are in its file...
    let file = Server::wait(|| {
        let sc = server.sidecars().into_iter().next()?;
        let f = server.day_dir().join(sc["files"][0].as_str()?);
        (std::fs::metadata(&f).ok()?.len() >= 76 + 24_000).then_some(f)
    })
    .expect("the server committed the audio");
    // ...then kill it without warning.
    let _ = server.child.kill();
    let _ = server.child.wait();
    assert!(info(&file)["data_size"].as_u64().unwrap() >= 23_840);
    let st = agent.wait_for("the loss", Duration::from_secs(5), |s| s.state == "idle");
    assert_eq!(
        st.last_stop.as_deref(),
        Some("server_connection_lost"),
        "{st:?}"
    );
    assert!(st.error.unwrap().contains("broke"));
    // Restarted, the server finishes the cut-off session with what reached its disk.
    let restarted = Server::start_at(&server.storage, dir.path(), &[]);
    let sc = &restarted.sidecars()[0];
    assert_eq!(sc["stop_reason"], "server restart");
    assert_eq!(
        sc["duration_ms"], 3000,
        "everything committed before the kill is kept"
    );
    assert_eq!(info(&file)["stale_header"], false);
}

#[test]
fn a_connection_reset_mid_call_is_reported() {
    let dir = TempDir::new("net-reset");
    // A scripted server: answers the start, then resets the connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();
    let script = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let id = line
            .split('&')
            .find_map(|kv| kv.strip_prefix("id="))
            .unwrap()
            .to_owned();
        (&s).write_all(format!("cmd=RecordStartResponse&id={id}&result=success&server=127.0.0.1&port={rtp_port}&ext=pause\n").as_bytes()).unwrap();
        let mut done = String::new();
        r.read_line(&mut done).unwrap(); // wait for the test's signal: a pause request
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // RST
        line
    });
    let agent = network_agent(&dir, port);
    agent.ok("start");
    play(&agent, 0, 10, 9);
    let mut buf = [0u8; 200];
    let (n, _) = rtp.recv_from(&mut buf).unwrap();
    assert_eq!(n, 172, "RTP forwarded unchanged");
    agent.ok("pause"); // the scripted server reads this line, then resets
    let st = agent.wait_for("the reset", Duration::from_secs(5), |s| s.state == "idle");
    assert_eq!(st.last_stop.as_deref(), Some("server_connection_lost"));
    let request = script.join().unwrap();
    assert!(
        request.contains("&device=020000000001&") && request.contains("&ext=pause"),
        "{request}"
    );
}
