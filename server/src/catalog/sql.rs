//! The query layer: every statement the catalog runs, written once for both engines, and the
//! mapping between a recording and its row.

use super::db::transaction;
use super::db::{Conn, Dialect, Value};
use super::filter::{Cursor, Filter, NumberMatch, Order, PageAsk};
use super::{CatalogError, Device, Row, Stamp};
use crate::integrity::{self, Checks, FileCheck};
use crate::store::{Sidecar, Stats};
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use std::collections::BTreeMap;

/// The columns a sidecar fills, in the order of [`values_of`].
const COLUMNS: &str = "rid, call_id, device, remote_number, remote_name, local_number, \
    local_name, numbers, names, dir, codec, peer, start_ms, stop_ms, stop_reason, duration_ms, \
    files, stats, sidecar_len, sidecar_mtime_ns, digests, integrity, owner, extension, \
    device_group";
const COLUMN_COUNT: usize = 25;
/// The columns read, in the order of [`row_of`]: those and the last checks.
const READ: &str = "rid, call_id, device, remote_number, remote_name, local_number, \
    local_name, numbers, names, dir, codec, peer, start_ms, stop_ms, stop_reason, duration_ms, \
    files, stats, sidecar_len, sidecar_mtime_ns, digests, integrity, checks, checked_ms, owner, \
    extension, device_group";
const READ_COUNT: usize = 27;
/// The columns of the checks, which a sidecar's write keeps while the recording's files and
/// their digests stay the same, and starts again otherwise.
const CHECKED: [(&str, &str); 3] = [
    ("integrity", "excluded.integrity"),
    ("checks", "'{}'"),
    ("checked_ms", "NULL"),
];
/// The row's files, their digests and whether it is finished are the same as before.
const SAME_FILES: &str = "recordings.files = excluded.files \
    AND recordings.digests = excluded.digests \
    AND (recordings.stop_ms IS NULL) = (excluded.stop_ms IS NULL)";

/// Lowercase in every script, for the `names` column and for what is searched in it.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

fn int(v: u64) -> Value {
    Value::int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn values_of(row: &Row) -> Vec<Value> {
    let s = &row.sidecar;
    vec![
        Value::text(&row.rid),
        Value::text(&s.id),
        Value::text(&s.device),
        Value::text(&s.remote_number),
        Value::text(&s.remote_name),
        Value::text(&s.local_number),
        Value::text(&s.local_name),
        Value::text(fold(&format!("{}\n{}", s.remote_number, s.local_number))),
        Value::text(fold(&format!("{}\n{}", s.remote_name, s.local_name))),
        Value::text(s.dir.name()),
        Value::text(s.codec.name()),
        Value::text(&s.peer),
        int(s.start_ms),
        Value::Int(s.stop_ms.map(|v| i64::try_from(v).unwrap_or(i64::MAX))),
        Value::Text(s.stop_reason.clone()),
        int(s.duration_ms),
        Value::text(serde_json::to_string(&s.files).unwrap_or_else(|_| "[]".into())),
        Value::text(serde_json::to_string(&s.stats).unwrap_or_else(|_| "{}".into())),
        int(row.stamp.len),
        Value::int(row.stamp.mtime_ns),
        Value::text(serde_json::to_string(&s.digests).unwrap_or_else(|_| "{}".into())),
        Value::text(integrity::of(s, &Checks::default()).name()),
        Value::text(&s.owner),
        Value::text(&s.extension),
        Value::text(&s.group),
    ]
}

fn row_of(v: &[Value]) -> Result<Row, CatalogError> {
    if v.len() != READ_COUNT {
        return Err(CatalogError::Data(format!("a row of {} columns", v.len())));
    }
    let text = |i: usize| v[i].as_text().unwrap_or_default().to_string();
    let uint = |i: usize| v[i].as_int().map_or(0, |n| u64::try_from(n).unwrap_or(0));
    let bad = |what: &str| CatalogError::Data(format!("{}: bad {what}", text(0)));
    let dir = v[9]
        .as_text()
        .and_then(Direction::from_name)
        .ok_or_else(|| bad("dir"))?;
    let codec = v[10]
        .as_text()
        .and_then(Codec::from_name)
        .ok_or_else(|| bad("codec"))?;
    let files: Vec<String> =
        serde_json::from_str(v[16].as_text().unwrap_or("[]")).map_err(|_| bad("files"))?;
    let stats: Stats =
        serde_json::from_str(v[17].as_text().unwrap_or("{}")).map_err(|_| bad("stats"))?;
    let digests: BTreeMap<String, String> =
        serde_json::from_str(v[20].as_text().unwrap_or("{}")).map_err(|_| bad("digests"))?;
    let checked: BTreeMap<String, FileCheck> =
        serde_json::from_str(v[22].as_text().unwrap_or("{}")).map_err(|_| bad("checks"))?;
    Ok(Row {
        rid: text(0),
        sidecar: Sidecar {
            id: text(1),
            device: text(2),
            remote_number: text(3),
            remote_name: text(4),
            local_number: text(5),
            local_name: text(6),
            dir,
            codec,
            peer: text(11),
            start_ms: uint(12),
            stop_ms: v[13].as_int().map(|n| u64::try_from(n).unwrap_or(0)),
            stop_reason: v[14].as_text().map(str::to_string),
            duration_ms: uint(15),
            files,
            stats,
            digests,
            owner: text(24),
            extension: text(25),
            group: text(26),
        },
        stamp: Stamp {
            len: uint(18),
            mtime_ns: v[19].as_int().unwrap_or(0),
        },
        checks: Checks {
            files: checked,
            at_ms: v[23].as_int().map(|n| u64::try_from(n).unwrap_or(0)),
        },
    })
}

/// Adds a recording, or replaces the one with its RID.
pub fn upsert(conn: &mut dyn Conn, row: &Row) -> Result<(), CatalogError> {
    let placeholders: Vec<String> = (1..=COLUMN_COUNT).map(|i| format!("${i}")).collect();
    let checked = |c: &str| CHECKED.iter().any(|(k, _)| *k == c);
    let mut updates: Vec<String> = COLUMNS
        .split(", ")
        .skip(1)
        .filter(|c| !checked(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    // Evaluated on the row as it was: `recordings.…` is before this write.
    updates.extend(CHECKED.iter().map(|(c, fresh)| {
        format!("{c} = CASE WHEN {SAME_FILES} THEN recordings.{c} ELSE {fresh} END")
    }));
    let sql = format!(
        "INSERT INTO recordings ({COLUMNS}) VALUES ({}) ON CONFLICT (rid) DO UPDATE SET {}",
        placeholders.join(", "),
        updates.join(", ")
    );
    conn.execute(&sql, &values_of(row))?;
    Ok(())
}

/// Records what checks of the files of `rid` found: merged into its earlier checks, or with
/// `replace` instead of them (a check of every file). Applies only while the recording's
/// digests are still `digests` (the ones checked against); false if they are not, or the
/// recording is gone.
pub fn record_checks(
    conn: &mut dyn Conn,
    rid: &str,
    digests: &BTreeMap<String, String>,
    results: &[(String, FileCheck)],
    replace: bool,
    at_ms: u64,
) -> Result<bool, CatalogError> {
    let digests_json = serde_json::to_string(digests).unwrap_or_else(|_| "{}".into());
    // Another process (`callrec-server verify`) may record checks of the same row: the
    // update applies only over the checks it merged into, else it is merged again.
    for _ in 0..4 {
        let Some(row) = get(conn, rid)? else {
            return Ok(false);
        };
        if row.sidecar.digests != *digests {
            return Ok(false);
        }
        let before = serde_json::to_string(&row.checks.files).unwrap_or_else(|_| "{}".into());
        let checks = integrity::merge(&row.checks, results, replace, at_ms);
        let state = integrity::of(&row.sidecar, &checks);
        let after = serde_json::to_string(&checks.files).unwrap_or_else(|_| "{}".into());
        let n = conn.execute(
            "UPDATE recordings SET checks = $1, checked_ms = $2, integrity = $3 \
             WHERE rid = $4 AND digests = $5 AND checks = $6",
            &[
                Value::text(after),
                int(at_ms),
                Value::text(state.name()),
                Value::text(rid),
                Value::text(&digests_json),
                Value::text(before),
            ],
        )?;
        if n > 0 {
            return Ok(true);
        }
    }
    Err(CatalogError::Query(format!(
        "{rid}: checks changed by others four times over"
    )))
}

/// Removes a recording's row (its sidecar is gone).
pub fn delete(conn: &mut dyn Conn, rid: &str) -> Result<(), CatalogError> {
    conn.execute("DELETE FROM recordings WHERE rid = $1", &[Value::text(rid)])?;
    Ok(())
}

/// The recording `rid` names.
pub fn get(conn: &mut dyn Conn, rid: &str) -> Result<Option<Row>, CatalogError> {
    let sql = format!("SELECT {READ} FROM recordings WHERE rid = $1");
    let rows = conn.query(&sql, &[Value::text(rid)])?;
    rows.first().map(|r| row_of(r)).transpose()
}

/// Every recording whose sidecar has no stop yet.
pub fn unfinished(conn: &mut dyn Conn) -> Result<Vec<Row>, CatalogError> {
    let sql = format!("SELECT {READ} FROM recordings WHERE stop_ms IS NULL ORDER BY rid");
    conn.query(&sql, &[])?.iter().map(|r| row_of(r)).collect()
}

/// Up to `limit` RIDs after `after` (all from the first if `None`), in byte order, with the
/// sidecar's size and time as last seen.
pub fn stamps_after(
    conn: &mut dyn Conn,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<(String, Stamp)>, CatalogError> {
    let rows = conn.query(
        "SELECT rid, sidecar_len, sidecar_mtime_ns FROM recordings WHERE rid > $1 \
         ORDER BY rid LIMIT $2",
        &[Value::text(after.unwrap_or("")), int(limit as u64)],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let rid = r.first()?.as_text()?.to_string();
            let len = u64::try_from(r.get(1)?.as_int()?).ok()?;
            let mtime_ns = r.get(2)?.as_int()?;
            Some((rid, Stamp { len, mtime_ns }))
        })
        .collect())
}

/// A WHERE clause being built: its conditions and their parameters.
struct Where {
    dialect: Dialect,
    conditions: Vec<String>,
    params: Vec<Value>,
}

impl Where {
    /// A new parameter; its placeholder.
    fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }

    fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// `column` holds `needle` somewhere: through the engine's trigram index when it can be
    /// used, else by a scan (SQLite: fewer than 3 characters, or a GLOB metacharacter). In
    /// `names`, a part shorter than 3 characters matches at the start of a word, through the
    /// word index (version 3 of the schema): a scan of every name would be the slowest query
    /// of all, and a one-character surname (`王`) is a common search.
    fn contains(&mut self, column: &str, needle: &str) {
        let short = needle.chars().count() < 3;
        if column == "names" && short && needle.chars().all(char::is_alphanumeric) {
            return self.word_prefix(needle);
        }
        match self.dialect {
            Dialect::Sqlite => {
                let indexable =
                    needle.chars().count() >= 3 && !needle.contains(['*', '?', '[', ']']);
                if indexable {
                    let p = self.param(Value::text(format!("*{needle}*")));
                    self.push(format!(
                        "rowid IN (SELECT rowid FROM recordings_text WHERE {column} GLOB {p})"
                    ));
                } else {
                    let p = self.param(Value::text(needle));
                    self.push(format!("instr({column}, {p}) > 0"));
                }
            }
            Dialect::Postgres => {
                let mut escaped = String::with_capacity(needle.len() + 2);
                escaped.push('%');
                for c in needle.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        escaped.push('\\');
                    }
                    escaped.push(c);
                }
                escaped.push('%');
                let p = self.param(Value::text(escaped));
                self.push(format!("{column} LIKE {p}"));
            }
        }
    }

    /// A word of the names starts with `prefix` (letters and digits only).
    fn word_prefix(&mut self, prefix: &str) {
        match self.dialect {
            Dialect::Sqlite => {
                // An FTS5 phrase in double quotes (none inside: letters and digits only) with `*`.
                let p = self.param(Value::text(format!("\"{prefix}\"*")));
                self.push(format!(
                    "rowid IN (SELECT rowid FROM recordings_words WHERE recordings_words MATCH {p})"
                ));
            }
            Dialect::Postgres => {
                let p = self.param(Value::text(prefix));
                self.push(format!(
                    "to_tsvector('simple', names) @@ to_tsquery('simple', quote_literal({p}) || ':*')"
                ));
            }
        }
    }

    fn sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }
}

fn filtered(dialect: Dialect, f: &Filter) -> Where {
    let mut w = Where {
        dialect,
        conditions: Vec::new(),
        params: Vec::new(),
    };
    match &f.number {
        Some((n, NumberMatch::Substring)) => w.contains("numbers", &fold(n)),
        Some((n, NumberMatch::Prefix)) => {
            let lo = w.param(Value::text(n));
            let hi = w.param(Value::text(format!("{n}\u{10FFFF}")));
            w.push(format!(
                "((remote_number >= {lo} AND remote_number < {hi}) \
                 OR (local_number >= {lo} AND local_number < {hi}))"
            ));
        }
        None => {}
    }
    if let Some(name) = &f.name {
        w.contains("names", &fold(name));
    }
    let equal = |w: &mut Where, column: &str, v: Option<String>| {
        if let Some(v) = v {
            let p = w.param(Value::text(v));
            w.push(format!("{column} = {p}"));
        }
    };
    equal(&mut w, "device", f.device.clone());
    equal(&mut w, "device_group", f.group.clone());
    equal(&mut w, "dir", f.dir.map(|d| d.name().to_string()));
    equal(&mut w, "codec", f.codec.map(|c| c.name().to_string()));
    equal(&mut w, "stop_reason", f.stop_reason.clone());
    equal(
        &mut w,
        "integrity",
        f.integrity.map(|i| i.name().to_string()),
    );
    let bound = |w: &mut Where, column: &str, op: &str, v: Option<u64>| {
        if let Some(v) = v {
            let p = w.param(int(v));
            w.push(format!("{column} {op} {p}"));
        }
    };
    bound(&mut w, "start_ms", ">=", f.from_ms);
    bound(&mut w, "start_ms", "<", f.to_ms);
    bound(&mut w, "duration_ms", ">=", f.min_duration_ms);
    bound(&mut w, "duration_ms", "<=", f.max_duration_ms);
    w
}

/// How many recordings match.
pub fn count(conn: &mut dyn Conn, f: &Filter) -> Result<u64, CatalogError> {
    let w = filtered(conn.dialect(), f);
    // No filter: the count the triggers keep (counting a million rows takes tens of ms).
    let sql = if w.conditions.is_empty() {
        "SELECT n FROM recordings_count".to_string()
    } else {
        format!("SELECT count(*) FROM recordings{}", w.sql())
    };
    let rows = conn.query(&sql, &w.params)?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_int)
        .map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// One page of the matches, in the filter's order, and whether more follow.
pub fn page(
    conn: &mut dyn Conn,
    f: &Filter,
    ask: &PageAsk,
) -> Result<(Vec<Row>, bool), CatalogError> {
    let mut w = filtered(conn.dialect(), f);
    let (cmp, dir) = match f.order {
        Order::NewestFirst => ("<", "DESC"),
        Order::OldestFirst => (">", "ASC"),
    };
    if let Some(Cursor { start_ms, rid }) = &ask.after {
        let t = w.param(int(*start_ms));
        let r = w.param(Value::text(rid));
        w.push(format!(
            "(start_ms {cmp} {t} OR (start_ms = {t} AND rid {cmp} {r}))"
        ));
    }
    // One more than asked: whether another page follows.
    let limit = w.param(int(ask.limit as u64 + 1));
    let offset = w.param(int(ask.offset as u64));
    let sql = format!(
        "SELECT {READ} FROM recordings{} ORDER BY start_ms {dir}, rid {dir} \
         LIMIT {limit} OFFSET {offset}",
        w.sql()
    );
    let mut rows: Vec<Row> = conn
        .query(&sql, &w.params)?
        .iter()
        .map(|r| row_of(r))
        .collect::<Result<_, _>>()?;
    let more = rows.len() > ask.limit;
    rows.truncate(ask.limit);
    Ok((rows, more))
}

// ---------------------------------------------------------------------------------------------
// The device registry (schema version 4). Every write raises `devices_version` in its own
// transaction, which is how a running server learns of a change made by another process.

const DEVICE: &str = "mac, owner, extension, device_group, updated_ms";

fn device_of(v: &[Value]) -> Result<Device, CatalogError> {
    let text = |i: usize| v.get(i).and_then(Value::as_text).map(str::to_string);
    let bad = || CatalogError::Data("a device row of unexpected columns".into());
    Ok(Device {
        mac: text(0).ok_or_else(bad)?,
        owner: text(1).ok_or_else(bad)?,
        extension: text(2).ok_or_else(bad)?,
        group: text(3).ok_or_else(bad)?,
        updated_ms: v
            .get(4)
            .and_then(Value::as_int)
            .map_or(0, |n| u64::try_from(n).unwrap_or(0)),
    })
}

/// Registers `device`, or replaces the entry of its MAC; the entry it replaced, if any. Runs
/// its own transaction.
pub fn put_device(conn: &mut dyn Conn, device: &Device) -> Result<Option<Device>, CatalogError> {
    transaction(conn, |c| {
        let before = self::device(c, &device.mac)?;
        c.execute(
            &format!(
                "INSERT INTO devices ({DEVICE}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mac) \
                 DO UPDATE SET owner = excluded.owner, extension = excluded.extension, \
                 device_group = excluded.device_group, updated_ms = excluded.updated_ms"
            ),
            &[
                Value::text(&device.mac),
                Value::text(&device.owner),
                Value::text(&device.extension),
                Value::text(&device.group),
                int(device.updated_ms),
            ],
        )?;
        c.execute("UPDATE devices_version SET n = n + 1", &[])?;
        Ok(before)
    })
}

/// Removes the device `mac` from the registry; the entry removed, if there was one. Runs its
/// own transaction.
pub fn remove_device(conn: &mut dyn Conn, mac: &str) -> Result<Option<Device>, CatalogError> {
    transaction(conn, |c| {
        let before = self::device(c, mac)?;
        if before.is_some() {
            c.execute("DELETE FROM devices WHERE mac = $1", &[Value::text(mac)])?;
            c.execute("UPDATE devices_version SET n = n + 1", &[])?;
        }
        Ok(before)
    })
}

/// The registry's entry of `mac`.
pub fn device(conn: &mut dyn Conn, mac: &str) -> Result<Option<Device>, CatalogError> {
    let rows = conn.query(
        &format!("SELECT {DEVICE} FROM devices WHERE mac = $1"),
        &[Value::text(mac)],
    )?;
    rows.first().map(|r| device_of(r)).transpose()
}

/// Every device of the registry, by MAC.
pub fn devices(conn: &mut dyn Conn) -> Result<Vec<Device>, CatalogError> {
    conn.query(&format!("SELECT {DEVICE} FROM devices ORDER BY mac"), &[])?
        .iter()
        .map(|r| device_of(r))
        .collect()
}

/// The registry's version: raised by every write.
pub fn devices_version(conn: &mut dyn Conn) -> Result<i64, CatalogError> {
    let rows = conn.query("SELECT n FROM devices_version", &[])?;
    rows.first()
        .and_then(|r| r.first())
        .and_then(Value::as_int)
        .ok_or_else(|| CatalogError::Data("devices_version has no row".into()))
}
