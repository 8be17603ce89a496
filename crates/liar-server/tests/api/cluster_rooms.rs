//! Rooms across nodes (SPEC §6.4, issue 13 item 4): three real `liar` processes sharing one
//! database (PostgreSQL, and again MariaDB, in `scripts/engines.sh`) and a Redis server the
//! test starts itself. A room is served by the node that created it; members on the other nodes
//! join, play and watch it through theirs.

use crate::cluster::{Nodes, start_nodes};
use crate::durable::{
    Player, account, hint_all, liar_misses, liar_of, settings, started_table_on, vote, word_of,
};
use crate::game::{Deal, audit_frames};
use crate::server::Server;
use crate::ws_client::{StompClient, room_topic};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

async fn within<T>(secs: u64, test: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

/// `POST /api/rooms` on `node`: the room is served by that node.
async fn create_room_on(c: &Nodes, node: usize, access: &str, settings: Value) -> i64 {
    crate::durable::create_room(&c.http, &c.nodes[node], access, settings).await
}

async fn room_view(c: &Nodes, node: usize, room: i64) -> Value {
    let r = c
        .http
        .get(c.nodes[node].url(&format!("/api/rooms/{room}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET room {room} on node {node}");
    r.json().await.unwrap()
}

fn member_ids(view: &Value) -> Vec<i64> {
    view["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["userId"].as_i64().unwrap())
        .collect()
}

/// Room events `ws` received on the room topic, in order.
fn room_events(ws: &StompClient, room: i64) -> Vec<Value> {
    ws.messages_on(&room_topic(room))
}

/// The `seq`s a subscriber saw must run without a gap or a repeat from its first frame on.
fn assert_contiguous(who: i64, events: &[Value]) -> Vec<u64> {
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(!seqs.is_empty(), "player {who} saw no room event");
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "player {who}: seq jumps from {} to {}: {seqs:?}",
            pair[0],
            pair[1]
        );
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_joins_over_three_nodes_into_a_room_of_eight_seat_exactly_seven() {
    let Some(c) = start_nodes(3, &[]).await else {
        return;
    };
    within(300, async {
        let (_, host) = account(&c.http, &c.nodes[0], "host").await;
        let room = create_room_on(&c, 0, &host, json!({"maxPlayers": 8})).await;
        let accounts = join_all((0..1000).map(|i| {
            let c = &c;
            async move { account(&c.http, &c.nodes[i % 3], &format!("j{i:04}")).await }
        }))
        .await;
        let mut clients = join_all(accounts.iter().enumerate().map(|(i, (_, access))| {
            let c = &c;
            async move { StompClient::member_at(c.nodes[i % 3].addr, access).await }
        }))
        .await;

        // Every join goes out in the same poll round, before any answer is awaited.
        let dest = format!("/app/rooms/{room}/join");
        let outcomes = join_all(clients.iter_mut().map(|ws| {
            let dest = &dest;
            async move {
                ws.send(dest, &json!({}), Some("join")).await;
                ws.expect_receipt_or_error("join", Duration::from_secs(120))
                    .await
            }
        }))
        .await;

        let seated: Vec<usize> = (0..outcomes.len())
            .filter(|&i| outcomes[i].is_ok())
            .collect();
        assert_eq!(seated.len(), 7, "exactly seven joins succeed");
        for refusal in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert_eq!(refusal["code"], "ROOM_FULL", "{refusal}");
        }
        let by_node = |n: usize| seated.iter().filter(|&&i| i % 3 == n).count();
        eprintln!(
            "seated through node 0/1/2: {}/{}/{}",
            by_node(0),
            by_node(1),
            by_node(2)
        );
        for node in 0..3 {
            let view = room_view(&c, node, room).await;
            assert_eq!(member_ids(&view).len(), 8, "node {node} sees 8 members");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_joining_twenty_rooms_on_three_nodes_at_once_ends_up_in_exactly_one() {
    let Some(c) = start_nodes(3, &[]).await else {
        return;
    };
    within(120, async {
        let mut rooms = Vec::new();
        for i in 0..20 {
            let (_, host) = account(&c.http, &c.nodes[i % 3], &format!("h{i:02}")).await;
            rooms.push(create_room_on(&c, i % 3, &host, json!({})).await);
        }
        let (me, access) = account(&c.http, &c.nodes[0], "roamer").await;
        // One socket per node, as a player with three tabs behind a load balancer.
        let mut sockets = Vec::new();
        for node in &c.nodes {
            sockets.push(StompClient::member_at(node.addr, &access).await);
        }
        let mut sends = Vec::new();
        for (i, room) in rooms.iter().enumerate() {
            sends.push((i % 3, format!("/app/rooms/{room}/join"), format!("j{i}")));
        }
        for (socket, dest, receipt) in &sends {
            sockets[*socket].send(dest, &json!({}), Some(receipt)).await;
        }
        let mut ok = 0;
        for (socket, _, receipt) in &sends {
            match sockets[*socket]
                .expect_receipt_or_error(receipt, Duration::from_secs(60))
                .await
            {
                Ok(()) => ok += 1,
                Err(e) => eprintln!("join refused: {e}"),
            }
        }
        assert!(ok >= 1, "at least one join succeeds");

        let mut holding = Vec::new();
        for (i, &room) in rooms.iter().enumerate() {
            if member_ids(&room_view(&c, (i + 1) % 3, room).await).contains(&me) {
                holding.push(room);
            }
        }
        assert_eq!(holding.len(), 1, "seated in exactly one room: {holding:?}");
        for node in 0..3 {
            let r = c
                .http
                .get(c.nodes[node].url("/api/rooms/current"))
                .bearer_auth(&access)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let view: Value = r.json().await.unwrap();
            assert_eq!(
                view["roomId"], holding[0],
                "node {node} agrees on the member's room"
            );
        }
        eprintln!(
            "{ok} of 20 joins answered OK; the member sits in room {}",
            holding[0]
        );
    })
    .await
}

/// Players on the nodes `homes` (the first hosts, on his node); the game started and every
/// player holding his card and watching the room on his own node.
async fn cluster_table(c: &Nodes, prefix: &str, homes: &[usize]) -> (i64, Vec<Player>) {
    cluster_table_with(c, prefix, homes, settings()).await
}

async fn cluster_table_with(
    c: &Nodes,
    prefix: &str,
    homes: &[usize],
    settings: Value,
) -> (i64, Vec<Player>) {
    let servers: Vec<&Server> = homes.iter().map(|&n| &c.nodes[n]).collect();
    started_table_on(&c.http, &servers, prefix, settings).await
}

fn deal_of(players: &[Player], started: &Value) -> Deal {
    Deal {
        order: started["order"]
            .as_array()
            .map(|o| o.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default(),
        liar: liar_of(players),
        word: word_of(players),
        cards: players
            .iter()
            .map(|p| (p.id, p.card.clone()))
            .collect::<HashMap<_, _>>(),
    }
}

/// Every player saw the same contiguous run of room events, and nothing secret early.
fn check_every_frame(room: i64, players: &[Player]) {
    let started = room_events(&players[0].ws, room)
        .into_iter()
        .find(|e| e["type"] == "game.started")
        .expect("game.started");
    let deal = deal_of(players, &started);
    let mut runs = Vec::new();
    for p in players {
        let events = room_events(&p.ws, room);
        let seqs = assert_contiguous(p.id, &events);
        runs.push((p.id, seqs, events));
        audit_frames(p.id, p.ws.frames(), std::slice::from_ref(&deal));
    }
    // The same events under the same numbers, wherever the player sits.
    let (_, _, reference) = &runs[0];
    let by_seq: HashMap<u64, &Value> = reference
        .iter()
        .filter_map(|e| Some((e["seq"].as_u64()?, e)))
        .collect();
    for (who, _, events) in &runs[1..] {
        for e in events {
            if let Some(seq) = e["seq"].as_u64()
                && let Some(same) = by_seq.get(&seq)
                && e["type"] != "room.snapshot"
            {
                assert_eq!(&e, same, "player {who}: event {seq} differs between nodes");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_game_with_players_on_three_nodes_plays_to_the_end_with_one_contiguous_seq() {
    let Some(c) = start_nodes(3, &[]).await else {
        return;
    };
    within(120, async {
        // The room is served by node 1; its players sit on nodes 1, 0, 2 and 0.
        let (room, mut players) = cluster_table(&c, "x", &[1, 0, 2, 0]).await;
        let liar = liar_of(&players);
        hint_all(room, &mut players).await;
        vote(room, &mut players, &[0, 1, 2, 3], liar).await;
        let ended = liar_misses(room, &mut players, liar).await;
        for e in &ended {
            assert_eq!(e["winner"], "citizens", "{e}");
            assert_eq!(e["stored"], true, "{e}");
        }
        let game_ids: Vec<&Value> = ended.iter().map(|e| &e["gameId"]).collect();
        assert!(game_ids.windows(2).all(|w| w[0] == w[1]), "{game_ids:?}");
        check_every_frame(room, &players);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_mid_game_the_game_finishes_logins_get_503_then_work_without_a_restart() {
    let Some(mut c) = start_nodes(3, &[]).await else {
        return;
    };
    within(180, async {
        c.register(2, "latecomer").await;
        // Turns of 10 s: the outage below outlasts one, so the room has news meanwhile.
        let mut quick = settings();
        quick["hintSeconds"] = json!(10);
        let (room, mut players) = cluster_table_with(&c, "r", &[0, 1, 2, 1], quick).await;
        let liar = liar_of(&players);
        let before = room_view(&c, 0, room).await["seq"].as_u64().unwrap();

        c.redis.kill();
        // New logins wait for Redis (sessions are shared through it): 503.
        let mut refused = false;
        for _ in 0..50 {
            if c.login(2, "latecomer").await.0 == StatusCode::SERVICE_UNAVAILABLE {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(refused, "a login while Redis is down answers 503");
        // A player on another node is told to try again, not left hanging.
        let remote = players[2]
            .ws
            .command(room, "hint", json!({"text": "anyone?"}))
            .await;
        assert_eq!(
            remote.as_ref().err().map(|e| e["code"].clone()),
            Some(json!("UNAVAILABLE")),
            "{remote:?}"
        );
        // The room goes on where it is served: its turn deadline fires during the outage.
        let mut during = before;
        for _ in 0..150 {
            during = room_view(&c, 0, room).await["seq"].as_u64().unwrap();
            if during > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(during > before, "the game went on without Redis");

        c.redis.restart();
        let mut back = false;
        for _ in 0..100 {
            if c.login(2, "latecomer").await.0 == StatusCode::OK {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            back,
            "logins work again once Redis is back, no node restarted"
        );
        for node in 0..3 {
            let mut ready = false;
            for _ in 0..100 {
                if c.ready(node).await == StatusCode::OK {
                    ready = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ready, "node {node} is ready again by itself");
        }

        // The game finishes with every player, wherever he sits.
        hint_all(room, &mut players).await;
        vote(room, &mut players, &[0, 1, 2, 3], liar).await;
        let ended = liar_misses(room, &mut players, liar).await;
        assert!(ended.iter().all(|e| e["stored"] == true));
        // What the room said during the outage reached the players on the other nodes too:
        // caught up from the room's log, without a gap.
        for p in &players {
            let seqs = assert_contiguous(p.id, &room_events(&p.ws, room));
            assert!(
                seqs.contains(&during),
                "player {} got event {during} from the outage: {seqs:?}",
                p.id
            );
        }
        check_every_frame(room, &players);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_room_list_codes_and_refusals_are_the_same_on_every_node() {
    let Some(c) = start_nodes(3, &[]).await else {
        return;
    };
    within(60, async {
        let (_, a) = account(&c.http, &c.nodes[0], "lister").await;
        let room = create_room_on(&c, 0, &a, json!({})).await;
        let view = room_view(&c, 0, room).await;
        let code = view["code"].as_str().unwrap().to_owned();
        for node in 0..3 {
            let list: Value = c
                .http
                .get(c.nodes[node].url("/api/rooms"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ids: Vec<i64> = list["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["roomId"].as_i64().unwrap())
                .collect();
            assert!(ids.contains(&room), "node {node} lists the room: {list}");
            // By join code too.
            let by_code = c
                .http
                .get(c.nodes[node].url(&format!("/api/rooms/{}", code.to_lowercase())))
                .send()
                .await
                .unwrap();
            assert_eq!(
                by_code.status(),
                StatusCode::OK,
                "node {node} knows the code"
            );
        }
        // A refusal from the room's node reaches a member on another node with its code.
        let (_, b) = account(&c.http, &c.nodes[2], "stranger").await;
        let mut ws = StompClient::member_at(c.nodes[2].addr, &b).await;
        let refused = ws.command(room, "ready", json!({"ready": true})).await;
        assert_eq!(
            refused.err().map(|e| e["code"].clone()),
            Some(json!("NOT_A_MEMBER"))
        );
        // A room that does not exist is not found on any node.
        let missing = ws.command(987_654, "join", json!({})).await;
        assert_eq!(
            missing.err().map(|e| e["code"].clone()),
            Some(json!("ROOM_NOT_FOUND"))
        );
        // Lobby events cross nodes: a watcher on node 1 sees a room created on node 2.
        let (_, w) = account(&c.http, &c.nodes[1], "watcher").await;
        let mut watcher = StompClient::member_at(c.nodes[1].addr, &w).await;
        watcher
            .subscribe("/topic/lobby", "lobby")
            .await
            .expect("lobby");
        let (_, d) = account(&c.http, &c.nodes[2], "maker").await;
        let made = create_room_on(&c, 2, &d, json!({})).await;
        let seen = watcher
            .expect_message("/topic/lobby", |v| {
                v["type"] == "room.created" && v["room"]["roomId"] == made
            })
            .await;
        assert_eq!(seen["room"]["hostName"], "maker");
    })
    .await
}
