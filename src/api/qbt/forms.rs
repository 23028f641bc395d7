//! The qBittorrent API's parameters, for the OpenAPI document only: handlers read them
//! by name from [`super::params::Params`] (query string or form, GET or POST alike),
//! so these types are never built. Field names are the wire names.
#![allow(dead_code, non_snake_case)]

use utoipa::{IntoParams, ToSchema};

/// `|`-separated info hashes, or `all`.
#[derive(ToSchema)]
pub struct HashesForm {
    /// `|`-separated info hashes, or `all` (`hash` is accepted too).
    hashes: String,
}

#[derive(ToSchema)]
pub struct DeleteForm {
    hashes: String,
    /// Delete the downloaded files too.
    deleteFiles: Option<bool>,
}

#[derive(ToSchema)]
pub struct ShareLimitsForm {
    hashes: String,
    /// -2: the global limit, -1: none, else the ratio.
    ratioLimit: f64,
    /// -2: the global limit, -1: none, else minutes.
    seedingTimeLimit: i64,
}

#[derive(ToSchema)]
pub struct ForceStartForm {
    hashes: String,
    value: bool,
}

#[derive(ToSchema)]
pub struct TorrentLimitForm {
    hashes: String,
    /// Bytes per second; 0 or -1: none.
    limit: i64,
}

#[derive(ToSchema)]
pub struct GlobalLimitForm {
    /// Bytes per second; 0 or -1: none.
    limit: i64,
}

#[derive(ToSchema)]
pub struct FilePrioForm {
    hash: String,
    /// `|`-separated file indexes.
    id: String,
    /// 0: skip; 1, 6 or 7: download.
    priority: u8,
}

#[derive(ToSchema)]
pub struct SetCategoryForm {
    hashes: String,
    /// Empty: no category.
    category: Option<String>,
}

#[derive(ToSchema)]
pub struct TorrentTagsForm {
    hashes: String,
    /// Comma separated; for `removeTags`, none takes every tag off.
    tags: Option<String>,
}

#[derive(ToSchema)]
pub struct CategoryForm {
    category: String,
    /// A folder inside the caller's; required by `editCategory`.
    savePath: Option<String>,
}

#[derive(ToSchema)]
pub struct RemoveCategoriesForm {
    /// Separated by new lines.
    categories: String,
}

#[derive(ToSchema)]
pub struct TagsForm {
    /// Comma separated.
    tags: String,
}

#[derive(ToSchema)]
pub struct LoginForm {
    username: String,
    password: String,
}

#[derive(ToSchema)]
pub struct PreferencesForm {
    /// A JSON object of preferences: `dl_limit`, `up_limit`, `max_active_downloads`,
    /// `max_ratio_enabled`, `max_ratio`, `max_seeding_time_enabled`,
    /// `max_seeding_time` are applied (administrators); others are ignored.
    json: String,
}

#[derive(ToSchema)]
pub struct AddForm {
    /// Magnets, http(s) URLs of `.torrent` files or bare info hashes, one per line.
    urls: Option<String>,
    /// `.torrent` files (multipart only).
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    torrents: Option<Vec<Vec<u8>>>,
    /// A folder inside the caller's (`savePath` too).
    savepath: Option<String>,
    category: Option<String>,
    /// Comma separated.
    tags: Option<String>,
    paused: Option<bool>,
    stopped: Option<bool>,
    /// -2: global, -1: none, else the ratio.
    ratioLimit: Option<f64>,
    /// -2: global, -1: none, else minutes.
    seedingTimeLimit: Option<i64>,
    /// Bytes per second.
    upLimit: Option<i64>,
    dlLimit: Option<i64>,
    /// Read, but pieces always come in order.
    sequentialDownload: Option<bool>,
    firstLastPiecePrio: Option<bool>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InfoQuery {
    /// `all` (default), `downloading`, `seeding`, `completed`, `paused`/`stopped`,
    /// `resumed`/`running`, `active`, `inactive`, `stalled`, `errored`, ...
    filter: Option<String>,
    category: Option<String>,
    /// Empty: untagged torrents.
    tag: Option<String>,
    /// A field of the torrent objects.
    sort: Option<String>,
    reverse: Option<bool>,
    limit: Option<i64>,
    /// Negative: from the end.
    offset: Option<i64>,
    /// `|`-separated info hashes, or `all`.
    hashes: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HashQuery {
    /// One info hash.
    hash: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    hash: String,
    /// `|`-separated file indexes (default all).
    indexes: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HashesQuery {
    /// `|`-separated info hashes, or `all`.
    hashes: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RidQuery {
    /// The `rid` of the last answer; 0 or absent: a full update.
    rid: Option<u64>,
}
