//! The recording settings (the web UI's page): a small JSON file, every field optional.

use callrec_core::calls::{Policy, Rules};
use callrec_core::codec::{Codec, DEFAULT_TELEPHONE_EVENT_PT};
use callrec_core::record_file::FAT32_MAX_FILE;
use callrec_core::recorder::RecorderConfig;
use callrec_core::timeline::{TimelineConfig, MAX_WINDOW};
use callrec_core::writer::MIN_SIZE_LIMIT;
use callrec_platform::config::{read_json, ConfigError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How calls are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `Record_` files on the USB stick.
    Local,
    /// Streamed to a record server (the TCP protocol plus RTP over UDP).
    Network,
    /// The PBX records, asked by an in-dialog SIP INFO (`Record: on|off`).
    SipInfo,
    /// Recording is switched off.
    Off,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Network => "network",
            Mode::SipInfo => "sip_info",
            Mode::Off => "off",
        }
    }
}

/// The settings file. Unknown fields are ignored (a newer web UI may write more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Recording on or off (the web page's switch; `mode: off` says the same).
    pub enabled: bool,
    pub mode: Mode,
    /// Largest `Record_` file in bytes; the next file starts past it (FAT32: under 4 GiB).
    pub size_limit_bytes: u64,
    /// Free space on the stick that recording never uses.
    pub reserve_bytes: u64,
    /// Dynamic payload type of telephone-event (96–127).
    pub telephone_event_pt: u8,
    /// Packets held to put reordered ones back in order (1–16).
    pub reorder_window: usize,
    /// Network mode: the record server's IP address.
    pub server_address: Option<std::net::IpAddr>,
    /// Network mode: the record server's TCP port.
    pub server_port: u16,
    /// Network mode: the codec the phone's media engine sends (told to the server).
    pub codec: Codec,
    /// When calls are recorded.
    pub policy: Policy,
    /// A held call's recording pauses and goes on at resume (else it keeps recording).
    pub pause_on_hold: bool,
    /// Recordings started through the control API show nothing on the phone.
    pub silent_remote: bool,
    /// Ask the phone for the recording notification tone while recording.
    pub tone: bool,
    /// Seconds between tones (10–90).
    pub tone_interval_s: u32,
}

/// Bounds of the tone interval (the Webex seeds: 10 to 90 s).
pub const TONE_INTERVAL_S: std::ops::RangeInclusive<u32> = 10..=90;

impl Default for Settings {
    fn default() -> Self {
        let rec = RecorderConfig::default();
        Settings {
            enabled: true,
            mode: Mode::Local,
            size_limit_bytes: rec.size_limit,
            reserve_bytes: rec.reserve_bytes,
            telephone_event_pt: DEFAULT_TELEPHONE_EVENT_PT,
            reorder_window: rec.timeline.window,
            server_address: None,
            server_port: 5060,
            codec: Codec::Pcma,
            policy: Policy::OnDemand,
            pause_on_hold: true,
            silent_remote: false,
            tone: false,
            tone_interval_s: 20,
        }
    }
}

impl Settings {
    /// Writes the settings file atomically (a kill or power cut leaves the old or the new).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        text.push(b'\n');
        callrec_platform::atomic::write_atomically(path, &text)
    }

    /// Loads and checks a settings file.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let s: Settings = read_json(path)?;
        s.validate()?;
        Ok(s)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, message: String| Err(ConfigError::Invalid { field, message });
        if !(MIN_SIZE_LIMIT..FAT32_MAX_FILE + 1).contains(&self.size_limit_bytes) {
            return invalid(
                "size_limit_bytes",
                format!("must be from {MIN_SIZE_LIMIT} to {FAT32_MAX_FILE} (FAT32 holds less than 4 GiB)"),
            );
        }
        if !(96..=127).contains(&self.telephone_event_pt) {
            return invalid(
                "telephone_event_pt",
                "must be a dynamic payload type, 96 to 127".into(),
            );
        }
        if !(1..=MAX_WINDOW).contains(&self.reorder_window) {
            return invalid(
                "reorder_window",
                format!("must be from 1 to {MAX_WINDOW} packets"),
            );
        }
        if !TONE_INTERVAL_S.contains(&self.tone_interval_s) {
            return invalid(
                "tone_interval_s",
                format!(
                    "must be from {} to {} seconds",
                    TONE_INTERVAL_S.start(),
                    TONE_INTERVAL_S.end()
                ),
            );
        }
        Ok(())
    }

    /// What the call controller follows.
    pub fn rules(&self) -> Rules {
        Rules {
            enabled: self.enabled && self.mode != Mode::Off,
            mode: if self.enabled {
                self.mode.name()
            } else {
                "off"
            },
            policy: self.policy,
            pause_on_hold: self.pause_on_hold,
            silent_remote: self.silent_remote,
            tone_interval_ms: self.tone.then_some(u64::from(self.tone_interval_s) * 1000),
            can_pause: self.mode != Mode::SipInfo,
        }
    }

    pub fn recorder_config(&self) -> RecorderConfig {
        let base = RecorderConfig::default();
        RecorderConfig {
            timeline: TimelineConfig {
                window: self.reorder_window,
                telephone_event_pt: self.telephone_event_pt,
                ..base.timeline
            },
            size_limit: self.size_limit_bytes,
            reserve_bytes: self.reserve_bytes,
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_file_takes_defaults_and_unknown_fields_are_ignored() {
        let s: Settings =
            serde_json::from_str(r#"{"size_limit_bytes": 1048576, "future": 1}"#).unwrap();
        assert_eq!(s.size_limit_bytes, 1 << 20);
        assert_eq!(s.mode, Mode::Local);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn the_packaged_default_settings_are_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/phone/settings.json");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
    }

    #[test]
    fn out_of_range_values_name_their_field() {
        let field = |s: Settings| match s.validate() {
            Err(ConfigError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let d = Settings::default();
        assert_eq!(
            field(Settings {
                size_limit_bytes: 1 << 32,
                ..d.clone()
            }),
            "size_limit_bytes"
        );
        assert_eq!(
            field(Settings {
                size_limit_bytes: 100,
                ..d.clone()
            }),
            "size_limit_bytes"
        );
        assert_eq!(
            field(Settings {
                telephone_event_pt: 8,
                ..d.clone()
            }),
            "telephone_event_pt"
        );
        assert_eq!(
            field(Settings {
                reorder_window: 0,
                ..d.clone()
            }),
            "reorder_window"
        );
        assert_eq!(
            field(Settings {
                tone_interval_s: 9,
                ..d.clone()
            }),
            "tone_interval_s"
        );
        assert!(serde_json::from_str::<Settings>(r#"{"mode":"cloud"}"#).is_err());
        let codec = serde_json::from_str::<Settings>(r#"{"codec":"G729"}"#).unwrap_err();
        assert!(
            codec
                .to_string()
                .contains("codec must be PCMA, PCMU or G722"),
            "{codec}"
        );
        assert!(serde_json::from_str::<Settings>(r#"{"policy":"sometimes"}"#).is_err());
    }
}
