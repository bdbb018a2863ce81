//! The trail as CSV (RFC 4180, safe to open in a spreadsheet) or as JSON, one object per entry.

use super::chain::Entry;
use serde_json::json;

/// The CSV's header row.
pub const CSV_HEADER: &str = "seq,time_utc,ms,who,from,action,rid,what,prev,hash\r\n";

/// One entry as one CSV record (ending in CRLF). Every field is quoted if it holds a comma, a
/// quote, CR or LF (quotes doubled); a field that a spreadsheet would read as a formula (it
/// starts with `=`, `+`, `-`, `@`, tab or CR) gets a `'` in front first.
pub fn csv_record(e: &Entry) -> String {
    let fields = [
        e.seq.to_string(),
        utc_text(e.ms),
        e.ms.to_string(),
        e.who.clone(),
        e.from.clone(),
        e.action.clone(),
        e.rid.clone(),
        e.what.clone(),
        e.prev.clone(),
        e.hash.clone(),
    ];
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // The numbers (seq, ms) are the server's own: never hostile, and `-` of a time before
        // 1970 is a number a spreadsheet should see as one.
        let guard = i != 0 && i != 2;
        out.push_str(&csv_field(f, guard));
    }
    out.push_str("\r\n");
    out
}

fn csv_field(f: &str, guard: bool) -> String {
    let mut f = f.to_string();
    if guard && f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        f.insert(0, '\'');
    }
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

/// One entry as a JSON object; `what` is the stored JSON itself (or its text, if it is not
/// JSON: an entry edited by hand).
pub fn json_value(e: &Entry) -> serde_json::Value {
    let what = serde_json::from_str::<serde_json::Value>(&e.what)
        .unwrap_or_else(|_| serde_json::Value::String(e.what.clone()));
    json!({
        "seq": e.seq,
        "time_utc": utc_text(e.ms),
        "ms": e.ms,
        "who": e.who,
        "from": e.from,
        "action": e.action,
        "rid": e.rid,
        "what": what,
        "prev": e.prev,
        "hash": e.hash,
    })
}

/// Unix ms as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, proleptic Gregorian).
pub fn utc_text(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let (y, m, d) = civil_of_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (the well-known era arithmetic).
fn civil_of_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(who: &str, what: &str) -> Entry {
        Entry {
            seq: 7,
            ms: 1_764_806_400_123,
            who: who.into(),
            from: "192.0.2.7".into(),
            action: "search".into(),
            rid: String::new(),
            what: what.into(),
            prev: "0".repeat(64),
            hash: "1".repeat(64),
        }
    }

    /// A CSV reader as RFC 4180 says, to read back what was written.
    fn parse_csv(text: &str) -> Vec<Vec<String>> {
        let mut rows = vec![];
        let mut row = vec![];
        let mut field = String::new();
        let mut chars = text.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        rows
    }

    #[test]
    fn hostile_fields_come_back_whole_and_never_as_formulas() {
        let hostile = [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "a,b",
            "say \"hi\"",
            "two\r\nlines",
            "plain",
        ];
        for who in hostile {
            let e = entry(who, "{\"q\":\"=1,\\\"x\\\"\"}");
            let text = format!("{CSV_HEADER}{}", csv_record(&e));
            let rows = parse_csv(&text);
            assert_eq!(rows.len(), 2, "{who:?}");
            assert_eq!(rows[0].len(), 10);
            let got = &rows[1][3];
            if who.starts_with(['=', '+', '-', '@', '\t']) {
                assert_eq!(got, &format!("'{who}"));
            } else {
                assert_eq!(got, who);
            }
            assert_eq!(rows[1][7], e.what);
            assert_eq!(rows[1][0], "7");
            assert_eq!(rows[1][1], "2025-12-04T00:00:00.123Z");
        }
    }

    #[test]
    fn json_keeps_what_as_json_and_every_field() {
        let e = entry("anna\u{0}\"", "{\"number\":\"+49\"}");
        let v = json_value(&e);
        assert_eq!(v["who"], "anna\u{0}\"");
        assert_eq!(v["what"]["number"], "+49");
        let back: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
        assert_eq!(back, v);
        assert_eq!(json_value(&entry("a", "not json"))["what"], "not json");
    }

    #[test]
    fn utc_text_is_right_around_the_calendar_edges() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_text(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_text(4_102_444_799_000), "2099-12-31T23:59:59.000Z");
    }
}
