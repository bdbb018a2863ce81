use super::*;
use serde_json::json;

fn parse(text: &str) -> Message {
    message::parse(text.as_bytes()).unwrap()
}

fn outgoing() -> Outgoing {
    Outgoing {
        call_id: "c0ffee@127.0.0.1".into(),
        local_tag: "lt1".into(),
        local_uri: "sip:1001@127.0.0.1".into(),
        remote_uri: "sip:1002@127.0.0.1:5070".into(),
        via: "127.0.0.1:40000".into(),
        local_user: "1001".into(),
    }
}

/// A 200 as Kamailio (tests/kamailio/record.cfg) sends it.
const OK: &str = "SIP/2.0 200 OK\r\n\
    Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKa;rport=40000\r\n\
    From: <sip:1001@127.0.0.1>;tag=lt1\r\n\
    To: <sip:1002@127.0.0.1:5070>;tag=b9dc.8591\r\n\
    Call-ID: c0ffee@127.0.0.1\r\n\
    CSeq: 1 INVITE\r\n\
    Contact: <sip:1002@127.0.0.1:5070>\r\n\
    Record-Route: <sip:127.0.0.1:5070;lr;rr=2>\r\n\
    Record-Route: <sip:127.0.0.1:5070;lr;rr=1>\r\n\
    Content-Length: 0\r\n\r\n";

#[test]
fn the_invite_is_byte_exact() {
    assert_eq!(
        outgoing().invite("z9hG4bKa"),
        "INVITE sip:1002@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKa;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:1001@127.0.0.1>;tag=lt1\r\n\
         To: <sip:1002@127.0.0.1:5070>\r\n\
         Call-ID: c0ffee@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:1001@127.0.0.1:40000>\r\n\
         User-Agent: callrec-sim\r\n\
         Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn the_dialog_of_the_200_reverses_the_record_route() {
    let d = outgoing().dialog(&parse(OK)).unwrap();
    assert_eq!(d.call_id, "c0ffee@127.0.0.1");
    assert_eq!(
        (d.local_tag.as_str(), d.remote_tag.as_str()),
        ("lt1", "b9dc.8591")
    );
    assert_eq!(d.local_uri, "sip:1001@127.0.0.1");
    assert_eq!(d.remote_uri, "sip:1002@127.0.0.1:5070");
    assert_eq!(d.remote_target, "sip:1002@127.0.0.1:5070");
    assert_eq!(
        d.route_set,
        [
            "<sip:127.0.0.1:5070;lr;rr=1>",
            "<sip:127.0.0.1:5070;lr;rr=2>"
        ]
    );
    assert_eq!(d.transport, Transport::Udp);
    assert_eq!(d.local_cseq, Some(1));
    assert_eq!(d.via.as_deref(), Some("127.0.0.1:40000"));

    // One header with a list, a Contact with parameters, none at all.
    let listed = OK
        .replace(
            "Record-Route: <sip:127.0.0.1:5070;lr;rr=2>\r\nRecord-Route: <sip:127.0.0.1:5070;lr;rr=1>",
            "Record-Route: <sip:p2;lr>, <sip:p1;lr>",
        )
        .replace(
            "Contact: <sip:1002@127.0.0.1:5070>",
            "m: \"Bob, B\" <sip:1002@192.0.2.4:5062;transport=udp>;expires=60",
        );
    let d = outgoing().dialog(&parse(&listed)).unwrap();
    assert_eq!(d.route_set, ["<sip:p1;lr>", "<sip:p2;lr>"]);
    assert_eq!(d.remote_target, "sip:1002@192.0.2.4:5062;transport=udp");
    let bare = OK
        .replace("Contact: <sip:1002@127.0.0.1:5070>\r\n", "")
        .replace("Record-Route: <sip:127.0.0.1:5070;lr;rr=2>\r\n", "")
        .replace("Record-Route: <sip:127.0.0.1:5070;lr;rr=1>\r\n", "");
    let d = outgoing().dialog(&parse(&bare)).unwrap();
    assert_eq!(d.remote_target, "sip:1002@127.0.0.1:5070");
    assert!(d.route_set.is_empty());

    let untagged = OK.replace(";tag=b9dc.8591", "");
    assert!(outgoing()
        .dialog(&parse(&untagged))
        .unwrap_err()
        .contains("tag"));
}

#[test]
fn ack_and_bye_follow_the_route_set() {
    let d = outgoing().dialog(&parse(OK)).unwrap();
    assert_eq!(
        in_dialog(&d, "BYE", 3, "z9hG4bKb"),
        "BYE sip:1002@127.0.0.1:5070 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKb;rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:127.0.0.1:5070;lr;rr=1>\r\n\
         Route: <sip:127.0.0.1:5070;lr;rr=2>\r\n\
         From: <sip:1001@127.0.0.1>;tag=lt1\r\n\
         To: <sip:1002@127.0.0.1:5070>;tag=b9dc.8591\r\n\
         Call-ID: c0ffee@127.0.0.1\r\n\
         CSeq: 3 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // A strict router: it becomes the Request-URI, the remote target the last Route.
    let strict = Dialog {
        route_set: vec!["<sip:strict.example.com>".into(), "<sip:p2;lr>".into()],
        ..d
    };
    let ack = in_dialog(&strict, "ACK", 1, "z9hG4bKc");
    assert!(
        ack.starts_with("ACK sip:strict.example.com SIP/2.0\r\n"),
        "{ack}"
    );
    assert!(ack.contains("Route: <sip:p2;lr>\r\nRoute: <sip:1002@127.0.0.1:5070>\r\n"));
    assert!(ack.contains("CSeq: 1 ACK\r\n"));
}

#[test]
fn the_ack_of_a_failure_keeps_the_branch_and_the_to() {
    let busy = parse(
        &OK.replace("200 OK", "486 Busy Here")
            .replace(";tag=b9dc.8591", ";tag=busy"),
    );
    let ack = outgoing().ack_failure("z9hG4bKa", &busy);
    assert!(ack.starts_with("ACK sip:1002@127.0.0.1:5070 SIP/2.0\r\n"));
    assert!(ack.contains(";branch=z9hG4bKa;"));
    assert!(ack.contains("To: <sip:1002@127.0.0.1:5070>;tag=busy\r\n"));
    assert!(ack.contains("CSeq: 1 ACK\r\n"));
}

fn event() -> Value {
    json!({"v":1,"event":"sip_request","seq":9,"tid":"info-1","call_id":"c1","record":"on",
        "method":"INFO","uri":"sip:1002@192.0.2.4:5060",
        "headers":[["Route","<sip:192.0.2.1;lr>"],["From","<sip:1001@pbx>;tag=a"],
                   ["To","<sip:1002@pbx>;tag=b"],["Call-ID","x@pbx"],["Record","on"],
                   ["Content-Length","0"]],
        "wire":"INFO sip:1002@192.0.2.4:5060 SIP/2.0\r\n"})
}

#[test]
fn a_sip_request_event_is_read_and_built_as_a_stack_would() {
    let r = AgentRequest::from_event(&event()).unwrap();
    assert_eq!(r.tid, "info-1");
    assert_eq!(r.call.as_deref(), Some("c1"));
    assert_eq!(r.label(), "INFO Record: on");
    assert_eq!(r.sip_call_id(), Some("x@pbx"));
    assert_eq!(
        r.wire.as_deref(),
        Some("INFO sip:1002@192.0.2.4:5060 SIP/2.0\r\n")
    );
    assert_eq!(
        r.build("127.0.0.1:40000", "z9hG4bKd", 7).unwrap(),
        "INFO sip:1002@192.0.2.4:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKd;rport\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:192.0.2.1;lr>\r\n\
         From: <sip:1001@pbx>;tag=a\r\n\
         To: <sip:1002@pbx>;tag=b\r\n\
         Call-ID: x@pbx\r\n\
         CSeq: 7 INFO\r\n\
         Record: on\r\n\
         Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn a_stack_refuses_what_would_break_its_message() {
    let with = |f: &dyn Fn(&mut AgentRequest)| {
        let mut r = AgentRequest::from_event(&event()).unwrap();
        f(&mut r);
        r.build("127.0.0.1:40000", "z9hG4bKd", 7)
    };
    assert!(with(&|r| r.headers[4].1 = "on\r\nBYE: x".into()).is_err());
    assert!(with(&|r| r.headers[4].0 = "Rec ord".into()).is_err());
    assert!(with(&|r| r.headers.push(("v".into(), "SIP/2.0/UDP x".into()))).is_err());
    assert!(with(&|r| r.headers.push(("CSeq".into(), "1 INFO".into()))).is_err());
    assert!(with(&|r| r.headers[5].1 = "12".into()).is_err());
    assert!(with(&|r| r.method = "IN FO".into()).is_err());
    assert!(with(&|r| r.uri = "sip:a b".into()).is_err());

    let no_tid = json!({"event":"sip_request","method":"INFO"});
    assert_eq!(AgentRequest::from_event(&no_tid).unwrap_err().0, None);
    let bad_headers = json!({"tid":"t","method":"INFO","uri":"sip:x","headers":[["a"]]});
    assert_eq!(
        AgentRequest::from_event(&bad_headers)
            .unwrap_err()
            .0
            .as_deref(),
        Some("t")
    );
}

#[test]
fn values_and_parameters() {
    assert_eq!(
        split_list("<sip:a;lr>, \"x, y\" <sip:b>,<sip:c>"),
        ["<sip:a;lr>", "\"x, y\" <sip:b>", "<sip:c>"]
    );
    assert_eq!(
        uri_of("\"Bob\" <sip:b@h;transport=udp>;tag=1"),
        "sip:b@h;transport=udp"
    );
    assert_eq!(uri_of("sip:b@h;tag=1"), "sip:b@h");
    assert_eq!(param("<sip:b@h;tag=no>;tag=yes", "tag"), Some("yes"));
    assert_eq!(param("sip:b@h;TAG=x", "tag"), Some("x"));
    assert_eq!(
        param("SIP/2.0/UDP h:1;rport;branch=z9hG4bK1", "branch"),
        Some("z9hG4bK1")
    );
    assert_eq!(param("<sip:b@h>", "tag"), None);
    assert_eq!(user_part("", "1001"), "1001");
    assert_eq!(user_part("+49 30#1", "x"), "+49%2030%231");
    assert_eq!(host_of("127.0.0.1:5060"), "127.0.0.1");
    assert_eq!(host_of("[::1]:5060"), "[::1]");
    let m = parse(OK);
    assert_eq!(summary(&m), "200 OK");
    assert_eq!(code(&m), Some(200));
    let (key, cseq) = TxKey::of(&m).unwrap();
    assert_eq!(
        (key.branch.as_str(), key.method.as_str(), cseq),
        ("z9hG4bKa", "INVITE", 1)
    );
}

#[test]
fn ids_are_fresh_and_well_formed() {
    let mut ids = Ids::new(7);
    let (a, b) = (ids.branch(), ids.branch());
    assert_ne!(a, b);
    assert!(a.starts_with("z9hG4bK"));
    let tag = ids.tag();
    assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(ids.call_id("127.0.0.1").ends_with("@127.0.0.1"));
    let d = made_up_dialog(
        &mut ids,
        "1001",
        "1002",
        "127.0.0.1:5070",
        "127.0.0.1:40000",
    );
    assert_eq!(d.validate(), Ok(()));
    assert!(d.call_id.starts_with("none-"));
    assert_eq!(d.remote_target, "sip:1002@127.0.0.1:5070");
}
