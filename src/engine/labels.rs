//! Each user's categories and tags (qBittorrent's names for them): a category files a
//! torrent and gives new torrents a folder inside the owner's own; tags are free labels,
//! several per torrent.
//!
//! They are kept in the store's settings, one JSON document per user
//! (`labels:<userId>`), loaded at start and written before a change applies. A torrent
//! names its category and tags in its own options, so removing a category or tag first
//! clears it from the owner's torrents (with their `torrent:updated` events), then
//! drops it: a crash in between leaves an unused label, never a dangling one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Actor, Engine, EngineError, Ops, Result, TorrentView, lock};
use crate::events::{Draft, Event};

const KEY_PREFIX: &str = "labels:";

/// Longest category or tag name, in bytes.
const MAX_NAME: usize = 255;

/// One user's categories (name → save folder, relative to the user's folder; empty:
/// the user's folder itself) and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Labels {
    pub categories: BTreeMap<String, String>,
    pub tags: BTreeSet<String>,
}

/// Every user's labels, by user id.
pub(super) type AllLabels = HashMap<String, Labels>;

/// A category name as qBittorrent accepts it: not empty, no leading, trailing or
/// doubled `/` (a `/` nests categories), no control characters.
pub fn check_category_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME
        || name.starts_with('/')
        || name.ends_with('/')
        || name.contains("//")
        || name.chars().any(char::is_control)
        || name.split('/').any(|p| p.trim().is_empty());
    if bad {
        return Err(EngineError::InvalidSetting(format!(
            "invalid category name {name:?}"
        )));
    }
    Ok(())
}

/// A tag as qBittorrent accepts it: not empty, no comma (lists are comma-separated),
/// no control characters; surrounding spaces are dropped.
pub fn check_tag(tag: &str) -> Result<String> {
    let tag = tag.trim();
    if tag.is_empty()
        || tag.len() > MAX_NAME
        || tag.contains(',')
        || tag.chars().any(char::is_control)
    {
        return Err(EngineError::InvalidSetting(format!("invalid tag {tag:?}")));
    }
    Ok(tag.to_owned())
}

/// A save folder given by a user, as a path relative to the user's folder: relative
/// paths are taken as inside it, absolute ones must lie inside `user_root`. Nothing may
/// climb out (`..`) or name something else.
pub fn relative_save_path(given: &str, user_root: &Path) -> Result<String> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(String::new());
    }
    let outside = || {
        EngineError::UnsafePath(format!(
            "save path {given:?} is outside your download folder"
        ))
    };
    let path = Path::new(given);
    let rel: PathBuf = if path.is_absolute() {
        path.strip_prefix(user_root)
            .map_err(|_| outside())?
            .to_path_buf()
    } else {
        path.to_path_buf()
    };
    let mut clean = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => {
                let p = p.to_str().ok_or_else(outside)?;
                if p.chars().any(char::is_control) {
                    return Err(outside());
                }
                clean.push(p)
            }
            Component::CurDir => {}
            _ => return Err(outside()),
        }
    }
    Ok(clean.to_string_lossy().into_owned())
}

impl Engine {
    /// Reads every user's labels from the store (at start).
    pub(super) async fn load_labels(&self) -> Result<()> {
        let mut all = AllLabels::new();
        for (key, value) in self.store.settings().await? {
            let Some(user) = key.strip_prefix(KEY_PREFIX) else {
                continue;
            };
            match serde_json::from_str::<Labels>(&value) {
                Ok(l) => {
                    all.insert(user.to_owned(), l);
                }
                Err(e) => tracing::warn!(user, error = %e, "ignoring unreadable labels"),
            }
        }
        *lock(&self.labels) = all;
        Ok(())
    }

    /// The actor's categories and tags, with those only its torrents name (a torrent
    /// added with a category that was then never created, by an older client).
    pub fn labels(&self, actor: &Actor) -> Labels {
        let mut labels = lock(&self.labels)
            .get(&actor.user_id)
            .cloned()
            .unwrap_or_default();
        for v in self
            .list(actor)
            .into_iter()
            .filter(|v| v.owner_id == actor.user_id)
        {
            if let Some(c) = v.category {
                labels.categories.entry(c).or_default();
            }
            labels.tags.extend(v.tags);
        }
        labels
    }

    /// Writes the actor's labels changed by `f`, then keeps them. Under the ops lock.
    async fn change_labels(
        &self,
        _ops: &Ops<'_>,
        user_id: &str,
        f: impl FnOnce(&mut Labels) -> Result<()>,
    ) -> Result<Labels> {
        let mut labels = lock(&self.labels).get(user_id).cloned().unwrap_or_default();
        f(&mut labels)?;
        let value = serde_json::to_string(&labels).map_err(|e| EngineError::Internal(e.into()))?;
        self.store
            .save_settings(&[(format!("{KEY_PREFIX}{user_id}"), value)])
            .await?;
        lock(&self.labels).insert(user_id.to_owned(), labels.clone());
        self.changed();
        Ok(labels)
    }

    /// Creates a category (`AlreadyExists`-like `InvalidSetting` when it exists).
    pub async fn create_category(&self, actor: &Actor, name: &str, save_path: &str) -> Result<()> {
        check_category_name(name)?;
        let save = relative_save_path(save_path, &self.user_root(actor)?)?;
        let ops = self.ops.lock().await;
        self.change_labels(&ops, &actor.user_id, |l| {
            if l.categories.contains_key(name) {
                return Err(EngineError::Conflict(format!("category {name:?} exists")));
            }
            l.categories.insert(name.to_owned(), save);
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Changes a category's save folder (torrents already in it stay where they are).
    pub async fn edit_category(&self, actor: &Actor, name: &str, save_path: &str) -> Result<()> {
        let save = relative_save_path(save_path, &self.user_root(actor)?)?;
        let known = self.labels(actor).categories.contains_key(name);
        let ops = self.ops.lock().await;
        self.change_labels(&ops, &actor.user_id, |l| {
            if !known {
                return Err(EngineError::Conflict(format!("no category {name:?}")));
            }
            l.categories.insert(name.to_owned(), save);
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Removes categories: the actor's torrents filed under one lose it.
    pub async fn remove_categories(
        self: &Arc<Self>,
        actor: &Actor,
        names: &[String],
    ) -> Result<()> {
        let filed = |v: &TorrentView| v.category.as_ref().is_some_and(|c| names.contains(c));
        self.change_own(actor, filed, |r| r.options.category = None)
            .await?;
        let ops = self.ops.lock().await;
        self.change_labels(&ops, &actor.user_id, |l| {
            l.categories.retain(|c, _| !names.contains(c));
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Creates tags (existing ones are kept).
    pub async fn create_tags(&self, actor: &Actor, tags: &[String]) -> Result<()> {
        let tags = tags
            .iter()
            .map(|t| check_tag(t))
            .collect::<Result<Vec<_>>>()?;
        let ops = self.ops.lock().await;
        self.change_labels(&ops, &actor.user_id, |l| {
            l.tags.extend(tags);
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Deletes tags, from the actor's torrents too.
    pub async fn delete_tags(self: &Arc<Self>, actor: &Actor, tags: &[String]) -> Result<()> {
        let tags: Vec<String> = tags.iter().map(|t| t.trim().to_owned()).collect();
        let tagged = |v: &TorrentView| v.tags.iter().any(|t| tags.contains(t));
        self.change_own(actor, tagged, |r| {
            r.options.tags.retain(|t| !tags.contains(t))
        })
        .await?;
        let ops = self.ops.lock().await;
        self.change_labels(&ops, &actor.user_id, |l| {
            l.tags.retain(|t| !tags.contains(t));
            Ok(())
        })
        .await
        .map(drop)
    }

    /// Changes with `f` the actor's own torrents that `matches`: never another user's,
    /// even for an administrator, since labels are each user's.
    async fn change_own(
        self: &Arc<Self>,
        actor: &Actor,
        matches: impl Fn(&TorrentView) -> bool,
        f: impl Fn(&mut crate::store::TorrentRecord),
    ) -> Result<()> {
        let owner = Actor {
            admin: false,
            ..actor.clone()
        };
        let hashes: Vec<_> = self
            .list(&owner)
            .into_iter()
            .filter(|v| matches(v))
            .map(|v| v.info_hash)
            .collect();
        self.update_many(&owner, &hashes, f).await.map(drop)
    }

    /// Makes sure the owner has `category` and `tags` (adding a torrent, or tagging one,
    /// creates them, as qBittorrent does).
    pub(super) async fn ensure_labels(
        &self,
        ops: &Ops<'_>,
        user_id: &str,
        category: Option<&str>,
        tags: &[String],
    ) -> Result<()> {
        let missing = {
            let all = lock(&self.labels);
            let l = all.get(user_id);
            category.is_some_and(|c| !l.is_some_and(|l| l.categories.contains_key(c)))
                || tags.iter().any(|t| !l.is_some_and(|l| l.tags.contains(t)))
        };
        if !missing {
            return Ok(());
        }
        self.change_labels(ops, user_id, |l| {
            if let Some(c) = category {
                l.categories.entry(c.to_owned()).or_default();
            }
            l.tags.extend(tags.iter().cloned());
            Ok(())
        })
        .await
        .map(drop)
    }

    /// The save folder of a category of the actor's (relative to the user's folder).
    pub(super) fn category_folder(&self, user_id: &str, category: &str) -> Option<String> {
        lock(&self.labels)
            .get(user_id)
            .and_then(|l| l.categories.get(category).cloned())
    }

    /// The actor's own download folder, absolute.
    pub fn user_root(&self, actor: &Actor) -> Result<PathBuf> {
        let dir = super::files::user_dir(&actor.user_id).ok_or_else(|| {
            EngineError::Internal(anyhow::anyhow!(
                "user id {:?} is not a folder name",
                actor.user_id
            ))
        })?;
        Ok(self.download_path().join(dir))
    }
}

/// Events for records changed by a label operation.
pub(super) fn updated(rec: &crate::store::TorrentRecord, view: crate::view::TorrentView) -> Draft {
    Draft::torrent(&rec.info_hash, &rec.owner_id, Event::Updated(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_follow_qbittorrent() {
        for ok in ["tv", "tv/hd", "Films — 4K"] {
            check_category_name(ok).unwrap();
        }
        for bad in ["", "/tv", "tv/", "a//b", "a/ /b", "x\ny"] {
            assert!(check_category_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tags_have_no_commas() {
        assert_eq!(check_tag("  hd ").unwrap(), "hd");
        assert!(check_tag("a,b").is_err());
        assert!(check_tag("   ").is_err());
    }

    #[test]
    fn save_paths_stay_inside_the_user_folder() {
        let root = Path::new("/data/users/u1");
        assert_eq!(relative_save_path("", root).unwrap(), "");
        assert_eq!(relative_save_path("tv/hd", root).unwrap(), "tv/hd");
        assert_eq!(relative_save_path("./tv", root).unwrap(), "tv");
        assert_eq!(relative_save_path("/data/users/u1/tv", root).unwrap(), "tv");
        for bad in [
            "../u2",
            "tv/../../u2",
            "/data/users/u2",
            "/etc",
            "/data/users/u1/../u2",
        ] {
            assert!(relative_save_path(bad, root).is_err(), "{bad:?}");
        }
    }
}
