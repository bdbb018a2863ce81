//! The sans-IO parts of the web side, and the stall guard.

use super::page::{esc, render};
use super::query::{QueryError, Search, When};
use super::route::{resolve, Miss, Route};
use crate::catalog::filter::{Cursor, NumberMatch, Order};
use crate::integrity::Integrity;
use crate::rid::Rid;
use crate::store::Sidecar;
use callrec_core::codec::Codec;
use callrec_core::direction::Direction;
use callrec_core::record_file::LocalTime;
use callrec_platform::download::guard::StallGuard;
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
    let stray = crate::store::Slot {
        dir: PathBuf::from("/store/lost+found"),
        stem: "20261121_080910_3".into(),
    };
    assert_eq!(Rid::of_slot(&stray), None);
}

#[test]
fn paths_resolve_to_routes_or_to_the_reason() {
    let rid = Rid::parse(RID).unwrap();
    let ok = |p: &str| resolve("GET", p);
    assert_eq!(ok("/"), Ok(Route::App));
    assert_eq!(ok("/plain"), Ok(Route::Page));
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
    // The login takes POST too, the logout only POST.
    assert_eq!(resolve("GET", "/login"), Ok(Route::Login));
    assert_eq!(resolve("POST", "/login"), Ok(Route::Login));
    assert_eq!(resolve("POST", "/logout"), Ok(Route::Logout));
    assert_eq!(resolve("GET", "/logout"), Err(Miss::Method));
    assert_eq!(resolve("DELETE", "/login"), Err(Miss::Method));
    assert_eq!(super::route::allowed_at("/logout"), "POST");
    assert_eq!(super::route::allowed_at("/login"), "GET, HEAD, POST");
    assert_eq!(super::route::allowed_at("/"), "GET, HEAD");
}

#[test]
fn the_admin_api_and_the_assets_resolve_with_their_methods() {
    use super::route::Admin;
    let admin = |a| Ok(Route::Admin(a));
    assert_eq!(resolve("GET", "/api/users"), admin(Admin::Users));
    assert_eq!(resolve("POST", "/api/users"), admin(Admin::Users));
    assert_eq!(
        resolve("PUT", "/api/users/anna%40x"),
        admin(Admin::User("anna@x".into()))
    );
    assert_eq!(resolve("GET", "/api/users/anna"), Err(Miss::Method));
    assert_eq!(
        resolve("DELETE", "/api/tokens/ab12"),
        admin(Admin::Token("ab12".into()))
    );
    assert_eq!(resolve("GET", "/api/tokens/ab12"), Err(Miss::Method));
    assert_eq!(
        resolve("PUT", "/api/devices/00%3A15%3A65%3AAA%3ABB%3ACC"),
        admin(Admin::Device("00:15:65:AA:BB:CC".into()))
    );
    assert_eq!(resolve("GET", "/api/storage"), admin(Admin::Storage));
    assert_eq!(resolve("POST", "/api/storage"), Err(Miss::Method));
    assert_eq!(resolve("GET", "/api/me"), Ok(Route::Me));
    assert_eq!(
        resolve("GET", "/assets/app.0123abcd.js"),
        Ok(Route::Asset("app.0123abcd.js".into()))
    );
    assert_eq!(resolve("GET", "/assets/"), Err(Miss::NotFound));
    for bad in [
        "/api/users/%00",
        "/api/users/%zz",
        &format!("/api/users/{}", "a".repeat(65)),
    ] {
        assert_eq!(resolve("PUT", bad), Err(Miss::BadId), "{bad}");
    }
    assert_eq!(super::route::allowed_at("/api/users"), "GET, HEAD, POST");
    assert_eq!(super::route::allowed_at("/api/tokens/x"), "DELETE");
}

#[test]
fn the_query_is_decoded_and_checked() {
    let s = Search::parse(Some(
        "number=%2B49+30&date=2026-11-21&offset=5&limit=7&x=%ZZ",
    ))
    .unwrap_err();
    assert_eq!(s, QueryError::Encoding);
    let s = Search::parse(Some(
        "number=%2B49+30&number_match=prefix&name=%E5%BC%A0&device=00:15:65:AA:BB:CC\
         &owner=+%C3%85sa+%C3%96berg+&group=Sales+EMEA&dir=in\
         &codec=G722&date=2026-11-21&from=2026-11-20T08:30&to=2026-11-22&min_duration=10\
         &max_duration=60&stop_reason=user&integrity=mismatch&order=oldest&offset=5&limit=7&x=y",
    ))
    .unwrap();
    let day = |d| LocalTime {
        year: 2026,
        month: 11,
        day: d,
        ..LocalTime::default()
    };
    assert_eq!(
        s,
        Search {
            number: "+49 30".into(),
            number_match: NumberMatch::Prefix,
            name: "张".into(),
            device: "00:15:65:AA:BB:CC".into(),
            owner: "Åsa Öberg".into(),
            group: "Sales EMEA".into(),
            dir: Some(Direction::In),
            codec: Some(Codec::G722),
            date: Some("2026-11-21".into()),
            from: Some(When {
                time: LocalTime {
                    hour: 8,
                    minute: 30,
                    ..day(20)
                },
                date_only: false
            }),
            to: Some(When {
                time: day(22),
                date_only: true
            }),
            min_duration: Some(10),
            max_duration: Some(60),
            stop_reason: "user".into(),
            integrity: Some(Integrity::Mismatch),
            order: Order::OldestFirst,
            cursor: None,
            offset: 5,
            limit: Some(7),
        }
    );
    // The same search, written back for the paging links.
    assert_eq!(
        Search::parse(Some(&s.query_string()[1..])).unwrap(),
        Search {
            offset: 0,
            limit: None,
            ..s.clone()
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
        ("date=2026-1-21", QueryError::Date("date")),
        ("date=2026-11-32", QueryError::Date("date")),
        ("date=21.11.2026", QueryError::Date("date")),
        ("date=%00", QueryError::Date("date")),
        ("from=2026-11-21T24:00", QueryError::Date("from")),
        ("to=2026-11-21T08", QueryError::Date("to")),
        ("number=%FF", QueryError::Encoding),
        ("number=%", QueryError::Encoding),
        ("offset=-1", QueryError::Count("offset")),
        ("limit=1e3", QueryError::Count("limit")),
        ("limit=9999999999", QueryError::Count("limit")),
        ("min_duration=1.5", QueryError::Count("min_duration")),
        ("dir=up", QueryError::Choice("dir", "in or out")),
        (
            "order=random",
            QueryError::Choice("order", "newest or oldest"),
        ),
        ("cursor=1.2026-11-21_x", QueryError::Cursor),
        (
            "integrity=ok",
            QueryError::Choice(
                "integrity",
                "verified, unchecked, no_digest, missing or mismatch",
            ),
        ),
    ] {
        assert_eq!(Search::parse(Some(q)), Err(e), "{q}");
    }
    assert_eq!(
        Search::parse(Some(&format!("number={}", "1".repeat(65)))),
        Err(QueryError::TooLong("number"))
    );
    // An owner as long as the registry keeps one (in characters, not bytes), and no longer.
    let long = "Å".repeat(crate::devices::MAX_OWNER);
    assert_eq!(
        Search::parse(Some(&format!("owner={long}"))).map(|s| s.owner),
        Ok(long.clone())
    );
    assert_eq!(
        Search::parse(Some(&format!("owner={long}x"))),
        Err(QueryError::TooLong("owner"))
    );
}

#[test]
fn a_search_becomes_the_catalogs_filter_in_local_time() {
    // A fake zone: local time is the day count times 100,000 s plus the seconds of the day.
    let unix_ms = |t: &LocalTime| {
        let secs = u64::from(t.day) * 100_000
            + u64::from(t.hour) * 3600
            + u64::from(t.minute) * 60
            + u64::from(t.second);
        Some(secs * 1000)
    };
    let f = Search::parse(Some(
        "from=2026-11-20T08:30&to=2026-11-22&max_duration=60&name=Ана&group=Sales\
         &owner=Anna+Schmidt&device=0015.65aa.bbcc",
    ))
    .unwrap()
    .filter(unix_ms)
    .unwrap();
    assert_eq!(f.group.as_deref(), Some("Sales"));
    // Owner and device as given: the catalog folds them (`sql::owner_key`, `sql::device_key`).
    assert_eq!(f.owner.as_deref(), Some("Anna Schmidt"));
    assert_eq!(f.device.as_deref(), Some("0015.65aa.bbcc"));
    assert_eq!(f.from_ms, Some((20 * 100_000 + 8 * 3600 + 30 * 60) * 1000));
    // A date alone as `to` is the whole of that day.
    assert_eq!(f.to_ms, Some(23 * 100_000 * 1000));
    assert_eq!(f.max_duration_ms, Some(60_999));
    assert_eq!(f.name.as_deref(), Some("Ана"));
    // `date` narrows a range to its day.
    let f = Search::parse(Some("date=2026-11-21&from=2026-11-21T12:00"))
        .unwrap()
        .filter(unix_ms)
        .unwrap();
    assert_eq!(
        (f.from_ms, f.to_ms),
        (
            Some((21 * 100_000 + 12 * 3600) * 1000),
            Some(22 * 100_000 * 1000)
        )
    );
    // The month's last day runs into the next month, the year's into the next year.
    let f = Search::parse(Some("to=2026-12-31"))
        .unwrap()
        .filter(|t: &LocalTime| {
            Some(u64::from(t.year) * 10_000 + u64::from(t.month) * 100 + u64::from(t.day))
        });
    assert_eq!(f.unwrap().to_ms, Some(20_270_101));
    // A local time that does not exist is refused.
    assert_eq!(
        Search::parse(Some("from=2026-11-21"))
            .unwrap()
            .filter(|_: &LocalTime| None),
        Err(QueryError::Date("from"))
    );
}

#[test]
fn the_page_escapes_everything_from_a_sidecar_and_the_query() {
    assert_eq!(
        esc("<a href=\"x\">'&'</a>"),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
    let hostile = "<script>alert(1)</script>\"'&<>";
    let view = super::recording::View {
        rid: RID.into(),
        sidecar: Sidecar {
            id: hostile.into(),
            device: hostile.into(),
            remote_number: hostile.into(),
            remote_name: hostile.into(),
            local_number: hostile.into(),
            local_name: hostile.into(),
            peer: hostile.into(),
            stop_ms: Some(1),
            stop_reason: Some(hostile.into()),
            owner: hostile.into(),
            extension: hostile.into(),
            group: hostile.into(),
            ..Sidecar::default()
        },
        in_progress: false,
        start_local: hostile.into(),
        audio_url: hostile.into(),
        download_url: hostile.into(),
        originals: vec![hostile.into(), hostile.into()],
        integrity: Integrity::Mismatch,
        checks: Default::default(),
        hold: None,
        delete_after_ms: None,
        checked_ms: Some(1_795_248_550_123),
    };
    let search = Search {
        number: hostile.into(),
        name: hostile.into(),
        group: hostile.into(),
        offset: 1,
        limit: Some(1),
        ..Search::default()
    };
    let next = Cursor {
        start_ms: 5,
        rid: RID.into(),
    };
    let html = render(&[view], &search, 3, Some(&next));
    for raw in ["<script", "\"'&<>", "alert(1)</"] {
        assert!(!html.contains(raw), "{raw} in {html}");
    }
    // Paging links carry the search percent-encoded, then HTML-escaped.
    assert!(
        html.contains(&format!("cursor=5.{RID}&amp;limit=1")),
        "{html}"
    );
    assert!(html.contains("First page"), "{html}");
    assert!(html.contains("%3Cscript%3Ealert%281%29"), "{html}");
    // The integrity, marked bad, with the time of the check.
    assert!(
        html.contains("<span class=\"bad\" title=\"checked 2026-"),
        "{html}"
    );
    assert!(html.contains(">mismatch</span>"), "{html}");
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
