//! The MongoDB backend (`MONGODB_URI`; database from the URI's path, default
//! `torrentedge`).
//!
//! Collections: `users` (`_id` = user id, unique `username`), `refresh_tokens` (`_id`
//! = token hash; a TTL index on `expiresAtDate` lets MongoDB expire them, and
//! [`Store::purge_expired_tokens`] deletes them too), `torrents` (`_id` = info hash),
//! `outbox` (`_id` = event seq, so the relay reads it in seq order by its primary key)
//! `meta` (the schema version, the settings and the commit journal), `resume`
//! (`_id` = info hash: fast-resume records, each one document replaced whole),
//! `media` (`_id` = item id: the media library, see [`media`]), the tracker's
//! `passkeys` and `tracker_transfers` (`_id` = user id) and `tracker_completions`
//! (`_id` = info hash, see [`tracker`]),
//! `two_factor` (`_id` = user id: two-factor state, see [`two_factor`]), and `catalog`
//! and `catalog_comments` (the torrent catalog, see [`catalog`]).
//!
//! How each guarantee of the [`Store`] contract is kept without multi-document
//! transactions (they need a replica set):
//! - a user, a token, the settings: each is one document, written by one atomic
//!   operation (`insertOne`, `findOneAndUpdate`, `updateOne` with `$set` of every
//!   setting at once); unique keys refuse duplicates with code 11000 → `Conflict`;
//! - spending a refresh token once: `findOneAndUpdate` guarded by `usedAt: null`;
//! - accepting a TOTP time step or a recovery code once: `updateOne` guarded by the
//!   condition in its filter;
//! - a commit (torrent records and their events, all or nothing) and the seq mark
//!   that only rises: the [`journal`] makes it one single-document write.
//!
//! Every operation is bounded by [`OP_TIMEOUT`]: with MongoDB gone or frozen a call
//! fails (503 `store_unavailable` at the API) instead of hanging, and the driver
//! reconnects on its own when the server is back.

mod catalog;
mod docs;
mod journal;
mod media;
mod resume;
mod tracker;
mod two_factor;

use std::future::IntoFuture;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{
    CatalogComment, CatalogEntry, CatalogPage, CatalogQuery, Commit, Consumed, MediaItem, Millis,
    OutboxRecord, RefreshToken, ResumeRecord, Store, StoreError, StoreResult, TorrentRecord,
    TwoFactor, User,
};
use crate::InfoHash;

/// The longest one database operation may take before it counts as failed.
pub const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// The schema this build writes; a database marked newer is refused.
const SCHEMA_VERSION: i64 = 1;
const JOURNAL: &str = "journal";
const SETTINGS: &str = "settings";
const SCHEMA: &str = "schema";

pub struct MongoStore {
    db: Database,
    users: Collection<Document>,
    tokens: Collection<Document>,
    torrents: Collection<Document>,
    outbox: Collection<Document>,
    meta: Collection<Document>,
    resume: Collection<Document>,
    media: Collection<Document>,
    passkeys: Collection<Document>,
    transfers: Collection<Document>,
    completions: Collection<Document>,
    two_factor: Collection<Document>,
    catalog: catalog::Collections,
    journal: journal::Journal,
}

impl MongoStore {
    /// Connects, brings the schema up to date and replays what an earlier run left in
    /// the journal. Fails (for the caller to retry) when the server does not answer.
    pub async fn connect(uri: &str) -> StoreResult<Self> {
        Self::connect_with(Self::options(uri).await?).await
    }

    /// Parses `MONGODB_URI`: an error here is a configuration mistake, not an outage.
    pub async fn options(uri: &str) -> StoreResult<ClientOptions> {
        // The driver's message names what is wrong, never the URI's password.
        let parse = ClientOptions::parse(uri).into_future();
        op("parsing MONGODB_URI", parse).await
    }

    /// [`MongoStore::connect`] with options already parsed (to retry without parsing).
    pub async fn connect_with(mut opts: ClientOptions) -> StoreResult<Self> {
        opts.app_name = Some("torrentedge".into());
        opts.server_selection_timeout = Some(OP_TIMEOUT);
        opts.connect_timeout = Some(OP_TIMEOUT);
        let name = opts
            .default_database
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "torrentedge".into());
        let client = Client::with_options(opts).map_err(|e| backend("creating the client", e))?;
        let db = client.database(&name);
        let c = |n: &str| db.collection::<Document>(n);
        let (users, tokens, torrents) = (c("users"), c("refresh_tokens"), c("torrents"));
        let (outbox, meta, resume) = (c("outbox"), c("meta"), c("resume"));
        let (media, two_factor) = (c("media"), c("two_factor"));
        let (passkeys, transfers) = (c("passkeys"), c("tracker_transfers"));
        let completions = c("tracker_completions");
        let catalog = catalog::Collections {
            entries: c("catalog"),
            comments: c("catalog_comments"),
        };
        ping(&db).await?;
        migrate(&db, &meta).await?;
        let journal =
            journal::Journal::open(meta.clone(), torrents.clone(), outbox.clone()).await?;
        Ok(Self {
            db,
            users,
            tokens,
            torrents,
            outbox,
            meta,
            resume,
            media,
            passkeys,
            transfers,
            completions,
            two_factor,
            catalog,
            journal,
        })
    }

    async fn revoke(&self, field: &str, value: &str) -> StoreResult<u64> {
        let w = self.tokens.update_many(
            doc! { field: value, "revoked": false },
            doc! { "$set": { "revoked": true } },
        );
        Ok(op("revoking tokens", w.into_future()).await?.modified_count)
    }
}

async fn ping(db: &Database) -> StoreResult<()> {
    let cmd = db.run_command(doc! { "ping": 1 }).into_future();
    op("ping", cmd).await.map(drop)
}

/// Idempotent: indexes are created when missing, the documents `meta` needs are
/// inserted when absent, and the version is written last.
async fn migrate(db: &Database, meta: &Collection<Document>) -> StoreResult<()> {
    let found = op(
        "reading the schema version",
        meta.find_one(doc! { "_id": SCHEMA }).into_future(),
    )
    .await?
    .map(|d| docs::int(&d, "version"))
    .transpose()?;
    if let Some(v) = found.filter(|v| *v > SCHEMA_VERSION) {
        return Err(StoreError::Backend(
            format!("the database has schema {v}, newer than this build's {SCHEMA_VERSION}").into(),
        ));
    }
    let index = |keys: Document, opts: Option<IndexOptions>| {
        IndexModel::builder().keys(keys).options(opts).build()
    };
    let unique = IndexOptions::builder().unique(true).build();
    let ttl = IndexOptions::builder()
        .expire_after(Duration::from_secs(0))
        .build();
    let indexes = [
        ("users", index(doc! { "username": 1 }, Some(unique.clone()))),
        ("users", index(doc! { "createdAt": 1 }, None)),
        ("refresh_tokens", index(doc! { "familyId": 1 }, None)),
        ("refresh_tokens", index(doc! { "userId": 1 }, None)),
        (
            "refresh_tokens",
            index(doc! { "expiresAtDate": 1 }, Some(ttl)),
        ),
        ("torrents", index(doc! { "addedAt": 1 }, None)),
        ("media", index(doc! { "ownerId": 1, "createdAt": 1 }, None)),
        ("media", index(doc! { "showId": 1 }, None)),
        (
            "passkeys",
            index(doc! { "passkey": 1 }, Some(unique.clone())),
        ),
        (
            "catalog",
            index(doc! { "infoHash": 1 }, Some(unique.clone())),
        ),
        // Not `_id` in it: the nx-27017 test server cannot index `_id` in a compound key.
        ("catalog", index(doc! { "createdAt": -1 }, None)),
        (
            "catalog",
            index(doc! { "category": 1, "createdAt": -1 }, None),
        ),
        (
            "catalog_comments",
            index(doc! { "entryId": 1, "createdAt": 1 }, None),
        ),
    ];
    for (collection, model) in indexes {
        let c = db.collection::<Document>(collection);
        op("creating an index", c.create_index(model).into_future()).await?;
    }
    for d in [
        doc! { "_id": JOURNAL, "mark": 0_i64, "epoch": 0_i64, "pending": {} },
        doc! { "_id": SETTINGS, "values": {} },
    ] {
        insert_absent(meta, d).await?;
    }
    let version = doc! { "_id": SCHEMA, "version": SCHEMA_VERSION };
    let w = meta
        .replace_one(doc! { "_id": SCHEMA }, version)
        .upsert(true);
    op("writing the schema version", w.into_future())
        .await
        .map(drop)
}

async fn insert_absent(c: &Collection<Document>, d: Document) -> StoreResult<()> {
    match op("initialising meta", c.insert_one(d).into_future()).await {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Runs one driver operation within [`OP_TIMEOUT`], mapping duplicate keys to
/// `Conflict` and everything else to `Backend`.
pub(super) async fn op<T>(
    what: &str,
    fut: impl Future<Output = mongodb::error::Result<T>>,
) -> StoreResult<T> {
    match tokio::time::timeout(OP_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if is_duplicate(&e) => Err(StoreError::Conflict(format!("{what}: {e}"))),
        Ok(Err(e)) => Err(backend(what, e)),
        Err(_) => Err(StoreError::Backend(
            format!(
                "MongoDB {what}: no answer within {} s",
                OP_TIMEOUT.as_secs()
            )
            .into(),
        )),
    }
}

fn backend(what: &str, e: mongodb::error::Error) -> StoreError {
    StoreError::Backend(format!("MongoDB {what}: {e}").into())
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        _ => false,
    }
}

/// Every document a query finds, each read into a record by `read`.
async fn collect<T>(
    what: &str,
    find: impl Future<Output = mongodb::error::Result<mongodb::Cursor<Document>>>,
    read: fn(&Document) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let found = op(what, async { find.await?.try_collect::<Vec<_>>().await }).await?;
    found.iter().map(read).collect()
}

#[async_trait]
impl Store for MongoStore {
    fn backend_name(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> StoreResult<()> {
        ping(&self.db).await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let w = self.users.insert_one(docs::user_doc(user)).into_future();
        op("inserting a user", w).await.map(drop)
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let r = self.users.find_one(doc! { "_id": id }).into_future();
        op("reading a user", r)
            .await?
            .as_ref()
            .map(docs::user)
            .transpose()
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        let r = self
            .users
            .find_one(doc! { "username": username })
            .into_future();
        op("reading a user", r)
            .await?
            .as_ref()
            .map(docs::user)
            .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let find = self
            .users
            .find(doc! {})
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .into_future();
        collect("listing users", find, docs::user).await
    }

    async fn count_users(&self) -> StoreResult<u64> {
        op(
            "counting users",
            self.users.count_documents(doc! {}).into_future(),
        )
        .await
    }

    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> StoreResult<bool> {
        let w = self.users.update_one(
            doc! { "_id": user_id },
            doc! { "$set": { "passwordHash": password_hash } },
        );
        Ok(op("setting a password", w.into_future())
            .await?
            .matched_count
            > 0)
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let w = self.tokens.insert_one(docs::token_doc(token)).into_future();
        op("inserting a refresh token", w).await.map(drop)
    }

    async fn consume_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<Consumed> {
        let spend = self
            .tokens
            .find_one_and_update(
                doc! { "_id": token_hash, "usedAt": Bson::Null },
                doc! { "$set": { "usedAt": now } },
            )
            .return_document(ReturnDocument::Before)
            .into_future();
        if let Some(before) = op("spending a refresh token", spend).await? {
            return Ok(Consumed::Fresh(docs::token(&before)?));
        }
        let read = self
            .tokens
            .find_one(doc! { "_id": token_hash })
            .into_future();
        Ok(match op("reading a refresh token", read).await? {
            Some(d) => Consumed::Reused(docs::token(&d)?),
            None => Consumed::Unknown,
        })
    }

    async fn revoke_token_family(&self, family_id: &str) -> StoreResult<u64> {
        self.revoke("familyId", family_id).await
    }

    async fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        self.revoke("userId", user_id).await
    }

    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64> {
        let w = self
            .tokens
            .delete_many(doc! { "expiresAt": { "$lt": now } });
        Ok(op("purging tokens", w.into_future()).await?.deleted_count)
    }

    async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        let r = self.meta.find_one(doc! { "_id": SETTINGS }).into_future();
        let Some(d) = op("reading the settings", r).await? else {
            return Ok(Vec::new());
        };
        let values = docs::entries(&d, "values", |v| v.as_str().map(str::to_owned));
        Ok(values)
    }

    async fn save_settings(&self, settings: &[(String, String)]) -> StoreResult<()> {
        if settings.is_empty() {
            return Ok(());
        }
        let mut set = Document::new();
        for (name, value) in settings {
            if name.is_empty() || name.contains(['.', '$']) {
                return Err(StoreError::Backend(format!("setting name {name:?}").into()));
            }
            set.insert(format!("values.{name}"), value.as_str());
        }
        // One document: every setting or none.
        let w = self
            .meta
            .update_one(doc! { "_id": SETTINGS }, doc! { "$set": set });
        op("saving the settings", w.into_future()).await.map(drop)
    }

    async fn commit(&self, commit: &Commit) -> StoreResult<u64> {
        if commit.is_empty() {
            return Ok(0);
        }
        self.journal.commit(commit).await
    }

    async fn torrent(&self, info_hash: &InfoHash) -> StoreResult<Option<TorrentRecord>> {
        self.journal.settle().await?;
        let r = self
            .torrents
            .find_one(doc! { "_id": info_hash.to_string() })
            .into_future();
        op("reading a torrent", r)
            .await?
            .as_ref()
            .map(docs::torrent)
            .transpose()
    }

    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        self.journal.settle().await?;
        let find = self
            .torrents
            .find(doc! {})
            .sort(doc! { "addedAt": 1, "_id": 1 })
            .into_future();
        collect("listing torrents", find, docs::torrent).await
    }

    async fn event_seq_mark(&self) -> StoreResult<u64> {
        self.journal.mark().await
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        if limit == 0 {
            return Ok(Vec::new()); // to MongoDB, limit 0 means no limit
        }
        self.journal.settle().await?;
        let find = self
            .outbox
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .limit(limit as i64)
            .into_future();
        collect("reading the outbox", find, docs::event).await
    }

    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = seqs.iter().map(|s| *s as i64).collect();
        let w = self.outbox.delete_many(doc! { "_id": { "$in": ids } });
        Ok(op("removing events", w.into_future()).await?.deleted_count)
    }

    async fn outbox_remove_through(&self, seq: u64) -> StoreResult<u64> {
        let w = self
            .outbox
            .delete_many(doc! { "_id": { "$lte": seq as i64 } });
        Ok(op("trimming the outbox", w.into_future())
            .await?
            .deleted_count)
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        self.journal.settle().await?;
        op(
            "counting events",
            self.outbox.count_documents(doc! {}).into_future(),
        )
        .await
    }

    async fn save_resume(&self, record: &ResumeRecord) -> StoreResult<()> {
        resume::save(&self.resume, record).await
    }

    async fn resume(&self, info_hash: &InfoHash) -> StoreResult<Option<ResumeRecord>> {
        resume::get(&self.resume, info_hash).await
    }

    async fn delete_resume(&self, info_hash: &InfoHash) -> StoreResult<bool> {
        resume::delete(&self.resume, info_hash).await
    }

    async fn put_media(&self, item: &MediaItem) -> StoreResult<()> {
        media::put(&self.media, item).await
    }

    async fn media(&self, id: &str) -> StoreResult<Option<MediaItem>> {
        media::get(&self.media, id).await
    }

    async fn list_media(&self, owner_id: &str) -> StoreResult<Vec<MediaItem>> {
        media::list(&self.media, owner_id).await
    }

    async fn delete_media(&self, id: &str) -> StoreResult<bool> {
        media::delete(&self.media, id).await
    }

    async fn passkey_of(&self, user_id: &str) -> StoreResult<Option<String>> {
        tracker::passkey_of(&self.passkeys, user_id).await
    }

    async fn user_of_passkey(&self, passkey: &str) -> StoreResult<Option<String>> {
        tracker::user_of_passkey(&self.passkeys, passkey).await
    }

    async fn insert_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        tracker::insert_passkey(&self.passkeys, user_id, passkey).await
    }

    async fn replace_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        tracker::replace_passkey(&self.passkeys, user_id, passkey).await
    }

    async fn add_transfer(&self, user_id: &str, up: u64, down: u64) -> StoreResult<()> {
        tracker::add_transfer(&self.transfers, user_id, up, down).await
    }

    async fn add_completions(&self, counts: &[(InfoHash, u64)]) -> StoreResult<()> {
        tracker::add_completions(&self.completions, counts).await
    }

    async fn completions(&self) -> StoreResult<Vec<(InfoHash, u64)>> {
        tracker::completions(&self.completions).await
    }

    async fn clear_completions(&self, info_hash: &InfoHash) -> StoreResult<()> {
        let w = self
            .completions
            .delete_one(doc! { "_id": info_hash.to_string() })
            .into_future();
        op("clearing tracker completions", w).await.map(drop)
    }

    async fn transfer_totals(&self, user_id: &str) -> StoreResult<(u64, u64)> {
        tracker::transfer_totals(&self.transfers, user_id).await
    }

    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactor>> {
        two_factor::get(&self.two_factor, user_id).await
    }

    async fn set_pending_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        now: Millis,
    ) -> StoreResult<bool> {
        two_factor::set_pending(&self.two_factor, user_id, secret, now).await
    }

    async fn enable_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        step: u64,
        recovery_codes: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        two_factor::enable(&self.two_factor, user_id, secret, step, recovery_codes, now).await
    }

    async fn accept_two_factor_step(&self, user_id: &str, step: u64) -> StoreResult<bool> {
        two_factor::accept_step(&self.two_factor, user_id, step).await
    }

    async fn use_recovery_code(&self, user_id: &str, code_digest: &str) -> StoreResult<bool> {
        two_factor::use_code(&self.two_factor, user_id, code_digest).await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery_codes: &[String],
    ) -> StoreResult<bool> {
        two_factor::replace_codes(&self.two_factor, user_id, recovery_codes).await
    }

    async fn delete_two_factor(&self, user_id: &str) -> StoreResult<bool> {
        two_factor::delete(&self.two_factor, user_id).await
    }

    async fn insert_catalog_entry(&self, entry: &CatalogEntry, torrent: &[u8]) -> StoreResult<()> {
        self.catalog.insert(entry, torrent).await
    }

    async fn catalog_entry(&self, id: &str) -> StoreResult<Option<CatalogEntry>> {
        self.catalog.find(doc! { "_id": id }).await
    }

    async fn catalog_entry_by_hash(
        &self,
        info_hash: &InfoHash,
    ) -> StoreResult<Option<CatalogEntry>> {
        self.catalog
            .find(doc! { "infoHash": info_hash.to_string() })
            .await
    }

    async fn catalog_torrent(&self, id: &str) -> StoreResult<Option<bytes::Bytes>> {
        self.catalog.torrent(id).await
    }

    async fn list_catalog(&self, query: &CatalogQuery) -> StoreResult<CatalogPage> {
        self.catalog.list(query).await
    }

    async fn catalog_info_hashes(&self) -> StoreResult<Vec<InfoHash>> {
        self.catalog.info_hashes().await
    }

    async fn delete_catalog_entry(&self, id: &str) -> StoreResult<bool> {
        self.catalog.delete(id).await
    }

    async fn add_catalog_comment(&self, comment: &CatalogComment) -> StoreResult<()> {
        self.catalog.add_comment(comment).await
    }

    async fn catalog_comment(&self, id: &str) -> StoreResult<Option<CatalogComment>> {
        self.catalog.comment(id).await
    }

    async fn catalog_comments(&self, entry_id: &str) -> StoreResult<Vec<CatalogComment>> {
        self.catalog.comments(entry_id).await
    }

    async fn delete_catalog_comment(&self, id: &str) -> StoreResult<bool> {
        self.catalog.delete_comment(id).await
    }
}
