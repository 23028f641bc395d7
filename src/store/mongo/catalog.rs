//! The torrent catalog in the `catalog` collection (`_id` = entry id, a unique index on
//! `infoHash`) and its comments in `catalog_comments` (`_id` = comment id, indexed by
//! `entryId`).
//!
//! The `.torrent` file is the entry document's `torrent` field; every read but
//! [`torrent`] leaves it out by projection, so listings never carry it.
//!
//! Deleting an entry is two writes (the entry, then its comments): without a replica
//! set there is no multi-document transaction. The entry goes first, so a failure in
//! between leaves comments nobody can reach (they are listed through their entry), never
//! an entry that lost its comments.

use std::future::IntoFuture;

use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};

use super::docs::{binary, bytes, corrupt, info_hash, int, opt, opt_text, text};
use super::{collect, op};
use crate::InfoHash;
use crate::store::{
    CatalogComment, CatalogEntry, CatalogFile, CatalogPage, CatalogQuery, StoreError, StoreResult,
};

/// The collections the catalog lives in.
pub(super) struct Collections {
    pub entries: Collection<Document>,
    pub comments: Collection<Document>,
}

fn signed(what: &str, v: u64) -> StoreResult<i64> {
    i64::try_from(v)
        .map_err(|_| StoreError::Backend(format!("{what} {v} does not fit in MongoDB").into()))
}

fn entry_doc(e: &CatalogEntry, torrent: &[u8]) -> StoreResult<Document> {
    let files = e
        .files
        .iter()
        .map(|f| Ok(doc! { "path": &f.path, "length": signed("file length", f.length)? }))
        .collect::<StoreResult<Vec<Document>>>()?;
    Ok(doc! {
        "_id": &e.id,
        "infoHash": e.info_hash.to_string(),
        "title": &e.title,
        "description": &e.description,
        "category": opt(e.category.clone()),
        "tags": e.tags.clone(),
        "uploaderId": &e.uploader_id,
        "createdAt": e.created_at,
        "totalBytes": signed("size", e.total_bytes)?,
        "files": files,
        "torrent": binary(torrent),
    })
}

fn array<'a>(d: &'a Document, key: &str) -> StoreResult<&'a Vec<Bson>> {
    d.get_array(key).map_err(|e| corrupt(format!("{key}: {e}")))
}

fn unsigned(d: &Document, key: &str) -> StoreResult<u64> {
    let v = int(d, key)?;
    u64::try_from(v).map_err(|_| corrupt(format!("{key} {v} is negative")))
}

fn entry(d: &Document) -> StoreResult<CatalogEntry> {
    let tags = array(d, "tags")?
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_owned)
                .ok_or_else(|| corrupt("a tag is no string"))
        })
        .collect::<StoreResult<_>>()?;
    let files = array(d, "files")?
        .iter()
        .map(|f| {
            let f = f
                .as_document()
                .ok_or_else(|| corrupt("a file is no document"))?;
            Ok(CatalogFile {
                path: text(f, "path")?,
                length: unsigned(f, "length")?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(CatalogEntry {
        id: text(d, "_id")?,
        info_hash: info_hash(d, "infoHash")?,
        title: text(d, "title")?,
        description: text(d, "description")?,
        category: opt_text(d, "category")?,
        tags,
        uploader_id: text(d, "uploaderId")?,
        created_at: int(d, "createdAt")?,
        total_bytes: unsigned(d, "totalBytes")?,
        files,
    })
}

fn comment_doc(c: &CatalogComment) -> Document {
    doc! {
        "_id": &c.id,
        "entryId": &c.entry_id,
        "authorId": &c.author_id,
        "body": &c.body,
        "createdAt": c.created_at,
    }
}

fn comment(d: &Document) -> StoreResult<CatalogComment> {
    Ok(CatalogComment {
        id: text(d, "_id")?,
        entry_id: text(d, "entryId")?,
        author_id: text(d, "authorId")?,
        body: text(d, "body")?,
        created_at: int(d, "createdAt")?,
    })
}

fn without_torrent() -> Document {
    doc! { "torrent": 0 }
}

impl Collections {
    pub async fn insert(&self, e: &CatalogEntry, torrent: &[u8]) -> StoreResult<()> {
        let w = self.entries.insert_one(entry_doc(e, torrent)?);
        match op("inserting a catalog entry", w.into_future()).await {
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(format!(
                "catalog entry for info hash {}",
                e.info_hash
            ))),
            other => other.map(drop),
        }
    }

    pub async fn find(&self, filter: Document) -> StoreResult<Option<CatalogEntry>> {
        let r = self.entries.find_one(filter).projection(without_torrent());
        op("reading a catalog entry", r.into_future())
            .await?
            .as_ref()
            .map(entry)
            .transpose()
    }

    pub async fn torrent(&self, id: &str) -> StoreResult<Option<bytes::Bytes>> {
        let r = self.entries.find_one(doc! { "_id": id });
        let found = op("reading a catalog torrent", r.into_future()).await?;
        found
            .map(|d| bytes(&d, "torrent").map(bytes::Bytes::from))
            .transpose()
    }

    pub async fn list(&self, q: &CatalogQuery) -> StoreResult<CatalogPage> {
        let filter = match &q.category {
            Some(c) => doc! { "category": c },
            None => doc! {},
        };
        let count = self.entries.count_documents(filter.clone());
        let total = op("counting catalog entries", count.into_future()).await?;
        if q.limit == 0 {
            // To MongoDB, limit 0 means no limit.
            return Ok(CatalogPage {
                entries: Vec::new(),
                total,
            });
        }
        let find = self
            .entries
            .find(filter)
            .projection(without_torrent())
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .skip(q.offset)
            .limit(signed("limit", q.limit)?)
            .into_future();
        let entries = collect("listing catalog entries", find, entry).await?;
        Ok(CatalogPage { entries, total })
    }

    pub async fn info_hashes(&self) -> StoreResult<Vec<InfoHash>> {
        let find = self
            .entries
            .find(doc! {})
            .projection(doc! { "infoHash": 1 })
            .into_future();
        collect("listing catalog info hashes", find, |d| {
            info_hash(d, "infoHash")
        })
        .await
    }

    pub async fn delete(&self, id: &str) -> StoreResult<bool> {
        let w = self.entries.delete_one(doc! { "_id": id });
        let n = op("deleting a catalog entry", w.into_future())
            .await?
            .deleted_count;
        let c = self.comments.delete_many(doc! { "entryId": id });
        op("deleting an entry's comments", c.into_future()).await?;
        Ok(n > 0)
    }

    pub async fn add_comment(&self, c: &CatalogComment) -> StoreResult<()> {
        let w = self.comments.insert_one(comment_doc(c));
        op("inserting a comment", w.into_future()).await.map(drop)
    }

    pub async fn comment(&self, id: &str) -> StoreResult<Option<CatalogComment>> {
        let r = self.comments.find_one(doc! { "_id": id });
        op("reading a comment", r.into_future())
            .await?
            .as_ref()
            .map(comment)
            .transpose()
    }

    pub async fn comments(&self, entry_id: &str) -> StoreResult<Vec<CatalogComment>> {
        let find = self
            .comments
            .find(doc! { "entryId": entry_id })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .into_future();
        collect("listing comments", find, comment).await
    }

    pub async fn delete_comment(&self, id: &str) -> StoreResult<bool> {
        let w = self.comments.delete_one(doc! { "_id": id });
        Ok(op("deleting a comment", w.into_future())
            .await?
            .deleted_count
            > 0)
    }
}
