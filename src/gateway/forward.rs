//! The forwarding task: one per authenticated socket, moving events from the bus to the
//! socket in `seq` order, after replaying what a reconnecting client missed.
//!
//! The bus never waits for a socket: when this task falls too far behind, the broadcast
//! channel drops events for it, and the client is sent `resync` (reload through REST).
//! The socket's own send buffer is small, so a burst (a replay) waits for room in it
//! rather than dropping events. A socket that asked for batches (`auth.batch`) gets
//! everything ready for it in one `events` message, an array in `seq` order.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio_util::sync::CancellationToken;

use super::session::Conn;
use super::{GatewayError, send_now};
use crate::InfoHash;
use crate::engine::Actor;
use crate::events::{Bus, Envelope, EventType, Replay};

/// Where a socket's events come from: an optional replay, then the live stream.
pub(super) struct Feed {
    replay: Option<Replay>,
    rx: broadcast::Receiver<Arc<Envelope>>,
    /// Events at or below this seq are not delivered (the client has them).
    after: u64,
    /// The newest seq when the feed opened (what `authenticated` reports).
    pub head: u64,
}

impl Feed {
    /// Opens the bus after `last_seq` (replaying what came after it), or from now.
    pub fn open(bus: &Bus, last_seq: Option<u64>) -> Self {
        match last_seq {
            Some(seq) => {
                // Atomic: nothing falls between the replay and the live stream.
                let (replay, rx) = bus.resume_from(seq);
                Self {
                    replay: Some(replay),
                    rx,
                    after: seq,
                    head: bus.last_seq(),
                }
            }
            None => {
                let (head, rx) = bus.subscribe_at();
                Self {
                    replay: None,
                    rx,
                    after: head,
                    head,
                }
            }
        }
    }
}

/// The socket was closed: nothing more can be delivered.
pub(super) struct Closed;

/// What one forwarding task needs, fixed when the socket authenticated.
pub(super) struct Forwarder {
    pub socket: SocketRef,
    pub conn: Conn,
    pub actor: Actor,
    pub bus: Arc<Bus>,
    /// When the token expires (ms since the epoch): delivery stops then.
    pub expires_at: i64,
    /// Delivery stops, too, once a logout revokes the token.
    pub revocation: Revocation,
    /// Events go out as `events` arrays (see `AuthPayload::batch`).
    pub batch: bool,
}

/// How often a forwarding task asks whether its token was revoked: a signed-out
/// token stops its sockets within this long. One cache lookup per socket each time.
const REVOCATION_CHECK: Duration = Duration::from_secs(5);

/// The token a socket authenticated with, watched for a logout revoking it.
pub(super) struct Revocation {
    pub auth: Arc<crate::auth::Auth>,
    pub jti: String,
    /// Shared with the session, which stops answering for the user once it is set.
    pub revoked: Arc<std::sync::atomic::AtomicBool>,
}

impl Revocation {
    /// Returns once the token is revoked (never, while it is not).
    async fn watch(&self) {
        let mut tick = tokio::time::interval(REVOCATION_CHECK);
        tick.tick().await;
        loop {
            tick.tick().await;
            if self.auth.is_revoked(&self.jti).await {
                self.revoked
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The most events in one `events` message.
const MAX_BATCH: usize = 256;

impl Forwarder {
    /// Runs until `stop` (disconnect, re-authentication, server shutdown), the socket
    /// closes, or the token expires or is revoked.
    pub fn spawn(self, feed: Feed, stop: CancellationToken) {
        tokio::spawn(async move {
            let remaining = self.expires_at.saturating_sub(crate::now_millis()).max(0);
            let expiry = tokio::time::Instant::now() + Duration::from_millis(remaining as u64);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = self.pump(feed) => {}
                _ = tokio::time::sleep_until(expiry) => {
                    send_now(&self.socket, "error", &GatewayError::unauthorized("token expired: authenticate again"));
                }
                _ = self.revocation.watch() => {
                    send_now(&self.socket, "error", &GatewayError::unauthorized("token revoked (signed out): authenticate again"));
                }
            }
            tracing::debug!(socket = %self.socket.id, "event forwarding stopped");
        });
    }

    async fn pump(&self, mut feed: Feed) -> Result<(), Closed> {
        let mut cursor = feed.after;
        match feed.replay.take() {
            Some(Replay::Gap) => self.resync("gap").await?,
            Some(Replay::Events(events)) => {
                for chunk in events.chunks(if self.batch { MAX_BATCH } else { 1 }) {
                    self.deliver(chunk, &mut cursor).await?;
                }
            }
            None => {}
        }
        let mut ready = Vec::new();
        loop {
            match feed.rx.recv().await {
                Ok(e) => ready.push(e),
                Err(RecvError::Lagged(missed)) => {
                    self.lagged(missed).await?;
                    continue;
                }
                Err(RecvError::Closed) => return Ok(()),
            }
            // Batching: whatever else is already waiting goes in the same message.
            let mut lagged = None;
            while self.batch && ready.len() < MAX_BATCH {
                match feed.rx.try_recv() {
                    Ok(e) => ready.push(e),
                    Err(TryRecvError::Lagged(missed)) => {
                        lagged = Some(missed);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.deliver(&ready, &mut cursor).await?;
            ready.clear();
            if let Some(missed) = lagged {
                self.lagged(missed).await?;
            }
        }
    }

    async fn lagged(&self, missed: u64) -> Result<(), Closed> {
        tracing::debug!(socket = %self.socket.id, missed, "socket fell behind the bus");
        self.resync("lagged").await
    }

    /// Sends the events of `events` this socket gets: each as its own message, or all in
    /// one `events` array when batching.
    async fn deliver(&self, events: &[Arc<Envelope>], cursor: &mut u64) -> Result<(), Closed> {
        let mut out: Vec<&Envelope> = Vec::with_capacity(events.len());
        for e in events {
            // The replay and the live stream do not overlap, but the cursor makes
            // "each event at most once, in seq order" hold whatever the source.
            if e.seq <= *cursor {
                continue;
            }
            *cursor = e.seq;
            if delivers(&self.actor, |h| self.conn.is_subscribed(h), e) {
                out.push(e);
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        if self.batch {
            let json: Vec<&RawValue> = out.iter().map(|e| e.json()).collect();
            send(&self.socket, "events", &json).await?;
        } else {
            for e in &out {
                send(&self.socket, &e.kind, e.json()).await?;
            }
        }
        metrics::counter!("torrentedge_socketio_deliveries_total").increment(out.len() as u64);
        Ok(())
    }

    /// Tells the client that events were lost for it: reload state, then keep listening.
    async fn resync(&self, reason: &str) -> Result<(), Closed> {
        let data = serde_json::json!({ "reason": reason, "seq": self.bus.last_seq() });
        send(&self.socket, "resync", &data).await
    }
}

/// The delivery rule: the event is visible to the socket's user (their own torrent, any
/// torrent for an admin, or a server-wide event without an owner), and a stream event
/// (`torrent:progress`, `torrent:piece`) is about a torrent the socket subscribed to.
pub(super) fn delivers(
    actor: &Actor,
    subscribed: impl Fn(&InfoHash) -> bool,
    e: &Envelope,
) -> bool {
    let visible = e
        .user_id
        .as_deref()
        .is_none_or(|owner| actor.may_see(owner));
    let stream = e.event_type().is_some_and(EventType::is_stream);
    let about = || e.info_hash.as_deref().and_then(|h| InfoHash::parse(h).ok());
    visible && (!stream || about().is_some_and(|h| subscribed(&h)))
}

/// Sends one event, waiting while the socket's send buffer is full.
pub(super) async fn send<T: Serialize + ?Sized>(
    socket: &SocketRef,
    event: &str,
    data: &T,
) -> Result<(), Closed> {
    let mut pause = Duration::from_millis(1);
    loop {
        match socket.emit(event, data) {
            Ok(()) => return Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                // A slow client: wait for the transport to drain. If it never does, the
                // bus drops events for this task and the client gets `resync`.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(SendError::Socket(SocketError::Closed)) => return Err(Closed),
            Err(SendError::Serialize(e)) => {
                tracing::warn!(event, error = %e, "event not serializable; skipped");
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn event(kind: EventType, hash: Option<&str>, owner: Option<&str>) -> Envelope {
        Envelope {
            id: "id".into(),
            seq: 1,
            kind: kind.name().into(),
            ts: 0,
            info_hash: hash.map(str::to_owned),
            user_id: owner.map(str::to_owned),
            data: Map::new(),
            encoded: Default::default(),
        }
    }

    const H: InfoHash = InfoHash::from_bytes([1; 20]);

    fn user(id: &str, admin: bool) -> Actor {
        Actor {
            user_id: id.into(),
            admin,
        }
    }

    #[test]
    fn owners_see_their_torrents_and_nobody_else_does() {
        let added = event(EventType::Added, Some("h"), Some("alice"));
        assert!(delivers(&user("alice", false), |_| false, &added));
        assert!(!delivers(&user("bob", false), |_| true, &added));
        assert!(delivers(&user("root", true), |_| false, &added));
    }

    #[test]
    fn stream_events_need_a_subscription_even_for_admins() {
        for kind in [EventType::Progress, EventType::Piece] {
            let e = event(kind, Some(&H.to_string()), Some("alice"));
            let other = InfoHash::from_bytes([2; 20]);
            assert!(!delivers(&user("alice", false), |_| false, &e));
            assert!(delivers(&user("alice", false), |h| *h == H, &e));
            assert!(!delivers(&user("alice", false), |h| *h == other, &e));
            assert!(!delivers(&user("root", true), |_| false, &e));
            assert!(delivers(&user("root", true), |_| true, &e));
            assert!(
                !delivers(&user("bob", false), |_| true, &e),
                "subscribed but not visible"
            );
        }
    }

    #[test]
    fn server_wide_events_reach_everyone() {
        let e = event(EventType::QueueUpdated, None, None);
        assert!(delivers(&user("bob", false), |_| false, &e));
    }
}
