//! The record server's storage and logs under pressure, against the real `callrec-server`: a
//! second server on the same storage is refused and names the first (whose live session goes
//! on untouched), a flood of bad control lines leaves a log of a few lines and one summary, and
//! (peers tier: root, a tmpfs in a mount namespace of the server's own) a real small file system
//! filled while sessions record: new sessions refused `storage_full`, the running ones ended
//! cleanly with their final sidecar and catalog row, and a final sidecar that the full storage
//! refused written once space is back, so nothing stays in progress.

mod common;
use common::server::{get, Conn, Server};
use common::{Sender, TempDir};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start_line(id: &str) -> String {
    format!(
        "cmd=RecordStartRequest&id={id}&device=00:15:65:AA:BB:CC&remote_number=1002\
         &local_number=1001&dir=in&codec=PCMA\n"
    )
}

fn stop_line(id: &str) -> String {
    format!("cmd=RecordStopRequest&id={id}&reason=user\n")
}

/// Starts session `id`; returns its connection and where its RTP goes, or the failed answer.
fn start(server: &Server, id: &str) -> Result<(Conn, SocketAddr), String> {
    let mut c = server.connect();
    c.send(start_line(id).as_bytes());
    let resp = c.line();
    if get(&resp, "result") != Some("success") {
        return Err(resp);
    }
    let to = format!(
        "{}:{}",
        get(&resp, "server").unwrap(),
        get(&resp, "port").unwrap()
    );
    Ok((c, to.parse().unwrap()))
}

/// The sidecar of session `id`.
fn sidecar(server: &Server, id: &str) -> serde_json::Value {
    server
        .sidecars()
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no sidecar for {id}"))
}

/// Waits for `child` to exit (at most `limit`); kills it and fails if it does not.
fn exit_of(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_server_on_the_same_storage_is_refused_and_names_the_first() {
    let dir = TempDir::new("srv-lock");
    let first = Server::start(dir.path(), &[]);
    let (mut live, rtp) = start(&first, "live1").unwrap();
    let phone = Sender::new(rtp);
    for seq in 0..50u16 {
        phone.send(seq, u32::from(seq) * 160, &[0x5A; 160]);
    }
    let lock = first.storage.join(".callrec-server.lock");
    let pid = first.child.id();
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), format!("{pid}\n"));

    let mut second = Command::new(common::bins::server())
        .args(["--listen", "127.0.0.1:0", "--storage"])
        .arg(&first.storage)
        .env("CALLREC_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exit_of(&mut second, Duration::from_secs(30));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("is in use by another callrec-server") && err.contains(&format!("pid {pid}")),
        "{err}"
    );
    // It stopped before the catalog and the recovery: nothing about them in its log.
    assert!(!err.contains("catalog"), "{err}");

    // The first's live session is as it was, and ends as its phone says.
    assert!(sidecar(&first, "live1")["stop_reason"].is_null());
    for seq in 50..100u16 {
        phone.send(seq, u32::from(seq) * 160, &[0x5A; 160]);
    }
    live.send(stop_line("live1").as_bytes());
    assert_eq!(get(&live.line(), "result"), Some("success"));
    let sc = sidecar(&first, "live1");
    assert_eq!(sc["stop_reason"], "user");
    assert_eq!(sc["duration_ms"], 2000);
    assert_eq!(first.sidecars().len(), 1);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(!log.contains("server restart"), "{log}");
    // The lock still names the first.
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), format!("{pid}\n"));
}

#[test]
fn a_flood_of_bad_lines_leaves_a_few_log_lines_and_one_summary() {
    let dir = TempDir::new("srv-flood-log");
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let empty = "\n".repeat(10_000);
    let unknown = "cmd=Nonsense&id=x\n".repeat(5_000);
    for _ in 0..20 {
        c.send(empty.as_bytes());
        c.send(unknown.as_bytes());
    }
    // Lines are handled in order: the start's answer comes after all 300,000.
    c.send(start_line("after-flood").as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));
    c.send(stop_line("after-flood").as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));

    let log_path = dir.path().join("server.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let bad = log
        .lines()
        .filter(|l| l.contains("bad control line"))
        .count();
    assert!((1..=10).contains(&bad), "{bad} lines:\n{log}");
    assert!(log.len() < 16 * 1024, "{} bytes of log", log.len());
    // The rest is summed up in one line once the interval (10 s) is over.
    let until = Instant::now() + Duration::from_secs(30);
    let summary = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if let Some(l) = log.lines().find(|l| l.contains("bad control lines: …")) {
            break l.to_owned();
        }
        assert!(Instant::now() < until, "no summary:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let told = 300_000 - bad;
    assert!(
        summary.ends_with(&format!("… and {told} more in the last 10 s")),
        "{summary}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.len() < 16 * 1024, "{} bytes of log", log.len());
}

/// RTP at the phone's pace (one 20 ms packet every 20 ms) until dropped.
#[cfg(feature = "peers")]
struct Phone {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(feature = "peers")]
impl Phone {
    fn new(to: SocketAddr) -> Phone {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let s = Sender::new(to);
            let begin = Instant::now();
            let mut seq: u16 = 0;
            while !flag.load(Ordering::Relaxed) {
                s.send(seq, u32::from(seq) * 160, &[0x5A; 160]);
                seq = seq.wrapping_add(1);
                let next = begin + Duration::from_millis(20) * u32::from(seq);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        Phone {
            stop,
            thread: Some(thread),
        }
    }
}

#[cfg(feature = "peers")]
impl Drop for Phone {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The catalog's rows through the HTTP API, once `ready` holds for them (the catalog is
/// written behind the sidecars), at most 20 s.
#[cfg(feature = "peers")]
fn rows_when(
    server: &Server,
    ready: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let client = common::web::Client::new(server.http.unwrap());
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = client.get("/api/recordings");
        assert_eq!(r.status, 200, "{}", r.text());
        let rows = r.json().as_array().unwrap().clone();
        if ready(&rows) || Instant::now() > until {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(feature = "peers")]
fn free_of(server: &Server) -> u64 {
    callrec_platform::store::fs::free_bytes(&server.storage).unwrap()
}

#[cfg(feature = "peers")]
fn log_of(dir: &TempDir) -> String {
    std::fs::read_to_string(dir.path().join("server.log")).unwrap()
}

#[cfg(feature = "peers")]
#[test]
fn a_storage_filled_while_sessions_record_refuses_new_ones_and_ends_the_running_ones_cleanly() {
    let dir = TempDir::new("srv-fill");
    let server = Server::start_on_tmpfs(
        dir.path(),
        "8m",
        &["--reserve", "2", "--http", "127.0.0.1:0"],
    );
    let (mut a, rtp_a) = start(&server, "fills").unwrap();
    let (mut b, rtp_b) = start(&server, "records").unwrap();
    let phone_a = Phone::new(rtp_a);
    let phone_b = Phone::new(rtp_b);
    // Once both files are open (and their catalog rows written), everything but the reserve
    // and 128 KiB is taken by another file; the two calls' audio (8 kB/s each) takes the rest.
    std::thread::sleep(Duration::from_millis(1500));
    let reserve = 2 * 1024 * 1024;
    let filler = server.storage.join("filler");
    let free = free_of(&server);
    assert!(free > reserve + 1024 * 1024, "{free}");
    std::fs::write(&filler, vec![0u8; (free - reserve - 128 * 1024) as usize]).unwrap();

    // Both sessions end by themselves, without a stop from their phones.
    assert!(a.closed_within(Duration::from_secs(30)), "{}", log_of(&dir));
    assert!(b.closed_within(Duration::from_secs(30)), "{}", log_of(&dir));
    drop((phone_a, phone_b));
    // While full, a new session is refused with the stable reason.
    let refused = start(&server, "late").map(|_| ()).unwrap_err();
    assert_eq!(get(&refused, "result"), Some("failed"), "{refused}");
    assert_eq!(get(&refused, "reason"), Some("storage_full"), "{refused}");

    // Their sidecars are final, their Record files closed (the header agrees with the data).
    for id in ["fills", "records"] {
        let sc = sidecar(&server, id);
        assert_eq!(sc["stop_reason"], "storage_full", "{sc}");
        assert!(sc["stop_ms"].as_u64().is_some(), "{sc}");
        let ms = sc["duration_ms"].as_u64().unwrap();
        assert!(ms >= 2000, "{sc}");
        let day = server.day_dir();
        let file = day.join(sc["files"][0].as_str().unwrap());
        let i = common::info(&file);
        assert_eq!(i["stale_header"], false, "{i}");
        assert_eq!(i["duration_ms"].as_u64(), Some(ms), "{i}");
    }
    // The storage was never filled to the last byte: nothing failed to be written.
    assert!(free_of(&server) > 0);
    let log = log_of(&dir);
    assert!(!log.contains("No space left"), "{log}");
    assert!(log.contains("below the reserve"), "{log}");

    // The catalog says the same, and nothing is in progress.
    let rows = rows_when(&server, |rows| {
        rows.len() == 2 && rows.iter().all(|r| r["in_progress"] == false)
    });
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r["in_progress"], false, "{r}");
        assert_eq!(r["stop_reason"], "storage_full", "{r}");
    }

    // Once room is made, sessions are taken again.
    std::fs::remove_file(&filler).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let (mut c, _) = loop {
        match start(&server, "after") {
            Ok(x) => break x,
            Err(r) => {
                assert_eq!(get(&r, "reason"), Some("storage_full"), "{r}");
                assert!(Instant::now() < until, "still refused: {r}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };
    c.send(stop_line("after").as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));
}

#[cfg(feature = "peers")]
#[test]
fn a_final_sidecar_the_full_storage_refused_is_written_once_space_is_back() {
    let dir = TempDir::new("srv-fill0");
    let server = Server::start_on_tmpfs(
        dir.path(),
        "8m",
        &["--reserve", "1", "--http", "127.0.0.1:0"],
    );
    let (mut a, rtp) = start(&server, "cut").unwrap();
    let phone = Phone::new(rtp);
    std::thread::sleep(Duration::from_millis(1500)); // a commit or so of audio
                                                     // Another program takes every last byte, faster than the server can look.
    let filler = server.storage.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
    }
    assert!(a.closed_within(Duration::from_secs(30)), "{}", log_of(&dir));
    drop(phone);
    let refused = start(&server, "late").map(|_| ()).unwrap_err();
    assert_eq!(get(&refused, "reason"), Some("storage_full"), "{refused}");
    // The final sidecar could not be written: the recording is still "in progress" for now.
    assert!(sidecar(&server, "cut")["stop_reason"].is_null());
    assert!(log_of(&dir).contains("final sidecar"), "{}", log_of(&dir));

    std::fs::remove_file(&filler).unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let sc = loop {
        let sc = sidecar(&server, "cut");
        if !sc["stop_reason"].is_null() {
            break sc;
        }
        assert!(
            Instant::now() < until,
            "never finished: {sc}\n{}",
            log_of(&dir)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let reason = sc["stop_reason"].as_str().unwrap();
    // The watcher saw the storage full first, or the session's own write failed first.
    assert!(
        ["storage_full", "storage failure"].contains(&reason),
        "{sc}"
    );
    assert!(sc["stop_ms"].as_u64().is_some(), "{sc}");
    let rows = rows_when(&server, |rows| {
        rows.iter()
            .all(|r| r["in_progress"] == false && r["stop_reason"] == reason)
    });
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["in_progress"], false, "{rows:?}");
    assert_eq!(rows[0]["stop_reason"], reason, "{rows:?}");
}
