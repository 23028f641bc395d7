//! WebDAV, read-only, at `/dav/`: the user's library and torrents as folders a media
//! player can mount (Infuse, VLC, Kodi, rclone). Listings show every file at its real
//! size before a byte of it is downloaded; reading goes through the engine's streams,
//! so pieces are fetched on demand and idle mode applies.
//!
//! Players send HTTP Basic credentials: the user's password or one of their app
//! passwords, checked under the login limiter. Checking a password costs an argon2
//! hash and players send many requests, so a credential that was right is remembered
//! for [`CREDENTIALS_TTL`] (by its SHA-256, never in clear).

mod build;
mod fs;
pub mod tree;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use dav_server::{DavHandler, DavMethodSet};
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::ClientIp;
use crate::auth::AuthError;
use crate::engine::Actor;
use crate::store::{Role, User};

/// How long a right credential is remembered.
pub const CREDENTIALS_TTL: Duration = Duration::from_secs(60);
/// Credentials remembered at most (the oldest go first).
const MAX_REMEMBERED: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dav", any(handle))
        .route("/dav/", any(handle))
        .route("/dav/{*path}", any(handle))
}

/// Credentials that were right lately: SHA-256 of `user \0 password` → user.
#[derive(Default)]
pub struct Remembered(Mutex<HashMap<[u8; 32], (User, Instant)>>);

impl Remembered {
    fn get(&self, key: &[u8; 32]) -> Option<User> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, at)| at.elapsed() < CREDENTIALS_TTL)
            .map(|(u, _)| u.clone())
    }

    /// Forgets every credential of the user (an app password was revoked).
    pub fn forget_user(&self, user_id: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (u, _)| u.id != user_id);
    }

    fn put(&self, key: [u8; 32], user: User) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < CREDENTIALS_TTL);
        if map.len() >= MAX_REMEMBERED
            && let Some(oldest) = map.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(key, (user, Instant::now()));
    }
}

fn challenge(message: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"TorrentEdge\", charset=\"UTF-8\""),
    );
    resp
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

async fn user_of(s: &AppState, headers: &HeaderMap, client: ClientIp) -> Result<User, Response> {
    let Some((name, password)) = basic_credentials(headers) else {
        return Err(challenge(
            "sign in with your user name and password or an app password",
        ));
    };
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    let key: [u8; 32] = hasher.finalize().into();
    if let Some(user) = s.dav_credentials.get(&key) {
        return Ok(user);
    }
    match s.auth.authenticate_app(&name, &password, client.0).await {
        Ok(user) => {
            s.dav_credentials.put(key, user.clone());
            Ok(user)
        }
        Err(AuthError::InvalidCredentials) => Err(challenge("invalid user name or password")),
        Err(AuthError::TwoFactorRequired) => Err(challenge(
            "this account uses two-factor login: sign in with an app password",
        )),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

async fn handle(State(s): State<AppState>, client: ClientIp, req: Request) -> Response {
    let user = match user_of(&s, req.headers(), client).await {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let actor = Actor {
        user_id: user.id.clone(),
        admin: user.role == Role::Admin,
    };
    // A user's own tree, even for administrators: theirs is the library they mount.
    let own = Actor {
        admin: false,
        ..actor.clone()
    };
    let tree = match build::tree(&s, &own).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let fs = fs::TreeFs {
        tree: Arc::new(tree),
        engine: s.engine.clone(),
        actor,
    };
    let dav = DavHandler::builder()
        .filesystem(Box::new(fs))
        .strip_prefix("/dav")
        .methods(DavMethodSet::WEBDAV_RO)
        .read_buf_size(256 * 1024)
        .autoindex(true)
        .build_handler();
    dav.handle(req).await.into_response()
}
