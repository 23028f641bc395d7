//! The SQLite schema, its migrations and the connection settings.
//!
//! The schema version lives in `PRAGMA user_version`. [`MIGRATIONS`] lists the SQL that
//! takes the database from version `i` to `i + 1`; opening a database applies every
//! pending step in one transaction, so a database is either fully upgraded or untouched.
//! A database newer than this build knows is refused rather than misread.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{SqlResultExt, backend_msg};
use crate::store::StoreResult;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations: entry `i` upgrades the database from version `i` to `i + 1`.
/// Append new steps; never edit a step that has shipped.
pub(super) const MIGRATIONS: &[&str] = &[
    SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4, SCHEMA_V5, SCHEMA_V6, SCHEMA_V7, SCHEMA_V8,
    SCHEMA_V9, SCHEMA_V10,
];

/// Version 1: users, refresh tokens and torrents.
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX users_by_created ON users (created_at, id);

CREATE TABLE refresh_tokens (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked    INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
) STRICT;
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE torrents (
    info_hash          TEXT    NOT NULL PRIMARY KEY,
    owner_id           TEXT    NOT NULL REFERENCES users (id),
    name               TEXT,
    magnet             TEXT,
    torrent_bytes      BLOB,
    initial_peers      TEXT    NOT NULL DEFAULT '[]',
    priority           TEXT    NOT NULL CHECK (priority IN ('high', 'normal', 'low')),
    paused             INTEGER NOT NULL CHECK (paused IN (0, 1)),
    added_at           INTEGER NOT NULL,
    completed_at       INTEGER,
    seeding_stopped_at INTEGER,
    total_bytes        INTEGER NOT NULL CHECK (total_bytes >= 0),
    downloaded_bytes   INTEGER NOT NULL CHECK (downloaded_bytes >= 0),
    uploaded_bytes     INTEGER NOT NULL CHECK (uploaded_bytes >= 0),
    error              TEXT
) STRICT;
CREATE INDEX torrents_by_added ON torrents (added_at, info_hash);
CREATE INDEX torrents_by_owner ON torrents (owner_id);
";

/// Version 2: the event pipeline. `meta` holds named counters; its `event_seq` row is
/// the highest event sequence number ever reserved (0: none yet). `outbox` holds the
/// events not yet relayed, keyed by their sequence number.
const SCHEMA_V2: &str = "
CREATE TABLE meta (
    key   TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('event_seq', 0);

CREATE TABLE outbox (
    seq        INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 0),
    key        TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
";

/// Version 3: one durable step for a state change and its event. `meta.event_seq`
/// becomes the highest seq committed (it was the highest reserved: a database from
/// version 2 continues above it). Torrents remember the pieces already announced and
/// the folder of their files (empty: the root of `DOWNLOAD_PATH`, where torrents added
/// before per-user folders keep their files). `settings` keeps what administrators
/// changed at runtime.
const SCHEMA_V3: &str = "
ALTER TABLE torrents ADD COLUMN announced_pieces BLOB NOT NULL DEFAULT x'';
ALTER TABLE torrents ADD COLUMN save_dir TEXT NOT NULL DEFAULT '';
CREATE TABLE settings (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
";

/// Version 4: fast-resume records, one per torrent: its have-bitfield and the stamps
/// (JSON) of its files when the bitfield was true.
const SCHEMA_V4: &str = "
CREATE TABLE resume (
    info_hash TEXT    NOT NULL PRIMARY KEY,
    bitfield  BLOB    NOT NULL,
    files     TEXT    NOT NULL,
    saved_at  INTEGER NOT NULL
) STRICT;
";

/// Version 5: per-torrent options (category, tags, share and rate limits, skipped
/// files, queue place) as one JSON document; `{}` means every default.
const SCHEMA_V5: &str = "
ALTER TABLE torrents ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
";

/// Version 6: the media library. One table for movies, shows and episodes (`kind`);
/// the active assignment is in the `assign_*` columns, all NULL when there is none.
/// Episodes name their show in `show_id` (no foreign key: a show's episodes are
/// deleted with it by the store, in the same transaction).
const SCHEMA_V6: &str = "
CREATE TABLE media (
    id                  TEXT    NOT NULL PRIMARY KEY,
    owner_id            TEXT    NOT NULL REFERENCES users (id),
    kind                TEXT    NOT NULL CHECK (kind IN ('movie', 'show', 'episode')),
    title               TEXT    NOT NULL,
    year                INTEGER CHECK (year BETWEEN 0 AND 65535),
    show_id             TEXT,
    season              INTEGER CHECK (season BETWEEN 0 AND 4294967295),
    episode             INTEGER CHECK (episode BETWEEN 0 AND 4294967295),
    assign_info_hash    TEXT,
    assign_file_index   INTEGER CHECK (assign_file_index >= 0),
    assign_file_path    TEXT,
    assign_size         INTEGER CHECK (assign_size >= 0),
    assign_resolution   TEXT,
    assign_source       TEXT,
    assign_at           INTEGER,
    created_at          INTEGER NOT NULL,
    CHECK ((assign_info_hash IS NULL) = (assign_file_index IS NULL)
       AND (assign_info_hash IS NULL) = (assign_file_path IS NULL)
       AND (assign_info_hash IS NULL) = (assign_size IS NULL)
       AND (assign_info_hash IS NULL) = (assign_at IS NULL))
) STRICT;
CREATE INDEX media_by_owner ON media (owner_id, created_at, id);
CREATE INDEX media_by_show ON media (show_id) WHERE show_id IS NOT NULL;
CREATE INDEX media_by_torrent ON media (assign_info_hash) WHERE assign_info_hash IS NOT NULL;
";

/// Version 7: the tracker's accounts, one row per user that has a passkey or
/// accounted transfers (private mode). Totals are bytes; a passkey is unique.
const SCHEMA_V7: &str = "
CREATE TABLE tracker_accounts (
    user_id     TEXT    NOT NULL PRIMARY KEY REFERENCES users (id),
    passkey     TEXT    UNIQUE,
    uploaded    INTEGER NOT NULL DEFAULT 0 CHECK (uploaded >= 0),
    downloaded  INTEGER NOT NULL DEFAULT 0 CHECK (downloaded >= 0)
) STRICT;
";

/// Version 8: two-factor login. One row per user with a TOTP secret, pending
/// (`enabled = 0`) until its first code is confirmed; `last_step` is the highest time
/// step a code was accepted for. Recovery codes are kept as digests, one row each, and
/// go with their user's row.
const SCHEMA_V8: &str = "
CREATE TABLE two_factor (
    user_id    TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     BLOB    NOT NULL,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    last_step  INTEGER CHECK (last_step >= 0),
    created_at INTEGER NOT NULL,
    enabled_at INTEGER
) STRICT;
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES two_factor (user_id) ON DELETE CASCADE,
    digest  TEXT NOT NULL,
    PRIMARY KEY (user_id, digest)
) STRICT;
";

/// Version 9: the torrent catalog. `tags` and `files` are JSON arrays (read whole,
/// never queried into); the `.torrent` file is kept in `torrent` byte for byte. A
/// comment goes with its entry (`ON DELETE CASCADE`).
const SCHEMA_V9: &str = "
CREATE TABLE catalog (
    id          TEXT    NOT NULL PRIMARY KEY,
    info_hash   TEXT    NOT NULL UNIQUE,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL,
    category    TEXT,
    tags        TEXT    NOT NULL DEFAULT '[]',
    uploader_id TEXT    NOT NULL REFERENCES users (id),
    created_at  INTEGER NOT NULL,
    total_bytes INTEGER NOT NULL CHECK (total_bytes >= 0),
    files       TEXT    NOT NULL DEFAULT '[]',
    torrent     BLOB    NOT NULL
) STRICT;
CREATE INDEX catalog_by_created ON catalog (created_at, id);
CREATE INDEX catalog_by_category ON catalog (category, created_at, id);

CREATE TABLE catalog_comments (
    id         TEXT    NOT NULL PRIMARY KEY,
    entry_id   TEXT    NOT NULL REFERENCES catalog (id) ON DELETE CASCADE,
    author_id  TEXT    NOT NULL REFERENCES users (id),
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX catalog_comments_by_entry ON catalog_comments (entry_id, created_at, id);
";

/// Version 10: the tracker's completed-download count per torrent, so that a restart
/// does not reset what scrapes and the catalog report.
const SCHEMA_V10: &str = "
CREATE TABLE tracker_completions (
    info_hash TEXT    NOT NULL PRIMARY KEY,
    completed INTEGER NOT NULL CHECK (completed >= 0)
) STRICT;
";

// --- connection setup and migrations ----------------------------------------------------

pub(super) fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .db()?;
    // In-memory databases report "memory"; anything else means WAL was refused.
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(journal_mode = %mode, "sqlite refused WAL journal mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    // The engine keeps every record it needs in memory and reads the database back only
    // at start, so SQLite's own page cache (2 MiB by default) would mostly duplicate it;
    // the operating system's cache still holds the file.
    conn.pragma_update(None, "cache_size", -256).db()?;
    conn.pragma_update(None, "foreign_keys", true).db()?;
    Ok(())
}

/// Applies every pending migration in one write transaction. The version is read
/// inside that transaction, so two processes opening one file cannot both migrate.
pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let current = schema_version(&tx)?;
    if current > MIGRATIONS.len() {
        return Err(backend_msg(format!(
            "database schema version {current} is newer than this build supports ({})",
            MIGRATIONS.len()
        )));
    }
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        tx.execute_batch(sql).db()?;
        tx.pragma_update(None, "user_version", step + 1).db()?;
        tracing::info!(version = step + 1, "sqlite schema migrated");
    }
    tx.commit().db()
}

pub(super) fn schema_version(conn: &Connection) -> StoreResult<usize> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .db()?;
    usize::try_from(version)
        .map_err(|_| backend_msg(format!("invalid database schema version {version}")))
}
