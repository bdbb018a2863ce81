//! `callrec_core::control_protocol::parse_request` on arbitrary bytes: never a panic; a call it accepts
//! is valid, and what it accepts reads back the same once encoded again.
#![no_main]

use callrec_core::control_protocol::{
    encode_call, encode_key, encode_sip_response, parse_request, Command,
};
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
    if let Some(call) = &request.call {
        assert_eq!(
            call.validate(),
            Ok(()),
            "an accepted call that is not valid"
        );
    }
    let again = match (&request.command, &request.call, &request.sip) {
        (Command::Call(event), Some(call), _) => encode_call(*event, call),
        (Command::Key(key), _, _) => encode_key(*key),
        (_, _, Some(report)) => encode_sip_response(report),
        _ => return,
    };
    let reread = parse_request(again.trim_end().as_bytes())
        .unwrap_or_else(|(e, _)| panic!("{again:?} does not read back: {}", e.message()));
    assert_eq!(reread.command, request.command);
    assert_eq!(reread.sip, request.sip);
    if let Command::Call(_) = request.command {
        assert_eq!(reread.call, request.call);
    }
});
