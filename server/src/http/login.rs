//! Authentication on the web side: who a request comes from ([`authenticate`]), the login
//! page (`GET /login`, `POST /login`) and `POST /logout`. Everything but `/healthz` and the
//! login page needs a session cookie or an API token (`Authorization: Bearer crt_…`); until
//! the catalog holds an account, every request is answered 503 with how to make the first
//! admin on the console.
//!
//! The session cookie `callrec_session` is `HttpOnly; SameSite=Strict; Path=/`, and `Secure`
//! when the connection is TLS ([`super::Link`]). A request of a cookie session that changes
//! anything (any method but GET and HEAD) passes [`crate::auth::csrf::check`]. Failed logins
//! are slowed by [`crate::auth::throttle`] (one table for the whole process).

use super::body::Body;
use super::page::esc;
use super::{full, set};
use crate::audit::{Action, AuditError, Event};
use crate::auth::csrf::{self, Sent};
use crate::auth::throttle::Throttle;
use crate::auth::{password, store, Principal, Via, Who};
use crate::catalog::{Catalog, CatalogError};
use callrec_core::percent;
use hyper::header::{self, HeaderMap};
use hyper::{Response, StatusCode};
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};

/// The session cookie's name.
pub const COOKIE: &str = "callrec_session";
/// The largest form body read (`POST /login`, `POST /logout`).
pub const MAX_FORM: usize = 4096;

fn throttle() -> &'static Mutex<Throttle> {
    static T: OnceLock<Mutex<Throttle>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(Throttle::new()))
}

/// What a request carries that authentication reads.
#[derive(Debug, Clone, Default)]
pub struct Creds {
    pub session: Option<String>,
    /// The `Authorization` header's value, if any.
    pub authorization: Option<String>,
    pub csrf_header: Option<String>,
    pub origin: Option<String>,
    pub fetch_site: Option<String>,
    pub host: Option<String>,
    pub tls: bool,
    pub from: Option<IpAddr>,
    /// Not GET or HEAD.
    pub changes: bool,
}

fn header_text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Creds {
    pub fn of(headers: &HeaderMap, changes: bool, tls: bool, from: Option<IpAddr>) -> Creds {
        let session = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.to_string());
        Creds {
            session,
            authorization: header_text(headers, header::AUTHORIZATION),
            csrf_header: header_text(headers, "x-csrf-token"),
            origin: header_text(headers, header::ORIGIN),
            fetch_site: header_text(headers, "sec-fetch-site"),
            host: header_text(headers, header::HOST),
            tls,
            from,
            changes,
        }
    }

    fn sent<'a>(&'a self, form_csrf: Option<&'a str>) -> Sent<'a> {
        Sent {
            token: self.csrf_header.as_deref().or(form_csrf),
            origin: self.origin.as_deref(),
            fetch_site: self.fetch_site.as_deref(),
            host: self.host.as_deref(),
            tls: self.tls,
        }
    }

    fn from(&self) -> IpAddr {
        self.from
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
}

/// An answer of the authentication: JSON `{"error": CODE, "message": TEXT}` for the API (as
/// every API error), a page otherwise.
pub fn refusal(api: bool, status: StatusCode, code: &str, text: &str) -> Response<Body> {
    if api {
        let body = serde_json::json!({ "error": code, "message": text }).to_string();
        full(status, "application/json", body)
    } else {
        html(status, &format!("<p>{}</p>", esc(text)))
    }
}

/// A page of its own (no script): the login form, or why a request was refused.
fn html(status: StatusCode, inner: &str) -> Response<Body> {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Log in · callrec-server</title>\n\
         <link rel=\"stylesheet\" href=\"{style}\">\n</head>\n<body class=\"login\">\n\
         <main class=\"card\">\n<h1>callrec-server</h1>\n{inner}\n</main>\n</body>\n</html>\n",
        style = super::web::style_path(),
    );
    let mut r = full(status, "text/html; charset=utf-8", page);
    super::web::guard(&mut r);
    r
}

/// The 503 of a server with no account yet.
fn no_accounts(api: bool) -> Response<Body> {
    let text = "no account exists yet: make the first admin on the server's console with \
                `callrec-server user add --storage DIR NAME --role admin` (and --catalog as the \
                server's, if it has one)";
    refusal(api, StatusCode::SERVICE_UNAVAILABLE, "no_accounts", text)
}

fn unavailable(api: bool, e: &CatalogError) -> Response<Body> {
    crate::limited!(crate::logs::Kind::Http, "http: auth: {e}");
    refusal(
        api,
        StatusCode::SERVICE_UNAVAILABLE,
        "catalog_unavailable",
        "the catalog is unavailable",
    )
}

/// Unauthenticated: the API's 401 with its challenge, or the page's redirect to the login.
fn unauthenticated(api: bool, invalid_token: bool) -> Response<Body> {
    if api || invalid_token {
        let mut r = refusal(
            true,
            StatusCode::UNAUTHORIZED,
            if invalid_token {
                "invalid_token"
            } else {
                "unauthenticated"
            },
            "authentication required: a session (POST /login) or Authorization: Bearer crt_…",
        );
        let challenge = if invalid_token {
            "Bearer realm=\"callrec-server\", error=\"invalid_token\""
        } else {
            "Bearer realm=\"callrec-server\""
        };
        set(&mut r, header::WWW_AUTHENTICATE, challenge);
        r
    } else {
        see_other("/login")
    }
}

fn see_other(to: &str) -> Response<Body> {
    let mut r = full(
        StatusCode::SEE_OTHER,
        "text/plain; charset=utf-8",
        format!("see {to}\n"),
    );
    set(&mut r, header::LOCATION, to);
    r
}

/// Who `creds` come from, or the answer to give instead. `form_csrf`: the `csrf` field of a
/// form body, if the request had one.
pub fn authenticate(
    catalog: &Catalog,
    creds: &Creds,
    form_csrf: Option<&str>,
    api: bool,
    now_ms: u64,
) -> Result<Principal, Box<Response<Body>>> {
    let from = creds.from();
    let found = catalog.read(|c| {
        if !store::any_user(c)? {
            return Ok(None);
        }
        if let Some(auth) = &creds.authorization {
            // The scheme's name is case-insensitive (RFC 9110); anything else is no token.
            let token = match auth.split_once(' ') {
                Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
                _ => "",
            };
            return Ok(Some(Found::Token(store::token(c, token, now_ms)?)));
        }
        match &creds.session {
            Some(s) => Ok(Some(Found::Session(store::session(c, s, now_ms)?))),
            None => Ok(Some(Found::Nothing)),
        }
    });
    match found {
        Err(e) => Err(Box::new(unavailable(api, &e))),
        Ok(None) => Err(Box::new(no_accounts(api))),
        Ok(Some(Found::Nothing)) | Ok(Some(Found::Session(None))) => {
            Err(Box::new(unauthenticated(api, false)))
        }
        Ok(Some(Found::Token(None))) => Err(Box::new(unauthenticated(api, true))),
        Ok(Some(Found::Token(Some(t)))) => Ok(Principal {
            who: Who::Token(t.id),
            roles: t.roles,
            scope: t.scope,
            via: Via::Token,
            from,
        }),
        Ok(Some(Found::Session(Some((user, csrf_token))))) => {
            if creds.changes {
                if let Err(refused) = csrf::check(&csrf_token, &creds.sent(form_csrf)) {
                    return Err(Box::new(refusal(
                        api,
                        StatusCode::FORBIDDEN,
                        refused.code(),
                        "this change needs the session's CSRF token, from this site",
                    )));
                }
            }
            Ok(Principal {
                who: Who::User(user.name),
                roles: user.roles,
                scope: user.scope,
                via: Via::Session { csrf: csrf_token },
                from,
            })
        }
    }
}

enum Found {
    Nothing,
    Session(Option<(store::User, String)>),
    Token(Option<store::Token>),
}

/// The fields of an `application/x-www-form-urlencoded` body; `None` if it is not one.
pub fn form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut fields = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (k.replace('+', " "), v.replace('+', " "));
        let (mut key, mut value) = (String::new(), String::new());
        percent::decode(k.as_bytes(), &mut key).ok()?;
        percent::decode(v.as_bytes(), &mut value).ok()?;
        fields.push((key, value));
    }
    Some(fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /login`: the form (or the 503 of a server with no account).
pub fn page(catalog: &Catalog) -> Response<Body> {
    match catalog.read(|c| store::any_user(c)) {
        Ok(true) => login_form(StatusCode::OK, ""),
        Ok(false) => no_accounts(false),
        Err(e) => unavailable(false, &e),
    }
}

fn login_form(status: StatusCode, message: &str) -> Response<Body> {
    let note = if message.is_empty() {
        String::new()
    } else {
        format!(
            "<p id=\"login-error\" class=\"error\" role=\"alert\">{}</p>\n",
            esc(message)
        )
    };
    html(
        status,
        &format!(
            "{note}<form method=\"post\" action=\"/login\" class=\"stack\">\n\
             <label>Name <input id=\"user\" name=\"user\" autocomplete=\"username\" required \
             maxlength=\"64\" autofocus></label>\n\
             <label>Password <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required></label>\n\
             <button id=\"login\" type=\"submit\">Log in</button>\n</form>"
        ),
    )
}

/// The cookie of a new session, or the one that ends it (`None`).
fn cookie(secret: Option<&str>, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    match secret {
        Some(s) => format!("{COOKIE}={s}; HttpOnly; SameSite=Strict; Path=/{secure}"),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    }
}

/// `POST /login` with its form body (`None`: too large or not a form).
pub fn login(catalog: &Catalog, creds: &Creds, body: Option<&[u8]>, now_ms: u64) -> Response<Body> {
    if csrf::same_origin(&creds.sent(None)).is_err() {
        return refusal(
            false,
            StatusCode::FORBIDDEN,
            "cross_origin",
            "a login from another site",
        );
    }
    let Some(fields) = body.and_then(form) else {
        return login_form(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    let (Some(name), Some(pw)) = (field(&fields, "user"), field(&fields, "password")) else {
        return login_form(StatusCode::BAD_REQUEST, "Give a name and a password.");
    };
    let from = creds.from();
    let lock = || throttle().lock().unwrap_or_else(|e| e.into_inner());
    if let Err(wait_ms) = lock().check(name, from, now_ms) {
        let secs = wait_ms.div_ceil(1000);
        let mut r = login_form(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed logins: try again in {secs} s."),
        );
        set(&mut r, header::RETRY_AFTER, &secs.to_string());
        crate::metrics::METRICS.login_throttled();
        return r;
    }
    let user = match catalog.read(|c| {
        if !store::any_user(c)? {
            return Ok(None);
        }
        Ok(Some(store::user(c, name)?))
    }) {
        Ok(None) => return no_accounts(false),
        Ok(Some(u)) => u,
        Err(e) => return unavailable(false, &e),
    };
    let good = match &user {
        Some(u) => password::verify(&u.hash, pw),
        None => {
            // As long as a wrong password takes.
            let _ = password::verify(password::decoy(), pw);
            false
        }
    };
    let Some(user) = user.filter(|_| good) else {
        lock().failed(name, from, now_ms);
        crate::metrics::METRICS.login_failed();
        // The name as given, cut to what a name can be; the entry is written if it can be
        // (the login is refused either way).
        let given: String = name.chars().take(MAX_GIVEN_NAME).collect();
        let what = serde_json::json!({ "cut": given.len() < name.len() });
        let event = Event {
            who: given,
            from: from.to_string(),
            action: Action::LOGIN_FAILED,
            rid: String::new(),
            what,
        };
        if let Err(e) = super::audit::append(catalog, &event, now_ms) {
            crate::limited!(
                crate::logs::Kind::Http,
                "http: a failed login not audited: {e}"
            );
        }
        crate::limited!(crate::logs::Kind::Http, "http: a failed login");
        log::debug!("http: failed login of {name:?} from {from}");
        return login_form(StatusCode::UNAUTHORIZED, "Wrong name or password.");
    };
    lock().succeeded(name, from);
    let event = Event {
        who: user.name.clone(),
        from: from.to_string(),
        action: Action::LOGIN,
        rid: String::new(),
        what: serde_json::json!({}),
    };
    // No session without its entry.
    let session = super::audit::with_change(catalog, now_ms, |c| {
        Ok((store::new_session(c, &user.name, now_ms)?, Some(event)))
    });
    match session.map_err(audit_failure) {
        Ok((secret, _csrf)) => {
            log::debug!("http: {} logged in from {from}", user.name);
            let mut r = see_other("/");
            set(
                &mut r,
                header::SET_COOKIE,
                &cookie(Some(&secret), creds.tls),
            );
            r
        }
        Err(e) => unavailable(false, &e),
    }
}

/// `POST /logout` with its form body: ends the session (its CSRF token needed).
pub fn logout(
    catalog: &Catalog,
    creds: &Creds,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Response<Body> {
    let fields = body.and_then(form).unwrap_or_default();
    let principal = match authenticate(catalog, creds, field(&fields, "csrf"), false, now_ms) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if let (Via::Session { .. }, Some(secret)) = (&principal.via, &creds.session) {
        let event = crate::audit::web::event(&principal, Action::LOGOUT, "", serde_json::json!({}));
        let ended = super::audit::with_change(catalog, now_ms, |c| {
            Ok((store::end_session(c, secret)?, Some(event)))
        });
        if let Err(e) = ended.map_err(audit_failure) {
            return unavailable(false, &e);
        }
    }
    let mut r = see_other("/login");
    set(&mut r, header::SET_COOKIE, &cookie(None, creds.tls));
    r
}

/// The longest name of a failed login the audit trail keeps (a name is at most 64).
const MAX_GIVEN_NAME: usize = 64;

/// An audit error as the catalog's, for [`unavailable`].
fn audit_failure(e: AuditError) -> CatalogError {
    match e {
        AuditError::Catalog(e) => e,
        AuditError::Data(m) => CatalogError::Data(m),
    }
}

/// What the page shows of who is logged in, with the logout button (its CSRF token).
pub fn banner(p: &Principal) -> String {
    let who = match &p.who {
        Who::User(name) => esc(name),
        Who::Token(id) => format!("token {}", esc(id)),
    };
    match p.csrf() {
        Some(csrf) => format!(
            "<form method=\"post\" action=\"/logout\"><p>{who} ({roles}) \
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <button type=\"submit\">Log out</button></p></form>\n",
            roles = esc(&p.roles.to_string()),
            csrf = esc(csrf),
        ),
        None => format!("<p>{who}</p>\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_cookies_carry_their_flags() {
        let f = form(b"user=a%40b&password=p+w%26&x").unwrap();
        assert_eq!(field(&f, "user"), Some("a@b"));
        assert_eq!(field(&f, "password"), Some("p w&"));
        assert_eq!(field(&f, "x"), Some(""));
        assert!(form(b"user=%zz").is_none());
        assert!(form(&[0xff, 0xfe]).is_none());
        let c = cookie(Some("abc"), false);
        assert_eq!(c, "callrec_session=abc; HttpOnly; SameSite=Strict; Path=/");
        assert!(cookie(Some("abc"), true).ends_with("; Secure"));
        assert!(cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; callrec_session=xyz; b=2".parse().unwrap(),
        );
        let c = Creds::of(&h, false, false, None);
        assert_eq!(c.session.as_deref(), Some("xyz"));
        assert!(Creds::of(&HeaderMap::new(), false, false, None)
            .session
            .is_none());
    }
}
