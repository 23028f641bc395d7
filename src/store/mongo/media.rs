//! The media library in the `media` collection (`_id` = item id): one document per
//! movie, show or episode, replaced whole; the active assignment is a subdocument
//! (`null` when there is none).
//!
//! Deleting a show is two writes (its episodes, then the show): MongoDB without a
//! replica set has no multi-document transaction. Episodes go first, so a failure in
//! between leaves the show (deleting it again finishes the job), never episodes
//! whose show is gone.

use std::future::IntoFuture;

use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};

use super::docs::{corrupt, info_hash, int, opt, opt_int, opt_text, text};
use super::{collect, op};
use crate::store::{Assignment, MediaItem, MediaKind, StoreError, StoreResult};

/// Sizes and counts are written as 64-bit integers; one beyond `i64` is refused.
fn signed(what: &str, v: u64) -> StoreResult<i64> {
    i64::try_from(v)
        .map_err(|_| StoreError::Backend(format!("{what} {v} does not fit in MongoDB").into()))
}

fn doc_of(m: &MediaItem) -> StoreResult<Document> {
    let assignment = match &m.assignment {
        None => Bson::Null,
        Some(a) => Bson::Document(doc! {
            "infoHash": a.info_hash.to_string(),
            "fileIndex": signed("file index", a.file_index as u64)?,
            "filePath": &a.file_path,
            "size": signed("file size", a.size)?,
            "resolution": opt(a.resolution.clone()),
            "source": opt(a.source.clone()),
            "assignedAt": a.assigned_at,
        }),
    };
    Ok(doc! {
        "_id": &m.id,
        "ownerId": &m.owner_id,
        "kind": m.kind.as_str(),
        "title": &m.title,
        "year": opt(m.year.map(i64::from)),
        "showId": opt(m.show_id.clone()),
        "season": opt(m.season.map(i64::from)),
        "episode": opt(m.episode.map(i64::from)),
        "assignment": assignment,
        "createdAt": m.created_at,
    })
}

/// An optional number that must fit in `T`.
fn opt_num<T: TryFrom<i64>>(d: &Document, key: &str) -> StoreResult<Option<T>> {
    opt_int(d, key)?
        .map(|v| T::try_from(v).map_err(|_| corrupt(format!("{key} {v} is out of range"))))
        .transpose()
}

fn num<T: TryFrom<i64>>(d: &Document, key: &str) -> StoreResult<T> {
    let v = int(d, key)?;
    T::try_from(v).map_err(|_| corrupt(format!("{key} {v} is out of range")))
}

fn assignment(d: &Document) -> StoreResult<Assignment> {
    Ok(Assignment {
        info_hash: info_hash(d, "infoHash")?,
        file_index: num(d, "fileIndex")?,
        file_path: text(d, "filePath")?,
        size: num(d, "size")?,
        resolution: opt_text(d, "resolution")?,
        source: opt_text(d, "source")?,
        assigned_at: int(d, "assignedAt")?,
    })
}

fn item(d: &Document) -> StoreResult<MediaItem> {
    let kind = text(d, "kind")?;
    let assignment = match d.get("assignment") {
        None | Some(Bson::Null) => None,
        Some(Bson::Document(a)) => Some(assignment(a)?),
        Some(other) => return Err(corrupt(format!("assignment is {other:?}"))),
    };
    Ok(MediaItem {
        id: text(d, "_id")?,
        owner_id: text(d, "ownerId")?,
        kind: MediaKind::parse(&kind).ok_or_else(|| corrupt(format!("media kind {kind:?}")))?,
        title: text(d, "title")?,
        year: opt_num(d, "year")?,
        show_id: opt_text(d, "showId")?,
        season: opt_num(d, "season")?,
        episode: opt_num(d, "episode")?,
        assignment,
        created_at: int(d, "createdAt")?,
    })
}

pub(super) async fn put(c: &Collection<Document>, m: &MediaItem) -> StoreResult<()> {
    let w = c
        .replace_one(doc! { "_id": &m.id }, doc_of(m)?)
        .upsert(true);
    op("saving a library item", w.into_future()).await.map(drop)
}

pub(super) async fn get(c: &Collection<Document>, id: &str) -> StoreResult<Option<MediaItem>> {
    let r = c.find_one(doc! { "_id": id }).into_future();
    op("reading a library item", r)
        .await?
        .as_ref()
        .map(item)
        .transpose()
}

pub(super) async fn list(c: &Collection<Document>, owner_id: &str) -> StoreResult<Vec<MediaItem>> {
    let find = c
        .find(doc! { "ownerId": owner_id })
        .sort(doc! { "createdAt": 1, "_id": 1 })
        .into_future();
    collect("listing library items", find, item).await
}

pub(super) async fn delete(c: &Collection<Document>, id: &str) -> StoreResult<bool> {
    let episodes = c.delete_many(doc! { "showId": id });
    op("deleting a show's episodes", episodes.into_future()).await?;
    let w = c.delete_one(doc! { "_id": id });
    Ok(op("deleting a library item", w.into_future())
        .await?
        .deleted_count
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InfoHash;

    #[test]
    fn an_item_round_trips_through_its_document() {
        let episode = MediaItem {
            id: "e".into(),
            owner_id: "u".into(),
            kind: MediaKind::Episode,
            title: "Pilot".into(),
            year: None,
            show_id: Some("s".into()),
            season: Some(u32::MAX),
            episode: Some(1),
            assignment: Some(Assignment {
                info_hash: InfoHash::from_bytes([3; 20]),
                file_index: 2,
                file_path: "Show/S01E01.mkv".into(),
                size: 5 << 33,
                resolution: Some("1080p".into()),
                source: None,
                assigned_at: 7,
            }),
            created_at: 6,
        };
        assert_eq!(item(&doc_of(&episode).unwrap()).unwrap(), episode);
        let movie = MediaItem {
            kind: MediaKind::Movie,
            year: Some(1999),
            show_id: None,
            season: None,
            episode: None,
            assignment: None,
            ..episode
        };
        assert_eq!(item(&doc_of(&movie).unwrap()).unwrap(), movie);
    }

    #[test]
    fn numbers_out_of_range_are_corrupt_not_wrapped() {
        let mut d = doc_of(&MediaItem {
            id: "m".into(),
            owner_id: "u".into(),
            kind: MediaKind::Movie,
            title: "x".into(),
            year: Some(2000),
            show_id: None,
            season: None,
            episode: None,
            assignment: None,
            created_at: 1,
        })
        .unwrap();
        d.insert("year", 70_000_i64);
        assert!(item(&d).is_err());
    }
}
