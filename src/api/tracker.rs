//! The tracker's HTTP edge: `GET /announce` and `/scrape`, with or without a passkey
//! in the path (`/announce/{passkey}`). Answers are bencoded with status 200, refusals
//! included (`failure reason`), as BitTorrent clients expect; the logic is in
//! [`crate::tracker`].

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, ClientIp};
use crate::tracker::{Protocol, Refusal, Request, UserStats, http};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/announce", get(announce))
        .route("/announce/{passkey}", get(announce_with_key))
        .route("/scrape", get(scrape))
        .route("/scrape/{passkey}", get(scrape_with_key))
        .route("/api/tracker/me", get(me))
        .route(
            "/api/tracker/passkey/reset",
            axum::routing::post(reset_passkey),
        )
}

fn bencoded(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=binary")], body).into_response()
}

fn refused(r: &Refusal) -> Response {
    bencoded(http::failure(r))
}

async fn announce(s: State<AppState>, ip: ClientIp, q: RawQuery) -> Response {
    announce_inner(s, ip, q, None).await
}

async fn announce_with_key(
    s: State<AppState>,
    ip: ClientIp,
    Path(passkey): Path<String>,
    q: RawQuery,
) -> Response {
    announce_inner(s, ip, q, Some(passkey)).await
}

async fn announce_inner(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    RawQuery(q): RawQuery,
    passkey: Option<String>,
) -> Response {
    let parsed = match http::parse_announce(q.as_deref().unwrap_or_default()) {
        Ok(p) => p,
        Err(r) => {
            s.tracker.count_announce(Protocol::Http, "malformed");
            return refused(&r);
        }
    };
    let req = Request {
        protocol: Protocol::Http,
        info_hash: parsed.info_hash,
        peer_id: parsed.peer_id,
        addr: SocketAddr::new(ip, parsed.port),
        uploaded: parsed.uploaded,
        downloaded: parsed.downloaded,
        left: parsed.left,
        event: parsed.event,
        numwant: parsed.numwant,
        passkey,
    };
    match s.tracker.announce(req).await {
        Ok(answer) => bencoded(http::announce_body(&answer)),
        Err(r) => refused(&r),
    }
}

async fn scrape(s: State<AppState>, q: RawQuery) -> Response {
    scrape_inner(s, q, None).await
}

async fn scrape_with_key(s: State<AppState>, Path(key): Path<String>, q: RawQuery) -> Response {
    scrape_inner(s, q, Some(key)).await
}

async fn scrape_inner(
    State(s): State<AppState>,
    RawQuery(q): RawQuery,
    passkey: Option<String>,
) -> Response {
    if let Err(r) = s.tracker.check_passkey(passkey.as_deref()).await {
        s.tracker.count_scrape(Protocol::Http, "refused");
        return refused(&r);
    }
    let hashes = match http::parse_scrape(q.as_deref().unwrap_or_default()) {
        Ok(h) => h,
        Err(r) => {
            s.tracker.count_scrape(Protocol::Http, "malformed");
            return refused(&r);
        }
    };
    match s.tracker.scrape(Protocol::Http, &hashes) {
        Ok(counts) => bencoded(http::scrape_body(&counts)),
        Err(r) => refused(&r),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Me {
    mode: &'static str,
    /// The announce path for the caller's clients (`/announce`, or with the passkey in
    /// private mode); the scheme and host are the server's.
    announce_path: String,
    passkey: Option<String>,
    stats: UserStats,
}

/// The caller's tracker account: announce URL path, passkey (private mode) and totals.
async fn me(State(s): State<AppState>, user: AuthUser) -> Result<axum::Json<Me>, ApiError> {
    let t = &s.tracker;
    let private = t.mode() == crate::tracker::TrackerMode::Private;
    let passkey = if private {
        Some(t.passkey(&user.0.sub).await?)
    } else {
        None
    };
    Ok(axum::Json(Me {
        mode: t.mode().as_str(),
        announce_path: t
            .announce_url("", &user.0.sub)
            .await
            .map_err(ApiError::internal)?,
        passkey,
        stats: t.user_stats(&user.0.sub).await?,
    }))
}

#[derive(Serialize)]
struct NewPasskey {
    passkey: String,
}

/// A new passkey for the caller; the old one stops working at once.
async fn reset_passkey(
    State(s): State<AppState>,
    user: AuthUser,
) -> Result<axum::Json<NewPasskey>, ApiError> {
    let passkey = s.tracker.reset_passkey(&user.0.sub).await?;
    Ok(axum::Json(NewPasskey { passkey }))
}
