//! The torrent catalog in the `catalog` and `catalog_comments` tables. Tags and files
//! are JSON arrays in their columns: they are always read whole with their entry.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqlResultExt, backend_msg};
use crate::InfoHash;
use crate::store::{
    CatalogComment, CatalogEntry, CatalogFile, CatalogPage, CatalogQuery, StoreError, StoreResult,
};

const COLUMNS: &str = "id, info_hash, title, description, category, tags, uploader_id, created_at, total_bytes, files";
const COMMENT_COLUMNS: &str = "id, entry_id, author_id, body, created_at";

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<CatalogEntry> {
    let total: i64 = row.get(8)?;
    Ok(CatalogEntry {
        id: row.get(0)?,
        info_hash: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
        category: row.get(4)?,
        tags: json_column(row, 5)?,
        uploader_id: row.get(6)?,
        created_at: row.get(7)?,
        // The column's CHECK keeps it non-negative.
        total_bytes: total.max(0) as u64,
        files: json_column::<Vec<CatalogFile>>(row, 9)?,
    })
}

fn comment_row(row: &Row<'_>) -> rusqlite::Result<CatalogComment> {
    Ok(CatalogComment {
        id: row.get(0)?,
        entry_id: row.get(1)?,
        author_id: row.get(2)?,
        body: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(StoreError::backend)
}

pub(super) fn insert(conn: &mut Connection, e: &CatalogEntry, torrent: &[u8]) -> StoreResult<()> {
    let total = i64::try_from(e.total_bytes)
        .map_err(|_| backend_msg(format!("size {} does not fit in SQLite", e.total_bytes)))?;
    let sql = format!(
        "INSERT INTO catalog ({COLUMNS}, torrent) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    );
    conn.prepare_cached(&sql)
        .db()?
        .execute(params![
            e.id,
            e.info_hash,
            e.title,
            e.description,
            e.category,
            to_json(&e.tags)?,
            e.uploader_id,
            e.created_at,
            total,
            to_json(&e.files)?,
            torrent,
        ])
        .or_conflict(|| format!("catalog entry for info hash {}", e.info_hash))
        .map(drop)
}

pub(super) fn get(
    conn: &mut Connection,
    key: &str,
    value: &str,
) -> StoreResult<Option<CatalogEntry>> {
    // `key` is one of this module's column names, never input.
    let sql = format!("SELECT {COLUMNS} FROM catalog WHERE {key} = ?1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([value], from_row)
        .optional()
        .db()
}

pub(super) fn torrent(conn: &mut Connection, id: &str) -> StoreResult<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT torrent FROM catalog WHERE id = ?1")
        .db()?
        .query_row([id], |r| r.get(0))
        .optional()
        .db()
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn list(conn: &mut Connection, q: &CatalogQuery) -> StoreResult<CatalogPage> {
    // `?1 IS NULL OR category = ?1`: one statement (and one cached plan) for both.
    let filter = "WHERE (?1 IS NULL OR category = ?1)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM catalog {filter}"))
        .db()?
        .query_row([&q.category], |r| r.get(0))
        .db()?;
    let sql = format!(
        "SELECT {COLUMNS} FROM catalog {filter} ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt
        .query_map(
            params![q.category, signed(q.limit), signed(q.offset)],
            from_row,
        )
        .db()?;
    Ok(CatalogPage {
        entries: rows.collect::<rusqlite::Result<_>>().db()?,
        total: total.max(0) as u64,
    })
}

pub(super) fn info_hashes(conn: &mut Connection) -> StoreResult<Vec<InfoHash>> {
    let mut stmt = conn.prepare_cached("SELECT info_hash FROM catalog").db()?;
    let rows = stmt.query_map([], |r| r.get(0)).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// The comments go with the entry (`ON DELETE CASCADE`, in the same statement).
pub(super) fn delete(conn: &mut Connection, id: &str) -> StoreResult<bool> {
    let n = conn
        .execute("DELETE FROM catalog WHERE id = ?1", [id])
        .db()?;
    Ok(n > 0)
}

pub(super) fn add_comment(conn: &mut Connection, c: &CatalogComment) -> StoreResult<()> {
    let sql =
        format!("INSERT INTO catalog_comments ({COMMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)");
    conn.prepare_cached(&sql)
        .db()?
        .execute(params![c.id, c.entry_id, c.author_id, c.body, c.created_at])
        .or_conflict(|| format!("comment {}", c.id))
        .map(drop)
}

pub(super) fn comment(conn: &mut Connection, id: &str) -> StoreResult<Option<CatalogComment>> {
    let sql = format!("SELECT {COMMENT_COLUMNS} FROM catalog_comments WHERE id = ?1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([id], comment_row)
        .optional()
        .db()
}

pub(super) fn comments(conn: &mut Connection, entry_id: &str) -> StoreResult<Vec<CatalogComment>> {
    let sql = format!(
        "SELECT {COMMENT_COLUMNS} FROM catalog_comments WHERE entry_id = ?1 ORDER BY created_at, id"
    );
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([entry_id], comment_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

pub(super) fn delete_comment(conn: &mut Connection, id: &str) -> StoreResult<bool> {
    let n = conn
        .execute("DELETE FROM catalog_comments WHERE id = ?1", [id])
        .db()?;
    Ok(n > 0)
}
