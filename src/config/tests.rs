use super::*;

fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[test]
fn defaults_follow_the_documented_values() {
    let c = cfg(&[]).unwrap();
    assert_eq!(c.http_addr.port(), 3000);
    assert_eq!(c.engine.max_concurrent, 3);
    assert_eq!(c.engine.max_peer_connections, 50);
    assert_eq!(c.engine.download_limit, 0);
    assert!(c.engine.seed_ratio_limit.is_none());
    assert!(c.auth.jwt_secret.is_none());
    assert!(!c.auth.allow_registration);
}

#[test]
fn short_jwt_secret_is_refused() {
    let err = cfg(&[("JWT_SECRET", "too-short")]).unwrap_err();
    assert_eq!(err.var, "JWT_SECRET");
    assert!(cfg(&[("JWT_SECRET", &"x".repeat(32))]).is_ok());
}

#[test]
fn malformed_numbers_name_the_variable() {
    let err = cfg(&[("MAX_CONCURRENT_TORRENTS", "three")]).unwrap_err();
    assert_eq!(err.var, "MAX_CONCURRENT_TORRENTS");
    assert_eq!(
        cfg(&[("MAX_CONCURRENT_TORRENTS", "0")]).unwrap_err().var,
        "MAX_CONCURRENT_TORRENTS"
    );
    assert_eq!(
        cfg(&[("ENABLE_DHT", "maybe")]).unwrap_err().var,
        "ENABLE_DHT"
    );
}

#[test]
fn out_of_range_numbers_name_the_variable() {
    for (var, value) in [
        ("PORT", "65536"),
        ("PEER_PORT", "-1"),
        ("SHUTDOWN_TIMEOUT", "0"),
        ("SHUTDOWN_TIMEOUT", "3601"),
        ("EVENT_BUFFER", "0"),
        ("EVENT_BUFFER", "1000001"),
        ("MAX_CONCURRENT_TORRENTS", "10001"),
        ("MAX_PEER_CONNECTIONS", "0"),
        ("MAX_PEER_CONNECTIONS", "10001"),
        ("DOWNLOAD_LIMIT", "-1"),
        ("UPLOAD_LIMIT", "4294967296"),
        ("SEED_RATIO_LIMIT", "-0.5"),
        ("SEED_RATIO_LIMIT", "10001"),
        ("SEED_TIME_LIMIT", "-1"),
        ("SEED_TIME_LIMIT", "1e300"),
        ("SEED_TIME_LIMIT", "5256001"),
        ("TORRENT_URL_MAX_BYTES", "0"),
        ("TORRENT_URL_MAX_BYTES", "104857601"),
        ("TORRENT_URL_TIMEOUT", "0"),
        ("TORRENT_URL_TIMEOUT", "601"),
        ("ENGINE_TICK_MS", "0"),
        ("ENGINE_TICK_MS", "9"),
        ("ENGINE_TICK_MS", "60001"),
        ("ACCESS_TOKEN_TTL", "0"),
        ("ACCESS_TOKEN_TTL", "86401"),
        ("REFRESH_TOKEN_TTL", "59"),
        ("REFRESH_TOKEN_TTL", "31536001"),
        ("LOGIN_MAX_FAILURES", "1001"),
        ("LOGIN_BAN_SECONDS", "0"),
        ("LOGIN_ACCOUNT_WINDOW", "0"),
        ("LOGIN_CONCURRENCY", "257"),
        ("LOGIN_WINDOW", "0"),
        ("LOGIN_WINDOW", "86401"),
    ] {
        let err = cfg(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
        assert_eq!(err.var, var, "{var}={value}: {err}");
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[test]
fn the_bounds_themselves_are_accepted() {
    let c = cfg(&[
        ("ENGINE_TICK_MS", "10"),
        ("SEED_TIME_LIMIT", "5256000"),
        ("SEED_RATIO_LIMIT", "10000"),
        ("EVENT_BUFFER", "1"),
        ("PORT", "65535"),
        ("TORRENT_URL_MAX_BYTES", "1024"),
        ("ACCESS_TOKEN_TTL", "86400"),
    ])
    .unwrap();
    assert_eq!(c.engine.tick, Duration::from_millis(10));
    assert_eq!(
        c.engine.seed_time_limit,
        Some(Duration::from_secs(5_256_000 * 60))
    );
    assert_eq!(c.http_addr.port(), 65535);
    let c = cfg(&[("ENGINE_TICK_MS", "60000")]).unwrap();
    assert_eq!(c.engine.tick, Duration::from_secs(60));
}

#[test]
fn nan_and_infinities_are_refused() {
    for var in ["SEED_RATIO_LIMIT", "SEED_TIME_LIMIT"] {
        for value in ["NaN", "nan", "inf", "-inf", "infinity", "1e400"] {
            let err = cfg(&[(var, value)]).expect_err(&format!("{var}={value} accepted"));
            assert_eq!(err.var, var, "{var}={value}");
        }
    }
}

#[test]
fn login_limits_have_defaults_and_refuse_zero_where_it_means_nothing() {
    let a = cfg(&[]).unwrap().auth;
    assert_eq!(a.login_max_failures, 5);
    assert_eq!(a.login_window, Duration::from_secs(900));
    assert_eq!(a.login_ban, Duration::from_secs(3600));
    assert_eq!(a.login_account_max_failures, 20);
    assert_eq!(a.login_account_window, Duration::from_secs(900));
    assert!((1..=MAX_DEFAULT_LOGIN_CONCURRENCY).contains(&a.login_concurrency));
    let a = cfg(&[
        ("LOGIN_BAN_SECONDS", "2"),
        ("LOGIN_ACCOUNT_MAX_FAILURES", "0"),
        ("LOGIN_ACCOUNT_WINDOW", "60"),
        ("LOGIN_CONCURRENCY", "3"),
    ])
    .unwrap()
    .auth;
    assert_eq!(a.login_ban, Duration::from_secs(2));
    assert_eq!(a.login_account_max_failures, 0);
    assert_eq!(a.login_account_window, Duration::from_secs(60));
    assert_eq!(a.login_concurrency, 3);
    for var in ["LOGIN_BAN_SECONDS", "LOGIN_CONCURRENCY"] {
        assert_eq!(cfg(&[(var, "0")]).unwrap_err().var, var);
        assert_eq!(cfg(&[(var, "-1")]).unwrap_err().var, var);
    }
}

#[test]
fn admin_password_of_the_wrong_length_names_the_variable() {
    for bad in ["short", "1234567", &"p".repeat(257)] {
        let err = cfg(&[("ADMIN_PASSWORD", bad)]).unwrap_err();
        assert_eq!(err.var, "ADMIN_PASSWORD");
        assert!(!err.to_string().contains(bad), "the password is not echoed");
    }
    // Characters, not bytes: eight two-byte characters are long enough.
    assert!(cfg(&[("ADMIN_PASSWORD", "éééééééé")]).is_ok());
    assert!(cfg(&[("ADMIN_PASSWORD", &"p".repeat(256))]).is_ok());
}

#[test]
fn mongodb_uri_selects_the_mongodb_store() {
    assert_eq!(cfg(&[]).unwrap().mongodb_uri, None);
    let uri = "mongodb://127.0.0.1:27017/te";
    assert_eq!(
        cfg(&[("MONGODB_URI", uri)]).unwrap().mongodb_uri.as_deref(),
        Some(uri)
    );
    let bad = cfg(&[("MONGODB_URI", "http://127.0.0.1")]).unwrap_err();
    assert_eq!(bad.var, "MONGODB_URI");
}

#[test]
fn redis_is_off_unless_its_url_or_host_is_set() {
    assert_eq!(cfg(&[]).unwrap().redis, None);
    // Empty is unset.
    assert_eq!(
        cfg(&[("REDIS_URL", ""), ("REDIS_HOST", "")]).unwrap().redis,
        None
    );
    let url = "redis://127.0.0.1:6380/2";
    let r = cfg(&[("REDIS_URL", url)]).unwrap().redis.unwrap();
    assert_eq!(r.url.expose(), url);
    assert_eq!(r.key_prefix, "torrentedge:");
}

#[test]
fn redis_host_and_port_make_the_url() {
    let r = cfg(&[("REDIS_HOST", "cache.internal")])
        .unwrap()
        .redis
        .unwrap();
    assert_eq!(r.url.expose(), "redis://cache.internal:6379/0");
    let vars = [
        ("REDIS_HOST", "::1"),
        ("REDIS_PORT", "6390"),
        ("REDIS_DB", "3"),
        ("REDIS_PASSWORD", "p@ss word"),
        ("REDIS_KEY_PREFIX", "te-a:"),
    ];
    let r = cfg(&vars).unwrap().redis.unwrap();
    assert_eq!(r.url.expose(), "redis://:p%40ss%20word@[::1]:6390/3");
    assert_eq!(r.key_prefix, "te-a:");
    assert!(
        !format!("{r:?}").contains("p%40ss"),
        "the password is not printed"
    );
}

#[test]
fn bad_redis_settings_name_the_variable() {
    let bad = |vars: &[(&str, &str)], var: &str| {
        assert_eq!(cfg(vars).unwrap_err().var, var, "{vars:?}");
    };
    bad(&[("REDIS_URL", "http://127.0.0.1")], "REDIS_URL");
    bad(&[("REDIS_URL", "rediss://127.0.0.1")], "REDIS_URL");
    bad(
        &[("REDIS_URL", "redis://a"), ("REDIS_HOST", "b")],
        "REDIS_URL",
    );
    bad(&[("REDIS_PORT", "6379")], "REDIS_PORT");
    bad(&[("REDIS_PASSWORD", "x")], "REDIS_PASSWORD");
    bad(
        &[("REDIS_HOST", "h"), ("REDIS_PORT", "70000")],
        "REDIS_PORT",
    );
    bad(&[("REDIS_HOST", "h"), ("REDIS_DB", "-1")], "REDIS_DB");
    bad(&[("REDIS_HOST", "a b")], "REDIS_HOST");
    bad(
        &[("REDIS_HOST", "h"), ("REDIS_KEY_PREFIX", "a b")],
        "REDIS_KEY_PREFIX",
    );
    bad(&[("REDIS_KEY_PREFIX", &"x".repeat(65))], "REDIS_KEY_PREFIX");
}

#[test]
fn private_trackers_are_off_unless_allowed() {
    assert!(!cfg(&[]).unwrap().engine.allow_private_trackers);
    let on = cfg(&[("ALLOW_PRIVATE_TRACKERS", "true")]).unwrap();
    assert!(on.engine.allow_private_trackers);
    assert_eq!(
        cfg(&[("ALLOW_PRIVATE_TRACKERS", "sometimes")])
            .unwrap_err()
            .var,
        "ALLOW_PRIVATE_TRACKERS"
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let c = cfg(&[
        ("JWT_SECRET", &"s".repeat(40)),
        ("ADMIN_PASSWORD", "hunter22"),
    ])
    .unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("ssss"));
    assert!(!dbg.contains("hunter22"));
}

#[test]
fn kafka_is_off_unless_brokers_are_set() {
    assert_eq!(cfg(&[]).unwrap().kafka, None);
    assert_eq!(cfg(&[("KAFKA_TOPIC", "x")]).unwrap().kafka, None);
    let k = cfg(&[("KAFKA_BROKERS", "127.0.0.1:9092")])
        .unwrap()
        .kafka
        .expect("on");
    assert_eq!(k.brokers, "127.0.0.1:9092");
    assert_eq!(k.topic, "torrent-events");
    assert_eq!((k.partitions, k.replication_factor), (3, 1));
    assert_eq!(k.client_id, "torrentedge");
    assert_eq!(k.message_timeout, Duration::from_secs(120));
    let k = cfg(&[
        ("KAFKA_BROKERS", "a:1,b:2"),
        ("KAFKA_TOPIC", "te.events_v2"),
        ("KAFKA_PARTITIONS", "12"),
        ("KAFKA_REPLICATION_FACTOR", "3"),
        ("KAFKA_CLIENT_ID", "edge-1"),
        ("KAFKA_MESSAGE_TIMEOUT", "30"),
    ])
    .unwrap()
    .kafka
    .expect("on");
    assert_eq!(k.topic, "te.events_v2");
    assert_eq!((k.partitions, k.replication_factor), (12, 3));
    assert_eq!(k.client_id, "edge-1");
    assert_eq!(k.message_timeout, Duration::from_secs(30));
}

#[test]
fn bad_kafka_values_name_the_variable() {
    let on = ("KAFKA_BROKERS", "127.0.0.1:9092");
    for (var, value) in [
        ("KAFKA_PARTITIONS", "0"),
        ("KAFKA_PARTITIONS", "three"),
        ("KAFKA_PARTITIONS", "4294967295"),
        ("KAFKA_PARTITIONS", "-1"),
        ("KAFKA_REPLICATION_FACTOR", "0"),
        ("KAFKA_REPLICATION_FACTOR", "33"),
        ("KAFKA_TOPIC", "no spaces"),
        ("KAFKA_TOPIC", ".."),
        ("KAFKA_MESSAGE_TIMEOUT", "0"),
        ("KAFKA_MESSAGE_TIMEOUT", "3601"),
    ] {
        let err = cfg(&[on, (var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{var}={value}");
    }
}

#[test]
fn every_variable_is_documented_in_env_example() {
    let example = include_str!("../../.env.example");
    let source = [include_str!("mod.rs"), include_str!("tracker.rs")].concat();
    let mut checked = 0;
    for part in source.split('"').skip(1).step_by(2) {
        let is_var = part.len() > 2 && part.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if is_var {
            assert!(
                example.contains(&format!("{part}=")),
                "{part} is missing from .env.example"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "found only {checked} variables");
}

#[test]
fn tracker_defaults_and_bounds() {
    let t = cfg(&[]).unwrap().tracker;
    assert_eq!(t.mode, super::TrackerMode::Catalog);
    assert_eq!(
        (t.interval.as_secs(), t.min_interval.as_secs()),
        (1800, 900)
    );
    assert_eq!((t.default_numwant, t.max_numwant), (50, 200));
    assert!(t.udp.is_empty(), "UDP is off unless a port is set");
    let on = cfg(&[
        ("TRACKER_MODE", "private"),
        ("TRACKER_UDP_PORT", "6969"),
        ("TRACKER_UDP_HOST", "127.0.0.1, [::1]"),
        ("TRACKER_INTERVAL", "60"),
    ])
    .unwrap()
    .tracker;
    assert_eq!(on.mode, super::TrackerMode::Private);
    assert_eq!(on.min_interval.as_secs(), 30);
    let want: Vec<std::net::SocketAddr> = vec![
        "127.0.0.1:6969".parse().unwrap(),
        "[::1]:6969".parse().unwrap(),
    ];
    assert_eq!(on.udp, want);
    for (var, value) in [
        ("TRACKER_MODE", "closed"),
        ("TRACKER_INTERVAL", "5"),
        ("TRACKER_MIN_INTERVAL", "2000"),
        ("TRACKER_MAX_NUMWANT", "0"),
        ("TRACKER_DEFAULT_NUMWANT", "201"),
        ("TRACKER_UDP_PORT", "x"),
    ] {
        let err = cfg(&[(var, value)]).unwrap_err();
        assert_eq!(err.var, var, "{var}={value}");
    }
    let err = cfg(&[("TRACKER_UDP_PORT", "1"), ("TRACKER_UDP_HOST", "nowhere")]).unwrap_err();
    assert_eq!(err.var, "TRACKER_UDP_HOST");
}
