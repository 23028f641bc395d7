//! Two-factor state in the `two_factor` and `recovery_codes` tables. The once-only
//! rules are conditional statements: SQLite runs each one whole, so of two racing
//! calls the second finds the condition false.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqlResultExt, backend_msg};
use crate::store::{Millis, StoreResult, TwoFactor};

/// A step as SQLite's signed integer (a real one is about 2^26; refused, not wrapped).
fn signed(step: u64) -> StoreResult<i64> {
    i64::try_from(step).map_err(|_| backend_msg(format!("time step {step} does not fit")))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<TwoFactor> {
    let step: Option<i64> = row.get(3)?;
    let left: i64 = row.get(6)?;
    Ok(TwoFactor {
        user_id: row.get(0)?,
        secret: row.get(1)?,
        enabled: row.get(2)?,
        last_step: step.map(|s| s.max(0) as u64),
        recovery_codes_left: u32::try_from(left).unwrap_or(u32::MAX),
        created_at: row.get(4)?,
        enabled_at: row.get(5)?,
    })
}

pub(super) fn get(conn: &mut Connection, user_id: &str) -> StoreResult<Option<TwoFactor>> {
    let sql = "SELECT t.user_id, t.secret, t.enabled, t.last_step, t.created_at, t.enabled_at,
                      (SELECT COUNT(*) FROM recovery_codes r WHERE r.user_id = t.user_id)
               FROM two_factor t WHERE t.user_id = ?1";
    conn.query_row(sql, [user_id], from_row).optional().db()
}

pub(super) fn set_pending(
    conn: &mut Connection,
    user_id: &str,
    secret: &[u8],
    now: Millis,
) -> StoreResult<bool> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    // The upsert's WHERE leaves an enabled row untouched (0 rows changed).
    let sql = "INSERT INTO two_factor (user_id, secret, enabled, last_step, created_at, enabled_at)
               VALUES (?1, ?2, 0, NULL, ?3, NULL)
               ON CONFLICT (user_id) DO UPDATE SET
                   secret = excluded.secret, last_step = NULL,
                   created_at = excluded.created_at, enabled_at = NULL
               WHERE enabled = 0";
    let written = tx.execute(sql, params![user_id, secret, now]).db()? > 0;
    if written {
        tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])
            .db()?;
    }
    tx.commit().db()?;
    Ok(written)
}

pub(super) fn enable(
    conn: &mut Connection,
    user_id: &str,
    secret: &[u8],
    step: u64,
    codes: &[String],
    now: Millis,
) -> StoreResult<bool> {
    let step = signed(step)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let sql = "UPDATE two_factor SET enabled = 1, last_step = ?3, enabled_at = ?4
               WHERE user_id = ?1 AND enabled = 0 AND secret = ?2";
    let enabled = tx.execute(sql, params![user_id, secret, step, now]).db()? > 0;
    if enabled {
        insert_codes(&tx, user_id, codes)?;
    }
    tx.commit().db()?;
    Ok(enabled)
}

fn insert_codes(
    tx: &rusqlite::Transaction<'_>,
    user_id: &str,
    codes: &[String],
) -> StoreResult<()> {
    tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])
        .db()?;
    let mut insert = tx
        .prepare("INSERT OR IGNORE INTO recovery_codes (user_id, digest) VALUES (?1, ?2)")
        .db()?;
    for code in codes {
        insert.execute(params![user_id, code]).db()?;
    }
    Ok(())
}

pub(super) fn accept_step(conn: &mut Connection, user_id: &str, step: u64) -> StoreResult<bool> {
    let sql = "UPDATE two_factor SET last_step = ?2
               WHERE user_id = ?1 AND enabled = 1 AND (last_step IS NULL OR last_step < ?2)";
    Ok(conn.execute(sql, params![user_id, signed(step)?]).db()? > 0)
}

pub(super) fn use_code(conn: &mut Connection, user_id: &str, digest: &str) -> StoreResult<bool> {
    // Codes exist only while two-factor login is enabled: disabling deletes them.
    let sql = "DELETE FROM recovery_codes WHERE user_id = ?1 AND digest = ?2";
    Ok(conn.execute(sql, params![user_id, digest]).db()? > 0)
}

pub(super) fn replace_codes(
    conn: &mut Connection,
    user_id: &str,
    codes: &[String],
) -> StoreResult<bool> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let enabled: Option<bool> = tx
        .query_row(
            "SELECT enabled FROM two_factor WHERE user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()
        .db()?;
    if enabled != Some(true) {
        return Ok(false);
    }
    insert_codes(&tx, user_id, codes)?;
    tx.commit().db()?;
    Ok(true)
}

pub(super) fn delete(conn: &mut Connection, user_id: &str) -> StoreResult<bool> {
    // Its recovery codes go with it (ON DELETE CASCADE).
    let n = conn
        .execute("DELETE FROM two_factor WHERE user_id = ?1", [user_id])
        .db()?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::{SqliteStore, rows, schema};
    use crate::store::{Role, Store, User};

    fn user() -> User {
        User {
            id: "u-1".into(),
            username: "alice".into(),
            password_hash: "h".into(),
            role: Role::User,
            created_at: 1,
        }
    }

    /// A database left by a version-6 build gains the two-factor tables and keeps its
    /// users.
    #[tokio::test]
    async fn a_version_6_database_gains_two_factor_login() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.sqlite");
        {
            let mut raw = Connection::open(&path).expect("raw open");
            let tx = raw.transaction().expect("tx");
            for sql in &schema::MIGRATIONS[..6] {
                tx.execute_batch(sql).expect("schema");
            }
            tx.pragma_update(None, "user_version", 6).expect("version");
            rows::insert_user(&tx, &user()).expect("user");
            tx.commit().expect("commit");
        }
        let store = SqliteStore::open(&path).expect("open v6");
        assert_eq!(store.list_users().await.expect("users"), vec![user()]);
        assert!(
            store
                .set_pending_two_factor("u-1", &[7; 20], 5)
                .await
                .unwrap()
        );
        let got = store.two_factor("u-1").await.unwrap().expect("row");
        assert_eq!((got.enabled, got.secret), (false, vec![7; 20]));
        drop(store);
        let raw = Connection::open(&path).expect("raw reopen");
        assert!(schema::schema_version(&raw).expect("version") >= 7);
    }
}
