use super::*;

const EXAMPLE: &str = r#"
# The example of the simulator's documentation.
0.0  call started id=c1 dir=out remote=1002 remote_name="Bob Smith" codec=PCMA
0.5  call answered id=c1
1.0  key record
4.0  key pause
6.0  key pause   # resumes
7.0  call held id=c1
8.0  call resumed id=c1
10.0 call ended id=c1
"#;

fn call(id: &str) -> CallInfo {
    CallInfo {
        id: Some(id.into()),
        ..CallInfo::default()
    }
}

fn error(text: &str) -> (usize, String) {
    let e = parse_script(text).unwrap_err();
    (e.line, e.message)
}

#[test]
fn parses_the_example() {
    let steps = parse_script(EXAMPLE).unwrap();
    let times: Vec<u64> = steps.iter().map(|s| s.at_ms).collect();
    assert_eq!(times, [0, 500, 1000, 4000, 6000, 7000, 8000, 10_000]);
    let lines: Vec<usize> = steps.iter().map(|s| s.line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9, 10]);
    let started = CallInfo {
        dir: Some(Direction::Out),
        remote_number: "1002".into(),
        remote_name: "Bob Smith".into(),
        codec: Some(Codec::Pcma),
        ..call("c1")
    };
    assert_eq!(steps[0].action, Action::Call(CallEvent::Started, started));
    assert_eq!(
        steps[1].action,
        Action::Call(CallEvent::Answered, call("c1"))
    );
    assert_eq!(steps[2].action, Action::Key(Key::Record));
    assert_eq!(steps[4].action, Action::Key(Key::Pause));
    assert_eq!(steps[5].action, Action::Call(CallEvent::Held, call("c1")));
    assert_eq!(steps[7].action, Action::Call(CallEvent::Ended, call("c1")));
}

#[test]
fn requests_are_the_protocol_lines() {
    let steps = parse_script(EXAMPLE).unwrap();
    for step in &steps {
        let line = step.action.request();
        assert!(line.ends_with('\n'));
        let r = callrec_core::control_protocol::parse_request(line.trim_end().as_bytes()).unwrap();
        match &step.action {
            Action::Call(e, c) => {
                assert_eq!(
                    r.command,
                    Command::Call {
                        event: *e,
                        call: c.clone()
                    }
                );
            }
            Action::Key(k) => assert_eq!(r.command, Command::Key(*k)),
            Action::Control(..) => unreachable!(),
        }
    }
    assert_eq!(
        Action::Key(Key::Record).request(),
        "{\"v\":1,\"cmd\":\"key\",\"key\":\"record\"}\n"
    );
    assert_eq!(
        Action::Control(Command::Reload).request(),
        "{\"v\":1,\"cmd\":\"reload\"}\n"
    );
}

#[test]
fn plain_commands_and_start_with_parties() {
    let steps = parse_script(
        "0 start remote=1002 dir=in\n0.25 pause\n.5 resume\n1. status\n2 stop\n3 reload\n",
    )
    .unwrap();
    let start = CallInfo {
        remote_number: "1002".into(),
        dir: Some(Direction::In),
        ..CallInfo::default()
    };
    assert_eq!(
        steps.iter().map(|s| s.action.clone()).collect::<Vec<_>>(),
        [
            Action::Control(Command::Remote {
                action: Remote::Start,
                call: Some(start.clone())
            }),
            Action::Control(Command::remote(Remote::Pause)),
            Action::Control(Command::remote(Remote::Resume)),
            Action::Control(Command::Status),
            Action::Control(Command::remote(Remote::Stop)),
            Action::Control(Command::Reload),
        ]
    );
    assert_eq!(steps[2].at_ms, 500);
    assert_eq!(steps[3].at_ms, 1000);
    assert_eq!(
        steps[0].action.request(),
        callrec_core::control_protocol::encode_start(&start)
    );
}

#[test]
fn quotes_escapes_comments_and_line_endings() {
    let text = "\u{feff}# comment\r\n\r\n   \t\r\n0 call started id=c1 remote_name=\"A \\\"B\\\" \\\\ #1\" local_name=\"\" local=1001#x # the end\r\n";
    let steps = parse_script(text).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].line, 4);
    let Action::Call(_, c) = &steps[0].action else {
        panic!()
    };
    assert_eq!(c.remote_name, "A \"B\" \\ #1");
    assert_eq!(c.local_name, "");
    assert_eq!(c.local_number, "1001#x");
    // Aliases of the protocol's own names, and codec names in any case.
    let steps = parse_script("1.2346 call answered id=x remote_number=7 local_number=8 codec=g722")
        .unwrap();
    let Action::Call(_, c) = &steps[0].action else {
        panic!()
    };
    assert_eq!(steps[0].at_ms, 1235);
    assert_eq!(
        (c.remote_number.as_str(), c.local_number.as_str()),
        ("7", "8")
    );
    assert_eq!(c.codec, Some(Codec::G722));
}

#[test]
fn steps_print_back_as_the_same_script() {
    let mut text = String::from(EXAMPLE);
    text.push_str(
        "11 call started id=c2 remote_name=\"x \\\"y\\\"\" local_name=#1 tap_port=50300\n",
    );
    text.push_str("11.5 start local=1001\n12 reload\n");
    let steps = parse_script(&text).unwrap();
    let printed: String = steps.iter().map(|s| format!("{s}\n")).collect();
    assert!(printed.starts_with(
        "0.000 call started id=c1 dir=out remote=1002 remote_name=\"Bob Smith\" codec=PCMA\n\
         0.500 call answered id=c1\n1.000 key record\n"
    ));
    assert!(printed.contains(
        "11.000 call started id=c2 remote_name=\"x \\\"y\\\"\" local_name=\"#1\" tap_port=50300\n"
    ));
    let again = parse_script(&printed).unwrap();
    let strip = |v: &[Step]| {
        v.iter()
            .map(|s| (s.at_ms, s.action.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&again), strip(&steps));
}

#[test]
fn errors_name_the_line() {
    let ok = "0 call started id=c1\n";
    let cases: &[(&str, &str)] = &[
        ("abc key record", "not a time"),
        ("-1 key record", "not a time"),
        ("1e3 key record", "not a time"),
        ("1.2.3 key record", "not a time"),
        ("90000 key record", "after 86400 s"),
        ("5", "no step after it"),
        ("5 jump", "unknown step \"jump\""),
        ("5 watch", "use --watch"),
        ("5 id=c1", "expected a step"),
        ("5 call", "needs an event"),
        ("5 call rang id=c1", "unknown call event \"rang\""),
        ("5 call ended", "needs id="),
        ("5 call ended id=", "id must be"),
        ("5 call ended id=c1 colour=red", "unknown field \"colour\""),
        ("5 call ended id=c1 c1", "expected FIELD=VALUE"),
        ("5 call ended id=c1 id=c2", "id given twice"),
        (
            "5 call ended id=c1 remote=1 remote_number=2",
            "remote given twice",
        ),
        ("5 call ended id=c1 codec=G729", "PCMA, PCMU or G722"),
        ("5 call ended id=c1 tap_port=0", "1 to 65535"),
        ("5 call ended id=c1 tap_port=70000", "1 to 65535"),
        (
            "5 call ended id=c1 dir=sideways",
            "dir \"sideways\": in or out",
        ),
        ("5 call ended id=c1 remote_name=\"a", "quote is not closed"),
        ("5 key", "one key name"),
        ("5 key mute", "unknown key \"mute\""),
        ("5 key record pause", "one key name"),
        ("5 status now", "status takes no arguments"),
    ];
    for (line, want) in cases {
        let (n, message) = error(&format!("{ok}# comment\n{line}\n"));
        assert_eq!(n, 3, "{line}");
        assert!(message.contains(want), "{line}: {message}");
    }
    let long = format!("0 call started id=c1 remote_name={}", "n".repeat(129));
    assert!(error(&long).1.contains("remote_name is longer than 128"));
    let (n, message) = error("1 key record\n\n0.5 key pause\n");
    assert_eq!(n, 3);
    assert!(
        message.contains("0.500 is before the previous step's 1.000 (line 1)"),
        "{message}"
    );
    assert_eq!(
        error("# nothing\n\n"),
        (0, "the script has no steps".into())
    );
    assert_eq!(
        ScriptError {
            line: 4,
            message: "x".into()
        }
        .to_string(),
        "line 4: x"
    );
}

#[test]
fn sip_none_is_the_simulator_s_own_field() {
    let steps =
        parse_script("0 call started id=c1 sip=none remote=1002\n1 call ended id=c1\n").unwrap();
    assert!(steps[0].sip_none);
    assert!(!steps[1].sip_none);
    let Action::Call(_, c) = &steps[0].action else {
        panic!()
    };
    assert_eq!(c.remote_number, "1002");
    assert_eq!(c.dialog, None, "no field of the call");
    assert_eq!(
        steps[0].to_string(),
        "0.000 call started id=c1 remote=1002 sip=none"
    );
    assert_eq!(
        parse_script(&format!("{}\n", steps[0])).unwrap()[0],
        steps[0]
    );
    assert_eq!(
        error("0 call started id=c1 sip=yes\n"),
        (1, "sip \"yes\": only sip=none".into())
    );
    assert_eq!(
        error("0 call started id=c1 sip=none sip=none\n"),
        (1, "sip given twice".into())
    );
    assert!(error("0 start sip=none\n")
        .1
        .contains("unknown field \"sip\""));
}
