//! The phone simulator, `callrec-sim` (host only): plays a call into the agent the way a desk
//! phone does, for integrators without a phone and for tests.
//!
//! A phone does two things the agent sees: its media engine sends the call's mixed audio as RTP
//! to the tap while the call is answered and not held, and its firmware reports call events and
//! key presses on the control socket. The simulator does both from a script (or from flags that
//! build one), with deliberate packet loss and reorder on request. With `--sip` it also plays
//! the phone's SIP stack for callrec's SIP INFO mode: it places each call at a PBX (INVITE,
//! ACK, BYE), gives the agent the dialog in the call events, and sends the requests the agent
//! hands it (`sip_request` events), reporting their final responses (`sip_response`).
//!
//! Like the agent, it is a sans-IO core in a thin shell:
//! - [`script`] and [`flags`]: the steps (text or flags in, steps out) and how they print;
//! - [`plan`]: when audio flows and where to, worked out from the steps before the run;
//! - [`wav`], [`media`]: the clip or tone, resampled and encoded (PCMA, PCMU, G.722);
//! - [`stream`], [`rng`]: one call's RTP packets with loss and reorder, seeded;
//! - [`report`]: what is printed;
//! - [`sip`], [`transaction`], [`phone`]: with `--sip`, the phone's SIP stack: its messages,
//!   the client transactions' timers, and the calls' dialogs and transactions;
//! - [`run`], [`sip_io`]: the threads and sockets, pacing packets against absolute deadlines;
//! - [`cli`]: the command line.

pub mod cli;
pub mod flags;
pub mod media;
pub mod phone;
pub mod plan;
pub mod report;
pub mod rng;
pub mod run;
pub mod script;
pub mod sip;
pub mod sip_io;
pub mod stream;
pub mod transaction;
pub mod wav;
