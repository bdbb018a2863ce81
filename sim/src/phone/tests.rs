use super::*;
use callrec_core::sip::message::{parse, Message};
use serde_json::json;
use std::time::Duration;

const VIA: &str = "127.0.0.1:40000";
const PBX: &str = "127.0.0.1:5070";

fn sent(out: &[Output]) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(s) => Some(parse(s.as_bytes()).unwrap()),
            Output::Done(..) => None,
        })
        .collect()
}

fn done(out: &[Output]) -> Vec<(TxId, Outcome)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Done(id, outcome) => Some((*id, outcome.clone())),
            Output::Send(_) => None,
        })
        .collect()
}

/// The PBX's answer to `request`, as a UAS builds it (RFC 3261 §8.2.6.2).
fn answer(request: &Message, status: &str, to_tag: &str, extra: &str) -> String {
    let h = |n: &str| request.header(n).unwrap();
    let to = if to_tag.is_empty() || h("To").contains("tag=") {
        h("To").to_string()
    } else {
        format!("{};tag={to_tag}", h("To"))
    };
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         {extra}Content-Length: 0\r\n\r\n",
        h("Via"),
        h("From"),
        h("Call-ID"),
        h("CSeq")
    )
}

fn method(m: &Message) -> &str {
    match &m.start {
        message::StartLine::Request { method, .. } => method,
        message::StartLine::Response { .. } => "response",
    }
}

/// A phone with call `c1` set up; the time.
fn established() -> (Phone, Instant) {
    let now = Instant::now();
    let mut phone = Phone::new(VIA, PBX, false, 1);
    let (id, out) = phone.invite("c1", "1001", "1002", now).unwrap();
    let invite = &sent(&out)[0];
    assert_eq!(method(invite), "INVITE");
    assert_eq!(phone.dialog("c1"), None, "no dialog before the 200");
    let ok = answer(
        invite,
        "200 OK",
        "pbx1",
        "Contact: <sip:1002@127.0.0.1:5070>\r\nRecord-Route: <sip:127.0.0.1:5070;lr>\r\n",
    );
    let out = phone.on_datagram(ok.as_bytes(), now);
    let acks = sent(&out);
    assert_eq!(method(&acks[0]), "ACK");
    assert_eq!(acks[0].header("Route"), Some("<sip:127.0.0.1:5070;lr>"));
    let d = done(&out);
    assert_eq!(d[0].0, id);
    assert!(matches!(&d[0].1, Outcome::Response { summary, .. } if summary == "200 OK"));
    (phone, now)
}

fn info_event(tid: &str, d: &Dialog, cseq: u32, branch: &str) -> AgentRequest {
    let wire = format!(
        "INFO {} SIP/2.0\r\nVia: SIP/2.0/UDP {VIA};branch={branch}\r\nMax-Forwards: 70\r\n\
         From: <{}>;tag={}\r\nTo: <{}>;tag={}\r\nCall-ID: {}\r\nCSeq: {cseq} INFO\r\n\
         Record: on\r\nContent-Length: 0\r\n\r\n",
        d.remote_target, d.local_uri, d.local_tag, d.remote_uri, d.remote_tag, d.call_id
    );
    let v = json!({"event":"sip_request","tid":tid,"call_id":"c1","record":"on","method":"INFO",
        "uri":d.remote_target,"headers":[["From",format!("<{}>;tag={}",d.local_uri,d.local_tag)],
        ["To",format!("<{}>;tag={}",d.remote_uri,d.remote_tag)],["Call-ID",d.call_id],
        ["Record","on"],["Content-Length","0"]],"wire":wire});
    AgentRequest::from_event(&v).unwrap()
}

#[test]
fn a_call_is_placed_and_hung_up() {
    let (mut phone, now) = established();
    let d = phone.dialog("c1").unwrap();
    assert_eq!(d.remote_tag, "pbx1");
    assert_eq!(d.local_cseq, Some(1));
    assert_eq!(d.via.as_deref(), Some(VIA));
    assert_eq!(d.route_set, ["<sip:127.0.0.1:5070;lr>"]);

    let (_, out) = phone.bye("c1", now).unwrap().unwrap();
    let bye = &sent(&out)[0];
    assert_eq!(bye.header("CSeq"), Some("2 BYE"));
    assert_eq!(phone.dialog("c1"), None, "forgotten at once");
    let out = phone.on_datagram(answer(bye, "200 OK", "", "").as_bytes(), now);
    assert_eq!(done(&out).len(), 1);
    assert_eq!(phone.deadline(), None);
    assert!(phone.bye("c1", now).is_none());
}

#[test]
fn the_wire_is_sent_as_is_and_its_cseq_followed() {
    let (mut phone, now) = established();
    let d = phone.dialog("c1").unwrap();
    let req = info_event("info-1", &d, 2, "z9hG4bKagent1");
    let (id, out) = phone.agent_request(&req, now).unwrap();
    assert_eq!(out, [Output::Send(req.wire.clone().unwrap())]);
    assert_eq!(phone.dialog("c1").unwrap().local_cseq, Some(2));

    // A provisional answer is no answer; then the final one is the outcome, whole.
    let info = &sent(&out)[0];
    let trying = answer(info, "100 Trying", "", "");
    assert!(phone.on_datagram(trying.as_bytes(), now).is_empty());
    let ok = answer(info, "200 OK", "", "");
    let out = phone.on_datagram(ok.as_bytes(), now);
    assert_eq!(
        done(&out),
        [(
            id,
            Outcome::Response {
                raw: ok.clone(),
                summary: "200 OK".into()
            }
        )]
    );
    // A retransmitted 200 matches nothing any more.
    assert!(phone.on_datagram(ok.as_bytes(), now).is_empty());
    // The BYE comes after the INFO's CSeq.
    let (_, out) = phone.bye("c1", now).unwrap().unwrap();
    assert_eq!(sent(&out)[0].header("CSeq"), Some("3 BYE"));
}

#[test]
fn with_build_the_stack_numbers_and_brands_the_request() {
    let now = Instant::now();
    let mut phone = Phone::new(VIA, PBX, true, 1);
    phone.made_up("c1", "1001", "1002").unwrap();
    let d = phone.dialog("c1").unwrap();
    let mut req = info_event("info-1", &d, 99, "z9hG4bKagent");
    req.wire = None;
    let (_, out) = phone.agent_request(&req, now).unwrap();
    let info = &sent(&out)[0];
    assert_eq!(info.header("CSeq"), Some("2 INFO"));
    assert!(!info.header("Via").unwrap().contains("z9hG4bKagent"));
    assert_eq!(info.header("Max-Forwards"), Some("70"));
    assert_eq!(phone.dialog("c1").unwrap().local_cseq, Some(2));
    // A made-up dialog is never hung up.
    assert!(phone.bye("c1", now).is_none());
    // A request for no dialog of this stack is not sent.
    let mut other = req.clone();
    other.headers[2].1 = "unknown@pbx".into();
    assert!(phone.agent_request(&other, now).is_err());
}

#[test]
fn what_cannot_be_sent_is_an_error() {
    let (mut phone, now) = established();
    let d = phone.dialog("c1").unwrap();
    let mut req = info_event("t", &d, 2, "z9hG4bKx");
    req.wire = None;
    assert!(phone
        .agent_request(&req, now)
        .unwrap_err()
        .contains("--sip-build"));
    req.wire = Some("not sip".into());
    assert!(phone
        .agent_request(&req, now)
        .unwrap_err()
        .contains("does not parse"));
    let req = info_event("t", &d, 2, "z9hG4bKx");
    phone.agent_request(&req, now).unwrap();
    assert!(phone
        .agent_request(&req, now)
        .unwrap_err()
        .contains("same branch"));
}

#[test]
fn retransmissions_then_timeout() {
    let (mut phone, start) = established();
    let d = phone.dialog("c1").unwrap();
    let (id, _) = phone
        .agent_request(&info_event("t", &d, 2, "z9hG4bKy"), start)
        .unwrap();
    let mut sends = Vec::new();
    loop {
        let at = phone.deadline().unwrap();
        let out = phone.on_timer(at);
        let ms = (at - start).as_millis();
        if !done(&out).is_empty() {
            assert_eq!(done(&out), [(id, Outcome::Timeout)]);
            assert_eq!(ms, 32_000);
            break;
        }
        sends.extend(sent(&out).iter().map(|_| ms));
    }
    assert_eq!(sends[..4], [500, 1500, 3500, 7500]);
    assert_eq!(*sends.last().unwrap(), 31_500);
    assert_eq!(phone.deadline(), None);
}

#[test]
fn a_failed_invite_is_acked_and_leaves_no_dialog() {
    let now = Instant::now();
    let mut phone = Phone::new(VIA, PBX, false, 1);
    let (_, out) = phone.invite("c1", "1001", "1002", now).unwrap();
    let invite = &sent(&out)[0];
    let busy = answer(invite, "486 Busy Here", "x", "");
    let out = phone.on_datagram(busy.as_bytes(), now);
    let ack = &sent(&out)[0];
    assert_eq!(method(ack), "ACK");
    assert_eq!(ack.header("Via"), invite.header("Via"));
    assert_eq!(phone.dialog("c1"), None);
    // The call may be placed again; an unreachable PBX fails what is in flight.
    phone
        .invite("c1", "1001", "1002", now + Duration::from_secs(1))
        .unwrap();
    let out = phone.on_unreachable("refused");
    assert!(matches!(&done(&out)[0].1, Outcome::Transport(e) if e == "refused"));
    assert_eq!(phone.deadline(), None);
    assert!(phone.invite("c1", "1001", "1002", now).is_ok());
    assert!(phone.invite("c1", "1001", "1002", now).is_err());
}
