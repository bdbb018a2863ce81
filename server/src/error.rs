//! Why `callrec-server` stopped or did not start, sorted by who must act: the operator (the
//! command line, exit 2) or the machine (a port, the storage, a thread; exit 1).

use crate::catalog::CatalogError;
use std::fmt;
use std::io;

#[derive(Debug)]
pub enum ServerError {
    /// The command line is not usable: the operator.
    Usage(String),
    /// What the server needs from the machine failed: `what` names it.
    Setup { what: String, error: io::Error },
    /// The catalog's database cannot be opened or used: the deployment (or its data).
    Catalog(CatalogError),
    /// Another server holds the storage folder's lock: the operator started a second one.
    StorageInUse {
        storage: std::path::PathBuf,
        lock: std::path::PathBuf,
        /// What the lock file names (`None` if it names nothing readable yet).
        pid: Option<u32>,
    },
}

impl ServerError {
    pub fn usage(message: impl Into<String>) -> ServerError {
        ServerError::Usage(message.into())
    }

    /// A setup error of `what`, for `map_err`.
    pub fn setup(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
        let what = what.into();
        move |error| ServerError::Setup { what, error }
    }

    /// The exit code: 2 for usage, 1 for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServerError::Usage(_) => 2,
            ServerError::Setup { .. }
            | ServerError::Catalog(_)
            | ServerError::StorageInUse { .. } => 1,
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Usage(m) => f.write_str(m),
            ServerError::Setup { what, error } => write!(f, "{what}: {error}"),
            ServerError::Catalog(e) => write!(f, "{e}"),
            ServerError::StorageInUse { storage, lock, pid } => {
                write!(
                    f,
                    "storage {} is in use by another callrec-server",
                    storage.display()
                )?;
                match pid {
                    Some(pid) => write!(f, " (pid {pid}")?,
                    None => f.write_str(" (pid not known yet")?,
                }
                write!(f, ", lock {}); one server per storage", lock.display())
            }
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Usage(_) | ServerError::StorageInUse { .. } => None,
            ServerError::Setup { error, .. } => Some(error),
            ServerError::Catalog(e) => Some(e),
        }
    }
}

/// A command-line parser's message: the operator's error.
impl From<String> for ServerError {
    fn from(message: String) -> ServerError {
        ServerError::Usage(message)
    }
}

impl From<&str> for ServerError {
    fn from(message: &str) -> ServerError {
        ServerError::Usage(message.into())
    }
}

impl From<callrec_platform::logger::UnknownLevel> for ServerError {
    fn from(e: callrec_platform::logger::UnknownLevel) -> ServerError {
        ServerError::Usage(e.to_string())
    }
}

impl From<CatalogError> for ServerError {
    fn from(e: CatalogError) -> ServerError {
        ServerError::Catalog(e)
    }
}
