//! SIP INFO recording (`../shared/spec/sip-info.md`, `docs/integration.md`): the phone's SIP
//! stack owns the dialog; callrec builds the in-dialog `INFO` with `Record: on|off`, hands it to
//! the stack, and follows the final responses the stack reports back. Sans-IO.
//!
//! - [`message`]: SIP messages parsed robustly (compact forms, folding, Content-Length).
//! - [`dialog`]: the dialog as the stack describes it, checked field by field.
//! - [`info`]: the INFO request, as headers for a stack and as a complete wire message.
//! - [`client`]: the recording state that follows the answers.

pub mod client;
pub mod dialog;
pub mod info;
pub mod message;
