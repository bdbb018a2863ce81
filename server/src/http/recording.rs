//! The recordings as the web side shows them: the catalog's rows, each with its RID, the
//! Record files it has on disk and, for a session still recording, what they hold so far.
//! Everything here reads the storage; callers run it on a reader thread (`callrec_platform::download::pool`).

use crate::catalog::Row;
use crate::integrity::{self, Checks, FileCheck, Found, Integrity};
use crate::rid::Rid;
use crate::store::{Sidecar, Slot, Store};
use callrec_core::record_file::{Header, HEADER_LEN};
use callrec_platform::clock::local_time_of;
use callrec_platform::download::wav::{Part, WavPlan};
use callrec_platform::store::reader::{ReadError, RecordReader};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Files a session may have (a new file per codec change or per 4 GiB): the most looked for.
pub const MAX_FILES: u32 = 1024;

/// A recording in the store.
#[derive(Debug, Clone)]
pub struct Entry {
    pub rid: Rid,
    pub slot: Slot,
    pub sidecar: Sidecar,
    /// The last checks of its files, as the catalog has them.
    pub checks: Checks,
}

/// A Record file of a WAV, as it was when the WAV was planned.
#[derive(Debug, Clone)]
pub struct Stored {
    pub name: String,
    /// Its length then.
    pub len: u64,
    /// Its header's bytes then.
    pub header: [u8; HEADER_LEN],
    /// The WAV reads all of its data (its header says as much as it holds).
    pub whole: bool,
}

/// The WAV of a recording: its plan, the files it reads (one per part) and what they were
/// when planned, and the files listed that are not there.
#[derive(Debug)]
pub struct WavFiles {
    pub plan: WavPlan,
    pub paths: Vec<PathBuf>,
    pub stored: Vec<Stored>,
    pub missing: Vec<String>,
}

impl Entry {
    /// Still recording: its sidecar has no stop yet.
    pub fn in_progress(&self) -> bool {
        self.sidecar.stop_ms.is_none()
    }

    /// Names of its Record files, oldest first. A finished session's sidecar lists them; each
    /// must be the name the server gives the nth file (anything else is not served). A session
    /// still recording (whose sidecar learns its files only at the end) or a sidecar that lists
    /// none: the server's names that exist on disk.
    pub fn files(&self) -> Vec<String> {
        let listed = &self.sidecar.files;
        if !self.in_progress() && !listed.is_empty() {
            let mut names = Vec::new();
            for (i, name) in listed.iter().enumerate().take(MAX_FILES as usize) {
                let own = self.slot.file_name(i as u32 + 1);
                if *name != own {
                    crate::limited!(
                        crate::logs::Kind::Http,
                        "{}: sidecar lists an unexpected file; ignored",
                        self.rid
                    );
                    break;
                }
                names.push(own);
            }
            return names;
        }
        (1..=MAX_FILES)
            .map(|n| self.slot.file_name(n))
            .take_while(|name| self.slot.dir.join(name).is_file())
            .collect()
    }

    /// The WAV of the recording and the files it reads (one per part; a file that is not a
    /// Record file is left out and logged).
    pub fn wav(&self) -> WavFiles {
        let mut parts = Vec::new();
        let mut paths = Vec::new();
        let mut stored = Vec::new();
        let mut missing = Vec::new();
        for name in self.files() {
            let path = self.slot.dir.join(&name);
            match RecordReader::open(&path) {
                Ok(r) => {
                    let h = r.header();
                    let data_len = u64::from(h.data_size);
                    let raw = Header {
                        data_size: r.header_data_size(),
                        ..h
                    };
                    parts.push(Part {
                        codec: h.codec,
                        data_len,
                    });
                    stored.push(Stored {
                        name,
                        len: r.file_len(),
                        // The header decoded, so it encodes to the very bytes it was read from.
                        header: raw.encode(),
                        whole: !r.stale() && data_len + HEADER_LEN as u64 == r.file_len(),
                    });
                    paths.push(path);
                }
                Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                    missing.push(name);
                }
                Err(e) => crate::limited!(crate::logs::Kind::Http, "{}: {name}: {e}", self.rid),
            }
        }
        let codec = self.sidecar.codec;
        WavFiles {
            plan: WavPlan::new(parts, codec),
            paths,
            stored,
            missing,
        }
    }

    /// The recording's state after the last checks of its files.
    pub fn integrity(&self) -> Integrity {
        integrity::of(&self.sidecar, &self.checks)
    }

    /// The state of its file `name` after its last check.
    pub fn file_integrity(&self, name: &str) -> Integrity {
        match self.checks.files.get(name).map(|c| c.state) {
            Some(Found::Mismatch) => Integrity::Mismatch,
            Some(Found::Missing) => Integrity::Missing,
            _ if self.in_progress() => Integrity::Unchecked,
            _ if !self.sidecar.digests.contains_key(name) => Integrity::NoDigest,
            Some(Found::Verified) => Integrity::Verified,
            None => Integrity::Unchecked,
        }
    }

    /// The recording as the page and the API show it.
    pub fn view(&self) -> View {
        let mut sidecar = self.sidecar.clone();
        let files = self.files();
        let in_progress = self.in_progress();
        if in_progress {
            // The sidecar learns its duration at the end; until then, what the files hold.
            sidecar.duration_ms = self.wav().plan.duration_ms();
        }
        let base = format!("/recordings/{}", self.rid);
        View {
            rid: self.rid.to_string(),
            originals: (1..=files.len())
                .map(|n| format!("{base}/original/{n}"))
                .collect(),
            audio_url: format!("{base}/audio.wav"),
            download_url: format!("{base}/download.wav"),
            start_local: local_text(sidecar.start_ms),
            in_progress,
            integrity: self.integrity(),
            checks: self.checks.files.clone(),
            checked_ms: self.checks.at_ms,
            hold: None,
            delete_after_ms: None,
            sidecar: Sidecar { files, ..sidecar },
        }
    }
}

/// What the page shows and the API returns of one recording: the sidecar's fields (with the
/// files found and, while recording, the duration so far) and the server's additions.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub rid: String,
    #[serde(flatten)]
    pub sidecar: Sidecar,
    pub in_progress: bool,
    /// The start in the server's local time, `YYYY-MM-DD HH:MM:SS`.
    pub start_local: String,
    pub audio_url: String,
    pub download_url: String,
    pub originals: Vec<String>,
    /// The recording's state after the last checks of its files (`integrity.rs`).
    pub integrity: Integrity,
    /// The last check of each file (and of the sidecar, by its name) by name.
    pub checks: BTreeMap<String, FileCheck>,
    /// When the last check was recorded (Unix ms); `null` if never.
    pub checked_ms: Option<u64>,
    /// Its legal hold, if it is on one (`crate::retention`; set by the web side's answers).
    pub hold: Option<crate::catalog::retention::Hold>,
    /// When the sweep may delete it under the retention in force (Unix ms); `null`: never
    /// (no retention applies, or it is on hold).
    pub delete_after_ms: Option<u64>,
}

impl Entry {
    /// The recording of a catalog row; `None` if its RID is not one the server makes.
    pub fn of_row(store: &Store, row: Row) -> Option<Entry> {
        let rid = Rid::parse(&row.rid)?;
        Some(Entry {
            slot: rid.slot(store.root()),
            rid,
            sidecar: row.sidecar,
            checks: row.checks,
        })
    }
}

/// Unix ms as the server's local time, `YYYY-MM-DD HH:MM:SS`.
pub fn local_text(ms: u64) -> String {
    let t = local_time_of(i64::try_from(ms / 1000).unwrap_or(i64::MAX));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}
