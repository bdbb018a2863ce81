//! The audit trail of the web side, against the real `callrec-server` on loopback: logins
//! (failed and good), searches with their filters and logouts are entries; `GET /api/audit`
//! answers auditors only, as JSON pages or CSV, and the trail verifies beside the running
//! server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_callrec-server");
const PASSWORD: &str = "correct horse battery staple";

fn storage(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("callrec-audit-http-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A console command with `input` on stdin: exit code, stdout, stderr.
fn console(dir: &Path, args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--storage")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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

struct Server {
    child: Child,
    http: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Server {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--rtp-ports", "47000-47099", "--storage"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap_or_else(|| panic!("no http= in {line:?}"))
        .parse()
        .unwrap();
    Server { child, http }
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

fn request(s: &Server, method: &str, path: &str, headers: &[&String], body: &str) -> Reply {
    let mut c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        s.http
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    c.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn login(s: &Server, user: &str, password: &str) -> Reply {
    let body = format!("user={user}&password={}", password.replace(' ', "+"));
    request(s, "POST", "/login", &[], &body)
}

fn entries(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["entries"].as_array().unwrap().clone()
}

#[test]
fn logins_searches_and_logouts_are_entries_the_auditor_reads() {
    let dir = storage("trail");
    let pw = format!("{PASSWORD}\n");
    for args in [
        &[
            "user",
            "add",
            "root",
            "--role",
            "admin,supervisor,auditor",
            "--password-stdin",
        ][..],
        &[
            "user",
            "add",
            "sup",
            "--role",
            "supervisor",
            "--groups",
            "Sales",
            "--password-stdin",
        ],
    ] {
        let (code, _, err) = console(&dir, args, &pw);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let (code, token, err) = console(
        &dir,
        &[
            "token", "add", "--by", "root", "--name", "audit", "--role", "auditor",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let auditor = format!("Authorization: Bearer {}", token.trim());
    let s = start(&dir);

    assert_eq!(login(&s, "sup", "wrong password!").status, 401);
    let good = login(&s, "sup", PASSWORD);
    assert_eq!(good.status, 303, "{}", good.head);
    let cookie = good.header("set-cookie").unwrap();
    let cookie = format!("Cookie: {}", cookie.split(';').next().unwrap());
    let r = request(
        &s,
        "GET",
        "/api/recordings?number=%2B49&dir=in",
        &[&cookie],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // A supervisor is no auditor.
    let r = request(&s, "GET", "/api/audit", &[&cookie], "");
    assert_eq!(r.status, 403, "{}", r.body);
    // Logging out takes the page's CSRF token.
    let page = request(&s, "GET", "/plain", &[&cookie], "");
    assert_eq!(page.status, 200);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page's logout form")
        .to_string();
    let out = request(&s, "POST", "/logout", &[&cookie], &format!("csrf={csrf}"));
    assert_eq!(out.status, 303, "{}", out.body);

    let r = request(&s, "GET", "/api/audit", &[&auditor], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let all = entries(&v);
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    // The console's user and token entries, then the web side's.
    assert_eq!(
        actions,
        [
            "user_add",
            "user_add",
            "token_add",
            "login_failed",
            "login",
            "search",
            "search",
            "logout"
        ]
    );
    assert_eq!(all[3]["who"], "sup");
    assert_eq!(all[3]["from"], "127.0.0.1");
    assert_eq!(all[4]["who"], "sup");
    assert_eq!(all[5]["what"]["filters"]["number"], "+49");
    assert_eq!(all[5]["what"]["filters"]["dir"], "in");
    assert_eq!(v["next"], serde_json::Value::Null);
    // Filters and pages.
    let r = request(
        &s,
        "GET",
        "/api/audit?action=search&limit=1",
        &[&auditor],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(entries(&v).len(), 1);
    let next = v["next"].as_u64().unwrap();
    let r = request(
        &s,
        "GET",
        &format!("/api/audit?action=search&limit=1&after={next}"),
        &[&auditor],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(entries(&v).len(), 1);
    assert_eq!(v["next"], serde_json::Value::Null);
    let r = request(&s, "GET", "/api/audit?action=nap", &[&auditor], "");
    assert_eq!(r.status, 400);
    // CSV, as an attachment.
    let r = request(&s, "GET", "/api/audit?format=csv&who=sup", &[&auditor], "");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    assert!(r
        .body
        .starts_with("seq,time_utc,ms,who,from,action,rid,what,prev,hash\r\n"));
    assert_eq!(r.body.matches("\r\n").count(), 1 + 5, "{}", r.body);
    // A recording's own history: none of a recording that does not exist.
    let r = request(
        &s,
        "GET",
        "/api/recordings/2026-11-21_20261121_080000_1/audit",
        &[&auditor],
        "",
    );
    assert_eq!(r.status, 404, "{}", r.body);
    // Nothing without authentication.
    assert_eq!(request(&s, "GET", "/api/audit", &[], "").status, 401);
    // The trail holds, beside the running server.
    let (code, out, err) = console(&dir, &["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn what_cannot_be_audited_is_not_done() {
    let dir = storage("closed");
    let pw = format!("{PASSWORD}\n");
    let args = [
        "user",
        "add",
        "sup",
        "--role",
        "supervisor",
        "--password-stdin",
    ];
    assert_eq!(console(&dir, &args, &pw).0, 0);
    let s = start(&dir);
    let good = login(&s, "sup", PASSWORD);
    assert_eq!(good.status, 303);
    let cookie = good.header("set-cookie").unwrap();
    let cookie = format!("Cookie: {}", cookie.split(';').next().unwrap());
    assert_eq!(
        request(&s, "GET", "/api/recordings", &[&cookie], "").status,
        200
    );
    // The trail refuses every append from now on (as a full disk or a broken database would).
    let db = rusqlite::Connection::open(dir.join("catalog.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let r = request(&s, "GET", "/api/recordings?number=1", &[&cookie], "");
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("audit trail"), "{}", r.body);
    // No session without its login entry.
    let again = login(&s, "sup", PASSWORD);
    assert_eq!(again.status, 503, "{}", again.body);
    assert!(again.header("set-cookie").is_none());
    db.execute_batch("DROP TRIGGER refuse;").unwrap();
    assert_eq!(
        request(&s, "GET", "/api/recordings", &[&cookie], "").status,
        200
    );
    let (code, out, _) = console(&dir, &["audit", "verify"], "");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn listens_and_downloads_are_entries_of_their_recording_once_per_play() {
    let dir = storage("listen");
    // Four recordings, as the server writes them (call 4's device is in group Sales).
    let store = callrec_server::store::Store::open(&dir).unwrap();
    let rids = common::suite::fill(&store, 4);
    drop(store);
    let pw = format!("{PASSWORD}\n");
    for args in [
        &[
            "user",
            "add",
            "root",
            "--role",
            "admin,auditor",
            "--password-stdin",
        ][..],
        &[
            "user",
            "add",
            "sup",
            "--role",
            "supervisor",
            "--groups",
            "Sales",
            "--password-stdin",
        ],
    ] {
        assert_eq!(console(&dir, args, &pw).0, 0, "{args:?}");
    }
    let s = start(&dir);
    let good = login(&s, "sup", PASSWORD);
    let cookie = good.header("set-cookie").unwrap();
    let cookie = format!("Cookie: {}", cookie.split(';').next().unwrap());
    let rid = &rids[3];
    let wav = format!("/recordings/{rid}/audio.wav");
    // A HEAD is sent no audio: no entry.
    for path in ["audio.wav", "download.wav"] {
        let r = request(
            &s,
            "HEAD",
            &format!("/recordings/{rid}/{path}"),
            &[&cookie],
            "",
        );
        assert_eq!((r.status, r.body.as_str()), (200, ""), "HEAD {path}");
    }
    request(&s, "GET", &wav, &[&cookie], "");
    // The player's next ranges are the same listen; a new play from byte 0 is another.
    let later = "Range: bytes=100-".to_string();
    request(&s, "GET", &wav, &[&cookie, &later], "");
    let first = "Range: bytes=0-".to_string();
    request(&s, "GET", &wav, &[&cookie, &first], "");
    request(
        &s,
        "GET",
        &format!("/recordings/{rid}/download.wav"),
        &[&cookie],
        "",
    );
    request(
        &s,
        "GET",
        &format!("/recordings/{rid}/original/1"),
        &[&cookie],
        "",
    );
    // Outside the scope: no recording, no entry.
    let other = format!("/recordings/{}/audio.wav", rids[0]);
    assert_eq!(request(&s, "GET", &other, &[&cookie], "").status, 404);

    let history = format!("/api/recordings/{rid}/audit");
    let r = request(&s, "GET", &history, &[&cookie], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let got: Vec<(String, String)> = entries(&v)
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["what"]["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("listen", "audio.wav"),
        ("listen", "audio.wav"),
        ("download", "download.wav"),
        ("download", "original"),
    ];
    assert_eq!(
        got,
        want.map(|(a, f)| (a.to_string(), f.to_string())).to_vec()
    );
    assert!(entries(&v)
        .iter()
        .all(|e| e["rid"] == rid.as_str() && e["who"] == "sup"));
    // Another group's recording has no history for this supervisor.
    let theirs = format!("/api/recordings/{}/audit", rids[0]);
    assert_eq!(request(&s, "GET", &theirs, &[&cookie], "").status, 404);
}
