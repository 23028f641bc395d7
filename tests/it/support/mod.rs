//! Helpers shared by the integration tests: the spawned server, seeders, external tools.
#![allow(dead_code)]

pub mod app;
pub mod bencode;
pub mod mongo;
pub mod nginx;
pub mod process;
pub mod qbittorrent;
pub mod redis;
pub mod remote;
pub mod sio;
pub mod swarm;
pub mod tansu;
pub mod tools;
pub mod transmission;

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout` with
/// `what`. Tests wait on conditions this way, never on fixed sleeps.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
