//! A download's or a playback's check of the files it reads whole: each file's bytes go
//! through its digest (`digest.rs`) as the answer's blocks are read, on the reader thread that
//! reads them, so the check costs no read of its own. When a file's last byte has been read,
//! what it gave is recorded in the catalog (`verified` or `mismatch`); on a mismatch the block
//! that completes the file is not sent: the answer ends there, short of its `Content-Length`,
//! so no client takes a damaged file for a whole one.
//!
//! Only an answer that reads a file from its first byte to its last checks it: not a range
//! that starts later or ends sooner, not a HEAD, not a recording still being written, not a
//! file without a digest, not a client that leaves before the end.

use super::recording::Entry;
use crate::catalog::{Catalog, CheckWrite};
use crate::digest::{Digest, Hasher};
use crate::integrity::{FileCheck, Found};
use crate::media::unix_ms;

/// One file being checked.
struct Watched {
    name: String,
    expected: Digest,
    /// Bytes the file has, all of which the answer reads.
    len: u64,
    hasher: Hasher,
}

/// The files of one answer being checked, by their index in its source.
pub struct Check {
    entry: Entry,
    catalog: Catalog,
    files: Vec<Option<Watched>>,
}

impl core::fmt::Debug for Check {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names: Vec<&str> = self
            .files
            .iter()
            .flatten()
            .map(|w| w.name.as_str())
            .collect();
        f.debug_struct("Check")
            .field("rid", &self.entry.rid)
            .field("files", &names)
            .finish()
    }
}

impl Check {
    pub fn new(entry: &Entry, catalog: &Catalog) -> Check {
        Check {
            entry: entry.clone(),
            catalog: catalog.clone(),
            files: Vec::new(),
        }
    }

    /// Checks the source's file `index`, `name`, of `len` bytes, whose first bytes `head` the
    /// source does not read (a WAV's Record header; empty for a file sent as stored). False if
    /// it cannot be checked (no digest, a recording in progress).
    pub fn watch(&mut self, index: usize, name: &str, len: u64, head: &[u8]) -> bool {
        if self.entry.in_progress() {
            return false;
        }
        let Some(expected) = self.entry.sidecar.digests.get(name) else {
            return false;
        };
        let Some(expected) = Digest::parse(expected) else {
            // A digest that is not one was not written by the server: the record changed.
            self.record(
                name,
                Found::Mismatch,
                "its digest in the catalog is malformed",
            );
            return false;
        };
        let mut hasher = Hasher::new();
        hasher.update(head);
        if self.files.len() <= index {
            self.files.resize_with(index + 1, || None);
        }
        self.files[index] = Some(Watched {
            name: name.to_owned(),
            expected,
            len,
            hasher,
        });
        true
    }

    /// Whether any file is being checked.
    pub fn is_empty(&self) -> bool {
        self.files.iter().all(Option::is_none)
    }

    /// Bytes the source read of its file `index`, at offset `at`. When they complete the
    /// file, records what it gave; returns the file's name if it does not match its digest.
    pub fn seen(&mut self, index: usize, at: u64, bytes: &[u8]) -> Option<String> {
        let slot = self.files.get_mut(index)?;
        let w = slot.as_mut()?;
        if at != w.hasher.len() || w.hasher.len() + bytes.len() as u64 > w.len {
            // Not the file's bytes in order (it changed while being read): no conclusion.
            log::debug!(
                "{}: {}: read out of order; not checked",
                self.entry.rid,
                w.name
            );
            *slot = None;
            return None;
        }
        w.hasher.update(bytes);
        if w.hasher.len() < w.len {
            return None;
        }
        let w = slot.take()?;
        let matches = w.hasher.finish() == w.expected;
        if matches {
            self.record(&w.name, Found::Verified, "");
            None
        } else {
            self.record(
                &w.name,
                Found::Mismatch,
                "its bytes do not match its digest; the download is cut",
            );
            Some(w.name)
        }
    }

    /// Records that the listed file `name` of `entry` is not there.
    pub fn missing(entry: &Entry, catalog: &Catalog, name: &str) {
        if !entry.in_progress() {
            Check::new(entry, catalog).record(name, Found::Missing, "not there");
        }
    }

    fn record(&self, name: &str, state: Found, why: &str) {
        let e = &self.entry;
        let before = e.checks.files.get(name).map(|c| c.state);
        // Said once, when a file's state turns bad, not at every download of a bad file.
        match state {
            Found::Verified => log::debug!("{}: {name}: verified", e.rid),
            bad if before == Some(bad) => log::debug!("{}: {name}: {why} (again)", e.rid),
            Found::Mismatch => log::error!("{}: {name}: {why}", e.rid),
            Found::Missing => log::warn!("{}: {name}: {why}", e.rid),
        }
        let ms = unix_ms();
        self.catalog.record_checks(CheckWrite {
            rid: e.rid.to_string(),
            digests: e.sidecar.digests.clone(),
            results: vec![(name.to_owned(), FileCheck { state, ms })],
            replace: false,
            at_ms: ms,
        });
    }
}
