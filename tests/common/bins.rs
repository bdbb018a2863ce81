//! The programs of the workspace's other crates (`callrec-server`, `callrec-sim`) for the tests
//! that run them beside the agent. Cargo names only its own package's programs to a test
//! (`CARGO_BIN_EXE_…`), so the first test that asks for one has cargo build it, with this test
//! run's profile into this test run's target directory; a fresh build is a no-op.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static BUILT: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);

/// The record server.
pub fn server() -> PathBuf {
    workspace_bin("callrec-server", "callrec-server")
}

/// The phone simulator.
pub fn sim() -> PathBuf {
    workspace_bin("callrec-sim", "callrec-sim")
}

/// Program `name` of workspace package `package`, built and up to date.
pub fn workspace_bin(package: &'static str, name: &'static str) -> PathBuf {
    // target/[TRIPLE/]PROFILE/callrec: the agent cargo built for this test.
    let out_dir = Path::new(super::BIN)
        .parent()
        .expect("the agent's directory");
    let path = out_dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.get_or_insert_with(HashSet::new).insert(name) {
        let profile = match out_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev",
            Some(other) => other,
            None => panic!("{}: no profile directory", out_dir.display()),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(&cargo)
            .args([
                "build",
                "--quiet",
                "--profile",
                profile,
                "-p",
                package,
                "--bin",
                name,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap_or_else(|e| panic!("{cargo}: {e}"));
        assert!(
            out.status.success(),
            "cargo build -p {package} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(path.exists(), "{} was not built", path.display());
    }
    path
}
