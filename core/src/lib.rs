//! callrec's sans-IO core: the formats and state machines that the phone agent, the record
//! server and the simulator share, none of which touches a socket, a file or the clock.
//!
//! Time, datagrams, commands and storage answers go in as arguments; file operations, status
//! and the next deadline come out. Everything here is tested deterministically. The crate
//! depends on nothing that does I/O, and `clippy.toml` beside its manifest makes a clock read,
//! a file or a socket a lint error.
//!
//! - Media: [`rtp`], [`timeline`] (reorder, gap-fill), [`codec`], [`audio`] (G.711, G.722, WAV),
//!   [`rtp_gate`] (the record server's latch and flood limit of a session's RTP).
//! - The Record file: [`record_file`] (the guide's format), [`writer`] (rollover, batching),
//!   [`recorder`] (the local recording's state machine).
//! - Protocols: [`record_protocol`] (the record server's control lines), [`net_client`] (the
//!   phone's side of a network recording), [`control_protocol`] (the agent's control protocol),
//!   [`action_url`], [`sip`] (the SIP INFO exchange).
//! - The record server's side of a session: [`net_server`] (admission, start, pause, stop, idle;
//!   a sans-IO state machine beside the phone's [`net_client`] leg, tested against it in
//!   simulated time); [`admission`] (the live sessions counted per address and per device),
//!   [`cidr`] (`--allow`'s address ranges), [`mac`] (a device's MAC, read strictly).
//! - The phone's calls: [`calls`] (which call is recorded, under which policy), [`backlog`].
//! - Logs: [`log_limit`] (at most so many lines of one kind per interval, the rest summed up).

pub mod action_url;
pub mod admission;
pub mod audio;
pub mod backlog;
pub mod calls;
pub mod cidr;
pub mod codec;
pub mod control_protocol;
pub mod direction;
pub mod line;
pub mod log_limit;
pub mod mac;
pub mod net_client;
pub mod net_server;
pub mod percent;
pub mod port;
pub mod record_file;
pub mod record_protocol;
pub mod recorder;
pub mod rtp;
pub mod rtp_gate;
pub mod sip;
pub mod test_rng;
pub mod timeline;
pub mod utc;
pub mod writer;

#[cfg(test)]
mod test_disk;
