//! Why a tool failed, sorted by who is at fault; each has its exit status.

use std::fmt;
use std::process::ExitCode;

/// Why a tool stopped short.
#[derive(Debug)]
pub enum ToolError {
    /// The command line is wrong (exit 2).
    Usage(String),
    /// The tool could not do its job: a build, a program or a peer is missing, a process did
    /// not start or answer, this machine's resources (exit 2). Says nothing of callrec's results.
    Setup(String),
    /// callrec failed a check: a recording missing, a byte different, a packet lost (exit 1).
    Check(String),
}

impl ToolError {
    /// A setup error from anything that displays (an I/O error with what was being done).
    pub fn setup(what: impl fmt::Display) -> Self {
        ToolError::Setup(what.to_string())
    }

    /// A failed check.
    pub fn check(what: impl fmt::Display) -> Self {
        ToolError::Check(what.to_string())
    }

    /// The exit status that says which kind of failure it was.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ToolError::Check(_) => ExitCode::from(1),
            ToolError::Usage(_) | ToolError::Setup(_) => ExitCode::from(2),
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Usage(m) => write!(f, "usage: {m}"),
            ToolError::Setup(m) => write!(f, "could not run: {m}"),
            ToolError::Check(m) => write!(f, "FAILED: {m}"),
        }
    }
}

impl std::error::Error for ToolError {}

/// Adds what was being done to an I/O (or any) error, as a [`ToolError::Setup`].
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, ToolError>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, ToolError> {
        self.map_err(|e| ToolError::Setup(format!("{}: {e}", what())))
    }
}

/// Runs a tool's `main` body: prints its error as `NAME: …` and returns the exit status.
pub fn exit(name: &str, result: Result<(), ToolError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            e.exit_code()
        }
    }
}
