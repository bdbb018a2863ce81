//! SIGINT, SIGTERM and SIGHUP end the benchmark cleanly: the handler only records the signal,
//! and every wait of the tool is cut into short slices that check for it ([`check`], [`sleep`]),
//! so an interrupted run returns through the normal error path: its processes are stopped when
//! dropped, its work directory removed, and the exit status is 128 + the signal.

use callrec_tools::signals;
use callrec_tools::ToolError;
use std::time::{Duration, Instant};

/// How long a wait runs before it checks for a signal again.
pub const SLICE: Duration = Duration::from_millis(100);

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub fn install() {
    if let Err(e) = signals::catch(&signals::TERMINATION) {
        eprintln!("bench-server: cannot catch SIGINT, SIGTERM and SIGHUP: {e}");
    }
}

/// The signal caught, if any.
pub fn caught() -> Option<i32> {
    signals::caught()
}

/// An error once a signal was caught.
pub fn check() -> Result<(), ToolError> {
    match caught() {
        None => Ok(()),
        Some(n) => Err(ToolError::setup(format!("interrupted by signal {n}"))),
    }
}

/// Sleeps `d`, or less if a signal comes (then an error).
pub fn sleep(d: Duration) -> Result<(), ToolError> {
    let end = Instant::now() + d;
    loop {
        check()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(SLICE));
    }
}

/// Waits up to `timeout` for `p` to exit (an error if a signal comes first).
pub fn wait(
    p: &mut callrec_tools::process::Proc,
    timeout: Duration,
) -> Result<Option<std::process::ExitStatus>, ToolError> {
    let end = Instant::now() + timeout;
    loop {
        check()?;
        let left = end.saturating_duration_since(Instant::now());
        if let Some(status) = p.wait_timeout(left.min(SLICE)) {
            return Ok(Some(status));
        }
        if left.is_zero() {
            return Ok(None);
        }
    }
}
