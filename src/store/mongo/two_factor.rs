//! Two-factor state in the `two_factor` collection (`_id` = user id): one document per
//! user with its secret (hex), `enabled`, `lastStep` and the digests of its recovery
//! codes in an array.
//!
//! Every change is one single-document write whose filter carries its condition, so
//! the once-only rules hold without transactions: accepting a step filters on
//! `lastStep` below it, spending a recovery code filters on the array holding it and
//! `$pull`s it; a racing second call matches nothing.

use std::future::IntoFuture;

use mongodb::Collection;
use mongodb::bson::{Bson, Document, doc};

use super::docs::{corrupt, flag, int, opt_int, text};
use super::op;
use crate::store::{Millis, StoreError, StoreResult, TwoFactor};

/// A step as a 64-bit integer (a real one is about 2^26; refused, not wrapped).
fn signed(step: u64) -> StoreResult<i64> {
    i64::try_from(step)
        .map_err(|_| StoreError::Backend(format!("time step {step} does not fit").into()))
}

fn codes(list: &[String]) -> Bson {
    Bson::Array(list.iter().map(|c| Bson::String(c.clone())).collect())
}

fn record(d: &Document) -> StoreResult<TwoFactor> {
    let secret = hex::decode(text(d, "secret")?).map_err(|e| corrupt(format!("secret: {e}")))?;
    let left = match d.get("recoveryCodes") {
        None | Some(Bson::Null) => 0,
        Some(Bson::Array(a)) => a.len(),
        Some(other) => return Err(corrupt(format!("recoveryCodes is {other:?}"))),
    };
    let last_step = opt_int(d, "lastStep")?
        .map(|s| u64::try_from(s).map_err(|_| corrupt(format!("lastStep {s}"))))
        .transpose()?;
    Ok(TwoFactor {
        user_id: text(d, "_id")?,
        secret,
        enabled: flag(d, "enabled")?,
        last_step,
        recovery_codes_left: u32::try_from(left).unwrap_or(u32::MAX),
        created_at: int(d, "createdAt")?,
        enabled_at: opt_int(d, "enabledAt")?,
    })
}

pub(super) async fn get(c: &Collection<Document>, user_id: &str) -> StoreResult<Option<TwoFactor>> {
    let r = c.find_one(doc! { "_id": user_id }).into_future();
    op("reading two-factor state", r)
        .await?
        .as_ref()
        .map(record)
        .transpose()
}

pub(super) async fn set_pending(
    c: &Collection<Document>,
    user_id: &str,
    secret: &[u8],
    now: Millis,
) -> StoreResult<bool> {
    // Matches a pending document, or none: then the upsert inserts one. An enabled
    // document does not match, and the insert collides with its `_id`.
    let set = doc! { "$set": {
        "secret": hex::encode(secret), "lastStep": Bson::Null, "recoveryCodes": [],
        "createdAt": now, "enabledAt": Bson::Null,
    } };
    let w = c
        .update_one(doc! { "_id": user_id, "enabled": false }, set)
        .upsert(true);
    match op("writing a pending two-factor secret", w.into_future()).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) async fn enable(
    c: &Collection<Document>,
    user_id: &str,
    secret: &[u8],
    step: u64,
    recovery_codes: &[String],
    now: Millis,
) -> StoreResult<bool> {
    let filter = doc! { "_id": user_id, "enabled": false, "secret": hex::encode(secret) };
    let set = doc! { "$set": {
        "enabled": true, "lastStep": signed(step)?, "enabledAt": now,
        "recoveryCodes": codes(recovery_codes),
    } };
    let w = c.update_one(filter, set).into_future();
    Ok(op("enabling two-factor login", w).await?.matched_count > 0)
}

pub(super) async fn accept_step(
    c: &Collection<Document>,
    user_id: &str,
    step: u64,
) -> StoreResult<bool> {
    let step = signed(step)?;
    // An enabled document always has a `lastStep` (enabling writes the confirming
    // code's), so "below it" is the whole condition. (An `$or` with the null case
    // would say the same, but nx-27017, the test server, let it match another
    // user's document in an update.)
    let filter = doc! { "_id": user_id, "enabled": true, "lastStep": { "$lt": step } };
    let w = c
        .update_one(filter, doc! { "$set": { "lastStep": step } })
        .into_future();
    Ok(op("accepting a time step", w).await?.modified_count > 0)
}

pub(super) async fn use_code(
    c: &Collection<Document>,
    user_id: &str,
    digest: &str,
) -> StoreResult<bool> {
    let filter = doc! { "_id": user_id, "enabled": true, "recoveryCodes": digest };
    let w = c
        .update_one(filter, doc! { "$pull": { "recoveryCodes": digest } })
        .into_future();
    Ok(op("spending a recovery code", w).await?.modified_count > 0)
}

pub(super) async fn replace_codes(
    c: &Collection<Document>,
    user_id: &str,
    recovery_codes: &[String],
) -> StoreResult<bool> {
    let w = c
        .update_one(
            doc! { "_id": user_id, "enabled": true },
            doc! { "$set": { "recoveryCodes": codes(recovery_codes) } },
        )
        .into_future();
    Ok(op("replacing recovery codes", w).await?.matched_count > 0)
}

pub(super) async fn delete(c: &Collection<Document>, user_id: &str) -> StoreResult<bool> {
    let w = c.delete_one(doc! { "_id": user_id }).into_future();
    Ok(op("deleting two-factor state", w).await?.deleted_count > 0)
}
