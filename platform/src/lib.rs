//! callrec's platform layer: the outside world that the phone agent, the record server and the
//! simulator share, behind narrow traits with real implementations and fault-injecting fakes.
//!
//! - [`clock`], [`ticker`], [`random`]: time and the kernel's randomness.
//! - [`udp`]: the tap's socket and its batched receive.
//! - [`usb`]: finding the USB stick (mount table, hot plug).
//! - [`store`]: storage of Record files (the real directory, a faulty fake, reading, repair);
//!   [`atomic`]: files written whole or not at all.
//! - [`line_reader`]: whole lines from a blocking stream, for the agent's clients.
//! - [`download`]: Record files streamed as stored or as WAV, with `Range`, off the runtime thread.
//! - [`config`]: the board file (what the phone model is); [`logger`]: the `log` backend.
//! - [`pid_lock`]: one process per folder (an flock(2)-held file naming its pid).

pub mod atomic;
pub mod clock;
pub mod config;
pub mod download;
pub mod line_reader;
pub mod logger;
pub mod pid_lock;
pub mod random;
pub mod store;
pub mod ticker;
pub mod udp;
pub mod usb;
pub mod version;
