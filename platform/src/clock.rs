//! Time, behind a trait so the shell can be driven by a fake clock in tests.

use callrec_core::record_file::LocalTime;
use std::time::Instant;

pub trait Clock {
    /// Monotonic milliseconds since an arbitrary start.
    fn now_ms(&self) -> u64;
    /// The phone's local wall-clock time, for file names.
    fn local_time(&self) -> LocalTime;
}

/// The system's clocks: `CLOCK_MONOTONIC` and the local time zone.
#[derive(Debug, Clone)]
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn local_time(&self) -> LocalTime {
        local_time_of(unix_seconds())
    }
}

/// A clock that moves only when told: simulated time for tests of the agent's state machines
/// (settings, waiters, login throttling, SIP INFO), which run in milliseconds. Clones share
/// the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ManualClock {
    pub fn new(start_ms: u64) -> ManualClock {
        let clock = ManualClock::default();
        clock.set(start_ms);
        clock
    }

    pub fn set(&self, ms: u64) {
        self.ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn advance(&self, ms: u64) {
        self.ms.fetch_add(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Always 2026-11-21 09:30:00, so that file names do not depend on the simulated time.
    fn local_time(&self) -> LocalTime {
        LocalTime {
            year: 2026,
            month: 11,
            day: 21,
            hour: 9,
            minute: 30,
            second: 0,
        }
    }
}

/// Seconds since the epoch from the system's real-time clock.
pub fn unix_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Converts epoch seconds to local time with the C library (honours TZ and /etc/localtime).
pub fn local_time_of(secs: i64) -> LocalTime {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame; a null result
    // (out of range) leaves the zeroed value, handled below.
    let mut tm: libc::tm = unsafe { core::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return LocalTime {
            year: 1970,
            month: 1,
            day: 1,
            ..LocalTime::default()
        };
    }
    LocalTime {
        year: (tm.tm_year + 1900).clamp(0, 9999) as u16,
        month: (tm.tm_mon + 1).clamp(1, 12) as u8,
        day: tm.tm_mday.clamp(1, 31) as u8,
        hour: tm.tm_hour.clamp(0, 23) as u8,
        minute: tm.tm_min.clamp(0, 59) as u8,
        second: tm.tm_sec.clamp(0, 60) as u8,
    }
}

/// The Unix time (seconds) of a local time, by the C library's `mktime` (daylight saving
/// decided by the zone); `None` if it cannot say (out of range). A time in a spring-forward gap
/// is moved past it, as `mktime` does.
pub fn unix_of_local(t: &LocalTime) -> Option<i64> {
    // SAFETY: mktime reads and normalises only `tm`, which lives on this stack frame.
    let mut tm: libc::tm = unsafe { core::mem::zeroed() };
    tm.tm_year = i32::from(t.year) - 1900;
    tm.tm_mon = i32::from(t.month) - 1;
    tm.tm_mday = i32::from(t.day);
    tm.tm_hour = i32::from(t.hour);
    tm.tm_min = i32::from(t.minute);
    tm.tm_sec = i32::from(t.second);
    tm.tm_isdst = -1;
    let secs = unsafe { libc::mktime(&mut tm) };
    (secs != -1 || (t.year, t.month, t.day) == (1969, 12, 31)).then_some(secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_in_utc() {
        // SAFETY: tests in this binary do not read TZ concurrently with this write in any way
        // that matters: localtime_r re-reads it, and every value set here is valid.
        unsafe { std::env::set_var("TZ", "UTC") };
        let t = local_time_of(1_700_000_000);
        assert_eq!(
            t,
            LocalTime {
                year: 2023,
                month: 11,
                day: 14,
                hour: 22,
                minute: 13,
                second: 20
            }
        );
        assert_eq!(unix_of_local(&t), Some(1_700_000_000));
    }

    #[test]
    fn monotonic_never_goes_back() {
        let c = SystemClock::new();
        let a = c.now_ms();
        assert!(c.now_ms() >= a);
    }
}
