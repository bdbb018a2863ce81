//! After a kill -9 or a power cut: sessions whose sidecar never got a stop are finished at
//! start-up. Their Record files are repaired (a header that lagged is made to agree with the
//! data) and the sidecar says `server restart` with the recovered duration; the catalog, already
//! in line with the sidecars, says the same. A file that was being written gets its digest
//! here, of the file as repaired. A sidecar the storage refuses now (it is full) is
//! kept in [`Finals`], which the running server writes again until it can.

use super::catalog::CatalogError;
use super::digest;
use super::rid::Rid;
use super::space::Finals;
use super::store::Store;
use callrec_platform::store::reader::RecordReader;
use callrec_platform::store::repair::{log_outcome, repair_file};

/// Repairs and closes every unfinished session in the store; returns how many were finished
/// now (the rest wait in `finals`).
pub fn unfinished(store: &Store, finals: &Finals) -> Result<usize, CatalogError> {
    let catalog = finals.catalog();
    let mut n = 0;
    for row in catalog.unfinished()? {
        let Some(rid) = Rid::parse(&row.rid) else {
            continue;
        };
        let slot = rid.slot(store.root());
        let mut sidecar = row.sidecar;
        let mut duration = 0;
        for name in &sidecar.files {
            let path = slot.dir.join(name);
            log_outcome(&path, &repair_file(&path));
            if let Ok(r) = RecordReader::open(&path) {
                duration += r.header().duration_ms();
            }
            // The file that was open when the server stopped has no digest yet: it gets one
            // of the file as repaired (read once, here).
            if !sidecar.digests.contains_key(name) && path.is_file() {
                match digest::of_file(&path) {
                    Ok((d, _)) => {
                        sidecar.digests.insert(name.clone(), d.hex());
                    }
                    Err(e) => log::warn!("{}: no digest: {e}", path.display()),
                }
            }
        }
        sidecar.duration_ms = duration;
        sidecar.stop_ms = Some(sidecar.start_ms + duration);
        sidecar.stop_reason = Some("server restart".into());
        if finals.write(&slot, &sidecar) {
            n += 1;
        }
    }
    if n > 0 {
        log::warn!("finished {n} session(s) cut off by the last stop");
    }
    Ok(n)
}
