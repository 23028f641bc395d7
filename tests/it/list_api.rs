//! `GET /api/torrents?state=&sort=&order=&offset=&limit=` against 1,000 torrents in the
//! real server: filters, sorts and pages return the right torrents, and bad parameters
//! are a 400 naming what is wrong.

use std::collections::HashSet;

use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::app::TestApp;

const COUNT: usize = 1000;

/// The list for `query`, with its X-Total-Count.
async fn page(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    let res = app
        .client
        .get(format!("{}/api/torrents?{query}", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    let total = res.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (res.json().await.expect("json"), total)
}

fn hashes(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|t| t["infoHash"].as_str().unwrap().to_owned())
        .collect()
}

fn name(t: &Value) -> String {
    t["name"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_torrents_filtered_sorted_and_paged() {
    // No peers, no DHT: ten fetch metadata (the slots), the rest wait or are paused.
    let app = TestApp::spawn_with(&[("MAX_CONCURRENT_TORRENTS", "10")]).await;
    let priorities = ["high", "normal", "low"];
    let adds = futures::stream::iter(0..COUNT).map(|i| {
        let app = &app;
        // Names not in the order of adding.
        let magnet = format!(
            "magnet:?xt=urn:btih:{:040x}&dn=item-{:04}",
            0x1000_0000 + i,
            (i * 389) % COUNT
        );
        let extra = json!({ "paused": i.is_multiple_of(3), "priority": priorities[i % 3] });
        async move { app.add_magnet(&app.admin_token, &magnet, extra).await }
    });
    let added: Vec<Value> = adds.buffered(4).collect().await;
    assert_eq!(added.len(), COUNT);

    let (all, total) = page(&app, "").await;
    assert_eq!((all.len(), total), (COUNT, COUNT));
    let paused: HashSet<String> = all
        .iter()
        .filter(|t| t["state"] == "paused")
        .map(|t| t["infoHash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paused.len(), COUNT.div_ceil(3));

    // By state.
    let (list, total) = page(&app, "state=paused").await;
    assert_eq!(total, paused.len());
    assert_eq!(hashes(&list).into_iter().collect::<HashSet<_>>(), paused);
    let (list, total) = page(&app, "state=queued,metadata").await;
    assert_eq!(total, COUNT - paused.len());
    assert!(
        list.iter()
            .all(|t| t["state"] == "queued" || t["state"] == "metadata")
    );
    assert_eq!(list.iter().filter(|t| t["state"] == "metadata").count(), 10);

    // By name, descending, one page from the middle.
    let (list, total) = page(&app, "sort=name&order=desc&offset=100&limit=50").await;
    assert_eq!((list.len(), total), (50, COUNT));
    let want: Vec<String> = (0..COUNT)
        .rev()
        .skip(100)
        .take(50)
        .map(|n| format!("item-{n:04}"))
        .collect();
    assert_eq!(list.iter().map(name).collect::<Vec<_>>(), want);

    // Pages by priority cover every torrent once, high first.
    let mut seen = Vec::new();
    for offset in (0..COUNT).step_by(128) {
        let (list, total) = page(&app, &format!("sort=priority&limit=128&offset={offset}")).await;
        assert_eq!(total, COUNT);
        seen.extend(list);
    }
    assert_eq!(seen.len(), COUNT);
    assert_eq!(
        hashes(&seen).into_iter().collect::<HashSet<_>>().len(),
        COUNT
    );
    let ranks: Vec<usize> = seen
        .iter()
        .map(|t| priorities.iter().position(|p| t["priority"] == *p).unwrap())
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "high, then normal, then low"
    );

    // Past the end: an empty page, still counted.
    let (list, total) = page(&app, "offset=5000&limit=10").await;
    assert_eq!((list.len(), total), (0, COUNT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_parameters_are_a_400_naming_the_problem() {
    let app = TestApp::spawn().await;
    for (query, says) in [
        ("state=bogus", "state must be one of"),
        ("sort=weight", "sort must be one of"),
        ("order=sideways", "order must be asc or desc"),
        ("limit=0", "limit must be 1 to"),
        ("limit=10001", "limit must be 1 to"),
        ("offset=-1", "offset"),
    ] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/api/torrents?{query}"),
                Some(&app.admin_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{query}: {message}");
    }
}
