//! The server session alone (its lines and actions, byte for byte), then a phone's `Leg` against
//! it through simulated time ([`super::pair::Pair`]): loss, delay, resets, a hung server.

use super::pair::{request, Loss, Media, Pair, FIRST_PORT, SERVER_ADDR};
use super::*;
use crate::net_client::{LegEnd, LegState, LegTimeouts};
use crate::test_rng::Rng;
use std::collections::BTreeSet;

const START: &[u8] = b"cmd=RecordStartRequest&id=r1&device=001565AABBCC&dir=in&codec=PCMA";
const START_PAUSE: &[u8] =
    b"cmd=RecordStartRequest&id=r1&device=001565AABBCC&dir=in&codec=PCMA&ext=pause";

fn session() -> ServerSession {
    ServerSession::new(1000, ServerTimeouts::default())
}

fn actions(s: &mut ServerSession) -> Vec<Action> {
    std::iter::from_fn(|| s.poll_action()).collect()
}

fn lines(s: &mut ServerSession) -> Vec<String> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn notices(s: &mut ServerSession) -> Vec<Notice> {
    std::iter::from_fn(|| s.poll_notice()).collect()
}

/// A session recording `r1` on port 40000 since `now`, its start answered.
fn recording(start: &[u8], now: u64) -> ServerSession {
    let mut s = session();
    s.on_line(now, start);
    assert!(matches!(actions(&mut s)[..], [Action::Admit(_)]));
    s.on_admitted(SERVER_ADDR, FIRST_PORT);
    assert!(matches!(actions(&mut s)[..], [Action::StartMedia { .. }]));
    s.on_media_started(now);
    assert_eq!(lines(&mut s).len(), 1);
    assert_eq!(s.state(), ServerState::Recording { port: FIRST_PORT });
    s
}

fn cmd(line: &str) -> &str {
    line.strip_prefix("cmd=")
        .and_then(|l| l.split('&').next())
        .unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// The session alone

#[test]
fn a_start_is_admitted_then_its_media_started_then_answered() {
    let mut s = session();
    assert_eq!(s.state(), ServerState::Waiting);
    s.on_line(1500, START_PAUSE);
    let mut r = request("r1");
    r.remote_number.clear();
    r.remote_name.clear();
    r.local_number.clear();
    r.local_name.clear();
    r.extensions = Extensions::ALL;
    assert_eq!(actions(&mut s), [Action::Admit(Box::new(r.clone()))]);
    assert_eq!(s.state(), ServerState::Admitting);
    // Nothing is answered before the media runs.
    s.on_admitted("192.168.1.10", 40_007);
    assert_eq!(lines(&mut s), Vec::<String>::new());
    assert_eq!(
        actions(&mut s),
        [Action::StartMedia {
            request: Box::new(r),
            port: 40_007
        }]
    );
    assert_eq!(s.state(), ServerState::Starting { port: 40_007 });
    s.on_media_started(1600);
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordStartResponse&id=r1&result=success&reason=&server=192.168.1.10&port=40007&ext=pause\n"]
    );
    assert_eq!(s.state(), ServerState::Recording { port: 40_007 });
    // Until RTP comes, the no-RTP time counts from the start; then the idle time.
    assert_eq!(s.poll_timeout(), Some(1600 + 10_000 + 1));
    s.on_rtp(1600);
    assert_eq!(s.poll_timeout(), Some(1600 + 60_000 + 1));

    // A phone that offers nothing is answered without `ext`.
    let mut s = recording(START, 0);
    s.on_line(10, b"cmd=RecordPauseRequest&id=r1");
    assert!(actions(&mut s).is_empty());
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordPauseResponse&id=r1&result=failed\n"]
    );
}

#[test]
fn a_refused_admission_is_answered_with_its_reason_and_may_be_retried() {
    let mut s = session();
    s.on_line(1100, START);
    actions(&mut s);
    s.on_refused(&AdmitRefusal::SessionLimit);
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordStartResponse&id=r1&result=failed\
          &reason=server%20busy%3A%20session%20limit%20reached&server=&port=\n"]
    );
    assert!(actions(&mut s).is_empty());
    assert_eq!(s.state(), ServerState::Waiting);
    let n = notices(&mut s);
    assert_eq!(
        n,
        [Notice::Refused {
            id: "r1".into(),
            reason: "server busy: session limit reached".into()
        }]
    );
    assert!(!n[0].is_peer_fault());
    // Each refusal says why, as the phone is told.
    let reasons = [
        (AdmitRefusal::Field("id is empty".into()), "id is empty"),
        (AdmitRefusal::NoLocalAddress, "no local address"),
        (AdmitRefusal::StorageFull, "storage_full"),
        (
            AdmitRefusal::DuplicateId,
            "duplicate id: a session with this id is running",
        ),
        (AdmitRefusal::NoFreePort, "no free RTP port"),
        (AdmitRefusal::AddressLimit, "address_limit"),
        (AdmitRefusal::DeviceLimit, "device_limit"),
        (AdmitRefusal::UnknownDevice, "unknown_device"),
    ];
    for (refusal, text) in reasons {
        assert_eq!(refusal.to_string(), text);
    }
    // The same connection may try again.
    s.on_line(1200, START);
    assert!(matches!(actions(&mut s)[..], [Action::Admit(_)]));
}

#[test]
fn a_media_failure_releases_the_port_and_answers_failed() {
    for (failure, reason) in [
        (MediaFailure::Storage, "server%20storage%20error"),
        (MediaFailure::Busy, "server%20busy"),
    ] {
        let mut s = session();
        s.on_line(1100, START);
        actions(&mut s);
        s.on_admitted(SERVER_ADDR, 40_001);
        actions(&mut s);
        s.on_media_failed(failure);
        assert_eq!(
            actions(&mut s),
            [Action::Release {
                id: "r1".into(),
                port: 40_001
            }]
        );
        assert_eq!(
            lines(&mut s),
            [format!(
                "cmd=RecordStartResponse&id=r1&result=failed&reason={reason}&server=&port=\n"
            )]
        );
        assert_eq!(s.state(), ServerState::Waiting);
        assert_eq!(
            notices(&mut s),
            [Notice::NotStarted {
                id: "r1".into(),
                failure
            }]
        );
    }
}

#[test]
fn bad_lines_are_answered_where_the_protocol_has_an_answer() {
    let mut s = session();
    // A start missing its codec: failed, with the id it gave and why.
    s.on_line(
        1100,
        b"cmd=RecordStartRequest&id=x1&device=00:11:22:33:44:55&dir=in",
    );
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordStartResponse&id=x1&result=failed&reason=field%20codec%20is%20missing&server=&port=\n"]
    );
    // A stop that does not parse: failed with a reason (an extra key).
    s.on_line(1100, b"cmd=RecordStopRequest&id=%zz");
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordStopResponse&id=&result=failed&reason=field%20id%20has%20a%20bad%20percent%20escape\n"]
    );
    // Each is a notice for the log, not a log line of the session's own.
    assert_eq!(
        notices(&mut s),
        [
            Notice::BadLine(ParseError::MissingField("codec")),
            Notice::BadLine(ParseError::BadEncoding { field: "id" })
        ]
    );
    // An unknown cmd, a line without cmd first, garbage, an empty line, a response from a
    // phone: no answer, nothing asked, the connection stays open.
    for (line, notice) in [
        (
            &b"cmd=Hello&id=1"[..],
            Notice::BadLine(ParseError::UnknownCmd("Hello".into())),
        ),
        (
            b"id=first&cmd=RecordStartRequest",
            Notice::BadLine(ParseError::CmdNotFirst),
        ),
        (
            b"\xff\xfe\x00garbage",
            Notice::BadLine(ParseError::MissingCmd),
        ),
        (b"", Notice::BadLine(ParseError::Empty)),
        (
            b"cmd=RecordStopResponse&id=r1&result=success",
            Notice::Unexpected("RecordStopResponse"),
        ),
    ] {
        s.on_line(1200, line);
        assert_eq!(lines(&mut s), Vec::<String>::new(), "{line:?}");
        assert!(actions(&mut s).is_empty());
        assert_eq!(notices(&mut s), [notice], "{line:?}");
    }
    // A flood of them keeps at most MAX_NOTICES for a shell that never polls.
    for _ in 0..10_000 {
        s.on_line(1250, b"");
    }
    assert_eq!(notices(&mut s).len(), MAX_NOTICES);
    assert!(lines(&mut s).is_empty());
    assert_eq!(s.state(), ServerState::Waiting);
    s.on_line(1300, START);
    assert!(matches!(actions(&mut s)[..], [Action::Admit(_)]));
}

#[test]
fn a_second_start_or_a_stop_of_another_session_is_refused_and_changes_nothing() {
    let mut s = recording(START, 2000);
    s.on_line(
        2100,
        b"cmd=RecordStartRequest&id=r2&device=001565AABBCC&dir=in&codec=PCMA",
    );
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordStartResponse&id=r2&result=failed\
          &reason=a%20session%20is%20already%20running%20on%20this%20connection&server=&port=\n"]
    );
    s.on_line(2200, b"cmd=RecordStopRequest&id=other&reason=x");
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordStopResponse&id=other&result=failed\
          &reason=no%20such%20session%20on%20this%20connection\n"]
    );
    assert!(actions(&mut s).is_empty());
    assert_eq!(s.state(), ServerState::Recording { port: FIRST_PORT });
    // A stop before any session is refused the same way.
    let mut s = session();
    s.on_line(1100, b"cmd=RecordStopRequest&id=r1");
    assert_eq!(cmd(&lines(&mut s)[0]), "RecordStopResponse");
    assert!(actions(&mut s).is_empty());
}

#[test]
fn pause_and_resume_are_asked_of_the_media_and_answered_with_its_answer() {
    let mut s = recording(START_PAUSE, 0);
    // Another id: refused without asking.
    s.on_line(10, b"cmd=RecordPauseRequest&id=r9");
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordPauseResponse&id=r9&result=failed\n"]
    );
    assert!(actions(&mut s).is_empty());

    s.on_line(20, b"cmd=RecordPauseRequest&id=r1");
    assert_eq!(actions(&mut s), [Action::Pause { id: "r1".into() }]);
    assert_eq!(s.state(), ServerState::Toggling { port: FIRST_PORT });
    s.on_paused(true);
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordPauseResponse&id=r1&result=success\n"]
    );
    assert_eq!(s.state(), ServerState::Paused { port: FIRST_PORT });
    // A second pause is asked too; the media refuses it.
    s.on_line(30, b"cmd=RecordPauseRequest&id=r1");
    assert_eq!(actions(&mut s), [Action::Pause { id: "r1".into() }]);
    s.on_paused(false);
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordPauseResponse&id=r1&result=failed\n"]
    );
    assert_eq!(s.state(), ServerState::Paused { port: FIRST_PORT });

    s.on_line(40, b"cmd=RecordResumeRequest&id=r1");
    assert_eq!(actions(&mut s), [Action::Resume { id: "r1".into() }]);
    s.on_resumed(true);
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordResumeResponse&id=r1&result=success\n"]
    );
    assert_eq!(s.state(), ServerState::Recording { port: FIRST_PORT });
}

#[test]
fn the_phones_stop_is_answered_once_the_recording_is_finished_then_the_connection_closes() {
    for (line, reason) in [
        (&b"cmd=RecordStopRequest&id=r1&reason=user"[..], "user"),
        (b"cmd=RecordStopRequest&id=r1", "stop"),
    ] {
        let mut s = recording(START, 0);
        s.on_line(5000, line);
        assert_eq!(
            actions(&mut s),
            [Action::Stop {
                id: "r1".into(),
                reason: reason.into()
            }]
        );
        // Not answered before the media has finished.
        assert_eq!(lines(&mut s), Vec::<String>::new());
        assert_eq!(s.state(), ServerState::Stopping);
        assert_eq!(s.poll_timeout(), None);
        s.on_stopped();
        assert_eq!(
            actions(&mut s),
            [
                Action::Release {
                    id: "r1".into(),
                    port: FIRST_PORT
                },
                Action::Close
            ]
        );
        assert_eq!(
            lines(&mut s),
            ["cmd=RecordStopResponse&id=r1&result=success\n"]
        );
        assert_eq!(s.ended(), Some(&ServerEnd::Stopped(reason.into())));
        // Nothing after the end.
        s.on_line(5001, START);
        s.on_closed(ConnectionEnd::Closed);
        assert!(actions(&mut s).is_empty() && lines(&mut s).is_empty());
    }
}

#[test]
fn the_end_of_the_connection_ends_the_session_with_its_reason() {
    for (how, reason) in [
        (ConnectionEnd::Closed, "connection closed"),
        (ConnectionEnd::Reset, "connection reset"),
        (ConnectionEnd::LineTooLong, "connection closed by server"),
        (ConnectionEnd::WriteFailed, "connection closed by server"),
    ] {
        let mut s = recording(START, 0);
        s.on_closed(how);
        assert_eq!(
            actions(&mut s),
            [Action::Stop {
                id: "r1".into(),
                reason: reason.into()
            }]
        );
        s.on_stopped();
        assert_eq!(actions(&mut s).last(), Some(&Action::Close));
        // No answer: the phone did not ask.
        assert!(lines(&mut s).is_empty());
        assert_eq!(s.ended(), Some(&ServerEnd::Disconnected(how)));
        assert_eq!(s.ended().map(ServerEnd::reason), Some(reason));

        // With no session, there is nothing to stop.
        let mut s = session();
        s.on_closed(how);
        assert_eq!(actions(&mut s), [Action::Close]);
    }
}

#[test]
fn a_connection_that_starts_nothing_is_closed_at_the_handshake_timeout() {
    let mut s = session();
    assert_eq!(s.poll_timeout(), Some(31_000));
    // Lines that start nothing do not buy time.
    s.on_line(20_000, b"cmd=Hello");
    s.on_line(25_000, b"cmd=RecordStopRequest&id=x");
    lines(&mut s);
    assert_eq!(s.poll_timeout(), Some(31_000));
    s.handle_timeout(30_999);
    assert!(actions(&mut s).is_empty());
    notices(&mut s);
    s.handle_timeout(31_000);
    assert_eq!(actions(&mut s), [Action::Close]);
    assert_eq!(s.ended(), Some(&ServerEnd::NoSessionStarted));
    assert_eq!(
        notices(&mut s),
        [Notice::NoSessionStarted { after_ms: 30_000 }]
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn idle_counts_from_the_last_rtp_or_known_control_message() {
    let mut s = recording(START_PAUSE, 2000);
    s.on_rtp(10_000);
    // An older arrival changes nothing.
    s.on_rtp(9000);
    assert_eq!(s.poll_timeout(), Some(70_001));
    // A message a phone sends counts, even when it is refused (a stop of another id)...
    s.on_line(20_000, b"cmd=RecordStopRequest&id=other");
    assert_eq!(cmd(&lines(&mut s)[0]), "RecordStopResponse");
    assert_eq!(s.poll_timeout(), Some(80_001));
    // ...an unknown cmd, a line that does not parse, a server's message do not.
    s.on_line(30_000, b"cmd=Hello&id=r1");
    s.on_line(31_000, b"");
    s.on_line(32_000, b"id=r1&cmd=RecordStopRequest");
    s.on_line(33_000, b"cmd=RecordStartResponse&id=r1&result=success");
    s.on_line(34_000, b"cmd=RecordStartRequest&id=r1");
    assert_eq!(s.poll_timeout(), Some(80_001));
    assert!(actions(&mut s).is_empty());
    // (The start that does not parse was answered `failed`.)
    assert_eq!(lines(&mut s).len(), 1);
    s.handle_timeout(80_000);
    assert!(actions(&mut s).is_empty());
    s.handle_timeout(80_001);
    assert_eq!(
        actions(&mut s),
        [Action::Stop {
            id: "r1".into(),
            reason: "idle".into()
        }]
    );
    s.on_stopped();
    assert_eq!(
        actions(&mut s),
        [
            Action::Release {
                id: "r1".into(),
                port: FIRST_PORT
            },
            Action::Close
        ]
    );
    // The server closes without an answer.
    assert!(lines(&mut s).is_empty());
    assert_eq!(s.ended(), Some(&ServerEnd::Idle));
}

#[test]
fn a_session_without_any_rtp_ends_after_the_no_rtp_time_whatever_it_sends() {
    let mut s = recording(START_PAUSE, 2000);
    // Known lines (a refused stop, a pause and its resume) and unknown ones: no RTP still.
    s.on_line(3000, b"cmd=RecordStopRequest&id=other");
    s.on_line(4000, b"cmd=Hello");
    s.on_line(5000, b"cmd=RecordPauseRequest&id=r1");
    assert_eq!(actions(&mut s), [Action::Pause { id: "r1".into() }]);
    s.on_paused(true);
    assert_eq!(s.state(), ServerState::Paused { port: FIRST_PORT });
    // Paused or not, the time counts from the start.
    assert_eq!(s.poll_timeout(), Some(12_001));
    s.handle_timeout(12_000);
    assert!(actions(&mut s).is_empty());
    s.handle_timeout(12_001);
    assert_eq!(
        actions(&mut s),
        [Action::Stop {
            id: "r1".into(),
            reason: "no_rtp".into()
        }]
    );
    s.on_stopped();
    assert_eq!(
        actions(&mut s),
        [
            Action::Release {
                id: "r1".into(),
                port: FIRST_PORT
            },
            Action::Close
        ]
    );
    // No answer to the phone: the connection closes.
    assert_eq!(lines(&mut s).len(), 2);
    assert_eq!(s.ended(), Some(&ServerEnd::NoRtp));
    assert_eq!(ServerEnd::NoRtp.reason(), "no_rtp");
}

#[test]
fn one_rtp_packet_is_enough_for_the_idle_rule_alone() {
    let mut s = recording(START, 2000);
    s.on_rtp(11_000);
    // No-RTP no longer applies; idle counts from that packet.
    assert_eq!(s.poll_timeout(), Some(71_001));
    s.handle_timeout(12_001);
    assert!(actions(&mut s).is_empty());
    assert_eq!(s.state(), ServerState::Recording { port: FIRST_PORT });
    // An idle time shorter than the no-RTP time comes first.
    let mut s = ServerSession::new(
        0,
        ServerTimeouts {
            idle_ms: 3000,
            ..ServerTimeouts::default()
        },
    );
    s.on_line(0, START);
    actions(&mut s);
    s.on_admitted(SERVER_ADDR, FIRST_PORT);
    actions(&mut s);
    s.on_media_started(0);
    assert_eq!(s.poll_timeout(), Some(3001));
    s.handle_timeout(3001);
    assert!(matches!(&actions(&mut s)[..], [Action::Stop { reason, .. }] if reason == "idle"));
}

#[test]
fn a_line_kept_while_the_shell_worked_counts_when_it_came() {
    let mut s = recording(START_PAUSE, 0);
    s.on_rtp(1000);
    s.on_line(2000, b"cmd=RecordPauseRequest&id=r1");
    actions(&mut s);
    // While the pause waits for the shell, the phone resumes at 3000.
    s.on_line(3000, b"cmd=RecordResumeRequest&id=r1");
    s.on_paused(true);
    assert_eq!(actions(&mut s), [Action::Resume { id: "r1".into() }]);
    s.on_resumed(true);
    assert_eq!(s.poll_timeout(), Some(63_001));
}

#[test]
fn the_media_ending_by_itself_releases_the_session_and_closes_without_a_stop() {
    let mut s = recording(START_PAUSE, 0);
    s.on_media_ended(MediaEnd::StorageFailure);
    assert_eq!(
        actions(&mut s),
        [
            Action::Release {
                id: "r1".into(),
                port: FIRST_PORT
            },
            Action::Close
        ]
    );
    assert!(lines(&mut s).is_empty());
    assert_eq!(s.ended().map(ServerEnd::reason), Some("storage failure"));
    // The storage's reserve reached: the same, with its own stable reason.
    let mut s = recording(START, 0);
    s.on_media_ended(MediaEnd::StorageFull);
    assert_eq!(actions(&mut s).len(), 2);
    assert_eq!(s.ended().map(ServerEnd::reason), Some("storage_full"));
    // While a pause waits for the media, too; its late answer is ignored.
    let mut s = recording(START_PAUSE, 0);
    s.on_line(10, b"cmd=RecordPauseRequest&id=r1");
    actions(&mut s);
    s.on_media_ended(MediaEnd::Gone);
    assert_eq!(actions(&mut s).len(), 2);
    s.on_paused(true);
    assert!(lines(&mut s).is_empty());
    assert_eq!(s.ended(), Some(&ServerEnd::MediaEnded(MediaEnd::Gone)));
    // A stop on its way to the media is not undone by the media's own end.
    let mut s = recording(START, 0);
    s.on_line(10, b"cmd=RecordStopRequest&id=r1&reason=user");
    actions(&mut s);
    s.on_media_ended(MediaEnd::StorageFailure);
    assert!(actions(&mut s).is_empty());
    s.on_stopped();
    assert_eq!(s.ended(), Some(&ServerEnd::Stopped("user".into())));
}

#[test]
fn inputs_that_arrive_while_the_shell_works_wait_their_turn() {
    let mut s = session();
    s.on_line(1000, START_PAUSE);
    s.on_line(1001, b"cmd=RecordPauseRequest&id=r1");
    s.on_line(1002, b"cmd=RecordStopRequest&id=r1&reason=user");
    s.on_closed(ConnectionEnd::Closed);
    // Only the admission is asked; nothing is answered yet.
    assert!(matches!(actions(&mut s)[..], [Action::Admit(_)]));
    assert!(lines(&mut s).is_empty());
    assert_eq!(s.poll_timeout(), None);
    s.on_admitted(SERVER_ADDR, FIRST_PORT);
    assert!(matches!(actions(&mut s)[..], [Action::StartMedia { .. }]));
    s.on_media_started(1010);
    // Then the pause, as if it had arrived now.
    assert_eq!(actions(&mut s), [Action::Pause { id: "r1".into() }]);
    s.on_paused(true);
    assert_eq!(
        actions(&mut s)[0],
        Action::Stop {
            id: "r1".into(),
            reason: "user".into()
        }
    );
    s.on_stopped();
    assert_eq!(actions(&mut s).last(), Some(&Action::Close));
    let cmds: Vec<String> = lines(&mut s).iter().map(|l| cmd(l).to_owned()).collect();
    assert_eq!(
        cmds,
        [
            "RecordStartResponse",
            "RecordPauseResponse",
            "RecordStopResponse"
        ]
    );
    // The stop came first: the close that followed it changed nothing.
    assert_eq!(s.ended(), Some(&ServerEnd::Stopped("user".into())));

    // A flood while the shell works closes the connection once it has answered.
    let mut s = session();
    s.on_line(1000, START);
    for _ in 0..MAX_DEFERRED + 5 {
        s.on_line(1001, b"cmd=Hello");
    }
    actions(&mut s);
    s.on_refused(&AdmitRefusal::NoFreePort);
    assert_eq!(actions(&mut s), [Action::Close]);
    assert_eq!(
        s.ended(),
        Some(&ServerEnd::Disconnected(ConnectionEnd::Overrun))
    );
    // The overrun's notice when it happened, then the refusal's, then one per kept line.
    let n = notices(&mut s);
    assert_eq!(n[0], Notice::Overrun);
    assert!(matches!(n[1], Notice::Refused { .. }), "{n:?}");
    assert_eq!(n.len(), 2 + MAX_DEFERRED, "{n:?}");
}

#[test]
fn answers_nobody_asked_for_are_ignored() {
    let mut s = session();
    s.on_admitted(SERVER_ADDR, 1);
    s.on_refused(&AdmitRefusal::StorageFull);
    s.on_media_started(5);
    s.on_media_failed(MediaFailure::Busy);
    s.on_stopped();
    s.on_paused(true);
    assert!(actions(&mut s).is_empty() && lines(&mut s).is_empty());
    assert_eq!(s.state(), ServerState::Waiting);

    // Nor do they disturb a running session.
    let mut s = recording(START_PAUSE, 0);
    s.on_admitted(SERVER_ADDR, 1);
    s.on_refused(&AdmitRefusal::StorageFull);
    s.on_media_started(5);
    s.on_media_failed(MediaFailure::Busy);
    s.on_stopped();
    s.on_resumed(true);
    assert!(actions(&mut s).is_empty() && lines(&mut s).is_empty());
    assert_eq!(s.state(), ServerState::Recording { port: FIRST_PORT });
    assert_eq!(s.poll_timeout(), Some(10_001));

    s.on_line(10, b"cmd=RecordResumeRequest&id=r1");
    assert_eq!(actions(&mut s), [Action::Resume { id: "r1".into() }]);
    // The answer to a pause, when a resume was asked: ignored, the resume still waits.
    s.on_paused(true);
    assert_eq!(s.state(), ServerState::Toggling { port: FIRST_PORT });
    s.on_resumed(false);
    assert_eq!(
        lines(&mut s),
        ["cmd=RecordResumeResponse&id=r1&result=failed\n"]
    );
    assert_eq!(s.state(), ServerState::Recording { port: FIRST_PORT });
}

// ---------------------------------------------------------------------------------------------
// A leg against the session through simulated time

fn streaming() -> LegState {
    LegState::Streaming {
        server: SERVER_ADDR.into(),
        port: FIRST_PORT,
    }
}

fn log(p: &Pair) -> Vec<&str> {
    p.host.log.iter().map(String::as_str).collect()
}

#[test]
fn a_whole_call_starts_pauses_resumes_and_stops() {
    let mut p = Pair::new().with_rtp(20);
    p.drive_until(1000);
    assert_eq!(p.leg.state(), &streaming());
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    assert_eq!(
        p.to_phone.delivered,
        ["cmd=RecordStartResponse&id=r1&result=success&reason=&server=10.0.0.5&port=40000&ext=pause\n"]
    );
    assert_eq!(p.host.recorded, 50);

    assert!(p.leg.pause());
    p.drive_until(2000);
    assert_eq!(p.server.state(), ServerState::Paused { port: FIRST_PORT });
    assert_eq!(p.rtp_sent, 50);

    assert!(p.leg.resume(p.now));
    p.drive_until(3000);
    assert_eq!(p.leg.state(), &streaming());
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );

    p.leg.stop(p.now, "user");
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::Stopped);
    assert_eq!(p.server_end(), &ServerEnd::Stopped("user".into()));
    assert_eq!(p.host.media, Media::Finished("user".into()));
    assert_eq!(
        log(&p),
        [
            "admit r1",
            "start 40000",
            "pause r1",
            "resume r1",
            "stop r1 user",
            "release r1 40000",
            "close"
        ]
    );
    // Every packet the phone sent was recorded; none reached a paused session.
    assert_eq!(
        (p.rtp_sent, p.host.recorded, p.host.dropped_paused),
        (100, 100, 0)
    );
    let answers: Vec<&str> = p.to_phone.delivered.iter().map(|l| cmd(l)).collect();
    assert_eq!(
        answers,
        [
            "RecordStartResponse",
            "RecordPauseResponse",
            "RecordResumeResponse",
            "RecordStopResponse"
        ]
    );
    assert!(p.to_phone.delivered[1..]
        .iter()
        .all(|l| l.contains("result=success")));
    p.assert_released();
}

#[test]
fn delayed_lines_within_the_time_limits_only_shift_the_call() {
    let mut p = Pair::new().with_rtp(20);
    p.to_server.delay_ms = 1000;
    p.to_phone.delay_ms = 1000;
    p.drive_until(1999);
    assert_eq!(p.leg.state(), &LegState::Starting);
    // The server has recorded since the request reached it.
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    p.drive_until(2000);
    assert_eq!(p.leg.state(), &streaming());
    p.drive_until(10_000);
    p.leg.stop(p.now, "user");
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::Stopped);
    assert_eq!(
        (p.server_ended_at, p.leg_ended_at),
        (Some(11_000), Some(12_000))
    );
    assert_eq!(p.server_end(), &ServerEnd::Stopped("user".into()));
    assert_eq!(p.host.recorded, 400);
    p.assert_released();
}

#[test]
fn a_start_answer_later_than_the_legs_limit_ends_the_leg_and_the_server_cleans_up() {
    let mut p = Pair::new();
    p.to_server.delay_ms = 3000;
    p.to_phone.delay_ms = 3000;
    p.drive();
    // The answer was on its way (due at 6000) when the leg gave up at 5000 and closed.
    assert_eq!(p.leg_end(), &LegEnd::StartTimeout);
    assert_eq!(p.leg_ended_at, Some(5000));
    assert!(p.to_phone.delivered.is_empty());
    // The server had started the session; the phone's close, at 8000, ends it.
    assert_eq!(
        p.server_end(),
        &ServerEnd::Disconnected(ConnectionEnd::Closed)
    );
    assert_eq!(p.server_ended_at, Some(8000));
    assert_eq!(p.host.media, Media::Finished("connection closed".into()));
    p.assert_released();
}

#[test]
fn a_lost_start_request_times_out_the_leg_and_the_server_never_admits() {
    let mut p = Pair::new();
    p.to_server.loss = Loss::Nth(vec![0]);
    p.drive();
    assert_eq!(p.to_server.lost.len(), 1);
    assert_eq!(p.leg_end(), &LegEnd::StartTimeout);
    assert_eq!(p.leg_ended_at, Some(5000));
    assert_eq!(
        p.server_end(),
        &ServerEnd::Disconnected(ConnectionEnd::Closed)
    );
    assert_eq!(log(&p), ["close"]);
    assert!(p.host.granted.is_empty());
}

#[test]
fn a_lost_start_answer_times_out_the_leg_and_its_close_ends_the_recording() {
    let mut p = Pair::new();
    p.to_phone.loss = Loss::Nth(vec![0]);
    p.drive_until(4999);
    assert_eq!(p.leg.state(), &LegState::Starting);
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::StartTimeout);
    assert_eq!(p.server_ended_at, Some(5000));
    assert_eq!(
        log(&p),
        [
            "admit r1",
            "start 40000",
            "stop r1 connection closed",
            "release r1 40000",
            "close"
        ]
    );
    p.assert_released();
}

#[test]
fn a_lost_stop_answer_is_made_good_by_the_servers_close() {
    let mut p = Pair::new();
    p.to_server.delay_ms = 100;
    p.to_phone.delay_ms = 100;
    p.to_phone.loss = Loss::Cmd("RecordStopResponse");
    p.drive_until(1000);
    p.leg.stop(p.now, "user");
    p.drive();
    assert_eq!(p.to_phone.lost.len(), 1);
    // The end of stream after the stop, not the stop timeout (6000), ends the leg.
    assert_eq!(p.leg_end(), &LegEnd::Stopped);
    assert_eq!(p.leg_ended_at, Some(1200));
    assert_eq!(p.server_end(), &ServerEnd::Stopped("user".into()));
    p.assert_released();
}

#[test]
fn a_lost_stop_request_ends_the_leg_at_its_stop_timeout_and_the_recording_at_its_close() {
    let mut p = Pair::new();
    p.to_server.loss = Loss::Cmd("RecordStopRequest");
    p.drive_until(1000);
    p.leg.stop(p.now, "user");
    p.drive_until(5999);
    assert_eq!(p.leg.state(), &LegState::Stopping);
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::StopTimeout);
    assert_eq!(p.leg_ended_at, Some(6000));
    // The server never heard the phone's reason.
    assert_eq!(
        p.server_end(),
        &ServerEnd::Disconnected(ConnectionEnd::Closed)
    );
    assert_eq!(p.host.media, Media::Finished("connection closed".into()));
    p.assert_released();
}

#[test]
fn a_lost_resume_answer_resumes_the_rtp_at_the_legs_limit() {
    let mut p = Pair::new().with_rtp(20);
    p.to_phone.loss = Loss::Cmd("RecordResumeResponse");
    p.drive_until(1000);
    p.leg.pause();
    p.drive_until(2000);
    p.leg.resume(p.now);
    p.drive_until(6999);
    // The server records again, but the leg waits for an answer that was lost.
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    assert!(matches!(p.leg.state(), LegState::Resuming { .. }));
    assert_eq!(p.rtp_sent, 50);
    p.drive_until(7000);
    assert_eq!(p.leg.state(), &streaming());
    p.drive_until(8000);
    p.leg.stop(p.now, "user");
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::Stopped);
    assert_eq!((p.host.recorded, p.host.dropped_paused), (100, 0));
    p.assert_released();
}

#[test]
fn a_reset_mid_call_ends_both_sides_and_keeps_the_recording() {
    let mut p = Pair::new().with_rtp(20);
    p.drive_until(1000);
    // The pause is written as the connection breaks: it never reaches the server.
    p.leg.pause();
    p.reset();
    assert_eq!(
        p.leg_end(),
        &LegEnd::ConnectionLost("connection reset".into())
    );
    assert_eq!(
        p.server_end(),
        &ServerEnd::Disconnected(ConnectionEnd::Reset)
    );
    assert_eq!(p.host.media, Media::Finished("connection reset".into()));
    let sent = p.rtp_sent;
    p.drive();
    // Nothing more happens: no RTP, no lines, no second release.
    assert_eq!(p.rtp_sent, sent);
    assert_eq!(p.to_server.delivered.len(), 1);
    assert_eq!(
        log(&p),
        [
            "admit r1",
            "start 40000",
            "stop r1 connection reset",
            "release r1 40000",
            "close"
        ]
    );
    assert_eq!(p.leg_ended_at, Some(1000));
    p.assert_released();
}

#[test]
fn a_server_that_never_answers_ends_the_leg_at_its_start_timeout() {
    let mut p = Pair::new();
    p.server_hangs = true;
    p.drive_until(4999);
    assert_eq!(p.leg.state(), &LegState::Starting);
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::StartTimeout);
    assert_eq!(p.leg_ended_at, Some(5000));
    assert_eq!(p.server.state(), ServerState::Waiting);
    assert!(p.host.log.is_empty());
}

#[test]
fn a_server_stuck_on_its_shell_still_frees_the_port_when_it_comes_back() {
    let mut p = Pair::new();
    // Admission takes 10 minutes (a stalled disk): the phone gives up and closes long before.
    p.host.answer_delay_ms = 600_000;
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::StartTimeout);
    // The close waited its turn; then the session that started for nobody was stopped.
    assert_eq!(
        p.server_end(),
        &ServerEnd::Disconnected(ConnectionEnd::Closed)
    );
    assert_eq!(p.server_ended_at, Some(1_800_000));
    assert_eq!(
        log(&p),
        [
            "admit r1",
            "start 40000",
            "stop r1 connection closed",
            "release r1 40000",
            "close"
        ]
    );
    p.assert_released();
}

#[test]
fn a_phone_whose_start_never_arrives_is_closed_at_the_handshake_timeout() {
    let mut p = Pair::with(
        LegTimeouts {
            start_ms: 120_000,
            ..LegTimeouts::default()
        },
        ServerTimeouts::default(),
    );
    p.to_server.loss = Loss::Nth(vec![0]);
    p.drive();
    assert_eq!(p.server_end(), &ServerEnd::NoSessionStarted);
    assert_eq!(p.server_ended_at, Some(30_000));
    assert_eq!(
        p.leg_end(),
        &LegEnd::ConnectionLost("closed by the server".into())
    );
    assert_eq!(p.leg_ended_at, Some(30_000));
    assert_eq!(log(&p), ["close"]);
}

#[test]
fn rtp_keeps_a_call_alive_and_a_long_silent_pause_ends_it_idle() {
    let mut p = Pair::new().with_rtp(20);
    // Minutes with RTP and no control line at all.
    p.drive_until(200_000);
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    p.leg.pause();
    p.drive();
    assert_eq!(p.server_end(), &ServerEnd::Idle);
    assert_eq!(p.server_ended_at, Some(200_000 + 60_001));
    assert_eq!(p.host.media, Media::Finished("idle".into()));
    assert_eq!(
        p.leg_end(),
        &LegEnd::ConnectionLost("closed by the server".into())
    );
    assert_eq!(p.host.recorded, 10_000);
    p.assert_released();
}

#[test]
fn a_refused_admission_is_the_legs_refusal() {
    let mut p = Pair::new();
    p.host.admission = Err(AdmitRefusal::SessionLimit);
    p.drive();
    assert_eq!(
        p.leg_end(),
        &LegEnd::Refused("server busy: session limit reached".into())
    );
    // The phone closes; there was no session to stop.
    assert_eq!(
        p.server_end(),
        &ServerEnd::Disconnected(ConnectionEnd::Closed)
    );
    assert_eq!(log(&p), ["admit r1", "close"]);
    assert!(p.host.granted.is_empty());
}

#[test]
fn a_storage_error_at_the_start_is_refused_and_frees_the_port() {
    let mut p = Pair::new();
    p.host.media_start = Err(MediaFailure::Storage);
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::Refused("server storage error".into()));
    assert_eq!(
        log(&p),
        ["admit r1", "start 40000", "release r1 40000", "close"]
    );
    assert_eq!(p.host.media, Media::Off);
    p.assert_released();
}

#[test]
fn a_storage_failure_mid_call_closes_the_connection() {
    let mut p = Pair::new().with_rtp(20);
    p.drive_until(1000);
    p.fail_storage();
    p.drive();
    assert_eq!(
        p.server_end(),
        &ServerEnd::MediaEnded(MediaEnd::StorageFailure)
    );
    assert_eq!(
        p.leg_end(),
        &LegEnd::ConnectionLost("closed by the server".into())
    );
    // The media finished by itself: no stop is asked of it.
    assert_eq!(
        log(&p),
        ["admit r1", "start 40000", "release r1 40000", "close"]
    );
    assert_eq!(p.host.recorded, 50);
    p.assert_released();
}

#[test]
fn a_stop_before_the_start_is_answered_ends_the_leg_and_the_server_stops_on_its_close() {
    let mut p = Pair::new();
    p.to_phone.delay_ms = 1000;
    p.drive_until(500);
    assert_eq!(
        p.server.state(),
        ServerState::Recording { port: FIRST_PORT }
    );
    // The call ends before the answer is back: no session for the leg to stop.
    p.leg.stop(p.now, "user");
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::Stopped);
    assert_eq!(p.leg_ended_at, Some(500));
    assert_eq!(p.host.media, Media::Finished("connection closed".into()));
    p.assert_released();
}

#[test]
fn a_slow_host_delays_the_answers_but_never_reorders_them() {
    let mut p = Pair::new().with_rtp(20);
    p.host.answer_delay_ms = 300;
    p.drive_until(599);
    assert_eq!(p.leg.state(), &LegState::Starting);
    p.drive_until(600);
    assert_eq!(p.leg.state(), &streaming());
    p.drive_until(1000);
    // A pause and, at once, a stop: the stop waits for the pause's answer.
    p.leg.pause();
    p.leg.stop(p.now, "user");
    p.drive_until(1299);
    assert_eq!(p.server.state(), ServerState::Toggling { port: FIRST_PORT });
    p.drive();
    assert_eq!(p.leg_end(), &LegEnd::Stopped);
    assert_eq!(p.leg_ended_at, Some(1600));
    let answers: Vec<&str> = p.to_phone.delivered.iter().map(|l| cmd(l)).collect();
    assert_eq!(
        answers,
        [
            "RecordStartResponse",
            "RecordPauseResponse",
            "RecordStopResponse"
        ]
    );
    assert_eq!(p.server_end(), &ServerEnd::Stopped("user".into()));
    assert_eq!(p.host.recorded, 20);
    p.assert_released();
}

#[test]
fn random_loss_delay_resets_and_failures_always_settle_without_leaking() {
    let mut leg_ends = BTreeSet::new();
    let mut server_ends = BTreeSet::new();
    for seed in 1..=400u64 {
        let mut rng = Rng(seed * 0x9E37_79B9 + 1);
        let mut p = Pair::new().with_rtp(200);
        p.to_server.delay_ms = rng.below(3000) as u64;
        p.to_phone.delay_ms = rng.below(3000) as u64;
        let loss = [0u32, 0, 100, 300];
        p.to_server.loss = Loss::Random {
            per_mille: rng.pick(&loss),
            rng: Rng(seed + 11),
        };
        p.to_phone.loss = Loss::Random {
            per_mille: rng.pick(&loss),
            rng: Rng(seed + 23),
        };
        p.host.answer_delay_ms = rng.pick(&[0, 0, 50, 2000]);
        if rng.below(10) == 0 {
            p.host.admission = Err(AdmitRefusal::NoFreePort);
        }
        if rng.below(10) == 0 {
            p.host.media_start = Err(MediaFailure::Storage);
        }
        // What happens, at random times: pauses and resumes, maybe a reset or a storage
        // failure, and the stop last.
        let mut events: Vec<(u64, u8)> = Vec::new();
        for _ in 0..rng.below(5) {
            let at = rng.below(15_000) as u64;
            let event = rng.pick(b"prprxf");
            // Resets and storage failures are rarer.
            if matches!(event, b'p' | b'r') || rng.below(3) == 0 {
                events.push((at, event));
            }
        }
        events.sort_unstable();
        events.push((15_000 + rng.below(5000) as u64, b's'));
        for (at, event) in events {
            p.drive_until(at);
            match event {
                b'p' => {
                    p.leg.pause();
                }
                b'r' => {
                    p.leg.resume(p.now);
                }
                b'x' => p.reset(),
                b'f' => p.fail_storage(),
                _ => p.leg.stop(p.now, "user"),
            }
        }
        p.drive();

        let (leg_end, server_end) = (p.leg_end().clone(), p.server_end().clone());
        let context = format!(
            "seed {seed}: leg {leg_end:?}, server {server_end:?}, {:?}",
            p.host.log
        );
        p.assert_released();
        assert!(p.host.closed, "{context}");
        // Both sides end soon after the last event.
        assert!(p.leg_ended_at.unwrap() <= 100_000, "{context}");
        assert!(p.server_ended_at.unwrap() <= 100_000, "{context}");
        // No recording is left running, and it kept the reason the session ended with.
        match &p.host.media {
            Media::Finished(reason) => assert_eq!(reason, server_end.reason(), "{context}"),
            Media::Failed => assert_eq!(
                server_end,
                ServerEnd::MediaEnded(MediaEnd::StorageFailure),
                "{context}"
            ),
            Media::Off => assert!(
                !p.host.log.iter().any(|l| l.starts_with("stop")),
                "{context}"
            ),
            running => panic!("{context}: media left {running:?}"),
        }
        // The server ends with the phone's stop only if the phone asked it, and then the leg
        // ended as a stop (answered, closed, or timed out).
        if let ServerEnd::Stopped(reason) = &server_end {
            assert_eq!(reason, "user", "{context}");
            assert!(
                matches!(leg_end, LegEnd::Stopped | LegEnd::StopTimeout),
                "{context}"
            );
        }
        // A leg that was refused was answered `failed` by this server.
        if let LegEnd::Refused(reason) = &leg_end {
            assert!(
                ["no free RTP port", "server storage error"].contains(&reason.as_str()),
                "{context}"
            );
        }
        leg_ends.insert(leg_end.code());
        server_ends.insert(match server_end {
            ServerEnd::Stopped(_) => "stopped",
            ServerEnd::Disconnected(ConnectionEnd::Closed) => "closed",
            ServerEnd::Disconnected(ConnectionEnd::Reset) => "reset",
            ServerEnd::MediaEnded(_) => "media",
            ServerEnd::Idle => "idle",
            ServerEnd::NoRtp => "no_rtp",
            ServerEnd::NoSessionStarted => "handshake",
            ServerEnd::Disconnected(_) => "other",
        });
    }
    // The seeds reach every way a leg and a server can end here.
    for code in [
        "stopped",
        "server_refused",
        "server_start_timeout",
        "server_stop_timeout",
        "server_connection_lost",
    ] {
        assert!(leg_ends.contains(code), "no leg ended {code}: {leg_ends:?}");
    }
    for end in ["stopped", "closed", "reset", "media"] {
        assert!(
            server_ends.contains(end),
            "no server ended {end}: {server_ends:?}"
        );
    }
}
