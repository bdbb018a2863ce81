//! The audit trail's behaviour, the same for every engine (run by `catalog_sqlite.rs` and
//! `catalog_postgres.rs` beside the catalog's suite).

use super::suite::{storage, Spec};
use callrec_server::audit::chain::{Break, Entry};
use callrec_server::audit::cli::{self as audit_cli, Format};
use callrec_server::audit::store::{self, Query, VerifyError};
use callrec_server::audit::{Action, AuditError, Event};
use callrec_server::catalog::db::{Conn, Value};
use callrec_server::catalog::schema;
use callrec_server::devices::cli as device_cli;
use serde_json::json;

fn open(spec: Spec, root: &std::path::Path) -> Box<dyn Conn> {
    let mut conn = spec(root).connect().unwrap();
    schema::migrate(conn.as_mut()).unwrap();
    conn
}

fn event(i: u32) -> Event {
    Event {
        who: format!("user{}", i % 3),
        from: "192.0.2.7".into(),
        action: if i % 2 == 0 {
            Action::SEARCH
        } else {
            Action::LISTEN
        },
        rid: if i % 2 == 0 {
            String::new()
        } else {
            format!("rid-{i}")
        },
        what: json!({ "i": i }),
    }
}

fn fill(conn: &mut dyn Conn, n: u32) {
    for i in 1..=n {
        store::append(conn, &event(i), 1_000 * i64::from(i)).unwrap();
    }
}

fn all(conn: &mut dyn Conn) -> Vec<Entry> {
    store::entries(conn, &Query::default(), 100_000).unwrap()
}

fn broken(conn: &mut dyn Conn) -> Break {
    match store::verify(conn, &mut |_| {}) {
        Err(VerifyError::Broken(b)) => b,
        other => panic!("not broken: {other:?}"),
    }
}

pub fn entries_are_appended_chained_and_read_back_in_order_by_filter(spec: Spec) {
    let root = storage("audit-append");
    let mut conn = open(spec, &root);
    assert_eq!(store::head(conn.as_mut()).unwrap(), (0, "0".repeat(64)));
    fill(conn.as_mut(), 9);
    let got = all(conn.as_mut());
    assert_eq!(
        got.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(got[0].prev, "0".repeat(64));
    for w in got.windows(2) {
        assert_eq!(w[1].prev, w[0].hash);
    }
    assert_eq!(got[4].what, "{\"i\":5}");
    assert_eq!(got[4].who, "user2");
    assert_eq!(got[4].action, "listen");
    let intact = store::verify(conn.as_mut(), &mut |_| {}).unwrap();
    assert_eq!(intact.entries, 9);
    assert_eq!(intact.head, (9, got[8].hash.clone()));
    assert_eq!(store::head(conn.as_mut()).unwrap(), intact.head);
    // Time never goes back along the trail, even if the clock does.
    let e = store::append(conn.as_mut(), &event(10), 5).unwrap();
    assert_eq!((e.seq, e.ms), (10, 9_000));
    // Filters combine; the cursor pages.
    let q = |q: Query| {
        let mut c = open(spec, &root);
        store::entries(c.as_mut(), &q, 100)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(Query {
            action: Some("search".into()),
            ..Query::default()
        }),
        [2, 4, 6, 8, 10]
    );
    assert_eq!(
        q(Query {
            who: Some("user1".into()),
            action: Some("listen".into()),
            ..Query::default()
        }),
        [1, 7]
    );
    assert_eq!(
        q(Query {
            rid: Some("rid-3".into()),
            ..Query::default()
        }),
        [3]
    );
    assert_eq!(
        q(Query {
            since_ms: Some(4_000),
            until_ms: Some(7_000),
            ..Query::default()
        }),
        [4, 5, 6]
    );
    assert_eq!(
        q(Query {
            after: 8,
            ..Query::default()
        }),
        [9, 10]
    );
}

pub fn appends_from_two_connections_at_once_keep_one_chain(spec: Spec) {
    let root = storage("audit-concurrent");
    drop(open(spec, &root));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let mut conn = open(spec, &root);
            std::thread::spawn(move || {
                for i in 0..40 {
                    let mut e = event(i);
                    e.who = format!("writer{t}");
                    store::append(conn.as_mut(), &e, 1_000).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut conn = open(spec, &root);
    let got = all(conn.as_mut());
    assert_eq!(got.len(), 80);
    assert_eq!(got.iter().filter(|e| e.who == "writer0").count(), 40);
    let intact = store::verify(conn.as_mut(), &mut |_| {}).unwrap();
    assert_eq!(intact.entries, 80);
}

pub fn an_entry_edited_in_the_database_is_named_by_verify(spec: Spec) {
    for (column, value) in [
        ("what", "{\"i\":999}"),
        ("who", "nobody"),
        ("origin", "198.51.100.9"),
        (
            "hash",
            "0000000000000000000000000000000000000000000000000000000000000000",
        ),
    ] {
        let root = storage("audit-edit");
        let mut conn = open(spec, &root);
        fill(conn.as_mut(), 6);
        store::verify(conn.as_mut(), &mut |_| {}).unwrap();
        let n = conn
            .execute(
                &format!("UPDATE audit SET {column} = $1 WHERE seq = 4"),
                &[Value::text(value)],
            )
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(broken(conn.as_mut()), Break::Edited { seq: 4 }, "{column}");
    }
    // A time changed by one millisecond, too.
    let root = storage("audit-edit-ms");
    let mut conn = open(spec, &root);
    fill(conn.as_mut(), 3);
    conn.execute("UPDATE audit SET ms = ms + 1 WHERE seq = 2", &[])
        .unwrap();
    assert_eq!(broken(conn.as_mut()), Break::Edited { seq: 2 });
}

pub fn an_entry_removed_from_the_database_is_a_gap_verify_names(spec: Spec) {
    let root = storage("audit-remove");
    let mut conn = open(spec, &root);
    fill(conn.as_mut(), 6);
    conn.execute("DELETE FROM audit WHERE seq = 3", &[])
        .unwrap();
    let b = broken(conn.as_mut());
    assert_eq!(b, Break::Removed { from: 3, to: 3 });
    assert!(b.to_string().contains("entry 3: removed"), "{b}");
    // The last ones removed: the head still says 6.
    let root = storage("audit-remove-last");
    let mut conn = open(spec, &root);
    fill(conn.as_mut(), 6);
    conn.execute("DELETE FROM audit WHERE seq >= 5", &[])
        .unwrap();
    assert_eq!(broken(conn.as_mut()), Break::Removed { from: 5, to: 6 });
}

pub fn an_entry_inserted_with_a_forged_hash_fails_verify(spec: Spec) {
    let root = storage("audit-forge");
    let mut conn = open(spec, &root);
    fill(conn.as_mut(), 4);
    let last = all(conn.as_mut()).pop().unwrap();
    conn.execute(
        "INSERT INTO audit (seq, ms, who, origin, action, rid, what, prev, hash) \
         VALUES (5, 99999, 'admin', 'console', 'delete', 'x', '{}', $1, $2)",
        &[Value::text(&last.hash), Value::text("ab".repeat(32))],
    )
    .unwrap();
    assert_eq!(broken(conn.as_mut()), Break::Edited { seq: 5 });
    // Hashed as the chain says but not through the server: past the head.
    conn.execute("DELETE FROM audit WHERE seq = 5", &[])
        .unwrap();
    let forged = callrec_server::audit::chain::next_entry(
        (4, &callrec_server::audit::chain::unhex(&last.hash).unwrap()),
        Entry {
            seq: 0,
            ms: 99_999,
            who: "admin".into(),
            from: "console".into(),
            action: "delete".into(),
            rid: "x".into(),
            what: "{}".into(),
            prev: String::new(),
            hash: String::new(),
        },
    );
    conn.execute(
        "INSERT INTO audit (seq, ms, who, origin, action, rid, what, prev, hash) \
         VALUES (5, 99999, 'admin', 'console', 'delete', 'x', '{}', $1, $2)",
        &[Value::text(&forged.prev), Value::text(&forged.hash)],
    )
    .unwrap();
    assert_eq!(broken(conn.as_mut()), Break::Beyond { head: 4, last: 5 });
}

pub fn a_change_whose_entry_cannot_be_written_is_not_made(spec: Spec) {
    let root = storage("audit-closed");
    let mut conn = open(spec, &root);
    let huge = Event {
        what: json!({ "x": "a".repeat(store::MAX_EVENT_BYTES) }),
        ..event(1)
    };
    let r = store::with_change(conn.as_mut(), 1, |c| {
        c.execute(
            "INSERT INTO devices (mac, owner, extension, device_group, updated_ms) \
             VALUES ('001565AABBCC', 'A', '', '', 1)",
            &[],
        )?;
        Ok(((), Some(huge.clone())))
    });
    assert!(matches!(r, Err(AuditError::Data(_))), "{r:?}");
    let rows = conn.query("SELECT count(*) FROM devices", &[]).unwrap();
    assert_eq!(rows[0][0], Value::int(0));
    assert_eq!(store::head(conn.as_mut()).unwrap().0, 0);
}

pub fn a_transaction_inside_an_audited_change_is_a_savepoint_of_it(spec: Spec) {
    use callrec_server::catalog::db::transaction;
    use callrec_server::catalog::CatalogError;
    let root = storage("audit-nested");
    let mut conn = open(spec, &root);
    let insert = |c: &mut dyn Conn, mac: &str| {
        c.execute(
            "INSERT INTO devices (mac, owner, extension, device_group, updated_ms) \
             VALUES ($1, 'A', '', '', 1)",
            &[Value::text(mac)],
        )
        .map(|_| ())
    };
    let macs = |c: &mut dyn Conn| -> Vec<Vec<Value>> {
        c.query("SELECT mac FROM devices ORDER BY mac", &[])
            .unwrap()
    };
    store::with_change(conn.as_mut(), 1, |c| {
        transaction(c, |c| insert(c, "001565000001"))?;
        let undone = transaction(c, |c| {
            insert(c, "001565000002")?;
            Err::<(), _>(CatalogError::Query("refused".into()))
        });
        assert!(undone.is_err());
        Ok(((), Some(event(1))))
    })
    .unwrap();
    assert_eq!(macs(conn.as_mut()), [[Value::text("001565000001")]]);
    assert_eq!(store::head(conn.as_mut()).unwrap().0, 1);
    // A nested transaction that committed is undone with the change whose entry fails.
    let huge = Event {
        what: json!({ "x": "a".repeat(store::MAX_EVENT_BYTES) }),
        ..event(2)
    };
    let r = store::with_change(conn.as_mut(), 2, |c| {
        transaction(c, |c| insert(c, "001565000003"))?;
        Ok(((), Some(huge.clone())))
    });
    assert!(r.is_err());
    assert_eq!(macs(conn.as_mut()).len(), 1);
    // And the connection is out of its transaction: a plain one works again.
    transaction(conn.as_mut(), |c| insert(c, "001565000004")).unwrap();
    assert_eq!(macs(conn.as_mut()).len(), 2);
    store::verify(conn.as_mut(), &mut |_| {}).unwrap();
}

pub fn device_commands_write_their_entries(spec: Spec) {
    let root = storage("audit-devices");
    let catalog = match spec(&root) {
        callrec_server::catalog::CatalogSpec::Postgres(url) => Some(url),
        callrec_server::catalog::CatalogSpec::Sqlite(_) => None,
    };
    let run = |args: &[&str]| {
        let mut a: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        a.push("--storage".into());
        a.push(root.clone().into());
        if let Some(c) = &catalog {
            a.push("--catalog".into());
            a.push(c.into());
        }
        let opts = device_cli::parse(a).unwrap().unwrap();
        device_cli::run(&opts, &mut Vec::new()).map_err(|_| ())
    };
    run(&["add", "001565AABBCC", "--owner", "Anna", "--group", "Sales"]).unwrap();
    run(&[
        "add",
        "001565AABBCC",
        "--owner",
        "Anna B",
        "--group",
        "Sales",
    ])
    .unwrap();
    run(&["remove", "001565AABBCC"]).unwrap();
    assert!(run(&["remove", "001565AABBCC"]).is_err());
    let mut conn = open(spec, &root);
    let got = all(conn.as_mut());
    let actions: Vec<&str> = got.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["device_add", "device_change", "device_remove"]);
    assert!(got
        .iter()
        .all(|e| e.who.starts_with("console:") && e.from == "console"));
    let change: serde_json::Value = serde_json::from_str(&got[1].what).unwrap();
    assert_eq!(change["device"]["owner"], "Anna B");
    assert_eq!(change["before"]["owner"], "Anna");
    assert_eq!(change["device"]["mac"], "001565AABBCC");
    store::verify(conn.as_mut(), &mut |_| {}).unwrap();
}

pub fn exports_round_trip_hostile_fields_in_csv_and_json(spec: Spec) {
    let root = storage("audit-export");
    let mut conn = open(spec, &root);
    let hostile = [
        "=cmd|' /C calc'!A0",
        "a,\"b\"\r\nc",
        "@x",
        "-1+1",
        "plain ☎",
    ];
    for (i, who) in hostile.iter().enumerate() {
        let e = Event {
            who: (*who).into(),
            from: "2001:db8::1".into(),
            action: Action::SEARCH,
            rid: String::new(),
            what: json!({ "number": who, "i": i }),
        };
        store::append(conn.as_mut(), &e, 1_000).unwrap();
    }
    let mut json_out = Vec::new();
    assert_eq!(
        audit_cli::export(
            conn.as_mut(),
            Format::Json,
            &Query::default(),
            &mut json_out
        ),
        0
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(json_out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), hostile.len());
    for (l, who) in lines.iter().zip(hostile) {
        assert_eq!(l["who"], who);
        assert_eq!(l["what"]["number"], who);
        assert_eq!(l["from"], "2001:db8::1");
    }
    let mut csv_out = Vec::new();
    let q = Query {
        who: Some(hostile[1].into()),
        ..Query::default()
    };
    assert_eq!(
        audit_cli::export(conn.as_mut(), Format::Csv, &q, &mut csv_out),
        0
    );
    let text = String::from_utf8(csv_out).unwrap();
    assert!(text.starts_with("seq,time_utc,ms,who,from,action,rid,what,prev,hash\r\n"));
    assert!(text.contains(",\"a,\"\"b\"\"\r\nc\","), "{text}");
    let mut csv_out = Vec::new();
    audit_cli::export(conn.as_mut(), Format::Csv, &Query::default(), &mut csv_out);
    let text = String::from_utf8(csv_out).unwrap();
    assert!(text.contains(",'=cmd|' /C calc'!A0,"), "{text}");
    assert!(text.contains(",'@x,") && text.contains(",'-1+1,"), "{text}");
    assert!(!text.contains(",=") && !text.contains(",@"), "{text}");
}

/// Declares one test per audit suite function for an engine.
#[macro_export]
macro_rules! audit_tests {
    ($spec:expr) => {
        $crate::audit_tests!(@each $spec;
            entries_are_appended_chained_and_read_back_in_order_by_filter,
            appends_from_two_connections_at_once_keep_one_chain,
            an_entry_edited_in_the_database_is_named_by_verify,
            an_entry_removed_from_the_database_is_a_gap_verify_names,
            an_entry_inserted_with_a_forged_hash_fails_verify,
            a_change_whose_entry_cannot_be_written_is_not_made,
            a_transaction_inside_an_audited_change_is_a_savepoint_of_it,
            device_commands_write_their_entries,
            exports_round_trip_hostile_fields_in_csv_and_json);
    };
    (@each $spec:expr; $($name:ident),*) => {
        $(
            #[test]
            fn $name() {
                common::audit::$name(&$spec);
            }
        )*
    };
}
