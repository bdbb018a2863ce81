//! What `/metrics` says (Prometheus' text exposition format, version 0.0.4): the process's
//! counters, kept in atomics ([`METRICS`]), and the figures read at each scrape ([`Figures`]).
//!
//! Counting costs the media path no lock and no allocation: a shard adds what a session's
//! statistics grew by since its last cycle ([`Metrics::packets`], a few atomic additions per
//! session and cycle, never per packet). A stop reason or a refusal is a label from a fixed
//! set ([`End`], [`Refused`]): nothing a phone sends becomes a label. [`render`] is sans-IO.

use callrec_core::net_server::{AdmitRefusal, ConnectionEnd, MediaEnd, MediaFailure, ServerEnd};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Why a recorded session ended, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The phone's stop request (whatever reason it gave).
    Stop,
    Idle,
    NoRtp,
    ConnectionClosed,
    ConnectionReset,
    /// The server closed the connection (an over-long line, a failed write, an overrun).
    ClosedByServer,
    StorageFailure,
    StorageFull,
    /// The media side went away: the server is stopping.
    Shutdown,
}

impl End {
    pub const ALL: [End; 9] = [
        End::Stop,
        End::Idle,
        End::NoRtp,
        End::ConnectionClosed,
        End::ConnectionReset,
        End::ClosedByServer,
        End::StorageFailure,
        End::StorageFull,
        End::Shutdown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            End::Stop => "stop",
            End::Idle => "idle",
            End::NoRtp => "no_rtp",
            End::ConnectionClosed => "connection_closed",
            End::ConnectionReset => "connection_reset",
            End::ClosedByServer => "closed_by_server",
            End::StorageFailure => "storage_failure",
            End::StorageFull => "storage_full",
            End::Shutdown => "shutdown",
        }
    }

    /// How a session's end counts; `None` for a connection that ran no session.
    pub fn of(end: &ServerEnd) -> Option<End> {
        Some(match end {
            ServerEnd::Stopped(_) => End::Stop,
            ServerEnd::Idle => End::Idle,
            ServerEnd::NoRtp => End::NoRtp,
            ServerEnd::Disconnected(ConnectionEnd::Closed) => End::ConnectionClosed,
            ServerEnd::Disconnected(ConnectionEnd::Reset) => End::ConnectionReset,
            ServerEnd::Disconnected(_) => End::ClosedByServer,
            ServerEnd::MediaEnded(MediaEnd::StorageFailure) => End::StorageFailure,
            ServerEnd::MediaEnded(MediaEnd::StorageFull) => End::StorageFull,
            ServerEnd::MediaEnded(MediaEnd::Gone) => End::Shutdown,
            ServerEnd::NoSessionStarted => return None,
        })
    }

    fn index(self) -> usize {
        End::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }
}

/// Why a start was refused, as the `reason` label says it: the admission's refusals, and the
/// media that could not start after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    BadField,
    NoLocalAddress,
    StorageFull,
    DuplicateId,
    SessionLimit,
    AddressLimit,
    DeviceLimit,
    UnknownDevice,
    NoFreePort,
    StorageError,
    Busy,
}

impl Refused {
    pub const ALL: [Refused; 11] = [
        Refused::BadField,
        Refused::NoLocalAddress,
        Refused::StorageFull,
        Refused::DuplicateId,
        Refused::SessionLimit,
        Refused::AddressLimit,
        Refused::DeviceLimit,
        Refused::UnknownDevice,
        Refused::NoFreePort,
        Refused::StorageError,
        Refused::Busy,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Refused::BadField => "bad_field",
            Refused::NoLocalAddress => "no_local_address",
            Refused::StorageFull => "storage_full",
            Refused::DuplicateId => "duplicate_id",
            Refused::SessionLimit => "session_limit",
            Refused::AddressLimit => "address_limit",
            Refused::DeviceLimit => "device_limit",
            Refused::UnknownDevice => "unknown_device",
            Refused::NoFreePort => "no_free_port",
            Refused::StorageError => "storage_error",
            Refused::Busy => "busy",
        }
    }

    pub fn of_admission(r: &AdmitRefusal) -> Refused {
        match r {
            AdmitRefusal::Field(_) => Refused::BadField,
            AdmitRefusal::NoLocalAddress => Refused::NoLocalAddress,
            AdmitRefusal::StorageFull => Refused::StorageFull,
            AdmitRefusal::DuplicateId => Refused::DuplicateId,
            AdmitRefusal::SessionLimit => Refused::SessionLimit,
            AdmitRefusal::AddressLimit => Refused::AddressLimit,
            AdmitRefusal::DeviceLimit => Refused::DeviceLimit,
            AdmitRefusal::UnknownDevice => Refused::UnknownDevice,
            AdmitRefusal::NoFreePort => Refused::NoFreePort,
        }
    }

    pub fn of_media(f: MediaFailure) -> Refused {
        match f {
            MediaFailure::Storage => Refused::StorageError,
            MediaFailure::Busy => Refused::Busy,
        }
    }

    fn index(self) -> usize {
        Refused::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// Why a datagram that reached a session's port was not recorded, as the `cause` label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// After its place on the timeline was written.
    Late,
    Duplicate,
    /// Not RTP, a payload type not recorded, an oversized payload.
    Malformed,
    /// From another source than the phone's.
    Stranger,
    /// Past the flood limit, or running ahead of the wall clock.
    Flood,
}

impl Dropped {
    pub const ALL: [Dropped; 5] = [
        Dropped::Late,
        Dropped::Duplicate,
        Dropped::Malformed,
        Dropped::Stranger,
        Dropped::Flood,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Dropped::Late => "late",
            Dropped::Duplicate => "duplicate",
            Dropped::Malformed => "malformed",
            Dropped::Stranger => "stranger",
            Dropped::Flood => "flood",
        }
    }
}

/// One session's packet statistics so far, as its sidecar counts them (`crate::store::Stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packets {
    /// Every datagram read from the session's port.
    pub received: u64,
    /// By [`Dropped::ALL`]'s order.
    pub dropped: [u64; 5],
    pub reordered: u64,
    /// Sequence numbers never seen; this can fall while a session runs (a late packet fills a
    /// gap), so it is counted once, at the session's end.
    pub lost: u64,
}

/// The process's counters. Every method is a few relaxed atomic operations.
#[derive(Debug)]
pub struct Metrics {
    started: AtomicU64,
    ended: [AtomicU64; 9],
    refused: [AtomicU64; 11],
    received: AtomicU64,
    dropped: [AtomicU64; 5],
    reordered: AtomicU64,
    lost: AtomicU64,
    login_failures: AtomicU64,
    logins_throttled: AtomicU64,
    outside_allow: AtomicU64,
}

/// The counters of this process.
pub static METRICS: Metrics = Metrics::new();

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub const fn new() -> Metrics {
        Metrics {
            started: AtomicU64::new(0),
            ended: [const { AtomicU64::new(0) }; 9],
            refused: [const { AtomicU64::new(0) }; 11],
            received: AtomicU64::new(0),
            dropped: [const { AtomicU64::new(0) }; 5],
            reordered: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            login_failures: AtomicU64::new(0),
            logins_throttled: AtomicU64::new(0),
            outside_allow: AtomicU64::new(0),
        }
    }

    pub fn session_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_ended(&self, end: End) {
        self.ended[end.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self, why: Refused) {
        self.refused[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn login_failed(&self) {
        self.login_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn login_throttled(&self) {
        self.logins_throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outside_allow(&self) {
        self.outside_allow.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds what a session's statistics grew by from `counted` to `now`, and makes `now` the
    /// counted. The loss only if `last` (the session's end).
    pub fn packets(&self, counted: &mut Packets, now: &Packets, last: bool) {
        let add = |a: &AtomicU64, was: u64, is: u64| {
            if is > was {
                a.fetch_add(is - was, Ordering::Relaxed);
            }
        };
        add(&self.received, counted.received, now.received);
        for (i, a) in self.dropped.iter().enumerate() {
            add(a, counted.dropped[i], now.dropped[i]);
        }
        add(&self.reordered, counted.reordered, now.reordered);
        let lost = counted.lost;
        if last {
            add(&self.lost, lost, now.lost);
        }
        // A counter that fell (it does not, but for safety) is not counted again up to where
        // it was.
        *counted = Packets {
            received: counted.received.max(now.received),
            dropped: core::array::from_fn(|i| counted.dropped[i].max(now.dropped[i])),
            reordered: counted.reordered.max(now.reordered),
            lost: if last { lost.max(now.lost) } else { lost },
        };
    }

    fn get(a: &AtomicU64) -> u64 {
        a.load(Ordering::Relaxed)
    }
}

/// What a scrape reads besides the counters; `None`: could not be read now (left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Figures {
    /// The storage's free space, in bytes.
    pub free_bytes: Option<u64>,
    /// The reserve (`--reserve`), in bytes.
    pub reserve_bytes: u64,
    /// The catalog answered.
    pub catalog_up: bool,
    pub recordings: Option<u64>,
    /// The catalog's size on disk (SQLite: its pages; PostgreSQL: its database's size).
    pub catalog_bytes: Option<u64>,
    pub audit_entries: Option<u64>,
}

/// The text of `/metrics` for `m` and `f`.
pub fn render(m: &Metrics, f: &Figures) -> String {
    let mut out = String::with_capacity(4096);
    let get = Metrics::get;
    let started = get(&m.started);
    let ended: u64 = m.ended.iter().map(get).sum();
    let mut one = |name: &str, kind: &str, help: &str, value: Option<u64>| {
        if let Some(v) = value {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
    };
    one(
        "callrec_server_sessions_live",
        "gauge",
        "Recording sessions running now.",
        Some(started.saturating_sub(ended)),
    );
    one(
        "callrec_server_sessions_started_total",
        "counter",
        "Recording sessions whose media started.",
        Some(started),
    );
    one(
        "callrec_server_packets_received_total",
        "counter",
        "Datagrams read from the sessions' RTP ports.",
        Some(get(&m.received)),
    );
    one(
        "callrec_server_packets_reordered_total",
        "counter",
        "Packets that arrived after a later one and were put back in order (recorded).",
        Some(get(&m.reordered)),
    );
    one(
        "callrec_server_packets_lost_total",
        "counter",
        "Sequence numbers never seen, counted when their session ends.",
        Some(get(&m.lost)),
    );
    one(
        "callrec_server_login_failures_total",
        "counter",
        "Logins refused for a wrong name or password.",
        Some(get(&m.login_failures)),
    );
    one(
        "callrec_server_logins_throttled_total",
        "counter",
        "Logins not tried because of earlier failures (429).",
        Some(get(&m.logins_throttled)),
    );
    one(
        "callrec_server_storage_free_bytes",
        "gauge",
        "Free space of the storage.",
        f.free_bytes,
    );
    one(
        "callrec_server_storage_reserve_bytes",
        "gauge",
        "Free space the storage keeps (--reserve): below it starts are refused.",
        Some(f.reserve_bytes),
    );
    one(
        "callrec_server_catalog_up",
        "gauge",
        "1 if the catalog answered this scrape, else 0.",
        Some(u64::from(f.catalog_up)),
    );
    one(
        "callrec_server_catalog_recordings",
        "gauge",
        "Recordings in the catalog.",
        f.recordings,
    );
    one(
        "callrec_server_catalog_bytes",
        "gauge",
        "The catalog's size on disk (SQLite: its file's pages; PostgreSQL: its database).",
        f.catalog_bytes,
    );
    one(
        "callrec_server_audit_entries",
        "gauge",
        "Entries in the audit trail.",
        f.audit_entries,
    );
    let mut family = |name: &str, help: &str, label: &str, values: Vec<(&str, u64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (l, v) in values {
            let _ = writeln!(out, "{name}{{{label}=\"{l}\"}} {v}");
        }
    };
    family(
        "callrec_server_sessions_ended_total",
        "Recording sessions ended, by why.",
        "reason",
        End::ALL
            .iter()
            .map(|e| (e.label(), get(&m.ended[e.index()])))
            .collect(),
    );
    family(
        "callrec_server_sessions_refused_total",
        "Starts refused by the admission, or whose media could not start, by why.",
        "reason",
        Refused::ALL
            .iter()
            .map(|r| (r.label(), get(&m.refused[r.index()])))
            .collect(),
    );
    family(
        "callrec_server_packets_dropped_total",
        "Datagrams read from the sessions' RTP ports and not recorded, by cause.",
        "cause",
        Dropped::ALL
            .iter()
            .enumerate()
            .map(|(i, d)| (d.label(), get(&m.dropped[i])))
            .collect(),
    );
    family(
        "callrec_server_connections_refused_total",
        "Control connections closed at accept, by cause.",
        "cause",
        vec![("outside_allow", get(&m.outside_allow))],
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_add_what_grew_and_the_loss_only_at_the_end() {
        let m = Metrics::new();
        let mut counted = Packets::default();
        let mut now = Packets {
            received: 10,
            dropped: [1, 0, 2, 0, 3],
            reordered: 1,
            lost: 4,
        };
        m.packets(&mut counted, &now, false);
        now.received = 25;
        now.lost = 2; // a late packet filled a gap
        now.dropped[4] = 5;
        m.packets(&mut counted, &now, false);
        m.packets(&mut counted, &now, true);
        m.packets(&mut counted, &now, true);
        let text = render(&m, &Figures::default());
        assert_eq!(
            value(&text, "callrec_server_packets_received_total"),
            Some(25)
        );
        assert_eq!(value(&text, "callrec_server_packets_lost_total"), Some(2));
        assert_eq!(
            value(&text, "callrec_server_packets_reordered_total"),
            Some(1)
        );
        let dropped = |c: &str| {
            value(
                &text,
                &format!("callrec_server_packets_dropped_total{{cause=\"{c}\"}}"),
            )
        };
        assert_eq!(dropped("flood"), Some(5));
        assert_eq!(dropped("malformed"), Some(2));
        assert_eq!(dropped("late"), Some(1));
        assert_eq!(dropped("stranger"), Some(0));
    }

    #[test]
    fn sessions_live_started_ended_and_refused() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.session_started();
        }
        m.session_ended(End::Stop);
        m.session_ended(End::of(&ServerEnd::NoRtp).unwrap());
        m.refused(Refused::of_admission(&AdmitRefusal::AddressLimit));
        m.refused(Refused::of_media(MediaFailure::Busy));
        assert_eq!(End::of(&ServerEnd::NoSessionStarted), None);
        let text = render(&m, &Figures::default());
        assert_eq!(value(&text, "callrec_server_sessions_live"), Some(1));
        assert_eq!(
            value(&text, "callrec_server_sessions_started_total"),
            Some(3)
        );
        let ended = |r: &str| {
            value(
                &text,
                &format!("callrec_server_sessions_ended_total{{reason=\"{r}\"}}"),
            )
        };
        assert_eq!(ended("stop"), Some(1));
        assert_eq!(ended("no_rtp"), Some(1));
        assert_eq!(ended("idle"), Some(0));
        let refused = |r: &str| {
            value(
                &text,
                &format!("callrec_server_sessions_refused_total{{reason=\"{r}\"}}"),
            )
        };
        assert_eq!(refused("address_limit"), Some(1));
        assert_eq!(refused("busy"), Some(1));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples_and_counters_end_in_total() {
        let f = Figures {
            free_bytes: Some(1 << 30),
            reserve_bytes: 64 << 20,
            catalog_up: true,
            recordings: Some(7),
            catalog_bytes: Some(4096),
            audit_entries: Some(12),
        };
        let text = render(&Metrics::new(), &f);
        assert!(text.ends_with('\n'));
        let mut typed: Option<(String, String)> = None;
        let mut seen = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(seen.insert(name.to_string()), "{name} twice");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "{name}");
                }
                typed = Some((name.to_string(), kind.to_string()));
            } else if line.starts_with("# HELP ") {
            } else {
                let (name, _) = typed.as_ref().expect("a sample after its TYPE");
                let series = line.split([' ', '{']).next().unwrap();
                assert_eq!(series, name, "{line}");
            }
        }
        assert_eq!(value(&text, "callrec_server_catalog_recordings"), Some(7));
        // Left out when unknown.
        let text = render(&Metrics::new(), &Figures::default());
        assert!(!text.contains("callrec_server_catalog_recordings"));
        assert_eq!(value(&text, "callrec_server_catalog_up"), Some(0));
    }
}
