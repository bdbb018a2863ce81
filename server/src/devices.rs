//! The device registry: which phone (by MAC) belongs to whom, with which extension, in which
//! group. It is kept in the catalog (`devices`, schema version 4) and managed on the console
//! (`callrec-server device add|list|remove`, [`cli`]), by another process than the server,
//! while the server runs or not.
//!
//! The running server holds the registry in memory ([`Registry`]) and reads it again from the
//! catalog when its version changes (every write raises it in the same transaction; a
//! [`Refresher`] thread looks once a second), so a change is in effect within about a second,
//! and a start never waits for the database. If the catalog cannot be read, the registry last
//! read stays in effect.
//!
//! At admission, a start's `device` is looked up by its MAC (`callrec_core::mac`: any of the
//! accepted spellings). With `--known-devices-only`, a device that is not there (or a `device`
//! that is no MAC) is refused `unknown_device`. A registered device's owner, extension and group
//! are copied into the session's sidecar, and so into its catalog row: the recording keeps who
//! had the phone at the time of the call, whatever the registry says later (a device removed
//! or given to someone else does not rewrite the archive), the copy survives a catalog rebuilt
//! from the sidecars, and the listing's `group` filter is a column of the recordings.

pub mod cli;

use crate::catalog::{Catalog, CatalogError, Device};
use callrec_core::mac::Mac;
use std::collections::HashMap;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the server looks for a change of the registry.
pub const REFRESH: Duration = Duration::from_secs(1);
/// The longest owner.
pub const MAX_OWNER: usize = 256;
/// The longest extension.
pub const MAX_EXTENSION: usize = 64;
/// The longest group (the listing's `group` filter takes as much).
pub const MAX_GROUP: usize = 128;

/// The registry as the running server knows it.
#[derive(Debug, Default)]
pub struct Registry {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    version: i64,
    by_mac: HashMap<Mac, Arc<Device>>,
}

impl Registry {
    /// The registry the catalog holds now.
    pub fn load(catalog: &Catalog) -> Result<Registry, CatalogError> {
        let r = Registry::default();
        let (version, devices) = catalog.devices()?;
        r.replace(version, devices);
        Ok(r)
    }

    /// Reads the registry again if its version changed; true if it did.
    pub fn refresh(&self, catalog: &Catalog) -> Result<bool, CatalogError> {
        let version = catalog.devices_version()?;
        if version == self.read().version {
            return Ok(false);
        }
        let (version, devices) = catalog.devices()?;
        self.replace(version, devices);
        Ok(true)
    }

    fn replace(&self, version: i64, devices: Vec<Device>) {
        let by_mac = devices
            .into_iter()
            // A row the console did not write (edited by hand) is skipped, not trusted.
            .filter_map(|d| Some((Mac::parse(&d.mac)?, Arc::new(d))))
            .collect();
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        *s = State { version, by_mac };
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of the device a start names (its `device` field, in any spelling of a MAC);
    /// `None` if it is not registered or is no MAC.
    pub fn lookup(&self, device: &str) -> Option<Arc<Device>> {
        let mac = Mac::parse(device)?;
        self.read().by_mac.get(&mac).cloned()
    }

    /// Devices registered.
    pub fn len(&self) -> usize {
        self.read().by_mac.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The thread that keeps a [`Registry`] in line with the catalog; stopped by [`Refresher::stop`].
pub struct Refresher {
    stop: SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Refresher {
    pub fn start(registry: Arc<Registry>, catalog: Catalog) -> std::io::Result<Refresher> {
        let (stop, rx) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("devices".into())
            .spawn(move || {
                let mut failing = false;
                while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(REFRESH) {
                    match registry.refresh(&catalog) {
                        Ok(changed) => {
                            if failing {
                                log::info!("device registry: readable again");
                                failing = false;
                            }
                            if changed {
                                log::info!(
                                    "device registry: {} device(s) after a change",
                                    registry.len()
                                );
                            }
                        }
                        Err(e) => {
                            // Once per outage, not once a second.
                            if !failing {
                                log::warn!(
                                    "device registry: {e}; the registry read last stays in effect"
                                );
                                failing = true;
                            }
                        }
                    }
                }
            })?;
        Ok(Refresher { stop, thread })
    }

    pub fn stop(self) {
        let _ = self.stop.try_send(());
        let _ = self.thread.join();
    }
}

/// An owner as the registry keeps it: trimmed, 1 to [`MAX_OWNER`] characters, no control
/// characters.
pub fn owner(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("--owner is empty".into());
    }
    printable("--owner", v, MAX_OWNER)
}

/// An extension: trimmed, at most [`MAX_EXTENSION`] of the characters a phone number may have
/// (`A-Z a-z 0-9 + * # @ . _ - : ; =`); may be empty.
pub fn extension(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.chars().count() > MAX_EXTENSION {
        return Err(format!(
            "--extension longer than {MAX_EXTENSION} characters"
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+*#@._-:;=".contains(c))
    {
        return Err("--extension: only A-Z a-z 0-9 + * # @ . _ - : ; =".into());
    }
    Ok(v.to_string())
}

/// A group: trimmed, at most [`MAX_GROUP`] characters, no control characters; may be empty.
pub fn group(v: &str) -> Result<String, String> {
    printable("--group", v.trim(), MAX_GROUP)
}

fn printable(what: &str, v: &str, max: usize) -> Result<String, String> {
    if v.chars().count() > max {
        return Err(format!("{what} longer than {max} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_trimmed_and_checked() {
        assert_eq!(owner("  Anna Schmidt ").as_deref(), Ok("Anna Schmidt"));
        assert_eq!(owner("张三").as_deref(), Ok("张三"));
        assert!(owner("   ").is_err());
        assert!(owner("a\u{7}b").is_err());
        assert!(owner(&"x".repeat(MAX_OWNER + 1)).is_err());
        assert_eq!(
            owner(&"x".repeat(MAX_OWNER)).map(|o| o.len()),
            Ok(MAX_OWNER)
        );
        assert_eq!(extension(" 1001 ").as_deref(), Ok("1001"));
        assert_eq!(extension("").as_deref(), Ok(""));
        assert_eq!(extension("+49-30*1#").as_deref(), Ok("+49-30*1#"));
        assert!(extension("10 01").is_err());
        assert!(extension("１００１").is_err());
        assert!(extension(&"1".repeat(MAX_EXTENSION + 1)).is_err());
        assert_eq!(group(" Sales EMEA ").as_deref(), Ok("Sales EMEA"));
        assert_eq!(group("").as_deref(), Ok(""));
        assert!(group("a\nb").is_err());
        assert!(group(&"g".repeat(MAX_GROUP + 1)).is_err());
    }

    #[test]
    fn a_device_is_found_by_any_spelling_of_its_mac_and_rows_that_are_no_mac_are_left_out() {
        let r = Registry::default();
        let device = |mac: &str| Device {
            mac: mac.into(),
            owner: "Anna".into(),
            ..Device::default()
        };
        r.replace(3, vec![device("001565AABBCC"), device("not a mac")]);
        assert_eq!(r.len(), 1);
        for spelling in ["001565AABBCC", "00:15:65:aa:bb:cc", "0015.65AA.BBCC"] {
            assert_eq!(
                r.lookup(spelling).map(|d| d.owner.clone()).as_deref(),
                Some("Anna")
            );
        }
        assert!(r.lookup("001565AABBCD").is_none());
        assert!(r.lookup("00:15:65").is_none());
        r.replace(4, vec![]);
        assert!(r.lookup("001565AABBCC").is_none());
        assert!(r.is_empty());
    }
}
