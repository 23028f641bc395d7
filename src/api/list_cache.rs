//! `GET /api/torrents` answered from the JSON of an identical request made moments ago.
//!
//! Building and serializing the view of every torrent costs milliseconds at a thousand
//! torrents, and dashboards and tools poll the list from many tabs and scripts at once.
//! An answer is reused for the same user and query while no torrent record changed
//! ([`Engine::changes`]) and for at most [`FRESH`], so an operation is seen by the next
//! list at once and live figures (speeds) are never older than that.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::engine::list::ListQuery;
use crate::engine::{Actor, Engine};

/// How long an answer is reused at most.
const FRESH: Duration = Duration::from_millis(250);
/// Distinct (user, query) answers kept; past it the oldest half goes.
const MAX_ENTRIES: usize = 256;

/// A list answer: the number that matched and the JSON body.
#[derive(Clone)]
pub struct Answer {
    pub total: usize,
    pub body: Bytes,
}

struct Cached {
    at: Instant,
    changes: u64,
    answer: Answer,
}

#[derive(Default)]
pub struct ListCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl ListCache {
    /// The answer for `actor` and `query`, reused or built.
    pub fn get(&self, engine: &Engine, actor: &Actor, query: &ListQuery) -> Answer {
        let key = format!("{}\u{0}{}\u{0}{query:?}", actor.user_id, actor.admin);
        // Read before building: a change made while building makes the next read miss.
        let changes = engine.changes();
        let now = Instant::now();
        if let Some(c) = self.lock().get(&key)
            && c.changes == changes
            && now.duration_since(c.at) < FRESH
        {
            return c.answer.clone();
        }
        let page = engine.list_page(actor, query);
        let body = serde_json::to_vec(&page.torrents)
            .map(Bytes::from)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "serializing the torrent list");
                Bytes::from_static(b"[]")
            });
        let answer = Answer {
            total: page.total,
            body,
        };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            let mut ages: Vec<Instant> = entries.values().map(|c| c.at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, c| c.at > cut);
        }
        entries.insert(
            key,
            Cached {
                at: now,
                changes,
                answer: answer.clone(),
            },
        );
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
