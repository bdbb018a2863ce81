//! What the console commands (`user`, `token`, `device`, `retention`, `hold`, `delete`,
//! `backup`) share: their failure and its exit status, and the prologue of each (`--help`
//! prints the usage; a bad command line is exit 2 with the usage after the message).

use crate::audit::AuditError;
use crate::catalog::CatalogError;
use std::process::ExitCode;

/// Why a console command did not do what it was asked.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: refused (no such thing, not allowed, in the way of something).
    Refused(String),
    /// Exit 2: the command line (the usage follows the message).
    Usage(String),
    /// Exit 3: the catalog (or the storage) could not be used.
    Catalog(String),
}

impl From<CatalogError> for Failure {
    fn from(e: CatalogError) -> Failure {
        Failure::Catalog(e.to_string())
    }
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Failure {
        Failure::Catalog(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(m: String) -> Failure {
        Failure::Usage(m)
    }
}

impl From<&str> for Failure {
    fn from(m: &str) -> Failure {
        Failure::Usage(m.to_string())
    }
}

/// The exit status of `callrec-server WHAT`'s `result`, its failure said on stderr (`usage`
/// after a usage error).
pub fn finish(what: &str, usage: &str, result: Result<(), Failure>) -> ExitCode {
    let (code, m) = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(Failure::Refused(m)) => (1, m),
        Err(Failure::Usage(m)) => {
            eprintln!("callrec-server {what}: {m}\n\n{usage}");
            return ExitCode::from(2);
        }
        Err(Failure::Catalog(m)) => (3, m),
    };
    eprintln!("callrec-server {what}: {m}");
    ExitCode::from(code)
}

/// Runs `callrec-server WHAT`: `parsed` is its options, `None` for `--help` (the usage is
/// printed), or why the command line is wrong.
pub fn run<O>(
    what: &str,
    usage: &str,
    parsed: Result<Option<O>, String>,
    command: impl FnOnce(O) -> Result<(), Failure>,
) -> ExitCode {
    match parsed {
        Ok(Some(o)) => finish(what, usage, command(o)),
        Ok(None) => {
            println!("{usage}");
            ExitCode::SUCCESS
        }
        Err(m) => finish(what, usage, Err(Failure::Usage(m))),
    }
}
