//! Rows: column conversions, the mapping between rows and the store's records, and the
//! user and refresh-token queries.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{SqlResultExt, count};
use crate::InfoHash;
use crate::store::{Consumed, Millis, Priority, RefreshToken, Role, StoreResult, User};

pub(super) const USER_COLUMNS: &str = "id, username, password_hash, role, created_at";

pub(super) const TOKEN_COLUMNS: &str =
    "token_hash, user_id, family_id, created_at, expires_at, used_at, revoked";

// --- column conversions ----------------------------------------------------------------

impl ToSql for Role {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Role {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        Role::parse(s).ok_or_else(|| FromSqlError::Other(format!("unknown role {s:?}").into()))
    }
}

impl ToSql for InfoHash {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.to_string().into())
    }
}

impl FromSql for InfoHash {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        InfoHash::parse(s).map_err(|e| FromSqlError::Other(format!("{s:?}: {e}").into()))
    }
}

impl ToSql for Priority {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Priority {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        Priority::parse(s)
            .ok_or_else(|| FromSqlError::Other(format!("unknown priority {s:?}").into()))
    }
}

/// A value kept as JSON in a TEXT column (`initial_peers`, `options`): borrowed when
/// writing, owned when reading.
pub(super) struct JsonText<T>(pub T);

impl<T: serde::Serialize + ?Sized> ToSql for JsonText<&T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        serde_json::to_string(self.0)
            .map(ToSqlOutput::from)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
    }
}

impl<T: serde::de::DeserializeOwned> FromSql for JsonText<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?)
            .map(JsonText)
            .map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        password_hash: row.get(2)?,
        role: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        token_hash: row.get(0)?,
        user_id: row.get(1)?,
        family_id: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
        used_at: row.get(5)?,
        revoked: row.get(6)?,
    })
}

// --- operations (run on the blocking pool) -----------------------------------------------

pub(super) fn insert_user(conn: &Connection, u: &User) -> StoreResult<()> {
    conn.execute(
        &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![u.id, u.username, u.password_hash, u.role, u.created_at],
    )
    .or_conflict(|| format!("user {:?} (id {})", u.username, u.id))?;
    Ok(())
}

pub(super) fn find_user(
    conn: &Connection,
    key_column: &str,
    key: &str,
) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {key_column} = ?1");
    conn.query_row(&sql, [key], user_from_row).optional().db()
}

pub(super) fn all_users(conn: &Connection) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([], user_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

pub(super) fn insert_token(conn: &Connection, t: &RefreshToken) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO refresh_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            t.token_hash,
            t.user_id,
            t.family_id,
            t.created_at,
            t.expires_at,
            t.used_at,
            t.revoked
        ],
    )
    .or_conflict(|| "refresh token hash".to_owned())?;
    Ok(())
}

/// Spends the token if unspent (one guarded UPDATE), then reads it back, all in one
/// write transaction so no other writer can interleave.
pub(super) fn consume_token(
    conn: &mut Connection,
    hash: &str,
    now: Millis,
) -> StoreResult<Consumed> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let spent_now = tx
        .execute(
            "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
            params![hash, now],
        )
        .db()?
        == 1;
    let found = read_token(&tx, hash)?;
    tx.commit().db()?;
    Ok(match found {
        None => Consumed::Unknown,
        // The UPDATE only matched an unspent row, so "before" had no `used_at`.
        Some(t) if spent_now => Consumed::Fresh(RefreshToken { used_at: None, ..t }),
        Some(t) => Consumed::Reused(t),
    })
}

fn read_token(tx: &Transaction<'_>, hash: &str) -> StoreResult<Option<RefreshToken>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = ?1");
    tx.query_row(&sql, [hash], token_from_row).optional().db()
}

/// Revokes the still-unrevoked tokens whose `key_column` equals `key`.
pub(super) fn revoke_tokens(conn: &Connection, key_column: &str, key: &str) -> StoreResult<u64> {
    let sql =
        format!("UPDATE refresh_tokens SET revoked = 1 WHERE {key_column} = ?1 AND revoked = 0");
    conn.execute(&sql, [key]).db().map(count)
}

pub(super) fn settings(conn: &mut Connection) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare_cached("SELECT key, value FROM settings ORDER BY key")
        .db()?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

pub(super) fn save_settings(
    conn: &mut Connection,
    settings: &[(String, String)],
) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .db()?;
        for (key, value) in settings {
            stmt.execute(params![key, value]).db()?;
        }
    }
    tx.commit().db()
}
