//! The catalog's full-text index (tantivy), kept in `DATA_DIR/catalog-index`.
//!
//! The index is a cache of the store: every document can be made again from the
//! entries, so an index that is missing, unreadable or of another schema is thrown away
//! and created empty ([`SearchIndex::open`] says so), and the catalog refills it.
//!
//! Text is cut at every character that is not a letter or digit, lower-cased and folded
//! to ASCII (`Amélie.2001.mkv` → `amelie`, `2001`, `mkv`), so titles, descriptions and
//! file names match word by word. A query matches when every word of it is found in
//! some field; the title weighs most. A query that is the whole title (same words, same
//! order) gets a boost that outweighs any other match: someone typing a title exactly
//! wants that entry first, not a longer title that mentions it twice.
//!
//! Writes are committed one by one and the reader reloaded at once, so a search right
//! after a write sees it. Commits block on disk: callers on the async runtime run
//! writes on the blocking pool.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, Occur, PhrasePrefixQuery, Query, QueryParser, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TantivyDocument, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Term};

use crate::store::CatalogEntry;

/// The writer's heap: tantivy's floor is 15 MB; a catalog entry is small, so a little
/// above it flushes rarely enough and keeps the server's memory small.
const WRITER_HEAP: usize = 20_000_000;
const TOKENIZER: &str = "catalog";
/// How much a field counts when a word matches there.
const TITLE_BOOST: f32 = 3.0;
const TAGS_BOOST: f32 = 1.5;
/// Far above what the words of a title can score together, see the module doc.
const EXACT_TITLE_BOOST: f32 = 50.0;
/// Titles starting with what was typed come before those only holding its words.
const STARTS_WITH_BOOST: f32 = 4.0;
/// How many index terms the last, unfinished word of a suggestion may stand for.
const PREFIX_EXPANSIONS: u32 = 200;

/// The index failed (I/O, a corrupt segment). The store is unaffected.
#[derive(Debug, thiserror::Error)]
#[error("catalog index: {0}")]
pub struct SearchError(#[from] tantivy::TantivyError);

impl SearchError {
    /// Another index writer holds the folder's lock.
    pub fn is_locked(&self) -> bool {
        matches!(self.0, tantivy::TantivyError::LockFailure(..))
    }
}

type Result<T, E = SearchError> = std::result::Result<T, E>;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    /// The title's words joined by single spaces, as one term: for the exact-title boost
    /// and for "starts with" suggestions.
    title_words: Field,
    description: Field,
    files: Field,
    category: Field,
    tags: Field,
}

/// One page of search results: entry ids, best first, and how many entries match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    pub total: usize,
    pub ids: Vec<String>,
}

pub struct SearchIndex {
    reader: IndexReader,
    /// A std mutex: tantivy's writer calls block, and they are made on the blocking
    /// pool, never across an `.await`.
    writer: Mutex<IndexWriter>,
    fields: Fields,
    parser: QueryParser,
    analyzer: TextAnalyzer,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let text = TextOptions::default().set_indexing_options(words);
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        title: b.add_text_field("title", text.clone().set_stored()),
        title_words: b.add_text_field("title_words", STRING),
        description: b.add_text_field("description", text.clone()),
        files: b.add_text_field("files", text.clone()),
        category: b.add_text_field("category", text.clone()),
        tags: b.add_text_field("tags", text),
    };
    (b.build(), fields)
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates it empty there when it is missing, unreadable
    /// or of another schema. The flag says it was (re)created: the caller refills it.
    pub fn open(dir: &Path) -> Result<(Self, bool)> {
        match Self::open_existing(dir) {
            Ok(Some(index)) => return Ok((index, false)),
            Ok(None) => {}
            // Another writer (a server still stopping) holds the index: its files are
            // fine, and must not be wiped under it.
            Err(e) if e.is_locked() => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "catalog index unreadable; recreating it");
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| SearchError(e.into()))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| SearchError(e.into()))?;
        let (schema, _) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        Ok((Self::with_index(index)?, true))
    }

    /// `None` when there is no index in `dir` yet, or its schema is not this build's.
    fn open_existing(dir: &Path) -> Result<Option<Self>> {
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let index = Index::open_in_dir(dir)?;
        if index.schema() != schema().0 {
            tracing::info!("catalog index schema changed; recreating it");
            return Ok(None);
        }
        let me = Self::with_index(index)?;
        // Reading every segment's store proves the files are whole, not only meta.json.
        me.check_readable()?;
        Ok(Some(me))
    }

    /// An index in memory (tests, benchmarks).
    pub fn in_memory() -> Result<Self> {
        Self::with_index(Index::create_in_ram(schema().0))
    }

    fn with_index(index: Index) -> Result<Self> {
        let (_, fields) = schema();
        index.tokenizers().register(TOKENIZER, analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let mut parser = QueryParser::for_index(
            &index,
            vec![
                fields.title,
                fields.description,
                fields.files,
                fields.category,
                fields.tags,
            ],
        );
        parser.set_conjunction_by_default();
        parser.set_field_boost(fields.title, TITLE_BOOST);
        parser.set_field_boost(fields.tags, TAGS_BOOST);
        Ok(Self {
            reader,
            writer: Mutex::new(writer),
            fields,
            parser,
            analyzer: analyzer(),
        })
    }

    fn check_readable(&self) -> Result<()> {
        let searcher = self.reader.searcher();
        for segment in searcher.segment_readers() {
            let store = segment
                .get_store_reader(1)
                .map_err(|e| SearchError(e.into()))?;
            for doc in store.iter::<TantivyDocument>(segment.alive_bitset()) {
                doc?;
            }
        }
        Ok(())
    }

    /// How many entries the index holds.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `text`'s words as the index cuts them, joined by single spaces.
    fn words(&self, text: &str) -> String {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut out = String::new();
        while let Some(t) = stream.next() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t.text);
        }
        out
    }

    fn document(&self, e: &CatalogEntry) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.id, &e.id);
        doc.add_text(f.title, &e.title);
        doc.add_text(f.title_words, self.words(&e.title));
        doc.add_text(f.description, &e.description);
        for file in &e.files {
            doc.add_text(f.files, &file.path);
        }
        if let Some(c) = &e.category {
            doc.add_text(f.category, c);
        }
        for t in &e.tags {
            doc.add_text(f.tags, t);
        }
        doc
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        // A panic while indexing leaves the writer as tantivy left it; the next commit
        // (or the rebuild at start) tells whether it still works.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces an entry, committed and visible to the next search.
    pub fn put(&self, e: &CatalogEntry) -> Result<()> {
        let mut w = self.lock();
        w.delete_term(Term::from_field_text(self.fields.id, &e.id));
        w.add_document(self.document(e))?;
        self.commit(&mut w)
    }

    /// Removes an entry, committed and visible to the next search.
    pub fn remove(&self, id: &str) -> Result<()> {
        let mut w = self.lock();
        w.delete_term(Term::from_field_text(self.fields.id, id));
        self.commit(&mut w)
    }

    /// Replaces everything with `batches` of entries, in one commit: until it, searches
    /// see the old index.
    pub fn rebuild<I>(&self, batches: I) -> Result<u64>
    where
        I: IntoIterator<Item = Vec<CatalogEntry>>,
    {
        let mut w = self.lock();
        w.delete_all_documents()?;
        let mut n = 0;
        for batch in batches {
            for e in &batch {
                w.add_document(self.document(e))?;
                n += 1;
            }
        }
        self.commit(&mut w)?;
        Ok(n)
    }

    fn commit(&self, w: &mut IndexWriter) -> Result<()> {
        if let Err(e) = w.commit() {
            // What was not committed would otherwise ride along with the next commit.
            w.rollback()?;
            return Err(e.into());
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Entries matching `query`, best first, `limit` of them from `offset`.
    pub fn search(&self, query: &str, offset: usize, limit: usize) -> Result<Hits> {
        let words = self.words(query);
        if words.is_empty() || limit == 0 {
            return Ok(Hits::default());
        }
        // Typos in the syntax (an unclosed quote, `title:` alone) are ignored rather
        // than refused: people type queries, not programs.
        let (parsed, _) = self.parser.parse_query_lenient(query);
        let exact = TermQuery::new(
            Term::from_field_text(self.fields.title_words, &words),
            IndexRecordOption::Basic,
        );
        let exact: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(exact), EXACT_TITLE_BOOST));
        let q = BooleanQuery::new(vec![(Occur::Must, parsed), (Occur::Should, exact)]);
        let searcher = self.reader.searcher();
        let top = TopDocs::with_limit(limit)
            .and_offset(offset)
            .order_by_score();
        let (total, found) = searcher.search(&q, &(Count, top))?;
        let ids = found
            .into_iter()
            .map(|(_, addr)| self.stored(&searcher, addr, self.fields.id))
            .collect::<Result<Vec<_>>>()?;
        Ok(Hits {
            total,
            ids: ids.into_iter().flatten().collect(),
        })
    }

    /// Up to `limit` titles completing `prefix` (its last word may be unfinished):
    /// titles that start with it first, then titles holding its words in that order.
    pub fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        let words = self.words(prefix);
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let terms: Vec<Term> = words
            .split(' ')
            .map(|w| Term::from_field_text(f.title, w))
            .collect();
        let mut within = PhrasePrefixQuery::new(terms);
        within.set_max_expansions(PREFIX_EXPANSIONS);
        let mut starts = PhrasePrefixQuery::new(vec![Term::from_field_text(f.title_words, &words)]);
        starts.set_max_expansions(PREFIX_EXPANSIONS);
        let starts: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(starts), STARTS_WITH_BOOST));
        let q = BooleanQuery::new(vec![
            (Occur::Should, Box::new(within) as Box<dyn Query>),
            (Occur::Should, starts),
        ]);
        let searcher = self.reader.searcher();
        // More than asked: several entries may share a title.
        let found = searcher.search(&q, &TopDocs::with_limit(limit * 4).order_by_score())?;
        let mut titled = Vec::with_capacity(found.len());
        for (score, addr) in found {
            if let Some(t) = self.stored(&searcher, addr, f.title)? {
                titled.push((score, t));
            }
        }
        // Equal scores: the shorter title is the closer completion.
        titled.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.len().cmp(&b.1.len())));
        let mut seen = std::collections::HashSet::new();
        let titles = titled
            .into_iter()
            .map(|(_, t)| t)
            .filter(|t| seen.insert(t.to_lowercase()))
            .take(limit)
            .collect();
        Ok(titles)
    }

    fn stored(
        &self,
        searcher: &tantivy::Searcher,
        addr: DocAddress,
        field: Field,
    ) -> Result<Option<String>> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        Ok(doc
            .get_first(field)
            .and_then(|v| v.as_str().map(str::to_owned)))
    }
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
