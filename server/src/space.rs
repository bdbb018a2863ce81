//! The storage's free space, watched all the time, and the final sidecars that could not be
//! written.
//!
//! A watcher thread reads the storage's free space (statvfs) every [`WATCH`]. Below the reserve
//! (`--reserve`, [`DEFAULT_RESERVE`] by default) the storage is *full* for the server: new
//! sessions are refused `storage_full` ([`Space::admits`]), and every shard ends its running
//! sessions cleanly (stop reason `storage_full`): their Record files closed with what they hold,
//! their final sidecars and catalog rows written, in the room the reserve kept for that. Sessions
//! are taken again once the free space is back above the reserve by a margin ([`Reserve`]), so a
//! storage at the edge does not flap.
//!
//! # How big the reserve must be
//!
//! The reserve is what the server stops short of; it must hold everything written between the
//! last reading above it and the last session's end:
//! - the audio that arrives until the shards see the watcher's verdict: the watcher's period
//!   (250 ms) and a shard's cycle (100 ms);
//! - what each session's writer holds at its close: at most one commit interval (1 s) of
//!   audio, bounded by the writer's 32 KiB ring;
//! - each final sidecar: written to a temporary file, then renamed over the old one, so one more
//!   block (4 KiB) at a time per shard, given back by the rename;
//! - the catalog's rows, when its SQLite file is in the storage folder: the WAL grows by each
//!   transaction's pages until a checkpoint (SQLite's default: at 1000 pages, 4 MiB) lets it be
//!   reused from its start, so about 4 MiB and one batch of at most 512 rows (a few MiB more).
//!
//! So about `sessions × 8,000 B/s × 1.35 s + 8 MiB` for G.711 or G.722 (64 kbit/s each):
//! 4000 sessions (the default `--max-sessions`) need about 49 MiB, under the default reserve of
//! 64 MiB; the server warns at start-up when `--reserve` is below what `--max-sessions` need
//! ([`Reserve::needed_for`]). A session held at its flood limit (the RTP gate lets through at
//! most 12,000 bytes a second) writes half as much again: a site that expects many of those at
//! once sets a larger reserve.
//!
//! # Final sidecars that could not be written
//!
//! If the storage fills behind the server's back (another program, a flood faster than the
//! watcher) a session may end with its final sidecar unwritable. It is then kept in [`Finals`]
//! and written again every second until it is (space is back); catalog rows follow each write.
//! What is still unwritten when the server stops is finished by the next start's recovery
//! (`recover`), as any session cut off is, so no session stays "in progress" for ever.

use super::catalog::Catalog;
use super::logs::Kind;
use super::store::{write_sidecar, Sidecar, Slot};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub const MIB: u64 = 1024 * 1024;
/// The reserve without `--reserve`.
pub const DEFAULT_RESERVE: u64 = 64 * MIB;
/// How often the watcher reads the free space.
pub const WATCH: Duration = Duration::from_millis(250);
/// Watcher readings between two retries of the unwritten final sidecars (one second).
const RETRY_EVERY: u32 = 4;
/// Audio of one session, in bytes per second, for the reserve's estimate (64 kbit/s).
const SESSION_RATE: u64 = 8_000;
/// Final sidecars kept for a retry; past this the next start's recovery finishes them.
const MAX_FINALS: usize = 100_000;

/// A change of the storage's state ([`Reserve::observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The free space fell below the reserve (or cannot be read).
    Full,
    /// It is back above the reserve by the margin.
    Back,
}

/// The reserve's verdict on each reading, sans-IO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserve {
    reserve: u64,
    resume_at: u64,
    full: bool,
}

impl Reserve {
    /// Full below `reserve` bytes; back at `reserve` plus a quarter of it (at least 1 MiB).
    pub fn new(reserve: u64) -> Reserve {
        Reserve {
            reserve,
            resume_at: reserve.saturating_add((reserve / 4).max(MIB)),
            full: false,
        }
    }

    pub fn reserve(&self) -> u64 {
        self.reserve
    }

    /// The free space at which a full storage takes sessions again.
    pub fn resume_at(&self) -> u64 {
        self.resume_at
    }

    pub fn is_full(&self) -> bool {
        self.full
    }

    /// A reading of the free space (`None`: it could not be read, which counts as none: a
    /// storage the server cannot see is no place to record).
    pub fn observe(&mut self, free: Option<u64>) -> Option<Change> {
        let free = free.unwrap_or(0);
        if !self.full && free < self.reserve {
            self.full = true;
            Some(Change::Full)
        } else if self.full && free >= self.resume_at {
            self.full = false;
            Some(Change::Back)
        } else {
            None
        }
    }

    /// The reserve `sessions` G.711 or G.722 calls need to end cleanly (see the module doc).
    pub fn needed_for(sessions: usize) -> u64 {
        (sessions as u64)
            .saturating_mul(SESSION_RATE)
            .saturating_mul(135)
            / 100
            + 8 * MIB
    }
}

/// What the shards and the admission know of the storage; cheap to clone.
#[derive(Debug, Clone)]
pub struct Space(Arc<SpaceInner>);

#[derive(Debug)]
struct SpaceInner {
    root: PathBuf,
    reserve: u64,
    full: AtomicBool,
    /// The last reading, in bytes (0 if it failed).
    free: AtomicU64,
}

impl Space {
    pub fn new(root: &Path, reserve: u64) -> Space {
        Space(Arc::new(SpaceInner {
            root: root.to_owned(),
            reserve,
            full: AtomicBool::new(false),
            free: AtomicU64::new(u64::MAX),
        }))
    }

    pub fn reserve(&self) -> u64 {
        self.0.reserve
    }

    /// The watcher's verdict: running sessions must end, new ones are refused.
    pub fn is_full(&self) -> bool {
        self.0.full.load(Ordering::Relaxed)
    }

    /// The free space at the last reading.
    pub fn free(&self) -> u64 {
        self.0.free.load(Ordering::Relaxed)
    }

    /// Whether a new session may start: the storage is not full by the watcher's verdict, and
    /// has at least the reserve free right now (a reading of its own, so that a session is
    /// never admitted in the watcher's blind spot).
    pub fn admits(&self) -> bool {
        !self.is_full()
            && callrec_platform::store::fs::free_bytes(&self.0.root)
                .is_ok_and(|free| free >= self.0.reserve)
    }

    fn set(&self, full: bool, free: u64) {
        self.0.free.store(free, Ordering::Relaxed);
        self.0.full.store(full, Ordering::Relaxed);
    }
}

/// The final writes of sessions (the sidecar, then its catalog row), with those the storage
/// refused kept for a retry; cheap to clone.
#[derive(Clone)]
pub struct Finals {
    catalog: Catalog,
    waiting: Arc<Mutex<Vec<(Slot, Sidecar)>>>,
}

impl Finals {
    pub fn new(catalog: Catalog) -> Finals {
        Finals {
            catalog,
            waiting: Arc::default(),
        }
    }

    /// The catalog the rows go to.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Vec<(Slot, Sidecar)>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the final sidecar of `slot`, then its catalog row; if the write fails, keeps it
    /// for [`Finals::retry`]. True if written now.
    pub fn write(&self, slot: &Slot, sidecar: &Sidecar) -> bool {
        match write_sidecar(slot, sidecar) {
            Ok(()) => {
                self.catalog.put_slot(slot, sidecar);
                true
            }
            Err(e) => {
                crate::limited!(
                    Kind::Storage,
                    "session {}: final sidecar: {e}; written again once the storage lets it",
                    slot.stem
                );
                self.keep(slot.clone(), sidecar.clone());
                false
            }
        }
    }

    /// Keeps a final sidecar to write later.
    pub fn keep(&self, slot: Slot, sidecar: Sidecar) {
        let mut list = self.list();
        if list.len() < MAX_FINALS {
            list.push((slot, sidecar));
        } else {
            crate::limited!(
                Kind::Storage,
                "session {}: too many final sidecars waiting; the next start finishes it",
                slot.stem
            );
        }
    }

    /// Writes again what is kept; returns how many are still unwritten.
    pub fn retry(&self) -> usize {
        let waiting = std::mem::take(&mut *self.list());
        if waiting.is_empty() {
            return 0;
        }
        let mut left = Vec::new();
        let mut written = 0;
        for (slot, sidecar) in waiting {
            match write_sidecar(&slot, &sidecar) {
                Ok(()) => {
                    self.catalog.put_slot(&slot, &sidecar);
                    written += 1;
                }
                Err(_) => left.push((slot, sidecar)),
            }
        }
        if written > 0 {
            log::info!("{written} final sidecar(s) written after all");
        }
        let mut list = self.list();
        // Kept meanwhile by a shard: after the older ones.
        left.append(&mut list);
        *list = left;
        list.len()
    }

    /// How many are waiting.
    pub fn pending(&self) -> usize {
        self.list().len()
    }
}

/// The watcher thread; stops when dropped or [`Watcher::stop`]ped.
pub struct Watcher {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching `space`'s storage; every second it also writes again the unwritten
    /// `finals` and logs the rate-limited lines' summaries ([`crate::logs::summaries`]).
    pub fn start(space: Space, finals: Finals) -> std::io::Result<Watcher> {
        let (tx, rx) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("storage-watch".into())
            .spawn(move || {
                let mut reserve = Reserve::new(space.reserve());
                let mut tick: u32 = 0;
                loop {
                    read(&space, &mut reserve, finals.catalog());
                    if tick % RETRY_EVERY == 0 {
                        finals.retry();
                        crate::logs::summaries();
                    }
                    tick = tick.wrapping_add(1);
                    match rx.recv_timeout(WATCH) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
            })?;
        Ok(Watcher {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.halt();
    }
}

/// One reading, and what it changes.
fn read(space: &Space, reserve: &mut Reserve, catalog: &Catalog) {
    let reading = match callrec_platform::store::fs::free_bytes(&space.0.root) {
        Ok(free) => Some(free),
        Err(e) => {
            crate::limited!(
                Kind::Storage,
                "storage {}: free space unreadable: {e}",
                space.0.root.display()
            );
            None
        }
    };
    let change = reserve.observe(reading);
    space.set(reserve.is_full(), reading.unwrap_or(0));
    match change {
        Some(Change::Full) => log::warn!(
            "storage {}: {} bytes free, below the reserve of {} bytes ({}): new sessions are \
             refused (storage_full) and running ones end",
            space.0.root.display(),
            reading.unwrap_or(0),
            reserve.reserve(),
            mib(reserve.reserve())
        ),
        Some(Change::Back) => {
            log::info!(
                "storage {}: {} free again (at least {}): sessions are taken again",
                space.0.root.display(),
                mib(reading.unwrap_or(0)),
                mib(reserve.resume_at())
            );
            // A catalog write that failed while the storage was full is made good now.
            catalog.flush(Duration::from_millis(100));
        }
        None => {}
    }
}

/// Bytes as MiB with one decimal, for logs.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_reserve_is_full_until_back_above_it_by_the_margin() {
        let mut r = Reserve::new(64 * MIB);
        assert_eq!(r.resume_at(), 80 * MIB);
        assert_eq!(r.observe(Some(100 * MIB)), None);
        assert_eq!(r.observe(Some(64 * MIB)), None);
        assert_eq!(r.observe(Some(64 * MIB - 1)), Some(Change::Full));
        assert!(r.is_full());
        // Told once; the sessions' final writes take a little more; freeing a little is not
        // enough.
        assert_eq!(r.observe(Some(60 * MIB)), None);
        assert_eq!(r.observe(Some(70 * MIB)), None);
        assert_eq!(r.observe(Some(80 * MIB)), Some(Change::Back));
        assert!(!r.is_full());
        assert_eq!(r.observe(Some(79 * MIB)), None);
    }

    #[test]
    fn an_unreadable_storage_is_full() {
        let mut r = Reserve::new(MIB);
        assert_eq!(r.observe(None), Some(Change::Full));
        assert_eq!(r.observe(None), None);
        assert_eq!(r.observe(Some(2 * MIB)), Some(Change::Back));
        // A small reserve still has a margin of 1 MiB.
        let mut r = Reserve::new(0);
        assert_eq!(r.resume_at(), MIB);
        assert_eq!(r.observe(Some(0)), None);
    }

    #[test]
    fn a_final_sidecar_the_storage_refused_is_written_by_a_retry_with_its_row() {
        use crate::catalog::CatalogSpec;
        use crate::store::{read_sidecar, Store};
        let root = std::env::temp_dir().join(format!("callrec-finals-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = Store::open(&root).unwrap();
        let spec = CatalogSpec::Sqlite(root.join("catalog.sqlite"));
        let (catalog, _) = Catalog::open(spec, &store).unwrap();
        let finals = Finals::new(catalog.clone());
        let t = callrec_core::record_file::LocalTime {
            year: 2026,
            month: 11,
            day: 21,
            hour: 8,
            minute: 9,
            second: 10,
        };
        let mut sc = Sidecar {
            id: "cut".into(),
            ..Sidecar::default()
        };
        let slot = store.create(&t, &sc).unwrap();
        catalog.put_slot(&slot, &sc);
        // The storage refuses the final write (here: its day folder is gone).
        let day = slot.dir.clone();
        std::fs::remove_dir_all(&day).unwrap();
        sc.stop_ms = Some(5_000);
        sc.stop_reason = Some("storage_full".into());
        assert!(!finals.write(&slot, &sc));
        assert_eq!(finals.pending(), 1);
        assert_eq!(finals.retry(), 1);
        // Room again: the next retry writes it, then its row.
        std::fs::create_dir_all(&day).unwrap();
        assert_eq!(finals.retry(), 0);
        assert_eq!(finals.pending(), 0);
        let on_disk = read_sidecar(&slot.sidecar_path()).unwrap();
        assert_eq!(on_disk.stop_reason.as_deref(), Some("storage_full"));
        assert!(catalog.flush(Duration::from_secs(10)));
        let rid = crate::rid::Rid::of_slot(&slot).unwrap().to_string();
        let row = catalog.get(&rid).unwrap().unwrap();
        assert_eq!(row.sidecar, on_disk);
        assert!(catalog.unfinished().unwrap().is_empty());
        // A write that works at once is not kept.
        assert!(finals.write(&slot, &sc));
        assert_eq!(finals.pending(), 0);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_default_reserve_covers_the_default_session_limit() {
        let needed = Reserve::needed_for(crate::ServerOptions::default().max_sessions);
        assert!(needed < DEFAULT_RESERVE, "{}", mib(needed));
        assert!(Reserve::needed_for(20_000) > DEFAULT_RESERVE);
        assert_eq!(Reserve::needed_for(0), 8 * MIB);
    }
}
