//! Argon2id hashing on a few dedicated threads of their own, so a login storm queues for the
//! hasher instead of taking every core from game traffic (SPEC §1.1).
//!
//! The threads run at a lower CPU priority ([`HASH_THREAD_NICE`]): when the game's tokio
//! workers want a core, the scheduler prefers them and a login waits a little longer. On 2 cores
//! with 10,000 players a login storm still raises game p99 about 2.3× (2 → 4–6 ms) at either
//! priority: what remains is not CPU time but Argon2's 19 MiB per hash sweeping the shared
//! caches (docs/benchmarks.md, "login storm").

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::{Semaphore, oneshot};

use crate::config::HashCost;
use crate::domain::Password;

/// Nice value of the hashing threads (0 is normal, 19 the lowest): a contended core goes to the
/// game about ten times as often (CFS weights 1024 : 110).
pub const HASH_THREAD_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// One permit per hashing thread: waiting happens here, in async code, in arrival order.
    permits: Arc<Semaphore>,
    /// Jobs for the hashing threads; they exit when the last `Hasher` clone is dropped.
    jobs: mpsc::Sender<Job>,
    /// Verified against when the email is unknown, so a wrong email costs as long as a wrong
    /// password and response time does not reveal which accounts exist.
    dummy_hash: Arc<str>,
    /// Password checks started since the server began (also `liar_password_verifications_total`).
    verifications: Arc<AtomicU64>,
}

impl Hasher {
    pub fn new(cost: HashCost, concurrency: usize) -> anyhow::Result<Hasher> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy_hash = argon
            .hash_password(b"liar-dummy-password")
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        let threads = concurrency.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("liar-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hasher {
            params,
            permits: Arc::new(Semaphore::new(threads)),
            jobs,
            dummy_hash: dummy_hash.into(),
            verifications: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        let params = self.params.clone();
        self.run(move || {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
    }

    /// Checks a password against a stored PHC string (or the dummy when `stored` is `None`).
    pub async fn verify(&self, password: Password, stored: Option<String>) -> anyhow::Result<bool> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("liar_password_verifications_total").increment(1);
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self
            .run(move || {
                let parsed = PasswordHash::new(&stored)
                    .map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
                Ok(Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(ok && known)
    }

    /// How many password checks this hasher has started (login budgets are tested through it).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A panic in argon2 must not kill the thread: report it as an error instead.
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("password hashing panicked")));
                let _ = tx.send(out);
            }))
            .map_err(|_| anyhow::anyhow!("the hashing threads are gone"))?;
        rx.await?
    }
}

/// Lowers the calling thread's CPU priority to [`HASH_THREAD_NICE`]. On Linux a nice value is
/// per thread; elsewhere, and if the call fails, the thread keeps its priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: `gettid` has no preconditions; `setpriority` only reads its integer arguments and
    // affects the calling thread alone.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HASH_THREAD_NICE) != 0 {
            tracing::warn!("could not lower the password hashing threads' priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashing_runs_on_named_threads_at_lower_priority() {
        let cost = HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let hasher = Hasher::new(cost, 2).unwrap();
        let (name, nice) = hasher
            .run(|| {
                let name = std::thread::current().name().map(str::to_owned);
                // SAFETY: as in `lower_priority`; reads the calling thread's nice value.
                #[cfg(target_os = "linux")]
                let nice =
                    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
                #[cfg(not(target_os = "linux"))]
                let nice = HASH_THREAD_NICE;
                Ok((name, nice))
            })
            .await
            .unwrap();
        assert!(name.is_some_and(|n| n.starts_with("liar-hash-")));
        assert_eq!(nice, HASH_THREAD_NICE);
        // And it still hashes and verifies.
        let stored = hasher
            .hash(Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(
            hasher
                .verify(
                    Password::parse("correct horse battery").unwrap(),
                    Some(stored.clone())
                )
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(
                    Password::parse("wrong horse battery").unwrap(),
                    Some(stored)
                )
                .await
                .unwrap()
        );
    }
}
