//! The throttle on an injected clock: every `now` is a point chosen by the test.

use super::*;

const WINDOW: Duration = Duration::from_secs(60);
const BAN: Duration = Duration::from_secs(3600);
const ACCOUNT_WINDOW: Duration = Duration::from_secs(900);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `max` failures per address (then a ban), the account limit off.
fn per_address(max: u32) -> Limits {
    Limits {
        max_failures: max,
        window: WINDOW,
        ban: BAN,
        account_max_failures: 0,
        account_window: ACCOUNT_WINDOW,
    }
}

/// `max` failures per account from any address, the address limit off.
fn per_account(max: u32) -> Limits {
    Limits {
        max_failures: 0,
        account_max_failures: max,
        ..per_address(0)
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Starts and fails one attempt.
fn fail(t: &LoginThrottle, client: &str, user: &str, now: Instant) {
    t.begin(ip(client), user, now).unwrap().failed(now);
}

/// Starts one attempt and lets it succeed.
fn succeed(t: &LoginThrottle, client: &str, user: &str, now: Instant) {
    t.begin(ip(client), user, now).unwrap().succeeded(now);
}

fn refused(t: &LoginThrottle, client: &str, user: &str, now: Instant) -> Duration {
    match t.begin(ip(client), user, now) {
        Ok(_) => panic!("{client} logging in as {user} was let through"),
        Err(wait) => wait,
    }
}

#[test]
fn max_failures_ban_the_address_for_the_ban_time() {
    let t = LoginThrottle::new(per_address(3));
    let start = Instant::now();
    for i in 0..3 {
        fail(&t, "10.0.0.1", "admin", start + secs(i * 10));
    }
    // Banned from the third failure (at +20 s) for an hour, whatever the account.
    assert_eq!(
        refused(&t, "10.0.0.1", "admin", start + secs(25)),
        secs(3595)
    );
    assert_eq!(
        refused(&t, "10.0.0.1", "alice", start + secs(25)),
        secs(3595)
    );
    // Still refused just before the ban ends; never less than 1 s.
    let almost = start + secs(20) + BAN - Duration::from_millis(10);
    assert_eq!(refused(&t, "10.0.0.1", "admin", almost), secs(1));
    // Other clients are unaffected.
    fail(&t, "10.0.0.2", "admin", start + secs(25));
    // After the ban the count starts again: two more failures are not a ban.
    let after = start + secs(20) + BAN;
    fail(&t, "10.0.0.1", "admin", after);
    fail(&t, "10.0.0.1", "admin", after);
    succeed(&t, "10.0.0.1", "alice", after);
    fail(&t, "10.0.0.1", "admin", after);
    assert_eq!(refused(&t, "10.0.0.1", "admin", after), BAN);
}

#[test]
fn failures_outside_the_window_do_not_count() {
    let t = LoginThrottle::new(per_address(2));
    let start = Instant::now();
    fail(&t, "10.0.0.1", "admin", start);
    fail(&t, "10.0.0.1", "admin", start + WINDOW);
    fail(&t, "10.0.0.1", "admin", start + WINDOW * 2);
    fail(&t, "10.0.0.1", "admin", start + WINDOW * 2 + secs(1));
    refused(&t, "10.0.0.1", "admin", start + WINDOW * 2 + secs(1));
}

/// The regression this module was rewritten for: a success used to clear every failure
/// of its address, so guesses at `admin` interleaved with logins to one's own account
/// were never throttled.
#[test]
fn success_for_one_account_keeps_failures_against_others() {
    let t = LoginThrottle::new(per_address(5));
    let now = Instant::now();
    for _ in 0..4 {
        fail(&t, "10.0.0.1", "admin", now);
        succeed(&t, "10.0.0.1", "mallory", now);
    }
    fail(&t, "10.0.0.1", "admin", now);
    assert_eq!(refused(&t, "10.0.0.1", "mallory", now), BAN);
}

#[test]
fn success_clears_that_accounts_failures_from_that_address() {
    let t = LoginThrottle::new(per_address(3));
    let now = Instant::now();
    for _round in 0..3 {
        fail(&t, "10.0.0.1", "alice", now);
        fail(&t, "10.0.0.1", "alice", now);
        succeed(&t, "10.0.0.1", "alice", now);
    }
    assert_eq!(t.tracked(), 0);
    // Failures against bob stay when alice succeeds.
    fail(&t, "10.0.0.1", "bob", now);
    fail(&t, "10.0.0.1", "alice", now);
    succeed(&t, "10.0.0.1", "alice", now);
    fail(&t, "10.0.0.1", "bob", now);
    fail(&t, "10.0.0.1", "carol", now);
    refused(&t, "10.0.0.1", "alice", now);
}

#[test]
fn attempts_in_flight_hold_back_more_without_a_ban() {
    let t = LoginThrottle::new(per_address(2));
    let now = Instant::now();
    let a = t.begin(ip("10.0.0.1"), "admin", now).unwrap();
    let b = t.begin(ip("10.0.0.1"), "admin", now).unwrap();
    assert_eq!(refused(&t, "10.0.0.1", "admin", now), IN_FLIGHT_RETRY);
    // One succeeds: room again, and no failure was counted.
    a.succeeded(now);
    let c = t.begin(ip("10.0.0.1"), "admin", now).unwrap();
    b.failed(now);
    assert_eq!(refused(&t, "10.0.0.1", "admin", now), IN_FLIGHT_RETRY);
    c.failed(now);
    assert_eq!(refused(&t, "10.0.0.1", "admin", now), BAN);
}

#[test]
fn an_unsettled_attempt_is_taken_back() {
    let t = LoginThrottle::new(per_address(2));
    let now = Instant::now();
    fail(&t, "10.0.0.1", "admin", now);
    drop(t.begin(ip("10.0.0.1"), "admin", now).unwrap());
    drop(t.begin(ip("10.0.0.1"), "admin", now).unwrap());
    fail(&t, "10.0.0.1", "admin", now);
    refused(&t, "10.0.0.1", "admin", now);

    let t = LoginThrottle::new(per_address(2));
    drop(t.begin(ip("10.0.0.1"), "admin", now).unwrap());
    assert_eq!(t.tracked(), 0);
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    let t = LoginThrottle::new(per_address(1));
    let now = Instant::now();
    fail(&t, "10.0.0.1", "admin", now);
    let wait = refused(&t, "10.0.0.1", "admin", now + Duration::from_millis(500));
    assert_eq!(wait, BAN);
    assert_eq!(whole_seconds(Duration::from_millis(1)), secs(1));
    assert_eq!(whole_seconds(Duration::ZERO), secs(1));
    assert_eq!(whole_seconds(Duration::from_millis(2001)), secs(3));
}

#[test]
fn one_account_is_limited_across_addresses() {
    let t = LoginThrottle::new(per_account(3));
    let start = Instant::now();
    for i in 1..=3 {
        fail(&t, &format!("10.0.0.{i}"), "admin", start + secs(i));
    }
    // A fourth address is refused for admin until the first failure leaves the window.
    let wait = refused(&t, "10.0.0.4", "admin", start + secs(10));
    assert_eq!(wait, ACCOUNT_WINDOW - secs(9));
    // Only for that account: the same address may log in to another one.
    succeed(&t, "10.0.0.4", "alice", start + secs(10));
    // The limit slides: once the oldest failure has left, there is room for one more.
    let later = start + secs(1) + ACCOUNT_WINDOW;
    fail(&t, "10.0.0.5", "admin", later);
    refused(&t, "10.0.0.6", "admin", later);
}

#[test]
fn trusted_addresses_are_exempt_from_the_account_limit() {
    let t = LoginThrottle::new(per_account(2));
    let now = Instant::now();
    succeed(&t, "192.0.2.10", "admin", now);
    fail(&t, "10.0.0.1", "admin", now);
    fail(&t, "10.0.0.2", "admin", now);
    refused(&t, "10.0.0.3", "admin", now);
    // The owner's usual address still gets in, and a success clears nobody else's count.
    succeed(&t, "192.0.2.10", "admin", now + secs(1));
    refused(&t, "10.0.0.3", "admin", now + secs(1));
    // A failure from the trusted address counts, but does not lock it out.
    fail(&t, "192.0.2.10", "admin", now + secs(2));
    succeed(&t, "192.0.2.10", "admin", now + secs(2));
    // Trust expires.
    let much_later = now + secs(2) + TRUST_TTL;
    fail(&t, "10.0.0.1", "admin", much_later);
    fail(&t, "10.0.0.2", "admin", much_later);
    refused(&t, "192.0.2.10", "admin", much_later);
}

#[test]
fn both_limits_together() {
    let limits = Limits {
        account_max_failures: 4,
        ..per_address(2)
    };
    let t = LoginThrottle::new(limits);
    let now = Instant::now();
    // Two addresses, two failures each: both banned, and the account limit reached.
    for client in ["10.0.0.1", "10.0.0.2"] {
        fail(&t, client, "admin", now);
        fail(&t, client, "admin", now);
        assert_eq!(refused(&t, client, "bob", now), BAN);
    }
    assert_eq!(refused(&t, "10.0.0.3", "admin", now), ACCOUNT_WINDOW);
    succeed(&t, "10.0.0.3", "bob", now);
}

#[test]
fn zero_limits_disable_throttling() {
    let now = Instant::now();
    let off = [
        per_address(0),
        Limits {
            window: Duration::ZERO,
            ..per_address(3)
        },
        Limits {
            ban: Duration::ZERO,
            ..per_address(3)
        },
        per_account(0),
        Limits {
            account_window: Duration::ZERO,
            ..per_account(3)
        },
    ];
    for limits in off {
        let t = LoginThrottle::new(limits);
        for _ in 0..10 {
            fail(&t, "10.0.0.1", "admin", now);
        }
        assert_eq!(t.tracked(), 0, "{limits:?}");
        let state = t.lock();
        assert!(state.accounts.is_empty() && state.trusted.is_empty());
    }
}

#[test]
fn capacity_evicts_the_least_recent_client() {
    let t = LoginThrottle::with_capacity(per_address(1), 3);
    let start = Instant::now();
    for (i, last) in [1, 2, 3].into_iter().enumerate() {
        fail(
            &t,
            &format!("10.0.0.{last}"),
            "admin",
            start + secs(i as u64),
        );
    }
    fail(&t, "10.0.0.4", "admin", start + secs(5));
    assert_eq!(t.tracked(), 3);
    // 10.0.0.1 was evicted and may try again (evicting 10.0.0.2); 10.0.0.3 is still banned.
    fail(&t, "10.0.0.1", "admin", start + secs(6));
    refused(&t, "10.0.0.3", "admin", start + secs(6));
}

#[test]
fn account_and_trust_maps_are_bounded() {
    let limits = Limits {
        account_max_failures: 1,
        ..per_address(1000)
    };
    let t = LoginThrottle::with_capacity(limits, 4);
    let now = Instant::now();
    for i in 0..50 {
        fail(&t, "10.0.0.1", &format!("user{i}"), now + secs(i));
        succeed(&t, &format!("10.0.1.{i}"), "admin", now + secs(i));
    }
    let state = t.lock();
    assert_eq!(state.accounts.len(), 4);
    assert_eq!(state.trusted.len(), 4);
    // The most recent ones were kept.
    let newest = t.names.hash_one("user49");
    assert!(state.accounts.contains_key(&newest));
}

#[test]
fn stale_entries_are_swept() {
    let limits = Limits {
        account_max_failures: 5,
        ..per_address(5)
    };
    let t = LoginThrottle::new(limits);
    let start = Instant::now();
    for last in 1..=50 {
        fail(&t, &format!("10.0.1.{last}"), &format!("u{last}"), start);
    }
    assert_eq!(t.tracked(), 50);
    assert_eq!(t.lock().accounts.len(), 50);
    // One window later the addresses go; the accounts' longer window keeps theirs.
    fail(&t, "10.0.2.1", "admin", start + WINDOW);
    assert_eq!(t.tracked(), 1);
    assert_eq!(t.lock().accounts.len(), 51);
    fail(&t, "10.0.2.2", "admin", start + ACCOUNT_WINDOW);
    assert_eq!(t.lock().accounts.len(), 1);
}

#[test]
fn a_banned_address_is_not_swept_before_its_ban_ends() {
    let t = LoginThrottle::new(per_address(1));
    let start = Instant::now();
    fail(&t, "10.0.0.1", "admin", start);
    fail(&t, "10.0.0.2", "admin", start + WINDOW * 2);
    assert_eq!(t.tracked(), 2);
    refused(&t, "10.0.0.1", "admin", start + WINDOW * 2);
}

#[test]
fn ipv6_counts_per_prefix_and_mapped_ipv4_as_ipv4() {
    let t = LoginThrottle::new(per_address(2));
    let now = Instant::now();
    fail(&t, "2001:db8:1:2::1", "admin", now);
    fail(&t, "2001:db8:1:2:ffff::9", "admin", now);
    refused(&t, "2001:db8:1:2::77", "admin", now);
    fail(&t, "2001:db8:1:3::1", "admin", now);

    fail(&t, "192.0.2.7", "admin", now);
    fail(&t, "::ffff:192.0.2.7", "admin", now);
    refused(&t, "192.0.2.7", "admin", now);
}
