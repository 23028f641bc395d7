//! An in-memory [`Store`] for the auth unit tests: users and refresh tokens only.
//!
//! It follows the store contract for the methods auth uses; torrent methods are inert.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::store::{
    Consumed, DynStore, Millis, RefreshToken, Store, StoreError, StoreResult, TorrentRecord, User,
};

#[derive(Default)]
pub struct MemStore {
    users: Mutex<Vec<User>>,
    tokens: Mutex<HashMap<String, RefreshToken>>,
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

    async fn insert_torrent(&self, _torrent: &TorrentRecord) -> StoreResult<()> {
        Ok(())
    }

    async fn save_torrent(&self, _torrent: &TorrentRecord) -> StoreResult<()> {
        Ok(())
    }

    async fn torrent(&self, _info_hash: &str) -> StoreResult<Option<TorrentRecord>> {
        Ok(None)
    }

    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        Ok(Vec::new())
    }

    async fn delete_torrent(&self, _info_hash: &str) -> StoreResult<bool> {
        Ok(false)
    }
}
