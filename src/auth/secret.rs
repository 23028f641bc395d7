//! The JWT signing secret: taken from the configuration, or kept in `<data_dir>/jwt_secret`.
//!
//! On first start without `JWT_SECRET` the file is created with 64 random bytes, readable
//! by the owner only (mode 0600 on Unix). Later starts reuse it, so tokens survive
//! restarts. A file holding fewer than 32 bytes is refused rather than silently replaced:
//! replacing it would log every user out and hide whatever truncated it.

use std::io::{ErrorKind, Write};
use std::path::Path;

use rand::RngCore;

use super::AuthError;
use crate::config::Secret;

/// Shortest accepted secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Size of a generated secret, in bytes.
const GENERATED_SECRET_BYTES: usize = 64;
/// Name of the secret file inside the data directory.
pub const SECRET_FILE: &str = "jwt_secret";

/// Raw secret bytes. Never printed: `Debug` is redacted.
pub struct SecretBytes(Vec<u8>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBytes(***)")
    }
}

impl SecretBytes {
    /// The bytes, for building signing keys.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

/// The configured secret if there is one, else the one kept in the data directory.
pub async fn load(configured: Option<&Secret>, data_dir: &Path) -> Result<SecretBytes, AuthError> {
    match configured {
        Some(secret) => checked(secret.expose().as_bytes().to_vec(), "JWT_SECRET"),
        None => {
            let path = data_dir.join(SECRET_FILE);
            tokio::task::spawn_blocking(move || load_or_create(&path))
                .await
                .map_err(|e| AuthError::Secret(format!("loading the secret file failed: {e}")))?
        }
    }
}

/// Reads the secret file, creating it first if it does not exist.
fn load_or_create(path: &Path) -> Result<SecretBytes, AuthError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, &e))?;
    }
    match read_existing(path)? {
        Some(secret) => Ok(secret),
        None => match create(path)? {
            Some(secret) => Ok(secret),
            // Another process created it between our read and create: use theirs.
            None => read_existing(path)?.ok_or_else(|| {
                AuthError::Secret(format!("{} vanished while being created", path.display()))
            }),
        },
    }
}

/// The file's secret, or `None` if there is no file.
fn read_existing(path: &Path) -> Result<Option<SecretBytes>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            warn_if_shared(path);
            checked(bytes, &path.display().to_string()).map(Some)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, &e)),
    }
}

/// Writes a new random secret; `None` if the file already exists (never overwrites).
fn create(path: &Path) -> Result<Option<SecretBytes>, AuthError> {
    let mut file = match owner_only_options().open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(io_error(path, &e)),
    };
    let mut bytes = vec![0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, &e))?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(Some(SecretBytes(bytes)))
}

fn owner_only_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let shared = std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0);
    if shared {
        tracing::warn!(path = %path.display(), "JWT secret file is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

fn checked(bytes: Vec<u8>, source: &str) -> Result<SecretBytes, AuthError> {
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(AuthError::Secret(format!(
            "{source} holds {} bytes; at least {MIN_SECRET_BYTES} are required",
            bytes.len()
        )));
    }
    Ok(SecretBytes(bytes))
}

fn io_error(path: &Path, e: &std::io::Error) -> AuthError {
    AuthError::Secret(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generated_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested").join("data");
        let first = load(None, &data_dir).await.unwrap();
        assert_eq!(first.expose().len(), GENERATED_SECRET_BYTES);
        let path = data_dir.join(SECRET_FILE);
        assert_eq!(std::fs::read(&path).unwrap(), first.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = load(None, &data_dir).await.unwrap();
        assert_eq!(first.expose(), second.expose());
    }

    #[tokio::test]
    async fn short_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        std::fs::write(&path, [1u8; MIN_SECRET_BYTES - 1]).unwrap();
        let err = load(None, dir.path()).await.unwrap_err();
        assert!(matches!(err, AuthError::Secret(_)), "{err:?}");
        assert_eq!(std::fs::read(&path).unwrap().len(), MIN_SECRET_BYTES - 1);

        std::fs::write(&path, []).unwrap();
        assert!(load(None, dir.path()).await.is_err());
    }

    #[tokio::test]
    async fn configured_secret_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new("c".repeat(40));
        let got = load(Some(&secret), dir.path()).await.unwrap();
        assert_eq!(got.expose(), "c".repeat(40).as_bytes());
        assert!(!dir.path().join(SECRET_FILE).exists());
        assert!(load(Some(&Secret::new("short")), dir.path()).await.is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let dbg = format!("{:?}", SecretBytes(b"super-secret-bytes".to_vec()));
        assert!(!dbg.contains("super"));
    }
}
