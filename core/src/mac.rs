//! A phone's MAC address as the record server keys its device registry and its per-device
//! session limit: read strictly from the spellings phones and people use, written one way.
//!
//! Accepted: 12 hex digits (`001565AABBCC`, what the phone agent sends), six pairs joined by
//! one separator throughout, `:` or `-` (`00:15:65:aa:bb:cc`, `00-15-65-AA-BB-CC`), or three
//! groups of four joined by `.` (`0015.65aa.bbcc`); hex digits of either case. Nothing else:
//! no spaces, no mixed or missing separators, no other lengths. Written as 12 upper-case hex
//! digits.

use core::fmt;

/// A MAC address (six bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac([u8; 6]);

impl Mac {
    /// The address `text` spells, or `None` if it is not one of the accepted spellings.
    pub fn parse(text: &str) -> Option<Mac> {
        let b = text.as_bytes();
        let digits: Vec<u8> = match b.len() {
            12 => b.to_vec(),
            17 => {
                let sep = b[2];
                if !matches!(sep, b':' | b'-') {
                    return None;
                }
                let mut d = Vec::with_capacity(12);
                for (i, &c) in b.iter().enumerate() {
                    if i % 3 == 2 {
                        if c != sep {
                            return None;
                        }
                    } else {
                        d.push(c);
                    }
                }
                d
            }
            14 => {
                let mut d = Vec::with_capacity(12);
                for (i, &c) in b.iter().enumerate() {
                    if i % 5 == 4 {
                        if c != b'.' {
                            return None;
                        }
                    } else {
                        d.push(c);
                    }
                }
                d
            }
            _ => return None,
        };
        let mut out = [0u8; 6];
        for (i, pair) in digits.chunks(2).enumerate() {
            out[i] = (hex(pair[0])? << 4) | hex(pair[1])?;
        }
        Some(Mac(out))
    }

    pub fn bytes(&self) -> [u8; 6] {
        self.0
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `001565AABBCC`.
impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Mac;

    #[test]
    fn every_accepted_spelling_is_one_address_written_one_way() {
        for text in [
            "001565AABBCC",
            "001565aabbcc",
            "00:15:65:aa:bb:cc",
            "00:15:65:AA:BB:CC",
            "00-15-65-Aa-bB-cc",
            "0015.65aa.bbcc",
            "0015.65AA.BBCC",
        ] {
            let mac = Mac::parse(text).unwrap_or_else(|| panic!("{text:?}"));
            assert_eq!(mac.to_string(), "001565AABBCC", "{text:?}");
            assert_eq!(mac.bytes(), [0x00, 0x15, 0x65, 0xAA, 0xBB, 0xCC]);
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for text in [
            "",
            "001565AABBC",
            "001565AABBCCD",
            "001565AABBCG",
            "00:15:65:aa:bb",
            "00:15:65:aa:bb:cc:dd",
            "00:15-65:aa:bb:cc",
            "00-15-65-aa-bb:cc",
            "00.15.65.aa.bb.cc",
            "0015:65aa:bbcc",
            "0015.65aa-bbcc",
            "0:15:65:aa:bb:ccc",
            " 001565AABBCC",
            "001565AABBCC\n",
            "00:15:65:aa:bb:c ",
            "+01565AABBCC",
            "００1565AABBCC",
            "00156５AABBCC",
        ] {
            assert_eq!(Mac::parse(text), None, "{text:?}");
        }
    }
}
