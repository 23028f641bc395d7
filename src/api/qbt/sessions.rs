//! qBittorrent API sessions: the `SID` cookie of `auth/login`, kept in memory (as
//! qBittorrent keeps them), dropped after an hour unused or at logout. A restart ends
//! them; clients log in again on the 403, as they do with qBittorrent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use rand::Rng as _;

use super::sync::SyncState;
use crate::engine::Actor;

/// A session unused this long is gone (qBittorrent's default session timeout).
const IDLE: Duration = Duration::from_secs(3600);
/// Sessions kept at most; a flood of logins evicts the least recently used.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    actor: Actor,
    last_used: Instant,
}

/// Every live session, and the `sync/maindata` state of each caller.
#[derive(Default)]
pub struct Sessions {
    sessions: Mutex<HashMap<String, Session>>,
    syncs: Mutex<HashMap<String, Arc<tokio::sync::Mutex<SyncState>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sessions {
    /// Opens a session for `actor`; returns its id.
    pub fn open(&self, actor: Actor) -> String {
        let mut bytes = [0u8; 24];
        rand::rng().fill(&mut bytes);
        let sid = hex::encode(bytes);
        let mut map = lock(&self.sessions);
        let now = Instant::now();
        map.retain(|_, s| now.duration_since(s.last_used) < IDLE);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
            lock(&self.syncs).remove(&oldest);
        }
        map.insert(
            sid.clone(),
            Session {
                actor,
                last_used: now,
            },
        );
        sid
    }

    /// The session's user, refreshing its idle timer.
    pub fn get(&self, sid: &str) -> Option<Actor> {
        let mut map = lock(&self.sessions);
        let s = map.get_mut(sid)?;
        if s.last_used.elapsed() >= IDLE {
            map.remove(sid);
            lock(&self.syncs).remove(sid);
            return None;
        }
        s.last_used = Instant::now();
        Some(s.actor.clone())
    }

    pub fn close(&self, sid: &str) {
        lock(&self.sessions).remove(sid);
        lock(&self.syncs).remove(sid);
    }

    /// The caller's `sync/maindata` state (created empty).
    pub fn sync_state(&self, key: &str) -> Arc<tokio::sync::Mutex<SyncState>> {
        let mut syncs = lock(&self.syncs);
        if syncs.len() >= MAX_SESSIONS && !syncs.contains_key(key) {
            // Token callers have no logout: forget states of sessions that are gone.
            let live = lock(&self.sessions);
            syncs.retain(|k, _| live.contains_key(k));
            if syncs.len() >= MAX_SESSIONS {
                syncs.clear();
            }
        }
        syncs.entry(key.to_owned()).or_default().clone()
    }
}

/// The `SID` cookie of a request.
pub fn sid_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "SID")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            user_id: "u".into(),
            admin: false,
        }
    }

    #[test]
    fn sessions_open_find_and_close() {
        let s = Sessions::default();
        let sid = s.open(actor());
        assert_eq!(sid.len(), 48);
        assert_eq!(s.get(&sid), Some(actor()));
        assert_eq!(s.get("nope"), None);
        s.close(&sid);
        assert_eq!(s.get(&sid), None);
    }

    #[test]
    fn the_sid_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; SID=abc; b=2".parse().unwrap());
        assert_eq!(sid_cookie(&h).as_deref(), Some("abc"));
        h.insert(header::COOKIE, "SIDX=1".parse().unwrap());
        assert_eq!(sid_cookie(&h), None);
    }
}
