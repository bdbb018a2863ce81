//! A small stderr logger for the `log` crate (the phone's syslog and systemd's journal pick up
//! stderr). Each line: the time (RFC 3339, UTC, milliseconds), the program's name (its file
//! name as started), the level, the message:
//! `2026-12-03T14:55:39.123Z callrec-server INFO  web page and API on https://…`.

use callrec_core::utc::Rfc3339Ms;
use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;
use std::sync::OnceLock;

struct Stderr;

/// The program's name: the file name of `argv[0]`, or `callrec`.
fn program() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::args_os()
            .next()
            .as_deref()
            .map(std::path::Path::new)
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty() && n.len() <= 64)
            .unwrap_or("callrec")
            .to_owned()
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "{} {} {:5} {}",
                Rfc3339Ms(now_ms()),
                program(),
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// A log level that is none of `error`, `warn`, `info`, `debug`, `trace`, `off`: whoever gave
/// it (the command line, `CALLREC_LOG`) is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl std::fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown log level {:?}", self.0)
    }
}

impl std::error::Error for UnknownLevel {}

/// Installs the logger at `level` (`error`, `warn`, `info`, `debug`, `trace` or `off`).
pub fn init(level: &str) -> Result<(), UnknownLevel> {
    let filter: LevelFilter = level
        .parse()
        .map_err(|_| UnknownLevel(level.chars().take(32).collect()))?;
    log::set_max_level(filter);
    // A second call in one process (tests) keeps the first logger; the level still applies.
    let _ = log::set_logger(&LOGGER);
    Ok(())
}
