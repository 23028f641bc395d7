//! The torrent list as clients ask for it: filtered by state, sorted, one page at a time
//! (`GET /api/torrents?state=&sort=&order=&offset=&limit=`).
//!
//! Ties are broken by age then info hash, so pages of the same query never overlap or
//! skip a torrent while nothing changes.

use std::cmp::Ordering;

use crate::store::Priority;
use crate::view::{TorrentState, TorrentView};

/// What a list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// When it was added (the default).
    #[default]
    Added,
    Name,
    Size,
    Progress,
    State,
    DownloadSpeed,
    UploadSpeed,
    Ratio,
    Eta,
    Priority,
    Queue,
}

impl SortKey {
    /// The names `sort=` takes, in the order of [`SortKey::ALL`].
    pub const NAMES: [&'static str; 11] = [
        "added",
        "name",
        "size",
        "progress",
        "state",
        "downloadSpeed",
        "uploadSpeed",
        "ratio",
        "eta",
        "priority",
        "queue",
    ];
    const ALL: [SortKey; 11] = [
        Self::Added,
        Self::Name,
        Self::Size,
        Self::Progress,
        Self::State,
        Self::DownloadSpeed,
        Self::UploadSpeed,
        Self::Ratio,
        Self::Eta,
        Self::Priority,
        Self::Queue,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        let i = Self::NAMES.iter().position(|n| *n == s)?;
        Some(Self::ALL[i])
    }
}

/// A list request: every field has the default of a plain `GET /api/torrents`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Only torrents in one of these states; empty: all.
    pub states: Vec<TorrentState>,
    pub sort: SortKey,
    pub descending: bool,
    pub offset: usize,
    /// At most this many; `None`: all from `offset` on.
    pub limit: Option<usize>,
}

/// One page of the list and how many torrents matched in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub total: usize,
    pub torrents: Vec<TorrentView>,
}

/// Filters, sorts and pages `views`.
pub fn select(mut views: Vec<TorrentView>, q: &ListQuery) -> Page {
    if !q.states.is_empty() {
        views.retain(|v| q.states.contains(&v.state));
    }
    views.sort_by(|a, b| {
        let by = compare(a, b, q.sort);
        let by = if q.descending { by.reverse() } else { by };
        by.then_with(|| (a.added_at, &a.info_hash).cmp(&(b.added_at, &b.info_hash)))
    });
    let total = views.len();
    let torrents = views
        .into_iter()
        .skip(q.offset)
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    Page { total, torrents }
}

fn compare(a: &TorrentView, b: &TorrentView, key: SortKey) -> Ordering {
    let name = |v: &TorrentView| v.name.as_deref().map(str::to_lowercase);
    let rank = |p: Priority| match p {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
    };
    let state = |s: TorrentState| TorrentState::ALL.iter().position(|x| *x == s);
    match key {
        SortKey::Added => a.added_at.cmp(&b.added_at),
        // Unnamed (metadata not known yet) after the named ones.
        SortKey::Name => match (name(a), name(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        },
        SortKey::Size => a.total_bytes.cmp(&b.total_bytes),
        SortKey::Progress => a.percentage.total_cmp(&b.percentage),
        SortKey::State => state(a.state).cmp(&state(b.state)),
        SortKey::DownloadSpeed => a.download_speed.cmp(&b.download_speed),
        SortKey::UploadSpeed => a.upload_speed.cmp(&b.upload_speed),
        SortKey::Ratio => a.ratio.total_cmp(&b.ratio),
        // No estimate sorts as the longest wait.
        SortKey::Eta => a.eta.unwrap_or(u64::MAX).cmp(&b.eta.unwrap_or(u64::MAX)),
        SortKey::Priority => rank(a.priority).cmp(&rank(b.priority)),
        SortKey::Queue => a
            .queue_position
            .unwrap_or(usize::MAX)
            .cmp(&b.queue_position.unwrap_or(usize::MAX)),
    }
}

#[cfg(test)]
mod tests;
