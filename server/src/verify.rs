//! `callrec-server verify`: reads every finished recording's files again and checks each
//! against its digest (`digest.rs`), and each sidecar's digests against the catalog's.
//!
//! It works beside a running server on the same storage: it takes no lock (not the server's
//! storage lock either), writes nothing into the storage's day folders, and only reads the
//! catalog, apart from recording what it found as each recording's last checks (not with
//! `--no-record`), which the page and the API then show. Recordings still being written are
//! left for a later run.
//!
//! Exit status: 0 every file checked matched its digest; 1 a file or sidecar is missing, does
//! not match, or cannot be read; 2 the command line is wrong; 3 the check could not run (no
//! catalog, an unreachable database, a catalog of another version).

use crate::catalog::db::Conn;
use crate::catalog::filter::{Cursor, Filter, Order, PageAsk};
use crate::catalog::{schema, search, sql, CatalogError, CatalogSpec, Row};
use crate::digest::{self, Digest};
use crate::integrity::{self, FileCheck, Found, Integrity};
use crate::rid::Rid;
use crate::store::{read_sidecar, Slot};
use core::fmt;
use lexopt::Arg;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
usage:
  callrec-server verify --storage DIR [--catalog postgres://USER@HOST/DB | FILE]
                        [--since YYYY-MM-DD[THH:MM[:SS]]] [--no-record] [--log LEVEL]

Reads every finished recording's Record files again and checks each against its digest, and
each sidecar's digests against the catalog's. Safe beside a server running on DIR.
--catalog: as the server's (default: DIR/catalog.sqlite)
--since: only recordings that started then or later (the server's local time)
--no-record: do not record the results as the recordings' last checks in the catalog
exit status: 0 all intact, 1 a file missing, mismatched or unreadable, 2 usage, 3 could not run";

/// Recordings read from the catalog at once.
const PAGE: usize = 256;
/// How often the progress line is redrawn on a terminal.
pub const TERMINAL_EVERY: Duration = Duration::from_millis(200);
/// How often a progress line is written otherwise (a log, a pipe).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// What `verify` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    pub storage: PathBuf,
    pub catalog: Option<String>,
    /// Only recordings that started at or after this (Unix ms).
    pub since_ms: Option<u64>,
    /// Record the results in the catalog.
    pub record: bool,
}

/// Why `verify` could not run.
#[derive(Debug)]
pub enum VerifyError {
    /// The command line (exit 2).
    Usage(String),
    /// The storage or the catalog (exit 3).
    Setup(String),
}

impl From<CatalogError> for VerifyError {
    fn from(e: CatalogError) -> VerifyError {
        VerifyError::Setup(e.to_string())
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Usage(m) | VerifyError::Setup(m) => f.write_str(m),
        }
    }
}

/// What one run found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Finished recordings checked.
    pub recordings: u64,
    pub verified: u64,
    pub mismatch: u64,
    pub missing: u64,
    /// Recordings with a file that has no digest (and nothing worse).
    pub no_digest: u64,
    /// Recordings with a file or sidecar that could not be read (and nothing worse).
    pub unreadable: u64,
    /// Recordings still being written, not checked.
    pub in_progress: u64,
    /// Bytes read.
    pub bytes: u64,
}

impl Summary {
    pub fn intact(&self) -> bool {
        self.mismatch == 0 && self.missing == 0 && self.unreadable == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} recording(s) checked: {} verified, {} mismatch, {} missing, {} unreadable, \
             {} without a digest; {} in progress not checked; {} read",
            self.recordings,
            self.verified,
            self.mismatch,
            self.missing,
            self.unreadable,
            self.no_digest,
            self.in_progress,
            size(self.bytes)
        )
    }
}

/// `callrec-server verify ARGS`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let opts = match parse(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("callrec-server verify: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let shown = if io::stderr().is_terminal() {
        Shown::Terminal
    } else {
        Shown::Lines
    };
    let mut progress = Progress::new(shown);
    let mut out = io::stdout().lock();
    match run(&opts, &mut out, &mut progress) {
        Ok(s) => {
            progress.clear();
            let verdict = if s.intact() {
                "all intact"
            } else {
                "NOT all intact"
            };
            let _ = writeln!(out, "verify: {s}");
            let _ = writeln!(out, "verify: {verdict}");
            ExitCode::from(u8::from(!s.intact()))
        }
        Err(e) => {
            progress.clear();
            eprintln!("callrec-server verify: {e}");
            ExitCode::from(match e {
                VerifyError::Usage(_) => 2,
                VerifyError::Setup(_) => 3,
            })
        }
    }
}

/// The options, or `None` for `--help`.
fn parse(args: Vec<OsString>) -> Result<Option<VerifyOptions>, VerifyError> {
    let usage = |m: String| VerifyError::Usage(m);
    let mut p = lexopt::Parser::from_args(args);
    let mut storage = None;
    let mut catalog = None;
    let mut since_ms = None;
    let mut record = true;
    let mut level = std::env::var("CALLREC_LOG").unwrap_or_else(|_| "warn".into());
    let text = |p: &mut lexopt::Parser| -> Result<String, VerifyError> {
        p.value()
            .map_err(|e| usage(e.to_string()))?
            .into_string()
            .map_err(|_| usage("not UTF-8".into()))
    };
    while let Some(arg) = p.next().map_err(|e| usage(e.to_string()))? {
        match arg {
            Arg::Long("help") | Arg::Short('h') => return Ok(None),
            Arg::Long("storage") => storage = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("catalog") => catalog = Some(text(&mut p)?),
            Arg::Long("since") => {
                let v = text(&mut p)?;
                let bad = || usage(format!("bad --since {v:?} (YYYY-MM-DD[THH:MM[:SS]])"));
                let when = crate::http::query::when(&v).ok_or_else(bad)?;
                let secs = callrec_platform::clock::unix_of_local(&when.time)
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or_else(bad)?;
                since_ms = Some(secs * 1000);
            }
            Arg::Long("no-record") => record = false,
            Arg::Long("log") => level = text(&mut p)?,
            other => return Err(usage(other.unexpected().to_string())),
        }
    }
    callrec_platform::logger::init(&level).map_err(|e| usage(e.to_string()))?;
    let storage = storage.ok_or_else(|| usage("--storage DIR is required".into()))?;
    Ok(Some(VerifyOptions {
        storage,
        catalog,
        since_ms,
        record,
    }))
}

/// Opens the catalog of `opts` as it is: never creates or migrates one.
fn open(opts: &VerifyOptions) -> Result<(CatalogSpec, Box<dyn Conn>), VerifyError> {
    if !opts.storage.is_dir() {
        return Err(VerifyError::Setup(format!(
            "storage {}: not a directory",
            opts.storage.display()
        )));
    }
    let spec = CatalogSpec::parse(opts.catalog.as_deref(), &opts.storage);
    if let CatalogSpec::Sqlite(path) = &spec {
        if !path.is_file() {
            return Err(VerifyError::Setup(format!(
                "no catalog at {}: start callrec-server on this storage once to make it",
                path.display()
            )));
        }
    }
    let mut conn = spec.connect()?;
    let version = schema::version(conn.as_mut()).map_err(|e| {
        VerifyError::Setup(format!("{}: not a callrec catalog ({e})", spec.describe()))
    })?;
    if version != schema::VERSION {
        return Err(VerifyError::Setup(format!(
            "{}: the catalog is at version {version}, this program reads version {}: \
             run the callrec-server of the same version on this storage first",
            spec.describe(),
            schema::VERSION
        )));
    }
    Ok((spec, conn))
}

/// Checks the recordings `opts` names; each bad one is a line on `out`.
pub fn run(
    opts: &VerifyOptions,
    out: &mut dyn Write,
    progress: &mut Progress,
) -> Result<Summary, VerifyError> {
    let (spec, mut conn) = open(opts)?;
    let filter = Filter {
        from_ms: opts.since_ms,
        order: Order::OldestFirst,
        ..Filter::default()
    };
    let total = search::count(conn.as_mut(), &filter)?;
    progress.begin(&spec.describe(), total);
    let mut summary = Summary::default();
    let mut after: Option<Cursor> = None;
    loop {
        let ask = PageAsk {
            after: after.clone(),
            offset: 0,
            limit: PAGE,
        };
        let (rows, more) = search::page(conn.as_mut(), &filter, &ask)?;
        for row in &rows {
            let found = check(&opts.storage, row, &mut summary.bytes, progress);
            tally(&mut summary, row, &found);
            for line in found.bad_lines(&row.rid) {
                progress.clear();
                let _ = writeln!(out, "{line}");
            }
            if opts.record && !found.in_progress {
                let at = crate::media::unix_ms();
                let r = sql::record_checks(
                    conn.as_mut(),
                    &row.rid,
                    &row.sidecar.digests,
                    &found.results,
                    true,
                    at,
                );
                // Not recording a result loses no finding: it is on stdout all the same.
                if let Err(e) = r {
                    progress.clear();
                    log::warn!("{}: result not recorded: {e}", row.rid);
                }
            }
            progress.done_one(summary.bytes, summary.bad());
        }
        match rows.last() {
            Some(last) if more => {
                after = Some(Cursor {
                    start_ms: last.sidecar.start_ms,
                    rid: last.rid.clone(),
                });
            }
            _ => break,
        }
    }
    Ok(summary)
}

impl Summary {
    fn bad(&self) -> u64 {
        self.mismatch + self.missing + self.unreadable
    }
}

/// What the check of one recording found.
#[derive(Debug, Default)]
struct Outcome {
    /// The last check of each file (and of the sidecar), to record.
    results: Vec<(String, FileCheck)>,
    /// Why a file or the sidecar is bad: (state, name, reason).
    bad: Vec<(&'static str, String, String)>,
    /// A file without a digest.
    no_digest: bool,
    /// A file or the sidecar could not be read (not recorded: it says nothing of its bytes).
    unreadable: bool,
    in_progress: bool,
}

impl Outcome {
    fn bad_lines(&self, rid: &str) -> Vec<String> {
        self.bad
            .iter()
            .map(|(state, name, why)| format!("{state} {rid} {name}: {why}"))
            .collect()
    }
}

fn tally(s: &mut Summary, row: &Row, f: &Outcome) {
    if f.in_progress {
        s.in_progress += 1;
        return;
    }
    s.recordings += 1;
    let checks = integrity::merge(&row.checks, &f.results, true, 0);
    match integrity::of(&row.sidecar, &checks) {
        Integrity::Mismatch => s.mismatch += 1,
        Integrity::Missing => s.missing += 1,
        _ if f.unreadable => s.unreadable += 1,
        Integrity::NoDigest => s.no_digest += 1,
        _ if f.no_digest => s.no_digest += 1,
        // Every file was just checked: `unchecked` does not arise.
        Integrity::Verified | Integrity::Unchecked => s.verified += 1,
    }
}

/// Checks one recording's files and sidecar.
fn check(storage: &Path, row: &Row, bytes: &mut u64, progress: &mut Progress) -> Outcome {
    let mut f = Outcome::default();
    if row.sidecar.stop_ms.is_none() {
        f.in_progress = true;
        return f;
    }
    let Some(rid) = Rid::parse(&row.rid) else {
        f.bad.push((
            "mismatch",
            row.rid.clone(),
            "not a recording id of the server's".into(),
        ));
        return f;
    };
    let slot = rid.slot(storage);
    let now = crate::media::unix_ms();
    let mut put = |f: &mut Outcome, name: &str, state: Found, why: Option<String>| {
        f.results
            .push((name.to_owned(), FileCheck { state, ms: now }));
        if let Some(why) = why {
            f.bad.push((state.name(), name.to_owned(), why));
        }
    };
    for (i, name) in row.sidecar.files.iter().enumerate() {
        let own = u32::try_from(i + 1).map(|n| slot.file_name(n));
        if own.as_deref() != Ok(name.as_str()) {
            let why = "the catalog lists a file the server did not name".to_string();
            put(&mut f, name, Found::Mismatch, Some(why));
            continue;
        }
        let path = slot.dir.join(name);
        let Some(expected) = row.sidecar.digests.get(name) else {
            f.no_digest = true;
            match std::fs::metadata(&path) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    put(&mut f, name, Found::Missing, Some("not there".into()));
                }
                Err(e) => {
                    f.unreadable = true;
                    f.bad.push(("unreadable", name.clone(), e.to_string()));
                }
            }
            continue;
        };
        match (Digest::parse(expected), hash(&path, progress)) {
            (_, Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                put(&mut f, name, Found::Missing, Some("not there".into()));
            }
            (_, Err(e)) => {
                f.unreadable = true;
                f.bad.push(("unreadable", name.clone(), e.to_string()));
            }
            (None, Ok((_, len))) => {
                *bytes += len;
                let why = "its digest in the catalog is malformed".to_string();
                put(&mut f, name, Found::Mismatch, Some(why));
            }
            (Some(want), Ok((got, len))) => {
                *bytes += len;
                if got == want {
                    put(&mut f, name, Found::Verified, None);
                } else {
                    let why = format!("its bytes give digest {got}, not {want}");
                    put(&mut f, name, Found::Mismatch, Some(why));
                }
            }
        }
    }
    sidecar(&slot, row, &mut f, &mut put);
    f
}

type Put<'a> = dyn FnMut(&mut Outcome, &str, Found, Option<String>) + 'a;

/// Checks the sidecar: there, readable, and holding the catalog's digests.
fn sidecar(slot: &Slot, row: &Row, f: &mut Outcome, put: &mut Put<'_>) {
    let name = format!("{}.json", slot.stem);
    match read_sidecar(&slot.sidecar_path()) {
        Ok(s) if s.digests == row.sidecar.digests => put(f, &name, Found::Verified, None),
        Ok(_) => {
            let why = "its digests differ from the catalog's".to_string();
            put(f, &name, Found::Mismatch, Some(why));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            put(f, &name, Found::Missing, Some("not there".into()));
        }
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            put(
                f,
                &name,
                Found::Mismatch,
                Some(format!("not a sidecar: {e}")),
            );
        }
        Err(e) => {
            f.unreadable = true;
            f.bad.push(("unreadable", name, e.to_string()));
        }
    }
}

/// The digest and length of the file at `path`, read with the progress kept up to date.
fn hash(path: &Path, progress: &mut Progress) -> io::Result<(Digest, u64)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut h = digest::Hasher::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                progress.reading(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = h.len();
    Ok((h.finish(), len))
}

/// How the progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// One line, redrawn in place every [`TERMINAL_EVERY`].
    Terminal,
    /// A line every [`LOG_EVERY`] (a log, a pipe).
    Lines,
    /// Nothing (tests).
    Quiet,
}

/// The progress display on stderr.
pub struct Progress {
    shown: Shown,
    total: u64,
    done: u64,
    bytes: u64,
    bad: u64,
    started: Instant,
    last: Instant,
    /// A line is drawn on the terminal (and must be cleared before other output).
    drawn: bool,
}

impl Progress {
    pub fn new(shown: Shown) -> Progress {
        Progress {
            shown,
            total: 0,
            done: 0,
            bytes: 0,
            bad: 0,
            started: Instant::now(),
            last: Instant::now(),
            drawn: false,
        }
    }

    fn begin(&mut self, catalog: &str, total: u64) {
        self.total = total;
        self.started = Instant::now();
        self.last = self.started;
        if self.shown != Shown::Quiet {
            eprintln!("callrec-server verify: {total} recording(s) in {catalog}");
        }
    }

    fn reading(&mut self, n: u64) {
        self.bytes += n;
        self.show();
    }

    fn done_one(&mut self, bytes: u64, bad: u64) {
        self.done += 1;
        self.bytes = bytes;
        self.bad = bad;
        self.show();
    }

    fn show(&mut self) {
        let every = match self.shown {
            Shown::Terminal => TERMINAL_EVERY,
            Shown::Lines => LOG_EVERY,
            Shown::Quiet => return,
        };
        let now = Instant::now();
        if now < self.last + every {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.started).as_secs_f64().max(0.001);
        let line = format!(
            "verify: {}/{} recordings, {} read ({}/s), {} bad",
            self.done,
            self.total,
            size(self.bytes),
            size((self.bytes as f64 / secs) as u64),
            self.bad
        );
        let mut err = io::stderr().lock();
        if self.shown == Shown::Terminal {
            let _ = write!(err, "\r\x1b[K{line}");
            self.drawn = true;
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Clears the line drawn on the terminal, if any.
    fn clear(&mut self) {
        if self.drawn {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

/// Bytes as B, KiB, MiB or GiB with one decimal.
fn size(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
