//! Searching the catalog: one WHERE clause made from a [`Filter`] for both engines, the number
//! of matches, and a page of them in the filter's order (start time, then RID).
//!
//! On SQLite, a search by text (a part of a number, a name) is driven by its full-text index.
//! The index hands out matches in `rowid` order, which is time order (rows are keyed by their
//! start, `sql.rs`), so a page reads the rows of the page and stops, however many match: sorting
//! every match first (thousands for a common surname) was the slowest search of all. Rows that
//! start in the same millisecond are keyed in the order they came, not by RID, so the page's
//! last millisecond is read whole and the page is put in the true order before it is cut.
//! PostgreSQL's planner reads its own indexes in order and needs none of this.

use super::db::{Conn, Dialect, Value};
use super::filter::{Cursor, Filter, NumberMatch, Order, PageAsk};
use super::sql::{device_key, first_key, fold, int, key_after, key_ms, owner_key, row_of, READ};
use super::{words, CatalogError, Row};
use callrec_core::mac::Mac;

/// A WHERE clause being built: its conditions and their parameters.
struct Where {
    dialect: Dialect,
    conditions: Vec<String>,
    params: Vec<Value>,
    /// SQLite: the full-text table that drives the search, and its MATCH parameter.
    driver: Option<(&'static str, String)>,
    /// SQLite, with a driver: the keys the matches can have (`first..after`), from the time
    /// bounds and the cursor.
    first_key: Option<i64>,
    after_key: Option<i64>,
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

    /// A match in the SQLite full-text table `table`: the driver if there is none yet, else a
    /// condition on the row.
    fn fts(&mut self, table: &'static str, query: String) {
        let p = self.param(Value::text(query));
        if self.driver.is_none() {
            self.driver = Some((table, p));
        } else {
            self.push(format!(
                "recordings.rowid IN (SELECT rowid FROM {table} WHERE {table} MATCH {p})"
            ));
        }
    }

    /// The numbers hold `needle` somewhere: through the trigram index (SQLite's FTS5 phrase of
    /// trigrams; PostgreSQL's `pg_trgm` for LIKE), or by a scan when it is shorter than a
    /// trigram on SQLite.
    fn number_part(&mut self, needle: &str) {
        match self.dialect {
            Dialect::Sqlite if needle.chars().count() >= 3 => {
                // One FTS5 string: a `"` inside is written twice.
                let phrase = format!("\"{}\"", needle.replace('"', "\"\""));
                self.fts("recordings_text", phrase);
            }
            Dialect::Sqlite => {
                let p = self.param(Value::text(needle));
                self.push(format!("instr(recordings.numbers, {p}) > 0"));
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
                self.push(format!("recordings.numbers LIKE {p}"));
            }
        }
    }

    /// Every word of `name` begins a word of the names (`words.rs`), through the word index.
    fn name(&mut self, name: &str) {
        let q = words::query(name);
        if q.is_empty() {
            return self.push("1 = 0".into());
        }
        match self.dialect {
            Dialect::Sqlite => self.fts("recordings_words", words::fts5(&q)),
            Dialect::Postgres => {
                let p = self.param(Value::text(words::tsquery(&q)));
                self.push(format!(
                    "to_tsvector('simple', recordings.names) @@ to_tsquery('simple', {p})"
                ));
            }
        }
    }

    /// Starts at `ms` or later: narrows the driver's keys too.
    fn from(&mut self, ms: u64) {
        let k = first_key(key_ms(ms));
        self.first_key = Some(self.first_key.map_or(k, |f| f.max(k)));
    }

    /// Starts at `ms` or earlier: narrows the driver's keys too.
    fn until(&mut self, ms: u64) {
        if let Some(k) = key_after(key_ms(ms)) {
            self.after_key = Some(self.after_key.map_or(k, |a| a.min(k)));
        }
    }

    fn sql(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// SQLite, with a driver: the driver's table, joined to the rows when a condition needs
    /// them, with every condition; `keys` narrows it to `first..after` too. The full-text
    /// table comes first (CROSS JOIN keeps it the outer loop), so its rowid order holds.
    fn driven(&mut self, keys: (Option<i64>, Option<i64>)) -> String {
        let Some((table, p)) = self.driver.clone() else {
            return String::new();
        };
        let mut conditions = vec![format!("{table} MATCH {p}")];
        let first = [self.first_key, keys.0].into_iter().flatten().max();
        let after = [self.after_key, keys.1].into_iter().flatten().min();
        if let Some(k) = first {
            let k = self.param(Value::int(k));
            conditions.push(format!("{table}.rowid >= {k}"));
        }
        if let Some(k) = after {
            let k = self.param(Value::int(k));
            conditions.push(format!("{table}.rowid < {k}"));
        }
        let join = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" CROSS JOIN recordings ON recordings.rowid = {table}.rowid")
        };
        conditions.extend(self.conditions.iter().cloned());
        format!("FROM {table}{join} WHERE {}", conditions.join(" AND "))
    }
}

fn filtered(dialect: Dialect, f: &Filter) -> Where {
    let mut w = Where {
        dialect,
        conditions: Vec::new(),
        params: Vec::new(),
        driver: None,
        first_key: None,
        after_key: None,
    };
    // The name first: its word index is the cheaper driver.
    if let Some(name) = &f.name {
        w.name(name);
    }
    match &f.number {
        Some((n, NumberMatch::Substring)) => w.number_part(&fold(n)),
        Some((n, NumberMatch::Prefix)) => {
            let lo = w.param(Value::text(n));
            let hi = w.param(Value::text(format!("{n}\u{10FFFF}")));
            w.push(format!(
                "((recordings.remote_number >= {lo} AND recordings.remote_number < {hi}) \
                 OR (recordings.local_number >= {lo} AND recordings.local_number < {hi}))"
            ));
        }
        None => {}
    }
    let equal = |w: &mut Where, column: &str, v: Option<String>| {
        if let Some(v) = v {
            let p = w.param(Value::text(v));
            w.push(format!("recordings.{column} = {p}"));
        }
    };
    // A MAC by its key, whatever spelling the phone sent; any other device exactly.
    match &f.device {
        Some(d) if Mac::parse(d).is_some() => equal(&mut w, "device_key", Some(device_key(d))),
        d => equal(&mut w, "device", d.clone()),
    }
    equal(&mut w, "owner_key", f.owner.as_deref().map(owner_key));
    equal(&mut w, "device_group", f.group.clone());
    equal(&mut w, "dir", f.dir.map(|d| d.name().to_string()));
    equal(&mut w, "codec", f.codec.map(|c| c.name().to_string()));
    equal(&mut w, "stop_reason", f.stop_reason.clone());
    equal(
        &mut w,
        "integrity",
        f.integrity.map(|i| i.name().to_string()),
    );
    if let Some(groups) = &f.scope {
        if groups.is_empty() {
            w.push("1 = 0".into());
        } else {
            let ps: Vec<String> = groups.iter().map(|g| w.param(Value::text(g))).collect();
            w.push(format!("recordings.device_group IN ({})", ps.join(", ")));
        }
    }
    let bound = |w: &mut Where, column: &str, op: &str, v: Option<u64>| {
        if let Some(v) = v {
            let p = w.param(int(v));
            w.push(format!("recordings.{column} {op} {p}"));
        }
    };
    bound(&mut w, "start_ms", ">=", f.from_ms);
    bound(&mut w, "start_ms", "<", f.to_ms);
    bound(&mut w, "duration_ms", ">=", f.min_duration_ms);
    bound(&mut w, "duration_ms", "<=", f.max_duration_ms);
    if let Some(ms) = f.from_ms {
        w.from(ms);
    }
    if let Some(ms) = f.to_ms {
        // Before `ms`: at `ms - 1` or earlier (nothing starts before 0).
        w.until(ms.saturating_sub(1));
    }
    w
}

fn first_int(rows: &[Vec<Value>]) -> u64 {
    rows.first()
        .and_then(|r| r.first())
        .and_then(Value::as_int)
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// How many recordings match.
pub fn count(conn: &mut dyn Conn, f: &Filter) -> Result<u64, CatalogError> {
    let mut w = filtered(conn.dialect(), f);
    let sql = if w.driver.is_some() {
        format!("SELECT count(*) {}", w.driven((None, None)))
    } else if w.conditions.is_empty() {
        // No filter: the count the triggers keep (counting a million rows takes tens of ms).
        "SELECT n FROM recordings_count".to_string()
    } else {
        format!("SELECT count(*) FROM recordings{}", w.sql())
    };
    Ok(first_int(&conn.query(&sql, &w.params)?))
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
        // The first condition, implied by the second, is a range an index (of the filter's
        // column, then the start) can seek to: a later page does not read the earlier ones.
        w.push(format!(
            "recordings.start_ms {cmp}= {t} AND (recordings.start_ms {cmp} {t} \
             OR (recordings.start_ms = {t} AND recordings.rid {cmp} {r}))"
        ));
        match f.order {
            Order::NewestFirst => w.until(*start_ms),
            Order::OldestFirst => w.from(*start_ms),
        }
    }
    // One more than asked: whether another page follows.
    let wanted = ask.offset.saturating_add(ask.limit).saturating_add(1);
    if w.driver.is_some() {
        return driven_page(conn, &w, f.order, ask, wanted);
    }
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

/// The rows (with their keys) of the driver's first `limit` matches in key order within `keys`,
/// or of all of them (`None`).
fn driven_rows(
    conn: &mut dyn Conn,
    w: &Where,
    order: Order,
    keys: (Option<i64>, Option<i64>),
    limit: Option<usize>,
) -> Result<Vec<(i64, Row)>, CatalogError> {
    let mut w = Where {
        dialect: w.dialect,
        conditions: w.conditions.clone(),
        params: w.params.clone(),
        driver: w.driver.clone(),
        first_key: w.first_key,
        after_key: w.after_key,
    };
    let table = w.driver.as_ref().map_or("", |d| d.0);
    let from = w.driven(keys);
    let dir = match order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    let limit = match limit {
        Some(n) => format!(" LIMIT {}", w.param(int(n as u64))),
        None => String::new(),
    };
    let sql = format!(
        "SELECT recordings.rowid, {READ} FROM recordings WHERE recordings.rowid IN \
         (SELECT {table}.rowid {from} ORDER BY {table}.rowid {dir}{limit})"
    );
    conn.query(&sql, &w.params)?
        .iter()
        .map(|r| {
            let key = r.first().and_then(Value::as_int).unwrap_or(0);
            Ok((key, row_of(r.get(1..).unwrap_or_default())?))
        })
        .collect()
}

fn driven_page(
    conn: &mut dyn Conn,
    w: &Where,
    order: Order,
    ask: &PageAsk,
    wanted: usize,
) -> Result<(Vec<Row>, bool), CatalogError> {
    let mut rows = driven_rows(conn, w, order, (None, None), Some(wanted))?;
    if rows.len() == wanted {
        // The matches of the last millisecond read may go on past the limit: all of them.
        let last = match order {
            Order::NewestFirst => rows.iter().map(|r| r.0).min(),
            Order::OldestFirst => rows.iter().map(|r| r.0).max(),
        };
        if let Some(last) = last {
            let ms = last >> super::sql::KEY_SEQ_BITS;
            let keys = (Some(first_key(ms)), key_after(ms));
            let known: std::collections::HashSet<i64> = rows.iter().map(|r| r.0).collect();
            let tied = driven_rows(conn, w, order, keys, None)?;
            rows.extend(tied.into_iter().filter(|r| !known.contains(&r.0)));
        }
    }
    let mut rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    rows.sort_by(|a, b| {
        let ord = (a.sidecar.start_ms, &a.rid).cmp(&(b.sidecar.start_ms, &b.rid));
        match order {
            Order::NewestFirst => ord.reverse(),
            Order::OldestFirst => ord,
        }
    });
    let mut rows: Vec<Row> = rows.into_iter().skip(ask.offset).collect();
    let more = rows.len() > ask.limit;
    rows.truncate(ask.limit);
    Ok((rows, more))
}
