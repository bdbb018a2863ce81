//! The query layer: every statement the catalog runs, written once for both engines, and the
//! mapping between a recording and its row.

use super::db::{Conn, Dialect, Value};
use super::filter::{Cursor, Filter, NumberMatch, Order, PageAsk};
use super::{CatalogError, Row, Stamp};
use crate::store::{Sidecar, Stats};
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;

/// The columns, in the order of [`values_of`] and [`row_of`].
const COLUMNS: &str = "rid, call_id, device, remote_number, remote_name, local_number, \
    local_name, numbers, names, dir, codec, peer, start_ms, stop_ms, stop_reason, duration_ms, \
    files, stats, sidecar_len, sidecar_mtime_ns";
const COLUMN_COUNT: usize = 20;

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
    ]
}

fn row_of(v: &[Value]) -> Result<Row, CatalogError> {
    if v.len() != COLUMN_COUNT {
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
        },
        stamp: Stamp {
            len: uint(18),
            mtime_ns: v[19].as_int().unwrap_or(0),
        },
    })
}

/// Adds a recording, or replaces the one with its RID.
pub fn upsert(conn: &mut dyn Conn, row: &Row) -> Result<(), CatalogError> {
    let placeholders: Vec<String> = (1..=COLUMN_COUNT).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = COLUMNS
        .split(", ")
        .skip(1)
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO recordings ({COLUMNS}) VALUES ({}) ON CONFLICT (rid) DO UPDATE SET {}",
        placeholders.join(", "),
        updates.join(", ")
    );
    conn.execute(&sql, &values_of(row))?;
    Ok(())
}

/// Removes a recording's row (its sidecar is gone).
pub fn delete(conn: &mut dyn Conn, rid: &str) -> Result<(), CatalogError> {
    conn.execute("DELETE FROM recordings WHERE rid = $1", &[Value::text(rid)])?;
    Ok(())
}

/// The recording `rid` names.
pub fn get(conn: &mut dyn Conn, rid: &str) -> Result<Option<Row>, CatalogError> {
    let sql = format!("SELECT {COLUMNS} FROM recordings WHERE rid = $1");
    let rows = conn.query(&sql, &[Value::text(rid)])?;
    rows.first().map(|r| row_of(r)).transpose()
}

/// Every recording whose sidecar has no stop yet.
pub fn unfinished(conn: &mut dyn Conn) -> Result<Vec<Row>, CatalogError> {
    let sql = format!("SELECT {COLUMNS} FROM recordings WHERE stop_ms IS NULL ORDER BY rid");
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
    /// used, else by a scan (SQLite: fewer than 3 characters, or a GLOB metacharacter).
    fn contains(&mut self, column: &str, needle: &str) {
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
    equal(&mut w, "dir", f.dir.map(|d| d.name().to_string()));
    equal(&mut w, "codec", f.codec.map(|c| c.name().to_string()));
    equal(&mut w, "stop_reason", f.stop_reason.clone());
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
    let sql = format!("SELECT count(*) FROM recordings{}", w.sql());
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
        "SELECT {COLUMNS} FROM recordings{} ORDER BY start_ms {dir}, rid {dir} \
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
