//! The settings page's API through the real agent over HTTP: pages and API closed without a
//! session, login and its slow-down, the factory password, CSRF, each validation error, saves
//! that survive kill -9, recordings with hostile names. (A real browser: tests/web_browser.rs.)

mod common;
use common::web::{Client, Reply};
use common::*;
use serde_json::json;

fn agent(dir: &TempDir, settings: &str) -> Agent {
    Agent::start(&AgentSpec::host(dir.path()).settings(settings))
}

#[test]
fn nothing_but_the_login_page_without_a_session() {
    let dir = TempDir::new("web-closed");
    let agent = agent(&dir, "{}");
    let c = Client::new(agent.http);
    let r = c.get("/");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    for public in ["/login", "/login.js", "/style.css"] {
        assert_eq!(c.get(public).status, 200, "{public}");
    }
    for closed in [
        "/app.js",
        "/api/status",
        "/api/settings",
        "/api/recordings",
        "/api/session",
    ] {
        let r = c.get(closed);
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "login_required"),
            "{closed}"
        );
    }
    let r = c.send("PUT", "/api/settings", Some(&json!({"mode": "network"})));
    assert_eq!(r.status, 401);
    let r = c.get("/login");
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    // Kept gzipped: a client that does not take gzip is told so.
    let plain = c.raw(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((plain.status, plain.code().as_str()), (406, "gzip_only"));
    for h in [
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
    ] {
        assert!(r.header(h).is_some(), "{h}");
    }
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn login_slows_down_after_failures_and_the_factory_password_must_be_changed() {
    let dir = TempDir::new("web-login");
    let first = agent(&dir, "{}");
    let mut c = Client::new(first.http);
    let r = c.login("admin", "guess");
    assert_eq!((r.status, r.code().as_str()), (401, "bad_login"));
    let r = c.login("admin", "admin");
    assert_eq!((r.status, r.code().as_str()), (429, "slow_down"));
    assert_eq!(r.header("retry-after"), Some("1"));
    // The wait doubles up to a minute (web::auth's tests run that in simulated time); the
    // factory password, on an agent with no failed login behind it.
    drop(first);
    let dir = TempDir::new("web-login-factory");
    let fresh = agent(&dir, "{}");
    let mut c = Client::new(fresh.http);
    let r = c.login("admin", "admin");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["must_change_password"], true);
    let cookie = r.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // Until the password is changed, nothing else.
    let r = c.get("/api/status");
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "password_change_required")
    );
    assert_eq!(c.get("/api/session").json()["must_change_password"], true);
    // The change needs the CSRF token and JSON, and a real password.
    let no_csrf = Client {
        csrf: None,
        ..c.clone()
    };
    let r = no_csrf.send(
        "POST",
        "/api/password",
        Some(&json!({"current":"admin","new":"new-secret-1"})),
    );
    assert_eq!((r.status, r.code().as_str()), (403, "csrf"));
    let r = c.raw(
        format!(
            "POST /api/password HTTP/1.1\r\nHost: x\r\nCookie: callrec_session={}\r\nX-CSRF-Token: {}\r\n\
             Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{{}}",
            c.cookie.as_ref().unwrap(),
            c.csrf.as_ref().unwrap()
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 415);
    let r = c.send(
        "POST",
        "/api/password",
        Some(&json!({"current":"admin","new":"short"})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["fields"]["new"],
        "use 8 to 128 characters"
    );
    let r = c.send(
        "POST",
        "/api/password",
        Some(&json!({"current":"nope","new":"admin"})),
    );
    assert!(r.json()["error"]["fields"]["current"].is_string());
    let r = c.send(
        "POST",
        "/api/password",
        Some(&json!({"current":"admin","new":"new-secret-1"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/api/status").status, 200);
    // Stored hashed beside the settings; the factory password is gone.
    let stored = std::fs::read_to_string(dir.path().join("admin.json")).unwrap();
    assert!(stored.contains("pbkdf2-sha256") && !stored.contains("new-secret-1"));
    let mut other = Client::new(fresh.http);
    assert_eq!(other.login("admin", "admin").status, 401);
    // Logout ends the session.
    assert_eq!(c.send("POST", "/api/logout", None).status, 200);
    assert_eq!(c.get("/api/status").status, 401);
}

#[test]
fn every_bad_field_is_named_and_a_good_save_applies_live() {
    let dir = TempDir::new("web-settings");
    let spec = AgentSpec::host(dir.path()).settings("{}");
    let settings_file = spec.settings.clone().unwrap();
    let agent = Agent::start(&spec);
    let mut c = Client::new(agent.http);
    c.first_login("correct horse");
    let view = c.get("/api/settings").json();
    assert_eq!(view["settings"]["mode"], "local");
    assert_eq!(view["modes"][0]["enabled"], true);
    let cases = [
        (
            json!({"server_address": "999.1.1.1"}),
            "server_address",
            "not an IP address",
        ),
        (
            json!({"mode": "network", "server_address": ""}),
            "server_address",
            "needs",
        ),
        (json!({"server_port": 70000}), "server_port", "1 to 65535"),
        (json!({"server_port": "http"}), "server_port", "1 to 65535"),
        (json!({"codec": "G729"}), "codec", "PCMA, PCMU or G722"),
        (
            json!({"size_limit_bytes": 4294967296u64}),
            "size_limit_bytes",
            "FAT32",
        ),
        (json!({"reserve_bytes": -1}), "reserve_bytes", "0 to"),
        (json!({"tone_interval_s": 5}), "tone_interval_s", "10 to 90"),
        (
            json!({"mode": "cloud"}),
            "mode",
            "local, network or SIP INFO",
        ),
        (json!({"policy": "sometimes"}), "policy", "never"),
        (json!({"enabled": "yes"}), "enabled", "true or false"),
        (
            json!({"pause_on_hold": 1}),
            "pause_on_hold",
            "true or false",
        ),
        (json!({"root": true}), "root", "not a setting"),
    ];
    for (body, field, words) in &cases {
        let r = c.send("PUT", "/api/settings", Some(body));
        assert_eq!((r.status, r.code().as_str()), (400, "invalid"), "{body}");
        let message = r.json()["error"]["fields"][field]
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert!(message.contains(words), "{body}: {message}");
    }
    // All at once, each with its own message.
    let r = c.send(
        "PUT",
        "/api/settings",
        Some(&json!({"server_port": 0, "codec": "x", "tone_interval_s": 99})),
    );
    assert_eq!(r.json()["error"]["fields"].as_object().unwrap().len(), 3);
    // Not JSON; CSRF missing or wrong.
    let r = c.raw(format!(
        "PUT /api/settings HTTP/1.1\r\nHost: x\r\nCookie: callrec_session={}\r\nX-CSRF-Token: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 4\r\n\r\n{{nop",
        c.cookie.as_ref().unwrap(), c.csrf.as_ref().unwrap()).as_bytes());
    assert_eq!(r.status, 400);
    let wrong = Client {
        csrf: Some("0".repeat(32)),
        ..c.clone()
    };
    assert_eq!(
        wrong
            .send("PUT", "/api/settings", Some(&json!({"tone": true})))
            .code(),
        "csrf"
    );
    // Nothing of that reached the file.
    let before = std::fs::read_to_string(&settings_file).unwrap();
    assert_eq!(before, "{}");
    // A good save: written atomically, applied at once (no recording runs).
    let r = c.send("PUT", "/api/settings", Some(&json!({"mode":"network","server_address":"192.0.2.7","server_port":"5070","codec":"G722"})));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (
            v["applied"].as_bool(),
            v["settings"]["server_port"].as_u64()
        ),
        (Some(true), Some(5070))
    );
    let st = agent.status();
    assert_eq!(
        (st.mode.as_str(), st.server.as_deref()),
        ("network", Some("192.0.2.7:5070"))
    );
    let on_disk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_file).unwrap()).unwrap();
    assert_eq!(on_disk["codec"], "G722");
    assert!(!dir.path().join("settings.json.tmp").exists());
}

#[test]
fn a_save_during_a_recording_waits_for_its_end() {
    let dir = TempDir::new("web-pending");
    let agent = agent(&dir, "{}");
    let mut c = Client::new(agent.http);
    c.first_login("correct horse");
    agent.ok("start");
    let r = c.send("PUT", "/api/settings", Some(&json!({"policy": "always"})));
    let v = r.json();
    assert_eq!(
        (v["applied"].as_bool(), v["pending"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(
        c.get("/api/settings").json()["settings"]["policy"],
        "always"
    );
    assert_eq!(agent.status().policy, "on_demand");
    agent.ok("stop");
    assert_eq!(agent.status().policy, "always");
}

#[test]
fn a_kill_during_saves_never_leaves_a_broken_settings_file() {
    let dir = TempDir::new("web-kill");
    let spec = AgentSpec::host(dir.path()).settings("{}");
    let file = spec.settings.clone().unwrap();
    let mut total_saves = 0;
    for round in 0..12u64 {
        let mut agent = Agent::start(&spec);
        let mut c = Client::new(agent.http);
        if round == 0 {
            c.first_login("correct horse");
        } else {
            assert_eq!(c.login("admin", "correct horse").status, 200);
        }
        // Saves as fast as they come, while the agent is killed at a moment that moves
        // from round to round.
        let saver = {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let body =
                        json!({"tone_interval_s": 10 + (i % 80), "server_port": 1000 + i % 60000});
                    // Ends when the agent is gone.
                    match c.try_send("PUT", "/api/settings", Some(&body)) {
                        Ok(r) if r.status == 200 => {}
                        _ => return i,
                    }
                }
                0
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20 + round * 7));
        agent.kill9();
        let saves = saver.join().unwrap();
        total_saves += saves;
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = callrec::config::settings::Settings::load(&file);
        assert!(
            parsed.is_ok(),
            "round {round} after {saves} saves: {text:?}"
        );
    }
    // The kills landed in a stream of saves, not before the first one.
    assert!(total_saves > 0, "no save completed in any round");
}

fn recording_on_stick(agent: &Agent) {
    agent.ok("start");
    let s = Sender::new(agent.tap);
    for seq in 0..25u16 {
        s.send(seq, u32::from(seq) * 160, &[0x42; 160]);
    }
    agent.ok("stop");
}

#[test]
fn recordings_list_download_and_delete_and_hostile_names_are_refused() {
    let dir = TempDir::new("web-recordings");
    let spec = AgentSpec::host(dir.path());
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    recording_on_stick(&agent);
    let mut c = Client::new(agent.http);
    c.first_login("correct horse");
    let list = c.get("/api/recordings").json();
    let name = list["recordings"][0]["name"].as_str().unwrap().to_owned();
    assert_eq!(list["recordings"][0]["duration_ms"], 500);
    let original = c.get(&format!("/api/recordings/{name}"));
    assert_eq!(original.status, 200);
    assert_eq!(original.body, std::fs::read(stick.join(&name)).unwrap());
    assert!(original
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let wav = c.get(&format!("/api/recordings/{name}/wav"));
    assert_eq!((wav.status, &wav.body[..4]), (200, &b"RIFF"[..]));
    assert_eq!(wav.body.len(), 44 + 2 * 4000);
    for hostile in [
        "/api/recordings/..%2f..%2fetc%2fpasswd",
        "/api/recordings/../../etc/passwd",
        "/api/recordings/Record_x.wav",
        "/api/recordings/%00",
        "/api/recordings/Record_20261121_101500.wav%2f..",
        "/api/recordings/settings.json",
    ] {
        let r = c.get(hostile);
        assert!(
            r.status == 400 || r.status == 404,
            "{hostile}: {}",
            r.status
        );
        let d = c.send("DELETE", hostile, None);
        assert!(
            d.status == 400 || d.status == 404,
            "{hostile}: {}",
            d.status
        );
    }
    assert!(stick.join(&name).exists());
    // Delete needs the CSRF token; then it goes.
    let no_csrf = Client {
        csrf: None,
        ..c.clone()
    };
    assert_eq!(
        no_csrf
            .send("DELETE", &format!("/api/recordings/{name}"), None)
            .status,
        403
    );
    assert_eq!(
        c.send("DELETE", &format!("/api/recordings/{name}"), None)
            .status,
        200
    );
    assert!(!stick.join(&name).exists());
    assert_eq!(
        c.send("DELETE", &format!("/api/recordings/{name}"), None)
            .status,
        404
    );
}

#[test]
fn the_file_being_written_cannot_be_deleted() {
    let dir = TempDir::new("web-busy-file");
    let agent = agent(&dir, "{}");
    let mut c = Client::new(agent.http);
    c.first_login("correct horse");
    agent.ok("start");
    let s = Sender::new(agent.tap);
    for seq in 0..10u16 {
        s.send(seq, u32::from(seq) * 160, &[0x42; 160]);
    }
    let file = agent.status().file.unwrap();
    let r: Reply = c.send("DELETE", &format!("/api/recordings/{file}"), None);
    assert_eq!((r.status, r.code().as_str()), (409, "recording"));
    let list = c.get("/api/recordings").json();
    assert_eq!(list["recordings"][0]["recording"], true);
}
