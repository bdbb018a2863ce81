//! The catalog: every recording as a row in a database, so that searching, paging and counting
//! never read the disk. SQLite embedded by default (`STORAGE/catalog.sqlite`, WAL mode), or
//! PostgreSQL (`--catalog postgres://…`); one schema ([`schema`]), one query layer ([`sql`]).
//!
//! The sidecars stay beside the audio as the recovery record: at start-up the catalog is
//! brought in line with them ([`sync`]), so an existing store is imported and a sidecar changed
//! while the server was down is read again. While the server runs, every sidecar write is
//! followed by a [`Catalog::put`] of the same recording, applied by one writer thread in
//! batched transactions; if its queue is ever full, the writer brings the whole catalog in line
//! with the sidecars once it has caught up, so nothing is lost, only late.
//!
//! Reads take a connection from a small pool; they run on the web side's reader threads,
//! never on the runtime's.

pub mod db;
pub mod filter;
mod postgres;
pub mod retention;
pub mod schema;
pub mod search;
pub mod sql;
mod sqlite;
pub mod sync;
pub mod words;

use crate::integrity::{self, Checks, FileCheck, Integrity};
use crate::rid::Rid;
use crate::store::{Sidecar, Slot, Store};
use core::fmt;
use db::Conn;
use filter::{Cursor, Filter, PageAsk};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The SQLite file's name in the storage folder.
pub const SQLITE_FILE: &str = "catalog.sqlite";
/// Connections the readers share.
pub const READERS: usize = 4;
/// Writes waiting for the writer. Each session makes a few (start, each new file, end).
pub const WRITE_QUEUE: usize = 16_384;
/// Most writes in one transaction.
const BATCH: usize = 512;

/// Why the catalog failed, by who is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    /// The database cannot be reached or opened: the deployment (a PostgreSQL that is down, a
    /// wrong URL or password, an unwritable storage folder).
    Unavailable(String),
    /// The database refused a statement: this server (a bug), or a database it does not own.
    Query(String),
    /// What the database holds is not what this server wrote (edited by hand, a newer schema).
    Data(String),
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::Unavailable(m) => write!(f, "catalog unavailable: {m}"),
            CatalogError::Query(m) => write!(f, "catalog query failed: {m}"),
            CatalogError::Data(m) => write!(f, "catalog data: {m}"),
        }
    }
}

impl std::error::Error for CatalogError {}

/// A sidecar's size and modification time, as last read or written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub mtime_ns: i64,
}

impl Stamp {
    /// The stamp of a row whose sidecar was gone at the last sync (no sidecar is empty).
    pub const GONE: Stamp = Stamp {
        len: 0,
        mtime_ns: 0,
    };

    /// The stamp of the file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        let mtime_ns = m
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Ok(Stamp {
            len: m.len(),
            mtime_ns,
        })
    }
}

/// One recording: its RID, what its sidecar says, the sidecar's stamp, and the last checks
/// of its files (which a write of the row ignores: [`Catalog::record_checks`] sets them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub rid: String,
    pub sidecar: Sidecar,
    pub stamp: Stamp,
    pub checks: Checks,
}

impl Row {
    /// The recording's state after the last checks of its files.
    pub fn integrity(&self) -> Integrity {
        integrity::of(&self.sidecar, &self.checks)
    }
}

/// A device of the registry (`devices.rs`): who has the phone with this MAC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// 12 upper-case hex digits (as `callrec_core::mac::Mac` writes it).
    pub mac: String,
    pub owner: String,
    pub extension: String,
    pub group: String,
    /// When it was last written (Unix ms).
    pub updated_ms: u64,
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub rows: Vec<Row>,
    /// Matches in all, whatever the page.
    pub total: u64,
    /// Where the next page starts; `None` on the last.
    pub next: Option<Cursor>,
}

/// Which database holds the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogSpec {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user[:password]@host[:port]/database`).
    Postgres(String),
}

impl CatalogSpec {
    /// `--catalog VALUE`: a `postgres://` or `postgresql://` URL, or the path of an SQLite
    /// file; without the option, `STORAGE/catalog.sqlite`.
    pub fn parse(value: Option<&str>, storage: &Path) -> CatalogSpec {
        match value {
            Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => {
                CatalogSpec::Postgres(v.to_string())
            }
            Some(path) => CatalogSpec::Sqlite(PathBuf::from(path)),
            None => CatalogSpec::Sqlite(storage.join(SQLITE_FILE)),
        }
    }

    /// What the logs and the ready line may show (no password).
    pub fn describe(&self) -> String {
        match self {
            CatalogSpec::Sqlite(path) => format!("sqlite {}", path.display()),
            CatalogSpec::Postgres(url) => format!("postgres {}", postgres::redact(url)),
        }
    }

    /// A new connection.
    pub fn connect(&self) -> Result<Box<dyn Conn>, CatalogError> {
        Ok(match self {
            CatalogSpec::Sqlite(path) => Box::new(sqlite::Sqlite::open(path)?),
            CatalogSpec::Postgres(url) => Box::new(postgres::Postgres::connect(url)?),
        })
    }
}

/// What checks of a recording's files found, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckWrite {
    pub rid: String,
    /// The digests checked against (the catalog's when the check began).
    pub digests: BTreeMap<String, String>,
    pub results: Vec<(String, FileCheck)>,
    /// Instead of the earlier checks (every file was checked), not merged into them.
    pub replace: bool,
    pub at_ms: u64,
}

enum Write {
    Put(Box<Row>),
    Check(Box<CheckWrite>),
    /// Answered once every write sent before it is committed.
    Flush(SyncSender<()>),
}

/// The pool of reading connections.
struct Readers {
    idle: Mutex<(Vec<Box<dyn Conn>>, usize)>,
    returned: Condvar,
}

/// The catalog; cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    spec: CatalogSpec,
    readers: Readers,
    writes: SyncSender<Write>,
    /// A write was dropped (queue full) or failed: the writer re-syncs with the sidecars.
    dirty: Arc<AtomicBool>,
}

impl Catalog {
    /// Opens the catalog (creating or migrating its schema), brings it in line with the
    /// sidecars of `store`, and starts its writer thread.
    pub fn open(spec: CatalogSpec, store: &Store) -> Result<(Catalog, sync::Report), CatalogError> {
        let mut conn = spec.connect()?;
        schema::migrate(conn.as_mut())?;
        let report = sync::bring_in_line(conn.as_mut(), store)?;
        let (tx, rx) = sync_channel(WRITE_QUEUE);
        let dirty = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            spec: spec.clone(),
            conn,
            rx,
            store: store.clone(),
            dirty: dirty.clone(),
        };
        std::thread::Builder::new()
            .name("catalog".into())
            .spawn(move || writer.run())
            .map_err(|e| CatalogError::Unavailable(format!("writer thread: {e}")))?;
        let catalog = Catalog {
            inner: Arc::new(Inner {
                spec,
                readers: Readers {
                    idle: Mutex::new((Vec::new(), 0)),
                    returned: Condvar::new(),
                },
                writes: tx,
                dirty,
            }),
        };
        Ok((catalog, report))
    }

    /// What holds the catalog, for logs.
    pub fn describe(&self) -> String {
        self.inner.spec.describe()
    }

    /// Records what a sidecar now says; never waits. The sidecar must be written first.
    pub fn put(&self, rid: String, sidecar: Sidecar, stamp: Stamp) {
        let row = Box::new(Row {
            rid,
            sidecar,
            stamp,
            checks: Checks::default(),
        });
        match self.inner.writes.try_send(Write::Put(row)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if !self.inner.dirty.swap(true, Ordering::Relaxed) {
                    log::warn!("catalog: write queue full; it will be re-synced from the sidecars");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                log::error!("catalog: the writer has stopped");
            }
        }
    }

    /// Records what a check of files found; never waits. Dropped (and logged) if the writer's
    /// queue is full: a check is the next download's or `verify`'s to make again.
    pub fn record_checks(&self, check: CheckWrite) {
        match self.inner.writes.try_send(Write::Check(Box::new(check))) {
            Ok(()) => {}
            Err(TrySendError::Full(c)) => {
                if let Write::Check(c) = c {
                    log::warn!("catalog: write queue full; check of {} not recorded", c.rid);
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                log::error!("catalog: the writer has stopped");
            }
        }
    }

    /// Records what the sidecar of `slot` was just written with (its stamp read now).
    pub fn put_slot(&self, slot: &Slot, sidecar: &Sidecar) {
        let Some(rid) = Rid::of_slot(slot) else {
            log::error!("catalog: {} is not a server-named slot", slot.stem);
            return;
        };
        match Stamp::of(&slot.sidecar_path()) {
            Ok(stamp) => self.put(rid.to_string(), sidecar.clone(), stamp),
            Err(e) => log::warn!("catalog: {}: {e}", slot.stem),
        }
    }

    /// Waits (at most `timeout`) until every write put before is committed; false if not.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = sync_channel(1);
        if self.inner.writes.send(Write::Flush(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(timeout).is_ok()
    }

    /// Runs `f` on a reading connection (blocking until one is free).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let readers = &self.inner.readers;
        let mut conn = {
            let mut idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(c) = idle.0.pop() {
                    break c;
                }
                if idle.1 < READERS {
                    idle.1 += 1;
                    drop(idle);
                    match self.inner.spec.connect() {
                        Ok(c) => break c,
                        Err(e) => {
                            readers.idle.lock().unwrap_or_else(|e| e.into_inner()).1 -= 1;
                            readers.returned.notify_one();
                            return Err(e);
                        }
                    }
                }
                idle = readers
                    .returned
                    .wait(idle)
                    .unwrap_or_else(|e| e.into_inner());
            }
        };
        let result = f(conn.as_mut());
        let mut idle = readers.idle.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(result, Err(CatalogError::Unavailable(_))) {
            // A broken connection is dropped; the next reader opens a new one.
            idle.1 -= 1;
        } else {
            idle.0.push(conn);
        }
        readers.returned.notify_one();
        result
    }

    /// The recording `rid` names.
    pub fn get(&self, rid: &str) -> Result<Option<Row>, CatalogError> {
        self.read(|c| sql::get(c, rid))
    }

    /// A page of the recordings `filter` matches, with their count.
    pub fn search(&self, filter: &Filter, ask: &PageAsk) -> Result<Page, CatalogError> {
        self.read(|c| {
            let (rows, more) = search::page(c, filter, ask)?;
            let total = search::count(c, filter)?;
            let next = more.then(|| rows.last()).flatten().map(|r| Cursor {
                start_ms: r.sidecar.start_ms,
                rid: r.rid.clone(),
            });
            Ok(Page { rows, total, next })
        })
    }

    /// Every recording whose sidecar has no stop yet.
    pub fn unfinished(&self) -> Result<Vec<Row>, CatalogError> {
        self.read(|c| sql::unfinished(c))
    }

    /// The device registry's version: it changes with every write of the registry.
    pub fn devices_version(&self) -> Result<i64, CatalogError> {
        self.read(|c| sql::devices_version(c))
    }

    /// The device registry and its version, read together.
    pub fn devices(&self) -> Result<(i64, Vec<Device>), CatalogError> {
        self.read(|c| {
            db::snapshot(c, |c| {
                let version = sql::devices_version(c)?;
                Ok((version, sql::devices(c)?))
            })
        })
    }
}

struct Writer {
    spec: CatalogSpec,
    conn: Box<dyn Conn>,
    rx: Receiver<Write>,
    store: Store,
    dirty: Arc<AtomicBool>,
}

impl Writer {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut writes = Vec::new();
            let mut flushes = Vec::new();
            let mut next = Some(first);
            let mut drained = false;
            while let Some(w) = next.take() {
                match w {
                    Write::Flush(done) => flushes.push(done),
                    w => writes.push(w),
                }
                if writes.len() < BATCH {
                    next = self.rx.try_recv().ok();
                    drained = next.is_none();
                }
            }
            if !writes.is_empty() {
                // In the order they came: a check after the row it checks.
                let result = db::transaction(self.conn.as_mut(), |c| {
                    writes.iter().try_for_each(|w| match w {
                        Write::Put(r) => sql::upsert(c, r),
                        Write::Check(k) => {
                            let done = sql::record_checks(
                                c, &k.rid, &k.digests, &k.results, k.replace, k.at_ms,
                            )?;
                            if !done {
                                log::debug!("catalog: check of {} was for other digests", k.rid);
                            }
                            Ok(())
                        }
                        Write::Flush(_) => Ok(()),
                    })
                });
                if let Err(e) = result {
                    log::error!(
                        "catalog: {} write(s) failed: {e}; will re-sync",
                        writes.len()
                    );
                    self.dirty.store(true, Ordering::Relaxed);
                    self.reconnect_if_broken(&e);
                }
            }
            if drained && self.dirty.load(Ordering::Relaxed) {
                self.resync();
            }
            for done in flushes {
                let _ = done.try_send(());
            }
        }
    }

    fn resync(&mut self) {
        match sync::bring_in_line(self.conn.as_mut(), &self.store) {
            Ok(report) => {
                self.dirty.store(false, Ordering::Relaxed);
                log::info!("catalog: re-synced with the sidecars: {report}");
            }
            Err(e) => {
                log::error!("catalog: re-sync failed: {e}");
                self.reconnect_if_broken(&e);
                // Not in a loop: the next write tries again.
            }
        }
    }

    fn reconnect_if_broken(&mut self, e: &CatalogError) {
        if matches!(e, CatalogError::Unavailable(_)) {
            // Stays with the old connection if the database is still away.
            if let Ok(c) = self.spec.connect() {
                self.conn = c;
            }
        }
    }
}
