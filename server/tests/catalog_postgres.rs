//! The catalog on PostgreSQL (Debian's, started by the test on loopback): the shared suite,
//! each test in a database of its own on one server.

mod common;

use callrec_server::catalog::CatalogSpec;
use callrec_tools::postgres::Postgres;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

fn server() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("callrec-pg-{}", std::process::id()));
        Postgres::start(&dir).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A database per storage folder: the same folder opened twice gets the same database.
fn postgres(root: &Path) -> CatalogSpec {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static DATABASES: OnceLock<Mutex<HashMap<std::path::PathBuf, String>>> = OnceLock::new();
    let mut dbs = DATABASES.get_or_init(Default::default).lock().unwrap();
    let url = dbs
        .entry(root.to_path_buf())
        .or_insert_with(|| {
            static N: AtomicU32 = AtomicU32::new(0);
            let name = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
            server().database(&name).unwrap_or_else(|e| panic!("{e}"))
        })
        .clone();
    CatalogSpec::Postgres(url)
}

catalog_tests!(postgres);
audit_tests!(postgres);
