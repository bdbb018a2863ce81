//! Retention and legal hold in the catalog (schema version 8): the policy, the holds, the
//! disposals under way, and the recordings that may be due. Every statement runs inside the
//! caller's transaction when there is one (a change and its audit entry commit together).

use super::db::{Conn, Value};
use super::sql::int;
use super::CatalogError;
use crate::retention::policy::{Candidate, Cutoffs, Policy};
use std::collections::{BTreeMap, BTreeSet};

/// A legal hold on a recording.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hold {
    pub reason: String,
    /// Who set it (as the audit trail names them).
    pub by: String,
    /// When (Unix ms).
    pub ms: u64,
}

/// A deletion whose catalog row is gone and whose files may not be yet (see
/// `crate::retention`): its sidecar is only removed if it is still this recording's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposal {
    pub rid: String,
    pub call_id: String,
    pub start_ms: u64,
}

/// A recording that may be due, with what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub rid: String,
    pub candidate: Candidate,
}

fn uint(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_int)
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_text).unwrap_or_default().to_string()
}

/// The policy in force.
pub fn policy(c: &mut dyn Conn) -> Result<Policy, CatalogError> {
    let global = c.query("SELECT days FROM retention_global", &[])?;
    let [row] = global.as_slice() else {
        return Err(CatalogError::Data(format!(
            "retention_global holds {} rows, not 1",
            global.len()
        )));
    };
    let days = row.first().and_then(Value::as_int);
    let days = match days {
        None => None,
        Some(d) => Some(u32::try_from(d).map_err(|_| bad_days(d))?),
    };
    let mut groups = BTreeMap::new();
    for r in c.query(
        "SELECT device_group, days FROM retention ORDER BY device_group",
        &[],
    )? {
        let d = r.get(1).and_then(Value::as_int).unwrap_or(-1);
        groups.insert(text(r.first()), u32::try_from(d).map_err(|_| bad_days(d))?);
    }
    Ok(Policy { days, groups })
}

fn bad_days(d: i64) -> CatalogError {
    CatalogError::Data(format!("a retention of {d} days"))
}

/// Replaces the policy whole.
pub fn set_policy(c: &mut dyn Conn, p: &Policy) -> Result<(), CatalogError> {
    let days = Value::Int(p.days.map(i64::from));
    c.execute("UPDATE retention_global SET days = $1", &[days])?;
    c.execute("DELETE FROM retention", &[])?;
    for (g, d) in &p.groups {
        c.execute(
            "INSERT INTO retention (device_group, days) VALUES ($1, $2)",
            &[Value::text(g), Value::int(i64::from(*d))],
        )?;
    }
    Ok(())
}

/// The hold on `rid`, if any.
pub fn hold(c: &mut dyn Conn, rid: &str) -> Result<Option<Hold>, CatalogError> {
    let rows = c.query(
        "SELECT reason, who, ms FROM holds WHERE rid = $1",
        &[Value::text(rid)],
    )?;
    Ok(rows.first().map(|r| Hold {
        reason: text(r.first()),
        by: text(r.get(1)),
        ms: uint(r.get(2)),
    }))
}

/// The holds of those of `rids` that have one.
pub fn holds_of(c: &mut dyn Conn, rids: &[String]) -> Result<BTreeMap<String, Hold>, CatalogError> {
    let mut out = BTreeMap::new();
    for chunk in rids.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT rid, reason, who, ms FROM holds WHERE rid IN ({})",
            marks.join(", ")
        );
        let params: Vec<Value> = chunk.iter().map(Value::text).collect();
        for r in c.query(&sql, &params)? {
            let hold = Hold {
                reason: text(r.get(1)),
                by: text(r.get(2)),
                ms: uint(r.get(3)),
            };
            out.insert(text(r.first()), hold);
        }
    }
    Ok(out)
}

/// Puts `rid` on hold; false if it already was (the first hold stays).
pub fn set_hold(c: &mut dyn Conn, rid: &str, h: &Hold) -> Result<bool, CatalogError> {
    if hold(c, rid)?.is_some() {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO holds (rid, reason, who, ms) VALUES ($1, $2, $3, $4)",
        &[
            Value::text(rid),
            Value::text(&h.reason),
            Value::text(&h.by),
            int(h.ms),
        ],
    )?;
    Ok(true)
}

/// Releases the hold on `rid`; the hold released, if there was one.
pub fn release(c: &mut dyn Conn, rid: &str) -> Result<Option<Hold>, CatalogError> {
    let before = hold(c, rid)?;
    if before.is_some() {
        c.execute("DELETE FROM holds WHERE rid = $1", &[Value::text(rid)])?;
    }
    Ok(before)
}

/// Notes a disposal under way (in the transaction that removes the row).
pub fn add_disposal(c: &mut dyn Conn, d: &Disposal, now_ms: u64) -> Result<(), CatalogError> {
    c.execute(
        "INSERT INTO disposals (rid, call_id, start_ms, ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (rid) DO NOTHING",
        &[
            Value::text(&d.rid),
            Value::text(&d.call_id),
            int(d.start_ms),
            int(now_ms),
        ],
    )?;
    Ok(())
}

/// The disposal of `rid` is over (its files are gone).
pub fn end_disposal(c: &mut dyn Conn, rid: &str) -> Result<(), CatalogError> {
    c.execute("DELETE FROM disposals WHERE rid = $1", &[Value::text(rid)])?;
    Ok(())
}

/// Up to `limit` disposals under way, oldest RID first.
pub fn disposals(c: &mut dyn Conn, limit: usize) -> Result<Vec<Disposal>, CatalogError> {
    let rows = c.query(
        "SELECT rid, call_id, start_ms FROM disposals ORDER BY rid LIMIT $1",
        &[int(limit as u64)],
    )?;
    Ok(rows
        .iter()
        .map(|r| Disposal {
            rid: text(r.first()),
            call_id: text(r.get(1)),
            start_ms: uint(r.get(2)),
        })
        .collect())
}

/// The RIDs of every disposal under way (few: each lasts as long as removing its files).
pub fn disposing(c: &mut dyn Conn) -> Result<BTreeSet<String>, CatalogError> {
    let rows = c.query("SELECT rid FROM disposals", &[])?;
    Ok(rows.iter().map(|r| text(r.first())).collect())
}

/// Up to `limit` recordings that started before their cutoff, by start then RID, after
/// `after` (a start and a RID), with whether each is finished and held.
pub fn past_cutoffs(
    c: &mut dyn Conn,
    cut: &Cutoffs,
    after: Option<(u64, &str)>,
    limit: usize,
) -> Result<Vec<Due>, CatalogError> {
    let mut params = Vec::new();
    let mut param = |v: Value| {
        params.push(v);
        format!("${}", params.len())
    };
    let mut any = Vec::new();
    for (g, cutoff) in &cut.groups {
        any.push(format!(
            "(device_group = {} AND start_ms < {})",
            param(Value::text(g)),
            param(int(*cutoff))
        ));
    }
    if let Some(cutoff) = cut.others {
        let mut cond = format!("start_ms < {}", param(int(cutoff)));
        if !cut.groups.is_empty() {
            let names: Vec<String> = cut
                .groups
                .iter()
                .map(|(g, _)| param(Value::text(g)))
                .collect();
            cond = format!("device_group NOT IN ({}) AND {cond}", names.join(", "));
        }
        any.push(format!("({cond})"));
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT rid, device_group, start_ms, \
         CASE WHEN stop_ms IS NULL THEN 0 ELSE 1 END, \
         CASE WHEN EXISTS (SELECT 1 FROM holds WHERE holds.rid = recordings.rid) \
         THEN 1 ELSE 0 END \
         FROM recordings WHERE ({})",
        any.join(" OR ")
    );
    if let Some((ms, rid)) = after {
        let (a, b, c2) = (param(int(ms)), param(int(ms)), param(Value::text(rid)));
        sql.push_str(&format!(
            " AND (start_ms > {a} OR (start_ms = {b} AND rid > {c2}))"
        ));
    }
    let lim = param(int(limit as u64));
    sql.push_str(&format!(" ORDER BY start_ms, rid LIMIT {lim}"));
    Ok(c.query(&sql, &params)?
        .iter()
        .map(|r| Due {
            rid: text(r.first()),
            candidate: Candidate {
                group: text(r.get(1)),
                start_ms: uint(r.get(2)),
                finished: uint(r.get(3)) == 1,
                held: uint(r.get(4)) == 1,
            },
        })
        .collect())
}
