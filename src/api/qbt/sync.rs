//! `sync/maindata`: a full update first (`rid=0`, or a `rid` this caller was not
//! given), then only what changed since the caller's last `rid`. Which torrents changed
//! comes from the event bus (every record change is an event), so an update looks at
//! those torrents only; each is then sent with just the fields that differ from what
//! this caller last got.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::app::server_state;
use super::forms::RidQuery;
use super::labels::category_map;
use super::map;
use super::params::Params;
use super::{AppState, QbtError, QbtUser};
use crate::InfoHash;
use crate::events::Replay;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v2/sync/maindata", get(maindata).post(maindata))
}

/// This module's part of the OpenAPI document (see [`crate::api::openapi`]).
#[derive(utoipa::OpenApi)]
#[openapi(paths(maindata))]
pub(in crate::api) struct Doc;

/// What one caller was last sent.
#[derive(Default)]
pub struct SyncState {
    rid: u64,
    /// The newest event seq folded into what was sent.
    bus_seq: u64,
    torrents: HashMap<InfoHash, Map<String, Value>>,
    categories: Map<String, Value>,
    tags: Vec<String>,
    server_state: Map<String, Value>,
}

#[utoipa::path(method(get, post), path = "/api/v2/sync/maindata", tag = "qbittorrent",
    params(RidQuery),
    security(("sid" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`rid`, and a full update or what changed since the `rid` given: `torrents`, `torrents_removed`, `categories`, `categories_removed`, `tags`, `tags_removed`, `server_state`", body = Value),
        (status = 400, description = "A missing or malformed parameter (the reason, as text)", content_type = "text/plain", body = String),
        (status = 401, description = "`Origin` or `Referer` names another host", content_type = "text/plain", body = String),
        (status = 403, description = "No valid `SID` cookie or Bearer token", content_type = "text/plain", body = String),
    ))]
async fn maindata(
    State(s): State<AppState>,
    user: QbtUser,
    p: Params,
) -> Result<Json<Value>, QbtError> {
    let rid: u64 = p.number("rid")?.unwrap_or(0);
    let state = s.qbt.sync_state(&user.session_key);
    let mut st = state.lock().await;
    let (replay, _live) = s.bus.resume_from(st.bus_seq);
    let now = crate::now_millis();
    let touched = match replay {
        Replay::Events(events) if rid != 0 && rid == st.rid => {
            let mut hashes = Vec::new();
            for e in &events {
                st.bus_seq = st.bus_seq.max(e.seq);
                let visible = e.user_id.as_deref().is_some_and(|u| user.actor.may_see(u));
                if let (true, Some(h)) = (visible, &e.info_hash)
                    && let Ok(h) = InfoHash::parse(h)
                    && !hashes.contains(&h)
                {
                    hashes.push(h);
                }
            }
            Some(hashes)
        }
        _ => None,
    };
    st.rid += 1;
    let mut out = Map::new();
    out.insert("rid".into(), st.rid.into());
    match touched {
        None => full(&s, &user, &mut st, &mut out, now),
        Some(hashes) => partial(&s, &user, &mut st, &mut out, &hashes, now),
    }
    Ok(Json(Value::Object(out)))
}

fn full(s: &AppState, user: &QbtUser, st: &mut SyncState, out: &mut Map<String, Value>, now: i64) {
    // Taken before the torrents are read: later events are looked at next time.
    st.bus_seq = s.bus.last_seq();
    st.torrents = s
        .engine
        .infos(&user.actor)
        .iter()
        .map(|t| (t.view.info_hash, map::torrent(t, now)))
        .collect();
    st.categories = category_map(s, user);
    st.tags = s.engine.labels(&user.actor).tags.into_iter().collect();
    st.server_state = as_map(server_state(s, user));
    let torrents: Map<String, Value> = st
        .torrents
        .iter()
        .map(|(h, t)| (h.to_string(), Value::Object(t.clone())))
        .collect();
    out.insert("full_update".into(), true.into());
    out.insert("torrents".into(), torrents.into());
    out.insert("categories".into(), st.categories.clone().into());
    out.insert("tags".into(), json!(st.tags));
    out.insert("server_state".into(), st.server_state.clone().into());
}

fn partial(
    s: &AppState,
    user: &QbtUser,
    st: &mut SyncState,
    out: &mut Map<String, Value>,
    hashes: &[InfoHash],
    now: i64,
) {
    let mut changed = Map::new();
    let mut removed = Vec::new();
    for h in hashes {
        match s.engine.info(&user.actor, h) {
            Ok(t) => {
                let new = map::torrent(&t, now);
                let old = st.torrents.get(h);
                let delta = diff(old, &new);
                if !delta.is_empty() {
                    changed.insert(h.to_string(), delta.into());
                }
                st.torrents.insert(*h, new);
            }
            Err(_) => {
                if st.torrents.remove(h).is_some() {
                    removed.push(h.to_string());
                }
            }
        }
    }
    if !changed.is_empty() {
        out.insert("torrents".into(), changed.into());
    }
    if !removed.is_empty() {
        out.insert("torrents_removed".into(), json!(removed));
    }
    let categories = category_map(s, user);
    let added: Map<String, Value> = categories
        .iter()
        .filter(|(k, v)| st.categories.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let gone: Vec<&String> = st
        .categories
        .keys()
        .filter(|k| !categories.contains_key(*k))
        .collect();
    if !added.is_empty() {
        out.insert("categories".into(), added.into());
    }
    if !gone.is_empty() {
        out.insert("categories_removed".into(), json!(gone));
    }
    st.categories = categories;
    let tags: Vec<String> = s.engine.labels(&user.actor).tags.into_iter().collect();
    let new_tags: Vec<&String> = tags.iter().filter(|t| !st.tags.contains(t)).collect();
    let old_tags: Vec<&String> = st.tags.iter().filter(|t| !tags.contains(t)).collect();
    if !new_tags.is_empty() {
        out.insert("tags".into(), json!(new_tags));
    }
    if !old_tags.is_empty() {
        out.insert("tags_removed".into(), json!(old_tags));
    }
    st.tags = tags;
    let server = as_map(server_state(s, user));
    let delta = diff(Some(&st.server_state), &server);
    if !delta.is_empty() {
        out.insert("server_state".into(), delta.into());
    }
    st.server_state = server;
}

/// The fields of `new` that differ from `old` (all of them when there is no `old`).
fn diff(old: Option<&Map<String, Value>>, new: &Map<String, Value>) -> Map<String, Value> {
    new.iter()
        .filter(|(k, v)| old.is_none_or(|o| o.get(*k) != Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn as_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_keeps_only_changed_fields() {
        let old = as_map(json!({"a": 1, "b": "x", "c": true}));
        let new = as_map(json!({"a": 1, "b": "y", "c": true, "d": 0}));
        assert_eq!(
            Value::Object(diff(Some(&old), &new)),
            json!({"b": "y", "d": 0})
        );
        assert_eq!(diff(None, &new).len(), 4);
    }
}
