//! The chain's arithmetic, without I/O: the canonical bytes of an entry, its hash, and the
//! check of a trail read in `seq` order (the encoding is in the module above).

use sha2::{Digest as _, Sha256};

/// The first bytes of every entry's canonical bytes.
pub const TAG: &[u8; 16] = b"callrec-audit-1\n";
/// The `prev` of entry 1.
pub const ZERO: [u8; 32] = [0; 32];

/// One stored entry, as read from the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    pub ms: i64,
    pub who: String,
    pub from: String,
    pub action: String,
    pub rid: String,
    pub what: String,
    /// 64 hex digits, as stored.
    pub prev: String,
    /// 64 hex digits, as stored.
    pub hash: String,
}

/// The canonical bytes of an entry (everything but `prev` and `hash`).
pub fn canonical(e: &Entry) -> Vec<u8> {
    let fields = [&e.who, &e.from, &e.action, &e.rid, &e.what];
    let mut out = Vec::with_capacity(32 + fields.iter().map(|f| 4 + f.len()).sum::<usize>());
    out.extend_from_slice(TAG);
    out.extend_from_slice(&e.seq.to_be_bytes());
    out.extend_from_slice(&e.ms.to_be_bytes());
    for f in fields {
        // Fields longer than 4 GiB cannot be stored (the server bounds `what` far below).
        let len = u32::try_from(f.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(f.as_bytes());
    }
    out
}

/// SHA-256 of `prev` followed by the canonical bytes of `e`.
pub fn link(prev: &[u8; 32], e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(e));
    h.finalize().into()
}

pub fn hex(bytes: &[u8; 32]) -> String {
    let mut s = String::with_capacity(64);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// 64 lower-case hex digits → 32 bytes (anything else: `None`).
pub fn unhex(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(b[2 * i])? << 4 | digit(b[2 * i + 1])?;
    }
    Some(out)
}

/// The first thing wrong with a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Entry `seq` does not give its hash: its fields or its hash were changed (or it was
    /// put there with a hash made up).
    Edited { seq: u64 },
    /// Entries `from..=to` are missing (the next one present is `to + 1`, or the trail ends).
    Removed { from: u64, to: u64 },
    /// Entry `seq` is whole but was appended after another entry than the one now before it:
    /// entries were moved, or the one before was replaced.
    Relinked { seq: u64 },
    /// Entries after the head's `head` (up to `last`) were put there without the server.
    Beyond { head: u64, last: u64 },
    /// The head is missing or holds what this server does not write.
    Head(String),
}

impl Break {
    /// The first sequence number concerned.
    pub fn seq(&self) -> u64 {
        match *self {
            Break::Edited { seq } | Break::Relinked { seq } => seq,
            Break::Removed { from, .. } => from,
            Break::Beyond { head, .. } => head + 1,
            Break::Head(_) => 0,
        }
    }

    /// `edited`, `removed`, `reordered`, `forged` or `head`: the kind, for scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Break::Edited { .. } => "edited",
            Break::Removed { .. } => "removed",
            Break::Relinked { .. } => "reordered",
            Break::Beyond { .. } => "forged",
            Break::Head(_) => "head",
        }
    }
}

impl core::fmt::Display for Break {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Break::Edited { seq } => write!(
                f,
                "entry {seq}: edited (its fields do not give its hash: changed after it was \
                 written, or written with a made-up hash)"
            ),
            Break::Removed { from, to } if from == to => {
                write!(f, "entry {from}: removed (a gap in the sequence)")
            }
            Break::Removed { from, to } => {
                write!(f, "entries {from} to {to}: removed (a gap in the sequence)")
            }
            Break::Relinked { seq } => write!(
                f,
                "entry {seq}: reordered (whole, but written after another entry than the one \
                 now before it: entries moved, or the one before replaced)"
            ),
            Break::Beyond { head, last } => write!(
                f,
                "entries {} to {last}: forged (after the head, entry {head}: not written by \
                 the server)",
                head + 1
            ),
            Break::Head(m) => write!(f, "the head: {m}"),
        }
    }
}

/// Checks a trail read entry by entry in `seq` order ([`Walk::next`]), then against its head
/// ([`Walk::end`]). Holds one hash, whatever the trail's length.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The seq and hash of the last entry found good (0 and [`ZERO`] before the first).
    last: (u64, [u8; 32]),
}

impl Default for Walk {
    fn default() -> Walk {
        Walk { last: (0, ZERO) }
    }
}

impl Walk {
    /// The next entry; the first break, if it is one.
    pub fn next(&mut self, e: &Entry) -> Result<(), Break> {
        let expected = self.last.0 + 1;
        if e.seq > expected {
            return Err(Break::Removed {
                from: expected,
                to: e.seq - 1,
            });
        }
        if e.seq < expected {
            // Read in order from a primary key: only a reader's bug gets here.
            return Err(Break::Relinked { seq: e.seq });
        }
        let (Some(prev), Some(hash)) = (unhex(&e.prev), unhex(&e.hash)) else {
            return Err(Break::Edited { seq: e.seq });
        };
        if link(&prev, e) != hash {
            return Err(Break::Edited { seq: e.seq });
        }
        if prev != self.last.1 {
            return Err(Break::Relinked { seq: e.seq });
        }
        self.last = (e.seq, hash);
        Ok(())
    }

    /// The trail has no more entries; `head` is the head's seq and hash.
    pub fn end(&self, head: (u64, &str)) -> Result<(), Break> {
        let (seq, hash) = head;
        if seq > self.last.0 {
            return Err(Break::Removed {
                from: self.last.0 + 1,
                to: seq,
            });
        }
        if seq < self.last.0 {
            return Err(Break::Beyond {
                head: seq,
                last: self.last.0,
            });
        }
        if unhex(hash) != Some(self.last.1) {
            return Err(Break::Head(format!(
                "entry {seq}'s hash is {}, the head says {hash:?}",
                hex(&self.last.1)
            )));
        }
        Ok(())
    }

    /// The entries found good so far: the last one's seq and hash.
    pub fn last(&self) -> (u64, String) {
        (self.last.0, hex(&self.last.1))
    }
}

/// The entry that follows `last` (its seq and hash): `seq`, `prev` and `hash` filled in.
pub fn next_entry(last: (u64, &[u8; 32]), mut e: Entry) -> Entry {
    e.seq = last.0 + 1;
    e.prev = hex(last.1);
    e.hash = hex(&link(last.1, &e));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Entry {
        Entry {
            seq: 0,
            ms: 1_700_000_000_000 + i as i64,
            who: format!("user{i}"),
            from: "192.0.2.7".into(),
            action: "search".into(),
            rid: String::new(),
            what: format!("{{\"q\":{i}}}"),
            prev: String::new(),
            hash: String::new(),
        }
    }

    fn trail(n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        let mut last = (0, ZERO);
        for i in 1..=n {
            let e = next_entry((last.0, &last.1), entry(i));
            last = (e.seq, unhex(&e.hash).unwrap());
            out.push(e);
        }
        out
    }

    fn check(t: &[Entry], head: (u64, &str)) -> Result<(), Break> {
        let mut w = Walk::default();
        for e in t {
            w.next(e)?;
        }
        w.end(head)
    }

    #[test]
    fn the_canonical_bytes_are_exactly_as_documented() {
        let e = Entry {
            seq: 1,
            ms: 2,
            who: "a".into(),
            from: "bc".into(),
            action: "login".into(),
            rid: String::new(),
            what: "{}".into(),
            prev: String::new(),
            hash: String::new(),
        };
        let mut want = b"callrec-audit-1\n".to_vec();
        want.extend([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
        want.extend([0, 0, 0, 1, b'a', 0, 0, 0, 2, b'b', b'c', 0, 0, 0, 5]);
        want.extend(b"login");
        want.extend([0, 0, 0, 0, 0, 0, 0, 2, b'{', b'}']);
        assert_eq!(canonical(&e), want);
        // SHA-256 of 32 zero bytes then those bytes, as `sha256sum` gives it.
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(&want);
        let want_hash: [u8; 32] = h.finalize().into();
        assert_eq!(link(&ZERO, &e), want_hash);
        // A field's bytes cannot slide into the next one: the lengths tell them apart.
        let mut moved = e.clone();
        moved.who = "ab".into();
        moved.from = "c".into();
        assert_ne!(canonical(&moved), canonical(&e));
    }

    #[test]
    fn hex_goes_both_ways_and_refuses_what_is_not_64_lower_case_digits() {
        let b: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(unhex(&hex(&b)), Some(b));
        assert_eq!(unhex(&hex(&b).to_uppercase()), None);
        assert_eq!(unhex("00"), None);
        assert_eq!(unhex(&"g".repeat(64)), None);
    }

    #[test]
    fn an_intact_trail_passes_and_an_empty_one_too() {
        let t = trail(5);
        assert_eq!(check(&t, (5, &t[4].hash)), Ok(()));
        assert_eq!(check(&[], (0, &hex(&ZERO))), Ok(()));
    }

    #[test]
    fn an_edit_of_any_field_or_of_the_hash_names_its_entry() {
        let t = trail(5);
        let head = (5, t[4].hash.as_str());
        type Edit = fn(&mut Entry);
        let edits: [Edit; 8] = [
            |e| e.who = "someone else".into(),
            |e| e.from = "198.51.100.1".into(),
            |e| e.action = "login".into(),
            |e| e.rid = "x".into(),
            |e| e.what = "{}".into(),
            |e| e.ms += 1,
            |e| e.hash = hex(&ZERO),
            |e| e.hash = "not hex".into(),
        ];
        for edit in edits {
            let mut bad = t.clone();
            edit(&mut bad[2]);
            assert_eq!(check(&bad, head), Err(Break::Edited { seq: 3 }));
        }
    }

    #[test]
    fn a_removal_is_a_gap_named_by_its_numbers_even_at_the_end() {
        let t = trail(6);
        let head = (6, t[5].hash.as_str());
        let mut bad = t.clone();
        bad.remove(2);
        assert_eq!(check(&bad, head), Err(Break::Removed { from: 3, to: 3 }));
        bad.remove(2);
        assert_eq!(check(&bad, head), Err(Break::Removed { from: 3, to: 4 }));
        assert_eq!(check(&t[1..], head), Err(Break::Removed { from: 1, to: 1 }));
        assert_eq!(check(&t[..4], head), Err(Break::Removed { from: 5, to: 6 }));
    }

    #[test]
    fn entries_moved_or_a_forged_one_in_place_of_another_are_found() {
        let t = trail(5);
        let head = (5, t[4].hash.as_str());
        // Entry 3 replaced by one made up and hashed as the algorithm says, after entry 2:
        // entry 3 itself is consistent, entry 4 no longer follows it.
        let mut bad = t.clone();
        let forged = next_entry((2, &unhex(&t[1].hash).unwrap()), entry(99));
        bad[2] = forged;
        assert_eq!(check(&bad, head), Err(Break::Relinked { seq: 4 }));
        // Two entries' numbers swapped.
        let mut bad = t.clone();
        bad.swap(1, 2);
        bad[1].seq = 2;
        bad[2].seq = 3;
        assert_eq!(check(&bad, head), Err(Break::Edited { seq: 2 }));
        // An entry re-hashed whole at another place (its seq renumbered, its hash recomputed
        // from its old prev): whole, but linked to the wrong one.
        let mut bad = t.clone();
        let mut moved = t[3].clone();
        moved.seq = 3;
        moved.hash = hex(&link(&unhex(&moved.prev).unwrap(), &moved));
        bad[2] = moved;
        assert_eq!(check(&bad, head), Err(Break::Relinked { seq: 3 }));
    }

    #[test]
    fn entries_beyond_the_head_are_forged_and_a_wrong_head_is_said() {
        let t = trail(5);
        assert_eq!(
            check(&t, (3, &t[2].hash)),
            Err(Break::Beyond { head: 3, last: 5 })
        );
        assert!(matches!(check(&t, (5, &t[3].hash)), Err(Break::Head(_))));
    }
}
