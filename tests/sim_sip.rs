//! `callrec-sim --sip`, the real binary, playing the phone's SIP stack against a real SIP
//! server (Kamailio, `tests/common/kamailio.rs`) and a stand-in agent on a Unix socket: the
//! stand-in answers every request `ok`, and on `watch` keeps the subscription so the test can
//! write `sip_request` events into it, built here from the dialog the sim sent.
//!
//! Order, not time: the stand-in holds its answer to `call ended` until the expected
//! `sip_response` reports came (bounded), so the INFO is always answered inside the dialog, on
//! a busy machine too.

mod common;

use common::kamailio::{header, status_code, tag, Kamailio};
use common::TempDir;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

/// Longest wait for anything the sim or the stand-in does.
const LIMIT: Duration = Duration::from_secs(15);

/// What the stand-in agent got.
#[derive(Default)]
struct Seen {
    /// Every request line, parsed, in arrival order.
    requests: Vec<Value>,
    /// The `sip_response` requests among them.
    reports: usize,
    /// Events the test wrote into the subscription.
    pushed: usize,
    /// The subscription, once the sim opened it.
    watch: Option<UnixStream>,
}

/// A stand-in for the agent: answers everything `ok`.
struct StandIn {
    seen: Arc<(Mutex<Seen>, Condvar)>,
    /// Each request as it comes, for the test to wait on.
    requests: Receiver<Value>,
    /// Requests received and not yet looked for.
    pending: RefCell<VecDeque<Value>>,
}

/// When the stand-in answers `call ended`: once this many reports came and events were
/// pushed (or after the limit).
#[derive(Clone, Copy)]
struct Hold {
    reports: usize,
    pushed: usize,
}

impl StandIn {
    fn start(path: &Path, hold: Hold) -> StandIn {
        let listener = UnixListener::bind(path).unwrap();
        let seen: Arc<(Mutex<Seen>, Condvar)> = Arc::default();
        let (tx, requests) = mpsc::channel();
        {
            let seen = seen.clone();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { return };
                    let (seen, tx) = (seen.clone(), tx.clone());
                    thread::spawn(move || serve(stream, &seen, &tx, hold));
                }
            });
        }
        StandIn {
            seen,
            requests,
            pending: RefCell::default(),
        }
    }

    /// The first request not looked for yet with this `cmd` (and `event`, for a call).
    fn next(&self, cmd: &str, event: Option<&str>) -> Value {
        let wanted = |r: &Value| r["cmd"] == cmd && event.is_none_or(|e| r["event"] == e);
        let mut pending = self.pending.borrow_mut();
        if let Some(i) = pending.iter().position(wanted) {
            return pending.remove(i).unwrap();
        }
        loop {
            let r = self
                .requests
                .recv_timeout(LIMIT)
                .unwrap_or_else(|_| panic!("no {cmd} {event:?} from the sim"));
            if wanted(&r) {
                return r;
            }
            pending.push_back(r);
        }
    }

    /// Writes an event line into the sim's subscription.
    fn push_event(&self, event: &Value) {
        let (lock, cond) = &*self.seen;
        let mut seen = cond
            .wait_timeout_while(lock.lock().unwrap(), LIMIT, |s| s.watch.is_none())
            .unwrap()
            .0;
        let mut w = seen.watch.as_ref().expect("the sim did not subscribe");
        w.write_all(format!("{event}\n").as_bytes()).unwrap();
        seen.pushed += 1;
        cond.notify_all();
    }

    fn requests(&self) -> Vec<Value> {
        self.seen.0.lock().unwrap().requests.clone()
    }
}

fn serve(stream: UnixStream, seen: &(Mutex<Seen>, Condvar), tx: &Sender<Value>, hold: Hold) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let request: Value = serde_json::from_str(line.trim_end()).unwrap();
    let (lock, cond) = seen;
    {
        let mut s = lock.lock().unwrap();
        s.requests.push(request.clone());
        if request["cmd"] == "sip_response" {
            s.reports += 1;
        }
        cond.notify_all();
    }
    let _ = tx.send(request.clone());
    if request["cmd"] == "call" && request["event"] == "ended" {
        let _ = cond.wait_timeout_while(lock.lock().unwrap(), LIMIT, |s| {
            s.reports < hold.reports || s.pushed < hold.pushed
        });
    }
    let mut w = &stream;
    let _ = w.write_all(b"{\"v\":1,\"ok\":true,\"status\":{\"state\":\"idle\"}}\n");
    if request["cmd"] == "watch" {
        let mut s = lock.lock().unwrap();
        s.watch = Some(stream.try_clone().unwrap());
        cond.notify_all();
    }
}

/// Runs the sim in a thread; its output when it exits.
fn run_sim(dir: &Path, script: &str, args: &[String]) -> thread::JoinHandle<Output> {
    let path = dir.join("call.script");
    std::fs::write(&path, script).unwrap();
    // The tap: RTP goes to a socket nobody reads.
    let tap = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cmd = Command::new(common::bins::sim());
    cmd.arg("run")
        .arg(&path)
        .arg("--control-socket")
        .arg(dir.join("ctl.sock"))
        .args(["--tap", &tap.local_addr().unwrap().to_string()])
        .args(args)
        .stdin(Stdio::null());
    thread::spawn(move || {
        let out = cmd.output().unwrap();
        drop(tap);
        out
    })
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The INFO `Record: on` a stack that takes raw messages gets, built here from the dialog as
/// callrec builds it (RFC 3261 §12.2.1.1: the remote target, the route set, the next CSeq).
fn info_event(tid: &str, call: &str, d: &Value, branch: &str) -> Value {
    let s = |k: &str| d[k].as_str().unwrap().to_string();
    let cseq = d["local_cseq"].as_u64().unwrap() + 1;
    let mut headers: Vec<(String, String)> = d["route_set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| ("Route".to_string(), r.as_str().unwrap().to_string()))
        .collect();
    headers.push((
        "From".into(),
        format!("<{}>;tag={}", s("local_uri"), s("local_tag")),
    ));
    headers.push((
        "To".into(),
        format!("<{}>;tag={}", s("remote_uri"), s("remote_tag")),
    ));
    headers.push(("Call-ID".into(), s("call_id")));
    headers.push(("Record".into(), "on".into()));
    headers.push(("Content-Length".into(), "0".into()));
    let mut wire = format!(
        "INFO {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch}\r\nMax-Forwards: 70\r\n",
        s("remote_target"),
        s("via")
    );
    for (n, v) in &headers {
        if n == "Record" {
            wire.push_str(&format!("CSeq: {cseq} INFO\r\n"));
        }
        wire.push_str(&format!("{n}: {v}\r\n"));
    }
    wire.push_str("\r\n");
    json!({"v":1,"event":"sip_request","seq":9,"tid":tid,"call_id":call,"record":"on",
           "method":"INFO","uri":s("remote_target"),"headers":headers,"wire":wire})
}

/// The sim's `sip_response` report for `tid`.
fn report(standin: &StandIn, tid: &str) -> Value {
    let r = standin.next("sip_response", None);
    assert_eq!(r["tid"], tid, "{r}");
    r
}

#[test]
fn the_sim_places_the_call_and_sends_callrecs_info() {
    let dir = TempDir::new("sim-sip-wire");
    let k = Kamailio::start(dir.path());
    let standin = StandIn::start(
        &dir.path().join("ctl.sock"),
        Hold {
            reports: 1,
            pushed: 1,
        },
    );
    let script = "0 call started id=c1 dir=out remote=1002 local=1001\n\
                  0.1 call answered id=c1\n\
                  0.2 call ended id=c1\n";
    let sim = run_sim(dir.path(), script, &["--sip".into(), k.addr.to_string()]);

    // The call is placed before the first event, which carries the dialog already.
    let started = standin.next("call", Some("started"));
    let answered = standin.next("call", Some("answered"));
    let d = answered["call"]["dialog"].clone();
    assert_eq!(started["call"]["dialog"], d, "{started}");
    let pbx = k.addr.to_string();
    let call_id = d["call_id"].as_str().unwrap().to_string();
    assert_eq!(d["local_uri"], "sip:1001@127.0.0.1");
    assert_eq!(d["remote_uri"], format!("sip:1002@{pbx}"));
    assert_eq!(
        d["remote_target"],
        format!("sip:1002@{pbx}"),
        "the 200's Contact"
    );
    assert_eq!(
        d["route_set"],
        json!([
            format!("<sip:{pbx};lr;rr=1>"),
            format!("<sip:{pbx};lr;rr=2>")
        ]),
        "the 200's Record-Route, reversed"
    );
    assert_eq!(d["transport"], "udp");
    assert_eq!(d["local_cseq"], 1);
    assert!(d["via"].as_str().unwrap().starts_with("127.0.0.1:"), "{d}");
    let cid = format!("call-id={call_id} ");
    k.wait_request(&["INVITE", &cid, "cseq=1 ", "-> 200 OK"], LIMIT);
    k.wait_request(&["ACK", &cid, "cseq=1 "], LIMIT);

    // callrec's INFO, sent as is: Kamailio knows the dialog (Call-ID and both tags) and says 200.
    standin.push_event(&info_event("info-1", "c1", &d, "z9hG4bKcallrec1"));
    let r = report(&standin, "info-1");
    let response = r["response"].as_str().expect("a response, not an error");
    assert_eq!(status_code(response), Some(200), "{response}");
    assert_eq!(header(response, "CSeq"), Some("2 INFO"));
    assert_eq!(header(response, "Call-ID"), Some(call_id.as_str()));
    let to = header(response, "To").unwrap();
    assert_eq!(tag(to), d["remote_tag"].as_str(), "the dialog's remote tag");
    assert!(header(response, "Via")
        .unwrap()
        .contains("branch=z9hG4bKcallrec1"));
    k.wait_request(
        &["INFO", &cid, "cseq=2 ", "record=\"on\"", "-> 200 OK"],
        LIMIT,
    );

    // The end: the last event has the CSeq the INFO used, and the BYE comes after it.
    let ended = standin.next("call", Some("ended"));
    assert_eq!(ended["call"]["dialog"]["local_cseq"], 2, "{ended}");
    let out = sim.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    k.wait_request(&["BYE", &cid, "cseq=3 ", "-> 200 OK"], LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "sip INVITE c1 -> 200 OK",
        "sip INFO Record: on -> 200 OK",
        "sip BYE c1 -> 200 OK",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{}", text(&out));
    }
    // Nothing else reached the PBX in that dialog (no retransmission on loopback).
    let ours = k
        .requests()
        .into_iter()
        .filter(|l| l.contains(&cid))
        .count();
    assert_eq!(ours, 4, "{}", k.log());
}

#[test]
fn with_sip_build_the_sim_builds_the_request_itself() {
    let dir = TempDir::new("sim-sip-build");
    let k = Kamailio::start(dir.path());
    let standin = StandIn::start(
        &dir.path().join("ctl.sock"),
        Hold {
            reports: 2,
            pushed: 2,
        },
    );
    let script = "0 call answered id=c7 remote=2002\n0.1 call ended id=c7\n";
    let args = ["--sip".into(), k.addr.to_string(), "--sip-build".into()];
    let sim = run_sim(dir.path(), script, &args);

    let answered = standin.next("call", Some("answered"));
    let d = answered["call"]["dialog"].clone();
    assert_eq!(d["remote_uri"], format!("sip:2002@{}", k.addr));
    assert_eq!(
        d["local_uri"], "sip:1001@127.0.0.1",
        "the default local number"
    );
    // The wire is wrong on purpose: a stack that builds its own requests never looks at it.
    let mut event = info_event("b-1", "c7", &d, "z9hG4bKunused");
    event["wire"] = json!("garbage");
    standin.push_event(&event);
    let r = report(&standin, "b-1");
    let response = r["response"].as_str().unwrap();
    assert_eq!(status_code(response), Some(200), "{r}");
    assert_eq!(header(response, "CSeq"), Some("2 INFO"));
    assert!(!header(response, "Via").unwrap().contains("z9hG4bKunused"));

    // A header that would break the message: the stack refuses to send it, and says so.
    let mut event = info_event("b-2", "c7", &d, "z9hG4bKunused");
    event["headers"][3] = json!(["Record", "on\r\nX-Injected: 1"]);
    standin.push_event(&event);
    let r = report(&standin, "b-2");
    assert!(r.get("response").is_none(), "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("control character"),
        "{r}"
    );

    let out = sim.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let cid = format!("call-id={} ", d["call_id"].as_str().unwrap());
    k.wait_request(
        &["INFO", &cid, "cseq=2 ", "record=\"on\"", "-> 200 OK"],
        LIMIT,
    );
    k.wait_request(&["BYE", &cid, "cseq=3 ", "-> 200 OK"], LIMIT);
    assert!(!k.log().contains("X-Injected"));
}

#[test]
fn sip_none_gives_a_dialog_the_pbx_answers_481() {
    let dir = TempDir::new("sim-sip-none");
    let k = Kamailio::start(dir.path());
    let standin = StandIn::start(
        &dir.path().join("ctl.sock"),
        Hold {
            reports: 1,
            pushed: 1,
        },
    );
    let script = "0 call answered id=c2 sip=none\n0.1 call ended id=c2\n";
    let sim = run_sim(dir.path(), script, &["--sip".into(), k.addr.to_string()]);

    let answered = standin.next("call", Some("answered"));
    let d = answered["call"]["dialog"].clone();
    assert!(d["call_id"].as_str().unwrap().starts_with("none-"), "{d}");
    standin.push_event(&info_event("n-1", "c2", &d, "z9hG4bKnone1"));
    let r = report(&standin, "n-1");
    assert_eq!(
        status_code(r["response"].as_str().unwrap()),
        Some(481),
        "{r}"
    );
    let out = sim.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let cid = format!("call-id={} ", d["call_id"].as_str().unwrap());
    k.wait_request(&["INFO", &cid, "-> 481"], LIMIT);
    // Neither INVITE nor BYE: the PBX saw the INFO only.
    let ours: Vec<String> = k
        .requests()
        .into_iter()
        .filter(|l| l.contains(&cid))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("sip INFO Record: on -> 481"));
}

#[test]
fn sip_drop_holds_a_request_back() {
    let dir = TempDir::new("sim-sip-drop");
    let k = Kamailio::start(dir.path());
    let standin = StandIn::start(
        &dir.path().join("ctl.sock"),
        Hold {
            reports: 0,
            pushed: 1,
        },
    );
    let script = "0 call answered id=c3\n0.1 call ended id=c3\n";
    let args = [
        "--sip".into(),
        k.addr.to_string(),
        "--sip-drop".into(),
        "1".into(),
    ];
    let sim = run_sim(dir.path(), script, &args);
    let d = standin.next("call", Some("answered"))["call"]["dialog"].clone();
    standin.push_event(&info_event("d-1", "c3", &d, "z9hG4bKdrop1"));
    let out = sim.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sip INFO Record: on -> dropped"),
        "{}",
        text(&out)
    );
    assert!(standin
        .requests()
        .iter()
        .all(|r| r["cmd"] != "sip_response"));
    let cid = format!("call-id={} ", d["call_id"].as_str().unwrap());
    k.wait_request(&["BYE", &cid, "cseq=2 "], LIMIT);
    assert!(!k.requests().iter().any(|l| l.starts_with("INFO")));
}

#[test]
fn a_pbx_that_is_not_there_fails_fast_and_the_events_carry_no_dialog() {
    let dir = TempDir::new("sim-sip-dead");
    let standin = StandIn::start(
        &dir.path().join("ctl.sock"),
        Hold {
            reports: 0,
            pushed: 0,
        },
    );
    // A port nobody listens on: the INVITE meets ICMP port unreachable.
    let dead = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let script = "0 call answered id=c4\n0.1 call ended id=c4\n";
    let sim = run_sim(dir.path(), script, &["--sip".into(), dead.to_string()]);
    let out = sim.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("sip INVITE c4 -> transport error"),
        "{}",
        text(&out)
    );
    let calls: Vec<Value> = standin
        .requests()
        .into_iter()
        .filter(|r| r["cmd"] == "call")
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(
        calls.iter().all(|c| c["call"].get("dialog").is_none()),
        "{calls:?}"
    );
}
