//! The facade on the in-process backend, and its fallback when Redis cannot be reached.
//! Against a real Redis: `tests/it/redis.rs`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

fn limits(max_failures: u32) -> Limits {
    Limits {
        max_failures,
        window: Duration::from_secs(60),
        ban: Duration::from_secs(3600),
        account_max_failures: 0,
        account_window: Duration::from_secs(900),
    }
}

/// A Redis backend on a loopback port nothing listens on.
async fn unreachable_redis() -> Cache {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("redis://127.0.0.1:{port}/");
    let redis = RedisCache::new(&url, "te-test:", limits(2)).unwrap();
    Cache::redis(limits(2), redis).await
}

/// Polls `check` until it holds; panics after 5 s (the TTLs here are 200 ms).
async fn until_true<F: Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fail(cache: &Cache) {
    cache
        .begin_login(CLIENT, "admin")
        .await
        .expect("not refused")
        .failed()
        .await;
}

#[tokio::test]
async fn the_in_process_limiter_bans_after_max_failures() {
    let cache = Cache::in_process(limits(2));
    fail(&cache).await;
    fail(&cache).await;
    let wait = cache.begin_login(CLIENT, "admin").await.err();
    assert_eq!(wait, Some(Duration::from_secs(3600)));
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    assert!(cache.begin_login(other, "admin").await.is_ok());
}

#[tokio::test]
async fn a_dropped_attempt_is_taken_back() {
    let cache = Cache::in_process(limits(1));
    drop(cache.begin_login(CLIENT, "admin").await.unwrap());
    let attempt = cache.begin_login(CLIENT, "admin").await;
    assert!(attempt.is_ok(), "the dropped attempt still counted");
}

#[tokio::test]
async fn revocations_hold_until_their_ttl() {
    let cache = Cache::in_process(limits(5));
    assert!(!cache.is_revoked("jti-1").await);
    cache.revoke("jti-1", Duration::from_millis(200)).await;
    cache.revoke("jti-0", Duration::ZERO).await;
    assert!(cache.is_revoked("jti-1").await);
    assert!(
        !cache.is_revoked("jti-0").await,
        "an expired token needs no revocation"
    );
    assert!(!cache.is_revoked("jti-2").await);
    until_true("the revocation to expire", || async {
        !cache.is_revoked("jti-1").await
    })
    .await;
}

#[tokio::test]
async fn metadata_is_cached_until_its_ttl() {
    let cache = Cache::in_process(limits(5));
    assert_eq!(cache.get_metadata("k").await, None);
    let doc = Bytes::from_static(b"{\"name\":\"x\"}");
    cache
        .put_metadata("k", doc.clone(), Duration::from_millis(200))
        .await;
    assert_eq!(cache.get_metadata("k").await, Some(doc));
    until_true("the entry to expire", || async {
        cache.get_metadata("k").await.is_none()
    })
    .await;
}

#[tokio::test]
async fn the_in_process_cache_is_never_degraded() {
    let status = Cache::in_process(limits(5)).status();
    assert_eq!(status.backend, "memory");
    assert!(!status.redis && !status.degraded());
    assert_eq!(status.last_error, None);
}

#[tokio::test]
async fn without_redis_every_operation_falls_back_to_memory() {
    let cache = unreachable_redis().await;
    let status = cache.status();
    assert_eq!((status.backend, status.state), ("memory", "degraded"));
    assert!(status.redis);
    assert!(status.last_error.is_some(), "{status:?}");

    fail(&cache).await;
    fail(&cache).await;
    assert!(cache.begin_login(CLIENT, "admin").await.is_err());
    cache.revoke("jti-1", Duration::from_secs(60)).await;
    assert!(cache.is_revoked("jti-1").await);
    let doc = Bytes::from_static(b"doc");
    cache
        .put_metadata("k", doc.clone(), Duration::from_secs(60))
        .await;
    assert_eq!(cache.get_metadata("k").await, Some(doc));
}
