//! A bounded map whose entries expire: the in-process home of revoked token ids and of
//! cached metadata.
//!
//! Bounded by entries and by bytes (key plus the weight the caller gives the value).
//! Making room drops the expired entries first, then those that would expire soonest:
//! for a revocation that is the token closest to expiring anyway, for metadata the entry
//! that had the least time left. The clock is a parameter so tests need not sleep.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub struct TtlMap<V> {
    max_entries: usize,
    max_bytes: usize,
    state: Mutex<State<V>>,
}

struct State<V> {
    entries: HashMap<String, Entry<V>>,
    /// Every entry's key by (expiry, insertion number), soonest first.
    by_expiry: BTreeMap<(Instant, u64), String>,
    bytes: usize,
    next: u64,
}

struct Entry<V> {
    value: V,
    expires: Instant,
    seq: u64,
    bytes: usize,
}

impl<V: Clone> TtlMap<V> {
    /// A map of at most `max_entries` entries and `max_bytes` bytes (each at least 1).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_bytes: max_bytes.max(1),
            state: Mutex::new(State {
                entries: HashMap::new(),
                by_expiry: BTreeMap::new(),
                bytes: 0,
                next: 0,
            }),
        }
    }

    /// Keeps `value` under `key` for `ttl` from `now`, replacing what was there. A value
    /// larger than the whole budget is not kept (and the old one is dropped).
    pub fn insert(&self, key: &str, value: V, weight: usize, ttl: Duration, now: Instant) {
        let bytes = key.len().saturating_add(weight);
        let mut state = self.lock();
        state.remove(key);
        if bytes > self.max_bytes || ttl.is_zero() {
            return;
        }
        state.drop_expired(now);
        while state.entries.len() >= self.max_entries || state.bytes + bytes > self.max_bytes {
            if !state.drop_soonest() {
                break;
            }
        }
        let (seq, expires) = (state.next, now + ttl);
        state.next += 1;
        state.by_expiry.insert((expires, seq), key.to_owned());
        state.bytes += bytes;
        let entry = Entry {
            value,
            expires,
            seq,
            bytes,
        };
        state.entries.insert(key.to_owned(), entry);
    }

    /// The value under `key` if it has not expired at `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        let mut state = self.lock();
        match state.entries.get(key) {
            Some(e) if now < e.expires => Some(e.value.clone()),
            Some(_) => {
                state.remove(key);
                None
            }
            None => None,
        }
    }

    /// Every live entry with its time left, for copying elsewhere.
    pub fn live(&self, now: Instant) -> Vec<(String, V, Duration)> {
        let state = self.lock();
        let live = state.entries.iter().filter(|(_, e)| now < e.expires);
        live.map(|(k, e)| (k.clone(), e.value.clone(), e.expires - now))
            .collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, State<V>> {
        // Every update leaves the two maps and the byte count consistent before it can
        // panic (allocation aside), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V> State<V> {
    fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.by_expiry.remove(&(e.expires, e.seq));
            self.bytes -= e.bytes;
        }
    }

    fn drop_expired(&mut self, now: Instant) {
        while let Some(((expires, _), _)) = self.by_expiry.first_key_value() {
            if *expires > now {
                break;
            }
            self.drop_soonest();
        }
    }

    /// Drops the entry expiring soonest; false if there is none.
    fn drop_soonest(&mut self) -> bool {
        let Some((_, key)) = self.by_expiry.pop_first() else {
            return false;
        };
        if let Some(e) = self.entries.remove(&key) {
            self.bytes -= e.bytes;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let map = TtlMap::new(10, 1000);
        let t0 = Instant::now();
        map.insert("a", 1, 1, secs(10), t0);
        assert_eq!(map.get("a", t0 + secs(9)), Some(1));
        assert_eq!(map.get("a", t0 + secs(10)), None);
        assert_eq!(map.len(), 0, "an expired entry read is dropped");
    }

    #[test]
    fn a_full_map_drops_the_expired_then_the_soonest_to_expire() {
        let map = TtlMap::new(3, 1000);
        let t0 = Instant::now();
        map.insert("short", 1, 1, secs(5), t0);
        map.insert("long", 2, 1, secs(100), t0);
        map.insert("mid", 3, 1, secs(50), t0);
        map.insert("new", 4, 1, secs(60), t0);
        assert_eq!(map.get("short", t0), None);
        assert_eq!(map.len(), 3);
        map.insert("newer", 5, 1, secs(60), t0 + secs(1));
        assert_eq!(map.get("mid", t0 + secs(1)), None);
        assert_eq!(map.get("long", t0 + secs(1)), Some(2));
    }

    #[test]
    fn the_byte_budget_holds_and_oversized_values_are_not_kept() {
        let map = TtlMap::new(100, 19);
        let t0 = Instant::now();
        map.insert("a", 1, 9, secs(10), t0);
        map.insert("b", 2, 9, secs(20), t0);
        assert_eq!(
            map.get("a", t0),
            None,
            "a and b weigh 20 bytes with their keys"
        );
        assert_eq!(map.get("b", t0), Some(2));
        map.insert("b", 3, 100, secs(20), t0);
        assert_eq!(
            map.get("b", t0),
            None,
            "a value over budget replaces nothing"
        );
        map.insert("c", 4, 5, secs(1), t0);
        assert_eq!(map.live(t0).len(), 1);
    }

    #[test]
    fn replacing_a_key_keeps_one_entry_and_the_new_expiry() {
        let map = TtlMap::new(10, 1000);
        let t0 = Instant::now();
        map.insert("a", 1, 1, secs(10), t0);
        map.insert("a", 2, 1, secs(30), t0);
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("a", t0 + secs(20)), Some(2));
        assert_eq!(map.live(t0)[0].2, secs(30));
    }
}
