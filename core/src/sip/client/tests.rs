use super::*;
use crate::sip::dialog::sample;

fn dialog() -> Dialog {
    Dialog {
        route_set: Vec::new(),
        local_cseq: Some(10),
        ..sample()
    }
}

fn call() -> CallInfo {
    CallInfo {
        id: Some("c1".into()),
        dialog: Some(Box::new(dialog())),
        ..CallInfo::default()
    }
}

/// A response as a PBX sends it, compact forms and all.
fn response(code: u16, reason: &str, call_id: &str, cseq: &str) -> Vec<u8> {
    format!(
        "SIP/2.0 {code} {reason}\r\nv: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKx\r\n\
         f: <sip:1001@pbx.example.com>;tag=1928301774\r\nt: <sip:1002@pbx.example.com>;tag=a6c85cf\r\n\
         i: {call_id}\r\nCSeq: {cseq}\r\nl: 0\r\n\r\n"
    )
    .into_bytes()
}

fn ok(cseq: &str) -> Vec<u8> {
    response(200, "OK", &dialog().call_id, cseq)
}

#[test]
fn on_and_off_follow_the_answers() {
    let mut c = InfoClient::new(1);
    c.start(0, &call()).unwrap();
    assert_eq!(c.phase(), Phase::Starting);
    let on = c.poll_request().unwrap();
    assert_eq!((on.tid.as_str(), on.record), ("info-1", true));
    assert_eq!(on.request.header("Record"), Some("on"));
    let wire = on.wire.as_deref().unwrap();
    assert!(wire.contains("\r\nCSeq: 11 INFO\r\n"), "{wire}");
    assert!(wire.starts_with("INFO sip:1002@192.0.2.4:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5060;rport;branch=z9hG4bK"));
    // A provisional answer changes nothing.
    c.on_response(
        10,
        "info-1",
        &response(100, "Trying", &dialog().call_id, "11 INFO"),
    )
    .unwrap();
    assert_eq!(c.phase(), Phase::Starting);
    c.on_response(40, "info-1", &ok("11 INFO")).unwrap();
    assert_eq!(c.phase(), Phase::Recording);
    assert_eq!(c.poll_timeout(), None);
    c.stop(1040, StopWhy::Requested);
    let off = c.poll_request().unwrap();
    assert_eq!((off.tid.as_str(), off.record), ("info-2", false));
    assert!(off
        .wire
        .unwrap()
        .contains("CSeq: 12 INFO\r\nRecord: off\r\n"));
    assert_eq!(c.phase(), Phase::Stopping);
    c.on_response(1100, "info-2", &ok("12 info")).unwrap();
    assert_eq!(c.phase(), Phase::Idle);
    assert_eq!(c.recorded_ms(5000), 1060);
    assert_eq!(c.failure(), None);
}

#[test]
fn refusals_fail_with_the_code_and_a_meaning() {
    for (code, reason, meaning) in [
        (403, "Forbidden", "not allowed"),
        (
            481,
            "Call/Transaction Does Not Exist",
            "does not know this call",
        ),
        (
            405,
            "Method Not Allowed",
            "does not take recording requests",
        ),
        (501, "Not Implemented", "does not take recording requests"),
        (486, "Busy Here", "refused"),
        (603, "Decline", "refused"),
    ] {
        let mut c = InfoClient::new(1);
        c.start(0, &call()).unwrap();
        let tid = c.poll_request().unwrap().tid;
        c.on_response(
            5,
            &tid,
            &response(code, reason, &dialog().call_id, "11 INFO"),
        )
        .unwrap();
        assert_eq!(c.phase(), Phase::Idle);
        let (got, message) = c.failure().unwrap();
        assert_eq!(got, format!("sip_{code}"));
        assert!(
            message.contains(meaning) && message.contains(reason),
            "{message}"
        );
    }
}

#[test]
fn a_refused_stop_leaves_the_recording_as_the_pbx_confirmed_it() {
    let mut c = InfoClient::new(1);
    c.start(0, &call()).unwrap();
    let on = c.poll_request().unwrap();
    c.on_response(1, &on.tid, &ok("11 INFO")).unwrap();
    c.stop(2, StopWhy::Requested);
    let off = c.poll_request().unwrap();
    c.on_response(
        3,
        &off.tid,
        &response(403, "Forbidden", &dialog().call_id, "12 INFO"),
    )
    .unwrap();
    assert_eq!(c.phase(), Phase::Recording);
    assert_eq!(c.failure().unwrap().0, "sip_403");
    // The key again: another Record: off.
    c.stop(4, StopWhy::Requested);
    assert!(!c.poll_request().unwrap().record);
}

#[test]
fn no_final_answer_in_32_s_is_a_timeout() {
    let mut c = InfoClient::new(1);
    c.start(1000, &call()).unwrap();
    c.poll_request().unwrap();
    assert_eq!(c.poll_timeout(), Some(33_000));
    c.handle_timeout(32_999);
    assert_eq!(c.phase(), Phase::Starting);
    c.handle_timeout(33_000);
    assert_eq!(c.phase(), Phase::Idle);
    assert_eq!(c.failure().unwrap().0, "sip_timeout");
    // A late answer names a request nobody waits for.
    assert!(c.on_response(40_000, "info-1", &ok("11 INFO")).is_err());
}

#[test]
fn a_key_while_pending_is_queued_and_the_call_end_cleans_up() {
    let mut c = InfoClient::new(1);
    c.start(0, &call()).unwrap();
    let on = c.poll_request().unwrap();
    // Stop while Record: on is pending: nothing goes out until its answer.
    c.stop(5, StopWhy::Requested);
    assert_eq!(c.poll_request(), None);
    c.on_response(6, &on.tid, &ok("11 INFO")).unwrap();
    let off = c.poll_request().unwrap();
    assert!(!off.record);
    assert_eq!(c.phase(), Phase::Stopping);
    // The call ends while Record: off is pending: nothing more is sent, the answer is moot.
    c.stop(7, StopWhy::CallEnded);
    assert_eq!(
        (c.phase(), c.poll_request(), c.poll_timeout()),
        (Phase::Idle, None, None)
    );
    assert!(c.on_response(8, &off.tid, &ok("12 INFO")).is_err());
    // A queued stop after a refused start: nothing to stop.
    let mut d = InfoClient::new(1);
    d.start(0, &call()).unwrap();
    let on = d.poll_request().unwrap();
    d.stop(1, StopWhy::Requested);
    d.on_response(
        2,
        &on.tid,
        &response(481, "Gone", &dialog().call_id, "11 INFO"),
    )
    .unwrap();
    assert_eq!((d.phase(), d.poll_request()), (Phase::Idle, None));
}

#[test]
fn reports_that_do_not_fit_are_refused_and_the_request_stays_pending() {
    let mut c = InfoClient::new(1);
    c.start(0, &call()).unwrap();
    let tid = c.poll_request().unwrap().tid;
    let err = |c: &mut InfoClient, raw: &[u8]| c.on_response(1, &tid, raw).unwrap_err().to_string();
    assert!(err(&mut c, b"garbage").contains("not SIP"));
    assert!(err(
        &mut c,
        b"INFO sip:x SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 INFO\r\n\r\n"
    )
    .contains("a request"));
    assert!(err(&mut c, &response(200, "OK", "other@call", "11 INFO")).contains("another call"));
    assert!(err(&mut c, &response(200, "OK", &dialog().call_id, "11 INVITE")).contains("INFO"));
    assert!(c
        .on_response(1, "info-99", &ok("11 INFO"))
        .unwrap_err()
        .to_string()
        .contains("info-99"));
    assert_eq!(c.phase(), Phase::Starting);
    c.on_error(2, &tid, "no route\nto host").unwrap();
    assert_eq!(
        c.failure().unwrap(),
        (
            "sip_transport",
            "the phone could not send the request: no routeto host"
        )
    );
}

#[test]
fn without_a_dialog_nothing_starts_and_without_via_no_wire_is_made() {
    let mut c = InfoClient::new(1);
    let err = c.start(0, &CallInfo::default()).unwrap_err();
    assert_eq!(err.code(), "no_dialog");
    let mut d = dialog();
    d.via = None;
    c.start(
        0,
        &CallInfo {
            dialog: Some(Box::new(d)),
            ..CallInfo::default()
        },
    )
    .unwrap();
    let r = c.poll_request().unwrap();
    assert_eq!(r.wire, None);
    let line = r.encode(7);
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(v["event"], "sip_request");
    assert_eq!(v["method"], "INFO");
    assert_eq!(v["headers"][3], serde_json::json!(["Record", "on"]));
    assert!(v.get("wire").is_none());
}

#[test]
fn branches_differ_and_cseq_follows_the_stacks_updates() {
    let mut c = InfoClient::new(7);
    c.start(0, &call()).unwrap();
    let a = c.poll_request().unwrap().wire.unwrap();
    c.on_response(1, "info-1", &ok("11 INFO")).unwrap();
    // The stack sent requests of its own meanwhile (up to CSeq 20).
    let mut d = dialog();
    d.local_cseq = Some(20);
    c.set_dialog(&d);
    c.stop(2, StopWhy::Requested);
    let b = c.poll_request().unwrap().wire.unwrap();
    assert!(b.contains("CSeq: 21 INFO"), "{b}");
    let branch = |w: &str| w.split("branch=").nth(1).unwrap()[..23].to_owned();
    assert_ne!(branch(&a), branch(&b));
}
