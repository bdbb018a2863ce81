use super::*;
use crate::catalog::CatalogSpec;
use crate::store::Store;
use callrec_core::codec::Codec;
use callrec_core::record_file::LocalTime;
use callrec_core::rtp::RtpPacket;
use std::cell::Cell;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The system's clock, held up once, right after a reading, for as long as asked: what a
/// shard's cycle sees when something before a session's turn (other sessions' files, a slow
/// disk, the machine) takes that long after the cycle read the time.
struct HeldUp {
    clock: SystemClock,
    hold: Cell<Option<Duration>>,
}

impl Clock for HeldUp {
    fn now_ms(&self) -> u64 {
        let now = self.clock.now_ms();
        if let Some(d) = self.hold.take() {
            std::thread::sleep(d);
        }
        now
    }

    fn local_time(&self) -> LocalTime {
        self.clock.local_time()
    }
}

struct Fixture {
    root: PathBuf,
    sessions: Vec<MediaSession>,
    rx: BatchReceiver,
    clock: HeldUp,
    phone: UdpSocket,
    to: SocketAddr,
    /// When the first packet went out, and the next sequence number.
    t0: Option<Instant>,
    seq: u16,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let root =
            std::env::temp_dir().join(format!("callrec-media-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = Store::open(&root).unwrap();
        let (catalog, _) =
            Catalog::open(CatalogSpec::Sqlite(root.join("catalog.sqlite")), &store).unwrap();
        let t = LocalTime {
            year: 2026,
            month: 12,
            day: 3,
            hour: 15,
            minute: 0,
            second: 0,
        };
        let sidecar = Sidecar {
            id: "s1".into(),
            ..Sidecar::default()
        };
        let slot = store.create(&t, &sidecar).unwrap();
        let socket = callrec_platform::udp::bind_exclusive("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = socket.local_addr().unwrap();
        let phone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let clock = HeldUp {
            clock: SystemClock::new(),
            hold: Cell::new(None),
        };
        let session = MediaSession::new(
            "s1".into(),
            phone.local_addr().unwrap().ip(),
            socket,
            slot,
            sidecar,
            Finals::new(catalog),
            clock.now_ms(),
        );
        Fixture {
            root,
            sessions: vec![session],
            rx: BatchReceiver::new(),
            clock,
            phone,
            to,
            t0: None,
            seq: 0,
        }
    }

    /// Real milliseconds since the first packet went out (0 before it).
    fn elapsed_ms(&self) -> u64 {
        self.t0.map_or(0, |t| t.elapsed().as_millis() as u64)
    }

    /// Sends the next 20 ms PCMA packet, its timestamp at `ms` from the first one's.
    fn send_at(&mut self, ms: u64) {
        self.t0.get_or_insert_with(Instant::now);
        let mut buf = [0u8; 172];
        let n = RtpPacket::emit(
            &mut buf,
            self.seq == 0,
            Codec::Pcma.payload_type(),
            self.seq,
            (ms * 8) as u32,
            0x1234_5678,
            &[0xD5; 160],
        )
        .unwrap();
        self.phone.send_to(&buf[..n], self.to).unwrap();
        self.seq += 1;
    }

    fn cycle(&mut self) {
        serve(&mut self.sessions, &mut self.rx, &self.clock, false);
    }

    fn dropped(&self) -> u64 {
        let s = &self.sessions[0];
        s.recorder.stats().timeline.too_early + s.gate.stats().flood_dropped
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn a_packet_read_late_in_a_cycle_keeps_its_arrival_time() {
    use callrec_core::timeline::LEAD_JITTER_MS;
    let mut f = Fixture::new("late");
    f.send_at(0);
    f.cycle();
    // A live stream past its opening: a packet more than a second later ends the opening burst,
    // so from here the recording may run at most LEAD_JITTER_MS ahead of the wall clock.
    std::thread::sleep(Duration::from_millis(1100));
    let now = f.elapsed_ms();
    f.send_at(now);
    f.cycle();
    assert_eq!(f.dropped(), 0);
    // The next three packets, on time; then a cycle held up after it read the time, before
    // this session's turn, for longer than that allowance: they arrived when they arrived.
    for k in 1..=3 {
        f.send_at(now + 20 * k);
    }
    f.clock
        .hold
        .set(Some(Duration::from_millis(2 * LEAD_JITTER_MS)));
    f.cycle();
    assert_eq!(
        f.dropped(),
        0,
        "packets on time dropped as ahead of the clock"
    );
    assert_eq!(f.sessions[0].recorder.stats().timeline.received, 5);
    // Still held to the clock: a burst of 3 × LEAD_JITTER_MS of audio at once, sent now,
    // loses what runs past the allowance.
    let now = f.elapsed_ms();
    let burst = 3 * LEAD_JITTER_MS / 20;
    for k in 0..burst {
        f.send_at(now + 20 * k);
    }
    f.cycle();
    assert!(f.dropped() >= burst / 3, "{} of {burst}", f.dropped());
}
