//! The catalog's schema, as versioned migrations: version N is applied once, in a transaction,
//! and recorded in `catalog_version`. Both engines have the same tables and columns; they
//! differ only in the text indexes (SQLite's FTS5 tables, PostgreSQL's pg_trgm and full-text
//! indexes), in SQLite's keys (by time, from version 5) and in the types' spelling.

use super::db::{transaction, Conn, Dialect, Value};
use super::CatalogError;

/// Version 1: the recordings.
///
/// `numbers` is `remote_number \n local_number` and `names` is `remote_name \n local_name`,
/// both lowercased (Unicode), so that one substring index serves both sides of a call.
/// `sidecar_len` and `sidecar_mtime_ns` are the sidecar's as last read or written: at
/// start-up, a sidecar whose size or time differs is read again (`sync.rs`).
const V1_SQLITE: &str = "
CREATE TABLE recordings (
    rid TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    device TEXT NOT NULL,
    remote_number TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    local_number TEXT NOT NULL,
    local_name TEXT NOT NULL,
    numbers TEXT NOT NULL,
    names TEXT NOT NULL,
    dir TEXT NOT NULL,
    codec TEXT NOT NULL,
    peer TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    stop_ms INTEGER,
    stop_reason TEXT,
    duration_ms INTEGER NOT NULL,
    files TEXT NOT NULL,
    stats TEXT NOT NULL,
    sidecar_len INTEGER NOT NULL,
    sidecar_mtime_ns INTEGER NOT NULL
);
CREATE INDEX recordings_time ON recordings (start_ms, rid);
CREATE INDEX recordings_remote ON recordings (remote_number);
CREATE INDEX recordings_local ON recordings (local_number);
CREATE INDEX recordings_device ON recordings (device, start_ms);
CREATE INDEX recordings_open ON recordings (rid) WHERE stop_ms IS NULL;
CREATE VIRTUAL TABLE recordings_text USING fts5(
    numbers, names, content='recordings', tokenize='trigram case_sensitive 1'
);
CREATE TRIGGER recordings_text_insert AFTER INSERT ON recordings BEGIN
    INSERT INTO recordings_text (rowid, numbers, names) VALUES (new.rowid, new.numbers, new.names);
END;
CREATE TRIGGER recordings_text_delete AFTER DELETE ON recordings BEGIN
    INSERT INTO recordings_text (recordings_text, rowid, numbers, names)
        VALUES ('delete', old.rowid, old.numbers, old.names);
END;
CREATE TRIGGER recordings_text_update AFTER UPDATE OF numbers, names ON recordings BEGIN
    INSERT INTO recordings_text (recordings_text, rowid, numbers, names)
        VALUES ('delete', old.rowid, old.numbers, old.names);
    INSERT INTO recordings_text (rowid, numbers, names) VALUES (new.rowid, new.numbers, new.names);
END;
";

/// Version 1 on PostgreSQL. Numbers are compared byte by byte (`COLLATE \"C\"`), so that a
/// prefix is a range whatever the database's locale.
const V1_POSTGRES: &str = "
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE recordings (
    rid TEXT COLLATE \"C\" PRIMARY KEY,
    call_id TEXT NOT NULL,
    device TEXT COLLATE \"C\" NOT NULL,
    remote_number TEXT COLLATE \"C\" NOT NULL,
    remote_name TEXT NOT NULL,
    local_number TEXT COLLATE \"C\" NOT NULL,
    local_name TEXT NOT NULL,
    numbers TEXT COLLATE \"C\" NOT NULL,
    names TEXT COLLATE \"C\" NOT NULL,
    dir TEXT NOT NULL,
    codec TEXT NOT NULL,
    peer TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    stop_ms BIGINT,
    stop_reason TEXT COLLATE \"C\",
    duration_ms BIGINT NOT NULL,
    files TEXT NOT NULL,
    stats TEXT NOT NULL,
    sidecar_len BIGINT NOT NULL,
    sidecar_mtime_ns BIGINT NOT NULL
);
CREATE INDEX recordings_time ON recordings (start_ms, rid);
CREATE INDEX recordings_remote ON recordings (remote_number);
CREATE INDEX recordings_local ON recordings (local_number);
CREATE INDEX recordings_device ON recordings (device, start_ms);
CREATE INDEX recordings_open ON recordings (rid) WHERE stop_ms IS NULL;
CREATE INDEX recordings_numbers_trgm ON recordings USING gin (numbers gin_trgm_ops);
CREATE INDEX recordings_names_trgm ON recordings USING gin (names gin_trgm_ops);
";

/// Version 2: the files' digests and their last checks (`integrity.rs`).
///
/// `digests` is the sidecar's (JSON: file name → 64 hex digits). `checks` holds each file's
/// last check (JSON: name → `{"state", "ms"}`), `checked_ms` when the last one was recorded,
/// and `integrity` the recording's state made from them, kept for searching by it. A row
/// written again with other files or digests starts again unchecked. Rows of version 1 have
/// no digests: `no_digest` once finished with files.
const V2: &str = "
ALTER TABLE recordings ADD COLUMN digests TEXT NOT NULL DEFAULT '{}';
ALTER TABLE recordings ADD COLUMN checks TEXT NOT NULL DEFAULT '{}';
ALTER TABLE recordings ADD COLUMN checked_ms BIGINT;
ALTER TABLE recordings ADD COLUMN integrity TEXT NOT NULL DEFAULT 'unchecked';
UPDATE recordings SET integrity = 'no_digest' WHERE stop_ms IS NOT NULL AND files <> '[]';
CREATE INDEX recordings_integrity ON recordings (integrity, start_ms);
";

/// Version 3 on SQLite: the number of recordings, kept by triggers, so that an unfiltered
/// listing's total is one row read (not a count of every row); and a word index of the names
/// (FTS5, unicode61 tokens with prefix indexes), for name parts shorter than the trigram
/// index's three characters: those match at the start of a word (`王`, `an`).
const V3_SQLITE: &str = "
CREATE TABLE recordings_count (n INTEGER NOT NULL);
INSERT INTO recordings_count (n) SELECT count(*) FROM recordings;
CREATE TRIGGER recordings_count_insert AFTER INSERT ON recordings BEGIN
    UPDATE recordings_count SET n = n + 1;
END;
CREATE TRIGGER recordings_count_delete AFTER DELETE ON recordings BEGIN
    UPDATE recordings_count SET n = n - 1;
END;
CREATE VIRTUAL TABLE recordings_words USING fts5(
    names, content='recordings', tokenize='unicode61 remove_diacritics 0', prefix='1 2'
);
INSERT INTO recordings_words (recordings_words) VALUES ('rebuild');
CREATE TRIGGER recordings_words_insert AFTER INSERT ON recordings BEGIN
    INSERT INTO recordings_words (rowid, names) VALUES (new.rowid, new.names);
END;
CREATE TRIGGER recordings_words_delete AFTER DELETE ON recordings BEGIN
    INSERT INTO recordings_words (recordings_words, rowid, names) VALUES ('delete', old.rowid, old.names);
END;
CREATE TRIGGER recordings_words_update AFTER UPDATE OF names ON recordings BEGIN
    INSERT INTO recordings_words (recordings_words, rowid, names) VALUES ('delete', old.rowid, old.names);
    INSERT INTO recordings_words (rowid, names) VALUES (new.rowid, new.names);
END;
";

/// Version 3 on PostgreSQL: the same count, and the names' words in a full-text index
/// (`simple` configuration: no stemming, any script), searched by prefix.
const V3_POSTGRES: &str = "
CREATE TABLE recordings_count (n BIGINT NOT NULL);
INSERT INTO recordings_count (n) SELECT count(*) FROM recordings;
CREATE FUNCTION recordings_count_change() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE recordings_count SET n = n + 1;
    ELSE
        UPDATE recordings_count SET n = n - 1;
    END IF;
    RETURN NULL;
END $f$;
CREATE TRIGGER recordings_count_change AFTER INSERT OR DELETE ON recordings
    FOR EACH ROW EXECUTE FUNCTION recordings_count_change();
CREATE INDEX recordings_words ON recordings USING gin (to_tsvector('simple', names));
";

/// Version 4: the device registry (`devices.rs`), and the registry's fields of a recording.
///
/// `devices` holds each registered device by its MAC (12 upper-case hex digits, as
/// `callrec_core::mac` writes it) with its owner, extension and group and when it was last
/// written (Unix ms). `devices_version` is one number that every write of the registry raises in
/// the same transaction (`sql.rs`), so that a running server sees a change made by the console
/// (`callrec-server device …`, another process) by reading one row. `owner`, `extension` and
/// `device_group` of a recording are copied from the registry when the session starts (its
/// sidecar has them too); recordings of before are `''`, as are those of unregistered devices.
const V4_SQLITE: &str = "
CREATE TABLE devices (
    mac TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    extension TEXT NOT NULL,
    device_group TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE devices_version (n BIGINT NOT NULL);
INSERT INTO devices_version (n) VALUES (0);
ALTER TABLE recordings ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN extension TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN device_group TEXT NOT NULL DEFAULT '';
CREATE INDEX recordings_group ON recordings (device_group, start_ms, rid);
";

/// Version 4 on PostgreSQL: the same, MACs and groups compared byte by byte.
const V4_POSTGRES: &str = "
CREATE TABLE devices (
    mac TEXT COLLATE \"C\" PRIMARY KEY,
    owner TEXT NOT NULL,
    extension TEXT NOT NULL,
    device_group TEXT COLLATE \"C\" NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE devices_version (n BIGINT NOT NULL);
INSERT INTO devices_version (n) VALUES (0);
ALTER TABLE recordings ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN extension TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN device_group TEXT COLLATE \"C\" NOT NULL DEFAULT '';
CREATE INDEX recordings_group ON recordings (device_group, start_ms, rid);
";

/// Version 5 on SQLite, first part: the text indexes go (they are made again below, over the
/// new keys), and each row's new key is worked out. A row's `rowid` becomes its start (Unix
/// ms, within [`super::sql::KEY_MIN_MS`]..=[`super::sql::KEY_MAX_MS`]) shifted by
/// [`super::sql::KEY_SEQ_BITS`], plus its rank by RID among the rows of that millisecond: the
/// text indexes, which hand out rows in `rowid` order, then hand them out in time order, so a
/// search by text reads only the rows of its page, not every match to sort them (`search.rs`).
/// Every new key is at least `KEY_MIN_MS << KEY_SEQ_BITS` (2^50), far above the keys SQLite
/// gave before (counted from 1), so no new key meets an old one.
const V5_SQLITE_BEFORE: &str = "
DROP TRIGGER recordings_text_insert;
DROP TRIGGER recordings_text_delete;
DROP TRIGGER recordings_text_update;
DROP TABLE recordings_text;
DROP TRIGGER recordings_words_insert;
DROP TRIGGER recordings_words_delete;
DROP TRIGGER recordings_words_update;
DROP TABLE recordings_words;
CREATE TEMP TABLE rekey (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
INSERT INTO rekey (old, new)
    SELECT rowid, (min(max(start_ms, 1073741824), 8796093022207) << 20)
        + row_number() OVER (
            PARTITION BY min(max(start_ms, 1073741824), 8796093022207) ORDER BY rid
        ) - 1
    FROM recordings;
";

/// Version 5 on SQLite: every row moves to its new key with its names' words (`words.rs`) in
/// `names`, in one write of each row.
fn v5_sqlite_rows(conn: &mut dyn Conn) -> Result<(), CatalogError> {
    const CHUNK: i64 = 5_000;
    let rows = conn.query("SELECT count(*) FROM rekey", &[])?;
    let n = rows.first().and_then(|r| r.first()).and_then(Value::as_int);
    if let Some(n) = n.filter(|n| *n > 0) {
        // About a minute a million rows on a small machine: say why the start waits.
        log::info!(
            "catalog: version 5 keys {n} recording(s) by time and indexes their names' words"
        );
    }
    let mut after = 0;
    loop {
        let rows = conn.query(
            "SELECT rekey.old, rekey.new, remote_name, local_name FROM rekey \
             JOIN recordings ON recordings.rowid = rekey.old \
             WHERE rekey.old > $1 ORDER BY rekey.old LIMIT $2",
            &[Value::int(after), Value::int(CHUNK)],
        )?;
        for r in &rows {
            let int = |i: usize| r.get(i).and_then(Value::as_int).unwrap_or_default();
            let text = |i: usize| r.get(i).and_then(Value::as_text).unwrap_or_default();
            conn.execute(
                "UPDATE recordings SET rowid = $1, names = $2 WHERE rowid = $3",
                &[
                    Value::int(int(1)),
                    Value::text(super::words::index_text(text(2), text(3))),
                    Value::int(int(0)),
                ],
            )?;
            after = int(0);
        }
        if (rows.len() as i64) < CHUNK {
            return conn.batch("DROP TABLE rekey");
        }
    }
}

/// Version 5 on SQLite, last part: the numbers' trigram index, and the word index of the names
/// (`words.rs`) with a tokenizer that splits only where the catalog put spaces (every Unicode
/// category but separators and controls is part of a token).
const V5_SQLITE_AFTER: &str = "
CREATE VIRTUAL TABLE recordings_text USING fts5(
    numbers, content='recordings', tokenize='trigram case_sensitive 1'
);
INSERT INTO recordings_text (recordings_text) VALUES ('rebuild');
CREATE TRIGGER recordings_text_insert AFTER INSERT ON recordings BEGIN
    INSERT INTO recordings_text (rowid, numbers) VALUES (new.rowid, new.numbers);
END;
CREATE TRIGGER recordings_text_delete AFTER DELETE ON recordings BEGIN
    INSERT INTO recordings_text (recordings_text, rowid, numbers)
        VALUES ('delete', old.rowid, old.numbers);
END;
CREATE TRIGGER recordings_text_update AFTER UPDATE OF numbers ON recordings BEGIN
    INSERT INTO recordings_text (recordings_text, rowid, numbers)
        VALUES ('delete', old.rowid, old.numbers);
    INSERT INTO recordings_text (rowid, numbers) VALUES (new.rowid, new.numbers);
END;
CREATE VIRTUAL TABLE recordings_words USING fts5(
    names, content='recordings', prefix='1 2',
    tokenize=\"unicode61 remove_diacritics 0 categories 'L* N* M* P* S* Co Cf Cs Cn'\"
);
INSERT INTO recordings_words (recordings_words) VALUES ('rebuild');
CREATE TRIGGER recordings_words_insert AFTER INSERT ON recordings BEGIN
    INSERT INTO recordings_words (rowid, names) VALUES (new.rowid, new.names);
END;
CREATE TRIGGER recordings_words_delete AFTER DELETE ON recordings BEGIN
    INSERT INTO recordings_words (recordings_words, rowid, names) VALUES ('delete', old.rowid, old.names);
END;
CREATE TRIGGER recordings_words_update AFTER UPDATE OF names ON recordings BEGIN
    INSERT INTO recordings_words (recordings_words, rowid, names) VALUES ('delete', old.rowid, old.names);
    INSERT INTO recordings_words (rowid, names) VALUES (new.rowid, new.names);
END;
";

/// Version 5 on PostgreSQL: names are searched by their words only (the index of version 3,
/// over the words the catalog now stores), so their trigram index goes.
const V5_POSTGRES_BEFORE: &str = "DROP INDEX recordings_names_trgm;";

/// Version 7: the audit trail (`crate::audit`). `audit` holds each entry by its `seq` (1, 2,
/// 3, …): when (Unix ms), who, from where (`origin`), the action's code, the recording's RID
/// (`''`: none), the details (`what`, JSON), and the chain's hashes (`prev`, `hash`: 64 hex
/// digits). `audit_head` is one row, the last entry's seq and hash (0 and 64 zeros before the
/// first): an append locks it first, so appends line up. The same on both engines.
const AUDIT: &str = "
CREATE TABLE audit (
    seq BIGINT PRIMARY KEY,
    ms BIGINT NOT NULL,
    who TEXT NOT NULL,
    origin TEXT NOT NULL,
    action TEXT NOT NULL,
    rid TEXT NOT NULL,
    what TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_time ON audit (ms, seq);
CREATE INDEX audit_action ON audit (action, seq);
CREATE INDEX audit_who ON audit (who, seq);
CREATE INDEX audit_rid ON audit (rid, seq);
CREATE TABLE audit_head (seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (seq, hash)
    VALUES (0, '0000000000000000000000000000000000000000000000000000000000000000');
";

/// Version 8: retention and legal hold (`crate::retention`). `retention_global` is one row, the
/// global period in days (`NULL`: keep for ever, the default); `retention` the overrides by
/// device group; `holds` each recording on legal hold by its RID, with the reason, who set it
/// and when (Unix ms); `disposals` each deletion whose catalog row is gone but whose files may
/// not be yet (the start-up sync does not import their sidecars again), with the call id and
/// start its sidecar must still have to be removed.
const V8_SQLITE: &str = "
CREATE TABLE retention_global (days BIGINT);
INSERT INTO retention_global (days) VALUES (NULL);
CREATE TABLE retention (device_group TEXT PRIMARY KEY, days BIGINT NOT NULL);
CREATE TABLE holds (rid TEXT PRIMARY KEY, reason TEXT NOT NULL, who TEXT NOT NULL, ms BIGINT NOT NULL);
CREATE TABLE disposals (
    rid TEXT PRIMARY KEY, call_id TEXT NOT NULL, start_ms BIGINT NOT NULL, ms BIGINT NOT NULL
);
";

/// Version 8 on PostgreSQL: the same, RIDs and groups compared byte by byte (as `recordings`).
const V8_POSTGRES: &str = "
CREATE TABLE retention_global (days BIGINT);
INSERT INTO retention_global (days) VALUES (NULL);
CREATE TABLE retention (device_group TEXT COLLATE \"C\" PRIMARY KEY, days BIGINT NOT NULL);
CREATE TABLE holds (
    rid TEXT COLLATE \"C\" PRIMARY KEY, reason TEXT NOT NULL, who TEXT NOT NULL, ms BIGINT NOT NULL
);
CREATE TABLE disposals (
    rid TEXT COLLATE \"C\" PRIMARY KEY, call_id TEXT NOT NULL, start_ms BIGINT NOT NULL,
    ms BIGINT NOT NULL
);
";

/// Version 9: the keys the `device` and `owner` filters match (`sql.rs`): `device_key`, the
/// device's MAC as `callrec_core::mac` writes it (whatever spelling the phone sent), and
/// `owner_key`, the owner lowercased in every script. Each is indexed with the start and the
/// RID, the order of a page, so a page of a device or an owner with many recordings reads
/// the rows of the page only. Rows of before get their keys from [`v9_keys`].
const V9_SQLITE: &str = "
ALTER TABLE recordings ADD COLUMN device_key TEXT NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN owner_key TEXT NOT NULL DEFAULT '';
";

/// Version 9 on PostgreSQL: the same, the keys compared byte by byte.
const V9_POSTGRES: &str = "
ALTER TABLE recordings ADD COLUMN device_key TEXT COLLATE \"C\" NOT NULL DEFAULT '';
ALTER TABLE recordings ADD COLUMN owner_key TEXT COLLATE \"C\" NOT NULL DEFAULT '';
";

/// Version 9, last part: the keys' indexes, made once the keys are in.
const V9_INDEXES: &str = "
CREATE INDEX recordings_device_key ON recordings (device_key, start_ms, rid);
CREATE INDEX recordings_owner ON recordings (owner_key, start_ms, rid);
";

/// Version 9: the keys of the rows of before, one UPDATE per device and per owner (a few
/// thousand at most: the registry's), each found through an index (`recordings_device`; for
/// the owners, one made for the while).
fn v9_keys(conn: &mut dyn Conn) -> Result<(), CatalogError> {
    conn.batch("CREATE INDEX recordings_v9_owner ON recordings (owner)")?;
    type KeyOf = fn(&str) -> String;
    let keys: [(&str, &str, KeyOf); 2] = [
        ("device", "device_key", super::sql::device_key),
        ("owner", "owner_key", super::sql::owner_key),
    ];
    for (column, key, key_of) in keys {
        let rows = conn.query(
            &format!("SELECT DISTINCT {column} FROM recordings WHERE {column} <> ''"),
            &[],
        )?;
        if column == "device" && !rows.is_empty() {
            // One write of every row: say why the start waits on a large catalog.
            log::info!("catalog: version 9 keys the recordings by MAC and by owner");
        }
        for r in &rows {
            let Some(v) = r.first().and_then(Value::as_text) else {
                continue;
            };
            conn.execute(
                &format!("UPDATE recordings SET {key} = $1 WHERE {column} = $2"),
                &[Value::text(key_of(v)), Value::text(v)],
            )?;
        }
    }
    conn.batch("DROP INDEX recordings_v9_owner")
}

/// One step of a migration.
enum Step {
    Sql(&'static str),
    Rust(fn(&mut dyn Conn) -> Result<(), CatalogError>),
}

/// Version 5 on PostgreSQL: `names` holds the names' words (`words.rs`), not the names.
fn v5_names(conn: &mut dyn Conn) -> Result<(), CatalogError> {
    const CHUNK: i64 = 5_000;
    let mut after = String::new();
    loop {
        let rows = conn.query(
            "SELECT rid, remote_name, local_name FROM recordings WHERE rid > $1 \
             ORDER BY rid LIMIT $2",
            &[Value::text(&after), Value::int(CHUNK)],
        )?;
        for r in &rows {
            let text = |i: usize| r.get(i).and_then(Value::as_text).unwrap_or_default();
            conn.execute(
                "UPDATE recordings SET names = $1 WHERE rid = $2",
                &[
                    Value::text(super::words::index_text(text(1), text(2))),
                    Value::text(text(0)),
                ],
            )?;
        }
        match rows.last().and_then(|r| r.first()).and_then(Value::as_text) {
            Some(rid) if rows.len() as i64 == CHUNK => after = rid.to_string(),
            _ => return Ok(()),
        }
    }
}

/// Version 6: who may use the web side (`crate::auth::store`). `auth_users` holds each account
/// with its roles (`admin,supervisor`), its scope (device groups joined by commas, `''`: every
/// group) and its Argon2id hash in PHC form; `auth_sessions` each browser session by the SHA-256
/// of its secret, with its CSRF token, its login and its last use (Unix ms); `auth_tokens` each
/// API token by a short id and the SHA-256 of its secret, with its label, roles, scope, the
/// admin who made it, and when it expires or was revoked. The same on both engines.
const V6: &str = "
CREATE TABLE auth_users (
    name TEXT PRIMARY KEY,
    roles TEXT NOT NULL,
    groups TEXT NOT NULL,
    hash TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE TABLE auth_sessions (
    hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    seen_ms BIGINT NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_name);
CREATE TABLE auth_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    roles TEXT NOT NULL,
    groups TEXT NOT NULL,
    creator TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked_ms BIGINT
);
";

/// Every migration of an engine, oldest first: (version, steps).
fn migrations(dialect: Dialect) -> &'static [(i64, &'static [Step])] {
    match dialect {
        Dialect::Sqlite => &[
            (1, &[Step::Sql(V1_SQLITE)]),
            (2, &[Step::Sql(V2)]),
            (3, &[Step::Sql(V3_SQLITE)]),
            (4, &[Step::Sql(V4_SQLITE)]),
            (
                5,
                &[
                    Step::Sql(V5_SQLITE_BEFORE),
                    Step::Rust(v5_sqlite_rows),
                    Step::Sql(V5_SQLITE_AFTER),
                ],
            ),
            (6, &[Step::Sql(V6)]),
            (7, &[Step::Sql(AUDIT)]),
            (8, &[Step::Sql(V8_SQLITE)]),
            (
                9,
                &[
                    Step::Sql(V9_SQLITE),
                    Step::Rust(v9_keys),
                    Step::Sql(V9_INDEXES),
                ],
            ),
        ],
        Dialect::Postgres => &[
            (1, &[Step::Sql(V1_POSTGRES)]),
            (2, &[Step::Sql(V2)]),
            (3, &[Step::Sql(V3_POSTGRES)]),
            (4, &[Step::Sql(V4_POSTGRES)]),
            (5, &[Step::Sql(V5_POSTGRES_BEFORE), Step::Rust(v5_names)]),
            (6, &[Step::Sql(V6)]),
            (7, &[Step::Sql(AUDIT)]),
            (8, &[Step::Sql(V8_POSTGRES)]),
            (
                9,
                &[
                    Step::Sql(V9_POSTGRES),
                    Step::Rust(v9_keys),
                    Step::Sql(V9_INDEXES),
                ],
            ),
        ],
    }
}

/// The newest version this build knows.
pub const VERSION: i64 = 9;

/// Brings the database to [`VERSION`]; refuses a database made by a newer build.
pub fn migrate(conn: &mut dyn Conn) -> Result<(), CatalogError> {
    migrate_to(conn, VERSION)
}

/// Brings the database to version `target` (at most [`VERSION`]): the tests make catalogs of
/// earlier versions with it.
pub fn migrate_to(conn: &mut dyn Conn, target: i64) -> Result<(), CatalogError> {
    conn.batch("CREATE TABLE IF NOT EXISTS catalog_version (version BIGINT NOT NULL)")?;
    let current = version(conn)?;
    if current > VERSION {
        return Err(CatalogError::Data(format!(
            "the catalog is at version {current}, newer than this server's {VERSION}: \
             use a newer callrec-server"
        )));
    }
    for (v, steps) in migrations(conn.dialect()) {
        let v = *v;
        if v <= current || v > target {
            continue;
        }
        transaction(conn, |c| {
            // Taken again inside the transaction: two servers starting at once on one
            // PostgreSQL catalog apply each migration once (the second waits, then skips).
            if c.dialect() == Dialect::Postgres {
                c.batch("LOCK TABLE catalog_version IN EXCLUSIVE MODE")?;
            }
            if version(c)? >= v {
                return Ok(());
            }
            for step in steps.iter() {
                match step {
                    Step::Sql(sql) => c.batch(sql)?,
                    Step::Rust(f) => f(c)?,
                }
            }
            c.execute("DELETE FROM catalog_version", &[])?;
            c.execute(
                "INSERT INTO catalog_version (version) VALUES ($1)",
                &[Value::int(v)],
            )?;
            Ok(())
        })?;
        log::info!("catalog: schema version {v}");
    }
    Ok(())
}

/// The version the database is at (0: no catalog yet).
pub fn version(conn: &mut dyn Conn) -> Result<i64, CatalogError> {
    let rows = conn.query("SELECT max(version) FROM catalog_version", &[])?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_int)
        .unwrap_or(0))
}
