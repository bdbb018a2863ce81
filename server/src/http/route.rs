//! Which resource a request names: the method and the path in, a [`Route`] or the reason out.
//! No I/O. A RID in a path is parsed strictly ([`Rid::parse`]); anything that is not exactly a
//! route is 404, a route with a malformed RID is 400, a method the route does not take is 405
//! (GET and HEAD everywhere but `/logout`, POST for `/login` and `/logout` only).

use crate::rid::Rid;

/// A resource of the web side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: the web app's page (`web`).
    App,
    /// `/plain`: the page without JavaScript (`page`).
    Page,
    /// `/assets/NAME`: the web app's script and stylesheet (no authentication: no data).
    Asset(String),
    /// `/api/me`: who is logged in, their roles and the session's CSRF token.
    Me,
    /// The admin pages' API (`admin`).
    Admin(Admin),
    /// `/login`: the login form (GET, HEAD) and the login (POST).
    Login,
    /// `/logout` (POST): ends the session.
    Logout,
    /// `/healthz`: whether the node is healthy (no authentication).
    Health,
    /// `/metrics`: Prometheus' text format (the admin or the metrics role).
    Metrics,
    /// `/api/recordings`: the JSON listing.
    List,
    /// `/api/recordings/RID`: one recording as JSON.
    One(Rid),
    /// `/api/audit`: the audit trail (auditors).
    Audit,
    /// `/api/recordings/RID/audit`: the entries of one recording.
    History(Rid),
    /// `/recordings/RID/audio.wav` (inline) or `/recordings/RID/download.wav` (attachment).
    Wav { rid: Rid, attachment: bool },
    /// `/recordings/RID/original/N`: the Nth Record file (from 1) as stored.
    Original { rid: Rid, n: u32 },
    /// Retention and legal hold (`retention`).
    Keep(Keep),
}

/// A resource of retention and legal hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// `/api/recordings/RID/hold`: PUT sets a hold, DELETE releases it.
    Hold(Rid),
    /// `/api/holds`: POST holds every recording of a search.
    Holds,
    /// DELETE `/api/recordings/RID`: an admin's delete.
    Delete(Rid),
    /// `/api/retention`: GET the policy, PUT a change (or its dry run).
    Retention,
}

/// A resource of the admin pages' API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// `/api/users`: GET the accounts, POST a new one.
    Users,
    /// `/api/users/NAME`: PUT a change, DELETE the account.
    User(String),
    /// `/api/tokens`: GET the API tokens, POST a new one.
    Tokens,
    /// `/api/tokens/ID`: DELETE (revoke).
    Token(String),
    /// `/api/devices`: GET the registry.
    Devices,
    /// `/api/devices/MAC`: GET, PUT (add or replace), DELETE.
    Device(String),
    /// `/api/storage`: GET the storage's state.
    Storage,
}

/// Why a request names no resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No such route (404).
    NotFound,
    /// A route, but its RID or file number is malformed (400).
    BadId,
    /// A route, but not GET or HEAD (405).
    Method,
}

/// The highest file number a route accepts (a session has far fewer files).
pub const MAX_FILE_NUMBER: u32 = 9999;

/// Resolves `path` (as received, not decoded) for a request with method `method`.
pub fn resolve(method: &str, path: &str) -> Result<Route, Miss> {
    let route = match_path(path)?;
    if !allows(&route).split(", ").any(|m| m == method) {
        return Err(Miss::Method);
    }
    match route {
        Route::One(rid) if method == "DELETE" => Ok(Route::Keep(Keep::Delete(rid))),
        route => Ok(route),
    }
}

/// The methods a route takes, as an `Allow` header says them.
pub fn allows(route: &Route) -> &'static str {
    match route {
        Route::Login => "GET, HEAD, POST",
        Route::Logout => "POST",
        Route::One(_) | Route::Keep(Keep::Delete(_)) => "GET, HEAD, DELETE",
        Route::Keep(Keep::Hold(_)) => "PUT, DELETE",
        Route::Keep(Keep::Holds) => "POST",
        Route::Keep(Keep::Retention) => "GET, HEAD, PUT",
        Route::Admin(Admin::Users | Admin::Tokens) => "GET, HEAD, POST",
        Route::Admin(Admin::User(_)) => "PUT, DELETE",
        Route::Admin(Admin::Token(_)) => "DELETE",
        Route::Admin(Admin::Device(_)) => "GET, HEAD, PUT, DELETE",
        _ => "GET, HEAD",
    }
}

/// The methods the route at `path` takes (`GET, HEAD` if it is none).
pub fn allowed_at(path: &str) -> &'static str {
    match_path(path).map_or("GET, HEAD", |r| allows(&r))
}

fn match_path(path: &str) -> Result<Route, Miss> {
    if path == "/" {
        return Ok(Route::App);
    }
    if path == "/plain" {
        return Ok(Route::Page);
    }
    if path == "/login" {
        return Ok(Route::Login);
    }
    if path == "/logout" {
        return Ok(Route::Logout);
    }
    if path == "/healthz" {
        return Ok(Route::Health);
    }
    if path == "/metrics" {
        return Ok(Route::Metrics);
    }
    let rest = path.strip_prefix('/').ok_or(Miss::NotFound)?;
    let mut parts = rest.split('/');
    // At most five segments are meaningful; a longer path is no route.
    let seg: Vec<&str> = parts.by_ref().take(5).collect();
    if parts.next().is_some() {
        return Err(Miss::NotFound);
    }
    let rid = |s: &str| Rid::parse(s).ok_or(Miss::BadId);
    match seg.as_slice() {
        ["assets", name] if !name.is_empty() => Ok(Route::Asset((*name).to_string())),
        ["api", "me"] => Ok(Route::Me),
        ["api", "users"] => Ok(Route::Admin(Admin::Users)),
        ["api", "users", n] => Ok(Route::Admin(Admin::User(segment(n)?))),
        ["api", "tokens"] => Ok(Route::Admin(Admin::Tokens)),
        ["api", "tokens", id] => Ok(Route::Admin(Admin::Token(segment(id)?))),
        ["api", "devices"] => Ok(Route::Admin(Admin::Devices)),
        ["api", "devices", mac] => Ok(Route::Admin(Admin::Device(segment(mac)?))),
        ["api", "storage"] => Ok(Route::Admin(Admin::Storage)),
        ["api", "recordings"] => Ok(Route::List),
        ["api", "audit"] => Ok(Route::Audit),
        ["api", "holds"] => Ok(Route::Keep(Keep::Holds)),
        ["api", "retention"] => Ok(Route::Keep(Keep::Retention)),
        ["api", "recordings", r, "hold"] => Ok(Route::Keep(Keep::Hold(rid(r)?))),
        ["api", "recordings", r, "audit"] => Ok(Route::History(rid(r)?)),
        ["api", "recordings", r] if !r.is_empty() => Ok(Route::One(rid(r)?)),
        ["recordings", r, "audio.wav"] => Ok(Route::Wav {
            rid: rid(r)?,
            attachment: false,
        }),
        ["recordings", r, "download.wav"] => Ok(Route::Wav {
            rid: rid(r)?,
            attachment: true,
        }),
        ["recordings", r, "original", n] => {
            let rid = rid(r)?;
            let n = file_number(n).ok_or(Miss::BadId)?;
            Ok(Route::Original { rid, n })
        }
        _ => Err(Miss::NotFound),
    }
}

/// The longest path segment naming a user, a token or a device (decoded).
pub const MAX_SEGMENT: usize = 64;

/// A path segment percent-decoded: not empty, at most [`MAX_SEGMENT`] bytes, UTF-8 without
/// control characters (what it names is checked by its handler).
fn segment(s: &str) -> Result<String, Miss> {
    let mut out = String::new();
    callrec_core::percent::decode(s.as_bytes(), &mut out).map_err(|_| Miss::BadId)?;
    let ok = !out.is_empty() && out.len() <= MAX_SEGMENT && !out.chars().any(char::is_control);
    if ok {
        Ok(out)
    } else {
        Err(Miss::BadId)
    }
}

/// 1 to [`MAX_FILE_NUMBER`], decimal digits without a leading zero.
fn file_number(s: &str) -> Option<u32> {
    let ok = !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    let n: u32 = s.parse().ok().filter(|_| ok && !s.starts_with('0'))?;
    (1..=MAX_FILE_NUMBER).contains(&n).then_some(n)
}
