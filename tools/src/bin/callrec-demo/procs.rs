//! The processes the demo keeps running (the record server, the agent and the watcher of its
//! status events), each started with its stdout and stderr in files of the demo's directory and
//! ready when a line appears there; short commands run to their end; and the settings file.

use crate::failure::{failed, interrupted, Result};
use crate::{step, Ctx};
use callrec_tools::process::{ready_field, Proc};
use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a stopped process gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often a wait looks again.
pub const POLL: Duration = Duration::from_millis(50);
/// How many looks a ready line gets (about 10 s).
const READY_POLLS: usize = 200;

/// A process that runs while the demo does; stopped when dropped (SIGTERM, then SIGKILL after
/// [`STOP_GRACE`], said on stderr).
pub struct Service {
    process: Proc,
}

impl Service {
    fn spawn(name: &str, command: &mut Command) -> Result<Service> {
        command.stdin(Stdio::null());
        Ok(Service {
            process: Proc::spawn(name, command)?,
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let p = &mut self.process;
        if p.try_wait().is_some() {
            return;
        }
        p.signal(libc::SIGTERM);
        if p.wait_timeout(STOP_GRACE).is_none() {
            eprintln!(
                "demo: {} did not stop on SIGTERM within {} s; SIGKILL",
                p.name(),
                STOP_GRACE.as_secs()
            );
            p.stop(Duration::ZERO);
        }
    }
}

/// What the demo started, stopped when dropped in the order of the fields (Rust drops a
/// struct's fields in declaration order): the watcher first, so it does not report the agent
/// going away as an error, then the agent (it closes its recording cleanly on SIGTERM), then
/// the server.
#[derive(Default)]
pub struct Started {
    pub watcher: Option<Service>,
    pub agent: Option<Service>,
    pub server: Option<Service>,
}

/// The record server's addresses, from its ready line.
pub struct ServerAddrs {
    pub http: String,
    pub port: String,
    /// The API token made on the server's console for the demo's reads of the web side.
    pub token: String,
}

/// `stdout` and `stderr` of a command as new files of the demo's directory.
fn to_files(ctx: &Ctx, command: &mut Command, stdout: &str, stderr: &str) -> Result<()> {
    let open = |name: &str| {
        let path = ctx.file(name);
        File::create(&path).or_else(|e| failed(format!("making {}: {e}", ctx.rel(&path))))
    };
    command.stdout(open(stdout)?).stderr(open(stderr)?);
    Ok(())
}

/// Waits (about 10 s at most) until `file` has a line that `ready` accepts, while the process
/// lives; that line.
fn wait_for_line(
    file: &Path,
    service: &mut Service,
    ready: impl Fn(&str) -> bool,
) -> Result<String> {
    let name = service.process.name().to_string();
    for _ in 0..READY_POLLS {
        interrupted()?;
        let text = std::fs::read(file)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        if let Some(line) = text.lines().find(|l| ready(l)) {
            return Ok(line.to_string());
        }
        if service.process.try_wait().is_some() {
            return failed(format!("{name} exited before it was ready"));
        }
        std::thread::sleep(POLL);
    }
    failed(format!("{name} not ready after 10 s"))
}

/// Prints a file as it is now (what `cat` would).
fn show(path: &Path) {
    if let Ok(bytes) = std::fs::read(path) {
        print!("{}", String::from_utf8_lossy(&bytes));
    }
}

/// The record server on loopback, its storage in `server/` of the demo's directory.
pub fn start_server(ctx: &Ctx, started: &mut Started) -> Result<ServerAddrs> {
    let storage = ctx.file("server");
    step(&format!(
        "the record server (callrec-server, storage {})",
        ctx.rel(&storage)
    ))?;
    std::fs::create_dir_all(&storage).or_else(|e| failed(format!("{}: {e}", ctx.rel(&storage))))?;
    // The web side answers nothing without a login or a token: one made on the console.
    let token = callrec_tools::http::console_token(&ctx.server, &storage, None, "demo")
        .or_else(|e| failed(format!("the API token: {e}")))?;
    let mut command = Command::new(&ctx.server);
    command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--storage",
        ])
        .arg(&storage);
    to_files(ctx, &mut command, "server.out", "server.log")?;
    let server = started
        .server
        .insert(Service::spawn("callrec-server", &mut command)?);
    let out = ctx.file("server.out");
    let line = wait_for_line(&out, server, |l| l.starts_with("callrec-server ready"))?;
    let (Some(control), Some(http)) = (ready_field(&line, "control"), ready_field(&line, "http"))
    else {
        return failed(format!("no addresses in {line}"));
    };
    let port = control.rsplit(':').next().unwrap_or(control).to_string();
    show(&out);
    Ok(ServerAddrs {
        http: http.to_string(),
        port,
        token,
    })
}

/// Replaces the settings file atomically (a temporary file, then a rename) because the agent
/// watches it and may read it at any moment: it must never see half a file.
pub fn write_settings(ctx: &Ctx, json: &str) -> Result<()> {
    let tmp = ctx.file("settings.json.tmp");
    std::fs::write(&tmp, format!("{json}\n"))
        .and_then(|()| std::fs::rename(&tmp, ctx.file("settings.json")))
        .or_else(|e| failed(format!("writing {}: {e}", ctx.rel(&tmp))))
}

/// The agent (board host) in local mode, policy on_demand, its stick a directory: the tap's
/// address from its ready line.
pub fn start_agent(ctx: &Ctx, started: &mut Started) -> Result<String> {
    step(&format!(
        "the agent (board host, stick {}), local mode, policy on_demand",
        ctx.rel(&ctx.file("stick"))
    ))?;
    write_settings(ctx, r#"{"mode":"local","policy":"on_demand"}"#)?;
    let mut command = Command::new(&ctx.callrec);
    command
        .args(["agent", "--board", "host", "--usb-dir"])
        .arg(ctx.file("stick"))
        .args([
            "--tap",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--control-socket",
        ])
        .arg(ctx.file("ctl.sock"))
        .arg("--settings")
        .arg(ctx.file("settings.json"));
    to_files(ctx, &mut command, "agent.out", "agent.log")?;
    let agent = started
        .agent
        .insert(Service::spawn("callrec agent", &mut command)?);
    let out = ctx.file("agent.out");
    let line = wait_for_line(&out, agent, |l| l.starts_with("callrec agent ready"))?;
    let Some(tap) = ready_field(&line, "tap") else {
        return failed(format!("no tap address in {line}"));
    };
    show(&out);
    Ok(tap.to_string())
}

/// `callrec ctl watch` into `events.log`: the status events a phone's screen would follow,
/// shown at the end. Its first line is the answer to the subscription: from then on no event is
/// missed.
pub fn start_watcher(ctx: &Ctx, started: &mut Started) -> Result<()> {
    let mut command = Command::new(&ctx.callrec);
    command
        .args(["ctl", "--control-socket"])
        .arg(ctx.file("ctl.sock"))
        .arg("watch");
    to_files(ctx, &mut command, "events.log", "watch.err")?;
    let watcher = started
        .watcher
        .insert(Service::spawn("callrec ctl watch", &mut command)?);
    wait_for_line(&ctx.file("events.log"), watcher, |l| !l.is_empty())?;
    Ok(())
}

/// Runs a short command to its end (stdout and stderr are the demo's), for at most `timeout`.
pub fn run(name: &str, command: &mut Command, timeout: Duration) -> Result<ExitStatus> {
    command.stdin(Stdio::null());
    let mut p = Proc::spawn(name, command)?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = p.wait_timeout(POLL) {
            return Ok(status);
        }
        interrupted()?;
        if Instant::now() >= deadline {
            return failed(format!("{name} did not finish in {} s", timeout.as_secs()));
        }
    }
}

/// [`run`], and an exit status of 0.
pub fn run_ok(name: &str, command: &mut Command, timeout: Duration) -> Result<()> {
    let status = run(name, command, timeout)?;
    if !status.success() {
        return failed(format!("{name} failed ({status})"));
    }
    Ok(())
}
