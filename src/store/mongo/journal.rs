//! The commit journal: how a [`Commit`] (several torrent records and their events) is
//! one atomic write without multi-document transactions.
//!
//! MongoDB writes one document atomically. The journal is one document in `meta`
//! (`_id: "journal"`) holding the event seq mark and the commits not yet applied:
//!
//! 1. **The durable step.** One `findOneAndUpdate` on the journal adds the commit as
//!    `pending.<n>` and raises `mark` to its last event seq, on the condition that
//!    `mark` is below its first: a seq at or below the mark is refused by the database
//!    itself, atomically with the write. From here on the commit has happened.
//! 2. **Apply.** Its records are upserted into `torrents` (whole documents, keyed by
//!    info hash), its deletes done, its events upserted into `outbox` (keyed by seq),
//!    and `pending.<n>` is unset. Every one of these is idempotent.
//! 3. **Replay.** A crash or an error between 1 and the end of 2 leaves the entry
//!    pending; it is applied again, in order, before the next commit or read of
//!    torrents or events, and at start. So readers never see half a commit for long,
//!    and never after a restart.
//!
//! A durable step whose answer never came (a timeout, a dropped connection) is in
//! doubt: the caller was told it failed, and the request may still reach the server
//! later (a frozen server runs what it had queued when it wakes). So every durable
//! step is fenced by the journal's `epoch`: it only matches the journal while the
//! epoch is the writer's. After a doubt, before anything else, the writer raises the
//! epoch (`$max`, so a late raise cannot lower it): a write still in flight can no
//! longer match, and one that landed before is found pending and dropped unapplied,
//! rather than make true what was reported as failed. Its seqs stay used (the mark
//! rose); the bus skips past them. Each start raises the epoch too.
//!
//! One writer per database: the journal serializes this process's commits, and the
//! insert-conflict check reads `torrents` before the durable step, which is exact
//! only while no other server writes torrents to the same database.

use std::collections::HashSet;
use std::future::IntoFuture;

use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;
use tokio::sync::Mutex;

use super::{JOURNAL, docs, op};
use crate::store::{Commit, StoreError, StoreResult};

pub(super) struct Journal {
    meta: Collection<Document>,
    torrents: Collection<Document>,
    outbox: Collection<Document>,
    state: Mutex<State>,
}

struct State {
    /// The number of the next entry (its key is zero-padded, so keys sort by it).
    next: u64,
    /// This writer's epoch; `fence` asks to raise it before the next write.
    epoch: i64,
    fence: bool,
    /// Some entry may be pending: replay before the next commit or read.
    dirty: bool,
    /// Entries whose durable step was in doubt and reported as failed.
    doubtful: HashSet<String>,
}

impl Journal {
    /// Opens the journal and replays what a previous run left pending.
    pub(super) async fn open(
        meta: Collection<Document>,
        torrents: Collection<Document>,
        outbox: Collection<Document>,
    ) -> StoreResult<Self> {
        let journal = Self {
            meta,
            torrents,
            outbox,
            state: Mutex::new(State {
                next: 1,
                epoch: 0,
                fence: true,
                dirty: true,
                doubtful: HashSet::new(),
            }),
        };
        let mut st = journal.state.lock().await;
        st.epoch = docs::int(&journal.document().await?, "epoch").unwrap_or(0);
        let pending = journal.pending().await?;
        if let Some((last, _)) = pending.last() {
            st.next = last.parse::<u64>().unwrap_or(0) + 1;
        }
        journal.settle_locked(&mut st).await?;
        drop(st);
        Ok(journal)
    }

    /// The highest event seq committed.
    pub(super) async fn mark(&self) -> StoreResult<u64> {
        Ok(docs::int(&self.document().await?, "mark")? as u64)
    }

    /// Applies what is pending, if anything may be.
    pub(super) async fn settle(&self) -> StoreResult<()> {
        let mut st = self.state.lock().await;
        self.settle_locked(&mut st).await
    }

    pub(super) async fn commit(&self, c: &Commit) -> StoreResult<u64> {
        let mut st = self.state.lock().await;
        self.settle_locked(&mut st).await?;
        check_seqs(c)?;
        self.check_inserts(c).await?;
        let deleted = self.count_existing(&c.delete).await?;
        let key = format!("{:020}", st.next);
        st.next += 1;
        match self.write_entry(&key, st.epoch, c).await {
            Ok(()) => {}
            Err(e @ StoreError::Conflict(_)) => return Err(e),
            Err(e) => {
                // No answer is no proof it was not written.
                st.doubtful.insert(key);
                st.fence = true;
                st.dirty = true;
                return Err(e);
            }
        }
        if let Err(e) = self.apply(&key, c).await {
            // Committed all the same: the replay finishes it.
            tracing::warn!(error = %e, "applying a journaled commit; it is replayed later");
            st.dirty = true;
        }
        Ok(deleted)
    }

    /// The durable step: the entry, and the mark raised to the last seq if the first
    /// is above it.
    async fn write_entry(&self, key: &str, epoch: i64, c: &Commit) -> StoreResult<()> {
        let mut set = doc! { format!("pending.{key}"): docs::commit_doc(c) };
        let mut filter = doc! { "_id": JOURNAL, "epoch": epoch };
        if let (Some(first), Some(last)) = (c.events.first(), c.events.last()) {
            filter.insert("mark", doc! { "$lt": first.seq as i64 });
            set.insert("mark", last.seq as i64);
        }
        let written = self
            .meta
            .find_one_and_update(filter, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .into_future();
        if op("writing the journal", written).await?.is_some() {
            return Ok(());
        }
        // Not matched: the mark, or another writer's epoch.
        let now = docs::int(&self.document().await?, "epoch")?;
        if now != epoch {
            return Err(StoreError::Backend(
                format!("the journal moved to epoch {now}: another server writes this database")
                    .into(),
            ));
        }
        Err(StoreError::Conflict(format!(
            "event seq {} is not above the committed mark",
            c.events.first().map_or(0, |e| e.seq)
        )))
    }

    /// Step 2: every write idempotent, then the entry goes.
    async fn apply(&self, key: &str, c: &Commit) -> StoreResult<()> {
        for r in c.insert.iter().chain(&c.save) {
            upsert(&self.torrents, docs::torrent_doc(r), "writing a torrent").await?;
        }
        for h in &c.delete {
            let w = self.torrents.delete_one(doc! { "_id": h.to_string() });
            op("deleting a torrent", w.into_future()).await?;
        }
        for e in &c.events {
            upsert(&self.outbox, docs::event_doc(e), "writing an event").await?;
        }
        self.drop_entry(key).await
    }

    async fn drop_entry(&self, key: &str) -> StoreResult<()> {
        let unset = doc! { "$unset": { format!("pending.{key}"): "" } };
        let w = self.meta.update_one(doc! { "_id": JOURNAL }, unset);
        op("clearing a journal entry", w.into_future())
            .await
            .map(drop)
    }

    async fn settle_locked(&self, st: &mut State) -> StoreResult<()> {
        if st.fence {
            let raised = st.epoch + 1;
            let w = self.meta.update_one(
                doc! { "_id": JOURNAL },
                doc! { "$max": { "epoch": raised } },
            );
            op("fencing the journal", w.into_future()).await?;
            st.epoch = raised;
            st.fence = false;
        }
        if !st.dirty {
            return Ok(());
        }
        for (key, entry) in self.pending().await? {
            if st.doubtful.remove(&key) {
                tracing::warn!(entry = %key, "dropping a commit reported as failed");
                self.drop_entry(&key).await?;
            } else {
                self.apply(&key, &docs::commit(&entry)?).await?;
            }
        }
        st.doubtful.clear();
        st.dirty = false;
        Ok(())
    }

    async fn document(&self) -> StoreResult<Document> {
        let read = self.meta.find_one(doc! { "_id": JOURNAL }).into_future();
        op("reading the journal", read)
            .await?
            .ok_or_else(|| StoreError::Backend("the journal document is missing".into()))
    }

    /// Pending entries, oldest first.
    async fn pending(&self) -> StoreResult<Vec<(String, Document)>> {
        let d = self.document().await?;
        Ok(docs::entries(&d, "pending", |v| v.as_document().cloned()))
    }

    async fn check_inserts(&self, c: &Commit) -> StoreResult<()> {
        let mut seen = HashSet::new();
        for r in &c.insert {
            if !seen.insert(r.info_hash) {
                return Err(StoreError::Conflict(format!("torrent {}", r.info_hash)));
            }
        }
        let hashes: Vec<_> = c.insert.iter().map(|r| r.info_hash).collect();
        match self.count_existing(&hashes).await? {
            0 => Ok(()),
            _ => Err(StoreError::Conflict("torrent already exists".into())),
        }
    }

    async fn count_existing(&self, hashes: &[crate::InfoHash]) -> StoreResult<u64> {
        if hashes.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = hashes.iter().map(|h| h.to_string()).collect();
        let count = self
            .torrents
            .count_documents(doc! { "_id": { "$in": ids } })
            .into_future();
        op("counting torrents", count).await
    }
}

/// Writes `d` whole under its `_id`, inserting it when absent. Every document of a
/// collection carries every field (null when unset), so `$set` of all of them is a
/// replacement. Not `replaceOne`: the nx-27017 test server fails to replace a
/// document holding binary data, and `$set` with upsert works on both it and MongoDB.
pub(super) async fn upsert(
    c: &Collection<Document>,
    mut d: Document,
    what: &str,
) -> StoreResult<()> {
    let id = d.remove("_id").unwrap_or(Bson::Null);
    let w = c
        .update_one(doc! { "_id": id }, doc! { "$set": d })
        .upsert(true);
    op(what, w.into_future()).await.map(drop)
}

/// Events ascend strictly within a commit (the mark check covers the first).
fn check_seqs(c: &Commit) -> StoreResult<()> {
    if c.events.windows(2).any(|w| w[1].seq <= w[0].seq) {
        return Err(StoreError::Conflict(
            "event seqs of a commit must ascend".into(),
        ));
    }
    if c.events.first().is_some_and(|e| e.seq == 0) {
        return Err(StoreError::Conflict("event seq 0".into()));
    }
    Ok(())
}
