//! `--version` on every program of the workspace, as built for this test run (debug or
//! release): `NAME VERSION`, and the commit when the build was told it (`CALLREC_COMMIT`).

mod common;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_program_says_its_name_and_version() {
    let version = env!("CARGO_PKG_VERSION");
    let mut programs: Vec<(&str, PathBuf)> = vec![
        ("callrec", PathBuf::from(common::BIN)),
        ("callrec-server", common::bins::server()),
        ("callrec-sim", common::bins::sim()),
    ];
    for tool in [
        "callrec-loadgen",
        "callrec-bench-catalog",
        "callrec-bench-heap",
        "callrec-bench-local",
        "callrec-bench-server",
        "callrec-demo",
        "callrec-e2e-arm",
    ] {
        programs.push((tool, common::bins::workspace_bin("callrec-tools", tool)));
    }
    for (name, path) in &programs {
        let out = Command::new(path).arg("--version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {:?}", out.status);
        let line = text.trim_end();
        let want = format!("{name} {version}");
        assert!(
            line == want || line.starts_with(&format!("{want} (commit ")),
            "{name}: {line:?}"
        );
    }
    // The server's subcommands too.
    for sub in ["verify", "device", "tls"] {
        let out = Command::new(common::bins::server())
            .args([sub, "--version"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.starts_with(&format!("callrec-server {version}")),
            "{sub}: {text}"
        );
    }
}
