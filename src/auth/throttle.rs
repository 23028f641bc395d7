//! Login throttling: counts failed logins per client address in a sliding window.
//!
//! Every login attempt is counted *before* the password is checked ([`LoginThrottle::begin`])
//! and forgiven when it succeeds ([`LoginThrottle::clear`]). Counting up front means a burst of
//! parallel guesses cannot all slip past the limit while their (slow) hashes are computed.
//! Once an address has `max_failures` attempts in the window, further attempts are refused
//! until the oldest one leaves the window.
//!
//! Memory is bounded: stale addresses are swept once per window, and when the map reaches
//! its capacity the address with the oldest latest attempt is evicted. IPv6 clients are
//! grouped by /64 (one subscriber's usual allocation), so rotating addresses inside a
//! prefix does not reset the count; IPv4-mapped IPv6 addresses count as their IPv4 address.
//!
//! The clock is a parameter (`now: Instant`) so tests can move time without sleeping.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Default bound on the number of tracked client addresses.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Failed-login bookkeeping for all clients.
#[derive(Debug)]
pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    capacity: usize,
    // A std Mutex, not tokio's: every critical section is a few map operations that never
    // await, so the lock is held for microseconds and cannot be held across a suspension
    // point. An async mutex would only add overhead here.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Attempt times per client, oldest first; at most `max_failures` of them.
    clients: HashMap<IpAddr, VecDeque<Instant>>,
    last_sweep: Option<Instant>,
}

impl LoginThrottle {
    /// A throttle allowing `max_failures` failures per `window`; 0 for either disables it.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self::with_capacity(max_failures, window, DEFAULT_CAPACITY)
    }

    /// Like [`LoginThrottle::new`] with an explicit bound on tracked addresses (at least 1).
    pub fn with_capacity(max_failures: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX),
            window,
            capacity: capacity.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Counts an attempt from `client` at `now`, or refuses it with the time to wait.
    pub fn begin(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.disabled() {
            return Ok(());
        }
        let key = client_key(client);
        let mut state = self.lock();
        self.sweep_if_due(&mut state, now);
        if !state.clients.contains_key(&key) {
            self.make_room(&mut state, now);
        }
        let attempts = state.clients.entry(key).or_default();
        prune(attempts, now, self.window);
        if attempts.len() >= self.max_failures {
            return Err(self.retry_after(attempts, now));
        }
        attempts.push_back(now);
        Ok(())
    }

    /// Takes back the attempt counted at `at` (the check failed for a reason that is not
    /// the client's fault, such as a storage error).
    pub fn forgive(&self, client: IpAddr, at: Instant) {
        let key = client_key(client);
        let mut state = self.lock();
        if let Some(attempts) = state.clients.get_mut(&key) {
            if let Some(i) = attempts.iter().rposition(|t| *t == at) {
                attempts.remove(i);
            }
            if attempts.is_empty() {
                state.clients.remove(&key);
            }
        }
    }

    /// Forgets every counted failure of `client` (after a successful login).
    pub fn clear(&self, client: IpAddr) {
        self.lock().clients.remove(&client_key(client));
    }

    /// How many client addresses (or IPv6 prefixes) are tracked.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.lock().clients.len()
    }

    fn disabled(&self) -> bool {
        self.max_failures == 0 || self.window.is_zero()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map inconsistent (each update is
        // a single insert/remove/push), so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn retry_after(&self, attempts: &VecDeque<Instant>, now: Instant) -> Duration {
        let oldest = attempts.front().copied().unwrap_or(now);
        let left = self
            .window
            .saturating_sub(now.saturating_duration_since(oldest));
        // Whole seconds, rounded up, so waiting `Retry-After` seconds is always enough.
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Duration::from_secs(secs.max(1))
    }

    fn sweep_if_due(&self, state: &mut State, now: Instant) {
        let due = state
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= self.window);
        if due {
            self.drop_stale(state, now);
            state.last_sweep = Some(now);
        }
    }

    fn make_room(&self, state: &mut State, now: Instant) {
        if state.clients.len() < self.capacity {
            return;
        }
        self.drop_stale(state, now);
        while state.clients.len() >= self.capacity {
            let Some(victim) = least_recent(&state.clients) else {
                break;
            };
            state.clients.remove(&victim);
        }
    }

    fn drop_stale(&self, state: &mut State, now: Instant) {
        state.clients.retain(|_, attempts| {
            attempts
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < self.window)
        });
    }
}

/// Drops the attempts that have left the window.
fn prune(attempts: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while attempts
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        attempts.pop_front();
    }
}

/// The client whose latest attempt is the oldest.
fn least_recent(clients: &HashMap<IpAddr, VecDeque<Instant>>) -> Option<IpAddr> {
    clients
        .iter()
        .min_by_key(|(_, attempts)| attempts.back().copied())
        .map(|(ip, _)| *ip)
}

/// The address failures are counted under: IPv4 as is, IPv6 by its /64 prefix.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_after_max_failures_until_the_oldest_leaves_the_window() {
        let t = LoginThrottle::new(3, WINDOW);
        let start = Instant::now();
        let a = ip("10.0.0.1");
        for i in 0..3 {
            t.begin(a, start + Duration::from_secs(i * 10)).unwrap();
        }
        let wait = t.begin(a, start + Duration::from_secs(25)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(35));
        // Still refused just before the oldest attempt expires; never less than 1 s.
        let wait = t
            .begin(a, start + WINDOW - Duration::from_millis(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Once it has left the window there is room for exactly one more attempt.
        t.begin(a, start + WINDOW).unwrap();
        assert!(t.begin(a, start + WINDOW).is_err());
        // Other clients are unaffected.
        t.begin(ip("10.0.0.2"), start + Duration::from_secs(25))
            .unwrap();
    }

    #[test]
    fn clear_forgets_a_client() {
        let t = LoginThrottle::new(2, WINDOW);
        let now = Instant::now();
        let a = ip("10.0.0.1");
        t.begin(a, now).unwrap();
        t.begin(a, now).unwrap();
        assert!(t.begin(a, now).is_err());
        t.clear(a);
        assert_eq!(t.tracked(), 0);
        t.begin(a, now).unwrap();
    }

    #[test]
    fn forgive_takes_back_one_attempt() {
        let t = LoginThrottle::new(2, WINDOW);
        let now = Instant::now();
        let a = ip("10.0.0.1");
        t.begin(a, now).unwrap();
        let later = now + Duration::from_secs(1);
        t.begin(a, later).unwrap();
        t.forgive(a, later);
        t.begin(a, later).unwrap();
        assert!(t.begin(a, later).is_err());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let t = LoginThrottle::new(1, WINDOW);
        let now = Instant::now();
        t.begin(ip("10.0.0.1"), now).unwrap();
        let wait = t
            .begin(ip("10.0.0.1"), now + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(60));
    }

    #[test]
    fn zero_limit_or_window_disables_throttling() {
        let now = Instant::now();
        for t in [
            LoginThrottle::new(0, WINDOW),
            LoginThrottle::new(3, Duration::ZERO),
        ] {
            for _ in 0..10 {
                t.begin(ip("10.0.0.1"), now).unwrap();
            }
            assert_eq!(t.tracked(), 0);
        }
    }

    #[test]
    fn capacity_evicts_the_least_recent_client() {
        let t = LoginThrottle::with_capacity(1, WINDOW, 3);
        let start = Instant::now();
        for (i, last) in [1, 2, 3].into_iter().enumerate() {
            t.begin(
                ip(&format!("10.0.0.{last}")),
                start + Duration::from_secs(i as u64),
            )
            .unwrap();
        }
        t.begin(ip("10.0.0.4"), start + Duration::from_secs(5))
            .unwrap();
        assert_eq!(t.tracked(), 3);
        // 10.0.0.1 was evicted and may try again (evicting 10.0.0.2); 10.0.0.3 is still counted.
        t.begin(ip("10.0.0.1"), start + Duration::from_secs(6))
            .unwrap();
        assert!(
            t.begin(ip("10.0.0.3"), start + Duration::from_secs(6))
                .is_err()
        );
    }

    #[test]
    fn stale_clients_are_swept() {
        let t = LoginThrottle::new(5, WINDOW);
        let start = Instant::now();
        for last in 1..=50 {
            t.begin(ip(&format!("10.0.1.{last}")), start).unwrap();
        }
        assert_eq!(t.tracked(), 50);
        t.begin(ip("10.0.2.1"), start + WINDOW).unwrap();
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn ipv6_counts_per_prefix_and_mapped_ipv4_as_ipv4() {
        let t = LoginThrottle::new(2, WINDOW);
        let now = Instant::now();
        t.begin(ip("2001:db8:1:2::1"), now).unwrap();
        t.begin(ip("2001:db8:1:2:ffff::9"), now).unwrap();
        assert!(t.begin(ip("2001:db8:1:2::77"), now).is_err());
        t.begin(ip("2001:db8:1:3::1"), now).unwrap();

        t.begin(ip("192.0.2.7"), now).unwrap();
        t.begin(ip("::ffff:192.0.2.7"), now).unwrap();
        assert!(t.begin(ip("192.0.2.7"), now).is_err());
    }
}
