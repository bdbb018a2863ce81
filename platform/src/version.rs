//! `--version` of every program of the workspace: `NAME VERSION`, and the commit the build came
//! from when the build was told it (`CALLREC_COMMIT`, set by scripts/package and
//! scripts/build-arm from `git rev-parse`; a build from a tarball without `.git`, or a plain
//! `cargo build`, has none). An environment variable rather than a build script that reads
//! `.git`: such a script would rebuild this crate, and every crate above it, after each commit.

use std::ffi::OsString;

/// The commit the build came from, if the build was told.
pub const COMMIT: Option<&str> = option_env!("CALLREC_COMMIT");

/// `NAME VERSION` or `NAME VERSION (commit C)`.
pub fn line(name: &str, version: &str) -> String {
    match COMMIT.filter(|c| !c.is_empty()) {
        Some(c) => format!("{name} {version} (commit {c})"),
        None => format!("{name} {version}"),
    }
}

/// Whether `args` (without the program's name) ask for the version.
pub fn asked(args: &[OsString]) -> bool {
    args.iter().any(|a| a == "--version")
}

/// Prints the version line and returns true if the process's arguments ask for it.
pub fn print_if_asked(name: &str, version: &str) -> bool {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if asked(&args) {
        println!("{}", line(name, version));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_program_and_its_version() {
        let l = line("callrec-x", "1.2.3");
        assert!(
            l == "callrec-x 1.2.3" || l.starts_with("callrec-x 1.2.3 (commit "),
            "{l}"
        );
        assert!(asked(&["a".into(), "--version".into()]));
        assert!(!asked(&["--versions".into()]));
    }
}
