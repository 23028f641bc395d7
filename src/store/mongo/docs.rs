//! Records as documents, and back.
//!
//! Field names are camelCase, as the REST API spells them; every key is `_id` (user id,
//! token hash, info hash, event seq). Numbers are written as 64-bit integers and read
//! as any BSON number: a server may hand small values back as 32-bit ones (the
//! nx-27017 test server does, real MongoDB keeps the type), so reading never depends
//! on which; booleans likewise read as 0/1 too.

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc};

use crate::InfoHash;
use crate::store::{
    Commit, OutboxRecord, Priority, RefreshToken, Role, StoreError, StoreResult, TorrentRecord,
    User,
};

/// A document that does not hold what the store wrote.
pub(super) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("MongoDB document: {what}").into())
}

pub(super) fn int(d: &Document, key: &str) -> StoreResult<i64> {
    match d.get(key) {
        Some(Bson::Int64(v)) => Ok(*v),
        Some(Bson::Int32(v)) => Ok(i64::from(*v)),
        Some(Bson::Double(v)) if v.fract() == 0.0 => Ok(*v as i64),
        other => Err(corrupt(format!("{key} is not an integer: {other:?}"))),
    }
}

/// The fields of the subdocument `key` that `read` accepts, sorted by name (none when
/// `key` is absent: documents written before it existed).
pub(super) fn entries<T>(
    d: &Document,
    key: &str,
    read: impl Fn(&Bson) -> Option<T>,
) -> Vec<(String, T)> {
    let mut out: Vec<(String, T)> = d
        .get_document(key)
        .map(|sub| {
            sub.iter()
                .filter_map(|(k, v)| read(v).map(|t| (k.clone(), t)))
                .collect()
        })
        .unwrap_or_default();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

pub(super) fn opt_int(d: &Document, key: &str) -> StoreResult<Option<i64>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => int(d, key).map(Some),
    }
}

pub(super) fn text(d: &Document, key: &str) -> StoreResult<String> {
    d.get_str(key)
        .map(str::to_owned)
        .map_err(|e| corrupt(format!("{key}: {e}")))
}

pub(super) fn opt_text(d: &Document, key: &str) -> StoreResult<Option<String>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s.clone())),
        other => Err(corrupt(format!("{key} is not a string: {other:?}"))),
    }
}

/// A boolean; read as 0/1 too, which a server storing documents in SQLite may return.
pub(super) fn flag(d: &Document, key: &str) -> StoreResult<bool> {
    match d.get(key) {
        Some(Bson::Boolean(b)) => Ok(*b),
        Some(Bson::Int32(0)) | Some(Bson::Int64(0)) => Ok(false),
        Some(Bson::Int32(1)) | Some(Bson::Int64(1)) => Ok(true),
        other => Err(corrupt(format!("{key} is not a boolean: {other:?}"))),
    }
}

pub(super) fn bytes(d: &Document, key: &str) -> StoreResult<Vec<u8>> {
    match d.get(key) {
        Some(Bson::Binary(b)) => Ok(b.bytes.clone()),
        other => Err(corrupt(format!("{key} is not binary: {other:?}"))),
    }
}

fn opt_bytes(d: &Document, key: &str) -> StoreResult<Option<Vec<u8>>> {
    match d.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(_) => bytes(d, key).map(Some),
    }
}

pub(super) fn binary(b: &[u8]) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: b.to_vec(),
    })
}

pub(super) fn opt<T: Into<Bson>>(v: Option<T>) -> Bson {
    v.map_or(Bson::Null, Into::into)
}

pub(super) fn info_hash(d: &Document, key: &str) -> StoreResult<InfoHash> {
    let s = text(d, key)?;
    InfoHash::parse(&s).map_err(|e| corrupt(format!("{key} {s:?}: {e}")))
}

// --- users and tokens ------------------------------------------------------------------

pub(super) fn user_doc(u: &User) -> Document {
    doc! {
        "_id": &u.id,
        "username": &u.username,
        "passwordHash": &u.password_hash,
        "role": u.role.as_str(),
        "createdAt": u.created_at,
    }
}

pub(super) fn user(d: &Document) -> StoreResult<User> {
    let role = text(d, "role")?;
    Ok(User {
        id: text(d, "_id")?,
        username: text(d, "username")?,
        password_hash: text(d, "passwordHash")?,
        role: Role::parse(&role).ok_or_else(|| corrupt(format!("unknown role {role:?}")))?,
        created_at: int(d, "createdAt")?,
    })
}

pub(super) fn token_doc(t: &RefreshToken) -> Document {
    doc! {
        "_id": &t.token_hash,
        "userId": &t.user_id,
        "familyId": &t.family_id,
        "createdAt": t.created_at,
        "expiresAt": t.expires_at,
        // What the TTL index reads: MongoDB deletes the token once this has passed.
        "expiresAtDate": DateTime::from_millis(t.expires_at),
        "usedAt": opt(t.used_at),
        "revoked": t.revoked,
    }
}

pub(super) fn token(d: &Document) -> StoreResult<RefreshToken> {
    Ok(RefreshToken {
        token_hash: text(d, "_id")?,
        user_id: text(d, "userId")?,
        family_id: text(d, "familyId")?,
        created_at: int(d, "createdAt")?,
        expires_at: int(d, "expiresAt")?,
        used_at: opt_int(d, "usedAt")?,
        revoked: flag(d, "revoked")?,
    })
}

// --- torrents and events ---------------------------------------------------------------

pub(super) fn torrent_doc(t: &TorrentRecord) -> Document {
    doc! {
        "_id": t.info_hash.to_string(),
        "ownerId": &t.owner_id,
        "name": opt(t.name.clone()),
        "magnet": opt(t.magnet.clone()),
        "torrentBytes": t.torrent_bytes.as_deref().map_or(Bson::Null, binary),
        "initialPeers": t.initial_peers.clone(),
        "priority": t.priority.as_str(),
        "paused": t.paused,
        "addedAt": t.added_at,
        "completedAt": opt(t.completed_at),
        "seedingStoppedAt": opt(t.seeding_stopped_at),
        "totalBytes": t.total_bytes as i64,
        "downloadedBytes": t.downloaded_bytes as i64,
        "uploadedBytes": t.uploaded_bytes as i64,
        "error": opt(t.error.clone()),
        "announcedPieces": binary(&t.announced_pieces),
        "saveDir": &t.save_dir,
        // As JSON text, like SQLite keeps it: one field whatever options are added.
        "options": serde_json::to_string(&t.options).unwrap_or_else(|_| "{}".into()),
    }
}

pub(super) fn torrent(d: &Document) -> StoreResult<TorrentRecord> {
    let priority = text(d, "priority")?;
    let peers = d
        .get_array("initialPeers")
        .map_err(|e| corrupt(format!("initialPeers: {e}")))?
        .iter()
        .map(|p| {
            p.as_str()
                .map(str::to_owned)
                .ok_or_else(|| corrupt("a peer is no string"))
        })
        .collect::<StoreResult<_>>()?;
    Ok(TorrentRecord {
        info_hash: info_hash(d, "_id")?,
        owner_id: text(d, "ownerId")?,
        name: opt_text(d, "name")?,
        magnet: opt_text(d, "magnet")?,
        torrent_bytes: opt_bytes(d, "torrentBytes")?.map(bytes::Bytes::from),
        initial_peers: peers,
        priority: Priority::parse(&priority)
            .ok_or_else(|| corrupt(format!("unknown priority {priority:?}")))?,
        paused: flag(d, "paused")?,
        added_at: int(d, "addedAt")?,
        completed_at: opt_int(d, "completedAt")?,
        seeding_stopped_at: opt_int(d, "seedingStoppedAt")?,
        total_bytes: int(d, "totalBytes")? as u64,
        downloaded_bytes: int(d, "downloadedBytes")? as u64,
        uploaded_bytes: int(d, "uploadedBytes")? as u64,
        error: opt_text(d, "error")?,
        announced_pieces: bytes(d, "announcedPieces")?,
        save_dir: text(d, "saveDir")?,
        options: match opt_text(d, "options")? {
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| corrupt(format!("options: {e}")))?
            }
            None => Default::default(),
        },
    })
}

pub(super) fn event_doc(e: &OutboxRecord) -> Document {
    doc! {
        "_id": e.seq as i64,
        "key": &e.key,
        "payload": binary(&e.payload),
        "createdAt": e.created_at,
    }
}

pub(super) fn event(d: &Document) -> StoreResult<OutboxRecord> {
    Ok(OutboxRecord {
        seq: int(d, "_id")? as u64,
        key: text(d, "key")?,
        payload: bytes(d, "payload")?,
        created_at: int(d, "createdAt")?,
    })
}

/// A commit as its journal entry (see the journal module).
pub(super) fn commit_doc(c: &Commit) -> Document {
    let records = |v: &[TorrentRecord]| v.iter().map(torrent_doc).collect::<Vec<_>>();
    doc! {
        "insert": records(&c.insert),
        "save": records(&c.save),
        "delete": c.delete.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        "events": c.events.iter().map(event_doc).collect::<Vec<_>>(),
    }
}

pub(super) fn commit(d: &Document) -> StoreResult<Commit> {
    let docs = |key: &str| -> StoreResult<Vec<Document>> {
        d.get_array(key)
            .map_err(|e| corrupt(format!("{key}: {e}")))?
            .iter()
            .map(|v| {
                v.as_document()
                    .cloned()
                    .ok_or_else(|| corrupt(format!("{key} holds a non-document")))
            })
            .collect()
    };
    let records =
        |key: &str| -> StoreResult<Vec<TorrentRecord>> { docs(key)?.iter().map(torrent).collect() };
    let delete = d
        .get_array("delete")
        .map_err(|e| corrupt(format!("delete: {e}")))?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| InfoHash::parse(s).ok())
                .ok_or_else(|| corrupt("delete holds no info hash"))
        })
        .collect::<StoreResult<_>>()?;
    Ok(Commit {
        insert: records("insert")?,
        save: records("save")?,
        delete,
        events: docs("events")?
            .iter()
            .map(event)
            .collect::<StoreResult<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_round_trips_through_its_journal_entry() {
        let mut rec = TorrentRecord::new(InfoHash::from_bytes([7; 20]), "u".into(), 5);
        rec.torrent_bytes = Some(bytes::Bytes::from_static(b"d4:infode"));
        rec.completed_at = Some(9);
        rec.total_bytes = u64::from(u32::MAX) + 7;
        rec.announced_pieces = vec![0xff, 0x80];
        rec.initial_peers = vec!["127.0.0.1:6881".into()];
        let c = Commit {
            insert: vec![rec.clone()],
            save: vec![TorrentRecord::new(
                InfoHash::from_bytes([8; 20]),
                "v".into(),
                1,
            )],
            delete: vec![InfoHash::from_bytes([9; 20])],
            events: vec![OutboxRecord {
                seq: 42,
                key: rec.info_hash.to_string(),
                payload: b"{}".to_vec(),
                created_at: 3,
            }],
        };
        assert_eq!(commit(&commit_doc(&c)).unwrap(), c);
    }

    #[test]
    fn numbers_read_back_whatever_their_width() {
        let d = doc! { "a": 5_i32, "b": 5_i64, "c": 5.0, "d": 5.5, "e": "5" };
        for k in ["a", "b", "c"] {
            assert_eq!(int(&d, k).unwrap(), 5, "{k}");
        }
        assert!(int(&d, "d").is_err() && int(&d, "e").is_err() && int(&d, "f").is_err());
    }
}
