//! The engine's event stream, read straight from the bus: what a download emits, in
//! what order, with which envelope.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use torrentedge::events::Envelope;

use crate::support::app::{SLOW, TestApp};
use crate::support::swarm::{Content, Seeder, magnet_with_peer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_emits_added_progress_every_piece_complete_and_seeding_in_order() {
    let content = Content::random("evented", &[3 * 1024 * 1024 + 5, 1024 * 1024 + 7]);
    let (torrent, hash) = content.make_torrent(64 * 1024, vec![]).await;
    let seeder = Seeder::start(&torrent, content.dir.path()).await;
    let app = TestApp::spawn_with(&[("DOWNLOAD_LIMIT", "2097152")]).await;
    let mut rx = app.bus.subscribe();
    let added = app
        .add_magnet(
            &app.admin_token,
            &magnet_with_peer(&hash, seeder.addr),
            json!({}),
        )
        .await;
    let owner = added["ownerId"].as_str().expect("owner").to_owned();

    let mut events: Vec<Envelope> = Vec::new();
    tokio::time::timeout(SLOW, async {
        loop {
            let e = rx.recv().await.expect("bus open, not lagging");
            let seeding =
                e.kind == "torrent:seeding" && e.info_hash.as_deref() == Some(hash.as_str());
            events.push((*e).clone());
            if seeding {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no torrent:seeding; got {:#?}",
            events.iter().map(|e| &e.kind).collect::<Vec<_>>()
        )
    });

    for pair in events.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "seq not increasing: {} then {}",
            pair[0].seq,
            pair[1].seq
        );
    }
    let mine: Vec<&Envelope> = events
        .iter()
        .filter(|e| e.info_hash.as_deref() == Some(hash.as_str()))
        .collect();
    for e in &mine {
        assert_eq!(e.user_id.as_deref(), Some(owner.as_str()), "{e:?}");
        assert!(e.ts > 0 && e.id.len() >= 32);
    }
    let kinds: Vec<&str> = mine.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"torrent:added"), "{kinds:?}");
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(pos("torrent:metadata") < pos("torrent:piece"));
    assert!(pos("torrent:piece") < pos("torrent:complete"));
    assert!(pos("torrent:complete") < pos("torrent:seeding"));

    let mut pieces = BTreeSet::new();
    let mut total = 0;
    for e in mine.iter().filter(|e| e.kind == "torrent:piece") {
        total = e.data["total"].as_u64().expect("total");
        for i in e.data["indexes"].as_array().expect("indexes") {
            assert!(
                pieces.insert(i.as_u64().expect("index")),
                "piece {i} announced twice"
            );
        }
    }
    assert_eq!(
        pieces,
        (0..total).collect::<BTreeSet<_>>(),
        "every piece exactly once"
    );

    let pct: Vec<f64> = mine
        .iter()
        .filter(|e| e.kind == "torrent:progress")
        .filter_map(|e| e.data["percentage"].as_f64())
        .collect();
    assert!(
        pct.windows(2).all(|w| w[0] <= w[1]),
        "percentage went down: {pct:?}"
    );
    assert!(
        pct.windows(2).filter(|w| w[0] < w[1]).count() >= 2,
        "too few progress steps: {pct:?}"
    );
    assert_eq!(pct.last().copied(), Some(100.0), "{pct:?}");

    // Pausing, resuming and removing are events too; so is the queue.
    let token = app.admin_token.clone();
    for (path, kind) in [("pause", "torrent:paused"), ("resume", "torrent:resumed")] {
        app.call(
            reqwest::Method::POST,
            &format!("/api/torrents/{hash}/{path}"),
            Some(&token),
            None,
        )
        .await;
        wait_kind(&mut rx, kind).await;
    }
    app.call(
        reqwest::Method::DELETE,
        &format!("/api/torrents/{hash}"),
        Some(&token),
        None,
    )
    .await;
    let removed = wait_kind(&mut rx, "torrent:removed").await;
    assert_eq!(removed.data["deleteFiles"], false);
    assert!(
        events
            .iter()
            .any(|e| e.kind == "queue:updated" && e.data["stats"]["activeCount"] == 1)
    );
}

async fn wait_kind(
    rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<Envelope>>,
    kind: &str,
) -> Envelope {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.expect("bus");
            if e.kind == kind {
                return (*e).clone();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind}"))
}
