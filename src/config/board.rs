//! The board file: what a phone model has and where things are on it (`board/*.json`).

use super::{read_json, ConfigError};
use crate::platform::usb::StickSource;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where sticks appear, as written in the board file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StickConfig {
    /// A phone: mount points matching these patterns (`*` and `?`), from /proc/self/mountinfo.
    Mounts(Vec<String>),
    /// A PC: this directory stands for the stick.
    Directory(PathBuf),
}

/// A phone model (or the host PC).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Model name as the guide writes it (`BX5S`, `host`, …).
    pub model: String,
    #[serde(default)]
    pub description: String,
    /// Whether the model has a USB host port (local recording needs one).
    pub usb_host: bool,
    /// Where the stick is found.
    pub stick: StickConfig,
    /// The loopback address the media engine sends the mixed RTP to.
    pub tap: SocketAddr,
    /// The agent's control socket.
    pub control_socket: PathBuf,
    /// The settings file the web UI writes.
    pub settings: PathBuf,
}

impl Board {
    pub fn load(path: &Path) -> Result<Board, ConfigError> {
        let board: Board = read_json(path)?;
        if let StickConfig::Mounts(p) = &board.stick {
            if p.is_empty() || p.iter().any(|p| !p.starts_with('/')) {
                return Err(ConfigError::Invalid {
                    field: "stick.mounts",
                    message: "needs one or more absolute patterns such as \"/media/*\"".into(),
                });
            }
        }
        Ok(board)
    }

    pub fn stick_source(&self) -> StickSource {
        match &self.stick {
            StickConfig::Mounts(patterns) => StickSource::Mounts {
                patterns: patterns.clone(),
            },
            StickConfig::Directory(dir) => StickSource::Directory(dir.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_file_in_the_repo_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("board");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let board = Board::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                board.tap.ip().is_loopback(),
                "{}: tap must be on loopback",
                board.model
            );
            n += 1;
        }
        assert!(n >= 3);
    }
}
