//! The rate limiter in Redis, so every node counts against the same limits (SPEC §6.4).
//!
//! Same algorithm and answers as [`MemoryRateLimiter`](super::MemoryRateLimiter): a fixed window
//! per key, a block after the limit, and reserved slots for work that may fail. Each operation is
//! one Lua script, so it is atomic however many nodes race. The time is Redis' `TIME`, read inside
//! the script, so nodes with skewed clocks agree (Redis 7 replicates a script's effects, not the
//! script, so a script may read the clock). A key is one hash `{s, w, c, b}`: window start and
//! length, count, and blocked-until (0: none), all in Redis milliseconds. Every write sets
//! `PEXPIRE` to when both the window and the block are over, when the key would be reset anyway,
//! so nothing stays in Redis forever.
//!
//! Redis unreachable, or slower than the timeout (500 ms unless set): `hit` and `reserve` answer
//! [`Refusal::Unavailable`]; `fail` and `release` log and drop. A `reserve` that timed out may
//! still have taken its slot; it stays taken until the window ends, like a failed attempt.

use ::redis::Script;
use ::redis::aio::ConnectionManager;
use async_trait::async_trait;
use std::sync::LazyLock;
use std::time::Duration;

use super::{RateLimiter, Refusal};
use crate::config::LimitRule;

/// Loads the key's state, as of `now`, as `with_entry` does in the memory limiter: a missing key
/// is a fresh window, a block that is over is lifted, and a window that is over starts again.
/// `save()` writes it back and sets the expiry. Scripts answer -1 for yes, else the wait in ms.
const PRELUDE: &str = r#"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local block = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local e = redis.call('HMGET', KEYS[1], 's', 'w', 'c', 'b')
local s, w, c, b = tonumber(e[1]), tonumber(e[2]), tonumber(e[3]), tonumber(e[4])
if s == nil or w == nil or c == nil or b == nil then
  s, w, c, b = now, window, 0, 0
end
if b ~= 0 and now >= b then b = 0 end
if now >= s + w then s, w, c = now, window, 0 end
local function save()
  redis.call('HSET', KEYS[1], 's', s, 'w', w, 'c', c, 'b', b)
  local ttl = math.max(s + w, b) - now
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', KEYS[1], ttl)
end
"#;

const HIT: &str = r#"
if b > now then save() return b - now end
c = c + 1
if c > limit then
  b = now + block
  save()
  return block
end
save()
return -1
"#;

const RESERVE: &str = r#"
if b > now then save() return b - now end
if c >= limit then save() return s + w - now end
c = c + 1
save()
return -1
"#;

const FAIL: &str = r#"
if c >= limit then b = now + block end
save()
return -1
"#;

const RELEASE: &str = r#"
if c > 0 then c = c - 1 end
save()
return -1
"#;

struct Scripts {
    hit: Script,
    reserve: Script,
    fail: Script,
    release: Script,
}

static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| {
    let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
    Scripts {
        hit: script(HIT),
        reserve: script(RESERVE),
        fail: script(FAIL),
        release: script(RELEASE),
    }
});

/// Milliseconds stay exact in Lua's doubles far below 2^53; longer rules are clamped (~35,000
/// years).
const MAX_MILLIS: u64 = 1 << 50;

fn millis(secs: u64) -> u64 {
    secs.saturating_mul(1000).min(MAX_MILLIS)
}

/// A [`RateLimiter`] whose counters live in Redis, shared by every node that uses the same
/// Redis and prefix.
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl RedisRateLimiter {
    /// How long one call may take before the limiter answers `Unavailable`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// A limiter on `conn` (which reconnects by itself); every key is stored as `prefix` + key,
    /// e.g. with the prefix `"liar:rl:"`.
    pub fn new(conn: ConnectionManager, prefix: impl Into<String>) -> RedisRateLimiter {
        RedisRateLimiter {
            conn,
            prefix: prefix.into(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Bounds each Redis call by `timeout` instead of [`Self::DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> RedisRateLimiter {
        self.timeout = timeout;
        self
    }

    /// Runs one script on `key`: `Ok(None)` yes, `Ok(Some(wait))` refused, `Err` when Redis
    /// failed or did not answer in time (already logged).
    async fn run(
        &self,
        op: &'static str,
        script: &Script,
        key: &str,
        rule: LimitRule,
    ) -> Result<Option<Duration>, ()> {
        let mut conn = self.conn.clone();
        let mut invocation = script.prepare_invoke();
        invocation
            .key(format!("{}{key}", self.prefix))
            .arg(rule.limit)
            .arg(millis(rule.window_secs))
            .arg(millis(rule.block_secs));
        match tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut conn)).await {
            Ok(Ok(answer)) => Ok(u64::try_from(answer).ok().map(Duration::from_millis)),
            Ok(Err(error)) => {
                tracing::warn!(op, %error, "rate limiter: Redis failed");
                Err(())
            }
            Err(_) => {
                tracing::warn!(op, timeout = ?self.timeout, "rate limiter: Redis timed out");
                Err(())
            }
        }
    }

    async fn ask(
        &self,
        op: &'static str,
        script: &Script,
        key: &str,
        rule: LimitRule,
    ) -> Result<(), Refusal> {
        match self.run(op, script, key, rule).await {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(Refusal::Wait(wait)),
            Err(()) => Err(Refusal::Unavailable),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, rule: LimitRule) -> Result<(), Refusal> {
        self.ask("hit", &SCRIPTS.hit, key, rule).await
    }

    async fn reserve(&self, key: &str, rule: LimitRule) -> Result<(), Refusal> {
        self.ask("reserve", &SCRIPTS.reserve, key, rule).await
    }

    async fn fail(&self, key: &str, rule: LimitRule) {
        let _ = self.run("fail", &SCRIPTS.fail, key, rule).await;
    }

    async fn release(&self, key: &str, rule: LimitRule) {
        let _ = self.run("release", &SCRIPTS.release, key, rule).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_rules_are_clamped_to_exact_milliseconds() {
        assert_eq!(millis(20), 20_000);
        assert_eq!(millis(u64::MAX), MAX_MILLIS);
    }
}
