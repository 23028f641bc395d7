//! The media library in the `media` table: one row per movie, show or episode, its
//! active assignment in the `assign_*` columns.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqlResultExt, backend_msg};
use crate::store::{Assignment, MediaItem, MediaKind, StoreResult};

const COLUMNS: &str = "id, owner_id, kind, title, year, show_id, season, episode, \
    assign_info_hash, assign_file_index, assign_file_path, assign_size, \
    assign_resolution, assign_source, assign_at, created_at";

impl ToSql for MediaKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for MediaKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        MediaKind::parse(s)
            .ok_or_else(|| FromSqlError::Other(format!("unknown media kind {s:?}").into()))
    }
}

/// A count or size as SQLite's signed integer; one beyond `i64` is refused, not wrapped.
fn signed(what: &str, v: u64) -> StoreResult<i64> {
    i64::try_from(v).map_err(|_| backend_msg(format!("{what} {v} does not fit in SQLite")))
}

fn unsigned<T: TryFrom<i64>>(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<T>> {
    row.get::<_, Option<i64>>(i)?
        .map(|v| {
            T::try_from(v).map_err(|_| {
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Integer,
                    format!("{v} is out of range").into(),
                )
            })
        })
        .transpose()
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<MediaItem> {
    let assignment = match row.get::<_, Option<crate::InfoHash>>(8)? {
        None => None,
        Some(info_hash) => Some(Assignment {
            info_hash,
            file_index: unsigned(row, 9)?.unwrap_or_default(),
            file_path: row.get(10)?,
            size: unsigned(row, 11)?.unwrap_or_default(),
            resolution: row.get(12)?,
            source: row.get(13)?,
            assigned_at: row.get(14)?,
        }),
    };
    Ok(MediaItem {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        kind: row.get(2)?,
        title: row.get(3)?,
        year: unsigned(row, 4)?,
        show_id: row.get(5)?,
        season: unsigned(row, 6)?,
        episode: unsigned(row, 7)?,
        assignment,
        created_at: row.get(15)?,
    })
}

/// Inserts or replaces the row in place (an upsert, not `INSERT OR REPLACE`, which
/// deletes the old row first).
pub(super) fn put(conn: &mut Connection, m: &MediaItem) -> StoreResult<()> {
    let a = m.assignment.as_ref();
    let index = a
        .map(|a| signed("file index", a.file_index as u64))
        .transpose()?;
    let size = a.map(|a| signed("file size", a.size)).transpose()?;
    let sql = format!(
        "INSERT INTO media ({COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
         ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, kind = excluded.kind, \
         title = excluded.title, year = excluded.year, show_id = excluded.show_id, \
         season = excluded.season, episode = excluded.episode, \
         assign_info_hash = excluded.assign_info_hash, \
         assign_file_index = excluded.assign_file_index, \
         assign_file_path = excluded.assign_file_path, assign_size = excluded.assign_size, \
         assign_resolution = excluded.assign_resolution, \
         assign_source = excluded.assign_source, assign_at = excluded.assign_at, \
         created_at = excluded.created_at"
    );
    conn.prepare_cached(&sql)
        .db()?
        .execute(params![
            m.id,
            m.owner_id,
            m.kind,
            m.title,
            m.year,
            m.show_id,
            m.season,
            m.episode,
            a.map(|a| a.info_hash),
            index,
            a.map(|a| &a.file_path),
            size,
            a.and_then(|a| a.resolution.as_ref()),
            a.and_then(|a| a.source.as_ref()),
            a.map(|a| a.assigned_at),
            m.created_at,
        ])
        .db()
        .map(drop)
}

pub(super) fn get(conn: &mut Connection, id: &str) -> StoreResult<Option<MediaItem>> {
    let sql = format!("SELECT {COLUMNS} FROM media WHERE id = ?1");
    conn.prepare_cached(&sql)
        .db()?
        .query_row([id], from_row)
        .optional()
        .db()
}

pub(super) fn list(conn: &mut Connection, owner_id: &str) -> StoreResult<Vec<MediaItem>> {
    let sql = format!("SELECT {COLUMNS} FROM media WHERE owner_id = ?1 ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([owner_id], from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// Deletes the item and, for a show, its episodes, in one transaction.
pub(super) fn delete(conn: &mut Connection, id: &str) -> StoreResult<bool> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    tx.execute("DELETE FROM media WHERE show_id = ?1", [id])
        .db()?;
    let n = tx.execute("DELETE FROM media WHERE id = ?1", [id]).db()?;
    tx.commit().db()?;
    Ok(n > 0)
}
