//! Malformed requests and hostile torrents get clear JSON errors and change nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::bencode::{B, info_multi, info_single, torrent};
use crate::support::wait_for;

/// `MAX_BODY_BYTES` of the API: the largest request body accepted.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// Length of each file in the hand-made torrents.
const LEN: u64 = 20_000;

/// An expected error: status and `error.code`.
type Expect = (StatusCode, &'static str);
const INVALID_JSON: Expect = (StatusCode::BAD_REQUEST, "invalid_json");
const INVALID_REQUEST: Expect = (StatusCode::BAD_REQUEST, "invalid_request");
const INVALID_MAGNET: Expect = (StatusCode::BAD_REQUEST, "invalid_magnet");
const INVALID_URL: Expect = (StatusCode::BAD_REQUEST, "invalid_url");
const INVALID_PRIORITY: Expect = (StatusCode::BAD_REQUEST, "invalid_priority");
const INVALID_PEER: Expect = (StatusCode::BAD_REQUEST, "invalid_peer");
const INVALID_TORRENT: Expect = (StatusCode::BAD_REQUEST, "invalid_torrent");
const INVALID_MULTIPART: Expect = (StatusCode::BAD_REQUEST, "invalid_multipart");
const INVALID_QUERY: Expect = (StatusCode::BAD_REQUEST, "invalid_query");
const UNSAFE_PATH: Expect = (StatusCode::BAD_REQUEST, "unsafe_path");
const UNSUPPORTED: Expect = (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
const NOT_FOUND: Expect = (StatusCode::NOT_FOUND, "not_found");
const NO_METHOD: Expect = (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
const EXISTS: Expect = (StatusCode::CONFLICT, "already_exists");
const TOO_LARGE: Expect = (StatusCode::PAYLOAD_TOO_LARGE, "too_large");

/// Asserts a JSON error response: status and `error.code`, and a non-empty message.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), (status, code): Expect, what: &str) {
    let (s, body) = got;
    assert_eq!(*s, status, "{what}: status; body: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: code; body: {body}");
    let message = body["error"]["message"].as_str();
    assert!(message.is_some_and(|m| !m.is_empty()), "{what}: {body}");
}

fn random_hash() -> String {
    hex::encode(rand::random::<[u8; 20]>())
}

async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("response body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// POST /api/torrents with a raw body and content type (or none).
async fn post_raw(app: &TestApp, ctype: Option<&str>, body: String) -> (StatusCode, Value) {
    let url = format!("{}/api/torrents", app.base);
    let mut req = app
        .client
        .post(url)
        .bearer_auth(&app.admin_token)
        .body(body);
    if let Some(ct) = ctype {
        req = req.header(CONTENT_TYPE, ct);
    }
    read(req.send().await.expect("request sent")).await
}

async fn post_form(app: &TestApp, form: Form) -> (StatusCode, Value) {
    let url = format!("{}/api/torrents", app.base);
    let req = app.client.post(url).bearer_auth(&app.admin_token);
    read(req.multipart(form).send().await.expect("request sent")).await
}

async fn post_json(app: &TestApp, body: Value) -> (StatusCode, Value) {
    let token = Some(app.admin_token.as_str());
    app.call(Method::POST, "/api/torrents", token, Some(body))
        .await
}

/// The server is healthy and holds exactly `expected` torrents (by info hash). The
/// torrent count of `/api/health` is a detail for administrators.
async fn assert_state(app: &TestApp, expected: &[&str], what: &str) {
    let admin = Some(app.admin_token.as_str());
    let (status, health) = app.call(Method::GET, "/api/health", admin, None).await;
    assert_eq!(status, StatusCode::OK, "{what}: health {health}");
    assert_eq!(
        health["engine"]["torrents"],
        expected.len(),
        "{what}: {health}"
    );
    let listed: BTreeSet<String> = (app.list(&app.admin_token).await.iter())
        .map(|t| t["infoHash"].as_str().expect("hash").to_owned())
        .collect();
    let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, expected, "{what}: torrent list");
}

/// Every entry below `dir`, directories included; symlinks are listed, not followed.
fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if std::fs::symlink_metadata(&p).expect("lstat").is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The names of the entries directly in `dir`.
fn names_in(dir: &Path) -> BTreeSet<String> {
    (std::fs::read_dir(dir).expect("read_dir").flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A well-formed two-file torrent named `name` (files `a.bin`, `b.bin`).
fn valid_torrent(name: &str) -> (Vec<u8>, String) {
    torrent(info_multi(
        Some(name),
        &[(&["a.bin"], LEN), (&["b.bin"], LEN)],
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_add_requests_get_json_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let good = format!("magnet:?xt=urn:btih:{}", random_hash());
    let zeros = "0".repeat(40);
    let json_body = json!({ "magnetURI": zeros }).to_string();

    // Bodies that are not JSON, or not sent as JSON.
    let json_ct = Some("application/json");
    let raw_cases = [
        (
            "truncated JSON",
            json_ct,
            r#"{"magnetURI": "#.to_owned(),
            INVALID_JSON,
        ),
        ("empty JSON body", json_ct, String::new(), INVALID_JSON),
        (
            "not JSON at all",
            json_ct,
            "magnet please".to_owned(),
            INVALID_JSON,
        ),
        (
            "text/plain",
            Some("text/plain"),
            json_body.clone(),
            UNSUPPORTED,
        ),
        ("no content type", None, json_body.clone(), UNSUPPORTED),
        (
            "form-urlencoded",
            Some("application/x-www-form-urlencoded"),
            format!("magnetURI={zeros}"),
            UNSUPPORTED,
        ),
    ];
    for (what, ctype, body, expect) in raw_cases {
        assert_error(&post_raw(&app, ctype, body).await, expect, what);
        assert_state(&app, &[], what).await;
    }

    // JSON of the wrong shape, or with invalid values.
    let btmh = format!("magnet:?xt=urn:btmh:1220{}", "ab".repeat(32));
    let json_cases = [
        ("array", json!([]), INVALID_JSON),
        ("string", json!("magnet"), INVALID_JSON),
        ("null", Value::Null, INVALID_JSON),
        ("magnetURI a number", json!({"magnetURI": 5}), INVALID_JSON),
        (
            "paused a string",
            json!({"magnetURI": good, "paused": "yes"}),
            INVALID_JSON,
        ),
        (
            "peers a string",
            json!({"magnetURI": good, "peers": "127.0.0.1:1"}),
            INVALID_JSON,
        ),
        (
            "priority a number",
            json!({"magnetURI": good, "priority": 1}),
            INVALID_JSON,
        ),
        ("empty object", json!({}), INVALID_REQUEST),
        (
            "only options",
            json!({"paused": true, "priority": "high"}),
            INVALID_REQUEST,
        ),
        (
            "nonsense magnet",
            json!({"magnetURI": "nonsense"}),
            INVALID_MAGNET,
        ),
        ("empty magnet", json!({"magnetURI": ""}), INVALID_MAGNET),
        (
            "short hash",
            json!({"magnetURI": "magnet:?xt=urn:btih:1234"}),
            INVALID_MAGNET,
        ),
        (
            "41-char hash",
            json!({"magnetURI": format!("{good}0")}),
            INVALID_MAGNET,
        ),
        (
            "non-hex hash",
            json!({"magnetURI": format!("magnet:?xt=urn:btih:{}", "z".repeat(40))}),
            INVALID_MAGNET,
        ),
        (
            "39-char bare hash",
            json!({"magnetURI": &zeros[1..]}),
            INVALID_MAGNET,
        ),
        (
            "no xt",
            json!({"magnetURI": "magnet:?dn=nohash"}),
            INVALID_MAGNET,
        ),
        ("v2-only btmh", json!({"magnetURI": btmh}), INVALID_MAGNET),
        (
            "http URL as magnet",
            json!({"magnetURI": "http://example.com/x.torrent"}),
            INVALID_MAGNET,
        ),
        (
            "bad x.pe",
            json!({"magnetURI": format!("{good}&x.pe=nope")}),
            INVALID_MAGNET,
        ),
        (
            "magnet and url",
            json!({"magnetURI": good, "url": "https://example.com/x"}),
            INVALID_REQUEST,
        ),
        (
            "loopback url",
            json!({"url": "http://127.0.0.1:1/x.torrent"}),
            INVALID_URL,
        ),
        (
            "localhost url",
            json!({"url": "http://localhost:1/x.torrent"}),
            INVALID_URL,
        ),
        (
            "ipv6 loopback url",
            json!({"url": "http://[::1]:1/x.torrent"}),
            INVALID_URL,
        ),
        (
            "mapped loopback url",
            json!({"url": "http://[::ffff:127.0.0.1]:1/x"}),
            INVALID_URL,
        ),
        (
            "private url",
            json!({"url": "http://10.1.2.3/x.torrent"}),
            INVALID_URL,
        ),
        (
            "link-local url",
            json!({"url": "http://169.254.169.254/latest"}),
            INVALID_URL,
        ),
        ("ftp url", json!({"url": "ftp://x/y"}), INVALID_URL),
        (
            "file url",
            json!({"url": "file:///etc/passwd"}),
            INVALID_URL,
        ),
        ("not a url", json!({"url": "not a url"}), INVALID_URL),
        (
            "bad priority",
            json!({"magnetURI": good, "priority": "urgent"}),
            INVALID_PRIORITY,
        ),
        (
            "empty priority",
            json!({"magnetURI": good, "priority": ""}),
            INVALID_PRIORITY,
        ),
        (
            "bad peer",
            json!({"magnetURI": good, "peers": ["nope"]}),
            INVALID_PEER,
        ),
        (
            "peer without port",
            json!({"magnetURI": good, "peers": ["127.0.0.1"]}),
            INVALID_PEER,
        ),
        (
            "a bad peer among good",
            json!({"magnetURI": good, "peers": ["127.0.0.1:1", "x:1"]}),
            INVALID_PEER,
        ),
    ];
    for (what, body, expect) in json_cases {
        assert_error(&post_json(&app, body).await, expect, what);
        assert_state(&app, &[], what).await;
    }

    // Multipart forms.
    let (valid, _) = valid_torrent("valid-but-refused");
    let mut junk = vec![0u8; 4096];
    rand::Rng::fill(&mut rand::rng(), &mut junk[..]);
    let file = |bytes: &[u8]| Part::bytes(bytes.to_vec()).file_name("x.torrent");
    let with_file = |bytes: &[u8]| Form::new().part("file", file(bytes));
    let form_cases = [
        ("random bytes", with_file(&junk), INVALID_TORRENT),
        ("empty file", with_file(b""), INVALID_TORRENT),
        (
            "bencoded non-torrent",
            with_file(b"d3:fooi1ee"),
            INVALID_TORRENT,
        ),
        (
            "truncated torrent",
            with_file(&valid[..valid.len() / 2]),
            INVALID_TORRENT,
        ),
        ("no parts at all", Form::new(), INVALID_MULTIPART),
        (
            "unknown field only",
            Form::new().text("comment", "hello"),
            INVALID_REQUEST,
        ),
        (
            "options only",
            Form::new().text("priority", "high").text("paused", "true"),
            INVALID_REQUEST,
        ),
        (
            "file and magnet",
            with_file(&valid).text("magnetURI", good.clone()),
            INVALID_REQUEST,
        ),
        (
            "file, bad priority",
            with_file(&valid).text("priority", "urgent"),
            INVALID_PRIORITY,
        ),
        (
            "file, bad peer",
            with_file(&valid).text("peers", "nope"),
            INVALID_PEER,
        ),
        (
            "bad magnet field",
            Form::new().text("magnetURI", "nonsense"),
            INVALID_MAGNET,
        ),
    ];
    for (what, form, expect) in form_cases {
        assert_error(&post_form(&app, form).await, expect, what);
        assert_state(&app, &[], what).await;
    }

    // Nothing was written to the download folder.
    assert_eq!(names_in(&app.downloads()), set(&[]));
}

/// Bodies over `MAX_BODY_BYTES` are 413 `too_large`, as JSON and as a multipart upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_too_large() {
    let app = TestApp::spawn().await;
    let huge = json!({ "magnetURI": "a".repeat(MAX_BODY + 1024) }).to_string();
    let got = post_raw(&app, Some("application/json"), huge).await;
    assert_error(&got, TOO_LARGE, "JSON body over the limit");
    assert_state(&app, &[], "huge JSON").await;

    let mut big = vec![0u8; MAX_BODY + 64 * 1024];
    rand::Rng::fill(&mut rand::rng(), &mut big[..]);
    let got = app.upload(&app.admin_token, &big, &[]).await;
    assert_error(&got, TOO_LARGE, "multipart upload over the limit");
    assert_state(&app, &[], "oversized upload").await;
    assert_eq!(names_in(&app.downloads()), set(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_unknown_and_malformed_torrent_requests() {
    let app = TestApp::spawn().await;
    let token = app.admin_token.clone();
    let hash = random_hash();
    let magnet = format!("magnet:?xt=urn:btih:{hash}");
    let added = app
        .add_magnet(&token, &magnet, json!({"paused": true}))
        .await;
    assert_eq!(added["infoHash"], hash.as_str());

    // The same torrent again, however it is spelled.
    for (what, again) in [
        ("same magnet", magnet.clone()),
        (
            "upper-case hash",
            format!("magnet:?xt=urn:btih:{}", hash.to_uppercase()),
        ),
        ("bare hash", hash.clone()),
        ("with a name", format!("{magnet}&dn=other-name")),
    ] {
        let got = post_json(&app, json!({"magnetURI": again, "paused": true})).await;
        assert_error(&got, EXISTS, what);
    }
    assert_state(&app, &[&hash], "after duplicates").await;

    let t = format!("/api/torrents/{hash}");
    let u = format!("/api/torrents/{}", random_hash());
    let high = Some(json!({"priority": "high"}));
    let (get, post, put, delete) = (Method::GET, Method::POST, Method::PUT, Method::DELETE);
    let cases = [
        ("GET unknown", get.clone(), u.clone(), None, NOT_FOUND),
        (
            "pause unknown",
            post.clone(),
            format!("{u}/pause"),
            None,
            NOT_FOUND,
        ),
        (
            "resume unknown",
            post.clone(),
            format!("{u}/resume"),
            None,
            NOT_FOUND,
        ),
        (
            "priority unknown",
            put.clone(),
            format!("{u}/priority"),
            high.clone(),
            NOT_FOUND,
        ),
        ("DELETE unknown", delete.clone(), u.clone(), None, NOT_FOUND),
        (
            "GET malformed",
            get.clone(),
            "/api/torrents/xyz".into(),
            None,
            NOT_FOUND,
        ),
        (
            "pause malformed",
            post.clone(),
            "/api/torrents/xyz/pause".into(),
            None,
            NOT_FOUND,
        ),
        (
            "DELETE malformed",
            delete.clone(),
            "/api/torrents/xyz".into(),
            None,
            NOT_FOUND,
        ),
        ("GET 41 hex", get.clone(), format!("{t}0"), None, NOT_FOUND),
        (
            "GET 39 hex",
            get.clone(),
            t[..t.len() - 1].to_owned(),
            None,
            NOT_FOUND,
        ),
        (
            "GET encoded traversal",
            get.clone(),
            "/api/torrents/..%2F..%2Fetc%2Fpasswd".into(),
            None,
            NOT_FOUND,
        ),
        (
            "priority urgent",
            put.clone(),
            format!("{t}/priority"),
            Some(json!({"priority": "urgent"})),
            INVALID_PRIORITY,
        ),
        (
            "priority missing",
            put.clone(),
            format!("{t}/priority"),
            Some(json!({})),
            INVALID_JSON,
        ),
        (
            "priority a number",
            put.clone(),
            format!("{t}/priority"),
            Some(json!({"priority": 1})),
            INVALID_JSON,
        ),
        (
            "deleteFiles=maybe",
            delete.clone(),
            format!("{t}?deleteFiles=maybe"),
            None,
            INVALID_QUERY,
        ),
        (
            "unknown API route",
            get.clone(),
            "/api/nope".into(),
            None,
            NOT_FOUND,
        ),
        (
            "unknown route",
            get.clone(),
            "/nope".into(),
            None,
            NOT_FOUND,
        ),
        (
            "unknown sub-route",
            post.clone(),
            format!("{t}/explode"),
            None,
            NOT_FOUND,
        ),
        (
            "PATCH torrents",
            Method::PATCH,
            "/api/torrents".into(),
            None,
            NO_METHOD,
        ),
        (
            "DELETE torrents",
            delete.clone(),
            "/api/torrents".into(),
            None,
            NO_METHOD,
        ),
        (
            "GET pause",
            get.clone(),
            format!("{t}/pause"),
            None,
            NO_METHOD,
        ),
        (
            "PUT torrent",
            put.clone(),
            t.clone(),
            Some(json!({"paused": false})),
            NO_METHOD,
        ),
        (
            "GET login",
            get.clone(),
            "/api/auth/login".into(),
            None,
            NO_METHOD,
        ),
    ];
    for (what, method, path, body, expect) in cases {
        assert_error(
            &app.call(method, &path, Some(&token), body).await,
            expect,
            what,
        );
    }
    // Wrong content type on a JSON endpoint.
    let req = app
        .client
        .put(format!("{}{t}/priority", app.base))
        .bearer_auth(&token);
    let req = req
        .header(CONTENT_TYPE, "text/plain")
        .body(r#"{"priority": "high"}"#);
    let got = read(req.send().await.expect("sent")).await;
    assert_error(&got, UNSUPPORTED, "priority as text/plain");

    // The torrent is untouched by all of that.
    let v = app.torrent(&token, &hash).await;
    assert_eq!(v["priority"], "normal", "{v}");
    assert_eq!(v["paused"], true, "{v}");
    assert_state(&app, &[&hash], "after the battery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_torrent_paths_are_refused_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let root = app.dir.path().to_path_buf();
    let abs_file = root.join("evil-absolute.txt").display().to_string();
    let abs_dir = root.join("evil-absolute-dir").display().to_string();
    let tmp_evil = Path::new("/tmp/evil.txt");
    let tmp_evil_existed = tmp_evil.exists();

    // One file at `path` in a folder `name`.
    let one = |name: &str, path: &[&str]| info_multi(Some(name), &[(path, LEN)]);
    // Two files, so that `name` is the folder they are laid out in.
    let named = |name: &str| info_multi(Some(name), &[(&["evil.txt"], LEN), (&["evil2.txt"], LEN)]);
    let good_and_bad: &[(&[&str], u64)] = &[(&["good.bin"], LEN), (&["..", "..", "evil.txt"], LEN)];
    let hostile: Vec<(&str, B)> = vec![
        ("path [.., evil.txt]", one("pack", &["..", "evil.txt"])),
        (
            "path [sub, .., .., evil.txt]",
            one("pack", &["sub", "..", "..", "evil.txt"]),
        ),
        (
            "one bad file among good ones",
            info_multi(Some("pack"), good_and_bad),
        ),
        (
            "absolute component into the test dir",
            one("pack", &[abs_file.as_str()]),
        ),
        (
            "absolute component /tmp/evil.txt",
            one("pack", &["/tmp/evil.txt"]),
        ),
        (
            "component with slashes",
            one("pack", &["sub/../../evil.txt"]),
        ),
        ("component with a backslash", one("pack", &["..\\evil.txt"])),
        ("component '.'", one("pack", &[".", "evil.txt"])),
        ("empty component", one("pack", &["sub", "", "evil.txt"])),
        ("only an empty component", one("pack", &[""])),
        ("empty path list", one("pack", &[])),
        ("component with a NUL", one("pack", &["evil.txt\0.jpg"])),
        ("drive-prefixed component", one("pack", &["C:evil.txt"])),
        (
            "no name, climbing",
            info_multi(None, &[(&["..", "evil.txt"], LEN)]),
        ),
        ("name '..' with files", named("..")),
        ("name '.' with files", named(".")),
        ("name '../evil-pack' with files", named("../evil-pack")),
        ("absolute name with files", named(&abs_dir)),
        ("empty name with files", named("")),
        ("name with a NUL with files", named("evil\0pack")),
        (
            "single-file name ../evil.txt",
            info_single("../evil.txt", LEN),
        ),
        ("single-file name ..", info_single("..", LEN)),
        ("single-file absolute name", info_single(&abs_file, LEN)),
        (
            "single-file name with a backslash",
            info_single("..\\evil.txt", LEN),
        ),
        (
            "single-file name with a NUL",
            info_single("evil.txt\0.jpg", LEN),
        ),
        (
            "single-file drive-prefixed name",
            info_single("C:\\evil.txt", LEN),
        ),
    ];
    for (what, info) in hostile {
        let (bytes, _) = torrent(info);
        let (status, body) = app
            .upload(&app.admin_token, &bytes, &[("paused", "false")])
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{what}: must be refused; body: {body}"
        );
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code == "invalid_torrent" || code == "unsafe_path",
            "{what}: {body}"
        );
        assert_state(&app, &[], what).await;
    }

    // Nothing anywhere: the temp dir holds the server's data and an empty downloads.
    assert_eq!(names_in(&root), set(&["data", "downloads"]));
    assert_eq!(names_in(&app.downloads()), set(&[]));
    let evil: Vec<PathBuf> = (walk_all(&root).into_iter())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().contains("evil"))
        })
        .collect();
    assert!(evil.is_empty(), "hostile files written: {evil:?}");
    if !tmp_evil_existed {
        assert!(!tmp_evil.exists(), "/tmp/evil.txt was written");
    }

    // Names that merely contain dots are legitimate and accepted.
    let two =
        |name: &str, a: &str, b: &str| info_multi(Some(name), &[(&[a], LEN), (&["sub", b], LEN)]);
    let mut accepted = Vec::new();
    for (name, info) in [
        ("..hidden", two("..hidden", "a.bin", "b..c.bin")),
        ("a..b", info_single("a..b", LEN)),
        ("...", two("...", "..x", "y..")),
    ] {
        let (bytes, hash) = torrent(info);
        let (status, body) = app
            .upload(&app.admin_token, &bytes, &[("paused", "true")])
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{name:?} must be accepted: {body}"
        );
        assert_eq!(body["infoHash"], hash.as_str(), "{body}");
        assert_eq!(body["name"], name, "{body}");
        let v = app.torrent(&app.admin_token, &hash).await;
        assert!(v["error"].is_null(), "{name:?}: {v}");
        assert_eq!(v["state"], "paused", "{name:?}: {v}");
        accepted.push(hash);
    }
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    assert_state(&app, &accepted, "after the hostile battery").await;
    // Whatever the accepted ones created stays in the admin's folder, under their own
    // names.
    let top = names_in(&app.admin_downloads());
    assert!(
        top.is_subset(&set(&["..hidden", "a..b", "..."])),
        "downloads: {top:?}"
    );
    assert!(names_in(&app.downloads()).is_subset(&set(&["users"])));
    assert_eq!(names_in(&root), set(&["data", "downloads"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_in_the_download_folder_are_not_followed() {
    let app = TestApp::spawn().await;
    // The admin's own folder, where their torrents are laid out.
    let downloads = app.admin_downloads();
    std::fs::create_dir_all(&downloads).expect("mkdir");
    let outside = tempfile::tempdir().expect("outside dir");
    let out_dir = outside.path().join("dir");
    let out_file = outside.path().join("target.bin");
    std::fs::create_dir(&out_dir).expect("mkdir");
    std::fs::write(&out_file, b"original").expect("write");

    // downloads/linkdir -> a directory outside downloads.
    std::os::unix::fs::symlink(&out_dir, downloads.join("linkdir")).expect("symlink");
    // downloads/real/inner -> the same directory, one level down.
    std::fs::create_dir(downloads.join("real")).expect("mkdir");
    std::os::unix::fs::symlink(&out_dir, downloads.join("real/inner")).expect("symlink");
    // downloads/linkfile -> a file outside downloads.
    std::os::unix::fs::symlink(&out_file, downloads.join("linkfile")).expect("symlink");

    let nested: &[(&[&str], u64)] = &[(&["inner", "a.bin"], LEN), (&["b.bin"], LEN)];
    let cases = [
        (
            "multi-file torrent named like a symlinked dir",
            valid_torrent("linkdir").0,
        ),
        (
            "symlinked dir one level down",
            torrent(info_multi(Some("real"), nested)).0,
        ),
        (
            "single file named like a symlinked file",
            torrent(info_single("linkfile", LEN)).0,
        ),
    ];
    for (what, bytes) in &cases {
        let got = app
            .upload(&app.admin_token, bytes, &[("paused", "false")])
            .await;
        assert_error(&got, UNSAFE_PATH, what);
        assert_state(&app, &[], what).await;
    }
    assert_eq!(names_in(&out_dir), set(&[]), "written outside downloads");
    assert_eq!(names_in(outside.path()), set(&["dir", "target.bin"]));
    assert_eq!(std::fs::read(&out_file).expect("read"), b"original");

    // The refusal was about the symlink: without it the same torrent is accepted.
    std::fs::remove_file(downloads.join("linkdir")).expect("unlink");
    let (bytes, hash) = valid_torrent("linkdir");
    assert_eq!(bytes, cases[0].1);
    let (status, body) = app
        .upload(&app.admin_token, &bytes, &[("paused", "true")])
        .await;
    assert_eq!(status, StatusCode::CREATED, "without the symlink: {body}");
    assert_state(&app, &[&hash], "after the symlink battery").await;
    assert_eq!(names_in(&out_dir), set(&[]), "written outside downloads");
}

/// A multi-file torrent without a `name`: librqbit lays it out in a folder named after
/// the stem of its longest file, so that folder must be checked for symlinks too (or
/// such torrents refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameless_multi_file_torrent_cannot_escape_through_a_symlink() {
    let app = TestApp::spawn().await;
    let outside = tempfile::tempdir().expect("outside dir");
    // The longest file is `a.bin`, so librqbit's folder for this torrent is `a`.
    std::fs::create_dir_all(app.admin_downloads()).expect("mkdir");
    std::os::unix::fs::symlink(outside.path(), app.admin_downloads().join("a")).expect("symlink");
    let files: &[(&[&str], u64)] = &[(&["a.bin"], 2 * LEN), (&["b.bin"], LEN)];
    let (bytes, hash) = torrent(info_multi(None, files));

    let (status, body) = app
        .upload(&app.admin_token, &bytes, &[("paused", "false")])
        .await;
    if status == StatusCode::CREATED {
        // Accepting it is fine only if it stays inside downloads: let librqbit lay the
        // files out (it creates them while checking), then look outside.
        let v = wait_for(
            "the torrent to be checked",
            Duration::from_secs(30),
            || async {
                let v = app.torrent(&app.admin_token, &hash).await;
                (!matches!(v["state"].as_str(), Some("checking" | "metadata"))).then_some(v)
            },
        )
        .await;
        let out = walk_all(outside.path());
        assert!(
            out.is_empty(),
            "accepted ({v}) and written OUTSIDE downloads: {out:?}"
        );
        // ...and the files were laid out where the server says, in a real folder.
        let folder = app
            .downloads()
            .join(v["savePath"].as_str().expect("savePath"));
        let meta = std::fs::symlink_metadata(&folder).expect("save folder exists");
        assert!(meta.is_dir() && !meta.is_symlink(), "{v}");
        let inside = walk_all(&app.downloads());
        assert!(folder.join("a.bin").is_file(), "{v}: {inside:?}");
        assert!(folder.join("b.bin").is_file(), "{v}: {inside:?}");
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(code == "unsafe_path" || code == "invalid_torrent", "{body}");
        assert_state(&app, &[], "nameless torrent").await;
        assert_eq!(walk_all(outside.path()), Vec::<PathBuf>::new());
    }
}
