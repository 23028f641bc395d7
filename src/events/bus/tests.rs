use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use serde_json::json;

use crate::InfoHash;
use crate::events::payload::{Event, Pieces, Progress, sample_view};
use crate::view::TorrentView;

use super::*;
use crate::store::{Consumed, Millis, RefreshToken, Role, SqliteStore, Store, StoreResult, User};

async fn bus(cap: usize) -> Arc<Bus> {
    let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
    Bus::new(store, cap, true).await.unwrap()
}

const H: InfoHash = InfoHash::from_bytes([0xab; 20]);

fn piece(i: u32) -> Draft {
    Draft::torrent(&H, "u", Event::Piece(Pieces::new(vec![i], i + 1, 100)))
}

#[tokio::test]
async fn envelope_is_flat_and_camel_case() {
    let bus = bus(10).await;
    let mut rx = bus.subscribe();
    let progress = Progress::from(&sample_view(H));
    let draft = Draft::torrent(&H, "u1", Event::Progress(progress));
    bus.emit(vec![draft]).await.unwrap();
    let e = rx.recv().await.unwrap();
    let v = serde_json::to_value(&*e).unwrap();
    assert_eq!(v["type"], "torrent:progress");
    assert_eq!(v["infoHash"], "ab".repeat(20));
    assert_eq!(v["userId"], "u1");
    assert_eq!(v["percentage"], 12.5);
    assert_eq!(v["seq"], 1);
    assert!(v["id"].as_str().unwrap().len() >= 32);
    let back: Envelope = serde_json::from_value(v).unwrap();
    assert_eq!(&back, &*e);
}

#[tokio::test]
async fn payload_fields_named_like_the_envelope_are_dropped() {
    let bus = bus(10).await;
    let mut rx = bus.subscribe();
    let view = sample_view(InfoHash::from_bytes([0xcd; 20]));
    bus.emit(vec![Draft::torrent(&H, "u", Event::Added(view.clone()))])
        .await
        .unwrap();
    let e = rx.recv().await.unwrap();
    let text = serde_json::to_string(&*e).unwrap();
    assert_eq!(text.matches("\"infoHash\"").count(), 1, "{text}");
    let back: Envelope = serde_json::from_str(&text).expect("parses back");
    assert_eq!(
        (back.seq, back.info_hash.clone(), back.kind.as_str()),
        (1, Some(H.to_string()), "torrent:added")
    );
    assert_eq!(back.data.get("name"), Some(&json!("n")));
    // Parsed back, the view carries the envelope's hash: the one that counts.
    let typed = back.event().expect("a typed event");
    let want = TorrentView {
        info_hash: H,
        ..view
    };
    assert_eq!(typed, Event::Added(want));
}

#[tokio::test]
async fn seq_increases_and_replay_covers_the_ring() {
    let bus = bus(3).await;
    for i in 0..5 {
        bus.emit(vec![piece(i)]).await.unwrap();
    }
    assert_eq!(bus.last_seq(), 5);
    let (replay, _) = bus.resume_from(3);
    match replay {
        Replay::Events(ev) => {
            assert_eq!(ev.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
            // Compact, but the JSON is the whole event.
            let back: Envelope = serde_json::from_str(ev[1].json().get()).unwrap();
            assert_eq!(back.data.get("index"), Some(&json!(4)));
            assert_eq!((back.seq, back.kind.as_str()), (5, "torrent:piece"));
        }
        Replay::Gap => panic!("3 is still covered"),
    }
    assert!(matches!(bus.resume_from(2).0, Replay::Events(ref v) if v.len() == 3));
    assert!(
        matches!(bus.resume_from(1).0, Replay::Gap),
        "seq 2 fell out of the ring"
    );
    assert!(matches!(bus.resume_from(5).0, Replay::Events(ref v) if v.is_empty()));
    assert!(
        matches!(bus.resume_from(99).0, Replay::Gap),
        "a seq from the future"
    );
}

#[tokio::test]
async fn every_event_is_in_the_outbox_before_a_subscriber_sees_it() {
    let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
    let bus = Bus::new(store.clone(), 10, true).await.unwrap();
    let mut rx = bus.subscribe();
    bus.emit((0..3).map(piece).collect()).await.unwrap();
    for seq in 1..=3 {
        let e = rx.recv().await.unwrap();
        assert_eq!(e.seq, seq);
        let stored = store.outbox_peek(10).await.unwrap();
        let row = stored.iter().find(|r| r.seq == seq).expect("in the outbox");
        let back: Envelope = serde_json::from_slice(&row.payload).unwrap();
        assert_eq!(&back, &*e, "the outbox holds exactly what subscribers get");
    }
}

#[tokio::test]
async fn a_restart_continues_the_seq_without_a_gap() {
    let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
    let first = Bus::new(store.clone(), 4, true).await.unwrap();
    first.emit(vec![piece(0), piece(1)]).await.unwrap();
    let second = Bus::new(store, 4, true).await.unwrap();
    assert_eq!(second.last_seq(), 2);
    let mut rx = second.subscribe();
    second.emit(vec![piece(2)]).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().seq, 3);
}

#[tokio::test]
async fn a_record_and_its_event_are_written_together() {
    let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
    let user = User {
        id: "u".into(),
        username: "u".into(),
        password_hash: "x".into(),
        role: Role::User,
        created_at: 0,
    };
    store.create_user(&user).await.unwrap();
    let bus = Bus::new(store.clone(), 4, true).await.unwrap();
    let rec = TorrentRecord::new(H, "u".into(), 1);
    let change = Change {
        insert: vec![rec.clone()],
        events: vec![Draft::torrent(
            &rec.info_hash,
            "u",
            Event::Added(sample_view(rec.info_hash)),
        )],
        ..Change::default()
    };
    bus.commit(change.clone()).await.unwrap();
    assert_eq!(store.torrent(&rec.info_hash).await.unwrap(), Some(rec));
    assert_eq!(store.outbox_len().await.unwrap(), 1);
    // Inserting it again conflicts: neither the record nor the event is written twice.
    let mut rx = bus.subscribe();
    let err = bus.commit(change).await.expect_err("duplicate");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.outbox_len().await.unwrap(), 1);
    assert!(rx.try_recv().is_err(), "a refused change publishes nothing");
    assert_eq!(bus.last_seq(), 1);
}

/// A store whose commits fail while `broken` is set.
struct Flaky {
    inner: SqliteStore,
    broken: AtomicBool,
}

#[tokio::test]
async fn a_failed_commit_uses_up_no_seq_and_publishes_nothing() {
    let flaky = Arc::new(Flaky {
        inner: SqliteStore::open_in_memory().unwrap(),
        broken: AtomicBool::new(false),
    });
    let store: DynStore = flaky.clone();
    let bus = Bus::new(store.clone(), 10, true).await.unwrap();
    let mut rx = bus.subscribe();
    bus.emit(vec![piece(0)]).await.unwrap();
    flaky.broken.store(true, Ordering::SeqCst);
    for i in 1..4 {
        bus.emit(vec![piece(i)])
            .await
            .expect_err("the store is down");
    }
    flaky.broken.store(false, Ordering::SeqCst);
    bus.emit(vec![piece(9)]).await.unwrap();
    let seqs = [rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    assert_eq!(seqs.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(
        seqs[1].data["index"], 9,
        "the failed events were never published"
    );
    assert!(rx.try_recv().is_err());
    let stored: Vec<u64> = store
        .outbox_peek(10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(stored, vec![1, 2], "no gap, no seq handed out twice");
}

#[tokio::test]
async fn an_outbox_nobody_relays_keeps_only_the_ring() {
    let store: DynStore = Arc::new(SqliteStore::open_in_memory().unwrap());
    let bus = Bus::new(store.clone(), 10, false).await.unwrap();
    for i in 0..TRIM_EVERY as u32 {
        bus.emit(vec![piece(i)]).await.unwrap();
    }
    assert_eq!(store.outbox_len().await.unwrap(), 10);
    assert_eq!(store.event_seq_mark().await.unwrap(), TRIM_EVERY);
}

#[async_trait]
impl Store for Flaky {
    fn backend_name(&self) -> &'static str {
        "flaky"
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.inner.create_user(user).await
    }
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_id(id).await
    }
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_name(name).await
    }
    async fn list_users(&self) -> StoreResult<Vec<User>> {
        self.inner.list_users().await
    }
    async fn count_users(&self) -> StoreResult<u64> {
        self.inner.count_users().await
    }
    async fn set_password_hash(&self, id: &str, hash: &str) -> StoreResult<bool> {
        self.inner.set_password_hash(id, hash).await
    }
    async fn insert_refresh_token(&self, t: &RefreshToken) -> StoreResult<()> {
        self.inner.insert_refresh_token(t).await
    }
    async fn consume_refresh_token(&self, h: &str, now: Millis) -> StoreResult<Consumed> {
        self.inner.consume_refresh_token(h, now).await
    }
    async fn revoke_token_family(&self, f: &str) -> StoreResult<u64> {
        self.inner.revoke_token_family(f).await
    }
    async fn revoke_user_tokens(&self, u: &str) -> StoreResult<u64> {
        self.inner.revoke_user_tokens(u).await
    }
    async fn purge_expired_tokens(&self, now: Millis) -> StoreResult<u64> {
        self.inner.purge_expired_tokens(now).await
    }
    async fn settings(&self) -> StoreResult<Vec<(String, String)>> {
        self.inner.settings().await
    }
    async fn save_settings(&self, s: &[(String, String)]) -> StoreResult<()> {
        self.inner.save_settings(s).await
    }
    async fn commit(&self, c: &Commit) -> StoreResult<u64> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("injected fault".into()));
        }
        self.inner.commit(c).await
    }
    async fn torrent(&self, h: &InfoHash) -> StoreResult<Option<TorrentRecord>> {
        self.inner.torrent(h).await
    }
    async fn list_torrents(&self) -> StoreResult<Vec<TorrentRecord>> {
        self.inner.list_torrents().await
    }
    async fn event_seq_mark(&self) -> StoreResult<u64> {
        self.inner.event_seq_mark().await
    }
    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        self.inner.outbox_peek(limit).await
    }
    async fn outbox_remove(&self, seqs: &[u64]) -> StoreResult<u64> {
        self.inner.outbox_remove(seqs).await
    }
    async fn outbox_remove_through(&self, seq: u64) -> StoreResult<u64> {
        self.inner.outbox_remove_through(seq).await
    }
    async fn outbox_len(&self) -> StoreResult<u64> {
        self.inner.outbox_len().await
    }
    async fn save_resume(&self, record: &crate::store::ResumeRecord) -> StoreResult<()> {
        self.inner.save_resume(record).await
    }
    async fn resume(
        &self,
        info_hash: &crate::InfoHash,
    ) -> StoreResult<Option<crate::store::ResumeRecord>> {
        self.inner.resume(info_hash).await
    }
    async fn delete_resume(&self, info_hash: &crate::InfoHash) -> StoreResult<bool> {
        self.inner.delete_resume(info_hash).await
    }
    async fn put_media(&self, item: &crate::store::MediaItem) -> StoreResult<()> {
        self.inner.put_media(item).await
    }
    async fn media(&self, id: &str) -> StoreResult<Option<crate::store::MediaItem>> {
        self.inner.media(id).await
    }
    async fn list_media(&self, owner_id: &str) -> StoreResult<Vec<crate::store::MediaItem>> {
        self.inner.list_media(owner_id).await
    }
    async fn delete_media(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_media(id).await
    }
    async fn passkey_of(&self, user_id: &str) -> StoreResult<Option<String>> {
        self.inner.passkey_of(user_id).await
    }
    async fn user_of_passkey(&self, passkey: &str) -> StoreResult<Option<String>> {
        self.inner.user_of_passkey(passkey).await
    }
    async fn insert_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        self.inner.insert_passkey(user_id, passkey).await
    }
    async fn replace_passkey(&self, user_id: &str, passkey: &str) -> StoreResult<()> {
        self.inner.replace_passkey(user_id, passkey).await
    }
    async fn add_transfer(&self, user_id: &str, up: u64, down: u64) -> StoreResult<()> {
        self.inner.add_transfer(user_id, up, down).await
    }
    async fn transfer_totals(&self, user_id: &str) -> StoreResult<(u64, u64)> {
        self.inner.transfer_totals(user_id).await
    }
    async fn add_completions(&self, counts: &[(InfoHash, u64)]) -> StoreResult<()> {
        self.inner.add_completions(counts).await
    }
    async fn completions(&self) -> StoreResult<Vec<(InfoHash, u64)>> {
        self.inner.completions().await
    }
    async fn clear_completions(&self, info_hash: &InfoHash) -> StoreResult<()> {
        self.inner.clear_completions(info_hash).await
    }
    async fn two_factor(&self, user: &str) -> StoreResult<Option<crate::store::TwoFactor>> {
        self.inner.two_factor(user).await
    }
    async fn set_pending_two_factor(&self, u: &str, s: &[u8], now: Millis) -> StoreResult<bool> {
        self.inner.set_pending_two_factor(u, s, now).await
    }
    async fn enable_two_factor(
        &self,
        u: &str,
        s: &[u8],
        step: u64,
        codes: &[String],
        now: Millis,
    ) -> StoreResult<bool> {
        self.inner.enable_two_factor(u, s, step, codes, now).await
    }
    async fn accept_two_factor_step(&self, u: &str, step: u64) -> StoreResult<bool> {
        self.inner.accept_two_factor_step(u, step).await
    }
    async fn use_recovery_code(&self, u: &str, digest: &str) -> StoreResult<bool> {
        self.inner.use_recovery_code(u, digest).await
    }
    async fn replace_recovery_codes(&self, u: &str, codes: &[String]) -> StoreResult<bool> {
        self.inner.replace_recovery_codes(u, codes).await
    }
    async fn delete_two_factor(&self, u: &str) -> StoreResult<bool> {
        self.inner.delete_two_factor(u).await
    }

    async fn insert_catalog_entry(
        &self,
        e: &crate::store::CatalogEntry,
        t: &[u8],
    ) -> StoreResult<()> {
        self.inner.insert_catalog_entry(e, t).await
    }
    async fn catalog_entry(&self, id: &str) -> StoreResult<Option<crate::store::CatalogEntry>> {
        self.inner.catalog_entry(id).await
    }
    async fn catalog_entry_by_hash(
        &self,
        h: &InfoHash,
    ) -> StoreResult<Option<crate::store::CatalogEntry>> {
        self.inner.catalog_entry_by_hash(h).await
    }
    async fn catalog_torrent(&self, id: &str) -> StoreResult<Option<bytes::Bytes>> {
        self.inner.catalog_torrent(id).await
    }
    async fn list_catalog(
        &self,
        q: &crate::store::CatalogQuery,
    ) -> StoreResult<crate::store::CatalogPage> {
        self.inner.list_catalog(q).await
    }
    async fn catalog_info_hashes(&self) -> StoreResult<Vec<InfoHash>> {
        self.inner.catalog_info_hashes().await
    }
    async fn delete_catalog_entry(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_catalog_entry(id).await
    }
    async fn add_catalog_comment(&self, c: &crate::store::CatalogComment) -> StoreResult<()> {
        self.inner.add_catalog_comment(c).await
    }
    async fn catalog_comment(&self, id: &str) -> StoreResult<Option<crate::store::CatalogComment>> {
        self.inner.catalog_comment(id).await
    }
    async fn catalog_comments(&self, id: &str) -> StoreResult<Vec<crate::store::CatalogComment>> {
        self.inner.catalog_comments(id).await
    }
    async fn delete_catalog_comment(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_catalog_comment(id).await
    }
}
