//! Per-socket state: who the socket is (its session, once a token was accepted) and
//! which torrents it follows for stream events. One [`Conn`] lives in each socket's
//! extensions; the message handlers and the forwarding task share it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;
use serde_json::json;
use socketioxide::extract::SocketRef;
use tokio_util::sync::CancellationToken;

use super::forward::{Feed, Forwarder, Revocation};
use super::{Gateway, GatewayError, send_now};
use crate::InfoHash;
use crate::auth::Claims;
use crate::engine::Actor;
use crate::store::Role;

/// The handshake `auth` object, and the body of an `authenticate` event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuthPayload {
    pub token: Option<String>,
    /// The last `seq` the client saw: it gets every event after it, or a `resync`.
    pub last_seq: Option<u64>,
    /// Torrents to follow at once (a reconnecting client restores its set this way).
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// Deliver events as `events` messages, each an array of envelopes in `seq` order
    /// (everything ready for the socket, up to 256), instead of one message per event:
    /// far less work per event for clients that follow many torrents.
    #[serde(default)]
    pub batch: bool,
}

/// An accepted token: who, until when, and the stop switch of its forwarding task.
struct Session {
    actor: Actor,
    /// Milliseconds since the Unix epoch (the token's `exp`).
    expires_at: i64,
    /// Set by the forwarding task when a logout revoked the token. Per session, so a
    /// task that ends late cannot end the session that replaced its own.
    revoked: Arc<AtomicBool>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Inner {
    subscriptions: Mutex<HashSet<InfoHash>>,
    session: Mutex<Option<Session>>,
}

/// What the gateway keeps for one socket. Cheap to clone (extensions hand out clones).
#[derive(Clone, Default)]
pub(super) struct Conn(Arc<Inner>);

impl Conn {
    /// Who the socket is, while its token is valid (not expired, not revoked).
    pub fn actor(&self) -> Option<Actor> {
        let now = crate::now_millis();
        lock(&self.0.session)
            .as_ref()
            .filter(|s| s.expires_at > now && !s.revoked.load(Ordering::Relaxed))
            .map(|s| s.actor.clone())
    }

    pub fn is_subscribed(&self, info_hash: &InfoHash) -> bool {
        lock(&self.0.subscriptions).contains(info_hash)
    }

    pub fn subscribe(&self, info_hash: InfoHash) {
        lock(&self.0.subscriptions).insert(info_hash);
    }

    pub fn unsubscribe(&self, info_hash: &InfoHash) {
        lock(&self.0.subscriptions).remove(info_hash);
    }

    /// Stops delivering anything (disconnect, failed re-authentication).
    pub fn end_session(&self) {
        end(&mut lock(&self.0.session));
    }

    /// Authenticates the socket with `payload`, replacing any earlier session, and
    /// starts its forwarding task. On failure nothing more is delivered to the socket.
    ///
    /// `handshake` marks the attempt made with the connection's `auth` object: when it
    /// carries no token and an `authenticate` event already succeeded (message handlers
    /// run concurrently with the connect handler), it is no failure.
    pub async fn authenticate(
        &self,
        socket: &SocketRef,
        gw: &Gateway,
        payload: AuthPayload,
        handshake: bool,
    ) -> Result<(), GatewayError> {
        let token = payload
            .token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        // Checked before the lock is taken: the check may ask Redis, and the lock must
        // never be held across an await.
        let verified = match token {
            Some(token) => Some(verify(gw, token).await),
            None => None,
        };
        // Held from here to the start of forwarding, so concurrent attempts on one
        // socket apply one after the other and `authenticated` precedes every event.
        let mut slot = lock(&self.0.session);
        if handshake && verified.is_none() && slot.is_some() {
            return Ok(());
        }
        end(&mut slot);
        let claims = verified.unwrap_or_else(|| {
            Err(GatewayError::unauthorized(
                "no token: authenticate with {token}",
            ))
        })?;
        self.restore_subscriptions(&payload.subscriptions);
        *slot = Some(self.start(socket, gw, &claims, payload.last_seq, payload.batch));
        // A socket that went away while this ran has had its disconnect handler
        // already (it clears `connected` first, then takes this lock): stop here.
        if !socket.connected() {
            end(&mut slot);
        }
        Ok(())
    }

    /// Opens the bus for the socket, says `authenticated` and starts forwarding.
    fn start(
        &self,
        socket: &SocketRef,
        gw: &Gateway,
        claims: &Claims,
        last_seq: Option<u64>,
        batch: bool,
    ) -> Session {
        let feed = Feed::open(&gw.bus, last_seq);
        let authenticated = json!({
            "userId": claims.sub,
            "role": claims.role.as_str(),
            "seq": feed.head,
        });
        send_now(socket, "authenticated", &authenticated);
        let session = Session {
            actor: Actor {
                user_id: claims.sub.clone(),
                admin: claims.role == Role::Admin,
            },
            expires_at: claims.exp.saturating_mul(1000),
            revoked: Arc::default(),
            stop: gw.cancel.child_token(),
        };
        let forwarder = Forwarder {
            socket: socket.clone(),
            conn: self.clone(),
            actor: session.actor.clone(),
            bus: gw.bus.clone(),
            expires_at: session.expires_at,
            revocation: Revocation {
                auth: gw.auth.clone(),
                jti: claims.jti.clone(),
                revoked: session.revoked.clone(),
            },
            batch,
        };
        forwarder.spawn(feed, session.stop.clone());
        session
    }

    /// Adds the handshake's subscriptions as given. They are not checked against the
    /// torrents here: the set restores what an earlier connection had (a torrent may be
    /// added after it, or removed meanwhile), and delivery checks visibility per event.
    fn restore_subscriptions(&self, hashes: &[String]) {
        let mut set = lock(&self.0.subscriptions);
        set.extend(hashes.iter().filter_map(|h| InfoHash::parse(h).ok()));
    }
}

/// Checks an access token exactly as the REST API does.
async fn verify(gw: &Gateway, token: &str) -> Result<Claims, GatewayError> {
    gw.auth
        .verify_access(token)
        .await
        .map_err(|e| GatewayError::unauthorized(e.to_string()))
}

fn end(slot: &mut Option<Session>) {
    if let Some(old) = slot.take() {
        old.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain sets and options behind these locks: a panic elsewhere leaves nothing
    // half-done, so keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}
