//! The dashboard's files from a folder (`WEB_DIR`): compression, caching, headers.

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

use super::*;

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><p>plain").unwrap();
    std::fs::write(dir.path().join("index.html.br"), "BROTLI").unwrap();
    std::fs::write(dir.path().join("index.html.gz"), "GZIP").unwrap();
    std::fs::write(dir.path().join("assets/app-ABC.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "not served").unwrap();
    dir
}

async fn get(dir: &tempfile::TempDir, path: &str, headers: &[(&str, &str)]) -> Response {
    let app: Router = router(Assets::Dir(dir.path().to_owned()));
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
}

async fn body(res: Response) -> String {
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn header(res: &Response, name: header::HeaderName) -> &str {
    res.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn the_index_is_sent_in_the_best_encoding_the_client_takes() {
    let dir = folder();
    let br = get(&dir, "/", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(header(&br, header::CONTENT_ENCODING), "br");
    assert_eq!(header(&br, header::CONTENT_TYPE), "text/html");
    assert_eq!(body(br).await, "BROTLI");
    let gz = get(&dir, "/index.html", &[("accept-encoding", "gzip, br;q=0")]).await;
    assert_eq!(header(&gz, header::CONTENT_ENCODING), "gzip");
    assert_eq!(body(gz).await, "GZIP");
    let plain = get(&dir, "/", &[]).await;
    assert_eq!(header(&plain, header::CONTENT_ENCODING), "");
    assert_eq!(header(&plain, header::VARY), "accept-encoding");
    assert_eq!(body(plain).await, "<!doctype html><p>plain");
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_the_index_is_revalidated() {
    let dir = folder();
    let index = get(&dir, "/", &[]).await;
    assert_eq!(header(&index, header::CACHE_CONTROL), "no-cache");
    assert_eq!(header(&index, header::CONTENT_SECURITY_POLICY), CSP);
    assert_eq!(header(&index, header::X_FRAME_OPTIONS), "DENY");
    let js = get(&dir, "/assets/app-ABC.js", &[]).await;
    assert_eq!(
        header(&js, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&js, header::CONTENT_TYPE), "text/javascript");
    assert_eq!(header(&js, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
}

#[tokio::test]
async fn a_matching_etag_gets_304_and_another_encoding_has_its_own() {
    let dir = folder();
    let first = get(&dir, "/", &[("accept-encoding", "br")]).await;
    let etag = header(&first, header::ETAG).to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let again = get(
        &dir,
        "/",
        &[("accept-encoding", "br"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(body(again).await, "");
    let gz = get(
        &dir,
        "/",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(
        gz.status(),
        StatusCode::OK,
        "a gzip body is not the brotli one"
    );
}

#[tokio::test]
async fn nothing_outside_the_assets_folder_is_served() {
    let dir = folder();
    for path in [
        "/assets/../secret.txt",
        "/assets/..%2Fsecret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/",
        "/secret.txt",
        "/assets/missing.js",
    ] {
        let res = get(&dir, path, &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!body(res).await.contains("not served"), "{path}");
    }
}

#[tokio::test]
async fn a_folder_without_a_build_says_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let res = get(&empty, "/", &[]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body(res).await.contains("npm --prefix web"));
}
