//! The tracker's accounts in `tracker_accounts` (passkeys and transfer totals) and its
//! completed-download counts in `tracker_completions`.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqlResultExt, backend_msg};
use crate::InfoHash;
use crate::store::StoreResult;

pub(super) fn passkey_of(c: &mut Connection, user: &str) -> StoreResult<Option<String>> {
    c.query_row(
        "SELECT passkey FROM tracker_accounts WHERE user_id = ?1",
        [user],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
    .db()
    .map(Option::flatten)
}

pub(super) fn user_of_passkey(c: &mut Connection, key: &str) -> StoreResult<Option<String>> {
    c.query_row(
        "SELECT user_id FROM tracker_accounts WHERE passkey = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
    .db()
}

pub(super) fn insert_passkey(c: &mut Connection, user: &str, key: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO tracker_accounts (user_id, passkey) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET passkey = excluded.passkey WHERE passkey IS NULL",
        params![user, key],
    )
    .or_conflict(|| "passkey".into())?;
    Ok(())
}

pub(super) fn replace_passkey(c: &mut Connection, user: &str, key: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO tracker_accounts (user_id, passkey) VALUES (?1, ?2)
         ON CONFLICT (user_id) DO UPDATE SET passkey = excluded.passkey",
        params![user, key],
    )
    .or_conflict(|| "passkey".into())?;
    Ok(())
}

fn signed(v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| backend_msg(format!("transfer {v} does not fit in SQLite")))
}

pub(super) fn add_transfer(c: &mut Connection, user: &str, up: u64, down: u64) -> StoreResult<()> {
    c.execute(
        "INSERT INTO tracker_accounts (user_id, uploaded, downloaded) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET
             uploaded = min(uploaded + excluded.uploaded, 9223372036854775807),
             downloaded = min(downloaded + excluded.downloaded, 9223372036854775807)",
        params![user, signed(up)?, signed(down)?],
    )
    .db()?;
    Ok(())
}

pub(super) fn transfer_totals(c: &mut Connection, user: &str) -> StoreResult<(u64, u64)> {
    let row: Option<(i64, i64)> = c
        .query_row(
            "SELECT uploaded, downloaded FROM tracker_accounts WHERE user_id = ?1",
            [user],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .db()?;
    let (up, down) = row.unwrap_or_default();
    Ok((up.max(0) as u64, down.max(0) as u64))
}

/// One transaction for the batch: a flush is all written or not at all.
pub(super) fn add_completions(c: &mut Connection, counts: &[(InfoHash, u64)]) -> StoreResult<()> {
    let tx = c.transaction().db()?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO tracker_completions (info_hash, completed) VALUES (?1, ?2)
                 ON CONFLICT (info_hash) DO UPDATE SET
                     completed = min(completed + excluded.completed, 9223372036854775807)",
            )
            .db()?;
        for (hash, n) in counts {
            stmt.execute(params![hash, signed(*n)?]).db()?;
        }
    }
    tx.commit().db()
}

pub(super) fn completions(c: &mut Connection) -> StoreResult<Vec<(InfoHash, u64)>> {
    let mut stmt = c
        .prepare_cached("SELECT info_hash, completed FROM tracker_completions WHERE completed > 0")
        .db()?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))
        .db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

pub(super) fn clear_completions(c: &mut Connection, hash: &InfoHash) -> StoreResult<()> {
    c.execute(
        "DELETE FROM tracker_completions WHERE info_hash = ?1",
        [hash],
    )
    .db()?;
    Ok(())
}
