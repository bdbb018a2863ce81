//! The HTML page: a search form that works without JavaScript, and the recordings newest first,
//! each with a player and its downloads. Self-contained (inline CSS, no script, nothing from
//! elsewhere); a table on a desktop, one card per recording on a phone. Every value from a
//! sidecar or the query is HTML-escaped: names come from the phones and are not to be trusted.

use super::catalog::View;
use super::query::Search;
use callrec_core::percent;
use core::fmt::Write;

/// The page's Content-Security-Policy: no script at all, media and forms only from here.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; media-src 'self'; \
                       form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Recordings · callrec-server</title>
<style>
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0 auto; padding: 1rem; max-width: 96rem; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
form { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: 1rem; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .85rem; }
input, button { font: inherit; padding: .4rem .5rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .45rem .5rem; border-bottom: 1px solid #8884; vertical-align: top; }
th { font-size: .85rem; }
.sub { display: block; font-size: .85rem; opacity: .75; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.live { color: #d22; font-weight: 600; }
audio { width: 15rem; max-width: 100%; }
.dl a { display: inline-block; margin: 0 .6rem .2rem 0; white-space: nowrap; }
nav a { margin-right: 1rem; }
@media (max-width: 52rem) {
  thead { display: none; }
  table, tbody, tr, td { display: block; }
  tr { border: 1px solid #8886; border-radius: .5rem; margin: 0 0 .8rem; padding: .3rem; }
  td { border: 0; padding: .2rem .4rem; }
  td::before { content: attr(data-label); display: inline-block; min-width: 6rem; font-size: .8rem; opacity: .7; }
  audio { width: 100%; }
}
</style>
</head>
<body>
<h1>Recordings</h1>
"#;

/// The page for `rows`: matches `search.offset..` of the `total` that match `search`, at most
/// `limit` of them.
pub fn render(rows: &[View], search: &Search, total: usize, limit: usize) -> String {
    let mut h = String::with_capacity(4096 + rows.len() * 1024);
    h.push_str(HEAD);
    // Writing to a String cannot fail.
    let _ = write!(
        h,
        "<form method=\"get\" action=\"/\">\n\
         <label>Number<input type=\"search\" name=\"number\" value=\"{}\" inputmode=\"tel\" \
         maxlength=\"64\" placeholder=\"part of a number\"></label>\n\
         <label>Date<input type=\"date\" name=\"date\" value=\"{}\"></label>\n\
         <button type=\"submit\">Search</button> <a href=\"/\">All</a>\n</form>\n",
        esc(&search.number),
        esc(search.date.as_deref().unwrap_or("")),
    );
    let first = search.offset.min(total);
    let _ = if rows.is_empty() {
        writeln!(
            h,
            "<p>No recordings{}.</p>",
            if total > 0 { " here" } else { "" }
        )
    } else {
        writeln!(
            h,
            "<p>{total} recording{}; {}–{} shown, newest first.</p>",
            if total == 1 { "" } else { "s" },
            first + 1,
            first + rows.len()
        )
    };
    if !rows.is_empty() {
        h.push_str(
            "<table>\n<thead><tr><th>Start</th><th>Device</th><th>Remote</th><th>Local</th>\
             <th>Dir</th><th>Codec</th><th>Duration</th><th>End</th><th>Listen</th>\
             <th>Download</th></tr></thead>\n<tbody>\n",
        );
        for r in rows {
            row(&mut h, r);
        }
        h.push_str("</tbody>\n</table>\n");
    }
    let newer = (first > 0).then(|| first.saturating_sub(limit));
    let older = (first + rows.len() < total).then_some(first + rows.len());
    if newer.is_some() || older.is_some() {
        h.push_str("<nav>");
        if let Some(o) = newer {
            let _ = write!(h, "<a href=\"{}\">← Newer</a>", esc(&link(search, o)));
        }
        if let Some(o) = older {
            let _ = write!(h, "<a href=\"{}\">Older →</a>", esc(&link(search, o)));
        }
        h.push_str("</nav>\n");
    }
    h.push_str("</body>\n</html>\n");
    h
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
         <td data-label=\"Remote\">{}<span class=\"sub\">{}</span></td>\
         <td data-label=\"Local\">{}<span class=\"sub\">{}</span></td>\
         <td data-label=\"Dir\">{}</td>\
         <td data-label=\"Codec\">{}</td>\
         <td data-label=\"Duration\" class=\"num\">{}</td>\
         <td data-label=\"End\">{end}</td>\
         <td data-label=\"Listen\"><audio controls preload=\"none\" src=\"{}\"></audio></td>\
         <td data-label=\"Download\" class=\"dl\"><a href=\"{}\" download>WAV</a>",
        esc(&r.start_local),
        esc(&s.device),
        esc(&s.remote_number),
        esc(&s.remote_name),
        esc(&s.local_number),
        esc(&s.local_name),
        s.dir.name(),
        s.codec.name(),
        duration(s.duration_ms),
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

/// `H:MM:SS`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The page with the same search from match `offset` on.
fn link(search: &Search, offset: usize) -> String {
    let mut q = String::from("/?number=");
    percent::encode(&search.number, &mut q);
    q.push_str("&date=");
    percent::encode(search.date.as_deref().unwrap_or(""), &mut q);
    let _ = write!(q, "&offset={offset}");
    if let Some(limit) = search.limit {
        let _ = write!(q, "&limit={limit}");
    }
    q
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
