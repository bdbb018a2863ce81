//! The sweep: in the running server, at start and then every [`SWEEP_EVERY`] (`--sweep-every`),
//! finishes the disposals a stop cut short, then deletes every recording past its retention
//! (each a `disposal` entry by `server`), a page at a time. And the count of what a policy
//! would delete now, for a dry run.

use super::dispose::{self, Failed, Refused};
use super::policy::{decide, Policy, Verdict};
use crate::audit::{Action, Event};
use crate::catalog::db::Conn;
use crate::catalog::retention::{self as held, Due};
use crate::catalog::{Catalog, CatalogError};
use crate::store::Store;
use serde_json::json;
use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sweep runs by default.
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
/// Recordings read per query.
const PAGE: usize = 500;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Recordings deleted now.
    pub deleted: u64,
    /// Disposals of before finished now.
    pub finished: u64,
    /// Due, but the deletion failed (logged; tried again next pass).
    pub failed: u64,
}

/// Every recording due under `policy` at `now_ms`, a page at a time: `each` gets each one and
/// says whether to go on.
fn each_due(
    conn: &mut dyn Conn,
    policy: &Policy,
    now_ms: u64,
    mut each: impl FnMut(&mut dyn Conn, &Due) -> Result<bool, CatalogError>,
) -> Result<(), CatalogError> {
    if policy.keeps_all() {
        return Ok(());
    }
    let cut = policy.cutoffs(now_ms);
    let mut after: Option<(u64, String)> = None;
    loop {
        let page = held::past_cutoffs(
            conn,
            &cut,
            after.as_ref().map(|(ms, r)| (*ms, r.as_str())),
            PAGE,
        )?;
        for d in &page {
            if decide(&d.candidate, policy, now_ms) == Verdict::Due && !each(conn, d)? {
                return Ok(());
            }
        }
        match page.last() {
            Some(d) if page.len() == PAGE => after = Some((d.candidate.start_ms, d.rid.clone())),
            _ => return Ok(()),
        }
    }
}

/// How many recordings `policy` would delete at `now_ms` (held and unfinished ones are not).
pub fn would_delete(
    conn: &mut dyn Conn,
    policy: &Policy,
    now_ms: u64,
) -> Result<u64, CatalogError> {
    let mut n = 0;
    each_due(conn, policy, now_ms, |_, _| {
        n += 1;
        Ok(true)
    })?;
    Ok(n)
}

/// One pass of the sweep at `now_ms` on `conn`.
pub fn pass(conn: &mut dyn Conn, store: &Store, now_ms: u64) -> Result<Swept, CatalogError> {
    pass_until(conn, store, now_ms, &|| false)
}

/// Recordings whose RIDs one batch of a pass reads before it deletes them.
const BATCH: usize = 10 * PAGE;

/// [`pass`], ending early once `stop` says so (between two deletions).
pub fn pass_until(
    conn: &mut dyn Conn,
    store: &Store,
    now_ms: u64,
    stop: &dyn Fn() -> bool,
) -> Result<Swept, CatalogError> {
    let mut swept = Swept::default();
    loop {
        let n = dispose::finish_pending(conn, store, PAGE)?;
        swept.finished += n as u64;
        if n < PAGE {
            break;
        }
    }
    // In batches: the RIDs first, then their deletions (each its own transaction), until a
    // batch is the last one or deletes nothing (all refused or failed: the next pass tries).
    loop {
        let policy = held::policy(conn)?;
        let mut due = Vec::new();
        each_due(conn, &policy, now_ms, |_, d| {
            due.push(d.rid.clone());
            Ok(due.len() < BATCH)
        })?;
        let (full, before) = (due.len() == BATCH, swept.deleted);
        for rid in due {
            if stop() {
                return Ok(swept);
            }
            match dispose_one(conn, store, &rid, now_ms) {
                Ok(()) => swept.deleted += 1,
                // Held, ended or changed meanwhile: not due any more.
                Err(Failed::Refused(_)) => {}
                Err(Failed::Audit(e)) => {
                    swept.failed += 1;
                    crate::limited!(crate::logs::Kind::Storage, "retention: {rid}: {e}");
                }
            }
        }
        if !full || swept.deleted == before {
            return Ok(swept);
        }
    }
}

/// Deletes `rid` if it is still due under the policy in force (both read again inside the
/// deletion's transaction), with its `disposal` entry.
fn dispose_one(conn: &mut dyn Conn, store: &Store, rid: &str, now_ms: u64) -> Result<(), Failed> {
    let why = RefCell::new(json!({}));
    let allow = |c: &mut dyn Conn, row: &crate::catalog::Row| {
        let policy = held::policy(c)?;
        let s = &row.sidecar;
        let cand = super::policy::Candidate {
            group: s.group.clone(),
            start_ms: s.start_ms,
            finished: s.stop_ms.is_some(),
            held: false,
        };
        if decide(&cand, &policy, now_ms) != Verdict::Due {
            return Ok(Err(Refused::NotDue));
        }
        *why.borrow_mut() = json!({
            "reason": "retention",
            "group": s.group,
            "days": policy.period(&s.group),
            "start_ms": s.start_ms,
            "call_id": s.id,
        });
        Ok(Ok(()))
    };
    let event = |_: &crate::catalog::Row| Event {
        who: "server".into(),
        from: "server".into(),
        action: Action::DISPOSAL,
        rid: rid.to_string(),
        what: why.borrow().clone(),
    };
    dispose::remove(conn, store, rid, now_ms, allow, event).map(|_| ())
}

/// The sweep's thread.
pub struct Sweeper {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Sweeper {
    /// Starts the sweep: a pass now, then one every `every`.
    pub fn start(catalog: Catalog, store: Store, every: Duration) -> std::io::Result<Sweeper> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("retention".into())
            .spawn(move || loop {
                let now = crate::media::unix_ms();
                let stopping = || *s.0.lock().unwrap_or_else(|e| e.into_inner());
                match catalog.read(|c| pass_until(c, &store, now, &stopping)) {
                    Ok(w) if w.deleted + w.finished + w.failed > 0 => log::info!(
                        "retention: {} recording(s) deleted, {} deletion(s) finished, {} failed",
                        w.deleted,
                        w.finished,
                        w.failed
                    ),
                    Ok(_) => {}
                    Err(e) => crate::limited!(crate::logs::Kind::Storage, "retention: {e}"),
                }
                let (lock, cv) = &*s;
                let stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                let (stopped, _) = cv
                    .wait_timeout_while(stopped, every, |stop| !*stop)
                    .unwrap_or_else(|e| e.into_inner());
                if *stopped {
                    return;
                }
            })?;
        Ok(Sweeper {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the sweep (a pass under way stops before its next deletion).
    pub fn stop(mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
