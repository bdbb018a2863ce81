//! One level of the ladder: N sessions against a fresh `callrec-server`.
//!
//! 1. The server starts on 127.0.0.1 with an empty storage folder in the work directory (the
//!    real disk, never tmpfs: the disk writes are part of the cost); its resident set is read
//!    once it is ready (the idle RSS).
//! 2. `callrec-loadgen --server` starts N sessions (ramped at `--rate`) from loopback addresses
//!    127.0.1.x, 50 per address (the server holds at most 64 control connections per address),
//!    sends each 20 ms PCMA RTP for the window, then stops them.
//! 3. The server is read at the loadgen's `send_start` and `send_end`: its CPU time, its RSS at
//!    the end, the UDP counters, the backlogs' drops and every server socket's drops and queue
//!    ([`crate::kernel`]); the [`crate::sampler`] runs in between.
//! 4. After the stops and the server's exit, every sidecar and file is checked
//!    ([`crate::checks`]). The level passes if every session started and stopped, the loadgen
//!    had no send errors, and every check holds.

use crate::checks::{self, Tally};
use crate::events::{self, Events};
use crate::kernel;
use crate::sampler::{Sampler, Samples};
use crate::signals;
use crate::Options;
use callrec_tools::error::{Context, ToolError};
use callrec_tools::process::{ready_field, Proc};
use callrec_tools::procfs;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The server's RTP ports: below the ephemeral range (32768-60999) and the test suite's server
/// ports (20000-39999, tests/common/server.rs). The server binds them without SO_REUSEADDR, so
/// no other socket can take a session's packets; the sampler still watches for a port where
/// two sockets are bound at once (read twice: [`kernel::SocketTable`]), which would be such a
/// theft, and names their owners.
pub const SERVER_PORTS: (u16, u16) = (10000, 17999);
/// A level whose loadgen delivered less than this share of N × 50 packets/s over the window
/// could not keep up (the 2 CPUs are shared by the server and the loadgen).
pub const SENDER_KEPT_UP: f64 = 0.97;
pub const PER_IP: u32 = 50;
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take to exit after SIGTERM.
const SERVER_STOP: Duration = Duration::from_secs(60);

/// One level's readings and verdict.
#[derive(Debug, Default)]
pub struct Level {
    pub n: u32,
    /// Every check held.
    pub passed: bool,
    pub problems: Tally,
    pub started: Value,
    pub summary: Value,
    pub window_s: f64,
    pub packets: u64,
    pub cpu_s: f64,
    pub idle_rss_kib: u64,
    pub end_rss_kib: u64,
    /// Each thread's (`name/tid`) CPU over the window, % of one core.
    pub threads_pct: BTreeMap<String, f64>,
    pub loadgen_cpu_pct: f64,
    /// The UDP counters' growth over the window.
    pub snmp: BTreeMap<String, i64>,
    pub softnet_drops: u64,
    pub socket_drops: u64,
    pub peak_rx_queue: u64,
    /// Ports where another socket was bound beside the server's, each with its sockets.
    pub shared_ports: BTreeMap<u16, String>,
    /// `/proc/net/udp` lines that repeated a socket, and ports that looked shared in one
    /// reading only, over the level's readings ([`kernel::SocketTable`]).
    pub udp_repeated: u64,
    pub udp_transient: u64,
    /// `cpu some`, `io full`, …: the share of the window stalled.
    pub psi: Vec<(String, f64)>,
    pub steal_s: f64,
    pub samples: Samples,
    /// `thread in wchan` → share of the state samples, the 4 most frequent.
    pub blocked: Vec<(String, f64)>,
    pub server_warnings: Vec<String>,
    pub files_checked: usize,
    pub storage_bytes: u64,
    pub server_argv: Vec<String>,
    pub loadgen_argv: Vec<String>,
}

impl Level {
    pub fn pps(&self) -> f64 {
        if self.window_s > 0.0 {
            self.packets as f64 / self.window_s
        } else {
            0.0
        }
    }

    /// The share of the nominal N × 50 packets/s the loadgen delivered over the window.
    pub fn sender_share(&self) -> f64 {
        self.pps() / (f64::from(self.n) * 50.0)
    }

    /// Held, with the loadgen keeping up: a level that counts.
    pub fn clean(&self) -> bool {
        self.passed && self.sender_share() >= SENDER_KEPT_UP
    }

    pub fn cpu_pct(&self) -> f64 {
        if self.window_s > 0.0 {
            self.cpu_s / self.window_s * 100.0
        } else {
            0.0
        }
    }

    pub fn us_per_packet(&self) -> f64 {
        if self.packets > 0 {
            self.cpu_s / self.packets as f64 * 1e6
        } else {
            0.0
        }
    }

    pub fn rss_per_session_kib(&self) -> f64 {
        (self.end_rss_kib as f64 - self.idle_rss_kib as f64) / f64::from(self.n)
    }

    pub fn verdict(&self) -> String {
        if !self.passed {
            let worst: Vec<String> = self
                .problems
                .most_common(6)
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect();
            return format!("FAILED: {}", worst.join("; "));
        }
        if !self.clean() {
            return format!(
                "held, but sender-limited ({:.0}% of the nominal packet rate)",
                self.sender_share() * 100.0
            );
        }
        "held".into()
    }
}

fn text(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn file(path: &Path) -> Result<File, ToolError> {
    File::create(path).context(|| format!("creating {}", path.display()))
}

fn rss(pid: u32) -> Result<u64, ToolError> {
    procfs::rss_kib(pid)?.ok_or_else(|| ToolError::setup(format!("no VmRSS for {pid}")))
}

/// An exit status as the report says it: the code, or the signal.
pub fn status_text(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code.to_string(),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    }
}

pub fn command(argv: &[String]) -> Command {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..]);
    c
}

fn start_server(
    o: &Options,
    storage: &Path,
    log: &Path,
) -> Result<(Proc, String, Vec<String>), ToolError> {
    let argv: Vec<String> = vec![
        o.server_bin.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--storage".into(),
        storage.display().to_string(),
        "--rtp-ports".into(),
        format!("{}-{}", SERVER_PORTS.0, SERVER_PORTS.1),
        "--max-sessions".into(),
        o.max_sessions.to_string(),
        // Every session of the load comes from this machine's one address (each with a MAC of
        // its own): the address may hold them all.
        "--max-sessions-per-address".into(),
        o.max_sessions.max(1).to_string(),
        "--idle-timeout".into(),
        "300".into(),
        // The loadgen starts every session before it sends any RTP: the ramp must not end the
        // first ones as no_rtp.
        "--no-rtp-timeout".into(),
        "300".into(),
    ];
    let mut p = Proc::spawn(
        "callrec-server",
        command(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file(log)?),
    )?;
    let line = p.ready_line(READY_TIMEOUT).map_err(|e| {
        ToolError::setup(format!("callrec-server did not start ({e}): {}", text(log)))
    })?;
    let control = ready_field(&line, "control")
        .ok_or_else(|| ToolError::setup(format!("callrec-server said {line:?}")))?
        .to_string();
    Ok((p, control, argv))
}

/// The readings at `send_start`.
struct Start {
    t: Instant,
    cpu: f64,
    threads: BTreeMap<String, f64>,
    loadgen_cpu: f64,
    snmp: BTreeMap<String, i64>,
    softnet: u64,
    psi: Vec<(String, Vec<(String, u64)>)>,
    steal: u64,
}

const PSI: [&str; 2] = ["cpu", "io"];

/// Runs level `n` in `workdir/nN`.
pub fn run(o: &Options, n: u32, workdir: &Path) -> Result<Level, ToolError> {
    let mut lv = Level {
        n,
        ..Level::default()
    };
    let d = workdir.join(format!("n{n}"));
    std::fs::create_dir_all(&d).context(|| format!("making {}", d.display()))?;
    let storage = d.join("storage");
    let log = d.join("server.log");
    let (mut server, control, server_argv) = start_server(o, &storage, &log)?;
    lv.server_argv = server_argv;
    let spid = server.pid();
    signals::sleep(Duration::from_millis(500))?;
    lv.idle_rss_kib = rss(spid)?;
    let sessions_file = d.join("sessions.json");
    lv.loadgen_argv = vec![
        o.loadgen_bin.display().to_string(),
        "--server".into(),
        control,
        "--sessions".into(),
        n.to_string(),
        "--seconds".into(),
        crate::report::g(o.seconds),
        "--rate".into(),
        crate::report::g(o.rate),
        "--per-ip".into(),
        PER_IP.to_string(),
        "--sessions-out".into(),
        sessions_file.display().to_string(),
    ];
    let lg_err = d.join("loadgen.err");
    let mut lg = Proc::spawn(
        "loadgen",
        command(&lv.loadgen_argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file(&lg_err)?),
    )?;
    let lpid = lg.pid();
    let mut events = Events::of(&mut lg)?;
    let mut sampler = None;
    let mut s0: Option<Start> = None;
    let ramp_timeout = Duration::from_secs_f64(f64::from(n) / o.rate + 60.0);
    let window_timeout = Duration::from_secs_f64(o.seconds + 120.0);
    while let Some(ev) = events.next(if s0.is_none() {
        ramp_timeout
    } else {
        window_timeout
    })? {
        match events::kind(&ev) {
            "started" => {
                println!(
                    "   started {}/{n} in {:.1} s (refused {})",
                    events::count(&ev, &["sessions_started"])?,
                    events::f(&ev, &["start_seconds"]),
                    events::count(&ev, &["sessions_refused"])?
                );
                lv.started = ev;
            }
            "send_start" => {
                s0 = Some(Start {
                    t: Instant::now(),
                    cpu: procfs::cpu_seconds(spid)?,
                    threads: kernel::threads_cpu(spid)?,
                    loadgen_cpu: procfs::cpu_seconds(lpid)?,
                    snmp: kernel::udp_snmp()?,
                    softnet: kernel::softnet_dropped()?,
                    psi: PSI
                        .iter()
                        .map(|r| (r.to_string(), kernel::psi_total_us(r)))
                        .collect(),
                    steal: kernel::cpu_steal_ticks()?,
                });
                sampler = Some(Sampler::start(spid, SERVER_PORTS));
            }
            "send_end" => {
                let t1 = Instant::now();
                let c1 = procfs::cpu_seconds(spid)?;
                let th1 = kernel::threads_cpu(spid)?;
                let lg1 = procfs::cpu_seconds(lpid)?;
                let snmp1 = kernel::udp_snmp()?;
                let sn1 = kernel::softnet_dropped()?;
                lv.end_rss_kib = rss(spid)?;
                let reading = kernel::udp_sockets(SERVER_PORTS.0, SERVER_PORTS.1)?;
                let table = &reading.table;
                if let Some(s) = sampler.take() {
                    lv.samples = s.finish();
                }
                let s0 = s0
                    .as_ref()
                    .ok_or_else(|| ToolError::setup("loadgen: send_end before send_start"))?;
                window(&mut lv, s0, t1, c1, &th1, lg1, &snmp1, sn1)?;
                lv.socket_drops = table.drops;
                lv.peak_rx_queue = table.max_rx_queue;
                lv.shared_ports
                    .extend(kernel::describe_shared(&table.shared, &[spid, lpid]));
                lv.udp_repeated += table.repeated;
                lv.udp_transient += reading.transient as u64;
                let late = |k: &str| events::f(&ev, &["pacing", "end_late_ms", k]);
                println!(
                    "   window {:.2} s: server CPU {:.1}% of a core, RSS {:.0} MiB, RcvbufErrors +{}, socket drops {}, sender p99/max end lateness {:.2}/{:.2} ms",
                    lv.window_s,
                    lv.cpu_pct(),
                    lv.end_rss_kib as f64 / 1024.0,
                    lv.snmp.get("RcvbufErrors").copied().unwrap_or(0),
                    table.drops,
                    late("p99"),
                    late("max")
                );
            }
            "summary" => lv.summary = ev,
            _ => {}
        }
    }
    if let Some(s) = sampler.take() {
        lv.samples = s.finish();
    }
    let s = &lv.samples;
    lv.peak_rx_queue = lv.peak_rx_queue.max(s.peak_rx_queue);
    lv.shared_ports
        .extend(s.shared_ports.iter().map(|(p, t)| (*p, t.clone())));
    lv.udp_repeated += s.udp_repeated;
    lv.udp_transient += s.udp_transient;
    let mut blocked = s.blocked.clone();
    blocked.sort_by_key(|b| std::cmp::Reverse(b.1));
    lv.blocked = blocked
        .iter()
        .take(4)
        .map(|((t, w), k)| {
            let w = if w.is_empty() { "?" } else { w };
            (
                format!("{t} in {w}"),
                *k as f64 / s.state_samples.max(1) as f64,
            )
        })
        .collect();
    if let Some(e) = &s.error {
        println!("   sampler: {e}");
    }
    let rc = signals::wait(&mut lg, Duration::from_secs(60))?;
    if !rc.is_some_and(|s| s.success()) || lv.summary.is_null() || s0.is_none() {
        return Err(ToolError::setup(format!(
            "loadgen exited {}: {}",
            rc.map_or("(still running after 60 s)".into(), status_text),
            text(&lg_err)
        )));
    }
    // The server's own end; no session should be left for it to finish.
    server.signal(libc::SIGTERM);
    let status = match signals::wait(&mut server, SERVER_STOP)? {
        Some(s) => s,
        None => server.stop(Duration::ZERO),
    };
    if !status.success() {
        lv.problems
            .add(&format!("server exited {}", status_text(status)), 1);
    }
    lv.server_warnings = text(&log)
        .lines()
        .filter(|l| l.contains(" WARN") || l.contains(" ERROR"))
        .map(str::to_string)
        .collect();
    check_recordings(&mut lv, o, &storage, &sessions_file)?;
    Ok(lv)
}

/// The window's figures from the readings at its two ends.
#[allow(clippy::too_many_arguments)]
fn window(
    lv: &mut Level,
    s0: &Start,
    t1: Instant,
    c1: f64,
    th1: &BTreeMap<String, f64>,
    lg1: f64,
    snmp1: &BTreeMap<String, i64>,
    sn1: u64,
) -> Result<(), ToolError> {
    lv.window_s = (t1 - s0.t).as_secs_f64();
    lv.cpu_s = c1 - s0.cpu;
    lv.threads_pct = th1
        .iter()
        .map(|(k, v)| {
            let before = s0.threads.get(k).copied().unwrap_or(0.0);
            (k.clone(), (v - before) / lv.window_s * 100.0)
        })
        .collect();
    lv.loadgen_cpu_pct = (lg1 - s0.loadgen_cpu) / lv.window_s * 100.0;
    lv.snmp = snmp1
        .iter()
        .map(|(k, v)| (k.clone(), v - s0.snmp.get(k).copied().unwrap_or(0)))
        .collect();
    lv.softnet_drops = sn1.saturating_sub(s0.softnet);
    lv.steal_s = kernel::cpu_steal_ticks()?.saturating_sub(s0.steal) as f64 / procfs::clock_ticks();
    for (r, before) in &s0.psi {
        let after = kernel::psi_total_us(r);
        for (kind, b) in before {
            let a = after
                .iter()
                .find(|(k, _)| k == kind)
                .map_or(*b, |(_, a)| *a);
            lv.psi.push((
                format!("{r} {kind}"),
                a.saturating_sub(*b) as f64 / 1e6 / lv.window_s,
            ));
        }
    }
    Ok(())
}

/// The sessions' start and stop results, the sidecars and files, and the verdict.
fn check_recordings(
    lv: &mut Level,
    o: &Options,
    storage: &Path,
    sessions_file: &Path,
) -> Result<(), ToolError> {
    let (st, s) = (&lv.started, &lv.summary);
    if events::count(st, &["sessions_refused"])? > 0 {
        if let Some(reasons) = st["refused_reasons"].as_object() {
            for (reason, c) in reasons {
                lv.problems
                    .add(&format!("refused: {reason}"), c.as_u64().unwrap_or(0));
            }
        }
    }
    if events::count(s, &["stop", "failed"])? > 0 {
        if let Some(failures) = s["stop"]["failures"].as_object() {
            for (reason, c) in failures {
                lv.problems
                    .add(&format!("stop failed: {reason}"), c.as_u64().unwrap_or(0));
            }
        }
    }
    let send_errors = events::count(s, &["send_errors"])?;
    if send_errors > 0 {
        let last = s["pacing"]["last_error"].as_str().unwrap_or("None");
        lv.problems
            .add(&format!("loadgen send errors ({last})"), send_errors);
    }
    lv.files_checked = checks::verify(&mut lv.problems, &o.callrec_bin, storage, sessions_file)?;
    lv.packets = events::count(&lv.summary, &["packets_sent"])?;
    if !lv.shared_ports.is_empty() {
        for (port, sockets) in &lv.shared_ports {
            println!("   port {port} bound by more than one socket: {sockets}");
        }
        lv.problems.add(
            "server port also bound by another socket",
            lv.shared_ports.len() as u64,
        );
    }
    let lost = lv.problems.get("received != sent") + lv.problems.get("lost > 0") > 0;
    let counted = lv.snmp.get("RcvbufErrors").copied().unwrap_or(0) != 0
        || lv.snmp.get("MemErrors").copied().unwrap_or(0) != 0
        || lv.socket_drops != 0
        || lv.softnet_drops != 0;
    if lost && !counted {
        // Nothing the kernel counts dropped them: they never reached the session's socket (or
        // were never read). One known way: another SO_REUSEADDR socket on the session's port.
        lv.problems.add("(no kernel drop counter moved)", 1);
    }
    lv.passed = lv.problems.is_empty();
    // The recordings stay until the end of the run (the work directory goes then): deleting
    // thousands of files just before the next level would make its file creations slower
    // (ext4 skips inodes deleted within the last minutes: recently_deleted()).
    lv.storage_bytes = checks::day_files(storage)?
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    Ok(())
}
