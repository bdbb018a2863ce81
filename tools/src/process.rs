//! Child processes that cannot outlive the tool: each dies with it (`PR_SET_PDEATHSIG`, even
//! when the tool is SIGKILLed) and is stopped when its [`Proc`] is dropped (SIGTERM, a grace,
//! then SIGKILL). Readiness is a process's ready line read with a deadline, never a sleep.

use crate::error::{Context, ToolError};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a dropped process gets after SIGTERM before SIGKILL.
pub const DROP_GRACE: Duration = Duration::from_secs(5);
/// How often a wait polls.
const POLL: Duration = Duration::from_millis(10);

/// A running child process, stopped when dropped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Starts `command` (its stdio as the caller set it); `name` is for messages. The death
    /// signal is tied to the calling *thread* (Linux): start long-lived processes from the
    /// tool's main thread, or from a thread that lives as long.
    pub fn spawn(name: &str, command: &mut Command) -> Result<Proc, ToolError> {
        // SAFETY: the closure runs in the child between fork and exec and calls only prctl,
        // which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .context(|| format!("starting {name} ({command:?})"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
            status: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout (if piped and not taken yet), for a caller that reads more than the ready
    /// line: the caller must keep reading it, or the process blocks on a full pipe.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// Sends `signal` unless the process was already reaped.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.status.is_none() {
            // SAFETY: kill with a pid we own and have not reaped (so it is not reused).
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        }
    }

    /// Its exit status if it has exited (reaping it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, then SIGKILL if it still runs after `grace`; its exit status.
    pub fn stop(&mut self, grace: Duration) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        if !grace.is_zero() {
            self.signal(libc::SIGTERM);
            if let Some(status) = self.wait_timeout(grace) {
                return status;
            }
        }
        self.signal(libc::SIGKILL);
        let status = self
            .child
            .wait()
            .expect("waiting for a child that was killed");
        self.status = Some(status);
        status
    }

    /// SIGTERM, and a clean exit (status 0) within `timeout`; otherwise SIGKILL and an error.
    pub fn terminate(&mut self, timeout: Duration) -> Result<(), ToolError> {
        self.signal(libc::SIGTERM);
        match self.wait_timeout(timeout) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(ToolError::check(format!(
                "{} exited {status} on SIGTERM",
                self.name
            ))),
            None => {
                self.stop(Duration::ZERO);
                Err(ToolError::check(format!(
                    "{} still running {} s after SIGTERM",
                    self.name,
                    timeout.as_secs_f64()
                )))
            }
        }
    }

    /// Waits up to `timeout` for it to exit without reaping it (`WNOWAIT`), so that its
    /// `/proc/PID` (now a zombie's) can still be read: `/proc/PID/io` then holds the writes of
    /// its last moments too. False if it still runs.
    pub fn wait_exited_unreaped(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: waitid fills the zeroed siginfo_t we own; WNOWAIT leaves the child
            // unreaped, so `child` stays valid.
            let exited = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let rc = libc::waitid(
                    libc::P_PID,
                    self.child.id() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
                );
                rc == 0 && info.si_pid() != 0
            };
            if exited {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// The first line the process prints on its stdout (which must be piped), within
    /// `timeout`. From then on its stdout is read and dropped, so it never blocks on a full
    /// pipe. An error if it exits first or prints nothing in time.
    pub fn ready_line(&mut self, timeout: Duration) -> Result<String, ToolError> {
        let stdout = self.child.stdout.take().ok_or_else(|| {
            ToolError::setup(format!(
                "{}: stdout is not piped (or was read already)",
                self.name
            ))
        })?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            let first = reader.read_until(b'\n', &mut line);
            let complete = matches!(first, Ok(n) if n > 0 && line.ends_with(b"\n"));
            let _ =
                tx.send(complete.then(|| String::from_utf8_lossy(&line).trim_end().to_string()));
            let mut sink = [0u8; 4096];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        });
        match rx.recv_timeout(timeout) {
            Ok(Some(line)) => Ok(line),
            Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.wait_timeout(Duration::from_secs(5));
                Err(ToolError::setup(format!(
                    "{} exited ({}) before its ready line",
                    self.name,
                    status.map_or("still running".to_string(), |s| s.to_string())
                )))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                self.stop(Duration::ZERO);
                Err(ToolError::setup(format!(
                    "{}: no ready line in {} s",
                    self.name,
                    timeout.as_secs_f64()
                )))
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(DROP_GRACE);
    }
}

/// `a=1 b=2` words of a ready line (`callrec agent ready tap=… control=…`) as pairs; words
/// without `=` are left out.
pub fn ready_fields(line: &str) -> Vec<(&str, &str)> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// The value of `key=` in a ready line.
pub fn ready_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    ready_fields(line)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Polls `poll` every `interval` until it returns `Some` (returned), for at most `timeout`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut poll: impl FnMut() -> Result<Option<T>, ToolError>,
) -> Result<T, ToolError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = poll()? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(ToolError::check(format!(
                "timed out after {} s waiting for {what}",
                timeout.as_secs_f64()
            )));
        }
        std::thread::sleep(interval);
    }
}

/// Runs `command` to its end with stdin closed; its stdout, or an error with its stderr if it
/// failed.
pub fn output(name: &str, command: &mut Command) -> Result<Vec<u8>, ToolError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .context(|| format!("running {name} ({command:?})"))?;
    if !out.status.success() {
        return Err(ToolError::setup(format!(
            "{name} ({command:?}) exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// What a finished command left.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `command` with stdin closed and its output captured, for at most `timeout` (then it is
/// killed and this is an error); whatever its exit status.
pub fn run_within(
    name: &str,
    command: &mut Command,
    timeout: Duration,
) -> Result<Finished, ToolError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(name, command)?;
    // Read both pipes while it runs, so it never blocks on a full one.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        p.child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        p.child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let Some(status) = p.wait_timeout(timeout) else {
        p.stop(Duration::ZERO);
        return Err(ToolError::setup(format!(
            "{name}: no end in {} s",
            timeout.as_secs_f64()
        )));
    };
    Ok(Finished {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Whether `program` is found on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_is_the_first_line_and_its_fields_are_read() {
        let mut p = Proc::spawn(
            "sh",
            Command::new("sh")
                .args([
                    "-c",
                    "echo 'x ready tap=127.0.0.1:5 control=/s'; echo more; sleep 30",
                ])
                .stdout(Stdio::piped()),
        )
        .unwrap();
        let line = p.ready_line(Duration::from_secs(10)).unwrap();
        assert_eq!(line, "x ready tap=127.0.0.1:5 control=/s");
        assert_eq!(ready_field(&line, "tap"), Some("127.0.0.1:5"));
        assert_eq!(ready_field(&line, "http"), None);
        let status = p.stop(Duration::from_secs(5));
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGTERM)
        );
    }

    #[test]
    fn a_process_that_exits_before_its_ready_line_is_an_error() {
        let mut p = Proc::spawn(
            "sh",
            Command::new("sh")
                .args(["-c", "printf half"])
                .stdout(Stdio::piped()),
        )
        .unwrap();
        let err = p.ready_line(Duration::from_secs(10)).unwrap_err();
        assert!(err.to_string().contains("before its ready line"), "{err}");
    }

    #[test]
    fn an_exited_process_can_be_read_before_it_is_reaped() {
        let mut p = Proc::spawn("true", &mut Command::new("true")).unwrap();
        assert!(p.wait_exited_unreaped(Duration::from_secs(10)));
        assert!(std::path::Path::new(&format!("/proc/{}/stat", p.pid())).exists());
        assert!(p.try_wait().unwrap().success());
    }
}
