//! The board file: what a phone model has and where things are on it (`board/*.json`).

use super::{read_json, ConfigError};
use crate::usb::StickSource;
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
    /// Where the agent's HTTP listener binds (action URLs, later the web settings page):
    /// `0.0.0.0:8089` on a phone, `127.0.0.1:8089` on the host.
    pub http: SocketAddr,
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

/// The boards compiled into the binary, by model name, so a phone or a PC finds them wherever
/// the binary is. Every file of `board/` is here (a test checks it).
const BUILT_IN: &[(&str, &str)] = &[
    ("BX3S", include_str!("../../../board/bx3s.json")),
    ("BX4", include_str!("../../../board/bx4.json")),
    ("BX5S", include_str!("../../../board/bx5s.json")),
    ("BX6", include_str!("../../../board/bx6.json")),
    ("BX7", include_str!("../../../board/bx7.json")),
    ("BX7C", include_str!("../../../board/bx7c.json")),
    ("GP210", include_str!("../../../board/gp210.json")),
    ("GP210i", include_str!("../../../board/gp210i.json")),
    ("BXU", include_str!("../../../board/bxu.json")),
    ("host", include_str!("../../../board/host.json")),
];

impl Board {
    pub fn load(path: &Path) -> Result<Board, ConfigError> {
        read_json::<Board>(path)?.checked()
    }

    /// A board by model name (`BX5S`, `bx5s`, `host`: any case, from the boards compiled into
    /// the binary) or by file. A name with a `/` or ending in `.json` is always a file; so is
    /// an existing file whose name is no model's (`./bx5s` reads a file called `bx5s`).
    pub fn resolve(name_or_path: &str) -> Result<Board, ConfigError> {
        let path = Path::new(name_or_path);
        if name_or_path.contains('/') || name_or_path.ends_with(".json") {
            return Board::load(path);
        }
        if let Some((model, text)) = BUILT_IN
            .iter()
            .find(|(model, _)| model.eq_ignore_ascii_case(name_or_path))
        {
            return Board::built_in(model, text);
        }
        if path.is_file() {
            return Board::load(path);
        }
        let shown: String = name_or_path.chars().take(64).collect();
        Err(ConfigError::Invalid {
            field: "board",
            message: format!(
                "no model {shown:?} (known: {}) and no such file",
                Board::known().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    /// The model names of the boards compiled into the binary, as the guide writes them.
    pub fn known() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(model, _)| *model)
    }

    fn built_in(model: &str, text: &str) -> Result<Board, ConfigError> {
        let board: Board = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: format!("built-in board {model}"),
            error: e.to_string(),
        })?;
        board.checked()
    }

    /// What serde cannot check.
    fn checked(self) -> Result<Board, ConfigError> {
        if let StickConfig::Mounts(p) = &self.stick {
            if p.is_empty() || p.iter().any(|p| !p.starts_with('/')) {
                return Err(ConfigError::Invalid {
                    field: "stick.mounts",
                    message: "needs one or more absolute patterns such as \"/media/*\"".into(),
                });
            }
        }
        Ok(self)
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

    /// The models the product guide names (its "适用型号").
    const GUIDE_MODELS: [&str; 9] = [
        "BX3S", "BX4", "BX5S", "BX6", "BX7", "BX7C", "GP210", "GP210i", "BXU",
    ];

    #[test]
    fn every_board_file_in_the_repo_loads_and_is_built_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let board = Board::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                board.tap.ip().is_loopback(),
                "{}: tap must be on loopback",
                board.model
            );
            let file = path.file_stem().unwrap().to_str().unwrap();
            assert_eq!(
                file,
                board.model.to_lowercase(),
                "{}: the file is named after the model, in lower case",
                path.display()
            );
            assert_eq!(
                Board::resolve(&board.model).unwrap(),
                board,
                "{}: the built-in copy differs from the file",
                board.model
            );
            n += 1;
        }
        assert_eq!(
            n,
            BUILT_IN.len(),
            "every board file is built in, and only those"
        );
    }

    #[test]
    fn built_in_boards_parse_and_carry_their_model() {
        for (model, text) in BUILT_IN {
            let board = Board::built_in(model, text).unwrap_or_else(|e| panic!("{model}: {e}"));
            assert_eq!(board.model, *model);
            assert!(!board.description.is_empty(), "{model}: no description");
        }
    }

    #[test]
    fn every_model_in_the_guide_has_a_board() {
        let known: Vec<&str> = Board::known().collect();
        for model in GUIDE_MODELS {
            assert!(known.contains(&model), "no board for {model}");
        }
        assert!(known.contains(&"host"));
        assert_eq!(known.len(), GUIDE_MODELS.len() + 1);
    }

    #[test]
    fn phones_listen_on_all_interfaces_and_the_host_on_loopback() {
        for model in Board::known() {
            let board = Board::resolve(model).unwrap();
            assert_eq!(board.http.port(), 8089, "{model}");
            if model == "host" {
                assert_eq!(board.http, "127.0.0.1:8089".parse().unwrap());
            } else {
                assert_eq!(board.http, "0.0.0.0:8089".parse().unwrap(), "{model}");
                assert!(
                    matches!(board.stick, StickConfig::Mounts(_)),
                    "{model}: a phone finds sticks in mountinfo"
                );
            }
        }
    }

    #[test]
    fn resolves_model_names_in_any_case() {
        for name in [
            "bx5s", "BX5S", "Bx5s", "gp210i", "GP210I", "host", "HOST", "bxu",
        ] {
            let board = Board::resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(board.model.eq_ignore_ascii_case(name), "{name}");
        }
        assert_eq!(Board::resolve("gp210").unwrap().model, "GP210");
    }

    #[test]
    fn resolves_paths_from_disk() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../board/bx6.json");
        let board = Board::resolve(path.to_str().unwrap()).unwrap();
        assert_eq!(board.model, "BX6");
        // A path is never taken for a model name, even a missing one.
        for missing in ["no/such/bx5s", "bx5s.json", "./bx5s"] {
            match Board::resolve(missing) {
                Err(ConfigError::Read { path, .. }) => assert_eq!(path, missing),
                other => panic!("{missing}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_listing_the_models() {
        let e = Board::resolve("bx9").unwrap_err();
        let text = e.to_string();
        assert!(
            matches!(e, ConfigError::Invalid { field: "board", .. }),
            "{e:?}"
        );
        assert!(text.contains("\"bx9\""), "{text}");
        for model in Board::known() {
            assert!(text.contains(model), "{text} lacks {model}");
        }
        assert!(Board::resolve("").is_err());
    }

    #[test]
    fn usb_host_is_what_the_guide_says() {
        // "本地录音需要 USB 驱动器。BX5S/BX6 支持;BX3S/BX4 不支持"
        for (model, usb_host) in [
            ("BX3S", false),
            ("BX4", false),
            ("BX5S", true),
            ("BX6", true),
        ] {
            assert_eq!(Board::resolve(model).unwrap().usb_host, usb_host, "{model}");
        }
    }

    #[test]
    fn a_board_without_http_is_refused() {
        let text = r#"{"model":"x","usb_host":true,"stick":{"directory":"/tmp/x"},
            "tap":"127.0.0.1:0","control_socket":"/tmp/x.sock","settings":"/tmp/x.json"}"#;
        let e = Board::built_in("x", text).unwrap_err().to_string();
        assert!(e.contains("http"), "{e}");
    }
}
