//! The OpenAPI document of the REST API, served at [`DOCUMENT_PATH`], and the Swagger UI
//! that reads it at [`DOCS_PATH`] (its assets are built into the binary: `vendored`).
//!
//! Each resource module describes its own handlers next to its `router()`: a
//! `#[utoipa::path]` on each handler and a `Doc` listing them; [`ApiDoc`] merges the
//! parts and adds what is common (info, tags, security schemes). The coverage test
//! (`tests.rs`) fails when a route the server answers is missing from the document, or
//! the document names a route the server does not have.

use std::collections::HashMap;

use axum::Router;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, PathItem};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

#[cfg(test)]
mod tests;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Where the Swagger UI is served (`/api/docs` redirects to `/api/docs/`, whose page
/// loads its assets relative to it).
pub const DOCS_PATH: &str = "/api/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "TorrentEdge",
        version = env!("CARGO_PKG_VERSION"),
        description = "The REST API of TorrentEdge, a self-hosted multi-user BitTorrent server, \
            and its qBittorrent WebUI API v2 compatibility under `/api/v2/`. JSON in camelCase \
            (the metadata API: snake_case); errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&Parts, &SecuritySchemes, &OperationIds),
    tags(
        (name = "auth", description = "Login, rotating refresh tokens, logout, users"),
        (name = "app-passwords", description = "Passwords for programs that cannot do JWT (WebDAV players)"),
        (name = "torrents", description = "Add, list, inspect, pause, resume, prioritise, change and remove torrents"),
        (name = "labels", description = "The caller's categories and tags"),
        (name = "streaming", description = "Files of torrents over HTTP with Range, while they download; signed links and playlists"),
        (name = "library", description = "Movies, shows and episodes, each assigned to a file in a torrent"),
        (name = "metadata", description = "A magnet's metadata without downloading content"),
        (name = "system", description = "Health, statistics, settings, Prometheus metrics"),
        (name = "tracker", description = "The caller's account on the built-in BitTorrent tracker (announce and scrape themselves are the BitTorrent protocol at /announce and /scrape)"),
        (name = "catalog", description = "Published torrents: browse, full-text search, details with live swarm counts, download, comments, add to downloads"),
        (name = "graphql", description = "GraphQL over the same data, with the same token"),
        (name = "qbittorrent", description = "qBittorrent WebUI API v2 (form or query parameters, `SID` cookie, plain-text answers)"),
    )
)]
pub struct ApiDoc;

/// The router of the document and the Swagger UI; no token needed.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    // No validator badge: it would send the document to validator.swagger.io.
    let config = Config::default()
        .validator_url("none")
        .persist_authorization(true);
    SwaggerUi::new(DOCS_PATH)
        .url(DOCUMENT_PATH, ApiDoc::openapi())
        .config(config)
        .into()
}

/// Each resource module's part of the document.
fn parts() -> Vec<Document> {
    vec![
        super::auth::Doc::openapi(),
        super::two_factor::Doc::openapi(),
        super::app_passwords::Doc::openapi(),
        super::torrents::Doc::openapi(),
        super::manage::Doc::openapi(),
        super::stream::Doc::openapi(),
        super::library::Doc::openapi(),
        super::metadata::Doc::openapi(),
        super::system::Doc::openapi(),
        super::metrics::Doc::openapi(),
        super::qbt::doc(),
        super::tracker::Doc::openapi(),
        super::catalog::Doc::openapi(),
        super::graphql::Doc::openapi(),
    ]
}

struct Parts;

impl Modify for Parts {
    fn modify(&self, doc: &mut Document) {
        for part in parts() {
            doc.merge(part);
        }
    }
}

/// The ways in: a JWT access token for the native API; for the qBittorrent API its
/// `SID` session cookie (or the same JWT); signed links for players; the metrics token.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token from `POST /api/auth/login` (or `/refresh`), as \
                 `Authorization: Bearer <token>`",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "sid",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "SID",
                "The session cookie of `POST /api/v2/auth/login` (qBittorrent API)",
            ))),
        );
        components.add_security_scheme(
            "signedLink",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "sig",
                "A signed link's signature, with its `u` (user id) and `exp` (expiry) \
                 parameters: the URL from a `.../link` endpoint",
            ))),
        );
        let metrics = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("`METRICS_TOKEN`, when it is set"))
            .build();
        components.add_security_scheme("metricsToken", SecurityScheme::Http(metrics));
    }
}

/// A handler serving several methods (`method(get, post)`) gives each the same
/// operation id; ids must be unique, so those get the method as a suffix
/// (`info_get`, `info_post`).
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let mut count: HashMap<String, usize> = HashMap::new();
            for (_, op) in operations_mut(item) {
                if let Some(id) = &op.operation_id {
                    *count.entry(id.clone()).or_default() += 1;
                }
            }
            for (method, op) in operations_mut(item) {
                if let Some(id) = &mut op.operation_id
                    && count.get(id.as_str()).is_some_and(|n| *n > 1)
                {
                    *id = format!("{id}_{method}");
                }
            }
        }
    }
}

/// A path's operations with their method names (lower-case, as in the document).
pub(crate) fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

/// Prefixes every operation id of `doc` (the qBittorrent API's names, such as `login`
/// or `pause`, are the native API's too).
pub(crate) fn prefix_operation_ids(doc: &mut Document, prefix: &str) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            if let Some(id) = &mut op.operation_id {
                *id = format!("{prefix}{id}");
            }
        }
    }
}
