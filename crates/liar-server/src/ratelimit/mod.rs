//! Rate limiting behind a port (`RateLimiter`) so scale-out can swap in a Redis script.
//!
//! The in-process limiter keeps a fixed window and a block per key in sharded maps. Expired keys
//! are swept, and the number of keys is bounded (unbounded caches were a seed defect, SPEC §7).
//! [`RedisRateLimiter`] gives the same answers from counters in Redis, so every node shares them
//! (SPEC §6.4).

mod redis;

pub use self::redis::RedisRateLimiter;

use async_trait::async_trait;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LimitRule;

/// Why a limiter refused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the limit: the caller must wait this long (`Retry-After`).
    Wait(Duration),
    /// The limiter cannot tell (its Redis is unreachable or too slow): refuse without counting,
    /// and without a wait to promise. The in-process limiter never answers this.
    Unavailable,
}

impl Refusal {
    /// The wait, when the refusal is a limit.
    pub fn wait(self) -> Option<Duration> {
        match self {
            Refusal::Wait(d) => Some(d),
            Refusal::Unavailable => None,
        }
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one event for `key`; over the limit, the key is blocked for `rule.block_secs`.
    /// `Err` carries how long the caller must wait, or that the limiter cannot tell.
    async fn hit(&self, key: &str, rule: LimitRule) -> Result<(), Refusal>;
    /// Takes one slot of `key`'s budget *before* the work it guards (a password check), in one
    /// atomic step: while the key is blocked, or all `rule.limit` slots of the window are taken
    /// (failed or still in flight), the caller is refused. Checking first and counting after
    /// the work would let a burst of concurrent attempts all pass the check (SPEC §1.3).
    async fn reserve(&self, key: &str, rule: LimitRule) -> Result<(), Refusal>;
    /// The reserved attempt failed: its slot stays taken, and the last slot blocks the key for
    /// `rule.block_secs` (the 10th failed login locks the account). A limiter that cannot record
    /// it logs and drops it.
    async fn fail(&self, key: &str, rule: LimitRule);
    /// The reserved attempt succeeded (or never ran): its slot is given back.
    async fn release(&self, key: &str, rule: LimitRule);
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    window: Duration,
    count: u32,
    blocked_until: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        now >= self.window_start + self.window && self.blocked_until.is_none_or(|b| now >= b)
    }
}

const SHARDS: usize = 16;

pub struct MemoryRateLimiter {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    hasher: RandomState,
    max_keys_per_shard: usize,
}

impl MemoryRateLimiter {
    pub fn new(max_keys: usize) -> MemoryRateLimiter {
        MemoryRateLimiter {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            max_keys_per_shard: (max_keys / SHARDS).max(16),
        }
    }

    fn with_entry<T>(
        &self,
        key: &str,
        rule: LimitRule,
        now: Instant,
        f: impl FnOnce(&mut Entry) -> T,
    ) -> T {
        let shard = &self.shards[self.hasher.hash_one(key) as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.max_keys_per_shard && !map.contains_key(key) {
            map.retain(|_, e| !e.expired(now));
            if map.len() >= self.max_keys_per_shard {
                // Still full of live keys: forget the oldest window rather than grow.
                if let Some(oldest) = map
                    .iter()
                    .filter(|(_, e)| e.blocked_until.is_none())
                    .min_by_key(|(_, e)| e.window_start)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        let window = Duration::from_secs(rule.window_secs);
        let entry = map.entry(key.to_owned()).or_insert(Entry {
            window_start: now,
            window,
            count: 0,
            blocked_until: None,
        });
        if entry.blocked_until.is_some_and(|b| now >= b) {
            entry.blocked_until = None;
        }
        if now >= entry.window_start + entry.window {
            entry.window_start = now;
            entry.window = window;
            entry.count = 0;
        }
        f(entry)
    }

    /// Removes every expired key; returns how many remain.
    pub fn sweep(&self) -> usize {
        let now = Instant::now();
        self.shards
            .iter()
            .map(|s| {
                let mut map = s.lock().unwrap_or_else(|p| p.into_inner());
                map.retain(|_, e| !e.expired(now));
                map.len()
            })
            .sum()
    }
}

fn blocked(entry: &Entry, now: Instant) -> Result<(), Refusal> {
    match entry.blocked_until {
        Some(until) if until > now => Err(Refusal::Wait(until - now)),
        _ => Ok(()),
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, rule: LimitRule) -> Result<(), Refusal> {
        let now = Instant::now();
        self.with_entry(key, rule, now, |e| {
            blocked(e, now)?;
            e.count += 1;
            if e.count > rule.limit {
                let block = Duration::from_secs(rule.block_secs);
                e.blocked_until = Some(now + block);
                return Err(Refusal::Wait(block));
            }
            Ok(())
        })
    }

    async fn reserve(&self, key: &str, rule: LimitRule) -> Result<(), Refusal> {
        let now = Instant::now();
        self.with_entry(key, rule, now, |e| {
            blocked(e, now)?;
            if e.count >= rule.limit {
                // Every slot is taken until the window ends (or a failure blocks the key).
                return Err(Refusal::Wait(
                    (e.window_start + e.window).saturating_duration_since(now),
                ));
            }
            e.count += 1;
            Ok(())
        })
    }

    async fn fail(&self, key: &str, rule: LimitRule) {
        let now = Instant::now();
        self.with_entry(key, rule, now, |e| {
            if e.count >= rule.limit {
                e.blocked_until = Some(now + Duration::from_secs(rule.block_secs));
            }
        })
    }

    async fn release(&self, key: &str, rule: LimitRule) {
        let now = Instant::now();
        self.with_entry(key, rule, now, |e| e.count = e.count.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: LimitRule = LimitRule {
        limit: 3,
        window_secs: 10,
        block_secs: 20,
    };

    #[tokio::test]
    async fn the_fourth_hit_blocks_for_the_block_time() {
        let l = MemoryRateLimiter::new(1000);
        for _ in 0..3 {
            assert!(l.hit("ip", RULE).await.is_ok());
        }
        let wait = l.hit("ip", RULE).await.unwrap_err().wait().unwrap();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        assert!(l.hit("ip", RULE).await.is_err(), "still blocked");
        assert!(l.hit("other", RULE).await.is_ok());
    }

    #[tokio::test]
    async fn reserved_slots_are_refused_beyond_the_limit_and_failures_lock_the_key() {
        let l = MemoryRateLimiter::new(1000);
        let rule = LimitRule {
            limit: 2,
            window_secs: 60,
            block_secs: 120,
        };
        assert!(l.reserve("acct", rule).await.is_ok());
        assert!(l.reserve("acct", rule).await.is_ok());
        // Both slots in flight: a third attempt waits for the window, not the block.
        let wait = l.reserve("acct", rule).await.unwrap_err().wait().unwrap();
        assert!(wait <= Duration::from_secs(60));
        l.release("acct", rule).await;
        assert!(l.reserve("acct", rule).await.is_ok());
        l.fail("acct", rule).await;
        let wait = l.reserve("acct", rule).await.unwrap_err().wait().unwrap();
        assert!(wait > Duration::from_secs(119), "blocked, got {wait:?}");
        l.release("acct", rule).await;
        assert!(
            l.reserve("acct", rule).await.is_err(),
            "a release does not lift a block"
        );
    }

    #[tokio::test]
    async fn the_key_count_stays_bounded() {
        let l = MemoryRateLimiter::new(SHARDS * 16);
        for i in 0..10_000 {
            let _ = l.hit(&format!("k{i}"), RULE).await;
        }
        assert!(l.sweep() <= SHARDS * 16);
    }
}
