//! Builds a user's [`Tree`] from the engine's torrents (and the library).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::tree::{self, FileRef, Tree};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::engine::Actor;
use crate::store::{MediaItem, MediaKind};

fn time_of(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

pub async fn tree(s: &AppState, actor: &Actor) -> Result<Tree, ApiError> {
    let mut tree = Tree::new();
    add_library(s, actor, &mut tree).await?;
    add_torrents(s, actor, &mut tree);
    Ok(tree)
}

/// `Movies/Title (Year)/Title (Year).ext` and `TV Shows/Show/Season 01/Show - S01E01.ext`
/// for the user's assigned movies and episodes whose torrents are still there.
async fn add_library(s: &AppState, actor: &Actor, tree: &mut Tree) -> Result<(), ApiError> {
    let items = s.store.list_media(&actor.user_id).await?;
    let shows: HashMap<&str, &MediaItem> = items
        .iter()
        .filter(|i| i.kind == MediaKind::Show)
        .map(|i| (i.id.as_str(), i))
        .collect();
    for item in &items {
        let Some(a) = &item.assignment else { continue };
        if s.engine.view_of(actor, &a.info_hash).is_err() {
            continue;
        }
        let ext = tree::extension(&a.file_path);
        let path = match item.kind {
            MediaKind::Movie => {
                let name = tree::titled(&item.title, item.year);
                vec![
                    tree::MOVIES.to_owned(),
                    name.clone(),
                    format!("{name}{ext}"),
                ]
            }
            MediaKind::Episode => {
                let Some(show) = item.show_id.as_deref().and_then(|id| shows.get(id)) else {
                    continue;
                };
                let (season, episode) = (item.season.unwrap_or(0), item.episode.unwrap_or(0));
                vec![
                    tree::SHOWS.to_owned(),
                    show.title.clone(),
                    format!("Season {season:02}"),
                    format!("{} - S{season:02}E{episode:02}{ext}", show.title),
                ]
            }
            MediaKind::Show => continue,
        };
        let file = FileRef {
            info_hash: a.info_hash,
            index: a.file_index,
            length: a.size,
        };
        tree.insert(&path, file, time_of(a.assigned_at));
    }
    Ok(())
}

/// `Torrents/<name>/<path>` for each of the user's torrents whose files are known.
fn add_torrents(s: &AppState, actor: &Actor, tree: &mut Tree) {
    let views = s.engine.list(actor);
    let mut names = HashMap::<String, usize>::new();
    for v in &views {
        let name = tree::component(v.name.as_deref().unwrap_or(&v.info_hash.to_string()));
        *names.entry(name).or_default() += 1;
    }
    for v in views {
        let Ok(files) = s.engine.files_of(actor, &v.info_hash) else {
            continue;
        };
        let mut folder = tree::component(v.name.as_deref().unwrap_or(&v.info_hash.to_string()));
        if names.get(&folder).copied().unwrap_or(0) > 1 {
            // Two torrents of one name: each folder says whose it is.
            folder = format!("{folder} [{}]", &v.info_hash.to_string()[..8]);
        }
        for f in files {
            let mut path = vec![tree::TORRENTS.to_owned(), folder.clone()];
            path.extend(f.path.split('/').map(str::to_owned));
            let file = FileRef {
                info_hash: v.info_hash,
                index: f.index,
                length: f.length,
            };
            tree.insert(&path, file, time_of(v.added_at));
        }
    }
}
