//! Several nodes, one world (SPEC §6.4, issue 13): three real `liar` processes sharing one
//! database on the server of `LIAR_TEST_DATABASE_URL` (PostgreSQL, and again MariaDB, in
//! `scripts/engines.sh`) and a Redis server the test starts itself on a free port, so it can
//! kill it. Without a database server the tests say so and return: SQLite cannot be shared.

use crate::helpers::PASSWORD;
use crate::redis_server::{RedisServer, redis_server_binary};
use crate::server::Server;
use crate::testdb::{self, API_DATABASE_VAR, DropGuard};
use crate::ws_client::{EVENTS, StompClient};
use liar_server::store::{self, FinishedGame, FinishedPlayer};
use liar_stomp::Command;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tempfile::TempDir;
use tokio::time::Instant;

pub struct Nodes {
    pub nodes: Vec<Server>,
    /// Each node's environment, to start it again as the same node.
    envs: Vec<Vec<(String, String)>>,
    runs: u32,
    pub database_url: String,
    pub redis: RedisServer,
    pub http: reqwest::Client,
    _db: Option<DropGuard>,
    _dir: TempDir,
}

/// Starts `n` nodes on one fresh database and a Redis server of the test's own, or `None`
/// (with a note) where no database server is configured.
pub async fn start_nodes(n: usize, env: &[(&str, &str)]) -> Option<Nodes> {
    if std::env::var(API_DATABASE_VAR).is_err() {
        eprintln!("note: cluster tests need a database server (LIAR_TEST_DATABASE_URL)");
        return None;
    }
    assert!(
        redis_server_binary().is_some(),
        "cluster tests need redis-server (scripts/engines.sh installs it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let (url, db) = testdb::app_database(dir.path()).await;
    let redis = RedisServer::start();
    let redis_url = redis.url();
    let mut nodes = Vec::new();
    let mut envs = Vec::new();
    for i in 0..n {
        let node_id = format!("n{i}");
        let mut all: Vec<(String, String)> = vec![
            ("LIAR_DATABASE_URL".into(), url.clone()),
            ("LIAR_REDIS_URL".into(), redis_url.clone()),
            ("LIAR_NODE_ID".into(), node_id),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // The first node migrates the database; the others start on it at once.
        nodes.push(Server::start_with(dir.path(), i as u32, &pairs).await);
        envs.push(all);
    }
    Some(Nodes {
        nodes,
        envs,
        runs: n as u32,
        database_url: url,
        redis,
        http: reqwest::Client::new(),
        _db: db,
        _dir: dir,
    })
}

impl Nodes {
    /// Starts node `i` again (same node id, same settings) after it stopped.
    pub async fn restart(&mut self, i: usize) {
        self.runs += 1;
        let pairs: Vec<(&str, &str)> = self.envs[i]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.nodes[i] = Server::start_with(self._dir.path(), self.runs, &pairs).await;
    }

    pub async fn register(&self, node: usize, name: &str) -> i64 {
        let r = self
            .http
            .post(self.nodes[node].url("/api/auth/register"))
            .json(&json!({"email": format!("{name}@example.com"), "username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "register {name}");
        r.json::<Value>().await.unwrap()["userId"].as_i64().unwrap()
    }

    /// Logs `name` in on `node`: the status and, on success, the access token.
    pub async fn login(&self, node: usize, name: &str) -> (StatusCode, Option<String>) {
        let r = self
            .http
            .post(self.nodes[node].url("/api/auth/login"))
            .json(&json!({"email": format!("{name}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let token = body["accessToken"].as_str().map(str::to_owned);
        (status, token)
    }

    pub async fn me(&self, node: usize, access: &str) -> StatusCode {
        self.http
            .get(self.nodes[node].url("/api/users/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn ready(&self, node: usize) -> StatusCode {
        self.http
            .get(self.nodes[node].url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Waits for the `session.replaced` note and then the `SESSION_REPLACED` error with the close;
/// returns when the close arrived.
async fn replaced_and_closed(ws: &mut StompClient) -> Instant {
    let err = ws
        .next_error_frame(Duration::from_secs(10))
        .await
        .expect("the old socket gets an ERROR frame");
    let at = Instant::now();
    assert_eq!(err.code, "SESSION_REPLACED");
    assert!(err.closed, "the old socket is closed");
    let frames = ws.frames();
    let note = frames.iter().position(|f| {
        f.command == Command::Message
            && serde_json::from_slice::<Value>(&f.body)
                .is_ok_and(|v| v["type"] == "session.replaced")
    });
    let error = frames.iter().position(|f| f.command == Command::Error);
    assert!(
        note.is_some() && note < error,
        "session.replaced comes before the ERROR: {:?}",
        ws.summary()
    );
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_on_one_node_closes_the_old_socket_on_another_after_session_replaced() {
    let Some(c) = start_nodes(3, &[]).await else {
        return;
    };
    c.register(0, "ann").await;
    const TRIALS: usize = 200;
    let mut kicks = Vec::with_capacity(TRIALS);
    for trial in 0..TRIALS {
        let (a, b) = (trial % 3, (trial + 1) % 3);
        let (status, token) = c.login(b, "ann").await;
        assert_eq!(status, StatusCode::OK);
        let mut old = StompClient::member_at(c.nodes[b].addr, &token.unwrap()).await;
        // The new login happens on another node than the socket's.
        let started = Instant::now();
        let (status, _) = c.login(a, "ann").await;
        assert_eq!(status, StatusCode::OK);
        let closed = replaced_and_closed(&mut old).await;
        kicks.push(closed.saturating_duration_since(started));
    }
    kicks.sort();
    eprintln!(
        "cross-node kick (login request sent on node A -> old socket on node B closed), \
         {TRIALS} trials: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&kicks, 0.50),
        percentile(&kicks, 0.99),
        kicks[TRIALS - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_logins_of_one_member_over_three_nodes_leave_one_live_session() {
    // Every login really races: the per-account budget of attempts in flight is lifted.
    let Some(c) = start_nodes(3, &[("LIAR_LOGIN_FAILURES_PER_ACCOUNT__LIMIT", "1000")]).await
    else {
        return;
    };
    c.register(0, "bea").await;
    let c = std::sync::Arc::new(c);
    let logins = (0..300).map(|i| {
        let c = c.clone();
        tokio::spawn(async move { c.login(i % 3, "bea").await })
    });
    let mut tokens = Vec::new();
    for login in futures::future::join_all(logins).await {
        let (status, token) = login.unwrap();
        assert_eq!(status, StatusCode::OK);
        tokens.push(token.unwrap());
    }
    let mut live = 0;
    for (i, token) in tokens.iter().enumerate() {
        match c.me(i % 3, token).await {
            StatusCode::OK => live += 1,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(live, 1, "exactly one of 300 sessions is live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_missed_while_redis_was_down_still_closes_the_socket_on_the_other_node() {
    let Some(mut c) = start_nodes(2, &[("LIAR_SESSION_CHECK_SECS", "1")]).await else {
        return;
    };
    c.register(0, "cid").await;
    let (_, token) = c.login(1, "cid").await;
    let token = token.unwrap();
    let mut socket = StompClient::member_at(c.nodes[1].addr, &token).await;
    c.redis.kill();
    // The logout on node 0 cannot be announced over Redis: node 1's periodic check finds it.
    let r = c
        .http
        .post(c.nodes[0].url("/api/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let err = socket
        .next_error_frame(Duration::from_secs(10))
        .await
        .expect("the socket is closed by the session check");
    assert_eq!(err.code, "SESSION_REVOKED");
    let ended = socket.messages_on(EVENTS);
    assert!(
        ended.iter().any(|e| e["type"] == "session.ended"),
        "{ended:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_says_redis_is_down_and_recovers_by_itself() {
    let Some(mut c) = start_nodes(2, &[]).await else {
        return;
    };
    assert_eq!(c.ready(0).await, StatusCode::OK);
    c.redis.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = c.http.get(c.nodes[1].url("/readyz")).send().await.unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "UNAVAILABLE");
            assert!(
                body["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("Redis"),
                "{body}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "readyz never noticed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    for node in 0..2 {
        while c.ready(node).await != StatusCode::OK {
            assert!(Instant::now() < deadline, "node {node} never ready again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Revocations cross nodes again once the subscription is back.
    c.register(0, "dot").await;
    let (_, token) = c.login(1, "dot").await;
    let mut old = StompClient::member_at(c.nodes[1].addr, &token.unwrap()).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = c.login(0, "dot").await;
        assert_eq!(status, StatusCode::OK);
        if old.next_error_frame(Duration::from_secs(1)).await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "revocations never crossed again");
        // The old socket is still on the previous session; log in on its node again.
        let (_, token) = c.login(1, "dot").await;
        old = StompClient::member_at(c.nodes[1].addr, &token.unwrap()).await;
    }
}

fn game_of(key: &str, players: &[i64]) -> FinishedGame {
    FinishedGame {
        key: key.into(),
        room_name: format!("room {key}"),
        topic_id: "animals".into(),
        word: "사자".into(),
        mode: "classic".into(),
        winner: Some("citizens".into()),
        liar_id: Some(players[0]),
        players: players
            .iter()
            .map(|&id| FinishedPlayer {
                user_id: id,
                role: if id == players[0] { "liar" } else { "citizen" }.into(),
                voted_correctly: id != players[0],
                won: id != players[0],
                exp: 10,
            })
            .collect(),
        result_json: format!(r#"{{"key":"{key}"}}"#),
        started_at: 1_000,
        ended_at: 2_000,
    }
}

/// The keys of every entry of the results stream, in stream order.
async fn stream_keys(redis_url: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let entries: redis::streams::StreamRangeReply =
        redis::AsyncCommands::xrange_all(&mut conn, "liar:results")
            .await
            .unwrap();
    entries
        .ids
        .iter()
        .map(|e| {
            let payload: String = e.get("payload").expect("a payload field");
            let v: Value = serde_json::from_str(&payload).unwrap();
            v["key"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stored_result_reaches_the_redis_stream_once_even_across_a_redis_restart() {
    let Some(mut c) = start_nodes(3, &[]).await else {
        return;
    };
    let players = [
        c.register(0, "eve").await,
        c.register(1, "fay").await,
        c.register(2, "gus").await,
    ];
    let results = store::connect(&c.database_url, 4, Duration::from_secs(10))
        .await
        .unwrap();
    let record = |range: std::ops::Range<usize>| {
        let results = results.clone();
        futures::future::join_all(range.map(move |i| {
            let results = results.clone();
            async move {
                results
                    .record_game(game_of(&format!("g{i}"), &players))
                    .await
            }
        }))
    };
    for r in record(0..60).await {
        r.unwrap();
    }
    let redis_url = c.redis.url();
    let deadline = Instant::now() + Duration::from_secs(20);
    while stream_keys(&redis_url).await.len() < 60 {
        assert!(Instant::now() < deadline, "the results never all arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut first = stream_keys(&redis_url).await;
    first.sort();
    first.dedup();
    assert_eq!(
        first.len(),
        60,
        "each of 60 results once, from three relays"
    );
    // Redis goes away (and loses everything: nothing is kept on disk) while games are stored.
    c.redis.kill();
    for r in record(60..90).await {
        r.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let keys = loop {
        let keys = stream_keys(&redis_url).await;
        if keys.len() >= 30 {
            break keys;
        }
        assert!(
            Instant::now() < deadline,
            "the results stored meanwhile never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let keys_after = stream_keys(&redis_url).await;
    assert_eq!(keys, keys_after, "nothing more arrives");
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "no result twice: {keys:?}");
    let expected: std::collections::BTreeSet<String> = (60..90).map(|i| format!("g{i}")).collect();
    assert_eq!(
        sorted
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    assert!(
        results.outbox_batch(10).await.unwrap().is_empty(),
        "delivered records are deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_limit_per_ip_hammered_over_three_nodes_allows_exactly_the_limit_in_total() {
    let Some(c) = start_nodes(
        3,
        &[
            ("LIAR_LOGIN_PER_IP__LIMIT", "20"),
            ("LIAR_LOGIN_PER_IP__WINDOW_SECS", "120"),
            ("LIAR_LOGIN_PER_IP__BLOCK_SECS", "120"),
            ("LIAR_LOGIN_FAILURES_PER_ACCOUNT__LIMIT", "1000"),
        ],
    )
    .await
    else {
        return;
    };
    c.register(0, "hal").await;
    let c = std::sync::Arc::new(c);
    let attempts = (0..300).map(|i| {
        let c = c.clone();
        tokio::spawn(async move {
            let r = c
                .http
                .post(c.nodes[i % 3].url("/api/auth/login"))
                .json(&json!({"email": "hal@example.com", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            (r.status(), retry_after)
        })
    });
    let (mut ok, mut limited) = (0, 0);
    for a in futures::future::join_all(attempts).await {
        match a.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::TOO_MANY_REQUESTS, Some(wait)) => {
                assert!((1..=120).contains(&wait), "Retry-After {wait}");
                limited += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, limited), (20, 280), "the limit counts over all nodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_logins_answer_503_and_work_again_when_it_is_back_without_a_restart() {
    let Some(mut c) = start_nodes(2, &[]).await else {
        return;
    };
    c.register(0, "ivy").await;
    let (_, token) = c.login(1, "ivy").await;
    let token = token.unwrap();
    c.redis.kill();
    for node in 0..2 {
        let (status, _) = c.login(node, "ivy").await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "login on node {node}"
        );
        let r = c
            .http
            .post(c.nodes[node].url("/api/auth/register"))
            .json(&json!({"email": format!("new{node}@example.com"), "username": format!("new{node}"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], "UNAVAILABLE");
    }
    // What does not need Redis goes on: the session still works on both nodes.
    assert_eq!(c.me(0, &token).await, StatusCode::OK);
    assert_eq!(c.me(1, &token).await, StatusCode::OK);
    c.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    for node in 0..2 {
        loop {
            let (status, _) = c.login(node, "ivy").await;
            if status == StatusCode::OK {
                break;
            }
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(Instant::now() < deadline, "logins never worked again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
