//! Rooms over REST (SPEC §2.1–2.3): create, get, list/search/page, settings validation, delete.

use crate::helpers::*;
use crate::ws_client::StompClient;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;

/// `n` members named `{prefix}{i}`, each hosting a public room named by `room_name(i)`, created
/// one after another (so creation order is well defined). Returns the room ids, oldest first.
async fn rooms_by_distinct_hosts(
    app: &TestApp,
    prefix: &str,
    n: usize,
    room_name: impl Fn(usize) -> String,
) -> Vec<i64> {
    let members = join_all((0..n).map(|i| {
        let name = format!("{prefix}{i}");
        async move { app.member(&name).await }
    }))
    .await;
    let mut ids = Vec::new();
    for (i, (_, t)) in members.iter().enumerate() {
        ids.push(
            app.create_room(&t.access, &room_name(i), Value::Null)
                .await
                .0,
        );
    }
    ids
}

/// Every page of `GET /api/rooms` with `query` and `limit`, following `nextCursor`.
async fn all_pages(app: &TestApp, query: &[(&str, &str)], limit: usize) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let limit_s = limit.to_string();
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("limit", &limit_s));
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let r = app.list_rooms(&q).await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        pages.push(ids_of(&v));
        match v["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

fn ids_of(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["roomId"].as_i64().unwrap())
        .collect()
}

async fn list(app: &TestApp, query: &[(&str, &str)]) -> Value {
    let r = app.list_rooms(query).await;
    assert_eq!(r.status(), StatusCode::OK, "list {query:?}");
    r.json().await.unwrap()
}

#[tokio::test]
async fn creating_a_room_seats_the_creator_as_host_with_default_settings() {
    let app = spawn_app().await;
    let (ann, t) = app.member("ann").await;
    let r = app
        .post_room(
            &t.access,
            json!({"name": "Friday night", "settings": {"maxPlayers": 6}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["roomId"].as_i64().expect("numeric roomId");
    let code = created["code"].as_str().expect("code");
    assert_eq!(code.chars().count(), 6, "a 6-character join code: {code}");

    let room = app.room(id).await;
    assert_eq!(room["roomId"], id);
    assert_eq!(room["code"], code);
    assert_eq!(room["name"], "Friday night");
    assert_eq!(room["hostId"], ann);
    assert_eq!(room["status"], "waiting");
    assert_eq!(room["private"], false);
    assert_eq!(
        room["settings"],
        json!({"maxPlayers": 6, "mode": "classic", "hintRounds": 2, "hintSeconds": 30,
               "discussionSeconds": 60, "voteSeconds": 30, "defenseSeconds": 30,
               "guessSeconds": 30, "tiePolicy": "liar_wins", "onHostLeave": "close",
               "topicId": "random", "language": "ko"})
    );
    let members = room["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["userId"], ann);
    assert_eq!(members[0]["username"], "ann");
    assert_eq!(members[0]["ready"], false);
    assert!(members[0]["connected"].is_boolean());
}

#[tokio::test]
async fn a_room_can_be_fetched_by_its_join_code() {
    let app = spawn_app().await;
    let (_, t) = app.member("bob").await;
    let (id, code) = app.create_room(&t.access, "by code", Value::Null).await;
    let r = app.get_room(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let room: Value = r.json().await.unwrap();
    assert_eq!(room["roomId"], id);
    assert_eq!(room["code"], code);
}

#[tokio::test]
async fn an_unknown_room_is_room_not_found() {
    let app = spawn_app().await;
    let (_, t) = app.member("cal").await;
    problem(
        app.get_room("987654").await,
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    .await;
    problem(
        app.get_room("QQQQQQ").await,
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    .await;
    problem(
        app.delete_room(&t.access, 987654).await,
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn creating_a_room_needs_a_token() {
    let app = spawn_app().await;
    let r = app.post("/api/rooms", json!({"name": "anon"})).await;
    problem(r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn settings_validation_lists_every_bad_field() {
    let app = spawn_app().await;
    let (_, t) = app.member("dan").await;
    let r = app
        .post_room(
            &t.access,
            json!({"name": "bad", "settings": {
                "maxPlayers": 2, "hintRounds": 4, "hintSeconds": 9, "discussionSeconds": 301,
                "voteSeconds": 0, "defenseSeconds": 121, "guessSeconds": 500,
                "mode": "chaos", "tiePolicy": "coin", "onHostLeave": "stay", "language": "fr",
                "topicId": "no-such-topic"}}),
        )
        .await;
    let v = problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
    let fields: Vec<String> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for bad in [
        "maxPlayers",
        "hintRounds",
        "hintSeconds",
        "discussionSeconds",
        "voteSeconds",
        "defenseSeconds",
        "guessSeconds",
        "mode",
        "tiePolicy",
        "onHostLeave",
        "language",
        "topicId",
    ] {
        assert!(
            fields
                .iter()
                .any(|f| f == bad || f.ends_with(&format!(".{bad}"))),
            "{bad} missing from {fields:?}"
        );
    }
    // Nothing was created.
    assert_eq!(list(&app, &[]).await["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn room_names_must_be_one_to_thirty_characters() {
    let app = spawn_app().await;
    let (_, t) = app.member("eve").await;
    for name in [json!(""), json!("x".repeat(31)), json!(null)] {
        let v = problem(
            app.post_room(&t.access, json!({ "name": name })).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(v["errors"][0]["field"], "name", "{name}: {v}");
    }
    // A wrong type is a client error too.
    let r = app.post_room(&t.access, json!({"name": 7})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Characters, not bytes: thirty Hangul syllables are fine.
    let long = "가".repeat(30);
    let (id, _) = app.create_room(&t.access, &long, Value::Null).await;
    assert_eq!(app.room(id).await["name"], long);
    let (_, t2) = app.member("eva").await;
    app.create_room(&t2.access, "x", Value::Null).await;
}

#[tokio::test]
async fn a_password_room_is_private_and_never_shows_its_password() {
    let app = spawn_app().await;
    let (_, t) = app.member("fay").await;
    let (id, _) = app
        .create_room_with(
            &t.access,
            json!({"name": "secret club", "password": "hunter2"}),
        )
        .await;
    let r = app.get_room(&id.to_string()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let room: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(room["private"], true);
    assert!(room.get("password").is_none());
}

#[tokio::test]
async fn the_list_is_newest_first_and_hides_private_rooms() {
    let app = spawn_app().await;
    let ids = rooms_by_distinct_hosts(&app, "gus", 4, |i| format!("room {i}")).await;
    let (_, p) = app.member("pia").await;
    let (private_id, _) = app
        .create_room_with(&p.access, json!({"name": "room hidden", "password": "pw"}))
        .await;
    let v = list(&app, &[]).await;
    let listed = ids_of(&v);
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(listed, newest_first);
    assert!(!listed.contains(&private_id));
    assert_eq!(v["nextCursor"], Value::Null);
    // A summary carries what the lobby needs.
    let first = &v["items"][0];
    assert_eq!(first["name"], "room 3");
    assert_eq!(first["hostName"], "gus3");
    assert_eq!(first["members"], 1);
    assert_eq!(first["maxPlayers"], 8);
    assert_eq!(first["status"], "waiting");
    assert_eq!(first["private"], false);
    assert_eq!(first["code"].as_str().unwrap().len(), 6);
    assert!(first["hostId"].is_i64());
}

#[tokio::test]
async fn search_matches_room_names_and_host_names_case_insensitively() {
    let app = spawn_app().await;
    let (_, a) = app.member("Annabel").await;
    let (_, b) = app.member("bruno").await;
    let (_, c) = app.member("carla").await;
    let (_, d) = app.member("dora").await;
    let (friday, _) = app
        .create_room(&a.access, "Friday Night", Value::Null)
        .await;
    let (brunch, _) = app
        .create_room(&b.access, "sunday brunch", Value::Null)
        .await;
    let (late, _) = app.create_room(&c.access, "late FRIDAY", Value::Null).await;
    // Private rooms stay out of searches too.
    app.create_room_with(
        &d.access,
        json!({"name": "friday secret", "password": "pw"}),
    )
    .await;

    assert_eq!(
        ids_of(&list(&app, &[("q", "friday")]).await),
        vec![late, friday]
    );
    assert_eq!(
        ids_of(&list(&app, &[("q", "FrIdAy nI")]).await),
        vec![friday]
    );
    // Host name, any case, substring.
    assert_eq!(ids_of(&list(&app, &[("q", "ANNA")]).await), vec![friday]);
    assert_eq!(ids_of(&list(&app, &[("q", "run")]).await), vec![brunch]);
    assert_eq!(
        ids_of(&list(&app, &[("q", "zzz")]).await),
        Vec::<i64>::new()
    );
    // Wildcard characters are literal.
    assert_eq!(ids_of(&list(&app, &[("q", "%")]).await), Vec::<i64>::new());
    assert_eq!(ids_of(&list(&app, &[("q", "_")]).await), Vec::<i64>::new());
}

#[tokio::test]
async fn cursor_paging_walks_every_room_once_newest_first_even_while_rooms_are_created() {
    let app = spawn_app().await;
    let ids = rooms_by_distinct_hosts(&app, "hal", 23, |i| format!("page {i}")).await;
    let expected: Vec<i64> = ids.iter().rev().copied().collect();

    let pages = all_pages(&app, &[], 5).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [5, 5, 5, 5, 3]
    );
    assert_eq!(pages.concat(), expected);

    // Rooms created between two page requests do not shift the rest of the walk.
    let r = app.list_rooms(&[("limit", "5")]).await;
    let first: Value = r.json().await.unwrap();
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    rooms_by_distinct_hosts(&app, "ivy", 3, |i| format!("new {i}")).await;
    let mut seen = ids_of(&first);
    let mut cursor = Some(cursor);
    while let Some(c) = cursor {
        let v = list(&app, &[("limit", "5"), ("cursor", &c)]).await;
        seen.extend(ids_of(&v));
        cursor = v["nextCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, expected, "no duplicates, no gaps");
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len());

    // Paging a search works the same way.
    let pages = all_pages(&app, &[("q", "PAGE 1")], 4).await;
    let want: Vec<i64> = expected
        .iter()
        .copied()
        .filter(|id| {
            let i = ids.iter().position(|x| x == id).unwrap();
            format!("page {i}").contains("page 1")
        })
        .collect();
    assert_eq!(pages.concat(), want);
}

#[tokio::test]
async fn limit_is_at_most_fifty() {
    let app = spawn_app().await;
    rooms_by_distinct_hosts(&app, "jo", 55, |i| format!("big {i}")).await;
    let v = list(&app, &[("limit", "50")]).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 50);
    assert!(v["nextCursor"].is_string());
    // Over 50 is either refused or capped; it never returns more than 50.
    let r = app.list_rooms(&[("limit", "51")]).await;
    match r.status() {
        StatusCode::OK => {
            let v: Value = r.json().await.unwrap();
            assert!(
                v["items"].as_array().unwrap().len() <= 50,
                "limit not enforced"
            );
        }
        _ => {
            problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
        }
    }
    // Nonsense is a client error, never a 500.
    for q in [
        ("limit", "-1"),
        ("limit", "abc"),
        ("cursor", "not-a-cursor"),
    ] {
        let r = app.list_rooms(&[q]).await;
        assert!(r.status().is_client_error(), "{q:?}: {}", r.status());
    }
}

#[tokio::test]
async fn the_status_filter_selects_waiting_or_playing_rooms() {
    let app = spawn_app().await;
    let ids = rooms_by_distinct_hosts(&app, "kim", 2, |i| format!("s {i}")).await;
    let waiting = ids_of(&list(&app, &[("status", "waiting")]).await);
    assert_eq!(waiting, vec![ids[1], ids[0]]);
    assert!(ids_of(&list(&app, &[("status", "playing")]).await).is_empty());
    problem(
        app.list_rooms(&[("status", "sleeping")]).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    )
    .await;
}

#[tokio::test]
async fn only_the_host_may_delete_a_room() {
    let app = spawn_app().await;
    let (_, host) = app.member("lea").await;
    let (_, other) = app.member("max").await;
    let (id, _) = app.create_room(&host.access, "doomed", Value::Null).await;
    // A member who is not the host.
    let mut ws = StompClient::member(&app, &other.access).await;
    ws.command(id, "join", json!({})).await.expect("join");
    problem(
        app.delete_room(&other.access, id).await,
        StatusCode::FORBIDDEN,
        "NOT_HOST",
    )
    .await;
    // Someone who is not even in the room.
    let (_, stranger) = app.member("ned").await;
    let (s, c) = code_of(app.delete_room(&stranger.access, id).await).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(["NOT_HOST", "NOT_A_MEMBER"].contains(&c.as_str()), "{c}");
    assert_eq!(app.room(id).await["roomId"], id, "still there");
    let r = app
        .client
        .delete(app.url(&format!("/api/rooms/{id}")))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;

    let r = app.delete_room(&host.access, id).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        app.get_room(&id.to_string()).await,
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    .await;
    assert!(ids_of(&list(&app, &[]).await).is_empty());
    // The former host is free to create another room.
    app.create_room(&host.access, "again", Value::Null).await;
}

#[tokio::test]
async fn creating_a_second_room_closes_the_first_when_its_host_leave_policy_is_close() {
    let app = spawn_app().await;
    let (nia, t) = app.member("nia").await;
    let (first, _) = app.create_room(&t.access, "first", Value::Null).await;
    let (second, _) = app.create_room(&t.access, "second", Value::Null).await;
    problem(
        app.get_room(&first.to_string()).await,
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    .await;
    assert_eq!(member_ids(&app.room(second).await), vec![nia]);
    assert_eq!(ids_of(&list(&app, &[]).await), vec![second]);
}

// ---- The caller's own room: GET /api/rooms/current -----------------------------------------

/// `GET /api/rooms/current` with `access` (or without a token when `None`).
async fn current(app: &TestApp, access: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url("/api/rooms/current"));
    if let Some(access) = access {
        req = req.bearer_auth(access);
    }
    req.send().await.unwrap()
}

/// `GET /api/rooms/current`, asserting 200; the Room body.
async fn current_room(app: &TestApp, access: &str) -> Value {
    let r = current(app, Some(access)).await;
    assert_eq!(r.status(), StatusCode::OK, "GET /api/rooms/current");
    r.json().await.unwrap()
}

/// "Not in a room" is an ordinary answer: 204 with an empty body, never an error status.
async fn not_in_room(app: &TestApp, access: &str) {
    let r = current(app, Some(access)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "GET /api/rooms/current");
    assert_eq!(r.text().await.unwrap(), "");
}

#[tokio::test]
async fn the_current_room_follows_the_seat_from_create_and_join_to_leave() {
    let app = spawn_app().await;
    let (ola, host) = app.member("ola").await;
    let (pia, guest) = app.member("pia").await;
    not_in_room(&app, &host.access).await;
    not_in_room(&app, &guest.access).await;

    // The creator is seated: his current room is the room, exactly as GET /api/rooms/{id} has it.
    let (room, code) = app.create_room(&host.access, "mine", Value::Null).await;
    let seen = current_room(&app, &host.access).await;
    assert_eq!(seen, app.room(room).await);
    assert_eq!(seen["code"], code);
    assert_eq!(seen["status"], "waiting");
    not_in_room(&app, &guest.access).await;

    // A guest who joins over STOMP finds it too.
    let mut ws = StompClient::member(&app, &guest.access).await;
    ws.command(room, "join", json!({})).await.expect("join");
    let seen = current_room(&app, &guest.access).await;
    assert_eq!(seen["roomId"], room);
    assert_eq!(member_ids(&seen), vec![ola, pia]);

    // A second login (another device) replaces the session but keeps the seat: the old token
    // is refused as replaced, the new one finds the room.
    let again = app.login_member("pia").await;
    problem(
        current(&app, Some(&guest.access)).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_REPLACED",
    )
    .await;
    assert_eq!(current_room(&app, &again.access).await["roomId"], room);

    // Leaving ends it; the host is still seated.
    let mut ws = StompClient::member(&app, &again.access).await;
    ws.command(room, "leave", json!({})).await.expect("leave");
    not_in_room(&app, &again.access).await;
    assert_eq!(current_room(&app, &host.access).await["roomId"], room);

    // A closed room is nobody's current room.
    assert_eq!(
        app.delete_room(&host.access, room).await.status(),
        StatusCode::NO_CONTENT
    );
    not_in_room(&app, &host.access).await;
}

#[tokio::test]
async fn the_current_room_moves_with_the_member_and_is_never_a_room_he_was_kicked_from() {
    let app = spawn_app().await;
    let (_, a) = app.member("qin").await;
    let (_, b) = app.member("ray").await;
    let (_, c) = app.member("sol").await;
    let (first, _) = app
        .create_room(&a.access, "first", json!({"onHostLeave": "migrate"}))
        .await;
    let (second, _) = app.create_room(&b.access, "second", Value::Null).await;
    let mut ws = StompClient::member(&app, &c.access).await;
    ws.command(first, "join", json!({})).await.expect("join");
    assert_eq!(current_room(&app, &c.access).await["roomId"], first);
    // Joining another room moves him: the current room is the new one.
    ws.command(second, "join", json!({})).await.expect("join");
    assert_eq!(current_room(&app, &c.access).await["roomId"], second);
    // Kicked: no room at all.
    let mut host_ws = StompClient::member(&app, &b.access).await;
    let sol = c.user_id;
    host_ws
        .command(second, "kick", json!({"userId": sol}))
        .await
        .expect("kick");
    not_in_room(&app, &c.access).await;
}

#[tokio::test]
async fn the_current_room_is_found_during_a_running_game_and_after_a_second_login() {
    let app = spawn_app().await;
    let (_, host) = app.member("tia").await;
    let (room, _) = app.create_room(&host.access, "playing", Value::Null).await;
    let mut host_ws = StompClient::member(&app, &host.access).await;
    let mut guests = Vec::new();
    for name in ["uma", "vic"] {
        let (_, t) = app.member(name).await;
        let mut ws = StompClient::member(&app, &t.access).await;
        ws.command(room, "join", json!({})).await.expect("join");
        ws.command(room, "ready", json!({"ready": true}))
            .await
            .expect("ready");
        guests.push((t, ws));
    }
    host_ws
        .command(room, "start", json!({}))
        .await
        .expect("start");

    for access in [&host.access, &guests[0].0.access, &guests[1].0.access] {
        let seen = current_room(&app, access).await;
        assert_eq!(seen["roomId"], room);
        assert_eq!(seen["status"], "playing", "{seen}");
        assert!(seen["game"].is_object(), "the public game state: {seen}");
    }
    // A member who logs in on another device mid-game finds his game.
    let again = app.login_member("uma").await;
    let seen = current_room(&app, &again.access).await;
    assert_eq!(seen["roomId"], room);
    assert_eq!(seen["status"], "playing");
    // The room detail never carries a card.
    let text = seen.to_string();
    assert!(
        !text.contains("\"role\"") && !text.contains("\"word\""),
        "{seen}"
    );
}

#[tokio::test]
async fn the_current_room_lasts_through_the_reconnect_grace_and_not_after() {
    let app = spawn_app_with(|c| c.reconnect_grace_secs = 1).await;
    let (_, host) = app.member("wes").await;
    let (_, guest) = app.member("xia").await;
    let (room, _) = app.create_room(&host.access, "grace", Value::Null).await;
    // The host stays connected, so the room outlives the guest's seat.
    let _host_ws = StompClient::member(&app, &host.access).await;
    let mut ws = StompClient::member(&app, &guest.access).await;
    ws.command(room, "join", json!({})).await.expect("join");
    ws.close().await;
    // Within the grace the seat, and so the current room, is kept.
    let seen = current_room(&app, &guest.access).await;
    assert_eq!(seen["roomId"], room);
    // After it the seat is gone.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = current(&app, Some(&guest.access)).await;
        if r.status() == StatusCode::NO_CONTENT {
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the seat outlived the grace"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(current_room(&app, &host.access).await["roomId"], room);
}

#[tokio::test]
async fn the_current_room_needs_a_token_and_does_not_shadow_room_ids_or_codes() {
    let app = spawn_app().await;
    problem(
        current(&app, None).await,
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
    )
    .await;
    problem(
        current(&app, Some("not-a-token")).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    // `{roomId}` still answers ids, codes and nonsense as before.
    let (_, t) = app.member("yul").await;
    let (id, code) = app.create_room(&t.access, "still here", Value::Null).await;
    assert_eq!(app.room(id).await["roomId"], id);
    let r = app.get_room(&code).await;
    assert_eq!(r.status(), StatusCode::OK);
    problem(
        app.get_room("abc").await,
        StatusCode::NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    .await;
    // Another method on the static path is the router's refusal, not a room lookup.
    let r = app
        .client
        .delete(app.url("/api/rooms/current"))
        .bearer_auth(&t.access)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    // The room still stands, and is listed in the API document.
    assert_eq!(app.room(id).await["roomId"], id);
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let op = &doc["paths"]["/api/rooms/current"]["get"];
    assert!(op.is_object(), "documented");
    assert!(
        op["responses"]["204"].is_object(),
        "no seat is documented as 204"
    );
    assert!(op["responses"]["404"].is_null(), "and not as an error");
    assert!(op["responses"]["401"].is_object());
}
