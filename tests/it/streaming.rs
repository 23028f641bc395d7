//! Streaming files while they download: real videos made by `ffmpeg`, seeded by a
//! rate-limited aria2c, played by `ffprobe`/`ffmpeg` through signed links, with byte
//! ranges checked against the source and the have-bitfield checked for what a read
//! did not need. Then idle mode, the stream cap, range errors and refused links.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::support::app::TestApp;
use crate::support::swarm::Content;
use crate::support::tools::{Aria2Seeder, require_tool};
use crate::support::wait_for;

const PIECE: u64 = 32 * 1024;
const JWT_SECRET: &str = "streaming-test-secret-of-at-least-32-bytes";

/// Makes `dir/movie/clip.mp4` (H.264, faststart, 60 s) and `clip.mkv` (the same
/// stream in Matroska).
fn make_videos(dir: &Path) -> PathBuf {
    let ffmpeg = require_tool("ffmpeg");
    let root = dir.join("movie");
    std::fs::create_dir_all(&root).unwrap();
    let mp4 = root.join("clip.mp4");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&ffmpeg)
            .args(args)
            .output()
            .expect("run ffmpeg");
        assert!(
            out.status.success(),
            "ffmpeg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=60:size=640x360:rate=25",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "1200k",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        mp4.to_str().unwrap(),
    ]);
    let mkv = root.join("clip.mkv");
    run(&[
        "-v",
        "error",
        "-y",
        "-i",
        mp4.to_str().unwrap(),
        "-c",
        "copy",
        mkv.to_str().unwrap(),
    ]);
    root
}

fn file_index(details: &Value, name: &str) -> usize {
    details["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("no {name} in {details}"))["index"]
        .as_u64()
        .unwrap() as usize
}

fn file_offset(details: &Value, index: usize) -> u64 {
    details["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["index"] == index)
        .unwrap()["offset"]
        .as_u64()
        .unwrap()
}

/// The torrent's have-bitfield (first piece in the top bit of the first byte).
fn have(details: &Value) -> Vec<bool> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(details["pieces"]["bitfield"].as_str().expect("a bitfield"))
        .unwrap();
    let total = details["pieces"]["total"].as_u64().unwrap() as usize;
    (0..total)
        .map(|i| raw[i / 8] & (0x80 >> (i % 8)) != 0)
        .collect()
}

async fn link(app: &TestApp, token: &str, hash: &str, index: usize) -> String {
    let (status, v) = app
        .call(
            Method::GET,
            &format!("/api/torrents/{hash}/files/{index}/link"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "link: {v}");
    v["url"].as_str().unwrap().to_owned()
}

async fn range_get(url: &str, range: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .header(header::RANGE, range)
        .send()
        .await
        .expect("stream request sent")
}

fn ffprobe(url: &str) -> Value {
    let out = std::process::Command::new(require_tool("ffprobe"))
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "json",
            url,
        ])
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_video_plays_and_seeks_while_it_downloads() {
    let content = tempfile::tempdir().unwrap();
    let root = make_videos(content.path());
    let src = Content {
        dir: content,
        name: "movie".into(),
    };
    let (torrent, hash) = src.make_torrent(PIECE as u32, Vec::new()).await;
    let torrent_path = src.dir.path().join("movie.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    // Slow enough that the torrent is still far from complete when the checks end.
    let seeder =
        Aria2Seeder::start_with(&torrent_path, src.dir.path(), &["--max-upload-limit=1M"]).await;
    let app = TestApp::spawn_with(&[("IDLE_TIMEOUT", "1"), ("JWT_SECRET", JWT_SECRET)]).await;
    let token = app.admin_token.clone();
    let peer = seeder.peer_addr().to_string();
    let fields = [
        ("peers", peer.as_str()),
        ("streamOnly", "true"),
        ("startPaused", "true"),
    ];
    let (status, v) = app.upload(&token, &torrent, &fields).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["streamOnly"], true);
    let details = app.torrent(&token, &hash).await;
    let mp4 = file_index(&details, "clip.mp4");
    let mkv = file_index(&details, "clip.mkv");
    // Nothing was read: nothing downloads.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = app.torrent(&token, &hash).await;
    assert_eq!(
        (idle["state"].as_str(), idle["idle"].as_bool()),
        (Some("paused"), Some(true))
    );
    assert_eq!(idle["downloaded"], 0, "{idle}");

    let mp4_url = link(&app, &token, &hash, mp4).await;
    assert!(mp4_url.contains("/clip.mp4?"), "{mp4_url}");
    let probe = ffprobe(&mp4_url);
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 60.0).abs() < 0.5, "{probe}");
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");

    // A read at 90 %: the bytes are the source's, and the pieces in between were not
    // fetched for it.
    let source = std::fs::read(root.join("clip.mp4")).unwrap();
    let start = source.len() as u64 * 9 / 10;
    let end = start + 256 * 1024 - 1;
    let resp = range_get(&mp4_url, &format!("bytes={start}-{end}")).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let cr = resp.headers()[header::CONTENT_RANGE]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cr, format!("bytes {start}-{end}/{}", source.len()));
    let body = resp.bytes().await.unwrap();
    let want = &source[start as usize..=end as usize];
    let first_diff = body.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        body[..] == *want,
        "bytes at 90 % differ: {} bytes, first difference at {first_diff:?}",
        body.len()
    );
    let details = app.torrent(&token, &hash).await;
    let bits = have(&details);
    let offset = file_offset(&details, mp4);
    let piece_of = |byte: u64| ((offset + byte) / PIECE) as usize;
    assert!(
        (piece_of(start)..=piece_of(end)).all(|p| bits[p]),
        "the pieces read are had"
    );
    let between = piece_of(source.len() as u64 * 3 / 10)..piece_of(source.len() as u64 * 85 / 100);
    let missing = between.clone().filter(|&p| !bits[p]).count();
    assert!(
        missing > between.len() / 2,
        "most pieces between the start and 90 % are not needed for the read: {missing} of {} missing",
        between.len()
    );

    // Matroska: probed, then seeked near the end and decoded.
    let mkv_url = link(&app, &token, &hash, mkv).await;
    let probe = ffprobe(&mkv_url);
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
    let out = std::process::Command::new(require_tool("ffmpeg"))
        .args([
            "-v",
            "error",
            "-ss",
            "55",
            "-i",
            &mkv_url,
            "-frames:v",
            "10",
            "-f",
            "framemd5",
            "-",
        ])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg -ss: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert_eq!(frames, 10, "decoded frames after the seek");

    // The playlist: both videos, each a signed link a player can open.
    let (status, m3u) = app
        .call(
            Method::GET,
            &format!("/api/torrents/{hash}/playlist.m3u"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let m3u = m3u.as_str().unwrap().to_owned();
    let entries: Vec<&str> = m3u.lines().filter(|l| l.starts_with("http")).collect();
    assert_eq!(entries.len(), 2, "{m3u}");
    assert!(
        m3u.starts_with("#EXTM3U\n") && m3u.contains("#EXTINF:-1,clip.mp4"),
        "{m3u}"
    );
    let resp = range_get(entries[1], "bytes=0-99").await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT, "{}", entries[1]);
    assert_eq!(&resp.bytes().await.unwrap()[..], &source[..100]);

    let v = app.torrent(&token, &hash).await;
    assert!(
        v["percentage"].as_f64().unwrap() < 100.0,
        "all of this happened before the download completed: {v}"
    );
    drop(seeder);
}

/// A server with one stream allowed, a 2 s idle timeout and a 3 s read timeout, and a
/// torrent of random bytes seeded slowly.
struct Fixture {
    app: TestApp,
    token: String,
    hash: String,
    source: Vec<u8>,
    url: String,
    seeder: Option<Aria2Seeder>,
    _content: Content,
}

async fn fixture(stream_only: bool) -> Fixture {
    let content = Content::random("idle", &[3 * 1024 * 1024 + 77]);
    let (torrent, hash) = content.make_torrent(PIECE as u32, Vec::new()).await;
    let torrent_path = content.dir.path().join("idle.torrent");
    std::fs::write(&torrent_path, &torrent).unwrap();
    let seeder = Aria2Seeder::start_with(
        &torrent_path,
        content.dir.path(),
        &["--max-upload-limit=200K"],
    )
    .await;
    let app = TestApp::spawn_with(&[
        ("IDLE_TIMEOUT", "2"),
        ("STREAM_MAX_CONCURRENT", "1"),
        ("STREAM_READ_TIMEOUT", "3"),
        ("JWT_SECRET", JWT_SECRET),
    ])
    .await;
    let token = app.admin_token.clone();
    let peer = seeder.peer_addr().to_string();
    let only = stream_only.to_string();
    let (status, v) = app
        .upload(&token, &torrent, &[("peers", &peer), ("streamOnly", &only)])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let source = std::fs::read(content.root().join("file-0.bin")).unwrap();
    let url = format!("{}/api/torrents/{hash}/files/0/stream", app.base);
    Fixture {
        app,
        token,
        hash,
        source,
        url,
        seeder: Some(seeder),
        _content: content,
    }
}

impl Fixture {
    /// A GET of the fixture's file with the owner's token and these headers.
    async fn get(&self, headers: &[(header::HeaderName, String)]) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .get(&self.url)
            .bearer_auth(&self.token);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.send().await.expect("stream request sent")
    }
}

async fn completed(f: &Fixture) -> u64 {
    f.app.torrent(&f.token, &f.hash).await["completedBytes"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unread_stream_only_torrent_stops_and_the_next_read_resumes_it() {
    let f = fixture(true).await;
    // Added without startPaused: it downloads first, then goes idle.
    wait_for(
        "the torrent to download",
        Duration::from_secs(30),
        || async { (completed(&f).await > 0).then_some(()) },
    )
    .await;
    let idle = wait_for(
        "the torrent to go idle",
        Duration::from_secs(30),
        || async {
            let v = f.app.torrent(&f.token, &f.hash).await;
            (v["idle"] == true && v["state"] == "paused").then_some(v)
        },
    )
    .await;
    assert!(idle["percentage"].as_f64().unwrap() < 100.0, "{idle}");
    let before = completed(&f).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        completed(&f).await,
        before,
        "an idle torrent moves no payload"
    );

    // A read near the end resumes it and gets the source's bytes.
    let at = f.source.len() - 1000;
    let resp = f.get(&[(header::RANGE, format!("bytes={at}-"))]).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.unwrap()[..], &f.source[at..]);
    let v = f.app.torrent(&f.token, &f.hash).await;
    assert_eq!(v["idle"], false, "read just now: {v}");
    assert!(completed(&f).await > before);
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_answer_ranges_heads_and_limits_like_a_file_server() {
    let mut f = fixture(false).await;
    let client = reqwest::Client::new();
    let len = f.source.len();
    // HEAD: the whole file's headers, before the bytes are all there.
    let head = client
        .head(&f.url)
        .bearer_auth(&f.token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        len.to_string().as_str()
    );
    assert_eq!(head.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        head.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    let etag = head.headers()[header::ETAG].to_str().unwrap().to_owned();
    // Suffix range, and an If-Range that still matches.
    let resp = f
        .get(&[
            (header::RANGE, "bytes=-100".into()),
            (header::IF_RANGE, etag.clone()),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.unwrap()[..], &f.source[len - 100..]);
    // Outside the file.
    let resp = f.get(&[(header::RANGE, format!("bytes={len}-"))]).await;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        resp.headers()[header::CONTENT_RANGE],
        format!("bytes */{len}").as_str()
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable");
    let resp = client
        .get(format!(
            "{}/api/torrents/{}/files/9/stream",
            f.app.base, f.hash
        ))
        .bearer_auth(&f.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // One stream at a time: the second gets 503 while the first is open.
    let first = f.get(&[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = f.get(&[]).await;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(second.headers().contains_key(header::RETRY_AFTER));
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "busy");
    drop(first);

    // A paused torrent streams (the stream outranks the pause) and stays paused.
    let (status, _) = f
        .app
        .call(
            Method::POST,
            &format!("/api/torrents/{}/pause", f.hash),
            Some(&f.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let at = len / 2;
    let bytes = wait_for(
        "the first stream to close",
        Duration::from_secs(10),
        || async {
            let resp = f
                .get(&[(header::RANGE, format!("bytes={at}-{}", at + 99))])
                .await;
            (resp.status() == StatusCode::PARTIAL_CONTENT).then_some(resp)
        },
    )
    .await
    .bytes()
    .await
    .unwrap();
    assert_eq!(&bytes[..], &f.source[at..at + 100]);
    let v = f.app.torrent(&f.token, &f.hash).await;
    assert_eq!(v["paused"], true, "{v}");

    // With no peer left, a read of a missing piece ends the response after
    // STREAM_READ_TIMEOUT instead of hanging.
    drop(f.seeder.take());
    let bits = have(&f.app.torrent(&f.token, &f.hash).await);
    let missing = bits
        .iter()
        .position(|b| !b)
        .expect("a piece is still missing") as u64;
    let from = missing * PIECE;
    let started = std::time::Instant::now();
    let resp = f.get(&[(header::RANGE, format!("bytes={from}-"))]).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    let body = tokio::time::timeout(Duration::from_secs(30), resp.bytes()).await;
    match body.expect("the response ends rather than hangs") {
        Err(_) => {}
        Ok(b) => assert!((b.len() as u64) < len as u64 - from, "short body"),
    }
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_links_are_refused_when_forged_expired_or_for_another_user() {
    let f = fixture(false).await;
    let client = reqwest::Client::new();
    let url = link(&f.app, &f.token, &f.hash, 0).await;
    // No credentials at all.
    let resp = client.get(&f.url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // The link works without a Bearer header.
    let resp = range_get(&url, "bytes=0-9").await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.unwrap()[..], &f.source[..10]);
    // Forged: another signature, or another expiry under the same one.
    let parsed = url::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    let with = |u: &str, exp: &str, sig: &str| {
        let mut x = parsed.clone();
        x.query_pairs_mut()
            .clear()
            .append_pair("u", u)
            .append_pair("exp", exp)
            .append_pair("sig", sig);
        x.to_string()
    };
    let later = (q["exp"].parse::<i64>().unwrap() + 3600).to_string();
    for forged in [
        with(
            &q["u"],
            &q["exp"],
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        with(&q["u"], &later, &q["sig"]),
    ] {
        let resp = range_get(&forged, "bytes=0-9").await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{forged}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_link");
    }
    // Expired: signed with the server's key, an hour ago.
    let key = torrentedge::auth::links::LinkKey::new(JWT_SECRET.as_bytes());
    let past = torrentedge::now_millis() / 1000 - 3600;
    let resource = format!("file:{}:0", f.hash);
    let expired = with(
        &q["u"],
        &past.to_string(),
        &key.sign(&q["u"], &resource, past),
    );
    let resp = range_get(&expired, "bytes=0-9").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "link_expired");
    // Another user: no link for it, and a validly signed link of theirs finds nothing.
    let other = f.app.new_user("viewer").await;
    let other_id = f.app.user_id(&other).await;
    let (status, _) = f
        .app
        .call(
            Method::GET,
            &format!("/api/torrents/{}/files/0/link", f.hash),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let exp = past + 7200;
    let theirs = with(
        &other_id,
        &exp.to_string(),
        &key.sign(&other_id, &resource, exp),
    );
    let resp = range_get(&theirs, "bytes=0-9").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    // The playlist lists the media files only, each a working signed link.
    let (status, body) = f
        .app
        .call(
            Method::GET,
            &format!("/api/torrents/{}/playlist.m3u", f.hash),
            Some(&f.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!("#EXTM3U\n#PLAYLIST:idle\n"),
        "a .bin is not media"
    );
}

/// A torrent of random bytes seeded slowly by its own aria2c.
async fn slow_torrent(name: &str) -> (Content, Vec<u8>, String, Aria2Seeder) {
    // Two files, so the torrent is a folder of its own name.
    let content = Content::random(name, &[2 * 1024 * 1024 + 11, 1000]);
    let (torrent, hash) = content.make_torrent(PIECE as u32, Vec::new()).await;
    let path = content.dir.path().join(format!("{name}.torrent"));
    std::fs::write(&path, &torrent).unwrap();
    let seeder =
        Aria2Seeder::start_with(&path, content.dir.path(), &["--max-upload-limit=50K"]).await;
    (content, torrent, hash, seeder)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_takes_the_download_slot_before_the_queue() {
    let app = TestApp::spawn_with(&[("MAX_CONCURRENT_TORRENTS", "1"), ("IDLE_TIMEOUT", "2")]).await;
    let token = app.admin_token.clone();
    let (_a_content, a_torrent, a, a_seeder) = slow_torrent("first").await;
    let (b_content, b_torrent, b, b_seeder) = slow_torrent("second").await;
    for (torrent, seeder) in [(&a_torrent, &a_seeder), (&b_torrent, &b_seeder)] {
        let peer = seeder.peer_addr().to_string();
        let (status, v) = app.upload(&token, torrent, &[("peers", &peer)]).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
    }
    let state = |h: &str| {
        let (app, token, h) = (&app, &token, h.to_owned());
        async move {
            app.torrent(token, &h).await["state"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    wait_for(
        "the first to download, the second to wait",
        Duration::from_secs(30),
        || async {
            (state(&a).await == "downloading" && state(&b).await == "queued").then_some(())
        },
    )
    .await;
    // Reading the queued one: it takes the one slot, and the other waits meanwhile.
    let source = std::fs::read(b_content.root().join("file-0.bin")).unwrap();
    let index = file_index(&app.torrent(&token, &b).await, "file-0.bin");
    let url = format!("{}/api/torrents/{b}/files/{index}/stream", app.base);
    let resp = reqwest::Client::new()
        .get(&url)
        .bearer_auth(&token)
        .header(header::RANGE, "bytes=0-999")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(&resp.bytes().await.unwrap()[..], &source[..1000]);
    let (sa, sb) = (state(&a).await, state(&b).await);
    assert_eq!(
        (sa.as_str(), sb.as_str()),
        ("queued", "downloading"),
        "read just now"
    );
    // Unread for IDLE_TIMEOUT, the queue's own order comes back.
    wait_for(
        "the queue's order to come back",
        Duration::from_secs(30),
        || async {
            (state(&a).await == "downloading" && state(&b).await == "queued").then_some(())
        },
    )
    .await;
}
