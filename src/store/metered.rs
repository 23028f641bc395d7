//! A [`Store`] that times every operation of the one it wraps, for `/metrics`
//! (`torrentedge_store_operation_duration_seconds{op}` and
//! `torrentedge_store_errors_total{op}`).

use std::time::Instant;

use async_trait::async_trait;

use super::{
    CatalogComment, CatalogEntry, CatalogPage, CatalogQuery, Commit, Consumed, DynStore, InfoHash,
    MediaItem, Millis, OutboxRecord, RefreshToken, ResumeRecord, Store, StoreResult, TorrentRecord,
    TwoFactor, User,
};

pub struct MeteredStore {
    inner: DynStore,
}

impl MeteredStore {
    pub fn new(inner: DynStore) -> Self {
        Self { inner }
    }
}

async fn timed<T>(op: &'static str, fut: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let start = Instant::now();
    let out = fut.await;
    metrics::histogram!("torrentedge_store_operation_duration_seconds", "op" => op)
        .record(start.elapsed().as_secs_f64());
    if out.is_err() {
        metrics::counter!("torrentedge_store_errors_total", "op" => op).increment(1);
    }
    out
}

#[async_trait]
impl Store for MeteredStore {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
    async fn ping(&self) -> StoreResult<()> {
        timed("ping", self.inner.ping()).await
    }
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        timed("create_user", self.inner.create_user(user)).await
    }
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        timed("user_by_id", self.inner.user_by_id(id)).await
    }
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        timed("user_by_name", self.inner.user_by_name(username)).await
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        timed("list_users", self.inner.list_users()).await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        timed("count_users", self.inner.count_users()).await
    }
    async fn set_password_hash(&self, user_id: &str, hash: &str) -> StoreResult<bool> {
        timed(
            "set_password_hash",
            self.inner.set_password_hash(user_id, hash),
        )
        .await
    }
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        timed(
            "insert_refresh_token",
            self.inner.insert_refresh_token(token),
        )
        .await
    }
    async fn consume_refresh_token(&self, hash: &str, now: Millis) -> StoreResult<Consumed> {
        timed(
            "consume_refresh_token",
            self.inner.consume_refresh_token(hash, now),
        )
        .await
    }
    async fn revoke_token_family(&self, family_id: &str) -> StoreResult<u64> {
        timed(
            "revoke_token_family",
            self.inner.revoke_token_family(family_id),
        )
        .await
    }
    async fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        timed("revoke_user_tokens", self.inner.revoke_user_tokens(user_id)).await
    }
    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64> {
        timed("purge_expired_tokens", self.inner.purge_expired_tokens(now)).await
    }
    async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        timed("settings", self.inner.settings()).await
    }
    async fn save_settings(&self, settings: &[(String, String)]) -> StoreResult<()> {
        timed("save_settings", self.inner.save_settings(settings)).await
    }
    async fn commit(&self, commit: &Commit) -> StoreResult<u64> {
        timed("commit", self.inner.commit(commit)).await
    }
    async fn torrent(&self, info_hash: &InfoHash) -> StoreResult<Option<TorrentRecord>> {
        timed("torrent", self.inner.torrent(info_hash)).await
    }
    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        timed("list_torrents", self.inner.list_torrents()).await
    }
    async fn event_seq_mark(&self) -> StoreResult<u64> {
        timed("event_seq_mark", self.inner.event_seq_mark()).await
    }
    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        timed("outbox_peek", self.inner.outbox_peek(limit)).await
    }
    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64> {
        timed("outbox_remove", self.inner.outbox_remove(seqs)).await
    }
    async fn outbox_remove_through(&self, seq: u64) -> StoreResult<u64> {
        timed(
            "outbox_remove_through",
            self.inner.outbox_remove_through(seq),
        )
        .await
    }
    async fn outbox_len(&self) -> StoreResult<u64> {
        timed("outbox_len", self.inner.outbox_len()).await
    }
    async fn save_resume(&self, record: &ResumeRecord) -> StoreResult<()> {
        timed("save_resume", self.inner.save_resume(record)).await
    }
    async fn resume(&self, info_hash: &InfoHash) -> StoreResult<Option<ResumeRecord>> {
        timed("resume", self.inner.resume(info_hash)).await
    }
    async fn delete_resume(&self, info_hash: &InfoHash) -> StoreResult<bool> {
        timed("delete_resume", self.inner.delete_resume(info_hash)).await
    }
    async fn put_media(&self, item: &MediaItem) -> StoreResult<()> {
        timed("put_media", self.inner.put_media(item)).await
    }
    async fn media(&self, id: &str) -> StoreResult<Option<MediaItem>> {
        timed("media", self.inner.media(id)).await
    }
    async fn list_media(&self, owner_id: &str) -> StoreResult<Vec<MediaItem>> {
        timed("list_media", self.inner.list_media(owner_id)).await
    }
    async fn delete_media(&self, id: &str) -> StoreResult<bool> {
        timed("delete_media", self.inner.delete_media(id)).await
    }
    async fn passkey_of(&self, user_id: &str) -> StoreResult<Option<String>> {
        timed("passkey_of", self.inner.passkey_of(user_id)).await
    }
    async fn user_of_passkey(&self, passkey: &str) -> StoreResult<Option<String>> {
        timed("user_of_passkey", self.inner.user_of_passkey(passkey)).await
    }
    async fn insert_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        timed(
            "insert_passkey",
            self.inner.insert_passkey(user_id, passkey),
        )
        .await
    }
    async fn replace_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        timed(
            "replace_passkey",
            self.inner.replace_passkey(user_id, passkey),
        )
        .await
    }
    async fn add_transfer(&self, user_id: &str, up: u64, down: u64) -> StoreResult<()> {
        timed("add_transfer", self.inner.add_transfer(user_id, up, down)).await
    }
    async fn add_completions(&self, counts: &[(InfoHash, u64)]) -> StoreResult<()> {
        timed("add_completions", self.inner.add_completions(counts)).await
    }
    async fn completions(&self) -> StoreResult<Vec<(InfoHash, u64)>> {
        timed("completions", self.inner.completions()).await
    }
    async fn clear_completions(&self, info_hash: &InfoHash) -> StoreResult<()> {
        timed("clear_completions", self.inner.clear_completions(info_hash)).await
    }
    async fn transfer_totals(&self, user_id: &str) -> StoreResult<(u64, u64)> {
        timed("transfer_totals", self.inner.transfer_totals(user_id)).await
    }
    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactor>> {
        timed("two_factor", self.inner.two_factor(user_id)).await
    }
    async fn set_pending_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        now: Millis,
    ) -> StoreResult<bool> {
        let pending = self.inner.set_pending_two_factor(user_id, secret, now);
        timed("set_pending_two_factor", pending).await
    }
    async fn enable_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        step: u64,
        recovery_codes: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        let enable = self
            .inner
            .enable_two_factor(user_id, secret, step, recovery_codes, now);
        timed("enable_two_factor", enable).await
    }
    async fn accept_two_factor_step(&self, user_id: &str, step: u64) -> StoreResult<bool> {
        let accept = self.inner.accept_two_factor_step(user_id, step);
        timed("accept_two_factor_step", accept).await
    }
    async fn use_recovery_code(&self, user_id: &str, code_digest: &str) -> StoreResult<bool> {
        let spend = self.inner.use_recovery_code(user_id, code_digest);
        timed("use_recovery_code", spend).await
    }
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery_codes: &[String],
    ) -> StoreResult<bool> {
        let replace = self.inner.replace_recovery_codes(user_id, recovery_codes);
        timed("replace_recovery_codes", replace).await
    }
    async fn delete_two_factor(&self, user_id: &str) -> StoreResult<bool> {
        timed("delete_two_factor", self.inner.delete_two_factor(user_id)).await
    }

    async fn insert_catalog_entry(&self, entry: &CatalogEntry, torrent: &[u8]) -> StoreResult<()> {
        timed(
            "insert_catalog_entry",
            self.inner.insert_catalog_entry(entry, torrent),
        )
        .await
    }
    async fn catalog_entry(&self, id: &str) -> StoreResult<Option<CatalogEntry>> {
        timed("catalog_entry", self.inner.catalog_entry(id)).await
    }
    async fn catalog_entry_by_hash(&self, hash: &InfoHash) -> StoreResult<Option<CatalogEntry>> {
        timed(
            "catalog_entry_by_hash",
            self.inner.catalog_entry_by_hash(hash),
        )
        .await
    }
    async fn catalog_torrent(&self, id: &str) -> StoreResult<Option<bytes::Bytes>> {
        timed("catalog_torrent", self.inner.catalog_torrent(id)).await
    }
    async fn list_catalog(&self, query: &CatalogQuery) -> StoreResult<CatalogPage> {
        timed("list_catalog", self.inner.list_catalog(query)).await
    }
    async fn catalog_info_hashes(&self) -> StoreResult<Vec<InfoHash>> {
        timed("catalog_info_hashes", self.inner.catalog_info_hashes()).await
    }
    async fn delete_catalog_entry(&self, id: &str) -> StoreResult<bool> {
        timed("delete_catalog_entry", self.inner.delete_catalog_entry(id)).await
    }
    async fn add_catalog_comment(&self, comment: &CatalogComment) -> StoreResult<()> {
        timed(
            "add_catalog_comment",
            self.inner.add_catalog_comment(comment),
        )
        .await
    }
    async fn catalog_comment(&self, id: &str) -> StoreResult<Option<CatalogComment>> {
        timed("catalog_comment", self.inner.catalog_comment(id)).await
    }
    async fn catalog_comments(&self, entry_id: &str) -> StoreResult<Vec<CatalogComment>> {
        timed("catalog_comments", self.inner.catalog_comments(entry_id)).await
    }
    async fn delete_catalog_comment(&self, id: &str) -> StoreResult<bool> {
        timed(
            "delete_catalog_comment",
            self.inner.delete_catalog_comment(id),
        )
        .await
    }
}
