//! Names taken from torrents, made fit to show and to save: a torrent's name and paths
//! are whatever its author wrote.

use std::path::PathBuf;

use crate::InfoHash;
use crate::store::CatalogFile;

/// The title of an entry uploaded without one: the torrent's name on one line, cut
/// to the title's bound, else the info hash.
pub fn default_title(name: Option<&str>, hash: &InfoHash) -> String {
    let cleaned: String = name
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(super::validate::MAX_TITLE)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        hash.to_string()
    } else {
        cleaned.to_owned()
    }
}

/// The files as the catalog lists them: `/`-separated paths. The engine has refused
/// any path that could escape (see `engine::source`); these are only ever shown.
pub fn listed(files: &[(PathBuf, u64)]) -> Vec<CatalogFile> {
    files
        .iter()
        .map(|(path, length)| CatalogFile {
            path: path
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            length: *length,
        })
        .collect()
}

/// A file name for the download: the title's letters, digits, spaces and `.-_()`, the
/// rest as `_`, at most 100 characters, ending in `.torrent`. ASCII only, so it needs
/// no encoding in `Content-Disposition` and cannot carry quotes or path separators.
pub fn download_name(title: &str, hash: &InfoHash) -> String {
    let safe: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let safe = safe.trim_matches(|c: char| c == '.' || c == ' ' || c == '_');
    if safe.is_empty() {
        format!("{hash}.torrent")
    } else {
        format!("{safe}.torrent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_safe() {
        let h = InfoHash::from_bytes([1; 20]);
        assert_eq!(
            download_name("Big Buck Bunny (2008)", &h),
            "Big Buck Bunny (2008).torrent"
        );
        assert_eq!(download_name("../../etc/passwd", &h), "etc_passwd.torrent");
        assert_eq!(download_name("a\"b\r\nc", &h), "a_b__c.torrent");
        assert_eq!(download_name("日本", &h), format!("{h}.torrent"));
    }

    #[test]
    fn default_titles_are_one_line() {
        let h = InfoHash::from_bytes([1; 20]);
        assert_eq!(default_title(Some("a\nb"), &h), "a b");
        assert_eq!(default_title(None, &h), h.to_string());
        assert_eq!(default_title(Some("  "), &h), h.to_string());
    }
}
