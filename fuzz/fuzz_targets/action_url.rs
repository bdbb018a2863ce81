//! `callrec_core::action_url::parse` on arbitrary strings: never a panic; an error maps to an
//! HTTP status, and a call event it accepts is a valid call that the control socket would
//! carry the same way.
#![no_main]

use callrec_core::action_url::parse;
use callrec_core::control_protocol::{parse_request, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return;
    };
    let command = match parse(target) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(matches!(e.status(), 400 | 404));
            assert!(!e.code().is_empty());
            let _ = e.to_string();
            return;
        }
    };
    match &command {
        Command::Key(_) => {}
        Command::Call { call, .. } => {
            assert!(call.id.is_some(), "a call event without an id");
            assert_eq!(
                call.validate(),
                Ok(()),
                "an accepted call that is not valid"
            );
            let line = command.encode();
            let request = parse_request(line.trim_end().as_bytes())
                .unwrap_or_else(|(e, _)| panic!("{line:?} is refused: {}", e.message()));
            assert_eq!(request.command, command);
        }
        other => panic!("an unexpected command: {other:?}"),
    }
});
