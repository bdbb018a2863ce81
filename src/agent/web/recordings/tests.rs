//! Names, the listing of a real directory, downloads as stored and as WAV collected from their
//! bodies, ranges, and what DELETE asks of the main loop.

use super::{handle, Outcome, MAX_LISTED};
use crate::agent::http::{Answer, AnswerBody};
use callrec_core::audio::g711::{alaw_to_linear, ulaw_to_linear};
use callrec_core::audio::g722::{G722Decoder, G722Encoder};
use callrec_core::codec::Codec;
use callrec_core::record_file::is_record_name as valid_name;
use callrec_core::record_file::testing::file_bytes;
use std::path::{Path, PathBuf};

const NAME: &str = "Record_20261121_101500.wav";

/// A fresh directory of its own for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "callrec-web-recordings-{test}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A Record file of `codec` whose header says `claimed` bytes of `data` (which follows in
/// full).
fn record_file(dir: &Path, name: &str, codec: Codec, data: &[u8], claimed: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, file_bytes(codec, claimed, data)).unwrap();
    path
}

/// The answer of `handle`, which must be one.
fn answer(o: Outcome) -> Answer {
    match o {
        Outcome::Answer(r) => r,
        Outcome::Delete(name) => panic!("a deletion of {name}, not an answer"),
    }
}

/// The whole body, a stream read block by block as the listener does; it must hold what it
/// announces.
fn drain(body: AnswerBody) -> Vec<u8> {
    match body {
        AnswerBody::Empty => Vec::new(),
        AnswerBody::Bytes(b) => b.into_owned(),
        AnswerBody::Stream { mut source, len } => {
            let mut out = Vec::new();
            while let Some(block) = source.next_block().unwrap() {
                out.extend_from_slice(&block);
            }
            assert_eq!(out.len() as u64, len, "the stream's announced length");
            out
        }
    }
}

/// What a client sees of an answer: its status and headers (with the `Content-Length` the
/// listener adds), and no body for HEAD.
struct Seen {
    status: u16,
    headers: Vec<(String, String)>,
}

/// The status, the headers and the whole body of an answer.
fn get(
    method: &str,
    rest: &str,
    range: Option<&str>,
    stick: Option<&Path>,
    writing: Option<&str>,
) -> (Seen, Vec<u8>) {
    let r = answer(handle(
        method,
        rest,
        range.map(str::as_bytes),
        stick,
        writing,
    ));
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.to_string()))
        .collect();
    headers.push(("content-length".into(), r.body.len().to_string()));
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        drain(r.body)
    };
    (
        Seen {
            status: r.status,
            headers,
        },
        body,
    )
}

fn header<'a>(r: &'a Seen, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}"))
}

/// The status and error code of an error answer.
fn error_of(r: &Seen, body: &[u8]) -> (u16, String) {
    assert_eq!(header(r, "content-type"), "application/json");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
    (r.status, v["error"]["code"].as_str().unwrap().to_owned())
}

#[test]
fn only_the_names_the_agent_writes_are_valid() {
    for good in [
        NAME,
        "Record_20261121_101500_2.wav",
        "Record_20261121_101500_9.wav",
        "Record_20261121_101500_10.wav",
        "Record_20261121_101500_99.wav",
        "Record_19700101_000000.wav",
        "Record_20261231_235959.wav",
    ] {
        assert!(valid_name(good), "{good}");
    }
    let long = format!("Record_20261121_101500_{}.wav", "1".repeat(100));
    for bad in [
        "",
        ".",
        "..",
        "/",
        "\\",
        "\0",
        &long,
        "Record_20261121_101500_1.wav", // the first file of a second has no number
        "Record_20261121_101500_0.wav",
        "Record_20261121_101500_02.wav",
        "Record_20261121_101500_100.wav",
        "Record_20261121_101500_.wav",
        "Record_20261121_101500_+2.wav",
        "Record_20261121_101500.WAV",
        "record_20261121_101500.wav",
        "Record_20261121_101500.wav ",
        " Record_20261121_101500.wav",
        "Record_20261121_101500.wav\0",
        "Record_20261121_101500.wav/..",
        "../Record_20261121_101500.wav",
        "..\\Record_20261121_101500.wav",
        "Record_20261121_101500%2ewav",
        "..%2f..%2fetc%2fpasswd",
        "Record_20261121%2f101500.wav",
        "Record_2026112_1101500.wav",
        "Record_20261121101500.wav",
        "Record_20261121_10150.wav",
        "Record_20261121_1015000.wav",
        "Record_20261321_101500.wav", // month 13
        "Record_20261100_101500.wav", // day 0
        "Record_20261132_101500.wav", // day 32
        "Record_20261121_241500.wav", // hour 24
        "Record_20261121_106000.wav", // minute 60
        "Record_20261121_101561.wav", // second 61
        "Record_2026112a_101500.wav",
        "Record_２0261121_101500.wav",
        "Record_20261121_101500.wav.part",
        "Record_20261121_101500.pcm.wav",
        "Record_x.wav",
        "notes.txt",
    ] {
        assert!(!valid_name(bad), "{bad:?}");
    }
}

#[test]
fn a_bad_name_is_refused_before_the_file_system_is_touched() {
    // The stick does not exist: a request that reached it would be a 404 or a 500.
    let nowhere = Path::new("/nonexistent/callrec-stick");
    for rest in [
        "/",
        "//",
        "/..",
        "/../etc/passwd",
        "/../../etc/passwd/wav",
        "/%2e%2e%2fetc%2fpasswd",
        "/Record_20261121_101500.wav%2f..",
        "/Record_20261121_101500%2ewav",
        "/Record_20261121_101500.wav%00",
        "/Record_20261121_101500.wav\0",
        "/..\\Record_20261121_101500.wav",
        "/notes.txt/wav",
    ] {
        for m in ["GET", "HEAD", "DELETE", "PUT"] {
            let (r, body) = get(m, rest, None, Some(nowhere), None);
            assert_eq!(r.status, 400, "{m} {rest:?}");
            if m != "HEAD" {
                let (_, code) = error_of(&r, &body);
                assert_eq!(code, "bad_name", "{m} {rest:?}");
            }
        }
    }
    // A path that is no resource under a valid name, or outside the prefix's shape: 404.
    for rest in [
        "/Record_20261121_101500.wav/",
        "/Record_20261121_101500.wav/mp3",
        "/Record_20261121_101500.wav/wav/x",
        "x",
    ] {
        let (r, body) = get("GET", rest, None, Some(nowhere), None);
        assert_eq!(error_of(&r, &body), (404, "not_found".into()), "{rest:?}");
    }
}

#[test]
fn the_listing_is_newest_first_with_bad_headers_listed_and_foreign_files_left_out() {
    let dir = temp_dir("list");
    let pcma = vec![0xD5; 800];
    record_file(&dir, NAME, Codec::Pcma, &pcma, 800);
    record_file(
        &dir,
        "Record_20261121_101500_2.wav",
        Codec::G722,
        &[0xFD; 1600],
        1600,
    );
    // Being written: the header lags the data.
    record_file(
        &dir,
        "Record_20261121_101500_10.wav",
        Codec::Pcmu,
        &[0xFF; 480],
        160,
    );
    record_file(
        &dir,
        "Record_20261121_101500_9.wav",
        Codec::Pcmu,
        &[0xFF; 160],
        160,
    );
    std::fs::write(dir.join("Record_20261121_090000.wav"), [b'x'; 200]).unwrap();
    std::fs::write(dir.join("Record_20261120_090000.wav"), b"short").unwrap();
    // Foreign: other names, a directory and a symlink with a good name.
    for foreign in [
        "notes.txt",
        "Record_x.wav",
        "record_20261121_101500.wav",
        "Record_20261121_101500_1.wav",
    ] {
        record_file(&dir, foreign, Codec::Pcma, &pcma, 800);
    }
    std::fs::create_dir(dir.join("Record_20261122_000000.wav")).unwrap();
    std::os::unix::fs::symlink(dir.join(NAME), dir.join("Record_20261123_000000.wav")).unwrap();

    let writing = Some("Record_20261121_101500_10.wav");
    let (r, body) = get("GET", "", None, Some(&dir), writing);
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), "application/json");
    assert_eq!(header(&r, "cache-control"), "no-store");
    assert_eq!(header(&r, "content-length"), body.len().to_string());
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["stick"]["present"], true);
    assert!(v["stick"]["free_bytes"].is_u64(), "{v}");
    assert_eq!(v["truncated"], false);
    let rows = v["recordings"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Record_20261121_101500_10.wav",
            "Record_20261121_101500_9.wav",
            "Record_20261121_101500_2.wav",
            NAME,
            "Record_20261121_090000.wav",
            "Record_20261120_090000.wav",
        ]
    );
    let row = |i: usize| {
        let r = &rows[i];
        (
            r["size"].as_u64().unwrap(),
            r["codec"].clone(),
            r["duration_ms"].clone(),
            r["recording"].as_bool().unwrap(),
        )
    };
    use serde_json::json;
    // The file being written: what its header says.
    assert_eq!(row(0), (76 + 480, json!("PCMU"), json!(20), true));
    assert_eq!(row(1), (76 + 160, json!("PCMU"), json!(20), false));
    assert_eq!(row(2), (76 + 1600, json!("G722"), json!(200), false));
    assert_eq!(row(3), (76 + 800, json!("PCMA"), json!(100), false));
    assert_eq!(row(4), (200, json!(null), json!(null), false));
    assert_eq!(row(5), (5, json!(null), json!(null), false));

    // HEAD: the same headers, no body.
    let (h, empty) = get("HEAD", "", None, Some(&dir), writing);
    assert_eq!(h.status, 200);
    assert_eq!(header(&h, "content-length"), body.len().to_string());
    assert!(empty.is_empty());

    // No stick: nothing to list, not an error.
    let (r, body) = get("GET", "", None, None, None);
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        json!({"stick": {"present": false}, "recordings": [], "truncated": false})
    );
    // A stick whose directory cannot be read.
    let (r, body) = get("GET", "", None, Some(&dir.join("gone")), None);
    assert_eq!(error_of(&r, &body), (500, "io_error".into()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_listing_holds_at_most_the_newest_thousand() {
    let dir = temp_dir("many");
    let total = MAX_LISTED + 3;
    for i in 0..total {
        let name = format!("Record_20261121_{:02}{:02}00.wav", i / 60, i % 60);
        std::fs::write(dir.join(name), b"").unwrap();
    }
    let (r, body) = get("GET", "", None, Some(&dir), None);
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["truncated"], true);
    let rows = v["recordings"].as_array().unwrap();
    assert_eq!(rows.len(), MAX_LISTED);
    let newest = total - 1;
    let oldest_kept = total - MAX_LISTED;
    let name = |i: usize| format!("Record_20261121_{:02}{:02}00.wav", i / 60, i % 60);
    assert_eq!(rows[0]["name"], name(newest).as_str());
    assert_eq!(rows[MAX_LISTED - 1]["name"], name(oldest_kept).as_str());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_downloads_as_stored_whole_or_by_range() {
    let dir = temp_dir("stored");
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = record_file(&dir, NAME, Codec::Pcma, &data, data.len());
    let stored = std::fs::read(&path).unwrap();
    let rest = format!("/{NAME}");

    let (r, body) = get("GET", &rest, None, Some(&dir), None);
    assert_eq!(r.status, 200);
    assert_eq!(header(&r, "content-type"), "application/octet-stream");
    assert_eq!(
        header(&r, "content-disposition"),
        format!("attachment; filename=\"{NAME}\"")
    );
    assert_eq!(header(&r, "content-length"), stored.len().to_string());
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    assert!(body == stored);

    let (r, body) = get("GET", &rest, Some("bytes=70-99"), Some(&dir), None);
    assert_eq!(r.status, 206);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes 70-99/{}", stored.len())
    );
    assert_eq!(header(&r, "content-length"), "30");
    assert_eq!(body, stored[70..100]);

    let (r, body) = get("HEAD", &rest, Some("bytes=-10"), Some(&dir), None);
    assert_eq!(r.status, 206);
    assert_eq!(header(&r, "content-length"), "10");
    assert!(body.is_empty());

    let past = format!("bytes={}-", stored.len());
    let (r, body) = get("GET", &rest, Some(&past), Some(&dir), None);
    assert_eq!(error_of(&r, &body), (416, "range".into()));
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes */{}", stored.len())
    );

    // Missing, no stick, a symlink with a good name.
    let other = "/Record_20261121_101501.wav";
    let (r, body) = get("GET", other, None, Some(&dir), None);
    assert_eq!(error_of(&r, &body), (404, "not_found".into()));
    let (r, body) = get("GET", &rest, None, None, None);
    assert_eq!(error_of(&r, &body), (404, "no_stick".into()));
    std::os::unix::fs::symlink("/etc/passwd", dir.join(&other[1..])).unwrap();
    let (r, body) = get("GET", other, None, Some(&dir), None);
    assert_eq!(error_of(&r, &body), (404, "not_found".into()));
    let (r, body) = get("GET", &format!("{other}/wav"), None, Some(&dir), None);
    assert_eq!(error_of(&r, &body), (404, "not_found".into()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// PCM16 little-endian of `data` decoded with the audio modules, as `callrec export` does.
fn decoded(codec: Codec, data: &[u8]) -> Vec<u8> {
    let samples: Vec<i16> = match codec {
        Codec::Pcma => data.iter().map(|&b| alaw_to_linear(b)).collect(),
        Codec::Pcmu => data.iter().map(|&b| ulaw_to_linear(b)).collect(),
        Codec::G722 => {
            let mut pcm = vec![0i16; 2 * data.len()];
            let n = G722Decoder::new().decode(data, &mut pcm);
            pcm.truncate(n);
            pcm
        }
    };
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[test]
fn a_recording_downloads_as_pcm16_wav_whole_or_by_range() {
    let dir = temp_dir("wav");
    let tone: Vec<i16> = (0..48_000)
        .map(|i| ((f64::from(i) / 16_000.0 * 440.0 * std::f64::consts::TAU).sin() * 9000.0) as i16)
        .collect();
    let mut g722 = vec![0u8; tone.len() / 2];
    G722Encoder::new().encode(&tone, &mut g722);
    let ulaw: Vec<u8> = (0..8000u32).map(|i| (i * 13 % 256) as u8).collect();
    let g722_name = "Record_20261121_101500_2.wav";
    record_file(&dir, g722_name, Codec::G722, &g722, g722.len());
    record_file(&dir, NAME, Codec::Pcmu, &ulaw, ulaw.len());

    for (name, codec, data, rate) in [
        (g722_name, Codec::G722, &g722, 16_000u32),
        (NAME, Codec::Pcmu, &ulaw, 8000),
    ] {
        let rest = format!("/{name}/wav");
        let (r, wav) = get("GET", &rest, None, Some(&dir), None);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(header(&r, "content-type"), "audio/wav");
        let stem = name.strip_suffix(".wav").unwrap();
        assert_eq!(
            header(&r, "content-disposition"),
            format!("attachment; filename=\"{stem}.pcm.wav\"")
        );
        assert_eq!(header(&r, "accept-ranges"), "bytes");
        assert_eq!(header(&r, "content-length"), wav.len().to_string());
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), rate);
        assert_eq!(&wav[36..40], b"data");
        let pcm = decoded(codec, data);
        assert_eq!(
            u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize,
            pcm.len()
        );
        assert!(wav[44..] == pcm[..], "{name}: samples differ");

        // A range anywhere, also inside the G.722 data (decoded from its start).
        let len = wav.len();
        for (start, end) in [
            (0, 10),
            (40, 50),
            (len / 2 + 1, len / 2 + 1001),
            (len - 3, len),
        ] {
            let spec = format!("bytes={start}-{}", end - 1);
            let (r, part) = get("GET", &rest, Some(&spec), Some(&dir), None);
            assert_eq!(r.status, 206);
            assert_eq!(
                header(&r, "content-range"),
                format!("bytes {start}-{}/{len}", end - 1)
            );
            assert!(part == wav[start..end], "{name} {spec}");
        }
        let (h, empty) = get("HEAD", &rest, None, Some(&dir), None);
        assert_eq!(header(&h, "content-length"), len.to_string());
        assert!(empty.is_empty());
    }

    // Not a Record file: no WAV, but the file as stored is still there to download.
    let bad = "Record_20261121_090000.wav";
    std::fs::write(dir.join(bad), [b'x'; 300]).unwrap();
    let (r, body) = get("GET", &format!("/{bad}/wav"), None, Some(&dir), None);
    assert_eq!(error_of(&r, &body), (422, "bad_file".into()));
    let (r, body) = get("GET", &format!("/{bad}"), None, Some(&dir), None);
    assert_eq!((r.status, body.len()), (200, 300));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_file_being_written_downloads_as_far_as_its_header_says() {
    let dir = temp_dir("writing");
    let data: Vec<u8> = (0..800u32).map(|i| (i % 200) as u8).collect();
    // The header says 2 frames; 5 are on disk.
    let path = record_file(&dir, NAME, Codec::Pcma, &data, 320);
    let stored = std::fs::read(&path).unwrap();
    let writing = Some(NAME);
    let (r, body) = get("GET", &format!("/{NAME}"), None, Some(&dir), writing);
    assert_eq!(r.status, 200);
    assert_eq!(body, stored[..76 + 320]);
    let (_, wav) = get("GET", &format!("/{NAME}/wav"), None, Some(&dir), writing);
    assert!(wav[44..] == decoded(Codec::Pcma, &data[..320])[..]);
    // The header as read when the answer was planned is sent, even when a newer one is on disk
    // by the time the bytes go out: the download is a consistent Record file.
    let r = answer(handle(
        "GET",
        &format!("/{NAME}"),
        None,
        Some(&dir),
        writing,
    ));
    let now = file_bytes(Codec::Pcma, 800, &data);
    std::fs::write(&path, &now).unwrap();
    let body = drain(r.body);
    assert_eq!(body, stored[..76 + 320]);
    // Once it is closed, all of it.
    let (_, body) = get("GET", &format!("/{NAME}"), None, Some(&dir), None);
    assert_eq!(body, now);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn delete_asks_the_main_loop_unless_the_file_is_missing_or_being_written() {
    let dir = temp_dir("delete");
    record_file(&dir, NAME, Codec::Pcma, &[0xD5; 160], 160);
    let rest = format!("/{NAME}");
    match handle("DELETE", &rest, None, Some(&dir), None) {
        Outcome::Delete(name) => assert_eq!(name, NAME),
        Outcome::Answer(r) => panic!("answered {}", r.status),
    }
    // Only the main loop deletes.
    assert!(dir.join(NAME).exists());
    let other = Some("Record_20261121_101501.wav");
    assert!(matches!(
        handle("DELETE", &rest, None, Some(&dir), other),
        Outcome::Delete(_)
    ));

    let (r, body) = get("DELETE", &rest, None, Some(&dir), Some(NAME));
    assert_eq!(error_of(&r, &body), (409, "recording".into()));
    let missing = "/Record_20261121_101501.wav";
    let (r, body) = get("DELETE", missing, None, Some(&dir), None);
    assert_eq!(error_of(&r, &body), (404, "not_found".into()));
    std::fs::create_dir(dir.join(&missing[1..])).unwrap();
    let (r, body) = get("DELETE", missing, None, Some(&dir), None);
    assert_eq!(error_of(&r, &body), (404, "not_found".into()));
    let (r, body) = get("DELETE", &rest, None, None, None);
    assert_eq!(error_of(&r, &body), (404, "no_stick".into()));

    // Methods a resource does not take: 405 with Allow.
    for (m, path, allow) in [
        ("DELETE", String::new(), "GET, HEAD"),
        ("POST", String::new(), "GET, HEAD"),
        ("POST", rest.clone(), "GET, HEAD, DELETE"),
        ("PUT", rest.clone(), "GET, HEAD, DELETE"),
        ("DELETE", format!("{rest}/wav"), "GET, HEAD"),
    ] {
        let (r, body) = get(m, &path, None, Some(&dir), None);
        assert_eq!(
            error_of(&r, &body),
            (405, "method_not_allowed".into()),
            "{m} {path}"
        );
        assert_eq!(header(&r, "allow"), allow, "{m} {path}");
    }
    assert!(dir.join(NAME).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
