//! The admin pages' API: `/api/users`, `/api/tokens`, `/api/devices`, `/api/storage`
//! (`docs/server-api.md`). Admins only (403 `forbidden` otherwise). Each change is made with
//! the store functions the console uses ([`store`], [`sql`]) and written with its audit entry
//! in one transaction, under the console's action names (`user_add`, `user_change`,
//! `user_remove`, `token_add`, `token_revoke`, `device_add`, `device_change`,
//! `device_remove`): no entry, no change (503 `not_audited`).
//!
//! Errors are `{"error": CODE, "message": TEXT}`. What a request may ask is decided by the
//! sans-IO part ([`plan`]): its JSON read strictly (unknown fields refused), names, roles,
//! groups and device fields checked as the console checks them, and an admin limited to some
//! groups makes no user, token or device beyond them.

use super::body::Body;
use super::route::Admin;
use super::{full, set};
use crate::audit::{web, Action, Event};
use crate::auth::role::{Roles, Scope};
use crate::auth::store::{self, TokenRefusal, User};
use crate::auth::{password, Principal, Role, Who};
use crate::catalog::db::Conn;
use crate::catalog::filter::{Filter, Order, PageAsk};
use crate::catalog::{sql, Catalog, CatalogError, Device};
use crate::devices::cli::fields_json;
use callrec_core::mac::Mac;
use hyper::{header, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

/// The longest a token may be made to last, in days (as the console's `--expires`).
pub const MAX_TOKEN_DAYS: u64 = 36_500;

/// A refusal: status, stable code, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        status,
        code,
        message: message.into(),
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> Refused {
    refused(StatusCode::BAD_REQUEST, code, message)
}

/// The JSON error answer.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = json!({ "error": code, "message": message }).to_string();
    full(status, "application/json", body)
}

fn answer_json(status: StatusCode, v: &Value) -> Response<Body> {
    full(status, "application/json", v.to_string())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: String,
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    expires_days: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceFields {
    owner: String,
    #[serde(default)]
    extension: String,
    #[serde(default)]
    group: String,
}

/// What a request asks, once read and checked (no I/O).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    ListUsers,
    AddUser {
        name: String,
        password: String,
        roles: Roles,
        scope: Scope,
    },
    ChangeUser {
        name: String,
        password: Option<String>,
        access: Option<(Roles, Scope)>,
    },
    RemoveUser(String),
    ListTokens,
    AddToken {
        label: String,
        roles: Roles,
        scope: Scope,
        expires_days: Option<u64>,
    },
    RevokeToken(String),
    ListDevices,
    GetDevice(Mac),
    PutDevice(Device),
    RemoveDevice(Mac),
    Storage,
}

fn body_json<T: serde::de::DeserializeOwned>(body: Option<&[u8]>) -> Result<T, Refused> {
    let b = body.ok_or_else(|| {
        bad(
            "bad_body",
            format!("a JSON body of at most {} bytes is needed", super::MAX_BODY),
        )
    })?;
    serde_json::from_slice(b).map_err(|e| bad("bad_json", format!("the body: {e}")))
}

fn roles_of(names: &[String]) -> Result<Roles, Refused> {
    Roles::parse(&names.join(","))
        .filter(|_| !names.iter().any(|n| n.contains(',')))
        .ok_or_else(|| {
            bad(
                "bad_roles",
                "roles: one or more of admin, supervisor, auditor, metrics",
            )
        })
}

fn scope_of(groups: &[String]) -> Result<Scope, Refused> {
    if groups.is_empty() {
        return Ok(Scope::all());
    }
    Scope::parse(&groups.join(","))
        .filter(|_| !groups.iter().any(|g| g.contains(',')))
        .ok_or_else(|| {
            bad(
                "bad_groups",
                "groups: names of 1 to 64 characters, no comma or control character, at most 64",
            )
        })
}

fn user_name(name: &str) -> Result<String, Refused> {
    if store::valid_name(name) {
        Ok(name.to_string())
    } else {
        Err(bad("bad_name", "a name: 1 to 64 of A-Z a-z 0-9 . _ @ -"))
    }
}

fn new_password(pw: &str) -> Result<String, Refused> {
    password::acceptable(pw).map_err(|m| bad("bad_password", m))?;
    Ok(pw.to_string())
}

fn mac_of(text: &str) -> Result<Mac, Refused> {
    Mac::parse(text)
        .ok_or_else(|| bad("bad_mac", "not a MAC: 12 hex digits, with : - or . or none"))
}

/// Reads a request for `resource` with `method` and its `body`: what to do, or why not.
pub fn plan(resource: &Admin, method: &Method, body: Option<&[u8]>) -> Result<Plan, Refused> {
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let put = method == Method::PUT;
    let delete = method == Method::DELETE;
    let unexpected = || {
        refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "method",
            "method not allowed",
        )
    };
    Ok(match resource {
        Admin::Users if get => Plan::ListUsers,
        Admin::Users if post => {
            let u: NewUser = body_json(body)?;
            Plan::AddUser {
                name: user_name(&u.name)?,
                password: new_password(&u.password)?,
                roles: roles_of(&u.roles)?,
                scope: scope_of(&u.groups)?,
            }
        }
        Admin::User(name) if put => {
            let c: UserChange = body_json(body)?;
            let access = match (&c.roles, &c.groups) {
                (None, None) => None,
                (Some(r), g) => Some((roles_of(r)?, scope_of(g.as_deref().unwrap_or(&[]))?)),
                (None, Some(_)) => {
                    return Err(bad("bad_roles", "groups go with the roles they limit"))
                }
            };
            let password = c.password.as_deref().map(new_password).transpose()?;
            if password.is_none() && access.is_none() {
                return Err(bad(
                    "nothing_to_change",
                    "give a password, or roles (and groups)",
                ));
            }
            Plan::ChangeUser {
                name: user_name(name)?,
                password,
                access,
            }
        }
        Admin::User(name) if delete => Plan::RemoveUser(user_name(name)?),
        Admin::Tokens if get => Plan::ListTokens,
        Admin::Tokens if post => {
            let t: NewToken = body_json(body)?;
            if !store::valid_label(&t.name) {
                return Err(bad("bad_label", "a token's name: 1 to 100 characters"));
            }
            if let Some(d) = t.expires_days {
                if !(1..=MAX_TOKEN_DAYS).contains(&d) {
                    return Err(bad("bad_expiry", "expires_days: 1 to 36500"));
                }
            }
            Plan::AddToken {
                label: t.name,
                roles: roles_of(&t.roles)?,
                scope: scope_of(&t.groups)?,
                expires_days: t.expires_days,
            }
        }
        Admin::Token(id) if delete => Plan::RevokeToken(id.clone()),
        Admin::Devices if get => Plan::ListDevices,
        Admin::Device(mac) if get => Plan::GetDevice(mac_of(mac)?),
        Admin::Device(mac) if put => {
            let f: DeviceFields = body_json(body)?;
            let field = |r: Result<String, String>| r.map_err(|m| bad("bad_device", m));
            Plan::PutDevice(Device {
                mac: mac_of(mac)?.to_string(),
                owner: field(crate::devices::owner(&f.owner))?,
                extension: field(crate::devices::extension(&f.extension))?,
                group: field(crate::devices::group(&f.group))?,
                updated_ms: 0,
            })
        }
        Admin::Device(mac) if delete => Plan::RemoveDevice(mac_of(mac)?),
        Admin::Storage if get => Plan::Storage,
        _ => return Err(unexpected()),
    })
}

/// A user as the API shows it (never its hash).
fn user_json(u: &User) -> Value {
    json!({
        "name": u.name,
        "roles": u.roles.iter().map(Role::name).collect::<Vec<_>>(),
        "groups": u.scope.groups(),
    })
}

fn token_json(t: &store::Token, now_ms: u64) -> Value {
    let state = if t.revoked_ms.is_some() {
        "revoked"
    } else if t.expires_ms.is_some_and(|e| now_ms >= e) {
        "expired"
    } else {
        "live"
    };
    json!({
        "id": t.id, "name": t.name, "state": state,
        "roles": t.roles.iter().map(Role::name).collect::<Vec<_>>(),
        "groups": t.scope.groups(), "by": t.creator, "created_ms": t.created_ms,
        "expires_ms": t.expires_ms, "revoked_ms": t.revoked_ms,
    })
}

fn device_json(d: &Device) -> Value {
    json!({
        "mac": d.mac, "owner": d.owner, "extension": d.extension, "group": d.group,
        "updated_ms": d.updated_ms,
    })
}

/// What a change-or-read closure yields: the answer, or a refusal.
type Outcome = Result<(StatusCode, Value), Refused>;

fn unavailable(e: &CatalogError) -> Refused {
    crate::limited!(crate::logs::Kind::Http, "http: admin: {e}");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "catalog_unavailable",
        "the catalog is unavailable",
    )
}

/// A request of the admin API.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub resource: &'a Admin,
    pub method: &'a Method,
    pub body: Option<&'a [u8]>,
}

/// Answers an admin API request (on a reader thread: it reads and writes the catalog, and
/// hashes passwords).
pub fn answer(
    catalog: &Catalog,
    store_root: &std::path::Path,
    space: Option<&crate::space::Space>,
    who: &Principal,
    asked: Asked,
    now_ms: u64,
) -> Response<Body> {
    let Asked {
        resource,
        method,
        body,
    } = asked;
    let result = if who.roles.has(Role::Admin) {
        plan(resource, method, body)
            .and_then(|p| carry_out(catalog, store_root, space, who, p, now_ms))
    } else {
        Err(refused(
            StatusCode::FORBIDDEN,
            "forbidden",
            "users, tokens, devices and the storage need the admin role",
        ))
    };
    match result {
        Ok((status, v)) => answer_json(status, &v),
        Err(r) => {
            let mut resp = error(r.status, r.code, &r.message);
            if r.status == StatusCode::METHOD_NOT_ALLOWED {
                set(
                    &mut resp,
                    header::ALLOW,
                    super::route::allows(&super::route::Route::Admin(resource.clone())),
                );
            }
            resp
        }
    }
}

/// Runs a change with its entry in one transaction; the closure says the answer and the entry
/// (none: nothing was changed, as for a refusal found inside the transaction).
fn audited(
    catalog: &Catalog,
    now_ms: u64,
    change: impl FnOnce(&mut dyn Conn) -> Result<(Outcome, Option<Event>), CatalogError>,
) -> Outcome {
    match super::audit::with_change(catalog, now_ms, change) {
        Ok(outcome) => outcome,
        Err(e) => {
            crate::limited!(crate::logs::Kind::Http, "http: admin: {e}");
            Err(refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_audited",
                "the change and its audit entry could not be written: not done, try again",
            ))
        }
    }
}

fn beyond(what: &str) -> Refused {
    refused(
        StatusCode::FORBIDDEN,
        "beyond_scope",
        format!("{what} would reach groups beyond your own"),
    )
}

fn carry_out(
    catalog: &Catalog,
    store_root: &std::path::Path,
    space: Option<&crate::space::Space>,
    who: &Principal,
    plan: Plan,
    now_ms: u64,
) -> Outcome {
    let read = |f: &mut dyn FnMut(&mut dyn Conn) -> Result<Value, CatalogError>| {
        catalog
            .read(|c| f(c))
            .map(|v| (StatusCode::OK, v))
            .map_err(|e| unavailable(&e))
    };
    let event = |action: Action, what: Value| web::event(who, action, "", what);
    match plan {
        Plan::ListUsers => read(&mut |c| {
            Ok(Value::Array(
                store::users(c)?.iter().map(user_json).collect(),
            ))
        }),
        Plan::AddUser {
            name,
            password,
            roles,
            scope,
        } => {
            if !scope.within(&who.scope) {
                return Err(beyond("the user"));
            }
            let hash = password::hash(&password).map_err(|m| {
                log::error!("http: admin: password hash: {m}");
                refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "cannot hash the password",
                )
            })?;
            let u = User {
                name: name.clone(),
                roles,
                scope: scope.clone(),
                hash,
            };
            let what =
                json!({ "user": name, "roles": roles.to_string(), "groups": scope.stored() });
            audited(catalog, now_ms, |c| {
                if !store::add_user(c, &u, now_ms)? {
                    let taken = refused(
                        StatusCode::CONFLICT,
                        "name_taken",
                        format!("user {name} exists"),
                    );
                    return Ok((Err(taken), None));
                }
                Ok((
                    Ok((StatusCode::CREATED, user_json(&u))),
                    Some(event(Action::USER_ADD, what)),
                ))
            })
        }
        Plan::ChangeUser {
            name,
            password,
            access,
        } => {
            if let Some((_, scope)) = &access {
                if !scope.within(&who.scope) {
                    return Err(beyond("the user"));
                }
            }
            let hash = password
                .as_deref()
                .map(password::hash)
                .transpose()
                .map_err(|m| {
                    log::error!("http: admin: password hash: {m}");
                    refused(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "cannot hash the password",
                    )
                })?;
            audited(catalog, now_ms, |c| {
                let Some(before) = store::user(c, &name)? else {
                    return Ok((Err(no_user(&name)), None));
                };
                if !before.scope.within(&who.scope) {
                    return Ok((Err(beyond("changing this user")), None));
                }
                let mut what = json!({ "user": name });
                if let Some((roles, scope)) = &access {
                    if before.roles.has(Role::Admin)
                        && !roles.has(Role::Admin)
                        && last_admin(c, &name)?
                    {
                        return Ok((Err(last_admin_refusal()), None));
                    }
                    store::set_access(c, &name, *roles, scope, now_ms)?;
                    what["roles"] = json!(roles.to_string());
                    what["groups"] = json!(scope.stored());
                    what["before"] = json!({ "roles": before.roles.to_string(), "groups": before.scope.stored() });
                }
                if let Some(h) = &hash {
                    store::set_password(c, &name, h, now_ms)?;
                    what["password"] = json!("changed");
                    what["sessions"] = json!("ended");
                }
                let after = store::user(c, &name)?.unwrap_or(before);
                Ok((
                    Ok((StatusCode::OK, user_json(&after))),
                    Some(event(Action::USER_CHANGE, what)),
                ))
            })
        }
        Plan::RemoveUser(name) => audited(catalog, now_ms, |c| {
            let Some(before) = store::user(c, &name)? else {
                return Ok((Err(no_user(&name)), None));
            };
            if !before.scope.within(&who.scope) {
                return Ok((Err(beyond("removing this user")), None));
            }
            if before.roles.has(Role::Admin) && last_admin(c, &name)? {
                return Ok((Err(last_admin_refusal()), None));
            }
            store::remove_user(c, &name)?;
            Ok((
                Ok((StatusCode::OK, json!({ "removed": name }))),
                Some(event(Action::USER_REMOVE, json!({ "user": name }))),
            ))
        }),
        Plan::ListTokens => read(&mut |c| {
            let tokens = store::tokens(c)?;
            Ok(Value::Array(
                tokens.iter().map(|t| token_json(t, now_ms)).collect(),
            ))
        }),
        Plan::AddToken {
            label,
            roles,
            scope,
            expires_days,
        } => {
            let Who::User(by) = &who.who else {
                return Err(refused(
                    StatusCode::FORBIDDEN,
                    "needs_user",
                    "a token is made by a logged-in admin, not by another token",
                ));
            };
            let expires = expires_days.map(|d| now_ms + d * 86_400_000);
            audited(catalog, now_ms, |c| {
                let made = store::add_token(c, by, &label, roles, &scope, expires, now_ms)?;
                match made {
                    Ok((id, secret)) => {
                        let what = json!({
                            "token": id, "label": label, "by": by, "roles": roles.to_string(),
                            "groups": scope.stored(), "expires_ms": expires,
                        });
                        let shown = json!({
                            "id": id, "name": label, "token": secret,
                            "roles": roles.iter().map(Role::name).collect::<Vec<_>>(),
                            "groups": scope.groups(), "expires_ms": expires,
                        });
                        Ok((
                            Ok((StatusCode::CREATED, shown)),
                            Some(event(Action::TOKEN_ADD, what)),
                        ))
                    }
                    Err(TokenRefusal::NotAdmin(m) | TokenRefusal::Exceeds(m)) => Ok((
                        Err(refused(StatusCode::FORBIDDEN, "beyond_creator", m)),
                        None,
                    )),
                }
            })
        }
        Plan::RevokeToken(id) => audited(catalog, now_ms, |c| {
            if !store::revoke_token(c, &id, now_ms)? {
                let none = refused(
                    StatusCode::NOT_FOUND,
                    "no_token",
                    format!("no live token {id}"),
                );
                return Ok((Err(none), None));
            }
            Ok((
                Ok((StatusCode::OK, json!({ "revoked": id }))),
                Some(event(Action::TOKEN_REVOKE, json!({ "token": id }))),
            ))
        }),
        Plan::ListDevices => read(&mut |c| {
            Ok(Value::Array(
                sql::devices(c)?.iter().map(device_json).collect(),
            ))
        }),
        Plan::GetDevice(mac) => {
            let found = catalog.read(|c| sql::device(c, &mac.to_string()));
            match found {
                Ok(Some(d)) => Ok((StatusCode::OK, device_json(&d))),
                Ok(None) => Err(no_device(&mac)),
                Err(e) => Err(unavailable(&e)),
            }
        }
        Plan::PutDevice(mut device) => {
            if !who.scope.reaches(&device.group) {
                return Err(beyond("the device's group"));
            }
            device.updated_ms = now_ms;
            audited(catalog, now_ms, |c| {
                if let Some(old) = sql::device(c, &device.mac)? {
                    if !who.scope.reaches(&old.group) {
                        return Ok((Err(beyond("changing this device")), None));
                    }
                }
                let before = sql::put_device_in(c, &device)?;
                let (status, action, what) = match &before {
                    None => (
                        StatusCode::CREATED,
                        Action::DEVICE_ADD,
                        json!({ "device": fields_json(&device) }),
                    ),
                    Some(b) => (
                        StatusCode::OK,
                        Action::DEVICE_CHANGE,
                        json!({ "device": fields_json(&device), "before": fields_json(b) }),
                    ),
                };
                Ok((
                    Ok((status, device_json(&device))),
                    Some(event(action, what)),
                ))
            })
        }
        Plan::RemoveDevice(mac) => audited(catalog, now_ms, |c| {
            if let Some(old) = sql::device(c, &mac.to_string())? {
                if !who.scope.reaches(&old.group) {
                    return Ok((Err(beyond("removing this device")), None));
                }
            }
            match sql::remove_device_in(c, &mac.to_string())? {
                Some(b) => Ok((
                    Ok((StatusCode::OK, json!({ "removed": b.mac }))),
                    Some(event(
                        Action::DEVICE_REMOVE,
                        json!({ "device": fields_json(&b) }),
                    )),
                )),
                None => Ok((Err(no_device(&mac)), None)),
            }
        }),
        Plan::Storage => storage(catalog, store_root, space, who),
    }
}

fn no_user(name: &str) -> Refused {
    refused(StatusCode::NOT_FOUND, "no_user", format!("no user {name}"))
}

fn no_device(mac: &Mac) -> Refused {
    refused(
        StatusCode::NOT_FOUND,
        "no_device",
        format!("{mac} is not in the registry"),
    )
}

fn last_admin_refusal() -> Refused {
    refused(
        StatusCode::CONFLICT,
        "last_admin",
        "the last admin cannot be removed or lose the admin role",
    )
}

/// Whether `name` is the only admin.
fn last_admin(c: &mut dyn Conn, name: &str) -> Result<bool, CatalogError> {
    let others = store::users(c)?
        .iter()
        .filter(|u| u.name != name && u.roles.has(Role::Admin))
        .count();
    Ok(others == 0)
}

/// `GET /api/storage`: free space (a fresh reading), the reserve, the recordings in the
/// caller's scope and the oldest of them.
fn storage(
    catalog: &Catalog,
    root: &std::path::Path,
    space: Option<&crate::space::Space>,
    who: &Principal,
) -> Outcome {
    let filter = Filter {
        scope: (!who.scope.is_all()).then(|| who.scope.groups().to_vec()),
        order: Order::OldestFirst,
        ..Filter::default()
    };
    let ask = PageAsk {
        after: None,
        offset: 0,
        limit: 1,
    };
    let page = catalog.search(&filter, &ask).map_err(|e| unavailable(&e))?;
    let oldest = page.rows.first();
    let free = callrec_platform::store::fs::free_bytes(root).ok();
    Ok((
        StatusCode::OK,
        json!({
            "free_bytes": free,
            "reserve_bytes": space.map(|s| s.reserve()),
            "full": space.map(|s| s.is_full()),
            "recordings": page.total,
            "oldest_start_ms": oldest.map(|r| r.sidecar.start_ms),
            "oldest_rid": oldest.map(|r| r.rid.clone()),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asks(resource: Admin, method: Method, body: &str) -> Result<Plan, Refused> {
        plan(&resource, &method, Some(body.as_bytes()))
    }

    #[test]
    fn a_new_user_is_read_strictly() {
        let ok = asks(
            Admin::Users,
            Method::POST,
            r#"{"name":"sup","password":"long enough pw","roles":["supervisor"],"groups":["sales"]}"#,
        )
        .unwrap();
        assert_eq!(
            ok,
            Plan::AddUser {
                name: "sup".into(),
                password: "long enough pw".into(),
                roles: Roles::parse("supervisor").unwrap(),
                scope: Scope::parse("sales").unwrap(),
            }
        );
        let code = |body: &str| asks(Admin::Users, Method::POST, body).unwrap_err().code;
        assert_eq!(
            code(r#"{"name":"-x","password":"long enough pw","roles":["admin"]}"#),
            "bad_name"
        );
        assert_eq!(
            code(r#"{"name":"x","password":"short","roles":["admin"]}"#),
            "bad_password"
        );
        assert_eq!(
            code(r#"{"name":"x","password":"long enough pw","roles":["root"]}"#),
            "bad_roles"
        );
        assert_eq!(
            code(r#"{"name":"x","password":"long enough pw","roles":[]}"#),
            "bad_roles"
        );
        assert_eq!(
            code(r#"{"name":"x","password":"long enough pw","roles":["admin,auditor"]}"#),
            "bad_roles"
        );
        assert_eq!(
            code(r#"{"name":"x","password":"long enough pw","roles":["admin"],"groups":["a,b"]}"#),
            "bad_groups"
        );
        assert_eq!(
            code(r#"{"name":"x","password":"long enough pw","roles":["admin"],"is_root":true}"#),
            "bad_json"
        );
        assert_eq!(code("not json"), "bad_json");
        assert_eq!(
            plan(&Admin::Users, &Method::POST, None).unwrap_err().code,
            "bad_body"
        );
    }

    #[test]
    fn changes_tokens_and_devices_are_checked() {
        let code = |r: Admin, m: Method, body: &str| asks(r, m, body).unwrap_err().code;
        let user = || Admin::User("anna".into());
        assert_eq!(code(user(), Method::PUT, "{}"), "nothing_to_change");
        assert_eq!(
            code(user(), Method::PUT, r#"{"groups":["a"]}"#),
            "bad_roles"
        );
        assert_eq!(
            asks(user(), Method::PUT, r#"{"roles":["auditor"]}"#).unwrap(),
            Plan::ChangeUser {
                name: "anna".into(),
                password: None,
                access: Some((Roles::parse("auditor").unwrap(), Scope::all())),
            }
        );
        assert_eq!(
            code(Admin::User("a b".into()), Method::DELETE, ""),
            "bad_name"
        );
        assert_eq!(
            code(
                Admin::Tokens,
                Method::POST,
                r#"{"name":"","roles":["supervisor"]}"#
            ),
            "bad_label"
        );
        assert_eq!(
            code(
                Admin::Tokens,
                Method::POST,
                r#"{"name":"crm","roles":["supervisor"],"expires_days":0}"#
            ),
            "bad_expiry"
        );
        let dev = || Admin::Device("00:15:65:aa:bb:cc".into());
        match asks(dev(), Method::PUT, r#"{"owner":" Anna ","group":"Sales"}"#).unwrap() {
            Plan::PutDevice(d) => {
                assert_eq!(
                    (d.mac.as_str(), d.owner.as_str(), d.group.as_str()),
                    ("001565AABBCC", "Anna", "Sales")
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(code(dev(), Method::PUT, r#"{"owner":""}"#), "bad_device");
        assert_eq!(
            code(dev(), Method::PUT, r#"{"owner":"A","extension":"<x>"}"#),
            "bad_device"
        );
        assert_eq!(code(Admin::Device("zz".into()), Method::GET, ""), "bad_mac");
        assert_eq!(code(Admin::Storage, Method::DELETE, ""), "method");
    }
}
