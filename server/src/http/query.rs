//! The query string of the listing, parsed into a search. Percent-decoded with the record
//! protocol's decoder (`+` is a space); a bad escape, date, count or choice is the client's
//! fault (400). Unknown keys are ignored; of duplicate keys the first counts. No I/O: local
//! times become Unix times through the caller's conversion ([`Search::filter`]).

use crate::catalog::filter::{Cursor, Filter, NumberMatch, Order, PageAsk};
use crate::integrity::Integrity;
use crate::rid::{is_day, Rid};
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_core::percent;
use callrec_core::record_file::LocalTime;
use core::fmt;
use core::fmt::Write;

/// The longest `number` worth searching for (the longest number the server accepts).
pub const MAX_NUMBER: usize = 64;
/// The longest text searched for in names, devices, groups and stop reasons (an owner: the
/// longest the registry keeps, `crate::devices::MAX_OWNER`).
pub const MAX_TEXT: usize = 128;

/// A local date and time from the query: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or with `:SS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub time: LocalTime,
    /// Only a date was given.
    pub date_only: bool,
}

/// What the client searches for and which part of the answer it wants; empty fields mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// In the remote or the local number.
    pub number: String,
    pub number_match: NumberMatch,
    /// In the remote or the local name, case ignored (any script).
    pub name: String,
    /// A MAC in any spelling (or a device exactly).
    pub device: String,
    /// The device's owner in the registry when the session started: the whole owner, case
    /// ignored.
    pub owner: String,
    /// The device's group in the registry when the session started, exactly.
    pub group: String,
    pub dir: Option<Direction>,
    pub codec: Option<Codec>,
    /// `YYYY-MM-DD`: started on that local day.
    pub date: Option<String>,
    /// Started at or after (a date alone: its start).
    pub from: Option<When>,
    /// Started before (a date alone: up to its end).
    pub to: Option<When>,
    /// Seconds, inclusive.
    pub min_duration: Option<u64>,
    pub max_duration: Option<u64>,
    pub stop_reason: String,
    /// The files' state after their last checks.
    pub integrity: Option<Integrity>,
    pub order: Order,
    /// The page after this recording.
    pub cursor: Option<Cursor>,
    /// Matches to skip (after the cursor).
    pub offset: usize,
    /// Matches to return at most; `None`: the route's default.
    pub limit: Option<usize>,
}

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    Encoding,
    /// A date or time that is not one (the key).
    Date(&'static str),
    /// A text longer than its limit (the key).
    TooLong(&'static str),
    /// Not a whole number (the key).
    Count(&'static str),
    /// Not one of the values the key takes (the key and those values).
    Choice(&'static str, &'static str),
    /// A cursor this server did not make.
    Cursor,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Encoding => f.write_str("bad percent-encoding in the query"),
            QueryError::Date(key) => {
                write!(f, "{key}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]")
            }
            QueryError::TooLong(key) => write!(f, "{key}: too long"),
            QueryError::Count(key) => write!(f, "{key}: expected a whole number"),
            QueryError::Choice(key, values) => write!(f, "{key}: expected {values}"),
            QueryError::Cursor => f.write_str("cursor: not a cursor of this server"),
        }
    }
}

const KEYS: [&str; 19] = [
    "number",
    "number_match",
    "name",
    "device",
    "owner",
    "group",
    "dir",
    "codec",
    "date",
    "from",
    "to",
    "min_duration",
    "max_duration",
    "stop_reason",
    "integrity",
    "order",
    "cursor",
    "offset",
    "limit",
];

impl Search {
    /// Parses the query string (without the `?`); `None` is no query.
    pub fn parse(query: Option<&str>) -> Result<Search, QueryError> {
        let mut s = Search::default();
        let mut seen = [false; KEYS.len()];
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let mut key = String::new();
            percent::decode(k.as_bytes(), &mut key).map_err(|_| QueryError::Encoding)?;
            let mut value = String::new();
            percent::decode(v.as_bytes(), &mut value).map_err(|_| QueryError::Encoding)?;
            let Some(slot) = KEYS.iter().position(|k| *k == key) else {
                continue;
            };
            if std::mem::replace(&mut seen[slot], true) {
                continue;
            }
            let v = value.trim();
            if v.is_empty() {
                continue;
            }
            let key = KEYS[slot];
            match key {
                "number" => s.number = text(v, key, MAX_NUMBER)?,
                "number_match" => {
                    s.number_match = match v {
                        "substring" => NumberMatch::Substring,
                        "prefix" => NumberMatch::Prefix,
                        _ => return Err(QueryError::Choice(key, "substring or prefix")),
                    }
                }
                "name" => s.name = text(v, key, MAX_TEXT)?,
                "device" => s.device = text(v, key, MAX_TEXT)?,
                "owner" => s.owner = text(v, key, crate::devices::MAX_OWNER)?,
                "group" => s.group = text(v, key, MAX_TEXT)?,
                "dir" => {
                    s.dir =
                        Some(Direction::from_name(v).ok_or(QueryError::Choice(key, "in or out"))?)
                }
                "codec" => {
                    s.codec = Some(
                        Codec::from_name(v).ok_or(QueryError::Choice(key, "PCMA, PCMU or G722"))?,
                    )
                }
                "date" if is_day(v) => s.date = Some(v.to_owned()),
                "date" => return Err(QueryError::Date(key)),
                "from" => s.from = Some(when(v).ok_or(QueryError::Date(key))?),
                "to" => s.to = Some(when(v).ok_or(QueryError::Date(key))?),
                "min_duration" => s.min_duration = Some(count(v, key)? as u64),
                "max_duration" => s.max_duration = Some(count(v, key)? as u64),
                "stop_reason" => s.stop_reason = text(v, key, MAX_TEXT)?,
                "integrity" => {
                    s.integrity = Some(Integrity::from_name(v).ok_or(QueryError::Choice(
                        key,
                        "verified, unchecked, no_digest, missing or mismatch",
                    ))?)
                }
                "order" => {
                    s.order = match v {
                        "newest" => Order::NewestFirst,
                        "oldest" => Order::OldestFirst,
                        _ => return Err(QueryError::Choice(key, "newest or oldest")),
                    }
                }
                "cursor" => {
                    s.cursor = Some(
                        Cursor::parse(v, |r| Rid::parse(r).is_some()).ok_or(QueryError::Cursor)?,
                    )
                }
                "offset" => s.offset = count(v, key)?,
                _ => s.limit = Some(count(v, key)?),
            }
        }
        Ok(s)
    }

    /// The catalog's filter; `unix_ms` turns a local time into Unix ms (`None`: it does not
    /// exist, as in a spring-forward gap, or is out of range).
    pub fn filter(
        &self,
        unix_ms: impl Fn(&LocalTime) -> Option<u64>,
    ) -> Result<Filter, QueryError> {
        let start_of = |w: &When, key| unix_ms(&w.time).ok_or(QueryError::Date(key));
        let mut from = self
            .from
            .as_ref()
            .map(|w| start_of(w, "from"))
            .transpose()?;
        let mut to = match &self.to {
            // A date alone is the whole day: up to the next day's start.
            Some(w) if w.date_only => Some(start_of(&next_day(w.time), "to")?),
            Some(w) => Some(start_of(w, "to")?),
            None => None,
        };
        if let Some(day) = self.date.as_deref().and_then(when) {
            let (lo, hi) = (
                start_of(&day, "date")?,
                start_of(&next_day(day.time), "date")?,
            );
            from = Some(from.map_or(lo, |f| f.max(lo)));
            to = Some(to.map_or(hi, |t| t.min(hi)));
        }
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(Filter {
            number: some(&self.number).map(|n| (n, self.number_match)),
            name: some(&self.name),
            device: some(&self.device),
            owner: some(&self.owner),
            group: some(&self.group),
            dir: self.dir,
            codec: self.codec,
            from_ms: from,
            to_ms: to,
            min_duration_ms: self.min_duration.map(|s| s.saturating_mul(1000)),
            max_duration_ms: self
                .max_duration
                .map(|s| s.saturating_mul(1000).saturating_add(999)),
            stop_reason: some(&self.stop_reason),
            integrity: self.integrity,
            scope: None,
            order: self.order,
        })
    }

    /// The page the search asks for, at most `limit` (the route's default if not given).
    pub fn page(&self, default_limit: usize, max_limit: usize) -> PageAsk {
        PageAsk {
            after: self.cursor.clone(),
            offset: self.offset,
            limit: self.limit.unwrap_or(default_limit).clamp(1, max_limit),
        }
    }

    /// The query string of the same search (without cursor, offset and limit), each value
    /// percent-encoded: for links to other pages.
    pub fn query_string(&self) -> String {
        let mut q = String::new();
        let mut add = |key: &str, value: &str| {
            if !value.is_empty() {
                q.push(if q.is_empty() { '?' } else { '&' });
                q.push_str(key);
                q.push('=');
                percent::encode(value, &mut q);
            }
        };
        add("number", &self.number);
        if self.number_match == NumberMatch::Prefix {
            add("number_match", "prefix");
        }
        add("name", &self.name);
        add("device", &self.device);
        add("owner", &self.owner);
        add("group", &self.group);
        add("dir", self.dir.map_or("", |d| d.name()));
        add("codec", self.codec.map_or("", |c| c.name()));
        add("date", self.date.as_deref().unwrap_or(""));
        add("from", &self.from.map(when_text).unwrap_or_default());
        add("to", &self.to.map(when_text).unwrap_or_default());
        add(
            "min_duration",
            &self.min_duration.map(|v| v.to_string()).unwrap_or_default(),
        );
        add(
            "max_duration",
            &self.max_duration.map(|v| v.to_string()).unwrap_or_default(),
        );
        add("stop_reason", &self.stop_reason);
        add("integrity", self.integrity.map_or("", |i| i.name()));
        if self.order == Order::OldestFirst {
            add("order", "oldest");
        }
        q
    }
}

fn text(v: &str, key: &'static str, max: usize) -> Result<String, QueryError> {
    if v.chars().count() > max {
        return Err(QueryError::TooLong(key));
    }
    Ok(v.to_owned())
}

/// A count of at most 9 digits.
fn count(value: &str, key: &'static str) -> Result<usize, QueryError> {
    if value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::Count(key));
    }
    value.parse().map_err(|_| QueryError::Count(key))
}

/// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS` (a space for the `T` too).
pub(crate) fn when(v: &str) -> Option<When> {
    let (date, time) = match v.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (v, None),
    };
    if !is_day(date) {
        return None;
    }
    let n = |s: &str| s.parse::<u16>().ok();
    let mut t = LocalTime {
        year: n(&date[0..4])?,
        month: n(&date[5..7])? as u8,
        day: n(&date[8..10])? as u8,
        ..LocalTime::default()
    };
    if let Some(time) = time {
        let parts: Vec<&str> = time.split(':').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let (h, m) = (n(parts[0])?, n(parts[1])?);
        let s = parts.get(2).map_or(Some(0), |p| n(p))?;
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        (t.hour, t.minute, t.second) = (h as u8, m as u8, s as u8);
    }
    Some(When {
        time: t,
        date_only: time.is_none(),
    })
}

fn when_text(w: When) -> String {
    let t = w.time;
    let mut s = format!("{:04}-{:02}-{:02}", t.year, t.month, t.day);
    if !w.date_only {
        let _ = write!(s, "T{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
    }
    s
}

/// The same local time a day later (the calendar's next day at midnight).
fn next_day(t: LocalTime) -> When {
    let leap = t.year % 4 == 0 && (t.year % 100 != 0 || t.year % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let last = days[usize::from(t.month.clamp(1, 12)) - 1];
    let (year, month, day) = match (t.day >= last, t.month >= 12) {
        (false, _) => (t.year, t.month, t.day + 1),
        (true, false) => (t.year, t.month + 1, 1),
        (true, true) => (t.year + 1, 1, 1),
    };
    When {
        time: LocalTime {
            year,
            month,
            day,
            ..LocalTime::default()
        },
        date_only: true,
    }
}
