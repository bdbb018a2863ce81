//! Retention and legal hold on the web side (`crate::retention`): `PUT`/`DELETE
//! /api/recordings/RID/hold`, `POST /api/holds`, `DELETE /api/recordings/RID`, `GET`/`PUT
//! /api/retention`, and the `hold` and `delete_after_ms` fields of a recording's JSON. Errors
//! are `{"error": CODE, "message": TEXT}`. A recording outside the requester's scope does not
//! exist (404); every change is an audit entry written in the change's transaction.

use super::audit::with_change;
use super::body::Body;
use super::query::Search;
use super::recording::View;
use super::route::Keep;
use super::{find, full};
use crate::audit::{web, Action, AuditError};
use crate::auth::{Principal, Role};
use crate::catalog::retention::{self as held, Hold};
use crate::catalog::{Catalog, CatalogError};
use crate::retention::dispose::{self, Failed, Refused};
use crate::retention::policy::{self, Policy, MAX_REASON};
use crate::retention::sweep;
use crate::rid::Rid;
use crate::store::Store;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The most recordings one `POST /api/holds` holds; a larger search is refused (`too_many`).
pub const MAX_SEARCH_HOLD: u64 = 10_000;

type Fail = (StatusCode, &'static str, String);

fn fail(status: StatusCode, code: &'static str, message: impl Into<String>) -> Fail {
    (status, code, message.into())
}

/// `{"error": CODE, "message": TEXT}`.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": code, "message": message }).to_string();
    full(status, "application/json", body)
}

fn answer_of(r: Result<Value, Fail>) -> Response<Body> {
    match r {
        Ok(v) => full(StatusCode::OK, "application/json", v.to_string()),
        Err((status, code, message)) => refusal(status, code, &message),
    }
}

fn unavailable(e: impl core::fmt::Display) -> Fail {
    crate::limited!(crate::logs::Kind::Http, "http: retention: {e}");
    fail(
        StatusCode::SERVICE_UNAVAILABLE,
        "catalog_unavailable",
        "the catalog or the audit trail is unavailable: nothing was changed",
    )
}

fn audit_failed(e: AuditError) -> Fail {
    unavailable(e)
}

fn forbidden(message: &str) -> Fail {
    fail(StatusCode::FORBIDDEN, "forbidden", message)
}

fn admin(who: &Principal) -> Result<(), Fail> {
    if who.roles.has(Role::Admin) {
        Ok(())
    } else {
        Err(forbidden("this needs the admin role"))
    }
}

fn bad_body() -> Fail {
    fail(
        StatusCode::BAD_REQUEST,
        "bad_body",
        format!(
            "the body must be a JSON object of the documented fields, at most {} bytes",
            super::MAX_BODY
        ),
    )
}

fn parse<'a, T: Deserialize<'a>>(body: Option<&'a [u8]>) -> Result<T, Fail> {
    serde_json::from_slice(body.ok_or_else(bad_body)?).map_err(|_| bad_body())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithReason {
    #[serde(default)]
    reason: Option<String>,
}

/// A reason given: trimmed, not empty, at most [`MAX_REASON`] characters, no control
/// characters but line breaks.
fn reason(given: Option<String>) -> Result<String, Fail> {
    let r = given.unwrap_or_default().trim().to_string();
    if r.is_empty() {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "reason_missing",
            "a reason is required",
        ));
    }
    let bad = r.chars().count() > MAX_REASON
        || r.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t');
    if bad {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "bad_reason",
            format!("a reason is at most {MAX_REASON} characters, without control characters"),
        ));
    }
    Ok(r)
}

/// The recording `rid` within `who`'s scope.
fn in_scope(store: &Store, catalog: &Catalog, who: &Principal, rid: &Rid) -> Result<View, Fail> {
    let e = find(store, catalog, rid).map_err(|(status, text)| {
        let code = if status == StatusCode::NOT_FOUND {
            "not_found"
        } else {
            "catalog_unavailable"
        };
        fail(status, code, text)
    })?;
    if !who.scope.reaches(&e.sidecar.group) {
        return Err(fail(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such recording",
        ));
    }
    Ok(e.view())
}

/// Sets `hold` and `delete_after_ms` of each of `views` from the catalog.
pub fn annotate(catalog: &Catalog, views: &mut [View]) -> Result<(), CatalogError> {
    if views.is_empty() {
        return Ok(());
    }
    let rids: Vec<String> = views.iter().map(|v| v.rid.clone()).collect();
    let (policy, mut holds) =
        catalog.read(|c| Ok((held::policy(c)?, held::holds_of(c, &rids)?)))?;
    for v in views {
        v.hold = holds.remove(&v.rid);
        v.delete_after_ms = match v.hold {
            Some(_) => None,
            None => policy.delete_after_ms(&v.sidecar.group, v.sidecar.start_ms),
        };
    }
    Ok(())
}

fn view_json(catalog: &Catalog, mut v: View) -> Result<Value, Fail> {
    annotate(catalog, std::slice::from_mut(&mut v)).map_err(unavailable)?;
    serde_json::to_value(&v).map_err(unavailable)
}

/// One of the retention routes.
pub fn answer(
    store: &Store,
    catalog: &Catalog,
    who: &Principal,
    route: &Keep,
    method: &Method,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Response<Body> {
    let (put, delete) = (method == Method::PUT, method == Method::DELETE);
    answer_of(match route {
        Keep::Hold(rid) if put => set_hold(store, catalog, who, rid, body, now_ms),
        Keep::Hold(rid) if delete => release(store, catalog, who, rid, body, now_ms),
        Keep::Holds if method == Method::POST => hold_search(catalog, who, body, now_ms),
        Keep::Delete(rid) if delete => self::delete(store, catalog, who, rid, body, now_ms),
        Keep::Retention if method == Method::GET || method == Method::HEAD => show(catalog, who),
        Keep::Retention if put => change(catalog, who, body, now_ms),
        _ => Err(fail(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
        )),
    })
}

fn may_hold(who: &Principal) -> Result<(), Fail> {
    if who.roles.has(Role::Admin) || who.roles.has(Role::Supervisor) {
        Ok(())
    } else {
        Err(forbidden(
            "a legal hold needs the admin or the supervisor role",
        ))
    }
}

/// `PUT /api/recordings/RID/hold`: admin or supervisor, in scope. A recording already held
/// keeps its first hold (and no entry is written again).
fn set_hold(
    store: &Store,
    catalog: &Catalog,
    who: &Principal,
    rid: &Rid,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Result<Value, Fail> {
    may_hold(who)?;
    let why = reason(parse::<WithReason>(body)?.reason)?;
    let view = in_scope(store, catalog, who, rid)?;
    hold_one(catalog, who, &view.rid, &why, None, now_ms)?;
    view_json(catalog, view)
}

/// Holds `rid` with its `legal_hold` entry; false if it was held already.
fn hold_one(
    catalog: &Catalog,
    who: &Principal,
    rid: &str,
    why: &str,
    search: Option<&str>,
    now_ms: u64,
) -> Result<bool, Fail> {
    let hold = Hold {
        reason: why.to_string(),
        by: web::who_of(who),
        ms: now_ms,
    };
    let mut what = json!({ "hold": "set", "reason": why });
    if let Some(q) = search {
        what["search"] = Value::String(q.to_string());
    }
    let event = web::event(who, Action::LEGAL_HOLD, rid, what);
    with_change(catalog, now_ms, |c| {
        // The row is read inside the transaction: a recording deleted meanwhile is not held.
        if crate::catalog::sql::get(c, rid)?.is_none() {
            return Ok((None, None));
        }
        let new = held::set_hold(c, rid, &hold)?;
        Ok((Some(new), new.then_some(event)))
    })
    .map_err(audit_failed)?
    .ok_or_else(|| fail(StatusCode::NOT_FOUND, "not_found", "no such recording"))
}

/// `DELETE /api/recordings/RID/hold`: admin only.
fn release(
    store: &Store,
    catalog: &Catalog,
    who: &Principal,
    rid: &Rid,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Result<Value, Fail> {
    admin(who)?;
    let why = reason(parse::<WithReason>(body)?.reason)?;
    let view = in_scope(store, catalog, who, rid)?;
    let key = view.rid.clone();
    let released = with_change(catalog, now_ms, |c| {
        let Some(before) = held::release(c, &key)? else {
            return Ok((None, None));
        };
        let what = json!({
            "hold": "released", "reason": why,
            "held": { "reason": before.reason, "by": before.by, "ms": before.ms },
        });
        Ok((
            Some(before),
            Some(web::event(who, Action::LEGAL_HOLD, &key, what)),
        ))
    })
    .map_err(audit_failed)?;
    if released.is_none() {
        return Err(fail(
            StatusCode::CONFLICT,
            "not_held",
            "the recording is not on hold",
        ));
    }
    view_json(catalog, view)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldSearch {
    #[serde(default)]
    query: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/holds`: every recording the search matches within the caller's scope.
fn hold_search(
    catalog: &Catalog,
    who: &Principal,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Result<Value, Fail> {
    may_hold(who)?;
    let ask: HoldSearch = parse(body)?;
    let why = reason(ask.reason)?;
    let q = ask.query.trim_start_matches('?');
    let unix_ms = |t: &_| {
        let secs = callrec_platform::clock::unix_of_local(t)?;
        u64::try_from(secs).ok().map(|s| s * 1000)
    };
    let search = Search::parse(Some(q))
        .map_err(|e| fail(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))?;
    let mut filter = search
        .filter(unix_ms)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, "bad_query", e.to_string()))?;
    if !who.scope.is_all() {
        filter.scope = Some(who.scope.groups().to_vec());
    }
    let mut page_ask = crate::catalog::filter::PageAsk {
        after: None,
        offset: 0,
        limit: 1000,
    };
    let (mut matched, mut newly) = (0u64, 0u64);
    loop {
        let page = catalog.search(&filter, &page_ask).map_err(unavailable)?;
        if page.total > MAX_SEARCH_HOLD {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "too_many",
                format!(
                    "the search matches {} recordings; one request holds at most \
                     {MAX_SEARCH_HOLD}: narrow it",
                    page.total
                ),
            ));
        }
        for row in &page.rows {
            matched += 1;
            match hold_one(catalog, who, &row.rid, &why, Some(q), now_ms) {
                Ok(true) => newly += 1,
                Ok(false) => {}
                // Deleted since the page was read: no longer a match.
                Err((StatusCode::NOT_FOUND, ..)) => matched -= 1,
                // An entry that cannot be written: stop there (those held so far are
                // audited and stay held).
                Err(e) => return Err(e),
            }
        }
        match page.next {
            Some(next) => page_ask.after = Some(next),
            None => break,
        }
    }
    Ok(json!({ "held": newly, "matched": matched }))
}

/// `DELETE /api/recordings/RID`: admin only, with a reason; refused while held or recording.
fn delete(
    store: &Store,
    catalog: &Catalog,
    who: &Principal,
    rid: &Rid,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Result<Value, Fail> {
    admin(who)?;
    let why = reason(parse::<WithReason>(body)?.reason)?;
    let view = in_scope(store, catalog, who, rid)?;
    let key = view.rid.clone();
    let removed = catalog
        .read(|c| {
            Ok(dispose::remove(
                c,
                store,
                &key,
                now_ms,
                |_, _| Ok(Ok(())),
                |row| {
                    let what = json!({
                        "reason": why, "call_id": row.sidecar.id,
                        "start_ms": row.sidecar.start_ms, "group": row.sidecar.group,
                    });
                    web::event(who, Action::DELETE, &key, what)
                },
            ))
        })
        .map_err(unavailable)?;
    match removed {
        Ok(_) => Ok(json!({ "deleted": key })),
        Err(Failed::Refused(r)) => Err(refused(&r)),
        Err(Failed::Audit(e)) => Err(audit_failed(e)),
    }
}

fn refused(r: &Refused) -> Fail {
    match r {
        Refused::NotFound => fail(StatusCode::NOT_FOUND, "not_found", "no such recording"),
        Refused::OnHold(h) => fail(
            StatusCode::CONFLICT,
            "on_hold",
            format!(
                "the recording is on legal hold ({}, by {}): release it first",
                h.reason, h.by
            ),
        ),
        Refused::InProgress => fail(
            StatusCode::CONFLICT,
            "in_progress",
            "the recording is still in progress",
        ),
        Refused::NotDue => fail(StatusCode::CONFLICT, "not_due", "not past its retention"),
    }
}

/// Retention is the whole archive's: an admin of every group.
fn archive_admin(who: &Principal) -> Result<(), Fail> {
    admin(who)?;
    if who.scope.is_all() {
        Ok(())
    } else {
        Err(forbidden("retention needs an admin of every group"))
    }
}

/// `GET /api/retention`.
fn show(catalog: &Catalog, who: &Principal) -> Result<Value, Fail> {
    archive_admin(who)?;
    let p = catalog.read(held::policy).map_err(unavailable)?;
    Ok(p.to_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    /// Required (`null`: keep for ever), so that a body that forgot it keeps nothing by mistake.
    #[serde(default, deserialize_with = "present")]
    days: Option<Option<i64>>,
    #[serde(default)]
    groups: BTreeMap<String, i64>,
    #[serde(default)]
    dry_run: bool,
}

/// A field that is there, `null` or not (a missing one stays `None` by `default`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// The policy a `PUT /api/retention` body asks for.
fn policy_of(c: Change) -> Result<(Policy, bool), Fail> {
    let bad = |e: policy::Invalid| fail(StatusCode::BAD_REQUEST, e.code(), e.to_string());
    let days = c.days.ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            "days_missing",
            "\"days\" is required: a number of days, or null to keep for ever",
        )
    })?;
    let days = days.map(policy::days).transpose().map_err(bad)?;
    let mut groups = BTreeMap::new();
    for (g, d) in c.groups {
        groups.insert(
            policy::group(&g).map_err(bad)?,
            policy::days(d).map_err(bad)?,
        );
    }
    let p = Policy { days, groups };
    p.check().map_err(bad)?;
    Ok((p, c.dry_run))
}

/// `PUT /api/retention`: a dry run counts; otherwise the policy is replaced, audited.
fn change(
    catalog: &Catalog,
    who: &Principal,
    body: Option<&[u8]>,
    now_ms: u64,
) -> Result<Value, Fail> {
    archive_admin(who)?;
    let (p, dry_run) = policy_of(parse(body)?)?;
    let n = catalog
        .read(|c| sweep::would_delete(c, &p, now_ms))
        .map_err(unavailable)?;
    if dry_run {
        return Ok(json!({ "would_delete": n }));
    }
    with_change(catalog, now_ms, |c| {
        let before = held::policy(c)?;
        held::set_policy(c, &p)?;
        let what = json!({
            "before": before.to_json(), "after": p.to_json(), "would_delete": n,
        });
        Ok((
            (),
            Some(web::event(who, Action::RETENTION_CHANGE, "", what)),
        ))
    })
    .map_err(audit_failed)?;
    Ok(json!({ "applied": true, "would_delete": n }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(body: &str) -> Result<(Policy, bool), &'static str> {
        let c: Change = serde_json::from_str(body).map_err(|_| "bad_body")?;
        policy_of(c).map_err(|(_, code, _)| code)
    }

    #[test]
    fn a_retention_change_is_read_strictly() {
        let (p, dry) = change(r#"{"days":365,"groups":{"Sales":30},"dry_run":true}"#).unwrap();
        assert_eq!(
            (p.days, p.groups.get("Sales"), dry),
            (Some(365), Some(&30), true)
        );
        let (p, dry) = change(r#"{"days":null}"#).unwrap();
        assert!(p.keeps_all() && !dry);
        assert_eq!(change(r#"{"groups":{}}"#).unwrap_err(), "days_missing");
        assert_eq!(change(r#"{"days":0}"#).unwrap_err(), "bad_days");
        assert_eq!(change(r#"{"days":-5}"#).unwrap_err(), "bad_days");
        assert_eq!(
            change(r#"{"days":1,"groups":{"":3}}"#).unwrap_err(),
            "bad_group"
        );
        assert_eq!(change(r#"{"days":1,"keep":true}"#).unwrap_err(), "bad_body");
        assert_eq!(change(r#"{"days":"7"}"#).unwrap_err(), "bad_body");
    }

    #[test]
    fn the_routes_take_their_methods() {
        use super::super::route::{resolve, Miss, Route};
        let rid = "2026-11-21_20261121_080910_3";
        let parsed = || Rid::parse(rid).unwrap();
        let one = format!("/api/recordings/{rid}");
        let hold = format!("{one}/hold");
        assert_eq!(
            resolve("DELETE", &one),
            Ok(Route::Keep(Keep::Delete(parsed())))
        );
        assert_eq!(resolve("GET", &one), Ok(Route::One(parsed())));
        assert_eq!(resolve("PUT", &one), Err(Miss::Method));
        for m in ["PUT", "DELETE"] {
            assert_eq!(resolve(m, &hold), Ok(Route::Keep(Keep::Hold(parsed()))));
        }
        assert_eq!(resolve("GET", &hold), Err(Miss::Method));
        assert_eq!(
            resolve("PUT", "/api/recordings/nope/hold"),
            Err(Miss::BadId)
        );
        assert_eq!(resolve("POST", "/api/holds"), Ok(Route::Keep(Keep::Holds)));
        assert_eq!(resolve("GET", "/api/holds"), Err(Miss::Method));
        for m in ["GET", "HEAD", "PUT"] {
            assert_eq!(
                resolve(m, "/api/retention"),
                Ok(Route::Keep(Keep::Retention))
            );
        }
        assert_eq!(resolve("DELETE", "/api/retention"), Err(Miss::Method));
    }

    #[test]
    fn a_reason_is_required_and_bounded() {
        assert_eq!(reason(Some("  case 17 ".into())).unwrap(), "case 17");
        assert_eq!(reason(None).unwrap_err().1, "reason_missing");
        assert_eq!(reason(Some(" \n ".into())).unwrap_err().1, "reason_missing");
        assert_eq!(reason(Some("a\u{0}b".into())).unwrap_err().1, "bad_reason");
        assert_eq!(
            reason(Some("x".repeat(MAX_REASON + 1))).unwrap_err().1,
            "bad_reason"
        );
        assert!(reason(Some("line one\nline two".into())).is_ok());
    }
}
