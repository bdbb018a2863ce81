//! A small stderr logger for the `log` crate (the phone's syslog picks up stderr).

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "callrec {:5} {}", record.level(), record.args());
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
