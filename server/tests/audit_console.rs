//! `callrec-server audit …` and `device …` as an admin runs them, the real binary on an SQLite
//! catalog: device changes are audited, `audit verify` passes, then entries edited, removed or
//! forged with `UPDATE`/`DELETE`/`INSERT` on the file make it fail (exit 1) naming the first
//! bad sequence number; `audit export` writes CSV and JSON lines.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_callrec-server");

fn storage(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callrec-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `callrec-server ARGS --storage DIR`: exit code, stdout, stderr.
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--storage")
        .arg(dir)
        .env("USER", "alice")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `run` with `input` on standard input.
fn run_with(dir: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--storage")
        .arg(dir)
        .env("USER", "alice")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn sql(dir: &Path, statement: &str) {
    let db = rusqlite::Connection::open(dir.join("catalog.sqlite")).unwrap();
    assert!(db.execute(statement, []).unwrap() >= 1, "{statement}");
}

/// Three device changes: entries 1 (add), 2 (change), 3 (add), 4 (remove).
fn audited(name: &str) -> PathBuf {
    let dir = storage(name);
    for args in [
        &[
            "device",
            "add",
            "001565AABBCC",
            "--owner",
            "Anna",
            "--group",
            "Sales",
        ][..],
        &[
            "device",
            "add",
            "001565AABBCC",
            "--owner",
            "Anna B",
            "--group",
            "Sales",
        ],
        &[
            "device",
            "add",
            "001565AABBCD",
            "--owner",
            "=HYPERLINK(\"x\")",
        ],
        &["device", "remove", "001565AABBCD"],
    ] {
        let (code, _, err) = run(&dir, args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    dir
}

#[test]
fn device_changes_are_audited_and_the_trail_verifies() {
    let dir = audited("intact");
    let (code, out, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("audit trail intact: 4 entries; head: seq 4 sha256 "),
        "{out}"
    );
    let (code, out, _) = run(&dir, &["audit", "export", "--format", "json"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["device_add", "device_change", "device_add", "device_remove"]
    );
    let who = lines[0]["who"].as_str().unwrap();
    assert!(who.starts_with("console:alice@"), "{who}");
    assert_eq!(lines[1]["what"]["before"]["owner"], "Anna");
    // CSV: a header, four records, the formula-like owner made inert.
    let (code, out, _) = run(&dir, &["audit", "export", "--action", "device_add"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("seq,time_utc,ms,who,from,action,rid,what,prev,hash\r\n"));
    assert_eq!(out.matches("\r\n").count(), 3, "{out}");
    assert!(out.contains(",device_add,"));
    assert!(!out.contains(",device_change,"));
    let (code, _, err) = run(&dir, &["audit", "export", "--action", "nap"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn user_and_token_commands_are_audited_without_secrets() {
    let dir = storage("accounts");
    let pw = "correct horse battery staple\n";
    let add = ["user", "add", "root", "--role", "admin", "--password-stdin"];
    let (code, _, err) = run_with(&dir, &add, pw);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_with(&dir, &["user", "passwd", "root", "--password-stdin"], pw);
    assert_eq!(code, 0, "{err}");
    let (code, token, err) = run(
        &dir,
        &[
            "token", "add", "--by", "root", "--name", "crm", "--role", "admin",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let id = err.split_whitespace().nth(1).unwrap().to_string();
    let (code, _, err) = run(&dir, &["token", "revoke", &id]);
    assert_eq!(code, 0, "{err}");
    // Refused changes write nothing.
    let (code, _, _) = run_with(&dir, &add, pw);
    assert_eq!(code, 1);
    let (code, _, _) = run(&dir, &["user", "remove", "root"]);
    assert_eq!(code, 0);
    let (code, out, _) = run(&dir, &["audit", "export", "--format", "json"]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user_add",
            "user_change",
            "token_add",
            "token_revoke",
            "user_remove"
        ]
    );
    assert_eq!(lines[0]["what"]["roles"], "admin");
    assert_eq!(lines[2]["what"]["token"], id.as_str());
    assert_eq!(lines[2]["what"]["by"], "root");
    // Neither the password nor the token's secret is in the trail.
    assert!(!out.contains("horse"), "{out}");
    assert!(!out.contains(token.trim()), "{out}");
    let (code, out, _) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_entry_edited_in_the_file_fails_verify_at_its_number() {
    let dir = audited("edited");
    sql(&dir, "UPDATE audit SET what = '{}' WHERE seq = 2");
    let (code, out, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("BROKEN at seq 2: entry 2: edited"), "{out}");
    assert!(out.contains("kind: edited"), "{out}");

    let dir = audited("edited-who");
    sql(&dir, "UPDATE audit SET who = 'server' WHERE seq = 3");
    let (code, out, _) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at seq 3"), "{out}");
}

#[test]
fn an_entry_removed_from_the_file_fails_verify_naming_the_gap() {
    let dir = audited("removed");
    sql(&dir, "DELETE FROM audit WHERE seq = 2");
    let (code, out, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("BROKEN at seq 2: entry 2: removed"), "{out}");
    // The last one removed: the head still says 4.
    let dir = audited("removed-last");
    sql(&dir, "DELETE FROM audit WHERE seq = 4");
    let (code, out, _) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at seq 4: entry 4: removed"), "{out}");
}

#[test]
fn an_entry_forged_into_the_file_fails_verify() {
    let dir = audited("forged");
    sql(
        &dir,
        "INSERT INTO audit (seq, ms, who, origin, action, rid, what, prev, hash) \
         SELECT 5, ms, 'admin', 'console', 'delete', 'x', '{}', hash, hash FROM audit \
         WHERE seq = 4",
    );
    let (code, out, _) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("BROKEN at seq 5: entry 5: edited"), "{out}");
}

#[test]
fn a_missing_catalog_is_exit_3_and_a_bad_command_line_exit_2() {
    let dir = storage("none");
    let (code, _, err) = run(&dir, &["audit", "verify"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no catalog"), "{err}");
    let (code, _, _) = run(&dir, &["audit", "verify", "--who", "x"]);
    assert_eq!(code, 2);
    // A catalog of before the trail is read, not migrated.
    let db = rusqlite::Connection::open(dir.join("catalog.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TABLE catalog_version (version BIGINT NOT NULL); \
         INSERT INTO catalog_version VALUES (5);",
    )
    .unwrap();
    let (code, _, err) = run(&dir, &["audit", "export"]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no audit trail in this catalog (schema version 5)"),
        "{err}"
    );
    let version: i64 = db
        .query_row("SELECT max(version) FROM catalog_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5);
}
