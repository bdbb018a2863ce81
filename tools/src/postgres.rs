//! A real PostgreSQL from Debian, started on loopback in a directory of its own (`initdb`, then
//! `postgres`) and stopped when dropped: for the catalog's tests and benchmark. As root it runs
//! as the `postgres` user (PostgreSQL refuses to run as root). Missing PostgreSQL is an error
//! naming `scripts/setup`, never a skip.

use crate::error::{Context, ToolError};
use crate::process::{output, Proc};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL; stopped (fast shutdown) when dropped.
pub struct Postgres {
    process: Option<Proc>,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

/// The directory of PostgreSQL's programs: Debian's newest version.
fn bin_dir() -> Result<PathBuf, ToolError> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("initdb").is_file());
    versions.sort();
    versions.pop().ok_or_else(|| {
        ToolError::setup(
            "PostgreSQL is not installed: run scripts/setup (it installs Debian's postgresql)",
        )
    })
}

/// The uid and gid of the `postgres` user, when running as root.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let f: Vec<&str> = line.split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(program);
    if let Some((uid, gid)) = user {
        c.uid(uid).gid(gid);
    }
    c
}

impl Postgres {
    /// A fresh cluster in `dir` (made, and emptied first), listening on 127.0.0.1 on a free
    /// port, with user `callrec` trusted and `fsync` off (a test's or a benchmark's data).
    pub fn start(dir: &Path) -> Result<Postgres, ToolError> {
        let bin = bin_dir()?;
        let user = run_as();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).context(|| format!("making {}", dir.display()))?;
        // PostgreSQL resolves a relative socket directory against its data directory.
        let dir = &std::fs::canonicalize(dir).context(|| format!("resolving {}", dir.display()))?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .context(|| format!("chown {}", dir.display()))?;
        }
        let data = dir.join("data");
        output(
            "initdb",
            command(&bin.join("initdb"), user)
                .args([
                    "-A",
                    "trust",
                    "-U",
                    "callrec",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data),
        )?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context(|| "a free port".to_string())?
            .port();
        let log = std::fs::File::create(dir.join("postgres.log"))
            .context(|| format!("making {}", dir.join("postgres.log").display()))?;
        let mut server = command(&bin.join("postgres"), user);
        server
            .arg("-D")
            .arg(&data)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-p"])
            .arg(port.to_string())
            .arg("-k")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // The death signal is tied to the thread that starts the process, and a test's thread
        // ends with the test: the server is started by a thread that never ends.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(Proc::spawn("postgres", &mut server));
            loop {
                std::thread::park();
            }
        });
        let process = rx
            .recv()
            .map_err(|_| ToolError::setup("postgres: no process"))??;
        let mut pg = Postgres {
            process: Some(process),
            bin,
            dir: dir.to_path_buf(),
            port,
        };
        pg.wait_ready()?;
        Ok(pg)
    }

    fn wait_ready(&mut self) -> Result<(), ToolError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.process.as_mut().and_then(Proc::try_wait) {
                return Err(ToolError::setup(format!(
                    "PostgreSQL exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
                )));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "callrec",
                    "-q",
                ])
                .stdin(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ToolError::setup(format!(
                    "PostgreSQL not ready in {} s: {}",
                    READY_TIMEOUT.as_secs(),
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of `database` (as user `callrec`, no password).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://callrec@127.0.0.1:{}/{database}", self.port)
    }

    /// Makes a new empty database; its URL.
    pub fn database(&self, name: &str) -> Result<String, ToolError> {
        output(
            "createdb",
            Command::new(self.bin.join("createdb")).args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "callrec",
                name,
            ]),
        )?;
        Ok(self.url(name))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            // SIGINT: PostgreSQL's fast shutdown.
            p.signal(libc::SIGINT);
            if p.wait_timeout(Duration::from_secs(10)).is_none() {
                p.stop(Duration::ZERO);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
