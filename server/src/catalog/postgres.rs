//! PostgreSQL, when the admin gives `--catalog postgres://…`: the same schema and queries as
//! SQLite, for a catalog that several servers share or that outgrows one file.

use super::db::{Conn, Dialect, Value};
use super::CatalogError;
use postgres::types::{ToSql, Type};
use postgres::Statement;
use std::collections::HashMap;

pub struct Postgres {
    client: postgres::Client,
    /// Prepared statements by their text (the query layer uses a few dozen).
    prepared: HashMap<String, Statement>,
    /// A transaction is open (PostgreSQL's client does not say; `batch` keeps it).
    in_transaction: bool,
}

impl Postgres {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/database`, libpq's form).
    pub fn connect(url: &str) -> Result<Postgres, CatalogError> {
        let client = postgres::Client::connect(url, postgres::NoTls)
            .map_err(|e| CatalogError::Unavailable(format!("{}: {e}", redact(url))))?;
        Ok(Postgres {
            client,
            prepared: HashMap::new(),
            in_transaction: false,
        })
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn query_error(e: postgres::Error) -> CatalogError {
    if e.is_closed() {
        CatalogError::Unavailable(e.to_string())
    } else {
        CatalogError::Query(
            e.as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string()),
        )
    }
}

fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| match v {
            Value::Int(i) => i as &(dyn ToSql + Sync),
            Value::Text(t) => t as &(dyn ToSql + Sync),
        })
        .collect()
}

impl Postgres {
    fn prepare(&mut self, sql: &str) -> Result<Statement, CatalogError> {
        if let Some(stmt) = self.prepared.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client.prepare(sql).map_err(query_error)?;
        self.prepared.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

impl Conn for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64, CatalogError> {
        let stmt = self.prepare(sql)?;
        self.client
            .execute(&stmt, &params(values))
            .map_err(query_error)
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Vec<Value>>, CatalogError> {
        let stmt = self.prepare(sql)?;
        let rows = self
            .client
            .query(&stmt, &params(values))
            .map_err(query_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut values = Vec::with_capacity(row.len());
            for (i, column) in row.columns().iter().enumerate() {
                let v = match *column.type_() {
                    Type::INT8 => Value::Int(row.try_get(i).map_err(query_error)?),
                    Type::INT4 => Value::Int(
                        row.try_get::<_, Option<i32>>(i)
                            .map_err(query_error)?
                            .map(i64::from),
                    ),
                    Type::TEXT | Type::VARCHAR => Value::Text(row.try_get(i).map_err(query_error)?),
                    ref other => {
                        return Err(CatalogError::Data(format!("a column of type {other}")))
                    }
                };
                values.push(v);
            }
            out.push(values);
        }
        Ok(out)
    }

    fn batch(&mut self, sql: &str) -> Result<(), CatalogError> {
        let result = self.client.batch_execute(sql).map_err(query_error);
        // The query layer opens and ends its transactions with these statements alone.
        // (`ROLLBACK TO SAVEPOINT` leaves the transaction open.)
        let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
        match (words.next().as_deref(), words.next().as_deref()) {
            (Some("BEGIN"), _) if result.is_ok() => self.in_transaction = true,
            (Some("ROLLBACK"), Some("TO")) => {}
            (Some("COMMIT" | "ROLLBACK" | "END"), _) => self.in_transaction = false,
            _ => {}
        }
        if result.is_err() && self.client.is_closed() {
            self.in_transaction = false;
        }
        result
    }

    fn in_transaction(&self) -> bool {
        self.in_transaction
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redact("postgres://callrec:s3cret@db:5432/calls"),
            "postgres://callrec:***@db:5432/calls"
        );
        assert_eq!(
            redact("postgres://callrec@db/calls"),
            "postgres://callrec@db/calls"
        );
        assert_eq!(redact("host=db user=x"), "host=db user=x");
    }
}
