//! The query layer: every statement the catalog runs, written once for both engines, and the
//! mapping between a recording and its row.

use super::db::transaction;
use super::db::{Conn, Dialect, Value};
use super::{words, CatalogError, Device, Row, Stamp};
use crate::integrity::{self, Checks, FileCheck};
use crate::store::{Sidecar, Stats};
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_core::mac::Mac;
use std::collections::BTreeMap;

/// The columns a sidecar fills, in the order of [`values_of`].
const COLUMNS: &str = "rid, call_id, device, remote_number, remote_name, local_number, \
    local_name, numbers, names, dir, codec, peer, start_ms, stop_ms, stop_reason, duration_ms, \
    files, stats, sidecar_len, sidecar_mtime_ns, digests, integrity, owner, extension, \
    device_group, device_key, owner_key";
const COLUMN_COUNT: usize = 27;
/// The columns read, in the order of [`row_of`]: those and the last checks.
pub(super) const READ: &str = "rid, call_id, device, remote_number, remote_name, local_number, \
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

/// The `device_key` column (schema version 9), which the `device` filter matches when it is
/// given a MAC: the MAC as `callrec_core::mac` writes it, whatever spelling the phone sent;
/// a device that is no MAC as it is.
pub fn device_key(device: &str) -> String {
    Mac::parse(device).map_or_else(|| device.to_string(), |m| m.to_string())
}

/// The `owner_key` column (schema version 9), which the `owner` filter matches: the owner
/// trimmed (as the registry keeps it) and lowercased in every script, the Greek final sigma
/// a sigma (as in the names' words), so that the case of what is typed does not matter.
pub fn owner_key(owner: &str) -> String {
    fold(owner.trim()).replace('ς', "σ")
}

pub(super) fn int(v: u64) -> Value {
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
        Value::text(words::index_text(&s.remote_name, &s.local_name)),
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
        Value::text(device_key(&s.device)),
        Value::text(owner_key(&s.owner)),
    ]
}

pub(super) fn row_of(v: &[Value]) -> Result<Row, CatalogError> {
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

/// SQLite keys its rows by time (schema version 5): a row's `rowid` is its start in Unix ms
/// (within [`KEY_MIN_MS`]..=[`KEY_MAX_MS`]) shifted left by [`KEY_SEQ_BITS`], plus its rank among
/// the rows of that millisecond, so that the text indexes hand rows out in time order
/// (`search.rs`). A start outside the range (a clock or a sidecar gone wrong) is keyed at the
/// range's end; the order of the keys still never goes against the order of the starts.
pub const KEY_MIN_MS: u64 = 1 << 30;
/// The last millisecond of the keys (in the year 2248).
pub const KEY_MAX_MS: u64 = (1 << 43) - 1;
/// The bits of a key that tell apart the rows of one millisecond.
pub const KEY_SEQ_BITS: u32 = 20;

/// The millisecond a recording's key is in.
pub(super) fn key_ms(start_ms: u64) -> i64 {
    start_ms.clamp(KEY_MIN_MS, KEY_MAX_MS) as i64
}

/// The first key of millisecond `ms`.
pub(super) fn first_key(ms: i64) -> i64 {
    ms << KEY_SEQ_BITS
}

/// The first key after millisecond `ms`; `None` after the last one.
pub(super) fn key_after(ms: i64) -> Option<i64> {
    (ms < KEY_MAX_MS as i64).then(|| (ms + 1) << KEY_SEQ_BITS)
}

/// The next free key of a recording that starts at `start_ms` (SQLite).
fn next_key(conn: &mut dyn Conn, start_ms: u64) -> Result<i64, CatalogError> {
    let ms = key_ms(start_ms);
    let (first, after) = (first_key(ms), key_after(ms).unwrap_or(i64::MAX));
    let rows = conn.query(
        "SELECT max(rowid) FROM recordings WHERE rowid >= $1 AND rowid < $2",
        &[Value::int(first), Value::int(after)],
    )?;
    match rows.first().and_then(|r| r.first()).and_then(Value::as_int) {
        None => Ok(first),
        Some(last) if last + 1 < after => Ok(last + 1),
        Some(_) => Err(CatalogError::Data(format!(
            "more than {} recordings start at {start_ms} ms",
            1u64 << KEY_SEQ_BITS
        ))),
    }
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
    let mut values = values_of(row);
    if conn.dialect() == Dialect::Postgres {
        let sql = format!(
            "INSERT INTO recordings ({COLUMNS}) VALUES ({}) ON CONFLICT (rid) DO UPDATE SET {}",
            placeholders.join(", "),
            updates.join(", ")
        );
        conn.execute(&sql, &values)?;
        return Ok(());
    }
    // SQLite: a new row gets the next key of its millisecond. A row whose start changed
    // (its sidecar was replaced) moves to a key of its new start: removed, then added.
    let sql = format!(
        "INSERT INTO recordings (rowid, {COLUMNS}) VALUES (${}, {}) ON CONFLICT (rid) \
         DO UPDATE SET {} WHERE recordings.start_ms = excluded.start_ms",
        COLUMN_COUNT + 1,
        placeholders.join(", "),
        updates.join(", ")
    );
    values.push(Value::int(next_key(conn, row.sidecar.start_ms)?));
    if conn.execute(&sql, &values)? == 0 {
        delete(conn, &row.rid)?;
        values.pop();
        values.push(Value::int(next_key(conn, row.sidecar.start_ms)?));
        conn.execute(&sql, &values)?;
    }
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

/// Sets the sidecar stamp of `rid`'s row.
pub fn set_stamp(conn: &mut dyn Conn, rid: &str, stamp: Stamp) -> Result<(), CatalogError> {
    conn.execute(
        "UPDATE recordings SET sidecar_len = $1, sidecar_mtime_ns = $2 WHERE rid = $3",
        &[int(stamp.len), Value::int(stamp.mtime_ns), Value::text(rid)],
    )?;
    Ok(())
}

/// Removes a recording's row.
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
    transaction(conn, |c| put_device_in(c, device))
}

/// [`put_device`] inside the caller's transaction (one that also writes its audit entry).
pub fn put_device_in(c: &mut dyn Conn, device: &Device) -> Result<Option<Device>, CatalogError> {
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
}

/// Removes the device `mac` from the registry; the entry removed, if there was one. Runs its
/// own transaction.
pub fn remove_device(conn: &mut dyn Conn, mac: &str) -> Result<Option<Device>, CatalogError> {
    transaction(conn, |c| remove_device_in(c, mac))
}

/// [`remove_device`] inside the caller's transaction (one that also writes its audit entry).
pub fn remove_device_in(c: &mut dyn Conn, mac: &str) -> Result<Option<Device>, CatalogError> {
    let before = self::device(c, mac)?;
    if before.is_some() {
        c.execute("DELETE FROM devices WHERE mac = $1", &[Value::text(mac)])?;
        c.execute("UPDATE devices_version SET n = n + 1", &[])?;
    }
    Ok(before)
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
