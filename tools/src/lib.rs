//! What callrec's orchestration tools share: they start callrec's programs (and ffmpeg, qemu) as
//! real processes on loopback, wait for their ready lines, read what the kernel says of them,
//! and report. Nothing here re-implements the product: formats and protocols come from
//! `callrec-core`, recordings are read by `callrec info --json`.
//!
//! - [`process`]: a child process that dies with the tool and is stopped when dropped, its ready
//!   line read with a deadline;
//! - [`procfs`]: a process's CPU time, memory and writes, from `/proc/PID`;
//! - [`agent`]: a `callrec agent` with its own stick, socket and settings, natively or under
//!   qemu-user, and `callrec ctl` against it;
//! - [`signals`]: SIGINT, SIGTERM, SIGHUP handled or recorded, for a tool to stop in order;
//! - [`workdir`]: a temporary directory removed when dropped, or on SIGINT, SIGTERM, SIGHUP;
//! - [`markdown`]: the tables the benchmarks print, their command lines, figures and host;
//! - [`ffmpeg`]: `ffmpeg -c copy` of one PCMA stream, the benchmarks' other recorder;
//! - [`http`]: a kept-alive HTTP/1.1 client for the record server's API;
//! - [`postgres`]: a real PostgreSQL on loopback for the catalog's tests and benchmark;
//! - [`error`]: why a tool failed, by who is at fault, and its exit status.

pub mod agent;
pub mod error;
pub mod ffmpeg;
pub mod http;
pub mod markdown;
pub mod postgres;
pub mod process;
pub mod procfs;
pub mod signals;
pub mod workdir;

pub use error::ToolError;
