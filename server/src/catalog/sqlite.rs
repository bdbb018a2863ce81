//! The embedded engine: one SQLite file in the storage folder, in WAL mode (readers never wait
//! for the writer), nothing to install or start.

use super::db::{Conn, Dialect, Value};
use super::CatalogError;
use rusqlite::types::{ToSqlOutput, ValueRef};
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for a lock held by another connection before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The page cache of a connection, in KiB.
const CACHE_KIB: u32 = 8 * 1024;
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

pub struct Sqlite {
    conn: rusqlite::Connection,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Sqlite, CatalogError> {
        let conn = rusqlite::Connection::open(path)
            .map_err(|e| CatalogError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(query_error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // WAL: readers and the one writer do not block each other; NORMAL: a commit is
        // durable once the WAL is synced at checkpoints, and never corrupt after a crash.
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(query_error)?;
        // A page cache of its own per connection (SQLite's default is 2 MiB): the text
        // indexes' upper pages stay in it between searches. At most `READERS` + 1 connections,
        // so at most 40 MiB in all.
        conn.execute_batch(&format!("PRAGMA cache_size = -{}", CACHE_KIB))
            .map_err(query_error)?;
        Ok(Sqlite { conn })
    }
}

fn query_error(e: rusqlite::Error) -> CatalogError {
    CatalogError::Query(e.to_string())
}

/// `$1` → `?1`: SQLite numbers its parameters by the number after `?`, as PostgreSQL does
/// after `$` (the query layer writes no `$` inside string literals).
fn placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

struct Param<'a>(&'a Value);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            Value::Int(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Int(None) | Value::Text(None) => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

fn value_of(v: ValueRef<'_>) -> Result<Value, CatalogError> {
    match v {
        ValueRef::Null => Ok(Value::Text(None)),
        ValueRef::Integer(i) => Ok(Value::int(i)),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Value::text)
            .map_err(|_| CatalogError::Data("text that is not UTF-8".into())),
        ValueRef::Real(_) | ValueRef::Blob(_) => {
            Err(CatalogError::Data("a column of an unexpected type".into()))
        }
    }
}

impl Conn for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(&placeholders(sql))
            .map_err(query_error)?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter()))
            .map_err(query_error)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, CatalogError> {
        let mut stmt = self
            .conn
            .prepare_cached(&placeholders(sql))
            .map_err(query_error)?;
        let columns = stmt.column_count();
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(query_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(query_error)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(value_of(row.get_ref(i).map_err(query_error)?)?);
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), CatalogError> {
        self.conn.execute_batch(sql).map_err(query_error)
    }

    fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }
}
