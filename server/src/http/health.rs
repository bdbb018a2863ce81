//! `GET /healthz`: whether this node can do its work, for a load balancer or a monitor. No
//! authentication, and nothing but the verdict: `ok` (200), or 503 with the one word of what
//! is wrong: `catalog` (it does not answer a trivial query) or `storage` (not writable, or its
//! free space below the reserve, where new sessions are refused). No version, no counts.

use crate::catalog::Catalog;
use crate::space::Space;
use std::path::Path;

/// What is wrong, as `/healthz` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sick {
    Catalog,
    Storage,
}

impl Sick {
    pub fn word(self) -> &'static str {
        match self {
            Sick::Catalog => "catalog",
            Sick::Storage => "storage",
        }
    }
}

/// Checks the catalog (one small query) and the storage (writable by this process, and above
/// the reserve: [`Space::admits`]). Blocks on the catalog: run it on a reader thread.
pub fn check(catalog: &Catalog, space: &Space, storage: &Path) -> Result<(), Sick> {
    if let Err(e) = catalog.devices_version() {
        crate::limited!(crate::logs::Kind::Http, "healthz: catalog: {e}");
        return Err(Sick::Catalog);
    }
    // access(2) with W_OK: the permissions and a read-only mount (EROFS), without a write.
    let writable = nix::unistd::access(storage, nix::unistd::AccessFlags::W_OK).is_ok();
    if !writable || !space.admits() {
        return Err(Sick::Storage);
    }
    Ok(())
}
