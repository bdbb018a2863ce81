//! `callrec-server user …` and `callrec-server token …`: the accounts and API tokens on the
//! console, the only place the first admin can be made (there is no default password). Like
//! `device …`, safe beside a running server on the same storage: each change is one
//! transaction of the catalog, in effect at the next request. Each change is an entry of the
//! audit trail (`user_add`, `user_change`, `user_remove`, `token_add`, `token_revoke`, by
//! `console:USER@HOST`), written in the change's transaction: no entry, no change.
//!
//! Exit status: 0 done; 1 no such user or token, a name already taken, a token that would
//! exceed its creator; 2 the command line (or an unacceptable password); 3 the catalog.

use super::password;
use super::role::{Roles, Scope};
use super::store::{self, TokenRefusal, User};
use crate::audit::{Action, Event};
use crate::catalog::db::Conn;
use crate::catalog::{schema, CatalogError, CatalogSpec};
use crate::cli::console::{self, Failure};
use lexopt::Arg;
use serde_json::json;
use std::ffi::OsString;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

pub const USER_USAGE: &str = "\
usage:
  callrec-server user add --storage DIR [--catalog …] NAME --role ROLE[,ROLE…] [--groups G,…]
                          [--password-stdin]
  callrec-server user list --storage DIR [--catalog …]
  callrec-server user passwd --storage DIR [--catalog …] NAME [--password-stdin]
  callrec-server user remove --storage DIR [--catalog …] NAME

The accounts of the web side. Roles: admin (users, tokens, devices; sees the recordings'
metadata, not their audio), supervisor (search, listen, download), auditor (the audit trail),
metrics (GET /metrics and nothing else: for a Prometheus token).
--groups: the device groups whose recordings exist for the user (default: every group)
The password is asked twice on the terminal (not echoed), or read as one line from standard
input with --password-stdin; at least 10 characters. passwd and remove end the user's sessions.
The first admin: callrec-server user add --storage DIR NAME --role admin
NAME: 1 to 64 of A-Z a-z 0-9 . _ @ -
exit status: 0 done, 1 no such user or name taken, 2 usage, 3 the catalog could not be used";

pub const TOKEN_USAGE: &str = "\
usage:
  callrec-server token add --storage DIR [--catalog …] --by ADMIN --name LABEL
                           --role ROLE[,ROLE…] [--groups G,…] [--expires DAYS]
  callrec-server token list --storage DIR [--catalog …]
  callrec-server token revoke --storage DIR [--catalog …] ID

API tokens for integrations (`Authorization: Bearer crt_…`). add prints the token once: only
its SHA-256 is kept. A token's roles and groups must be within those of the admin it is made
for (--by; an admin may give the metrics role without holding it), and it stops working if that
user is removed or loses them.
--expires: the token ends after this many days (default: never)
exit status: 0 done, 1 no such token or user, or beyond the admin's rights, 2 usage, 3 the
catalog could not be used";

/// The options every command has, and the rest.
#[derive(Debug, Default)]
struct Options {
    storage: Option<PathBuf>,
    catalog: Option<String>,
    verb: Option<String>,
    arg: Option<String>,
    role: Option<String>,
    groups: Option<String>,
    password_stdin: bool,
    by: Option<String>,
    name: Option<String>,
    expires: Option<String>,
}

fn parse(args: Vec<OsString>) -> Result<Option<Options>, String> {
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options::default();
    let mut level = std::env::var("CALLREC_LOG").unwrap_or_else(|_| "warn".into());
    let text = |v: OsString| v.into_string().map_err(|_| "not UTF-8".to_string());
    let value = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value().map_err(|e| e.to_string()).and_then(text)
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("help") | Arg::Short('h') => return Ok(None),
            Arg::Long("storage") => o.storage = Some(PathBuf::from(value(&mut p)?)),
            Arg::Long("catalog") => o.catalog = Some(value(&mut p)?),
            Arg::Long("role") => o.role = Some(value(&mut p)?),
            Arg::Long("groups") => o.groups = Some(value(&mut p)?),
            Arg::Long("password-stdin") => o.password_stdin = true,
            Arg::Long("by") => o.by = Some(value(&mut p)?),
            Arg::Long("name") => o.name = Some(value(&mut p)?),
            Arg::Long("expires") => o.expires = Some(value(&mut p)?),
            Arg::Long("log") => level = value(&mut p)?,
            Arg::Value(v) if o.verb.is_none() => o.verb = Some(text(v)?),
            Arg::Value(v) if o.arg.is_none() => o.arg = Some(text(v)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    callrec_platform::logger::init(&level).map_err(|e| e.to_string())?;
    Ok(Some(o))
}

/// `callrec-server user ARGS`.
pub fn user_main(args: Vec<OsString>) -> ExitCode {
    console::run("user", USER_USAGE, parse(args), user)
}

/// `callrec-server token ARGS`.
pub fn token_main(args: Vec<OsString>) -> ExitCode {
    console::run("token", TOKEN_USAGE, parse(args), token)
}

fn open(o: &Options) -> Result<Box<dyn Conn>, Failure> {
    let storage = o.storage.as_ref().ok_or("--storage DIR is required")?;
    if !storage.is_dir() {
        return Err(Failure::Catalog(format!(
            "storage {}: not a directory",
            storage.display()
        )));
    }
    let spec = CatalogSpec::parse(o.catalog.as_deref(), storage);
    let mut conn = spec.connect()?;
    schema::migrate(conn.as_mut())
        .map_err(|e| Failure::Catalog(format!("{}: {e}", spec.describe())))?;
    Ok(conn)
}

fn roles(o: &Options) -> Result<Roles, Failure> {
    let r = o.role.as_deref().ok_or("--role ROLE[,ROLE…] is required")?;
    Ok(Roles::parse(r).ok_or_else(|| {
        format!("bad --role {r:?}: admin, supervisor or auditor, joined by commas")
    })?)
}

fn scope(o: &Options) -> Result<Scope, Failure> {
    match o.groups.as_deref() {
        None => Ok(Scope::all()),
        Some(g) => Ok(Scope::parse(g).ok_or_else(|| {
            format!("bad --groups {g:?}: group names joined by commas, none empty")
        })?),
    }
}

fn the_name(o: &Options) -> Result<String, Failure> {
    let name = o.arg.clone().ok_or("the user's NAME is required")?;
    if !store::valid_name(&name) {
        return Err(format!("bad NAME {name:?}: 1 to 64 of A-Z a-z 0-9 . _ @ -").into());
    }
    Ok(name)
}

fn no(what: &str, given: bool) -> Result<(), Failure> {
    if given {
        Err(format!("{what} does not go with this command").into())
    } else {
        Ok(())
    }
}

fn now_ms() -> u64 {
    crate::media::unix_ms()
}

/// Runs `change` and writes the audit entry it returns in one transaction: a change whose
/// entry cannot be written is not made (`crate::audit::store::with_change`).
fn audited<T>(
    conn: &mut dyn Conn,
    change: impl FnOnce(&mut dyn Conn) -> Result<(T, Option<Event>), CatalogError>,
) -> Result<T, Failure> {
    let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
    crate::audit::store::with_change(conn, now, change)
        .map(|(v, _)| v)
        .map_err(|e| Failure::Catalog(e.to_string()))
}

fn user(o: Options) -> Result<(), Failure> {
    let verb = o.verb.clone().ok_or("add, list, passwd or remove?")?;
    if verb != "add" {
        no("--role", o.role.is_some())?;
        no("--groups", o.groups.is_some())?;
    }
    no("--by", o.by.is_some())?;
    no("--name", o.name.is_some())?;
    no("--expires", o.expires.is_some())?;
    let mut out = std::io::stdout().lock();
    match verb.as_str() {
        "add" => {
            let name = the_name(&o)?;
            let (roles, scope) = (roles(&o)?, scope(&o)?);
            let mut conn = open(&o)?;
            if store::user(conn.as_mut(), &name)?.is_some() {
                return Err(Failure::Refused(format!("user {name} exists")));
            }
            let hash = new_hash(o.password_stdin)?;
            let u = User {
                name: name.clone(),
                roles,
                scope: scope.clone(),
                hash,
            };
            let what =
                json!({ "user": name, "roles": roles.to_string(), "groups": scope.stored() });
            let added = audited(conn.as_mut(), |c| {
                let added = store::add_user(c, &u, now_ms())?;
                Ok((added, added.then(|| Event::console(Action::USER_ADD, what))))
            })?;
            if !added {
                return Err(Failure::Refused(format!("user {name} exists")));
            }
            let _ = writeln!(out, "added {name}: roles {roles}, {scope}");
        }
        "list" => {
            no("NAME", o.arg.is_some())?;
            no("--password-stdin", o.password_stdin)?;
            let mut conn = open(&o)?;
            let _ = writeln!(out, "{:<24} {:<28} GROUPS", "NAME", "ROLES");
            for u in store::users(conn.as_mut())? {
                let _ = writeln!(out, "{:<24} {:<28} {}", u.name, u.roles, u.scope);
            }
        }
        "passwd" => {
            let name = the_name(&o)?;
            let mut conn = open(&o)?;
            if store::user(conn.as_mut(), &name)?.is_none() {
                return Err(Failure::Refused(format!("no user {name}")));
            }
            let hash = new_hash(o.password_stdin)?;
            let what = json!({ "user": name, "password": "changed", "sessions": "ended" });
            let changed = audited(conn.as_mut(), |c| {
                let changed = store::set_password(c, &name, &hash, now_ms())?;
                Ok((
                    changed,
                    changed.then(|| Event::console(Action::USER_CHANGE, what)),
                ))
            })?;
            if !changed {
                return Err(Failure::Refused(format!("no user {name}")));
            }
            let _ = writeln!(out, "password of {name} changed; their sessions ended");
        }
        "remove" => {
            no("--password-stdin", o.password_stdin)?;
            let name = the_name(&o)?;
            let mut conn = open(&o)?;
            let removed = audited(conn.as_mut(), |c| {
                let removed = store::remove_user(c, &name)?;
                let what = json!({ "user": name });
                Ok((
                    removed,
                    removed.then(|| Event::console(Action::USER_REMOVE, what)),
                ))
            })?;
            if !removed {
                return Err(Failure::Refused(format!("no user {name}")));
            }
            let _ = writeln!(out, "removed {name}");
        }
        other => {
            return Err(format!("unknown command {other:?}: add, list, passwd or remove").into())
        }
    }
    Ok(())
}

fn token(o: Options) -> Result<(), Failure> {
    let verb = o.verb.clone().ok_or("add, list or revoke?")?;
    no("--password-stdin", o.password_stdin)?;
    if verb != "add" {
        no("--role", o.role.is_some())?;
        no("--groups", o.groups.is_some())?;
        no("--by", o.by.is_some())?;
        no("--name", o.name.is_some())?;
        no("--expires", o.expires.is_some())?;
    }
    let mut out = std::io::stdout().lock();
    match verb.as_str() {
        "add" => {
            no("an argument", o.arg.is_some())?;
            let by = o.by.clone().ok_or("--by ADMIN is required")?;
            let label = o.name.clone().ok_or("--name LABEL is required")?;
            if !store::valid_label(&label) {
                return Err(format!("bad --name {label:?}: 1 to 100 characters").into());
            }
            let (roles, scope) = (roles(&o)?, scope(&o)?);
            let now = now_ms();
            let expires = match o.expires.as_deref() {
                None => None,
                Some(d) => {
                    let days: u64 = d
                        .parse()
                        .ok()
                        .filter(|n| (1..=36_500).contains(n))
                        .ok_or_else(|| format!("bad --expires {d:?}: days, 1 to 36500"))?;
                    Some(now + days * 86_400_000)
                }
            };
            let mut conn = open(&o)?;
            let made = audited(conn.as_mut(), |c| {
                let made = store::add_token(c, &by, &label, roles, &scope, expires, now)?;
                let event = made.as_ref().ok().map(|(id, _)| {
                    let what = json!({
                        "token": id, "label": label, "by": by, "roles": roles.to_string(),
                        "groups": scope.stored(), "expires_ms": expires,
                    });
                    Event::console(Action::TOKEN_ADD, what)
                });
                Ok((made, event))
            })?;
            match made {
                Ok((id, secret)) => {
                    let _ = writeln!(out, "{secret}");
                    eprintln!(
                        "token {id} ({label}): roles {roles}, {scope}; shown once, keep it now"
                    );
                }
                Err(TokenRefusal::NotAdmin(m) | TokenRefusal::Exceeds(m)) => {
                    return Err(Failure::Refused(m))
                }
            }
        }
        "list" => {
            no("an argument", o.arg.is_some())?;
            let mut conn = open(&o)?;
            let now = now_ms();
            let _ = writeln!(
                out,
                "{:<8} {:<10} {:<20} {:<16} {:<28} GROUPS",
                "ID", "STATE", "NAME", "BY", "ROLES"
            );
            for t in store::tokens(conn.as_mut())? {
                let state = if t.revoked_ms.is_some() {
                    "revoked"
                } else if t.expires_ms.is_some_and(|e| now >= e) {
                    "expired"
                } else {
                    "live"
                };
                let _ = writeln!(
                    out,
                    "{:<8} {:<10} {:<20} {:<16} {:<28} {}",
                    t.id, state, t.name, t.creator, t.roles, t.scope
                );
            }
        }
        "revoke" => {
            let id = o.arg.clone().ok_or("the token's ID is required")?;
            let mut conn = open(&o)?;
            let revoked = audited(conn.as_mut(), |c| {
                let revoked = store::revoke_token(c, &id, now_ms())?;
                let what = json!({ "token": id });
                Ok((
                    revoked,
                    revoked.then(|| Event::console(Action::TOKEN_REVOKE, what)),
                ))
            })?;
            if !revoked {
                return Err(Failure::Refused(format!("no live token {id:?}")));
            }
            let _ = writeln!(out, "revoked {id}");
        }
        other => return Err(format!("unknown command {other:?}: add, list or revoke").into()),
    }
    Ok(())
}

/// A new password's hash: asked twice on the terminal without echo, or one line of standard
/// input with `--password-stdin`.
fn new_hash(from_stdin: bool) -> Result<String, Failure> {
    let pw = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take_line(&mut line)
            .map_err(|e| Failure::Usage(format!("standard input: {e}")))?;
        line
    } else if terminal::is_tty() {
        let a = terminal::ask("password: ")?;
        let b = terminal::ask("again: ")?;
        if a != b {
            return Err("the two passwords differ".into());
        }
        a
    } else {
        return Err("standard input is not a terminal: use --password-stdin".into());
    };
    password::acceptable(&pw)?;
    password::hash(&pw).map_err(Failure::Catalog)
}

trait TakeLine {
    fn take_line(&mut self, line: &mut String) -> std::io::Result<()>;
}

impl<R: BufRead> TakeLine for R {
    /// One line without its end, at most [`password::MAX_LEN`] + 2 bytes read.
    fn take_line(&mut self, line: &mut String) -> std::io::Result<()> {
        let mut limited = std::io::Read::by_ref(self).take(password::MAX_LEN as u64 + 2);
        limited.read_line(line)?;
        while line.ends_with('\n') || line.ends_with('\r') {
            line.pop();
        }
        Ok(())
    }
}

mod terminal {
    use super::{Failure, TakeLine};
    use std::io::Write;

    pub fn is_tty() -> bool {
        // SAFETY: isatty only reads the descriptor's state.
        unsafe { libc::isatty(0) == 1 }
    }

    /// One line read from the terminal with echo off (restored after).
    pub fn ask(prompt: &str) -> Result<String, Failure> {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        // SAFETY: termios is plain data; tcgetattr fills it for descriptor 0.
        let mut old: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(0, &mut old) } != 0 {
            return Err("cannot read the terminal's settings".into());
        }
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above, with a copy of the settings read.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
        let mut line = String::new();
        let read = std::io::stdin().lock().take_line(&mut line);
        // SAFETY: restores what tcgetattr read.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &old) };
        read.map_err(|e| Failure::Usage(format!("terminal: {e}")))?;
        Ok(line)
    }
}
