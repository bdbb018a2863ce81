//! The benchmark's store: N finished recordings as the server's sidecars (the server's own
//! types and names: `Sidecar`, `Slot::at`, `update_sidecar`), spread over a year, with numbers
//! and names varied enough that a search matches a realistic share. The server then imports
//! them through its start-up path. Deterministic (a seed), so the queries know what exists.

use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_core::test_rng::Rng;
use callrec_platform::clock::local_time_of;
use callrec_server::store::{update_sidecar, Sidecar, Slot, Stats};
use callrec_tools::error::{Context, ToolError};
use std::path::Path;

/// The first recording's start (2025-12-01 00:00 UTC) and how far they spread.
pub const FIRST_S: i64 = 1_764_547_200;
pub const SPAN_S: i64 = 365 * 86_400;

pub const FIRST_NAMES: [&str; 16] = [
    "Anna",
    "Bernd",
    "Chiara",
    "Dmitri",
    "Emma",
    "Farid",
    "Grace",
    "Hiroshi",
    "Ирина",
    "Jonas",
    "Karin",
    "Léa",
    "Mateo",
    "Nikos",
    "王芳",
    "Zoë",
];
/// Surnames are made of three parts (2,000 in Latin script) or taken from short lists in
/// Cyrillic and Chinese: an archive's callers are many different people, so a surname matches
/// a small share of the recordings, as in a real one.
const HEADS: [&str; 20] = [
    "Ber", "Kow", "Mar", "Sch", "Lin", "Dub", "Nov", "Ros", "Gar", "Pet", "Hal", "Tan", "Kim",
    "Ngu", "Sil", "Cos", "Hor", "Pop", "Leh", "Fer",
];
const MIDS: [&str; 10] = ["an", "el", "ov", "ik", "er", "sk", "ez", "in", "os", "ar"];
const TAILS: [&str; 10] = [
    "", "son", "berg", "ova", "ini", "ing", "dt", "e", "ko", "ić",
];
const OTHER: [&str; 20] = [
    "Иванов",
    "Смирнова",
    "Кузнецов",
    "Попова",
    "Соколов",
    "Лебедева",
    "Козлов",
    "Новикова",
    "Морозов",
    "Волкова",
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "周",
    "吴",
];

/// A surname of the store.
pub fn surname(r: &mut Rng) -> String {
    if r.below(10) == 0 {
        r.pick(&OTHER).to_string()
    } else {
        format!("{}{}{}", r.pick(&HEADS), r.pick(&MIDS), r.pick(&TAILS))
    }
}

/// The recording `i` (0-based) of the store with seed `seed`: its second and sidecar.
pub fn recording(seed: u64, i: u64, n: u64) -> (i64, Sidecar) {
    let mut r = Rng(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let start_s = FIRST_S + (i as i64 * SPAN_S) / n.max(1) as i64;
    let duration_ms = 5_000 + u64::from(r.next_u32() % 600_000);
    let remote = format!("+49{:010}", r.next_u64() % 10_000_000_000);
    let local = format!("{}", 1000 + r.below(2000));
    let name = format!("{} {}", r.pick(&FIRST_NAMES), surname(&mut r));
    let start_ms = start_s as u64 * 1000 + u64::from(r.next_u32() % 1000);
    let sidecar = Sidecar {
        id: format!("bench-{i}"),
        device: format!("00:15:65:00:{:02X}:{:02X}", (i / 256) % 8, i % 256),
        remote_number: remote,
        remote_name: name,
        local_number: local,
        local_name: "Sales".into(),
        dir: if r.below(2) == 0 {
            Direction::In
        } else {
            Direction::Out
        },
        codec: r.pick(&[Codec::Pcma, Codec::Pcmu, Codec::G722]),
        peer: "192.0.2.10".into(),
        start_ms,
        stop_ms: Some(start_ms + duration_ms),
        stop_reason: Some(r.pick(&["user", "connection closed", "idle"]).into()),
        duration_ms,
        files: vec![],
        stats: Stats {
            received: duration_ms / 20,
            ..Stats::default()
        },
        digests: Default::default(),
        ..Sidecar::default()
    };
    (start_s, sidecar)
}

/// Writes recordings `0..n` into `root` (made if absent), on `threads` threads; the sidecars
/// only (no audio: the catalog never reads it).
pub fn write(root: &Path, seed: u64, n: u64, threads: u64) -> Result<(), ToolError> {
    std::fs::create_dir_all(root).context(|| format!("making {}", root.display()))?;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Result<(), ToolError> {
                    let mut day_made = String::new();
                    for i in (t..n).step_by(threads as usize) {
                        let (start_s, mut sidecar) = recording(seed, i, n);
                        let time = local_time_of(start_s);
                        // Recordings of one second get their own slot numbers.
                        let slot = Slot::at(root, &time, 1 + (i % 1000) as u32);
                        sidecar.files = vec![slot.file_name(1)];
                        // A digest of the real size (no audio to hash: the catalog never
                        // reads it).
                        let digest = format!("{:016x}", seed ^ i.wrapping_mul(0x2545_F491));
                        sidecar.digests.insert(slot.file_name(1), digest.repeat(4));
                        let day = slot.dir.display().to_string();
                        if day != day_made {
                            std::fs::create_dir_all(&slot.dir)
                                .context(|| format!("making {day}"))?;
                            day_made = day;
                        }
                        update_sidecar(&slot, &sidecar)
                            .context(|| format!("writing {}", slot.sidecar_path().display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| ToolError::setup("a writer thread panicked"))?
        })
    })
}
