//! The one port parser: a UDP or TCP port as the record protocol, the action URLs, the
//! simulator's scripts and the command lines write it.

/// A port number: 1 to 5 ASCII digits (leading zeros allowed), 1..=65535; no sign, no spaces.
pub fn parse(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = s.parse().ok()?;
    u16::try_from(n).ok().filter(|&p| p != 0)
}

/// A range of ports `LOW-HIGH`, both ends included, `LOW <= HIGH`.
pub fn parse_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = s.split_once('-')?;
    let (lo, hi) = (parse(lo)?, parse(hi)?);
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_1_to_65535_in_plain_digits() {
        assert_eq!(parse("1"), Some(1));
        assert_eq!(parse("05060"), Some(5060));
        assert_eq!(parse("65535"), Some(65535));
        for bad in [
            "", "0", "00000", "65536", "99999", "123456", "+80", "-1", " 80", "80 ", "8O",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_run_low_to_high() {
        assert_eq!(parse_range("40000-49999"), Some((40_000, 49_999)));
        assert_eq!(parse_range("5-5"), Some((5, 5)));
        for bad in ["", "5", "6-5", "0-5", "1-65536", "1--2", "1-2-3"] {
            assert_eq!(parse_range(bad), None, "{bad:?}");
        }
    }
}
