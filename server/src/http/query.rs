//! The query string of the listing: `number`, `date`, `offset`, `limit`. Percent-decoded with the
//! record protocol's decoder (`+` is a space); a bad escape, a bad date or a bad count is the
//! client's fault (400). Unknown keys are ignored; of duplicate keys the first counts.

use super::rid::is_day;
use callrec_core::percent;
use core::fmt;

/// The longest `number` worth searching for (the longest number the server accepts).
pub const MAX_NUMBER: usize = 64;

/// What the client searches for and which part of the answer it wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// A substring of the remote or the local number (ASCII case ignored); empty: any.
    pub number: String,
    /// `YYYY-MM-DD`: the server's local date of the start; `None`: any.
    pub date: Option<String>,
    /// Matches to skip (newest first).
    pub offset: usize,
    /// Matches to return at most; `None`: the route's default.
    pub limit: Option<usize>,
}

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// A `%` not followed by two hex digits, or bytes that are not UTF-8.
    Encoding,
    /// `date` is not `YYYY-MM-DD`.
    Date,
    /// `number` is longer than [`MAX_NUMBER`].
    Number,
    /// `offset` or `limit` is not a count.
    Count(&'static str),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Encoding => f.write_str("bad percent-encoding in the query"),
            QueryError::Date => f.write_str("date: expected YYYY-MM-DD"),
            QueryError::Number => write!(f, "number: at most {MAX_NUMBER} characters"),
            QueryError::Count(key) => write!(f, "{key}: expected a whole number"),
        }
    }
}

impl Search {
    /// Parses the query string (without the `?`); `None` is no query.
    pub fn parse(query: Option<&str>) -> Result<Search, QueryError> {
        let mut search = Search::default();
        let mut seen = [false; 4];
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let mut key = String::new();
            percent::decode(k.as_bytes(), &mut key).map_err(|_| QueryError::Encoding)?;
            let mut value = String::new();
            percent::decode(v.as_bytes(), &mut value).map_err(|_| QueryError::Encoding)?;
            let slot = match key.as_str() {
                "number" => 0,
                "date" => 1,
                "offset" => 2,
                "limit" => 3,
                _ => continue,
            };
            if std::mem::replace(&mut seen[slot], true) {
                continue;
            }
            let value = value.trim();
            match slot {
                0 if value.chars().count() > MAX_NUMBER => return Err(QueryError::Number),
                0 => search.number = value.to_owned(),
                1 if value.is_empty() => {}
                1 if is_day(value) => search.date = Some(value.to_owned()),
                1 => return Err(QueryError::Date),
                2 => search.offset = count(value, "offset")?.unwrap_or(0),
                _ => search.limit = count(value, "limit")?,
            }
        }
        Ok(search)
    }

    /// Whether a recording with these numbers, started on `day`, matches.
    pub fn matches(&self, day: &str, remote_number: &str, local_number: &str) -> bool {
        if self.date.as_deref().is_some_and(|d| d != day) {
            return false;
        }
        self.number.is_empty()
            || contains_ignore_case(remote_number, &self.number)
            || contains_ignore_case(local_number, &self.number)
    }
}

/// A count of at most 9 digits; empty is `None`.
fn count(value: &str, key: &'static str) -> Result<Option<usize>, QueryError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::Count(key));
    }
    value.parse().map(Some).map_err(|_| QueryError::Count(key))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}
