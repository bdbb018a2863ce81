//! Bringing the catalog in line with the sidecars: at start-up (an existing store is imported,
//! a store changed while the server was down is read again) and after a write the catalog
//! missed. The sidecars are the record: a sidecar whose size or time differs from the row's
//! stamp is read and its row replaced; a row whose sidecar is gone is removed. Listing the
//! folders and reading each file's metadata is all it costs when nothing changed.

use super::db::{transaction, Conn};
use super::{sql, CatalogError, Row, Stamp};
use crate::rid::Rid;
use crate::store::{read_sidecar, Slot, Store};
use core::fmt;
use std::collections::HashMap;
use std::fs;

/// Rows written per transaction.
const CHUNK: usize = 1000;

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Sidecars with no row yet.
    pub imported: u64,
    /// Sidecars changed since their row was written.
    pub updated: u64,
    /// Rows whose sidecar is gone.
    pub removed: u64,
    /// Sidecars that could not be read (skipped, logged).
    pub unreadable: u64,
    pub unchanged: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} imported, {} updated, {} removed, {} unreadable, {} unchanged",
            self.imported, self.updated, self.removed, self.unreadable, self.unchanged
        )
    }
}

/// Every server-named sidecar in the store: its slot and RID.
fn sidecars(store: &Store) -> Vec<(Slot, Rid)> {
    let mut out = Vec::new();
    let Ok(days) = fs::read_dir(store.root()) else {
        return out;
    };
    for day in days.flatten() {
        if !day.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(entries) = fs::read_dir(day.path()) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let slot = Slot {
                dir: day.path(),
                stem: stem.to_owned(),
            };
            // A file the server did not name (a temporary file, a stray) is no recording.
            if let Some(rid) = Rid::of_slot(&slot) {
                out.push((slot, rid));
            }
        }
    }
    out
}

/// Brings the catalog in line with the sidecars of `store`.
pub fn bring_in_line(conn: &mut dyn Conn, store: &Store) -> Result<Report, CatalogError> {
    let mut known: HashMap<String, Stamp> = sql::stamps(conn)?.into_iter().collect();
    let mut report = Report::default();
    let mut pending: Vec<Row> = Vec::new();
    for (slot, rid) in sidecars(store) {
        let rid = rid.to_string();
        let path = slot.sidecar_path();
        let before = known.remove(&rid);
        let Ok(stamp) = Stamp::of(&path) else {
            continue; // removed meanwhile
        };
        if before == Some(stamp) {
            report.unchanged += 1;
            continue;
        }
        match read_sidecar(&path) {
            Ok(sidecar) => {
                if before.is_some() {
                    report.updated += 1;
                } else {
                    report.imported += 1;
                }
                pending.push(Row {
                    rid,
                    sidecar,
                    stamp,
                });
            }
            Err(e) => {
                report.unreadable += 1;
                log::warn!("catalog: skipping {}: {e}", path.display());
            }
        }
        if pending.len() >= CHUNK {
            write(conn, &mut pending)?;
        }
    }
    write(conn, &mut pending)?;
    let gone: Vec<String> = known.into_keys().collect();
    for chunk in gone.chunks(CHUNK) {
        transaction(conn, |c| {
            chunk.iter().try_for_each(|rid| sql::delete(c, rid))
        })?;
        report.removed += chunk.len() as u64;
    }
    if report.removed > 0 {
        log::warn!(
            "catalog: {} recording(s) whose sidecar is gone were removed",
            report.removed
        );
    }
    Ok(report)
}

fn write(conn: &mut dyn Conn, rows: &mut Vec<Row>) -> Result<(), CatalogError> {
    if rows.is_empty() {
        return Ok(());
    }
    transaction(conn, |c| rows.iter().try_for_each(|r| sql::upsert(c, r)))?;
    rows.clear();
    Ok(())
}
