//! UTC calendar dates and RFC 3339 times from Unix time, with no time zone database and no
//! clock: the log lines' time stamps and a certificate's validity dates.

use core::fmt;

/// The UTC date (year, month 1-12, day 1-31) of `unix_secs` (proleptic Gregorian calendar).
pub fn civil_of_unix(unix_secs: i64) -> (i64, u8, u8) {
    civil_of_days(unix_secs.div_euclid(86_400))
}

/// The date of day `days` since 1970-01-01 (Howard Hinnant's days-to-civil algorithm).
pub fn civil_of_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A Unix time in milliseconds shown as RFC 3339 UTC with milliseconds:
/// `2026-12-03T14:55:39.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Ms(pub i64);

impl fmt::Display for Rfc3339Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000);
        let (y, mo, d) = civil_of_unix(secs);
        let s = secs.rem_euclid(86_400);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_around_the_epoch_and_leap_days() {
        assert_eq!(civil_of_days(0), (1970, 1, 1));
        assert_eq!(civil_of_days(-1), (1969, 12, 31));
        assert_eq!(civil_of_unix(951_782_400), (2000, 2, 29));
        assert_eq!(civil_of_unix(4_107_542_400), (2100, 3, 1));
        assert_eq!(civil_of_unix(1_709_164_800), (2024, 2, 29));
    }

    #[test]
    fn every_day_follows_the_one_before() {
        // 1900 to 2200: each day is the next of the one before, months of the right length.
        let mut prev = civil_of_days(-25_567);
        assert_eq!(prev, (1900, 1, 1));
        for days in -25_566..84_000 {
            let cur = civil_of_days(days);
            let next_of_prev = if cur.2 == 1 {
                (cur.1 == 1 && prev == (cur.0 - 1, 12, 31))
                    || (cur.1 > 1 && prev.0 == cur.0 && prev.1 == cur.1 - 1)
            } else {
                prev == (cur.0, cur.1, cur.2 - 1)
            };
            assert!(next_of_prev, "{prev:?} then {cur:?}");
            prev = cur;
        }
    }

    #[test]
    fn rfc3339_with_milliseconds() {
        assert_eq!(Rfc3339Ms(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Rfc3339Ms(1_796_309_739_123).to_string(),
            "2026-12-03T14:55:39.123Z"
        );
        assert_eq!(Rfc3339Ms(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }
}
