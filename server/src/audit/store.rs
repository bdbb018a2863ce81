//! The trail in the catalog's database: appends (each locking the head), reads by filter and
//! cursor, and the check of the whole chain in one consistent snapshot.

use super::chain::{self, Break, Entry, Walk};
use super::{AuditError, Event};
use crate::catalog::db::{Conn, Dialect, Value};
use crate::catalog::CatalogError;

/// The most bytes of `who`, `from` and `what` together in one entry: an event bigger than this
/// is refused (not cut), so what is recorded is always what happened.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// Entries read per query while verifying or exporting.
pub const CHUNK: usize = 1000;

const COLUMNS: &str = "seq, ms, who, origin, action, rid, what, prev, hash";

/// Writes `event` as the next entry, at `now_ms` (or the entry before's time if that is later),
/// in a transaction of its own. `Ok` only once the entry is committed: a caller whose action
/// must be audited does not carry it out on `Err`.
pub fn append(conn: &mut dyn Conn, event: &Event, now_ms: i64) -> Result<Entry, AuditError> {
    let ((), entry) = with_change(conn, now_ms, |_| Ok(((), Some(event.clone()))))?;
    entry.ok_or_else(|| AuditError::Data("no entry written".into()))
}

/// Runs `change` and writes the event it returns (if any) in one transaction that holds the
/// trail's head from the start: both are committed, or neither. `change` must not open a
/// transaction of its own.
pub fn with_change<T>(
    conn: &mut dyn Conn,
    now_ms: i64,
    change: impl FnOnce(&mut dyn Conn) -> Result<(T, Option<Event>), CatalogError>,
) -> Result<(T, Option<Entry>), AuditError> {
    match conn.dialect() {
        // IMMEDIATE: the write lock at once (waiting for another writer, up to the busy
        // timeout), so the head read below is the one this transaction will write after.
        Dialect::Sqlite => conn.batch("BEGIN IMMEDIATE")?,
        Dialect::Postgres => conn.batch("BEGIN")?,
    }
    let result = (|| {
        let lock = match conn.dialect() {
            Dialect::Sqlite => "SELECT seq, hash FROM audit_head",
            Dialect::Postgres => "SELECT seq, hash FROM audit_head FOR UPDATE",
        };
        let head = read_head(conn, lock)?;
        let (value, event) = change(conn)?;
        let entry = match event {
            Some(event) => Some(write(conn, head, &event, now_ms)?),
            None => None,
        };
        Ok((value, entry))
    })();
    match result {
        Ok(v) => {
            conn.batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn write(
    conn: &mut dyn Conn,
    head: (u64, [u8; 32]),
    event: &Event,
    now_ms: i64,
) -> Result<Entry, AuditError> {
    let what = if event.what.is_null() {
        "{}".to_string()
    } else {
        event.what.to_string()
    };
    let size = event.who.len() + event.from.len() + what.len() + event.rid.len();
    if size > MAX_EVENT_BYTES {
        return Err(AuditError::Data(format!(
            "an entry of {size} bytes (at most {MAX_EVENT_BYTES})"
        )));
    }
    let before_ms = if head.0 == 0 {
        i64::MIN
    } else {
        let rows = conn.query("SELECT ms FROM audit WHERE seq = $1", &[seq_value(head.0)?])?;
        rows.first()
            .and_then(|r| r.first())
            .and_then(Value::as_int)
            .unwrap_or(i64::MIN)
    };
    let entry = chain::next_entry(
        (head.0, &head.1),
        Entry {
            seq: 0,
            ms: now_ms.max(before_ms),
            who: event.who.clone(),
            from: event.from.clone(),
            action: event.action.code().to_string(),
            rid: event.rid.clone(),
            what,
            prev: String::new(),
            hash: String::new(),
        },
    );
    conn.execute(
        &format!("INSERT INTO audit ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
        &[
            seq_value(entry.seq)?,
            Value::int(entry.ms),
            Value::text(&entry.who),
            Value::text(&entry.from),
            Value::text(&entry.action),
            Value::text(&entry.rid),
            Value::text(&entry.what),
            Value::text(&entry.prev),
            Value::text(&entry.hash),
        ],
    )?;
    let n = conn.execute(
        "UPDATE audit_head SET seq = $1, hash = $2 WHERE seq = $3",
        &[
            seq_value(entry.seq)?,
            Value::text(&entry.hash),
            seq_value(head.0)?,
        ],
    )?;
    if n != 1 {
        return Err(AuditError::Data(
            "the head moved while it was locked".into(),
        ));
    }
    Ok(entry)
}

fn seq_value(seq: u64) -> Result<Value, AuditError> {
    i64::try_from(seq)
        .map(Value::int)
        .map_err(|_| AuditError::Data("sequence number out of range".into()))
}

fn read_head(conn: &mut dyn Conn, sql: &str) -> Result<(u64, [u8; 32]), AuditError> {
    let rows = conn.query(sql, &[])?;
    let [row] = rows.as_slice() else {
        return Err(AuditError::Data(format!(
            "audit_head holds {} rows, not 1",
            rows.len()
        )));
    };
    let seq = row
        .first()
        .and_then(Value::as_int)
        .and_then(|s| u64::try_from(s).ok());
    let hash = row.get(1).and_then(Value::as_text).and_then(chain::unhex);
    match (seq, hash) {
        (Some(s), Some(h)) => Ok((s, h)),
        _ => Err(AuditError::Data(
            "audit_head is not a seq and a hash".into(),
        )),
    }
}

/// The head: the last entry's seq and hash (0 and 64 `0`s for an empty trail).
pub fn head(conn: &mut dyn Conn) -> Result<(u64, String), AuditError> {
    let (seq, hash) = read_head(conn, "SELECT seq, hash FROM audit_head")?;
    Ok((seq, chain::hex(&hash)))
}

/// Which entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only entries after this seq (the cursor).
    pub after: u64,
    /// Only entries at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only entries before this time (Unix ms).
    pub until_ms: Option<i64>,
    pub action: Option<String>,
    /// Exactly this `who`.
    pub who: Option<String>,
    pub rid: Option<String>,
}

/// Up to `limit` entries of `q`, by seq.
pub fn entries(conn: &mut dyn Conn, q: &Query, limit: usize) -> Result<Vec<Entry>, AuditError> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > $1");
    let mut params = vec![seq_value(q.after)?];
    let mut add = |sql: &mut String, cond: &str, v: Value| {
        params.push(v);
        sql.push_str(&format!(" AND {cond} ${}", params.len()));
    };
    if let Some(ms) = q.since_ms {
        add(&mut sql, "ms >=", Value::int(ms));
    }
    if let Some(ms) = q.until_ms {
        add(&mut sql, "ms <", Value::int(ms));
    }
    if let Some(a) = &q.action {
        add(&mut sql, "action =", Value::text(a));
    }
    if let Some(w) = &q.who {
        add(&mut sql, "who =", Value::text(w));
    }
    if let Some(r) = &q.rid {
        add(&mut sql, "rid =", Value::text(r));
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    params.push(Value::int(limit));
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", params.len()));
    conn.query(&sql, &params)?
        .iter()
        .map(|r| entry_of(r))
        .collect()
}

fn entry_of(r: &[Value]) -> Result<Entry, AuditError> {
    let bad = || AuditError::Data("an audit row of unexpected types".into());
    let int = |i: usize| r.get(i).and_then(Value::as_int).ok_or_else(bad);
    let text = |i: usize| {
        r.get(i)
            .and_then(Value::as_text)
            .map(str::to_string)
            .ok_or_else(bad)
    };
    Ok(Entry {
        seq: u64::try_from(int(0)?).map_err(|_| bad())?,
        ms: int(1)?,
        who: text(2)?,
        from: text(3)?,
        action: text(4)?,
        rid: text(5)?,
        what: text(6)?,
        prev: text(7)?,
        hash: text(8)?,
    })
}

/// What [`verify`] found in a trail that holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub entries: u64,
    /// The last entry's seq and hash.
    pub head: (u64, String),
}

/// Why [`verify`] did not find the trail whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    Broken(Break),
    Catalog(AuditError),
}

impl From<AuditError> for VerifyError {
    fn from(e: AuditError) -> VerifyError {
        VerifyError::Catalog(e)
    }
}

impl From<CatalogError> for VerifyError {
    fn from(e: CatalogError) -> VerifyError {
        VerifyError::Catalog(AuditError::Catalog(e))
    }
}

/// Checks every entry and the head, in one snapshot of the database (appends meanwhile are
/// not seen, and do not disturb the check). `progress` is called after each chunk with the
/// entries checked so far.
pub fn verify(conn: &mut dyn Conn, progress: &mut dyn FnMut(u64)) -> Result<Intact, VerifyError> {
    match conn.dialect() {
        Dialect::Sqlite => conn.batch("BEGIN")?,
        Dialect::Postgres => conn.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?,
    }
    let result = walk(conn, progress);
    let _ = conn.batch("COMMIT");
    result
}

fn walk(conn: &mut dyn Conn, progress: &mut dyn FnMut(u64)) -> Result<Intact, VerifyError> {
    let (head_seq, head_hash) = match head(conn) {
        Ok(h) => h,
        Err(AuditError::Data(m)) => return Err(VerifyError::Broken(Break::Head(m))),
        Err(e) => return Err(e.into()),
    };
    let mut w = Walk::default();
    let mut count = 0u64;
    let mut after = 0;
    loop {
        let q = Query {
            after,
            ..Query::default()
        };
        let rows = match entries(conn, &q, CHUNK) {
            Ok(rows) => rows,
            // A row whose columns were changed to other types: edited, at the first one.
            Err(AuditError::Data(_)) => {
                return Err(VerifyError::Broken(Break::Edited { seq: after + 1 }))
            }
            Err(e) => return Err(e.into()),
        };
        for e in &rows {
            w.next(e).map_err(VerifyError::Broken)?;
            count += 1;
            after = e.seq;
        }
        progress(count);
        if rows.len() < CHUNK {
            break;
        }
    }
    w.end((head_seq, &head_hash)).map_err(VerifyError::Broken)?;
    Ok(Intact {
        entries: count,
        head: w.last(),
    })
}
