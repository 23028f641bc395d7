//! TorrentEdge: a self-hosted, multi-user BitTorrent server.
//!
//! # Layout
//!
//! - [`config`] reads the environment once and hands typed option structs to the rest.
//! - [`engine`] is the only module that names librqbit: adding, pausing, resuming and
//!   removing torrents, the download queue, rate limits, the seeding policy, each user's
//!   folder, and a sampler that reports librqbit's state in the project's own types. One
//!   writer: every record change is written with its event, then applied in memory.
//! - [`events`] is the event contract and the bus: a change's events are written to the
//!   store's outbox in the same commit as the change, then published to the sinks
//!   (Socket.IO gateway, Kafka relay), never blocking the engine.
//! - [`InfoHash`] is a torrent's hash, parsed once where it enters.
//! - [`view`] is the torrent as clients see it, shared by the REST API and the events.
//! - [`store`] persists users, refresh tokens, torrents, settings, the event outbox,
//!   the media library, users' two-factor state, the tracker's accounts and the catalog
//!   behind one trait with an embedded SQLite default; a shared contract suite runs
//!   against every backend.
//! - [`library`] is the media library: users' movies, shows and episodes, each assigned
//!   to a file inside a torrent (added through the engine when new).
//! - [`catalog`] is the torrent catalog: published `.torrent` files with full-text
//!   search (a tantivy index rebuilt from the store when needed), comments, downloads
//!   announcing to this server's tracker, and adding to one's downloads via the engine.
//! - [`auth`] hashes passwords, issues and checks tokens, throttles failed logins, and
//!   runs two-factor login (TOTP codes and recovery codes).
//! - [`cache`] holds short-lived shared state (the login limiter, revoked access tokens,
//!   cached metadata) in process or in Redis, falling back in process while Redis is down.
//! - [`metadata`] turns magnet links into torrents' metadata without downloading
//!   content (the engine fetches; it caches in [`cache`] and on disk, and shares
//!   concurrent lookups).
//! - [`api`] is the REST edge: thin axum handlers that extract, call and map errors.
//! - [`graphql`] is the GraphQL edge (`/graphql`): torrents, users and statistics
//!   through the same engine, store and tracker calls as the REST API.
//! - [`gateway`] is the Socket.IO edge: authenticated sockets get the bus events they may see.
//! - [`web`] serves the dashboard built from `web/` (embedded in release builds).
//! - [`telemetry`] is the Prometheus recorder behind `/metrics`.
//! - [`tracker`] is the built-in BitTorrent tracker: announce and scrape over HTTP
//!   (served by `api`) and UDP, open, catalog-only or private with passkeys.
//! - [`app`] wires everything, owns the edges' shared state ([`app::Services`]), binds the
//!   listener and owns graceful shutdown.
//!
//! Dependencies point inward: `api` and `gateway` use `engine`, `auth`, `store`,
//! `library`, `catalog` and `events` through `app::Services`; `library` and `catalog` use
//! `engine` and `store`;
//! nothing uses `api` or `gateway`.

// `json!` of a qBittorrent torrent object (50 fields) needs more than the default 128.
#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod auth;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod dav;
pub mod engine;
pub mod events;
pub mod gateway;
pub mod graphql;
pub mod info_hash;
pub mod library;
pub mod metadata;
pub mod store;
pub mod telemetry;
pub mod tracker;
pub mod view;
pub mod web;

pub use info_hash::InfoHash;

/// Milliseconds since the Unix epoch, the one clock every record uses.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
