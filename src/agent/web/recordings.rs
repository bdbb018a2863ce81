//! The recordings on the stick in the agent's web API (`docs/web-api.md`, "Recordings on the
//! stick"): the listing, each file as stored or as a PCM16 WAV (streamed with
//! [`callrec_platform::download`], `Range` honoured), and deletion, which only the main loop may do.
//!
//! [`handle`] reads the stick (a directory listing, 76-byte headers, `stat`): the listener runs it
//! on a reader thread of the download pool ([`callrec_platform::download::pool`]), never on the runtime
//! thread. A name is checked by [`is_record_name`] before anything touches the file system, so a
//! request reaches nothing but the agent's own `Record_` files in the stick's top directory.

use crate::agent::http::{Answer, AnswerBody};
use bytes::Bytes;
use callrec_core::record_file::{is_record_name, recover, Header, HEADER_LEN};
use callrec_platform::download::range::{ranged, Ranged};
use callrec_platform::download::source::{FileBlocks, Source, WavBlocks};
use callrec_platform::download::wav::{Part, WavPlan};
use callrec_platform::store::reader::read_up_to;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Files listed at most (the newest); the listing says `"truncated": true` past it. A FAT32
/// directory holds at most 65,535 entries, so the scan that picks them is bounded too.
pub const MAX_LISTED: usize = 1000;

/// What the web listener must do for a request under `/api/recordings`.
#[derive(Debug)]
pub enum Outcome {
    /// Answer with this (status, headers, body; the listener sends no body for HEAD, and
    /// reads none of a stream).
    Answer(Answer),
    /// Delete this file (a [`is_record_name`] that exists and is not being written): only the main
    /// loop may, it owns the stick and knows the open file. Answer `200` `{"ok":true}` or its
    /// refusal.
    Delete(String),
}

/// What a request is for, from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target<'a> {
    List,
    File(&'a str),
    Wav(&'a str),
}

/// An error answer: status, `code` and `message` of `{"error":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
}

fn fail(status: u16, code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        status,
        code,
        message: message.into(),
    }
}

/// The answer to a request under `/api/recordings`. `rest` is the raw path after
/// `/api/recordings` (`""`, `"/NAME"` or `"/NAME/wav"`; not percent-decoded), `range` the
/// `Range` header, `stick` the stick's directory if one is usable, `writing` the name of the
/// file being recorded, if any. HEAD is answered as GET (the listener leaves the body out).
/// Reads the stick: run it on a reader thread.
pub fn handle(
    method: &str,
    rest: &str,
    range: Option<&[u8]>,
    stick: Option<&Path>,
    writing: Option<&str>,
) -> Outcome {
    let result = target(rest).and_then(|t| match (t, method) {
        (Target::List, "GET" | "HEAD") => list(stick, writing),
        (Target::File(name), "GET" | "HEAD") => stored(need(stick)?, name, writing, range),
        (Target::Wav(name), "GET" | "HEAD") => wav(need(stick)?, name, writing, range),
        (Target::File(name), "DELETE") => deletable(need(stick)?, name, writing),
        (t, _) => Err(not_allowed(t)),
    });
    match result {
        Ok(outcome) => outcome,
        Err(f) => Outcome::Answer(error_response(&f, allowed(rest))),
    }
}

/// Where a path under `/api/recordings` leads; a bad name is refused before anything else.
fn target(rest: &str) -> Result<Target<'_>, Failure> {
    if rest.is_empty() {
        return Ok(Target::List);
    }
    let Some(path) = rest.strip_prefix('/') else {
        return Err(fail(404, "not_found", "no such page"));
    };
    let (name, tail) = match path.split_once('/') {
        Some((name, tail)) => (name, Some(tail)),
        None => (path, None),
    };
    if !is_record_name(name) {
        return Err(bad_name());
    }
    match tail {
        None => Ok(Target::File(name)),
        Some("wav") => Ok(Target::Wav(name)),
        Some(_) => Err(fail(404, "not_found", "no such page")),
    }
}

fn bad_name() -> Failure {
    fail(400, "bad_name", "not the name of a recording")
}

/// The methods a path takes, for `Allow`; `None` for a path that is no resource.
fn allowed(rest: &str) -> Option<&'static str> {
    match target(rest).ok()? {
        Target::List | Target::Wav(_) => Some("GET, HEAD"),
        Target::File(_) => Some("GET, HEAD, DELETE"),
    }
}

fn not_allowed(t: Target) -> Failure {
    let message = match t {
        Target::File(_) => "only GET, HEAD and DELETE",
        Target::List | Target::Wav(_) => "only GET and HEAD",
    };
    fail(405, "method_not_allowed", message)
}

/// The stick's directory, or the `no_stick` failure.
fn need(stick: Option<&Path>) -> Result<&Path, Failure> {
    stick.ok_or_else(|| fail(404, "no_stick", "no USB stick is inserted"))
}

// ----------------------------------------------------------------------------------------------
// The listing.

/// One file of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Row {
    name: String,
    size: u64,
    /// `null` for a file whose header is not a Record file's.
    codec: Option<&'static str>,
    duration_ms: Option<u64>,
    recording: bool,
}

/// The order of the listing: a name's time, then its number in the second (`_10` after `_9`).
fn order_key(name: &str) -> (&str, u8) {
    // Only called with valid names: `Record_` + 15 bytes of time, then `_N` or nothing.
    let stamp = name.get(7..22).unwrap_or(name);
    let n = name
        .get(23..name.len().saturating_sub(4))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    (stamp, n)
}

fn list(stick: Option<&Path>, writing: Option<&str>) -> Result<Outcome, Failure> {
    let Some(dir) = stick else {
        let body = serde_json::json!({
            "stick": { "present": false },
            "recordings": [],
            "truncated": false,
        });
        return Ok(Outcome::Answer(json(200, &body)));
    };
    let (names, truncated) = newest(dir).map_err(|e| {
        log::warn!("web: listing {}: {e}", dir.display());
        fail(500, "io_error", "cannot read the stick")
    })?;
    let rows: Vec<Row> = names
        .into_iter()
        .filter_map(|name| row(dir, name, writing))
        .collect();
    let free = callrec_platform::store::fs::free_bytes(dir).ok();
    let body = serde_json::json!({
        "stick": { "present": true, "free_bytes": free },
        "recordings": rows,
        "truncated": truncated,
    });
    Ok(Outcome::Answer(json(200, &body)))
}

/// The [`MAX_LISTED`] newest recordings' names in `dir`, newest first, and whether there were
/// more. Memory holds at most that many names, whatever the directory holds.
fn newest(dir: &Path) -> io::Result<(Vec<String>, bool)> {
    let mut kept: BinaryHeap<Reverse<(String, u8, String)>> = BinaryHeap::new();
    let mut truncated = false;
    for entry in std::fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        // `file_type` does not follow a symlink: only regular files are listed.
        if !is_record_name(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let (stamp, n) = order_key(&name);
        kept.push(Reverse((stamp.to_owned(), n, name)));
        if kept.len() > MAX_LISTED {
            kept.pop();
            truncated = true;
        }
    }
    // Sorted ascending by `Reverse`: newest first.
    let names = kept
        .into_sorted_vec()
        .into_iter()
        .map(|Reverse((_, _, name))| name)
        .collect();
    Ok((names, truncated))
}

/// The listing's row for `name`; `None` if it went away meanwhile.
fn row(dir: &Path, name: String, writing: Option<&str>) -> Option<Row> {
    let path = dir.join(&name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let recording = writing == Some(name.as_str());
    let header = open_file(&path)
        .ok()
        .and_then(|mut f| read_header(&mut f).ok())
        .and_then(|h| Header::decode(&h).ok())
        .map(|h| trusted(h, meta.len(), recording));
    Some(Row {
        name,
        size: meta.len(),
        codec: header.map(|h| h.codec.name()),
        duration_ms: header.map(|h| h.duration_ms()),
        recording,
    })
}

// ----------------------------------------------------------------------------------------------
// Downloads.

/// `name` in `dir`, opened: its file and metadata. Only a regular file (not a symlink) is
/// served.
fn open_in(dir: &Path, name: &str) -> Result<(PathBuf, File, Metadata), Failure> {
    let path = dir.join(name);
    let missing = || fail(404, "not_found", "no such recording");
    let file = match open_file(&path) {
        Ok(f) => f,
        // O_NOFOLLOW on a symlink: ELOOP.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(missing())
        }
        Err(e) => return Err(unreadable(name, &e)),
    };
    let meta = file.metadata().map_err(|e| unreadable(name, &e))?;
    if !meta.is_file() {
        return Err(missing());
    }
    Ok((path, file, meta))
}

fn open_file(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn unreadable(name: &str, e: &io::Error) -> Failure {
    log::warn!("web: {name}: {e}");
    fail(500, "io_error", "cannot read the file")
}

/// The first [`HEADER_LEN`] bytes of `file` (fewer if it is shorter), from its start.
fn read_header(file: &mut File) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; HEADER_LEN];
    let n = read_up_to(file, &mut head)?;
    head.truncate(n);
    Ok(head)
}

/// The header with `data_size` set to the audio to serve: for the file being written, what its
/// header says (it lags the data by up to a second; the data past it is still being written),
/// within what the file holds; for any other, what a reader trusts (`recover`, as `callrec
/// export` does, for a file a power cut left behind).
fn trusted(h: Header, file_len: u64, writing: bool) -> Header {
    if writing {
        let on_disk = file_len.saturating_sub(HEADER_LEN as u64);
        let rtp_len = u64::from(h.rtp_len);
        let whole = on_disk / rtp_len * rtp_len;
        // At most `data_size`: the cast is exact.
        let data_size = u64::from(h.data_size).min(whole) as u32;
        Header { data_size, ..h }
    } else {
        recover(h, file_len).header
    }
}

/// The file as stored. The file being written is sent as far as the header read now says, with
/// that header, so the download is a consistent Record file.
fn stored(
    dir: &Path,
    name: &str,
    writing: Option<&str>,
    range: Option<&[u8]>,
) -> Result<Outcome, Failure> {
    let (_, mut file, meta) = open_in(dir, name)?;
    let mut len = meta.len();
    let mut head = Bytes::new();
    if writing == Some(name) {
        let bytes = read_header(&mut file).map_err(|e| unreadable(name, &e))?;
        if let Ok(h) = Header::decode(&bytes) {
            len = len.min(HEADER_LEN as u64 + u64::from(h.data_size));
            head = Bytes::from(bytes);
        }
    }
    let Some((status, start, end)) = part_of(len, range) else {
        return Ok(Outcome::Answer(unsatisfiable(len)));
    };
    let blocks =
        FileBlocks::with_head(file, head, start, end - start).map_err(|e| unreadable(name, &e))?;
    let source = Source::File(blocks);
    let mut r = streamed(status, start, end, len, "application/octet-stream", source);
    r.set(
        "content-disposition",
        format!("attachment; filename=\"{name}\""),
    );
    Ok(Outcome::Answer(r))
}

/// The recording as a PCM16 WAV, decoded block by block as it is sent.
fn wav(
    dir: &Path,
    name: &str,
    writing: Option<&str>,
    range: Option<&[u8]>,
) -> Result<Outcome, Failure> {
    let (path, mut file, meta) = open_in(dir, name)?;
    let bytes = read_header(&mut file).map_err(|e| unreadable(name, &e))?;
    let h = Header::decode(&bytes)
        .map_err(|e| fail(422, "bad_file", format!("not a Record file: {e}")))?;
    drop(file);
    let h = trusted(h, meta.len(), writing == Some(name));
    let part = Part {
        codec: h.codec,
        data_len: u64::from(h.data_size),
    };
    let plan = WavPlan::new(vec![part], h.codec);
    let len = plan.len();
    let Some((status, start, end)) = part_of(len, range) else {
        return Ok(Outcome::Answer(unsatisfiable(len)));
    };
    let source = Source::Wav(Box::new(WavBlocks::new(vec![path], plan, start, end)));
    let mut r = streamed(status, start, end, len, "audio/wav", source);
    // A valid name ends in `.wav`.
    let stem = name.strip_suffix(".wav").unwrap_or(name);
    r.set(
        "content-disposition",
        format!("attachment; filename=\"{stem}.pcm.wav\""),
    );
    Ok(Outcome::Answer(r))
}

/// A deletion for the main loop, if `name` may be deleted.
fn deletable(dir: &Path, name: &str, writing: Option<&str>) -> Result<Outcome, Failure> {
    if writing == Some(name) {
        return Err(fail(409, "recording", "this recording is being written"));
    }
    match std::fs::symlink_metadata(dir.join(name)) {
        Ok(m) if m.is_file() => Ok(Outcome::Delete(name.to_owned())),
        Ok(_) => Err(fail(404, "not_found", "no such recording")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(fail(404, "not_found", "no such recording"))
        }
        Err(e) => Err(unreadable(name, &e)),
    }
}

/// Which bytes of an answer of `len` bytes to send: 200 all or 206 a range; `None`: 416.
fn part_of(len: u64, range: Option<&[u8]>) -> Option<(u16, u64, u64)> {
    match ranged(range, len) {
        Ranged::Full => Some((200, 0, len)),
        Ranged::Part { start, end } => Some((206, start, end)),
        Ranged::Unsatisfiable => None,
    }
}

/// The 416 answer for an answer of `len` bytes.
fn unsatisfiable(len: u64) -> Answer {
    let f = fail(416, "range", "range not satisfiable");
    let mut r = error_response(&f, None);
    r.set("content-range", format!("bytes */{len}"));
    r
}

/// Bytes `start..end` of an answer of `len` bytes, read from `source`.
fn streamed(
    status: u16,
    start: u64,
    end: u64,
    len: u64,
    content_type: &'static str,
    source: Source,
) -> Answer {
    let body = AnswerBody::Stream {
        source,
        len: end - start,
    };
    let mut r = Answer::new(status, body);
    common(&mut r, content_type);
    r.set("accept-ranges", "bytes");
    if status == 206 {
        r.set("content-range", format!("bytes {start}-{}/{len}", end - 1));
    }
    r
}

// ----------------------------------------------------------------------------------------------
// Answers.

/// `{"error":{"code","message"}}` with `Allow` on a 405.
fn error_response(f: &Failure, allow: Option<&'static str>) -> Answer {
    let body = serde_json::json!({ "error": { "code": f.code, "message": f.message } });
    let mut r = json(f.status, &body);
    if f.status == 405 {
        if let Some(allow) = allow {
            r.set("allow", allow);
        }
    }
    r
}

fn json(status: u16, value: &serde_json::Value) -> Answer {
    // A `Value` always serializes.
    let body = AnswerBody::Bytes(value.to_string().into_bytes().into());
    let mut r = Answer::new(status, body);
    common(&mut r, "application/json");
    r
}

/// The headers every answer of the API carries (`docs/web-api.md`, "Errors"; the page's
/// handler adds its Content-Security-Policy). Every value is ASCII made by this file: the
/// listener leaves out (and logs) one that could break the head.
fn common(r: &mut Answer, content_type: &'static str) {
    r.set("content-type", content_type);
    r.set("cache-control", "no-store");
    r.set("x-content-type-options", "nosniff");
    r.set("x-frame-options", "DENY");
    r.set("referrer-policy", "no-referrer");
}

#[cfg(test)]
mod tests;
