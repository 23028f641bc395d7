use super::*;
use crate::store::contract;
use crate::store::{Priority, Role};
use rusqlite::Connection;

#[tokio::test]
async fn contract_in_memory() {
    let store = SqliteStore::open_in_memory().expect("open in memory");
    contract::run_all(&store).await;
}

#[tokio::test]
async fn contract_on_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A nested path also proves `open` creates missing parent directories.
    let store = SqliteStore::open(&dir.path().join("data/db/store.sqlite")).expect("open");
    contract::run_all(&store).await;
    // The suite is built to tolerate a non-empty database: run it a second time.
    contract::run_all(&store).await;
}

fn sample_user() -> User {
    User {
        id: "u-1".to_owned(),
        username: "alice".to_owned(),
        password_hash: "$argon2id$stub".to_owned(),
        role: Role::Admin,
        created_at: 1_700_000_000_000,
    }
}

fn sample_torrent() -> TorrentRecord {
    TorrentRecord {
        info_hash: crate::InfoHash::from_bytes([0xab; 20]),
        owner_id: "u-1".to_owned(),
        name: Some("debian.iso".to_owned()),
        magnet: None,
        torrent_bytes: Some(bytes::Bytes::from_static(&[0, 1, 2, 255])),
        initial_peers: vec!["127.0.0.1:6881".to_owned()],
        priority: Priority::Low,
        paused: true,
        added_at: 1_700_000_000_001,
        completed_at: Some(1_700_000_000_002),
        seeding_stopped_at: None,
        total_bytes: u64::try_from(i64::MAX).expect("fits"),
        downloaded_bytes: 1 << 33,
        uploaded_bytes: 42,
        error: None,
        announced_pieces: vec![0b1010_0000, 0xff],
        save_dir: "users/u-1".to_owned(),
        options: crate::store::TorrentOptions {
            category: Some("tv".to_owned()),
            ..Default::default()
        },
    }
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let token = RefreshToken {
        token_hash: "f".repeat(64),
        user_id: "u-1".to_owned(),
        family_id: "fam".to_owned(),
        created_at: 1,
        expires_at: i64::MAX,
        used_at: None,
        revoked: false,
    };
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_user(&sample_user()).await.expect("user");
        store
            .insert_torrent(&sample_torrent())
            .await
            .expect("torrent");
        store.insert_refresh_token(&token).await.expect("token");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.user_by_id("u-1").await.expect("read"),
        Some(sample_user())
    );
    assert_eq!(
        store.list_torrents().await.expect("read"),
        vec![sample_torrent()]
    );
    let consumed = store.consume_refresh_token(&token.token_hash, 5).await;
    assert_eq!(consumed.expect("consume"), Consumed::Fresh(token));
}

#[test]
fn file_uses_wal_and_current_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    drop(SqliteStore::open(&path).expect("open"));
    let raw = Connection::open(&path).expect("raw open");
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    assert_eq!(
        schema::schema_version(&raw).expect("version"),
        schema::MIGRATIONS.len()
    );
}

#[tokio::test]
async fn existing_v1_database_upgrades_to_current_with_data_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        // Built by hand, as a version-1 build would have left it. Were version 1
        // applied again, its CREATE TABLEs would fail and `open` would error.
        let raw = Connection::open(&path).expect("raw open");
        raw.execute_batch(schema::SCHEMA_V1).expect("schema");
        raw.pragma_update(None, "user_version", 1).expect("version");
        rows::insert_user(&raw, &sample_user()).expect("user");
        // The version-1 columns only: what such a build wrote.
        let t = sample_torrent();
        raw.execute(
            "INSERT INTO torrents (info_hash, owner_id, name, magnet, torrent_bytes, \
             initial_peers, priority, paused, added_at, completed_at, seeding_stopped_at, \
             total_bytes, downloaded_bytes, uploaded_bytes, error) \
             VALUES (?1, ?2, ?3, NULL, ?4, '[\"127.0.0.1:6881\"]', 'low', 1, ?5, ?6, NULL, \
             ?7, ?8, 42, NULL)",
            rusqlite::params![
                t.info_hash,
                t.owner_id,
                t.name,
                t.torrent_bytes.as_deref(),
                t.added_at,
                t.completed_at,
                t.total_bytes,
                t.downloaded_bytes
            ],
        )
        .expect("torrent");
    }
    let store = SqliteStore::open(&path).expect("open v1");
    assert_eq!(
        store.list_users().await.expect("users"),
        vec![sample_user()]
    );
    // Torrents from before version 3 announced nothing yet and live at the root; from
    // before version 5 they have every option at its default.
    let legacy = TorrentRecord {
        announced_pieces: Vec::new(),
        save_dir: String::new(),
        options: Default::default(),
        ..sample_torrent()
    };
    assert_eq!(store.list_torrents().await.expect("torrents"), vec![legacy]);
    // The new tables exist and start empty: no event was ever committed.
    assert_eq!(store.event_seq_mark().await.expect("mark"), 0);
    assert_eq!(store.outbox_len().await.expect("len"), 0);
    commit_events(&store, (1..=5).map(event).collect())
        .await
        .expect("commit");
    drop(store);
    let raw = Connection::open(&path).expect("raw reopen");
    assert_eq!(
        schema::schema_version(&raw).expect("version"),
        schema::MIGRATIONS.len()
    );
    drop(raw);
    // Opening the upgraded file again migrates nothing and keeps the mark.
    let store = SqliteStore::open(&path).expect("open again");
    assert_eq!(store.event_seq_mark().await.expect("mark"), 5);
    assert_eq!(store.count_users().await.expect("count"), 1);
}

fn event(seq: u64) -> OutboxRecord {
    OutboxRecord {
        seq,
        key: "ab".repeat(20),
        payload: br#"{"type":"added"}"#.to_vec(),
        created_at: 1_700_000_000_000,
    }
}

async fn commit_events(store: &SqliteStore, events: Vec<OutboxRecord>) -> StoreResult<u64> {
    store
        .commit(&Commit {
            events,
            ..Commit::default()
        })
        .await
}

#[tokio::test]
async fn event_seq_mark_and_outbox_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(store.event_seq_mark().await.expect("mark"), 0);
        commit_events(&store, vec![event(1), event(2)])
            .await
            .expect("commit");
        store.outbox_remove(&[2]).await.expect("remove");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.event_seq_mark().await.expect("mark"), 2);
    assert_eq!(store.outbox_peek(10).await.expect("peek"), vec![event(1)]);
    let err = commit_events(&store, vec![event(2)])
        .await
        .expect_err("seq 2 was committed before, and left the outbox since");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    commit_events(&store, vec![event(3)]).await.expect("next");
}

#[tokio::test]
async fn event_seq_zero_and_descending_seqs_are_refused() {
    let store = SqliteStore::open_in_memory().expect("open");
    for bad in [
        vec![event(0)],
        vec![event(5), event(4)],
        vec![event(6), event(6)],
    ] {
        let err = commit_events(&store, bad).await.expect_err("refused");
        assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    }
    assert_eq!(
        store.event_seq_mark().await.expect("mark"),
        0,
        "nothing written"
    );
    assert_eq!(store.outbox_len().await.expect("len"), 0, "nothing written");
}

#[tokio::test]
async fn seqs_beyond_i64_are_refused_not_wrapped() {
    let store = SqliteStore::open_in_memory().expect("open");
    let max = u64::try_from(i64::MAX).expect("fits");
    let err = commit_events(&store, vec![event(1), event(max + 1)])
        .await
        .expect_err("huge seq");
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
    assert_eq!(store.outbox_len().await.expect("len"), 0, "all or none");

    commit_events(&store, vec![event(1)]).await.expect("commit");
    let err = store
        .outbox_remove(&[1, max + 1])
        .await
        .expect_err("huge seq");
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
    assert_eq!(store.outbox_len().await.expect("len"), 1, "all or none");

    commit_events(&store, vec![event(max)])
        .await
        .expect("i64::MAX");
    assert_eq!(
        store.outbox_peek(usize::MAX).await.expect("peek"),
        vec![event(1), event(max)]
    );
    let err = commit_events(&store, vec![event(max)])
        .await
        .expect_err("nothing is above i64::MAX");
    assert!(matches!(err, StoreError::Conflict(_)), "got {err:?}");
    assert_eq!(store.outbox_remove_through(u64::MAX).await.expect("all"), 2);
}

#[tokio::test]
async fn outbox_counts_on_a_fresh_database() {
    let store = SqliteStore::open_in_memory().expect("open");
    assert_eq!(store.outbox_len().await.expect("len"), 0);
    assert_eq!(store.outbox_peek(10).await.expect("peek"), vec![]);
    let records: Vec<OutboxRecord> = (1..=600)
        .map(|seq| OutboxRecord {
            seq,
            key: format!("k{seq}"),
            payload: seq.to_le_bytes().to_vec(),
            created_at: 7,
        })
        .collect();
    commit_events(&store, records).await.expect("commit");
    assert_eq!(store.outbox_len().await.expect("len"), 600);
    let peeked = store.outbox_peek(3).await.expect("peek");
    let seqs: Vec<u64> = peeked.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    // Many seqs in one call, some listed twice: each existing one counts once.
    let mut all: Vec<u64> = (1..=300).collect();
    all.extend([1, 300]);
    assert_eq!(store.outbox_remove(&all).await.expect("remove"), 300);
    assert_eq!(store.outbox_remove_through(450).await.expect("trim"), 150);
    assert_eq!(store.outbox_len().await.expect("len"), 150);
}

#[tokio::test]
async fn settings_are_replaced_by_name_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let store = SqliteStore::open(&path).expect("open");
        assert_eq!(store.settings().await.expect("read"), vec![]);
        let first = [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ];
        store.save_settings(&first).await.expect("save");
        store
            .save_settings(&[("a".to_owned(), "3".to_owned())])
            .await
            .expect("save");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.settings().await.expect("read"),
        vec![
            ("a".to_owned(), "3".to_owned()),
            ("b".to_owned(), "2".to_owned())
        ]
    );
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let raw = Connection::open(&path).expect("raw open");
    raw.pragma_update(None, "user_version", 99)
        .expect("version");
    drop(raw);
    let err = SqliteStore::open(&path).expect_err("a newer schema must be refused");
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
}

#[tokio::test]
async fn torrent_with_unknown_owner_is_rejected() {
    let store = SqliteStore::open_in_memory().expect("open");
    let err = store
        .insert_torrent(&sample_torrent())
        .await
        .expect_err("no owner");
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
}

#[tokio::test]
async fn panic_and_poisoned_mutex_are_backend_errors() {
    let store = SqliteStore::open_in_memory().expect("open");
    let panicked = store
        .call::<(), _>(|_| panic!("deliberate panic inside a store operation"))
        .await;
    assert!(
        matches!(panicked, Err(StoreError::Backend(_))),
        "join error: {panicked:?}"
    );
    let poisoned = store.ping().await;
    assert!(
        matches!(poisoned, Err(StoreError::Backend(_))),
        "poisoned: {poisoned:?}"
    );
}

fn sample_movie() -> crate::store::MediaItem {
    crate::store::MediaItem {
        id: "m-1".to_owned(),
        owner_id: "u-1".to_owned(),
        kind: crate::store::MediaKind::Movie,
        title: "Alien".to_owned(),
        year: Some(1979),
        show_id: None,
        season: None,
        episode: None,
        assignment: Some(crate::store::Assignment {
            info_hash: crate::InfoHash::from_bytes([0xab; 20]),
            file_index: 1,
            file_path: "Alien/alien.mkv".to_owned(),
            size: 1 << 34,
            resolution: Some("1080p".to_owned()),
            source: None,
            assigned_at: 1_700_000_000_003,
        }),
        created_at: 1_700_000_000_002,
    }
}

#[tokio::test]
async fn media_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_user(&sample_user()).await.expect("user");
        store.put_media(&sample_movie()).await.expect("movie");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.list_media("u-1").await.expect("list"),
        vec![sample_movie()]
    );
}

#[tokio::test]
async fn media_of_an_unknown_owner_are_rejected() {
    let store = SqliteStore::open_in_memory().expect("open");
    let err = store
        .put_media(&sample_movie())
        .await
        .expect_err("no owner");
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
}

#[tokio::test]
async fn file_sizes_beyond_i64_are_refused_not_wrapped() {
    let store = SqliteStore::open_in_memory().expect("open");
    store.create_user(&sample_user()).await.expect("user");
    let mut movie = sample_movie();
    if let Some(a) = movie.assignment.as_mut() {
        a.size = u64::MAX;
    }
    let err = store.put_media(&movie).await.expect_err("huge size");
    assert!(matches!(err, StoreError::Backend(_)), "got {err:?}");
    assert_eq!(store.media("m-1").await.expect("read"), None);
}

/// A database left by a version-5 build gains the media table and keeps its users.
#[tokio::test]
async fn a_version_5_database_gains_the_library() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let mut raw = Connection::open(&path).expect("raw open");
        let tx = raw.transaction().expect("tx");
        for sql in &schema::MIGRATIONS[..5] {
            tx.execute_batch(sql).expect("schema");
        }
        tx.pragma_update(None, "user_version", 5).expect("version");
        rows::insert_user(&tx, &sample_user()).expect("user");
        tx.commit().expect("commit");
    }
    let store = SqliteStore::open(&path).expect("open v5");
    assert_eq!(
        store.list_users().await.expect("users"),
        vec![sample_user()]
    );
    assert_eq!(store.list_media("u-1").await.expect("media"), vec![]);
    store.put_media(&sample_movie()).await.expect("movie");
    assert_eq!(
        store.media("m-1").await.expect("read"),
        Some(sample_movie())
    );
    drop(store);
    let raw = Connection::open(&path).expect("raw reopen");
    // Every later migration runs too: the file ends at the current version.
    assert_eq!(
        schema::schema_version(&raw).expect("version"),
        schema::MIGRATIONS.len()
    );
}

#[tokio::test]
async fn a_database_from_before_the_catalog_gains_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    {
        let mut raw = Connection::open(&path).expect("raw open");
        let tx = raw.transaction().expect("tx");
        for sql in &schema::MIGRATIONS[..7] {
            tx.execute_batch(sql).expect("schema");
        }
        tx.pragma_update(None, "user_version", 7).expect("version");
        rows::insert_user(&tx, &sample_user()).expect("user");
        tx.commit().expect("commit");
    }
    let store = SqliteStore::open(&path).expect("open v7");
    assert_eq!(store.catalog_info_hashes().await.expect("hashes"), vec![]);
    crate::store::contract::catalog_insert_and_get(&store).await;
}
