//! `callrec-bench-catalog`: the record server's catalog at the size of an archive (run by
//! `scripts/bench-catalog`; never a test). Writes N recordings' sidecars (the server's own types,
//! spread over a year), starts `callrec-server` on them, which imports them through its start-up
//! path (the import rate is N over the time to its ready line), then times searches through the
//! HTTP API on one kept-alive connection: by number (a part, and a prefix), by name, by a day's
//! date range, and the first page of the listing, each `--queries` times after a warm-up, with
//! their p50 and p99, and the server's peak RSS while answering (VmHWM, reset once it is ready
//! by writing 5 to /proc/PID/clear_refs). Then it starts the server again on the same catalog
//! (the start-up sync with nothing changed). The same on PostgreSQL (Debian's, started in the
//! work directory) with `--catalog`. Prints a Markdown report (also `--out`).

mod store;

use callrec_core::test_rng::Rng;
use callrec_tools::error::{exit, Context, ToolError};
use callrec_tools::http::Client;
use callrec_tools::markdown::{g, host, mib, table};
use callrec_tools::postgres::Postgres;
use callrec_tools::process::{ready_field, Proc};
use callrec_tools::procfs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const USAGE: &str = "\
callrec-bench-catalog: the record server's catalog with many recordings (scripts/bench-catalog)

usage: callrec-bench-catalog --server BIN --workdir DIR [--rows N] [--queries K]
                             [--engines sqlite,postgres] [--out FILE] [--command TEXT]...

--rows: recordings in the store (default 1000000); the store is kept in DIR/store and reused
  when it already holds N; --queries: timed queries of each kind (default 200)";

/// How long the import may take before the server is given up on.
const READY_TIMEOUT: Duration = Duration::from_secs(3600);
/// Rows per page of every timed query.
const LIMIT: usize = 50;
const SEED: u64 = 0xCA7A_1060;
/// Targets on SQLite (the issue's): p99 latency and peak RSS while answering.
const P99_TARGET_MS: f64 = 20.0;
const RSS_TARGET_KIB: u64 = 64 * 1024;

struct Options {
    server: PathBuf,
    workdir: PathBuf,
    rows: u64,
    queries: usize,
    engines: Vec<String>,
    out: Option<PathBuf>,
    commands: Vec<String>,
}

fn parse() -> Result<Options, ToolError> {
    use lexopt::Arg;
    let usage = |e: lexopt::Error| ToolError::Usage(e.to_string());
    let mut p = lexopt::Parser::from_env();
    let (mut server, mut workdir, mut out) = (None, None, None);
    let (mut rows, mut queries) = (1_000_000u64, 200usize);
    let mut engines = vec!["sqlite".to_string(), "postgres".to_string()];
    let mut commands = Vec::new();
    fn text(p: &mut lexopt::Parser) -> Result<String, ToolError> {
        p.value()
            .map_err(|e| ToolError::Usage(e.to_string()))?
            .into_string()
            .map_err(|_| ToolError::Usage("not UTF-8".into()))
    }
    while let Some(arg) = p.next().map_err(usage)? {
        match arg {
            Arg::Long("server") => server = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("workdir") => workdir = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("out") => out = Some(PathBuf::from(text(&mut p)?)),
            Arg::Long("rows") => {
                rows = text(&mut p)?
                    .parse()
                    .map_err(|_| ToolError::Usage("bad --rows".into()))?
            }
            Arg::Long("queries") => {
                queries = text(&mut p)?
                    .parse()
                    .map_err(|_| ToolError::Usage("bad --queries".into()))?
            }
            Arg::Long("engines") => {
                engines = text(&mut p)?.split(',').map(str::to_string).collect()
            }
            Arg::Long("command") => commands.push(text(&mut p)?),
            Arg::Long("help") | Arg::Short('h') => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(ToolError::Usage(other.unexpected().to_string())),
        }
    }
    if let Some(e) = engines
        .iter()
        .find(|e| !matches!(e.as_str(), "sqlite" | "postgres"))
    {
        return Err(ToolError::Usage(format!("unknown engine {e:?}")));
    }
    Ok(Options {
        server: server.ok_or_else(|| ToolError::Usage("--server BIN is required".into()))?,
        workdir: workdir.ok_or_else(|| ToolError::Usage("--workdir DIR is required".into()))?,
        rows,
        queries: queries.max(1),
        engines,
        out,
        commands,
    })
}

/// One kind of query: its name and its paths (one per run).
struct Kind {
    name: &'static str,
    paths: Vec<String>,
}

fn kinds(rows: u64, n: usize) -> Vec<Kind> {
    let mut r = Rng(SEED ^ 0x5EED);
    let mut pick = || store::recording(SEED, r.next_u64() % rows, rows).1;
    let mut kinds = vec![
        Kind {
            name: "number, a part (5 digits)",
            paths: vec![],
        },
        Kind {
            name: "number, a prefix (8 characters)",
            paths: vec![],
        },
        Kind {
            name: "name, a part",
            paths: vec![],
        },
        Kind {
            name: "a day's date range",
            paths: vec![],
        },
        Kind {
            name: "first page of the listing",
            paths: vec![],
        },
    ];
    let enc = |s: &str| {
        let mut out = String::new();
        callrec_core::percent::encode(s, &mut out);
        out
    };
    for _ in 0..n {
        let s = pick();
        let part = &s.remote_number[6..11];
        kinds[0]
            .paths
            .push(format!("/api/recordings?number={part}&limit={LIMIT}"));
        let prefix = &s.remote_number[..8];
        kinds[1].paths.push(format!(
            "/api/recordings?number={}&number_match=prefix&limit={LIMIT}",
            enc(prefix)
        ));
        let name = s.remote_name.split(' ').nth(1).unwrap_or("Anna");
        kinds[2]
            .paths
            .push(format!("/api/recordings?name={}&limit={LIMIT}", enc(name)));
        let day = callrec_platform::clock::local_time_of((s.start_ms / 1000) as i64);
        let d = format!("{:04}-{:02}-{:02}", day.year, day.month, day.day);
        kinds[3]
            .paths
            .push(format!("/api/recordings?from={d}&to={d}&limit={LIMIT}"));
        kinds[4]
            .paths
            .push(format!("/api/recordings?limit={LIMIT}"));
    }
    kinds
}

/// What one engine measured.
struct Measured {
    engine: String,
    import_s: f64,
    restart_s: f64,
    rows: Vec<(String, f64, f64, f64, u64)>, // kind, p50, p99, max (ms), median total
    peak_rss_kib: u64,
    idle_rss_kib: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Starts the server on `store` (with `catalog` if given); it and the time to its ready line.
fn start(
    opts: &Options,
    store: &Path,
    catalog: Option<&str>,
    log: &Path,
) -> Result<(Proc, SocketAddr, f64), ToolError> {
    let mut cmd = Command::new(&opts.server);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--storage",
    ])
    .arg(store)
    .args(["--log", "info"]);
    if let Some(url) = catalog {
        cmd.args(["--catalog", url]);
    }
    let err = std::fs::File::create(log).context(|| format!("making {}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(err);
    let t = Instant::now();
    let mut p = Proc::spawn("callrec-server", &mut cmd)?;
    let line = p.ready_line(READY_TIMEOUT).map_err(|e| {
        ToolError::setup(format!(
            "{e}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ))
    })?;
    let secs = t.elapsed().as_secs_f64();
    let http = ready_field(&line, "http")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| ToolError::setup(format!("no http address in {line:?}")))?;
    Ok((p, http, secs))
}

fn measure(
    opts: &Options,
    store: &Path,
    engine: &str,
    catalog: Option<&str>,
) -> Result<Measured, ToolError> {
    let log = opts.workdir.join(format!("server-{engine}.log"));
    println!("== {engine}: import of {} recordings", opts.rows);
    let (mut server, http, import_s) = start(opts, store, catalog, &log)?;
    println!(
        "   ready after {import_s:.1} s ({:.0} recordings/s)",
        opts.rows as f64 / import_s
    );
    let pid = server.pid();
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .context(|| "resetting the peak RSS (clear_refs)".to_string())?;
    let idle_rss_kib = procfs::rss_kib(pid)?.unwrap_or(0);
    // The API answers nothing without a token: one made on the console, beside the server.
    let token = callrec_tools::http::console_token(&opts.server, store, catalog, "bench")
        .context(|| "making the API token".to_string())?;
    let mut client = Client::connect(http)
        .context(|| format!("connecting to {http}"))?
        .with_token(&token);
    let mut rows = Vec::new();
    for kind in kinds(opts.rows, opts.queries) {
        // A warm-up of a tenth, not timed: the first queries read the pages from disk.
        for path in kind.paths.iter().take(kind.paths.len() / 10 + 1) {
            client.get(path).context(|| format!("GET {path}"))?;
        }
        let mut times = Vec::with_capacity(kind.paths.len());
        let mut totals = Vec::with_capacity(kind.paths.len());
        for path in &kind.paths {
            let t = Instant::now();
            let a = client.get(path).context(|| format!("GET {path}"))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if a.status != 200 {
                return Err(ToolError::check(format!(
                    "GET {path}: {} ({} bytes)",
                    a.status,
                    a.body.len()
                )));
            }
            totals.push(a.total.unwrap_or(0));
        }
        times.sort_by(f64::total_cmp);
        totals.sort_unstable();
        let (p50, p99, max) = (
            percentile(&times, 50.0),
            percentile(&times, 99.0),
            times[times.len() - 1],
        );
        println!(
            "   {:<34} p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  (matches: median {})",
            kind.name,
            totals[totals.len() / 2]
        );
        rows.push((
            kind.name.to_string(),
            p50,
            p99,
            max,
            totals[totals.len() / 2],
        ));
    }
    let peak_rss_kib = procfs::peak_rss_kib(pid)?.unwrap_or(0);
    server.terminate(Duration::from_secs(60))?;
    drop(server);
    let (mut again, _, restart_s) = start(opts, store, catalog, &log)?;
    println!("   started again in {restart_s:.1} s (catalog already in line)");
    again.terminate(Duration::from_secs(60))?;
    Ok(Measured {
        engine: engine.to_string(),
        import_s,
        restart_s,
        rows,
        peak_rss_kib,
        idle_rss_kib,
    })
}

fn report(opts: &Options, measured: &[Measured]) -> (String, bool) {
    let mut ok = true;
    let mut md = format!(
        "## The catalog with {} recordings\n\n{}\n\nEach query `--queries {}` times (after a tenth \
         as warm-up) on one kept-alive connection, `limit={LIMIT}`; latency from the request \
         written to the whole answer read.\n\n",
        opts.rows,
        host(),
        opts.queries
    );
    for m in measured {
        let target = m.engine == "sqlite";
        let mut rows: Vec<Vec<String>> = m
            .rows
            .iter()
            .map(|(kind, p50, p99, max, total)| {
                let verdict = if !target {
                    "".to_string()
                } else if *p99 <= P99_TARGET_MS {
                    "≤ 20 ms: pass".to_string()
                } else {
                    ok = false;
                    "≤ 20 ms: FAIL".to_string()
                };
                vec![
                    kind.clone(),
                    format!("{p50:.2} ms"),
                    format!("{p99:.2} ms"),
                    format!("{max:.2} ms"),
                    total.to_string(),
                    verdict,
                ]
            })
            .collect();
        let rss_verdict = if !target {
            String::new()
        } else if m.peak_rss_kib <= RSS_TARGET_KIB {
            "≤ 64 MiB: pass".into()
        } else {
            ok = false;
            "≤ 64 MiB: FAIL".into()
        };
        rows.push(vec![
            "peak RSS while answering (VmHWM)".into(),
            String::new(),
            String::new(),
            String::new(),
            format!("{} at rest", mib(m.idle_rss_kib)),
            format!(
                "{}{}{rss_verdict}",
                mib(m.peak_rss_kib),
                if rss_verdict.is_empty() { "" } else { "; " }
            ),
        ]);
        md.push_str(&format!(
            "### {}\n\nImport through the start-up sync: {} recordings in {:.1} s, {} recordings/s; \
             a second start with nothing changed: {:.1} s.\n\n",
            m.engine,
            opts.rows,
            m.import_s,
            g(opts.rows as f64 / m.import_s),
            m.restart_s
        ));
        md.push_str(&table(
            &["query", "p50", "p99", "max", "matches (median)", "target"],
            &rows,
        ));
        md.push('\n');
    }
    if !opts.commands.is_empty() {
        md.push_str("Commands:\n\n```\n");
        for c in &opts.commands {
            md.push_str(c);
            md.push('\n');
        }
        md.push_str("```\n");
    }
    (md, ok)
}

fn run(opts: Options) -> Result<(), ToolError> {
    std::fs::create_dir_all(&opts.workdir)
        .context(|| format!("making {}", opts.workdir.display()))?;
    let store = opts.workdir.join("store");
    let marker = opts.workdir.join("store.rows");
    let have = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if have != Some(opts.rows) {
        println!("== writing {} sidecars into {}", opts.rows, store.display());
        let _ = std::fs::remove_dir_all(&store);
        let _ = std::fs::remove_file(&marker);
        let t = Instant::now();
        store::write(&store, SEED, opts.rows, 2)?;
        std::fs::write(&marker, opts.rows.to_string())
            .context(|| "writing the marker".to_string())?;
        println!("   {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut measured = Vec::new();
    for engine in &opts.engines {
        match engine.as_str() {
            "sqlite" => {
                // A fresh catalog each run: the import is what is measured.
                for f in ["catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm"] {
                    let _ = std::fs::remove_file(store.join(f));
                }
                measured.push(measure(&opts, &store, "sqlite", None)?);
            }
            _ => {
                let pg = Postgres::start(&opts.workdir.join("pg"))?;
                let url = pg.database("catalog")?;
                measured.push(measure(&opts, &store, "postgres", Some(&url))?);
            }
        }
    }
    let (md, ok) = report(&opts, &measured);
    println!("\n{md}");
    if let Some(out) = &opts.out {
        std::fs::write(out, &md).context(|| format!("writing {}", out.display()))?;
    }
    if ok {
        Ok(())
    } else {
        Err(ToolError::check("a target was missed"))
    }
}

fn main() -> ExitCode {
    if callrec_platform::version::print_if_asked("callrec-bench-catalog", env!("CARGO_PKG_VERSION"))
    {
        return ExitCode::SUCCESS;
    }
    exit("bench-catalog", parse().and_then(run))
}
