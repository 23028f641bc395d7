//! Fast-resume records in the `resume` table.

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqlResultExt, backend_msg};
use crate::InfoHash;
use crate::store::{FileStamp, ResumeRecord, StoreResult};

pub(super) fn save(conn: &mut Connection, rec: &ResumeRecord) -> StoreResult<()> {
    let files = serde_json::to_string(&rec.files).map_err(|e| backend_msg(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO resume (info_hash, bitfield, files, saved_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (info_hash) DO UPDATE SET bitfield = excluded.bitfield, \
         files = excluded.files, saved_at = excluded.saved_at",
    )
    .db()?
    .execute(params![
        rec.info_hash.to_string(),
        rec.bitfield,
        files,
        rec.saved_at
    ])
    .db()
    .map(drop)
}

pub(super) fn get(conn: &mut Connection, hash: &InfoHash) -> StoreResult<Option<ResumeRecord>> {
    let row: Option<(Vec<u8>, String, i64)> = conn
        .prepare_cached("SELECT bitfield, files, saved_at FROM resume WHERE info_hash = ?1")
        .db()?
        .query_row(params![hash.to_string()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()
        .db()?;
    let Some((bitfield, files, saved_at)) = row else {
        return Ok(None);
    };
    let files: Vec<FileStamp> = serde_json::from_str(&files)
        .map_err(|e| backend_msg(format!("corrupt resume record of {hash}: {e}")))?;
    Ok(Some(ResumeRecord {
        info_hash: *hash,
        bitfield,
        files,
        saved_at,
    }))
}

pub(super) fn delete(conn: &mut Connection, hash: &InfoHash) -> StoreResult<bool> {
    let n = conn
        .prepare_cached("DELETE FROM resume WHERE info_hash = ?1")
        .db()?
        .execute(params![hash.to_string()])
        .db()?;
    Ok(n > 0)
}
