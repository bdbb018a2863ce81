//! callrec: the call-recording agent for BX/GP-series SIP desk phones, the program that runs on
//! the phone.
//!
//! The phone's media engine mixes both sides of a call into one receive-only RTP stream sent to a
//! loopback UDP port (the *tap*). callrec reads that port and, as the settings say, writes the
//! call to `Record_…` files on the USB stick, streams it to a record server, or asks the PBX to
//! record it with a SIP INFO.
//!
//! # Architecture
//!
//! The workspace's crates are its layers:
//! - `callrec-core` (`core/`): sans-IO. RTP, the timeline, codecs, the Record file, the record
//!   and control protocols, SIP INFO, the call and recording state machines. No sockets, files
//!   or clocks.
//! - `callrec-platform` (`platform/`): narrow traits over the outside world (clock, storage,
//!   USB stick detection, UDP) with real implementations and fault-injecting fakes.
//! - this crate, the phone program: [`agent`], the thin tokio shell that moves bytes between the
//!   tap socket, the control socket, the stick, the record server and the core; [`config`], the
//!   agent's settings; [`cli`], the `callrec` subcommands.
//! - `callrec-server` (`server/`) and `callrec-sim` (`sim/`) and `callrec-tools` (`tools/`) are
//!   PC programs built on the same core; nothing of them is in the phone binary.

pub mod agent;
pub mod alloc_count;
pub mod cli;
pub mod config;
