//! The GraphQL object types: thin wrappers over the project's own views, so the fields
//! are the REST API's (camelCase) and nothing is computed twice.

use async_graphql::{Context, Object, Result, SimpleObject};

use super::parts;
use crate::engine::{Actor, TorrentView};
use crate::store::Role;

pub struct User(pub crate::store::User);

#[Object]
impl User {
    async fn id(&self) -> &str {
        &self.0.id
    }
    async fn username(&self) -> &str {
        &self.0.username
    }
    /// `admin` or `user`.
    async fn role(&self) -> &'static str {
        match self.0.role {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
    /// Milliseconds since the Unix epoch.
    async fn created_at(&self) -> i64 {
        self.0.created_at
    }

    /// The user's torrents, as far as the caller may see them (their own, or anyone's
    /// for an administrator).
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn torrents(&self, ctx: &Context<'_>) -> Vec<Torrent> {
        let (s, actor) = parts(ctx);
        s.engine
            .list(actor)
            .into_iter()
            .filter(|t| t.owner_id == self.0.id)
            .map(Torrent)
            .collect()
    }

    /// Uploaded and downloaded bytes the tracker accounted (private mode), and the
    /// torrents the user's clients seed and leech now.
    async fn tracker_stats(&self, ctx: &Context<'_>) -> Result<TrackerStats> {
        let (s, _) = parts(ctx);
        Ok(s.tracker.user_stats(&self.0.id).await?.into())
    }
}

#[derive(SimpleObject)]
pub struct TrackerStats {
    pub uploaded: u64,
    pub downloaded: u64,
    pub ratio: Option<f64>,
    pub seeding: u64,
    pub leeching: u64,
}

impl From<crate::tracker::UserStats> for TrackerStats {
    fn from(s: crate::tracker::UserStats) -> Self {
        Self {
            uploaded: s.uploaded,
            downloaded: s.downloaded,
            ratio: s.ratio,
            seeding: s.seeding,
            leeching: s.leeching,
        }
    }
}

pub struct Torrent(pub TorrentView);

#[derive(SimpleObject)]
pub struct File {
    pub index: usize,
    pub path: String,
    pub length: u64,
    pub downloaded: u64,
    pub percentage: f64,
}

#[Object]
impl Torrent {
    async fn info_hash(&self) -> String {
        self.0.info_hash.to_string()
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// `queued`, `metadata`, `checking`, `downloading`, `seeding`, `paused`, `completed`
    /// or `error`, as in the REST API.
    async fn state(&self) -> &'static str {
        self.0.state.name()
    }
    async fn priority(&self) -> String {
        serde_json::to_value(self.0.priority)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
    async fn paused(&self) -> bool {
        self.0.paused
    }
    async fn percentage(&self) -> f64 {
        self.0.percentage
    }
    async fn total_bytes(&self) -> u64 {
        self.0.total_bytes
    }
    async fn completed_bytes(&self) -> u64 {
        self.0.completed_bytes
    }
    async fn downloaded(&self) -> u64 {
        self.0.downloaded
    }
    async fn uploaded(&self) -> u64 {
        self.0.uploaded
    }
    async fn download_speed(&self) -> u64 {
        self.0.download_speed
    }
    async fn upload_speed(&self) -> u64 {
        self.0.upload_speed
    }
    async fn eta(&self) -> Option<u64> {
        self.0.eta
    }
    async fn ratio(&self) -> f64 {
        self.0.ratio
    }
    async fn peers_connected(&self) -> u64 {
        u64::from(self.0.peers.connected)
    }
    async fn added_at(&self) -> i64 {
        self.0.added_at
    }
    async fn completed_at(&self) -> Option<i64> {
        self.0.completed_at
    }
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn owner_id(&self) -> &str {
        &self.0.owner_id
    }

    /// The owner (the caller, unless the caller is an administrator).
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let (s, _) = parts(ctx);
        Ok(s.store.user_by_id(&self.0.owner_id).await?.map(User))
    }

    /// The files inside, with per-file progress (empty before metadata).
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn files(&self, ctx: &Context<'_>) -> Vec<File> {
        let (s, actor): (_, &Actor) = parts(ctx);
        let Ok(details) = s.engine.details(actor, &self.0.info_hash) else {
            return Vec::new();
        };
        details
            .files
            .into_iter()
            .map(|f| File {
                index: f.index,
                path: f.path,
                length: f.length,
                downloaded: f.downloaded,
                percentage: f.percentage,
            })
            .collect()
    }
}

pub struct Statistics {
    pub engine: crate::engine::Statistics,
    pub tracker: crate::tracker::UserStats,
}

#[Object]
impl Statistics {
    async fn total_torrents(&self) -> usize {
        self.engine.total_torrents
    }
    async fn active_count(&self) -> usize {
        self.engine.active_count
    }
    async fn queued_count(&self) -> usize {
        self.engine.queued_count
    }
    async fn seeding_count(&self) -> usize {
        self.engine.seeding_count
    }
    async fn paused_count(&self) -> usize {
        self.engine.paused_count
    }
    async fn completed_count(&self) -> usize {
        self.engine.completed_count
    }
    async fn error_count(&self) -> usize {
        self.engine.error_count
    }
    async fn download_speed(&self) -> u64 {
        self.engine.download_speed
    }
    async fn upload_speed(&self) -> u64 {
        self.engine.upload_speed
    }
    async fn total_downloaded(&self) -> u64 {
        self.engine.total_downloaded
    }
    async fn total_uploaded(&self) -> u64 {
        self.engine.total_uploaded
    }
    /// The caller's tracker account.
    async fn tracker(&self) -> TrackerStats {
        self.tracker.into()
    }
}
