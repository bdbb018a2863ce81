//! Retention and legal hold against the real `callrec-server`: a call recorded through the
//! protocol, then the same server restarted on a store that also holds recordings of weeks
//! and a year ago (sidecars and Record files written as the server writes them, imported at the
//! start). Over HTTP on loopback: a retention's dry run counts what it would delete, applied it
//! lets the running sweep take exactly those (files, sidecar, row; a `disposal` entry each,
//! `audit verify` holding); recordings held one by one or by a search are kept; an admin's
//! delete is refused while held (409 on_hold) and done after the release, with a reason; a
//! supervisor outside the recording's scope gets 404, an auditor can neither hold nor delete.
//! The console's `retention`, `hold` and `delete` do the same beside the running server.

mod common;
use common::server::{add_token, add_user, console, get, Server};
use common::TempDir;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const DAY_MS: u64 = 86_400_000;
const PASSWORD: &str = "a password long enough";

struct Reply {
    status: u16,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One request with `extra` header lines (each ending in CRLF) and a JSON body.
fn request(to: SocketAddr, method: &str, path: &str, extra: &str, body: Option<Value>) -> Reply {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\n{extra}Connection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&all[9..12]).unwrap().parse().unwrap();
    Reply {
        status,
        body: all[end + 4..].to_vec(),
    }
}

fn call_api(to: SocketAddr, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let auth = format!("Authorization: Bearer {token}\r\n");
    request(to, method, path, &auth, body)
}

/// A finished call of `device` recorded through the protocol (a few PCMA packets).
fn call(server: &Server, id: &str, device: &str) {
    let numbers = "&remote_number=1002&local_number=1001";
    server.record_call(id, device, numbers, 20, |_| [0xd5; 160]);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An old recording in the store: the real call's sidecar and Record file copied into the slot
/// `2026-01-DD_202601DD_100000_N`, with its own call id, group and a start `days_ago`.
struct Old {
    rid: String,
    sidecar: PathBuf,
    audio: PathBuf,
}

fn old(storage: &Path, template: &Value, audio: &[u8], n: u32, group: &str, days_ago: u64) -> Old {
    let (day, stem) = (
        format!("2026-01-{:02}", n),
        format!("202601{:02}_100000_{n}", n),
    );
    let dir = storage.join(&day);
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = template.clone();
    let start = now_ms() - days_ago * DAY_MS;
    s["id"] = json!(format!("old-{n}"));
    s["group"] = json!(group);
    s["start_ms"] = json!(start);
    s["stop_ms"] = json!(start + 400);
    s["files"] = json!([format!("{stem}.wav")]);
    s["digests"] = json!({});
    let sidecar = dir.join(format!("{stem}.json"));
    let audio_path = dir.join(format!("{stem}.wav"));
    std::fs::write(&audio_path, audio).unwrap();
    std::fs::write(&sidecar, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    Old {
        rid: format!("{day}_{stem}"),
        sidecar,
        audio: audio_path,
    }
}

/// Polls `f` until it is true, at most 60 s.
fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn retention_sweeps_what_is_due_and_holds_keep_recordings_from_every_delete() {
    let dir = TempDir::new("retention");
    let storage = dir.path().join("recordings");
    std::fs::create_dir_all(&storage).unwrap();
    let s = storage.to_str().unwrap();
    let (code, _, err) = console(
        "device",
        &[
            "add",
            "--storage",
            s,
            "001565000001",
            "--owner",
            "Anna",
            "--group",
            "Sales",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // A call through the protocol: the recent recording, and the template of the old ones.
    let first = Server::start(dir.path(), &["--http", "127.0.0.1:0"]);
    call(&first, "recent", "001565000001");
    let recent_sidecar = until_one_sidecar(&first);
    drop(first);
    let template: Value = serde_json::from_slice(&std::fs::read(&recent_sidecar).unwrap()).unwrap();
    let stem = recent_sidecar
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let day = recent_sidecar
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let recent = format!("{day}_{stem}");
    let audio = std::fs::read(recent_sidecar.with_extension("wav")).unwrap();
    // Sales keeps 30 days, everyone else 365 (below): a1, a2 and c1 are past it; h1 would be,
    // but is held; b1 would be, but is held by a search; d1 (Support, 40 days) is not.
    let a1 = old(&storage, &template, &audio, 1, "Sales", 40);
    let a2 = old(&storage, &template, &audio, 2, "Sales", 31);
    let c1 = old(&storage, &template, &audio, 3, "", 400);
    let h1 = old(&storage, &template, &audio, 4, "Sales", 45);
    let b1 = old(&storage, &template, &audio, 5, "Support", 500);
    let d1 = old(&storage, &template, &audio, 6, "Support", 40);
    let server = Server::start_at(
        &storage,
        dir.path(),
        &["--http", "127.0.0.1:0", "--sweep-every", "1"],
    );
    let http = server.http.unwrap();
    let admin = server.token.clone().unwrap();
    let (code, err) = add_user(
        &storage,
        None,
        "boss",
        "admin,supervisor,auditor",
        None,
        PASSWORD,
    );
    assert_eq!(code, 0, "{err}");
    let sup = add_token(&storage, None, "boss", "supervisor", Some("Support")).unwrap();
    let aud = add_token(&storage, None, "boss", "auditor", None).unwrap();
    let one = |token: &str, rid: &str| {
        call_api(http, token, "GET", &format!("/api/recordings/{rid}"), None)
    };
    for r in [
        &a1.rid, &a2.rid, &c1.rid, &h1.rid, &b1.rid, &d1.rid, &recent,
    ] {
        let v = one(&admin, r);
        assert_eq!(v.status, 200, "{r}");
        // No retention yet: kept for ever, and not held.
        assert_eq!(v.json()["delete_after_ms"], Value::Null, "{r}");
        assert_eq!(v.json()["hold"], Value::Null, "{r}");
    }

    // Holds: one by one (admin), and by a search (the Support supervisor: its scope only).
    let reason = |r: &str| Some(json!({ "reason": r }));
    let hold = |token: &str, rid: &str, body| {
        call_api(
            http,
            token,
            "PUT",
            &format!("/api/recordings/{rid}/hold"),
            body,
        )
    };
    let r = hold(&admin, &h1.rid, reason("case 17"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["hold"]["reason"], "case 17");
    let by = r.json()["hold"]["by"].as_str().unwrap().to_string();
    assert!(by.starts_with("token:"), "{by}");
    assert_eq!(hold(&admin, &h1.rid, None).json()["error"], "bad_body");
    assert_eq!(
        hold(&admin, &h1.rid, reason(" ")).json()["error"],
        "reason_missing"
    );
    // Outside the supervisor's scope the recording does not exist; an auditor may not hold.
    let r = hold(&sup, &a1.rid, reason("x"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(hold(&aud, &d1.rid, reason("x")).status, 403);
    let held_by_search = |token: &str, query: &str| {
        let body = json!({ "query": query, "reason": "case 18" });
        call_api(http, token, "POST", "/api/holds", Some(body))
    };
    let r = held_by_search(&sup, "group=Sales");
    assert_eq!(
        r.json(),
        json!({ "held": 0, "matched": 0 }),
        "outside the scope"
    );
    let r = held_by_search(&sup, "");
    assert_eq!(r.json(), json!({ "held": 2, "matched": 2 }), "b1 and d1");
    assert_eq!(one(&admin, &b1.rid).json()["hold"]["reason"], "case 18");
    assert_eq!(held_by_search(&aud, "").status, 403);

    // The retention: only an admin; a dry run counts, deletes nothing.
    let retention =
        |token: &str, method: &str, body| call_api(http, token, method, "/api/retention", body);
    let r = retention(&admin, "GET", None);
    assert_eq!(r.json(), json!({ "days": null, "groups": {} }));
    let policy = json!({ "days": 365, "groups": { "Sales": 30 }, "dry_run": true });
    assert_eq!(retention(&aud, "PUT", Some(policy.clone())).status, 403);
    assert_eq!(retention(&sup, "PUT", Some(policy.clone())).status, 403);
    let r = retention(&admin, "PUT", Some(policy.clone()));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "would_delete": 3 }), "a1, a2 and c1");
    let r = retention(&admin, "PUT", Some(json!({ "days": 0 })));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("bad_days"))
    );
    // Two sweeps later nothing is gone: a dry run changes nothing.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(one(&admin, &a1.rid).status, 200);
    assert_eq!(retention(&admin, "GET", None).json()["days"], Value::Null);
    // Applied: the sweep takes exactly those three.
    let mut apply = policy.clone();
    apply["dry_run"] = json!(false);
    let r = retention(&admin, "PUT", Some(apply));
    assert_eq!(r.json(), json!({ "applied": true, "would_delete": 3 }));
    for gone in [&a1, &a2, &c1] {
        until(&format!("{} swept", gone.rid), || {
            one(&admin, &gone.rid).status == 404
        });
        assert!(
            !gone.sidecar.exists() && !gone.audio.exists(),
            "{}",
            gone.rid
        );
    }
    for kept in [&h1, &b1, &d1] {
        assert_eq!(one(&admin, &kept.rid).status, 200, "{}", kept.rid);
        assert!(kept.sidecar.exists() && kept.audio.exists(), "{}", kept.rid);
    }
    let v = one(&admin, &recent).json();
    let start = v["start_ms"].as_u64().unwrap();
    assert_eq!(v["delete_after_ms"].as_u64(), Some(start + 30 * DAY_MS));
    assert_eq!(
        one(&admin, &d1.rid).json()["delete_after_ms"],
        Value::Null,
        "held"
    );
    assert_eq!(
        retention(&admin, "GET", None).json(),
        json!({ "days": 365, "groups": { "Sales": 30 } })
    );

    // An admin's delete: refused while held, then done after the release, with a reason.
    let delete = |token: &str, rid: &str, body| {
        call_api(
            http,
            token,
            "DELETE",
            &format!("/api/recordings/{rid}"),
            body,
        )
    };
    let r = delete(&admin, &d1.rid, reason("duplicate"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("on_hold"))
    );
    let r = delete(&admin, &d1.rid, Some(json!({})));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("reason_missing"))
    );
    assert_eq!(delete(&aud, &d1.rid, reason("x")).status, 403);
    assert_eq!(delete(&sup, &d1.rid, reason("x")).status, 403);
    // An admin limited to Support: another group's recording does not exist for it, and the
    // retention (the whole archive's) is not its to read or change.
    let narrow = add_token(&storage, None, "boss", "admin", Some("Support")).unwrap();
    let r = delete(&narrow, &h1.rid, reason("x"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(retention(&narrow, "GET", None).status, 403);
    let release = |token: &str, rid: &str, body| {
        call_api(
            http,
            token,
            "DELETE",
            &format!("/api/recordings/{rid}/hold"),
            body,
        )
    };
    assert_eq!(
        release(&sup, &d1.rid, reason("x")).status,
        403,
        "admins release"
    );
    let r = release(&admin, &d1.rid, reason("case 18 closed"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["hold"], Value::Null);
    let r = release(&admin, &d1.rid, reason("again"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("not_held"))
    );
    let r = delete(&admin, &d1.rid, reason("duplicate of 17"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({ "deleted": d1.rid }));
    assert_eq!(one(&admin, &d1.rid).status, 404);
    assert!(!d1.sidecar.exists() && !d1.audio.exists());

    // A recording in progress is not deleted (nor swept): 409 until it ends.
    let mut live = server.connect();
    live.send(
        b"cmd=RecordStartRequest&id=live&device=001565000001&dir=in&codec=PCMA\
          &remote_number=1003&local_number=1001\n",
    );
    let resp = live.line();
    assert_eq!(get(&resp, "result"), Some("success"), "{resp}");
    let mut live_rid = None;
    until("the live call in the catalog", || {
        let list = call_api(http, &admin, "GET", "/api/recordings?limit=50", None).json();
        live_rid = list
            .as_array()
            .unwrap()
            .iter()
            .find_map(|v| (v["id"] == "live").then(|| v["rid"].as_str().unwrap().to_string()));
        live_rid.is_some()
    });
    let live_rid = live_rid.unwrap();
    let r = delete(&admin, &live_rid, reason("too early"));
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (409, Some("in_progress"))
    );
    live.send(b"cmd=RecordStopRequest&id=live&reason=hangup\n");
    let resp = live.line();
    assert_eq!(get(&resp, "result"), Some("success"), "{resp}");

    // A cookie session's change needs its CSRF token.
    let session = login(http, "boss");
    let cookie = format!("Cookie: callrec_session={session}\r\n");
    let path = format!("/api/recordings/{}/hold", h1.rid);
    let r = request(http, "DELETE", &path, &cookie, reason("no token"));
    assert_eq!(r.status, 403);
    assert_eq!(one(&admin, &h1.rid).json()["hold"]["reason"], "case 17");

    // The console, beside the running server.
    let (code, out, err) = console("retention", &["show", "--storage", s]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("global: 365 days") && out.contains("group Sales: 30 days"),
        "{out}"
    );
    let (code, out, _) = console(
        "retention",
        &["set", "--storage", s, "--days", "1", "--dry-run"],
    );
    assert_eq!(code, 0);
    // The recent call is a few seconds old; h1 and b1 are held.
    assert!(out.contains("would delete 0 recording(s)"), "{out}");
    let (code, _, err) = console(
        "hold",
        &[
            "set",
            "--storage",
            s,
            &recent,
            "--reason",
            "case 19",
            "--by",
            "boss",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = console(
        "delete",
        &["--storage", s, &recent, "--reason", "wrong", "--by", "boss"],
    );
    assert_eq!(code, 1, "refused on hold: {err}");
    assert!(err.contains("legal hold"), "{err}");
    let (code, _, _) = console(
        "delete",
        &["--storage", s, &recent, "--reason", "x", "--by", "nobody"],
    );
    assert_eq!(code, 1, "--by must be an admin");
    let (code, _, err) = console(
        "hold",
        &[
            "release",
            "--storage",
            s,
            &recent,
            "--reason",
            "done",
            "--by",
            "boss",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = console(
        "delete",
        &[
            "--storage",
            s,
            &recent,
            "--reason",
            "test call",
            "--by",
            "boss",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(one(&admin, &recent).status, 404);
    assert!(!recent_sidecar.exists());

    // The trail: a disposal each, by the server; the delete, the holds and the change by who
    // did them; and the chain holds.
    let trail = |q: &str| call_api(http, &aud, "GET", &format!("/api/audit?{q}"), None).json();
    let entries = |v: &Value| v["entries"].as_array().cloned().unwrap_or_default();
    let disposals = entries(&trail("action=disposal"));
    let mut swept: Vec<&str> = disposals
        .iter()
        .map(|e| e["rid"].as_str().unwrap())
        .collect();
    swept.sort();
    let mut expected = vec![a1.rid.as_str(), a2.rid.as_str(), c1.rid.as_str()];
    expected.sort();
    assert_eq!(swept, expected);
    assert!(disposals.iter().all(|e| e["who"] == "server"));
    let deletes = entries(&trail("action=delete"));
    assert_eq!(deletes.len(), 2, "{deletes:?}");
    assert_eq!(deletes[0]["rid"], json!(d1.rid));
    assert_eq!(deletes[0]["who"], json!(by));
    assert!(deletes[0]["what"].to_string().contains("duplicate of 17"));
    assert!(deletes[1]["what"].to_string().contains("boss"));
    let holds = entries(&trail("action=legal_hold"));
    // h1, b1 and d1 (by the search), d1's release, the console's hold and release of the call.
    assert_eq!(holds.len(), 6, "{holds:?}");
    assert_eq!(entries(&trail("action=retention_change")).len(), 1);
    let (code, out, err) = console("audit", &["verify", "--storage", s]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Logs `name` in with a form; the session's secret.
fn login(to: SocketAddr, name: &str) -> String {
    let mut s = TcpStream::connect(to).unwrap();
    let form = format!("user={name}&password={}", PASSWORD.replace(' ', "+"));
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let cookie = all
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: callrec_session="))
        .unwrap_or_else(|| panic!("no session: {all}"));
    cookie.split(';').next().unwrap().to_string()
}

/// The one sidecar of the first server's store, once it says the call stopped.
fn until_one_sidecar(server: &Server) -> PathBuf {
    let mut found = None;
    until("the call's final sidecar", || {
        for day in server.day_dirs() {
            for f in std::fs::read_dir(day).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_some_and(|e| e == "json") {
                    let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                    if !v["stop_ms"].is_null() {
                        found = Some(p);
                        return true;
                    }
                }
            }
        }
        false
    });
    found.unwrap()
}
