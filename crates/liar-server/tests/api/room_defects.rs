//! Defects of the room layer found while making rooms durable (issue G item 5), one test each.

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::*;
use crate::ws_client::{EVENTS, StompClient, WAIT, room_topic};

fn quick(language: &str) -> Value {
    json!({"hintRounds": 1, "hintSeconds": 10, "discussionSeconds": 0, "voteSeconds": 60,
           "defenseSeconds": 0, "guessSeconds": 10, "language": language})
}

/// `n` members in one room (the first hosts), each watching its topic.
async fn room_of(app: &TestApp, n: usize, settings: Value) -> (i64, Vec<(i64, StompClient)>) {
    let mut seats = Vec::new();
    for i in 0..n {
        let (id, tokens) = app.member(&format!("m{i}")).await;
        let ws = StompClient::member(app, &tokens_access(&tokens)).await;
        seats.push((id, tokens, ws));
    }
    let (room, _) = app
        .create_room(&tokens_access(&seats[0].1), "defects", settings)
        .await;
    for (_, _, ws) in &mut seats[1..] {
        ws.command(room, "join", json!({})).await.expect("join");
    }
    let mut out = Vec::new();
    for (id, _, mut ws) in seats {
        ws.watch(room).await;
        out.push((id, ws));
    }
    (room, out)
}

fn tokens_access(t: &Tokens) -> String {
    t.access.clone()
}

async fn ready(room: i64, seats: &mut [(i64, StompClient)]) {
    for (_, ws) in seats.iter_mut().skip(1) {
        ws.command(room, "ready", json!({"ready": true}))
            .await
            .expect("ready");
    }
}

#[tokio::test]
async fn a_member_who_dropped_in_the_lobby_is_not_dealt_in_and_the_vote_still_closes_early() {
    let app = spawn_app_with(|c| {
        c.deal_secs = 0;
        c.reconnect_grace_secs = 60;
    })
    .await;
    let (room, mut seats) = room_of(&app, 4, quick("ko")).await;
    ready(room, &mut seats).await;
    let (gone, ws) = seats.pop().unwrap();
    ws.close().await;
    let topic = room_topic(room);
    seats[0]
        .1
        .expect_message(&topic, |v| {
            v["type"] == "player.disconnected" && v["userId"] == gone
        })
        .await;
    seats[0]
        .1
        .command(room, "start", json!({}))
        .await
        .expect("start");
    let started = seats[0].1.expect_event(&topic, "game.started").await;
    let order: Vec<i64> = started["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(order.len(), 3, "three are here: {started}");
    assert!(
        !order.contains(&gone),
        "the absent member is not dealt in: {started}"
    );
    // Three hints, then three votes close the vote at once (60 s would be the deadline).
    for speaker in &order {
        let turn = seats[0].1.expect_event(&topic, "turn.started").await;
        assert_eq!(turn["speaker"], *speaker);
        let ws = &mut seats.iter_mut().find(|(id, _)| id == speaker).unwrap().1;
        ws.command(room, "hint", json!({"text": "a hint"}))
            .await
            .expect("hint");
    }
    seats[0]
        .1
        .expect_message(&topic, |v| {
            v["type"] == "phase.changed" && v["phase"] == "vote"
        })
        .await;
    let target = order[0];
    for (id, ws) in seats.iter_mut() {
        let t = if *id == target { order[1] } else { target };
        ws.command(room, "vote", json!({"targetId": t}))
            .await
            .expect("vote");
    }
    let result = seats[0].1.expect_event(&topic, "vote.result").await;
    assert_eq!(result["accused"], target, "{result}");
}

#[tokio::test]
async fn deleting_a_room_during_a_game_is_refused_with_in_game_and_the_game_goes_on() {
    let app = spawn_app_with(|c| c.deal_secs = 30).await;
    let (host, host_tokens) = app.member("host").await;
    let (room, _) = app
        .create_room(&host_tokens.access, "busy", quick("ko"))
        .await;
    let mut others = Vec::new();
    for name in ["bee", "cee"] {
        let (_, t) = app.member(name).await;
        let mut ws = StompClient::member(&app, &t.access).await;
        ws.command(room, "join", json!({})).await.expect("join");
        ws.command(room, "ready", json!({"ready": true}))
            .await
            .expect("ready");
        others.push(ws);
    }
    let mut ws = StompClient::member(&app, &host_tokens.access).await;
    ws.command(room, "start", json!({})).await.expect("start");
    let r = app.delete_room(&host_tokens.access, room).await;
    problem(r, reqwest::StatusCode::CONFLICT, "IN_GAME").await;
    let view = app.room(room).await;
    assert_eq!(view["status"], "playing", "{view}");
    assert_eq!(view["hostId"], host);
}

#[tokio::test]
async fn an_aborted_english_game_is_stored_with_the_english_word() {
    let app = spawn_app_with(|c| {
        c.deal_secs = 30;
        c.reconnect_grace_secs = 1;
    })
    .await;
    let (room, mut seats) = room_of(&app, 3, quick("en")).await;
    ready(room, &mut seats).await;
    seats[0]
        .1
        .command(room, "start", json!({}))
        .await
        .expect("start");
    let mut cards = Vec::new();
    for (id, ws) in seats.iter_mut() {
        cards.push((*id, ws.expect_event(EVENTS, "game.card").await));
    }
    let word = cards
        .iter()
        .find_map(|(_, c)| (c["role"] == "citizen").then(|| c["word"].as_str().unwrap().to_owned()))
        .unwrap();
    // A citizen leaves (the liar leaving would hand the citizens the win, not abort the game).
    let citizen = cards
        .iter()
        .position(|(_, c)| c["role"] == "citizen")
        .unwrap();
    let (_, ws) = seats.remove(citizen);
    ws.close().await;
    let topic = room_topic(room);
    // The grace (1 s) runs out, the player is out, two are left: the game is aborted.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = seats[0]
            .1
            .next_message_on(&topic, left)
            .await
            .expect("game.aborted");
        if e["type"] == "game.aborted" {
            break;
        }
    }
    // `game.aborted` goes out before the result is written; wait for the write.
    let sql = format!(
        "SELECT COUNT(*) FROM games WHERE aborted = TRUE AND word = '{}'",
        word.replace('\'', "''")
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while crate::testdb::count(&app.database_url, &sql).await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no aborted game stored with the English word {word}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = crate::testdb::count(&app.database_url, "SELECT COUNT(*) FROM games").await;
    assert_eq!(all, 1, "one game stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_private_queue_map_is_empty_again_after_ten_thousand_connections_come_and_go() {
    let app = spawn_app().await;
    let mut tokens = Vec::new();
    for i in 0..50 {
        tokens.push(app.member(&format!("q{i}")).await.1.access);
    }
    let tasks = tokens.into_iter().map(|access| {
        let addr = app.addr;
        tokio::spawn(async move {
            for _ in 0..200 {
                let ws = StompClient::member_at(addr, &access).await;
                ws.close().await;
            }
        })
    });
    for t in futures::future::join_all(tasks).await {
        t.expect("cycles");
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let queues = app.metric("liar_user_queues").await;
        if queues == 0.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queues} queues left after 10,000 cycles"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
