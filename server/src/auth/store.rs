//! The accounts, sessions and API tokens in the catalog (schema version 6: `auth_users`,
//! `auth_sessions`, `auth_tokens`). Sessions and tokens are kept as the SHA-256 of their
//! secret only; a session's CSRF token is kept as it is (it proves nothing without the
//! session's cookie). Time is a parameter (Unix ms).

use super::role::{Roles, Scope};
use super::secret;
use crate::catalog::db::{transaction, Conn, Value};
use crate::catalog::CatalogError;

/// A session unused this long ends.
pub const SESSION_IDLE_MS: u64 = 30 * 60 * 1000;
/// A session ends this long after its login, used or not.
pub const SESSION_MAX_MS: u64 = 12 * 60 * 60 * 1000;
/// A session's last use is written at most this often.
const TOUCH_MS: u64 = 60 * 1000;
/// Sessions one user may hold; a login past it ends their oldest.
pub const MAX_SESSIONS_PER_USER: usize = 16;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub roles: Roles,
    pub scope: Scope,
    /// The Argon2id PHC string.
    pub hash: String,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub roles: Roles,
    pub scope: Scope,
    pub creator: String,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub revoked_ms: Option<u64>,
}

/// A user name: 1 to 64 of `A-Z a-z 0-9 . _ @ -`, not starting with `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
}

/// A token's label: 1 to 100 characters, no control character.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty() && label.chars().count() <= 100 && !label.chars().any(char::is_control)
}

fn int(v: u64) -> Value {
    Value::int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn opt_int(v: Option<u64>) -> Value {
    match v {
        Some(v) => int(v),
        None => Value::Int(None),
    }
}

fn uint(v: &Value) -> Option<u64> {
    v.as_int().and_then(|n| u64::try_from(n).ok())
}

fn text(v: Option<&Value>) -> Result<&str, CatalogError> {
    v.and_then(Value::as_text)
        .ok_or_else(|| CatalogError::Data("auth: a text column is missing".into()))
}

fn user_of(row: &[Value]) -> Result<User, CatalogError> {
    let bad = |what: &str| CatalogError::Data(format!("auth_users: bad {what}"));
    Ok(User {
        name: text(row.first())?.to_string(),
        roles: Roles::parse(text(row.get(1))?).ok_or_else(|| bad("roles"))?,
        scope: Scope::from_stored(text(row.get(2))?).ok_or_else(|| bad("groups"))?,
        hash: text(row.get(3))?.to_string(),
    })
}

const USER: &str = "name, roles, groups, hash";

/// Whether any account exists (a server without one serves nothing but how to make one).
pub fn any_user(conn: &mut dyn Conn) -> Result<bool, CatalogError> {
    Ok(!conn
        .query("SELECT name FROM auth_users LIMIT 1", &[])?
        .is_empty())
}

pub fn user(conn: &mut dyn Conn, name: &str) -> Result<Option<User>, CatalogError> {
    conn.query(
        &format!("SELECT {USER} FROM auth_users WHERE name = $1"),
        &[Value::text(name)],
    )?
    .first()
    .map(|r| user_of(r))
    .transpose()
}

pub fn users(conn: &mut dyn Conn) -> Result<Vec<User>, CatalogError> {
    conn.query(&format!("SELECT {USER} FROM auth_users ORDER BY name"), &[])?
        .iter()
        .map(|r| user_of(r))
        .collect()
}

/// Adds an account; false if the name is taken.
pub fn add_user(conn: &mut dyn Conn, user: &User, now_ms: u64) -> Result<bool, CatalogError> {
    transaction(conn, |c| {
        if self::user(c, &user.name)?.is_some() {
            return Ok(false);
        }
        c.execute(
            "INSERT INTO auth_users (name, roles, groups, hash, updated_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                Value::text(&user.name),
                Value::text(user.roles.to_string()),
                Value::text(user.scope.stored()),
                Value::text(&user.hash),
                int(now_ms),
            ],
        )?;
        Ok(true)
    })
}

/// Sets an account's password hash and ends its sessions; false if there is no such account.
pub fn set_password(
    conn: &mut dyn Conn,
    name: &str,
    hash: &str,
    now_ms: u64,
) -> Result<bool, CatalogError> {
    transaction(conn, |c| {
        let n = c.execute(
            "UPDATE auth_users SET hash = $1, updated_ms = $2 WHERE name = $3",
            &[Value::text(hash), int(now_ms), Value::text(name)],
        )?;
        c.execute(
            "DELETE FROM auth_sessions WHERE user_name = $1",
            &[Value::text(name)],
        )?;
        Ok(n > 0)
    })
}

/// Sets an account's roles and groups (in effect at its next request: a session reads its
/// account each time); false if there is no such account.
pub fn set_access(
    conn: &mut dyn Conn,
    name: &str,
    roles: Roles,
    scope: &Scope,
    now_ms: u64,
) -> Result<bool, CatalogError> {
    let n = conn.execute(
        "UPDATE auth_users SET roles = $1, groups = $2, updated_ms = $3 WHERE name = $4",
        &[
            Value::text(roles.to_string()),
            Value::text(scope.stored()),
            int(now_ms),
            Value::text(name),
        ],
    )?;
    Ok(n > 0)
}

/// Removes an account and its sessions (its tokens stop working: a token needs its creator);
/// false if there is no such account.
pub fn remove_user(conn: &mut dyn Conn, name: &str) -> Result<bool, CatalogError> {
    transaction(conn, |c| {
        c.execute(
            "DELETE FROM auth_sessions WHERE user_name = $1",
            &[Value::text(name)],
        )?;
        let n = c.execute(
            "DELETE FROM auth_users WHERE name = $1",
            &[Value::text(name)],
        )?;
        Ok(n > 0)
    })
}

/// A new session of `user`: (its secret for the cookie, its CSRF token).
pub fn new_session(
    conn: &mut dyn Conn,
    user: &str,
    now_ms: u64,
) -> Result<(String, String), CatalogError> {
    let random = |_| CatalogError::Unavailable("no random token from the kernel".into());
    let token = secret::token().map_err(random)?;
    let csrf = secret::token().map_err(random)?;
    transaction(conn, |c| {
        let idle = now_ms.saturating_sub(SESSION_IDLE_MS);
        let old = now_ms.saturating_sub(SESSION_MAX_MS);
        c.execute(
            "DELETE FROM auth_sessions WHERE seen_ms < $1 OR created_ms < $2",
            &[int(idle), int(old)],
        )?;
        let held = c.query(
            "SELECT hash FROM auth_sessions WHERE user_name = $1 ORDER BY created_ms DESC",
            &[Value::text(user)],
        )?;
        for row in held.iter().skip(MAX_SESSIONS_PER_USER - 1) {
            c.execute(
                "DELETE FROM auth_sessions WHERE hash = $1",
                &[Value::text(text(row.first())?)],
            )?;
        }
        c.execute(
            "INSERT INTO auth_sessions (hash, user_name, csrf, created_ms, seen_ms) \
             VALUES ($1, $2, $3, $4, $4)",
            &[
                Value::text(secret::digest(&token)),
                Value::text(user),
                Value::text(&csrf),
                int(now_ms),
            ],
        )?;
        Ok(())
    })?;
    Ok((token, csrf))
}

/// The account and CSRF token of the live session whose secret is `token`.
pub fn session(
    conn: &mut dyn Conn,
    token: &str,
    now_ms: u64,
) -> Result<Option<(User, String)>, CatalogError> {
    if !secret::well_formed(token) {
        return Ok(None);
    }
    let hash = secret::digest(token);
    let rows = conn.query(
        "SELECT auth_sessions.csrf, auth_sessions.created_ms, auth_sessions.seen_ms, \
         auth_users.name, auth_users.roles, auth_users.groups, auth_users.hash \
         FROM auth_sessions JOIN auth_users ON auth_users.name = auth_sessions.user_name \
         WHERE auth_sessions.hash = $1",
        &[Value::text(&hash)],
    )?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let csrf = text(row.first())?.to_string();
    let created = row.get(1).and_then(uint).unwrap_or(0);
    let seen = row.get(2).and_then(uint).unwrap_or(0);
    let expired = now_ms >= created.saturating_add(SESSION_MAX_MS)
        || now_ms >= seen.saturating_add(SESSION_IDLE_MS);
    if expired {
        conn.execute(
            "DELETE FROM auth_sessions WHERE hash = $1",
            &[Value::text(&hash)],
        )?;
        return Ok(None);
    }
    if now_ms >= seen.saturating_add(TOUCH_MS) {
        conn.execute(
            "UPDATE auth_sessions SET seen_ms = $1 WHERE hash = $2",
            &[int(now_ms), Value::text(&hash)],
        )?;
    }
    Ok(Some((user_of(row.get(3..).unwrap_or_default())?, csrf)))
}

/// Ends the session whose secret is `token` (nothing if there is none).
pub fn end_session(conn: &mut dyn Conn, token: &str) -> Result<(), CatalogError> {
    conn.execute(
        "DELETE FROM auth_sessions WHERE hash = $1",
        &[Value::text(secret::digest(token))],
    )?;
    Ok(())
}

/// Why a token was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No such user, or not an admin.
    NotAdmin(String),
    /// The roles or the scope asked exceed the creator's.
    Exceeds(String),
}

/// Makes an API token for `creator` (an admin), with roles and scope within theirs: (its id,
/// the token to show once).
pub fn add_token(
    conn: &mut dyn Conn,
    creator: &str,
    label: &str,
    roles: Roles,
    scope: &Scope,
    expires_ms: Option<u64>,
    now_ms: u64,
) -> Result<Result<(String, String), TokenRefusal>, CatalogError> {
    let random = |_| CatalogError::Unavailable("no random token from the kernel".into());
    let secret_part = secret::token().map_err(random)?;
    let id = secret::short_id().map_err(random)?;
    transaction(conn, |c| {
        let Some(by) = user(c, creator)? else {
            return Ok(Err(TokenRefusal::NotAdmin(format!("no user {creator:?}"))));
        };
        if let Err(e) = within(&by, roles, scope) {
            return Ok(Err(e));
        }
        c.execute(
            "INSERT INTO auth_tokens (id, hash, label, roles, groups, creator, created_ms, \
             expires_ms, revoked_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                Value::text(&id),
                Value::text(secret::digest(&secret_part)),
                Value::text(label),
                Value::text(roles.to_string()),
                Value::text(scope.stored()),
                Value::text(creator),
                int(now_ms),
                opt_int(expires_ms),
                Value::Int(None),
            ],
        )?;
        Ok(Ok((
            id.clone(),
            format!("{}{secret_part}", secret::API_PREFIX),
        )))
    })
}

/// Whether `creator` may make (or still back) a token of `roles` and `scope`.
pub fn within(creator: &User, roles: Roles, scope: &Scope) -> Result<(), TokenRefusal> {
    if !creator.roles.has(super::Role::Admin) {
        return Err(TokenRefusal::NotAdmin(format!(
            "{} is not an admin",
            creator.name
        )));
    }
    if !roles.within(creator.roles.grantable()) {
        return Err(TokenRefusal::Exceeds(format!(
            "roles {roles} exceed {}'s ({})",
            creator.name, creator.roles
        )));
    }
    if !scope.within(&creator.scope) {
        return Err(TokenRefusal::Exceeds(format!(
            "groups {scope} exceed {}'s ({})",
            creator.name, creator.scope
        )));
    }
    Ok(())
}

fn token_of(row: &[Value]) -> Result<Token, CatalogError> {
    let bad = |what: &str| CatalogError::Data(format!("auth_tokens: bad {what}"));
    Ok(Token {
        id: text(row.first())?.to_string(),
        name: text(row.get(1))?.to_string(),
        roles: Roles::parse(text(row.get(2))?).ok_or_else(|| bad("roles"))?,
        scope: Scope::from_stored(text(row.get(3))?).ok_or_else(|| bad("groups"))?,
        creator: text(row.get(4))?.to_string(),
        created_ms: row.get(5).and_then(uint).unwrap_or(0),
        expires_ms: row.get(6).and_then(uint),
        revoked_ms: row.get(7).and_then(uint),
    })
}

const TOKEN: &str = "id, label, roles, groups, creator, created_ms, expires_ms, revoked_ms";

pub fn tokens(conn: &mut dyn Conn) -> Result<Vec<Token>, CatalogError> {
    conn.query(
        &format!("SELECT {TOKEN} FROM auth_tokens ORDER BY created_ms, id"),
        &[],
    )?
    .iter()
    .map(|r| token_of(r))
    .collect()
}

/// Revokes token `id`; false if there is no such token or it was already revoked.
pub fn revoke_token(conn: &mut dyn Conn, id: &str, now_ms: u64) -> Result<bool, CatalogError> {
    let n = conn.execute(
        "UPDATE auth_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL",
        &[int(now_ms), Value::text(id)],
    )?;
    Ok(n > 0)
}

/// The live token whose text is `presented` (`crt_…`): not revoked, not expired, and its
/// creator still an admin whose roles and scope hold it.
pub fn token(
    conn: &mut dyn Conn,
    presented: &str,
    now_ms: u64,
) -> Result<Option<Token>, CatalogError> {
    let Some(secret_part) = secret::api_secret(presented) else {
        return Ok(None);
    };
    let rows = conn.query(
        &format!("SELECT {TOKEN} FROM auth_tokens WHERE hash = $1"),
        &[Value::text(secret::digest(secret_part))],
    )?;
    let Some(t) = rows.first().map(|r| token_of(r)).transpose()? else {
        return Ok(None);
    };
    if t.revoked_ms.is_some() || t.expires_ms.is_some_and(|e| now_ms >= e) {
        return Ok(None);
    }
    let backed = match user(conn, &t.creator)? {
        Some(creator) => within(&creator, t.roles, &t.scope).is_ok(),
        None => false,
    };
    Ok(backed.then_some(t))
}
