//! Where torrents' files live, and removing them without touching anyone else's.
//!
//! # Layout
//!
//! ```text
//! DOWNLOAD_PATH/
//!   users/<userId>/          one folder per user: their torrents' files
//!     <single-file name>
//!     <multi-file torrent's folder>/...
//!   .torrentedge-trash/      files of a removal in progress (see below)
//!   <anything else>          torrents added before per-user folders existed
//! ```
//!
//! A torrent's record keeps its folder (`save_dir`, relative to `DOWNLOAD_PATH`);
//! records from before per-user folders have an empty one and keep working where
//! their files are. Within the download root no two torrents may claim the same file
//! (or a file where another has a folder): adding such a torrent is refused, so one
//! torrent never writes into another's files.
//!
//! # Removing files
//!
//! A removal with `deleteFiles` first moves the torrent's own files (only the files of
//! its metadata, never a folder wholesale) into `.torrentedge-trash/<infoHash>/`, a
//! rename on the same file system. If a move fails, the files already moved go back
//! and the removal fails with the torrent as it was. Only once the store has deleted
//! the record is the trash emptied. A crash in between is healed at start: the trash
//! of a torrent still recorded goes back in place, any other trash is deleted.

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::InfoHash;
use crate::store::TorrentRecord;

const TRASH: &str = ".torrentedge-trash";

/// The folder of `user_id`'s torrents, relative to the download root.
pub fn user_dir(user_id: &str) -> Option<String> {
    let safe = !user_id.is_empty()
        && user_id.len() <= 128
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    safe.then(|| format!("users/{user_id}"))
}

/// The folder holding a record's files.
pub fn root_of(download_path: &Path, rec: &TorrentRecord) -> PathBuf {
    if rec.save_dir.is_empty() {
        download_path.to_path_buf()
    } else {
        download_path.join(&rec.save_dir)
    }
}

/// The first of `theirs` that collides with one of `ours`: the same file, or a file
/// where the other has a folder.
pub fn overlap<'a>(ours: &[PathBuf], theirs: &'a [PathBuf]) -> Option<&'a Path> {
    theirs
        .iter()
        .find(|t| ours.iter().any(|o| o.starts_with(t) || t.starts_with(o)))
        .map(PathBuf::as_path)
}

/// Files moved into the trash, ready to be put back or deleted.
#[derive(Debug)]
pub struct Trashed {
    dir: PathBuf,
    /// (original place, place in the trash)
    moved: Vec<(PathBuf, PathBuf)>,
}

impl Trashed {
    /// Moves each of `files` (relative to `root`) that exists into the trash. On an
    /// error the files already moved go back, and the error names the file.
    pub fn move_in(
        download_path: &Path,
        info_hash: &InfoHash,
        root: &Path,
        files: &[PathBuf],
    ) -> io::Result<Self> {
        let dir = download_path.join(TRASH).join(info_hash.to_string());
        let mut trashed = Self {
            dir,
            moved: Vec::new(),
        };
        for rel in files {
            if let Err(e) = trashed.move_one(root, rel) {
                trashed.restore();
                return Err(io::Error::new(
                    e.kind(),
                    format!("moving {} aside: {e}", rel.display()),
                ));
            }
        }
        Ok(trashed)
    }

    fn move_one(&mut self, root: &Path, rel: &Path) -> io::Result<()> {
        let from = root.join(rel);
        match std::fs::symlink_metadata(&from) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Ok(()), // not a file of ours to delete
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        let to = self.dir.join(rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&from, &to)?;
        self.moved.push((from, to));
        Ok(())
    }

    /// Puts every moved file back (the removal failed).
    pub fn restore(&mut self) {
        for (from, to) in self.moved.drain(..).rev() {
            if let Err(e) = std::fs::rename(&to, &from) {
                tracing::error!(file = %from.display(), error = %e, "putting a file back");
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.remove_trash_if_empty();
    }

    /// The trash folder itself goes once no removal uses it.
    fn remove_trash_if_empty(&self) {
        if let Some(trash) = self.dir.parent() {
            let _ = std::fs::remove_dir(trash);
        }
    }

    /// Deletes the moved files for good, and the torrent's folders they leave empty.
    pub fn purge(self, root: &Path) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "emptying the trash");
        }
        self.remove_trash_if_empty();
        for (from, _) in &self.moved {
            remove_empty_parents(root, from);
        }
    }
}

/// Removes the empty folders between `file` and `root` (never `root` itself).
fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Heals a removal cut short by a crash: the trash of a torrent that is still recorded
/// goes back to its place; all other trash is deleted.
pub fn recover_trash(download_path: &Path, records: &[TorrentRecord]) {
    let trash = download_path.join(TRASH);
    let Ok(entries) = std::fs::read_dir(&trash) else {
        return;
    };
    for entry in entries.flatten() {
        let hash = InfoHash::parse(&entry.file_name().to_string_lossy()).ok();
        match records.iter().find(|r| Some(r.info_hash) == hash) {
            Some(rec) => put_back(&entry.path(), &root_of(download_path, rec)),
            None => {
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    tracing::warn!(dir = %entry.path().display(), error = %e, "emptying the trash");
                }
            }
        }
    }
    let _ = std::fs::remove_dir(&trash);
}

/// Moves every file below `from` to the same relative place below `root`.
fn put_back(from: &Path, root: &Path) {
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(from.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let rel = rel.join(entry.file_name());
            let normal = rel.components().all(|c| matches!(c, Component::Normal(_)));
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(rel),
                Ok(t) if t.is_file() && normal => {
                    let to = root.join(&rel);
                    let moved = to
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::rename(from.join(&rel), &to));
                    match moved {
                        Ok(()) => {
                            tracing::info!(file = %to.display(), "put back after an interrupted removal")
                        }
                        Err(e) => {
                            tracing::error!(file = %to.display(), error = %e, "putting a file back")
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let _ = std::fs::remove_dir_all(from);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> InfoHash {
        InfoHash::from_bytes([byte; 20])
    }

    #[test]
    fn user_dirs_are_plain_names() {
        assert_eq!(user_dir("a1-B_2").as_deref(), Some("users/a1-B_2"));
        for bad in ["", "..", "a/b", "a\\b", "ä", &"x".repeat(129)] {
            assert_eq!(user_dir(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn overlap_finds_same_files_and_file_folder_clashes() {
        let p = |s: &str| PathBuf::from(s);
        let ours = [p("/d/a/x"), p("/d/b")];
        assert_eq!(overlap(&ours, &[p("/d/c")]), None);
        assert_eq!(overlap(&ours, &[p("/d/a/x")]), Some(Path::new("/d/a/x")));
        assert_eq!(
            overlap(&ours, &[p("/d/b/inner")]),
            Some(Path::new("/d/b/inner"))
        );
        assert_eq!(overlap(&ours, &[p("/d/a")]), Some(Path::new("/d/a")));
        assert_eq!(
            overlap(&ours, &[p("/d/ab")]),
            None,
            "components, not string prefixes"
        );
    }

    #[test]
    fn a_failed_move_puts_back_what_moved_and_purge_deletes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let (dl, root) = (dir.path(), dir.path().join("users/u"));
        std::fs::create_dir_all(root.join("t")).unwrap();
        for f in ["t/a", "t/b", "other"] {
            std::fs::write(root.join(f), f).unwrap();
        }
        // A directory where the trash wants a file: the second move fails.
        std::fs::create_dir_all(dl.join(TRASH).join(hash(0x01).to_string()).join("t/b/x")).unwrap();
        let files = [PathBuf::from("t/a"), PathBuf::from("t/b")];
        Trashed::move_in(dl, &hash(0x01), &root, &files).expect_err("second move fails");
        assert_eq!(std::fs::read(root.join("t/a")).unwrap(), b"t/a", "put back");
        assert_eq!(std::fs::read(root.join("t/b")).unwrap(), b"t/b");

        let trashed = Trashed::move_in(dl, &hash(0x02), &root, &files).unwrap();
        assert!(!root.join("t/a").exists());
        trashed.purge(&root);
        assert!(!root.join("t").exists(), "the emptied folder goes");
        assert!(!dl.join(TRASH).join(hash(0x02).to_string()).exists());
        assert_eq!(std::fs::read(root.join("other")).unwrap(), b"other");
    }

    #[test]
    fn recovery_puts_back_recorded_torrents_and_deletes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let dl = dir.path();
        let rec = TorrentRecord {
            save_dir: "users/u".into(),
            ..TorrentRecord::new(hash(0xaa), "u".into(), 0)
        };
        let root = root_of(dl, &rec);
        std::fs::create_dir_all(root.join("t")).unwrap();
        std::fs::write(root.join("t/a"), "a").unwrap();
        Trashed::move_in(dl, &rec.info_hash, &root, &[PathBuf::from("t/a")]).unwrap();
        std::fs::create_dir_all(dl.join(TRASH).join("gone")).unwrap();
        std::fs::write(dl.join(TRASH).join("gone/f"), "f").unwrap();
        recover_trash(dl, std::slice::from_ref(&rec));
        assert_eq!(std::fs::read(root.join("t/a")).unwrap(), b"a");
        assert!(!dl.join(TRASH).exists());
    }
}
