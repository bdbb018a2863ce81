//! What a search asks of the catalog, already parsed and checked (the web side parses the
//! query string into it): filters, order, and which page.

use crate::integrity::Integrity;
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use core::fmt;

/// How a number is matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NumberMatch {
    /// Anywhere in the number.
    #[default]
    Substring,
    /// At its start.
    Prefix,
}

/// Newest or oldest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

/// The recordings a search wants; every field set narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// In the remote or the local number.
    pub number: Option<(String, NumberMatch)>,
    /// A part of the remote or the local name, lowercased (any script).
    pub name: Option<String>,
    /// The phone's device: a MAC in any spelling `callrec_core::mac` reads matches the
    /// recordings of that MAC whatever spelling their phone sent; anything else, exactly.
    pub device: Option<String>,
    /// The device's owner in the registry when the session started: the whole owner, case
    /// ignored in every script (`owner_key` of `sql.rs`).
    pub owner: Option<String>,
    /// The device's group in the registry when the session started, exactly.
    pub group: Option<String>,
    pub dir: Option<Direction>,
    pub codec: Option<Codec>,
    /// Started at or after (Unix ms).
    pub from_ms: Option<u64>,
    /// Started before (Unix ms).
    pub to_ms: Option<u64>,
    pub min_duration_ms: Option<u64>,
    pub max_duration_ms: Option<u64>,
    /// How it ended, exactly (`user`, `idle`, `connection closed`, …).
    pub stop_reason: Option<String>,
    /// Its files' state after their last checks.
    pub integrity: Option<Integrity>,
    /// The scope of who asks: only recordings of these device groups exist for them (`None`:
    /// every group; an empty list: none). Set from the requester, never from the query.
    pub scope: Option<Vec<String>>,
    pub order: Order,
}

/// Where a page starts: after the recording that ended the previous one. Ordering is by start
/// time, then by RID (unique), so a cursor names one place even when many recordings started
/// in the same millisecond, and rows added meanwhile never repeat or skip one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub start_ms: u64,
    pub rid: String,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.start_ms, self.rid)
    }
}

impl Cursor {
    /// `START_MS.RID` as [`Cursor`]'s `Display` writes it; `valid_rid` checks the RID.
    pub fn parse(text: &str, valid_rid: impl Fn(&str) -> bool) -> Option<Cursor> {
        let (ms, rid) = text.split_once('.')?;
        if ms.is_empty() || ms.len() > 15 || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let start_ms = ms.parse().ok()?;
        valid_rid(rid).then(|| Cursor {
            start_ms,
            rid: rid.to_string(),
        })
    }
}

/// Which page of the matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageAsk {
    /// After this recording (in the search's order); `None`: from the first.
    pub after: Option<Cursor>,
    /// Matches to skip first (after the cursor, if any).
    pub offset: usize,
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_writes_and_nothing_else() {
        let c = Cursor {
            start_ms: 1_795_248_550_123,
            rid: "2026-11-21_20261121_080910_3".into(),
        };
        let ok = |r: &str| r.starts_with("2026");
        assert_eq!(Cursor::parse(&c.to_string(), ok), Some(c));
        for bad in [
            "",
            ".",
            "12",
            "x.2026",
            "1.bad",
            "-1.2026",
            "1234567890123456.2026",
        ] {
            assert_eq!(Cursor::parse(bad, ok), None, "{bad:?}");
        }
    }
}
