//! Whether a recording's files are intact, as the catalog, the API and the page say it: the
//! last check of each file against its digest (`digest.rs`), and the recording's state made
//! from them. No I/O.
//!
//! A check happens when a download or a playback reads a whole file, and for every file when
//! `callrec-server verify` runs; each records what it found per file. The recording's state:
//!
//! | state | when |
//! |---|---|
//! | `mismatch` | a file's (or the sidecar's) last check found other bytes than its digest says |
//! | `missing` | else, a file (or the sidecar) was not there at its last check |
//! | `no_digest` | else, a finished recording has a file without a digest (written before digests were kept, or unreadable at its close) |
//! | `unchecked` | else, a file has not been checked since the recording was written (or the recording is still in progress) |
//! | `verified` | every file's last check matched its digest |

use crate::store::Sidecar;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the last check of one file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// Its bytes give its digest.
    Verified,
    /// Its bytes give another digest (or its digest in the sidecar differs from the catalog's).
    Mismatch,
    /// It was not there.
    Missing,
}

impl Found {
    pub fn name(self) -> &'static str {
        match self {
            Found::Verified => "verified",
            Found::Mismatch => "mismatch",
            Found::Missing => "missing",
        }
    }
}

/// One file's last check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheck {
    pub state: Found,
    /// When (Unix ms).
    pub ms: u64,
}

/// The last checks of a recording's files (and of its sidecar, under the sidecar's name), by
/// file name, and when the last one was recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checks {
    pub files: BTreeMap<String, FileCheck>,
    pub at_ms: Option<u64>,
}

/// A recording's state (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrity {
    Verified,
    Unchecked,
    NoDigest,
    Missing,
    Mismatch,
}

impl Integrity {
    pub const ALL: [Integrity; 5] = [
        Integrity::Verified,
        Integrity::Unchecked,
        Integrity::NoDigest,
        Integrity::Missing,
        Integrity::Mismatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Integrity::Verified => "verified",
            Integrity::Unchecked => "unchecked",
            Integrity::NoDigest => "no_digest",
            Integrity::Missing => "missing",
            Integrity::Mismatch => "mismatch",
        }
    }

    pub fn from_name(name: &str) -> Option<Integrity> {
        Integrity::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// The state of the recording `sidecar` describes, after `checks`.
pub fn of(sidecar: &Sidecar, checks: &Checks) -> Integrity {
    let found = |what: Found| checks.files.values().any(|c| c.state == what);
    if found(Found::Mismatch) {
        return Integrity::Mismatch;
    }
    if found(Found::Missing) {
        return Integrity::Missing;
    }
    if sidecar.stop_ms.is_none() {
        return Integrity::Unchecked;
    }
    if sidecar
        .files
        .iter()
        .any(|f| !sidecar.digests.contains_key(f))
    {
        return Integrity::NoDigest;
    }
    let checked = |f: &String| checks.files.contains_key(f);
    if sidecar.files.iter().all(checked) && (checks.at_ms.is_some() || !sidecar.files.is_empty()) {
        Integrity::Verified
    } else {
        Integrity::Unchecked
    }
}

/// `checks` after `results` (each file's new last check): merged into them, or, with
/// `replace`, instead of them.
pub fn merge(
    checks: &Checks,
    results: &[(String, FileCheck)],
    replace: bool,
    at_ms: u64,
) -> Checks {
    let mut files = if replace {
        BTreeMap::new()
    } else {
        checks.files.clone()
    };
    for (name, check) in results {
        files.insert(name.clone(), *check);
    }
    Checks {
        files,
        at_ms: Some(at_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(files: &[&str], digests: &[&str]) -> Sidecar {
        Sidecar {
            stop_ms: Some(1),
            files: files.iter().map(|f| f.to_string()).collect(),
            digests: digests
                .iter()
                .map(|f| (f.to_string(), "00".repeat(32)))
                .collect(),
            ..Sidecar::default()
        }
    }

    fn checks(of: &[(&str, Found)]) -> Checks {
        let results: Vec<(String, FileCheck)> = of
            .iter()
            .map(|(n, s)| (n.to_string(), FileCheck { state: *s, ms: 5 }))
            .collect();
        merge(&Checks::default(), &results, false, 5)
    }

    #[test]
    fn the_worst_file_decides_and_unchecked_files_keep_it_unchecked() {
        let two = finished(&["a.wav", "b.wav"], &["a.wav", "b.wav"]);
        assert_eq!(of(&two, &Checks::default()), Integrity::Unchecked);
        let a = checks(&[("a.wav", Found::Verified)]);
        assert_eq!(of(&two, &a), Integrity::Unchecked);
        let both = merge(
            &a,
            &[(
                "b.wav".into(),
                FileCheck {
                    state: Found::Verified,
                    ms: 6,
                },
            )],
            false,
            6,
        );
        assert_eq!(both.files.len(), 2);
        assert_eq!(of(&two, &both), Integrity::Verified);
        let bad = checks(&[("a.wav", Found::Missing), ("b.wav", Found::Mismatch)]);
        assert_eq!(of(&two, &bad), Integrity::Mismatch);
        let gone = checks(&[("a.wav", Found::Missing), ("b.wav", Found::Verified)]);
        assert_eq!(of(&two, &gone), Integrity::Missing);
        // The sidecar's own entry counts as much as a file's.
        let sidecar_bad = checks(&[
            ("a.wav", Found::Verified),
            ("b.wav", Found::Verified),
            ("x.json", Found::Mismatch),
        ]);
        assert_eq!(of(&two, &sidecar_bad), Integrity::Mismatch);
        // A replacing merge forgets the earlier checks.
        let again = merge(&bad, &[], true, 9);
        assert_eq!((again.files.len(), again.at_ms), (0, Some(9)));
    }

    #[test]
    fn no_digest_and_in_progress_and_no_files() {
        let old = finished(&["a.wav"], &[]);
        assert_eq!(of(&old, &Checks::default()), Integrity::NoDigest);
        // A file without a digest can still be missing.
        assert_eq!(
            of(&old, &checks(&[("a.wav", Found::Missing)])),
            Integrity::Missing
        );
        let live = Sidecar {
            stop_ms: None,
            ..finished(&["a.wav"], &[])
        };
        assert_eq!(of(&live, &Checks::default()), Integrity::Unchecked);
        // No files (no RTP at all): verified once checked.
        let empty = finished(&[], &[]);
        assert_eq!(of(&empty, &Checks::default()), Integrity::Unchecked);
        assert_eq!(
            of(&empty, &merge(&Checks::default(), &[], true, 1)),
            Integrity::Verified
        );
    }

    #[test]
    fn names_read_back() {
        for i in Integrity::ALL {
            assert_eq!(Integrity::from_name(i.name()), Some(i));
            assert_eq!(serde_json::to_value(i).unwrap(), i.name());
        }
        assert_eq!(Integrity::from_name("ok"), None);
        assert_eq!(
            serde_json::to_value(Found::Mismatch).unwrap(),
            Found::Mismatch.name()
        );
    }
}
