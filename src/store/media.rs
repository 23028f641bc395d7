//! The media library's records: movies, shows and their episodes, each with at most
//! one active assignment to a file inside a torrent.
//!
//! The store keeps them as plain records and knows no rule about them beyond one:
//! deleting a show deletes its episodes ([`super::Store::delete_media`]). What a valid
//! title, year or episode number is, and which file of a torrent an item gets, is
//! [`crate::library`]'s business.

use serde::{Deserialize, Serialize};

use super::{InfoHash, Millis};

/// What a library item is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Movie,
    Show,
    Episode,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Movie => "movie",
            MediaKind::Show => "show",
            MediaKind::Episode => "episode",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "movie" => Some(MediaKind::Movie),
            "show" => Some(MediaKind::Show),
            "episode" => Some(MediaKind::Episode),
            _ => None,
        }
    }
}

/// One item of a user's library. Which fields are set depends on the kind: movies
/// and shows have a year, episodes their show, season and episode number; movies and
/// episodes may have an assignment (a show's files are its episodes').
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaItem {
    /// Random (a UUID v4), like user ids.
    pub id: String,
    pub owner_id: String,
    pub kind: MediaKind,
    /// The movie's or show's title; an episode's own title (may be empty).
    pub title: String,
    /// Movies and shows.
    pub year: Option<u16>,
    /// Episodes: the id of their show.
    pub show_id: Option<String>,
    /// Episodes (season 0 holds specials).
    pub season: Option<u32>,
    /// Episodes.
    pub episode: Option<u32>,
    /// The one active assignment (movies and episodes).
    pub assignment: Option<Assignment>,
    /// Milliseconds since the Unix epoch.
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

/// Which file of which torrent plays an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub info_hash: InfoHash,
    /// The file's index in the torrent (as in the torrent's details, `files[].index`).
    pub file_index: usize,
    /// The file's path in the torrent (as in the torrent's details, `files[].path`).
    pub file_path: String,
    /// The file's length in bytes, from the torrent's metadata.
    pub size: u64,
    /// Free labels given when assigning (e.g. `1080p`, `bluray`).
    pub resolution: Option<String>,
    pub source: Option<String>,
    /// Milliseconds since the Unix epoch.
    #[schema(value_type = i64)]
    pub assigned_at: Millis,
}
