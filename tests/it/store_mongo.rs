//! The MongoDB store against a real MongoDB wire-protocol server (nx-27017) on
//! 127.0.0.1: the whole store contract, and the commit journal's replay.

use mongodb::bson::{Document, doc};
use torrentedge::InfoHash;
use torrentedge::store::contract::{self, Traits};
use torrentedge::store::{MongoStore, Store};

use crate::support::mongo::Mongo;

/// The store's TTL index lets MongoDB delete expired refresh tokens itself.
const TTL: Traits = Traits {
    expires_tokens_by_clock: true,
};

#[tokio::test]
async fn the_store_contract_holds_on_mongodb() {
    let server = Mongo::start().await;
    let store = MongoStore::connect(&server.uri("contract"))
        .await
        .expect("connect");
    contract::run_all_with(&store, TTL).await;
    // Again on the same database, through a new connection: the schema step is
    // idempotent and the checks isolate themselves from what is already there.
    drop(store);
    let again = MongoStore::connect(&server.uri("contract"))
        .await
        .expect("reconnect");
    contract::run_all_with(&again, TTL).await;
}

/// A crash after the durable step and before the commit was applied leaves the entry
/// in the journal; the next start applies it: the torrent and its event are there.
#[tokio::test]
async fn a_journaled_commit_is_applied_at_the_next_start() {
    let server = Mongo::start().await;
    let uri = server.uri("journal");
    let store = MongoStore::connect(&uri).await.expect("connect");
    let mark = store.event_seq_mark().await.expect("mark");
    assert_eq!(store.backend_name(), "mongodb");
    drop(store);

    // What the durable step writes, written by hand: a record and its event, pending.
    let hash = InfoHash::from_bytes([0x5a; 20]).to_string();
    let record = doc! {
        "_id": &hash, "ownerId": "u", "name": "left pending", "magnet": null,
        "torrentBytes": null, "initialPeers": [], "priority": "normal", "paused": true,
        "addedAt": 1_i64, "completedAt": null, "seedingStoppedAt": null,
        "totalBytes": 0_i64, "downloadedBytes": 0_i64, "uploadedBytes": 0_i64,
        "error": null,
        "announcedPieces": mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: vec![] },
        "saveDir": "users/u",
    };
    let event = doc! {
        "_id": (mark + 1) as i64, "key": &hash, "createdAt": 1_i64,
        "payload": mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Generic, bytes: b"{}".to_vec() },
    };
    let entry = doc! { "insert": [record], "save": [], "delete": [], "events": [event] };
    let client = server.client().await;
    let meta = client.database("journal").collection::<Document>("meta");
    meta.update_one(
        doc! { "_id": "journal" },
        doc! { "$set": { "pending.00000000000000000007": entry, "mark": (mark + 1) as i64 } },
    )
    .await
    .expect("write a pending entry");

    let store = MongoStore::connect(&uri).await.expect("reconnect");
    let rec = store
        .torrent(&InfoHash::parse(&hash).unwrap())
        .await
        .expect("read")
        .expect("the pending insert was applied");
    assert_eq!(
        (rec.name.as_deref(), rec.paused),
        (Some("left pending"), true)
    );
    let events = store.outbox_peek(100).await.expect("outbox");
    assert!(
        events.iter().any(|e| e.seq == mark + 1 && e.key == hash),
        "{events:?}"
    );
    assert_eq!(store.event_seq_mark().await.unwrap(), mark + 1);
    let journal = meta
        .find_one(doc! { "_id": "journal" })
        .await
        .unwrap()
        .unwrap();
    assert!(
        journal.get_document("pending").unwrap().is_empty(),
        "{journal}"
    );
}
