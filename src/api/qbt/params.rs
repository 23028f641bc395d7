//! Request parameters as qBittorrent reads them: from the query string and from a
//! form body (urlencoded or multipart), for GET and POST alike. Booleans are
//! case-insensitive (Python sends `True`); `hashes` is `|`-separated or `all`.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{FromRequest, Multipart, Request};

use super::{AppState, QbtError};
use crate::InfoHash;
use crate::engine::Actor;

/// A request's parameters, and the `.torrent` files of a multipart `torrents` field.
#[derive(Debug, Default)]
pub struct Params {
    fields: HashMap<String, String>,
    pub files: Vec<Vec<u8>>,
}

/// Which torrents a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hashes {
    All,
    Some(Vec<InfoHash>),
}

impl FromRequest<AppState> for Params {
    type Rejection = QbtError;

    async fn from_request(req: Request, s: &AppState) -> Result<Self, QbtError> {
        let mut p = Params::default();
        if let Some(q) = req.uri().query() {
            p.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        let ctype = crate::api::extract::content_type(req.headers());
        if ctype.starts_with("multipart/form-data") {
            let mp = Multipart::from_request(req, s)
                .await
                .map_err(|e| QbtError::new(e.status(), e.body_text()))?;
            p.read_multipart(mp).await?;
        } else if ctype.starts_with("application/x-www-form-urlencoded") || ctype.is_empty() {
            let body = axum::body::Bytes::from_request(req, s)
                .await
                .map_err(|e| QbtError::new(e.status(), e.body_text()))?;
            p.extend(url::form_urlencoded::parse(&body).into_owned());
        }
        Ok(p)
    }
}

impl Params {
    fn extend(&mut self, pairs: impl Iterator<Item = (String, String)>) {
        // The body's value wins over the query's, as it comes later.
        self.fields.extend(pairs);
    }

    async fn read_multipart(&mut self, mut mp: Multipart) -> Result<(), QbtError> {
        let err =
            |e: axum::extract::multipart::MultipartError| QbtError::new(e.status(), e.body_text());
        while let Some(field) = mp.next_field().await.map_err(err)? {
            let name = field.name().unwrap_or("").to_owned();
            if name == "torrents" || field.file_name().is_some() {
                self.files.push(field.bytes().await.map_err(err)?.to_vec());
            } else {
                let value = field.text().await.map_err(err)?;
                self.fields.insert(name, value);
            }
        }
        Ok(())
    }

    /// A parameter as given (`None`: absent).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    /// The first of several names that is given (qBittorrent renamed some).
    pub fn any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    pub fn required(&self, key: &str) -> Result<&str, QbtError> {
        self.get(key)
            .ok_or_else(|| QbtError::bad_request(format!("Missing parameter: {key}")))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, QbtError> {
        self.get(key).map(|v| parse_bool(key, v)).transpose()
    }

    pub fn number<T: FromStr>(&self, key: &str) -> Result<Option<T>, QbtError> {
        match self.get(key).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| QbtError::bad_request(format!("Invalid value for {key}: {v:?}"))),
        }
    }

    /// `hashes` (or `hash`): `all`, or `|`-separated info hashes. Malformed hashes name
    /// no torrent and are skipped, as qBittorrent skips unknown ones.
    pub fn hashes(&self) -> Result<Hashes, QbtError> {
        let raw = self
            .any(&["hashes", "hash"])
            .ok_or_else(|| QbtError::bad_request("Missing parameter: hashes"))?;
        if raw.trim().eq_ignore_ascii_case("all") {
            return Ok(Hashes::All);
        }
        Ok(Hashes::Some(
            raw.split('|')
                .filter_map(|h| InfoHash::parse(h.trim()).ok())
                .collect(),
        ))
    }

    /// One torrent's `hash` (404 when it is not a hash: it names no torrent).
    pub fn hash(&self) -> Result<InfoHash, QbtError> {
        let raw = self.required("hash")?;
        InfoHash::parse(raw.trim()).map_err(|_| {
            QbtError::new(
                axum::http::StatusCode::NOT_FOUND,
                "Torrent hash was not found",
            )
        })
    }

    /// A list of names separated by `sep` (tags: `,`; categories: newlines).
    pub fn list(&self, key: &str, sep: char) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(sep)
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Hashes {
    /// The info hashes meant, `all` being every torrent the actor may see.
    pub fn resolve(self, engine: &crate::engine::Engine, actor: &Actor) -> Vec<InfoHash> {
        match self {
            Hashes::All => engine
                .list(actor)
                .into_iter()
                .map(|v| v.info_hash)
                .collect(),
            Hashes::Some(h) => h,
        }
    }
}

pub fn parse_bool(key: &str, v: &str) -> Result<bool, QbtError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(QbtError::bad_request(format!(
            "Invalid value for {key}: {v:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        p.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        p
    }

    #[test]
    fn booleans_are_case_insensitive() {
        let p = params(&[("a", "True"), ("b", "FALSE"), ("c", "maybe")]);
        assert_eq!(p.bool("a").unwrap(), Some(true));
        assert_eq!(p.bool("b").unwrap(), Some(false));
        assert_eq!(p.bool("z").unwrap(), None);
        assert!(p.bool("c").is_err());
    }

    #[test]
    fn hashes_are_all_or_a_list() {
        let h = "a".repeat(40);
        assert_eq!(params(&[("hashes", "All")]).hashes().unwrap(), Hashes::All);
        let list = params(&[("hashes", &format!("{h}|bad|{}", "B".repeat(40)))])
            .hashes()
            .unwrap();
        assert_eq!(
            list,
            Hashes::Some(vec![
                InfoHash::parse(&h).unwrap(),
                InfoHash::parse(&"b".repeat(40)).unwrap()
            ])
        );
        assert!(params(&[]).hashes().is_err());
    }

    #[test]
    fn lists_drop_blanks() {
        let p = params(&[("tags", " a, b ,,c ")]);
        assert_eq!(p.list("tags", ','), vec!["a", "b", "c"]);
    }
}
