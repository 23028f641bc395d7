use super::*;
use crate::InfoHash;
use crate::store::CatalogFile;

fn entry(id: &str, title: &str, description: &str, files: &[&str]) -> CatalogEntry {
    CatalogEntry {
        id: id.to_owned(),
        info_hash: InfoHash::from_bytes([id.len() as u8; 20]),
        title: title.to_owned(),
        description: description.to_owned(),
        category: Some("software".into()),
        tags: vec!["linux".into(), "iso".into()],
        uploader_id: "u".into(),
        created_at: 1,
        total_bytes: 1,
        files: files
            .iter()
            .map(|p| CatalogFile {
                path: (*p).to_owned(),
                length: 1,
            })
            .collect(),
    }
}

fn index_of(entries: &[CatalogEntry]) -> SearchIndex {
    let index = SearchIndex::in_memory().unwrap();
    for e in entries {
        index.put(e).unwrap();
    }
    index
}

fn ids(index: &SearchIndex, q: &str) -> Vec<String> {
    index.search(q, 0, 10).unwrap().ids
}

#[test]
fn words_match_in_title_description_files_and_tags() {
    let index = index_of(&[
        entry(
            "a",
            "Big Buck Bunny",
            "An open movie by Blender",
            &["bbb/Bunny.1080p.mkv"],
        ),
        entry(
            "b",
            "Sintel",
            "Durian project",
            &["Sintel/Sintel.2010.720p.mp4", "Sintel/subs_en.srt"],
        ),
    ]);
    assert_eq!(ids(&index, "bunny"), ["a"]);
    assert_eq!(ids(&index, "BLENDER"), ["a"], "case does not matter");
    assert_eq!(ids(&index, "720p"), ["b"], "file names are cut into words");
    assert_eq!(ids(&index, "subs"), ["b"]);
    assert_eq!(
        ids(&index, "durian sintel"),
        ["b"],
        "words may come from several fields"
    );
    assert!(
        ids(&index, "durian bunny").is_empty(),
        "every word must match"
    );
    assert_eq!(
        index.search("linux", 0, 10).unwrap().total,
        2,
        "tags are searched"
    );
    assert!(ids(&index, "  ").is_empty());
    // Broken syntax is no error: what can be read of it is searched.
    index.search("\"unclosed title:", 0, 10).unwrap();
}

#[test]
fn accents_fold_to_ascii() {
    let index = index_of(&[entry("a", "Amélie", "", &["Amélie.2001.mkv"])]);
    assert_eq!(ids(&index, "amelie"), ["a"]);
    assert_eq!(ids(&index, "AMÉLIE"), ["a"]);
}

#[test]
fn an_exact_title_ranks_first_among_similar_titles() {
    let index = index_of(&[
        entry(
            "long",
            "Ubuntu Server Ubuntu Edition",
            "ubuntu ubuntu ubuntu",
            &["ubuntu.iso"],
        ),
        entry(
            "desktop",
            "Ubuntu Desktop",
            "ubuntu for desktops",
            &["ubuntu-desktop.iso"],
        ),
        entry("exact", "Ubuntu", "the server image", &["image.iso"]),
        entry("other", "Debian", "not ubuntu", &[]),
    ]);
    let got = ids(&index, "ubuntu");
    assert_eq!(got.first().map(String::as_str), Some("exact"), "{got:?}");
    assert_eq!(got.len(), 4);
    let got = ids(&index, "ubuntu desktop");
    assert_eq!(got.first().map(String::as_str), Some("desktop"), "{got:?}");
    let got = ids(&index, "UBUNTU-desktop");
    assert_eq!(
        got.first().map(String::as_str),
        Some("desktop"),
        "punctuation aside: {got:?}"
    );
}

#[test]
fn pages_cover_every_hit_once() {
    let entries: Vec<CatalogEntry> = (0..25)
        .map(|i| entry(&format!("e{i:02}"), &format!("Episode {i}"), "show", &[]))
        .collect();
    let index = SearchIndex::in_memory().unwrap();
    index
        .rebuild([entries[..10].to_vec(), entries[10..].to_vec()])
        .unwrap();
    assert_eq!(index.len(), 25);
    let mut seen = Vec::new();
    for page in 0..3 {
        let hits = index.search("show", page * 10, 10).unwrap();
        assert_eq!(hits.total, 25);
        seen.extend(hits.ids);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25);
    assert!(index.search("show", 30, 10).unwrap().ids.is_empty());
}

#[test]
fn put_replaces_and_remove_forgets() {
    let index = index_of(&[entry("a", "First", "", &[])]);
    index.put(&entry("a", "Second", "", &[])).unwrap();
    assert_eq!(index.len(), 1);
    assert!(ids(&index, "first").is_empty());
    assert_eq!(ids(&index, "second"), ["a"]);
    index.remove("a").unwrap();
    assert!(index.is_empty());
    assert!(ids(&index, "second").is_empty());
}

#[test]
fn suggestions_complete_titles_starting_with_the_prefix_first() {
    let index = index_of(&[
        entry("a", "The Matrix Reloaded", "", &[]),
        entry("b", "Matrix", "", &[]),
        entry("c", "The Matrix", "", &[]),
        entry("d", "Mathematics Lectures", "", &[]),
        entry("e", "Matrix", "", &[]),
        entry("f", "Unrelated", "matrix", &[]),
    ]);
    let got = index.suggest("matr", 10).unwrap();
    assert_eq!(got.first().map(String::as_str), Some("Matrix"), "{got:?}");
    assert_eq!(got.len(), 3, "one per title, only titles: {got:?}");
    assert!(got.contains(&"The Matrix Reloaded".to_owned()));
    let got = index.suggest("the matrix re", 10).unwrap();
    assert_eq!(got, ["The Matrix Reloaded"]);
    let got = index.suggest("MAT", 10).unwrap();
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(index.suggest("mat", 2).unwrap().len(), 2);
    assert!(index.suggest("", 10).unwrap().is_empty());
    assert!(index.suggest("zzz", 10).unwrap().is_empty());
}

#[test]
fn an_index_on_disk_survives_reopening_and_a_broken_one_is_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog-index");
    {
        let (index, created) = SearchIndex::open(&path).unwrap();
        assert!(created, "a missing index is created");
        index.put(&entry("a", "Persisted", "", &[])).unwrap();
    }
    {
        let (index, created) = SearchIndex::open(&path).unwrap();
        assert!(!created);
        assert_eq!(ids(&index, "persisted"), ["a"]);
    }
    std::fs::write(path.join("meta.json"), b"{ not json").unwrap();
    let (index, created) = SearchIndex::open(&path).unwrap();
    assert!(created, "an unreadable index is recreated");
    assert!(index.is_empty());
}
