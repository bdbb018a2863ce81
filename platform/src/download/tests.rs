//! The Range header, the WAV plan, the sources read block by block from real files, the
//! reader pool. (The record server's streamed body is tested in `callrec_server::http::body`.)

use super::pool::{Pool, Refused};
use super::range::{ranged, Ranged};
use super::source::{FileBlocks, Source, WavBlocks, BLOCK};
use super::wav::{Cursor, Part, WavPlan};
use callrec_core::audio::g722::G722Encoder;
use callrec_core::codec::Codec;
use callrec_core::record_file::testing::file_bytes;
use std::path::{Path, PathBuf};

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

/// A Record file of `codec` with `data` as its audio.
fn record_file(dir: &Path, name: &str, codec: Codec, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, file_bytes(codec, data.len(), data)).unwrap();
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
    let sample = |i: usize| callrec_core::audio::g711::alaw_to_linear(alaw[i]).to_le_bytes();
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

#[test]
fn a_file_streams_as_stored_with_its_head_replaced_if_asked() {
    let dir = std::env::temp_dir().join(format!("callrec-download-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let data: Vec<u8> = (0..2 * BLOCK as u32 + 7).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).unwrap();
    let open = || std::fs::File::open(&path).unwrap();
    let len = data.len() as u64;
    let (whole, blocks) = collect(Source::File(FileBlocks::new(open(), 0, len).unwrap()));
    assert_eq!((whole, blocks), (data.clone(), 3));
    let (part, _) = collect(Source::File(FileBlocks::new(open(), 5, 10).unwrap()));
    assert_eq!(part, data[5..15]);
    // A head of 4 bytes stands for the file's first 4, whatever the range.
    let mut patched = data.clone();
    patched[..4].copy_from_slice(b"HEAD");
    for (start, end) in [
        (0, len),
        (0, 2),
        (2, 6),
        (3, 4),
        (4, 9),
        (BLOCK as u64, len),
    ] {
        let head = bytes::Bytes::from_static(b"HEAD");
        let blocks = FileBlocks::with_head(open(), head, start, end - start).unwrap();
        let (got, _) = collect(Source::File(blocks));
        assert!(
            got == patched[start as usize..end as usize],
            "{start}..{end}"
        );
    }
    // A file shorter than announced ends with an error.
    let mut s = Source::File(FileBlocks::new(open(), len - 2, 3).unwrap());
    assert_eq!(s.next_block().unwrap().unwrap().len(), 2);
    assert_eq!(
        s.next_block().unwrap_err().kind(),
        std::io::ErrorKind::UnexpectedEof
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_source_shows_the_stored_bytes_it_reads_in_order_with_their_offsets() {
    let dir = std::env::temp_dir().join(format!("callrec-http-seen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Two files, the second longer than a block.
    let a: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let b: Vec<u8> = (0..(BLOCK as u32 + 500)).map(|i| (i % 253) as u8).collect();
    let files = vec![
        record_file(&dir, "a.wav", Codec::Pcma, &a),
        record_file(&dir, "b.wav", Codec::Pcmu, &b),
    ];
    let parts = [(Codec::Pcma, &a), (Codec::Pcmu, &b)]
        .iter()
        .map(|(codec, d)| Part {
            codec: *codec,
            data_len: d.len() as u64,
        })
        .collect();
    let plan = WavPlan::new(parts, Codec::Pcma);
    let len = plan.len();
    let mut source = Source::Wav(Box::new(WavBlocks::new(files.clone(), plan, 0, len)));
    // Each file's data, rebuilt from what the source shows, at the offsets it names.
    let mut rebuilt: Vec<Vec<u8>> = vec![Vec::new(), Vec::new()];
    let mut order = Vec::new();
    let mut seen = |part: usize, at: u64, bytes: &[u8]| {
        assert_eq!(at, 76 + rebuilt[part].len() as u64, "file {part} in order");
        rebuilt[part].extend_from_slice(bytes);
        order.push(part);
    };
    while source.next_block_seen(&mut seen).unwrap().is_some() {}
    assert_eq!((&rebuilt[0], &rebuilt[1]), (&a, &b));
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    // A file as stored: every byte, header and all, from offset 0.
    let whole = std::fs::read(&files[1]).unwrap();
    let file = std::fs::File::open(&files[1]).unwrap();
    let mut source = Source::File(FileBlocks::new(file, 0, whole.len() as u64).unwrap());
    let mut got = Vec::new();
    let mut seen = |part: usize, at: u64, bytes: &[u8]| {
        assert_eq!((part, at), (0, got.len() as u64));
        got.extend_from_slice(bytes);
    };
    while source.next_block_seen(&mut seen).unwrap().is_some() {}
    assert_eq!(got, whole);
    let _ = std::fs::remove_dir_all(&dir);
}
