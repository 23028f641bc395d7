//! The catalog in GraphQL: browsing, full-text search and suggestions, and entries
//! with their files, uploader, comments and live swarm, all through
//! [`crate::catalog::Catalog`] as REST's `/api/catalog` goes. Every signed-in user
//! sees the whole catalog, as in REST.

use async_graphql::{Context, Object, Result, SimpleObject};

use super::parts;
use crate::catalog::{EntrySummary, Page};
use crate::store::CatalogFile;

/// The catalog's queries, merged into the root [`super::Query`].
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// The catalog newest first, optionally one category only.
    async fn catalog(
        &self,
        ctx: &Context<'_>,
        category: Option<String>,
        page: Option<u64>,
        per_page: Option<u64>,
    ) -> Result<EntryPage> {
        let (s, _) = parts(ctx);
        let category = category.filter(|c| !c.trim().is_empty());
        let page = Page::new(page, per_page)?;
        Ok(s.catalog.browse(category.as_deref(), page).await?.into())
    }

    /// Entries matching `query` (words in titles, descriptions, file names, categories
    /// and tags), best first.
    async fn catalog_search(
        &self,
        ctx: &Context<'_>,
        query: String,
        page: Option<u64>,
        per_page: Option<u64>,
    ) -> Result<EntryPage> {
        let (s, _) = parts(ctx);
        let page = Page::new(page, per_page)?;
        Ok(s.catalog.search(&query, page).await?.into())
    }

    /// Titles completing `prefix`, best first.
    async fn catalog_suggest(&self, ctx: &Context<'_>, prefix: String) -> Result<Vec<String>> {
        let (s, _) = parts(ctx);
        Ok(s.catalog.suggest(&prefix).await?)
    }

    /// One entry by id; `null` when there is none.
    async fn catalog_entry(&self, ctx: &Context<'_>, id: String) -> Result<Option<CatalogEntry>> {
        let (s, _) = parts(ctx);
        match s.catalog.details(&id).await {
            Ok(d) => Ok(Some(CatalogEntry {
                files: Some(d.entry.files.clone()),
                summary: d.entry.into(),
            })),
            Err(crate::catalog::CatalogError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// One page of entries and how many there are in all.
pub struct EntryPage(crate::catalog::EntryPage);

impl From<crate::catalog::EntryPage> for EntryPage {
    fn from(p: crate::catalog::EntryPage) -> Self {
        Self(p)
    }
}

#[Object]
impl EntryPage {
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn entries(&self) -> Vec<CatalogEntry> {
        let summaries = self.0.entries.iter().cloned();
        summaries
            .map(|summary| CatalogEntry {
                summary,
                files: None,
            })
            .collect()
    }
    async fn page(&self) -> u64 {
        self.0.page
    }
    async fn per_page(&self) -> u64 {
        self.0.per_page
    }
    async fn total(&self) -> u64 {
        self.0.total
    }
}

/// A catalog entry. Listings carry no files: they are read when asked for.
pub struct CatalogEntry {
    summary: EntrySummary,
    files: Option<Vec<CatalogFile>>,
}

#[derive(SimpleObject)]
pub struct CatalogFileObject {
    pub path: String,
    pub length: u64,
}

/// The tracker's live counts for an entry's torrent.
#[derive(SimpleObject)]
pub struct Swarm {
    pub seeders: u64,
    pub leechers: u64,
    /// Downloads the tracker saw finish.
    pub completed: u64,
}

/// A catalog entry's uploader as every user sees them.
#[derive(SimpleObject)]
pub struct Uploader {
    pub id: String,
    pub username: String,
}

#[derive(SimpleObject)]
pub struct Comment {
    pub id: String,
    pub author_id: String,
    pub author_name: Option<String>,
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

#[Object]
impl CatalogEntry {
    async fn id(&self) -> &str {
        &self.summary.id
    }
    async fn info_hash(&self) -> String {
        self.summary.info_hash.to_string()
    }
    async fn title(&self) -> &str {
        &self.summary.title
    }
    async fn description(&self) -> &str {
        &self.summary.description
    }
    async fn category(&self) -> Option<&str> {
        self.summary.category.as_deref()
    }
    async fn tags(&self) -> &[String] {
        &self.summary.tags
    }
    async fn uploader_id(&self) -> &str {
        &self.summary.uploader_id
    }
    /// Milliseconds since the Unix epoch.
    async fn created_at(&self) -> i64 {
        self.summary.created_at
    }
    async fn total_bytes(&self) -> u64 {
        self.summary.total_bytes
    }
    async fn file_count(&self) -> usize {
        self.summary.file_count
    }

    /// Who uploaded it (`null` once their account is gone): their name only, as REST's
    /// `uploaderName`; their account and torrents stay theirs (and administrators').
    async fn uploader(&self, ctx: &Context<'_>) -> Result<Option<Uploader>> {
        let (s, _) = parts(ctx);
        let user = s.store.user_by_id(&self.summary.uploader_id).await?;
        Ok(user.map(|u| Uploader {
            id: u.id,
            username: u.username,
        }))
    }

    /// The torrent's files, in the torrent's order.
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn files(&self, ctx: &Context<'_>) -> Result<Vec<CatalogFileObject>> {
        let files = match &self.files {
            Some(f) => f.clone(),
            None => {
                let (s, _) = parts(ctx);
                // The stored entry only: details would also look up the uploader
                // and the swarm, per listed entry, for nothing.
                s.catalog.entry(&self.summary.id).await?.files
            }
        };
        Ok(files
            .into_iter()
            .map(|f| CatalogFileObject {
                path: f.path,
                length: f.length,
            })
            .collect())
    }

    /// Seeders, leechers and completed downloads, live from the tracker.
    async fn swarm(&self, ctx: &Context<'_>) -> Swarm {
        let (s, _) = parts(ctx);
        let c = s.tracker.counts(&self.summary.info_hash);
        Swarm {
            seeders: c.seeders,
            leechers: c.leechers,
            completed: c.completed,
        }
    }

    /// The comments, oldest first.
    #[graphql(complexity = "crate::graphql::LIST_COST * child_complexity")]
    async fn comments(&self, ctx: &Context<'_>) -> Result<Vec<Comment>> {
        let (s, _) = parts(ctx);
        let list = s.catalog.comments(&self.summary.id).await?;
        Ok(list
            .into_iter()
            .map(|c| Comment {
                id: c.comment.id,
                author_id: c.comment.author_id,
                author_name: c.author_name,
                body: c.comment.body,
                created_at: c.comment.created_at,
            })
            .collect())
    }
}
