//! What a library item may hold: checked once, where a request enters the library.

use super::LibraryError;

/// The first and last year a movie or show may have.
pub const YEARS: std::ops::RangeInclusive<i64> = 1870..=2100;
/// Season numbers: 0 holds a show's specials.
pub const SEASONS: std::ops::RangeInclusive<i64> = 0..=9_999;
pub const EPISODES: std::ops::RangeInclusive<i64> = 1..=99_999;
/// Longest title, in characters.
pub const MAX_TITLE: usize = 500;
/// Longest `resolution` or `source` label, in characters.
pub const MAX_LABEL: usize = 64;

fn invalid(msg: impl Into<String>) -> LibraryError {
    LibraryError::Invalid(msg.into())
}

/// A title without its surrounding white space. `required`: it may not be empty (movies
/// and shows; an episode's title may). Control characters are refused: titles become
/// folder and file names for players.
pub fn title(raw: &str, required: bool) -> Result<String, LibraryError> {
    let t = raw.trim();
    if required && t.is_empty() {
        return Err(invalid("title must not be empty"));
    }
    if t.chars().count() > MAX_TITLE {
        return Err(invalid(format!(
            "title is longer than {MAX_TITLE} characters"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(invalid("title must not hold control characters"));
    }
    Ok(t.to_owned())
}

pub fn year(raw: Option<i64>) -> Result<Option<u16>, LibraryError> {
    raw.map(|y| {
        if YEARS.contains(&y) {
            u16::try_from(y).map_err(|_| invalid("year out of range"))
        } else {
            Err(invalid(format!(
                "year must be from {} to {}",
                YEARS.start(),
                YEARS.end()
            )))
        }
    })
    .transpose()
}

fn number(
    raw: i64,
    range: &std::ops::RangeInclusive<i64>,
    what: &str,
) -> Result<u32, LibraryError> {
    if !range.contains(&raw) {
        return Err(invalid(format!(
            "{what} must be from {} to {}",
            range.start(),
            range.end()
        )));
    }
    u32::try_from(raw).map_err(|_| invalid(format!("{what} out of range")))
}

pub fn season(raw: i64) -> Result<u32, LibraryError> {
    number(raw, &SEASONS, "season")
}

pub fn episode(raw: i64) -> Result<u32, LibraryError> {
    number(raw, &EPISODES, "episode")
}

/// A free label (`resolution`, `source`): trimmed, absent when empty, short, one line.
pub fn label(raw: Option<String>, what: &str) -> Result<Option<String>, LibraryError> {
    let Some(raw) = raw else { return Ok(None) };
    let l = raw.trim();
    if l.chars().count() > MAX_LABEL {
        return Err(invalid(format!(
            "{what} is longer than {MAX_LABEL} characters"
        )));
    }
    if l.chars().any(char::is_control) {
        return Err(invalid(format!("{what} must not hold control characters")));
    }
    Ok((!l.is_empty()).then(|| l.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused<T: std::fmt::Debug>(r: Result<T, LibraryError>) {
        assert!(matches!(r, Err(LibraryError::Invalid(_))), "{r:?}");
    }

    #[test]
    fn titles_are_trimmed_and_movies_need_one() {
        assert_eq!(title("  Alien \t", true).unwrap(), "Alien");
        assert_eq!(title("Amélie — ✓", true).unwrap(), "Amélie — ✓");
        assert_eq!(title("   ", false).unwrap(), "");
        refused(title("", true));
        refused(title(" \n ", true));
        refused(title("a\u{0}b", true));
        refused(title("two\nlines", false));
        assert!(title(&"é".repeat(MAX_TITLE), true).is_ok());
        refused(title(&"é".repeat(MAX_TITLE + 1), true));
    }

    #[test]
    fn years_are_plausible_or_absent() {
        assert_eq!(year(None).unwrap(), None);
        assert_eq!(year(Some(1870)).unwrap(), Some(1870));
        assert_eq!(year(Some(2100)).unwrap(), Some(2100));
        for bad in [1869, 2101, 0, -5, 70_000, i64::MAX] {
            refused(year(Some(bad)));
        }
    }

    #[test]
    fn seasons_start_at_zero_for_specials_and_episodes_at_one() {
        assert_eq!(season(0).unwrap(), 0);
        assert_eq!(season(12).unwrap(), 12);
        assert_eq!(episode(1).unwrap(), 1);
        refused(season(-1));
        refused(season(10_000));
        refused(episode(0));
        refused(episode(-3));
        refused(episode(i64::from(u32::MAX) + 1));
    }

    #[test]
    fn labels_are_trimmed_and_empty_ones_dropped() {
        assert_eq!(label(None, "source").unwrap(), None);
        assert_eq!(label(Some("  ".into()), "source").unwrap(), None);
        assert_eq!(
            label(Some(" 1080p ".into()), "resolution").unwrap(),
            Some("1080p".into())
        );
        refused(label(Some("x".repeat(MAX_LABEL + 1)), "source"));
        refused(label(Some("a\tb".into()), "source"));
    }
}
