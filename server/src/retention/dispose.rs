//! Deleting one recording: its catalog row and audit entry in one transaction, then its files,
//! then its sidecar, then the note that the deletion was under way (see `crate::retention` for
//! why in this order).

use crate::audit::store::with_change;
use crate::audit::{AuditError, Event};
use crate::catalog::db::Conn;
use crate::catalog::retention::{self as held, Disposal, Hold};
use crate::catalog::{sql, CatalogError, Row};
use crate::http::recording::MAX_FILES;
use crate::rid::Rid;
use crate::store::{read_sidecar, Slot, Store};
use std::fs;
use std::io;
use std::path::Path;

/// Why a recording was not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    OnHold(Hold),
    /// Still recording.
    InProgress,
    /// Not (or no longer) past its retention (the sweep's check, made in the transaction).
    NotDue,
}

impl Refused {
    /// Its stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::NotFound => "not_found",
            Refused::OnHold(_) => "on_hold",
            Refused::InProgress => "in_progress",
            Refused::NotDue => "not_due",
        }
    }
}

/// Why a deletion failed.
#[derive(Debug)]
pub enum Failed {
    Refused(Refused),
    /// The catalog or the trail could not be written: nothing was deleted.
    Audit(AuditError),
}

impl From<AuditError> for Failed {
    fn from(e: AuditError) -> Failed {
        Failed::Audit(e)
    }
}

/// Deletes the recording `rid`: in one transaction (which holds the audit trail's head) its row
/// goes, a disposal is noted and the entry `event` returns is written, unless it is on hold,
/// still recording, or `allow` refuses it (given the row and the catalog, inside the
/// transaction); then its files and sidecar are removed ([`finish`]). The row removed.
pub fn remove(
    conn: &mut dyn Conn,
    store: &Store,
    rid: &str,
    now_ms: u64,
    allow: impl FnOnce(&mut dyn Conn, &Row) -> Result<Result<(), Refused>, CatalogError>,
    event: impl FnOnce(&Row) -> Event,
) -> Result<Row, Failed> {
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let (done, _) = with_change(conn, now, |c| {
        let Some(row) = sql::get(c, rid)? else {
            return Ok((Err(Refused::NotFound), None));
        };
        if let Some(h) = held::hold(c, rid)? {
            return Ok((Err(Refused::OnHold(h)), None));
        }
        if row.sidecar.stop_ms.is_none() {
            return Ok((Err(Refused::InProgress), None));
        }
        if let Err(r) = allow(c, &row)? {
            return Ok((Err(r), None));
        }
        sql::delete(c, rid)?;
        held::add_disposal(c, &disposal_of(&row), now_ms)?;
        let e = event(&row);
        Ok((Ok(row), Some(e)))
    })?;
    let row = done.map_err(Failed::Refused)?;
    if let Err(e) = finish(conn, store, &disposal_of(&row)) {
        // Committed and audited: the next sweep (or start) removes what is left.
        log::warn!("retention: {}: files not all removed yet: {e}", row.rid);
    }
    Ok(row)
}

fn disposal_of(row: &Row) -> Disposal {
    Disposal {
        rid: row.rid.clone(),
        call_id: row.sidecar.id.clone(),
        start_ms: row.sidecar.start_ms,
    }
}

/// Why the files of a disposal were not all removed.
#[derive(Debug)]
pub enum FinishError {
    Io(io::Error),
    Catalog(CatalogError),
}

impl core::fmt::Display for FinishError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FinishError::Io(e) => write!(f, "{e}"),
            FinishError::Catalog(e) => write!(f, "{e}"),
        }
    }
}

/// Removes what is left of a disposal whose row is gone: the Record files, then the sidecar
/// (the last: while it is there, the disposal is not over), then the disposal's note. A
/// sidecar that is now another recording's (same slot, another call id or start) is left alone.
pub fn finish(conn: &mut dyn Conn, store: &Store, d: &Disposal) -> Result<(), FinishError> {
    if let Some(rid) = Rid::parse(&d.rid) {
        let slot = rid.slot(store.root());
        match read_sidecar(&slot.sidecar_path()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The sidecar goes last: the files went before it. A crash after the
                // sidecar's removal left only the note.
                remove_files(&slot, &[]).map_err(FinishError::Io)?;
            }
            Ok(s) if s.id != d.call_id || s.start_ms != d.start_ms => {
                log::warn!(
                    "retention: {}: the sidecar is another recording's now; left in place",
                    d.rid
                );
            }
            Ok(s) => remove_files(&slot, &s.files).map_err(FinishError::Io)?,
            // Unreadable: still the one being deleted (the row said so), removed.
            Err(_) => remove_files(&slot, &[]).map_err(FinishError::Io)?,
        }
    }
    held::end_disposal(conn, &d.rid).map_err(FinishError::Catalog)
}

/// Every Record file of `slot` (those `listed`, if the server's names, and every name the server
/// gives a session's files that exists), the sidecar's temporary file, then the sidecar, each
/// step made durable before the next.
fn remove_files(slot: &Slot, listed: &[String]) -> io::Result<()> {
    let mut names: Vec<String> = listed
        .iter()
        .enumerate()
        .take(MAX_FILES as usize)
        .filter(|(i, n)| **n == slot.file_name(*i as u32 + 1))
        .map(|(_, n)| n.clone())
        .collect();
    for n in 1..=MAX_FILES {
        let name = slot.file_name(n);
        if !slot.dir.join(&name).exists() {
            if n as usize > listed.len() {
                break;
            }
            continue;
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.push(format!(".{}.json.tmp", slot.stem));
    for name in &names {
        gone(&slot.dir.join(name))?;
    }
    sync_dir(&slot.dir)?;
    gone(&slot.sidecar_path())?;
    sync_dir(&slot.dir)
}

/// Removes a file; one already gone is fine.
fn gone(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes the removals in `dir` durable; a folder that is gone has nothing to make durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir) {
        Ok(f) => f.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Finishes every disposal a stop cut short (at most `limit` at once); how many.
pub fn finish_pending(
    conn: &mut dyn Conn,
    store: &Store,
    limit: usize,
) -> Result<usize, CatalogError> {
    let pending = held::disposals(conn, limit)?;
    let mut n = 0;
    for d in &pending {
        match finish(conn, store, d) {
            Ok(()) => n += 1,
            Err(FinishError::Catalog(e)) => return Err(e),
            Err(e) => log::warn!("retention: {}: files not all removed yet: {e}", d.rid),
        }
    }
    Ok(n)
}
