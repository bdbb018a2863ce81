//! `callrec-server backup --to FILE` beside the running server, and a restore: the copy is
//! the catalog as it was (its recordings, its audit trail's chain intact), FILE is never
//! replaced, and after a restore the start-up sync adds what the storage's files hold beyond
//! the copy (docs/operations.md).

mod common;
use common::server::{console, get, Server};
use common::{Sender, TempDir};
use std::net::SocketAddr;

fn call(server: &Server, id: &str) {
    let mut c = server.connect();
    c.send(
        format!(
            "cmd=RecordStartRequest&id={id}&device=00:15:65:AA:BB:CC&remote_number=1002\
             &local_number=1001&dir=in&codec=PCMA\n"
        )
        .as_bytes(),
    );
    let l = c.line();
    assert_eq!(get(&l, "result"), Some("success"), "{l}");
    let port: u16 = get(&l, "port").unwrap().parse().unwrap();
    let phone = Sender::new(SocketAddr::from(([127, 0, 0, 1], port)));
    for k in 0..20u16 {
        phone.send(k, u32::from(k) * 160, &[1; 160]);
    }
    c.send(format!("cmd=RecordStopRequest&id={id}&reason=done\n").as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));
}

fn backup(storage: &str, to: &str) -> (i32, String, String) {
    console("backup", &["--storage", storage, "--to", to])
}

#[test]
fn a_backup_beside_the_running_server_restores_and_the_sync_adds_the_newer_files() {
    let dir = TempDir::new("server-backup");
    let mut server = Server::start(dir.path(), &[]);
    let storage = server.storage.clone();
    let s = storage.to_str().unwrap().to_string();
    for id in ["b1", "b2"] {
        call(&server, id);
    }
    let copy = dir.path().join("catalog-backup.sqlite");
    let to = copy.to_str().unwrap();
    let (code, out, err) = backup(&s, to);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("(2 recordings)"), "{out}");
    // Never over an existing file.
    let (code, _, err) = backup(&s, to);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("exists"), "{err}");
    // A third call after the backup: its files are in the storage, not in the copy.
    call(&server, "b3");
    server.child.kill().unwrap();
    let _ = server.child.wait();

    // The restore: the copy in the catalog's place (its -wal and -shm gone with the old one).
    for f in ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"] {
        let _ = std::fs::remove_file(storage.join(f));
    }
    std::fs::copy(&copy, storage.join("catalog.sqlite")).unwrap();
    let (code, out, err) = console("audit", &["verify", "--storage", &s]);
    assert_eq!(code, 0, "the restored trail: {out}{err}");
    let server = Server::start_at(&storage, dir.path(), &["--http", "127.0.0.1:0"]);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("catalog: "), "{log}");
    // All three: the two of the copy, and b3 read again from its sidecar by the sync.
    let http = server.http.unwrap();
    let token = server.token.clone().unwrap();
    let mut tcp = std::net::TcpStream::connect(http).unwrap();
    use std::io::{Read, Write};
    write!(
        tcp,
        "GET /api/recordings HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    tcp.read_to_string(&mut all).unwrap();
    let body = all.split_once("\r\n\r\n").unwrap().1;
    let rows: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {all}"));
    let mut ids: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["b1", "b2", "b3"]);
}

#[test]
fn backup_needs_its_arguments_an_sqlite_catalog_and_an_existing_one() {
    let dir = TempDir::new("server-backup-usage");
    let s = dir.path().to_str().unwrap();
    let to = dir.path().join("x.sqlite");
    let to = to.to_str().unwrap();
    let (code, _, err) = console("backup", &["--storage", s]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--to FILE is required"), "{err}");
    let (code, _, err) = console(
        "backup",
        &[
            "--storage",
            s,
            "--catalog",
            "postgres://x@127.0.0.1/db",
            "--to",
            to,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    // No catalog there: an error, and no new catalog made.
    let (code, _, err) = backup(s, to);
    assert_eq!(code, 3, "{err}");
    assert!(!dir.path().join("catalog.sqlite").exists());
    assert!(!dir.path().join("x.sqlite").exists());
}
