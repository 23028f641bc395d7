//! The catalog's part of the contract: entries unique by info hash, kept with their
//! `.torrent` byte for byte, listed newest first by pages, and deleted with their
//! comments.
//!
//! Each check lists only a category of its own (random), so entries other runs left in a
//! shared database never show up in its pages.

use super::{must, must_conflict, new_user, now, random_hash, unique};
use crate::store::{CatalogComment, CatalogEntry, CatalogFile, CatalogQuery, Store, User};

fn entry(uploader: &User, category: &str, created_at: i64) -> CatalogEntry {
    CatalogEntry {
        id: unique("entry"),
        info_hash: random_hash(),
        title: "Some Title".into(),
        description: "described\nover lines".into(),
        category: Some(category.to_owned()),
        tags: vec!["a".into(), "b c".into()],
        uploader_id: uploader.id.clone(),
        created_at,
        total_bytes: (5 << 33) + 1,
        files: vec![
            CatalogFile {
                path: "Folder/one.mkv".into(),
                length: 5 << 33,
            },
            CatalogFile {
                path: "Folder/Sub/two.txt".into(),
                length: 1,
            },
        ],
    }
}

/// A `.torrent`-like blob: any bytes, NULs and high bytes included.
fn blob() -> Vec<u8> {
    (0..=255u8).chain([0, 0, 255]).collect()
}

fn comment(entry: &CatalogEntry, author: &User, created_at: i64) -> CatalogComment {
    CatalogComment {
        id: unique("comment"),
        entry_id: entry.id.clone(),
        author_id: author.id.clone(),
        body: "nice one".into(),
        created_at,
    }
}

/// An entry reads back whole by id and by info hash, its torrent byte for byte.
pub async fn catalog_insert_and_get(store: &dyn Store) {
    let user = new_user(store).await;
    let e = entry(&user, &unique("cat"), now());
    let bare = CatalogEntry {
        id: unique("bare"),
        info_hash: random_hash(),
        category: None,
        tags: vec![],
        files: vec![],
        description: String::new(),
        ..e.clone()
    };
    for item in [&e, &bare] {
        must(
            "insert_catalog_entry",
            store.insert_catalog_entry(item, &blob()).await,
        );
        let by_id = must("catalog_entry", store.catalog_entry(&item.id).await);
        assert_eq!(
            by_id.as_ref(),
            Some(item),
            "catalog_entry must return the entry as inserted"
        );
        let by_hash = must(
            "catalog_entry_by_hash",
            store.catalog_entry_by_hash(&item.info_hash).await,
        );
        assert_eq!(
            by_hash.as_ref(),
            Some(item),
            "catalog_entry_by_hash must find it"
        );
        let torrent = must("catalog_torrent", store.catalog_torrent(&item.id).await);
        assert_eq!(
            torrent.as_deref(),
            Some(&blob()[..]),
            "the torrent must be kept byte for byte"
        );
    }
    let none = must("catalog_entry", store.catalog_entry(&unique("none")).await);
    assert_eq!(none, None, "an unknown id is None");
    let none = must(
        "catalog_entry_by_hash",
        store.catalog_entry_by_hash(&random_hash()).await,
    );
    assert_eq!(none, None, "an unknown info hash is None");
    let none = must(
        "catalog_torrent",
        store.catalog_torrent(&unique("none")).await,
    );
    assert_eq!(none, None, "an unknown id has no torrent");
    let hashes = must("catalog_info_hashes", store.catalog_info_hashes().await);
    assert!(
        hashes.contains(&e.info_hash) && hashes.contains(&bare.info_hash),
        "catalog_info_hashes must hold every entry's hash"
    );
}

/// A second entry of one info hash is a `Conflict`, and leaves the first as it was.
pub async fn catalog_duplicate_hash_conflicts(store: &dyn Store) {
    let user = new_user(store).await;
    let first = entry(&user, &unique("cat"), now());
    must(
        "insert_catalog_entry",
        store.insert_catalog_entry(&first, &blob()).await,
    );
    let again = CatalogEntry {
        id: unique("again"),
        title: "Other".into(),
        ..first.clone()
    };
    must_conflict(
        "insert_catalog_entry of a known info hash",
        store.insert_catalog_entry(&again, b"other").await,
    );
    assert_eq!(
        must("catalog_entry", store.catalog_entry(&again.id).await),
        None
    );
    let kept = must("catalog_entry", store.catalog_entry(&first.id).await);
    assert_eq!(kept, Some(first), "the first entry must stay as it was");
}

/// Pages are newest first (ties by id, descending), filtered by category, with the
/// number of matching entries.
pub async fn catalog_list_pages_newest_first(store: &dyn Store) {
    let user = new_user(store).await;
    let (cat, other) = (unique("cat"), unique("cat"));
    let base = now();
    let mut entries: Vec<CatalogEntry> = (0..5).map(|i| entry(&user, &cat, base + i)).collect();
    // A tie on created_at: the greater id comes first.
    entries[4].created_at = entries[3].created_at;
    for e in &entries {
        must(
            "insert_catalog_entry",
            store.insert_catalog_entry(e, &blob()).await,
        );
    }
    let elsewhere = entry(&user, &other, base + 100);
    must(
        "insert_catalog_entry",
        store.insert_catalog_entry(&elsewhere, &blob()).await,
    );
    let mut newest: Vec<&CatalogEntry> = entries.iter().collect();
    newest.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    let page = |offset, limit| CatalogQuery {
        category: Some(cat.clone()),
        offset,
        limit,
    };
    let first = must("list_catalog", store.list_catalog(&page(0, 2)).await);
    assert_eq!(first.total, 5, "total counts the category's entries");
    let ids =
        |p: &crate::store::CatalogPage| p.entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    let want =
        |r: std::ops::Range<usize>| newest[r].iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), want(0..2), "the first page holds the newest");
    assert_eq!(&first.entries[0], newest[0], "pages hold whole entries");
    let second = must("list_catalog", store.list_catalog(&page(2, 2)).await);
    assert_eq!(ids(&second), want(2..4));
    let last = must("list_catalog", store.list_catalog(&page(4, 2)).await);
    assert_eq!(ids(&last), want(4..5));
    let beyond = must("list_catalog", store.list_catalog(&page(10, 2)).await);
    assert!(beyond.entries.is_empty() && beyond.total == 5);
    let counted = must("list_catalog", store.list_catalog(&page(0, 0)).await);
    assert!(
        counted.entries.is_empty() && counted.total == 5,
        "limit 0 only counts"
    );
    let all = CatalogQuery {
        category: None,
        offset: 0,
        limit: 1,
    };
    let all = must("list_catalog", store.list_catalog(&all).await);
    assert!(all.total >= 6, "no category lists every entry");
}

/// Comments list oldest first, delete one by one, and go with their entry.
pub async fn catalog_comments_and_delete(store: &dyn Store) {
    let (user, other) = (new_user(store).await, new_user(store).await);
    let e = entry(&user, &unique("cat"), now());
    let kept = entry(&user, &unique("cat"), now());
    for item in [&e, &kept] {
        must(
            "insert_catalog_entry",
            store.insert_catalog_entry(item, &blob()).await,
        );
    }
    let base = now();
    let comments = [
        comment(&e, &other, base + 2),
        comment(&e, &user, base),
        comment(&e, &other, base + 1),
    ];
    for c in &comments {
        must("add_catalog_comment", store.add_catalog_comment(c).await);
    }
    must_conflict(
        "add_catalog_comment of a known id",
        store.add_catalog_comment(&comments[0]).await,
    );
    let on_kept = comment(&kept, &other, base);
    must(
        "add_catalog_comment",
        store.add_catalog_comment(&on_kept).await,
    );
    let listed = must("catalog_comments", store.catalog_comments(&e.id).await);
    assert_eq!(
        listed,
        vec![
            comments[1].clone(),
            comments[2].clone(),
            comments[0].clone()
        ],
        "comments list oldest first"
    );
    let one = must(
        "catalog_comment",
        store.catalog_comment(&comments[2].id).await,
    );
    assert_eq!(one.as_ref(), Some(&comments[2]));
    assert!(must(
        "delete_catalog_comment",
        store.delete_catalog_comment(&comments[2].id).await
    ));
    assert!(!must(
        "delete_catalog_comment",
        store.delete_catalog_comment(&comments[2].id).await
    ));
    let listed = must("catalog_comments", store.catalog_comments(&e.id).await);
    assert_eq!(listed.len(), 2, "a deleted comment leaves the list");

    assert!(must(
        "delete_catalog_entry",
        store.delete_catalog_entry(&e.id).await
    ));
    assert!(
        !must(
            "delete_catalog_entry",
            store.delete_catalog_entry(&e.id).await
        ),
        "deleting twice is false"
    );
    assert_eq!(
        must("catalog_entry", store.catalog_entry(&e.id).await),
        None
    );
    assert_eq!(
        must("catalog_torrent", store.catalog_torrent(&e.id).await),
        None
    );
    let gone = must("catalog_comments", store.catalog_comments(&e.id).await);
    assert!(gone.is_empty(), "deleting an entry deletes its comments");
    assert_eq!(
        must(
            "catalog_comment",
            store.catalog_comment(&comments[0].id).await
        ),
        None
    );
    let hashes = must("catalog_info_hashes", store.catalog_info_hashes().await);
    assert!(
        !hashes.contains(&e.info_hash),
        "a deleted entry's hash leaves the catalog"
    );
    let still = must("catalog_comments", store.catalog_comments(&kept.id).await);
    assert_eq!(still, vec![on_kept], "other entries keep their comments");
}
