//! The sans-IO core: formats and state machines that never touch a socket, a file or the clock.
//!
//! Time, datagrams, commands and storage answers go in as arguments; file operations, status
//! and the next deadline come out. Everything here is tested deterministically.

pub mod action_url;
pub mod backlog;
pub mod calls;
pub mod codec;
pub mod control;
pub mod net_client;
pub mod record_file;
pub mod record_protocol;
pub mod recorder;
pub mod rtp;
pub mod sip;
pub mod timeline;
pub mod writer;

#[cfg(test)]
mod test_disk;
