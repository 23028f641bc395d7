//! Which file of a torrent an item gets: the one asked for by path, else the single
//! video file. Pure functions over the torrent's file list, so every rule is tested
//! without a torrent.

use serde::Serialize;

use super::LibraryError;
use crate::engine::FileView;

/// The extensions a player's video file has, lower-case.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mkv", "mp4", "m4v", "avi", "mov", "wmv", "webm", "ts", "m2ts", "mpg", "mpeg", "flv", "ogv",
];

/// A file of the torrent, as error answers list them for the client to choose from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub index: usize,
    pub path: String,
    pub length: u64,
}

impl From<&FileView> for Candidate {
    fn from(f: &FileView) -> Self {
        Self {
            index: f.index,
            path: f.path.clone(),
            length: f.length,
        }
    }
}

/// Whether the path ends in one of [`VIDEO_EXTENSIONS`] (in any case).
pub fn is_video(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => {
            VIDEO_EXTENSIONS.iter().any(|v| ext.eq_ignore_ascii_case(v))
        }
        _ => false,
    }
}

/// The file `wanted` names (a path as in the torrent's details, `files[].path`; a
/// leading `/` is ignored), else the torrent's only video file.
///
/// A path no file has is [`LibraryError::NoSuchFile`] listing every file; no path and
/// no video file or several is [`LibraryError::NoSingleVideo`] listing the video files
/// (every file when there is none).
pub fn choose<'a>(
    files: &'a [FileView],
    wanted: Option<&str>,
) -> Result<&'a FileView, LibraryError> {
    if let Some(path) = wanted {
        let path = path.strip_prefix('/').unwrap_or(path);
        return files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| LibraryError::NoSuchFile {
                path: path.to_owned(),
                files: files.iter().map(Candidate::from).collect(),
            });
    }
    let videos: Vec<&FileView> = files.iter().filter(|f| is_video(&f.path)).collect();
    match videos.as_slice() {
        [one] => Ok(*one),
        [] => Err(LibraryError::NoSingleVideo {
            videos: 0,
            candidates: files.iter().map(Candidate::from).collect(),
        }),
        many => Err(LibraryError::NoSingleVideo {
            videos: many.len(),
            candidates: many.iter().copied().map(Candidate::from).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(index: usize, path: &str, length: u64) -> FileView {
        FileView {
            index,
            path: path.to_owned(),
            offset: 0,
            length,
            downloaded: 0,
            percentage: 0.0,
            wanted: true,
        }
    }

    #[test]
    fn video_files_are_known_by_their_extension_in_any_case() {
        for p in [
            "a.mkv",
            "dir/b.MP4",
            "c.d.m2ts",
            "Show/S01E01.WebM",
            "x.ogv",
            "y.Ts",
        ] {
            assert!(is_video(p), "{p}");
        }
        for p in [
            "a.nfo",
            "mkv",
            ".mkv",
            "dir.mkv/readme.txt",
            "sample.srt",
            "a.mkv.part",
        ] {
            assert!(!is_video(p), "{p}");
        }
    }

    #[test]
    fn the_single_video_file_is_picked_among_others() {
        let files = [
            file(0, "Movie/movie.nfo", 10),
            file(2, "Movie/Movie.2020.1080p.mkv", 5 << 30),
            file(3, "Movie/subs/en.srt", 20),
        ];
        let f = choose(&files, None).unwrap();
        assert_eq!((f.index, f.length), (2, 5 << 30));
    }

    #[test]
    fn several_video_files_are_listed_as_candidates() {
        let files = [
            file(0, "a.mkv", 1),
            file(1, "readme.txt", 2),
            file(2, "b.mp4", 3),
        ];
        match choose(&files, None) {
            Err(LibraryError::NoSingleVideo { videos, candidates }) => {
                assert_eq!(videos, 2);
                let paths: Vec<&str> = candidates.iter().map(|c| c.path.as_str()).collect();
                assert_eq!(paths, ["a.mkv", "b.mp4"]);
                assert_eq!(
                    candidates[1],
                    Candidate {
                        index: 2,
                        path: "b.mp4".into(),
                        length: 3
                    }
                );
            }
            other => panic!("expected candidates, got {other:?}"),
        }
    }

    #[test]
    fn no_video_file_lists_every_file() {
        let files = [file(0, "a.txt", 1), file(1, "b.iso", 2)];
        match choose(&files, None) {
            Err(LibraryError::NoSingleVideo {
                videos: 0,
                candidates,
            }) => {
                assert_eq!(candidates.len(), 2)
            }
            other => panic!("expected every file, got {other:?}"),
        }
    }

    #[test]
    fn a_path_given_must_name_a_file_exactly() {
        let files = [file(0, "Show/e1.mkv", 1), file(1, "Show/e2.mkv", 2)];
        assert_eq!(choose(&files, Some("Show/e2.mkv")).unwrap().index, 1);
        assert_eq!(choose(&files, Some("/Show/e1.mkv")).unwrap().index, 0);
        // A path given wins over the video rule: any file may be assigned.
        let mixed = [file(0, "a.mkv", 1), file(1, "notes.txt", 2)];
        assert_eq!(choose(&mixed, Some("notes.txt")).unwrap().index, 1);
        for bad in ["e2.mkv", "show/e2.mkv", "Show/e3.mkv", ""] {
            match choose(&files, Some(bad)) {
                Err(LibraryError::NoSuchFile {
                    path,
                    files: listed,
                }) => {
                    assert_eq!(path, bad);
                    assert_eq!(listed.len(), 2);
                }
                other => panic!("{bad:?}: expected the file list, got {other:?}"),
            }
        }
    }
}
