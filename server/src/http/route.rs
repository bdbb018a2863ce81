//! Which resource a request names: the method and the path in, a [`Route`] or the reason out.
//! No I/O. A RID in a path is parsed strictly ([`Rid::parse`]); anything that is not exactly a
//! route is 404, a route with a malformed RID is 400, a method the route does not take is 405
//! (GET and HEAD everywhere but `/logout`, POST for `/login` and `/logout` only).

use crate::rid::Rid;

/// A resource of the web side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: the HTML page.
    Page,
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
        _ => "GET, HEAD",
    }
}

/// The methods the route at `path` takes (`GET, HEAD` if it is none).
pub fn allowed_at(path: &str) -> &'static str {
    match_path(path).map_or("GET, HEAD", |r| allows(&r))
}

fn match_path(path: &str) -> Result<Route, Miss> {
    if path == "/" {
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

/// 1 to [`MAX_FILE_NUMBER`], decimal digits without a leading zero.
fn file_number(s: &str) -> Option<u32> {
    let ok = !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    let n: u32 = s.parse().ok().filter(|_| ok && !s.starts_with('0'))?;
    (1..=MAX_FILE_NUMBER).contains(&n).then_some(n)
}
