//! The engine's torrents in qBittorrent's shapes: state names, units (seconds, 0..1
//! progress, minutes for seeding-time limits) and sentinels (-1 none, -2 global,
//! 8640000 unknown ETA).

use serde_json::{Map, Value, json};

use crate::engine::TorrentInfo;
use crate::store::ShareLimit;
use crate::view::TorrentState;

/// qBittorrent's ETA for "unknown" (100 days).
pub const ETA_UNKNOWN: u64 = 8_640_000;

/// qBittorrent's state name.
pub fn state(t: &TorrentInfo) -> &'static str {
    let v = &t.view;
    let complete = v.completed_at.is_some();
    let forced = t.options.force_start;
    match v.state {
        TorrentState::Error => "error",
        TorrentState::Paused | TorrentState::Completed if complete => "pausedUP",
        TorrentState::Paused | TorrentState::Completed => "pausedDL",
        TorrentState::Queued => "queuedDL",
        TorrentState::Metadata if forced => "forcedMetaDL",
        TorrentState::Metadata => "metaDL",
        TorrentState::Checking if complete => "checkingUP",
        TorrentState::Checking => "checkingDL",
        TorrentState::Downloading if forced => "forcedDL",
        TorrentState::Downloading if v.download_speed > 0 => "downloading",
        TorrentState::Downloading => "stalledDL",
        TorrentState::Seeding if forced => "forcedUP",
        TorrentState::Seeding if v.upload_speed > 0 => "uploading",
        TorrentState::Seeding => "stalledUP",
    }
}

/// Whether `state` is one of those a filter selects (`torrents/info?filter=`).
pub fn filter_matches(filter: &str, t: &TorrentInfo) -> Option<bool> {
    let s = state(t);
    let v = &t.view;
    let moving = v.download_speed > 0 || v.upload_speed > 0;
    let paused = s.starts_with("paused");
    let complete = v.completed_at.is_some();
    Some(match filter {
        "all" => true,
        "downloading" => !complete && !paused && s != "error",
        "seeding" => matches!(s, "uploading" | "stalledUP" | "forcedUP" | "checkingUP"),
        "completed" => complete,
        "paused" | "stopped" => paused,
        "resumed" | "running" => !paused,
        "active" => moving,
        "inactive" => !moving,
        "stalled" => matches!(s, "stalledUP" | "stalledDL"),
        "stalled_uploading" => s == "stalledUP",
        "stalled_downloading" => s == "stalledDL",
        "checking" => s.starts_with("checking"),
        "moving" => false,
        "errored" => s == "error",
        _ => return None,
    })
}

/// qBittorrent's `ratioLimit`: -2 the global limit, -1 none, else the ratio.
pub fn parse_ratio_limit(r: f64) -> Result<ShareLimit<f64>, super::QbtError> {
    if r == -2.0 {
        Ok(ShareLimit::Global)
    } else if r == -1.0 {
        Ok(ShareLimit::Unlimited)
    } else if r.is_finite() && r >= 0.0 {
        Ok(ShareLimit::Limit(r))
    } else {
        Err(super::QbtError::bad_request(format!(
            "Invalid ratioLimit: {r}"
        )))
    }
}

/// qBittorrent's `seedingTimeLimit` in minutes: -2 the global limit, -1 none.
pub fn parse_time_limit(m: i64) -> Result<ShareLimit<u64>, super::QbtError> {
    match m {
        -2 => Ok(ShareLimit::Global),
        -1 => Ok(ShareLimit::Unlimited),
        m if m >= 0 => Ok(ShareLimit::Limit(m as u64 * 60)),
        m => Err(super::QbtError::bad_request(format!(
            "Invalid seedingTimeLimit: {m}"
        ))),
    }
}

fn limit_ratio(l: ShareLimit<f64>) -> f64 {
    match l {
        ShareLimit::Global => -2.0,
        ShareLimit::Unlimited => -1.0,
        ShareLimit::Limit(r) => r,
    }
}

/// Seconds to qBittorrent's minutes for seeding-time limits (-2 global, -1 none).
fn limit_minutes(l: ShareLimit<u64>) -> i64 {
    match l {
        ShareLimit::Global => -2,
        ShareLimit::Unlimited => -1,
        ShareLimit::Limit(s) => (s / 60) as i64,
    }
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Copies of the torrent among connected peers, as qBittorrent shows it: -1 once
/// complete (its own copy counts), else 1 with a peer to fetch from.
fn availability(v: &crate::view::TorrentView) -> f64 {
    if v.completed_at.is_some() {
        -1.0
    } else if v.peers.connected > 0 {
        1.0
    } else {
        0.0
    }
}

/// One torrent as `torrents/info` lists it.
pub fn torrent(t: &TorrentInfo, now_ms: i64) -> Map<String, Value> {
    let v = &t.view;
    let hash = v.info_hash.to_string();
    let progress = if v.total_bytes == 0 {
        0.0
    } else {
        (v.completed_bytes as f64 / v.total_bytes as f64).min(1.0)
    };
    let seeding_time = v.completed_at.map_or(0, |c| secs(now_ms - c).max(0));
    let moving = v.download_speed > 0 || v.upload_speed > 0;
    // A magnet whose metadata is not here yet has no size or content.
    let known = v.total_bytes > 0 || v.completed_at.is_some();
    let last_activity = if moving {
        secs(now_ms)
    } else {
        secs(v.completed_at.unwrap_or(v.added_at).max(v.added_at))
    };
    let (seeds, leechs) = if v.completed_at.is_some() {
        (0, v.peers.connected)
    } else {
        (v.peers.connected, 0)
    };
    let value = json!({
        "added_on": secs(v.added_at),
        "amount_left": v.total_bytes.saturating_sub(v.completed_bytes),
        "auto_tmm": false,
        "availability": availability(v),
        "category": v.category.clone().unwrap_or_default(),
        "completed": v.completed_bytes,
        "completion_on": v.completed_at.map_or(0, secs),
        "content_path": if known { t.content_path.to_string_lossy().into_owned() } else { String::new() },
        "dl_limit": t.options.download_limit,
        "dlspeed": v.download_speed,
        "download_path": "",
        "downloaded": v.downloaded,
        "downloaded_session": v.downloaded,
        "eta": v.eta.unwrap_or(ETA_UNKNOWN),
        "f_l_piece_prio": false,
        "force_start": t.options.force_start,
        "hash": hash,
        "infohash_v1": hash,
        "infohash_v2": "",
        "last_activity": last_activity,
        "magnet_uri": format!("magnet:?xt=urn:btih:{hash}"),
        "max_ratio": t.ratio_limit.unwrap_or(-1.0),
        "max_seeding_time": t.seeding_time_limit.map_or(-1, |s| (s / 60) as i64),
        "name": v.name.clone().unwrap_or_else(|| hash.clone()),
        "num_complete": seeds,
        "num_incomplete": leechs,
        "num_leechs": leechs,
        "num_seeds": seeds,
        "priority": t.queue_order,
        "progress": progress,
        "ratio": v.ratio,
        "ratio_limit": limit_ratio(t.options.ratio_limit),
        "save_path": t.save_path.to_string_lossy(),
        "seeding_time": seeding_time,
        "seeding_time_limit": limit_minutes(t.options.seeding_time_limit),
        "seen_complete": v.completed_at.map_or(0, secs),
        // librqbit always picks pieces in file and piece order.
        "seq_dl": true,
        "size": v.total_bytes,
        "state": state(t),
        "super_seeding": false,
        "tags": v.tags.join(", "),
        "time_active": secs(now_ms - v.added_at).max(0),
        "total_size": if known { v.total_bytes as i64 } else { -1 },
        "tracker": "",
        "trackers_count": 0,
        "up_limit": t.options.upload_limit,
        "uploaded": v.uploaded,
        "uploaded_session": v.uploaded,
        "upspeed": v.upload_speed,
    });
    match value {
        Value::Object(m) => m,
        _ => unreachable!("json! of an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TorrentInfo;
    use crate::events::payload::sample_view;

    fn info(state: TorrentState, down: u64, up: u64, complete: bool) -> TorrentInfo {
        let mut view = sample_view(crate::InfoHash::from_bytes([1; 20]));
        view.state = state;
        view.download_speed = down;
        view.upload_speed = up;
        view.completed_at = complete.then_some(5);
        TorrentInfo {
            view,
            options: Default::default(),
            save_path: "/d".into(),
            content_path: "/d/n".into(),
            queue_order: 0,
            ratio_limit: None,
            seeding_time_limit: None,
            active: true,
        }
    }

    #[test]
    fn states_take_qbittorrent_names() {
        use TorrentState as S;
        let cases = [
            (info(S::Downloading, 5, 0, false), "downloading"),
            (info(S::Downloading, 0, 0, false), "stalledDL"),
            (info(S::Seeding, 0, 3, true), "uploading"),
            (info(S::Seeding, 0, 0, true), "stalledUP"),
            (info(S::Paused, 0, 0, false), "pausedDL"),
            (info(S::Paused, 0, 0, true), "pausedUP"),
            (info(S::Completed, 0, 0, true), "pausedUP"),
            (info(S::Queued, 0, 0, false), "queuedDL"),
            (info(S::Metadata, 0, 0, false), "metaDL"),
            (info(S::Checking, 0, 0, false), "checkingDL"),
            (info(S::Checking, 0, 0, true), "checkingUP"),
            (info(S::Error, 0, 0, false), "error"),
        ];
        for (t, name) in cases {
            assert_eq!(state(&t), name, "{:?}", t.view.state);
        }
    }

    #[test]
    fn unknown_eta_and_limits_use_the_sentinels() {
        let mut t = info(TorrentState::Downloading, 0, 0, false);
        t.view.eta = None;
        let m = torrent(&t, 10_000);
        assert_eq!(m["eta"], 8_640_000);
        assert_eq!(m["ratio_limit"], -2.0);
        assert_eq!(m["seeding_time_limit"], -2);
        assert_eq!(m["max_ratio"], -1.0);
        assert_eq!(m["completion_on"], 0);
        assert_eq!(m["dl_limit"], 0);
    }

    #[test]
    fn filters_select_by_state() {
        let seeding = info(TorrentState::Seeding, 0, 0, true);
        assert_eq!(filter_matches("seeding", &seeding), Some(true));
        assert_eq!(filter_matches("downloading", &seeding), Some(false));
        assert_eq!(filter_matches("completed", &seeding), Some(true));
        assert_eq!(filter_matches("stalled_uploading", &seeding), Some(true));
        assert_eq!(filter_matches("bogus", &seeding), None);
    }
}
