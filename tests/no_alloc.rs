//! No heap allocation per packet in steady state: the recorder, and the agent's session writing
//! to a real directory, handle thousands of packets (with loss, reordering, duplicates, pause and
//! resume, commits and rollover) without one allocation. A counting allocator counts only on
//! the test's own thread. (Its allocator is the test's own: with the `alloc-count` feature the
//! library brings one, so this file is left out of that build.)
#![cfg(not(feature = "alloc-count"))]

use callrec::agent::local::{LocalSession, StorageFactory};
use callrec::config::settings::Settings;
use callrec_core::record_file::LocalTime;
use callrec_core::recorder::{Recorder, RecorderConfig, StickState};
use callrec_core::rtp::RtpPacket;
use callrec_platform::clock::Clock;
use callrec_platform::store::fs::DirStorage;
use callrec_platform::usb::Stick;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every call to the system allocator; the thread-locals are const-initialised
// Cells, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, size) }
    }
}

fn bump() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(|n| n.get())
}

/// A hostile-ish 20 ms PCMA stream: every 7th packet lost, every 11th duplicated, pairs swapped.
fn packet(i: u32, buf: &mut [u8; 172]) -> Option<usize> {
    if i % 7 == 3 {
        return None;
    }
    let seq = if i % 13 == 5 {
        i + 1
    } else if i % 13 == 6 {
        i - 1
    } else {
        i
    };
    let seq = seq as u16;
    RtpPacket::emit(
        buf,
        false,
        8,
        seq,
        u32::from(seq).wrapping_mul(160),
        9,
        &[0x55; 160],
    )
}

#[test]
fn the_recorder_allocates_nothing_per_packet() {
    let cfg = RecorderConfig {
        size_limit: 64 * 1024,
        ..RecorderConfig::default()
    };
    let mut rec = Recorder::new(cfg);
    let stick = StickState {
        present: true,
        read_only: false,
        free_bytes: u64::MAX,
    };
    let mut buf = [0u8; 172];
    let mut run = |rec: &mut Recorder, from: u32, to: u32| {
        for i in from..to {
            let now = u64::from(i) * 20;
            if let Some(n) = packet(i, &mut buf) {
                rec.handle_datagram(now, &buf[..n]);
                if i % 11 == 0 {
                    rec.handle_datagram(now, &buf[..n]);
                }
            }
            while rec.poll_timeout().is_some_and(|t| t <= now) {
                rec.handle_timeout(now);
            }
            if i % 1000 == 500 {
                rec.pause().unwrap();
            } else if i % 1000 == 600 {
                rec.resume(now).unwrap();
            }
            while rec.poll_op().is_some() {}
        }
    };
    rec.start(0, stick).unwrap();
    run(&mut rec, 0, 100); // warm-up
    let n = allocations(|| run(&mut rec, 100, 20_000));
    assert_eq!(n, 0, "allocations while recording 20 000 packets");
}

struct FixedClock;

impl Clock for FixedClock {
    fn now_ms(&self) -> u64 {
        0
    }
    fn local_time(&self) -> LocalTime {
        LocalTime {
            year: 2026,
            month: 1,
            day: 2,
            hour: 3,
            minute: 4,
            second: 5,
        }
    }
}

#[test]
fn the_session_writing_to_a_real_directory_allocates_nothing_per_packet() {
    let dir = std::env::temp_dir().join(format!("callrec-noalloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let factory: StorageFactory<DirStorage> = Box::new(|s: &Stick| DirStorage::new(&s.path));
    let settings = Settings {
        reserve_bytes: 0,
        ..Settings::default()
    };
    let mut session = LocalSession::new(settings, factory, "tap".into());
    let stick = Stick {
        path: dir.clone(),
        read_only: false,
        fs_type: "dir".into(),
        device: "test".into(),
        mount_id: 1,
    };
    let clock = FixedClock;
    session.stick_changed(Some(stick));
    assert!(session.start(0, &clock).is_ok());
    let mut buf = [0u8; 172];
    let mut run = |session: &mut LocalSession<DirStorage>, from: u32, to: u32| {
        for i in from..to {
            let now = u64::from(i) * 20;
            if let Some(n) = packet(i, &mut buf) {
                session.datagram(now, &buf[..n], &clock);
            }
            while session.poll_timeout().is_some_and(|t| t <= now) {
                session.timeout(now, &clock);
            }
        }
    };
    run(&mut session, 0, 100); // warm-up: the file opens
    let n = allocations(|| run(&mut session, 100, 5_000)); // 98 s of audio, 98 commits + fsyncs
    assert_eq!(n, 0, "allocations while the session recorded 4900 packets");
    assert!(session.stop(&clock).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations(|| {
        let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(64));
        drop(v);
        let s = std::hint::black_box(String::from("x")) + "y";
        drop(s);
    });
    assert!(n >= 2, "{n}");
}
