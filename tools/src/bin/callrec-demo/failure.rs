//! How the demo fails: a failed step or check (exit 1) or an interruption by SIGINT or SIGTERM
//! (exit 130 or 143), noticed at the next step or poll; and the last lines of each log, shown
//! after a failure.

use crate::Ctx;
use callrec_tools::signals;
use callrec_tools::ToolError;

/// Why the demo stopped short.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// A step or a check failed: the reason.
    Failed(String),
    /// SIGINT or SIGTERM arrived.
    Interrupted(libc::c_int),
}

pub type Result<T> = std::result::Result<T, Failure>;

impl Failure {
    pub fn exit_status(&self) -> u8 {
        match self {
            Failure::Failed(_) => 1,
            Failure::Interrupted(signal) => 128 + *signal as u8,
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Failure::Failed(reason) => reason.clone(),
            Failure::Interrupted(libc::SIGTERM) => "terminated".to_string(),
            Failure::Interrupted(_) => "interrupted".to_string(),
        }
    }
}

impl From<ToolError> for Failure {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::Usage(m) | ToolError::Setup(m) | ToolError::Check(m) => Failure::Failed(m),
        }
    }
}

/// A failed step.
pub fn failed<T>(reason: impl Into<String>) -> Result<T> {
    Err(Failure::Failed(reason.into()))
}

/// From now on SIGINT and SIGTERM only set a flag that [`interrupted`] reads (system calls
/// are restarted), so what was started is stopped in order before the demo exits.
pub fn catch_signals() {
    if let Err(e) = signals::catch(&[libc::SIGINT, libc::SIGTERM]) {
        eprintln!("demo: cannot catch SIGINT and SIGTERM: {e}");
    }
}

/// An error once SIGINT or SIGTERM has arrived.
pub fn interrupted() -> Result<()> {
    match signals::caught() {
        None => Ok(()),
        Some(signal) => Err(Failure::Interrupted(signal)),
    }
}

/// The logs shown after a failure, in this order.
const LOGS: [&str; 6] = [
    "server.log",
    "agent.log",
    "watch.err",
    "events.log",
    "call1.log",
    "call2.log",
];

/// The last 15 lines of each log that is not empty, on stderr.
pub fn show_logs(ctx: &Ctx) {
    for name in LOGS {
        let path = ctx.file(name);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if bytes.is_empty() {
            continue;
        }
        eprintln!("--- last lines of {}", ctx.rel(&path));
        eprintln!("{}", last_lines(&String::from_utf8_lossy(&bytes), 15));
    }
}

/// The last `n` lines of `text`, joined by newlines.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_and_reasons() {
        assert_eq!(Failure::Failed("x".into()).exit_status(), 1);
        assert_eq!(Failure::Interrupted(libc::SIGINT).exit_status(), 130);
        assert_eq!(Failure::Interrupted(libc::SIGTERM).exit_status(), 143);
        assert_eq!(Failure::Interrupted(libc::SIGINT).reason(), "interrupted");
        assert_eq!(Failure::Interrupted(libc::SIGTERM).reason(), "terminated");
        assert_eq!(
            Failure::from(ToolError::check("no tap")),
            Failure::Failed("no tap".into())
        );
    }

    #[test]
    fn the_last_lines_of_a_log() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\nb", 15), "a\nb");
    }
}
