//! A periodic tick from a kernel timerfd, polled through tokio's reactor.
//!
//! tokio's own timers can wake the runtime through its eventfd when a deadline is set (an extra
//! `write` each time); on a phone that counts writes and wake-ups, a timerfd does the same job
//! with one `read` per tick and no wake-ups of its own.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// Fires every period; a tick missed while busy is merged into the next one.
#[derive(Debug)]
pub struct Ticker {
    fd: AsyncFd<OwnedFd>,
}

impl Ticker {
    /// First tick after `first`, then every `period`. Must be called inside a tokio runtime.
    pub fn new(first: Duration, period: Duration) -> io::Result<Ticker> {
        // SAFETY: timerfd_create returns a new descriptor that only this OwnedFd will own.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let spec = libc::itimerspec {
            it_interval: timespec(period),
            it_value: timespec(first),
        };
        // SAFETY: `fd` is a timerfd; `spec` lives across the call; no old value is asked for.
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, core::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd keeps its descriptor open, and returns that same one from
        // as_raw_fd, for as long as the AsyncFd that owns it is registered.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(Ticker { fd })
    }

    /// Waits for the next tick. Cancel safe: a tick not yet read stays pending.
    pub async fn tick(&mut self) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                // The reactor is gone (the runtime is shutting down): never tick again.
                return std::future::pending().await;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reads 8 bytes into a buffer of 8 bytes from a descriptor we own.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    8,
                )
            };
            if n == 8 {
                // Read: the next tick is a new edge. tokio keeps one that lands meanwhile.
                guard.clear_ready();
                return;
            }
            // EAGAIN: readiness was stale; wait for the next one.
            guard.clear_ready();
        }
    }
}

fn timespec(d: Duration) -> libc::timespec {
    // A zero it_value would disarm the timer: the first tick is at least a nanosecond away.
    let d = d.max(Duration::from_nanos(1));
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn ticks_at_its_period() {
        let start = Instant::now();
        let mut t = Ticker::new(Duration::from_millis(10), Duration::from_millis(10)).unwrap();
        for _ in 0..5 {
            t.tick().await;
        }
        // A lower bound only: the timer cannot fire early.
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
