//! Limits and download slots, changed at runtime by administrators: kept in the store
//! (written before they apply), and applied over the environment's values at start.

use std::num::NonZeroU32;
use std::sync::Arc;

use super::{Engine, EngineError, Limits, Result, Settings, lock};

/// Longest global seeding time, in minutes (ten years, as `SEED_TIME_LIMIT`).
const MAX_SEED_MINUTES: u64 = 10 * 365 * 24 * 60;

/// The store's settings entry holding [`Settings`] as JSON.
const SETTINGS_KEY: &str = "engine";

impl Engine {
    pub fn limits(&self) -> Limits {
        let cfg = self.config();
        Limits {
            download_limit: cfg.download_limit,
            upload_limit: cfg.upload_limit,
        }
    }

    /// Changes the global limits at once, for every torrent.
    pub fn set_limits(&self, limits: Limits) {
        self.session
            .ratelimits
            .set_download_bps(NonZeroU32::new(limits.download_limit));
        self.session
            .ratelimits
            .set_upload_bps(NonZeroU32::new(limits.upload_limit));
        let mut cfg = lock(&self.cfg);
        cfg.download_limit = limits.download_limit;
        cfg.upload_limit = limits.upload_limit;
    }

    /// Whether DHT and local service discovery are on.
    pub fn discovery(&self) -> (bool, bool) {
        let cfg = self.config();
        (cfg.enable_dht, cfg.enable_lsd)
    }

    /// Whether completed torrents seed (`SEEDING_ENABLED`).
    pub fn seeding_enabled(&self) -> bool {
        self.config().seeding_enabled
    }

    pub fn max_concurrent(&self) -> usize {
        self.config().max_concurrent
    }

    /// The runtime settings, every one given.
    pub fn settings(&self) -> Settings {
        let cfg = self.config();
        Settings {
            download_limit: Some(cfg.download_limit),
            upload_limit: Some(cfg.upload_limit),
            max_concurrent_torrents: Some(cfg.max_concurrent),
            seed_ratio_limit: Some(cfg.seed_ratio_limit.unwrap_or(0.0)),
            seed_time_limit: Some(cfg.seed_time_limit.map_or(0, |d| d.as_secs() / 60)),
        }
    }

    /// Changes the given settings: written to the store first, then applied at once (the
    /// queue re-planned), so what was acknowledged survives a restart.
    pub async fn update_settings(self: &Arc<Self>, new: Settings) -> Result<Settings> {
        if new.max_concurrent_torrents == Some(0) {
            return Err(EngineError::InvalidSetting(
                "maxConcurrentTorrents must be at least 1".into(),
            ));
        }
        if new
            .seed_ratio_limit
            .is_some_and(|r| !(0.0..=10_000.0).contains(&r))
        {
            return Err(EngineError::InvalidSetting(
                "seedRatioLimit must be 0 (none) to 10000".into(),
            ));
        }
        if new.seed_time_limit.is_some_and(|m| m > MAX_SEED_MINUTES) {
            return Err(EngineError::InvalidSetting(format!(
                "seedTimeLimit must be 0 (none) to {MAX_SEED_MINUTES} minutes"
            )));
        }
        let ops = self.ops.lock().await;
        let old = self.settings();
        let merged = Settings {
            download_limit: new.download_limit.or(old.download_limit),
            upload_limit: new.upload_limit.or(old.upload_limit),
            max_concurrent_torrents: new.max_concurrent_torrents.or(old.max_concurrent_torrents),
            seed_ratio_limit: new.seed_ratio_limit.or(old.seed_ratio_limit),
            seed_time_limit: new.seed_time_limit.or(old.seed_time_limit),
        };
        let value = serde_json::to_string(&merged).map_err(|e| EngineError::Internal(e.into()))?;
        self.store
            .save_settings(&[(SETTINGS_KEY.to_owned(), value)])
            .await?;
        self.apply_settings(&merged);
        self.reconcile_locked(&ops).await;
        Ok(self.settings())
    }

    /// Puts settings in force (limits in librqbit at once; slots at the next reconcile).
    fn apply_settings(&self, s: &Settings) {
        let cfg = self.config();
        self.set_limits(Limits {
            download_limit: s.download_limit.unwrap_or(cfg.download_limit),
            upload_limit: s.upload_limit.unwrap_or(cfg.upload_limit),
        });
        let mut cfg = lock(&self.cfg);
        if let Some(max) = s.max_concurrent_torrents {
            cfg.max_concurrent = max.max(1);
        }
        if let Some(r) = s.seed_ratio_limit {
            cfg.seed_ratio_limit = (r > 0.0).then_some(r);
        }
        if let Some(m) = s.seed_time_limit {
            cfg.seed_time_limit = (m > 0).then(|| std::time::Duration::from_secs(m * 60));
        }
    }

    /// The settings an administrator saved, over the environment's values.
    pub(super) async fn load_settings(&self) -> Result<()> {
        let saved = self.store.settings().await?;
        if let Some((_, value)) = saved.iter().find(|(k, _)| k == SETTINGS_KEY) {
            match serde_json::from_str::<Settings>(value) {
                Ok(s) => self.apply_settings(&s),
                Err(e) => tracing::warn!(error = %e, "ignoring unreadable saved settings"),
            }
        }
        Ok(())
    }
}
