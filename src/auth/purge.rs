//! Deleting expired refresh tokens, which would otherwise pile up in the store forever
//! (every login adds one, every refresh another).
//!
//! [`Auth`](super::Auth) starts the task when it is built, and holds the task's
//! cancellation token through a drop guard: the purge runs exactly as long as the `Auth`
//! it belongs to.

use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::store::DynStore;

/// How often expired refresh tokens are deleted (and once when the server starts).
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes expired refresh tokens now and then every `every`, until `cancel`.
/// A failed round is logged and retried at the next one.
pub async fn run(store: DynStore, every: Duration, cancel: CancellationToken) {
    let mut rounds = tokio::time::interval(every);
    // After a stall, one round is enough: there is nothing to catch up on.
    rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = rounds.tick() => {}
        }
        match store.purge_expired_tokens(crate::now_millis()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted expired refresh tokens"),
            Err(e) => tracing::warn!(error = %e, "purging expired refresh tokens failed"),
        }
    }
}
