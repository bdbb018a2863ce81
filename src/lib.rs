//! callrec: the call-recording agent for BX/GP-series SIP desk phones.
//!
//! The phone's media engine mixes both sides of a call into one receive-only RTP stream sent to a
//! loopback UDP port (the *tap*). callrec reads that port and writes the call to `Record_…`
//! files on the USB stick (local mode).
//!
//! # Architecture
//!
//! - [`core`]: sans-IO. RTP parsing, the timeline that reorders and gap-fills packets, the Record
//!   file format and the recorder state machine. No sockets, files or clocks.
//! - [`audio`]: G.711 and G.722 decoding and WAV writing, for export.
//! - [`platform`]: narrow traits over the outside world (storage, clock, USB stick detection)
//!   with real implementations and fault-injecting fakes.
//! - [`agent`]: the thin tokio shell that moves bytes between the tap socket, the control socket,
//!   the stick and the core.
//! - [`cli`]: the `callrec` subcommands.

pub mod agent;
pub mod alloc_count;
pub mod audio;
pub mod cli;
pub mod config;
pub mod core;
pub mod download;
pub mod logger;
pub mod platform;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
pub mod store;
#[cfg(test)]
pub(crate) mod test_rng;
