//! Status events through `watch`: their order for a call, the notification tone, and
//! subscribers that stall, which are dropped without holding up recording or other subscribers.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn states(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "status")
        .map(|e| {
            (
                e["state"].as_str().unwrap().to_owned(),
                e["shown"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_call_under_always_is_told_to_every_subscriber_in_order() {
    let dir = TempDir::new("sub-order");
    let spec = AgentSpec::host(dir.path()).settings(r#"{"policy":"always"}"#);
    let agent = Agent::start(&spec);
    let mut a = agent.watch();
    let mut b = agent.watch();
    let s = Sender::new(agent.tap);
    agent.call("started", "c1", r#""dir":"in","remote_number":"1002""#);
    agent.call("answered", "c1", "");
    for seq in 0..10u16 {
        s.send(seq, u32::from(seq) * 160, &[0x21; 160]);
    }
    agent.status(); // the packets are in: the file is open
    agent.call("held", "c1", "");
    agent.call("resumed", "c1", "");
    agent.call("ended", "c1", "");
    for w in [&mut a, &mut b] {
        let mut seen = Vec::new();
        let last = w.until(&mut seen, |e| {
            e["event"] == "status" && e["state"] == "idle"
        });
        assert_eq!(last["call_id"], Value::Null);
        seen.push(last);
        let got = states(&seen);
        let want: Vec<(String, String)> = [
            ("recording", "recording"), // answered
            ("recording", "recording"), // the file opened with the first packet
            ("paused", "paused"),
            ("recording", "recording"),
            ("idle", "idle"),
        ]
        .iter()
        .map(|(s, v)| (s.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want, "{seen:?}");
        let file = seen
            .iter()
            .find_map(|e| e["file"].as_str())
            .expect("an event names the file");
        assert!(file.starts_with("Record_"), "{file}");
        assert!(seen
            .iter()
            .filter(|e| e["event"] == "status")
            .all(|e| e["call_id"] == "c1" || e["state"] == "idle"));
        let seqs: Vec<u64> = seen.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }
}

#[test]
fn the_notification_tone_comes_every_interval_while_recording() {
    let dir = TempDir::new("sub-tone");
    let spec = AgentSpec::host(dir.path())
        .settings(r#"{"policy":"always","tone":true,"tone_interval_s":10}"#);
    let agent = Agent::start(&spec);
    let mut w = agent.watch();
    agent.call("answered", "c1", "");
    let mut seen = Vec::new();
    let tone = w.until(&mut seen, |e| e["event"] == "tone");
    assert_eq!(tone["call_id"], "c1");
    // No packets were sent, so no recorded time; the tone comes by the clock of the recording,
    // which had started before it.
    assert!(
        seen.iter()
            .any(|e| e["event"] == "status" && e["state"] == "recording"),
        "{seen:?}"
    );
    agent.call("ended", "c1", "");
}

#[test]
fn a_stalled_subscriber_is_dropped_and_holds_nothing_up() {
    let dir = TempDir::new("sub-stall");
    let spec = AgentSpec::host(dir.path());
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    // Subscribes, then never reads.
    let mut stalled = UnixStream::connect(&agent.socket).unwrap();
    stalled.write_all(b"{\"v\":1,\"cmd\":\"watch\"}\n").unwrap();
    // A subscriber that keeps up, counting the refusals it sees until the recording ends.
    let good = agent.watch();
    let counter = std::thread::spawn(move || {
        let mut good = good;
        let mut refusals = 0;
        loop {
            let e = good.next();
            if e["event"] == "refused" {
                refusals += 1;
            }
            if e["event"] == "status" && e["state"] == "idle" {
                return refusals;
            }
        }
    });
    let s = Sender::new(agent.tap);
    agent.ok("start");
    for seq in 0..50u16 {
        s.send(seq, u32::from(seq) * 160, &[0x31; 160]);
    }
    // Thousands of events (each a refused call event), far more than the stalled
    // subscriber's socket and queue take.
    const PRESSES: usize = 6000;
    let mut ctl = UnixStream::connect(&agent.socket).unwrap();
    let mut answers = BufReader::new(ctl.try_clone().unwrap());
    let mut line = String::new();
    for _ in 0..PRESSES {
        ctl.write_all(
            b"{\"v\":1,\"cmd\":\"call\",\"event\":\"held\",\"call\":{\"id\":\"nobody\"}}\n",
        )
        .unwrap();
        line.clear();
        answers.read_line(&mut line).unwrap();
        assert!(line.contains("\"ok\":false"), "{line}");
    }
    for seq in 50..100u16 {
        s.send(seq, u32::from(seq) * 160, &[0x32; 160]);
    }
    let st = agent.ok("stop");
    assert_eq!(st.counters.audio, 100, "recording went on");
    assert_eq!(data_of(&record_files(&stick)[0]).len(), 100 * 160);
    assert_eq!(
        counter.join().unwrap(),
        PRESSES,
        "the good subscriber saw every event"
    );

    // The stalled one was cut off: its stream ends, short of the events.
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut all = Vec::new();
    stalled.read_to_end(&mut all).expect("the agent closes it");
    let text = String::from_utf8_lossy(&all);
    let events = text.lines().filter(|l| l.contains("\"event\"")).count();
    assert!(events < PRESSES, "a stalled subscriber got {events} events");
    assert!(
        agent.log().contains("event subscriber dropped"),
        "{}",
        agent.log()
    );
}
