//! Rate-limited log lines for everything a peer can repeat.
//!
//! A phone, or anyone who reaches the control port or an RTP port, can cause an event once per
//! line, per datagram or per connection: a line that does not parse, a refused start, a socket
//! error, a connection over the address's limit. Logged one line each, a flood of them (200,000
//! empty lines are a few seconds of one connection) fills the disk and buries what matters. So
//! each [`Kind`] of such event goes through one [`LogLimit`] (`callrec_core::log_limit`) for the
//! whole process: at most [`BURST`] lines per [`INTERVAL_MS`], then one line
//! `… and K more in the last N s` when the interval is over (the storage watcher asks for the
//! summaries every second, [`summaries`]).
//!
//! # Use
//!
//! Any log line that a peer's input can repeat goes through [`limited!`](crate::limited):
//! ```text
//! crate::limited!(Kind::Media, "session {}: receive: {e}", stem);
//! ```
//! with the [`Kind`] that fits; a new kind of event is a new variant (its level and what the
//! summary calls it in [`Kind::level`] and [`Kind::what`]). What happens once per session (it
//! started, it ended) is logged plainly: the session limit bounds it.

use callrec_core::log_limit::LogLimit;
use log::Level;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// Lines of one kind per interval.
pub const BURST: u32 = 10;
/// The interval, in ms.
pub const INTERVAL_MS: u64 = 10_000;

/// A kind of event a peer can repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A control line that is no message, or a message a phone never sends.
    BadLine,
    /// A start refused (a field, a limit, the storage) or whose media could not start.
    Refused,
    /// A connection closed for what it sent or did not send: an over-long line, too many lines
    /// while the server was busy, no session started in time.
    Connection,
    /// A connection that ended without a session (refused, or never asked for one).
    Closed,
    /// The accept loop: an error, a connection over the address's limit.
    Accept,
    /// A control connection from outside `--allow`, closed at accept.
    Outside,
    /// The media shards: a socket error of a session, a shard's full queue.
    Media,
    /// A session's files: a Record file, a sidecar or the catalog's row could not be written.
    Storage,
    /// The web side: an accept error, the catalog unavailable for a request, a recording's
    /// file.
    Http,
}

const KINDS: usize = 9;

impl Kind {
    const ALL: [Kind; KINDS] = [
        Kind::BadLine,
        Kind::Refused,
        Kind::Connection,
        Kind::Closed,
        Kind::Accept,
        Kind::Outside,
        Kind::Media,
        Kind::Storage,
        Kind::Http,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The level of its lines and its summaries.
    pub fn level(self) -> Level {
        match self {
            Kind::BadLine
            | Kind::Connection
            | Kind::Accept
            | Kind::Outside
            | Kind::Media
            | Kind::Http => Level::Warn,
            Kind::Refused | Kind::Closed => Level::Info,
            Kind::Storage => Level::Error,
        }
    }

    /// What its summary line calls the events.
    pub fn what(self) -> &'static str {
        match self {
            Kind::BadLine => "bad control lines",
            Kind::Refused => "refused starts",
            Kind::Connection => "connections closed for their input",
            Kind::Closed => "connections closed without a session",
            Kind::Accept => "accept errors and refused connections",
            Kind::Outside => "connections from outside --allow",
            Kind::Media => "media errors",
            Kind::Storage => "storage errors",
            Kind::Http => "web side errors",
        }
    }
}

/// One limit per kind (the process has one, behind [`log()`] and [`summaries`]). Time is in ms
/// from the caller.
#[derive(Debug)]
pub struct Limits([LogLimit; KINDS]);

impl Limits {
    pub const fn new(burst: u32, interval_ms: u64) -> Limits {
        Limits([LogLimit::new(burst, interval_ms); KINDS])
    }

    /// An event of `kind` at `now_ms`: as [`LogLimit::event`].
    pub fn event(&mut self, kind: Kind, now_ms: u64) -> Option<u64> {
        self.0[kind.index()].event(now_ms)
    }

    /// The kinds whose window is over with events left out, and how many.
    pub fn summaries(&mut self, now_ms: u64) -> Vec<(Kind, u64)> {
        Kind::ALL
            .iter()
            .filter_map(|&k| self.0[k.index()].summary(now_ms).map(|n| (k, n)))
            .collect()
    }
}

static LIMITS: Mutex<Limits> = Mutex::new(Limits::new(BURST, INTERVAL_MS));
static START: OnceLock<Instant> = OnceLock::new();

fn now_ms() -> u64 {
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn limits() -> std::sync::MutexGuard<'static, Limits> {
    // A panic elsewhere while holding it leaves counters that are still usable.
    LIMITS.lock().unwrap_or_else(|e| e.into_inner())
}

fn summary_line(kind: Kind, n: u64) {
    log::log!(
        kind.level(),
        "{}: … and {n} more in the last {} s",
        kind.what(),
        INTERVAL_MS / 1000
    );
}

/// Logs `args` at `kind`'s level if its limit lets it through (the [`limited!`](crate::limited)
/// macro's body).
pub fn log(kind: Kind, args: fmt::Arguments<'_>) {
    if !log::log_enabled!(kind.level()) {
        return;
    }
    let verdict = limits().event(kind, now_ms());
    if let Some(before) = verdict {
        if before > 0 {
            summary_line(kind, before);
        }
        log::log!(kind.level(), "{args}");
    }
}

/// Logs the summary of every kind whose interval is over with lines left out. Called every
/// second by the storage watcher, so a flood that stopped is still summed up.
pub fn summaries() {
    let due = limits().summaries(now_ms());
    for (kind, n) in due {
        summary_line(kind, n);
    }
}

/// A log line that a peer can repeat: `limited!(Kind::X, "format", args…)`. See [`crate::logs`].
#[macro_export]
macro_rules! limited {
    ($kind:expr, $($arg:tt)+) => {
        $crate::logs::log($kind, format_args!($($arg)+))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_limit() {
        let mut l = Limits::new(2, 1_000);
        let logged = |l: &mut Limits, k| l.event(k, 0).is_some();
        assert!(logged(&mut l, Kind::BadLine));
        assert!(logged(&mut l, Kind::BadLine));
        assert!(!logged(&mut l, Kind::BadLine));
        // A flood of one kind leaves the others' lines alone.
        assert!(logged(&mut l, Kind::Storage));
        for _ in 0..1000 {
            logged(&mut l, Kind::BadLine);
        }
        assert!(logged(&mut l, Kind::Media));
        assert_eq!(l.summaries(999), []);
        assert_eq!(l.summaries(1_000), [(Kind::BadLine, 1001)]);
        assert_eq!(l.summaries(2_000), []);
    }

    #[test]
    fn the_kinds_table_is_whole() {
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            assert!(!k.what().is_empty());
        }
    }
}
