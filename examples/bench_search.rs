//! Catalog search benchmark: the catalog's tantivy index (on disk in a temporary folder,
//! as under `DATA_DIR/catalog-index`) holding `--entries` synthetic entries.
//!
//! ```text
//! cargo run --release --example bench_search -- [--entries 10000] [--queries 2000]
//! scripts/bench-search.sh [OPTIONS]
//! ```
//!
//! Figures printed:
//! - `index`: the time to index every entry in one commit (what a rebuild at start
//!   costs, without reading the store);
//! - `put`: p50/p99 of adding one entry and committing it (what an upload costs the
//!   index), over 50 entries;
//! - `search`: p50/p99 of `--queries` searches of one or two words drawn from the
//!   entries' vocabulary, first page of 20;
//! - `suggest`: p50/p99 of `--queries` suggestions for 2- to 6-character prefixes of
//!   titles' words.
//!
//! Entries get titles of 2–5 words, a 30-word description and 1–8 files, from a
//! vocabulary of 2,000 made-up words, so a word matches about 1% of the entries.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use torrentedge::InfoHash;
use torrentedge::catalog::search::SearchIndex;
use torrentedge::store::{CatalogEntry, CatalogFile};

struct Options {
    entries: usize,
    queries: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        entries: 10_000,
        queries: 2_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || -> anyhow::Result<usize> {
            Ok(args
                .next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))?
                .parse()?)
        };
        match a.as_str() {
            "--entries" => o.entries = value()?,
            "--queries" => o.queries = value()?,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// Pronounceable made-up words: consonant-vowel pairs.
fn vocabulary(rng: &mut StdRng, n: usize) -> Vec<String> {
    const C: &[u8] = b"bcdfghjklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut words = std::collections::BTreeSet::new();
    while words.len() < n {
        let syllables = rng.random_range(2..=4);
        let w: String = (0..syllables)
            .flat_map(|_| {
                [
                    C[rng.random_range(0..C.len())] as char,
                    V[rng.random_range(0..V.len())] as char,
                ]
            })
            .collect();
        words.insert(w);
    }
    words.into_iter().collect()
}

fn phrase(rng: &mut StdRng, words: &[String], n: usize) -> String {
    (0..n)
        .map(|_| words[rng.random_range(0..words.len())].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn entry(rng: &mut StdRng, words: &[String], i: usize) -> CatalogEntry {
    let n = rng.random_range(2..=5);
    let title = phrase(rng, words, n);
    let files = (0..rng.random_range(1..=8))
        .map(|_| CatalogFile {
            path: format!(
                "{}/{}.{}",
                title.replace(' ', "."),
                phrase(rng, words, 2).replace(' ', "_"),
                "mkv"
            ),
            length: rng.random_range(1..1u64 << 32),
        })
        .collect();
    let mut hash = [0u8; 20];
    hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
    CatalogEntry {
        id: format!("entry-{i}"),
        info_hash: InfoHash::from_bytes(hash),
        title,
        description: phrase(rng, words, 30),
        category: Some(["movies", "tv", "music", "software", "books"][i % 5].into()),
        tags: vec![words[i % words.len()].clone()],
        uploader_id: "bench".into(),
        created_at: i as i64,
        total_bytes: 1,
        files,
    }
}

/// p50 and p99 of the samples, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99))
}

fn timed<T>(mut f: impl FnMut() -> T, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let mut rng = StdRng::seed_from_u64(7);
    let words = vocabulary(&mut rng, 2_000);
    let entries: Vec<CatalogEntry> = (0..o.entries).map(|i| entry(&mut rng, &words, i)).collect();
    let dir = tempfile::tempdir()?;
    let (index, _) = SearchIndex::open(&dir.path().join("catalog-index"))?;

    let start = Instant::now();
    let batches: Vec<Vec<CatalogEntry>> = entries.chunks(500).map(<[_]>::to_vec).collect();
    index.rebuild(batches)?;
    let took = start.elapsed();
    println!(
        "index: {} entries in {:.2} s ({:.0} entries/s)",
        index.len(),
        took.as_secs_f64(),
        o.entries as f64 / took.as_secs_f64()
    );

    let mut next = o.entries;
    let puts = timed(
        || {
            next += 1;
            index.put(&entry(
                &mut StdRng::seed_from_u64(next as u64),
                &words,
                next,
            ))
        },
        50,
    );
    let (p50, p99) = percentiles(puts);
    println!(
        "put (one entry, committed): p50 {:.1} ms, p99 {:.1} ms",
        p50 / 1e3,
        p99 / 1e3
    );

    let mut hits = 0usize;
    let searches = timed(
        || {
            let n = rng.random_range(1..=2);
            let q = phrase(&mut rng, &words, n);
            let found = index.search(&q, 0, 20).map(|h| h.total).unwrap_or(0);
            hits += found;
        },
        o.queries,
    );
    let (p50, p99) = percentiles(searches);
    println!(
        "search ({} queries, page of 20): p50 {p50:.0} µs, p99 {p99:.0} µs (mean {:.1} hits)",
        o.queries,
        hits as f64 / o.queries as f64
    );

    let suggests = timed(
        || {
            let w = &words[rng.random_range(0..words.len())];
            let len = rng.random_range(2..=6).min(w.len());
            index.suggest(&w[..len], 10).map(|s| s.len()).unwrap_or(0)
        },
        o.queries,
    );
    let (p50, p99) = percentiles(suggests);
    println!(
        "suggest ({} prefixes): p50 {p50:.0} µs, p99 {p99:.0} µs",
        o.queries
    );
    Ok(())
}
