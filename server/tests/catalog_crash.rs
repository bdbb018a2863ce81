//! A kill -9 of the real server in the middle of its catalog writes, then a restart: every
//! recording is in the catalog once, nothing lost, nothing twice; and sessions the kill cut off
//! are finished in the catalog as in their sidecars.

mod common;

use callrec_core::record_file::LocalTime;
use callrec_server::store::{update_sidecar, Slot, Store};
use callrec_tools::http::Client;
use common::suite::{sidecar, storage};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROWS: u32 = 20_000;

/// Writes `n` finished recordings' sidecars (one a second from 2026-11-21 00:00 local).
fn fill(root: &Path, n: u32, finished: bool) -> Vec<String> {
    let store = Store::open(root).unwrap();
    (0..n)
        .map(|i| {
            let t = LocalTime {
                year: 2026,
                month: 11,
                day: 21 + (i / 86_400) as u8,
                hour: ((i / 3600) % 24) as u8,
                minute: ((i / 60) % 60) as u8,
                second: (i % 60) as u8,
            };
            let slot = Slot::at(store.root(), &t, 1);
            std::fs::create_dir_all(&slot.dir).unwrap();
            let mut s = sidecar(i + 1, 1_795_248_000_000 + 1000 * u64::from(i));
            if !finished {
                (s.stop_ms, s.stop_reason) = (None, None);
            }
            update_sidecar(&slot, &s).unwrap();
            callrec_server::rid::Rid::of_slot(&slot)
                .unwrap()
                .to_string()
        })
        .collect()
}

/// An API token for the server on `root` (made on its console; the API answers nothing
/// without one).
fn token(root: &Path) -> String {
    let server = Path::new(env!("CARGO_BIN_EXE_callrec-server"));
    callrec_tools::http::console_token(server, root, None, "crash-test").unwrap()
}

/// The server on `root`, and a channel that gets its ready line.
fn spawn(root: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callrec-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--storage",
        ])
        .arg(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    (child, rx)
}

fn http_of(ready: &str) -> SocketAddr {
    let field = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap();
    field.parse().unwrap()
}

/// Every recording the API lists, page by page (by cursor); and the total it announced.
fn listed(http: SocketAddr, token: &str) -> (Vec<String>, u64) {
    let mut client = Client::connect(http).unwrap().with_token(token);
    let (mut rids, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/recordings?limit=5000&cursor={c}"),
            None => "/api/recordings?limit=5000".to_string(),
        };
        let a = client.get(&path).unwrap();
        assert_eq!(a.status, 200);
        let total = a.total.unwrap();
        let page: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        for r in page.as_array().unwrap() {
            rids.push(r["rid"].as_str().unwrap().to_string());
        }
        match a.next {
            Some(next) => cursor = Some(next),
            None => return (rids, total),
        }
    }
}

#[test]
fn a_kill_during_the_import_loses_nothing_and_repeats_nothing() {
    let root = storage("crash-import");
    let mut written = fill(&root, ROWS, true);
    let (mut server, ready) = spawn(&root);
    // Killed once the import has committed something, before it is done (no ready line yet).
    let wal = root.join("catalog.sqlite-wal");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::fs::metadata(&wal).map_or(0, |m| m.len()) < 64 * 1024 {
        assert!(Instant::now() < deadline, "the import never wrote");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        ready.try_recv().is_err(),
        "killed after the import had finished: no test"
    );

    let (mut server, ready) = spawn(&root);
    let line = ready
        .recv_timeout(Duration::from_secs(300))
        .expect("ready after the import");
    let (mut rids, total) = listed(http_of(&line), &token(&root));
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(
        (rids.len() as u64, total),
        (u64::from(ROWS), u64::from(ROWS))
    );
    let unique: HashSet<&String> = rids.iter().collect();
    assert_eq!(unique.len(), rids.len(), "a recording listed twice");
    rids.sort();
    written.sort();
    assert_eq!(rids, written);
}

#[test]
fn sessions_cut_off_by_a_kill_are_finished_once_in_the_catalog() {
    let root = storage("crash-live");
    let cut = fill(&root, 5, false);
    // The first start finishes them (server restart) and is killed at once; the second must
    // find them finished, each once.
    let (mut server, ready) = spawn(&root);
    ready.recv_timeout(Duration::from_secs(60)).expect("ready");
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, ready) = spawn(&root);
    let http = http_of(&ready.recv_timeout(Duration::from_secs(60)).expect("ready"));
    let mut client = Client::connect(http).unwrap().with_token(&token(&root));
    let a = client
        .get("/api/recordings?stop_reason=server+restart")
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    let mut got: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rid"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want: Vec<&str> = cut.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
    let a = client.get("/api/recordings").unwrap();
    assert_eq!(a.total, Some(5));
    server.kill().unwrap();
    let _ = server.wait();
}
