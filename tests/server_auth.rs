//! Who may use the record server's web side, against the real `callrec-server`: accounts and
//! tokens made on its console (`user add`, `token add|revoke`), then every route asked over
//! HTTP/1.1 on loopback. Nothing answers without authentication (503 before the first account,
//! then 401 or a redirect to the login); a supervisor limited to a group neither sees nor counts
//! nor fetches another group's recordings (404); an auditor cannot download; a token cannot be
//! made beyond its admin and stops when revoked; the session cookie carries its flags; a change
//! without the CSRF token is 403; an address that fails too often is slowed, while the admin logs
//! in from another.

mod common;
use common::server::{add_token, add_user, console, Server};
use common::web::{self, Reply};
use common::TempDir;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// One request (`head` without the Host line and the blank line, then `body`) from `from`.
fn send_from(from: Option<&str>, to: SocketAddr, head: &str, body: &str) -> Reply {
    let mut s = match from {
        None => TcpStream::connect(to).unwrap(),
        Some(ip) => {
            let sock =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            let local: SocketAddr = format!("{ip}:0").parse().unwrap();
            sock.bind(&local.into()).unwrap();
            sock.connect(&to.into()).unwrap();
            sock.into()
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!(
        "{head}\r\nHost: {to}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    web::parse(&all).unwrap()
}

fn send(to: SocketAddr, head: &str, body: &str) -> Reply {
    send_from(None, to, head, body)
}

fn get_with(to: SocketAddr, path: &str, auth: &str) -> Reply {
    send(to, &format!("GET {path} HTTP/1.1{auth}"), "")
}

fn bearer(token: &str) -> String {
    format!("\r\nAuthorization: Bearer {token}")
}

fn cookie(session: &str) -> String {
    format!("\r\nCookie: callrec_session={session}")
}

const PASSWORD: &str = "a password long enough";

/// A server with `--http` and no account (the test helper's token is not made: `--http=`).
fn bare(dir: &TempDir) -> (Server, SocketAddr, std::path::PathBuf) {
    let server = Server::start(dir.path(), &["--http=127.0.0.1:0"]);
    let http = server.http.unwrap();
    let storage = server.storage.clone();
    (server, http, storage)
}

fn user(storage: &Path, name: &str, roles: &str, groups: Option<&str>) {
    let (code, err) = add_user(storage, None, name, roles, groups, PASSWORD);
    assert_eq!(code, 0, "{err}");
}

/// Logs `name` in; the session's secret and the cookie header as sent.
fn login(http: SocketAddr, from: Option<&str>, name: &str, password: &str) -> Reply {
    send_from(
        from,
        http,
        "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        &format!("user={name}&password={}", password.replace(' ', "+")),
    )
}

fn session_of(r: &Reply) -> String {
    let c = r
        .header("set-cookie")
        .unwrap_or_else(|| panic!("no cookie: {}", r.status));
    c.split(';')
        .next()
        .unwrap()
        .strip_prefix("callrec_session=")
        .unwrap()
        .to_string()
}

fn call(server: &Server, id: &str, device: &str) {
    let numbers = "&remote_number=1002&local_number=1001";
    server.record_call(id, device, numbers, 20, |_| [0xd5; 160]);
}

/// Every route of the web side but `/healthz` and the login, with a RID that exists.
fn routes(rid: &str) -> Vec<String> {
    vec![
        "/".into(),
        "/plain".into(),
        "/?number=1002".into(),
        "/api/me".into(),
        "/api/users".into(),
        "/api/users/admin".into(),
        "/api/tokens".into(),
        "/api/devices".into(),
        "/api/devices/001565000001".into(),
        "/api/storage".into(),
        "/api/recordings".into(),
        format!("/api/recordings/{rid}"),
        format!("/recordings/{rid}/audio.wav"),
        format!("/recordings/{rid}/download.wav"),
        format!("/recordings/{rid}/original/1"),
        "/nope".into(),
        "/api/nope".into(),
    ]
}

#[test]
fn nothing_answers_without_authentication() {
    let dir = TempDir::new("auth-none");
    let (server, http, storage) = bare(&dir);
    // No account yet: every route, the login included, is 503 and says how to make one.
    for path in routes("2026-01-01_20260101_000000_1")
        .iter()
        .chain(&["/login".to_string()])
    {
        let r = get_with(http, path, "");
        assert_eq!(r.status, 503, "{path}");
        assert!(
            r.text().contains("callrec-server user add"),
            "{path}: {}",
            r.text()
        );
    }
    let r = login(http, None, "admin", PASSWORD);
    assert_eq!(r.status, 503);
    user(&storage, "admin", "admin,supervisor", None);
    call(&server, "c1", "00:15:65:00:00:01");
    let t = add_token(&storage, None, "admin", "admin,supervisor", None).unwrap();
    let rows = get_with(http, "/api/recordings", &bearer(&t)).json();
    let rid = rows[0]["rid"].as_str().unwrap().to_string();
    for path in routes(&rid) {
        // The page's routes go to the login; the API's say 401 with the challenge.
        for auth in ["".to_string(), cookie(&"0".repeat(64)), cookie("junk")] {
            let r = get_with(http, &path, &auth);
            if path.starts_with("/api") {
                assert_eq!(r.status, 401, "{path} {auth:?}");
                assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
                assert_eq!(r.json()["error"], "unauthenticated");
            } else {
                assert_eq!(r.status, 303, "{path} {auth:?}");
                assert_eq!(r.header("location"), Some("/login"));
            }
            assert!(!r.text().contains(&rid[..10]), "{path}: {}", r.text());
        }
        // A wrong token is 401 everywhere.
        for bad in [
            "crt_nope",
            &format!("crt_{}", "0".repeat(64)),
            &t[..t.len() - 1],
        ] {
            let r = get_with(http, &path, &bearer(bad));
            assert_eq!(r.status, 401, "{path} {bad}");
            assert!(r
                .header("www-authenticate")
                .unwrap()
                .contains("invalid_token"));
        }
        // HEAD and other methods as well.
        let r = send(http, &format!("HEAD {path} HTTP/1.1"), "");
        assert!(
            r.status == 303 || r.status == 401,
            "HEAD {path}: {}",
            r.status
        );
        let r = send(http, &format!("DELETE {path} HTTP/1.1"), "");
        assert!(
            r.status == 303 || r.status == 401,
            "DELETE {path}: {}",
            r.status
        );
        // The scheme's name in any case; another scheme is no token.
        let lower = get_with(http, &path, &format!("\r\nAuthorization: bearer {t}"));
        assert!(lower.status != 401 && lower.status != 303, "{path}");
        let basic = get_with(http, &path, "\r\nAuthorization: Basic YWRtaW46eA==");
        assert_eq!(basic.status, 401, "{path}");
        // With the token, the route answers.
        let r = get_with(http, &path, &bearer(&t));
        assert!(r.status != 401 && r.status != 303, "{path}: {}", r.status);
    }
    // The login page itself answers, with no script.
    let r = get_with(http, "/login", "");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("<form method=\"post\" action=\"/login\""));
    assert!(!r.text().contains("<script"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
}

#[test]
fn scope_and_roles_decide_what_exists_and_what_plays() {
    let dir = TempDir::new("auth-scope");
    let storage = dir.path().join("recordings");
    std::fs::create_dir_all(&storage).unwrap();
    let s = storage.to_str().unwrap();
    for (mac, group) in [("001565000001", "Sales"), ("001565000002", "Support")] {
        let (code, _, err) = console(
            "device",
            &["add", "--storage", s, mac, "--owner", "O", "--group", group],
        );
        assert_eq!(code, 0, "{err}");
    }
    let server = Server::start_at(&storage, dir.path(), &["--http=127.0.0.1:0"]);
    let http = server.http.unwrap();
    user(&storage, "admin", "admin", None);
    user(&storage, "boss", "admin,supervisor", None);
    user(&storage, "sam", "supervisor", Some("Sales"));
    user(&storage, "aud", "auditor", None);
    call(&server, "s1", "00:15:65:00:00:01");
    call(&server, "s2", "00:15:65:00:00:01");
    call(&server, "p1", "00:15:65:00:00:02");

    let all = add_token(&storage, None, "boss", "supervisor", None).unwrap();
    let rows = get_with(http, "/api/recordings", &bearer(&all));
    assert_eq!(rows.header("x-total-count"), Some("3"));
    let rid_of = |id: &str| {
        rows.json()
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["rid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (sales, support) = (rid_of("s1"), rid_of("p1"));

    // Sam, limited to Sales, by a session: the Support recording does not exist for him.
    let r = login(http, None, "sam", PASSWORD);
    assert_eq!(r.status, 303, "{}", r.text());
    let sam = cookie(&session_of(&r));
    let list = get_with(http, "/api/recordings", &sam);
    assert_eq!(list.status, 200);
    assert_eq!(list.header("x-total-count"), Some("2"));
    assert!(!list.text().contains(&support));
    let searched = get_with(http, "/api/recordings?group=Support", &sam);
    assert_eq!(searched.header("x-total-count"), Some("0"));
    let page = get_with(http, "/plain", &sam);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("2 recordings"), "{}", page.text());
    assert!(!page.text().contains(&support));
    for path in [
        format!("/api/recordings/{support}"),
        format!("/recordings/{support}/audio.wav"),
        format!("/recordings/{support}/download.wav"),
        format!("/recordings/{support}/original/1"),
    ] {
        assert_eq!(get_with(http, &path, &sam).status, 404, "{path}");
    }
    assert_eq!(
        get_with(http, &format!("/api/recordings/{sales}"), &sam).status,
        200
    );
    assert_eq!(
        get_with(http, &format!("/recordings/{sales}/audio.wav"), &sam).status,
        200
    );

    // An auditor sees no recordings and cannot listen; an admin alone sees metadata, no audio.
    let aud = cookie(&session_of(&login(http, None, "aud", PASSWORD)));
    for path in [
        "/api/recordings".to_string(),
        format!("/recordings/{sales}/download.wav"),
    ] {
        let r = get_with(http, &path, &aud);
        assert_eq!(r.status, 403, "{path}");
    }
    let admin = cookie(&session_of(&login(http, None, "admin", PASSWORD)));
    assert_eq!(
        get_with(http, "/api/recordings", &admin).header("x-total-count"),
        Some("3")
    );
    assert_eq!(
        get_with(http, &format!("/recordings/{sales}/download.wav"), &admin).status,
        403
    );

    // Tokens: within their admin's scope and roles, or not made at all.
    let sales_token = add_token(&storage, None, "boss", "supervisor", Some("Sales")).unwrap();
    let list = get_with(http, "/api/recordings", &bearer(&sales_token));
    assert_eq!(list.header("x-total-count"), Some("2"));
    assert_eq!(
        get_with(
            http,
            &format!("/recordings/{support}/download.wav"),
            &bearer(&sales_token)
        )
        .status,
        404
    );
    assert!(
        add_token(&storage, None, "sam", "supervisor", Some("Sales")).is_err(),
        "not an admin"
    );
    assert!(
        add_token(&storage, None, "admin", "supervisor", None).is_err(),
        "beyond admin's roles"
    );
    // Revoked: 401 from then on.
    let (code, out, _) = console("token", &["list", "--storage", s]);
    assert_eq!(code, 0);
    let id = out
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (code, _, err) = console("token", &["revoke", "--storage", s, &id]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        get_with(http, "/api/recordings", &bearer(&sales_token)).status,
        401
    );
    let (code, _, _) = console("token", &["revoke", "--storage", s, &id]);
    assert_eq!(code, 1);
}

#[test]
fn recordings_are_searched_by_owner_and_by_mac_in_any_spelling_within_the_scope() {
    let dir = TempDir::new("auth-owner");
    let storage = dir.path().join("recordings");
    std::fs::create_dir_all(&storage).unwrap();
    let s = storage.to_str().unwrap();
    for (mac, owner, group) in [
        ("001565000001", "Åsa Öberg", "Sales"),
        ("001565000002", "Bo Ek", "Support"),
    ] {
        let (code, _, err) = console(
            "device",
            &[
                "add",
                "--storage",
                s,
                mac,
                "--owner",
                owner,
                "--group",
                group,
            ],
        );
        assert_eq!(code, 0, "{err}");
    }
    let server = Server::start_at(&storage, dir.path(), &["--http=127.0.0.1:0"]);
    let http = server.http.unwrap();
    user(&storage, "boss", "admin,supervisor", None);
    user(&storage, "sam", "supervisor", Some("Sales"));
    // The phones spell their MACs with colons; the registry and the searches as they like.
    call(&server, "s1", "00:15:65:00:00:01");
    call(&server, "s2", "00:15:65:00:00:01");
    call(&server, "p1", "00:15:65:00:00:02");
    let all = bearer(&add_token(&storage, None, "boss", "supervisor", None).unwrap());
    let ids = |r: &Reply| -> Vec<String> {
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    };
    for (query, want) in [
        ("owner=%C3%85sa+%C3%96berg", vec!["s2", "s1"]),
        ("owner=%C3%A5SA+%C3%B6BERG", vec!["s2", "s1"]),
        ("owner=+bo+ek+", vec!["p1"]),
        ("owner=Bo", vec![]),
        ("device=001565000001", vec!["s2", "s1"]),
        ("device=00-15-65-00-00-02", vec!["p1"]),
        ("device=0015.6500.0002&owner=bo+ek", vec!["p1"]),
        ("device=0015.6500.0002&owner=%C3%85sa+%C3%96berg", vec![]),
    ] {
        let r = get_with(http, &format!("/api/recordings?{query}"), &all);
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(ids(&r), want, "{query}");
        let n = want.len().to_string();
        assert_eq!(r.header("x-total-count"), Some(n.as_str()), "{query}");
    }
    // Paged by cursor, one at a time.
    let first = get_with(
        http,
        "/api/recordings?owner=%C3%A5sa+%C3%B6berg&limit=1",
        &all,
    );
    assert_eq!(ids(&first), ["s2"]);
    let next = first.header("x-next-cursor").unwrap().to_string();
    let second = get_with(
        http,
        &format!("/api/recordings?owner=%C3%A5sa+%C3%B6berg&limit=1&cursor={next}"),
        &all,
    );
    assert_eq!(ids(&second), ["s1"]);
    assert_eq!(second.header("x-next-cursor"), None);
    // Sam, limited to Sales: Bo Ek's recording does not exist for him, nor counts.
    let sam = cookie(&session_of(&login(http, None, "sam", PASSWORD)));
    let r = get_with(http, "/api/recordings?owner=bo+ek", &sam);
    assert_eq!((r.status, r.header("x-total-count")), (200, Some("0")));
    let r = get_with(http, "/api/recordings?device=001565000002", &sam);
    assert_eq!(r.header("x-total-count"), Some("0"));
    let r = get_with(http, "/api/recordings?owner=%C3%A5sa+%C3%B6berg", &sam);
    assert_eq!(ids(&r), ["s2", "s1"]);
    // The page without JavaScript takes the same filter.
    let page = get_with(http, "/plain?owner=BO+EK", &all);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("1 recording"), "{}", page.text());
    // An owner longer than the registry keeps is the client's fault.
    let r = get_with(
        http,
        &format!("/api/recordings?owner={}", "x".repeat(257)),
        &all,
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("owner: too long"), "{}", r.text());
}

#[test]
fn sessions_cookies_csrf_and_logout() {
    let dir = TempDir::new("auth-session");
    let (_server, http, storage) = bare(&dir);
    user(&storage, "sam", "supervisor", None);
    assert_eq!(login(http, None, "sam", "wrong password!").status, 401);
    let r = login(http, None, "sam", PASSWORD);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let set = r.header("set-cookie").unwrap().to_string();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.split("; ").any(|f| f == flag), "{flag}: {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let secret = session_of(&r);
    let sam = cookie(&secret);
    let page = get_with(http, "/plain", &sam);
    assert_eq!(page.status, 200);
    let text = page.text();
    let csrf = text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    // A change without the CSRF token, with another's, or from another site: 403.
    let logout = |extra: &str, body: &str| {
        send(http, &format!("POST /logout HTTP/1.1{sam}{extra}\r\nContent-Type: application/x-www-form-urlencoded"), body)
    };
    let r = logout("", "");
    assert_eq!(r.status, 403);
    assert_eq!(logout("", &format!("csrf={}", "0".repeat(64))).status, 403);
    assert_eq!(
        logout("\r\nOrigin: http://evil.example", &format!("csrf={csrf}")).status,
        403
    );
    assert_eq!(
        logout("\r\nSec-Fetch-Site: cross-site", &format!("csrf={csrf}")).status,
        403
    );
    assert_eq!(get_with(http, "/", &sam).status, 200, "still logged in");
    // POST elsewhere with the cookie and no token: 403 before anything else.
    assert_eq!(send(http, &format!("POST / HTTP/1.1{sam}"), "").status, 403);
    // The header works as well as the field; then the session is gone.
    let r = logout(
        &format!("\r\nX-CSRF-Token: {csrf}\r\nOrigin: http://{http}"),
        "",
    );
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(get_with(http, "/", &sam).status, 303);
    assert_eq!(get_with(http, "/api/recordings", &sam).status, 401);
    // A new password ends the sessions.
    let again = cookie(&session_of(&login(http, None, "sam", PASSWORD)));
    assert_eq!(get_with(http, "/", &again).status, 200);
    let mut child = std::process::Command::new(common::bins::server())
        .args([
            "user",
            "passwd",
            "--storage",
            storage.to_str().unwrap(),
            "sam",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"another long password\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(get_with(http, "/", &again).status, 303);
    assert_eq!(login(http, None, "sam", PASSWORD).status, 401);
    assert_eq!(
        login(http, None, "sam", "another long password").status,
        303
    );
    // A login from another site is refused; an oversized form too.
    let r = send(
        http,
        "POST /login HTTP/1.1\r\nOrigin: http://evil.example",
        &format!("user=sam&password={PASSWORD}"),
    );
    assert_eq!(r.status, 403);
    let r = send(http, "POST /login HTTP/1.1", &"x".repeat(10_000));
    assert_eq!(r.status, 400);
}

#[test]
fn an_address_that_fails_too_often_is_slowed_while_the_admin_logs_in_from_another() {
    let dir = TempDir::new("auth-throttle");
    let (_server, http, storage) = bare(&dir);
    user(&storage, "admin", "admin", None);
    // The attacker (127.0.0.9) tries 30 names once each: the address's whole budget.
    for i in 0..30 {
        let r = login(
            http,
            Some("127.0.0.9"),
            &format!("guess{i}"),
            "not the password",
        );
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // Now even the right password is refused from there, for the admin too...
    let r = login(http, Some("127.0.0.9"), "admin", PASSWORD);
    assert_eq!(r.status, 429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 60, "{wait}");
    // ...while the admin logs in from elsewhere.
    let r = login(http, Some("127.0.0.2"), "admin", PASSWORD);
    assert_eq!(r.status, 303, "{}", r.text());
    // Failures of the admin's name from one address slow it there (each past the third doubles
    // the wait: 1 s, 2 s, 4 s, …), not from another.
    let slowed = (0..10)
        .map(|_| login(http, Some("127.0.0.3"), "admin", "wrong wrong wrong").status)
        .inspect(|s| assert!(*s == 401 || *s == 429, "{s}"))
        .filter(|s| *s == 429)
        .count();
    assert!(slowed > 0);
    assert_eq!(
        login(http, Some("127.0.0.4"), "admin", PASSWORD).status,
        303
    );
}
