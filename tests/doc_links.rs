//! Every link and every path that the docs name resolves inside the repository: the markdown
//! links of README.md and docs/, and the backticked repository paths (`core/src/…`, `tests/…`,
//! `../shared/spec/…`) of those files and of every crate's doc comments. A moved or renamed
//! file breaks this test until its docs follow.

use std::path::{Path, PathBuf};

/// The folders a repository path in the docs starts with.
const ROOTS: [&str; 13] = [
    "core/",
    "platform/",
    "src/",
    "server/",
    "sim/",
    "tools/",
    "tests/",
    "docs/",
    "scripts/",
    "board/",
    "packaging/",
    "fuzz/",
    "../shared/",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files(&path, ext, out);
            }
        } else if name.ends_with(ext) {
            out.push(path);
        }
    }
}

/// The targets of `](target)` in `text`, without anchors, and not web addresses.
fn markdown_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let target = rest[..end].split('#').next().unwrap_or("");
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            out.push(target.to_owned());
        }
    }
    out
}

/// Backticked words of `text` that are repository paths: start with one of [`ROOTS`]. A path
/// with an ellipsis is a pattern, and `board/bx9.json` is the model that docs/integrators.md
/// shows how to add.
fn backticked_paths(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| ROOTS.iter().any(|r| w.starts_with(r)))
        .filter(|w| !w.contains(char::is_whitespace) && !w.contains(['*', '<', '[', '$', '…']))
        .filter(|w| *w != "board/bx9.json")
        .map(|w| w.trim_end_matches([':', ',']).to_owned())
        .collect()
}

#[test]
fn every_link_and_path_the_docs_name_exists() {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    files(&root.join("docs"), ".md", &mut docs);
    let mut sources = Vec::new();
    for dir in ["core", "platform", "src", "server", "sim", "tools", "tests"] {
        files(&root.join(dir), ".rs", &mut sources);
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        for link in markdown_links(&text) {
            checked += 1;
            if !doc.parent().unwrap().join(&link).exists() {
                missing.push(format!("{}: link {link}", doc.display()));
            }
        }
        for path in backticked_paths(&text) {
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!("{}: path {path}", doc.display()));
            }
        }
    }
    for source in &sources {
        let text = std::fs::read_to_string(source).unwrap();
        let comments: String = text
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("//!") || l.starts_with("///"))
            .map(|l| format!("{}\n", &l[3..]))
            .collect();
        for path in backticked_paths(&comments) {
            checked += 1;
            if !root.join(&path).exists() {
                missing.push(format!("{}: path {path}", source.display()));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} links and paths found: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "{} missing:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn the_scan_finds_links_and_paths() {
    let text = "see [the spec](../x.md#part) and [web](https://a.b), `core/src/rtp.rs` and `a b`";
    assert_eq!(markdown_links(text), ["../x.md"]);
    assert_eq!(backticked_paths(text), ["core/src/rtp.rs"]);
}
