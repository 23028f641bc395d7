//! `subscribe:torrent` and `unsubscribe:torrent`: which torrents a socket follows for
//! stream events (`torrent:progress`, `torrent:piece`). A new subscription is answered
//! with `torrent:snapshot`, the torrent's current details, so a client shows its state
//! at once instead of waiting for the next progress event.

use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::ParserError;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};

use super::session::Conn;
use super::{Gateway, GatewayError, forward, reply_error};
use crate::InfoHash;
use crate::engine::EngineError;

pub(super) const SUBSCRIBE: &str = "subscribe:torrent";
pub(super) const UNSUBSCRIBE: &str = "unsubscribe:torrent";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TorrentRef {
    info_hash: String,
}

pub(super) async fn on_subscribe(
    socket: SocketRef,
    TryData(req): TryData<TorrentRef>,
    State(gw): State<Gateway>,
    Extension(conn): Extension<Conn>,
    ack: AckSender,
) {
    match snapshot(&gw, &conn, req) {
        Ok((hash, snapshot)) => {
            conn.subscribe(hash);
            let _ = ack.send(&json!({ "ok": true, "infoHash": hash }));
            let _ = forward::send(&socket, "torrent:snapshot", &snapshot).await;
        }
        Err(e) => reply_error(&socket, ack, &e),
    }
}

pub(super) async fn on_unsubscribe(
    socket: SocketRef,
    TryData(req): TryData<TorrentRef>,
    Extension(conn): Extension<Conn>,
    ack: AckSender,
) {
    match parse(req) {
        Ok(hash) => {
            conn.unsubscribe(&hash);
            let _ = ack.send(&json!({ "ok": true, "infoHash": hash }));
        }
        Err(e) => reply_error(&socket, ack, &e),
    }
}

/// Checks the caller may see the torrent; returns its hash and `torrent:snapshot` data:
/// the details (as `GET /api/torrents/:infoHash`) and the bus `seq` they are at least
/// as new as.
fn snapshot(
    gw: &Gateway,
    conn: &Conn,
    req: Result<TorrentRef, ParserError>,
) -> Result<(InfoHash, Value), GatewayError> {
    let actor = conn
        .actor()
        .ok_or_else(|| GatewayError::unauthorized("authenticate first"))?;
    let hash = parse(req)?;
    let seq = gw.bus.last_seq();
    let details = gw.engine.details(&actor, &hash).map_err(|e| match e {
        EngineError::NotFound(_) => GatewayError::not_found(format!("torrent {hash} not found")),
        other => GatewayError::internal(other),
    })?;
    let mut data = serde_json::to_value(&details).map_err(GatewayError::internal)?;
    if let Some(fields) = data.as_object_mut() {
        fields.insert("seq".into(), seq.into());
    }
    Ok((hash, data))
}

fn parse(req: Result<TorrentRef, ParserError>) -> Result<InfoHash, GatewayError> {
    let req = req.map_err(|e| GatewayError::bad_request(format!("expected {{infoHash}}: {e}")))?;
    // 40 hex digits, any case; unknown and malformed hashes both read as "not found",
    // as in the REST API.
    InfoHash::parse(&req.info_hash)
        .map_err(|_| GatewayError::not_found(format!("torrent {} not found", req.info_hash)))
}
