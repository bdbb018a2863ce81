//! The record server's web side (`--http`), against the real `callrec-server`: recordings are
//! made by driving the real protocol (TCP control lines, RTP over UDP), then read back over
//! HTTP/1.1 by a small client written here. The page lists and escapes, the search filters, the
//! JSON API has the sidecar's fields, `audio.wav` is a PCM16 WAV as long as the recording (byte
//! for byte what `callrec export` writes, and ffprobe agrees), originals are the stored bytes,
//! ranges are slices of the whole, and hostile requests touch nothing. Each file's digest is what
//! coreutils compute, a whole download verifies it, a changed byte cuts the download and shows as
//! `mismatch`, and `callrec-server verify` finds it beside the running server.

mod common;
use callrec_core::audio::g711::{linear_to_alaw, linear_to_ulaw};
use callrec_core::audio::g722::G722Encoder;
use callrec_core::rtp::RtpPacket;
use common::server::{get, Server};
use common::TempDir;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Sends `head` (request line and headers, without the blank line) and reads the whole answer.
fn raw(addr: SocketAddr, head: &str) -> Reply {
    parse(&exchange(addr, head))
}

fn exchange(addr: SocketAddr, head: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        format!(
            "{head}{}\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            bearer(addr)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    all
}

/// The header line of the test token of the server at `addr` (`""` if it has none).
fn bearer(addr: SocketAddr) -> String {
    common::server::token_of(addr)
        .map(|t| format!("\r\nAuthorization: Bearer {t}"))
        .unwrap_or_default()
}

fn parse(all: &[u8]) -> Reply {
    let reply = parse_head(all);
    // Every answer says how long it is, and is that long.
    let len: usize = reply
        .header("content-length")
        .unwrap_or_else(|| panic!("no Content-Length: {:?}", reply.headers))
        .parse()
        .unwrap();
    assert_eq!(reply.body.len(), len, "{:?}", reply.headers);
    reply
}

/// The status, the headers and whatever follows them.
fn parse_head(all: &[u8]) -> Reply {
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {:?}", String::from_utf8_lossy(all)));
    let head = std::str::from_utf8(&all[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let reply = Reply {
        status,
        headers,
        body: all[end + 4..].to_vec(),
    };
    assert!(reply.header("content-type").is_some(), "{head}");
    reply
}

fn fetch(addr: SocketAddr, path: &str) -> Reply {
    raw(addr, &format!("GET {path} HTTP/1.1"))
}

fn fetch_range(addr: SocketAddr, path: &str, range: &str) -> Reply {
    raw(addr, &format!("GET {path} HTTP/1.1\r\nRange: {range}"))
}

// ---------------------------------------------------------------------------------------------
// Making recordings through the real protocol

/// Audio of a call: `packets` of 20 ms in one codec.
#[derive(Clone, Copy)]
enum Audio {
    Pcma,
    Pcmu,
    G722,
}

impl Audio {
    fn pt(self) -> u8 {
        match self {
            Audio::Pcma => 8,
            Audio::Pcmu => 0,
            Audio::G722 => 9,
        }
    }

    /// 20 ms of a 440 Hz tone, the `k`th packet.
    fn payload(self, k: u32, g722: &mut G722Encoder) -> Vec<u8> {
        let tone = |rate: u32, i: u32| {
            let t = f64::from(k * 20 * rate / 1000 + i) / f64::from(rate);
            ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
        };
        match self {
            Audio::Pcma => (0..160).map(|i| linear_to_alaw(tone(8000, i))).collect(),
            Audio::Pcmu => (0..160).map(|i| linear_to_ulaw(tone(8000, i))).collect(),
            Audio::G722 => {
                let pcm: Vec<i16> = (0..320).map(|i| tone(16_000, i)).collect();
                let mut out = vec![0u8; 160];
                assert_eq!(g722.encode(&pcm, &mut out), 160);
                out
            }
        }
    }
}

/// A control connection with a started session, and where its RTP goes.
struct Call {
    conn: common::server::Conn,
    id: String,
    rtp_to: SocketAddr,
    phone: UdpSocket,
    seq: u16,
    g722: G722Encoder,
}

impl Call {
    /// Starts a session; `fields` are the request's extra `key=value` pairs (percent-encoded).
    fn start(server: &Server, id: &str, codec: &str, fields: &str) -> Call {
        let mut conn = server.connect();
        conn.send(
            format!(
                "cmd=RecordStartRequest&id={id}&device=00:15:65:AA:BB:CC&dir=in&codec={codec}{fields}\n"
            )
            .as_bytes(),
        );
        let resp = conn.line();
        assert_eq!(get(&resp, "result"), Some("success"), "{resp}");
        let port = get(&resp, "port").unwrap();
        let rtp_to = format!("{}:{port}", get(&resp, "server").unwrap())
            .parse()
            .unwrap();
        Call {
            conn,
            id: id.to_owned(),
            rtp_to,
            phone: UdpSocket::bind("127.0.0.1:0").unwrap(),
            seq: 0,
            g722: G722Encoder::new(),
        }
    }

    fn send(&mut self, audio: Audio, packets: u16) {
        let mut pkt = [0u8; 172];
        for _ in 0..packets {
            let payload = audio.payload(u32::from(self.seq), &mut self.g722);
            let ts = u32::from(self.seq) * 160;
            let n =
                RtpPacket::emit(&mut pkt, false, audio.pt(), self.seq, ts, 7, &payload).unwrap();
            self.phone.send_to(&pkt[..n], self.rtp_to).unwrap();
            self.seq += 1;
        }
    }

    fn stop(mut self) {
        self.conn
            .send(format!("cmd=RecordStopRequest&id={}&reason=hangup\n", self.id).as_bytes());
        let resp = self.conn.line();
        assert_eq!(get(&resp, "result"), Some("success"), "{resp}");
    }
}

/// One whole call in one codec.
fn record(server: &Server, id: &str, audio: Audio, packets: u16, fields: &str) {
    let codec = match audio {
        Audio::Pcma => "PCMA",
        Audio::Pcmu => "PCMU",
        Audio::G722 => "G722",
    };
    let mut c = Call::start(server, id, codec, fields);
    c.send(audio, packets);
    c.stop();
}

fn start_server(dir: &TempDir) -> (Server, SocketAddr) {
    let server = Server::start(dir.path(), &["--http", "127.0.0.1:0"]);
    let http = server.http.expect("the ready line names the http address");
    (server, http)
}

const HOSTILE_NAME: &str = "<script>alert(1)</script>";
const HOSTILE_LOCAL: &str = "\"'&<>";

/// Three finished calls: PCMA from 1002 (a Chinese name), PCMU from 5550123 with hostile names,
/// G.722 from 777.
fn three_calls(server: &Server) {
    record(
        server,
        "a1",
        Audio::Pcma,
        100,
        "&remote_number=1002&remote_name=%E5%BC%A0%E4%B8%89&local_number=1001&local_name=Desk",
    );
    record(
        server,
        "b2",
        Audio::Pcmu,
        50,
        "&remote_number=5550123&remote_name=%3Cscript%3Ealert(1)%3C%2Fscript%3E\
         &local_number=2001&local_name=%22%27%26%3C%3E",
    );
    record(
        server,
        "c3",
        Audio::G722,
        75,
        "&remote_number=777&local_number=2002",
    );
}

fn list(http: SocketAddr, query: &str) -> Vec<Value> {
    let r = fetch(http, &format!("/api/recordings{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().unwrap().clone()
}

fn by_id<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter().find(|r| r["id"] == id).unwrap()
}

fn ids(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

/// What ffprobe says of a WAV file: (codec, sample rate, channels, duration in s). ffprobe is a
/// peer of the `peers` tier: without that feature there is none to ask, and the answer is `None`
/// (the WAV's own header is checked either way).
fn ffprobe(path: &Path) -> Option<(String, u32, u64, f64)> {
    if !cfg!(feature = "peers") {
        return None;
    }
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json", "-show_entries"])
        .args(["stream=codec_name,sample_rate,channels:format=duration"])
        .arg(path)
        .output()
        .expect("ffprobe must be installed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &v["streams"][0];
    Some((
        s["codec_name"].as_str().unwrap().to_owned(),
        s["sample_rate"].as_str().unwrap().parse().unwrap(),
        s["channels"].as_u64().unwrap(),
        v["format"]["duration"].as_str().unwrap().parse().unwrap(),
    ))
}

/// The fields of a PCM16 WAV header: (format tag, channels, rate, bits, data length).
fn wav_fields(b: &[u8]) -> (u16, u16, u32, u16, u32) {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    assert_eq!(&b[0..4], b"RIFF");
    assert_eq!(u32_at(4) as usize, b.len() - 8, "RIFF size");
    assert_eq!(&b[8..16], b"WAVEfmt ");
    assert_eq!(&b[36..40], b"data");
    (u16_at(20), u16_at(22), u32_at(24), u16_at(34), u32_at(40))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_page_lists_searches_and_escapes_every_field() {
    let dir = TempDir::new("http-page");
    let (server, http) = start_server(&dir);
    three_calls(&server);

    let page = fetch(http, "/plain");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text();
    // Newest first, one row per recording, each with its player.
    let rows: Vec<&str> = html.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 3, "{html}");
    assert!(rows[0].contains("777") && rows[1].contains("5550123") && rows[2].contains("1002"));
    assert_eq!(
        html.matches("<audio controls preload=\"none\" src=\"/recordings/")
            .count(),
        3
    );
    assert!(html.contains("张三") && html.contains("G722") && html.contains("hangup"));
    // The hostile names appear only escaped; nothing runs and nothing comes from elsewhere.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("&quot;&#39;&amp;&lt;&gt;"), "{html}");
    assert!(!html.contains("<script") && !html.contains(HOSTILE_NAME));
    assert!(!html.contains(HOSTILE_LOCAL));
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"));
    // The start in local time, as YYYY-MM-DD HH:MM:SS.
    let today = list(http, "")[0]["rid"].as_str().unwrap()[..10].to_owned();
    assert!(html.contains(&format!("{today} ")), "{html}");

    // Search by number (remote or local, any part or its start), name, codec, date, duration,
    // in either order: the page and the API agree (both ask the catalog).
    let cases: [(&str, &[&str]); 16] = [
        ("", &["c3", "b2", "a1"]),
        ("?number=555", &["b2"]),
        ("?number=100", &["a1"]), // 1002 remote and 1001 local: listed once
        ("?number=200", &["c3", "b2"]), // local numbers 2001 and 2002
        ("?number=%2B49", &[]),
        (&format!("?date={today}"), &["c3", "b2", "a1"]),
        (&format!("?number=777&date={today}"), &["c3"]),
        ("?date=2000-01-01&number=", &[]),
        ("?number=55501&number_match=prefix", &["b2"]),
        ("?number=0123&number_match=prefix", &[]),
        ("?name=%E5%BC%A0", &["a1"]),
        ("?name=DESK", &["a1"]),
        ("?codec=G722", &["c3"]),
        ("?order=oldest", &["a1", "b2", "c3"]),
        ("?min_duration=1&max_duration=1", &["c3", "b2"]), // 1.5 s and 1 s; a1 is 2 s
        (
            &format!("?from={today}T00:00&to={today}"),
            &["c3", "b2", "a1"],
        ),
    ];
    for (query, want) in cases {
        assert_eq!(ids(&list(http, query)), want, "{query}");
        let html = fetch(http, &format!("/plain{query}")).text();
        assert_eq!(html.matches("<audio ").count(), want.len(), "{query}");
    }
    // The form keeps the search, escaped.
    let html = fetch(http, "/plain?number=%22%3E%3Cscript%3E").text();
    assert!(
        html.contains("value=\"&quot;&gt;&lt;script&gt;\""),
        "{html}"
    );
    assert!(!html.contains("<script"));
    // Paging: one per page, with a link to the next (a cursor) and to the first.
    let html = fetch(http, "/plain?limit=1&offset=1").text();
    assert_eq!(html.matches("<audio ").count(), 1);
    assert!(
        html.contains("5550123") && html.contains("cursor=") && html.contains("First page"),
        "{html}"
    );
    let r = fetch(http, "/api/recordings?limit=2");
    assert_eq!(
        (
            r.json().as_array().unwrap().len(),
            r.header("x-total-count")
        ),
        (2, Some("3"))
    );
    let next = r.header("x-next-cursor").expect("a next page").to_owned();
    let r = fetch(http, &format!("/api/recordings?limit=2&cursor={next}"));
    assert_eq!(ids(r.json().as_array().unwrap()), ["a1"]);
    assert_eq!(
        (r.header("x-total-count"), r.header("x-next-cursor")),
        (Some("3"), None)
    );

    // Bad queries are refused.
    for q in [
        "?date=2026-13-01",
        "?date=yesterday",
        "?number=%ZZ",
        "?number=%FF",
        "?offset=-1",
        "?cursor=12.x",
        "?codec=opus",
        "?from=2026-11-21T25:00",
    ] {
        assert_eq!(
            fetch(http, &format!("/api/recordings{q}")).status,
            400,
            "{q}"
        );
        assert_eq!(fetch(http, &format!("/plain{q}")).status, 400, "{q}");
    }
}

#[test]
fn the_api_gives_the_sidecar_fields_with_rid_and_urls() {
    let dir = TempDir::new("http-api");
    let (server, http) = start_server(&dir);
    three_calls(&server);

    let on_disk = server.sidecars();
    // The catalog is written a moment after each sidecar: wait until it has the last ones.
    let same = |row: &Value| {
        let sc = on_disk.iter().find(|s| s["id"] == row["id"]);
        sc.is_some_and(|sc| sc.as_object().unwrap().iter().all(|(k, v)| &row[k] == v))
    };
    let rows = Server::wait(|| {
        let rows = list(http, "");
        rows.iter().all(same).then_some(rows)
    })
    .unwrap_or_else(|| list(http, ""));
    for row in &rows {
        let sc = on_disk.iter().find(|s| s["id"] == row["id"]).unwrap();
        // Every sidecar field, as the sidecar has it.
        for (k, v) in sc.as_object().unwrap() {
            assert_eq!(&row[k], v, "{k}");
        }
        let rid = row["rid"].as_str().unwrap();
        let stem = sc["files"][0]
            .as_str()
            .unwrap()
            .strip_suffix(".wav")
            .unwrap();
        assert_eq!(rid, format!("{}_{stem}", &rid[..10]));
        assert_eq!(row["in_progress"], false);
        assert_eq!(row["audio_url"], format!("/recordings/{rid}/audio.wav"));
        assert_eq!(
            row["download_url"],
            format!("/recordings/{rid}/download.wav")
        );
        assert_eq!(
            row["originals"],
            serde_json::json!([format!("/recordings/{rid}/original/1")])
        );
        let start = row["start_local"].as_str().unwrap();
        assert_eq!((start.len(), &start[..10]), (19, &rid[..10]), "{start}");
        // One by its RID is the same object.
        let one = fetch(http, &format!("/api/recordings/{rid}"));
        assert_eq!(one.status, 200);
        assert_eq!(&one.json(), row);
    }
    let b = by_id(&rows, "b2");
    assert_eq!(b["remote_name"], HOSTILE_NAME);
    assert_eq!(b["local_name"], HOSTILE_LOCAL);
    assert_eq!(
        (b["codec"].as_str(), b["duration_ms"].as_u64()),
        (Some("PCMU"), Some(1000))
    );
    assert_eq!(by_id(&rows, "a1")["remote_name"], "张三");
    assert_eq!(by_id(&rows, "c3")["duration_ms"], 1500);
}

#[test]
fn audio_is_a_pcm16_wav_of_the_whole_recording_and_originals_are_the_stored_bytes() {
    let dir = TempDir::new("http-audio");
    let (server, http) = start_server(&dir);
    three_calls(&server);
    let rows = list(http, "");

    for (id, rate) in [("a1", 8000), ("b2", 8000), ("c3", 16_000)] {
        let row = by_id(&rows, id);
        let ms = row["duration_ms"].as_u64().unwrap();
        let wav = fetch(http, row["audio_url"].as_str().unwrap());
        assert_eq!(wav.status, 200);
        assert_eq!(wav.header("content-type"), Some("audio/wav"));
        assert_eq!(wav.header("accept-ranges"), Some("bytes"));
        let (tag, channels, r, bits, data) = wav_fields(&wav.body);
        assert_eq!((tag, channels, r, bits), (1, 1, rate, 16), "{id}");
        assert_eq!(u64::from(data), ms * u64::from(rate) * 2 / 1000, "{id}");
        let path = dir.path().join(format!("{id}.wav"));
        std::fs::write(&path, &wav.body).unwrap();
        if let Some((codec, probed_rate, probed_channels, secs)) = ffprobe(&path) {
            assert_eq!(
                (codec.as_str(), probed_rate, probed_channels),
                ("pcm_s16le", rate, 1)
            );
            assert!(
                (secs * 1000.0 - ms as f64).abs() < 1.0,
                "{id}: {secs} s, {ms} ms"
            );
        }

        // Byte for byte what `callrec export` makes of the stored file.
        let stored = server.day_dir().join(row["files"][0].as_str().unwrap());
        let exported = dir.path().join(format!("{id}-export.wav"));
        let (ok, _, err) = common::callrec(&[
            "export",
            stored.to_str().unwrap(),
            exported.to_str().unwrap(),
        ]);
        assert!(ok.success(), "{err}");
        assert!(
            std::fs::read(&exported).unwrap() == wav.body,
            "{id}: differs from export"
        );

        // The download is the same WAV as an attachment.
        let dl = fetch(http, row["download_url"].as_str().unwrap());
        assert!(dl.body == wav.body);
        let disposition = dl.header("content-disposition").unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\""),
            "{disposition}"
        );

        // The original, byte for byte, under the server's own name.
        let orig = fetch(http, row["originals"][0].as_str().unwrap());
        assert_eq!(orig.status, 200);
        assert_eq!(
            orig.header("content-type"),
            Some("application/octet-stream")
        );
        assert!(
            orig.body == std::fs::read(&stored).unwrap(),
            "{id}: original differs"
        );
        let name = stored.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            orig.header("content-disposition"),
            Some(format!("attachment; filename=\"{name}\"").as_str())
        );

        // Ranges are slices of the whole; G.722 decoded from its start even mid-file.
        let len = wav.body.len();
        for (range, from, to) in [
            ("bytes=0-99", 0, 100),
            ("bytes=1001-4000", 1001, 4001),
            ("bytes=5000-", 5000, len),
            ("bytes=-333", len - 333, len),
            ("bytes=10-999999999", 10, len),
        ] {
            let part = fetch_range(http, row["audio_url"].as_str().unwrap(), range);
            assert_eq!(part.status, 206, "{id} {range}");
            assert!(part.body == wav.body[from..to], "{id} {range}");
            let want = format!("bytes {from}-{}/{len}", to - 1);
            assert_eq!(part.header("content-range"), Some(want.as_str()));
        }
        let past = fetch_range(
            http,
            row["audio_url"].as_str().unwrap(),
            &format!("bytes={len}-"),
        );
        assert_eq!(past.status, 416);
        assert_eq!(
            past.header("content-range"),
            Some(format!("bytes */{len}").as_str())
        );
        let part = fetch_range(http, row["originals"][0].as_str().unwrap(), "bytes=70-89");
        assert!(part.status == 206 && part.body == std::fs::read(&stored).unwrap()[70..90]);
        // HEAD: the headers of GET, no body.
        let url = row["audio_url"].as_str().unwrap();
        let head = parse_head(&exchange(http, &format!("HEAD {url} HTTP/1.1")));
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("content-length"),
            Some(len.to_string().as_str())
        );
        assert!(head.body.is_empty());
    }
}

#[test]
fn the_files_of_one_session_play_as_one_wav() {
    let dir = TempDir::new("http-parts");
    let (server, http) = start_server(&dir);
    // The far end switches from PCMA to G.722 mid-call: a new Record file for the new codec.
    let mut c = Call::start(&server, "sw1", "PCMA", "&remote_number=42");
    c.send(Audio::Pcma, 50);
    c.send(Audio::G722, 50);
    c.stop();
    let row = list(http, "")[0].clone();
    let files = row["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{row}");
    assert_eq!(row["originals"].as_array().unwrap().len(), 2);
    let ms = row["duration_ms"].as_u64().unwrap();
    assert_eq!(ms, 2000);

    let wav = fetch(http, row["audio_url"].as_str().unwrap());
    let (_, _, rate, _, data) = wav_fields(&wav.body);
    // One header for both, at the wider rate; the G.711 part's samples doubled.
    assert_eq!((rate, u64::from(data)), (16_000, ms * 32));
    let path = dir.path().join("both.wav");
    std::fs::write(&path, &wav.body).unwrap();
    if let Some((_, probed_rate, _, secs)) = ffprobe(&path) {
        assert_eq!(probed_rate, 16_000);
        assert!((secs - 2.0).abs() < 0.001, "{secs}");
    }
    // The second half is exactly the G.722 file as `callrec export` decodes it.
    let second = server.day_dir().join(files[1].as_str().unwrap());
    let exported = dir.path().join("second.wav");
    let (ok, _, err) = common::callrec(&[
        "export",
        second.to_str().unwrap(),
        exported.to_str().unwrap(),
    ]);
    assert!(ok.success(), "{err}");
    let g722 = std::fs::read(&exported).unwrap();
    assert!(wav.body.ends_with(&g722[44..]));
    // A range across the boundary is the same slice of the whole.
    let mid = 44 + 32_000;
    let range = format!("bytes={}-{}", mid - 10, mid + 9);
    let part = fetch_range(http, row["audio_url"].as_str().unwrap(), &range);
    assert!(part.status == 206 && part.body == wav.body[mid - 10..mid + 10]);
    for (n, name) in files.iter().enumerate() {
        let orig = fetch(http, row["originals"][n].as_str().unwrap());
        let stored = std::fs::read(server.day_dir().join(name.as_str().unwrap())).unwrap();
        assert!(orig.body == stored, "file {}", n + 1);
    }
}

#[test]
fn a_recording_in_progress_is_listed_and_plays_as_far_as_it_got() {
    let dir = TempDir::new("http-live");
    let (server, http) = start_server(&dir);
    let mut c = Call::start(&server, "live1", "PCMA", "&remote_number=1234");
    c.send(Audio::Pcma, 100);
    // The server writes once a second: wait (bounded) until the file holds the audio.
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = list(http, "");
        // The catalog's writer may not have the session's row yet.
        if rows
            .first()
            .is_some_and(|r| r["duration_ms"].as_u64().unwrap() >= 1900)
        {
            break rows[0].clone();
        }
        assert!(Instant::now() < deadline, "never written: {rows:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(row["in_progress"], true);
    assert!(row["stop_ms"].is_null() && row["stop_reason"].is_null());
    assert_eq!(row["files"].as_array().unwrap().len(), 1);
    let html = fetch(http, "/plain").text();
    assert!(html.contains("in progress"), "{html}");
    let wav = fetch(http, row["audio_url"].as_str().unwrap());
    let (_, _, rate, _, data) = wav_fields(&wav.body);
    assert_eq!(
        u64::from(data) * 1000 / u64::from(rate) / 2,
        row["duration_ms"].as_u64().unwrap()
    );
    // The original as far as it got: the header (perhaps lagging) and at least that audio.
    let orig = fetch(http, row["originals"][0].as_str().unwrap());
    let ms = row["duration_ms"].as_u64().unwrap() as usize;
    assert!(
        orig.body.len() >= 76 + ms * 8,
        "{} < {ms} ms",
        orig.body.len()
    );
    c.stop();
    // The catalog has the final sidecar a moment after it is written.
    let row = &Server::wait(|| {
        let row = list(http, "").remove(0);
        (row["in_progress"] == false).then_some(row)
    })
    .unwrap_or_else(|| list(http, "").remove(0));
    assert_eq!(
        (row["in_progress"].as_bool(), row["duration_ms"].as_u64()),
        (Some(false), Some(2000))
    );
}

#[test]
fn hostile_requests_get_400_404_405_and_touch_nothing() {
    let dir = TempDir::new("http-hostile");
    let (server, http) = start_server(&dir);
    record(&server, "h1", Audio::Pcma, 10, "&remote_number=1");
    let rid = list(http, "")[0]["rid"].as_str().unwrap().to_owned();
    // A file outside the storage that a traversal would reach.
    std::fs::write(dir.path().join("secret.json"), b"{}").unwrap();

    let long = "1".repeat(10_000);
    let bad_ids = [
        "..%2F..%2Fetc%2Fpasswd".to_owned(),
        "..%2F..%2Fsecret".to_owned(),
        "%00".to_owned(),
        format!("{rid}%00"),
        format!("{rid}%2F..%2F..%2Fsecret"),
        long.clone(),
        rid.replace('_', "%5F"),
        format!("{}_19991231_235959_1", &rid[..10]), // the stem's date is not the day's
        "2026-11-21_20261121_080910_0".to_owned(),
        "2026-11-21_20261121_080910_01".to_owned(),
        "2026-11-21_20261121_250910_1".to_owned(),
        format!(" {rid}"),
    ];
    for id in &bad_ids {
        for path in [
            format!("/api/recordings/{id}"),
            format!("/recordings/{id}/audio.wav"),
            format!("/recordings/{id}/download.wav"),
            format!("/recordings/{id}/original/1"),
        ] {
            let r = fetch(http, &path.replace(' ', "%20"));
            assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
        }
    }
    // A well-formed RID of no recording, or a file it does not have: 404.
    let absent = format!("{}9", &rid);
    for path in [
        format!("/api/recordings/{absent}"),
        format!("/recordings/{absent}/audio.wav"),
        format!("/recordings/{rid}/original/2"),
        format!("/recordings/{rid}/original/9999"),
    ] {
        assert_eq!(fetch(http, &path).status, 404, "{path}");
    }
    for path in [
        format!("/recordings/{rid}/original/0"),
        format!("/recordings/{rid}/original/01"),
        format!("/recordings/{rid}/original/x"),
        format!("/recordings/{rid}/original/-1"),
        format!("/recordings/{rid}/original/99999999999"),
    ] {
        assert_eq!(fetch(http, &path).status, 400, "{path}");
    }
    // Paths that are no route.
    for path in [
        "/nope",
        "/api",
        "/api/recordings/",
        "/index.html",
        "/recordings",
        "/recordings/../../etc/passwd",
        "/api/recordings/../../secret.json",
        &format!("/recordings/{rid}/audio.wav/x"),
        &format!("/recordings/{rid}/other.wav"),
        &format!("/{long}"),
    ] {
        let r = fetch(http, path);
        assert_eq!(r.status, 404, "{path}");
    }
    // The API answers errors in JSON.
    let r = fetch(http, "/api/recordings/%00");
    assert_eq!(
        (
            r.status,
            &r.json()["error"],
            r.json()["message"].is_string()
        ),
        (400, &Value::from("bad_request"), true)
    );
    // Methods other than GET and HEAD.
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        for path in [
            "/",
            "/api/recordings",
            &format!("/recordings/{rid}/audio.wav"),
        ] {
            let r = raw(
                http,
                &format!("{method} {path} HTTP/1.1\r\nContent-Length: 0"),
            );
            assert_eq!(r.status, 405, "{method} {path}");
            assert_eq!(r.header("allow"), Some("GET, HEAD"));
        }
    }
    // Headers past 16 KiB: refused by hyper.
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(20_000));
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(format!("{big}\r\n\r\n").as_bytes());
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // Nothing outside the storage was served and the recording is intact.
    assert_eq!(fetch(http, &format!("/api/recordings/{rid}")).status, 200);
    assert!(dir.path().join("secret.json").exists());
}

#[test]
fn at_most_64_connections_are_served_at_once_and_the_next_waits() {
    let dir = TempDir::new("http-limit");
    let (_server, http) = start_server(&dir);
    let mut idle: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(http).unwrap()).collect();
    // The 65th connects (the backlog) but is not answered while the 64 hold their places.
    let mut late = TcpStream::connect(http).unwrap();
    late.write_all(
        format!(
            "GET /api/recordings HTTP/1.1{}\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            bearer(http)
        )
        .as_bytes(),
    )
    .unwrap();
    late.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 1];
    let waited = late.read(&mut buf);
    assert!(waited.is_err(), "answered beyond the limit: {waited:?}");
    // One place frees: the 65th is served.
    drop(idle.pop());
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut all = Vec::new();
    late.read_to_end(&mut all).unwrap();
    let r = parse(&all);
    assert_eq!((r.status, r.body.as_slice()), (200, b"[]".as_slice()));
    drop(idle);
}

// ---------------------------------------------------------------------------------------------
// Integrity: the files' digests, checked by downloads and by `callrec-server verify`

/// The Record digest as an auditor computes it, with coreutils alone.
fn coreutils_digest(path: &Path) -> String {
    let script = format!(
        "{{ tail -c +77 '{0}'; head -c 76 '{0}'; }} | sha256sum",
        path.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_owned()
}

/// A GET whose answer the server may cut: `None` if the connection closed before the headers
/// (a file of one block ends before anything is sent), else the reply with whatever body
/// arrived and the Content-Length it promised.
fn fetch_cut(addr: SocketAddr, path: &str) -> Option<(Reply, usize)> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1{}\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            bearer(addr)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    // A cut answer may end with a reset rather than an end of stream.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    if all.is_empty() {
        return None;
    }
    let reply = parse_head(&all);
    let len = reply.header("content-length").unwrap().parse().unwrap();
    Some((reply, len))
}

/// Asserts that the GET of `path` does not deliver the whole answer.
fn assert_cut(addr: SocketAddr, path: &str) {
    if let Some((reply, promised)) = fetch_cut(addr, path) {
        assert_eq!(reply.status, 200);
        assert!(
            reply.body.len() < promised,
            "{path}: a damaged file was sent whole"
        );
    }
}

/// The headers of a HEAD of `path` (which reads, and so checks, nothing).
fn head(addr: SocketAddr, path: &str) -> Reply {
    parse_head(&exchange(addr, &format!("HEAD {path} HTTP/1.1")))
}

/// The recording `id` as the API has it once `cond` holds (the catalog records checks a moment
/// after the download that made them).
fn api_until(http: SocketAddr, id: &str, cond: impl Fn(&Value) -> bool) -> Value {
    // A deadline, not a count of tries: on a loaded machine each listing takes longer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = by_id(&list(http, ""), id).clone();
        if cond(&last) {
            return last;
        }
        assert!(Instant::now() < deadline, "never reached: {last}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `callrec-server verify ARGS`: exit code, stdout, stderr.
fn verify(args: &[&str]) -> (i32, String, String) {
    common::server::console("verify", args)
}

#[test]
fn each_file_has_a_digest_that_a_whole_download_verifies() {
    let dir = TempDir::new("http-digest");
    let (server, http) = start_server(&dir);
    // Two files: the far end switches codec mid-call.
    let mut c = Call::start(&server, "dg1", "PCMA", "&remote_number=42");
    c.send(Audio::Pcma, 60);
    c.send(Audio::G722, 40);
    c.stop();
    let sidecar = server.sidecars().remove(0);
    let files: Vec<String> = sidecar["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files.len(), 2, "{sidecar}");
    // The sidecar's digest of each file is what coreutils compute from the file as stored.
    for f in &files {
        let stored = server.day_dir().join(f);
        assert_eq!(
            sidecar["digests"][f].as_str(),
            Some(coreutils_digest(&stored).as_str()),
            "{f}"
        );
    }
    let row = api_until(http, "dg1", |r| r["stop_ms"] == sidecar["stop_ms"]);
    assert_eq!(row["digests"], sidecar["digests"]);
    assert_eq!(
        (&row["integrity"], &row["checked_ms"]),
        (&Value::from("unchecked"), &Value::Null)
    );
    // A range is no check; a whole original is, of its file.
    let rid = row["rid"].as_str().unwrap();
    let part = fetch_range(http, &format!("/recordings/{rid}/original/1"), "bytes=0-99");
    assert_eq!(part.status, 206);
    let first = fetch(http, &format!("/recordings/{rid}/original/1"));
    assert_eq!(first.header("x-integrity"), Some("unchecked"));
    let row = api_until(http, "dg1", |r| {
        r["checks"][&files[0]]["state"] == "verified"
    });
    assert_eq!(
        row["integrity"], "unchecked",
        "the second file is not checked yet"
    );
    assert!(row["checks"].get(&files[1]).is_none(), "{row}");
    // The WAV reads both files whole: both verified, so is the recording.
    let wav = fetch(http, &format!("/recordings/{rid}/audio.wav"));
    assert_eq!(
        (wav.status, wav.header("x-integrity")),
        (200, Some("unchecked"))
    );
    let row = api_until(http, "dg1", |r| r["integrity"] == "verified");
    assert!(row["checked_ms"].as_u64().unwrap() >= row["stop_ms"].as_u64().unwrap());
    let one = fetch(http, &format!("/api/recordings/{rid}")).json();
    assert_eq!(one["integrity"], "verified");
    let page = fetch(http, "/plain?integrity=verified").text();
    assert!(
        page.contains(">verified</span>") && page.contains("1 recording;"),
        "{page}"
    );
    assert_eq!(list(http, "?integrity=mismatch").len(), 0);
    let again = fetch(http, &format!("/recordings/{rid}/original/2"));
    assert_eq!(again.header("x-integrity"), Some("verified"));
}

#[test]
fn a_changed_byte_is_a_mismatch_for_downloads_the_api_and_verify() {
    let dir = TempDir::new("http-mismatch");
    let (server, http) = start_server(&dir);
    record(&server, "ok1", Audio::Pcma, 50, "&remote_number=1");
    // Long enough for several blocks of 16 KiB.
    record(&server, "bad1", Audio::Pcmu, 250, "&remote_number=2");
    let storage = server.storage.to_str().unwrap().to_owned();
    for id in ["ok1", "bad1"] {
        api_until(http, id, |r| r["in_progress"] == false);
    }
    // A clean store, checked while the server runs on it.
    let (code, out, err) = verify(&["--storage", &storage]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 recording(s) checked: 2 verified") && out.contains("all intact"));
    let row = api_until(http, "bad1", |r| r["integrity"] == "verified");
    let rid = row["rid"].as_str().unwrap().to_owned();
    let name = row["files"][0].as_str().unwrap().to_owned();
    let path = server.day_dir().join(&name);
    let good = std::fs::read(&path).unwrap();

    // One byte of the audio changes on disk.
    let mut bad = good.clone();
    bad[76 + 500] ^= 0x01;
    std::fs::write(&path, &bad).unwrap();
    // As last checked, before any download reads it again.
    let original = format!("/recordings/{rid}/original/1");
    let h = head(http, &original);
    assert_eq!(h.header("x-integrity"), Some("verified"));
    let len = good.len().to_string();
    assert_eq!(h.header("content-length"), Some(len.as_str()));
    // The whole download is cut short of its length; the catalog records the mismatch.
    // (Or it ends before its headers are out, if the server cuts before they are flushed.)
    if let Some((reply, promised)) = fetch_cut(http, &original) {
        assert_eq!((reply.status, promised), (200, good.len()));
        assert!(reply.body.len() < promised, "a damaged file was sent whole");
        assert_eq!(reply.body[..], bad[..reply.body.len()]);
    }
    let row = api_until(http, "bad1", |r| r["integrity"] == "mismatch");
    assert_eq!(row["checks"][&name]["state"], "mismatch");
    assert_eq!(by_id(&list(http, ""), "ok1")["integrity"], "verified");
    let page = fetch(http, "/plain").text();
    assert!(page.contains("<span class=\"bad\""), "{page}");
    assert_eq!(ids(&list(http, "?integrity=mismatch")), vec!["bad1"]);
    // The playback says so before it starts, and is cut too.
    let audio = format!("/recordings/{rid}/audio.wav");
    assert_eq!(head(http, &audio).header("x-integrity"), Some("mismatch"));
    assert_cut(http, &audio);
    assert_cut(http, &original);
    // A range is sent: it is no check.
    let part = fetch_range(http, &format!("/recordings/{rid}/original/1"), "bytes=0-99");
    assert_eq!((part.status, &part.body[..]), (206, &bad[..100]));
    // verify names it and exits 1.
    let (code, out, err) = verify(&["--storage", &storage]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("mismatch {rid} {name}: its bytes give digest")),
        "{out}"
    );
    assert!(
        !out.contains(" ok1") && out.contains("NOT all intact"),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("mismatch ")).count(),
        1,
        "{out}"
    );

    // Put back: intact again, and verify's run is the recording's last check.
    std::fs::write(&path, &good).unwrap();
    let (code, out, _) = verify(&["--storage", &storage]);
    assert_eq!(code, 0, "{out}");
    api_until(http, "bad1", |r| r["integrity"] == "verified");
    // A header byte (the data size) changes: a mismatch too.
    let mut bad = good.clone();
    bad[72] ^= 0x80;
    std::fs::write(&path, &bad).unwrap();
    let (code, out, _) = verify(&["--storage", &storage, "--no-record"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("mismatch {rid} {name}")), "{out}");
    // --no-record left the catalog's last check alone.
    assert_eq!(by_id(&list(http, ""), "bad1")["integrity"], "verified");
    // A file gone: missing, for verify and, after it, the API.
    std::fs::remove_file(&path).unwrap();
    let (code, out, _) = verify(&["--storage", &storage]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("missing {rid} {name}: not there")),
        "{out}"
    );
    api_until(http, "bad1", |r| r["integrity"] == "missing");
    assert_eq!(
        fetch(http, &format!("/recordings/{rid}/original/1")).status,
        404
    );
    // Only recordings since a date: none since tomorrow.
    let tomorrow =
        callrec_platform::clock::local_time_of(callrec_platform::clock::unix_seconds() + 86_400);
    let since = format!(
        "{:04}-{:02}-{:02}",
        tomorrow.year, tomorrow.month, tomorrow.day
    );
    let (code, out, _) = verify(&["--storage", &storage, "--since", &since]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 recording(s) checked"), "{out}");
    // What it cannot do, it says, with its own exit codes.
    let (code, _, err) = verify(&["--since", "2026-11-21"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--storage DIR is required"), "{err}");
    let (code, _, err) = verify(&["--storage", &storage, "--since", "21.11.2026"]);
    assert_eq!(code, 2, "{err}");
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = verify(&["--storage", empty.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no catalog at"), "{err}");
    drop(server);
}

#[test]
fn a_file_cut_off_by_a_kill_gets_the_digest_of_its_repair() {
    let dir = TempDir::new("http-digest-kill");
    let storage = dir.path().join("recordings");
    let mut server = Server::start_at(&storage, dir.path(), &[]);
    let mut c = Call::start(&server, "kill1", "PCMA", "");
    c.send(Audio::Pcma, 100);
    // The header catches up once a second: wait until the file holds the audio.
    let file = Server::wait(|| {
        let day = server.day_dirs().into_iter().next()?;
        let f = std::fs::read_dir(day)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "wav"))?;
        (std::fs::metadata(&f).ok()?.len() > 76 + 8000).then_some(f)
    })
    .expect("the file grows");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(c);
    let server = Server::start_at(&storage, dir.path(), &[]);
    let sidecar = server.sidecars().remove(0);
    assert_eq!(sidecar["stop_reason"], "server restart");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        sidecar["digests"][name].as_str(),
        Some(coreutils_digest(&file).as_str())
    );
    let (code, out, _) = verify(&["--storage", storage.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
}
