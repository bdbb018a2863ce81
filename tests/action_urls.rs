//! Action URLs through the real agent's HTTP listener: call events and keys as a desk phone
//! sends them, hostile values refused with the parameter's name, and the recording untouched.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One HTTP/1.1 request; returns the status code and the body.
fn http(to: SocketAddr, method: &str, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body.trim_end()).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

#[test]
fn a_phone_drives_a_call_through_action_urls() {
    let dir = TempDir::new("action-call");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"policy":"on_demand"}"#);
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    let at = agent.http;
    let (code, body) = http(at, "GET", "/action/key/record");
    assert_eq!(code, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "no_call");
    let (code, body) = http(
        at,
        "GET",
        "/action/call/answered?id=3f2a%40pbx&remote=%2B491701234&remote_name=Bob+Smith&dir=in&local=&phone_var=x",
    );
    assert_eq!(code, 200, "{body}");
    let st = agent.status();
    assert_eq!(st.calls[0].id, "3f2a@pbx");
    assert_eq!(
        st.calls[0].dir,
        Some(callrec_core::direction::Direction::In)
    );
    let (code, body) = http(at, "GET", "/action/key/record");
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["status"]["state"], "recording");
    let s = Sender::new(agent.tap);
    for seq in 0..25u16 {
        s.send(seq, u32::from(seq) * 160, &[0x51; 160]);
    }
    let (code, body) = http(at, "GET", "/action/call/ended?id=3f2a%40pbx");
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["status"]["last_stop"], "call_ended");
    assert_eq!(data_of(&record_files(&stick)[0]).len(), 25 * 160);
}

#[test]
fn hostile_action_urls_are_refused_with_the_parameter_and_change_nothing() {
    let dir = TempDir::new("action-hostile");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"policy":"always"}"#);
    let agent = Agent::start(&spec);
    let at = agent.http;
    assert_eq!(http(at, "GET", "/action/call/answered?id=c1").0, 200);
    let long = "9".repeat(5000);
    let cases: Vec<(String, u16, &str)> = vec![
        (
            "/action/call/started?id=c2&remote_name=a%00b".into(),
            400,
            "remote_name",
        ),
        (
            "/action/call/started?id=c2&remote=%0d%0aSet-Cookie:x".into(),
            400,
            "remote",
        ),
        (
            "/action/call/started?id=c2&remote_name=%ff%fe".into(),
            400,
            "remote_name",
        ),
        (
            "/action/call/started?id=c2&remote=%zz".into(),
            400,
            "remote",
        ),
        ("/action/call/started?id=a%20b".into(), 400, "id"),
        (
            "/action/call/started?id=c2&tap_port=70000".into(),
            400,
            "tap_port",
        ),
        (
            "/action/call/started?id=c2&tap_port=-1".into(),
            400,
            "tap_port",
        ),
        ("/action/call/started?id=c2&dir=sideways".into(), 400, "dir"),
        ("/action/call/started?id=c2&codec=opus".into(), 400, "codec"),
        ("/action/call/started?id=c2&id=c3".into(), 400, "id"),
        ("/action/call/started".into(), 400, "id"),
        (format!("/action/call/started?id=c2&remote={long}"), 400, ""),
        ("/action/call/exploded?id=c2".into(), 400, ""),
        ("/action/key/self-destruct".into(), 400, ""),
        ("/action/../../etc/passwd".into(), 404, ""),
        ("/etc/passwd".into(), 404, ""),
        ("/action/call/held?id=unknown".into(), 409, ""),
    ];
    for (target, want, param) in &cases {
        let (code, body) = http(at, "GET", target);
        assert_eq!(code, *want, "{target}: {body}");
        if !param.is_empty() {
            let message = json(&body)["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                message.starts_with(&format!("{param}: ")),
                "{target}: {message}"
            );
        }
    }
    let (code, _) = http(at, "POST", "/action/key/record");
    assert_eq!(code, 405);
    let (code, _) = http(at, "DELETE", "/action/call/ended?id=c1");
    assert_eq!(code, 405);
    // None of it touched the call being recorded.
    let st = agent.status();
    assert_eq!(
        (st.state.as_str(), st.call_id.as_deref()),
        ("recording", Some("c1"))
    );
    assert_eq!(st.calls.len(), 1);
}
