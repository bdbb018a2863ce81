//! The page without JavaScript (`/plain`, the web app's fallback): a search form, and the
//! recordings newest first, each with a player and its downloads. No script, no inline style,
//! nothing from elsewhere (the web app's stylesheet); a table on a desktop, one card per
//! recording on a phone. Every value from a
//! sidecar or the query is HTML-escaped: names come from the phones and are not to be trusted.

use super::query::{Search, When};
use super::recording::{local_text, View};
use crate::catalog::filter::{Cursor, NumberMatch, Order};
use crate::integrity::Integrity;
use core::fmt::Write;

/// The page's head; its stylesheet is the web app's (`web`), its rules under `body.plain`.
fn head() -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Recordings · callrec-server</title>\n\
         <link rel=\"stylesheet\" href=\"{}\">\n</head>\n<body class=\"plain\">\n\
         <h1>Recordings</h1>\n",
        super::web::style_path()
    )
}

/// The page for `rows`, one page of the `total` recordings that match `search`; `next` is
/// where the following page starts.
pub fn render(rows: &[View], search: &Search, total: u64, next: Option<&Cursor>) -> String {
    let mut h = String::with_capacity(8192 + rows.len() * 1024);
    h.push_str(&head());
    form(&mut h, search);
    let _ = if rows.is_empty() {
        writeln!(
            h,
            "<p>No recordings{}.</p>",
            if total > 0 { " here" } else { "" }
        )
    } else {
        writeln!(
            h,
            "<p>{total} recording{}; {} shown, {} first.</p>",
            if total == 1 { "" } else { "s" },
            rows.len(),
            if search.order == Order::OldestFirst {
                "oldest"
            } else {
                "newest"
            },
        )
    };
    if !rows.is_empty() {
        h.push_str(
            "<table>\n<thead><tr><th>Start</th><th>Device</th><th>Owner</th><th>Remote</th><th>Local</th>\
             <th>Dir</th><th>Codec</th><th>Duration</th><th>End</th><th>Integrity</th><th>Listen</th>\
             <th>Download</th></tr></thead>\n<tbody>\n",
        );
        for r in rows {
            row(&mut h, r);
        }
        h.push_str("</tbody>\n</table>\n");
    }
    let query = search.query_string();
    let first = (search.cursor.is_some() || search.offset > 0).then(|| format!("/plain{query}"));
    let more = next.map(|c| {
        let mut link = format!("/plain{query}");
        link.push(if query.is_empty() { '?' } else { '&' });
        let _ = write!(link, "cursor={c}");
        if let Some(limit) = search.limit {
            let _ = write!(link, "&limit={limit}");
        }
        link
    });
    if first.is_some() || more.is_some() {
        h.push_str("<nav>");
        if let Some(l) = first {
            let _ = write!(h, "<a href=\"{}\">« First page</a>", esc(&l));
        }
        if let Some(l) = more {
            let _ = write!(h, "<a href=\"{}\">Next page →</a>", esc(&l));
        }
        h.push_str("</nav>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// The search form, filled with the current search.
fn form(h: &mut String, s: &Search) {
    let input = |h: &mut String, label: &str, name: &str, kind: &str, value: &str, extra: &str| {
        let _ = writeln!(
            h,
            "<label>{label}<input type=\"{kind}\" name=\"{name}\" value=\"{}\"{extra}></label>",
            esc(value)
        );
    };
    let select =
        |h: &mut String, label: &str, name: &str, options: &[(&str, &str)], value: &str| {
            let _ = write!(h, "<label>{label}<select name=\"{name}\">");
            for (v, text) in options {
                let selected = if *v == value { " selected" } else { "" };
                let _ = write!(h, "<option value=\"{v}\"{selected}>{text}</option>");
            }
            h.push_str("</select></label>\n");
        };
    let when = |w: Option<When>| {
        w.map(|w| {
            let t = w.time;
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}",
                t.year, t.month, t.day, t.hour, t.minute
            )
        })
        .unwrap_or_default()
    };
    let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    h.push_str("<form method=\"get\" action=\"/plain\">\n");
    input(
        h,
        "Number",
        "number",
        "search",
        &s.number,
        " inputmode=\"tel\" maxlength=\"64\" placeholder=\"part of a number\"",
    );
    let matching = if s.number_match == NumberMatch::Prefix {
        "prefix"
    } else {
        "substring"
    };
    select(
        h,
        "Match",
        "number_match",
        &[("substring", "anywhere"), ("prefix", "at the start")],
        matching,
    );
    input(h, "Name", "name", "search", &s.name, " maxlength=\"128\"");
    input(
        h,
        "Device",
        "device",
        "search",
        &s.device,
        " maxlength=\"128\" placeholder=\"its MAC\"",
    );
    input(
        h,
        "Owner",
        "owner",
        "search",
        &s.owner,
        " maxlength=\"256\" placeholder=\"the whole owner\"",
    );
    input(
        h,
        "Group",
        "group",
        "search",
        &s.group,
        " maxlength=\"128\"",
    );
    select(
        h,
        "Direction",
        "dir",
        &[("", "any"), ("in", "in"), ("out", "out")],
        s.dir.map_or("", |d| d.name()),
    );
    select(
        h,
        "Codec",
        "codec",
        &[
            ("", "any"),
            ("PCMA", "PCMA"),
            ("PCMU", "PCMU"),
            ("G722", "G.722"),
        ],
        s.codec.map_or("", |c| c.name()),
    );
    input(
        h,
        "Date",
        "date",
        "date",
        s.date.as_deref().unwrap_or(""),
        "",
    );
    input(h, "From", "from", "datetime-local", &when(s.from), "");
    input(h, "To", "to", "datetime-local", &when(s.to), "");
    input(
        h,
        "Min s",
        "min_duration",
        "number",
        &num(s.min_duration),
        " min=\"0\"",
    );
    input(
        h,
        "Max s",
        "max_duration",
        "number",
        &num(s.max_duration),
        " min=\"0\"",
    );
    input(
        h,
        "Ended",
        "stop_reason",
        "search",
        &s.stop_reason,
        " maxlength=\"128\"",
    );
    select(
        h,
        "Integrity",
        "integrity",
        &[
            ("", "any"),
            ("verified", "verified"),
            ("unchecked", "unchecked"),
            ("no_digest", "no digest"),
            ("missing", "missing"),
            ("mismatch", "mismatch"),
        ],
        s.integrity.map_or("", |i| i.name()),
    );
    let order = if s.order == Order::OldestFirst {
        "oldest"
    } else {
        "newest"
    };
    select(
        h,
        "Order",
        "order",
        &[("newest", "newest first"), ("oldest", "oldest first")],
        order,
    );
    h.push_str("<button type=\"submit\">Search</button> <a href=\"/plain\">All</a>\n</form>\n");
}

fn row(h: &mut String, r: &View) {
    let s = &r.sidecar;
    let end = if r.in_progress {
        "<span class=\"live\">in progress</span>".to_owned()
    } else {
        esc(s.stop_reason.as_deref().unwrap_or(""))
    };
    let _ = write!(
        h,
        "<tr>\
         <td data-label=\"Start\" class=\"num\">{}</td>\
         <td data-label=\"Device\">{}</td>\
         <td data-label=\"Owner\">{}<span class=\"sub\">{}</span></td>\
         <td data-label=\"Remote\">{}<span class=\"sub\">{}</span></td>\
         <td data-label=\"Local\">{}<span class=\"sub\">{}</span></td>\
         <td data-label=\"Dir\">{}</td>\
         <td data-label=\"Codec\">{}</td>\
         <td data-label=\"Duration\" class=\"num\">{}</td>\
         <td data-label=\"End\">{end}</td>\
         <td data-label=\"Integrity\">{}</td>\
         <td data-label=\"Listen\"><audio controls preload=\"none\" src=\"{}\"></audio></td>\
         <td data-label=\"Download\" class=\"dl\"><a href=\"{}\" download>WAV</a>",
        esc(&r.start_local),
        esc(&s.device),
        esc(&s.owner),
        esc(&owner_sub(s)),
        esc(&s.remote_number),
        esc(&s.remote_name),
        esc(&s.local_number),
        esc(&s.local_name),
        s.dir.name(),
        s.codec.name(),
        duration(s.duration_ms),
        integrity(r),
        esc(&r.audio_url),
        esc(&r.download_url),
    );
    let many = r.originals.len() > 1;
    for (i, url) in r.originals.iter().enumerate() {
        let _ = write!(h, "<a href=\"{}\" download>Original", esc(url));
        if many {
            let _ = write!(h, " {}", i + 1);
        }
        h.push_str("</a>");
    }
    h.push_str("</td></tr>\n");
}

/// The registry's extension and group of the recording's device, as the Owner column's second
/// line: `ext 1001 · Sales`.
fn owner_sub(s: &crate::store::Sidecar) -> String {
    let ext = (!s.extension.is_empty()).then(|| format!("ext {}", s.extension));
    let group = (!s.group.is_empty()).then(|| s.group.clone());
    [ext, group]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The recording's state, marked when it is bad or proven good; with the time of the last
/// check as a tooltip.
fn integrity(r: &View) -> String {
    let (class, text) = match r.integrity {
        Integrity::Verified => ("ok", "verified"),
        Integrity::Unchecked => ("", "unchecked"),
        Integrity::NoDigest => ("", "no digest"),
        Integrity::Missing => ("bad", "missing"),
        Integrity::Mismatch => ("bad", "mismatch"),
    };
    let when = r
        .checked_ms
        .map(|ms| format!(" title=\"checked {}\"", esc(&local_text(ms))))
        .unwrap_or_default();
    format!("<span class=\"{class}\"{when}>{text}</span>")
}

/// `H:MM:SS`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Escapes text for HTML content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
