//! [`Hasher`]: argon2id hashing and checking, a bounded number at a time, each in a
//! work area of memory allocated once and then reused.
//!
//! One hash or check with argon2id's default parameters costs tens of milliseconds of
//! CPU and fills 19 MiB of memory, so it runs on tokio's blocking pool instead of
//! stalling an async worker, and only `concurrency` run at once: a job waits at most
//! [`PERMIT_WAIT`] for its turn, then is refused ([`AuthError::Busy`], a 429) rather than
//! queued without end.
//!
//! Bounding the jobs alone does not bound the memory. Allocating 19 MiB afresh per job
//! leaves it to the allocator, and glibc keeps freed blocks that large resident in
//! per-thread arenas; tokio's blocking pool runs jobs on many threads, so 200 logins at
//! once, two checks at a time, once grew the server's peak RSS by about 270 MiB. So the
//! hasher owns its work areas instead, at most one per permit: they are allocated on
//! first use and stay (`concurrency` × 19 MiB, also while idle), and the memory argon2
//! needs is exactly that, whatever the allocator does.
//!
//! Passwords only ever travel from the caller into the hash; nothing here logs them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AuthError;
use super::password::{DUMMY_HASH, internal};

/// How long a hash or check waits for its turn before it is refused as busy: long enough
/// to ride out an ordinary burst (one check takes tens of milliseconds), short enough
/// that a flood is turned away instead of piling up.
pub const PERMIT_WAIT: Duration = Duration::from_millis(500);
/// The wait suggested to a caller refused as busy.
pub const BUSY_RETRY: Duration = Duration::from_secs(1);

/// Runs argon2 jobs on the blocking pool, at most `concurrency` at once, in reused memory.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// Work areas not in use; a job takes one (or makes the first ones) and puts it back.
    // A std Mutex: it is only ever locked on a blocking thread, for a push or a pop.
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Hasher {
    /// A hasher running at most `concurrency` (at least 1) hashes or checks at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            areas: Arc::default(),
        }
    }

    /// Hashes a password with argon2id (default parameters) and a fresh random salt;
    /// returns the PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let password = password.to_owned();
        let salt = random_salt()?;
        self.run(move |area| hash_in(area, &password, &salt).map_err(internal))
            .await?
    }

    /// Verifies a password against a PHC string. A hash that does not parse or cannot be
    /// computed (corrupt data) verifies nothing: `false`, after logging the fact (not the
    /// hash).
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, AuthError> {
        let password = password.to_owned();
        let phc = phc.to_owned();
        self.run(move |area| match check_in(area, &password, &phc) {
            Ok(matches) => matches,
            Err(e) => {
                tracing::error!(error = %e, "stored password hash cannot be checked");
                false
            }
        })
        .await
    }

    /// Spends the same work as verifying a real password, for a user that does not exist.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), AuthError> {
        self.verify(password, DUMMY_HASH).await.map(drop)
    }

    /// Runs `job` with a work area on the blocking pool once a permit is free, or refuses
    /// it as busy.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = self.permit().await?;
        let areas = self.areas.clone();
        // The permit moves into the blocking job: if the request is abandoned while the
        // job runs, the job still finishes (blocking work cannot be cancelled) and must go
        // on counting against the bound until it does.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let lock = || areas.lock().unwrap_or_else(PoisonError::into_inner);
            let mut area = lock().pop().unwrap_or_default();
            let out = job(&mut area);
            lock().push(area);
            out
        })
        .await
        .map_err(internal)
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, AuthError> {
        let acquire = self.permits.clone().acquire_owned();
        match tokio::time::timeout(PERMIT_WAIT, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(internal(closed)),
            Err(_elapsed) => Err(AuthError::Busy {
                retry_after: BUSY_RETRY,
            }),
        }
    }
}

/// What [`Argon2::hash_password`] makes, computed in `area`.
fn hash_in(
    area: &mut Vec<Block>,
    password: &str,
    salt: &SaltString,
) -> password_hash::Result<String> {
    let argon2 = Argon2::default();
    let salt = salt.as_salt();
    let output = compute(area, &argon2, password, salt, Params::DEFAULT_OUTPUT_LEN)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params())?,
        salt: Some(salt),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// What [`argon2::PasswordVerifier::verify_password`] decides, computed in `area`:
/// the hash's own algorithm, version, parameters and salt, compared in constant time.
fn check_in(area: &mut Vec<Block>, password: &str, phc: &str) -> password_hash::Result<bool> {
    let hash = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash.as_ref()) else {
        return Ok(false);
    };
    let version = hash.version.map(Version::try_from).transpose()?;
    let argon2 = Argon2::new(
        Algorithm::try_from(hash.algorithm)?,
        version.unwrap_or_default(),
        Params::try_from(&hash)?,
    );
    let computed = compute(area, &argon2, password, salt, expected.len())?;
    // `Output`'s equality is constant-time.
    Ok(computed == *expected)
}

fn compute(
    area: &mut Vec<Block>,
    argon2: &Argon2<'_>,
    password: &str,
    salt: Salt<'_>,
    output_len: usize,
) -> password_hash::Result<Output> {
    let mut salt_buf = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let blocks = argon2.params().block_count();
    let mut own;
    let memory = if blocks <= Params::DEFAULT.block_count() {
        if area.len() < blocks {
            area.resize(blocks, Block::default());
        }
        &mut area[..blocks]
    } else {
        // Costlier than this server's own hashes (set by hand, or by a newer build):
        // checked in memory of its own, so the pooled areas stay their usual size.
        own = vec![Block::default(); blocks];
        &mut own[..]
    };
    Output::init_with(output_len, |out| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *memory)?;
        Ok(())
    })
}

fn random_salt() -> Result<SaltString, AuthError> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(internal)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    use argon2::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn hash_then_verify_roundtrip() {
        let h = Hasher::new(1);
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify("correct horse", &phc).await.unwrap());
        assert!(!h.verify("wrong horse!", &phc).await.unwrap());
    }

    #[tokio::test]
    async fn same_password_gets_different_salts() {
        let h = Hasher::new(1);
        let a = h.hash("correct horse").await.unwrap();
        let b = h.hash("correct horse").await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn corrupt_hash_verifies_nothing() {
        let h = Hasher::new(1);
        assert!(!h.verify("anything goes", "not-a-phc-string").await.unwrap());
        let no_hash = "$argon2id$v=19$m=19456,t=2,p=1$dG9ycmVudGVkZ2UtZHVtbXktc2FsdA";
        assert!(!h.verify("anything goes", no_hash).await.unwrap());
        let bad_version = DUMMY_HASH.replace("v=19", "v=7");
        assert!(!h.verify("anything goes", &bad_version).await.unwrap());
    }

    /// Hashes already stored (made by argon2's own hasher) keep verifying, and the
    /// hashes made here verify with argon2's own verifier, other parameters included.
    #[tokio::test]
    async fn agrees_with_argon2s_own_hasher_and_verifier() {
        let h = Hasher::new(1);
        let salt = random_salt().unwrap();
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(h.verify("correct horse", &theirs).await.unwrap());
        assert!(!h.verify("correct horsf", &theirs).await.unwrap());

        let ours = h.hash("correct horse").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .unwrap();

        // Cheaper, costlier and argon2i hashes are checked with their own parameters.
        for (algorithm, m_cost) in [
            (Algorithm::Argon2id, 8 * 1024),
            (Algorithm::Argon2id, 24 * 1024),
            (Algorithm::Argon2i, 4 * 1024),
        ] {
            let params = Params::new(m_cost, 1, 1, Some(24)).unwrap();
            let other = Argon2::new(algorithm, Version::V0x13, params)
                .hash_password(b"correct horse", &salt)
                .unwrap()
                .to_string();
            assert!(h.verify("correct horse", &other).await.unwrap(), "{other}");
            assert!(!h.verify("wrong horse", &other).await.unwrap(), "{other}");
        }
        // Only the default-sized area was kept.
        let areas = h.areas.lock().unwrap();
        assert_eq!(areas.len(), 1);
        assert_eq!(areas[0].len(), Params::DEFAULT.block_count());
    }

    #[tokio::test]
    async fn no_free_permit_within_the_wait_is_busy() {
        let h = Hasher::new(2);
        let held = [
            h.permits.clone().try_acquire_owned().unwrap(),
            h.permits.clone().try_acquire_owned().unwrap(),
        ];
        for refused in [
            h.verify_dummy("correct horse").await,
            h.hash("correct horse").await.map(drop),
        ] {
            match refused {
                Err(AuthError::Busy { retry_after }) => assert_eq!(retry_after, BUSY_RETRY),
                other => panic!("expected Busy, got {other:?}"),
            }
        }
        // A permit freed while a job waits is taken by it.
        let [first, _second] = held;
        let waiting = tokio::spawn({
            let h = h.clone();
            async move { h.verify_dummy("correct horse").await }
        });
        drop(first);
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn jobs_and_work_areas_never_exceed_the_permits() {
        let h = Hasher::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs = (0..6).map(|_| {
            let (h, running, peak) = (h.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                h.run(move |area| {
                    peak.fetch_max(running.fetch_add(1, SeqCst) + 1, SeqCst);
                    let checked = check_in(area, "correct horse", DUMMY_HASH);
                    running.fetch_sub(1, SeqCst);
                    checked.unwrap()
                })
                .await
            })
        });
        for job in futures::future::join_all(jobs).await {
            // Each waits at most PERMIT_WAIT: a refusal is fine, a third at once is not.
            match job.unwrap() {
                Ok(matched) => assert!(!matched),
                Err(AuthError::Busy { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let peak = peak.load(SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
        assert!((1..=2).contains(&h.areas.lock().unwrap().len()));
    }
}
