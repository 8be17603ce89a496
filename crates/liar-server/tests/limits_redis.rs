//! The Redis rate limiter (SPEC §1.3, §6.4) against a real Redis server the test starts itself
//! on a free port (`common/redis.rs`): two "nodes" (two limiters with their own connections)
//! share one limit, it answers what the in-process limiter answers, keys expire, and a dead
//! Redis refuses quickly with `Unavailable` and is used again once it is back.
//!
//! Without a `redis-server` binary (`PATH` or `LIAR_TEST_REDIS_SERVER`) the tests are skipped
//! with a note; with `LIAR_TEST_REDIS=1` a missing binary fails them.

#[path = "common/redis.rs"]
mod redis_server;

use futures::future::join_all;
use liar_server::config::LimitRule;
use liar_server::ratelimit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter, Refusal};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis_server::{RedisServer, redis_server_binary};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PREFIX: &str = "liar:rl:";

/// A Redis server of the test's own, or `None` (with a note) when there is no binary and
/// `LIAR_TEST_REDIS` does not ask for one.
fn redis_or_skip(test: &str) -> Option<RedisServer> {
    if redis_server_binary().is_none() {
        let required = std::env::var("LIAR_TEST_REDIS").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "LIAR_TEST_REDIS is set but no redis-server was found (PATH or LIAR_TEST_REDIS_SERVER)"
        );
        eprintln!("note: {test} skipped: no redis-server (LIAR_TEST_REDIS=1 makes this a failure)");
        return None;
    }
    Some(RedisServer::start())
}

/// A connection of its own, as each node has.
async fn connection(server: &RedisServer) -> ConnectionManager {
    let client = redis::Client::open(server.url()).unwrap();
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_max_delay(Duration::from_millis(250));
    ConnectionManager::new_with_config(client, config)
        .await
        .unwrap()
}

/// One node's limiter.
async fn node(server: &RedisServer) -> Arc<RedisRateLimiter> {
    Arc::new(RedisRateLimiter::new(connection(server).await, PREFIX))
}

fn wait(r: Result<(), Refusal>) -> Duration {
    match r {
        Err(Refusal::Wait(d)) => d,
        other => panic!("expected a wait, got {other:?}"),
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_allow_exactly_the_limit_of_300_concurrent_hits() {
    let Some(server) = redis_or_skip("two_nodes_allow_exactly_the_limit") else {
        return;
    };
    let nodes = [node(&server).await, node(&server).await];
    let rule = LimitRule {
        limit: 50,
        window_secs: 60,
        block_secs: 120,
    };
    let answers = join_all((0..300).map(|i| {
        let node = nodes[i % 2].clone();
        tokio::spawn(async move { node.hit("login:ip:10.0.0.1", rule).await })
    }))
    .await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 50);
    for refused in answers.into_iter().filter(Result::is_err) {
        let d = wait(refused);
        assert!(d > secs(115.0) && d <= secs(120.0), "block, got {d:?}");
    }
    // Either node still refuses, with the block's remaining time; another key is free.
    for node in &nodes {
        let d = wait(node.hit("login:ip:10.0.0.1", rule).await);
        assert!(d > secs(115.0) && d <= secs(120.0), "got {d:?}");
    }
    assert_eq!(nodes[1].hit("login:ip:10.0.0.2", rule).await, Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_failed_reserves_lock_the_key_and_releases_give_slots_back() {
    let Some(server) = redis_or_skip("ten_failed_reserves_lock_the_key") else {
        return;
    };
    let [a, b] = [node(&server).await, node(&server).await];
    let rule = LimitRule {
        limit: 10,
        window_secs: 60,
        block_secs: 120,
    };

    // Ten failures, alternating nodes: the tenth locks the account for the block, not the window.
    let acct = "login:account:ann@example.com";
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(node.reserve(acct, rule).await, Ok(()), "attempt {i}");
        node.fail(acct, rule).await;
    }
    let d = wait(b.reserve(acct, rule).await);
    assert!(d > secs(115.0) && d <= secs(120.0), "locked, got {d:?}");
    a.release(acct, rule).await;
    let d = wait(a.reserve(acct, rule).await);
    assert!(d > secs(115.0), "a release does not lift a lock, got {d:?}");

    // Ten attempts in flight take every slot: the eleventh waits for the window, not a block.
    let acct = "login:account:bob@example.com";
    for _ in 0..10 {
        assert_eq!(a.reserve(acct, rule).await, Ok(()));
    }
    let d = wait(b.reserve(acct, rule).await);
    assert!(d > secs(55.0) && d <= secs(60.0), "window, got {d:?}");
    // A success on one node gives its slot back to the other.
    b.release(acct, rule).await;
    assert_eq!(a.reserve(acct, rule).await, Ok(()));
    assert!(b.reserve(acct, rule).await.is_err());
    // A failure while every slot is taken is the last slot failing: it locks the key.
    a.fail(acct, rule).await;
    let d = wait(b.reserve(acct, rule).await);
    assert!(d > secs(115.0), "locked, got {d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_reserves_on_two_nodes_take_exactly_the_limit() {
    let Some(server) = redis_or_skip("two_hundred_concurrent_reserves") else {
        return;
    };
    let nodes = [node(&server).await, node(&server).await];
    let rule = LimitRule {
        limit: 10,
        window_secs: 900,
        block_secs: 900,
    };
    let acct = "login:account:cy@example.com";
    let answers = join_all((0..200).map(|i| {
        let node = nodes[i % 2].clone();
        tokio::spawn(async move { node.reserve(acct, rule).await })
    }))
    .await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 10);
    for refused in answers.into_iter().filter(Result::is_err) {
        let d = wait(refused);
        assert!(d > secs(890.0) && d <= secs(900.0), "window, got {d:?}");
    }
    // All ten succeed: their slots come back, and exactly ten more fit.
    for i in 0..10 {
        nodes[i % 2].release(acct, rule).await;
    }
    let again = join_all((0..40).map(|i| nodes[i % 2].reserve(acct, rule))).await;
    assert_eq!(again.iter().filter(|a| a.is_ok()).count(), 10);
}

/// One step of a comparison script.
#[derive(Debug, Clone, Copy)]
enum Op {
    Hit,
    Reserve,
    Fail,
    Release,
}

async fn apply(l: &dyn RateLimiter, op: Op, key: &str, rule: LimitRule) -> Result<(), Refusal> {
    match op {
        Op::Hit => l.hit(key, rule).await,
        Op::Reserve => l.reserve(key, rule).await,
        Op::Fail => {
            l.fail(key, rule).await;
            Ok(())
        }
        Op::Release => {
            l.release(key, rule).await;
            Ok(())
        }
    }
}

/// Both answers alike: both yes, or both a wait within `slack` of each other.
fn assert_alike(
    memory: Result<(), Refusal>,
    redis: Result<(), Refusal>,
    slack: Duration,
    what: &str,
) {
    match (memory, redis) {
        (Ok(()), Ok(())) => {}
        (Err(Refusal::Wait(m)), Err(Refusal::Wait(r))) => {
            assert!(m.abs_diff(r) <= slack, "{what}: memory {m:?}, redis {r:?}")
        }
        (m, r) => panic!("{what}: memory {m:?}, redis {r:?}"),
    }
}

/// Seeded random operations within one window: the same yes/no answers and the same waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_redis_limiters_answer_alike_within_a_window() {
    let Some(server) = redis_or_skip("memory_and_redis_limiters_answer_alike") else {
        return;
    };
    let redis = node(&server).await;
    let rules = [
        LimitRule {
            limit: 3,
            window_secs: 30,
            block_secs: 60,
        },
        LimitRule {
            limit: 1,
            window_secs: 40,
            block_secs: 20,
        },
        LimitRule {
            limit: 5,
            window_secs: 50,
            block_secs: 0,
        },
    ];
    let ops = [Op::Hit, Op::Reserve, Op::Fail, Op::Release];
    for seed in [1u64, 7, 42, 1234] {
        let memory = MemoryRateLimiter::new(1000);
        let mut x = seed;
        let mut next = |n: usize| {
            // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for step in 0..150 {
            let k = next(rules.len());
            let op = ops[next(ops.len())];
            let key = format!("cmp:{seed}:{k}");
            let m = apply(&memory, op, &key, rules[k]).await;
            let r = apply(redis.as_ref(), op, &key, rules[k]).await;
            assert_alike(
                m,
                r,
                secs(1.0),
                &format!("seed {seed} step {step} {op:?} {key}"),
            );
        }
    }
}

/// One step of a timed comparison: an operation and whether it is allowed, or a sleep (ms).
#[derive(Debug, Clone, Copy)]
enum Step {
    Do(Op, bool),
    Sleep(u64),
}

async fn run_alike(
    memory: &MemoryRateLimiter,
    redis: &RedisRateLimiter,
    key: &str,
    steps: &[Step],
) {
    let rule = LimitRule {
        limit: 2,
        window_secs: 1,
        block_secs: 2,
    };
    for (i, &step) in steps.iter().enumerate() {
        let (op, allowed) = match step {
            Step::Do(op, allowed) => (op, allowed),
            Step::Sleep(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                continue;
            }
        };
        let m = apply(memory, op, key, rule).await;
        let r = apply(redis, op, key, rule).await;
        let what = format!("{key} step {i} {op:?}");
        assert_eq!(m.is_ok(), allowed, "{what}: memory {m:?}");
        assert_alike(m, r, secs(0.15), &what);
    }
}

/// 1 s windows and 2 s blocks: windows end, blocks end, a block outlives its window, and the
/// two limiters still answer alike. The sleeps keep every step ≥ 200 ms from any boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_and_redis_limiters_answer_alike_across_windows_and_blocks() {
    let Some(server) = redis_or_skip("memory_and_redis_limiters_answer_alike_across") else {
        return;
    };
    let redis = node(&server).await;
    let memory = MemoryRateLimiter::new(1000);
    use Op::*;
    use Step::*;
    let hits = [
        Do(Hit, true),
        Do(Hit, true),
        Do(Hit, false), // over the limit: blocked for 2 s
        Sleep(1300),
        Do(Hit, false), // the window is over, the block is not
        Sleep(1000),
        Do(Hit, true), // the block is over: a fresh window
        Do(Hit, true),
        Do(Hit, false),
    ];
    let reserves = [
        Do(Reserve, true),
        Do(Reserve, true),
        Do(Reserve, false), // both slots in flight: wait for the window
        Sleep(1200),
        Do(Reserve, true), // a new window
        Do(Fail, true),    // one of two slots failed: no block
        Do(Reserve, true),
        Do(Release, true),
        Do(Reserve, true),
        Do(Fail, true), // the last slot failed: blocked for 2 s
        Do(Reserve, false),
        Do(Release, true),
        Do(Reserve, false), // a release does not lift the block
        Sleep(1300),
        Do(Reserve, false), // the window is over, the block is not
        Sleep(1000),
        Do(Reserve, true),
    ];
    tokio::join!(
        run_alike(&memory, &redis, "cmp:hits", &hits),
        run_alike(&memory, &redis, "cmp:reserves", &reserves),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_expires_when_its_window_and_block_are_over() {
    let Some(server) = redis_or_skip("every_key_expires") else {
        return;
    };
    let limiter = node(&server).await;
    let mut raw = connection(&server).await;
    let rule = LimitRule {
        limit: 1,
        window_secs: 1,
        block_secs: 2,
    };
    assert_eq!(limiter.hit("exp:a", rule).await, Ok(()));
    let ttl: i64 = raw.pttl("liar:rl:exp:a").await.unwrap();
    assert!(ttl > 0 && ttl <= 1000, "the window's end, got {ttl} ms");
    assert!(limiter.hit("exp:a", rule).await.is_err());
    let ttl: i64 = raw.pttl("liar:rl:exp:a").await.unwrap();
    assert!(ttl > 1500 && ttl <= 2000, "the block's end, got {ttl} ms");
    limiter.release("exp:b", rule).await;
    limiter.fail("exp:c", rule).await;
    let mut keys: Vec<String> = raw.keys("*").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["liar:rl:exp:a", "liar:rl:exp:b", "liar:rl:exp:c"]);
    for key in &keys {
        let ttl: i64 = raw.pttl(key).await.unwrap();
        assert!(ttl > 0, "{key} expires, got {ttl}");
    }
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let left: Vec<String> = raw.keys("*").await.unwrap();
    assert!(left.is_empty(), "all expired, left {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_answers_unavailable_within_a_second_and_a_restarted_one_is_used_again() {
    let Some(mut server) = redis_or_skip("a_dead_redis_answers_unavailable") else {
        return;
    };
    let limiter = node(&server).await;
    let rule = LimitRule {
        limit: 3,
        window_secs: 60,
        block_secs: 120,
    };
    assert_eq!(limiter.hit("down:ip", rule).await, Ok(()));
    tokio::task::block_in_place(|| server.kill());

    for round in 0..2 {
        let started = Instant::now();
        assert_eq!(
            limiter.hit("down:ip", rule).await,
            Err(Refusal::Unavailable),
            "round {round}"
        );
        let took = started.elapsed();
        assert!(took < secs(1.0), "round {round}: hit took {took:?}");
        let started = Instant::now();
        assert_eq!(
            limiter.reserve("down:acct", rule).await,
            Err(Refusal::Unavailable),
            "round {round}"
        );
        let took = started.elapsed();
        assert!(took < secs(1.0), "round {round}: reserve took {took:?}");
        let started = Instant::now();
        limiter.fail("down:acct", rule).await;
        limiter.release("down:acct", rule).await;
        let took = started.elapsed();
        assert!(
            took < secs(2.0),
            "round {round}: fail and release took {took:?}"
        );
    }

    tokio::task::block_in_place(|| server.restart());
    let started = Instant::now();
    let back = loop {
        match limiter.hit("down:ip", rule).await {
            Ok(()) => break started.elapsed(),
            Err(Refusal::Unavailable) if started.elapsed() < secs(10.0) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            other => panic!("after the restart: {other:?}"),
        }
    };
    eprintln!("the limiter was back {back:?} after the restart");
    // The restarted Redis is empty (it keeps nothing on disk): counting starts again.
    assert_eq!(limiter.hit("down:ip", rule).await, Ok(()));
    assert_eq!(limiter.hit("down:ip", rule).await, Ok(()));
    assert!(matches!(
        limiter.hit("down:ip", rule).await,
        Err(Refusal::Wait(_))
    ));
    assert_eq!(limiter.reserve("down:acct", rule).await, Ok(()));
}
