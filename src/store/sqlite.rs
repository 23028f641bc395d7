//! The embedded default backend: [`SqliteStore`], one SQLite file under `DATA_DIR`.
//!
//! This module owns the SQLite schema and its migrations, the connection settings
//! (WAL, `synchronous=NORMAL`, foreign keys, busy timeout), the mapping between rows and
//! the store's records, and the bridge that runs blocking SQLite calls off the async
//! runtime's worker threads.
//!
//! # Schema versions
//!
//! The schema version lives in `PRAGMA user_version`. [`MIGRATIONS`] lists the SQL that
//! takes the database from version `i` to `i + 1`; opening a database applies every
//! pending step in one transaction, so a database is either fully upgraded or untouched.
//! A database newer than this build knows is refused rather than misread.
//!
//! # Event sequence numbers and the outbox
//!
//! Sequence numbers are `u64` in the store's interface and SQLite `INTEGER` (`i64`) on
//! disk. Values above `i64::MAX` are never wrapped: writing one is a
//! [`StoreError::Backend`], and a reservation that would pass `i64::MAX` fails without
//! reserving anything. Reserving zero numbers is refused the same way, as an argument
//! error: it would hand out a number nobody reserved.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, ffi};
use rusqlite::{named_params, params};

use super::{
    Consumed, Millis, OutboxRecord, Priority, RefreshToken, Role, Store, StoreError, StoreResult,
    TorrentRecord, User,
};

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Schema migrations: entry `i` upgrades the database from version `i` to `i + 1`.
/// Append new steps; never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// Version 1: users, refresh tokens and torrents.
const SCHEMA_V1: &str = "
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

/// The `meta` row holding the event sequence high-water mark.
const EVENT_SEQ_KEY: &str = "event_seq";

const USER_COLUMNS: &str = "id, username, password_hash, role, created_at";

const TOKEN_COLUMNS: &str =
    "token_hash, user_id, family_id, created_at, expires_at, used_at, revoked";

const TORRENT_COLUMNS: &str = "info_hash, owner_id, name, magnet, torrent_bytes, \
     initial_peers, priority, paused, added_at, completed_at, seeding_stopped_at, \
     total_bytes, downloaded_bytes, uploaded_bytes, error";

/// The plain insert of a whole torrent row; a macro so `concat!` can extend it.
macro_rules! insert_torrent_sql {
    () => {
        "INSERT INTO torrents (info_hash, owner_id, name, magnet, torrent_bytes, \
         initial_peers, priority, paused, added_at, completed_at, seeding_stopped_at, \
         total_bytes, downloaded_bytes, uploaded_bytes, error) \
         VALUES (:info_hash, :owner_id, :name, :magnet, :torrent_bytes, :initial_peers, \
         :priority, :paused, :added_at, :completed_at, :seeding_stopped_at, :total_bytes, \
         :downloaded_bytes, :uploaded_bytes, :error)"
    };
}

const INSERT_TORRENT: &str = insert_torrent_sql!();

/// Insert, or replace every column but the key of an existing row.
const UPSERT_TORRENT: &str = concat!(
    insert_torrent_sql!(),
    " ON CONFLICT (info_hash) DO UPDATE SET owner_id = excluded.owner_id, \
     name = excluded.name, magnet = excluded.magnet, torrent_bytes = excluded.torrent_bytes, \
     initial_peers = excluded.initial_peers, priority = excluded.priority, \
     paused = excluded.paused, added_at = excluded.added_at, \
     completed_at = excluded.completed_at, seeding_stopped_at = excluded.seeding_stopped_at, \
     total_bytes = excluded.total_bytes, downloaded_bytes = excluded.downloaded_bytes, \
     uploaded_bytes = excluded.uploaded_bytes, error = excluded.error"
);

/// A [`Store`] on one SQLite database (a file, or memory for tests).
///
/// Cloning is cheap and shares the connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    // A std (not tokio) mutex on purpose: it is only ever locked inside
    // `spawn_blocking`, on a blocking-pool thread, and never held across an `.await`.
    // An async mutex would add nothing there but overhead (and would need `block_on`).
    // One connection serialises this process's statements, which SQLite does anyway
    // for writes; WAL still lets other processes read concurrently.
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, its parent directories
    /// and the schema, and brings the schema up to the current version.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StoreError::backend)?;
        }
        Self::init(Connection::open(path).db()?)
    }

    /// Opens a private, empty in-memory database (for tests).
    pub fn open_in_memory() -> StoreResult<Self> {
        Self::init(Connection::open_in_memory().db()?)
    }

    fn init(mut conn: Connection) -> StoreResult<Self> {
        configure(&conn)?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `op` with the connection on the blocking thread pool.
    ///
    /// A panic inside `op` (join error) or a mutex poisoned by an earlier panic
    /// becomes [`StoreError::Backend`].
    async fn call<T, F>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| backend_msg("sqlite connection mutex poisoned by a panic"))?;
            op(&mut guard)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

// --- connection setup and migrations ----------------------------------------------------

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .db()?;
    // In-memory databases report "memory"; anything else means WAL was refused.
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(journal_mode = %mode, "sqlite refused WAL journal mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL").db()?;
    conn.pragma_update(None, "foreign_keys", true).db()?;
    Ok(())
}

/// Applies every pending migration in one write transaction. The version is read
/// inside that transaction, so two processes opening one file cannot both migrate.
fn migrate(conn: &mut Connection) -> StoreResult<()> {
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

fn schema_version(conn: &Connection) -> StoreResult<usize> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .db()?;
    usize::try_from(version)
        .map_err(|_| backend_msg(format!("invalid database schema version {version}")))
}

// --- errors ----------------------------------------------------------------------------

fn backend_msg(msg: impl Into<String>) -> StoreError {
    StoreError::Backend(msg.into().into())
}

/// Maps rusqlite results into [`StoreResult`].
trait SqlResultExt<T> {
    /// Any error is a backend error.
    fn db(self) -> StoreResult<T>;
    /// A unique-key violation is a [`StoreError::Conflict`] on `what`; anything else is
    /// a backend error.
    fn or_conflict(self, what: impl FnOnce() -> String) -> StoreResult<T>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn db(self) -> StoreResult<T> {
        self.map_err(StoreError::backend)
    }

    fn or_conflict(self, what: impl FnOnce() -> String) -> StoreResult<T> {
        self.map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(what())
            } else {
                StoreError::backend(e)
            }
        })
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Row counts from SQLite are `usize`; the store speaks `u64`.
fn count(n: usize) -> u64 {
    // usize is at most 64 bits on every platform Rust supports, so this is lossless.
    n as u64
}

// --- column conversions ----------------------------------------------------------------

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Role {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        Role::parse(s).ok_or_else(|| FromSqlError::Other(format!("unknown role {s:?}").into()))
    }
}

impl ToSql for Priority {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Priority {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        Priority::parse(s)
            .ok_or_else(|| FromSqlError::Other(format!("unknown priority {s:?}").into()))
    }
}

/// `initial_peers` as a JSON array of strings in a TEXT column: borrowed when
/// writing, owned when reading.
struct PeersJson<T>(T);

impl ToSql for PeersJson<&[String]> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        serde_json::to_string(&self.0)
            .map(ToSqlOutput::from)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

impl FromSql for PeersJson<Vec<String>> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(PeersJson)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        role: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        family_id: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
        used_at: row.get(5)?,
        revoked: row.get(6)?,
    })
}

fn torrent_from_row(row: &Row<'_>) -> rusqlite::Result<TorrentRecord> {
    Ok(TorrentRecord {
        info_hash: row.get(0)?,
        owner_id: row.get(1)?,
        name: row.get(2)?,
        magnet: row.get(3)?,
        torrent_bytes: row.get(4)?,
        initial_peers: row.get::<_, PeersJson<Vec<String>>>(5)?.0,
        priority: row.get(6)?,
        paused: row.get(7)?,
        added_at: row.get(8)?,
        completed_at: row.get(9)?,
        seeding_stopped_at: row.get(10)?,
        total_bytes: row.get(11)?,
        downloaded_bytes: row.get(12)?,
        uploaded_bytes: row.get(13)?,
        error: row.get(14)?,
    })
}

// --- operations (run on the blocking pool) -----------------------------------------------

fn insert_user(conn: &Connection, u: &User) -> StoreResult<()> {
    conn.execute(
        &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![u.id, u.username, u.password_hash, u.role, u.created_at],
    )
    .or_conflict(|| format!("user {:?} (id {})", u.username, u.id))?;
    Ok(())
}

fn find_user(conn: &Connection, key_column: &str, key: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {key_column} = ?1");
    conn.query_row(&sql, [key], user_from_row).optional().db()
}

fn all_users(conn: &Connection) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([], user_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

fn insert_token(conn: &Connection, t: &RefreshToken) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO refresh_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            t.token_hash,
            t.user_id,
            t.family_id,
            t.created_at,
            t.expires_at,
            t.used_at,
            t.revoked
        ],
    )
    .or_conflict(|| "refresh token hash".to_owned())?;
    Ok(())
}

/// Spends the token if unspent (one guarded UPDATE), then reads it back, all in one
/// write transaction so no other writer can interleave.
fn consume_token(conn: &mut Connection, hash: &str, now: Millis) -> StoreResult<Consumed> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let spent_now = tx
        .execute(
            "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
            params![hash, now],
        )
        .db()?
        == 1;
    let found = read_token(&tx, hash)?;
    tx.commit().db()?;
    Ok(match found {
        None => Consumed::Unknown,
        // The UPDATE only matched an unspent row, so "before" had no `used_at`.
        Some(t) if spent_now => Consumed::Fresh(RefreshToken { used_at: None, ..t }),
        Some(t) => Consumed::Reused(t),
    })
}

fn read_token(tx: &Transaction<'_>, hash: &str) -> StoreResult<Option<RefreshToken>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = ?1");
    tx.query_row(&sql, [hash], token_from_row).optional().db()
}

/// Revokes the still-unrevoked tokens whose `key_column` equals `key`.
fn revoke_tokens(conn: &Connection, key_column: &str, key: &str) -> StoreResult<u64> {
    let sql =
        format!("UPDATE refresh_tokens SET revoked = 1 WHERE {key_column} = ?1 AND revoked = 0");
    conn.execute(&sql, [key]).db().map(count)
}

fn write_torrent(conn: &Connection, sql: &str, t: &TorrentRecord) -> rusqlite::Result<usize> {
    conn.execute(
        sql,
        named_params! {
            ":info_hash": t.info_hash,
            ":owner_id": t.owner_id,
            ":name": t.name,
            ":magnet": t.magnet,
            ":torrent_bytes": t.torrent_bytes,
            ":initial_peers": PeersJson(t.initial_peers.as_slice()),
            ":priority": t.priority,
            ":paused": t.paused,
            ":added_at": t.added_at,
            ":completed_at": t.completed_at,
            ":seeding_stopped_at": t.seeding_stopped_at,
            ":total_bytes": t.total_bytes,
            ":downloaded_bytes": t.downloaded_bytes,
            ":uploaded_bytes": t.uploaded_bytes,
            ":error": t.error,
        },
    )
}

fn find_torrent(conn: &Connection, info_hash: &str) -> StoreResult<Option<TorrentRecord>> {
    let sql = format!("SELECT {TORRENT_COLUMNS} FROM torrents WHERE info_hash = ?1");
    conn.query_row(&sql, [info_hash], torrent_from_row)
        .optional()
        .db()
}

fn all_torrents(conn: &Connection) -> StoreResult<Vec<TorrentRecord>> {
    let sql = format!("SELECT {TORRENT_COLUMNS} FROM torrents ORDER BY added_at, info_hash");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([], torrent_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// A sequence number as stored: above `i64::MAX` is an error, never a wrap.
fn seq_to_sql(seq: u64) -> StoreResult<i64> {
    i64::try_from(seq).map_err(|_| {
        backend_msg(format!(
            "event seq {seq} exceeds the largest storable value {}",
            i64::MAX
        ))
    })
}

/// Reserves `count` sequence numbers in one write transaction: reads the high-water
/// mark, stores `mark + count` and returns `mark + 1`. Zero, or a block that would pass
/// `i64::MAX`, is an error and reserves nothing.
fn reserve_seqs(conn: &mut Connection, count: u64) -> StoreResult<u64> {
    if count == 0 {
        return Err(backend_msg("cannot reserve zero event sequence numbers"));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mark: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [EVENT_SEQ_KEY],
            |r| r.get(0),
        )
        .optional()
        .db()?
        .ok_or_else(|| backend_msg("the event_seq counter row is missing"))?;
    let mark = u64::try_from(mark)
        .map_err(|_| backend_msg(format!("corrupt event_seq counter {mark}")))?;
    let end = mark
        .checked_add(count)
        .filter(|&end| end <= i64::MAX as u64)
        .ok_or_else(|| {
            backend_msg(format!(
                "reserving {count} event seqs after {mark} would pass {}",
                i64::MAX
            ))
        })?;
    tx.execute(
        "UPDATE meta SET value = ?2 WHERE key = ?1",
        params![EVENT_SEQ_KEY, seq_to_sql(end)?],
    )
    .db()?;
    tx.commit().db()?;
    Ok(mark + 1)
}

/// Inserts every record in one transaction; any failure rolls them all back.
fn append_outbox(conn: &mut Connection, events: &[OutboxRecord]) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO outbox (seq, key, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .db()?;
        for e in events {
            stmt.execute(params![seq_to_sql(e.seq)?, e.key, e.payload, e.created_at])
                .or_conflict(|| format!("outbox event seq {}", e.seq))?;
        }
    }
    // Dropping `tx` on an early return above rolls the whole batch back.
    tx.commit().db()
}

fn outbox_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxRecord> {
    Ok(OutboxRecord {
        seq: row.get(0)?,
        key: row.get(1)?,
        payload: row.get(2)?,
        created_at: row.get(3)?,
    })
}

fn peek_outbox(conn: &Connection, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
    // Beyond i64::MAX rows is "everything" anyway.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached("SELECT seq, key, payload, created_at FROM outbox ORDER BY seq LIMIT ?1")
        .db()?;
    let rows = stmt.query_map([limit], outbox_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// Deletes by seq with one prepared statement in one transaction (no IN-list size
/// limit to worry about); a seq listed twice counts once.
fn remove_outbox(conn: &mut Connection, seqs: &[u64]) -> StoreResult<u64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mut removed = 0;
    {
        let mut stmt = tx
            .prepare_cached("DELETE FROM outbox WHERE seq = ?1")
            .db()?;
        for &seq in seqs {
            removed += count(stmt.execute([seq_to_sql(seq)?]).db()?);
        }
    }
    tx.commit().db()?;
    Ok(removed)
}

// --- the trait ---------------------------------------------------------------------------

#[async_trait]
impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.call(|c| c.query_row("SELECT 1", [], |_| Ok(())).db())
            .await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let user = user.clone();
        self.call(move |c| insert_user(c, &user)).await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.call(move |c| find_user(c, "id", &id)).await
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let name = username.to_owned();
        self.call(move |c| find_user(c, "username", &name)).await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.call(|c| all_users(c)).await
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.call(|c| {
            c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
                .db()
        })
        .await
    }

    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> StoreResult<bool> {
        let (id, hash) = (user_id.to_owned(), password_hash.to_owned());
        let sql = "UPDATE users SET password_hash = ?1 WHERE id = ?2";
        self.call(move |c| c.execute(sql, params![hash, id]).db().map(|n| n > 0))
            .await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let token = token.clone();
        self.call(move |c| insert_token(c, &token)).await
    }

    async fn consume_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<Consumed> {
        let hash = token_hash.to_owned();
        self.call(move |c| consume_token(c, &hash, now)).await
    }

    async fn revoke_token_family(&self, family_id: &str) -> StoreResult<u64> {
        let family = family_id.to_owned();
        self.call(move |c| revoke_tokens(c, "family_id", &family))
            .await
    }

    async fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        let user = user_id.to_owned();
        self.call(move |c| revoke_tokens(c, "user_id", &user)).await
    }

    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64> {
        self.call(move |c| {
            c.execute("DELETE FROM refresh_tokens WHERE expires_at < ?1", [now])
                .db()
                .map(count)
        })
        .await
    }

    async fn insert_torrent(&self, torrent: &TorrentRecord) -> StoreResult<()> {
        let t = torrent.clone();
        self.call(move |c| {
            write_torrent(c, INSERT_TORRENT, &t)
                .or_conflict(|| format!("torrent {}", t.info_hash))
                .map(drop)
        })
        .await
    }

    async fn save_torrent(&self, torrent: &TorrentRecord) -> StoreResult<()> {
        let t = torrent.clone();
        self.call(move |c| write_torrent(c, UPSERT_TORRENT, &t).db().map(drop))
            .await
    }

    async fn torrent(&self, info_hash: &str) -> StoreResult<Option<TorrentRecord>> {
        let hash = info_hash.to_owned();
        self.call(move |c| find_torrent(c, &hash)).await
    }

    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        self.call(|c| all_torrents(c)).await
    }

    async fn delete_torrent(&self, info_hash: &str) -> StoreResult<bool> {
        let hash = info_hash.to_owned();
        self.call(move |c| {
            c.execute("DELETE FROM torrents WHERE info_hash = ?1", [hash])
                .db()
                .map(|n| n > 0)
        })
        .await
    }

    /// `count == 0` is refused with [`StoreError::Backend`] (see the module docs).
    async fn reserve_event_seqs(&self, count: u64) -> StoreResult<u64> {
        self.call(move |c| reserve_seqs(c, count)).await
    }

    async fn outbox_append(&self, events: &[OutboxRecord]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let events = events.to_vec();
        self.call(move |c| append_outbox(c, &events)).await
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.call(move |c| peek_outbox(c, limit)).await
    }

    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let seqs = seqs.to_vec();
        self.call(move |c| remove_outbox(c, &seqs)).await
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        self.call(|c| {
            c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
                .db()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;

    #[tokio::test]
    async fn contract_in_memory() {
        let store = SqliteStore::open_in_memory().expect("open in memory");
        contract::run_all(&store).await;
    }

    #[tokio::test]
    async fn contract_on_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A nested path also proves `open` creates missing parent directories.
        let store = SqliteStore::open(&dir.path().join("data/db/store.sqlite")).expect("open");
        contract::run_all(&store).await;
        // The suite is built to tolerate a non-empty database: run it a second time.
        contract::run_all(&store).await;
    }

    fn sample_user() -> User {
        User {
            id: "u-1".to_owned(),
            username: "alice".to_owned(),
            password_hash: "$argon2id$stub".to_owned(),
            role: Role::Admin,
            created_at: 1_700_000_000_000,
        }
    }

    fn sample_torrent() -> TorrentRecord {
        TorrentRecord {
            info_hash: "ab".repeat(20),
            owner_id: "u-1".to_owned(),
            name: Some("debian.iso".to_owned()),
            magnet: None,
            torrent_bytes: Some(vec![0, 1, 2, 255]),
            initial_peers: vec!["127.0.0.1:6881".to_owned()],
            priority: Priority::Low,
            paused: true,
            added_at: 1_700_000_000_001,
            completed_at: Some(1_700_000_000_002),
            seeding_stopped_at: None,
            total_bytes: u64::try_from(i64::MAX).expect("fits"),
            downloaded_bytes: 1 << 33,
            uploaded_bytes: 42,
            error: None,
        }
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        let token = RefreshToken {
            token_hash: "f".repeat(64),
            user_id: "u-1".to_owned(),
            family_id: "fam".to_owned(),
            created_at: 1,
            expires_at: i64::MAX,
            used_at: None,
            revoked: false,
        };
        {
            let store = SqliteStore::open(&path).expect("open");
            store.create_user(&sample_user()).await.expect("user");
            store
                .insert_torrent(&sample_torrent())
                .await
                .expect("torrent");
            store.insert_refresh_token(&token).await.expect("token");
        }
        let store = SqliteStore::open(&path).expect("reopen");
        assert_eq!(
            store.user_by_id("u-1").await.expect("read"),
            Some(sample_user())
        );
        assert_eq!(
            store.list_torrents().await.expect("read"),
            vec![sample_torrent()]
        );
        let consumed = store.consume_refresh_token(&token.token_hash, 5).await;
        assert_eq!(consumed.expect("consume"), Consumed::Fresh(token));
    }

    #[test]
    fn file_uses_wal_and_current_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        drop(SqliteStore::open(&path).expect("open"));
        let raw = Connection::open(&path).expect("raw open");
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        assert_eq!(schema_version(&raw).expect("version"), MIGRATIONS.len());
    }

    #[tokio::test]
    async fn existing_v1_database_upgrades_to_current_with_data_intact() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        {
            // Built by hand, as a version-1 build would have left it. Were version 1
            // applied again, its CREATE TABLEs would fail and `open` would error.
            let raw = Connection::open(&path).expect("raw open");
            raw.execute_batch(SCHEMA_V1).expect("schema");
            raw.pragma_update(None, "user_version", 1).expect("version");
            insert_user(&raw, &sample_user()).expect("user");
            write_torrent(&raw, INSERT_TORRENT, &sample_torrent()).expect("torrent");
        }
        let store = SqliteStore::open(&path).expect("open v1");
        assert_eq!(
            store.list_users().await.expect("users"),
            vec![sample_user()]
        );
        assert_eq!(
            store.list_torrents().await.expect("torrents"),
            vec![sample_torrent()]
        );
        // The new tables exist and start empty: the first block starts at 1.
        assert_eq!(store.reserve_event_seqs(5).await.expect("reserve"), 1);
        assert_eq!(store.outbox_len().await.expect("len"), 0);
        drop(store);
        let raw = Connection::open(&path).expect("raw reopen");
        assert_eq!(schema_version(&raw).expect("version"), MIGRATIONS.len());
        drop(raw);
        // Opening the upgraded file again migrates nothing and keeps the mark.
        let store = SqliteStore::open(&path).expect("open v2");
        assert_eq!(store.reserve_event_seqs(1).await.expect("reserve"), 6);
        assert_eq!(store.count_users().await.expect("count"), 1);
    }

    #[tokio::test]
    async fn event_seqs_and_outbox_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        let record = OutboxRecord {
            seq: 0,
            key: "ab".repeat(20),
            payload: br#"{"type":"added"}"#.to_vec(),
            created_at: 1_700_000_000_000,
        };
        let first = {
            let store = SqliteStore::open(&path).expect("open");
            let first = store.reserve_event_seqs(10).await.expect("reserve");
            assert_eq!(first, 1, "the first block ever reserved starts at 1");
            let record = OutboxRecord {
                seq: first,
                ..record.clone()
            };
            store.outbox_append(&[record]).await.expect("append");
            first
        };
        let store = SqliteStore::open(&path).expect("reopen");
        let second = store.reserve_event_seqs(10).await.expect("reserve");
        assert!(
            second >= first + 10,
            "a block after reopening ({second}) must follow the one before ({first}, 10)"
        );
        assert_eq!(
            store.outbox_peek(10).await.expect("peek"),
            vec![OutboxRecord {
                seq: first,
                ..record
            }]
        );
    }

    #[tokio::test]
    async fn reserving_zero_seqs_is_refused() {
        let store = SqliteStore::open_in_memory().expect("open");
        let err = store.reserve_event_seqs(0).await.expect_err("zero");
        assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
        assert_eq!(
            store.reserve_event_seqs(1).await.expect("reserve"),
            1,
            "a refused reservation reserves nothing"
        );
    }

    #[tokio::test]
    async fn reservations_never_pass_i64_max() {
        let store = SqliteStore::open_in_memory().expect("open");
        let near = i64::MAX - 10;
        store
            .call(move |c| {
                c.execute("UPDATE meta SET value = ?1 WHERE key = 'event_seq'", [near])
                    .db()
            })
            .await
            .expect("set mark");
        let near = u64::try_from(near).expect("positive");
        for count in [11, u64::MAX] {
            let err = store.reserve_event_seqs(count).await.expect_err("overflow");
            assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
        }
        // The failures reserved nothing: exactly the last 10 storable values remain.
        assert_eq!(
            store.reserve_event_seqs(10).await.expect("reserve"),
            near + 1
        );
        let err = store.reserve_event_seqs(1).await.expect_err("exhausted");
        assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
    }

    #[tokio::test]
    async fn seqs_beyond_i64_are_refused_not_wrapped() {
        let store = SqliteStore::open_in_memory().expect("open");
        let ok = OutboxRecord {
            seq: 1,
            key: String::new(),
            payload: b"{}".to_vec(),
            created_at: 0,
        };
        let huge = OutboxRecord {
            seq: u64::try_from(i64::MAX).expect("fits") + 1,
            ..ok.clone()
        };
        let err = store
            .outbox_append(&[ok.clone(), huge.clone()])
            .await
            .expect_err("huge seq");
        assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
        assert_eq!(store.outbox_len().await.expect("len"), 0, "all or none");

        store
            .outbox_append(std::slice::from_ref(&ok))
            .await
            .expect("append");
        let err = store
            .outbox_remove(&[ok.seq, huge.seq])
            .await
            .expect_err("huge seq");
        assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
        assert_eq!(store.outbox_len().await.expect("len"), 1, "all or none");

        let max = OutboxRecord {
            seq: u64::try_from(i64::MAX).expect("fits"),
            ..ok.clone()
        };
        store
            .outbox_append(std::slice::from_ref(&max))
            .await
            .expect("i64::MAX");
        assert_eq!(
            store.outbox_peek(usize::MAX).await.expect("peek"),
            vec![ok, max]
        );
    }

    #[tokio::test]
    async fn outbox_counts_on_a_fresh_database() {
        let store = SqliteStore::open_in_memory().expect("open");
        assert_eq!(store.outbox_len().await.expect("len"), 0);
        assert_eq!(store.outbox_peek(10).await.expect("peek"), vec![]);
        let first = store.reserve_event_seqs(600).await.expect("reserve");
        let records: Vec<OutboxRecord> = (first..first + 600)
            .rev()
            .map(|seq| OutboxRecord {
                seq,
                key: format!("k{seq}"),
                payload: seq.to_le_bytes().to_vec(),
                created_at: 7,
            })
            .collect();
        store.outbox_append(&records).await.expect("append");
        assert_eq!(store.outbox_len().await.expect("len"), 600);
        let peeked = store.outbox_peek(3).await.expect("peek");
        let seqs: Vec<u64> = peeked.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![first, first + 1, first + 2]);
        // Many seqs in one call, some listed twice: each existing one counts once.
        let mut all: Vec<u64> = (first..first + 600).collect();
        all.extend([first, first + 599]);
        assert_eq!(store.outbox_remove(&all).await.expect("remove"), 600);
        assert_eq!(store.outbox_len().await.expect("len"), 0);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        let raw = Connection::open(&path).expect("raw open");
        raw.pragma_update(None, "user_version", 99)
            .expect("version");
        drop(raw);
        let err = SqliteStore::open(&path).expect_err("a newer schema must be refused");
        assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
    }

    #[tokio::test]
    async fn torrent_with_unknown_owner_is_rejected() {
        let store = SqliteStore::open_in_memory().expect("open");
        let err = store
            .insert_torrent(&sample_torrent())
            .await
            .expect_err("no owner");
        assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
    }

    #[tokio::test]
    async fn panic_and_poisoned_mutex_are_backend_errors() {
        let store = SqliteStore::open_in_memory().expect("open");
        let panicked = store
            .call::<(), _>(|_| panic!("deliberate panic inside a store operation"))
            .await;
        assert!(
            matches!(panicked, Err(StoreError::Backend(_))),
            "join error: {panicked:?}"
        );
        let poisoned = store.ping().await;
        assert!(
            matches!(poisoned, Err(StoreError::Backend(_))),
            "poisoned: {poisoned:?}"
        );
    }
}
