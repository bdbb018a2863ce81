//! Reading the JSON configuration files: the board file (what the phone model is) here, and the
//! agent's settings file (what the user chose, `callrec::config`), with one error type.

pub mod board;

use core::fmt;

/// A board or settings file that cannot be used. The configuration is at fault.
#[derive(Debug)]
pub enum ConfigError {
    Read {
        path: String,
        error: std::io::Error,
    },
    Parse {
        path: String,
        error: String,
    },
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, error } => write!(f, "cannot read {path}: {error}"),
            ConfigError::Parse { path, error } => write!(f, "{path}: {error}"),
            ConfigError::Invalid { field, message } => write!(f, "{field}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads a JSON file of at most 64 KiB.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read(path).map_err(|error| ConfigError::Read {
        path: shown.clone(),
        error,
    })?;
    if text.len() > 64 * 1024 {
        return Err(ConfigError::Parse {
            path: shown,
            error: "larger than 64 KiB".into(),
        });
    }
    serde_json::from_slice(&text).map_err(|e| ConfigError::Parse {
        path: shown,
        error: e.to_string(),
    })
}
