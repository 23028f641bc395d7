//! Fast-resume records: what a restart needs to trust the data on disk without reading
//! it all back.

use serde::{Deserialize, Serialize};

use super::{InfoHash, Millis};

/// The pieces of a torrent verified on disk, and the stamps of its files at the time:
/// a restart trusts the bitfield only while every stamp still matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRecord {
    pub info_hash: InfoHash,
    /// One bit per piece, the first piece in the most significant bit of the first byte.
    pub bitfield: Vec<u8>,
    /// The torrent's files in torrent order.
    pub files: Vec<FileStamp>,
    pub saved_at: Millis,
}

/// A file's size and modification time (both `None` when the file did not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStamp {
    /// The path relative to the torrent's folder.
    pub path: String,
    pub size: Option<u64>,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: Option<i64>,
}
