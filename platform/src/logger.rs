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

/// Installs the logger at `level` (`error`, `warn`, `info`, `debug`, `trace` or `off`).
pub fn init(level: &str) -> Result<(), String> {
    let filter: LevelFilter = level
        .parse()
        .map_err(|_| format!("unknown log level {level:?}"))?;
    log::set_max_level(filter);
    // A second call in one process (tests) keeps the first logger; the level still applies.
    let _ = log::set_logger(&LOGGER);
    Ok(())
}
