//! `callrec_core::control_protocol::parse_request` on arbitrary bytes: never a panic; a call it accepts
//! is valid, and every command it accepts reads back the same once encoded again.
#![no_main]

use callrec_core::control_protocol::{parse_request, Command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let request = match parse_request(data) {
        Ok(request) => request,
        Err((error, _)) => {
            assert!(!error.code().is_empty());
            let _ = error.message();
            return;
        }
    };
    match &request.command {
        Command::Call { call, .. }
        | Command::Remote {
            call: Some(call), ..
        } => assert_eq!(
            call.validate(),
            Ok(()),
            "an accepted call that is not valid"
        ),
        _ => {}
    }
    let again = request.command.encode();
    let reread = parse_request(again.trim_end().as_bytes())
        .unwrap_or_else(|(e, _)| panic!("{again:?} does not read back: {}", e.message()));
    assert_eq!(reread.command, request.command);
});
