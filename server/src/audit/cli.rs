//! `callrec-server audit verify|export`: the trail on the console.
//!
//! Both only read, in one snapshot (verify) or by seq (export), beside a running server; they
//! neither make nor migrate a catalog.
//!
//! Exit status: 0 intact (verify) or written (export); 1 the chain is broken (verify: the
//! first bad sequence number and what is wrong); 2 the command line; 3 the catalog could not
//! be opened or read.

use super::chain::Break;
use super::export;
use super::store::{self, Query, VerifyError, CHUNK};
use crate::catalog::db::Conn;
use crate::catalog::{schema, CatalogSpec};
use lexopt::Arg;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub const USAGE: &str = "\
usage:
  callrec-server audit verify --storage DIR [--catalog postgres://USER@HOST/DB | FILE]
  callrec-server audit export --storage DIR [--catalog …] [--format csv|json]
                              [--since YYYY-MM-DD[THH:MM[:SS]]] [--action ACTION]
                              [--who WHO] [--rid RID]

The audit trail: who logged in, searched, listened, downloaded, deleted, and changed users,
tokens, devices, retention and legal holds, each entry chained to the one before by SHA-256
(docs/server-api.md, Audit trail). Safe beside a running server.
verify: checks every entry and the head; prints the head (keep that line elsewhere: it anchors
  the trail up to it). Broken: the first bad entry's sequence number and edited, removed,
  reordered or forged
export: the entries, oldest first, to stdout: CSV with a header row (RFC 4180; cells a
  spreadsheet would take for a formula start with ') or JSON lines (one object per entry)
--since: entries then or later (the server's local time); --action: one code (login,
  search, listen, download, device_add, …); --who: exactly this who; --rid: one recording's
--catalog: as the server's (default: DIR/catalog.sqlite)
exit status: 0 intact / exported, 1 verify: the chain is broken, 2 usage, 3 the catalog could
  not be used";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Verify,
    Export { format: Format, query: Query },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub storage: PathBuf,
    pub catalog: Option<String>,
    pub command: Command,
}

/// `callrec-server audit ARGS`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let opts = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(m) => {
            eprintln!("callrec-server audit: {m}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut conn = match open(&opts) {
        Ok(c) => c,
        Err(m) => {
            eprintln!("callrec-server audit: {m}");
            return ExitCode::from(3);
        }
    };
    let mut out = std::io::stdout().lock();
    let code = match &opts.command {
        Command::Verify => verify(conn.as_mut(), &mut out),
        Command::Export { format, query } => export(conn.as_mut(), *format, query, &mut out),
    };
    ExitCode::from(code)
}

/// The options, or `None` for `--help`.
pub fn parse(args: Vec<OsString>) -> Result<Option<Options>, String> {
    let mut p = lexopt::Parser::from_args(args);
    let (mut storage, mut catalog, mut verb) = (None, None, None::<String>);
    let mut format = None;
    let mut query = Query::default();
    let mut filtered = false;
    let mut level = std::env::var("CALLREC_LOG").unwrap_or_else(|_| "warn".into());
    let text = |v: OsString| v.into_string().map_err(|_| "not UTF-8".to_string());
    let value = |p: &mut lexopt::Parser| -> Result<String, String> {
        p.value().map_err(|e| e.to_string()).and_then(text)
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Long("help") | Arg::Short('h') => return Ok(None),
            Arg::Long("storage") => storage = Some(PathBuf::from(value(&mut p)?)),
            Arg::Long("catalog") => catalog = Some(value(&mut p)?),
            Arg::Long("log") => level = value(&mut p)?,
            Arg::Long("format") => {
                format = Some(match value(&mut p)?.as_str() {
                    "csv" => Format::Csv,
                    "json" => Format::Json,
                    other => return Err(format!("bad --format {other:?} (csv or json)")),
                })
            }
            Arg::Long("since") => {
                let v = value(&mut p)?;
                let bad = || format!("bad --since {v:?} (YYYY-MM-DD[THH:MM[:SS]])");
                let when = crate::http::query::when(&v).ok_or_else(bad)?;
                let secs = callrec_platform::clock::unix_of_local(&when.time).ok_or_else(bad)?;
                query.since_ms = Some(secs.saturating_mul(1000));
                filtered = true;
            }
            Arg::Long("action") => {
                let v = value(&mut p)?;
                if super::Action::parse(&v).is_none() {
                    return Err(format!(
                        "unknown --action {v:?} (one of {})",
                        super::ACTIONS.join(", ")
                    ));
                }
                query.action = Some(v);
                filtered = true;
            }
            Arg::Long("who") => {
                query.who = Some(value(&mut p)?);
                filtered = true;
            }
            Arg::Long("rid") => {
                query.rid = Some(value(&mut p)?);
                filtered = true;
            }
            Arg::Value(v) if verb.is_none() => verb = Some(text(v)?),
            other => return Err(other.unexpected().to_string()),
        }
    }
    callrec_platform::logger::init(&level).map_err(|e| e.to_string())?;
    let verb = verb.ok_or("verify or export?")?;
    let storage = storage.ok_or("--storage DIR is required")?;
    let command = match verb.as_str() {
        "verify" if format.is_some() || filtered => {
            return Err("verify checks the whole trail: no --format or filters".into())
        }
        "verify" => Command::Verify,
        "export" => Command::Export {
            format: format.unwrap_or(Format::Csv),
            query,
        },
        other => return Err(format!("unknown command {other:?}: verify or export")),
    };
    Ok(Some(Options {
        storage,
        catalog,
        command,
    }))
}

/// Opens the catalog, only to read it: a missing catalog is not made nor an older one
/// migrated (there would be no trail to read), and a newer one is refused (its trail may not be
/// laid out as this build reads it).
fn open(opts: &Options) -> Result<Box<dyn Conn>, String> {
    let spec = CatalogSpec::parse(opts.catalog.as_deref(), &opts.storage);
    if let CatalogSpec::Sqlite(path) = &spec {
        if !path.is_file() {
            return Err(format!("{}: no catalog there", spec.describe()));
        }
    }
    let mut conn = spec.connect().map_err(|e| e.to_string())?;
    let version =
        schema::version(conn.as_mut()).map_err(|e| format!("{}: {e}", spec.describe()))?;
    if version > schema::VERSION {
        return Err(format!(
            "{}: the catalog is at version {version}, newer than this build's {}: use a newer \
             callrec-server",
            spec.describe(),
            schema::VERSION
        ));
    }
    if store::head(conn.as_mut()).is_err() {
        return Err(format!(
            "{}: no audit trail in this catalog (schema version {version}): start this \
             callrec-server on it once",
            spec.describe()
        ));
    }
    Ok(conn)
}

/// `audit verify`; its exit status.
pub fn verify(conn: &mut dyn Conn, out: &mut dyn Write) -> u8 {
    match store::verify(conn, &mut |_| {}) {
        Ok(intact) => {
            let _ = writeln!(
                out,
                "audit trail intact: {} entries; head: seq {} sha256 {}",
                intact.entries, intact.head.0, intact.head.1
            );
            0
        }
        Err(VerifyError::Broken(b)) => {
            let _ = writeln!(out, "audit trail BROKEN at seq {}: {b}", b.seq());
            let _ = writeln!(out, "kind: {}", Break::kind(&b));
            1
        }
        Err(VerifyError::Catalog(e)) => {
            eprintln!("callrec-server audit: {e}");
            3
        }
    }
}

/// `audit export`; its exit status.
pub fn export(conn: &mut dyn Conn, format: Format, query: &Query, out: &mut dyn Write) -> u8 {
    let mut q = query.clone();
    if format == Format::Csv && out.write_all(export::CSV_HEADER.as_bytes()).is_err() {
        return 3;
    }
    loop {
        let rows = match store::entries(conn, &q, CHUNK) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("callrec-server audit: {e}");
                return 3;
            }
        };
        for e in &rows {
            let line = match format {
                Format::Csv => export::csv_record(e),
                Format::Json => format!("{}\n", export::json_value(e)),
            };
            if out.write_all(line.as_bytes()).is_err() {
                // stdout closed (a pipe into head): nothing more to say.
                return 0;
            }
            q.after = e.seq;
        }
        if rows.len() < CHUNK {
            let _ = out.flush();
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_command_line_is_read_strictly() {
        let o = parse(args(&["verify", "--storage", "/s"]))
            .unwrap()
            .unwrap();
        assert_eq!(o.command, Command::Verify);
        let o = parse(args(&[
            "export",
            "--storage",
            "/s",
            "--format",
            "json",
            "--action",
            "listen",
            "--who",
            "anna",
            "--rid",
            "r1",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            o.command,
            Command::Export {
                format: Format::Json,
                query: Query {
                    action: Some("listen".into()),
                    who: Some("anna".into()),
                    rid: Some("r1".into()),
                    ..Query::default()
                }
            }
        );
        let o = parse(args(&[
            "export",
            "--storage",
            "/s",
            "--since",
            "2026-12-01",
        ]))
        .unwrap()
        .unwrap();
        assert!(
            matches!(o.command, Command::Export { format: Format::Csv, query } if query.since_ms.is_some())
        );
        assert_eq!(parse(args(&["export", "--help"])).unwrap(), None);
        for bad in [
            &["verify"][..],
            &["verify", "--storage", "/s", "--who", "a"],
            &["verify", "--storage", "/s", "extra"],
            &["export", "--storage", "/s", "--format", "xml"],
            &["export", "--storage", "/s", "--action", "nap"],
            &["export", "--storage", "/s", "--since", "yesterday"],
            &["erase", "--storage", "/s"],
            &["--storage", "/s"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }
}
