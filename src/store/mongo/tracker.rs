//! The tracker's accounts: `passkeys` (`_id` = user id, unique `passkey`) and
//! `tracker_transfers` (`_id` = user id, `uploaded`, `downloaded`). Two collections so
//! that every `passkeys` document has a passkey and a plain unique index suffices.
//! `tracker_completions` (`_id` = info hash, `completed`) counts finished downloads.

use std::future::IntoFuture;

use mongodb::Collection;
use mongodb::bson::{Document, doc};

use super::docs::{info_hash, int, text};
use super::op;
use crate::InfoHash;
use crate::store::{StoreError, StoreResult};

pub(super) async fn passkey_of(
    c: &Collection<Document>,
    user: &str,
) -> StoreResult<Option<String>> {
    let r = c.find_one(doc! { "_id": user }).into_future();
    op("reading a passkey", r)
        .await?
        .map(|d| text(&d, "passkey"))
        .transpose()
}

pub(super) async fn user_of_passkey(
    c: &Collection<Document>,
    key: &str,
) -> StoreResult<Option<String>> {
    let r = c.find_one(doc! { "passkey": key }).into_future();
    op("reading a passkey", r)
        .await?
        .map(|d| text(&d, "_id"))
        .transpose()
}

pub(super) async fn insert_passkey(
    c: &Collection<Document>,
    user: &str,
    key: &str,
) -> StoreResult<()> {
    let w = c
        .insert_one(doc! { "_id": user, "passkey": key })
        .into_future();
    match op("inserting a passkey", w).await {
        Ok(_) => Ok(()),
        // The user has one already (the first wins), or another user has this one.
        Err(StoreError::Conflict(e)) => match passkey_of(c, user).await? {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict(e)),
        },
        Err(e) => Err(e),
    }
}

pub(super) async fn replace_passkey(
    c: &Collection<Document>,
    user: &str,
    key: &str,
) -> StoreResult<()> {
    let w = c
        .update_one(doc! { "_id": user }, doc! { "$set": { "passkey": key } })
        .upsert(true)
        .into_future();
    op("replacing a passkey", w).await.map(drop)
}

fn signed(v: u64) -> StoreResult<i64> {
    i64::try_from(v)
        .map_err(|_| StoreError::Backend(format!("transfer {v} does not fit in MongoDB").into()))
}

pub(super) async fn add_transfer(
    c: &Collection<Document>,
    user: &str,
    up: u64,
    down: u64,
) -> StoreResult<()> {
    let w = c
        .update_one(
            doc! { "_id": user },
            doc! { "$inc": { "uploaded": signed(up)?, "downloaded": signed(down)? } },
        )
        .upsert(true)
        .into_future();
    op("adding tracker transfers", w).await.map(drop)
}

pub(super) async fn transfer_totals(
    c: &Collection<Document>,
    user: &str,
) -> StoreResult<(u64, u64)> {
    let r = c.find_one(doc! { "_id": user }).into_future();
    let Some(d) = op("reading tracker transfers", r).await? else {
        return Ok((0, 0));
    };
    Ok((
        int(&d, "uploaded")?.max(0) as u64,
        int(&d, "downloaded")?.max(0) as u64,
    ))
}

/// One `$inc` per hash: each is atomic; a failed batch is retried whole by the tracker,
/// which may count a hash written before the failure twice (a restart's worth at most).
pub(super) async fn add_completions(
    c: &Collection<Document>,
    counts: &[(InfoHash, u64)],
) -> StoreResult<()> {
    for (hash, n) in counts {
        let w = c
            .update_one(
                doc! { "_id": hash.to_string() },
                doc! { "$inc": { "completed": signed(*n)? } },
            )
            .upsert(true)
            .into_future();
        op("adding tracker completions", w).await?;
    }
    Ok(())
}

pub(super) async fn completions(c: &Collection<Document>) -> StoreResult<Vec<(InfoHash, u64)>> {
    let find = c.find(doc! { "completed": { "$gt": 0 } }).into_future();
    super::collect("reading tracker completions", find, |d| {
        Ok((info_hash(d, "_id")?, int(d, "completed")?.max(0) as u64))
    })
    .await
}
