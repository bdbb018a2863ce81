//! The agent's HTTP request head (`callrec::agent::http::wire`) on arbitrary bytes: never a
//! panic; a head it takes is within the limits, its target is a path, and its body length
//! follows from its fields or is refused with a status the listener sends.
#![no_main]

use callrec::agent::http::wire::{body_length, parse_head, MAX_HEAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_head(data) {
        Ok(Some(head)) => {
            assert!(head.len <= MAX_HEAD && head.len <= data.len());
            assert!(head.target.starts_with('/'), "{:?}", head.target);
            let declared = head
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
            match body_length(&head.headers) {
                // Without Content-Length there is no body.
                Ok(n) => assert!(declared || n == 0, "a body of {n} bytes from nowhere"),
                Err(fault) => assert!((400..600).contains(&fault.status())),
            }
        }
        Ok(None) => assert!(data.len() < MAX_HEAD),
        Err(fault) => assert!((400..600).contains(&fault.status())),
    }
});
