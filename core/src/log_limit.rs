//! A rate limit for log lines, sans-IO: at most `burst` lines of one kind per interval, the rest
//! counted and told as one summary ("… and K more") once the interval is over.
//!
//! Whatever a peer can repeat (a bad control line, a datagram, a connection) must not become one
//! log line each: a flood of them would fill the disk and bury what matters. The caller keeps one
//! [`LogLimit`] per kind of event, asks it at each event with the time
//! ([`LogLimit::event`]) and logs only when it says so, and asks now and then
//! ([`LogLimit::summary`]) for the count of a window that ended with nothing after it. So a kind
//! writes at most `burst + 1` lines per interval, whatever the rate of its events.
//!
//! The record server's `logs` module holds one per kind for the whole process, with its clock.

/// One kind of event's limit. Time is in ms from the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    burst: u32,
    interval_ms: u64,
    /// The current window's start; `None` before the first event and after a summary.
    window_start: Option<u64>,
    /// Events logged in the current window.
    logged: u32,
    /// Events not logged in the current window.
    suppressed: u64,
}

impl LogLimit {
    /// At most `burst` (at least 1) lines per `interval_ms` (at least 1).
    pub const fn new(burst: u32, interval_ms: u64) -> LogLimit {
        LogLimit {
            burst: if burst == 0 { 1 } else { burst },
            interval_ms: if interval_ms == 0 { 1 } else { interval_ms },
            window_start: None,
            logged: 0,
            suppressed: 0,
        }
    }

    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    /// An event at `now_ms`. `None`: do not log it. `Some(k)`: log it, after a summary line of
    /// `k` events left out before it if `k > 0` (a window that ended is summed up by the first
    /// event after it, if no [`LogLimit::summary`] did it first).
    pub fn event(&mut self, now_ms: u64) -> Option<u64> {
        let mut before = 0;
        if self.window_over(now_ms) {
            before = self.suppressed;
            self.window_start = None;
        }
        if self.window_start.is_none() {
            self.window_start = Some(now_ms);
            self.logged = 0;
            self.suppressed = 0;
        }
        if self.logged < self.burst {
            self.logged += 1;
            Some(before)
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            None
        }
    }

    /// The count of events left out in a window that is over at `now_ms`, once; then the next
    /// event starts a new window. `None` while the window runs or when nothing was left out.
    pub fn summary(&mut self, now_ms: u64) -> Option<u64> {
        if !self.window_over(now_ms) || self.suppressed == 0 {
            return None;
        }
        let k = self.suppressed;
        self.window_start = None;
        self.logged = 0;
        self.suppressed = 0;
        Some(k)
    }

    /// Events left out so far in the current window.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    fn window_over(&self, now_ms: u64) -> bool {
        // A clock that went back (it never does: the callers' is monotonic) counts as in the
        // window.
        self.window_start
            .is_some_and(|start| now_ms.saturating_sub(start) >= self.interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `events` at the given times through a limit and the summary check at each time,
    /// and returns the lines a caller would write: "e" for an event, "+k" for a summary.
    fn lines(limit: &mut LogLimit, times: &[u64]) -> Vec<String> {
        let mut out = Vec::new();
        for &t in times {
            if let Some(k) = limit.summary(t) {
                out.push(format!("+{k}"));
            }
            match limit.event(t) {
                Some(0) => out.push("e".into()),
                Some(k) => {
                    out.push(format!("+{k}"));
                    out.push("e".into());
                }
                None => {}
            }
        }
        out
    }

    #[test]
    fn a_flood_gives_burst_lines_per_interval_and_one_summary_each() {
        let mut l = LogLimit::new(3, 10_000);
        // 200,000 events within one second.
        let times: Vec<u64> = (0..200_000).map(|i| i / 200).collect();
        let out = lines(&mut l, &times);
        assert_eq!(out, ["e", "e", "e"]);
        assert_eq!(l.suppressed(), 199_997);
        // The window ends with nothing after it: one summary, once.
        assert_eq!(l.summary(9_999), None);
        assert_eq!(l.summary(10_000), Some(199_997));
        assert_eq!(l.summary(20_000), None);
        assert_eq!(l.event(20_000), Some(0));
    }

    #[test]
    fn the_first_event_after_a_window_tells_what_it_left_out() {
        let mut l = LogLimit::new(2, 1_000);
        let out = lines(&mut l, &[0, 1, 2, 3, 4]);
        assert_eq!(out, ["e", "e"]);
        // No summary check in between: the next event carries the count.
        assert_eq!(l.event(5_000), Some(3));
        assert_eq!(l.event(5_001), Some(0));
        assert_eq!(l.event(5_002), None);
    }

    #[test]
    fn a_steady_rate_under_the_limit_loses_nothing() {
        let mut l = LogLimit::new(5, 1_000);
        let times: Vec<u64> = (0..100).map(|i| i * 250).collect();
        let out = lines(&mut l, &times);
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|l| l == "e"));
    }

    #[test]
    fn any_rate_stays_within_burst_plus_one_lines_per_interval() {
        let mut rng = crate::test_rng::Rng(7);
        for _ in 0..50 {
            let burst = 1 + rng.below(8) as u32;
            let interval = 1 + rng.below(5_000) as u64;
            let mut l = LogLimit::new(burst, interval);
            let mut t = 0;
            let mut times = Vec::new();
            for _ in 0..2_000 {
                t += rng.below(50) as u64;
                times.push(t);
            }
            let out = lines(&mut l, &times);
            // Lines per interval-long stretch of time: counted over windows that start at
            // each event, so no alignment helps.
            let windows = t / interval + 2;
            assert!(
                out.len() as u64 <= windows * (u64::from(burst) + 1),
                "{} lines over {windows} windows of {interval} ms, burst {burst}",
                out.len()
            );
            // Every event is either logged or counted in a summary, or still pending.
            let told: u64 = out
                .iter()
                .map(|l| l.strip_prefix('+').map_or(1, |k| k.parse().unwrap()))
                .sum();
            assert_eq!(told + l.suppressed(), times.len() as u64);
        }
    }

    #[test]
    fn zero_settings_are_raised_to_one() {
        let mut l = LogLimit::new(0, 0);
        assert_eq!(l.interval_ms(), 1);
        assert_eq!(l.event(0), Some(0));
        assert_eq!(l.event(0), None);
        assert_eq!(l.event(1), Some(1));
    }
}
