//! The Socket.IO gateway: live events for browsers on the server's own port, path
//! `/socket.io/` (the contract is in DESIGN.md §4 and the README's "Events").
//!
//! It owns the Socket.IO side of the event flow, per socket:
//! - who the socket is: a token in the handshake `auth` object or in an
//!   `authenticate` event, checked like the REST API's bearer tokens; until one is
//!   accepted the socket gets nothing but `error` replies;
//! - which torrents it follows for stream events (`subscribe:torrent`,
//!   `unsubscribe:torrent`, or `subscriptions` in the auth object);
//! - one forwarding task that moves bus events to it in `seq` order, after replaying
//!   what a client reconnecting with `lastSeq` missed (or sending `resync`).
//!
//! What a socket receives is decided by [`forward::delivers`]; the bus and the engine
//! know nothing about sockets.

mod forward;
mod session;
mod subscribe;

use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use tokio_util::sync::CancellationToken;

use crate::app::Services;
use crate::auth::Auth;
use crate::engine::Engine;
use crate::events::Bus;
use session::{AuthPayload, Conn};

/// Packets one socket may have waiting to be written. socketioxide's default (128)
/// is smaller than a typical replay; the forwarding task waits when it is full.
const SOCKET_BUFFER: usize = 1024;

/// What the handlers reach (socketioxide state).
#[derive(Clone)]
pub(crate) struct Gateway {
    auth: Arc<Auth>,
    engine: Arc<Engine>,
    bus: Arc<Bus>,
    /// Cancelled at shutdown: stops every forwarding task.
    cancel: CancellationToken,
}

/// The Socket.IO layer, to wrap the HTTP router with. Every socket is disconnected
/// when `cancel` is cancelled. Call it inside the Tokio runtime.
pub fn layer(state: &Services, cancel: CancellationToken) -> SocketIoLayer {
    let gw = Gateway {
        auth: state.auth.clone(),
        engine: state.engine.clone(),
        bus: state.bus.clone(),
        cancel: cancel.clone(),
    };
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(SOCKET_BUFFER)
        .with_state(gw)
        .build_layer();
    io.ns("/", on_connect.with(prepare));
    tokio::spawn(async move {
        cancel.cancelled().await;
        io.close().await;
    });
    layer
}

/// Runs before the client learns it is connected, so no message it sends right away
/// finds its handler missing (the connect handler itself runs as a separate task).
async fn prepare(socket: SocketRef) -> Result<(), Infallible> {
    socket.extensions.insert(Conn::default());
    socket.on("authenticate", on_authenticate);
    socket.on(subscribe::SUBSCRIBE, subscribe::on_subscribe);
    socket.on(subscribe::UNSUBSCRIBE, subscribe::on_unsubscribe);
    socket.on_disconnect(async |Extension(conn): Extension<Conn>| {
        metrics::gauge!("torrentedge_socketio_sockets").decrement(1);
        conn.end_session()
    });
    metrics::gauge!("torrentedge_socketio_sockets").increment(1);
    Ok(())
}

async fn on_connect(
    socket: SocketRef,
    TryData(auth): TryData<AuthPayload>,
    State(gw): State<Gateway>,
    Extension(conn): Extension<Conn>,
) {
    let result = match auth {
        Ok(payload) => conn.authenticate(&socket, &gw, payload, true).await,
        Err(e) => Err(GatewayError::unauthorized(format!(
            "invalid auth object: {e}"
        ))),
    };
    if let Err(e) = result {
        send_now(&socket, "error", &e);
    }
}

async fn on_authenticate(
    socket: SocketRef,
    TryData(payload): TryData<AuthPayload>,
    State(gw): State<Gateway>,
    Extension(conn): Extension<Conn>,
    ack: AckSender,
) {
    let result = match payload {
        Ok(payload) => conn.authenticate(&socket, &gw, payload, false).await,
        Err(e) => {
            // A failed attempt ends the earlier session, whatever made it fail.
            conn.end_session();
            Err(GatewayError::unauthorized(format!(
                "expected {{token}}: {e}"
            )))
        }
    };
    match result {
        Ok(()) => {
            let _ = ack.send(&json!({ "ok": true }));
        }
        Err(e) => reply_error(&socket, ack, &e),
    }
}

/// The data of an `error` event (and of a failed request's ack).
#[derive(Debug, Serialize)]
pub(crate) struct GatewayError {
    code: &'static str,
    message: String,
}

impl GatewayError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new("unauthorized", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new("not_found", message)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new("bad_request", message)
    }

    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "socket.io request failed");
        Self::new("internal", "internal server error")
    }
}

/// Answers a failed request: the ack (when the client asked for one) and an `error`.
fn reply_error(socket: &SocketRef, ack: AckSender, err: &GatewayError) {
    let _ = ack.send(&json!({ "ok": false, "error": err }));
    send_now(socket, "error", err);
}

/// Sends a one-off reply without waiting: if the socket's buffer is full or it closed,
/// the reply is dropped (the client is gone or far behind anyway).
fn send_now<T: Serialize + ?Sized>(socket: &SocketRef, event: &str, data: &T) {
    if let Err(e) = socket.emit(event, data) {
        tracing::debug!(socket = %socket.id, event, error = %e, "socket.io reply dropped");
    }
}
