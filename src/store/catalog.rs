//! The torrent catalog's records: entries users published (a `.torrent` with a title,
//! description, category and tags) and the comments on them.
//!
//! The store keeps them as plain records and knows two rules only: an info hash is in
//! the catalog at most once ([`super::Store::insert_catalog_entry`] answers `Conflict`),
//! and deleting an entry deletes its comments. Who may delete what, what a valid title
//! is and how entries are searched is [`crate::catalog`]'s business.

use serde::{Deserialize, Serialize};

use super::{InfoHash, Millis};

/// One published torrent. The `.torrent` file itself is kept beside it and read on its
/// own ([`super::Store::catalog_torrent`]): listings never carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    /// Random (a UUID v4).
    pub id: String,
    /// Unique in the catalog.
    pub info_hash: InfoHash,
    pub title: String,
    pub description: String,
    /// Lower case; `None` when the uploader gave none.
    pub category: Option<String>,
    /// Lower case, sorted, each once.
    pub tags: Vec<String>,
    pub uploader_id: String,
    pub created_at: Millis,
    pub total_bytes: u64,
    /// The torrent's files, in the torrent's order.
    pub files: Vec<CatalogFile>,
}

/// One file of a catalog entry's torrent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogFile {
    /// Relative, `/`-separated, as checked by the engine when the torrent was parsed.
    pub path: String,
    pub length: u64,
}

/// A comment on a catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogComment {
    /// Random (a UUID v4).
    pub id: String,
    pub entry_id: String,
    pub author_id: String,
    pub body: String,
    pub created_at: Millis,
}

/// Which page of the catalog [`super::Store::list_catalog`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogQuery {
    /// Only entries of this category (compared exactly: categories are stored in lower
    /// case).
    pub category: Option<String>,
    pub offset: u64,
    /// At most this many entries (0: none, only the total).
    pub limit: u64,
}

/// One page of the catalog, newest first, and how many entries match in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogPage {
    pub entries: Vec<CatalogEntry>,
    pub total: u64,
}
