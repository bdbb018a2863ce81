//! Bringing the catalog in line with the sidecars: at start-up (an existing store is imported,
//! a store changed while the server was down is read again) and after a write the catalog
//! missed. The sidecars are the record: a sidecar whose size or time differs from the row's
//! stamp is read and its row replaced. A row whose sidecar is gone stays, marked: its sidecar's
//! last check says `missing` (so the recording's integrity is `missing`, `integrity.rs`) and its
//! stamp becomes [`Stamp::GONE`]; an archive never forgets a recording because a file went
//! away, it says so. A sidecar that comes back is read again as new (its checks start again).
//! A recording being deleted (`crate::retention`: its row removed, a `disposals` row in its
//! place until its files are gone) is neither imported again nor marked missing.
//! Listing the folders and reading each file's metadata is all it costs when nothing changed.

use super::db::{transaction, Conn};
use super::{retention, sql, CatalogError, Row, Stamp};
use crate::integrity::{FileCheck, Found};
use crate::rid::Rid;
use crate::store::{read_sidecar, Slot, Store};
use core::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Rows written (or removed) per transaction.
const CHUNK: usize = 1000;
/// Rows of the catalog read at once.
const PAGE: usize = 10_000;

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    /// Sidecars with no row yet.
    pub imported: u64,
    /// Sidecars changed since their row was written.
    pub updated: u64,
    /// Rows whose sidecar is gone (kept, marked missing), this time or before.
    pub missing: u64,
    /// Sidecars that could not be read (skipped, logged).
    pub unreadable: u64,
    pub unchanged: u64,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} imported, {} updated, {} missing, {} unreadable, {} unchanged",
            self.imported, self.updated, self.missing, self.unreadable, self.unchanged
        )
    }
}

/// The store's day folders, in byte order.
fn days(store: &Store) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(store.root()) else {
        return Vec::new();
    };
    let mut days: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    days.sort();
    days
}

/// The server-named sidecars of one day folder, in byte order of their RIDs.
fn sidecars_of(day: &Path) -> Vec<(Slot, String)> {
    let Ok(entries) = fs::read_dir(day) else {
        return Vec::new();
    };
    let mut out: Vec<(Slot, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let stem = name.to_str()?.strip_suffix(".json")?.to_owned();
            let slot = Slot {
                dir: day.to_path_buf(),
                stem,
            };
            // A file the server did not name (a temporary file, a stray) is no recording.
            let rid = Rid::of_slot(&slot)?.to_string();
            Some((slot, rid))
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// The catalog's RIDs and stamps in byte order, read a page at a time.
struct Known {
    page: std::vec::IntoIter<(String, Stamp)>,
    last: Option<String>,
    done: bool,
}

impl Known {
    fn next(&mut self, conn: &mut dyn Conn) -> Result<Option<(String, Stamp)>, CatalogError> {
        loop {
            if let Some(row) = self.page.next() {
                self.last = Some(row.0.clone());
                return Ok(Some(row));
            }
            if self.done {
                return Ok(None);
            }
            let page = sql::stamps_after(conn, self.last.as_deref(), PAGE)?;
            self.done = page.len() < PAGE;
            self.page = page.into_iter();
        }
    }
}

/// Brings the catalog in line with the sidecars of `store`: a merge of the sidecars and the
/// rows, both in RID order, so memory stays one page of rows and one day folder's names
/// whatever the size of the store.
pub fn bring_in_line(conn: &mut dyn Conn, store: &Store) -> Result<Report, CatalogError> {
    let mut report = Report::default();
    let mut known = Known {
        page: Vec::new().into_iter(),
        last: None,
        done: false,
    };
    let mut row = known.next(conn)?;
    // Deletions under way (`crate::retention`): their rows are gone on purpose, and their
    // sidecars, until the deletion removes them, are not imported again.
    let disposing = retention::disposing(conn)?;
    let mut pending: Vec<Row> = Vec::new();
    let mut gone: Vec<String> = Vec::new();
    for day in days(store) {
        for (slot, rid) in sidecars_of(&day) {
            // Rows before this sidecar have none.
            while let Some((r, stamp)) = row.as_ref().filter(|(r, _)| *r < rid) {
                gone_now(&mut gone, &mut report, r, *stamp);
                row = known.next(conn)?;
            }
            let before = match row.take() {
                Some((r, stamp)) if r == rid => {
                    row = known.next(conn)?;
                    Some(stamp)
                }
                other => {
                    row = other;
                    None
                }
            };
            if before.is_none() && disposing.contains(&rid) {
                continue;
            }
            let path = slot.sidecar_path();
            let Ok(stamp) = Stamp::of(&path) else {
                continue; // removed meanwhile: its row, if any, goes below
            };
            if before == Some(stamp) {
                report.unchanged += 1;
                continue;
            }
            if before == Some(Stamp::GONE) {
                // Back after it was missing: read as new, its checks started again.
                write(conn, &mut pending)?;
                sql::delete(conn, &rid)?;
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
                        checks: Default::default(),
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
            if gone.len() >= CHUNK {
                mark_gone(conn, &mut gone)?;
            }
        }
    }
    while let Some((r, stamp)) = row {
        gone_now(&mut gone, &mut report, &r, stamp);
        row = known.next(conn)?;
    }
    write(conn, &mut pending)?;
    mark_gone(conn, &mut gone)?;
    if report.missing > 0 {
        log::warn!(
            "catalog: {} recording(s) have no sidecar: kept, marked missing \
             (`callrec-server verify` lists them)",
            report.missing
        );
    }
    Ok(report)
}

/// A row with no sidecar: counted, and marked unless it was already.
fn gone_now(gone: &mut Vec<String>, report: &mut Report, rid: &str, stamp: Stamp) {
    report.missing += 1;
    if stamp != Stamp::GONE {
        gone.push(rid.to_string());
    }
}

/// Marks the rows `rids` as having lost their sidecar: its last check `missing`, now.
fn mark_gone(conn: &mut dyn Conn, rids: &mut Vec<String>) -> Result<(), CatalogError> {
    if rids.is_empty() {
        return Ok(());
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    transaction(conn, |c| {
        for rid in rids.iter() {
            let (Some(row), Some(parsed)) = (sql::get(c, rid)?, Rid::parse(rid)) else {
                continue;
            };
            let check = FileCheck {
                state: Found::Missing,
                ms: now_ms,
            };
            let name = format!("{}.json", parsed.stem());
            sql::record_checks(
                c,
                rid,
                &row.sidecar.digests,
                &[(name, check)],
                false,
                now_ms,
            )?;
            sql::set_stamp(c, rid, Stamp::GONE)?;
        }
        Ok(())
    })?;
    rids.clear();
    Ok(())
}

fn write(conn: &mut dyn Conn, rows: &mut Vec<Row>) -> Result<(), CatalogError> {
    if rows.is_empty() {
        return Ok(());
    }
    transaction(conn, |c| {
        // Read again in the transaction: a deletion that began after this sync read the list
        // (a re-sync while the server runs) is not undone by importing its sidecar.
        let disposing = retention::disposing(c)?;
        rows.iter()
            .filter(|r| !disposing.contains(&r.rid))
            .try_for_each(|r| sql::upsert(c, r))
    })?;
    rows.clear();
    Ok(())
}
