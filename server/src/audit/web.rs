//! The trail as the web side writes and serves it, without I/O: the entry of a request (who and
//! from where, out of its [`Principal`]), a search's filters as `what`, and the query and the
//! answer of `GET /api/audit` and `GET /api/recordings/RID/audit`.

use super::chain::Entry;
use super::export;
use super::store::Query;
use super::{Action, Event};
use crate::auth::{Principal, Who};
use crate::http::query::Search;
use callrec_core::percent;
use serde_json::{json, Map, Value};

/// Entries per answer when the query does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// Most entries per JSON answer.
pub const MAX_LIMIT: usize = 1000;
/// Most entries per CSV answer (a bigger export pages with `after`, or runs on the console).
pub const MAX_CSV: usize = 10_000;

/// `who` of a principal: the user's name, or `token:ID`.
pub fn who_of(p: &Principal) -> String {
    match &p.who {
        Who::User(name) => name.clone(),
        Who::Token(id) => format!("token:{id}"),
    }
}

/// The entry of `action` by `p`.
pub fn event(p: &Principal, action: Action, rid: &str, what: Value) -> Event {
    Event {
        who: who_of(p),
        from: p.from.to_string(),
        action,
        rid: rid.to_string(),
        what,
    }
}

/// A search's filters and page as `what`: each filter given, by its query key, as the search
/// writes it back (`Search::query_string`), and the page asked for.
pub fn search_what(s: &Search) -> Value {
    let mut filters = Map::new();
    let q = s.query_string();
    for pair in q
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let mut value = String::new();
        if percent::decode(v.as_bytes(), &mut value).is_ok() {
            filters.insert(k.to_string(), Value::String(value));
        }
    }
    let mut what = json!({ "filters": filters });
    if let Some(c) = &s.cursor {
        what["cursor"] = Value::String(c.to_string());
    }
    if s.offset > 0 {
        what["offset"] = json!(s.offset);
    }
    if let Some(l) = s.limit {
        what["limit"] = json!(l);
    }
    what
}

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// `GET /api/audit?…` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub query: Query,
    pub limit: usize,
    pub format: Format,
}

/// Parses the query string of `GET /api/audit`: `since`, `until` (`YYYY-MM-DD[THH:MM[:SS]]`,
/// the server's local time; a date alone for `until`: up to its end), `action`, `who`, `rid`,
/// `after` (the cursor: a seq), `limit`, `format` (`json` or `csv`). `unix_ms` turns a local
/// time into Unix ms. Unknown keys are ignored; of duplicates the first counts.
pub fn parse(
    query: Option<&str>,
    unix_ms: impl Fn(&callrec_core::record_file::LocalTime) -> Option<i64>,
) -> Result<Ask, String> {
    let mut ask = Ask {
        query: Query::default(),
        limit: DEFAULT_LIMIT,
        format: Format::Json,
    };
    let mut limit = None;
    let mut seen: Vec<String> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (mut key, mut value) = (String::new(), String::new());
        percent::decode(k.as_bytes(), &mut key).map_err(|_| "a bad %-escape".to_string())?;
        percent::decode(v.as_bytes(), &mut value).map_err(|_| "a bad %-escape".to_string())?;
        if seen.contains(&key) || seen.len() > 16 {
            continue;
        }
        seen.push(key.clone());
        let v = value.trim();
        if v.is_empty() {
            continue;
        }
        let short = |max: usize| {
            if v.chars().count() > max {
                Err(format!("{key}: at most {max} characters"))
            } else {
                Ok(v.to_string())
            }
        };
        match key.as_str() {
            "since" | "until" => {
                let bad = || format!("{key}: YYYY-MM-DD[THH:MM[:SS]]");
                let w = crate::http::query::when(v).ok_or_else(bad)?;
                let t = if key == "until" && w.date_only {
                    next_day(w.time)
                } else {
                    w.time
                };
                let ms = unix_ms(&t).ok_or_else(bad)?;
                if key == "since" {
                    ask.query.since_ms = Some(ms);
                } else {
                    ask.query.until_ms = Some(ms);
                }
            }
            "action" => {
                let a = super::Action::parse(v)
                    .ok_or_else(|| format!("action: one of {}", super::ACTIONS.join(", ")))?;
                ask.query.action = Some(a.code().to_string());
            }
            "who" => ask.query.who = Some(short(256)?),
            "rid" => ask.query.rid = Some(short(128)?),
            "after" => ask.query.after = digits(v).ok_or("after: a sequence number")?,
            "limit" => limit = Some(digits(v).ok_or("limit: a number")?),
            "format" => {
                ask.format = match v {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    _ => return Err("format: json or csv".into()),
                }
            }
            _ => {}
        }
    }
    let max = match ask.format {
        Format::Json => MAX_LIMIT,
        Format::Csv => MAX_CSV,
    };
    ask.limit = match (limit, ask.format) {
        (Some(l), _) => (l as usize).clamp(1, max),
        (None, Format::Json) => DEFAULT_LIMIT,
        (None, Format::Csv) => MAX_CSV,
    };
    Ok(ask)
}

fn digits(v: &str) -> Option<u64> {
    (v.len() <= 18 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

fn next_day(t: callrec_core::record_file::LocalTime) -> callrec_core::record_file::LocalTime {
    // mktime normalises day 32 into the next month.
    callrec_core::record_file::LocalTime {
        day: t.day + 1,
        hour: 0,
        minute: 0,
        second: 0,
        ..t
    }
}

/// A page of entries as JSON: `{"entries": […], "next": SEQ or null}`. `entries` holds up to
/// `limit + 1` read entries: one more than the page says there is a next page.
pub fn page_json(mut entries: Vec<Entry>, limit: usize) -> Value {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let next = if more {
        entries.last().map(|e| json!(e.seq)).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    json!({
        "entries": entries.iter().map(export::json_value).collect::<Vec<_>>(),
        "next": next,
    })
}

/// A page of entries as CSV (with its header row), and the seq to continue after if there
/// are more.
pub fn page_csv(mut entries: Vec<Entry>, limit: usize) -> (String, Option<u64>) {
    let more = entries.len() > limit;
    entries.truncate(limit);
    let mut out = String::from(export::CSV_HEADER);
    for e in &entries {
        out.push_str(&export::csv_record(e));
    }
    let next = if more {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    (out, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Roles, Scope, Via};

    fn local_ms(t: &callrec_core::record_file::LocalTime) -> Option<i64> {
        // A fixed calendar for the test: days of December 2026 only.
        (t.year == 2026 && t.month == 12 && (1..=31).contains(&t.day))
            .then(|| i64::from(t.day) * 86_400_000 + i64::from(t.hour) * 3_600_000)
    }

    #[test]
    fn a_principal_is_recorded_by_name_or_token_and_address() {
        let p = Principal {
            who: Who::User("anna".into()),
            roles: Roles::default(),
            scope: Scope::default(),
            via: Via::Token,
            from: "2001:db8::7".parse().unwrap(),
        };
        let e = event(&p, Action::LISTEN, "r1", json!({}));
        assert_eq!((e.who.as_str(), e.from.as_str()), ("anna", "2001:db8::7"));
        let t = Principal {
            who: Who::Token("crt_ab12".into()),
            ..p
        };
        assert_eq!(who_of(&t), "token:crt_ab12");
    }

    #[test]
    fn a_search_is_recorded_by_its_filters() {
        let s = Search::parse(Some(
            "number=%2B49&name=Zhang+San&dir=in&limit=20&from=2026-12-01",
        ))
        .unwrap();
        let w = search_what(&s);
        assert_eq!(w["filters"]["number"], "+49");
        assert_eq!(w["filters"]["name"], "Zhang San");
        assert_eq!(w["filters"]["dir"], "in");
        assert_eq!(w["filters"]["from"], "2026-12-01");
        assert_eq!(w["limit"], 20);
        assert_eq!(search_what(&Search::default()), json!({ "filters": {} }));
    }

    #[test]
    fn the_audit_query_is_read_strictly() {
        let a = parse(
            Some(
                "since=2026-12-02&until=2026-12-03&action=listen&who=anna&rid=x&after=7&limit=5000",
            ),
            local_ms,
        )
        .unwrap();
        assert_eq!(a.query.since_ms, Some(2 * 86_400_000));
        assert_eq!(a.query.until_ms, Some(4 * 86_400_000));
        assert_eq!(a.query.action.as_deref(), Some("listen"));
        assert_eq!(a.query.who.as_deref(), Some("anna"));
        assert_eq!(a.query.after, 7);
        assert_eq!((a.limit, a.format), (MAX_LIMIT, Format::Json));
        let a = parse(Some("format=csv"), local_ms).unwrap();
        assert_eq!((a.limit, a.format), (MAX_CSV, Format::Csv));
        assert_eq!(parse(None, local_ms).unwrap().limit, DEFAULT_LIMIT);
        for bad in [
            "since=yesterday",
            "since=2027-01-01",
            "action=nap",
            "after=-1",
            "limit=x",
            "format=xml",
            "who=%ZZ",
        ] {
            assert!(parse(Some(bad), local_ms).is_err(), "{bad}");
        }
        let long = format!("who={}", "a".repeat(257));
        assert!(parse(Some(&long), local_ms).is_err());
    }

    #[test]
    fn a_page_says_where_the_next_starts() {
        let e = |seq| Entry {
            seq,
            ms: 0,
            who: "=x".into(),
            from: String::new(),
            action: "search".into(),
            rid: String::new(),
            what: "{}".into(),
            prev: String::new(),
            hash: String::new(),
        };
        let v = page_json(vec![e(1), e(2), e(3)], 2);
        assert_eq!(v["entries"].as_array().unwrap().len(), 2);
        assert_eq!(v["next"], 2);
        assert_eq!(page_json(vec![e(1)], 2)["next"], Value::Null);
        let (csv, next) = page_csv(vec![e(4), e(5)], 1);
        assert_eq!(next, Some(4));
        assert_eq!(csv.lines().count(), 2);
        assert!(csv.contains(",'=x,"));
    }
}
