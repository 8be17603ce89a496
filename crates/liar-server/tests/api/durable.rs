//! Durable rooms (SPEC §3 "Durable rooms", §6.3): the real binary as a child process is killed
//! (SIGKILL) or stopped (SIGTERM) mid-game and started again on the same database; the same
//! games go on.

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

use crate::helpers::PASSWORD;
use crate::server::{Server, db_url};
use crate::ws_client::{EVENTS, StompClient, WAIT, room_topic};

/// Runs a whole test under a deadline, so nothing can hang.
async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

/// Fast games: no card-reading pause, long reconnect grace.
const GAME_ENV: &[(&str, &str)] = &[("LIAR_DEAL_SECS", "0"), ("LIAR_RECONNECT_GRACE_SECS", "60")];

pub(crate) fn settings() -> Value {
    json!({"hintRounds": 1, "hintSeconds": 30, "discussionSeconds": 0, "voteSeconds": 60,
           "defenseSeconds": 0, "guessSeconds": 30, "mode": "classic"})
}

pub(crate) struct Player {
    pub(crate) id: i64,
    pub(crate) access: String,
    pub(crate) ws: StompClient,
    pub(crate) card: Value,
    /// The last room `seq` this client saw.
    pub(crate) seen: u64,
}

impl Player {
    /// Reads room events until `pred` matches one; tracks `seen`.
    pub(crate) async fn until(&mut self, room: i64, pred: impl Fn(&Value) -> bool) -> Value {
        let topic = room_topic(room);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .ws
                .next_message_on(&topic, left)
                .await
                .unwrap_or_else(|| {
                    panic!(
                        "player {}: event never came: {:#?}",
                        self.id,
                        self.ws.summary()
                    )
                });
            if let Some(seq) = v["seq"].as_u64() {
                self.seen = self.seen.max(seq);
            }
            if pred(&v) {
                return v;
            }
        }
    }

    /// Reconnects to `server` (after a restart), gets the card back and resumes the room topic
    /// from the last `seq` it saw.
    pub(crate) async fn reconnect(&mut self, server: &Server, room: i64) {
        self.ws = StompClient::member_at(server.addr, &self.access).await;
        let card = self.ws.expect_event(EVENTS, "game.card").await;
        assert_eq!(
            card, self.card,
            "player {}: the same card after the restart",
            self.id
        );
        self.ws
            .subscribe_since(&room_topic(room), "room", self.seen)
            .await
            .expect("resubscribe");
    }
}

pub(crate) async fn account(http: &reqwest::Client, server: &Server, name: &str) -> (i64, String) {
    let r = http
        .post(server.url("/api/auth/register"))
        .json(&json!({"email": format!("{name}@example.com"), "username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "register {name}");
    let r = http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": format!("{name}@example.com"), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login {name}");
    let v: Value = r.json().await.unwrap();
    (
        v["userId"].as_i64().unwrap(),
        v["accessToken"].as_str().unwrap().to_owned(),
    )
}

pub(crate) async fn create_room(
    http: &reqwest::Client,
    server: &Server,
    access: &str,
    settings: Value,
) -> i64 {
    let r = http
        .post(server.url("/api/rooms"))
        .bearer_auth(access)
        .json(&json!({"name": "durable", "settings": settings}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["roomId"].as_i64().unwrap()
}

async fn get_room(http: &reqwest::Client, server: &Server, room: &str) -> (StatusCode, Value) {
    let r = http
        .get(server.url(&format!("/api/rooms/{room}")))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Members `names` (the first hosts) in one room with `settings`; the game started and every
/// player holding his card. Returns the room and the players in seat order.
async fn started_table(
    http: &reqwest::Client,
    server: &Server,
    prefix: &str,
    n: usize,
    settings: Value,
) -> (i64, Vec<Player>) {
    started_table_on(http, &vec![server; n], prefix, settings).await
}

/// As [`started_table`], with player `i` on `servers[i]` (the first creates the room on his).
pub(crate) async fn started_table_on(
    http: &reqwest::Client,
    servers: &[&Server],
    prefix: &str,
    settings: Value,
) -> (i64, Vec<Player>) {
    let mut players = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let (id, access) = account(http, server, &format!("{prefix}{i}")).await;
        let ws = StompClient::member_at(server.addr, &access).await;
        players.push(Player {
            id,
            access,
            ws,
            card: Value::Null,
            seen: 0,
        });
    }
    let room = create_room(http, servers[0], &players[0].access, settings).await;
    for p in &mut players[1..] {
        p.ws.command(room, "join", json!({})).await.expect("join");
    }
    for p in &mut players {
        p.ws.subscribe(&room_topic(room), "room")
            .await
            .expect("room topic");
    }
    for p in &mut players[1..] {
        p.ws.command(room, "ready", json!({"ready": true}))
            .await
            .expect("ready");
    }
    players[0]
        .ws
        .command(room, "start", json!({}))
        .await
        .expect("start");
    for p in &mut players {
        p.card = p.ws.expect_event(EVENTS, "game.card").await;
        p.until(room, |v| v["type"] == "game.started").await;
    }
    (room, players)
}

pub(crate) fn liar_of(players: &[Player]) -> i64 {
    let liars: Vec<i64> = players
        .iter()
        .filter(|p| p.card["role"] == "liar")
        .map(|p| p.id)
        .collect();
    assert_eq!(liars.len(), 1, "one liar");
    liars[0]
}

pub(crate) fn word_of(players: &[Player]) -> String {
    let p = players
        .iter()
        .find(|p| p.card["role"] == "citizen")
        .unwrap();
    p.card["word"].as_str().unwrap().to_owned()
}

pub(crate) fn index_of(players: &[Player], id: i64) -> usize {
    players.iter().position(|p| p.id == id).unwrap()
}

/// Every remaining hint turn, in order: the speaker named by `turn.started` hints.
pub(crate) async fn hint_all(room: i64, players: &mut [Player]) {
    loop {
        let next = players[0]
            .until(room, |v| {
                v["type"] == "turn.started" || v["type"] == "phase.changed"
            })
            .await;
        if next["type"] == "phase.changed" {
            if next["phase"] == "hints" || next["phase"] == "deal" {
                continue;
            }
            return;
        }
        let speaker = index_of(players, next["speaker"].as_i64().unwrap());
        let text = format!("hint of {}", players[speaker].id);
        let sent = players[speaker]
            .ws
            .command(room, "hint", json!({"text": text}))
            .await;
        // A replayed `turn.started` of a turn already played is refused; that is fine.
        if let Err(e) = sent {
            assert_eq!(e["code"], "NOT_YOUR_TURN", "{e}");
        }
    }
}

/// Votes of `voters` (by index): citizens name the liar, the liar names the first citizen.
pub(crate) async fn vote(room: i64, players: &mut [Player], voters: &[usize], liar: i64) {
    let citizen = players.iter().find(|p| p.id != liar).unwrap().id;
    for &i in voters {
        let target = if players[i].id == liar { citizen } else { liar };
        players[i]
            .ws
            .command(room, "vote", json!({"targetId": target}))
            .await
            .expect("vote");
    }
}

/// After the vote that exposed the liar: he guesses wrong; every player sees `game.ended`.
pub(crate) async fn liar_misses(room: i64, players: &mut [Player], liar: i64) -> Vec<Value> {
    let l = index_of(players, liar);
    players[l]
        .until(room, |v| {
            v["type"] == "phase.changed" && v["phase"] == "guess"
        })
        .await;
    players[l]
        .ws
        .command(room, "guess", json!({"word": "definitely not it"}))
        .await
        .expect("guess");
    let mut ended = Vec::new();
    for p in players.iter_mut() {
        ended.push(p.until(room, |v| v["type"] == "game.ended").await);
    }
    ended
}

/// The member's stored games.
pub(crate) async fn history(http: &reqwest::Client, server: &Server, access: &str) -> Vec<i64> {
    let page: Value = http
        .get(server.url("/api/users/me/games"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["gameId"].as_i64().unwrap())
        .collect()
}

async fn stored_games(dir: &std::path::Path) -> i64 {
    let pool = sqlx::SqlitePool::connect(&db_url(dir)).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM games")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_game_killed_during_the_vote_goes_on_after_a_restart_and_is_stored_once() {
    within(180, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let mut server = Server::start_with(dir.path(), 1, GAME_ENV).await;
        let (room, mut players) = started_table(&http, &server, "kv", 4, settings()).await;
        let (liar, word) = (liar_of(&players), word_of(&players));
        hint_all(room, &mut players).await;
        let citizens: Vec<usize> = (0..4).filter(|&i| players[i].id != liar).collect();
        vote(room, &mut players, &citizens[..2], liar).await;
        for p in players.iter_mut() {
            p.until(room, |v| v["type"] == "vote.progress" && v["cast"] == 2)
                .await;
        }
        let (_, before) = get_room(&http, &server, &room.to_string()).await;
        assert_eq!(before["game"]["phase"], "vote");

        server.kill();
        let server = Server::start_with(dir.path(), 2, GAME_ENV).await;

        let (status, after) = get_room(&http, &server, &room.to_string()).await;
        assert_eq!(status, StatusCode::OK, "the room is back: {after}");
        assert_eq!(after["status"], "playing");
        assert_eq!(after["game"]["phase"], "vote", "{after}");
        assert_eq!(
            after["game"]["hints"], before["game"]["hints"],
            "the same hints"
        );
        assert_eq!(
            after["game"]["order"], before["game"]["order"],
            "the same order"
        );
        assert_eq!(after["game"]["vote"]["cast"], 2, "the votes already cast");
        assert_eq!(
            after["game"]["deadline"], before["game"]["deadline"],
            "the same deadline"
        );
        assert_eq!(
            after["epoch"].as_i64(),
            Some(before["epoch"].as_i64().unwrap() + 1)
        );
        assert_eq!(after["members"].as_array().unwrap().len(), 4);

        for p in players.iter_mut() {
            p.reconnect(&server, room).await;
        }
        let rest: Vec<usize> = (0..4).filter(|i| !citizens[..2].contains(i)).collect();
        vote(room, &mut players, &rest, liar).await;
        let ended = liar_misses(room, &mut players, liar).await;
        for e in &ended {
            assert_eq!(e["winner"], "citizens", "{e}");
            assert_eq!(e["liarId"], liar, "the same liar");
            assert_eq!(e["word"], word, "the same word");
            assert_eq!(e["stored"], true);
            assert_eq!(e["gameId"], ended[0]["gameId"]);
        }
        let game_id = ended[0]["gameId"].as_i64().unwrap();
        for p in &players {
            assert_eq!(history(&http, &server, &p.access).await, vec![game_id]);
        }
        assert_eq!(stored_games(dir.path()).await, 1, "stored exactly once");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_hints_tells_every_client_exits_zero_and_the_game_goes_on() {
    within(180, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let env = [GAME_ENV, &[("LIAR_SHUTDOWN_GRACE_SECS", "5")]].concat();
        let mut server = Server::start_with(dir.path(), 1, &env).await;
        let (room, mut players) = started_table(&http, &server, "st", 4, settings()).await;
        let liar = liar_of(&players);
        let first = players[0]
            .until(room, |v| v["type"] == "turn.started")
            .await;
        let speaker = index_of(&players, first["speaker"].as_i64().unwrap());
        players[speaker]
            .ws
            .command(room, "hint", json!({"text": "first"}))
            .await
            .expect("hint");
        for p in players.iter_mut() {
            p.until(room, |v| v["type"] == "hint").await;
        }

        let started = Instant::now();
        let status = server.terminate(Duration::from_secs(8)).await;
        let status = status.expect("the process exits within the shutdown grace");
        assert!(status.success(), "exit 0, got {status:?}\n{}", server.log());
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        for p in players.iter_mut() {
            assert!(p.ws.closes_within(WAIT).await, "player {}: closed", p.id);
            let told = p.ws.messages_on(EVENTS);
            let notice = told.iter().find(|m| m["type"] == "server.shutdown");
            let notice = notice.unwrap_or_else(|| panic!("server.shutdown: {told:#?}"));
            assert!(notice["reconnectAfterMs"].as_u64().is_some(), "{notice}");
            let (code, reason) =
                p.ws.close
                    .clone()
                    .expect("a close frame, not a dropped socket");
            assert_eq!(code, 1012, "service restart, not 1006");
            assert!(!reason.is_empty());
        }

        let server = Server::start_with(dir.path(), 2, GAME_ENV).await;
        let (_, view) = get_room(&http, &server, &room.to_string()).await;
        assert_eq!(view["game"]["phase"], "hints", "{view}");
        assert_eq!(view["game"]["hints"].as_array().unwrap().len(), 1);
        for p in players.iter_mut() {
            p.reconnect(&server, room).await;
        }
        // The second speaker still has his turn: he hints, the rest follow.
        let second = index_of(&players, view["game"]["speaker"].as_i64().unwrap());
        players[second]
            .ws
            .command(room, "hint", json!({"text": "second"}))
            .await
            .expect("hint");
        hint_all(room, &mut players).await;
        vote(room, &mut players, &[0, 1, 2, 3], liar).await;
        let ended = liar_misses(room, &mut players, liar).await;
        assert_eq!(ended[0]["winner"], "citizens");
        assert_eq!(stored_games(dir.path()).await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadline_that_passed_while_the_server_was_down_fires_right_after_the_start() {
    within(120, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let env = [("LIAR_DEAL_SECS", "2"), ("LIAR_RECONNECT_GRACE_SECS", "60")];
        let mut server = Server::start_with(dir.path(), 1, &env).await;
        let (room, _players) = started_table(&http, &server, "dl", 3, settings()).await;
        let (_, view) = get_room(&http, &server, &room.to_string()).await;
        assert_eq!(view["game"]["phase"], "deal");
        server.kill();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let server = Server::start_with(dir.path(), 2, &env).await;
        let started = Instant::now();
        loop {
            let (_, view) = get_room(&http, &server, &room.to_string()).await;
            if view["game"]["phase"] == "hints" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "deal never ended: {view}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_rooms_mid_game_survive_a_restart() {
    within(400, async {
        const ROOMS: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let env = [
            ("LIAR_DEAL_SECS", "600"),
            ("LIAR_RECONNECT_GRACE_SECS", "600"),
        ];
        let mut server = Server::start_with(dir.path(), 1, &env).await;
        let tables: Vec<(i64, Vec<Player>)> = futures::stream::iter(0..ROOMS)
            .map(|t| {
                let (http, server) = (&http, &server);
                async move { started_table(http, server, &format!("r{t}p"), 3, settings()).await }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut before = HashMap::new();
        for (room, _) in &tables {
            let (_, view) = get_room(&http, &server, &room.to_string()).await;
            assert_eq!(view["status"], "playing");
            before.insert(*room, view);
        }
        server.kill();
        drop(tables);
        let server = Server::start_with(dir.path(), 2, &env).await;
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![("status", "playing".to_owned()), ("limit", "50".to_owned())];
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page: Value = http
                .get(server.url("/api/rooms"))
                .query(&q)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ids.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["roomId"].as_i64().unwrap()),
            );
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut distinct = ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            (ids.len(), distinct.len()),
            (ROOMS, ROOMS),
            "none lost, none doubled"
        );
        for (room, old) in &before {
            let (status, new) = get_room(&http, &server, old["code"].as_str().unwrap()).await;
            assert_eq!(status, StatusCode::OK, "the join code still works");
            assert_eq!(new["roomId"], *room);
            assert_eq!(
                crate::helpers::member_ids(&new),
                crate::helpers::member_ids(old)
            );
            assert!(
                new["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["connected"] == false),
                "everyone is away until he reconnects: {new}"
            );
            assert_eq!(new["game"]["order"], old["game"]["order"]);
            assert_eq!(new["game"]["deadline"], old["game"]["deadline"]);
            assert!(
                new["seq"].as_u64() >= old["seq"].as_u64(),
                "seq never goes backwards"
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_resuming_from_before_a_restart_gets_exactly_the_missed_events_or_a_snapshot_with_the_epoch()
 {
    within(180, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let env = [
            ("LIAR_RECONNECT_GRACE_SECS", "60"),
            ("LIAR_CHAT_PER_MEMBER__LIMIT", "10000"),
        ];
        let mut server = Server::start_with(dir.path(), 1, &env).await;
        let mut players = Vec::new();
        for name in ["sa", "sb", "sc"] {
            let (id, access) = account(&http, &server, name).await;
            let ws = StompClient::member_at(server.addr, &access).await;
            players.push(Player {
                id,
                access,
                ws,
                card: Value::Null,
                seen: 0,
            });
        }
        let room = create_room(&http, &server, &players[0].access, json!({})).await;
        for p in &mut players[1..] {
            p.ws.command(room, "join", json!({})).await.expect("join");
        }
        for p in &mut players {
            p.ws.subscribe(&room_topic(room), "room")
                .await
                .expect("room topic");
            p.until(room, |v| v["type"] == "room.snapshot").await;
        }
        // Player 2 leaves the socket at `seq` (his snapshot's), missing what follows.
        let missed_from = {
            let (_, view) = get_room(&http, &server, &room.to_string()).await;
            view["seq"].as_u64().unwrap()
        };
        for i in 0..20 {
            players[0]
                .ws
                .command(room, "chat", json!({"text": format!("m{i}")}))
                .await
                .expect("chat");
            // Under the 20 frames per second a connection may send.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let seen_by_0: Vec<Value> = {
            let mut v = Vec::new();
            while v.len() < 20 {
                v.push(players[0].until(room, |e| e["type"] == "chat").await);
            }
            v
        };
        server.kill();
        let server = Server::start_with(dir.path(), 2, &env).await;

        // Within the log: exactly the missed events, in order, as they were published.
        let mut late = StompClient::member_at(server.addr, &players[2].access).await;
        late.subscribe_since(&room_topic(room), "room", missed_from)
            .await
            .expect("resume");
        let mut replayed = Vec::new();
        while replayed.len() < 20 {
            let e = late
                .next_message_on(&room_topic(room), WAIT)
                .await
                .expect("replayed event");
            assert_ne!(e["type"], "room.snapshot", "the log has them: {e}");
            replayed.push(e);
        }
        assert_eq!(replayed, seen_by_0, "exactly the missed events");
        let seqs: Vec<u64> = replayed
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs,
            (missed_from + 1..=missed_from + 20).collect::<Vec<_>>()
        );

        // Past the log (more than 256 events later): a snapshot whose epoch says why.
        // 300 more events, from three sockets at under 20 frames per second each.
        let chats = futures::future::join_all((0..3).map(|who| {
            let (addr, access) = (server.addr, players[who].access.clone());
            async move {
                let mut c = StompClient::member_at(addr, &access).await;
                for i in 0..100 {
                    let text = json!({"text": format!("n{who}-{i}")});
                    c.send(&format!("/app/rooms/{room}/chat"), &text, None)
                        .await;
                    tokio::time::sleep(Duration::from_millis(60)).await;
                }
                c.command(room, "chat", json!({"text": "last"}))
                    .await
                    .expect("last chat");
            }
        }));
        chats.await;
        let mut old = StompClient::member_at(server.addr, &players[1].access).await;
        old.subscribe_since(&room_topic(room), "room", missed_from)
            .await
            .expect("resume");
        let first = old
            .next_message_on(&room_topic(room), WAIT)
            .await
            .expect("a snapshot");
        assert_eq!(first["type"], "room.snapshot", "{first}");
        assert_eq!(first["epoch"], 1, "one restart: epoch 1");
        assert!(first["seq"].as_u64().unwrap() > missed_from + 300);
        assert_eq!(
            first["room"]["chat"].as_array().unwrap().len(),
            50,
            "the last 50 chat lines"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saved_room_that_cannot_be_read_is_closed_and_the_others_resume() {
    within(120, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let mut server = Server::start_with(dir.path(), 1, GAME_ENV).await;
        let (a_id, a) = account(&http, &server, "ua").await;
        let (_, b) = account(&http, &server, "ub").await;
        let bad = create_room(&http, &server, &a, json!({})).await;
        let good = create_room(&http, &server, &b, json!({})).await;
        server.kill();
        let pool = sqlx::SqlitePool::connect(&db_url(dir.path()))
            .await
            .unwrap();
        sqlx::query("UPDATE rooms SET state = '{\"not\": \"a room\"}' WHERE id = ?")
            .bind(bad)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let server = Server::start_with(dir.path(), 2, GAME_ENV).await;
        assert_eq!(
            get_room(&http, &server, &bad.to_string()).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get_room(&http, &server, &good.to_string()).await.0,
            StatusCode::OK
        );
        assert!(server.log().contains("cannot be read"), "{}", server.log());
        let current = http
            .get(server.url("/api/rooms/current"))
            .bearer_auth(&a)
            .send()
            .await
            .unwrap();
        let in_room = current.status() == StatusCode::OK
            && current.json::<Value>().await.unwrap()["roomId"].is_i64();
        assert!(!in_room, "member {a_id} is in no room");
        drop(server);
        let server = Server::start_with(dir.path(), 3, GAME_ENV).await;
        assert_eq!(
            get_room(&http, &server, &good.to_string()).await.0,
            StatusCode::OK,
            "no crash loop"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigterm_as_a_game_ends_stores_its_result_before_the_database_closes() {
    within(180, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let mut server = Server::start_with(dir.path(), 1, GAME_ENV).await;
        let (room, mut players) = started_table(&http, &server, "se", 3, settings()).await;
        let liar = liar_of(&players);
        hint_all(room, &mut players).await;
        vote(room, &mut players, &[0, 1, 2], liar).await;
        let l = index_of(&players, liar);
        players[l]
            .until(room, |v| {
                v["type"] == "phase.changed" && v["phase"] == "guess"
            })
            .await;
        players[l]
            .ws
            .command(room, "guess", json!({"word": "not the word"}))
            .await
            .expect("guess");
        let status = server.terminate(Duration::from_secs(12)).await;
        assert!(status.expect("exits").success(), "{}", server.log());
        let log = server.log();
        assert!(!log.contains("storing a result failed"), "{log}");
        assert!(!log.contains("not stored yet"), "{log}");
        drop(server);
        let server = Server::start_with(dir.path(), 2, GAME_ENV).await;
        assert_eq!(stored_games(dir.path()).await, 1, "stored, once");
        for p in &players {
            assert_eq!(history(&http, &server, &p.access).await.len(), 1);
        }
    })
    .await;
}
