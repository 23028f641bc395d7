//! Login throttling: failed logins per client address and per account.
//!
//! # Counting
//!
//! Every attempt is counted against its client address *before* the password is checked
//! ([`LoginThrottle::begin`] hands back a [`Pending`] attempt), so a burst of parallel
//! guesses cannot slip past the limit while their slow hashes are computed. The attempt
//! then settles: [`Pending::failed`] keeps it as a failure; [`Pending::succeeded`] removes
//! it together with the failures *of that account* from that address; an attempt dropped
//! unsettled (a storage error, a full hashing queue, a request its client abandoned) is
//! taken back, since nobody learned anything from it.
//!
//! A success never clears failures against other accounts: someone with an account of
//! their own cannot reset the count by interleaving guesses at `admin` with logins to
//! their own account.
//!
//! # Address ban
//!
//! An address with `max_failures` failures within `window` is banned for `ban` (as in
//! qBittorrent, whose defaults are 5 failures and an hour): every login from it, to any
//! account and with any password, is refused with the time the ban has left. After the
//! ban its count starts from zero. While `max_failures` of its attempts are still being
//! checked, one more is refused for a second, without a ban: they may yet succeed.
//!
//! # Account limit
//!
//! An attacker with many addresses gets `max_failures` guesses per address and ban. To
//! bound guessing one account from many addresses, failures are also counted per account,
//! from every address, in a sliding `account_window`: once there are
//! `account_max_failures` of them, logins to that account are refused until the oldest
//! leaves the window. This is a sliding limit, not a ban, and it does not apply to an
//! address that logged in to that account successfully within [`TRUST_TTL`] (as seen by
//! this process): an attacker can slow an account down but cannot lock its owner out of
//! the places they usually log in from. The trade-offs: the owner arriving from a new
//! address while the account is under attack waits up to `account_window` (and trust is
//! forgotten on restart); and failures settled concurrently can overshoot the account
//! limit by the number of password checks in flight, which `LOGIN_CONCURRENCY` bounds.
//!
//! # Memory
//!
//! Bounded: addresses, accounts and trusted (account, address) pairs each live in a map
//! of at most `capacity` entries. Stale entries are swept once per window; when a map is
//! full, its least recently active entry is evicted (which, under a flood of new
//! addresses, can lift an old ban early). An address keeps at most `max_failures`
//! attempts and an account at most `account_max_failures` times. Accounts are keyed by a
//! 64-bit hash of the name under a random per-process key, so a long made-up name costs
//! no more than a short one and collisions cannot be aimed. IPv6 clients are grouped by
//! /64 (one subscriber's usual allocation), so rotating addresses inside a prefix does
//! not reset the count; IPv4-mapped IPv6 addresses count as their IPv4 address.
//!
//! The clock is a parameter (`now: Instant`) so tests can move time without sleeping.
//!
//! This is the in-process limiter. The Redis one (`cache::redis`) keeps the same rules in
//! Redis, so that several servers share one count.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Default bound on the entries of each map (addresses, accounts, trusted pairs).
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How long a successful login exempts its address from its account's limit.
pub const TRUST_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The wait suggested when attempts still being checked fill an address's allowance.
pub const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// The limits the throttle enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Failures from one address within `window` that get it banned for `ban`.
    /// Zero for any of the three disables the address limit.
    pub max_failures: u32,
    pub window: Duration,
    pub ban: Duration,
    /// Failures against one account, from any address, within `account_window`, after
    /// which untrusted addresses are refused for that account. Zero for either disables it.
    pub account_max_failures: u32,
    pub account_window: Duration,
}

impl Limits {
    /// Whether failures per address are limited (all three numbers set).
    pub fn address_limited(&self) -> bool {
        self.max_failures > 0 && !self.window.is_zero() && !self.ban.is_zero()
    }

    /// Whether failures per account are limited (both numbers set).
    pub fn account_limited(&self) -> bool {
        self.account_max_failures > 0 && !self.account_window.is_zero()
    }
}

/// Failed-login bookkeeping for all clients and accounts.
pub struct LoginThrottle {
    limits: Limits,
    capacity: usize,
    /// Hashes account names; its keys are random, so collisions cannot be chosen.
    names: RandomState,
    // A std Mutex, not tokio's: every critical section is a few map operations that never
    // await, so the lock is held for microseconds and cannot be held across a suspension
    // point. An async mutex would only add overhead here.
    state: Mutex<State>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("limits", &self.limits)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    addresses: HashMap<IpAddr, Address>,
    /// Failure times per account (name hash), oldest first.
    accounts: HashMap<u64, VecDeque<Instant>>,
    /// When each (account, address) pair last logged in successfully.
    trusted: HashMap<(u64, IpAddr), Instant>,
    last_sweep: Option<Instant>,
}

#[derive(Default)]
struct Address {
    /// Failures in the window and attempts still being checked, oldest first.
    attempts: VecDeque<Attempt>,
    banned_until: Option<Instant>,
}

struct Attempt {
    id: u64,
    at: Instant,
    account: u64,
    /// Whether it failed (`true`) or is still being checked (`false`).
    failed: bool,
}

impl Address {
    fn failures(&self) -> usize {
        self.attempts.iter().filter(|a| a.failed).count()
    }

    /// Drops the failures that have left the window; attempts in flight stay.
    fn prune(&mut self, now: Instant, window: Duration) {
        self.attempts
            .retain(|a| !a.failed || now.saturating_duration_since(a.at) < window);
    }

    fn last_active(&self) -> Option<Instant> {
        let last = self.attempts.iter().map(|a| a.at).max();
        last.max(self.banned_until)
    }

    fn is_stale(&self, now: Instant, window: Duration) -> bool {
        let banned = self.banned_until.is_some_and(|until| now < until);
        let counted = |a: &Attempt| !a.failed || now.saturating_duration_since(a.at) < window;
        !banned && !self.attempts.iter().any(counted)
    }
}

impl LoginThrottle {
    /// A throttle enforcing `limits`, with at most [`DEFAULT_CAPACITY`] entries per map.
    pub fn new(limits: Limits) -> Self {
        Self::with_capacity(limits, DEFAULT_CAPACITY)
    }

    /// Like [`LoginThrottle::new`] with an explicit bound on each map (at least 1).
    pub fn with_capacity(limits: Limits, capacity: usize) -> Self {
        Self {
            limits,
            capacity: capacity.max(1),
            names: RandomState::new(),
            state: Mutex::new(State::default()),
        }
    }

    /// Counts an attempt from `client` to log in as `username` at `now`, or refuses it with
    /// the time to wait. The attempt must be settled with the check's outcome.
    pub fn begin(
        &self,
        client: IpAddr,
        username: &str,
        now: Instant,
    ) -> Result<Pending<'_>, Duration> {
        let key = client_key(client);
        let account = self.names.hash_one(username);
        let mut state = self.lock();
        self.sweep_if_due(&mut state, now);
        if self.address_limited()
            && let Some(address) = state.addresses.get_mut(&key)
        {
            self.check_address(address, now)?;
        }
        self.check_account(&mut state, account, key, now)?;
        let id = self.address_limited().then(|| {
            let id = state.next_id;
            state.next_id += 1;
            let attempt = Attempt {
                id,
                at: now,
                account,
                failed: false,
            };
            self.address(&mut state, key, now)
                .attempts
                .push_back(attempt);
            id
        });
        Ok(Pending {
            throttle: self,
            key,
            account,
            id,
            settled: false,
        })
    }

    /// How many client addresses (or IPv6 prefixes) are tracked.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.lock().addresses.len()
    }

    fn address_limited(&self) -> bool {
        self.limits.address_limited()
    }

    fn account_limited(&self) -> bool {
        self.limits.account_limited()
    }

    fn max_failures(&self) -> usize {
        usize::try_from(self.limits.max_failures).unwrap_or(usize::MAX)
    }

    fn account_max_failures(&self) -> usize {
        usize::try_from(self.limits.account_max_failures).unwrap_or(usize::MAX)
    }

    fn check_address(&self, address: &mut Address, now: Instant) -> Result<(), Duration> {
        if let Some(until) = address.banned_until {
            if now < until {
                return Err(whole_seconds(until - now));
            }
            address.banned_until = None;
        }
        address.prune(now, self.limits.window);
        // Failures alone never reach the limit here (that bans); attempts in flight can.
        if address.attempts.len() >= self.max_failures() {
            return Err(IN_FLIGHT_RETRY);
        }
        Ok(())
    }

    fn check_account(
        &self,
        state: &mut State,
        account: u64,
        key: IpAddr,
        now: Instant,
    ) -> Result<(), Duration> {
        if !self.account_limited() {
            return Ok(());
        }
        let trusted = state.trusted.get(&(account, key));
        if trusted.is_some_and(|t| now.saturating_duration_since(*t) < TRUST_TTL) {
            return Ok(());
        }
        let Some(failures) = state.accounts.get_mut(&account) else {
            return Ok(());
        };
        let window = self.limits.account_window;
        prune_times(failures, now, window);
        match failures.front() {
            Some(oldest) if failures.len() >= self.account_max_failures() => Err(whole_seconds(
                window.saturating_sub(now.saturating_duration_since(*oldest)),
            )),
            _ => Ok(()),
        }
    }

    /// The address's entry, created (making room first) if it is not tracked.
    fn address<'s>(&self, state: &'s mut State, key: IpAddr, now: Instant) -> &'s mut Address {
        if !state.addresses.contains_key(&key) {
            self.make_room(state, now, |s| &mut s.addresses, Address::last_active);
        }
        state.addresses.entry(key).or_default()
    }

    /// Records a failure; returns whether it got the address banned.
    fn settle_failed(&self, p: &Pending<'_>, now: Instant) -> bool {
        let mut state = self.lock();
        if self.account_limited() {
            if !state.accounts.contains_key(&p.account) {
                self.make_room(&mut state, now, |s| &mut s.accounts, |f| f.back().copied());
            }
            let failures = state.accounts.entry(p.account).or_default();
            failures.push_back(now);
            while failures.len() > self.account_max_failures() {
                failures.pop_front();
            }
        }
        let Some(id) = p.id else { return false };
        let (window, ban, max) = (self.limits.window, self.limits.ban, self.max_failures());
        let address = self.address(&mut state, p.key, now);
        match address.attempts.iter_mut().find(|a| a.id == id) {
            Some(attempt) => attempt.failed = true,
            // Evicted while it was checked: count it anyway.
            None => address.attempts.push_back(Attempt {
                id,
                at: now,
                account: p.account,
                failed: true,
            }),
        }
        address.prune(now, window);
        let banned = address.failures() >= max;
        if banned {
            address.banned_until = Some(now + ban);
            address.attempts.retain(|a| !a.failed);
        }
        banned
    }

    fn settle_succeeded(&self, p: &Pending<'_>, now: Instant) {
        let mut state = self.lock();
        if let Some(address) = state.addresses.get_mut(&p.key) {
            address
                .attempts
                .retain(|a| Some(a.id) != p.id && !(a.failed && a.account == p.account));
            if address.is_stale(now, self.limits.window) {
                state.addresses.remove(&p.key);
            }
        }
        if self.account_limited() {
            let pair = (p.account, p.key);
            if !state.trusted.contains_key(&pair) {
                self.make_room(&mut state, now, |s| &mut s.trusted, |t| Some(*t));
            }
            state.trusted.insert(pair, now);
        }
    }

    fn take_back(&self, key: IpAddr, id: u64) {
        let mut state = self.lock();
        if let Some(address) = state.addresses.get_mut(&key) {
            address.attempts.retain(|a| a.id != id);
            if address.attempts.is_empty() && address.banned_until.is_none() {
                state.addresses.remove(&key);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps inconsistent (each update
        // is a few inserts/removes/pushes, each valid on its own), so a poisoned lock is
        // safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sweep period: the shorter of the windows in use.
    fn sweep_every(&self) -> Option<Duration> {
        let address = self.address_limited().then_some(self.limits.window);
        let account = self.account_limited().then_some(self.limits.account_window);
        match (address, account) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn sweep_if_due(&self, state: &mut State, now: Instant) {
        let Some(every) = self.sweep_every() else {
            return;
        };
        let due = state
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= every);
        if due {
            self.drop_stale(state, now);
            state.last_sweep = Some(now);
        }
    }

    fn drop_stale(&self, state: &mut State, now: Instant) {
        let (window, account_window) = (self.limits.window, self.limits.account_window);
        state.addresses.retain(|_, a| !a.is_stale(now, window));
        state.accounts.retain(|_, failures| {
            failures
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < account_window)
        });
        state
            .trusted
            .retain(|_, t| now.saturating_duration_since(*t) < TRUST_TTL);
    }

    /// Makes room for one more entry in the map `pick` selects: stale entries go first,
    /// then the least recently active ones.
    fn make_room<K: Copy + Eq + Hash, V>(
        &self,
        state: &mut State,
        now: Instant,
        pick: impl Fn(&mut State) -> &mut HashMap<K, V>,
        last_active: impl Fn(&V) -> Option<Instant>,
    ) {
        if pick(state).len() < self.capacity {
            return;
        }
        self.drop_stale(state, now);
        let map = pick(state);
        while map.len() >= self.capacity {
            let victim = map
                .iter()
                .min_by_key(|(_, v)| last_active(v))
                .map(|(k, _)| *k);
            let Some(victim) = victim else { break };
            map.remove(&victim);
        }
    }
}

/// One counted login attempt, to be settled with the outcome of the password check.
/// Dropping it unsettled takes it back.
#[must_use = "settle the attempt with failed() or succeeded()"]
pub struct Pending<'a> {
    throttle: &'a LoginThrottle,
    key: IpAddr,
    account: u64,
    /// Its id in the address's attempts; `None` when the address limit is off.
    id: Option<u64>,
    settled: bool,
}

impl Pending<'_> {
    /// The password was wrong (or the user unknown): the attempt counts as a failure.
    pub fn failed(mut self, now: Instant) {
        self.settled = true;
        if self.throttle.settle_failed(&self, now) {
            let limits = &self.throttle.limits;
            tracing::warn!(
                client = %self.key,
                failures = limits.max_failures,
                ban_secs = limits.ban.as_secs(),
                "too many failed logins; address banned"
            );
        }
    }

    /// The login succeeded: forgets this address's failures against this account (and
    /// only this account), and trusts the address for it.
    pub fn succeeded(mut self, now: Instant) {
        self.settled = true;
        self.throttle.settle_succeeded(&self, now);
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let (false, Some(id)) = (self.settled, self.id) {
            self.throttle.take_back(self.key, id);
        }
    }
}

/// Whole seconds, rounded up and at least 1, so waiting `Retry-After` is always enough.
pub fn whole_seconds(left: Duration) -> Duration {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

/// Drops the times that have left the window.
fn prune_times(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

/// The address failures are counted under: IPv4 as is, IPv6 by its /64 prefix.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests;
