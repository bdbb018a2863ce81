//! Settings as a user sends them (the web page, `set_settings`): every field checked on its
//! own, so that each bad one gets its own message for beside its input, all at once.

use super::settings::{Mode, Settings, TONE_INTERVAL_S};
use callrec_core::calls::Policy;
use callrec_core::codec::Codec;
use callrec_core::record_file::FAT32_MAX_FILE;
use callrec_core::timeline::MAX_WINDOW;
use callrec_core::writer::MIN_SIZE_LIMIT;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A message per field name.
pub type FieldErrors = BTreeMap<String, String>;

/// Largest reserve accepted: more than any stick a phone takes is pointless.
pub const MAX_RESERVE: u64 = 1 << 32;

/// `base` with the fields of `given` applied; or every bad field with its message. Fields not
/// given keep their value. `usb_host`: the model can record locally.
pub fn apply(
    base: &Settings,
    given: &Map<String, Value>,
    usb_host: bool,
) -> Result<Settings, FieldErrors> {
    let mut s = base.clone();
    let mut errors = FieldErrors::new();
    for (field, v) in given {
        if let Err(message) = set(&mut s, field, v) {
            errors.insert(field.clone(), message);
        }
    }
    // What depends on more than one field.
    if !errors.contains_key("mode") && s.mode == Mode::Local && !usb_host {
        errors.insert(
            "mode".into(),
            "this phone model has no USB host port: local recording is not available".into(),
        );
    }
    if s.mode == Mode::Network
        && s.server_address.is_none()
        && !errors.contains_key("server_address")
    {
        errors.insert(
            "server_address".into(),
            "network recording needs the record server's IP address".into(),
        );
    }
    if errors.is_empty() {
        Ok(s)
    } else {
        Err(errors)
    }
}

fn set(s: &mut Settings, field: &str, v: &Value) -> Result<(), String> {
    match field {
        "enabled" => s.enabled = boolean(v)?,
        "mode" => {
            s.mode = match v.as_str() {
                Some("local") => Mode::Local,
                Some("network") => Mode::Network,
                Some("sip_info") => Mode::SipInfo,
                Some("off") => Mode::Off,
                _ => return Err("choose local, network or SIP INFO".into()),
            }
        }
        "policy" => {
            s.policy = match v.as_str() {
                Some("never") => Policy::Never,
                Some("on_demand") => Policy::OnDemand,
                Some("always") => Policy::Always,
                Some("always_pause") => Policy::AlwaysPause,
                _ => return Err("choose never, on demand, always or always with pause".into()),
            }
        }
        "server_address" => {
            s.server_address = match v {
                Value::Null => None,
                Value::String(t) if t.trim().is_empty() => None,
                Value::String(t) => Some(
                    t.trim()
                        .parse()
                        .map_err(|_| "not an IP address (such as 192.168.1.20)".to_string())?,
                ),
                _ => return Err("not an IP address (such as 192.168.1.20)".into()),
            }
        }
        "server_port" => s.server_port = number(v, 1, 65535, "a port from 1 to 65535")? as u16,
        "codec" => {
            let name = v.as_str().unwrap_or("");
            let codec = Codec::from_name(name).ok_or("choose PCMA, PCMU or G722")?;
            s.codec = codec;
        }
        "size_limit_bytes" => {
            s.size_limit_bytes = number(
                v,
                MIN_SIZE_LIMIT,
                FAT32_MAX_FILE,
                "from 16 KiB to 4095 MiB: a FAT32 stick holds files under 4 GiB",
            )?
        }
        "reserve_bytes" => s.reserve_bytes = number(v, 0, MAX_RESERVE, "from 0 to 4096 MiB")?,
        "tone" => s.tone = boolean(v)?,
        "tone_interval_s" => {
            let (lo, hi) = (*TONE_INTERVAL_S.start(), *TONE_INTERVAL_S.end());
            s.tone_interval_s = number(v, lo.into(), hi.into(), "from 10 to 90 seconds")? as u32
        }
        "pause_on_hold" => s.pause_on_hold = boolean(v)?,
        "silent_remote" => s.silent_remote = boolean(v)?,
        "telephone_event_pt" => {
            s.telephone_event_pt = number(v, 96, 127, "a dynamic payload type, 96 to 127")? as u8
        }
        "reorder_window" => {
            s.reorder_window = number(v, 1, MAX_WINDOW as u64, "from 1 to 16 packets")? as usize
        }
        _ => return Err("not a setting".into()),
    }
    Ok(())
}

fn boolean(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| "on or off (true or false)".into())
}

/// A whole number in `lo..=hi` (a JSON number, or a string of digits from a form).
fn number(v: &Value, lo: u64, hi: u64, what: &str) -> Result<u64, String> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("must be {what}")),
    }
}

/// The settings and what the page may offer, as `GET /api/settings` answers.
pub fn view(s: &Settings, pending: bool, usb_host: bool) -> Value {
    let local = if usb_host {
        json!({"value": "local", "enabled": true})
    } else {
        json!({"value": "local", "enabled": false,
               "reason": "this phone model has no USB host port"})
    };
    json!({
        "settings": s,
        "pending": pending,
        "modes": [local, {"value": "network", "enabled": true}, {"value": "sip_info", "enabled": true}],
        "policies": ["never", "on_demand", "always", "always_pause"],
        "codecs": ["PCMA", "PCMU", "G722"],
        "limits": {
            "size_limit_bytes": [MIN_SIZE_LIMIT, FAT32_MAX_FILE],
            "reserve_bytes": [0, MAX_RESERVE],
            "tone_interval_s": [TONE_INTERVAL_S.start(), TONE_INTERVAL_S.end()],
            "server_port": [1, 65535],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(given: Value, usb: bool) -> Result<Settings, FieldErrors> {
        apply(&Settings::default(), given.as_object().unwrap(), usb)
    }

    #[test]
    fn good_fields_apply_and_others_keep_their_value() {
        let s = check(
            json!({"mode":"network","server_address":"10.0.0.5","server_port":"5070",
                   "codec":"g722","tone":true,"tone_interval_s":30,"enabled":false}),
            true,
        )
        .unwrap();
        assert_eq!(s.mode, Mode::Network);
        assert_eq!(s.server_address, Some("10.0.0.5".parse().unwrap()));
        assert_eq!((s.server_port, s.codec), (5070, Codec::G722));
        assert!(s.tone && !s.enabled);
        assert_eq!(s.size_limit_bytes, Settings::default().size_limit_bytes);
        assert_eq!(s.validate().map_err(|e| e.to_string()), Ok(()));
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let errors = check(
            json!({"mode":"network","server_address":"999.1.1.1","server_port":70000,
                   "codec":"G729","size_limit_bytes":4294967296u64,"tone_interval_s":5,
                   "policy":"sometimes","enabled":"yes","reorder_window":0,"nickname":"x"}),
            true,
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "codec",
                "enabled",
                "nickname",
                "policy",
                "reorder_window",
                "server_address",
                "server_port",
                "size_limit_bytes",
                "tone_interval_s"
            ]
        );
        assert!(errors["size_limit_bytes"].contains("FAT32"));
        assert!(errors["server_address"].contains("not an IP address"));
        assert!(errors["server_port"].contains("1 to 65535"));
    }

    #[test]
    fn cross_field_rules() {
        let e = check(json!({"mode":"local"}), false).unwrap_err();
        assert!(e["mode"].contains("no USB host port"));
        let e = check(json!({"mode":"network","server_address":""}), true).unwrap_err();
        assert!(e["server_address"].contains("needs"));
        // Network mode on a model without USB is fine.
        assert!(check(json!({"mode":"network","server_address":"::1"}), false).is_ok());
        let v = view(&Settings::default(), false, false);
        assert_eq!(v["modes"][0]["enabled"], false);
        assert_eq!(v["settings"]["mode"], "local");
    }
}
