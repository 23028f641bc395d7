//! The virtual tree a user sees over WebDAV, built per request from the engine's
//! torrents and the user's library:
//!
//! ```text
//! Movies/Title (Year)/Title (Year).ext
//! TV Shows/Show/Season 01/Show - S01E01.ext
//! Torrents/<torrent name>/<its files>
//! ```
//!
//! Every file is a file of a torrent (info hash and index) with its size from the
//! metainfo, known before a byte of it is downloaded. Names come from users and from
//! torrents: each is one path component, with `/`, control characters and the names
//! `.` and `..` replaced, so nothing in the tree can point outside it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::InfoHash;

/// What a file of the tree reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub info_hash: InfoHash,
    pub index: usize,
    pub length: u64,
}

#[derive(Debug, Clone)]
pub enum Node {
    Dir(BTreeMap<String, Node>),
    File(FileRef, SystemTime),
}

/// The tree; its root is a folder.
#[derive(Debug, Clone)]
pub struct Tree {
    root: Node,
    pub built_at: SystemTime,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

impl Tree {
    pub fn new() -> Self {
        let mut root = BTreeMap::new();
        for top in [MOVIES, SHOWS, TORRENTS] {
            root.insert(top.to_owned(), Node::Dir(BTreeMap::new()));
        }
        Self {
            root: Node::Dir(root),
            built_at: SystemTime::now(),
        }
    }

    /// Puts a file at `path` (folders are made as needed). A name already taken gets
    /// ` (2)`, ` (3)`… before its extension.
    pub fn insert(&mut self, path: &[String], file: FileRef, modified: SystemTime) {
        let Some((name, folders)) = path.split_last() else {
            return;
        };
        let mut dir = match &mut self.root {
            Node::Dir(d) => d,
            Node::File(..) => return,
        };
        for folder in folders {
            let folder = component(folder);
            let entry = dir
                .entry(folder)
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match entry {
                Node::Dir(d) => d,
                // A file took the name: this path cannot be placed.
                Node::File(..) => return,
            };
        }
        let name = free_name(dir, &component(name));
        dir.insert(name, Node::File(file, modified));
    }

    /// The node at `parts` (empty: the root).
    pub fn get(&self, parts: &[&str]) -> Option<&Node> {
        let mut node = &self.root;
        for p in parts {
            node = match node {
                Node::Dir(d) => d.get(*p)?,
                Node::File(..) => return None,
            };
        }
        Some(node)
    }
}

pub const MOVIES: &str = "Movies";
pub const SHOWS: &str = "TV Shows";
pub const TORRENTS: &str = "Torrents";

/// One safe path component from any text.
pub fn component(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().to_owned();
    match cleaned.as_str() {
        "" | "." | ".." => "_".to_owned(),
        _ => cleaned,
    }
}

fn free_name(dir: &BTreeMap<String, Node>, name: &str) -> String {
    if !dir.contains_key(name) {
        return name.to_owned();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|n| !dir.contains_key(n))
        .expect("some number is free")
}

/// `Title (Year)`, or the title alone.
pub fn titled(title: &str, year: Option<u16>) -> String {
    match year {
        Some(y) => format!("{title} ({y})"),
        None => title.to_owned(),
    }
}

/// The extension of a torrent file's path, with its dot (`""` if none).
pub fn extension(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => format!(".{ext}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(i: usize) -> FileRef {
        FileRef {
            info_hash: InfoHash::from_bytes([1; 20]),
            index: i,
            length: 10,
        }
    }

    #[test]
    fn hostile_names_stay_one_component() {
        assert_eq!(component("../etc/passwd"), ".._etc_passwd");
        assert_eq!(component(".."), "_");
        assert_eq!(component("a\nb"), "a_b");
        assert_eq!(component("  "), "_");
        let mut t = Tree::new();
        t.insert(
            &["Torrents".into(), "..".into(), "x".into()],
            file(0),
            SystemTime::now(),
        );
        assert!(t.get(&["Torrents", "_", "x"]).is_some());
        assert!(t.get(&["Torrents", ".."]).is_none());
    }

    #[test]
    fn clashing_names_are_numbered() {
        let mut t = Tree::new();
        let p = |n: &str| vec![MOVIES.to_owned(), "M (2000)".to_owned(), n.to_owned()];
        t.insert(&p("M (2000).mkv"), file(0), SystemTime::now());
        t.insert(&p("M (2000).mkv"), file(1), SystemTime::now());
        assert!(matches!(
            t.get(&[MOVIES, "M (2000)", "M (2000) (2).mkv"]),
            Some(Node::File(f, _)) if f.index == 1
        ));
    }

    #[test]
    fn extensions_and_titles() {
        assert_eq!(extension("dir/Movie.2020.1080p.mkv"), ".mkv");
        assert_eq!(extension("README"), "");
        assert_eq!(extension(".hidden"), "");
        assert_eq!(titled("Heat", Some(1995)), "Heat (1995)");
    }
}
