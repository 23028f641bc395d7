//! Fast-resume records in the `resume` collection (`_id` = info hash), one document
//! each, replaced whole.

use std::future::IntoFuture;

use mongodb::Collection;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, doc};

use super::op;
use crate::InfoHash;
use crate::store::{FileStamp, ResumeRecord, StoreError, StoreResult};

pub(super) async fn save(c: &Collection<Document>, rec: &ResumeRecord) -> StoreResult<()> {
    let files = mongodb::bson::to_bson(&rec.files)
        .map_err(|e| StoreError::Backend(format!("encoding file stamps: {e}").into()))?;
    let d = doc! {
        "_id": rec.info_hash.to_string(),
        "bitfield": Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: rec.bitfield.clone() }),
        "files": files,
        "savedAt": rec.saved_at,
    };
    super::journal::upsert(c, d, "saving a resume record").await
}

pub(super) async fn get(
    c: &Collection<Document>,
    hash: &InfoHash,
) -> StoreResult<Option<ResumeRecord>> {
    let r = c.find_one(doc! { "_id": hash.to_string() }).into_future();
    let Some(d) = op("reading a resume record", r).await? else {
        return Ok(None);
    };
    let corrupt =
        |what: &str| StoreError::Backend(format!("resume record of {hash}: {what}").into());
    let bitfield = match d.get("bitfield") {
        Some(Bson::Binary(b)) => b.bytes.clone(),
        _ => return Err(corrupt("bitfield is not binary")),
    };
    let files: Vec<FileStamp> = match d.get("files") {
        Some(b) => mongodb::bson::from_bson(b.clone()).map_err(|e| corrupt(&e.to_string()))?,
        None => return Err(corrupt("no files")),
    };
    let saved_at = d.get_i64("savedAt").map_err(|e| corrupt(&e.to_string()))?;
    Ok(Some(ResumeRecord {
        info_hash: *hash,
        bitfield,
        files,
        saved_at,
    }))
}

pub(super) async fn delete(c: &Collection<Document>, hash: &InfoHash) -> StoreResult<bool> {
    let w = c.delete_one(doc! { "_id": hash.to_string() });
    Ok(op("deleting a resume record", w.into_future())
        .await?
        .deleted_count
        > 0)
}
