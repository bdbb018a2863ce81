//! The recording identifier (RID) of the web side: the slot's day folder and stem joined by `_`,
//! e.g. `2026-11-21_20261121_080910_3`. The server makes it; a RID from a request is parsed
//! strictly (only digits, `-` and `_`, in the exact shape, the stem's date equal to the day's)
//! and only the parsed parts ever become a path.

use crate::store::Slot;
use core::fmt;
use std::path::Path;

/// `YYYY-MM-DD` `_` `YYYYMMDD_HHMMSS` `_` N (1-6 digits).
const MAX_LEN: usize = 10 + 1 + 15 + 1 + 6;
/// The store's per-second counter never goes past this (`store::MAX_PER_SECOND`).
const MAX_N: u32 = 100_000;

/// A recording's identifier: its day folder and stem, both checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rid {
    /// `YYYY-MM-DD`.
    day: String,
    /// `YYYYMMDD_HHMMSS_N`.
    stem: String,
}

impl Rid {
    /// Parses a RID; `None` unless it has the exact shape.
    pub fn parse(s: &str) -> Option<Rid> {
        let b = s.as_bytes();
        if b.len() < 28 || b.len() > MAX_LEN || b[10] != b'_' {
            return None;
        }
        // day: YYYY-MM-DD; stem: YYYYMMDD_HHMMSS_N
        let (day, stem) = (&b[..10], &b[11..]);
        if !day_bytes(day) {
            return None;
        }
        let shape =
            digits(&stem[..8]) && stem[8] == b'_' && digits(&stem[9..15]) && stem[15] == b'_';
        if !shape {
            return None;
        }
        let n = &stem[16..];
        if n.is_empty() || n.len() > 6 || !digits(n) || n[0] == b'0' || number(n) > MAX_N {
            return None;
        }
        // The stem's date is the day folder's.
        if stem[..4] != day[..4] || stem[4..6] != day[5..7] || stem[6..8] != day[8..10] {
            return None;
        }
        let time_ok = number(&stem[9..11]) <= 23
            && number(&stem[11..13]) <= 59
            && number(&stem[13..15]) <= 60;
        if !time_ok {
            return None;
        }
        // Only ASCII digits, '-' and '_' passed the checks above.
        Some(Rid {
            day: String::from_utf8_lossy(day).into_owned(),
            stem: String::from_utf8_lossy(stem).into_owned(),
        })
    }

    /// The RID of a slot the store listed; `None` for a folder or file the server did not name.
    pub fn of_slot(slot: &Slot) -> Option<Rid> {
        let day = slot.dir.file_name()?.to_str()?;
        Rid::parse(&format!("{day}_{}", slot.stem))
    }

    /// The slot under the storage `root`, built from the parsed parts only.
    pub fn slot(&self, root: &Path) -> Slot {
        Slot {
            dir: root.join(&self.day),
            stem: self.stem.clone(),
        }
    }

    /// `YYYY-MM-DD`, the server's local date at the start.
    pub fn day(&self) -> &str {
        &self.day
    }

    pub fn stem(&self) -> &str {
        &self.stem
    }
}

impl fmt::Display for Rid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.day, self.stem)
    }
}

fn digits(b: &[u8]) -> bool {
    b.iter().all(u8::is_ascii_digit)
}

/// The value of at most 9 ASCII digits (callers check they are digits).
fn number(b: &[u8]) -> u32 {
    b.iter()
        .take(9)
        .fold(0, |n, &d| n * 10 + u32::from(d.wrapping_sub(b'0') % 10))
}

/// Whether `s` is a date in the shape of the day folders: `YYYY-MM-DD`, a real month and day.
pub fn is_day(s: &str) -> bool {
    day_bytes(s.as_bytes())
}

fn day_bytes(b: &[u8]) -> bool {
    b.len() == 10
        && digits(&b[..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10])
        && (1..=12).contains(&number(&b[5..7]))
        && (1..=31).contains(&number(&b[8..10]))
}
