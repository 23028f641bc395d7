//! The document against the router the server really serves, and the document's own
//! soundness.
//!
//! # How coverage is checked
//!
//! axum's `Router` cannot list its routes, so they are found from two sides:
//!
//! 1. **The sources.** Every `.route("...")` under `src/` names its path as a string
//!    literal; the scan collects them, and fails on any way to register a route whose
//!    path it could not see (a `.route(` whose first argument is not a literal,
//!    `.route_service(`, `.nest(`, `.nest_service(`).
//! 2. **The real router.** [`App::router`] (what `App::run` serves) is wrapped in a
//!    `route_layer` that echoes the template of the route that matched
//!    ([`MatchedPath`]) in a response header. Only a matched route sets it: the 404
//!    fallback never does, and the method fallback (405, which no handler answers
//!    itself) is told by its status. Each path literal is requested (without a token:
//!    the route matches before any handler checks one) with every method; an echo of
//!    that same literal means the route serves that method.
//!
//! Then the routes served (less [`NOT_IN_THE_DOCUMENT`], each with its reason) must be
//! exactly the operations of the document, and each documented operation, requested,
//! must be answered by the route it names.
//!
//! **A new route** needs: `#[utoipa::path(method, path = "...", tag = "...", ...)]` on
//! its handler, with the same path as its `.route("...")` literal; the handler in its
//! module's `Doc` (`#[openapi(paths(...))]`); and a new module's `Doc` in
//! [`super::parts`]. A handler serving two paths needs one handler per path (one
//! `#[utoipa::path]` each). Something that is not REST goes in `NOT_IN_THE_DOCUMENT`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::OpenApi;

use super::{ApiDoc, DOCS_PATH, DOCUMENT_PATH};
use crate::app::App;
use crate::config::Config;

/// Routes the server answers that the document leaves out on purpose.
const NOT_IN_THE_DOCUMENT: &[(&str, &str)] = &[
    (
        "/dav",
        "WebDAV: a protocol (PROPFIND, ...) for media players, not REST",
    ),
    ("/dav/", "WebDAV"),
    ("/dav/{*path}", "WebDAV"),
    ("/", "the dashboard's page"),
    ("/index.html", "the dashboard's page"),
    ("/favicon.svg", "the dashboard's icon"),
    ("/assets/{*file}", "the dashboard's scripts and styles"),
    ("/graphql/playground", "the GraphQL playground's page"),
    (
        "/graphiql/{file}",
        "the GraphQL playground's scripts and styles",
    ),
    (
        "/announce",
        "BitTorrent tracker protocol (bencoded), not REST",
    ),
    ("/announce/{passkey}", "BitTorrent tracker protocol"),
    ("/scrape", "BitTorrent tracker protocol"),
    ("/scrape/{passkey}", "BitTorrent tracker protocol"),
];

/// Every method a route can serve but HEAD, which axum answers wherever GET is served
/// (a documented HEAD is checked from the document's side).
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
];

const ECHO: &str = "x-test-matched-route";

/// The route template that answered, echoed in a header.
async fn echo_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut resp = next.run(req).await;
    if let Some(v) = matched.and_then(|m| HeaderValue::from_str(m.as_str()).ok()) {
        resp.headers_mut().insert(ECHO, v);
    }
    resp
}

/// The server's router as `App::run` serves it, on a fresh data directory, with the echo.
async fn served() -> (App, tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().expect("tempdir");
    let vars = [
        ("HOST", "127.0.0.1".to_owned()),
        ("PORT", "0".to_owned()),
        ("PEER_HOST", "127.0.0.1".to_owned()),
        ("PEER_PORT", "0".to_owned()),
        ("ENABLE_DHT", "false".to_owned()),
        ("ENABLE_LSD", "false".to_owned()),
        ("ADMIN_PASSWORD", "openapi-test-password".to_owned()),
        ("DATA_DIR", dir.path().join("data").display().to_string()),
        ("DOWNLOAD_PATH", dir.path().join("dl").display().to_string()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let config = Config::from_vars(vars).expect("config");
    let app = App::build(config).await.expect("the server builds");
    let router = app
        .router()
        .route_layer(axum::middleware::from_fn(echo_route));
    (app, dir, router)
}

/// The template of the route that answers `method path`, if a route does.
async fn answering_route(router: &axum::Router, method: Method, path: &str) -> Option<String> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        return None;
    }
    let echo = resp.headers().get(ECHO)?;
    Some(echo.to_str().expect("ascii").to_owned())
}

/// A concrete path for a template: each `{param}` and `{*rest}` filled in.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            s if s.starts_with("{*") => "p/q",
            s if s.starts_with('{') => "p",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The path literals of every `.route(` under `src/`; panics on a registration the scan
/// cannot see through.
fn route_literals() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let this = Path::new(env!("CARGO_MANIFEST_DIR")).join(file!());
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = BTreeSet::new();
    let mut problems = Vec::new();
    for file in files.iter().filter(|f| **f != this) {
        let text = std::fs::read_to_string(file).expect("read source");
        // Comments may mention routes; only code registers them.
        let code: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("//") {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        for banned in [".route_service(", ".nest(", ".nest_service("] {
            if code.contains(banned) {
                problems.push(format!("{}: `{banned}` hides its paths", file.display()));
            }
        }
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            match rest.strip_prefix('"').and_then(|r| r.split_once('"')) {
                Some((path, _)) => {
                    found.insert(path.to_owned());
                }
                None => problems.push(format!(
                    "{}: a `.route(` whose path is not a string literal",
                    file.display()
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (path, method) of every operation in the document, methods upper-case.
fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("serialize");
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if METHODS
                .iter()
                .any(|m| m.as_str().eq_ignore_ascii_case(method))
                || method == "head"
            {
                ops.insert((path.clone(), method.to_ascii_uppercase()));
            }
        }
    }
    ops
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_in_the_openapi_document_and_every_operation_is_served() {
    let (_app, _dir, router) = served().await;
    let excluded: BTreeSet<&str> = NOT_IN_THE_DOCUMENT.iter().map(|(p, _)| *p).collect();

    let mut served_ops = BTreeSet::new();
    let mut unanswered = Vec::new();
    for literal in route_literals() {
        let mut any = false;
        for method in METHODS {
            let route = answering_route(&router, method.clone(), &concrete(&literal)).await;
            if route.as_deref() == Some(literal.as_str()) {
                any = true;
                served_ops.insert((literal.clone(), method.as_str().to_owned()));
            }
        }
        if !any {
            unanswered.push(literal);
        }
    }
    assert!(
        unanswered.is_empty(),
        "route literals in src/ the served router does not answer (a router not merged \
         into `api::router`? exclude it here with the reason): {unanswered:?}"
    );
    for path in &excluded {
        assert!(
            served_ops.iter().any(|(p, _)| p == path),
            "{path} is excluded from the document but no longer served: drop the exclusion"
        );
    }

    let documented = documented();
    let missing: Vec<_> = served_ops
        .iter()
        .filter(|(p, _)| !excluded.contains(p.as_str()))
        .filter(|op| !documented.contains(*op))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document (add `#[utoipa::path]` to the handler \
         and list it in its module's `Doc`): {missing:#?}"
    );

    let mut wrong = Vec::new();
    for (path, method) in &documented {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let route = answering_route(&router, m, &concrete(path)).await;
        if route.as_deref() != Some(path.as_str()) {
            wrong.push(format!("{method} {path}: answered by {route:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "documented operations the server does not serve at that path and method: {wrong:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_and_the_swagger_ui_are_served_without_a_token() {
    let (_app, _dir, router) = served().await;
    for path in [DOCUMENT_PATH, &format!("{DOCS_PATH}/")] {
        let req = Request::get(path).body(Body::empty()).expect("request");
        let resp = router.clone().oneshot(req).await.expect("infallible");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_sound_openapi() {
    // Validated against the OpenAPI schema by `openapi-spec-validator` in the
    // integration test (tests/it/openapi.rs); these are the checks it does not make.
    let json = ApiDoc::openapi().to_pretty_json().expect("serialize");
    let v: Value = serde_json::from_str(&json).expect("json");
    assert!(v["openapi"].as_str().is_some_and(|s| s.starts_with("3.")));
    assert_eq!(v["info"]["title"], "TorrentEdge");
    assert_eq!(v["info"]["version"], env!("CARGO_PKG_VERSION"));

    // Every reference names a schema that is there.
    let schemas = v["components"]["schemas"].as_object().expect("schemas");
    let mut all = Vec::new();
    refs(&v, &mut all);
    let dangling: BTreeSet<_> = all
        .into_iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_none_or(|name| !schemas.contains_key(name))
        })
        .collect();
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");

    // Operation ids are unique, and every security requirement names a scheme.
    let schemes = v["components"]["securitySchemes"]
        .as_object()
        .expect("schemes");
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for item in v["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("item").values() {
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an id");
            *ids.entry(id).or_default() += 1;
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().expect("requirement").keys() {
                    assert!(schemes.contains_key(name), "{id}: no scheme {name}");
                }
            }
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id} has no tag"
            );
        }
    }
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "operation ids used twice: {twice:?}");
}

/// Schemas follow serde: what a view serializes to has the fields its schema names.
#[test]
fn schemas_name_the_fields_as_serialized() {
    let v = serde_json::to_value(ApiDoc::openapi()).expect("serialize");
    let schema = |name: &str| v["components"]["schemas"][name]["properties"].clone();
    let view = schema("TorrentView");
    for field in [
        "infoHash",
        "queuePosition",
        "downloadSpeed",
        "streamOnly",
        "ownerId",
    ] {
        assert!(view.get(field).is_some(), "TorrentView.{field}");
    }
    assert!(view.get("info_hash").is_none());
    let pair = schema("TokenPair");
    for field in ["accessToken", "refreshToken", "tokenType", "expiresIn"] {
        assert!(pair.get(field).is_some(), "TokenPair.{field}");
    }
    // The metadata API is snake_case, as the service it replaces.
    let meta = schema("Metadata");
    assert!(meta.get("piece_length").is_some() && meta.get("info_hash").is_some());
    let add = schema("AddBody");
    assert!(add.get("magnetURI").is_some() && add.get("startPaused").is_some());
}
