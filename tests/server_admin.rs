//! The admin pages' API (`/api/users`, `/api/tokens`, `/api/devices`, `/api/storage`) and the
//! web app's page and assets, against the real `callrec-server`: changes need the admin role
//! and the session's CSRF token, each is an entry of the audit trail under the console's
//! action name, and the page carries its strict headers.

mod common;
use common::server::{add_user, Server};
use common::web::{self, Reply};
use common::TempDir;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One request: `method path`, extra header lines `extra` (each starting with CRLF), `body`.
fn send(to: SocketAddr, method: &str, path: &str, extra: &str, body: &str) -> Reply {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1{extra}\r\nHost: {to}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    web::parse(&all).unwrap()
}

const PASSWORD: &str = "a password long enough";

/// A browser's session: its cookie and CSRF token.
struct Session {
    http: SocketAddr,
    cookie: String,
    csrf: String,
}

impl Session {
    fn login(http: SocketAddr, name: &str, password: &str) -> Session {
        let r = send(
            http,
            "POST",
            "/login",
            "\r\nContent-Type: application/x-www-form-urlencoded",
            &format!("user={name}&password={}", password.replace(' ', "+")),
        );
        assert_eq!(r.status, 303, "{}", r.text());
        let secret = r.header("set-cookie").unwrap().split(';').next().unwrap();
        let cookie = format!("\r\nCookie: {secret}");
        let me = send(http, "GET", "/api/me", &cookie, "");
        assert_eq!(me.status, 200);
        let csrf = me.json()["csrf"].as_str().unwrap().to_string();
        Session { http, cookie, csrf }
    }

    fn get(&self, path: &str) -> Reply {
        send(self.http, "GET", path, &self.cookie, "")
    }

    /// A change with the CSRF token and a JSON body.
    fn change(&self, method: &str, path: &str, body: Value) -> Reply {
        let extra = format!(
            "{}\r\nX-CSRF-Token: {}\r\nContent-Type: application/json",
            self.cookie, self.csrf
        );
        send(self.http, method, path, &extra, &body.to_string())
    }
}

/// A finished call of `device`: a few PCMA packets.
fn call(server: &Server, id: &str, device: &str) {
    server.record_call(id, device, "", 20, |_| [0xd5; 160]);
}

#[test]
fn admins_manage_users_tokens_and_devices_and_each_change_is_audited() {
    let dir = TempDir::new("admin-api");
    let server = Server::start(dir.path(), &["--http=127.0.0.1:0"]);
    let http = server.http.unwrap();
    let (code, err) = add_user(
        &server.storage,
        None,
        "root",
        "admin,auditor",
        None,
        PASSWORD,
    );
    assert_eq!(code, 0, "{err}");
    let root = Session::login(http, "root", PASSWORD);

    // Users: a change needs the CSRF token; bad fields are refused with their code.
    let sup = json!({ "name": "sup", "password": PASSWORD, "roles": ["supervisor"], "groups": ["sales"] });
    let no_csrf = send(http, "POST", "/api/users", &root.cookie, &sup.to_string());
    assert_eq!(
        (no_csrf.status, no_csrf.json()["error"].as_str()),
        (403, Some("csrf_token"))
    );
    let r = root.change("POST", "/api/users", sup.clone());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({ "name": "sup", "roles": ["supervisor"], "groups": ["sales"] })
    );
    let again = root.change("POST", "/api/users", sup);
    assert_eq!(
        (again.status, again.json()["error"].as_str()),
        (409, Some("name_taken"))
    );
    let short = root.change(
        "POST",
        "/api/users",
        json!({ "name": "x", "password": "short", "roles": ["auditor"] }),
    );
    assert_eq!(
        (short.status, short.json()["error"].as_str()),
        (400, Some("bad_password"))
    );
    assert!(short.json()["message"].as_str().unwrap().contains("10"));
    let listed = root.get("/api/users").json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(!listed.to_string().contains("argon2"), "no hash is shown");
    // The new supervisor logs in and may not use the admin API.
    let s = Session::login(http, "sup", PASSWORD);
    let refused = s.get("/api/users");
    assert_eq!(
        (refused.status, refused.json()["error"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(s.get("/api/me").json()["groups"], json!(["sales"]));
    // A change of roles is in effect at once; the last admin stays.
    let r = root.change(
        "PUT",
        "/api/users/sup",
        json!({ "roles": ["supervisor", "auditor"] }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        s.get("/api/me").json()["roles"],
        json!(["supervisor", "auditor"])
    );
    let last = root.change("DELETE", "/api/users/root", json!({}));
    assert_eq!(
        (last.status, last.json()["error"].as_str()),
        (409, Some("last_admin"))
    );
    let gone = root.change("DELETE", "/api/users/nobody", json!({}));
    assert_eq!(gone.status, 404);

    // Tokens: shown once, listed without their secret, revoked.
    let r = root.change(
        "POST",
        "/api/tokens",
        json!({ "name": "crm", "roles": ["auditor"] }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let made = r.json();
    let secret = made["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("crt_"));
    let tokens = root.get("/api/tokens");
    assert!(
        !tokens.text().contains(&secret[4..]),
        "the secret is not listed"
    );
    assert_eq!(tokens.json()[0]["state"], "live");
    let bearer = format!("\r\nAuthorization: Bearer {secret}");
    assert_eq!(
        send(http, "GET", "/api/audit?limit=1", &bearer, "").status,
        200
    );
    let beyond = root.change(
        "POST",
        "/api/tokens",
        json!({ "name": "x", "roles": ["supervisor"] }),
    );
    assert_eq!(
        beyond.status,
        403,
        "root is no supervisor: {}",
        beyond.text()
    );
    let id = made["id"].as_str().unwrap();
    assert_eq!(
        root.change("DELETE", &format!("/api/tokens/{id}"), json!({}))
            .status,
        200
    );
    assert_eq!(
        send(http, "GET", "/api/audit?limit=1", &bearer, "").status,
        401
    );
    assert_eq!(
        root.change("DELETE", &format!("/api/tokens/{id}"), json!({}))
            .status,
        404
    );

    // Devices: added, changed, read, removed; the recordings keep the registry's group.
    let dev = "/api/devices/00%3A15%3A65%3A00%3A00%3A01";
    let r = root.change(
        "PUT",
        dev,
        json!({ "owner": "Anna", "extension": "1001", "group": "sales" }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = root.change("PUT", dev, json!({ "owner": "Anna B", "group": "sales" }));
    assert_eq!(r.status, 200);
    assert_eq!(root.get(dev).json()["owner"], "Anna B");
    assert_eq!(root.get("/api/devices").json().as_array().unwrap().len(), 1);
    let bad = root.change("PUT", dev, json!({ "owner": "" }));
    assert_eq!(
        (bad.status, bad.json()["error"].as_str()),
        (400, Some("bad_device"))
    );
    // The registry reaches the server within a second.
    std::thread::sleep(Duration::from_millis(1500));
    call(&server, "a1", "00:15:65:00:00:01");
    assert_eq!(root.change("DELETE", dev, json!({})).status, 200);
    assert_eq!(root.change("DELETE", dev, json!({})).status, 404);

    // The storage.
    let st = common::server::Server::wait(|| {
        let st = root.get("/api/storage").json();
        (st["recordings"] == 1).then_some(st)
    })
    .expect("the call in the catalog");
    assert!(st["free_bytes"].as_u64().unwrap() > 0, "{st}");
    assert!(st["oldest_start_ms"].as_u64().unwrap() > 0);
    let rid = st["oldest_rid"].as_str().unwrap().to_string();
    assert_eq!(
        root.get(&format!("/api/recordings/{rid}")).json()["group"],
        "sales"
    );

    // Every change is an entry by root, under the console's action name.
    let trail = root.get("/api/audit?who=root&limit=1000").json();
    let actions: Vec<&str> = trail["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .filter(|a| !matches!(*a, "login" | "search"))
        .collect();
    assert_eq!(
        actions,
        [
            "user_add",
            "user_change",
            "token_add",
            "token_revoke",
            "device_add",
            "device_change",
            "device_remove"
        ],
        "{trail}"
    );
    let (code, out, err) = common::server::console(
        "audit",
        &["verify", "--storage", server.storage.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_app_page_and_its_assets_carry_strict_headers() {
    let dir = TempDir::new("admin-page");
    let server = Server::start(dir.path(), &["--http=127.0.0.1:0"]);
    let http = server.http.unwrap();
    let (code, err) = add_user(&server.storage, None, "sup", "supervisor", None, PASSWORD);
    assert_eq!(code, 0, "{err}");
    // Not logged in: to the login page, which is styled by the app's stylesheet.
    let r = send(http, "GET", "/", "", "");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));
    let login = send(http, "GET", "/login", "", "");
    let html = login.text();
    let css = html
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(
        css.starts_with("/assets/app.") && css.ends_with(".css"),
        "{html}"
    );
    let s = Session::login(http, "sup", PASSWORD);
    let page = s.get("/");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    let js = page
        .text()
        .split("<script src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // The assets need no session and are cached for good; other names are 404.
    for (path, kind) in [(&js, "text/javascript"), (&css, "text/css")] {
        let a = send(http, "GET", path, "", "");
        assert_eq!(a.status, 200, "{path}");
        assert!(a.header("content-type").unwrap().starts_with(kind));
        assert_eq!(
            a.header("cache-control"),
            Some("max-age=31536000, immutable")
        );
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    }
    assert_eq!(send(http, "GET", "/assets/app.js", "", "").status, 404);
    // Audio is never stored by the browser.
    call(&server, "a1", "00:15:65:00:00:02");
    let rows = common::server::Server::wait(|| {
        let v = s.get("/api/recordings").json();
        (v.as_array().unwrap().len() == 1).then_some(v)
    })
    .unwrap();
    let audio = s.get(rows[0]["audio_url"].as_str().unwrap());
    assert_eq!(
        (audio.status, audio.header("cache-control")),
        (200, Some("no-store"))
    );
}
