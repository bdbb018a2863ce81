//! The catalog's behaviour, the same for every engine: each function takes a way to make a
//! catalog spec for a fresh storage folder. `catalog_sqlite.rs` and `catalog_postgres.rs` run
//! all of them.

use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_core::record_file::LocalTime;
use callrec_server::catalog::db::{self, Value};
use callrec_server::catalog::filter::{Filter, NumberMatch, Order, PageAsk};
use callrec_server::catalog::{schema, sql, Catalog, CatalogSpec, CheckWrite, Device, Stamp};
use callrec_server::devices::Registry;
use callrec_server::integrity::{FileCheck, Found, Integrity};
use callrec_server::rid::Rid;
use callrec_server::store::{write_sidecar, Sidecar, Slot, Store};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub type Spec<'a> = &'a dyn Fn(&Path) -> CatalogSpec;

pub fn storage(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "callrec-catalog-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A second of 2026-11-21, local time.
fn at(second: u32) -> LocalTime {
    LocalTime {
        year: 2026,
        month: 11,
        day: 21,
        hour: 8 + (second / 3600) as u8,
        minute: ((second / 60) % 60) as u8,
        second: (second % 60) as u8,
    }
}

/// A finished recording of call `i`, started at `start_ms`.
pub fn sidecar(i: u32, start_ms: u64) -> Sidecar {
    Sidecar {
        id: format!("call-{i}"),
        device: format!("00:15:65:00:00:{:02X}", i % 4),
        remote_number: format!("+4930{i:05}"),
        remote_name: ["Zhang San 张三", "Иван Петров", "ΑΛΈΞΗΣ", "Ana"][i as usize % 4].into(),
        local_number: format!("10{:02}", i % 10),
        local_name: "Front desk".into(),
        dir: if i % 2 == 0 {
            Direction::In
        } else {
            Direction::Out
        },
        codec: [Codec::Pcma, Codec::Pcmu, Codec::G722][i as usize % 3],
        peer: "192.0.2.10".into(),
        start_ms,
        stop_ms: Some(start_ms + 1000 * u64::from(i)),
        stop_reason: Some(if i % 5 == 0 { "idle" } else { "user" }.into()),
        duration_ms: 1000 * u64::from(i),
        files: vec![],
        stats: Default::default(),
        digests: Default::default(),
        // Devices 0 and 2 registered (in two groups) when their calls started; 1 and 3 not.
        owner: ["Anna Schmidt", "", "王芳", ""][i as usize % 4].into(),
        extension: ["1001", "", "1003", ""][i as usize % 4].into(),
        group: ["Sales", "", "Support", ""][i as usize % 4].into(),
    }
}

/// Writes `n` sidecars as the server would (calls 1..=n, a second apart, some in the same
/// millisecond); their RIDs.
pub fn fill(store: &Store, n: u32) -> Vec<String> {
    (1..=n)
        .map(|i| {
            // Calls 1 and 2 start in the same millisecond: the RID orders them.
            let start = 1_795_248_000_000 + 1000 * u64::from(i.max(2));
            let mut s = sidecar(i, start);
            let slot = store.create(&at(i), &s).unwrap();
            s.files = vec![slot.file_name(1)];
            write_sidecar(&slot, &s).unwrap();
            Rid::of_slot(&slot).unwrap().to_string()
        })
        .collect()
}

fn open(spec: Spec, root: &Path) -> (Store, Catalog) {
    let store = Store::open(root).unwrap();
    let (catalog, _) = Catalog::open(spec(root), &store).unwrap();
    (store, catalog)
}

fn all(c: &Catalog, f: &Filter) -> Vec<String> {
    let ask = PageAsk {
        limit: 1000,
        ..PageAsk::default()
    };
    let page = c.search(f, &ask).unwrap();
    assert_eq!(page.total as usize, page.rows.len());
    page.rows.into_iter().map(|r| r.rid).collect()
}

/// The call numbers `i` of the matches, newest first.
fn calls(c: &Catalog, f: Filter) -> Vec<u32> {
    let ask = PageAsk {
        limit: 1000,
        ..PageAsk::default()
    };
    c.search(&f, &ask)
        .unwrap()
        .rows
        .iter()
        .map(|r| r.sidecar.id.trim_start_matches("call-").parse().unwrap())
        .collect()
}

pub fn an_existing_store_is_imported_and_read_back_whole(spec: Spec) {
    let root = storage("import");
    let store = Store::open(&root).unwrap();
    let rids = fill(&store, 12);
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!((report.imported, report.unchanged), (12, 0), "{report}");
    let row = catalog.get(&rids[0]).unwrap().unwrap();
    let mut expected = sidecar(1, 1_795_248_002_000);
    expected.files = vec![row.sidecar.files[0].clone()];
    assert_eq!(row.sidecar, expected);
    assert_eq!(catalog.get("2026-11-21_20261121_080000_9").unwrap(), None);
    // Newest first; calls 1 and 2 share a millisecond, ordered by RID.
    let mut newest: Vec<String> = rids.clone();
    newest.reverse();
    assert_eq!(all(&catalog, &Filter::default()), newest);
    drop(catalog);
    // Opened again with nothing changed: nothing is read again.
    let (_, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!(
        (report.imported, report.updated, report.unchanged),
        (0, 0, 12),
        "{report}"
    );
}

pub fn sidecars_changed_or_removed_while_down_are_followed(spec: Spec) {
    let root = storage("resync");
    let store = Store::open(&root).unwrap();
    let rids = fill(&store, 5);
    drop(Catalog::open(spec(&root), &store).unwrap());
    let slot = Rid::parse(&rids[2]).unwrap().slot(&root);
    let mut s = sidecar(3, 1_795_248_003_000);
    s.remote_name = "Changed Name".into();
    s.duration_ms = 123_456;
    write_sidecar(&slot, &s).unwrap();
    let gone = Rid::parse(&rids[4]).unwrap().slot(&root).sidecar_path();
    let kept = std::fs::read(&gone).unwrap();
    std::fs::remove_file(&gone).unwrap();
    // Not a sidecar of the server's: ignored. A broken one: skipped and counted.
    std::fs::write(slot.dir.join("notes.json"), b"{}").unwrap();
    let broken = store.create(&at(40), &sidecar(40, 0)).unwrap();
    std::fs::write(broken.sidecar_path(), b"{\"id\": 1").unwrap();
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!(
        (
            report.imported,
            report.updated,
            report.missing,
            report.unreadable
        ),
        (0, 1, 1, 1),
        "{report}"
    );
    assert_eq!(
        catalog.get(&rids[2]).unwrap().unwrap().sidecar.duration_ms,
        123_456
    );
    // The recording whose sidecar went is kept, and says its sidecar is missing.
    let row = catalog.get(&rids[4]).unwrap().unwrap();
    assert_eq!(row.integrity(), Integrity::Missing);
    let stem = Rid::parse(&rids[4]).unwrap().stem().to_string();
    let check = row.checks.files[&format!("{stem}.json")];
    assert_eq!(check.state, Found::Missing);
    assert_eq!(all(&catalog, &Filter::default()).len(), 5);
    assert_eq!(
        by_integrity(&catalog, Integrity::Missing),
        vec![rids[4].clone()]
    );
    drop(catalog);
    // Still gone at the next start: counted, not written again.
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!((report.missing, report.updated), (1, 0), "{report}");
    assert_eq!(catalog.get(&rids[4]).unwrap().unwrap().checks, row.checks);
    drop(catalog);
    // Back: read as new, its checks started again.
    std::fs::write(&gone, kept).unwrap();
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!((report.missing, report.updated), (0, 1), "{report}");
    let row = catalog.get(&rids[4]).unwrap().unwrap();
    assert!(row.checks.files.is_empty());
    assert_ne!(row.integrity(), Integrity::Missing);
}

pub fn writes_while_running_are_applied_in_order(spec: Spec) {
    let root = storage("writes");
    let (store, catalog) = open(spec, &root);
    let mut s = sidecar(7, 1_795_248_100_000);
    s.stop_ms = None;
    s.stop_reason = None;
    let slot = store.create(&at(7), &s).unwrap();
    let rid = Rid::of_slot(&slot).unwrap().to_string();
    let stamp = callrec_server::catalog::Stamp::of(&slot.sidecar_path()).unwrap();
    catalog.put(rid.clone(), s.clone(), stamp);
    assert!(catalog.flush(Duration::from_secs(30)));
    assert_eq!(catalog.unfinished().unwrap().len(), 1);
    s.stop_ms = Some(1_795_248_107_000);
    s.stop_reason = Some("user".into());
    s.duration_ms = 7000;
    catalog.put(rid.clone(), s.clone(), stamp);
    assert!(catalog.flush(Duration::from_secs(30)));
    assert_eq!(catalog.get(&rid).unwrap().unwrap().sidecar, s);
    assert!(catalog.unfinished().unwrap().is_empty());
}

pub fn numbers_are_found_by_prefix_and_by_substring(spec: Spec) {
    let root = storage("numbers");
    let store = Store::open(&root).unwrap();
    fill(&store, 30);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    let num = |n: &str, how| Filter {
        number: Some((n.to_string(), how)),
        ..Filter::default()
    };
    // Remote numbers are +4930000NN, local ones 10NN (N = i % 10).
    assert_eq!(
        calls(&catalog, num("+493000012", NumberMatch::Prefix)),
        vec![12]
    );
    assert_eq!(
        calls(&catalog, num("00012", NumberMatch::Substring)),
        vec![12]
    );
    assert_eq!(
        calls(&catalog, num("00012", NumberMatch::Prefix)),
        Vec::<u32>::new()
    );
    // The local side: 1003 is calls 3, 13, 23.
    assert_eq!(
        calls(&catalog, num("1003", NumberMatch::Prefix)),
        vec![23, 13, 3]
    );
    // In the local numbers of 3, 13, 23 and in the remote one of 30 (+493000030).
    assert_eq!(
        calls(&catalog, num("003", NumberMatch::Substring)),
        vec![30, 23, 13, 3]
    );
    // Shorter than the index's trigrams: still found (by a scan).
    assert_eq!(calls(&catalog, num("29", NumberMatch::Substring)), vec![29]);
    // Wildcards of either engine are plain characters.
    for hostile in ["%", "_", "*", "?", "[0-9]", "\\", "'", "0%1", "3_"] {
        assert!(
            calls(&catalog, num(hostile, NumberMatch::Substring)).is_empty(),
            "{hostile}"
        );
        assert!(
            calls(&catalog, num(hostile, NumberMatch::Prefix)).is_empty(),
            "{hostile}"
        );
    }
}

pub fn names_are_found_whatever_the_case_and_script(spec: Spec) {
    let root = storage("names");
    let store = Store::open(&root).unwrap();
    fill(&store, 8);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    let name = |n: &str| Filter {
        name: Some(n.to_string()),
        ..Filter::default()
    };
    // Names by i % 4: 0 "Zhang San 张三", 1 "Иван Петров", 2 "ΑΛΈΞΗΣ", 3 "Ana".
    assert_eq!(calls(&catalog, name("zhang")), vec![8, 4]);
    assert_eq!(calls(&catalog, name("张三")), vec![8, 4]);
    assert_eq!(calls(&catalog, name("ИВАН")), vec![5, 1]);
    assert_eq!(calls(&catalog, name("петр")), vec![5, 1]);
    assert_eq!(calls(&catalog, name("αλέξ")), vec![6, 2]);
    // The local name is searched too.
    assert_eq!(calls(&catalog, name("DESK")).len(), 8);
    assert!(calls(&catalog, name("%")).is_empty());
    // At the start of a word, whatever its length; every word of the query.
    assert_eq!(calls(&catalog, name("张")), vec![8, 4]);
    assert_eq!(calls(&catalog, name("AN")), vec![7, 3]);
    assert_eq!(calls(&catalog, name("sa")), vec![8, 4]);
    assert!(calls(&catalog, name("ng")).is_empty());
    assert!(calls(&catalog, name("etrov")).is_empty());
    assert_eq!(calls(&catalog, name("петров иван")), vec![5, 1]);
    assert_eq!(calls(&catalog, name("san zh")), vec![8, 4]);
    assert!(calls(&catalog, name("san ivan")).is_empty());
    // Both names' words count: the local name's `front` with the remote one's `ana`.
    assert_eq!(calls(&catalog, name("ana front")), vec![7, 3]);
    // Characters of scripts without spaces are words of their own, in their order.
    assert_eq!(calls(&catalog, name("三")), vec![8, 4]);
    assert!(calls(&catalog, name("三张")).is_empty());
    // Greek's final sigma is a sigma; accents count.
    assert_eq!(calls(&catalog, name("αλέξησ")), vec![6, 2]);
    assert_eq!(calls(&catalog, name("ΑΛΈΞΗΣ")), vec![6, 2]);
    assert!(calls(&catalog, name("αλεξησ")).is_empty());
    // Words with punctuation between them, and operators of the engines' query languages,
    // are only words.
    assert_eq!(calls(&catalog, name("front-desk")).len(), 8);
    for hostile in [
        "\"",
        "ana\" OR \"zhang",
        "a:*",
        "!ana",
        "NEAR(ana zhang)",
        "'",
    ] {
        let found = calls(&catalog, name(hostile));
        assert!(found.len() <= 2, "{hostile:?} found {found:?}");
    }
}

/// Recordings put while the server runs, several in one millisecond and in no order, searched
/// by text (the path driven by the text indexes) and paged by cursor: each match once, in the
/// order of start time then RID, alone and with other filters, in either order.
pub fn text_searches_page_in_time_order_across_ties(spec: Spec) {
    let root = storage("ties");
    let (store, catalog) = open(spec, &root);
    let mut expected: Vec<(u64, String, u32)> = Vec::new();
    // 40 calls in 8 milliseconds; put newest first, so no key order follows the RIDs.
    for i in (1..=40u32).rev() {
        let start = 1_795_248_000_000 + u64::from(i % 8);
        let s = sidecar(i, start);
        let slot = store.create(&at(i), &s).unwrap();
        write_sidecar(&slot, &s).unwrap();
        let rid = Rid::of_slot(&slot).unwrap().to_string();
        let stamp = Stamp::of(&slot.sidecar_path()).unwrap();
        catalog.put(rid.clone(), s, stamp);
        expected.push((start, rid, i));
    }
    assert!(catalog.flush(Duration::from_secs(30)));
    expected.sort();
    let filters = [
        Filter {
            name: Some("front".into()),
            ..Filter::default()
        },
        Filter {
            number: Some(("4930".into(), NumberMatch::Substring)),
            ..Filter::default()
        },
        Filter {
            name: Some("desk".into()),
            dir: Some(Direction::In),
            ..Filter::default()
        },
        Filter {
            name: Some("front".into()),
            number: Some(("000".into(), NumberMatch::Substring)),
            from_ms: Some(1_795_248_000_002),
            to_ms: Some(1_795_248_000_007),
            ..Filter::default()
        },
    ];
    for base in filters {
        let matches: Vec<&(u64, String, u32)> = expected
            .iter()
            .filter(|(start, _, i)| {
                (base.dir.is_none() || i % 2 == 0)
                    && base.from_ms.is_none_or(|f| *start >= f)
                    && base.to_ms.is_none_or(|t| *start < t)
            })
            .collect();
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let filter = Filter {
                order,
                ..base.clone()
            };
            let mut want: Vec<String> = matches.iter().map(|m| m.1.clone()).collect();
            if order == Order::NewestFirst {
                want.reverse();
            }
            for limit in [1, 3, 7] {
                let mut seen = Vec::new();
                let mut ask = PageAsk {
                    limit,
                    ..PageAsk::default()
                };
                loop {
                    let page = catalog.search(&filter, &ask).unwrap();
                    assert_eq!(page.total as usize, want.len(), "{filter:?}");
                    seen.extend(page.rows.iter().map(|r| r.rid.clone()));
                    match page.next {
                        Some(next) => ask.after = Some(next),
                        None => break,
                    }
                    assert!(seen.len() <= want.len(), "{filter:?} pages on");
                }
                assert_eq!(seen, want, "{filter:?}, limit {limit}");
            }
            // An offset skips within the same order.
            let page = catalog
                .search(
                    &filter,
                    &PageAsk {
                        offset: 5,
                        limit: 4,
                        after: None,
                    },
                )
                .unwrap();
            let rids: Vec<String> = page.rows.into_iter().map(|r| r.rid).collect();
            assert_eq!(rids, want[5..9].to_vec(), "{filter:?} offset");
        }
    }
    // A recording whose start changes is found at its new time.
    let (start, rid, i) = expected[0].clone();
    let mut s = catalog.get(&rid).unwrap().unwrap().sidecar;
    assert_eq!(s.start_ms, start);
    s.start_ms = 1_795_248_000_100;
    let slot_stamp = catalog.get(&rid).unwrap().unwrap().stamp;
    catalog.put(rid.clone(), s, slot_stamp);
    assert!(catalog.flush(Duration::from_secs(30)));
    let newest = catalog
        .search(
            &Filter {
                name: Some("front".into()),
                ..Filter::default()
            },
            &PageAsk {
                limit: 1,
                ..PageAsk::default()
            },
        )
        .unwrap();
    assert_eq!(newest.rows[0].rid, rid, "call {i} moved");
    assert_eq!(newest.total, 40);
}

pub fn every_filter_narrows_and_they_combine(spec: Spec) {
    let root = storage("filters");
    let store = Store::open(&root).unwrap();
    fill(&store, 20);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    let base = 1_795_248_000_000;
    let f = |f: Filter| calls(&catalog, f);
    assert_eq!(
        f(Filter {
            device: Some("00:15:65:00:00:03".into()),
            ..Filter::default()
        }),
        vec![19, 15, 11, 7, 3]
    );
    assert_eq!(
        f(Filter {
            dir: Some(Direction::Out),
            codec: Some(Codec::G722),
            ..Filter::default()
        }),
        vec![17, 11, 5]
    );
    assert_eq!(
        f(Filter {
            from_ms: Some(base + 10_000),
            to_ms: Some(base + 13_000),
            ..Filter::default()
        }),
        vec![12, 11, 10]
    );
    assert_eq!(
        f(Filter {
            min_duration_ms: Some(18_000),
            ..Filter::default()
        }),
        vec![20, 19, 18]
    );
    assert_eq!(
        f(Filter {
            max_duration_ms: Some(2000),
            ..Filter::default()
        }),
        vec![2, 1]
    );
    assert_eq!(
        f(Filter {
            stop_reason: Some("idle".into()),
            dir: Some(Direction::In),
            ..Filter::default()
        }),
        vec![20, 10]
    );
    assert_eq!(
        f(Filter {
            order: Order::OldestFirst,
            max_duration_ms: Some(3000),
            ..Filter::default()
        }),
        vec![1, 2, 3]
    );
}

pub fn cursor_pages_cover_every_match_once_in_either_order(spec: Spec) {
    let root = storage("pages");
    let store = Store::open(&root).unwrap();
    let rids = fill(&store, 23);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    for order in [Order::NewestFirst, Order::OldestFirst] {
        let filter = Filter {
            order,
            ..Filter::default()
        };
        let mut seen = Vec::new();
        let mut ask = PageAsk {
            limit: 5,
            ..PageAsk::default()
        };
        loop {
            let page = catalog.search(&filter, &ask).unwrap();
            assert_eq!(page.total, 23);
            assert!(page.rows.len() <= 5);
            seen.extend(page.rows.iter().map(|r| r.rid.clone()));
            match page.next {
                Some(next) => ask.after = Some(next),
                None => break,
            }
        }
        let mut expected = rids.clone();
        if order == Order::NewestFirst {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order:?}");
    }
    // An offset counts after the cursor.
    let page = catalog
        .search(
            &Filter::default(),
            &PageAsk {
                offset: 20,
                limit: 5,
                after: None,
            },
        )
        .unwrap();
    assert_eq!(page.rows.len(), 3);
    assert_eq!(page.next, None);
}

/// A finished recording with two files and their digests, written as the server would; its
/// RID and sidecar.
fn with_digests(store: &Store, i: u32) -> (String, Sidecar, Slot) {
    let mut s = sidecar(i, 1_795_248_000_000 + 1000 * u64::from(i));
    let slot = store.create(&at(i), &s).unwrap();
    s.files = vec![slot.file_name(1), slot.file_name(2)];
    for (k, f) in s.files.iter().enumerate() {
        s.digests.insert(f.clone(), format!("{k}").repeat(64));
    }
    write_sidecar(&slot, &s).unwrap();
    (Rid::of_slot(&slot).unwrap().to_string(), s, slot)
}

fn check(rid: &str, s: &Sidecar, results: &[(&str, Found)], replace: bool) -> CheckWrite {
    CheckWrite {
        rid: rid.to_string(),
        digests: s.digests.clone(),
        results: results
            .iter()
            .map(|(n, state)| {
                (
                    n.to_string(),
                    FileCheck {
                        state: *state,
                        ms: 7,
                    },
                )
            })
            .collect(),
        replace,
        at_ms: 7,
    }
}

fn by_integrity(c: &Catalog, i: Integrity) -> Vec<String> {
    all(
        c,
        &Filter {
            integrity: Some(i),
            ..Filter::default()
        },
    )
}

pub fn checks_are_merged_kept_and_started_again_when_the_digests_change(spec: Spec) {
    let root = storage("checks");
    let store = Store::open(&root).unwrap();
    let (a, sa, slot_a) = with_digests(&store, 1);
    let (b, sb, _) = with_digests(&store, 2);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    let row = catalog.get(&a).unwrap().unwrap();
    assert_eq!(row.sidecar, sa);
    assert_eq!(row.integrity(), Integrity::Unchecked);
    assert_eq!(
        by_integrity(&catalog, Integrity::Unchecked),
        vec![b.clone(), a.clone()]
    );
    let (fa1, fa2) = (sa.files[0].as_str(), sa.files[1].as_str());
    let flush = || assert!(catalog.flush(Duration::from_secs(30)));
    // One file of two: still unchecked; both: verified.
    catalog.record_checks(check(&a, &sa, &[(fa1, Found::Verified)], false));
    flush();
    assert_eq!(
        catalog.get(&a).unwrap().unwrap().integrity(),
        Integrity::Unchecked
    );
    catalog.record_checks(check(&a, &sa, &[(fa2, Found::Verified)], false));
    flush();
    let row = catalog.get(&a).unwrap().unwrap();
    assert_eq!(row.integrity(), Integrity::Verified);
    assert_eq!((row.checks.files.len(), row.checks.at_ms), (2, Some(7)));
    assert_eq!(by_integrity(&catalog, Integrity::Verified), vec![a.clone()]);
    // A check against other digests (the row changed meanwhile) is not applied.
    let mut stale = check(&b, &sb, &[(sb.files[0].as_str(), Found::Mismatch)], false);
    stale.digests.clear();
    catalog.record_checks(stale);
    flush();
    assert_eq!(
        catalog.get(&b).unwrap().unwrap().integrity(),
        Integrity::Unchecked
    );
    // The same sidecar written again keeps the checks.
    let stamp = Stamp::of(&slot_a.sidecar_path()).unwrap();
    catalog.put(a.clone(), sa.clone(), stamp);
    flush();
    assert_eq!(
        catalog.get(&a).unwrap().unwrap().integrity(),
        Integrity::Verified
    );
    // A mismatch of one file is the recording's state; a replacing check clears it.
    catalog.record_checks(check(&a, &sa, &[(fa2, Found::Mismatch)], false));
    flush();
    assert_eq!(
        catalog.get(&a).unwrap().unwrap().integrity(),
        Integrity::Mismatch
    );
    assert_eq!(by_integrity(&catalog, Integrity::Mismatch), vec![a.clone()]);
    catalog.record_checks(check(
        &a,
        &sa,
        &[(fa1, Found::Verified), (fa2, Found::Verified)],
        true,
    ));
    flush();
    assert_eq!(
        catalog.get(&a).unwrap().unwrap().integrity(),
        Integrity::Verified
    );
    // Other digests (the file was written again): the checks start again.
    let mut changed = sa.clone();
    changed.digests.insert(fa2.to_string(), "f".repeat(64));
    write_sidecar(&slot_a, &changed).unwrap();
    catalog.put(
        a.clone(),
        changed.clone(),
        Stamp::of(&slot_a.sidecar_path()).unwrap(),
    );
    flush();
    let row = catalog.get(&a).unwrap().unwrap();
    assert_eq!(
        (row.integrity(), row.checks.files.len()),
        (Integrity::Unchecked, 0)
    );
    assert_eq!(
        by_integrity(&catalog, Integrity::Verified),
        Vec::<String>::new()
    );
    drop(catalog);
    // Opened again: the checks are the catalog's, not the sidecars' (which have none).
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    catalog.record_checks(check(&a, &changed, &[(fa1, Found::Missing)], false));
    assert!(catalog.flush(Duration::from_secs(30)));
    drop(catalog);
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!(report.unchanged, 2, "{report}");
    assert_eq!(
        catalog.get(&a).unwrap().unwrap().integrity(),
        Integrity::Missing
    );
}

/// A catalog of schema `version` (made by this build's migrations up to it) holding one
/// recording, call 3, as a server of that version imported it (the columns of version 1);
/// the storage, the store, the spec and the recording's RID.
fn catalog_at(spec: Spec, name: &str, version: i64) -> (PathBuf, Store, CatalogSpec, String) {
    let root = storage(name);
    let store = Store::open(&root).unwrap();
    let the_spec = spec(&root);
    {
        let mut conn = the_spec.connect().unwrap();
        schema::migrate_to(conn.as_mut(), version).unwrap();
        assert_eq!(schema::version(conn.as_mut()).unwrap(), version);
    }
    let mut s = sidecar(3, 1_795_248_003_000);
    let slot = store.create(&at(3), &s).unwrap();
    s.files = vec![slot.file_name(1)];
    write_sidecar(&slot, &s).unwrap();
    let rid = Rid::of_slot(&slot).unwrap().to_string();
    let mut conn = the_spec.connect().unwrap();
    let insert = "INSERT INTO recordings (rid, call_id, device, remote_number, remote_name, \
        local_number, local_name, numbers, names, dir, codec, peer, start_ms, stop_ms, \
        stop_reason, duration_ms, files, stats, sidecar_len, sidecar_mtime_ns) VALUES \
        ($1, 'call-3', '', '', 'Zhang San 张三', '', 'Front desk', '', \
        'zhang san 张三\nfront desk', 'in', 'PCMA', '', 1, 2, 'user', 1, $2, $5, $3, $4)";
    let stamp = Stamp::of(&slot.sidecar_path()).unwrap();
    conn.execute(
        insert,
        &[
            Value::text(&rid),
            Value::text(serde_json::to_string(&s.files).unwrap()),
            Value::int(stamp.len as i64),
            Value::int(stamp.mtime_ns),
            Value::text(serde_json::to_string(&s.stats).unwrap()),
        ],
    )
    .unwrap();
    (root, store, the_spec, rid)
}

pub fn a_catalog_of_version_1_gains_digests_and_checks(spec: Spec) {
    // A recording of version 1 (no digests), imported by the version 1 catalog.
    let (_, store, the_spec, rid) = catalog_at(spec, "v1", 1);
    let (catalog, report) = Catalog::open(the_spec, &store).unwrap();
    assert_eq!(report.unchanged, 1, "{report}");
    let row = catalog.get(&rid).unwrap().unwrap();
    assert!(row.sidecar.digests.is_empty());
    assert_eq!(row.integrity(), Integrity::NoDigest);
    assert_eq!(by_integrity(&catalog, Integrity::NoDigest), vec![rid]);
}

fn device(mac: &str, owner: &str, extension: &str, group: &str, at: u64) -> Device {
    Device {
        mac: mac.into(),
        owner: owner.into(),
        extension: extension.into(),
        group: group.into(),
        updated_ms: at,
    }
}

pub fn the_device_registry_is_written_read_and_removed_and_each_change_raises_its_version(
    spec: Spec,
) {
    let root = storage("devices");
    let the_spec = spec(&root);
    // The console's way: a connection of its own, beside a catalog that is open.
    let (store, catalog) = open(spec, &root);
    let mut console = the_spec.connect().unwrap();
    let c = console.as_mut();
    assert_eq!(schema::version(c).unwrap(), schema::VERSION);
    let v0 = sql::devices_version(c).unwrap();
    let anna = device("001565AABBCC", "Anna Schmidt", "1001", "Sales", 1);
    assert_eq!(sql::put_device(c, &anna).unwrap(), None);
    let wang = device("001565000001", "王芳", "", "Support", 2);
    assert_eq!(sql::put_device(c, &wang).unwrap(), None);
    assert_eq!(sql::devices(c).unwrap(), vec![wang.clone(), anna.clone()]);
    // Written again: replaced, and the entry it replaced comes back.
    let moved = device("001565AABBCC", "Bob Meyer", "2002", "Support", 3);
    assert_eq!(sql::put_device(c, &moved).unwrap(), Some(anna));
    assert_eq!(sql::device(c, "001565AABBCC").unwrap(), Some(moved.clone()));
    assert_eq!(sql::devices_version(c).unwrap(), v0 + 3);
    // What the server reads: the same registry and version.
    let (version, devices) = catalog.devices().unwrap();
    assert_eq!(
        (version, devices),
        (v0 + 3, vec![wang.clone(), moved.clone()])
    );
    let registry = Registry::load(&catalog).unwrap();
    assert_eq!(
        registry
            .lookup("00:15:65:aa:bb:cc")
            .map(|d| d.owner.clone()),
        Some("Bob Meyer".into())
    );
    assert!(!registry.refresh(&catalog).unwrap());
    // A removal by the console is seen by the next refresh.
    assert_eq!(sql::remove_device(c, "001565000001").unwrap(), Some(wang));
    assert_eq!(sql::remove_device(c, "001565000001").unwrap(), None);
    assert_eq!(sql::devices_version(c).unwrap(), v0 + 4);
    assert!(registry.lookup("001565000001").is_some());
    assert!(registry.refresh(&catalog).unwrap());
    assert!(registry.lookup("001565000001").is_none());
    assert_eq!(registry.len(), 1);
    // The registry is the catalog's: it outlives the server's catalog and is there next time.
    drop(catalog);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!(catalog.devices().unwrap().1, vec![moved]);
}

/// A write that reads first is not failed by another connection's write in between (on SQLite
/// a deferred transaction would be: `SQLITE_BUSY` at once, with no wait; the catalog's writer
/// lost checks of downloads that way, when the download's audit entry came between).
pub fn a_write_that_reads_first_waits_for_another_writer_and_is_not_failed(spec: Spec) {
    let root = storage("read-then-write");
    let the_spec = spec(&root);
    let (_store, _catalog) = open(spec, &root);
    let mut mine = the_spec.connect().unwrap();
    let theirs = the_spec.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let result = db::transaction(mine.as_mut(), |c| {
        let before = sql::devices_version(c)?;
        // Another connection writes meanwhile: it commits at once (PostgreSQL) or waits for
        // this transaction (SQLite, which holds the write lock from its start).
        let other = std::thread::spawn(move || {
            let mut conn = theirs.connect().unwrap();
            let put = sql::put_device(conn.as_mut(), &device("001565000002", "B", "2", "", 2));
            done_tx.send(()).unwrap();
            put
        });
        let _ = done_rx.recv_timeout(Duration::from_millis(500));
        sql::put_device_in(c, &device("001565000001", "A", "1", "", 1))?;
        Ok((before, other))
    });
    let (before, other) = result.expect("the write that read first");
    other.join().unwrap().expect("the other write");
    let mut conn = the_spec.connect().unwrap();
    let macs: Vec<String> = sql::devices(conn.as_mut())
        .unwrap()
        .into_iter()
        .map(|d| d.mac)
        .collect();
    assert_eq!(macs, ["001565000001", "001565000002"]);
    assert_eq!(sql::devices_version(conn.as_mut()).unwrap(), before + 2);
}

pub fn recordings_keep_the_registry_fields_of_their_start_and_are_found_by_group(spec: Spec) {
    let root = storage("groups");
    let store = Store::open(&root).unwrap();
    let rids = fill(&store, 12);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    // Read back from the sidecars: the fields the registry had when each call started.
    let row = catalog.get(&rids[3]).unwrap().unwrap();
    assert_eq!(
        (
            row.sidecar.owner.as_str(),
            row.sidecar.extension.as_str(),
            row.sidecar.group.as_str()
        ),
        ("Anna Schmidt", "1001", "Sales")
    );
    let row = catalog.get(&rids[0]).unwrap().unwrap();
    assert_eq!(
        (row.sidecar.owner.as_str(), row.sidecar.group.as_str()),
        ("", "")
    );
    let group = |g: &str| Filter {
        group: Some(g.into()),
        ..Filter::default()
    };
    assert_eq!(calls(&catalog, group("Sales")), vec![12, 8, 4]);
    assert_eq!(calls(&catalog, group("Support")), vec![10, 6, 2]);
    // Exactly: not a part, not another case.
    assert!(calls(&catalog, group("Sale")).is_empty());
    assert!(calls(&catalog, group("sales")).is_empty());
    assert!(calls(&catalog, group("%")).is_empty());
    // With the other filters.
    assert_eq!(
        calls(
            &catalog,
            Filter {
                min_duration_ms: Some(7000),
                ..group("Sales")
            }
        ),
        vec![12, 8]
    );
    let ask = PageAsk {
        limit: 2,
        ..PageAsk::default()
    };
    assert_eq!(catalog.search(&group("Support"), &ask).unwrap().total, 3);
}

pub fn a_catalog_of_version_3_gains_the_registry_and_keeps_its_recordings(spec: Spec) {
    // A recording imported by a version 3 catalog (its sidecar has no registry fields).
    let (root, store, the_spec, rid) = catalog_at(spec, "v3", 3);
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!(report.unchanged, 1, "{report}");
    let row = catalog.get(&rid).unwrap().unwrap();
    assert_eq!(row.sidecar.id, "call-3");
    assert_eq!(
        (row.sidecar.owner.as_str(), row.sidecar.group.as_str()),
        ("", "")
    );
    assert_eq!(catalog.devices().unwrap().1, vec![]);
    let mut conn = the_spec.connect().unwrap();
    assert_eq!(schema::version(conn.as_mut()).unwrap(), schema::VERSION);
    // Version 5 made its names words (one a character of 张三) and, on SQLite, keyed it by its
    // start (1 ms: before the keys' range): found by a word, alone and with a time bound.
    let by_name = |n: &str, to_ms: Option<u64>| {
        all(
            &catalog,
            &Filter {
                name: Some(n.into()),
                to_ms,
                ..Filter::default()
            },
        )
    };
    assert_eq!(by_name("三", None), vec![rid.clone()]);
    assert_eq!(by_name("zhang front", Some(2)), vec![rid.clone()]);
    assert!(by_name("zhang", Some(1)).is_empty());
    assert!(calls(
        &catalog,
        Filter {
            group: Some(String::new()),
            ..Filter::default()
        }
    )
    .contains(&3));
}

/// Writes call `i` as `fill` does, started at `start_ms`, with this owner and device; its RID.
fn write_call(store: &Store, i: u32, start_ms: u64, owner: &str, device: &str) -> String {
    let mut s = sidecar(i, start_ms);
    s.owner = owner.into();
    s.device = device.into();
    let slot = store.create(&at(i), &s).unwrap();
    s.files = vec![slot.file_name(1)];
    write_sidecar(&slot, &s).unwrap();
    Rid::of_slot(&slot).unwrap().to_string()
}

pub fn devices_in_any_spelling_and_whole_owners_in_any_case_are_found_and_paged(spec: Spec) {
    let root = storage("owners");
    let store = Store::open(&root).unwrap();
    fill(&store, 12);
    // Three more calls of Anna Schmidt's device (calls 4, 8, 12 are hers) in one millisecond,
    // its phone spelling the MAC another way each time; one of an owner of other scripts.
    let tie = 1_795_248_100_000;
    for (i, mac) in [
        (20, "001565000000"),
        (24, "00-15-65-00-00-00"),
        (28, "0015.6500.0000"),
    ] {
        write_call(&store, i, tie, "Anna Schmidt", mac);
    }
    write_call(
        &store,
        13,
        1_795_248_013_000,
        "Émile Ørsted-Ωμέγα",
        "00:15:65:00:00:AB",
    );
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    let owner = |o: &str| Filter {
        owner: Some(o.into()),
        ..Filter::default()
    };
    let device = |d: &str| Filter {
        device: Some(d.into()),
        ..Filter::default()
    };
    let anna = vec![28, 24, 20, 12, 8, 4];
    for o in ["Anna Schmidt", "anna schmidt", "ANNA SCHMIDT"] {
        assert_eq!(calls(&catalog, owner(o)), anna, "{o}");
    }
    assert_eq!(calls(&catalog, owner("王芳")), vec![10, 6, 2]);
    for o in ["émile ørsted-ωμέγα", "ÉMILE ØRSTED-ΩΜΈΓΑ"] {
        assert_eq!(calls(&catalog, owner(o)), vec![13], "{o}");
    }
    // The whole owner: not a part, not a pattern.
    for o in ["Anna", "Schmidt", "anna schmidtx", "%", "Anna_Schmidt"] {
        assert!(calls(&catalog, owner(o)).is_empty(), "{o}");
    }
    // A MAC in any spelling finds every spelling its phones sent; another device, exactly.
    for d in [
        "001565000000",
        "00:15:65:00:00:00",
        "00-15-65-00-00-00",
        "0015.6500.0000",
    ] {
        assert_eq!(calls(&catalog, device(d)), anna, "{d}");
    }
    for d in ["0015650000ab", "00-15-65-00-00-AB", "0015.6500.00Ab"] {
        assert_eq!(calls(&catalog, device(d)), vec![13], "{d}");
    }
    assert!(calls(&catalog, device("00:15:65:00:00")).is_empty());
    assert!(calls(&catalog, device("00:15:65:00:00:0")).is_empty());
    // With the other filters, the text driver of SQLite among them, and their counts.
    let ask = PageAsk {
        limit: 100,
        ..PageAsk::default()
    };
    let by_name = Filter {
        name: Some("zhang".into()),
        ..owner("anna schmidt")
    };
    assert_eq!(calls(&catalog, by_name.clone()), anna);
    assert_eq!(catalog.search(&by_name, &ask).unwrap().total, 6);
    let by_number = Filter {
        number: Some(("+4930".into(), NumberMatch::Prefix)),
        min_duration_ms: Some(12_000),
        ..owner("ANNA SCHMIDT")
    };
    assert_eq!(calls(&catalog, by_number), vec![28, 24, 20, 12]);
    let both = Filter {
        device: Some("0015650000ab".into()),
        ..owner("anna schmidt")
    };
    assert!(calls(&catalog, both).is_empty());
    // A scope: another group's owner does not exist, in the pages or the counts.
    let scoped = |groups: &[&str], f: Filter| Filter {
        scope: Some(groups.iter().map(|g| g.to_string()).collect()),
        ..f
    };
    let outside = scoped(&["Support"], owner("anna schmidt"));
    assert!(calls(&catalog, outside.clone()).is_empty());
    assert_eq!(catalog.search(&outside, &ask).unwrap().total, 0);
    let inside = scoped(&["Sales", "Support"], owner("anna schmidt"));
    assert_eq!(calls(&catalog, inside.clone()), anna);
    assert_eq!(catalog.search(&inside, &ask).unwrap().total, 6);
    // Pages by cursor, two at a time, across the tie, in either order.
    for order in [Order::NewestFirst, Order::OldestFirst] {
        for filter in [owner("Anna Schmidt"), device("00:15:65:00:00:00")] {
            let filter = Filter { order, ..filter };
            let mut ask = PageAsk {
                limit: 2,
                ..PageAsk::default()
            };
            let mut seen = Vec::new();
            loop {
                let page = catalog.search(&filter, &ask).unwrap();
                assert_eq!(page.total, 6);
                assert!(page.rows.len() <= 2);
                seen.extend(page.rows.iter().map(|r| r.sidecar.id.clone()));
                match page.next {
                    Some(next) => ask.after = Some(next),
                    None => break,
                }
            }
            let mut expected: Vec<String> = anna.iter().map(|i| format!("call-{i}")).collect();
            if order == Order::OldestFirst {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{filter:?}");
        }
    }
}

pub fn a_catalog_of_version_8_gains_the_keys_of_devices_and_owners(spec: Spec) {
    // A recording of version 8 whose phone spelled its MAC with dashes, of an owner.
    let (root, store, the_spec, rid) = catalog_at(spec, "v8", 8);
    let mut conn = the_spec.connect().unwrap();
    conn.execute(
        "UPDATE recordings SET device = $1, owner = $2 WHERE rid = $3",
        &[
            Value::text("00-15-65-aa-bb-cc"),
            Value::text("Åsa Öberg"),
            Value::text(&rid),
        ],
    )
    .unwrap();
    drop(conn);
    // Not read again from its sidecar (which has another device and no owner): the
    // migration keyed it.
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!(report.unchanged, 1, "{report}");
    let mut conn = the_spec.connect().unwrap();
    assert_eq!(schema::version(conn.as_mut()).unwrap(), schema::VERSION);
    let found = |f: Filter| all(&catalog, &f);
    for o in ["åsa öberg", "ÅSA ÖBERG"] {
        let f = Filter {
            owner: Some(o.into()),
            ..Filter::default()
        };
        assert_eq!(found(f), vec![rid.clone()], "{o}");
    }
    for d in ["001565AABBCC", "00:15:65:AA:BB:CC", "0015.65aa.bbcc"] {
        let f = Filter {
            device: Some(d.into()),
            ..Filter::default()
        };
        assert_eq!(found(f), vec![rid.clone()], "{d}");
    }
}

pub fn a_scope_hides_other_groups_from_pages_and_counts(spec: Spec) {
    let root = storage("scope");
    let store = Store::open(&root).unwrap();
    fill(&store, 12);
    let (catalog, _) = Catalog::open(spec(&root), &store).unwrap();
    let scoped = |groups: &[&str], f: Filter| Filter {
        scope: Some(groups.iter().map(|g| g.to_string()).collect()),
        ..f
    };
    let ask = PageAsk {
        limit: 100,
        ..PageAsk::default()
    };
    let sales = scoped(&["Sales"], Filter::default());
    assert_eq!(calls(&catalog, sales.clone()), vec![12, 8, 4]);
    assert_eq!(catalog.search(&sales, &ask).unwrap().total, 3);
    let both = scoped(&["Sales", "Support"], Filter::default());
    assert_eq!(calls(&catalog, both.clone()), vec![12, 10, 8, 6, 4, 2]);
    // A group filter outside the scope finds nothing; inside, what it would anyway.
    let outside = scoped(
        &["Sales"],
        Filter {
            group: Some("Support".into()),
            ..Filter::default()
        },
    );
    assert!(calls(&catalog, outside.clone()).is_empty());
    assert_eq!(catalog.search(&outside, &ask).unwrap().total, 0);
    // With a text search (SQLite's full-text driver) and a count.
    let by_name = scoped(
        &["Support"],
        Filter {
            name: Some("ΑΛΈΞΗΣ".to_lowercase()),
            ..Filter::default()
        },
    );
    let found = calls(&catalog, by_name.clone());
    assert!(
        !found.is_empty() && found.iter().all(|i| i % 4 == 2),
        "{found:?}"
    );
    assert_eq!(
        catalog.search(&by_name, &ask).unwrap().total,
        found.len() as u64
    );
    // An empty scope reaches nothing; no scope, everything.
    let none = scoped(&[], Filter::default());
    assert!(calls(&catalog, none.clone()).is_empty());
    assert_eq!(catalog.search(&none, &ask).unwrap().total, 0);
    assert_eq!(catalog.search(&Filter::default(), &ask).unwrap().total, 12);
}

pub fn accounts_sessions_and_tokens_live_in_the_catalog(spec: Spec) {
    use callrec_server::auth::store::{self, TokenRefusal, User};
    use callrec_server::auth::{Roles, Scope};
    let root = storage("auth");
    let the_spec = spec(&root);
    let mut conn = the_spec.connect().unwrap();
    schema::migrate(conn.as_mut()).unwrap();
    let c = conn.as_mut();
    let user = |name: &str, roles: &str, groups: &str| User {
        name: name.into(),
        roles: Roles::parse(roles).unwrap(),
        scope: Scope::from_stored(groups).unwrap(),
        hash: format!("$argon2id$stand-in-for-{name}"),
    };
    assert!(!store::any_user(c).unwrap());
    let admin = user("admin", "admin,supervisor", "");
    assert!(store::add_user(c, &admin, 1).unwrap());
    assert!(!store::add_user(c, &user("admin", "auditor", ""), 2).unwrap());
    assert!(store::add_user(c, &user("sam", "supervisor", "Sales"), 3).unwrap());
    assert!(store::any_user(c).unwrap());
    assert_eq!(
        store::user(c, "sam").unwrap().unwrap(),
        user("sam", "supervisor", "Sales")
    );
    let names: Vec<String> = store::users(c)
        .unwrap()
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(names, ["admin", "sam"]);

    // Sessions: found by their secret, ended by idleness, age, logout or a new password.
    let t0 = 1_800_000_000_000;
    let (secret, csrf) = store::new_session(c, "sam", t0).unwrap();
    let (who, csrf_read) = store::session(c, &secret, t0 + 1000).unwrap().unwrap();
    assert_eq!(
        (who.name.as_str(), csrf_read.as_str()),
        ("sam", csrf.as_str())
    );
    assert!(store::session(c, &"0".repeat(64), t0).unwrap().is_none());
    assert!(store::session(c, "not a token", t0).unwrap().is_none());
    let mut t = t0;
    while t < t0 + store::SESSION_MAX_MS - store::SESSION_IDLE_MS {
        t += store::SESSION_IDLE_MS - 1000;
        assert!(
            store::session(c, &secret, t).unwrap().is_some(),
            "used at {t}"
        );
    }
    assert!(store::session(c, &secret, t0 + store::SESSION_MAX_MS)
        .unwrap()
        .is_none());
    let (idle, _) = store::new_session(c, "sam", t0).unwrap();
    assert!(store::session(c, &idle, t0 + store::SESSION_IDLE_MS)
        .unwrap()
        .is_none());
    let (out, _) = store::new_session(c, "sam", t0).unwrap();
    store::end_session(c, &out).unwrap();
    assert!(store::session(c, &out, t0).unwrap().is_none());
    let (changed, _) = store::new_session(c, "sam", t0).unwrap();
    assert!(store::set_password(c, "sam", "$argon2id$new", t0).unwrap());
    assert!(store::session(c, &changed, t0).unwrap().is_none());
    assert!(!store::set_password(c, "nobody", "x", t0).unwrap());
    // A user holds a bounded number of sessions: the oldest go.
    let many: Vec<String> = (0..store::MAX_SESSIONS_PER_USER as u64 + 2)
        .map(|i| store::new_session(c, "admin", t0 + i).unwrap().0)
        .collect();
    assert!(store::session(c, &many[0], t0 + 100).unwrap().is_none());
    assert!(store::session(c, many.last().unwrap(), t0 + 100)
        .unwrap()
        .is_some());

    // Tokens: within their admin's rights, found by their text, revoked, expired.
    let scope = |g: &str| Scope::from_stored(g).unwrap();
    let sup = Roles::parse("supervisor").unwrap();
    let (id, token) = store::add_token(c, "admin", "crm", sup, &scope("Sales"), None, t0)
        .unwrap()
        .unwrap();
    assert!(token.starts_with("crt_") && token.len() == 68);
    let found = store::token(c, &token, t0 + 1).unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.scope.groups()),
        (id.as_str(), &["Sales".to_string()][..])
    );
    assert!(store::token(c, &format!("{}0", &token[..67]), t0)
        .unwrap()
        .is_none());
    assert!(matches!(
        store::add_token(c, "sam", "x", sup, &scope("Sales"), None, t0).unwrap(),
        Err(TokenRefusal::NotAdmin(_))
    ));
    assert!(store::add_user(c, &user("boss", "admin,supervisor", "Sales"), 4).unwrap());
    assert!(matches!(
        store::add_token(c, "boss", "x", sup, &scope(""), None, t0).unwrap(),
        Err(TokenRefusal::Exceeds(_))
    ));
    assert!(matches!(
        store::add_token(
            c,
            "boss",
            "x",
            Roles::parse("auditor").unwrap(),
            &scope("Sales"),
            None,
            t0
        )
        .unwrap(),
        Err(TokenRefusal::Exceeds(_))
    ));
    let (_, boss_token) = store::add_token(c, "boss", "y", sup, &scope("Sales"), Some(t0 + 10), t0)
        .unwrap()
        .unwrap();
    assert!(store::token(c, &boss_token, t0 + 9).unwrap().is_some());
    assert!(
        store::token(c, &boss_token, t0 + 10).unwrap().is_none(),
        "expired"
    );
    assert!(store::revoke_token(c, &id, t0 + 2).unwrap());
    assert!(!store::revoke_token(c, &id, t0 + 3).unwrap());
    assert!(
        store::token(c, &token, t0 + 4).unwrap().is_none(),
        "revoked"
    );
    let listed = store::tokens(c).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed.iter().find(|t| t.id == id).unwrap().revoked_ms,
        Some(t0 + 2)
    );
    // A token stops with its admin.
    let (_, live) = store::add_token(c, "boss", "z", sup, &scope("Sales"), None, t0)
        .unwrap()
        .unwrap();
    assert!(store::token(c, &live, t0).unwrap().is_some());
    assert!(store::remove_user(c, "boss").unwrap());
    assert!(!store::remove_user(c, "boss").unwrap());
    assert!(store::token(c, &live, t0).unwrap().is_none());
}

/// Declares one test per suite function for an engine.
/// The recordings of `fill`, each with a Record file on disk (its content is no matter here).
fn with_files(store: &Store, n: u32) -> Vec<String> {
    let rids = fill(store, n);
    for r in &rids {
        let slot = Rid::parse(r).unwrap().slot(store.root());
        std::fs::write(slot.dir.join(slot.file_name(1)), b"audio").unwrap();
    }
    rids
}

/// Whether the recording `rid` has its sidecar or its Record file on disk.
fn on_disk(root: &Path, rid: &str) -> bool {
    let slot = Rid::parse(rid).unwrap().slot(root);
    slot.sidecar_path().exists() || slot.dir.join(slot.file_name(1)).exists()
}

fn conn_of(spec: Spec, root: &Path) -> Box<dyn db::Conn> {
    let mut c = spec(root).connect().unwrap();
    schema::migrate(c.as_mut()).unwrap();
    c
}

pub fn holds_and_the_retention_policy_are_stored_and_read_back(spec: Spec) {
    use callrec_server::catalog::retention::{self as held, Hold};
    use callrec_server::retention::policy::Policy;
    let root = storage("holds");
    let store = Store::open(&root).unwrap();
    let rids = fill(&store, 3);
    drop(Catalog::open(spec(&root), &store).unwrap());
    let mut c = conn_of(spec, &root);
    let c = c.as_mut();
    // The default: kept for ever.
    assert_eq!(held::policy(c).unwrap(), Policy::default());
    let p = Policy {
        days: Some(365),
        groups: [("Sales".to_string(), 30), ("Zhang 张".to_string(), 3650)].into(),
    };
    held::set_policy(c, &p).unwrap();
    assert_eq!(held::policy(c).unwrap(), p);
    // Replaced whole: an override not given again is gone.
    let q = Policy {
        days: None,
        groups: [("Support".to_string(), 7)].into(),
    };
    held::set_policy(c, &q).unwrap();
    assert_eq!(held::policy(c).unwrap(), q);
    let h = Hold {
        reason: "case 17 «sealed»".into(),
        by: "anna".into(),
        ms: 1_795_248_000_123,
    };
    assert_eq!(held::hold(c, &rids[0]).unwrap(), None);
    assert!(held::set_hold(c, &rids[0], &h).unwrap());
    // A second hold keeps the first.
    let later = Hold {
        reason: "other".into(),
        ..h.clone()
    };
    assert!(!held::set_hold(c, &rids[0], &later).unwrap());
    assert_eq!(held::hold(c, &rids[0]).unwrap(), Some(h.clone()));
    let of = held::holds_of(c, &rids).unwrap();
    assert_eq!(of.len(), 1);
    assert_eq!(of[&rids[0]], h);
    assert_eq!(held::release(c, &rids[0]).unwrap(), Some(h));
    assert_eq!(held::release(c, &rids[0]).unwrap(), None);
    assert!(held::holds_of(c, &rids).unwrap().is_empty());
}

pub fn the_sweep_deletes_what_is_past_its_retention_and_keeps_what_is_held_or_recording(
    spec: Spec,
) {
    use callrec_server::audit::store::{entries, verify, Query};
    use callrec_server::catalog::retention::{self as held, Hold};
    use callrec_server::retention::policy::{Policy, DAY_MS};
    use callrec_server::retention::sweep;
    let root = storage("sweep");
    let store = Store::open(&root).unwrap();
    let rids = with_files(&store, 8);
    // Call 8 (of group Sales) is still recording.
    let slot8 = Rid::parse(&rids[7]).unwrap().slot(&root);
    let mut s8 = callrec_server::store::read_sidecar(&slot8.sidecar_path()).unwrap();
    s8.stop_ms = None;
    write_sidecar(&slot8, &s8).unwrap();
    drop(Catalog::open(spec(&root), &store).unwrap());
    let mut c = conn_of(spec, &root);
    let c = c.as_mut();
    // Forty days after the calls: every group keeps 30 days but Support 365; call 3 is held.
    let now = 1_795_248_000_000 + 40 * DAY_MS;
    let p = Policy {
        days: Some(30),
        groups: [("Support".to_string(), 365)].into(),
    };
    held::set_policy(c, &p).unwrap();
    let hold = Hold {
        reason: "case".into(),
        by: "anna".into(),
        ms: 1,
    };
    held::set_hold(c, &rids[2], &hold).unwrap();
    // Due: calls 1, 5, 7 (group ''), 4 (Sales); not 2, 6 (Support), 3 (held), 8 (recording).
    let due = [0usize, 3, 4, 6];
    assert_eq!(sweep::would_delete(c, &p, now).unwrap(), 4);
    // Nothing is due a day after the calls.
    assert_eq!(sweep::would_delete(c, &p, now - 39 * DAY_MS).unwrap(), 0);
    let swept = sweep::pass(c, &store, now).unwrap();
    assert_eq!((swept.deleted, swept.failed), (4, 0), "{swept:?}");
    for (i, rid) in rids.iter().enumerate() {
        let row = sql::get(c, rid).unwrap();
        let gone = due.contains(&i);
        assert_eq!(row.is_none(), gone, "call {}", i + 1);
        assert_eq!(on_disk(&root, rid), !gone, "call {}", i + 1);
    }
    let disposals = entries(
        c,
        &Query {
            action: Some("disposal".into()),
            ..Query::default()
        },
        100,
    )
    .unwrap();
    let mut named: Vec<&str> = disposals.iter().map(|e| e.rid.as_str()).collect();
    named.sort();
    let mut expected: Vec<&str> = due.iter().map(|i| rids[*i].as_str()).collect();
    expected.sort();
    assert_eq!(named, expected);
    assert!(disposals.iter().all(|e| e.who == "server"));
    assert!(verify(c, &mut |_| {}).is_ok());
    // Nothing left to do; released, the held one goes at the next pass.
    assert_eq!(sweep::pass(c, &store, now).unwrap().deleted, 0);
    held::release(c, &rids[2]).unwrap();
    assert_eq!(sweep::pass(c, &store, now).unwrap().deleted, 1);
    assert!(!on_disk(&root, &rids[2]));
    // The start-up sync neither brings any back nor counts any missing.
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!((report.imported, report.missing), (0, 0), "{report}");
    assert_eq!(all(&catalog, &Filter::default()).len(), 3);
}

pub fn a_deletion_cut_short_is_finished_not_imported_again_nor_marked_missing(spec: Spec) {
    use callrec_server::catalog::retention::{self as held, Disposal};
    use callrec_server::retention::sweep;
    let root = storage("cut-short");
    let store = Store::open(&root).unwrap();
    let rids = with_files(&store, 3);
    drop(Catalog::open(spec(&root), &store).unwrap());
    let mut c = conn_of(spec, &root);
    // A stop right after the deletion's transaction: the row is gone, its disposal noted,
    // the files still there. Call 3's slot meanwhile holds another recording.
    let note = |c: &mut dyn db::Conn, i: usize, call: &str| {
        let row = sql::get(c, &rids[i]).unwrap().unwrap();
        sql::delete(c, &rids[i]).unwrap();
        let d = Disposal {
            rid: rids[i].clone(),
            call_id: call.into(),
            start_ms: row.sidecar.start_ms,
        };
        held::add_disposal(c, &d, 1).unwrap();
    };
    note(c.as_mut(), 0, "call-1");
    note(c.as_mut(), 2, "an older call in the same slot");
    drop(c);
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!((report.imported, report.missing), (0, 0), "{report}");
    assert!(catalog.get(&rids[0]).unwrap().is_none());
    assert!(on_disk(&root, &rids[0]));
    drop(catalog);
    // The sweep's first pass finishes it, even with no retention; the other slot's files stay.
    let mut c = conn_of(spec, &root);
    let swept = sweep::pass(c.as_mut(), &store, 1_795_248_000_000).unwrap();
    assert_eq!((swept.finished, swept.deleted), (2, 0), "{swept:?}");
    assert!(!on_disk(&root, &rids[0]));
    assert!(on_disk(&root, &rids[2]));
    assert!(held::disposals(c.as_mut(), 10).unwrap().is_empty());
    drop(c);
    // That sidecar, no longer under a disposal, is the store's again.
    let (catalog, report) = Catalog::open(spec(&root), &store).unwrap();
    assert_eq!((report.imported, report.missing), (1, 0), "{report}");
    assert_eq!(all(&catalog, &Filter::default()).len(), 2);
}

#[macro_export]
macro_rules! catalog_tests {
    ($spec:expr) => {
        $crate::catalog_tests!(@each $spec;
            an_existing_store_is_imported_and_read_back_whole,
            sidecars_changed_or_removed_while_down_are_followed,
            writes_while_running_are_applied_in_order,
            numbers_are_found_by_prefix_and_by_substring,
            names_are_found_whatever_the_case_and_script,
            text_searches_page_in_time_order_across_ties,
            every_filter_narrows_and_they_combine,
            cursor_pages_cover_every_match_once_in_either_order,
            checks_are_merged_kept_and_started_again_when_the_digests_change,
            a_catalog_of_version_1_gains_digests_and_checks,
            the_device_registry_is_written_read_and_removed_and_each_change_raises_its_version,
            recordings_keep_the_registry_fields_of_their_start_and_are_found_by_group,
            a_catalog_of_version_3_gains_the_registry_and_keeps_its_recordings,
            a_scope_hides_other_groups_from_pages_and_counts,
            devices_in_any_spelling_and_whole_owners_in_any_case_are_found_and_paged,
            a_catalog_of_version_8_gains_the_keys_of_devices_and_owners,
            a_write_that_reads_first_waits_for_another_writer_and_is_not_failed,
            accounts_sessions_and_tokens_live_in_the_catalog,
            holds_and_the_retention_policy_are_stored_and_read_back,
            the_sweep_deletes_what_is_past_its_retention_and_keeps_what_is_held_or_recording,
            a_deletion_cut_short_is_finished_not_imported_again_nor_marked_missing);
    };
    (@each $spec:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                common::suite::$name(&$spec);
            }
        )*
    };
}
