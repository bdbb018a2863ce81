//! After a kill -9 or a power cut: sessions whose sidecar never got a stop are finished at
//! start-up. Their Record files are repaired (a header that lagged is made to agree with the
//! data) and the sidecar says `server restart` with the recovered duration; the catalog, already
//! in line with the sidecars, says the same.

use super::catalog::{Catalog, CatalogError};
use super::rid::Rid;
use super::store::{write_sidecar, Store};
use callrec_platform::store::reader::RecordReader;
use callrec_platform::store::repair::{log_outcome, repair_file};

/// Repairs and closes every unfinished session in the store; returns how many.
pub fn unfinished(store: &Store, catalog: &Catalog) -> Result<usize, CatalogError> {
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
        }
        sidecar.duration_ms = duration;
        sidecar.stop_ms = Some(sidecar.start_ms + duration);
        sidecar.stop_reason = Some("server restart".into());
        match write_sidecar(&slot, &sidecar) {
            Ok(()) => {
                catalog.put_slot(&slot, &sidecar);
                n += 1;
            }
            Err(e) => log::warn!("cannot finish {}: {e}", slot.stem),
        }
    }
    if n > 0 {
        log::warn!("finished {n} session(s) cut off by the last stop");
    }
    Ok(n)
}
