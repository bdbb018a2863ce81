//! The web app: one HTML page (`/`), one script and one stylesheet (`/assets/…`), built into
//! the binary from `server/assets/`. Plain JavaScript, no framework, nothing from elsewhere;
//! the script draws every view from the JSON API and puts what comes from recordings into the
//! page as text only (`textContent`, never markup). The page and the API are `no-store`; an
//! asset's name carries a hash of its content (`app.0123456789abcdef.js`), so it is cached for
//! good and a new build is a new name.
//!
//! The Content-Security-Policy ([`CSP`]) allows nothing but this server's own script, style,
//! media and fetches: no inline script or style, no frames, no other origin. `/api/me` tells
//! the script who is logged in, their roles and groups, and the session's CSRF token (sent as
//! `X-CSRF-Token` with every change); the views a role may not use are not shown, and the
//! server refuses them anyway.

use super::body::Body;
use super::{full, set};
use crate::auth::{Principal, Role, Who};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use std::sync::OnceLock;

#[cfg(test)]
mod tests;

/// The page's and the assets' Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self'; media-src 'self'; connect-src 'self'; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const HTML: &str = include_str!("../../assets/app.html");
const JS: &str = include_str!("../../assets/app.js");
const CSS: &str = include_str!("../../assets/app.css");

/// FNV-1a, 64 bits: a name that changes with the content (not a security measure).
const fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

const JS_HASH: u64 = fnv(JS.as_bytes());
const CSS_HASH: u64 = fnv(CSS.as_bytes());

struct Names {
    js: String,
    css: String,
    page: String,
}

fn names() -> &'static Names {
    static N: OnceLock<Names> = OnceLock::new();
    N.get_or_init(|| {
        let js = format!("app.{JS_HASH:016x}.js");
        let css = format!("app.{CSS_HASH:016x}.css");
        let page = HTML
            .replace("{{script}}", &format!("/assets/{js}"))
            .replace("{{style}}", &format!("/assets/{css}"));
        Names { js, css, page }
    })
}

/// The stylesheet's path (the login page uses it too).
pub fn style_path() -> String {
    format!("/assets/{}", names().css)
}

/// The script's path.
pub fn script_path() -> String {
    format!("/assets/{}", names().js)
}

/// The headers of every page of the app: its CSP, no frames, and the referrer only to this
/// server (`full` sets `no-store` and `nosniff`). Not `no-referrer`: under it a browser sends
/// `Origin: null` with the page's own forms and fetches, which the CSRF check refuses; with
/// `same-origin` they carry the page's origin, and nothing leaves for other sites.
pub fn guard(r: &mut Response<Body>) {
    set(r, header::CONTENT_SECURITY_POLICY, CSP);
    set(r, header::X_FRAME_OPTIONS, "DENY");
    set(r, header::REFERRER_POLICY, "same-origin");
}

/// `GET /`: the app's page (the same for everyone; the script asks who is logged in).
pub fn page() -> Response<Body> {
    let mut r = full(
        StatusCode::OK,
        "text/html; charset=utf-8",
        names().page.clone(),
    );
    guard(&mut r);
    r
}

/// `GET /assets/NAME`: the script or the stylesheet of this build, or 404.
pub fn asset(name: &str) -> Response<Body> {
    let n = names();
    let (content_type, body) = if name == n.js {
        ("text/javascript; charset=utf-8", JS)
    } else if name == n.css {
        ("text/css; charset=utf-8", CSS)
    } else {
        return full(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "no such asset\n",
        );
    };
    let mut r = full(StatusCode::OK, content_type, body);
    // Its name changes with its content: kept for good.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=31536000, immutable"),
    );
    guard(&mut r);
    r
}

/// `GET /api/me`: who is logged in, what they may do, and the session's CSRF token (`null`
/// for a bearer token, which needs none).
pub fn me(who: &Principal) -> serde_json::Value {
    let (kind, name) = match &who.who {
        Who::User(n) => ("user", n.clone()),
        Who::Token(id) => ("token", id.clone()),
    };
    serde_json::json!({
        "kind": kind,
        "name": name,
        "roles": who.roles.iter().map(Role::name).collect::<Vec<_>>(),
        "groups": who.scope.groups(),
        "csrf": who.csrf(),
    })
}
