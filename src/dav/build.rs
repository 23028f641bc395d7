//! Builds a user's [`Tree`] from the engine's torrents (and the library).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::tree::{self, FileRef, Tree};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::engine::Actor;

fn time_of(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64)
}

pub async fn tree(s: &AppState, actor: &Actor) -> Result<Tree, ApiError> {
    let mut tree = Tree::new();
    add_torrents(s, actor, &mut tree);
    Ok(tree)
}

/// `Torrents/<name>/<path>` for each of the user's torrents whose files are known.
fn add_torrents(s: &AppState, actor: &Actor, tree: &mut Tree) {
    let views = s.engine.list(actor);
    let mut names = std::collections::HashMap::<String, usize>::new();
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
