//! The OpenAPI document and its Swagger UI, from the shipped binary: served without a
//! token, valid OpenAPI (checked by `openapi-spec-validator`), and the UI's page loads
//! every asset it references from this server.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::json;

use crate::support::process::Running;
use crate::support::tools::require_tool;

/// The `src`/`href` values of a page that name files of this server (relative).
fn local_assets(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let value = part.split('"').next().unwrap_or("");
            if !value.is_empty() && !value.contains("://") && !value.starts_with('#') {
                out.push(value.trim_start_matches("./").to_owned());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_a_valid_openapi_document_and_the_swagger_ui() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Running::start(dir.path(), &[("ADMIN_PASSWORD", "openapi-test-pw-1")]);
    let base = format!("http://{}", server.addr().await);
    let client = reqwest::Client::new();

    let resp = client
        .get(format!("{base}/api/openapi.json"))
        .send()
        .await
        .expect("document");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(doc["info"]["title"], "TorrentEdge");
    assert!(doc["paths"]["/api/torrents"]["post"].is_object());

    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).expect("write");
    let out = Command::new(require_tool("openapi-spec-validator"))
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        out.status.success(),
        "not valid OpenAPI:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // `/api/docs` sends the browser to `/api/docs/`, whose page loads its assets
    // relative to it; reqwest follows the redirect.
    let resp = client
        .get(format!("{base}/api/docs"))
        .send()
        .await
        .expect("docs");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.url().path(), "/api/docs/");
    let html = resp.text().await.expect("page");
    let assets = local_assets(&html);
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "the page references no scripts or styles: {assets:?}"
    );
    for asset in assets.iter().chain([&"swagger-initializer.js".to_owned()]) {
        let resp = client
            .get(format!("{base}/api/docs/{asset}"))
            .send()
            .await
            .expect("asset");
        assert_eq!(resp.status(), 200, "/api/docs/{asset}");
        let body = resp.text().await.expect("asset body");
        if asset == "swagger-initializer.js" {
            assert!(
                body.contains("/api/openapi.json"),
                "the UI reads our document"
            );
        }
    }
    same_fields_as_the_schemas(&client, &base, &doc).await;
    server.terminate().await;
}

async fn get(client: &reqwest::Client, base: &str, token: &str, path: &str) -> serde_json::Value {
    let resp = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send();
    resp.await.expect(path).json().await.expect(path)
}

/// The property names of schema `name` in `doc`.
fn properties(doc: &serde_json::Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    let props = schema["properties"].as_object();
    props
        .unwrap_or_else(|| panic!("no properties in schema {name}: {schema}"))
        .keys()
        .cloned()
        .collect()
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

/// Real answers carry the fields their schemas name (serde's renames followed).
async fn same_fields_as_the_schemas(client: &reqwest::Client, base: &str, doc: &serde_json::Value) {
    let login: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": "openapi-test-pw-1"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login JSON");
    assert_eq!(keys(&login), properties(doc, "TokenPair"));
    let token = login["accessToken"].as_str().expect("token");
    assert_eq!(
        keys(&get(client, base, token, "/api/users/me").await),
        properties(doc, "UserView")
    );
    assert_eq!(
        keys(&get(client, base, token, "/api/settings").await),
        properties(doc, "Settings")
    );
    let health = keys(&get(client, base, token, "/api/health").await);
    assert!(health.is_subset(&properties(doc, "Health")), "{health:?}");
    let error = get(
        client,
        base,
        token,
        "/api/torrents/0000000000000000000000000000000000000000",
    )
    .await;
    assert_eq!(keys(&error), properties(doc, "ErrorBody"));
    assert_eq!(keys(&error["error"]), properties(doc, "ErrorDetail"));
    assert_eq!(
        keys(&get(client, base, token, "/api/catalog").await),
        properties(doc, "EntryPage")
    );
    assert_eq!(
        keys(&get(client, base, token, "/api/catalog/suggest?q=ubu").await),
        properties(doc, "Suggestions")
    );
    let details = &doc["components"]["schemas"]["EntryDetails"];
    assert!(
        details.to_string().contains("CatalogEntry") && details.to_string().contains("SwarmCounts"),
        "details are the entry with its swarm: {details}"
    );
}
