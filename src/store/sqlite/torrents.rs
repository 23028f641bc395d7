//! Torrents and events: the one durable step ([`commit`]) and the outbox.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use rusqlite::{named_params, params};

use super::rows::JsonText;
use super::{SqlResultExt, backend_msg, count};
use crate::InfoHash;
use crate::store::{Commit, OutboxRecord, StoreError, StoreResult, TorrentOptions, TorrentRecord};

/// The `meta` row holding the highest event seq ever committed.
const EVENT_SEQ_KEY: &str = "event_seq";

const TORRENT_COLUMNS: &str = "info_hash, owner_id, name, magnet, torrent_bytes, \
     initial_peers, priority, paused, added_at, completed_at, seeding_stopped_at, \
     total_bytes, downloaded_bytes, uploaded_bytes, error, announced_pieces, save_dir, options";

/// The plain insert of a whole torrent row; a macro so `concat!` can extend it.
macro_rules! insert_torrent_sql {
    () => {
        "INSERT INTO torrents (info_hash, owner_id, name, magnet, torrent_bytes, \
         initial_peers, priority, paused, added_at, completed_at, seeding_stopped_at, \
         total_bytes, downloaded_bytes, uploaded_bytes, error, announced_pieces, save_dir, options) \
         VALUES (:info_hash, :owner_id, :name, :magnet, :torrent_bytes, :initial_peers, \
         :priority, :paused, :added_at, :completed_at, :seeding_stopped_at, :total_bytes, \
         :downloaded_bytes, :uploaded_bytes, :error, :announced_pieces, :save_dir, :options)"
    };
}

const INSERT_TORRENT: &str = insert_torrent_sql!();

/// Insert, or replace every column but the key of an existing row.
const UPSERT_TORRENT: &str = concat!(
    insert_torrent_sql!(),
    " ON CONFLICT (info_hash) DO UPDATE SET owner_id = excluded.owner_id, \
     name = excluded.name, magnet = excluded.magnet, torrent_bytes = excluded.torrent_bytes, \
     initial_peers = excluded.initial_peers, priority = excluded.priority, \
     paused = excluded.paused, added_at = excluded.added_at, \
     completed_at = excluded.completed_at, seeding_stopped_at = excluded.seeding_stopped_at, \
     total_bytes = excluded.total_bytes, downloaded_bytes = excluded.downloaded_bytes, \
     uploaded_bytes = excluded.uploaded_bytes, error = excluded.error, \
     announced_pieces = excluded.announced_pieces, save_dir = excluded.save_dir, \
     options = excluded.options"
);

fn torrent_from_row(row: &Row<'_>) -> rusqlite::Result<TorrentRecord> {
    Ok(TorrentRecord {
        info_hash: row.get(0)?,
        owner_id: row.get(1)?,
        name: row.get(2)?,
        magnet: row.get(3)?,
        torrent_bytes: row.get::<_, Option<Vec<u8>>>(4)?.map(bytes::Bytes::from),
        initial_peers: row.get::<_, JsonText<Vec<String>>>(5)?.0,
        priority: row.get(6)?,
        paused: row.get(7)?,
        added_at: row.get(8)?,
        completed_at: row.get(9)?,
        seeding_stopped_at: row.get(10)?,
        total_bytes: row.get(11)?,
        downloaded_bytes: row.get(12)?,
        uploaded_bytes: row.get(13)?,
        error: row.get(14)?,
        announced_pieces: row.get(15)?,
        save_dir: row.get(16)?,
        options: row.get::<_, JsonText<TorrentOptions>>(17)?.0,
    })
}

fn write_torrent(tx: &Transaction<'_>, sql: &str, t: &TorrentRecord) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(named_params! {
        ":info_hash": t.info_hash,
        ":owner_id": t.owner_id,
        ":name": t.name,
        ":magnet": t.magnet,
        ":torrent_bytes": t.torrent_bytes.as_deref(),
        ":initial_peers": JsonText(t.initial_peers.as_slice()),
        ":priority": t.priority,
        ":paused": t.paused,
        ":added_at": t.added_at,
        ":completed_at": t.completed_at,
        ":seeding_stopped_at": t.seeding_stopped_at,
        ":total_bytes": t.total_bytes,
        ":downloaded_bytes": t.downloaded_bytes,
        ":uploaded_bytes": t.uploaded_bytes,
        ":error": t.error,
        ":announced_pieces": t.announced_pieces,
        ":save_dir": t.save_dir,
        ":options": JsonText(&t.options),
    })
}

pub(super) fn find(conn: &Connection, info_hash: &InfoHash) -> StoreResult<Option<TorrentRecord>> {
    let sql = format!("SELECT {TORRENT_COLUMNS} FROM torrents WHERE info_hash = ?1");
    conn.query_row(&sql, [info_hash], torrent_from_row)
        .optional()
        .db()
}

pub(super) fn all(conn: &Connection) -> StoreResult<Vec<TorrentRecord>> {
    let sql = format!("SELECT {TORRENT_COLUMNS} FROM torrents ORDER BY added_at, info_hash");
    let mut stmt = conn.prepare_cached(&sql).db()?;
    let rows = stmt.query_map([], torrent_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// A sequence number as stored: above `i64::MAX` is an error, never a wrap.
fn seq_to_sql(seq: u64) -> StoreResult<i64> {
    i64::try_from(seq).map_err(|_| {
        backend_msg(format!(
            "event seq {seq} exceeds the largest storable value {}",
            i64::MAX
        ))
    })
}

fn read_mark(conn: &Connection) -> StoreResult<u64> {
    let mark: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [EVENT_SEQ_KEY],
            |r| r.get(0),
        )
        .optional()
        .db()?
        .ok_or_else(|| backend_msg("the event_seq counter row is missing"))?;
    u64::try_from(mark).map_err(|_| backend_msg(format!("corrupt event_seq counter {mark}")))
}

pub(super) fn seq_mark(conn: &mut Connection) -> StoreResult<u64> {
    read_mark(conn)
}

/// The whole commit in one write transaction; any failure rolls every part back
/// (dropping `tx` on an early return rolls back).
pub(super) fn commit(conn: &mut Connection, c: &Commit) -> StoreResult<u64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    for t in &c.insert {
        write_torrent(&tx, INSERT_TORRENT, t).or_conflict(|| format!("torrent {}", t.info_hash))?;
    }
    for t in &c.save {
        write_torrent(&tx, UPSERT_TORRENT, t).db()?;
    }
    let mut deleted = 0;
    for hash in &c.delete {
        deleted += count(
            tx.prepare_cached("DELETE FROM torrents WHERE info_hash = ?1")
                .db()?
                .execute([hash])
                .db()?,
        );
    }
    append_events(&tx, &c.events)?;
    tx.commit().db()?;
    Ok(deleted)
}

/// Appends events whose seqs ascend above the mark, and raises the mark to the last.
fn append_events(tx: &Transaction<'_>, events: &[OutboxRecord]) -> StoreResult<()> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let mut mark = read_mark(tx)?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (seq, key, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .db()?;
    for e in events {
        if e.seq <= mark {
            return Err(StoreError::Conflict(format!(
                "event seq {} is not above {mark}, the last one committed",
                e.seq
            )));
        }
        stmt.execute(params![seq_to_sql(e.seq)?, e.key, e.payload, e.created_at])
            .or_conflict(|| format!("outbox event seq {}", e.seq))?;
        mark = e.seq;
    }
    tx.execute(
        "UPDATE meta SET value = ?2 WHERE key = ?1",
        params![EVENT_SEQ_KEY, seq_to_sql(last.seq)?],
    )
    .db()?;
    Ok(())
}

fn outbox_from_row(row: &Row<'_>) -> rusqlite::Result<OutboxRecord> {
    Ok(OutboxRecord {
        seq: row.get(0)?,
        key: row.get(1)?,
        payload: row.get(2)?,
        created_at: row.get(3)?,
    })
}

pub(super) fn peek_outbox(conn: &Connection, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
    // Beyond i64::MAX rows is "everything" anyway.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached("SELECT seq, key, payload, created_at FROM outbox ORDER BY seq LIMIT ?1")
        .db()?;
    let rows = stmt.query_map([limit], outbox_from_row).db()?;
    rows.collect::<rusqlite::Result<_>>().db()
}

/// Deletes by seq with one prepared statement in one transaction (no IN-list size
/// limit to worry about); a seq listed twice counts once.
pub(super) fn remove_outbox(conn: &mut Connection, seqs: &[u64]) -> StoreResult<u64> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .db()?;
    let mut removed = 0;
    {
        let mut stmt = tx
            .prepare_cached("DELETE FROM outbox WHERE seq = ?1")
            .db()?;
        for &seq in seqs {
            removed += count(stmt.execute([seq_to_sql(seq)?]).db()?);
        }
    }
    tx.commit().db()?;
    Ok(removed)
}

pub(super) fn remove_outbox_through(conn: &mut Connection, seq: u64) -> StoreResult<u64> {
    // Every stored seq is at most i64::MAX, so a larger bound means all of them.
    let bound = i64::try_from(seq).unwrap_or(i64::MAX);
    conn.execute("DELETE FROM outbox WHERE seq <= ?1", [bound])
        .db()
        .map(count)
}
