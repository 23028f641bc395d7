//! The embedded default backend: [`SqliteStore`], one SQLite file under `DATA_DIR`.
//!
//! Split along its seams: [`schema`] owns the tables, their migrations and the
//! connection settings (WAL, `synchronous=NORMAL`, foreign keys, busy timeout); [`rows`]
//! maps rows to the store's records and holds the user and token queries; [`torrents`]
//! holds the one durable step ([`Store::commit`]) and the outbox; [`media`] holds the
//! media library; [`two_factor`] holds users' two-factor state and [`catalog`] the
//! torrent catalog. This file is the bridge that runs blocking SQLite calls off the async
//! runtime's worker threads.
//!
//! # Durability
//!
//! Every [`Store::commit`] is one `IMMEDIATE` transaction. In WAL mode with
//! `synchronous=NORMAL` a committed transaction survives the process being killed
//! (SIGKILL); only a power loss can take back the last few commits.
//!
//! # Event sequence numbers and the outbox
//!
//! Sequence numbers are `u64` in the store's interface and SQLite `INTEGER` (`i64`) on
//! disk. Values above `i64::MAX` are never wrapped: writing one is a
//! [`StoreError::Backend`]. The `meta` row `event_seq` is the highest seq ever
//! committed; it is raised in the same transaction as the events, so a seq at or below
//! it is refused for good, also after its event left the outbox.

mod catalog;
mod media;
mod resume;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod torrents;
mod tracker;
mod two_factor;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, ffi};

use crate::InfoHash;

use super::{
    CatalogComment, CatalogEntry, CatalogPage, CatalogQuery, Commit, Consumed, MediaItem, Millis,
    OutboxRecord, RefreshToken, ResumeRecord, Store, StoreError, StoreResult, TorrentRecord,
    TwoFactor, User,
};

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
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
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
        self.call(move |c| rows::insert_user(c, &user)).await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.call(move |c| rows::find_user(c, "id", &id)).await
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let name = username.to_owned();
        self.call(move |c| rows::find_user(c, "username", &name))
            .await
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.call(|c| rows::all_users(c)).await
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
        self.call(move |c| {
            c.execute(sql, rusqlite::params![hash, id])
                .db()
                .map(|n| n > 0)
        })
        .await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let token = token.clone();
        self.call(move |c| rows::insert_token(c, &token)).await
    }

    async fn consume_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<Consumed> {
        let hash = token_hash.to_owned();
        self.call(move |c| rows::consume_token(c, &hash, now)).await
    }

    async fn revoke_token_family(&self, family_id: &str) -> StoreResult<u64> {
        let family = family_id.to_owned();
        self.call(move |c| rows::revoke_tokens(c, "family_id", &family))
            .await
    }

    async fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        let user = user_id.to_owned();
        self.call(move |c| rows::revoke_tokens(c, "user_id", &user))
            .await
    }

    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64> {
        self.call(move |c| {
            c.execute("DELETE FROM refresh_tokens WHERE expires_at < ?1", [now])
                .db()
                .map(count)
        })
        .await
    }

    async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        self.call(rows::settings).await
    }

    async fn save_settings(&self, settings: &[(String, String)]) -> StoreResult<()> {
        let settings = settings.to_vec();
        self.call(move |c| rows::save_settings(c, &settings)).await
    }

    async fn commit(&self, commit: &Commit) -> StoreResult<u64> {
        if commit.is_empty() {
            return Ok(0);
        }
        let commit = commit.clone();
        self.call(move |c| torrents::commit(c, &commit)).await
    }

    async fn torrent(&self, info_hash: &InfoHash) -> StoreResult<Option<TorrentRecord>> {
        let hash = *info_hash;
        self.call(move |c| torrents::find(c, &hash)).await
    }

    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        self.call(|c| torrents::all(c)).await
    }

    async fn event_seq_mark(&self) -> StoreResult<u64> {
        self.call(torrents::seq_mark).await
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.call(move |c| torrents::peek_outbox(c, limit)).await
    }

    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let seqs = seqs.to_vec();
        self.call(move |c| torrents::remove_outbox(c, &seqs)).await
    }

    async fn outbox_remove_through(&self, seq: u64) -> StoreResult<u64> {
        self.call(move |c| torrents::remove_outbox_through(c, seq))
            .await
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        self.call(|c| {
            c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
                .db()
        })
        .await
    }

    async fn save_resume(&self, record: &ResumeRecord) -> StoreResult<()> {
        let record = record.clone();
        self.call(move |c| resume::save(c, &record)).await
    }

    async fn resume(&self, info_hash: &InfoHash) -> StoreResult<Option<ResumeRecord>> {
        let hash = *info_hash;
        self.call(move |c| resume::get(c, &hash)).await
    }

    async fn delete_resume(&self, info_hash: &InfoHash) -> StoreResult<bool> {
        let hash = *info_hash;
        self.call(move |c| resume::delete(c, &hash)).await
    }

    async fn put_media(&self, item: &MediaItem) -> StoreResult<()> {
        let item = item.clone();
        self.call(move |c| media::put(c, &item)).await
    }

    async fn media(&self, id: &str) -> StoreResult<Option<MediaItem>> {
        let id = id.to_owned();
        self.call(move |c| media::get(c, &id)).await
    }

    async fn list_media(&self, owner_id: &str) -> StoreResult<Vec<MediaItem>> {
        let owner = owner_id.to_owned();
        self.call(move |c| media::list(c, &owner)).await
    }

    async fn delete_media(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.call(move |c| media::delete(c, &id)).await
    }

    async fn passkey_of(&self, user_id: &str) -> StoreResult<Option<String>> {
        let user = user_id.to_owned();
        self.call(move |c| tracker::passkey_of(c, &user)).await
    }

    async fn user_of_passkey(&self, passkey: &str) -> StoreResult<Option<String>> {
        let key = passkey.to_owned();
        self.call(move |c| tracker::user_of_passkey(c, &key)).await
    }

    async fn insert_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        let (user, key) = (user_id.to_owned(), passkey.to_owned());
        self.call(move |c| tracker::insert_passkey(c, &user, &key))
            .await
    }

    async fn replace_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        let (user, key) = (user_id.to_owned(), passkey.to_owned());
        self.call(move |c| tracker::replace_passkey(c, &user, &key))
            .await
    }

    async fn add_transfer(&self, user_id: &str, up: u64, down: u64) -> StoreResult<()> {
        let user = user_id.to_owned();
        self.call(move |c| tracker::add_transfer(c, &user, up, down))
            .await
    }

    async fn add_completions(&self, counts: &[(InfoHash, u64)]) -> StoreResult<()> {
        let counts = counts.to_vec();
        self.call(move |c| tracker::add_completions(c, &counts))
            .await
    }

    async fn completions(&self) -> StoreResult<Vec<(InfoHash, u64)>> {
        self.call(tracker::completions).await
    }

    async fn clear_completions(&self, info_hash: &InfoHash) -> StoreResult<()> {
        let hash = *info_hash;
        self.call(move |c| tracker::clear_completions(c, &hash))
            .await
    }

    async fn transfer_totals(&self, user_id: &str) -> StoreResult<(u64, u64)> {
        let user = user_id.to_owned();
        self.call(move |c| tracker::transfer_totals(c, &user)).await
    }

    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactor>> {
        let user = user_id.to_owned();
        self.call(move |c| two_factor::get(c, &user)).await
    }

    async fn set_pending_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        now: Millis,
    ) -> StoreResult<bool> {
        let (user, secret) = (user_id.to_owned(), secret.to_vec());
        self.call(move |c| two_factor::set_pending(c, &user, &secret, now))
            .await
    }

    async fn enable_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        step: u64,
        recovery_codes: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        let (user, secret, codes) = (user_id.to_owned(), secret.to_vec(), recovery_codes.to_vec());
        self.call(move |c| two_factor::enable(c, &user, &secret, step, &codes, now))
            .await
    }

    async fn accept_two_factor_step(&self, user_id: &str, step: u64) -> StoreResult<bool> {
        let user = user_id.to_owned();
        self.call(move |c| two_factor::accept_step(c, &user, step))
            .await
    }

    async fn use_recovery_code(&self, user_id: &str, code_digest: &str) -> StoreResult<bool> {
        let (user, digest) = (user_id.to_owned(), code_digest.to_owned());
        self.call(move |c| two_factor::use_code(c, &user, &digest))
            .await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery_codes: &[String],
    ) -> StoreResult<bool> {
        let (user, codes) = (user_id.to_owned(), recovery_codes.to_vec());
        self.call(move |c| two_factor::replace_codes(c, &user, &codes))
            .await
    }

    async fn delete_two_factor(&self, user_id: &str) -> StoreResult<bool> {
        let user = user_id.to_owned();
        self.call(move |c| two_factor::delete(c, &user)).await
    }

    async fn insert_catalog_entry(&self, entry: &CatalogEntry, torrent: &[u8]) -> StoreResult<()> {
        let (entry, torrent) = (entry.clone(), torrent.to_vec());
        self.call(move |c| catalog::insert(c, &entry, &torrent))
            .await
    }

    async fn catalog_entry(&self, id: &str) -> StoreResult<Option<CatalogEntry>> {
        let id = id.to_owned();
        self.call(move |c| catalog::get(c, "id", &id)).await
    }

    async fn catalog_entry_by_hash(
        &self,
        info_hash: &InfoHash,
    ) -> StoreResult<Option<CatalogEntry>> {
        let hash = info_hash.to_string();
        self.call(move |c| catalog::get(c, "info_hash", &hash))
            .await
    }

    async fn catalog_torrent(&self, id: &str) -> StoreResult<Option<bytes::Bytes>> {
        let id = id.to_owned();
        let found = self.call(move |c| catalog::torrent(c, &id)).await?;
        Ok(found.map(bytes::Bytes::from))
    }

    async fn list_catalog(&self, query: &CatalogQuery) -> StoreResult<CatalogPage> {
        let query = query.clone();
        self.call(move |c| catalog::list(c, &query)).await
    }

    async fn catalog_info_hashes(&self) -> StoreResult<Vec<InfoHash>> {
        self.call(catalog::info_hashes).await
    }

    async fn delete_catalog_entry(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.call(move |c| catalog::delete(c, &id)).await
    }

    async fn add_catalog_comment(&self, comment: &CatalogComment) -> StoreResult<()> {
        let comment = comment.clone();
        self.call(move |c| catalog::add_comment(c, &comment)).await
    }

    async fn catalog_comment(&self, id: &str) -> StoreResult<Option<CatalogComment>> {
        let id = id.to_owned();
        self.call(move |c| catalog::comment(c, &id)).await
    }

    async fn catalog_comments(&self, entry_id: &str) -> StoreResult<Vec<CatalogComment>> {
        let id = entry_id.to_owned();
        self.call(move |c| catalog::comments(c, &id)).await
    }

    async fn delete_catalog_comment(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.call(move |c| catalog::delete_comment(c, &id)).await
    }
}
