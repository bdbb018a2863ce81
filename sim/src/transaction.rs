//! The timers of a SIP client transaction over UDP (RFC 3261 §17.1), as the phone's stack
//! runs them: when to send the request again and when to give up. Pure: the time comes in as
//! an argument, the decision comes out.
//!
//! - INVITE (§17.1.1.2): Timer A retransmits at T1, 2·T1, 4·T1, … until any response; Timer B
//!   gives up at 64·T1.
//! - Other requests (§17.1.2.2): Timer E retransmits at T1, then doubling up to T2 (4 s), and
//!   every T2 once a provisional response came; Timer F gives up at 64·T1.

use std::time::{Duration, Instant};

/// RTT estimate (RFC 3261 §17.1.1.1).
pub const T1: Duration = Duration::from_millis(500);
/// Longest retransmit interval of a non-INVITE request.
pub const T2: Duration = Duration::from_secs(4);
/// Timer B and Timer F: 64·T1, 32 s.
pub const TIMEOUT: Duration = Duration::from_secs(32);

/// What the caller does when a deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Send the request again.
    Retransmit,
    /// Give up: no final response in time (Timer B or F).
    Timeout,
    /// Nothing yet.
    Wait,
}

/// One client transaction's timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTimers {
    invite: bool,
    give_up: Instant,
    /// When to retransmit next; `None` once retransmissions stopped (an INVITE that got a
    /// provisional response).
    retransmit: Option<Instant>,
    interval: Duration,
}

impl ClientTimers {
    /// The timers of a request first sent at `now`.
    pub fn new(invite: bool, now: Instant) -> ClientTimers {
        ClientTimers {
            invite,
            give_up: now + TIMEOUT,
            retransmit: Some(now + T1),
            interval: T1,
        }
    }

    /// The next instant `on_timer` has something to do.
    pub fn deadline(&self) -> Instant {
        match self.retransmit {
            Some(r) => r.min(self.give_up),
            None => self.give_up,
        }
    }

    /// What is due at `now`. After `Retransmit`, the next retransmission is scheduled.
    pub fn on_timer(&mut self, now: Instant) -> Timer {
        if now >= self.give_up {
            self.retransmit = None;
            return Timer::Timeout;
        }
        match self.retransmit {
            Some(at) if now >= at => {
                self.interval = if self.invite {
                    self.interval * 2
                } else {
                    (self.interval * 2).min(T2)
                };
                self.retransmit = Some(now + self.interval);
                Timer::Retransmit
            }
            _ => Timer::Wait,
        }
    }

    /// A provisional (1xx) response came: an INVITE stops retransmitting (the server has it);
    /// another request goes on every T2 (§17.1.2.2, Proceeding).
    pub fn on_provisional(&mut self, now: Instant) {
        if self.invite {
            self.retransmit = None;
        } else {
            self.interval = T2;
            self.retransmit = Some(now + T2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offsets from the start at which the request is sent again, stepping the clock to
    /// each deadline, until the timeout.
    fn schedule(mut t: ClientTimers, start: Instant) -> (Vec<u64>, u64) {
        let mut sent = Vec::new();
        loop {
            let now = t.deadline();
            match t.on_timer(now) {
                Timer::Retransmit => sent.push((now - start).as_millis() as u64),
                Timer::Timeout => return (sent, (now - start).as_millis() as u64),
                Timer::Wait => panic!("a deadline with nothing to do"),
            }
        }
    }

    #[test]
    fn timer_e_doubles_up_to_t2_and_timer_f_ends_at_32_s() {
        let start = Instant::now();
        let (sent, end) = schedule(ClientTimers::new(false, start), start);
        assert_eq!(
            sent,
            [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
        );
        assert_eq!(end, 32_000);
    }

    #[test]
    fn timer_a_doubles_without_a_cap_until_timer_b() {
        let start = Instant::now();
        let (sent, end) = schedule(ClientTimers::new(true, start), start);
        assert_eq!(sent, [500, 1500, 3500, 7500, 15_500, 31_500]);
        assert_eq!(end, 32_000);
    }

    #[test]
    fn provisional_responses() {
        let start = Instant::now();
        let mut info = ClientTimers::new(false, start);
        info.on_provisional(start + Duration::from_millis(100));
        assert_eq!(info.deadline(), start + Duration::from_millis(4100));
        assert_eq!(
            info.on_timer(start + Duration::from_millis(200)),
            Timer::Wait
        );

        let mut invite = ClientTimers::new(true, start);
        invite.on_provisional(start + Duration::from_millis(100));
        assert_eq!(invite.deadline(), start + TIMEOUT);
        assert_eq!(invite.on_timer(start + TIMEOUT), Timer::Timeout);
    }
}
