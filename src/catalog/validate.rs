//! Checks of what users type into the catalog: bounds, and normal forms (trimmed,
//! categories and tags in lower case).

use super::CatalogError;

pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_CATEGORY: usize = 40;
pub const MAX_TAG: usize = 32;
pub const MAX_TAGS: usize = 20;
pub const MAX_COMMENT: usize = 5_000;
pub const MAX_QUERY: usize = 500;
pub const MAX_PER_PAGE: u64 = 100;
pub const DEFAULT_PER_PAGE: u64 = 20;

fn invalid(msg: String) -> CatalogError {
    CatalogError::Invalid(msg)
}

/// Counted in characters, as people count them.
fn bounded(what: &str, text: &str, max: usize) -> Result<(), CatalogError> {
    let n = text.chars().count();
    if n > max {
        return Err(invalid(format!(
            "{what} is {n} characters long; at most {max}"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid(format!("{what} holds control characters")));
    }
    Ok(())
}

/// A title on one line, trimmed, not empty.
pub fn title(text: &str) -> Result<String, CatalogError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid("title is empty".into()));
    }
    if t.contains(['\n', '\r', '\t']) {
        return Err(invalid("title must be one line".into()));
    }
    bounded("title", t, MAX_TITLE)?;
    Ok(t.to_owned())
}

pub fn description(text: &str) -> Result<String, CatalogError> {
    let t = text.trim();
    bounded("description", t, MAX_DESCRIPTION)?;
    Ok(t.to_owned())
}

/// One word or a few, lower case; empty is none.
pub fn category(text: &str) -> Result<Option<String>, CatalogError> {
    let t = text.trim().to_lowercase();
    if t.is_empty() {
        return Ok(None);
    }
    bounded("category", &t, MAX_CATEGORY)?;
    if t.contains(['\n', '\r', '\t', ',']) {
        return Err(invalid("category must be one line without commas".into()));
    }
    Ok(Some(t))
}

/// Comma-separated tags: trimmed, lower case, sorted, each once.
pub fn tags(text: &str) -> Result<Vec<String>, CatalogError> {
    let mut out: Vec<String> = Vec::new();
    for tag in text.split(',').map(|t| t.trim().to_lowercase()) {
        if tag.is_empty() {
            continue;
        }
        bounded("a tag", &tag, MAX_TAG)?;
        if tag.contains(['\n', '\r', '\t']) {
            return Err(invalid("a tag must be one line".into()));
        }
        out.push(tag);
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_TAGS {
        return Err(invalid(format!("{} tags; at most {MAX_TAGS}", out.len())));
    }
    Ok(out)
}

pub fn comment(text: &str) -> Result<String, CatalogError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid("comment is empty".into()));
    }
    bounded("comment", t, MAX_COMMENT)?;
    Ok(t.to_owned())
}

pub fn query(text: &str) -> Result<&str, CatalogError> {
    let t = text.trim();
    bounded("query", t, MAX_QUERY)?;
    Ok(t)
}

/// Which page, counted from 1, of how many entries (1 to [`MAX_PER_PAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u64,
    pub per_page: u64,
}

impl Page {
    pub fn new(page: Option<u64>, per_page: Option<u64>) -> Result<Self, CatalogError> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 || page > 1_000_000 {
            return Err(invalid("page counts from 1 (at most 1000000)".into()));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(invalid(format!("perPage must be 1 to {MAX_PER_PAGE}")));
        }
        Ok(Self { page, per_page })
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.per_page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_normalised_and_bounded() {
        assert_eq!(title("  A  ").unwrap(), "A");
        assert!(title(" ").is_err());
        assert!(title("two\nlines").is_err());
        assert!(title(&"x".repeat(MAX_TITLE + 1)).is_err());
        assert_eq!(
            title(&"é".repeat(MAX_TITLE)).unwrap().chars().count(),
            MAX_TITLE
        );
        assert!(description(&"x".repeat(MAX_DESCRIPTION + 1)).is_err());
        assert!(description("bell\u{7}").is_err());
        assert_eq!(category(" Movies ").unwrap().as_deref(), Some("movies"));
        assert_eq!(category("").unwrap(), None);
        assert_eq!(tags(" b, A,a ,, c").unwrap(), ["a", "b", "c"]);
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(tags(&many.join(",")).is_err());
        assert!(comment("  ").is_err());
    }

    #[test]
    fn pages_count_from_one() {
        assert_eq!(Page::new(None, None).unwrap().offset(), 0);
        assert_eq!(Page::new(Some(3), Some(10)).unwrap().offset(), 20);
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(None, Some(0)).is_err());
        assert!(Page::new(None, Some(MAX_PER_PAGE + 1)).is_err());
    }
}
