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
    /// Where the phone's MAC address is read (e.g. `/sys/class/net/eth0/address`).
    #[serde(default)]
    pub mac_file: Option<PathBuf>,
    /// A fixed MAC address (the host board), used when there is no `mac_file`.
    #[serde(default)]
    pub mac: Option<String>,
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

    /// A board by model name (`BX5S`, `host`, any case) or by file path.
    pub fn resolve(name_or_path: &str) -> Result<Board, ConfigError> {
        Board::load(Path::new(name_or_path))
    }

    /// The phone's MAC address as the record server sees it (12 hex digits, upper case);
    /// `000000000000` if the board gives no readable one.
    pub fn mac_address(&self) -> String {
        let raw = self
            .mac_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .or_else(|| self.mac.clone())
            .unwrap_or_default();
        normalize_mac(&raw).unwrap_or_else(|| "000000000000".into())
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

/// `00:15:65:aa:bb:cc`, `00-15-65-AA-BB-CC` or `001565aabbcc` as `001565AABBCC`.
pub fn normalize_mac(raw: &str) -> Option<String> {
    let hex: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_normalised() {
        assert_eq!(
            normalize_mac("00:15:65:aa:bb:cc\n").as_deref(),
            Some("001565AABBCC")
        );
        assert_eq!(
            normalize_mac("00-15-65-AA-BB-CC").as_deref(),
            Some("001565AABBCC")
        );
        assert_eq!(
            normalize_mac("0015.65aa.bbcc").as_deref(),
            Some("001565AABBCC")
        );
        assert_eq!(normalize_mac("00:15:65:aa:bb"), None);
        assert_eq!(normalize_mac("zz:15:65:aa:bb:cc"), None);
    }

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
