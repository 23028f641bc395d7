//! The dashboard edge: serves the web app built from `web/` (see `web/build.mjs`).
//!
//! Release builds embed `web/dist` in the binary (`rust-embed`), so the binary alone
//! serves the dashboard; debug builds read the same folder at run time. `WEB_DIR`
//! serves another folder instead (development: `node web/build.mjs --watch`).
//!
//! Every file is sent with its precompressed `.br` or `.gz` twin when the client takes
//! it, an `ETag` (its SHA-256), and the cache policy its name allows: the hashed files
//! under `assets/` never change (`immutable`, a year), the rest (`index.html`) is
//! revalidated on every load (`no-cache`). Pages carry a strict Content-Security-Policy:
//! everything from this origin only, no inline script or style, no frames.

use std::borrow::Cow;
use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use sha2::{Digest, Sha256};

#[derive(Embed)]
#[folder = "web/dist"]
#[allow_missing = true]
struct Dist;

/// The Content-Security-Policy of every page: this origin only (`'self'` covers the
/// Socket.IO WebSocket too), no inline code, no plugins, not framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Where the dashboard's files come from.
#[derive(Clone, Debug)]
pub enum Assets {
    /// Built into the binary (release) or read from `web/dist` (debug).
    Embedded,
    /// A folder given by `WEB_DIR`.
    Dir(PathBuf),
}

struct File {
    data: Cow<'static, [u8]>,
    sha256: [u8; 32],
}

impl Assets {
    fn load(&self, path: &str) -> Option<File> {
        match self {
            Self::Embedded => Dist::get(path).map(|f| File {
                sha256: f.metadata.sha256_hash(),
                data: f.data,
            }),
            Self::Dir(root) => {
                let data = std::fs::read(root.join(path)).ok()?;
                Some(File {
                    sha256: Sha256::digest(&data).into(),
                    data: Cow::Owned(data),
                })
            }
        }
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(assets: Assets) -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/favicon.svg", get(favicon))
        .route("/assets/{*file}", get(asset))
        .route("/graphql/playground", get(playground))
        .route("/graphiql/{file}", get(graphiql_file))
        .with_state(assets)
}

async fn index(State(a): State<Assets>, headers: HeaderMap) -> Response {
    serve(&a, "index.html", &headers).unwrap_or_else(not_built)
}

async fn favicon(State(a): State<Assets>, headers: HeaderMap) -> Response {
    serve(&a, "favicon.svg", &headers).unwrap_or_else(not_found)
}

async fn asset(State(a): State<Assets>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    // Only plain names under assets/: never a way out of the folder.
    let safe = !file.is_empty()
        && file
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    if !safe {
        return not_found();
    }
    serve(&a, &format!("assets/{file}"), &headers).unwrap_or_else(not_found)
}

/// The playground's page may use the inline styles GraphiQL sets; nothing else differs
/// from the dashboard's policy.
const PLAYGROUND_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The GraphQL playground (GraphiQL), with its files served from `graphiql/`.
async fn playground(State(a): State<Assets>, headers: HeaderMap) -> Response {
    playground_file(&a, "graphiql/index.html", &headers)
}

async fn graphiql_file(
    State(a): State<Assets>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    // One plain name: the folder holds no subfolders.
    if file.is_empty() || file.contains(['/', '\\']) || file.starts_with('.') {
        return not_found();
    }
    playground_file(&a, &format!("graphiql/{file}"), &headers)
}

fn playground_file(a: &Assets, path: &str, headers: &HeaderMap) -> Response {
    let Some(mut res) = serve(a, path, headers) else {
        return not_found();
    };
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PLAYGROUND_CSP),
    );
    res
}

/// The file at `path`, compressed when the client accepts it; `None` when there is none.
fn serve(assets: &Assets, path: &str, headers: &HeaderMap) -> Option<Response> {
    let accepts = |coding: &str| {
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|c| {
                let mut parts = c.trim().split(';');
                let name = parts.next().unwrap_or("");
                let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                name.eq_ignore_ascii_case(coding) && !refused
            })
    };
    let plain = assets.load(path)?;
    let (body, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(coding, _)| accepts(coding))
        .find_map(|(coding, ext)| {
            assets
                .load(&format!("{path}{ext}"))
                .map(|f| (f, Some(coding)))
        })
        .unwrap_or((plain_clone(&plain), None));
    let etag = format!(
        "\"{}{}\"",
        hex::encode(&plain.sha256[..16]),
        encoding.map_or("", |e| &e[..1])
    );
    let mut res = if if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body.data.into_owned()).into_response()
    };
    let h = res.headers_mut();
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    h.insert(header::CONTENT_TYPE, value(mime.essence_str(), path));
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
    }
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::ETAG, value(&etag, path));
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(h);
    Some(res)
}

fn plain_clone(f: &File) -> File {
    File {
        data: f.data.clone(),
        sha256: f.sha256,
    }
}

fn value(s: &str, path: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| {
        tracing::warn!(path, "a header value of a dashboard file is not valid");
        HeaderValue::from_static("application/octet-stream")
    })
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*")
}

/// The headers every dashboard response carries.
fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn not_found() -> Response {
    crate::api::error::ApiError::not_found("no such file").into_response()
}

/// `web/dist` was empty when this binary was built (or `WEB_DIR` holds no index.html).
fn not_built() -> Response {
    let text = "The dashboard is not built into this server. Build it with \
        `npm --prefix web ci && npm --prefix web run build` (or start with ./scripts/run.sh), \
        then rebuild the server, or set WEB_DIR to a built web/dist.\n";
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
    secure(res.headers_mut());
    res
}

#[cfg(test)]
mod tests;
