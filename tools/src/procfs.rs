//! What a benchmark reads about a process, from `/proc/PID`:
//!
//! - CPU time: utime + stime of `/proc/PID/stat` (fields 14 and 15, clock ticks, every thread,
//!   dead ones included), in seconds; one tick (1/`SC_CLK_TCK` s, usually 10 ms) of resolution.
//! - On-CPU time: the first field of `/proc/PID/task/*/schedstat` summed (ns, live threads),
//!   finer than the ticks, for per-packet figures.
//! - Memory: `VmHWM` (the resident set's high-water mark) and `VmRSS` of `/proc/PID/status`.
//! - Writes: `syscw` (write-family system calls) and `wchar` (their bytes) of `/proc/PID/io`;
//!   every descriptor counts (files, pipes, stderr, sockets written with write()); send,
//!   sendto and sendmsg do not.
//! - eventfd wake-ups: `eventfd-count` summed over the process's eventfds (`fdinfo`). An async
//!   runtime wakes its poller by writing 8 bytes to an eventfd (tokio through mio), and mio
//!   never reads it back (it resets it only near overflow), so the count is those writes; they
//!   are in `syscw` and `wchar` too.

use crate::error::{Context, ToolError};
use std::collections::BTreeMap;
use std::time::Instant;

/// One reading of a process's counters, at `t`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t: Instant,
    pub cpu_s: f64,
    /// `None` once the process has exited (a zombie has no memory map).
    pub peak_rss_kib: Option<u64>,
    pub oncpu_ns: u64,
    pub syscw: u64,
    pub wchar: u64,
    pub eventfd_writes: u64,
}

fn read(path: &str) -> Result<String, ToolError> {
    std::fs::read_to_string(path).context(|| format!("reading {path}"))
}

fn number(text: &str, what: &str) -> Result<u64, ToolError> {
    text.trim()
        .parse()
        .context(|| format!("{what}: {text:?} is not a number"))
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// utime + stime, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, ToolError> {
    let stat = read(&format!("/proc/{pid}/stat"))?;
    cpu_seconds_of_stat(&stat)
        .ok_or_else(|| ToolError::setup(format!("/proc/{pid}/stat: unexpected {stat:?}")))
}

fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

/// The CPU time of each thread (`/proc/PID/task/TID/stat`), by thread name (`comm`), summed
/// over threads of one name.
pub fn thread_cpu_seconds(pid: u32) -> Result<BTreeMap<String, f64>, ToolError> {
    let mut by_name = BTreeMap::new();
    let dir = format!("/proc/{pid}/task");
    for entry in std::fs::read_dir(&dir).context(|| format!("reading {dir}"))? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        // A thread that ended meanwhile is skipped.
        let (Ok(stat), Ok(comm)) = (
            std::fs::read_to_string(path.join("stat")),
            std::fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        if let Some(s) = cpu_seconds_of_stat(&stat) {
            *by_name.entry(comm.trim().to_string()).or_insert(0.0) += s;
        }
    }
    Ok(by_name)
}

/// Nanoseconds on a CPU, summed over the live threads.
pub fn oncpu_ns(pid: u32) -> Result<u64, ToolError> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).context(|| format!("reading {dir}"))? {
        let Ok(entry) = entry else { continue };
        // A thread that ended meanwhile is skipped.
        if let Ok(s) = std::fs::read_to_string(entry.path().join("schedstat")) {
            total += s
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

/// The named fields of `/proc/PID/status` (`VmHWM`, `VmRSS`, …) in KiB; a field is missing
/// once the process has exited.
pub fn status_kib(pid: u32, keys: &[&str]) -> Result<BTreeMap<String, u64>, ToolError> {
    let status = read(&format!("/proc/{pid}/status"))?;
    let mut values = BTreeMap::new();
    for line in status.lines() {
        if let Some((key, value)) = line.split_once(':') {
            if keys.contains(&key) {
                let kib = value.split_whitespace().next().unwrap_or("");
                values.insert(key.to_string(), number(kib, key)?);
            }
        }
    }
    Ok(values)
}

/// `VmHWM` in KiB; `None` once the process has exited.
pub fn peak_rss_kib(pid: u32) -> Result<Option<u64>, ToolError> {
    Ok(status_kib(pid, &["VmHWM"])?.get("VmHWM").copied())
}

/// `VmRSS` in KiB; `None` once the process has exited.
pub fn rss_kib(pid: u32) -> Result<Option<u64>, ToolError> {
    Ok(status_kib(pid, &["VmRSS"])?.get("VmRSS").copied())
}

/// `/proc/PID/io` as name → value.
pub fn io_counters(pid: u32) -> Result<BTreeMap<String, u64>, ToolError> {
    let io = read(&format!("/proc/{pid}/io"))?;
    let mut values = BTreeMap::new();
    for line in io.lines() {
        if let Some((key, value)) = line.split_once(':') {
            values.insert(key.to_string(), number(value, key)?);
        }
    }
    Ok(values)
}

/// Writes to the process's eventfds (see the module's doc).
pub fn eventfd_count(pid: u32) -> Result<u64, ToolError> {
    let dir = format!("/proc/{pid}/fd");
    let mut total = 0;
    for entry in std::fs::read_dir(&dir).context(|| format!("reading {dir}"))? {
        let Ok(entry) = entry else { continue };
        // A descriptor closed meanwhile is skipped.
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        if target.as_os_str() != "anon_inode:[eventfd]" {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(info) else {
            continue;
        };
        for line in info.lines() {
            if let Some(hex) = line.strip_prefix("eventfd-count:") {
                total += u64::from_str_radix(hex.trim(), 16).unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// Every counter at once.
pub fn sample(pid: u32) -> Result<Sample, ToolError> {
    let t = Instant::now();
    let io = io_counters(pid)?;
    Ok(Sample {
        t,
        cpu_s: cpu_seconds(pid)?,
        peak_rss_kib: peak_rss_kib(pid)?,
        oncpu_ns: oncpu_ns(pid)?,
        syscw: io.get("syscw").copied().unwrap_or(0),
        wchar: io.get("wchar").copied().unwrap_or(0),
        eventfd_writes: eventfd_count(pid)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_fields_are_found_after_a_command_name_with_parentheses() {
        let stat = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(cpu_seconds_of_stat(stat), Some(300.0 / clock_ticks()));
        assert_eq!(cpu_seconds_of_stat("42 (x) S 1"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.peak_rss_kib.unwrap() > 0);
        assert!(s.oncpu_ns > 0);
        assert!(!thread_cpu_seconds(std::process::id()).unwrap().is_empty());
    }
}
