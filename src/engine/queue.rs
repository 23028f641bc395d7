//! The download queue as a pure function: which torrents may download now.
//!
//! Torrents that want to download (not paused, not complete, not failed) are ordered by
//! priority (high, normal, low), then by rank (the time they were added, unless a user
//! moved them in the queue), then by info hash so the order is total. The first
//! `max_active` download; the rest wait, in that order. Force-started torrents download
//! without taking a slot, as in qBittorrent. A torrent being streamed outranks the queue:
//! it takes a slot before any other (beyond `max_active` when every slot is a stream's),
//! so a player never waits behind the queue, and the slot it takes is one fewer for the
//! rest. Seeding torrents never take a slot. Keeping this free of I/O makes the policy
//! easy to test and lets the engine re-plan after every change.

use crate::store::Priority;

/// One torrent as the queue sees it, named by `info_hash` (any ordered key: the last
/// tie-break).
#[derive(Debug, Clone)]
pub struct Candidate<K> {
    pub info_hash: K,
    pub priority: Priority,
    /// Order within a priority: lower first.
    pub rank: i64,
    pub wants_download: bool,
    /// Downloads whatever the slots say.
    pub forced: bool,
    /// Being read by a stream: takes a slot first.
    pub streamed: bool,
}

/// The outcome: downloading torrents, and waiting ones in queue order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<K> {
    pub active: Vec<K>,
    pub queued: Vec<K>,
}

/// Splits the candidates that want to download into active and queued.
pub fn plan<K: Ord + Copy>(candidates: &[Candidate<K>], max_active: usize) -> Plan<K> {
    let mut wanting: Vec<&Candidate<K>> = candidates.iter().filter(|c| c.wants_download).collect();
    wanting.sort_by_key(|c| order(c));
    let (streamed, wanting): (Vec<_>, Vec<_>) = wanting.into_iter().partition(|c| c.streamed);
    let (forced, waiting): (Vec<_>, Vec<_>) = wanting.into_iter().partition(|c| c.forced);
    let split = waiting.len().min(max_active.saturating_sub(streamed.len()));
    let mut active: Vec<K> = streamed.iter().map(|c| c.info_hash).collect();
    active.extend(forced.iter().map(|c| c.info_hash));
    active.extend(waiting[..split].iter().map(|c| c.info_hash));
    Plan {
        active,
        queued: waiting[split..].iter().map(|c| c.info_hash).collect(),
    }
}

/// The queue's sort key.
pub fn order<K: Copy>(c: &Candidate<K>) -> (Priority, i64, K) {
    (c.priority, c.rank, c.info_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(h: &str, p: Priority, t: i64, wants: bool) -> Candidate<&str> {
        Candidate {
            info_hash: h,
            priority: p,
            rank: t,
            wants_download: wants,
            forced: false,
            streamed: false,
        }
    }

    #[test]
    fn priority_then_age_decides() {
        let cs = [
            c("a", Priority::Low, 1, true),
            c("b", Priority::Normal, 2, true),
            c("c", Priority::High, 3, true),
            c("d", Priority::Normal, 0, true),
        ];
        let p = plan(&cs, 2);
        assert_eq!(p.active, vec!["c", "d"]);
        assert_eq!(p.queued, vec!["b", "a"]);
    }

    #[test]
    fn torrents_not_wanting_to_download_take_no_slot() {
        let cs = [
            c("seed", Priority::High, 0, false),
            c("x", Priority::Low, 5, true),
        ];
        let p = plan(&cs, 1);
        assert_eq!(p.active, vec!["x"]);
        assert!(p.queued.is_empty());
    }

    #[test]
    fn forced_torrents_download_without_a_slot() {
        let forced = Candidate {
            forced: true,
            ..c("f", Priority::Low, 9, true)
        };
        let cs = [
            c("a", Priority::High, 1, true),
            c("b", Priority::High, 2, true),
            forced,
        ];
        let p = plan(&cs, 1);
        assert_eq!(p.active, vec!["f", "a"]);
        assert_eq!(p.queued, vec!["b"]);
    }

    #[test]
    fn streamed_torrents_take_a_slot_first() {
        let streamed = |h| Candidate {
            streamed: true,
            ..c(h, Priority::Low, 9, true)
        };
        let cs = [
            c("a", Priority::High, 1, true),
            c("b", Priority::High, 2, true),
            streamed("s"),
        ];
        let p = plan(&cs, 2);
        assert_eq!(p.active, vec!["s", "a"]);
        assert_eq!(p.queued, vec!["b"]);
        // More streams than slots: every stream runs, nothing else does.
        let cs = [
            c("a", Priority::High, 1, true),
            streamed("s"),
            streamed("t"),
        ];
        let p = plan(&cs, 1);
        assert_eq!(p.active, vec!["s", "t"]);
        assert_eq!(p.queued, vec!["a"]);
    }

    #[test]
    fn ties_are_broken_by_hash() {
        let cs = [
            c("b", Priority::Normal, 1, true),
            c("a", Priority::Normal, 1, true),
        ];
        assert_eq!(plan(&cs, 1).active, vec!["a"]);
    }
}
