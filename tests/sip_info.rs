//! SIP INFO mode against a real SIP server nobody here wrote: Kamailio from Debian, with
//! `tests/kamailio/record.cfg` (200 for `Record: on|off` in a dialog it knows, 403 for anything
//! else or the endpoint 1099, 481 for an unknown dialog). `callrec-sim --sip` plays the phone's
//! SIP stack (INVITE, the call events with the dialog, sending what callrec built, reporting
//! the answers); in the last tests the test itself is the stack, to hold an answer back.
//! Waits are for the agent's events and Kamailio's log, never blind sleeps.

mod common;
use common::kamailio::{status_code, Kamailio, RawUa};
use common::*;
use serde_json::Value;
use std::process::Command;

fn sip_agent(dir: &TempDir, policy: &str) -> Agent {
    let spec = AgentSpec::host(dir.path())
        .settings(&format!(r#"{{"mode":"sip_info","policy":"{policy}"}}"#));
    Agent::start(&spec)
}

/// Runs the simulator as the phone's SIP stack with `script`; returns its output.
fn sim(agent: &Agent, kam: &Kamailio, dir: &TempDir, script: &str, extra: &[&str]) -> String {
    let path = dir.path().join("call.script");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(common::bins::sim())
        .args([
            "run",
            path.to_str().unwrap(),
            "--sip",
            &kam.addr.to_string(),
        ])
        .args(["--control-socket", agent.socket.to_str().unwrap()])
        .args(["--tap", &agent.tap.to_string(), "--sine", "440"])
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "callrec-sim failed:\n{text}\n{}",
        kam.log()
    );
    text
}

/// Every event until a `status` one with `state` and `call_id` null-or-any; the events seen.
fn events_until_idle_after(w: &mut Watch, seen_state: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut passed = false;
    loop {
        let e = w.next();
        let is_status = e["event"] == "status";
        if is_status && e["state"] == seen_state {
            passed = true;
        }
        let done = passed && is_status && e["state"] == "idle";
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn sip_requests(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event"] == "sip_request")
        .collect()
}

#[test]
fn the_record_key_asks_the_pbx_and_the_state_follows_its_answers() {
    let dir = TempDir::new("sip-key");
    let kam = Kamailio::start(dir.path());
    let agent = sip_agent(&dir, "on_demand");
    let mut w = agent.watch();
    let out = sim(
        &agent,
        &kam,
        &dir,
        "0.0 call started id=c1 dir=out remote=1002 local=1001\n\
         0.3 call answered id=c1\n\
         0.6 key record\n\
         1.2 key record\n\
         1.5 call ended id=c1\n",
        &["--strict"],
    );
    let events = events_until_idle_after(&mut w, "stopping");
    let requests = sip_requests(&events);
    assert_eq!(requests.len(), 2, "{events:#?}");
    assert_eq!(
        (
            requests[0]["record"].as_str(),
            requests[1]["record"].as_str()
        ),
        (Some("on"), Some("off"))
    );
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "status")
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["starting", "recording", "stopping", "idle"],
        "{events:#?}"
    );
    let st = agent.status();
    assert_eq!(
        (st.last_stop.as_deref(), st.failure),
        (Some("requested"), None)
    );
    // What Kamailio received and answered.
    let info_on = kam.wait_request(
        &["INFO", "record=\"on\"", "-> 200"],
        std::time::Duration::from_secs(5),
    );
    let info_off = kam.wait_request(
        &["INFO", "record=\"off\"", "-> 200"],
        std::time::Duration::from_secs(5),
    );
    // One INFO exactly as callrec built it, and the answer Kamailio gave (for the record).
    let wire = requests[0]["wire"].as_str().unwrap();
    assert!(
        wire.starts_with("INFO sip:")
            && wire.contains("\r\nRecord: on\r\nContent-Length: 0\r\n\r\n")
    );
    println!("== the INFO callrec built:\n{wire}");
    let log = agent.log();
    let answer = log
        .lines()
        .find(|l| l.contains("SIP stack reports for info-1"))
        .unwrap_or_default();
    println!("== the answer Kamailio gave, as the stack reported it:\n{answer}");
    println!("== Kamailio's log:\n{info_on}\n{info_off}");
    println!("== callrec-sim:\n{out}");
}

#[test]
fn a_stack_that_builds_its_own_requests_gets_the_same_answers() {
    let dir = TempDir::new("sip-build");
    let kam = Kamailio::start(dir.path());
    let agent = sip_agent(&dir, "on_demand");
    let mut w = agent.watch();
    sim(
        &agent,
        &kam,
        &dir,
        "0.0 call answered id=c1 remote=1002\n0.3 key record\n0.8 call ended id=c1\n",
        &["--sip-build", "--strict"],
    );
    let events = events_until_idle_after(&mut w, "recording");
    assert_eq!(
        sip_requests(&events).len(),
        1,
        "the call's end sends no Record: off"
    );
    kam.wait_request(
        &["INFO", "record=\"on\"", "-> 200"],
        std::time::Duration::from_secs(5),
    );
    assert_eq!(agent.status().last_stop.as_deref(), Some("call_ended"));
}

#[test]
fn always_asks_at_answer_and_an_unknown_dialog_fails_with_481() {
    let dir = TempDir::new("sip-481");
    let kam = Kamailio::start(dir.path());
    let agent = sip_agent(&dir, "always");
    let mut w = agent.watch();
    sim(
        &agent,
        &kam,
        &dir,
        "0.0 call answered id=c1 remote=1002 sip=none\n0.8 call ended id=c1\n",
        &[],
    );
    let mut seen = Vec::new();
    let failed = w.until(&mut seen, |e| e["shown"] == "failed");
    assert_eq!(failed["failure"]["code"], "sip_481");
    assert!(
        failed["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("does not know this call"),
        "{failed}"
    );
    assert_eq!(failed["state"], "idle");
    kam.wait_request(&["INFO", "-> 481"], std::time::Duration::from_secs(5));
    // The prompt goes with the call.
    w.until(&mut seen, |e| {
        e["event"] == "status" && e["shown"] == "idle"
    });
}

#[test]
fn a_phone_not_enabled_for_recording_fails_with_403() {
    let dir = TempDir::new("sip-403");
    let kam = Kamailio::start(dir.path());
    let agent = sip_agent(&dir, "on_demand");
    let mut w = agent.watch();
    sim(
        &agent,
        &kam,
        &dir,
        "0.0 call answered id=c1 local=1099 remote=1002\n0.3 key record\n0.8 call ended id=c1\n",
        &[],
    );
    let failed = w.until(&mut Vec::new(), |e| e["shown"] == "failed");
    assert_eq!(failed["failure"]["code"], "sip_403");
    assert!(failed["failure"]["message"]
        .as_str()
        .unwrap()
        .contains("not allowed"));
    kam.wait_request(
        &["INFO", "from=1099", "-> 403"],
        std::time::Duration::from_secs(5),
    );
}

/// The test as the phone's SIP stack: a real dialog with Kamailio, requests sent when the test
/// says.
struct Stack {
    ua: RawUa,
    kam: std::net::SocketAddr,
    dialog: Value,
}

impl Stack {
    fn call(kam: &Kamailio) -> Stack {
        use callrec_sim::sip::{in_dialog, Ids, Outgoing};
        let ua = RawUa::new();
        let mut ids = Ids::new(7);
        let out = Outgoing::new(
            &mut ids,
            "1001",
            "1002",
            &kam.addr.to_string(),
            &ua.addr.to_string(),
        );
        let ok = ua.exchange(kam.addr, &out.invite(&ids.branch()));
        assert_eq!(status_code(&ok), Some(200), "{ok}");
        let ok = callrec_core::sip::message::parse(ok.as_bytes()).unwrap();
        let dialog = out.dialog(&ok).unwrap();
        ua.send(kam.addr, &in_dialog(&dialog, "ACK", 1, &ids.branch()));
        Stack {
            ua,
            kam: kam.addr,
            dialog: serde_json::to_value(&dialog).unwrap(),
        }
    }

    /// Sends a `sip_request`'s wire to Kamailio; its final response.
    fn send(&self, request: &Value) -> String {
        self.ua
            .exchange(self.kam, request["wire"].as_str().unwrap())
    }
}

fn report(agent: &Agent, tid: &str, response: &str) -> callrec_core::control_protocol::Response {
    agent.request(
        &serde_json::json!({"v":1,"cmd":"sip_response","tid":tid,"response":response}).to_string(),
    )
}

fn next_request(w: &mut Watch) -> Value {
    w.until(&mut Vec::new(), |e| e["event"] == "sip_request")
}

#[test]
fn a_key_press_while_a_request_is_pending_is_queued() {
    let dir = TempDir::new("sip-queue");
    let kam = Kamailio::start(dir.path());
    let agent = sip_agent(&dir, "on_demand");
    let stack = Stack::call(&kam);
    let mut w = agent.watch();
    let dialog = stack.dialog.to_string();
    agent.call("answered", "c1", &format!(r#""dialog":{dialog}"#));
    agent.key("record");
    let on = next_request(&mut w);
    // Pressed again before the PBX answered: taken, nothing sent yet, still starting.
    let st = agent.key("record").status.unwrap();
    assert_eq!(st.state, "starting");
    let answer = stack.send(&on);
    assert!(report(&agent, on["tid"].as_str().unwrap(), &answer).ok);
    // The queued press goes out now, and the state follows its answer.
    let off = next_request(&mut w);
    assert_eq!(off["record"], "off");
    assert_eq!(agent.status().state, "stopping");
    let answer = stack.send(&off);
    assert_eq!(status_code(&answer), Some(200));
    let st = report(&agent, off["tid"].as_str().unwrap(), &answer)
        .status
        .unwrap();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("requested"))
    );
    // Kamailio saw them in order, with the CSeq going up.
    kam.wait_request(
        &["INFO", "cseq=2", "record=\"on\"", "-> 200"],
        std::time::Duration::from_secs(5),
    );
    kam.wait_request(
        &["INFO", "cseq=3", "record=\"off\"", "-> 200"],
        std::time::Duration::from_secs(5),
    );
}

#[test]
fn the_call_ending_while_a_request_is_pending_cleans_up() {
    let dir = TempDir::new("sip-end-pending");
    let kam = Kamailio::start(dir.path());
    let agent = sip_agent(&dir, "always");
    let stack = Stack::call(&kam);
    let mut w = agent.watch();
    let dialog = stack.dialog.to_string();
    agent.call("answered", "c1", &format!(r#""dialog":{dialog}"#));
    let on = next_request(&mut w);
    // The call ends before the stack reported the answer.
    let st = agent.call("ended", "c1", "").status.unwrap();
    assert_eq!(
        (st.state.as_str(), st.last_stop.as_deref()),
        ("idle", Some("call_ended"))
    );
    let answer = stack.send(&on);
    let late = report(&agent, on["tid"].as_str().unwrap(), &answer);
    assert_eq!(late.error.unwrap().code, "bad_sip_response");
    assert_eq!(agent.status().state, "idle");
    // Malformed and hostile reports are refused with a reason and change nothing. (The same
    // dialog again; its CSeq went on with the INFO the stack sent.)
    let mut again = stack.dialog.clone();
    again["local_cseq"] = 2.into();
    agent.call("answered", "c2", &format!(r#""dialog":{again}"#));
    let on = next_request(&mut w);
    let tid = on["tid"].as_str().unwrap();
    for bad in [
        "",
        "SIP/2.0 2000 OK\r\n\r\n",
        "SIP/2.0 200 OK\r\nl: 99\r\n\r\nshort",
        "\u{0}\u{1}",
    ] {
        let r = report(&agent, tid, bad);
        assert_eq!(r.error.unwrap().code, "bad_sip_response", "{bad:?}");
    }
    let r = agent.request(r#"{"v":1,"cmd":"sip_response","tid":"x"}"#);
    assert_eq!(r.error.unwrap().code, "bad_sip_report");
    assert_eq!(agent.status().state, "starting");
    let answer = stack.send(&on);
    assert_eq!(
        report(&agent, tid, &answer).status.unwrap().state,
        "recording"
    );
}
