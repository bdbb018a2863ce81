//! The audit trail on the web side: the entries its requests write (before their answer: an
//! action whose entry cannot be written is refused, 503), and `GET /api/audit` and
//! `GET /api/recordings/RID/audit`.

use super::{full, json, set, Body, Failure};
use crate::audit::store::{self, Query};
use crate::audit::web::{self, Format};
use crate::audit::{AuditError, Event};
use crate::auth::{Principal, Role};
use crate::catalog::{Catalog, CatalogError};
use hyper::header::{self, HeaderName};
use hyper::{Response, StatusCode};

/// The refusal of an action whose entry could not be written.
pub const NOT_AUDITED: Failure = (
    StatusCode::SERVICE_UNAVAILABLE,
    "the audit trail cannot be written: not done, try again",
);

/// Appends `event` at `now_ms` on one of the catalog's connections.
pub fn append(catalog: &Catalog, event: &Event, now_ms: u64) -> Result<(), AuditError> {
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    catalog
        .read(|c| store::append(c, event, now).map_err(to_catalog))
        .map(|_| ())
        .map_err(AuditError::Catalog)
}

/// Runs `change` and writes its entry in one transaction (`store::with_change`) on one of the
/// catalog's connections.
pub fn with_change<T>(
    catalog: &Catalog,
    now_ms: u64,
    change: impl FnOnce(&mut dyn crate::catalog::db::Conn) -> Result<(T, Option<Event>), CatalogError>,
) -> Result<T, AuditError> {
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    catalog
        .read(|c| {
            store::with_change(c, now, change)
                .map(|(v, _)| v)
                .map_err(to_catalog)
        })
        .map_err(AuditError::Catalog)
}

/// The pool of connections drops a connection on `Unavailable`: an audit error keeps its kind.
fn to_catalog(e: AuditError) -> CatalogError {
    match e {
        AuditError::Catalog(e) => e,
        AuditError::Data(m) => CatalogError::Data(m),
    }
}

/// Writes `event`, or the refusal to answer without it.
pub fn record(catalog: &Catalog, event: &Event, now_ms: u64) -> Result<(), Failure> {
    append(catalog, event, now_ms).map_err(|e| {
        crate::limited!(crate::logs::Kind::Http, "http: {e}");
        NOT_AUDITED
    })
}

/// Whether a request of a recording's audio starts a listen or a download (and so is an entry):
/// one without a `Range`, or with a range from byte 0. A player's later ranges (its seeks, the
/// rest of what it buffers) are the same listen.
pub fn starts(range: Option<&[u8]>) -> bool {
    match range {
        None => true,
        Some(r) => {
            let r = String::from_utf8_lossy(r);
            let r = r.trim();
            r.strip_prefix("bytes=")
                .map(str::trim_start)
                .is_none_or(|rest| {
                    rest.starts_with("0-") || !rest.starts_with(|c: char| c.is_ascii_digit())
                })
        }
    }
}

/// `GET /api/audit?…`: auditors only.
pub fn trail(
    catalog: &Catalog,
    who: &Principal,
    query: Option<&str>,
) -> Result<Response<Body>, Failure> {
    if !who.roles.has(Role::Auditor) {
        return Err((
            StatusCode::FORBIDDEN,
            "the audit trail needs the auditor role",
        ));
    }
    answer(catalog, query, None)
}

/// `GET /api/recordings/RID/audit`: the entries of one recording (its caller checked that
/// `who` may see it: an auditor, or a supervisor whose scope reaches it).
pub fn history(
    catalog: &Catalog,
    query: Option<&str>,
    rid: &str,
) -> Result<Response<Body>, Failure> {
    answer(catalog, query, Some(rid))
}

/// Whether `who` may read a recording's own history (before its scope is checked).
pub fn may_read_history(who: &Principal) -> bool {
    who.roles.has(Role::Auditor) || who.roles.has(Role::Supervisor)
}

fn answer(
    catalog: &Catalog,
    query: Option<&str>,
    rid: Option<&str>,
) -> Result<Response<Body>, Failure> {
    let unix_ms = |t: &_| callrec_platform::clock::unix_of_local(t).map(|s| s.saturating_mul(1000));
    let mut ask = web::parse(query, unix_ms).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "bad audit query: since, until (YYYY-MM-DD[THH:MM[:SS]]), action, who, rid, after, limit, format=json|csv",
        )
    })?;
    if let Some(rid) = rid {
        ask.query.rid = Some(rid.to_string());
    }
    let entries = read(catalog, &ask.query, ask.limit + 1)?;
    match ask.format {
        Format::Json => json(&web::page_json(entries, ask.limit)),
        Format::Csv => {
            let (csv, next) = web::page_csv(entries, ask.limit);
            let mut r = full(StatusCode::OK, "text/csv; charset=utf-8", csv);
            set(
                &mut r,
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit.csv\"",
            );
            if let Some(n) = next {
                set(
                    &mut r,
                    HeaderName::from_static("x-next-after"),
                    &n.to_string(),
                );
            }
            Ok(r)
        }
    }
}

fn read(
    catalog: &Catalog,
    q: &Query,
    limit: usize,
) -> Result<Vec<crate::audit::chain::Entry>, Failure> {
    catalog
        .read(|c| store::entries(c, q, limit).map_err(to_catalog))
        .map_err(super::unavailable)
}

#[cfg(test)]
mod tests {
    use super::starts;

    #[test]
    fn a_listen_starts_at_byte_0_and_its_seeks_are_the_same_listen() {
        assert!(starts(None));
        assert!(starts(Some(b"bytes=0-")));
        assert!(starts(Some(b"bytes=0-1023")));
        assert!(starts(Some(b"bytes=-500")));
        assert!(!starts(Some(b"bytes=1024-")));
        assert!(!starts(Some(b"bytes=88200-176399")));
    }
}
