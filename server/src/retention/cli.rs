//! `callrec-server retention show|set`, `hold set|release` and `delete`: retention and legal
//! hold on the server's console. Like `device …` and `user …`, safe beside a server running on
//! the same storage: each change is one transaction of the catalog with its audit entry (by
//! `console:USER@HOST`, the admin named by `--by` in its details), seen by the running server's
//! next request and next sweep. A delete removes the files itself, in the order of
//! `crate::retention`, so a stop midway is finished by the server's sweep.
//!
//! Exit status: 0 done; 1 refused (no such recording, on hold, in progress, not held, `--by` not
//! an admin); 2 the command line; 3 the catalog.

use super::dispose::{self, Failed, Refused};
use super::policy::{self, Policy};
use super::sweep;
use crate::audit::{Action, Event};
use crate::auth::{store as accounts, Role};
use crate::catalog::db::Conn;
use crate::catalog::retention::{self as held, Hold};
use crate::catalog::{schema, sql, CatalogSpec};
use crate::cli::console::{self, Failure};
use crate::rid::Rid;
use crate::store::Store;
use lexopt::Arg;
use serde_json::json;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

pub const RETENTION_USAGE: &str = "\
usage:
  callrec-server retention show --storage DIR [--catalog postgres://USER@HOST/DB | FILE]
  callrec-server retention set --storage DIR [--catalog …] (--days N | --forever)
                               [--group GROUP=DAYS]... (--dry-run | --by ADMIN)

How long recordings are kept, counted from their start: a global period, and overrides by
device group (the group a recording has from the device registry). Without any, every recording
is kept for ever (the default). The running server's sweep (at start, then every
--sweep-every) deletes each finished recording past its period that is not on legal hold,
files, sidecar and catalog row, with a `disposal` entry in the audit trail.
set: replaces the whole policy (an override not given is removed) and says how many recordings
  it deletes now; --dry-run only counts. Audited (`retention_change`) for the admin --by names.
--days: 1 to 36500; --forever: no global period
exit status: 0 done, 1 --by is not an admin, 2 usage, 3 the catalog could not be used";

pub const HOLD_USAGE: &str = "\
usage:
  callrec-server hold set --storage DIR [--catalog …] RID --reason TEXT --by ADMIN
  callrec-server hold release --storage DIR [--catalog …] RID --reason TEXT --by ADMIN

A legal hold keeps a recording from the retention sweep and from every delete until it is
released. Audited (`legal_hold`) for the admin --by names. RID: as the API names recordings
(2026-11-21_20261121_080910_3). A recording already held keeps its first hold.
exit status: 0 done, 1 no such recording, not held (release), or --by is not an admin, 2 usage,
3 the catalog could not be used";

pub const DELETE_USAGE: &str = "\
usage:
  callrec-server delete --storage DIR [--catalog …] RID --reason TEXT --by ADMIN

Deletes a recording now: its catalog row, its Record files and its sidecar, audited (`delete`)
with the reason, for the admin --by names. Refused while it is on legal hold or still recording.
exit status: 0 done, 1 no such recording, on hold, in progress, or --by is not an admin,
2 usage, 3 the catalog could not be used";

#[derive(Debug, Default)]
struct Options {
    storage: Option<PathBuf>,
    catalog: Option<String>,
    args: Vec<String>,
    days: Option<String>,
    forever: bool,
    groups: Vec<String>,
    dry_run: bool,
    reason: Option<String>,
    by: Option<String>,
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
            Arg::Long("days") => o.days = Some(value(&mut p)?),
            Arg::Long("forever") => o.forever = true,
            Arg::Long("group") => o.groups.push(value(&mut p)?),
            Arg::Long("dry-run") => o.dry_run = true,
            Arg::Long("reason") => o.reason = Some(value(&mut p)?),
            Arg::Long("by") => o.by = Some(value(&mut p)?),
            Arg::Long("log") => level = value(&mut p)?,
            Arg::Value(v) if o.args.len() < 2 => o.args.push(text(v)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    callrec_platform::logger::init(&level).map_err(|e| e.to_string())?;
    Ok(Some(o))
}

/// `callrec-server retention ARGS`.
pub fn retention_main(args: Vec<OsString>) -> ExitCode {
    console::run("retention", RETENTION_USAGE, parse(args), retention)
}

/// `callrec-server hold ARGS`.
pub fn hold_main(args: Vec<OsString>) -> ExitCode {
    console::run("hold", HOLD_USAGE, parse(args), hold)
}

/// `callrec-server delete ARGS`.
pub fn delete_main(args: Vec<OsString>) -> ExitCode {
    console::run("delete", DELETE_USAGE, parse(args), delete)
}

fn open(o: &Options) -> Result<(Box<dyn Conn>, Store), Failure> {
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
    let store = Store::open(storage).map_err(|e| Failure::Catalog(e.to_string()))?;
    Ok((conn, store))
}

fn no(what: &str, given: bool) -> Result<(), Failure> {
    if given {
        Err(format!("{what} does not go with this command").into())
    } else {
        Ok(())
    }
}

/// `--by ADMIN`: an existing user with the admin role.
fn by_admin(conn: &mut dyn Conn, o: &Options) -> Result<String, Failure> {
    let by = o.by.clone().ok_or("--by ADMIN is required")?;
    match accounts::user(conn, &by)? {
        Some(u) if u.roles.has(Role::Admin) => Ok(by),
        Some(_) => Err(Failure::Refused(format!("{by:?} is not an admin"))),
        None => Err(Failure::Refused(format!("no user {by:?}"))),
    }
}

fn now_ms() -> u64 {
    crate::media::unix_ms()
}

fn now_i64() -> i64 {
    i64::try_from(now_ms()).unwrap_or(i64::MAX)
}

fn show(p: &Policy) -> String {
    let mut out = match p.days {
        Some(d) => format!("global: {d} days\n"),
        None => "global: kept for ever\n".to_string(),
    };
    for (g, d) in &p.groups {
        out.push_str(&format!("group {g}: {d} days\n"));
    }
    out
}

fn retention(o: Options) -> Result<(), Failure> {
    let verb = o.args.first().cloned().ok_or("show or set?")?;
    no("an argument", o.args.len() > 1)?;
    no("--reason", o.reason.is_some())?;
    match verb.as_str() {
        "show" => {
            no("--days", o.days.is_some())?;
            no("--forever", o.forever)?;
            no("--group", !o.groups.is_empty())?;
            no("--dry-run", o.dry_run)?;
            no("--by", o.by.is_some())?;
            let (mut conn, _) = open(&o)?;
            print!("{}", show(&held::policy(conn.as_mut())?));
            Ok(())
        }
        "set" => {
            let days = match (&o.days, o.forever) {
                (Some(_), true) => return Err("--days or --forever, not both".into()),
                (None, false) => return Err("--days N or --forever is required".into()),
                (None, true) => None,
                (Some(d), false) => Some(
                    d.parse::<i64>()
                        .ok()
                        .and_then(|d| policy::days(d).ok())
                        .ok_or_else(|| format!("bad --days {d:?}: 1 to {}", policy::MAX_DAYS))?,
                ),
            };
            let mut groups = BTreeMap::new();
            for g in &o.groups {
                let bad = || {
                    format!(
                        "bad --group {g:?}: GROUP=DAYS, DAYS 1 to {}",
                        policy::MAX_DAYS
                    )
                };
                let (name, d) = g.rsplit_once('=').ok_or_else(bad)?;
                let d = d
                    .parse::<i64>()
                    .ok()
                    .and_then(|d| policy::days(d).ok())
                    .ok_or_else(bad)?;
                let name = policy::group(name).map_err(|e| e.to_string())?;
                if groups.insert(name, d).is_some() {
                    return Err(format!("--group {g:?} given twice").into());
                }
            }
            let p = Policy { days, groups };
            p.check().map_err(|e| e.to_string())?;
            if o.dry_run {
                no("--by", o.by.is_some())?;
            }
            let (mut conn, _) = open(&o)?;
            let now = now_ms();
            let n = sweep::would_delete(conn.as_mut(), &p, now)?;
            if o.dry_run {
                println!("would delete {n} recording(s) now");
                return Ok(());
            }
            let by = by_admin(conn.as_mut(), &o)?;
            crate::audit::store::with_change(conn.as_mut(), now_i64(), |c| {
                let before = held::policy(c)?;
                held::set_policy(c, &p)?;
                let what = json!({
                    "before": before.to_json(),
                    "after": p.to_json(),
                    "would_delete": n, "by": by,
                });
                Ok(((), Some(Event::console(Action::RETENTION_CHANGE, what))))
            })?;
            print!("{}", show(&p));
            println!("applied: {n} recording(s) past it now, deleted by the server's next sweep");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}: show or set").into()),
    }
}

fn the_rid(o: &Options, at: usize) -> Result<String, Failure> {
    let r = o.args.get(at).ok_or("the recording's RID is required")?;
    Rid::parse(r)
        .map(|r| r.to_string())
        .ok_or_else(|| format!("{r:?} is not a RID (2026-11-21_20261121_080910_3)").into())
}

fn the_reason(o: &Options) -> Result<String, Failure> {
    let r = o.reason.as_deref().unwrap_or("").trim().to_string();
    if r.is_empty() {
        return Err("--reason TEXT is required".into());
    }
    if r.chars().count() > policy::MAX_REASON {
        return Err(format!("--reason: at most {} characters", policy::MAX_REASON).into());
    }
    Ok(r)
}

fn no_policy(o: &Options) -> Result<(), Failure> {
    no("--days", o.days.is_some())?;
    no("--forever", o.forever)?;
    no("--group", !o.groups.is_empty())?;
    no("--dry-run", o.dry_run)
}

fn hold(o: Options) -> Result<(), Failure> {
    no_policy(&o)?;
    let verb = o.args.first().cloned().ok_or("set or release?")?;
    if verb != "set" && verb != "release" {
        return Err(format!("unknown command {verb:?}: set or release").into());
    }
    let rid = the_rid(&o, 1)?;
    let why = the_reason(&o)?;
    let (mut conn, _) = open(&o)?;
    let by = by_admin(conn.as_mut(), &o)?;
    let now = now_ms();
    let done = crate::audit::store::with_change(conn.as_mut(), now_i64(), |c| {
        if sql::get(c, &rid)?.is_none() {
            return Ok((Err(format!("no recording {rid}")), None));
        }
        let event = |what| Event {
            rid: rid.clone(),
            ..Event::console(Action::LEGAL_HOLD, what)
        };
        if verb == "set" {
            let h = Hold {
                reason: why.clone(),
                by: by.clone(),
                ms: now,
            };
            let new = held::set_hold(c, &rid, &h)?;
            let what = json!({ "hold": "set", "reason": why, "by": by });
            Ok((Ok(new), new.then(|| event(what))))
        } else {
            let Some(before) = held::release(c, &rid)? else {
                return Ok((Err(format!("{rid} is not on hold")), None));
            };
            let what = json!({
                "hold": "released", "reason": why, "by": by,
                "held": { "reason": before.reason, "by": before.by, "ms": before.ms },
            });
            Ok((Ok(true), Some(event(what))))
        }
    })?;
    match (done.0, verb.as_str()) {
        (Err(m), _) => Err(Failure::Refused(m)),
        (Ok(true), "set") => {
            println!("{rid}: on hold");
            Ok(())
        }
        (Ok(false), _) => {
            println!("{rid}: already on hold (its first hold stays)");
            Ok(())
        }
        (Ok(true), _) => {
            println!("{rid}: released");
            Ok(())
        }
    }
}

fn delete(o: Options) -> Result<(), Failure> {
    no_policy(&o)?;
    let rid = the_rid(&o, 0)?;
    no("a second argument", o.args.len() > 1)?;
    let why = the_reason(&o)?;
    let (mut conn, store) = open(&o)?;
    let by = by_admin(conn.as_mut(), &o)?;
    let removed = dispose::remove(
        conn.as_mut(),
        &store,
        &rid,
        now_ms(),
        |_, _| Ok(Ok(())),
        |row| Event {
            rid: rid.clone(),
            ..Event::console(
                Action::DELETE,
                json!({
                    "reason": why, "by": by, "call_id": row.sidecar.id,
                    "start_ms": row.sidecar.start_ms, "group": row.sidecar.group,
                }),
            )
        },
    );
    match removed {
        Ok(_) => {
            println!("{rid}: deleted");
            Ok(())
        }
        Err(Failed::Refused(r)) => Err(Failure::Refused(match r {
            Refused::NotFound => format!("no recording {rid}"),
            Refused::OnHold(h) => format!(
                "{rid} is on legal hold ({}, by {}): `hold release` it first",
                h.reason, h.by
            ),
            Refused::InProgress => format!("{rid} is still in progress"),
            Refused::NotDue => format!("{rid}: not deleted"),
        })),
        Err(Failed::Audit(e)) => Err(e.into()),
    }
}
