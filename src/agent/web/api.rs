//! The settings page's HTTP side (`docs/web-api.md`): pages, login and sessions, CSRF, and
//! the JSON API, which asks the agent's main loop through the same jobs as the control socket.
//! The password hash runs on the download pool's reader thread, never on the runtime's.

use super::assets;
use super::auth::{Auth, LoginError, Session};
use super::recordings;
use crate::agent::control::Job;
use crate::core::control::{Command, Request as Ask, Response as Answer};
use crate::download::body::Body;
use crate::download::pool::Pool;
use crate::platform::clock::{Clock, SystemClock};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// The session cookie's name.
pub const COOKIE: &str = "callrec_session";
/// Largest request body (a settings object, a password change).
pub const MAX_BODY: usize = 16 * 1024;
/// A request body must arrive within this (the headers have hyper's own limit).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
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

    fn auth(&self) -> std::sync::MutexGuard<'_, Auth> {
        // A panic while holding it is a bug elsewhere; the state is still consistent.
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session the request's cookie names, if live.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = cookie(headers, COOKIE)?;
        self.auth().session(self.clock.now_ms(), token)
    }
}

/// Answers one request for the page or its API.
pub async fn handle(web: &Web, jobs: &mpsc::Sender<Job>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let session = web.session(req.headers());
    // Pages and their files.
    if !path.starts_with("/api/") {
        if method != Method::GET && method != Method::HEAD {
            return error(405, "method_not_allowed", "only GET and HEAD");
        }
        if path == "/favicon.ico" {
            // Browsers ask on every page; the page has no icon.
            let mut r = plain(204, "image/x-icon", Bytes::new());
            r.headers_mut().remove(header::CONTENT_LENGTH);
            return r;
        }
        return match assets::get(&path) {
            Some(a) if a.public || session.is_some() => {
                // The files are kept gzipped; every browser takes that.
                if !accepts_gzip(req.headers()) {
                    return error(
                        406,
                        "gzip_only",
                        "the page is served gzipped: use a browser",
                    );
                }
                let mut r = plain(200, a.content_type, Bytes::from_static(a.gzip));
                let h = r.headers_mut();
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
                if method == Method::HEAD {
                    *r.body_mut() = Body::empty();
                }
                r
            }
            Some(_) if path == "/" => {
                let mut r = plain(
                    303,
                    "text/plain; charset=utf-8",
                    Bytes::from_static(b"log in\n"),
                );
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/login"));
                r
            }
            Some(_) => error(401, "login_required", "log in first"),
            None => error(404, "not_found", "no such page"),
        };
    }
    if path == "/api/login" {
        if method != Method::POST {
            return error(405, "method_not_allowed", "log in with POST");
        }
        return login(web, req).await;
    }
    let Some(session) = session else {
        return error(401, "login_required", "log in first");
    };
    let changes = method != Method::GET && method != Method::HEAD;
    if changes {
        let given = req.headers().get("x-csrf-token").map(HeaderValue::as_bytes);
        if !given.is_some_and(|t| super::auth::constant_eq(t, session.csrf.as_bytes())) {
            return error(403, "csrf", "the request lacks this session's X-CSRF-Token");
        }
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/session") => json_answer(200, &session_json(&session)),
        ("POST", "/api/logout") => {
            web.auth().logout(&session.token);
            let mut r = json_answer(200, &json!({"ok": true}));
            set_cookie(
                &mut r,
                &format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
            );
            r
        }
        ("POST", "/api/password") => password(web, &session, req).await,
        _ if session.must_change => error(
            403,
            "password_change_required",
            "change the factory password first",
        ),
        ("GET", "/api/status") => {
            let a = ask(jobs, Ask::new(Command::Status, None)).await;
            match &a.status {
                Some(st) => json_answer(200, &json!(st)),
                None => from_answer(&a),
            }
        }
        ("GET", "/api/settings") => {
            let a = ask(jobs, Ask::new(Command::Settings, None)).await;
            match &a.settings {
                Some(view) => json_answer(200, view),
                None => from_answer(&a),
            }
        }
        ("PUT", "/api/settings") => {
            let given = match json_body(req).await {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => return error(400, "bad_request", "send the settings as a JSON object"),
                Err(r) => return r,
            };
            let a = ask(
                jobs,
                Ask {
                    settings: Some(given),
                    ..Ask::new(Command::SetSettings, None)
                },
            )
            .await;
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
            recordings_request(web, jobs, &method, p, req.headers()).await
        }
        _ => error(404, "not_found", "no such API"),
    }
}

async fn login(web: &Web, req: Request<Incoming>) -> Response<Body> {
    let body = match json_body(req).await {
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
            set_cookie(
                &mut r,
                &format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", s.token),
            );
            r
        }
        Err(e) => login_error(e),
    }
}

fn login_error(e: LoginError) -> Response<Body> {
    match e {
        LoginError::BadLogin => error(401, "bad_login", "wrong user name or password"),
        LoginError::SlowDown(s) => {
            let mut r = error(
                429,
                "slow_down",
                &format!("too many failed logins: try again in {s} s"),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
            r
        }
    }
}

async fn password(web: &Web, session: &Session, req: Request<Incoming>) -> Response<Body> {
    let body = match json_body(req).await {
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

async fn recordings_request(
    web: &Web,
    jobs: &mpsc::Sender<Job>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response<Body> {
    let a = ask(jobs, Ask::new(Command::Status, None)).await;
    let Some(st) = a.status.clone() else {
        return from_answer(&a);
    };
    let stick: Option<PathBuf> = st
        .stick
        .path
        .filter(|_| st.stick.present)
        .map(PathBuf::from);
    let rest = path["/api/recordings".len()..].to_owned();
    let range = headers.get(header::RANGE).map(|v| v.as_bytes().to_vec());
    // Listing reads up to a thousand headers: on the reader thread, not the runtime's.
    let (method2, pool) = (method.clone(), web.pool.clone());
    let writing = st.file.clone();
    let outcome = web.pool.submit(move || {
        recordings::handle(
            &method2,
            &rest,
            range.as_deref(),
            stick.as_deref(),
            writing.as_deref(),
            &pool,
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
            secure(r.headers_mut());
            r
        }
        recordings::Outcome::Delete(name) => {
            let a = ask(
                jobs,
                Ask {
                    name: Some(name),
                    ..Ask::new(Command::DeleteRecording, None)
                },
            )
            .await;
            if a.ok {
                json_answer(200, &json!({"ok": true}))
            } else {
                from_answer(&a)
            }
        }
    }
}

/// Hands a request to the main loop, as the control socket does.
async fn ask(jobs: &mpsc::Sender<Job>, request: Ask) -> Answer {
    let (tx, rx) = oneshot::channel();
    let stopping = || Answer::error(None, "shutting_down", "the agent is stopping".into(), None);
    if jobs.send(Job { request, reply: tx }).await.is_err() {
        return stopping();
    }
    rx.await.unwrap_or_else(|_| stopping())
}

/// A refusal of the main loop as an HTTP answer.
fn from_answer(a: &Answer) -> Response<Body> {
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

fn invalid(fields: BTreeMap<String, String>) -> Response<Body> {
    json_answer(
        400,
        &json!({"error": {"code": "invalid", "message": "check the marked fields", "fields": fields}}),
    )
}

fn session_json(s: &Session) -> Value {
    json!({"user": super::auth::USER, "must_change_password": s.must_change, "csrf": s.csrf})
}

/// The body as JSON: `415` if not declared JSON, `413` if too long, `400` if not JSON.
async fn json_body(req: Request<Incoming>) -> Result<Value, Response<Body>> {
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
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
    let collected = tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(req.into_body(), MAX_BODY).collect(),
    );
    let bytes = match collected.await {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(_)) => return Err(error(413, "too_long", "the request body is too long")),
        Err(_) => {
            return Err(error(
                408,
                "too_slow",
                "the request body did not come in time",
            ))
        }
    };
    serde_json::from_slice(&bytes).map_err(|_| error(400, "bad_json", "the body is not JSON"))
}

/// The client takes `Content-Encoding: gzip` (a q of 0 refuses it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
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
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name && !v.is_empty()).then_some(v)
        })
}

fn set_cookie(r: &mut Response<Body>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
}

pub fn json_answer(status: u16, v: &Value) -> Response<Body> {
    let mut text = v.to_string();
    text.push('\n');
    plain(status, "application/json", Bytes::from(text))
}

pub fn error(status: u16, code: &str, message: &str) -> Response<Body> {
    json_answer(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn plain(status: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let len = body.len();
    let mut r = Response::new(Body::full(body));
    // Every status made here is a valid one.
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == 405 {
        h.insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, POST, PUT, DELETE"),
        );
    }
    secure(h);
    r
}

/// The headers every answer of the page carries.
pub fn secure(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; callrec_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("xcallrec_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("callrec_session="));
        assert_eq!(cookie(&h, COOKIE), None);
    }

    #[test]
    fn refusals_map_to_http_statuses() {
        let a = |code: &str| {
            from_answer(&Answer::error(None, code, "m".into(), None))
                .status()
                .as_u16()
        };
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
}
