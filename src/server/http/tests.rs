//! The sans-IO parts of the web side, and the streaming of a WAV from real files block by block.

use super::body::Body;
use super::guard::StallGuard;
use super::page::{esc, render};
use super::pool::{Pool, Refused};
use super::query::{QueryError, Search};
use super::range::{ranged, Ranged};
use super::rid::Rid;
use super::route::{resolve, Miss, Route};
use super::source::{Source, WavBlocks, BLOCK};
use super::wav::{Cursor, Part, WavPlan};
use crate::audio::g722::G722Encoder;
use crate::core::codec::Codec;
use crate::core::record_file::Header;
use crate::server::store::Sidecar;
use std::path::{Path, PathBuf};

const RID: &str = "2026-11-21_20261121_080910_3";

#[test]
fn a_rid_is_the_day_and_the_stem_in_the_exact_shape() {
    let rid = Rid::parse(RID).unwrap();
    assert_eq!((rid.day(), rid.stem()), ("2026-11-21", "20261121_080910_3"));
    assert_eq!(rid.to_string(), RID);
    let slot = rid.slot(Path::new("/store"));
    assert_eq!(slot.dir, Path::new("/store/2026-11-21"));
    assert_eq!(
        slot.sidecar_path(),
        Path::new("/store/2026-11-21/20261121_080910_3.json")
    );
    assert_eq!(Rid::of_slot(&slot), Some(rid));
    assert!(Rid::parse("2026-11-21_20261121_235960_100000").is_some());

    let long = "1".repeat(10_000);
    for bad in [
        "",
        "..%2F..%2Fetc%2Fpasswd",
        "../../etc/passwd",
        "%00",
        "\0",
        &long,
        "2026-11-21_20261121_080910_",
        "2026-11-21_20261121_080910_0",
        "2026-11-21_20261121_080910_03",
        "2026-11-21_20261121_080910_100001",
        "2026-11-21_20261121_080910_1234567",
        "2026-11-21_20261122_080910_3", // stem of another day
        "2026-13-21_20261321_080910_3", // month 13
        "2026-11-00_20261100_080910_3", // day 0
        "2026-11-21_20261121_240910_3", // hour 24
        "2026-11-21_20261121_086010_3", // minute 60
        "2026-11-21-20261121_080910_3",
        "2026_11_21_20261121_080910_3",
        "2026-11-21_20261121-080910_3",
        "2026-11-21_20261121_080910-3",
        "2026-11-21_20261121_080910_3 ",
        " 2026-11-21_20261121_080910_3",
        "2026-11-21_20261121_080910_3/",
        "2026-11-21_2026112a_080910_3",
        "2026-11-21_20261121_080910_+3",
        "2026-11-21_20261121_080910_3\u{e9}",
        "２026-11-21_20261121_080910_3",
    ] {
        assert_eq!(Rid::parse(bad), None, "{bad:?}");
    }
    // A folder or a file the server did not name has no RID.
    let stray = crate::server::store::Slot {
        dir: PathBuf::from("/store/lost+found"),
        stem: "20261121_080910_3".into(),
    };
    assert_eq!(Rid::of_slot(&stray), None);
}

#[test]
fn paths_resolve_to_routes_or_to_the_reason() {
    let rid = Rid::parse(RID).unwrap();
    let ok = |p: &str| resolve("GET", p);
    assert_eq!(ok("/"), Ok(Route::Page));
    assert_eq!(ok("/api/recordings"), Ok(Route::List));
    assert_eq!(
        ok(&format!("/api/recordings/{RID}")),
        Ok(Route::One(rid.clone()))
    );
    assert_eq!(
        ok(&format!("/recordings/{RID}/audio.wav")),
        Ok(Route::Wav {
            rid: rid.clone(),
            attachment: false
        })
    );
    assert_eq!(
        resolve("HEAD", &format!("/recordings/{RID}/download.wav")),
        Ok(Route::Wav {
            rid: rid.clone(),
            attachment: true
        })
    );
    assert_eq!(
        ok(&format!("/recordings/{RID}/original/12")),
        Ok(Route::Original { rid, n: 12 })
    );
    for p in [
        "",
        "//",
        "/api",
        "/api/",
        "/api/recordings/",
        "/api/recordings//",
        "/recordings",
        &format!("/recordings/{RID}"),
        &format!("/recordings/{RID}/"),
        &format!("/recordings/{RID}/audio.wav/"),
        &format!("/recordings/{RID}/original"),
        &format!("/recordings/{RID}/original/1/2"),
        "/recordings/../../../etc/passwd",
        "*",
    ] {
        assert_eq!(ok(p), Err(Miss::NotFound), "{p:?}");
    }
    for p in [
        "/api/recordings/..%2F..%2Fetc%2Fpasswd",
        "/api/recordings/..",
        "/recordings/%00/audio.wav",
        &format!("/recordings/{RID}/original/0"),
        &format!("/recordings/{RID}/original/00001"),
        &format!("/recordings/{RID}/original/10000"),
        &format!("/recordings/{RID}/original/+1"),
    ] {
        assert_eq!(ok(p), Err(Miss::BadId), "{p:?}");
    }
    for m in ["POST", "PUT", "DELETE", "OPTIONS", "get", "TRACE"] {
        assert_eq!(resolve(m, "/"), Err(Miss::Method), "{m}");
    }
    // An unknown path is 404 whatever the method.
    assert_eq!(resolve("POST", "/nope"), Err(Miss::NotFound));
}

#[test]
fn the_query_is_decoded_and_checked() {
    let s = Search::parse(Some(
        "number=%2B49+30&date=2026-11-21&offset=5&limit=7&x=%ZZ",
    ))
    .unwrap_err();
    assert_eq!(s, QueryError::Encoding);
    let s = Search::parse(Some("number=%2B49+30&date=2026-11-21&offset=5&limit=7&x=y")).unwrap();
    assert_eq!(
        s,
        Search {
            number: "+49 30".into(),
            date: Some("2026-11-21".into()),
            offset: 5,
            limit: Some(7),
        }
    );
    assert_eq!(Search::parse(None), Ok(Search::default()));
    assert_eq!(
        Search::parse(Some("number=&date=&&offset=")),
        Ok(Search::default())
    );
    // The first of duplicate keys counts; a key without '=' is empty.
    let s = Search::parse(Some("number=1&number=2&date")).unwrap();
    assert_eq!((s.number.as_str(), s.date), ("1", None));
    for (q, e) in [
        ("date=2026-1-21", QueryError::Date),
        ("date=2026-11-32", QueryError::Date),
        ("date=21.11.2026", QueryError::Date),
        ("date=%00", QueryError::Date),
        ("number=%FF", QueryError::Encoding),
        ("number=%", QueryError::Encoding),
        ("offset=-1", QueryError::Count("offset")),
        ("limit=1e3", QueryError::Count("limit")),
        ("limit=9999999999", QueryError::Count("limit")),
    ] {
        assert_eq!(Search::parse(Some(q)), Err(e), "{q}");
    }
    assert_eq!(
        Search::parse(Some(&format!("number={}", "1".repeat(65)))),
        Err(QueryError::Number)
    );

    let s = Search::parse(Some("number=ab&date=2026-11-21")).unwrap();
    assert!(s.matches("2026-11-21", "xAB1", ""));
    assert!(s.matches("2026-11-21", "", "sip:ab@x"));
    assert!(!s.matches("2026-11-22", "ab", "ab"));
    assert!(!s.matches("2026-11-21", "a", "b"));
    assert!(Search::default().matches("1999-01-01", "", ""));
}

#[test]
fn ranges_are_single_byte_ranges_or_ignored() {
    let r = |h: &str, len| ranged(Some(h.as_bytes()), len);
    assert_eq!(ranged(None, 100), Ranged::Full);
    assert_eq!(r("bytes=0-9", 100), Ranged::Part { start: 0, end: 10 });
    assert_eq!(
        r("bytes=90-", 100),
        Ranged::Part {
            start: 90,
            end: 100
        }
    );
    assert_eq!(
        r("bytes=90-1000", 100),
        Ranged::Part {
            start: 90,
            end: 100
        }
    );
    assert_eq!(
        r("bytes=-10", 100),
        Ranged::Part {
            start: 90,
            end: 100
        }
    );
    assert_eq!(r("bytes=-1000", 100), Ranged::Part { start: 0, end: 100 });
    assert_eq!(
        r("bytes=99-99", 100),
        Ranged::Part {
            start: 99,
            end: 100
        }
    );
    assert_eq!(r("bytes=100-", 100), Ranged::Unsatisfiable);
    assert_eq!(r("bytes=-0", 100), Ranged::Unsatisfiable);
    assert_eq!(r("bytes=0-", 0), Ranged::Unsatisfiable);
    assert_eq!(r("bytes=-5", 0), Ranged::Unsatisfiable);
    for ignored in [
        "bytes=5-4",
        "bytes=0-1,5-6",
        "items=0-1",
        "bytes=a-b",
        "bytes=-",
        "bytes=1",
        "bytes=99999999999999999999-",
        "bytes= 1-2x",
    ] {
        assert_eq!(r(ignored, 100), Ranged::Full, "{ignored}");
    }
}

#[test]
fn the_wav_plan_maps_output_bytes_to_input_bytes() {
    let pcma = Part {
        codec: Codec::Pcma,
        data_len: 1600,
    };
    let g722 = Part {
        codec: Codec::G722,
        data_len: 800,
    };
    let narrow = WavPlan::new(vec![pcma, pcma], Codec::Pcma);
    assert_eq!(
        (narrow.rate(), narrow.data_len(), narrow.len()),
        (8000, 6400, 6444)
    );
    assert_eq!(narrow.duration_ms(), 400);
    assert_eq!(&narrow.header()[..4], b"RIFF");
    assert_eq!(
        narrow.locate(0),
        Some(Cursor {
            part: 0,
            input: 0,
            discard: 0
        })
    );
    assert_eq!(
        narrow.locate(3201),
        Some(Cursor {
            part: 1,
            input: 0,
            discard: 1
        })
    );
    assert_eq!(
        narrow.locate(3210),
        Some(Cursor {
            part: 1,
            input: 5,
            discard: 0
        })
    );
    assert_eq!(narrow.locate(6400), None);
    // Mixed: 16 kHz, G.711 doubled; G.722 is decoded from the start of its file.
    let mixed = WavPlan::new(vec![pcma, g722], Codec::Pcma);
    assert_eq!(
        (mixed.rate(), mixed.data_len(), mixed.duration_ms()),
        (16_000, 9600, 300)
    );
    assert_eq!(
        mixed.locate(6401),
        Some(Cursor {
            part: 1,
            input: 0,
            discard: 1
        })
    );
    assert_eq!(
        mixed.locate(6399),
        Some(Cursor {
            part: 0,
            input: 1599,
            discard: 3
        })
    );
    assert_eq!(
        mixed.locate(6403),
        Some(Cursor {
            part: 1,
            input: 0,
            discard: 3
        })
    );
    // Empty parts are skipped; no part at all takes the session's codec for the rate.
    let gaps = WavPlan::new(
        vec![
            Part {
                data_len: 0,
                ..pcma
            },
            pcma,
        ],
        Codec::Pcma,
    );
    assert_eq!(
        gaps.locate(0),
        Some(Cursor {
            part: 1,
            input: 0,
            discard: 0
        })
    );
    let none = WavPlan::new(Vec::new(), Codec::G722);
    assert_eq!(
        (none.rate(), none.len(), none.locate(0)),
        (16_000, 44, None)
    );
}

#[test]
fn the_page_escapes_everything_from_a_sidecar_and_the_query() {
    assert_eq!(
        esc("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    let hostile = "<script>alert(1)</script>\"'&<>";
    let view = super::catalog::View {
        rid: RID.into(),
        sidecar: Sidecar {
            id: hostile.into(),
            device: hostile.into(),
            remote_number: hostile.into(),
            remote_name: hostile.into(),
            local_number: hostile.into(),
            local_name: hostile.into(),
            dir: hostile.into(),
            codec: hostile.into(),
            peer: hostile.into(),
            stop_ms: Some(1),
            stop_reason: Some(hostile.into()),
            ..Sidecar::default()
        },
        in_progress: false,
        start_local: hostile.into(),
        audio_url: hostile.into(),
        download_url: hostile.into(),
        originals: vec![hostile.into(), hostile.into()],
    };
    let search = Search {
        number: hostile.into(),
        offset: 1,
        limit: Some(1),
        ..Search::default()
    };
    let html = render(&[view], &search, 3, 1);
    for raw in ["<script", "\"'&<>", "alert(1)</"] {
        assert!(!html.contains(raw), "{raw} in {html}");
    }
    // Paging links carry the search percent-encoded, then HTML-escaped.
    assert!(
        html.contains("offset=0") && html.contains("offset=2"),
        "{html}"
    );
    assert!(html.contains("%3Cscript%3Ealert%281%29"), "{html}");
}

/// A Record file of `codec` with `data` as its audio.
fn record_file(dir: &Path, name: &str, codec: Codec, data: &[u8]) -> PathBuf {
    let header = Header {
        codec,
        rtp_len: 160,
        increment: 160,
        data_size: data.len() as u32,
    };
    let path = dir.join(name);
    let mut bytes = header.encode().to_vec();
    bytes.extend_from_slice(data);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn collect(mut source: Source) -> (Vec<u8>, usize) {
    let (mut out, mut blocks) = (Vec::new(), 0);
    while let Some(b) = source.next_block().unwrap() {
        assert!(!b.is_empty() && b.len() <= 4 * BLOCK);
        out.extend_from_slice(&b);
        blocks += 1;
    }
    (out, blocks)
}

#[test]
fn a_wav_streams_block_by_block_and_any_range_is_a_slice_of_it() {
    let dir = std::env::temp_dir().join(format!("callrec-http-wav-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Three files: A-law, G.722 (a tone, longer than a block), μ-law.
    let alaw: Vec<u8> = (0..1600u32).map(|i| (i * 7 % 251) as u8).collect();
    let tone: Vec<i16> = (0..2 * 48_000)
        .map(|i| ((f64::from(i) / 16_000.0 * 440.0 * std::f64::consts::TAU).sin() * 9000.0) as i16)
        .collect();
    let mut g722 = vec![0u8; tone.len() / 2];
    G722Encoder::new().encode(&tone, &mut g722);
    let ulaw: Vec<u8> = (0..3200u32).map(|i| (i * 13 % 256) as u8).collect();
    let files = vec![
        record_file(&dir, "a.wav", Codec::Pcma, &alaw),
        record_file(&dir, "b.wav", Codec::G722, &g722),
        record_file(&dir, "c.wav", Codec::Pcmu, &ulaw),
    ];
    let parts = vec![
        Part {
            codec: Codec::Pcma,
            data_len: alaw.len() as u64,
        },
        Part {
            codec: Codec::G722,
            data_len: g722.len() as u64,
        },
        Part {
            codec: Codec::Pcmu,
            data_len: ulaw.len() as u64,
        },
    ];
    let plan = WavPlan::new(parts, Codec::Pcma);
    let len = plan.len();
    assert_eq!(len, 44 + 4 * (1600 + 48_000 + 3200));
    let (whole, blocks) = collect(Source::Wav(Box::new(WavBlocks::new(
        files.clone(),
        plan.clone(),
        0,
        len,
    ))));
    assert_eq!(whole.len() as u64, len);
    assert!(blocks > 48_000 / BLOCK, "{blocks}");
    assert_eq!(&whole[..44], &plan.header()[..]);
    // The G.711 samples are doubled at 16 kHz.
    let sample = |i: usize| crate::audio::g711::alaw_to_linear(alaw[i]).to_le_bytes();
    assert_eq!(
        whole[44..52],
        [sample(0), sample(0), sample(1), sample(1)].concat()
    );

    let g_start = 44 + 4 * 1600;
    let g_end = g_start + 4 * 48_000;
    for (start, end) in [
        (0, 1),
        (0, 44),
        (43, 47),
        (45, 46),
        (g_start - 3, g_start + 3),
        (
            g_start + 4 * BLOCK as u64 + 1,
            g_start + 4 * BLOCK as u64 + 9,
        ),
        (g_end - 2, g_end + 6),
        (g_end - 100_000, len),
        (len - 1, len),
    ] {
        let (part, _) = collect(Source::Wav(Box::new(WavBlocks::new(
            files.clone(),
            plan.clone(),
            start,
            end,
        ))));
        assert!(
            part == whole[start as usize..end as usize],
            "{start}..{end}"
        );
    }
    // A file that shrank under the plan ends the answer with an error, not short data.
    std::fs::write(&files[2], &std::fs::read(&files[2]).unwrap()[..100]).unwrap();
    let mut s = Source::Wav(Box::new(WavBlocks::new(files, plan, g_end, len)));
    let mut got = 0;
    let err = loop {
        match s.next_block() {
            Ok(Some(b)) => got += b.len(),
            Ok(None) => panic!("ended as if complete after {got} bytes"),
            Err(e) => break e,
        }
    };
    assert_eq!(
        (got, err.kind()),
        (4 * 24, std::io::ErrorKind::UnexpectedEof)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_streamed_body_announces_its_length_and_ends_on_a_source_error() {
    use http_body_util::BodyExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("callrec-http-body-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data = vec![0xD5; 3 * BLOCK + 5];
        let path = record_file(&dir, "a.wav", Codec::Pcma, &data);
        let pool = Pool::new(2, 4).unwrap();
        let plan = WavPlan::new(
            vec![Part {
                codec: Codec::Pcma,
                data_len: data.len() as u64,
            }],
            Codec::Pcma,
        );
        let len = plan.len();
        let body = Body::stream(
            Source::Wav(Box::new(WavBlocks::new(
                vec![path.clone()],
                plan.clone(),
                0,
                len,
            ))),
            len,
            pool.clone(),
        );
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(len));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len() as u64, len);
        assert!(bytes[44..].iter().all(|&b| b == 0x08 || b == 0x00));
        // Announcing more than the source holds is an error, not a short answer.
        let body = Body::stream(
            Source::Wav(Box::new(WavBlocks::new(vec![path], plan, 0, len))),
            len + 1,
            pool,
        );
        assert!(body.collect().await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn a_client_that_stops_reading_times_out() {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A pipe of 64 bytes that nobody reads.
        let (near, _far) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(near, std::time::Duration::from_millis(50));
        let started = std::time::Instant::now();
        let err = guarded.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= std::time::Duration::from_millis(50));
        // Progress disarms it: a reader that keeps up is never timed out.
        let (near, mut far) = tokio::io::duplex(64);
        let mut guarded = StallGuard::new(near, std::time::Duration::from_millis(200));
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut far, &mut sink)
                .await
                .map(|_| sink.len())
        });
        guarded.write_all(&[1u8; 64 * 1024]).await.unwrap();
        guarded.shutdown().await.unwrap();
        drop(guarded);
        assert_eq!(reader.await.unwrap().unwrap(), 64 * 1024);
    });
}

#[test]
fn the_reader_pool_runs_jobs_and_refuses_past_its_queue() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = Pool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        // A job that panics fails alone; the thread goes on.
        assert_eq!(pool.run(|| -> u8 { panic!("a bug") }).await, Err(Refused));
        assert_eq!(pool.run(|| 1).await, Ok(1));
        // The one thread busy, the one place in the queue taken: the next job is refused.
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let busy = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                hold_rx.recv().unwrap();
            })
            .unwrap();
        started_rx.recv().unwrap();
        let queued = pool.submit(|| 2).unwrap();
        assert_eq!(pool.submit(|| 3).err(), Some(Refused));
        hold_tx.send(()).unwrap();
        busy.await.unwrap();
        assert_eq!(queued.await, Ok(2));
    });
}
