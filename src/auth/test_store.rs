//! An in-memory [`Store`] for the auth unit tests: users, refresh tokens and two-factor
//! state only.
//!
//! It follows the store contract for the methods auth uses, and for the event methods
//! (a sequence counter and an outbox map); torrent and media methods are inert.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::store::{
    Commit, Consumed, DynStore, InfoHash, Millis, OutboxRecord, RefreshToken, ResumeRecord, Store,
    StoreError, StoreResult, TorrentRecord, TwoFactor, User,
};

#[derive(Default)]
pub struct MemStore {
    users: Mutex<Vec<User>>,
    tokens: Mutex<HashMap<String, RefreshToken>>,
    /// The highest event seq committed so far (0: none).
    event_seq: Mutex<u64>,
    outbox: Mutex<BTreeMap<u64, OutboxRecord>>,
    /// Each user's two-factor record and the digests of its recovery codes.
    two_factor: Mutex<HashMap<String, (TwoFactor, HashSet<String>)>>,
}

fn invalid(msg: &str) -> StoreError {
    StoreError::Backend(msg.into())
}

impl MemStore {
    pub fn shared() -> (Arc<MemStore>, DynStore) {
        let store = Arc::new(MemStore::default());
        (store.clone(), store)
    }

    /// A copy of every stored refresh token.
    pub fn tokens(&self) -> Vec<RefreshToken> {
        self.tokens.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl Store for MemStore {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut users = self.users.lock().unwrap();
        if users.iter().any(|u| u.username == user.username) {
            return Err(StoreError::Conflict(user.username.clone()));
        }
        users.push(user.clone());
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.id == id)
            .cloned())
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u.username == username)
            .cloned())
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        Ok(self.users.lock().unwrap().clone())
    }

    async fn count_users(&self) -> StoreResult<u64> {
        Ok(self.users.lock().unwrap().len() as u64)
    }

    async fn set_password_hash(&self, user_id: &str, password_hash: &str) -> StoreResult<bool> {
        let mut users = self.users.lock().unwrap();
        let user = users.iter_mut().find(|u| u.id == user_id);
        Ok(user
            .map(|u| u.password_hash = password_hash.to_owned())
            .is_some())
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let mut tokens = self.tokens.lock().unwrap();
        if tokens.contains_key(&token.token_hash) {
            return Err(StoreError::Conflict(token.token_hash.clone()));
        }
        tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn consume_refresh_token(&self, token_hash: &str, now: Millis) -> StoreResult<Consumed> {
        let mut tokens = self.tokens.lock().unwrap();
        Ok(match tokens.get_mut(token_hash) {
            None => Consumed::Unknown,
            Some(t) if t.used_at.is_some() => Consumed::Reused(t.clone()),
            Some(t) => {
                let before = t.clone();
                t.used_at = Some(now);
                Consumed::Fresh(before)
            }
        })
    }

    async fn revoke_token_family(&self, family_id: &str) -> StoreResult<u64> {
        let mut tokens = self.tokens.lock().unwrap();
        let mut n = 0;
        for t in tokens
            .values_mut()
            .filter(|t| t.family_id == family_id && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn revoke_user_tokens(&self, user_id: &str) -> StoreResult<u64> {
        let mut tokens = self.tokens.lock().unwrap();
        let mut n = 0;
        for t in tokens
            .values_mut()
            .filter(|t| t.user_id == user_id && !t.revoked)
        {
            t.revoked = true;
            n += 1;
        }
        Ok(n)
    }

    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64> {
        let mut tokens = self.tokens.lock().unwrap();
        let before = tokens.len();
        tokens.retain(|_, t| t.expires_at >= now);
        Ok((before - tokens.len()) as u64)
    }

    async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    async fn save_settings(&self, _settings: &[(String, String)]) -> StoreResult<()> {
        Ok(())
    }

    /// Torrent parts are inert; events follow the contract: ascending seqs above the
    /// mark, all or none.
    async fn commit(&self, commit: &Commit) -> StoreResult<u64> {
        let mut mark = self.event_seq.lock().unwrap();
        let mut outbox = self.outbox.lock().unwrap();
        let mut last = *mark;
        for e in &commit.events {
            if e.seq <= last {
                return Err(StoreError::Conflict(format!("event seq {}", e.seq)));
            }
            if i64::try_from(e.seq).is_err() {
                return Err(invalid("event seq beyond i64::MAX"));
            }
            last = e.seq;
        }
        for e in &commit.events {
            outbox.insert(e.seq, e.clone());
        }
        *mark = last;
        Ok(0)
    }

    async fn torrent(&self, _info_hash: &crate::InfoHash) -> StoreResult<Option<TorrentRecord>> {
        Ok(None)
    }

    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        Ok(Vec::new())
    }

    async fn event_seq_mark(&self) -> StoreResult<u64> {
        Ok(*self.event_seq.lock().unwrap())
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        let outbox = self.outbox.lock().unwrap();
        Ok(outbox.values().take(limit).cloned().collect())
    }

    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64> {
        let mut outbox = self.outbox.lock().unwrap();
        Ok(seqs.iter().filter(|s| outbox.remove(s).is_some()).count() as u64)
    }

    async fn outbox_remove_through(&self, seq: u64) -> StoreResult<u64> {
        let mut outbox = self.outbox.lock().unwrap();
        let keep = outbox.split_off(&seq.saturating_add(1));
        let removed = outbox.len() as u64;
        *outbox = keep;
        Ok(removed)
    }

    async fn outbox_len(&self) -> StoreResult<u64> {
        Ok(self.outbox.lock().unwrap().len() as u64)
    }

    async fn save_resume(&self, _: &ResumeRecord) -> StoreResult<()> {
        Ok(())
    }

    async fn resume(&self, _: &InfoHash) -> StoreResult<Option<ResumeRecord>> {
        Ok(None)
    }

    async fn delete_resume(&self, _: &InfoHash) -> StoreResult<bool> {
        Ok(false)
    }

    async fn put_media(&self, _: &crate::store::MediaItem) -> StoreResult<()> {
        Ok(())
    }

    async fn media(&self, _: &str) -> StoreResult<Option<crate::store::MediaItem>> {
        Ok(None)
    }

    async fn list_media(&self, _: &str) -> StoreResult<Vec<crate::store::MediaItem>> {
        Ok(Vec::new())
    }

    async fn delete_media(&self, _: &str) -> StoreResult<bool> {
        Ok(false)
    }

    async fn passkey_of(&self, _: &str) -> StoreResult<Option<String>> {
        Ok(None)
    }

    async fn user_of_passkey(&self, _: &str) -> StoreResult<Option<String>> {
        Ok(None)
    }

    async fn insert_passkey(&self, _: &str, _: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn replace_passkey(&self, _: &str, _: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn add_transfer(&self, _: &str, _: u64, _: u64) -> StoreResult<()> {
        Ok(())
    }

    async fn transfer_totals(&self, _: &str) -> StoreResult<(u64, u64)> {
        Ok((0, 0))
    }

    async fn add_completions(&self, _: &[(crate::InfoHash, u64)]) -> StoreResult<()> {
        Ok(())
    }

    async fn completions(&self) -> StoreResult<Vec<(crate::InfoHash, u64)>> {
        Ok(Vec::new())
    }

    async fn clear_completions(&self, _: &crate::InfoHash) -> StoreResult<()> {
        Ok(())
    }

    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactor>> {
        let all = self.two_factor.lock().unwrap();
        Ok(all.get(user_id).map(|(t, codes)| TwoFactor {
            recovery_codes_left: codes.len() as u32,
            ..t.clone()
        }))
    }

    async fn set_pending_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        now: Millis,
    ) -> StoreResult<bool> {
        let mut all = self.two_factor.lock().unwrap();
        if all.get(user_id).is_some_and(|(t, _)| t.enabled) {
            return Ok(false);
        }
        let pending = TwoFactor {
            user_id: user_id.to_owned(),
            secret: secret.to_vec(),
            enabled: false,
            last_step: None,
            recovery_codes_left: 0,
            created_at: now,
            enabled_at: None,
        };
        all.insert(user_id.to_owned(), (pending, HashSet::new()));
        Ok(true)
    }

    async fn enable_two_factor(
        &self,
        user_id: &str,
        secret: &[u8],
        step: u64,
        recovery_codes: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        let mut all = self.two_factor.lock().unwrap();
        let Some((t, codes)) = all.get_mut(user_id) else {
            return Ok(false);
        };
        if t.enabled || t.secret != secret {
            return Ok(false);
        }
        t.enabled = true;
        t.last_step = Some(step);
        t.enabled_at = Some(now);
        *codes = recovery_codes.iter().cloned().collect();
        Ok(true)
    }

    async fn accept_two_factor_step(&self, user_id: &str, step: u64) -> StoreResult<bool> {
        let mut all = self.two_factor.lock().unwrap();
        let Some((t, _)) = all.get_mut(user_id).filter(|(t, _)| t.enabled) else {
            return Ok(false);
        };
        if t.last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        t.last_step = Some(step);
        Ok(true)
    }

    async fn use_recovery_code(&self, user_id: &str, code_digest: &str) -> StoreResult<bool> {
        let mut all = self.two_factor.lock().unwrap();
        Ok(all
            .get_mut(user_id)
            .is_some_and(|(_, codes)| codes.remove(code_digest)))
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        recovery_codes: &[String],
    ) -> StoreResult<bool> {
        let mut all = self.two_factor.lock().unwrap();
        let Some((_, codes)) = all.get_mut(user_id).filter(|(t, _)| t.enabled) else {
            return Ok(false);
        };
        *codes = recovery_codes.iter().cloned().collect();
        Ok(true)
    }

    async fn delete_two_factor(&self, user_id: &str) -> StoreResult<bool> {
        Ok(self.two_factor.lock().unwrap().remove(user_id).is_some())
    }

    async fn insert_catalog_entry(
        &self,
        _: &crate::store::CatalogEntry,
        _: &[u8],
    ) -> StoreResult<()> {
        Ok(())
    }
    async fn catalog_entry(&self, _: &str) -> StoreResult<Option<crate::store::CatalogEntry>> {
        Ok(None)
    }
    async fn catalog_entry_by_hash(
        &self,
        _: &InfoHash,
    ) -> StoreResult<Option<crate::store::CatalogEntry>> {
        Ok(None)
    }
    async fn catalog_torrent(&self, _: &str) -> StoreResult<Option<bytes::Bytes>> {
        Ok(None)
    }
    async fn list_catalog(
        &self,
        _: &crate::store::CatalogQuery,
    ) -> StoreResult<crate::store::CatalogPage> {
        Ok(Default::default())
    }
    async fn catalog_info_hashes(&self) -> StoreResult<Vec<InfoHash>> {
        Ok(Vec::new())
    }
    async fn delete_catalog_entry(&self, _: &str) -> StoreResult<bool> {
        Ok(false)
    }
    async fn add_catalog_comment(&self, _: &crate::store::CatalogComment) -> StoreResult<()> {
        Ok(())
    }
    async fn catalog_comment(&self, _: &str) -> StoreResult<Option<crate::store::CatalogComment>> {
        Ok(None)
    }
    async fn catalog_comments(&self, _: &str) -> StoreResult<Vec<crate::store::CatalogComment>> {
        Ok(Vec::new())
    }
    async fn delete_catalog_comment(&self, _: &str) -> StoreResult<bool> {
        Ok(false)
    }
}

// This whole module is test-only (`#[cfg(test)] mod test_store`).
mod tests {
    use super::MemStore;
    use crate::store::contract;

    /// The fake honours the real contract for the event methods.
    #[tokio::test]
    async fn event_methods_follow_the_store_contract() {
        let store = MemStore::default();
        contract::event_seq_mark_rises_and_is_never_reused(&store).await;
        contract::event_seq_concurrent_commits_never_share(&store).await;
        contract::outbox_commit_peek_remove(&store).await;
        contract::outbox_bad_seqs_conflict(&store).await;
        contract::outbox_remove_unknown(&store).await;
    }

    /// And for the two-factor methods auth relies on.
    #[tokio::test]
    async fn two_factor_methods_follow_the_store_contract() {
        let store = MemStore::default();
        contract::two_factor::run_all(&store).await;
    }
}
