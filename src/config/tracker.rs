//! The built-in BitTorrent tracker's options (`TRACKER_*`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{ConfigError, Vars};

/// Which torrents the tracker tracks and whom it serves. `TRACKER_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerMode {
    /// Any info hash (`open`).
    Open,
    /// Only the catalog's info hashes (`catalog`, the default: the server does not
    /// become an open tracker for the world unless asked to).
    Catalog,
    /// The catalog's info hashes, announced with a user's passkey in the URL
    /// (`/announce/{passkey}`); transfers are accounted to that user (`private`).
    Private,
}

impl TrackerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Catalog => "catalog",
            Self::Private => "private",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrackerConfig {
    pub mode: TrackerMode,
    /// How often clients are asked to announce. `TRACKER_INTERVAL`, 10 s to a day
    /// (default 1800). A peer that misses one interval (plus a grace of a quarter of
    /// it) is forgotten.
    pub interval: Duration,
    /// Announces closer together than this (without an event) are answered with a
    /// `warning message`; they are still applied.
    /// `TRACKER_MIN_INTERVAL`, 1 s to `TRACKER_INTERVAL` (default: half the interval).
    pub min_interval: Duration,
    /// Peers returned when the client does not say (`numwant` missing).
    /// `TRACKER_DEFAULT_NUMWANT`, 1 to `TRACKER_MAX_NUMWANT` (default 50).
    pub default_numwant: usize,
    /// The most peers one answer carries, whatever `numwant` asks.
    /// `TRACKER_MAX_NUMWANT`, 1 to 1000 (default 200).
    pub max_numwant: usize,
    /// UDP (BEP 15) sockets: `TRACKER_UDP_PORT` on each of `TRACKER_UDP_HOST`
    /// (comma-separated addresses, default `HOST`). Empty: UDP is off (no port set).
    pub udp: Vec<SocketAddr>,
}

pub(super) fn tracker_config(v: &Vars, host: IpAddr) -> Result<TrackerConfig, ConfigError> {
    let mode = match v.get("TRACKER_MODE").as_deref() {
        None | Some("catalog") => TrackerMode::Catalog,
        Some("open") => TrackerMode::Open,
        Some("private") => TrackerMode::Private,
        Some(other) => {
            return Err(ConfigError {
                var: "TRACKER_MODE",
                reason: format!("{other:?} is not one of open, catalog, private"),
            });
        }
    };
    let interval = v.seconds("TRACKER_INTERVAL", 1800, 10..=86_400)?;
    let half = (interval.as_secs() / 2).max(1);
    let min_interval = v.seconds("TRACKER_MIN_INTERVAL", half, 1..=interval.as_secs())?;
    let max_numwant = v.ranged("TRACKER_MAX_NUMWANT", 200, 1..=1000, "")?;
    let default_numwant = v.ranged(
        "TRACKER_DEFAULT_NUMWANT",
        50.min(max_numwant),
        1..=max_numwant,
        "",
    )?;
    Ok(TrackerConfig {
        mode,
        interval,
        min_interval,
        default_numwant,
        max_numwant,
        udp: udp_addrs(v, host)?,
    })
}

fn udp_addrs(v: &Vars, host: IpAddr) -> Result<Vec<SocketAddr>, ConfigError> {
    let Some(port) = v.get("TRACKER_UDP_PORT") else {
        return Ok(Vec::new());
    };
    let port: u16 = port.parse().map_err(|_| ConfigError {
        var: "TRACKER_UDP_PORT",
        reason: format!("cannot parse {port:?} as a port number (0 to 65535)"),
    })?;
    let Some(hosts) = v.get("TRACKER_UDP_HOST") else {
        return Ok(vec![SocketAddr::new(host, port)]);
    };
    hosts
        .split(',')
        .map(|h| {
            let h = h.trim().trim_start_matches('[').trim_end_matches(']');
            h.parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, port))
                .map_err(|_| ConfigError {
                    var: "TRACKER_UDP_HOST",
                    reason: format!("{h:?} is not an IP address"),
                })
        })
        .collect()
}
