//! Where the record server keeps recordings: one Record file (the phone's format, rolled over at
//! 4 GiB) and one JSON sidecar per session, in a folder per day:
//! `STORAGE/YYYY-MM-DD/YYYYMMDD_HHMMSS_N.wav` and `….json`.
//!
//! Paths are built only from the server's clock and a counter; ids, MACs, numbers and names are
//! data in the sidecar, never path parts.

use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_core::record_file::LocalTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Sessions created within one second before the names run out.
const MAX_PER_SECOND: u32 = 100_000;

/// What the server knows about a session, kept beside its audio.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub id: String,
    pub device: String,
    pub remote_number: String,
    pub remote_name: String,
    pub local_number: String,
    pub local_name: String,
    /// `in` or `out`.
    pub dir: Direction,
    pub codec: Codec,
    /// The phone's address (the control connection's peer).
    pub peer: String,
    /// Unix time in ms.
    pub start_ms: u64,
    pub stop_ms: Option<u64>,
    /// Why it ended: the phone's reason, `connection closed`, `idle`, `server restart`, …
    pub stop_reason: Option<String>,
    pub duration_ms: u64,
    /// The Record files, oldest first (names within the day folder).
    pub files: Vec<String>,
    pub stats: Stats,
    /// Each closed Record file's digest (`digest.rs`: SHA-256 of the data, then the header),
    /// 64 hex digits by file name. A file still being written has none; so has one written
    /// before digests were kept.
    #[serde(default)]
    pub digests: BTreeMap<String, String>,
    /// The device's owner, extension and group in the server's device registry when the
    /// session started (`devices.rs`): copied then, so that the recording keeps who had the
    /// phone at the time of the call whatever the registry says later. Empty when the device
    /// was not registered (and in sidecars written before the registry).
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub extension: String,
    #[serde(default)]
    pub group: String,
}

/// Packet statistics of a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub received: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicates: u64,
    pub late: u64,
    pub malformed: u64,
    /// Datagrams from any source but the one the session latched to (the phone's address and
    /// the port of its first RTP packet), dropped.
    pub from_strangers: u64,
    /// The phone's datagrams past the session's flood limit, and packets that would have put
    /// the recording too far ahead of the wall clock, dropped. (Absent from sidecars written
    /// before it was counted: 0.)
    #[serde(default)]
    pub flood_dropped: u64,
}

/// A session's place in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The day folder.
    pub dir: PathBuf,
    /// `YYYYMMDD_HHMMSS_N`: the sidecar is `<stem>.json`, the first file `<stem>.wav`.
    pub stem: String,
}

impl Slot {
    /// The `n`th slot (n from 1) of the second `t` under `root`: `root/YYYY-MM-DD/YYYYMMDD_HHMMSS_N`.
    pub fn at(root: &Path, t: &LocalTime, n: u32) -> Slot {
        let day = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
        Slot {
            dir: root.join(day),
            stem: format!(
                "{:04}{:02}{:02}_{:02}{:02}{:02}_{n}",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            ),
        }
    }

    pub fn sidecar_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stem))
    }

    /// Name of the `n`th Record file (n from 1) of the session.
    pub fn file_name(&self, n: u32) -> String {
        if n <= 1 {
            format!("{}.wav", self.stem)
        } else {
            format!("{}_part{n}.wav", self.stem)
        }
    }
}

/// The storage folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn open(root: &Path) -> io::Result<Store> {
        fs::create_dir_all(root)?;
        Ok(Store {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reserves a new slot for a session that starts at `t` and writes its first sidecar.
    pub fn create(&self, t: &LocalTime, sidecar: &Sidecar) -> io::Result<Slot> {
        fs::create_dir_all(Slot::at(&self.root, t, 1).dir)?;
        for n in 1..=MAX_PER_SECOND {
            let slot = Slot::at(&self.root, t, n);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(slot.sidecar_path())
            {
                Ok(file) => {
                    drop(file);
                    write_sidecar(&slot, sidecar)?;
                    return Ok(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free recording name this second",
        ))
    }
}

/// Replaces the sidecar atomically (temporary file, fsync, rename): a crash leaves the old or
/// the new one, never half of one.
pub fn write_sidecar(slot: &Slot, sidecar: &Sidecar) -> io::Result<()> {
    replace_sidecar(slot, sidecar, true)
}

/// As [`write_sidecar`], but without the fsync: still atomic for a crash of the server (kill -9),
/// cheap enough for the media threads (a file opening), not durable across a power cut.
pub fn update_sidecar(slot: &Slot, sidecar: &Sidecar) -> io::Result<()> {
    replace_sidecar(slot, sidecar, false)
}

fn replace_sidecar(slot: &Slot, sidecar: &Sidecar, durable: bool) -> io::Result<()> {
    let path = slot.sidecar_path();
    let tmp = slot.dir.join(format!(".{}.json.tmp", slot.stem));
    let mut f = File::create(&tmp)?;
    let json = serde_json::to_vec_pretty(sidecar).map_err(io::Error::other)?;
    f.write_all(&json)?;
    if durable {
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)
}

/// Reads a sidecar of at most 64 KiB.
pub fn read_sidecar(path: &Path) -> io::Result<Sidecar> {
    let bytes = fs::read(path)?;
    if bytes.len() > 64 * 1024 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "sidecar larger than 64 KiB",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> LocalTime {
        LocalTime {
            year: 2026,
            month: 11,
            day: 21,
            hour: 8,
            minute: 9,
            second: 10,
        }
    }

    #[test]
    fn hostile_fields_never_become_paths() {
        let root = std::env::temp_dir().join(format!("callrec-store-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let store = Store::open(&root).unwrap();
        let hostile = Sidecar {
            id: "../../etc/passwd".into(),
            device: "\0/..".into(),
            remote_name: "x".repeat(10_000),
            ..Sidecar::default()
        };
        let a = store.create(&t(), &hostile).unwrap();
        let b = store.create(&t(), &hostile).unwrap();
        assert_eq!(a.dir, root.join("2026-11-21"));
        assert_eq!(
            (a.stem.as_str(), b.stem.as_str()),
            ("20261121_080910_1", "20261121_080910_2")
        );
        assert_eq!(b.file_name(1), "20261121_080910_2.wav");
        assert_eq!(b.file_name(3), "20261121_080910_2_part3.wav");
        // Everything the store holds is under the day folder, named by the server.
        let names: Vec<_> = fs::read_dir(&a.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2);
        assert_eq!(
            read_sidecar(&b.sidecar_path()).unwrap().id,
            "../../etc/passwd"
        );
        let _ = fs::remove_dir_all(&root);
    }
}
