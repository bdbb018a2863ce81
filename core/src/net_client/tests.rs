use super::*;

fn request() -> StartRequest {
    crate::net_server::pair::request("r1")
}

fn leg() -> Leg {
    Leg::new(
        request(),
        LegTimeouts {
            connect_ms: 100,
            start_ms: 200,
            stop_ms: 300,
        },
        1000,
    )
}

fn started(pause_ext: bool) -> Leg {
    let mut l = leg();
    l.on_connected(1010);
    l.poll_transmit().unwrap();
    let ext = if pause_ext { "&ext=pause" } else { "" };
    l.on_line(
        format!("cmd=RecordStartResponse&id=r1&result=success&server=10.0.0.5&port=40002{ext}")
            .as_bytes(),
    );
    l
}

#[test]
fn start_request_is_sent_on_connect_and_offers_pause() {
    let mut l = leg();
    assert_eq!(l.poll_timeout(), Some(1100));
    l.on_connected(1010);
    let line = l.poll_transmit().unwrap();
    assert_eq!(
        line,
        "cmd=RecordStartRequest&id=r1&device=001565AABBCC&remote_number=1002\
         &remote_name=%E5%BC%A0%E4%B8%89&local_number=1001&local_name=Desk&dir=in&codec=PCMA\
         &ext=pause\n"
    );
    assert_eq!(l.state(), &LegState::Starting);
    assert_eq!(l.poll_timeout(), Some(1210));
}

#[test]
fn success_streams_and_stop_waits_for_the_answer() {
    let mut l = started(false);
    assert_eq!(l.rtp_destination(), Some(("10.0.0.5", 40002)));
    assert_eq!(l.poll_timeout(), None);
    l.stop(5000, "user");
    let line = l.poll_transmit().unwrap();
    assert!(
        line.starts_with("cmd=RecordStopRequest&id=r1&remote_number=1002"),
        "{line}"
    );
    assert!(line.ends_with("&reason=user\n"));
    assert_eq!(l.rtp_destination(), None);
    l.on_line(b"cmd=RecordStopResponse&id=r1&result=success");
    assert_eq!(l.ended(), Some(&LegEnd::Stopped));
}

#[test]
fn failures_end_the_leg_with_their_reason() {
    let mut l = leg();
    l.on_connect_failed("connection refused");
    assert_eq!(l.ended().map(LegEnd::code), Some("server_unreachable"));

    let mut l = leg();
    l.handle_timeout(1100);
    assert_eq!(l.ended().map(LegEnd::code), Some("server_unreachable"));

    let mut l = leg();
    l.on_connected(1010);
    l.handle_timeout(1209);
    assert!(l.ended().is_none());
    l.handle_timeout(1210);
    assert_eq!(l.ended(), Some(&LegEnd::StartTimeout));

    let mut l = leg();
    l.on_connected(1010);
    l.on_line(b"cmd=RecordStartResponse&id=r1&result=failed&reason=disk+full");
    assert_eq!(l.ended(), Some(&LegEnd::Refused("disk full".into())));

    let mut l = started(false);
    l.on_closed("reset by peer");
    assert_eq!(l.ended().map(LegEnd::code), Some("server_connection_lost"));

    let mut l = started(false);
    l.stop(2000, "x");
    l.handle_timeout(2300);
    assert_eq!(l.ended(), Some(&LegEnd::StopTimeout));

    // A server that closes after our stop has finished the session.
    let mut l = started(false);
    l.stop(2000, "x");
    l.on_closed("eof");
    assert_eq!(l.ended(), Some(&LegEnd::Stopped));
}

#[test]
fn pause_messages_go_only_to_a_server_that_knows_them() {
    let mut plain = started(false);
    assert!(plain.pause());
    assert_eq!(plain.rtp_destination(), None);
    assert_eq!(plain.poll_transmit(), None);
    assert!(plain.resume(3000));
    assert_eq!(plain.poll_transmit(), None);
    assert!(plain.rtp_destination().is_some());

    let mut ext = started(true);
    assert!(ext.pause());
    assert_eq!(
        ext.poll_transmit().as_deref(),
        Some("cmd=RecordPauseRequest&id=r1\n")
    );
    assert!(!ext.pause());
    assert!(ext.resume(3000));
    assert_eq!(
        ext.poll_transmit().as_deref(),
        Some("cmd=RecordResumeRequest&id=r1\n")
    );
    // No RTP until the server has resumed the session.
    assert_eq!(ext.rtp_destination(), None);
    ext.on_line(b"cmd=RecordResumeResponse&id=r1&result=success");
    assert_eq!(ext.rtp_destination(), Some(("10.0.0.5", 40002)));
    // A server that never answers the resume gets the RTP after the time limit.
    assert!(ext.pause());
    assert!(ext.resume(4000));
    ext.handle_timeout(4199);
    assert_eq!(ext.rtp_destination(), None);
    ext.handle_timeout(4200);
    assert!(ext.rtp_destination().is_some());
}

#[test]
fn answers_for_other_sessions_and_garbage_are_ignored() {
    let mut l = leg();
    l.on_connected(1010);
    l.on_line(b"cmd=RecordStartResponse&id=other&result=success&server=1.2.3.4&port=5");
    l.on_line(b"\xff\xfe garbage");
    l.on_line(b"cmd=RecordStartResponse&id=r1&result=success&server=&port=5");
    assert_eq!(l.ended().map(LegEnd::code), Some("server_protocol_error"));
}
