//! The settings page's HTTP side (`docs/web-api.md`): pages, login and sessions, CSRF, and
//! the JSON API, which asks the agent's main loop through the same jobs as the control socket.
//! The password hash runs on the download pool's reader thread, never on the runtime's.
//! Requests come read in full from the agent's listener (`crate::agent::http`), which also
//! keeps their limits (head, body, time).

use super::assets;
use super::auth::{Auth, LoginError, LoginSession};
use super::recordings;
use crate::agent::control_socket::{self, Job};
use crate::agent::http::{Answer, AnswerBody, Request};
use callrec_core::control_protocol::{Command, Request as Ask, Response as Reply};
use callrec_platform::clock::{Clock, SystemClock};
use callrec_platform::download::pool::Pool;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::mpsc;

/// The session cookie's name.
pub const COOKIE: &str = "callrec_session";
/// What the browser may load and run: the agent's own files only.
const CSP: &str = "default-src 'self'; img-src 'self' data:; media-src 'self'; \
                   object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The page's state: the login, the reader pool for hashing and downloads.
pub struct Web {
    auth: Mutex<Auth>,
    pool: Pool,
    clock: SystemClock,
}

impl Web {
    /// `password_file`: `admin.json` (beside the settings file).
    pub fn new(password_file: PathBuf, pool: Pool, clock: SystemClock) -> Web {
        Web {
            auth: Mutex::new(Auth::load(&password_file)),
            pool,
            clock,
        }
    }

    /// The reader threads (downloads are streamed from them too).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn auth(&self) -> std::sync::MutexGuard<'_, Auth> {
        // A panic while holding it is a bug elsewhere; the state is still consistent.
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session the request's cookie names, if live.
    fn session(&self, req: &Request) -> Option<LoginSession> {
        let token = cookie(req, COOKIE)?;
        self.auth().session(self.clock.now_ms(), token)
    }
}

/// Answers one request for the page or its API.
pub async fn handle(web: &Web, jobs: &mpsc::Sender<Job>, req: &Request) -> Answer {
    let method = req.method.as_str();
    let path = req.path();
    let session = web.session(req);
    // Pages and their files.
    if !path.starts_with("/api/") {
        if method != "GET" && method != "HEAD" {
            return error(405, "method_not_allowed", "only GET and HEAD");
        }
        if path == "/favicon.ico" {
            // Browsers ask on every page; the page has no icon.
            return plain(204, "image/x-icon", &[][..]);
        }
        return match assets::get(path) {
            Some(a) if a.public || session.is_some() => {
                // The files are kept gzipped; every browser takes that.
                if !accepts_gzip(req) {
                    return error(
                        406,
                        "gzip_only",
                        "the page is served gzipped: use a browser",
                    );
                }
                let mut r = plain(200, a.content_type, a.gzip);
                r.set("content-encoding", "gzip");
                r.set("vary", "Accept-Encoding");
                r
            }
            Some(_) if path == "/" => {
                let mut r = plain(303, "text/plain; charset=utf-8", &b"log in\n"[..]);
                r.set("location", "/login");
                r
            }
            Some(_) => error(401, "login_required", "log in first"),
            None => error(404, "not_found", "no such page"),
        };
    }
    if path == "/api/login" {
        if method != "POST" {
            return error(405, "method_not_allowed", "log in with POST");
        }
        return login(web, req).await;
    }
    let Some(session) = session else {
        return error(401, "login_required", "log in first");
    };
    let changes = method != "GET" && method != "HEAD";
    if changes {
        let given = req.header_bytes("x-csrf-token");
        if !given.is_some_and(|t| super::auth::constant_eq(t, session.csrf.as_bytes())) {
            return error(403, "csrf", "the request lacks this session's X-CSRF-Token");
        }
    }
    match (method, path) {
        ("GET", "/api/session") => json_answer(200, &session_json(&session)),
        ("POST", "/api/logout") => {
            web.auth().logout(&session.token);
            let mut r = json_answer(200, &json!({"ok": true}));
            let cleared = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
            r.set("set-cookie", cleared);
            r
        }
        ("POST", "/api/password") => password(web, &session, req).await,
        _ if session.must_change => error(
            403,
            "password_change_required",
            "change the factory password first",
        ),
        ("GET", "/api/status") => {
            let a = control_socket::ask(Ask::new(Command::Status, None), jobs).await;
            match &a.status {
                Some(st) => json_answer(200, &json!(st)),
                None => from_answer(&a),
            }
        }
        ("GET", "/api/settings") => {
            let a = control_socket::ask(Ask::new(Command::Settings, None), jobs).await;
            match &a.settings {
                Some(view) => json_answer(200, view),
                None => from_answer(&a),
            }
        }
        ("PUT", "/api/settings") => {
            let given = match json_body(req) {
                Ok(Value::Object(v)) => v,
                Ok(_) => return error(400, "bad_request", "send the settings as a JSON object"),
                Err(r) => return r,
            };
            let a = control_socket::ask(Ask::new(Command::SetSettings(given), None), jobs).await;
            match (a.ok, &a.settings) {
                (true, Some(view)) => {
                    let mut view = view.clone();
                    view["ok"] = true.into();
                    json_answer(200, &view)
                }
                _ => from_answer(&a),
            }
        }
        (_, p) if p == "/api/recordings" || p.starts_with("/api/recordings/") => {
            recordings_request(web, jobs, req).await
        }
        _ => error(404, "not_found", "no such API"),
    }
}

async fn login(web: &Web, req: &Request) -> Answer {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = body["user"].as_str().unwrap_or("").to_owned();
    let password = body["password"].as_str().unwrap_or("").to_owned();
    if let Err(e) = web.auth().may_try(web.clock.now_ms()) {
        return login_error(e);
    }
    let verifier = web.auth().verifier();
    let good = match web.pool.submit(move || verifier.check(&user, &password)) {
        Ok(rx) => rx.await.unwrap_or(false),
        Err(_) => return error(503, "busy", "the agent is busy; try again"),
    };
    let result = web.auth().finish_login(web.clock.now_ms(), good);
    match result {
        Ok(s) => {
            let mut r = json_answer(200, &{
                let mut v = session_json(&s);
                v["ok"] = true.into();
                v
            });
            let cookie = format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", s.token);
            r.set("set-cookie", cookie);
            r
        }
        Err(e) => login_error(e),
    }
}

fn login_error(e: LoginError) -> Answer {
    match e {
        LoginError::BadLogin => error(401, "bad_login", "wrong user name or password"),
        LoginError::SlowDown(s) => {
            let mut r = error(
                429,
                "slow_down",
                &format!("too many failed logins: try again in {s} s"),
            );
            r.set("retry-after", s.to_string());
            r
        }
        LoginError::NoRandom => error(
            503,
            "no_random",
            "the phone's kernel gives no random numbers, so no login is possible (see its log)",
        ),
    }
}

async fn password(web: &Web, session: &LoginSession, req: &Request) -> Answer {
    let body = match json_body(req) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let current = body["current"].as_str().unwrap_or("").to_owned();
    let new = body["new"].as_str().unwrap_or("").to_owned();
    let verifier = web.auth().verifier();
    let made = match web
        .pool
        .submit(move || verifier.new_password(&current, &new))
    {
        Ok(rx) => match rx.await {
            Ok(made) => made,
            Err(_) => return error(503, "busy", "the agent is busy; try again"),
        },
        Err(_) => return error(503, "busy", "the agent is busy; try again"),
    };
    let stored = made.and_then(|record| web.auth().store_password(&session.token, record));
    match stored {
        Ok(()) => json_answer(200, &json!({"ok": true})),
        Err(fields) => invalid(fields),
    }
}

async fn recordings_request(web: &Web, jobs: &mpsc::Sender<Job>, req: &Request) -> Answer {
    let a = control_socket::ask(Ask::new(Command::Status, None), jobs).await;
    let Some(st) = a.status.clone() else {
        return from_answer(&a);
    };
    let stick: Option<PathBuf> = st
        .stick
        .path
        .filter(|_| st.stick.present)
        .map(PathBuf::from);
    let rest = req.path()["/api/recordings".len()..].to_owned();
    let range = req.header_bytes("range").map(<[u8]>::to_vec);
    // Listing reads up to a thousand headers: on the reader thread, not the runtime's.
    let method = req.method.clone();
    let writing = st.file.clone();
    let outcome = web.pool.submit(move || {
        recordings::handle(
            &method,
            &rest,
            range.as_deref(),
            stick.as_deref(),
            writing.as_deref(),
        )
    });
    let outcome = match outcome {
        Ok(rx) => match rx.await {
            Ok(o) => o,
            Err(_) => return error(500, "internal", "the reader thread failed"),
        },
        Err(_) => return error(503, "busy", "the agent is busy; try again"),
    };
    match outcome {
        recordings::Outcome::Answer(mut r) => {
            secure(&mut r);
            r
        }
        recordings::Outcome::Delete(name) => {
            let a = control_socket::ask(Ask::new(Command::DeleteRecording(name), None), jobs).await;
            if a.ok {
                json_answer(200, &json!({"ok": true}))
            } else {
                from_answer(&a)
            }
        }
    }
}

/// A refusal of the main loop as an HTTP answer.
fn from_answer(a: &Reply) -> Answer {
    let Some(e) = &a.error else {
        return error(500, "internal", "no answer");
    };
    let status = match e.code.as_str() {
        "invalid" | "bad_name" | "bad_request" => 400,
        "not_found" => 404,
        "shutting_down" => 503,
        "save_failed" | "io_error" => 500,
        _ => 409,
    };
    let mut body = json!({"error": {"code": e.code, "message": e.message}});
    if let Some(f) = &e.fields {
        body["error"]["fields"] = json!(f);
    }
    json_answer(status, &body)
}

fn invalid(fields: BTreeMap<String, String>) -> Answer {
    json_answer(
        400,
        &json!({"error": {"code": "invalid", "message": "check the marked fields", "fields": fields}}),
    )
}

fn session_json(s: &LoginSession) -> Value {
    json!({"user": super::auth::USER, "must_change_password": s.must_change, "csrf": s.csrf})
}

/// The body as JSON: `415` if not declared JSON, `400` if not JSON. (The listener has read it
/// whole: `413` past its limit, `408` if it was too slow.)
fn json_body(req: &Request) -> Result<Value, Answer> {
    let declared = req.header("content-type").is_some_and(|v| {
        v.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json")
    });
    if !declared {
        return Err(error(
            415,
            "json_only",
            "send Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&req.body).map_err(|_| error(400, "bad_json", "the body is not JSON"))
}

/// The client takes `Content-Encoding: gzip` (a q of 0 refuses it).
fn accepts_gzip(req: &Request) -> bool {
    req.headers_named("accept-encoding")
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused =
                parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// A cookie's value from the `Cookie` headers.
fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers_named("cookie")
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name && !v.is_empty()).then_some(v)
        })
}

pub fn json_answer(status: u16, v: &Value) -> Answer {
    let mut text = v.to_string();
    text.push('\n');
    plain(status, "application/json", text.into_bytes())
}

pub fn error(status: u16, code: &str, message: &str) -> Answer {
    json_answer(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn plain(status: u16, content_type: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Answer {
    let mut r = Answer::new(status, AnswerBody::Bytes(body.into()));
    r.set("content-type", content_type);
    if status == 405 {
        r.set("allow", "GET, HEAD, POST, PUT, DELETE");
    }
    secure(&mut r);
    r
}

/// The headers every answer of the page carries.
pub fn secure(r: &mut Answer) {
    r.set("cache-control", "no-store");
    r.set("x-content-type-options", "nosniff");
    r.set("x-frame-options", "DENY");
    r.set("referrer-policy", "no-referrer");
    r.set("content-security-policy", CSP);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let r = Request::test("GET", "/", &[("Cookie", "a=1; callrec_session=abc; b=2")]);
        assert_eq!(cookie(&r, COOKIE), Some("abc"));
        let r = Request::test(
            "GET",
            "/",
            &[
                ("cookie", "xcallrec_session=abc"),
                ("COOKIE", "callrec_session="),
            ],
        );
        assert_eq!(cookie(&r, COOKIE), None);
        let r = Request::test("GET", "/", &[("X", "1"), ("cookie", "callrec_session=def")]);
        assert_eq!(cookie(&r, COOKIE), Some("def"));
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let takes = |v: &str| accepts_gzip(&Request::test("GET", "/", &[("Accept-Encoding", v)]));
        assert!(takes("gzip, deflate, br"));
        assert!(takes("br;q=1.0, GZIP;q=0.5"));
        assert!(takes("*"));
        assert!(!takes("gzip;q=0"));
        assert!(!takes("identity"));
        assert!(!accepts_gzip(&Request::test("GET", "/", &[])));
    }

    #[test]
    fn refusals_map_to_http_statuses() {
        let a = |code: &str| from_answer(&Reply::error(None, code, "m".into(), None)).status;
        assert_eq!(
            [
                a("invalid"),
                a("bad_name"),
                a("not_found"),
                a("recording"),
                a("save_failed"),
                a("shutting_down")
            ],
            [400, 400, 404, 409, 500, 503]
        );
    }

    #[test]
    fn every_answer_carries_the_security_headers() {
        let r = error(405, "method_not_allowed", "no");
        for (name, value) in [
            ("content-type", "application/json"),
            ("allow", "GET, HEAD, POST, PUT, DELETE"),
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
            ("content-security-policy", CSP),
        ] {
            assert_eq!(r.header(name), Some(value), "{name}");
        }
        assert_eq!(r.headers.len(), 7);
    }
}
