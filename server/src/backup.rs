//! `callrec-server backup --storage DIR [--catalog FILE] --to FILE`: a copy of an SQLite
//! catalog that is consistent at one moment, made while the server runs (SQLite's online
//! backup API: every page copied under one read transaction, which in WAL mode holds up no
//! writer). The copy is written beside FILE and renamed to it once checked (`PRAGMA
//! quick_check`); an existing FILE is never replaced. A PostgreSQL catalog is pg_dump's
//! (docs/operations.md).
//!
//! Exit status: 0 written, 1 FILE exists or the copy failed its check, 2 usage, 3 the catalog
//! could not be read.

use crate::catalog::CatalogSpec;
use crate::cli::console::{self, Failure};
use lexopt::Arg;
use rusqlite::{Connection, OpenFlags};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub const USAGE: &str = "\
usage:
  callrec-server backup --storage DIR [--catalog FILE] --to FILE

Copies the SQLite catalog (default DIR/catalog.sqlite) to FILE, consistent at one moment, while
the server runs (SQLite's online backup). FILE must not exist. Back up the storage's files
before the catalog: docs/operations.md says why, and how to restore. A PostgreSQL catalog:
pg_dump.
exit status: 0 written, 1 FILE exists or the copy is damaged, 2 usage, 3 the catalog could not
  be read";

pub fn main(args: Vec<OsString>) -> ExitCode {
    let parsed = if args.iter().any(|a| a == "--help" || a == "-h") {
        Ok(None)
    } else {
        Ok(Some(args))
    };
    console::run("backup", USAGE, parsed, |args| {
        println!("{}", run(args)?);
        Ok(())
    })
}

fn run(args: Vec<OsString>) -> Result<String, Failure> {
    let usage = |m: String| Failure::Usage(m);
    let mut p = lexopt::Parser::from_args(args);
    let (mut storage, mut catalog, mut to) = (None::<PathBuf>, None::<String>, None::<PathBuf>);
    let value = |p: &mut lexopt::Parser| -> Result<String, Failure> {
        p.value()
            .map_err(|e| usage(e.to_string()))?
            .into_string()
            .map_err(|_| usage("not UTF-8".into()))
    };
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Arg::Long("storage") => storage = Some(value(&mut p)?.into()),
            Arg::Long("catalog") => catalog = Some(value(&mut p)?),
            Arg::Long("to") => to = Some(value(&mut p)?.into()),
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    let storage = storage.ok_or_else(|| usage("--storage DIR is required".into()))?;
    let to = to.ok_or_else(|| usage("--to FILE is required".into()))?;
    let source = match CatalogSpec::parse(catalog.as_deref(), &storage) {
        CatalogSpec::Sqlite(path) => path,
        CatalogSpec::Postgres(_) => {
            return Err(usage(
                "the catalog is PostgreSQL: back it up with pg_dump (docs/operations.md)".into(),
            ))
        }
    };
    let recordings = backup(&source, &to)?;
    Ok(format!(
        "catalog {} backed up to {} ({recordings} recordings)",
        source.display(),
        to.display()
    ))
}

/// Copies the catalog at `source` to `to` (absent); the copy's recordings.
fn backup(source: &Path, to: &Path) -> Result<i64, Failure> {
    if to.exists() {
        return Err(Failure::Refused(format!(
            "{} exists: give a new file",
            to.display()
        )));
    }
    let catalog = |e: rusqlite::Error| Failure::Catalog(format!("{}: {e}", source.display()));
    // Read-write without create: a catalog that is not there is an error, not a new one.
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(catalog)?;
    from.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(catalog)?;
    let mut name = to.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let partial = to.with_file_name(name);
    let _ = std::fs::remove_file(&partial);
    let written = (|| -> Result<i64, Failure> {
        let target = |e: rusqlite::Error| Failure::Refused(format!("{}: {e}", partial.display()));
        let mut copy = Connection::open(&partial).map_err(target)?;
        {
            let b = rusqlite::backup::Backup::new(&from, &mut copy).map_err(target)?;
            // -1: every page in one step, under one read transaction of the source. Busy or
            // locked (a writer's moment): tried again, for at most 10 s.
            use rusqlite::backup::StepResult;
            let mut tries = 0;
            loop {
                match b.step(-1).map_err(catalog)? {
                    StepResult::Done => break,
                    _ if tries >= 200 => {
                        return Err(Failure::Catalog(format!(
                            "{}: busy for 10 s; try again",
                            source.display()
                        )))
                    }
                    _ => {
                        tries += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                }
            }
        }
        let check: String = copy
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(target)?;
        if check != "ok" {
            return Err(Failure::Refused(format!("the copy is damaged: {check}")));
        }
        copy.query_row("SELECT n FROM recordings_count", [], |r| r.get(0))
            .map_err(target)
    })();
    match written {
        Ok(n) => {
            // A link never replaces a file that appeared meanwhile (rename would).
            let linked = std::fs::hard_link(&partial, to);
            let _ = std::fs::remove_file(&partial);
            linked.map_err(|e| Failure::Refused(format!("{}: {e}", to.display())))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
