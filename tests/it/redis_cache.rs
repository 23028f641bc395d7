//! The cache against a real Redis: several `Cache`s on one Redis stand for several
//! servers. The limiter's rules hold across them (the in-process ones are unit-tested
//! in `cache::throttle`), revocations and metadata are shared and expire, keys stay
//! under their prefix, and a Redis that dies is fallen back from and returned to.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use torrentedge::cache::{Cache, Limits, RedisCache};

use crate::support::redis::Redis;
use crate::support::wait_for;

const BAN: Duration = Duration::from_secs(3600);
const ACCOUNT_WINDOW: Duration = Duration::from_secs(900);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn per_address(max_failures: u32) -> Limits {
    Limits {
        max_failures,
        window: Duration::from_secs(60),
        ban: BAN,
        account_max_failures: 0,
        account_window: ACCOUNT_WINDOW,
    }
}

async fn cache_on(redis: &Redis, prefix: &str, limits: Limits) -> Cache {
    let client = RedisCache::new(&redis.url(), prefix, limits).expect("a Redis client");
    let cache = Cache::redis(limits, client).await;
    assert_eq!(cache.status().backend, "redis", "{:?}", cache.status());
    cache
}

async fn fail(cache: &Cache, client: &str, user: &str) {
    let attempt = cache.begin_login(ip(client), user).await;
    attempt.expect("the attempt is let through").failed().await;
}

async fn succeed(cache: &Cache, client: &str, user: &str) {
    let attempt = cache.begin_login(ip(client), user).await;
    attempt
        .expect("the attempt is let through")
        .succeeded()
        .await;
}

async fn refused(cache: &Cache, client: &str, user: &str) -> Duration {
    match cache.begin_login(ip(client), user).await {
        Ok(_) => panic!("{client} logging in as {user} was let through"),
        Err(wait) => wait,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_on_one_redis_share_the_address_count_and_its_ban() {
    let redis = Redis::start().await;
    let a = cache_on(&redis, "te:", per_address(3)).await;
    let b = cache_on(&redis, "te:", per_address(3)).await;
    let elsewhere = cache_on(&redis, "other:", per_address(3)).await;

    fail(&a, "10.0.0.1", "admin").await;
    fail(&b, "10.0.0.1", "admin").await;
    fail(&a, "10.0.0.1", "root").await;
    for cache in [&a, &b] {
        let wait = refused(cache, "10.0.0.1", "admin").await;
        assert!(
            wait > BAN - Duration::from_secs(5) && wait <= BAN,
            "{wait:?}"
        );
    }
    // Another address, and the same address under another prefix, are not banned.
    succeed(&b, "10.0.0.2", "admin").await;
    succeed(&elsewhere, "10.0.0.1", "admin").await;
    // IPv6 counts by /64: a neighbour in the prefix shares the count.
    fail(&a, "2001:db8::1", "admin").await;
    fail(&b, "2001:db8::2", "admin").await;
    fail(&a, "2001:db8::3", "admin").await;
    refused(&b, "2001:db8::ffff", "admin").await;

    let keys = redis.keys("").await;
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|k| k.starts_with("te:login:") || k.starts_with("other:login:")),
        "{keys:?}"
    );
    assert!(
        keys.iter().all(|k| !k.contains("admin")),
        "account names are hashed: {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_in_flight_fill_the_allowance_and_dropped_ones_are_taken_back() {
    let redis = Redis::start().await;
    let a = cache_on(&redis, "te:", per_address(2)).await;
    let b = cache_on(&redis, "te:", per_address(2)).await;
    let first = a.begin_login(ip("10.0.0.1"), "admin").await.unwrap();
    let second = b.begin_login(ip("10.0.0.1"), "admin").await.unwrap();
    assert_eq!(
        refused(&a, "10.0.0.1", "admin").await,
        Duration::from_secs(1)
    );
    drop(first);
    second.succeeded().await;
    wait_for(
        "the dropped attempt to be taken back",
        Duration::from_secs(5),
        || async { b.begin_login(ip("10.0.0.1"), "admin").await.ok().map(drop) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_forgets_only_its_own_accounts_failures() {
    let redis = Redis::start().await;
    let a = cache_on(&redis, "te:", per_address(3)).await;
    let b = cache_on(&redis, "te:", per_address(3)).await;
    fail(&a, "10.0.0.1", "admin").await;
    fail(&a, "10.0.0.1", "admin").await;
    succeed(&b, "10.0.0.1", "alice").await;
    fail(&b, "10.0.0.1", "admin").await;
    refused(&a, "10.0.0.1", "alice").await;

    fail(&a, "10.0.0.9", "admin").await;
    fail(&a, "10.0.0.9", "admin").await;
    succeed(&b, "10.0.0.9", "admin").await;
    fail(&a, "10.0.0.9", "admin").await;
    fail(&b, "10.0.0.9", "admin").await;
    succeed(&a, "10.0.0.9", "admin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_limit_spares_addresses_that_logged_in_before() {
    let redis = Redis::start().await;
    let limits = Limits {
        max_failures: 0,
        account_max_failures: 2,
        ..per_address(0)
    };
    let a = cache_on(&redis, "te:", limits).await;
    let b = cache_on(&redis, "te:", limits).await;
    succeed(&a, "10.0.0.1", "admin").await;
    fail(&a, "10.0.0.2", "admin").await;
    fail(&b, "10.0.0.3", "admin").await;
    let wait = refused(&b, "10.0.0.4", "admin").await;
    assert!(
        wait > ACCOUNT_WINDOW - Duration::from_secs(5) && wait <= ACCOUNT_WINDOW,
        "{wait:?}"
    );
    // The owner's usual address still gets in, and other accounts are not limited.
    succeed(&b, "10.0.0.1", "admin").await;
    succeed(&a, "10.0.0.4", "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_and_metadata_are_shared_and_expire() {
    let redis = Redis::start().await;
    let a = cache_on(&redis, "te:", per_address(5)).await;
    let b = cache_on(&redis, "te:", per_address(5)).await;
    a.revoke("jti-short", Duration::from_millis(400)).await;
    a.revoke("jti-long", Duration::from_secs(600)).await;
    assert!(b.is_revoked("jti-short").await && b.is_revoked("jti-long").await);
    assert!(!b.is_revoked("jti-other").await);

    let doc = Bytes::from_static(b"{\"name\":\"ubuntu.iso\"}");
    a.put_metadata("btih:abc", doc.clone(), Duration::from_millis(400))
        .await;
    assert_eq!(b.get_metadata("btih:abc").await, Some(doc));
    assert_eq!(b.get_metadata("btih:none").await, None);

    let mut conn = redis.client().await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg("te:revoked:jti-long")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 590_000 && ttl <= 600_000, "{ttl}");
    wait_for(
        "the short entries to expire",
        Duration::from_secs(5),
        || async {
            let gone =
                !b.is_revoked("jti-short").await && b.get_metadata("btih:abc").await.is_none();
            gone.then_some(())
        },
    )
    .await;
    assert!(b.is_revoked("jti-long").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_is_fallen_back_from_and_returned_to() {
    let mut redis = Redis::start().await;
    let a = cache_on(&redis, "te:", per_address(2)).await;
    redis.kill().await;

    // The first operation meets the failure and is answered in process.
    let started = tokio::time::Instant::now();
    a.revoke("jti-1", Duration::from_secs(600)).await;
    assert!(a.is_revoked("jti-1").await);
    let status = a.status();
    assert_eq!((status.backend, status.state), ("memory", "degraded"));
    assert!(status.last_error.is_some(), "{status:?}");
    fail(&a, "10.0.0.1", "admin").await;
    fail(&a, "10.0.0.1", "admin").await;
    refused(&a, "10.0.0.1", "admin").await;
    assert!(started.elapsed() < Duration::from_secs(10));

    redis.restart().await;
    wait_for(
        "the cache to use Redis again",
        Duration::from_secs(15),
        || async { (a.status().backend == "redis").then_some(()) },
    )
    .await;
    assert_eq!(a.status().state, "ok");
    // The revocation made while Redis was down was copied to it.
    let b = cache_on(&redis, "te:", per_address(2)).await;
    assert!(b.is_revoked("jti-1").await);
    fail(&a, "10.0.0.5", "admin").await;
    assert!(
        redis
            .keys("te:login:ip:10.0.0.5:")
            .await
            .contains(&"te:login:ip:10.0.0.5:fail".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_is_given_up_on_and_memory_serves() {
    let redis = Redis::start().await;
    let a = cache_on(&redis, "te:", per_address(5)).await;
    a.revoke("jti-1", Duration::from_secs(600)).await;
    redis.freeze();
    // Answered, not hung: the first call gives up on Redis after its timeout, the rest
    // do not ask it.
    for _ in 0..20 {
        assert!(a.is_revoked("jti-1").await);
        assert!(!a.is_revoked("jti-2").await);
    }
    assert_eq!(a.status().state, "degraded");
    fail(&a, "10.0.0.1", "admin").await;
    redis.thaw();
    wait_for(
        "the cache to use Redis again",
        Duration::from_secs(15),
        || async { (a.status().backend == "redis").then_some(()) },
    )
    .await;
}
