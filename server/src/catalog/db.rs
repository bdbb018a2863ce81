//! The two database engines behind one narrow interface: SQL text with `$1, $2, …`
//! placeholders, parameters and results as [`Value`]s. The query layer (`sql.rs`) writes the
//! statements once; only the few that differ by engine (text search, the migrations) ask
//! [`Conn::dialect`].

use super::CatalogError;

/// A parameter or a column value. Nulls are typed, because PostgreSQL checks every
/// parameter's type against the statement's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl Value {
    pub fn int(v: i64) -> Value {
        Value::Int(Some(v))
    }

    pub fn text(v: impl Into<String>) -> Value {
        Value::Text(Some(v.into()))
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => *v,
            Value::Text(_) => None,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(v) => v.as_deref(),
            Value::Int(_) => None,
        }
    }
}

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One connection to the catalog's database.
pub trait Conn: Send {
    fn dialect(&self) -> Dialect;
    /// Runs one statement; the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, CatalogError>;
    /// Runs one query; its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, CatalogError>;
    /// Runs several statements with no parameters (migrations, BEGIN, COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), CatalogError>;
    /// Whether a transaction is open on this connection.
    fn in_transaction(&self) -> bool;
}

/// Runs `f`, which writes, in a transaction: committed if it returns `Ok`, rolled back
/// otherwise. Inside a transaction the caller opened (one that also writes an audit entry:
/// `crate::audit::store`), `f` runs in a savepoint of it instead: undone alone on `Err`,
/// committed with the caller's.
///
/// On SQLite the write lock is taken at the start (`BEGIN IMMEDIATE`), waiting for another
/// writer up to the busy timeout. A deferred transaction that reads and then writes fails at
/// once (`SQLITE_BUSY`, no wait) when another connection committed in between, as the audit
/// trail's writers do at every download.
pub fn transaction<T>(
    conn: &mut dyn Conn,
    f: impl FnOnce(&mut dyn Conn) -> Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    let begin = match conn.dialect() {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    };
    in_transaction(conn, begin, f)
}

/// Runs `f`, which only reads, in one transaction: all it reads is of one moment.
pub fn snapshot<T>(
    conn: &mut dyn Conn,
    f: impl FnOnce(&mut dyn Conn) -> Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    let begin = match conn.dialect() {
        Dialect::Sqlite => "BEGIN",
        Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    in_transaction(conn, begin, f)
}

fn in_transaction<T>(
    conn: &mut dyn Conn,
    begin: &str,
    f: impl FnOnce(&mut dyn Conn) -> Result<T, CatalogError>,
) -> Result<T, CatalogError> {
    if conn.in_transaction() {
        conn.batch("SAVEPOINT nested")?;
        return match f(conn) {
            Ok(v) => {
                conn.batch("RELEASE SAVEPOINT nested")?;
                Ok(v)
            }
            Err(e) => {
                let _ = conn.batch("ROLLBACK TO SAVEPOINT nested; RELEASE SAVEPOINT nested");
                Err(e)
            }
        };
    }
    conn.batch(begin)?;
    match f(conn) {
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
