//! Persistence: users, refresh tokens, torrents, their events, fast-resume data, the
//! media library, users' two-factor state and the torrent catalog.
//!
//! [`Store`] is the one interface the rest of the server uses. The embedded default is
//! [`SqliteStore`] (a single file under `DATA_DIR`); other backends (MongoDB) implement
//! the same trait and must pass the same [`contract`] suite, so callers never change
//! when the backend does.
//!
//! The store holds plain records; it knows nothing about librqbit, HTTP or tokens'
//! cryptography (it only ever sees hashes of refresh tokens).

mod catalog;
pub mod contract;
mod media;
mod metered;
mod mongo;
mod resume;
mod sqlite;
mod two_factor;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::InfoHash;

pub use catalog::{CatalogComment, CatalogEntry, CatalogFile, CatalogPage, CatalogQuery};
pub use media::{Assignment, MediaItem, MediaKind};
pub use metered::MeteredStore;
pub use mongo::MongoStore;
pub use resume::{FileStamp, ResumeRecord};
pub use sqlite::SqliteStore;
pub use two_factor::TwoFactor;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A shared, type-erased store.
pub type DynStore = Arc<dyn Store>;

/// Errors a store reports. Callers match on the kind, never on backend details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key (user name, info hash, token hash) already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The backend failed (I/O, connection, corrupt data).
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// A user account. `password_hash` is a PHC string (argon2id); it never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub created_at: Millis,
}

impl std::fmt::Debug for User {
    // The hash is not a secret in the strict sense, but it has no business in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// One refresh token, stored by the SHA-256 hex digest of its value.
///
/// Tokens issued by rotating one another share a `family_id`. A token is spent once
/// (`used_at` set); presenting a spent token again means it was stolen or replayed,
/// and the whole family is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: String,
    pub user_id: String,
    pub family_id: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    pub used_at: Option<Millis>,
    pub revoked: bool,
}

/// What [`Store::consume_refresh_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// The token was unspent; it is now marked spent at the given time. The record is
    /// returned as it was before (so `revoked` and `expires_at` can still be checked).
    Fresh(RefreshToken),
    /// The token had already been spent: a replay.
    Reused(RefreshToken),
    /// No such token.
    Unknown,
}

/// Download priority. Orders the queue: high before normal before low.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "high" => Some(Priority::High),
            "normal" => Some(Priority::Normal),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }
}

/// Everything needed to bring a torrent back after a restart, plus its lifetime totals.
#[derive(Debug, Clone, PartialEq)]
pub struct TorrentRecord {
    /// Lower-case hex v1 info hash (40 characters). The primary key.
    pub info_hash: InfoHash,
    pub owner_id: String,
    pub name: Option<String>,
    /// The magnet link it was added by, if any.
    pub magnet: Option<String>,
    /// The `.torrent` file: as uploaded, or as rebuilt once a magnet's metadata arrived.
    /// Shared bytes: records are cloned often, the file is never copied.
    pub torrent_bytes: Option<bytes::Bytes>,
    /// Peers given when adding (`ip:port`), reused when the torrent is restarted.
    pub initial_peers: Vec<String>,
    pub priority: Priority,
    /// The user's intent: paused torrents never take a queue slot.
    pub paused: bool,
    pub added_at: Millis,
    pub completed_at: Option<Millis>,
    /// When the seeding policy (ratio or time) stopped this torrent, if it did.
    pub seeding_stopped_at: Option<Millis>,
    pub total_bytes: u64,
    /// Lifetime payload bytes received and sent, over all sessions.
    pub downloaded_bytes: u64,
    pub uploaded_bytes: u64,
    /// Last error, if the torrent is in the error state.
    pub error: Option<String>,
    /// The pieces already announced as `torrent:piece` (a bitfield, the first piece in
    /// the most significant bit of the first byte), written with the event that
    /// announced them, so a restart never announces a piece twice.
    pub announced_pieces: Vec<u8>,
    /// The folder holding the torrent's files, relative to `DOWNLOAD_PATH` (the
    /// owner's folder, `users/<userId>`, or a folder inside it). Empty for torrents
    /// added before per-user folders existed, whose files stay at the root of
    /// `DOWNLOAD_PATH`.
    pub save_dir: String,
    /// What users set on the torrent after adding it (category, tags, limits, files).
    pub options: TorrentOptions,
}

/// A per-torrent limit that may defer to the global one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShareLimit<T> {
    /// The global limit applies (`SEED_RATIO_LIMIT`, `SEED_TIME_LIMIT`).
    #[default]
    Global,
    /// No limit for this torrent, whatever the global one is.
    Unlimited,
    /// This limit instead of the global one.
    Limit(T),
}

impl<T: Copy> ShareLimit<T> {
    /// The limit in force, given the global one.
    pub fn or_global(self, global: Option<T>) -> Option<T> {
        match self {
            Self::Global => global,
            Self::Unlimited => None,
            Self::Limit(v) => Some(v),
        }
    }
}

/// Per-torrent options, kept with the record as one JSON document (so a new option
/// needs no schema change; absent fields take their defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, rename_all = "camelCase")]
pub struct TorrentOptions {
    /// The owner's category it is filed under.
    pub category: Option<String>,
    /// The owner's tags on it, sorted, each once.
    pub tags: Vec<String>,
    /// Seeding stops at this ratio (uploaded over size).
    pub ratio_limit: ShareLimit<f64>,
    /// Seeding stops after this many seconds since completion.
    pub seeding_time_limit: ShareLimit<u64>,
    /// This torrent's own rates in bytes per second (0: only the global limit).
    pub download_limit: u32,
    pub upload_limit: u32,
    /// Indexes of the files not to download, ascending.
    pub skipped_files: Vec<usize>,
    /// Place in the download queue within its priority: lower downloads first. `None`
    /// until the torrent is moved in the queue; then `added_at` is used.
    pub queue_rank: Option<i64>,
    /// Takes a download slot even when every slot is taken (qBittorrent's force start).
    pub force_start: bool,
    /// Downloads (and seeds) only while a stream reads it: paused `IDLE_TIMEOUT` after
    /// the last read, resumed by the next.
    pub stream_only: bool,
}

impl TorrentRecord {
    /// The key the download queue orders by within a priority.
    pub fn queue_rank(&self) -> i64 {
        self.options.queue_rank.unwrap_or(self.added_at)
    }
}

impl TorrentRecord {
    /// A record with only its key and owner set: every option default, every total zero.
    pub fn new(info_hash: InfoHash, owner_id: String, added_at: Millis) -> Self {
        Self {
            info_hash,
            owner_id,
            name: None,
            magnet: None,
            torrent_bytes: None,
            initial_peers: Vec::new(),
            priority: Priority::Normal,
            paused: false,
            added_at,
            completed_at: None,
            seeding_stopped_at: None,
            total_bytes: 0,
            downloaded_bytes: 0,
            uploaded_bytes: 0,
            error: None,
            announced_pieces: Vec::new(),
            save_dir: String::new(),
            options: TorrentOptions::default(),
        }
    }
}

/// One event waiting in the outbox to be relayed to Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// The event's sequence number: unique, and the relay order.
    pub seq: u64,
    /// The Kafka message key (the info hash; empty for events of no torrent).
    pub key: String,
    /// The event as JSON.
    pub payload: Vec<u8>,
    pub created_at: Millis,
}

/// One durable step: torrent records and the events that tell of their change,
/// written together by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// New torrents; an info hash that exists is a `Conflict`.
    pub insert: Vec<TorrentRecord>,
    /// Torrents replaced whole (inserted when absent).
    pub save: Vec<TorrentRecord>,
    /// Info hashes of torrents to delete.
    pub delete: Vec<InfoHash>,
    /// Events for the outbox, ascending seqs all above the store's mark.
    pub events: Vec<OutboxRecord>,
}

impl Commit {
    pub fn is_empty(&self) -> bool {
        self.insert.is_empty()
            && self.save.is_empty()
            && self.delete.is_empty()
            && self.events.is_empty()
    }
}

/// The persistence interface. Every method is a single atomic operation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Short backend name for health output ("sqlite", "mongodb").
    fn backend_name(&self) -> &'static str;

    /// Cheap round trip proving the backend answers.
    async fn ping(&self) -> StoreResult<()>;

    // --- users -----------------------------------------------------------------------

    /// Inserts a user. `Conflict` if the user name is taken (case-sensitive).
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    /// All users, oldest first.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn count_users(&self) -> StoreResult<u64>;
    /// Replaces a user's password hash; returns whether the user exists.
    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> StoreResult<bool>;

    // --- refresh tokens --------------------------------------------------------------

    /// Inserts a refresh token. `Conflict` if the hash exists.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// Marks the token spent at `now` if it is unspent, atomically, and says what it found.
    async fn consume_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<Consumed>;
    /// Revokes every token of a family; returns how many were changed.
    async fn revoke_token_family(&self, family_id: &str) -> StoreResult<u64>;
    /// Revokes every token of a user; returns how many were changed.
    async fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64>;
    /// Deletes tokens that expired before `now`; returns how many were deleted.
    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64>;

    // --- settings ----------------------------------------------------------------------

    /// The settings administrators changed at runtime, as name and JSON value.
    async fn settings(&self) -> StoreResult<Vec<(String, String)>>;
    /// Writes settings (name, JSON value), replacing those of the same name, all or none.
    async fn save_settings(&self, settings: &[(String, String)]) -> StoreResult<()>;

    // --- torrents and events: one durable step -------------------------------------

    /// Applies `commit` atomically: its torrent inserts, saves and deletes and its events
    /// are all written, or none is. This is the only way torrent records and events are
    /// written, so a state change and the event that tells of it never part.
    ///
    /// `Conflict` (nothing written) when an inserted info hash exists, or when an event's
    /// seq is not above [`Store::event_seq_mark`] or events are not in ascending seq
    /// order. Returns how many of the deleted torrents existed.
    async fn commit(&self, commit: &Commit) -> StoreResult<u64>;
    async fn torrent(&self, info_hash: &InfoHash) -> StoreResult<Option<TorrentRecord>>;
    /// All torrents, in the order they were added (oldest first, then by info hash).
    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>>;

    /// Inserts a torrent. `Conflict` if the info hash exists.
    async fn insert_torrent(&self, torrent: &TorrentRecord) -> StoreResult<()> {
        self.commit(&Commit {
            insert: vec![torrent.clone()],
            ..Commit::default()
        })
        .await
        .map(drop)
    }

    /// Replaces a torrent record (inserting it if absent).
    async fn save_torrent(&self, torrent: &TorrentRecord) -> StoreResult<()> {
        self.commit(&Commit {
            save: vec![torrent.clone()],
            ..Commit::default()
        })
        .await
        .map(drop)
    }

    /// Deletes a torrent; returns whether it existed.
    async fn delete_torrent(&self, info_hash: &InfoHash) -> StoreResult<bool> {
        self.commit(&Commit {
            delete: vec![*info_hash],
            ..Commit::default()
        })
        .await
        .map(|n| n > 0)
    }

    // --- events ------------------------------------------------------------------------

    /// The highest event seq ever committed (0 before the first). It survives restarts
    /// and never goes down, also when the outbox is emptied: a seq at or below it is
    /// never accepted again.
    async fn event_seq_mark(&self) -> StoreResult<u64>;
    /// The oldest events of the outbox, lowest seq first, at most `limit`.
    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>>;
    /// Deletes the given events (those relayed); returns how many existed.
    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64>;
    /// Deletes every event with a seq at or below `seq`; returns how many existed.
    async fn outbox_remove_through(&self, seq: u64) -> StoreResult<u64>;
    /// How many events wait in the outbox.
    async fn outbox_len(&self) -> StoreResult<u64>;

    // --- fast resume -------------------------------------------------------------------

    /// Replaces the torrent's fast-resume record (kept apart from the torrent record: it
    /// is written often while a torrent downloads, and losing it only costs a re-check).
    async fn save_resume(&self, record: &ResumeRecord) -> StoreResult<()>;
    async fn resume(&self, info_hash: &InfoHash) -> StoreResult<Option<ResumeRecord>>;
    /// Deletes the torrent's fast-resume record; returns whether it existed.
    async fn delete_resume(&self, info_hash: &InfoHash) -> StoreResult<bool>;

    // --- media library -----------------------------------------------------------------

    /// Writes a library item whole: inserted when its id is new, else replaced (every
    /// field, the assignment included). Replacing a show leaves its episodes alone.
    async fn put_media(&self, item: &MediaItem) -> StoreResult<()>;
    async fn media(&self, id: &str) -> StoreResult<Option<MediaItem>>;
    /// Every item of one owner (movies, shows and episodes together), oldest first
    /// (by `created_at`, ties broken by id). Presentation order is the caller's.
    async fn list_media(&self, owner_id: &str) -> StoreResult<Vec<MediaItem>>;
    /// Deletes an item; returns whether it existed. Deleting a show deletes its
    /// episodes (the items whose `show_id` is its id) too.
    async fn delete_media(&self, id: &str) -> StoreResult<bool>;

    // --- tracker accounts ----------------------------------------------------------------

    /// The user's tracker passkey, if one was made.
    async fn passkey_of(&self, user_id: &str) -> StoreResult<Option<String>>;
    /// The user whose passkey this is.
    async fn user_of_passkey(&self, passkey: &str) -> StoreResult<Option<String>>;
    /// Gives the user this passkey unless they have one already (then nothing changes:
    /// of two first uses at once, the first wins). A passkey another user has is a
    /// [`StoreError::Conflict`].
    async fn insert_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()>;
    /// Gives the user this passkey, replacing any they had.
    async fn replace_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()>;
    /// Adds to the user's tracker totals (saturating), in one atomic write.
    async fn add_transfer(&self, user_id: &str, uploaded: u64, downloaded: u64) -> StoreResult<()>;
    /// The user's tracker totals: (uploaded, downloaded); zeros when none were recorded.
    async fn transfer_totals(&self, user_id: &str) -> StoreResult<(u64, u64)>;
    /// Adds to torrents' completed-download counts (what scrapes report as
    /// `downloaded`), each hash's in one atomic write.
    async fn add_completions(&self, counts: &[(InfoHash, u64)]) -> StoreResult<()>;
    /// Every torrent's completed-download count that is above zero.
    async fn completions(&self) -> StoreResult<Vec<(InfoHash, u64)>>;
    /// Forgets a torrent's completed-download count (it left the catalog).
    async fn clear_completions(&self, info_hash: &InfoHash) -> StoreResult<()>;

    // --- two-factor login --------------------------------------------------------------

    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactor>>;
    /// Gives the user a pending (not yet enabled) secret made at `now`, replacing a
    /// pending one (its last step and recovery codes go with it). False, and nothing
    /// written, when two-factor login is already enabled.
    async fn set_pending_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        now: Millis,
    ) -> StoreResult<bool>;
    /// Enables the pending secret, if it is still `secret` (a newer pending one is left
    /// alone), with `step` as its last accepted step and `recovery_codes` (digests) as
    /// its recovery codes, all in one write. False, and nothing written, otherwise.
    async fn enable_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        step: u64,
        recovery_codes: &[String],
        now: Millis,
    ) -> StoreResult<bool>;
    /// Records `step` as accepted if two-factor login is enabled and `step` is above the
    /// last accepted one, atomically: of two calls with one step, at most one is true.
    async fn accept_two_factor_step(&self, user_id: &str, step: u64) -> StoreResult<bool>;
    /// Spends the enabled user's recovery code with this digest, atomically: true only
    /// for the call that removed it.
    async fn use_recovery_code(&self, user_id: &str, code_digest: &str) -> StoreResult<bool>;
    /// Replaces every recovery code of an enabled user; false when it is not enabled.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery_codes: &[String],
    ) -> StoreResult<bool>;
    /// Deletes the user's two-factor state (enabled or pending) and recovery codes;
    /// returns whether there was any.
    async fn delete_two_factor(&self, user_id: &str) -> StoreResult<bool>;
    // --- torrent catalog ---------------------------------------------------------------

    /// Inserts a catalog entry with its `.torrent` file. `Conflict` (nothing written)
    /// when its info hash or id is in the catalog already.
    async fn insert_catalog_entry(&self, entry: &CatalogEntry, torrent: &[u8]) -> StoreResult<()>;
    async fn catalog_entry(&self, id: &str) -> StoreResult<Option<CatalogEntry>>;
    async fn catalog_entry_by_hash(
        &self,
        info_hash: &InfoHash,
    ) -> StoreResult<Option<CatalogEntry>>;
    /// The `.torrent` file of an entry, byte for byte as inserted.
    async fn catalog_torrent(&self, id: &str) -> StoreResult<Option<bytes::Bytes>>;
    /// A page of entries, newest first (by `created_at`, ties broken by id, descending),
    /// and how many match the query's category in all.
    async fn list_catalog(&self, query: &CatalogQuery) -> StoreResult<CatalogPage>;
    /// The info hash of every entry (in no particular order).
    async fn catalog_info_hashes(&self) -> StoreResult<Vec<InfoHash>>;
    /// Deletes an entry and its comments; returns whether the entry existed.
    async fn delete_catalog_entry(&self, id: &str) -> StoreResult<bool>;
    /// Inserts a comment. `Conflict` if its id exists.
    async fn add_catalog_comment(&self, comment: &CatalogComment) -> StoreResult<()>;
    async fn catalog_comment(&self, id: &str) -> StoreResult<Option<CatalogComment>>;
    /// An entry's comments, oldest first (by `created_at`, ties broken by id).
    async fn catalog_comments(&self, entry_id: &str) -> StoreResult<Vec<CatalogComment>>;
    /// Deletes a comment; returns whether it existed.
    async fn delete_catalog_comment(&self, id: &str) -> StoreResult<bool>;
}
