//! The catalog on its embedded engine, SQLite (a file in the storage folder): the shared suite.

mod common;

use callrec_server::catalog::CatalogSpec;
use std::path::Path;

fn sqlite(root: &Path) -> CatalogSpec {
    CatalogSpec::parse(None, root)
}

catalog_tests!(sqlite);
audit_tests!(sqlite);
