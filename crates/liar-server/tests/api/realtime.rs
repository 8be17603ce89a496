//! The real-time protocol (docs/protocol.md, SPEC §1.2, §2.3, §4) over real WebSockets.

use crate::helpers::*;
use crate::ws_client::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::BytesMut;
use futures::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use liar_server::config::WindowRule;
use liar_stomp::{Command, Frame, Limits};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Runs a whole test under a deadline, so nothing can hang.
async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

/// A logged-in member with a STOMP connection subscribed to his private queues.
struct Player {
    id: i64,
    tokens: Tokens,
    ws: StompClient,
}

async fn player(app: &TestApp, name: &str) -> Player {
    let (id, tokens) = app.member(name).await;
    let ws = StompClient::member(app, &tokens.access).await;
    assert_eq!(ws.user_id, Some(id), "CONNECTED user-name is the userId");
    Player { id, tokens, ws }
}

/// A host with a fresh room, watching its topic.
async fn hosting(app: &TestApp, name: &str, settings: Value) -> (Player, i64) {
    let mut p = player(app, name).await;
    let (room, _) = app
        .create_room(&p.tokens.access, &format!("{name}'s room"), settings)
        .await;
    p.ws.watch(room).await;
    (p, room)
}

/// A member who joined `room` and watches its topic.
async fn joined(app: &TestApp, name: &str, room: i64) -> Player {
    let mut p = player(app, name).await;
    p.ws.command(room, "join", json!({})).await.expect("join");
    let snapshot = p.ws.watch(room).await;
    assert!(member_ids(&snapshot["room"]).contains(&p.id), "{snapshot}");
    p
}

impl Player {
    async fn chat(&mut self, room: i64, text: &str) {
        self.ws
            .command(room, "chat", json!({ "text": text }))
            .await
            .expect("chat accepted");
    }

    /// Sends a chat that must be refused; returns the refusal's code.
    async fn chat_refused(&mut self, room: i64, text: &str) -> String {
        let refused = self
            .ws
            .command(room, "chat", json!({ "text": text }))
            .await
            .expect_err("chat refused");
        code(&refused).to_owned()
    }

    /// Chats and sees his own chat event come back on the room topic.
    async fn still_works(&mut self, room: i64, text: &str) {
        self.chat(room, text).await;
        let id = self.id;
        let e = self
            .ws
            .expect_message(&room_topic(room), |e| {
                e["type"] == "chat" && e["text"] == text
            })
            .await;
        assert_eq!(e["userId"], id);
    }
}

fn code(err: &Value) -> &str {
    err["code"].as_str().unwrap_or_default()
}

fn seq(e: &Value) -> u64 {
    e["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {e}"))
}

// ---- Capacity and one room per member ----------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_joins_into_a_room_of_eight_seat_exactly_seven() {
    within(300, async {
        let app = spawn_app().await;
        let (mut host, room) = hosting(&app, "host", json!({"maxPlayers": 8})).await;
        let tokens = join_all((0..1000).map(|i| {
            let app = &app;
            async move { app.member(&format!("j{i:04}")).await.1 }
        }))
        .await;
        let mut clients = join_all(tokens.iter().map(|t| {
            let app = &app;
            async move {
                let mut c = StompClient::connect(app, &t.access)
                    .await
                    .expect("CONNECTED");
                c.subscribe(ERRORS, "errors").await.expect("errors queue");
                c
            }
        }))
        .await;

        // Every join goes out in the same poll round, before any answer is awaited.
        let dest = format!("/app/rooms/{room}/join");
        let outcomes = join_all(clients.iter_mut().map(|c| {
            let dest = &dest;
            async move {
                c.send(dest, &json!({}), Some("join")).await;
                c.expect_receipt_or_error("join", Duration::from_secs(120))
                    .await
            }
        }))
        .await;

        let seated = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(seated, 7, "exactly seven joins succeed");
        for refusal in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert_eq!(code(refusal), "ROOM_FULL", "{refusal}");
            assert_eq!(refusal["type"], "error");
            assert_eq!(refusal["receiptId"], "join");
        }
        let members = member_ids(&app.room(room).await);
        assert_eq!(members.len(), 8);
        assert_eq!(members[0], host.id, "host first");

        host.ws.drain(QUIET).await;
        let joins = host
            .ws
            .messages_on(&room_topic(room))
            .into_iter()
            .filter(|e| e["type"] == "member.joined")
            .count();
        assert_eq!(joins, 7, "the room saw exactly seven member.joined");
    })
    .await
}

#[tokio::test]
async fn joining_a_second_room_moves_the_member_out_of_the_first() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let (mut bob, y) = hosting(&app, "bob", Value::Null).await;
        let mut cy = joined(&app, "cy", x).await;
        let e = ann.ws.expect_event(&room_topic(x), "member.joined").await;
        assert_eq!(
            (e["userId"].as_i64(), e["username"].as_str()),
            (Some(cy.id), Some("cy"))
        );

        cy.ws.command(y, "join", json!({})).await.expect("join y");

        let left = ann.ws.expect_event(&room_topic(x), "member.left").await;
        assert_eq!(left["userId"], cy.id);
        assert_eq!(left["reason"], "moved");
        assert_eq!(left["roomId"], x);
        let came = bob.ws.expect_event(&room_topic(y), "member.joined").await;
        assert_eq!(came["userId"], cy.id);
        assert_eq!(came["username"], "cy");
        assert_eq!(member_ids(&app.room(x).await), vec![ann.id]);
        assert_eq!(member_ids(&app.room(y).await), vec![bob.id, cy.id]);

        // His old subscription to x stays silent from now on.
        ann.chat(x, "is cy gone?").await;
        cy.ws.drain(QUIET).await;
        assert!(
            !cy.ws
                .messages_on(&room_topic(x))
                .iter()
                .any(|e| e["type"] == "chat"),
            "a member who left still receives the room's events"
        );
    })
    .await
}

#[tokio::test]
async fn a_host_who_joins_another_room_closes_his_room_when_on_host_leave_is_close() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", json!({"onHostLeave": "close"})).await;
        let (mut bob, y) = hosting(&app, "bob", Value::Null).await;
        let mut cy = joined(&app, "cy", x).await;

        ann.ws
            .command(y, "join", json!({}))
            .await
            .expect("host joins y");

        let closed = cy.ws.expect_event(&room_topic(x), "room.closed").await;
        assert_eq!(closed["reason"], "host_left");
        assert_eq!(closed["roomId"], x);
        let evicted = cy.ws.expect_event(EVENTS, "room.closed").await;
        assert_eq!(evicted["roomId"], x);
        assert_eq!(evicted["reason"], "host_left");
        problem(
            app.get_room(&x.to_string()).await,
            StatusCode::NOT_FOUND,
            "ROOM_NOT_FOUND",
        )
        .await;
        let came = bob.ws.expect_event(&room_topic(y), "member.joined").await;
        assert_eq!(came["userId"], ann.id);

        // The evicted member is free again.
        cy.ws
            .command(y, "join", json!({}))
            .await
            .expect("cy joins y");
        assert_eq!(member_ids(&app.room(y).await), vec![bob.id, ann.id, cy.id]);
    })
    .await
}

#[tokio::test]
async fn a_host_who_joins_another_room_hands_his_room_to_the_earliest_joiner_when_on_host_leave_is_migrate()
 {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", json!({"onHostLeave": "migrate"})).await;
        let (_bob, y) = hosting(&app, "bob", Value::Null).await;
        let mut cy = joined(&app, "cy", x).await;
        let mut dee = joined(&app, "dee", x).await;

        ann.ws
            .command(y, "join", json!({}))
            .await
            .expect("host joins y");

        let (ann_id, cy_id) = (ann.id, cy.id);
        for p in [&mut cy, &mut dee] {
            let left = p.ws.expect_event(&room_topic(x), "member.left").await;
            assert_eq!(left["userId"], ann_id);
            assert_eq!(left["reason"], "moved");
            let changed = p.ws.expect_event(&room_topic(x), "host.changed").await;
            assert_eq!(changed["hostId"], cy_id, "the earliest joiner");
        }
        let room = app.room(x).await;
        assert_eq!(room["hostId"], cy.id);
        assert_eq!(member_ids(&room), vec![cy.id, dee.id]);
        // The new host has the host's powers, the old one has none here.
        cy.ws
            .command(x, "settings", json!({"maxPlayers": 5}))
            .await
            .expect("new host");
        let refused = dee
            .ws
            .command(x, "settings", json!({"maxPlayers": 6}))
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "NOT_HOST");
    })
    .await
}

// ---- Who may subscribe to what ---------------------------------------------------------------

#[tokio::test]
async fn a_member_cannot_subscribe_to_another_rooms_topic() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, _x) = hosting(&app, "ann", Value::Null).await;
        let (mut bob, y) = hosting(&app, "bob", Value::Null).await;

        let refused = ann.ws.subscribe(&room_topic(y), "spy").await.unwrap_err();
        assert_eq!(refused["type"], "error");
        assert_eq!(code(&refused), "FORBIDDEN", "{refused}");
        assert_eq!(refused["receiptId"], "sub-spy");
        assert!(refused["message"].is_string());

        bob.chat(y, "secret plans").await;
        bob.ws.expect_event(&room_topic(y), "chat").await;
        ann.ws.drain(QUIET).await;
        for f in ann.ws.frames() {
            assert_ne!(
                f.get("destination"),
                Some(room_topic(y).as_str()),
                "{:?}",
                ann.ws.summary()
            );
            assert_ne!(f.get("subscription"), Some("spy"));
            assert!(!String::from_utf8_lossy(&f.body).contains("secret plans"));
        }

        // A room that does not exist is refused too.
        let refused = ann
            .ws
            .subscribe("/topic/rooms/987654", "ghost")
            .await
            .unwrap_err();
        assert!(
            ["ROOM_NOT_FOUND", "FORBIDDEN"].contains(&code(&refused)),
            "{refused}"
        );
        // And the connection is still fine.
        assert!(!ann.ws.is_closed());
    })
    .await
}

#[tokio::test]
async fn a_member_cannot_subscribe_to_another_members_queue() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;
        let mut cy = joined(&app, "cy", x).await;

        let b = bob.id;
        let attempts = [
            format!("/user/{b}/queue/events"),
            format!("/user/{b}/queue/errors"),
            "/queue/events".to_owned(),
            "/queue/errors".to_owned(),
            format!("/queue/events-user{b}"),
            format!("/user/queue/../{b}/queue/events"),
        ];
        for (i, dest) in attempts.iter().enumerate() {
            let refused = cy.ws.subscribe(dest, &format!("q{i}")).await.unwrap_err();
            assert!(
                ["FORBIDDEN", "UNKNOWN_DESTINATION"].contains(&code(&refused)),
                "{dest}: {refused}"
            );
        }

        // Bob gets private traffic: a kick, and an error of his own.
        ann.ws
            .command(x, "kick", json!({"userId": b}))
            .await
            .expect("kick");
        let kicked = bob.ws.expect_event(EVENTS, "room.kicked").await;
        assert_eq!(kicked["roomId"], x);
        let refused = bob.ws.command(987654, "join", json!({})).await.unwrap_err();
        assert_eq!(code(&refused), "ROOM_NOT_FOUND");

        cy.ws.expect_event(&room_topic(x), "member.kicked").await;
        cy.ws.drain(QUIET).await;
        assert!(
            cy.ws.messages_on(EVENTS).is_empty(),
            "{:?}",
            cy.ws.summary()
        );
        for e in cy.ws.messages_on(ERRORS) {
            assert!(
                e["receiptId"].as_str().unwrap().starts_with("sub-q"),
                "someone else's error: {e}"
            );
        }
        for f in cy.ws.frames() {
            assert_ne!(
                f.get("subscription").map(|s| s.starts_with('q')),
                Some(true)
            );
        }
    })
    .await
}

// ---- Sessions --------------------------------------------------------------------------------

#[tokio::test]
async fn a_second_login_pushes_session_replaced_then_closes_the_old_socket_and_keeps_the_seat() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;

        let fresh = app.login_member("bob").await;

        let note = bob.ws.expect_event(EVENTS, "session.replaced").await;
        assert!(note["message"].is_string());
        let err = bob.ws.next_error_frame(WAIT).await.expect("an ERROR frame");
        assert_eq!(err.code, "SESSION_REPLACED");
        assert!(err.closed, "the old socket is closed");
        let frames = bob.ws.frames();
        let note_at = frames
            .iter()
            .position(|f| f.command == Command::Message && json(f)["type"] == "session.replaced")
            .unwrap();
        let error_at = frames
            .iter()
            .position(|f| f.command == Command::Error)
            .unwrap();
        assert!(
            note_at < error_at,
            "session.replaced comes before the ERROR"
        );
        assert_eq!(error_at, frames.len() - 1, "nothing after the ERROR");

        // The seat is kept.
        assert!(member_ids(&app.room(x).await).contains(&bob.id));
        // The old token is dead on the socket too.
        let refused = StompClient::connect(&app, &bob.tokens.access)
            .await
            .err()
            .expect("refused");
        assert_eq!(refused.code, "SESSION_REPLACED");

        // The new session carries on in the same room.
        let mut again = StompClient::member(&app, &fresh.access).await;
        let snapshot = again.watch(x).await;
        assert!(member_ids(&snapshot["room"]).contains(&bob.id));
        ann.chat(x, "welcome back").await;
        let e = again.expect_event(&room_topic(x), "chat").await;
        assert_eq!(e["text"], "welcome back");
        again
            .command(x, "chat", json!({"text": "thanks"}))
            .await
            .expect("still a member");
    })
    .await
}

#[tokio::test]
async fn logout_closes_open_sockets_with_session_revoked() {
    within(30, async {
        let app = spawn_app().await;
        let (_ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;
        assert_eq!(
            app.logout(&bob.tokens.access).await.status(),
            StatusCode::NO_CONTENT
        );
        let err = bob.ws.next_error_frame(WAIT).await.expect("ERROR");
        assert_eq!(err.code, "SESSION_REVOKED");
        assert!(err.closed);
    })
    .await
}

#[tokio::test]
async fn refresh_token_reuse_closes_open_sockets_with_refresh_reused() {
    within(30, async {
        let app = spawn_app().await;
        let (_ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut cy = joined(&app, "cy", x).await;
        assert_eq!(
            app.refresh(&cy.tokens.refresh).await.status(),
            StatusCode::OK
        );
        assert!(!cy.ws.is_closed(), "a normal refresh keeps the socket");
        let (s, c) = code_of(app.refresh(&cy.tokens.refresh).await).await;
        assert_eq!(
            (s, c.as_str()),
            (StatusCode::UNAUTHORIZED, "REFRESH_REUSED")
        );
        let err = cy
            .ws
            .next_error_frame(WAIT)
            .await
            .expect("an ERROR frame REFRESH_REUSED on the open socket");
        assert_eq!(err.code, "REFRESH_REUSED");
        assert!(err.closed);
    })
    .await
}

// ---- Protocol violations: refused, closed, and nobody else notices ---------------------------

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn signed(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn sid_of(access: &str) -> String {
    let payload = access.split('.').nth(1).unwrap();
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

/// What the codec says about `bytes`; the server must answer with the same code.
fn codec_code(bytes: &[u8]) -> &'static str {
    let mut buf = BytesMut::from(bytes);
    liar_stomp::decode(&mut buf, &Limits::default())
        .expect_err("these bytes are not STOMP")
        .code()
}

async fn assert_refused(c: &mut StompClient, want: &str) {
    let err = c
        .next_error_frame(WAIT)
        .await
        .unwrap_or_else(|| panic!("no ERROR {want}: {:?}", c.summary()));
    assert_eq!(err.code, want, "{:?}", c.summary());
    if !err.body.is_null() {
        assert_eq!(err.body["code"], want);
    }
    assert!(err.closed, "the socket is closed after ERROR {want}");
}

#[tokio::test]
async fn connect_is_refused_for_a_missing_forged_expired_or_revoked_token() {
    within(60, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;

        let (id, t) = app.member("olly").await;
        let sid = sid_of(&t.access);
        let claims = |exp: i64| json!({"sub": id.to_string(), "sid": sid, "iat": now(), "exp": exp, "typ": "access"});
        let forged = signed(claims(now() + 60), "some-other-secret-some-other-secret-0000");
        let expired = signed(claims(now() - 5), JWT_SECRET);
        let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
            (vec![], "UNAUTHENTICATED"),
            (vec![("Authorization", "Bearer not-a-jwt".into())], "INVALID_TOKEN"),
            (vec![("Authorization", format!("Bearer {forged}"))], "INVALID_TOKEN"),
            (vec![("Authorization", format!("Bearer {}", t.refresh))], "INVALID_TOKEN"),
            (vec![("Authorization", format!("Bearer {expired}"))], "TOKEN_EXPIRED"),
            (vec![("passcode", forged.clone())], "INVALID_TOKEN"),
        ];
        for (headers, want) in cases {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let err = StompClient::connect_with(&app, &h).await.err().unwrap_or_else(|| panic!("{h:?} accepted"));
            assert_eq!(err.code, want, "{h:?}");
            assert_eq!(err.body["code"], want);
            assert!(err.closed, "closed after ERROR {want}");
        }

        // The genuine token works, as Authorization or as passcode.
        let ok = StompClient::connect_with(&app, &[("passcode", &t.access)]).await.expect("passcode");
        assert_eq!(ok.user_id, Some(id));
        assert!(ok.session.is_some());

        // Revoked and replaced sessions.
        assert_eq!(app.logout(&t.access).await.status(), StatusCode::NO_CONTENT);
        let err = StompClient::connect(&app, &t.access).await.err().expect("revoked");
        assert_eq!(err.code, "SESSION_REVOKED");
        assert!(err.closed);
        let old = app.login_member("olly").await;
        let _new = app.login_member("olly").await;
        let err = StompClient::connect(&app, &old.access).await.err().expect("replaced");
        assert_eq!(err.code, "SESSION_REPLACED");
        assert!(err.closed);

        bea.still_works(room, "unbothered by bad tokens").await;
    })
    .await
}

#[tokio::test]
async fn a_frame_before_connect_is_refused_with_not_connected() {
    within(30, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        for raw in [
            format!("SUBSCRIBE\nid:0\ndestination:{}\n\n\0", room_topic(room)),
            format!("SEND\ndestination:/app/rooms/{room}/chat\n\n{{\"text\":\"hi\"}}\0"),
        ] {
            let mut c = StompClient::open(&app).await;
            c.send_text(&raw).await;
            assert_refused(&mut c, "NOT_CONNECTED").await;
        }
        bea.still_works(room, "unbothered by strangers").await;
        assert_eq!(
            bea.ws
                .messages_on(&room_topic(room))
                .iter()
                .filter(|e| e["type"] == "chat")
                .count(),
            1,
            "the unconnected SEND did nothing"
        );
    })
    .await
}

#[tokio::test]
async fn a_frame_over_eight_kib_is_refused_with_frame_too_large() {
    within(30, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        let olly = joined(&app, "olly", room).await;
        let access = olly.tokens.access.clone();
        let mut olly = olly.ws;

        // Just under the limit is a frame like any other (its chat text is merely too long).
        let near = json!({"text": "x".repeat(7900)});
        olly.send(&format!("/app/rooms/{room}/chat"), &near, Some("near"))
            .await;
        let refused = olly
            .expect_receipt_or_error("near", WAIT)
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "VALIDATION", "{refused}");
        assert!(!olly.is_closed());

        // With content-length.
        let big = json!({"text": "x".repeat(9000)});
        olly.send(&format!("/app/rooms/{room}/chat"), &big, None)
            .await;
        assert_refused(&mut olly, "FRAME_TOO_LARGE").await;

        // Without content-length, in one WebSocket message, and spread over several.
        let raw = format!(
            "SEND\ndestination:/app/rooms/{room}/chat\n\n{}\0",
            "y".repeat(9000)
        );
        let mut c = StompClient::member(&app, &access).await;
        c.send_text(&raw).await;
        assert_refused(&mut c, "FRAME_TOO_LARGE").await;
        let mut c = StompClient::member(&app, &access).await;
        for part in raw.as_bytes().chunks(3000) {
            c.send_text(std::str::from_utf8(part).unwrap()).await;
        }
        assert_refused(&mut c, "FRAME_TOO_LARGE").await;

        bea.still_works(room, "unbothered by big frames").await;
    })
    .await
}

#[tokio::test]
async fn bytes_that_are_not_stomp_are_refused_with_the_codec_error() {
    within(30, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        let (_, t) = app.member("olly").await;

        let text_cases = [
            ("HELLO\n\n\0", "UNKNOWN_COMMAND"),
            ("SEND\ndestination:/app/x\nbad\\q:1\n\n\0", "INVALID_ESCAPE"),
            (
                "SEND\ndestination:/app/x\ncontent-length:abc\n\n\0",
                "BAD_CONTENT_LENGTH",
            ),
            ("SEND\nno colon here\n\n\0", "MALFORMED_HEADER"),
            (
                "SEND\ndestination:/app/x\ncontent-length:2\n\nabX\n\n\0",
                "MISSING_NUL",
            ),
        ];
        for (raw, want) in text_cases {
            assert_eq!(codec_code(raw.as_bytes()), want, "the codec's own verdict");
            let mut c = StompClient::member(&app, &t.access).await;
            c.send_text(raw).await;
            assert_refused(&mut c, want).await;
        }
        let many_headers = format!("SEND\ndestination:/app/x\n{}\n\0", "h:1\n".repeat(40));
        let long_header = format!("SEND\ndestination:/app/x\nh:{}\n\n\0", "v".repeat(2000));
        for (raw, want) in [
            (many_headers, "TOO_MANY_HEADERS"),
            (long_header, "HEADER_TOO_LONG"),
        ] {
            assert_eq!(codec_code(raw.as_bytes()), want, "the codec's own verdict");
            let mut c = StompClient::member(&app, &t.access).await;
            c.send_text(&raw).await;
            assert_refused(&mut c, want).await;
        }
        // Binary WebSocket messages carry STOMP bytes too, and non-UTF-8 is caught.
        let garbage: &[u8] = b"\xff\xfe\x00\x01garbage\xc3\x28\n\n\x00";
        let mut c = StompClient::member(&app, &t.access).await;
        c.send_raw(garbage.to_vec()).await;
        assert_refused(&mut c, codec_code(garbage)).await;
        let bad_utf8: &[u8] = b"SEND\ndestination:/app/\xc3\x28\n\n\x00";
        assert_eq!(codec_code(bad_utf8), "INVALID_UTF8");
        let mut c = StompClient::member(&app, &t.access).await;
        c.send_raw(bad_utf8.to_vec()).await;
        assert_refused(&mut c, "INVALID_UTF8").await;

        bea.still_works(room, "unbothered by garbage").await;
    })
    .await
}

#[tokio::test]
async fn a_frame_flood_earns_rate_limited_then_a_flood_error_and_close() {
    within(60, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        let (_, t) = app.member("olly").await;
        let mut olly = StompClient::member(&app, &t.access).await;

        let start = Instant::now();
        let mut limited_at = None;
        while start.elapsed() < Duration::from_secs(10) && !olly.is_closed() {
            // 4 frames per 100 ms: 40 a second, twice the limit.
            for _ in 0..4 {
                olly.send_text("ACK\nid:1\n\n\0").await;
            }
            olly.drain(Duration::from_millis(100)).await;
            if limited_at.is_none()
                && olly
                    .messages_on(ERRORS)
                    .iter()
                    .any(|e| e["code"] == "RATE_LIMITED")
            {
                limited_at = Some(start.elapsed());
            }
        }
        let closed_at = start.elapsed();
        assert!(olly.is_closed(), "a flooding connection is closed");
        let limited_at = limited_at.expect("a RATE_LIMITED error message before the close");
        let frames = olly.frames();
        let error = frames
            .iter()
            .rposition(|f| f.command == Command::Error)
            .expect("an ERROR frame");
        assert_eq!(frames[error].get("message"), Some("FLOOD"));
        assert!(
            limited_at < Duration::from_millis(1500),
            "told at once: {limited_at:?}"
        );
        assert!(
            closed_at >= Duration::from_millis(1800),
            "the first excess seconds only earn RATE_LIMITED, closed at {closed_at:?}"
        );
        assert!(
            closed_at < Duration::from_secs(6),
            "closed after about 3 s, not {closed_at:?}"
        );

        bea.still_works(room, "unbothered by the flood").await;
    })
    .await
}

#[tokio::test]
async fn a_connection_under_twenty_frames_a_second_is_never_limited() {
    within(30, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(4) {
            // 3 frames per 200 ms: 15 a second.
            for _ in 0..3 {
                bea.ws.send_text("ACK\nid:1\n\n\0").await;
            }
            bea.ws.drain(Duration::from_millis(200)).await;
        }
        assert!(!bea.ws.is_closed());
        assert!(
            bea.ws.messages_on(ERRORS).is_empty(),
            "{:?}",
            bea.ws.summary()
        );
        bea.still_works(room, "steady").await;
    })
    .await
}

// ---- Resume with since-seq -------------------------------------------------------------------

#[tokio::test]
async fn a_reconnect_with_since_seq_receives_exactly_the_missed_events_in_order() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let topic = room_topic(x);
        let bob = joined(&app, "bob", x).await;
        let (bob_id, bob_access) = (bob.id, bob.tokens.access.clone());
        let mut bob = bob.ws;

        ann.chat(x, "before").await;
        let before = bob.expect_message(&topic, |e| e["text"] == "before").await;
        let last = seq(&before);
        bob.close().await;

        for text in ["m1", "m2", "m3"] {
            ann.chat(x, text).await;
        }
        for text in ["m1", "m2", "m3"] {
            ann.ws.expect_message(&topic, |e| e["text"] == text).await;
        }

        let mut bob = StompClient::member(&app, &bob_access).await;
        bob.subscribe_since(&topic, "room", last)
            .await
            .expect("resume");
        ann.chat(x, "after").await;
        let after = ann
            .ws
            .expect_message(&topic, |e| e["text"] == "after")
            .await;

        let mut got = Vec::new();
        loop {
            let e = bob
                .next_message_on(&topic, WAIT)
                .await
                .unwrap_or_else(|| panic!("stalled after {got:?}"));
            let done = e["text"] == "after";
            got.push(e);
            if done || got.len() > 50 {
                break;
            }
        }
        assert_ne!(
            got[0]["type"], "room.snapshot",
            "a resume replays instead of a snapshot"
        );
        let seqs: Vec<u64> = got.iter().map(seq).collect();
        let want: Vec<u64> = (last + 1..=seq(&after)).collect();
        assert_eq!(seqs, want, "every missed seq, once, in order");
        let texts: Vec<&str> = got
            .iter()
            .filter(|e| e["type"] == "chat")
            .filter_map(|e| e["text"].as_str())
            .collect();
        assert_eq!(texts, ["m1", "m2", "m3", "after"]);
        // Exactly what a member who never left saw.
        let ann_view: Vec<Value> = ann
            .ws
            .messages_on(&topic)
            .into_iter()
            .filter(|e| {
                e["seq"]
                    .as_u64()
                    .is_some_and(|s| s > last && s <= seq(&after))
            })
            .collect();
        assert_eq!(got, ann_view);
        // Nothing is delivered twice, and no snapshot shows up anywhere.
        bob.drain(QUIET).await;
        assert_eq!(
            bob.messages_on(&topic).len(),
            got.len(),
            "{:?}",
            bob.summary()
        );
        assert!(
            bob.frames()
                .iter()
                .all(|f| json(f)["type"] != "room.snapshot")
        );
        assert!(member_ids(&app.room(x).await).contains(&bob_id));
    })
    .await
}

#[tokio::test]
async fn a_since_seq_older_than_the_replay_buffer_gets_a_snapshot() {
    within(90, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let topic = room_topic(x);
        let bob = joined(&app, "bob", x).await;
        let (bob_id, bob_access) = (bob.id, bob.tokens.access.clone());
        let mut bob = bob.ws;
        let mut others = Vec::new();
        for name in ["cy", "dee", "eli"] {
            others.push(joined(&app, name, x).await);
        }
        ann.chat(x, "mark").await;
        let last = seq(&bob.expect_message(&topic, |e| e["text"] == "mark").await);
        bob.close().await;

        // 270 events (more than the 256 kept), each connection well under 20 frames a second.
        join_all(others.iter_mut().map(|p| async move {
            for i in 0..90 {
                p.ws.command(x, "ready", json!({"ready": i % 2 == 0}))
                    .await
                    .expect("ready");
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        }))
        .await;

        let mut bob = StompClient::member(&app, &bob_access).await;
        bob.subscribe_since(&topic, "room", last)
            .await
            .expect("resume");
        let first = bob.next_message_on(&topic, WAIT).await.expect("a snapshot");
        assert_eq!(first["type"], "room.snapshot", "{first}");
        assert!(
            seq(&first) >= last + 270,
            "the snapshot is current: {first}"
        );
        let mut ids = vec![ann.id, bob_id];
        ids.extend(others.iter().map(|p| p.id));
        assert_eq!(member_ids(&first["room"]), ids);
        assert!(
            first["room"]["members"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["ready"] == false)
        );

        // Then it goes on live from the snapshot's seq.
        ann.chat(x, "live").await;
        let mut next = seq(&first);
        loop {
            let e = bob
                .next_message_on(&topic, WAIT)
                .await
                .expect("live events");
            assert_eq!(seq(&e), next + 1, "{e}");
            next += 1;
            if e["text"] == "live" {
                break;
            }
        }
    })
    .await
}

// ---- Lobby commands --------------------------------------------------------------------------

#[tokio::test]
async fn a_kicked_member_is_told_privately_stops_hearing_the_room_and_can_never_rejoin() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;
        let mut cy = joined(&app, "cy", x).await;

        let refused = cy
            .ws
            .command(x, "kick", json!({"userId": bob.id}))
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "NOT_HOST");

        ann.ws
            .command(x, "kick", json!({"userId": bob.id}))
            .await
            .expect("kick");
        for p in [&mut ann, &mut cy] {
            let e = p.ws.expect_event(&room_topic(x), "member.kicked").await;
            assert_eq!(e["userId"], bob.id);
        }
        let private = bob.ws.expect_event(EVENTS, "room.kicked").await;
        assert_eq!(private["roomId"], x);
        assert_eq!(member_ids(&app.room(x).await), vec![ann.id, cy.id]);

        ann.chat(x, "bye bob").await;
        cy.ws
            .expect_message(&room_topic(x), |e| e["text"] == "bye bob")
            .await;
        bob.ws.drain(QUIET).await;
        assert!(
            !bob.ws
                .messages_on(&room_topic(x))
                .iter()
                .any(|e| e["text"] == "bye bob"),
            "a kicked member still hears the room"
        );
        let refused = bob.ws.command(x, "join", json!({})).await.unwrap_err();
        assert_eq!(code(&refused), "KICKED");
        // Not even after going elsewhere and coming back.
        let (_, y) = hosting(&app, "dan", Value::Null).await;
        bob.ws
            .command(y, "join", json!({}))
            .await
            .expect("join elsewhere");
        let refused = bob.ws.command(x, "join", json!({})).await.unwrap_err();
        assert_eq!(code(&refused), "KICKED");
    })
    .await
}

#[tokio::test]
async fn members_toggle_ready_and_everyone_sees_it() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;
        let mut outsider = player(&app, "out").await;

        for ready in [true, false, true] {
            bob.ws
                .command(x, "ready", json!({"ready": ready}))
                .await
                .expect("ready");
            let bob_id = bob.id;
            for p in [&mut ann, &mut bob] {
                let e = p.ws.expect_event(&room_topic(x), "member.ready").await;
                assert_eq!(
                    (e["userId"].as_i64(), e["ready"].as_bool()),
                    (Some(bob_id), Some(ready))
                );
            }
            let room = app.room(x).await;
            assert_eq!(room["members"][1]["ready"], ready);
        }
        let refused = outsider
            .ws
            .command(x, "ready", json!({"ready": true}))
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "NOT_A_MEMBER");
        let refused = bob
            .ws
            .command(x, "ready", json!({"ready": "yes"}))
            .await
            .unwrap_err();
        assert!(
            ["VALIDATION", "MALFORMED_JSON"].contains(&code(&refused)),
            "{refused}"
        );
        assert_eq!(
            app.room(x).await["members"][1]["ready"],
            true,
            "refusals change nothing"
        );
    })
    .await
}

#[tokio::test]
async fn the_host_cannot_toggle_ready() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let refused = ann.ws.command(x, "ready", json!({"ready": true})).await;
        assert!(
            refused.is_err(),
            "ready is for non-host members (docs/protocol.md)"
        );
        ann.ws.drain(QUIET).await;
        assert!(
            !ann.ws
                .messages_on(&room_topic(x))
                .iter()
                .any(|e| e["type"] == "member.ready")
        );
    })
    .await
}

#[tokio::test]
async fn a_subscribe_without_id_or_a_send_without_destination_is_refused_with_missing_header() {
    within(30, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        let (_, t) = app.member("olly").await;
        for raw in [
            "SUBSCRIBE\ndestination:/user/queue/events\n\n\0".to_owned(),
            "SUBSCRIBE\nid:5\n\n\0".to_owned(),
            "SEND\ncontent-type:application/json\n\n{}\0".to_owned(),
        ] {
            let mut c = StompClient::member(&app, &t.access).await;
            c.send_text(&raw).await;
            assert_refused(&mut c, "MISSING_HEADER").await;
        }
        bea.still_works(room, "unbothered by sloppy frames").await;
    })
    .await
}

#[tokio::test]
async fn a_socket_that_never_sends_connect_is_closed_with_connect_timeout() {
    within(30, async {
        let app = spawn_app().await;
        let (mut bea, room) = hosting(&app, "bea", Value::Null).await;
        let mut idle = StompClient::open(&app).await;
        let start = Instant::now();
        let err = idle
            .next_error_frame(Duration::from_secs(14))
            .await
            .expect("an ERROR frame after 10 s");
        assert_eq!(err.code, "CONNECT_TIMEOUT");
        assert!(err.closed);
        assert!(
            start.elapsed() >= Duration::from_secs(9),
            "not before 10 s: {:?}",
            start.elapsed()
        );
        bea.still_works(room, "unbothered by idlers").await;
    })
    .await
}

#[tokio::test]
async fn only_the_host_changes_settings_and_everyone_sees_the_full_settings() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;

        let refused = bob.ws.command(x, "settings", json!({"maxPlayers": 5})).await.unwrap_err();
        assert_eq!(code(&refused), "NOT_HOST");

        ann.ws
            .command(x, "settings", json!({"maxPlayers": 6, "mode": "fool", "language": "en"}))
            .await
            .expect("host changes settings");
        let want = json!({"maxPlayers": 6, "mode": "fool", "hintRounds": 2, "hintSeconds": 30,
            "discussionSeconds": 60, "voteSeconds": 30, "defenseSeconds": 30, "guessSeconds": 30,
            "tiePolicy": "liar_wins", "onHostLeave": "close", "topicId": "random", "language": "en"});
        for p in [&mut ann, &mut bob] {
            let e = p.ws.expect_event(&room_topic(x), "settings.changed").await;
            assert_eq!(e["settings"], want);
        }
        assert_eq!(app.room(x).await["settings"], want);

        let refused = ann.ws.command(x, "settings", json!({"maxPlayers": 99, "tiePolicy": "coin"})).await.unwrap_err();
        assert_eq!(code(&refused), "VALIDATION");
        assert_eq!(app.room(x).await["settings"], want, "a refused patch changes nothing");
    })
    .await
}

#[tokio::test]
async fn the_sixth_chat_within_five_seconds_is_rate_limited() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;
        for i in 1..=5 {
            bob.chat(x, &format!("msg {i}")).await;
        }
        assert_eq!(bob.chat_refused(x, "msg 6").await, "RATE_LIMITED");

        ann.ws.drain(QUIET).await;
        let chats: Vec<Value> = ann
            .ws
            .messages_on(&room_topic(x))
            .into_iter()
            .filter(|e| e["type"] == "chat")
            .collect();
        let texts: Vec<&str> = chats.iter().map(|e| e["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["msg 1", "msg 2", "msg 3", "msg 4", "msg 5"]);
        for e in &chats {
            assert_eq!(e["userId"], bob.id);
            assert_eq!(e["username"], "bob");
            assert_eq!(e["roomId"], x);
            assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
        }
        // Someone else is not limited by bob's chatter.
        ann.chat(x, "calm down").await;
    })
    .await
}

#[tokio::test]
async fn the_chat_limit_is_an_operator_setting() {
    within(30, async {
        let app = spawn_app_with(|c| {
            c.chat_per_member = WindowRule {
                limit: 8,
                window_secs: 60,
            }
        })
        .await;
        let (_ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut bob = joined(&app, "bob", x).await;
        // Above the default of 5, up to the configured 8.
        for i in 1..=8 {
            bob.chat(x, &format!("msg {i}")).await;
        }
        assert_eq!(bob.chat_refused(x, "msg 9").await, "RATE_LIMITED");
    })
    .await
}

#[tokio::test]
async fn chat_text_is_one_to_three_hundred_characters_from_members_only() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;
        let mut outsider = player(&app, "out").await;
        for text in [String::new(), "x".repeat(301)] {
            let n = text.chars().count();
            assert_eq!(ann.chat_refused(x, &text).await, "VALIDATION", "{n} chars");
        }
        let refused = ann.ws.command(x, "chat", json!({})).await.unwrap_err();
        assert_eq!(code(&refused), "VALIDATION");
        let long = "가".repeat(300);
        ann.chat(x, &long).await;
        let e = ann.ws.expect_event(&room_topic(x), "chat").await;
        assert_eq!(e["text"], long.as_str());
        assert_eq!(outsider.chat_refused(x, "let me in").await, "NOT_A_MEMBER");
    })
    .await
}

#[tokio::test]
async fn a_password_room_needs_its_password_to_join() {
    within(30, async {
        let app = spawn_app().await;
        let mut ann = player(&app, "ann").await;
        let (x, code_) = app
            .create_room_with(
                &ann.tokens.access,
                json!({"name": "club", "password": "open sesame"}),
            )
            .await;
        ann.ws.watch(x).await;
        let mut bob = player(&app, "bob").await;
        for body in [json!({}), json!({"password": "nope"})] {
            let refused = bob.ws.command(x, "join", body).await.unwrap_err();
            assert_eq!(code(&refused), "WRONG_PASSWORD");
        }
        bob.ws
            .command(x, "join", json!({"password": "open sesame"}))
            .await
            .expect("join");
        assert_eq!(member_ids(&app.room(x).await), vec![ann.id, bob.id]);
        assert!(!code_.is_empty());
    })
    .await
}

#[tokio::test]
async fn refused_commands_carry_their_code_and_receipt_id_and_keep_the_connection() {
    within(30, async {
        let app = spawn_app().await;
        let (mut ann, x) = hosting(&app, "ann", Value::Null).await;

        let refused = ann.ws.command(987654, "join", json!({})).await.unwrap_err();
        assert_eq!(code(&refused), "ROOM_NOT_FOUND");
        let refused = ann.ws.command(x, "dance", json!({})).await.unwrap_err();
        assert_eq!(code(&refused), "UNKNOWN_DESTINATION");
        ann.ws
            .send("/app/nowhere", &json!({}), Some("nowhere"))
            .await;
        let refused = ann
            .ws
            .expect_receipt_or_error("nowhere", WAIT)
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "UNKNOWN_DESTINATION");

        let raw =
            format!("SEND\ndestination:/app/rooms/{x}/chat\nreceipt:bad-json\n\n{{not json\0");
        ann.ws.send_text(&raw).await;
        let refused = ann
            .ws
            .expect_receipt_or_error("bad-json", WAIT)
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "MALFORMED_JSON");
        assert_eq!(refused["type"], "error");
        assert!(refused["message"].is_string());

        ann.ws
            .send_text("BEGIN\ntransaction:t1\nreceipt:tx\n\n\0")
            .await;
        let refused = ann
            .ws
            .expect_receipt_or_error("tx", WAIT)
            .await
            .unwrap_err();
        assert_eq!(code(&refused), "UNSUPPORTED");

        // ACK and NACK are accepted and ignored.
        ann.ws.send_text("ACK\nid:1\n\n\0").await;
        ann.ws.send_text("NACK\nid:1\n\n\0").await;
        ann.still_works(x, "still here").await;
        assert!(!ann.ws.is_closed());
        assert_eq!(
            ann.ws.messages_on(ERRORS).len(),
            5,
            "{:?}",
            ann.ws.summary()
        );
    })
    .await
}

// ---- The lobby topic -------------------------------------------------------------------------

#[tokio::test]
async fn the_lobby_sees_public_rooms_come_and_go_but_never_private_ones() {
    within(30, async {
        let app = spawn_app().await;
        let mut lou = player(&app, "lou").await;
        lou.ws.subscribe("/topic/lobby", "lobby").await.expect("lobby");
        let lobby = "/topic/lobby";

        let (ann, ta) = app.member("ann").await;
        let (x, code_x) = app.create_room(&ta.access, "public fun", Value::Null).await;
        let created = lou.ws.expect_event(lobby, "room.created").await;
        assert_eq!(
            created["room"],
            json!({"roomId": x, "code": code_x, "name": "public fun", "hostId": ann, "hostName": "ann",
                   "members": 1, "maxPlayers": 8, "status": "waiting", "private": false,
                   "mode": "classic", "topicId": "random"})
        );

        // A private room: created, joined, deleted — none of it reaches the lobby.
        let (_, tp) = app.member("pia").await;
        let (p, _) = app.create_room_with(&tp.access, json!({"name": "hidden", "password": "pw"})).await;
        let mut pat = player(&app, "pat").await;
        pat.ws.command(p, "join", json!({"password": "pw"})).await.expect("join private");
        assert_eq!(app.delete_room(&tp.access, p).await.status(), StatusCode::NO_CONTENT);

        let mut bob = player(&app, "bob").await;
        bob.ws.command(x, "join", json!({})).await.expect("join");
        let updated = lou
            .ws
            .expect_message(lobby, |e| e["type"] == "room.updated" && e["room"]["members"] == 2)
            .await;
        assert_eq!(updated["room"]["roomId"], x);

        assert_eq!(app.delete_room(&ta.access, x).await.status(), StatusCode::NO_CONTENT);
        let removed = lou.ws.expect_event(lobby, "room.removed").await;
        assert_eq!(removed["roomId"], x);

        // A later public room, as a marker that everything before it has been delivered.
        let (_, tz) = app.member("zed").await;
        let (z, _) = app.create_room(&tz.access, "marker", Value::Null).await;
        lou.ws.expect_message(lobby, |e| e["type"] == "room.created" && e["room"]["roomId"] == z).await;
        for e in lou.ws.messages_on(lobby) {
            assert_ne!(e["roomId"], p, "private room in the lobby: {e}");
            assert_ne!(e["room"]["roomId"], p, "private room in the lobby: {e}");
            assert_ne!(e["room"]["private"], true);
        }
    })
    .await
}

// ---- Heart-beats (SPEC §4: a client silent past twice its heart-beat is disconnected) -------

/// Opens a socket and CONNECTs with the given `heart-beat` header; returns it and CONNECTED.
async fn connect_beating(app: &TestApp, access: &str, heart_beat: &str) -> (StompClient, Frame) {
    let mut c = StompClient::open(app).await;
    let f = Frame::new(Command::Connect)
        .header("accept-version", "1.2")
        .header("host", "liar")
        .header("heart-beat", heart_beat)
        .header("Authorization", format!("Bearer {access}"));
    assert!(c.send_frame(&f).await);
    let connected = c.next_frame(WAIT).await.expect("a reply to CONNECT");
    assert_eq!(connected.command, Command::Connected, "{connected:?}");
    (c, connected)
}

#[tokio::test]
async fn a_client_silent_past_twice_its_heart_beat_is_disconnected_and_a_beating_one_is_not() {
    within(30, async {
        let app = spawn_app_with(|c| c.ws_heartbeat_ms = 200).await;
        let (_, ann) = app.member("ann").await;
        let (_, bob) = app.member("bob").await;
        let (_, cy) = app.member("cy").await;

        // ann promises a heart-beat every 100 ms; the server wants one every 200 ms, so the
        // agreed interval is 200 ms and silence past 400 ms ends the connection.
        let (mut silent, connected) = connect_beating(&app, &ann.access, "100,0").await;
        assert_eq!(connected.get("heart-beat"), Some("200,200"));
        // bob makes the same promise and keeps it.
        let (mut beating, _) = connect_beating(&app, &bob.access, "100,0").await;
        // cy agreed to no heart-beats at all.
        let (mut quiet, _) = connect_beating(&app, &cy.access, "0,0").await;

        let started = Instant::now();
        let beats = async {
            while started.elapsed() < Duration::from_millis(1500) {
                assert!(beating.send_text("\n").await, "bob's socket stays open");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let (closed, ()) = tokio::join!(silent.closes_within(Duration::from_secs(5)), beats);
        assert!(closed, "a silent client is disconnected");
        let after = started.elapsed();
        assert!(
            after >= Duration::from_millis(350),
            "not before twice the interval: closed after {after:?}"
        );

        // The beating and the no-heart-beat clients are still served.
        beating
            .subscribe(ERRORS, "e")
            .await
            .expect("bob still served");
        quiet.subscribe(ERRORS, "e").await.expect("cy still served");
    })
    .await
}

#[tokio::test]
async fn the_server_sends_heart_beats_when_the_client_asks_for_them() {
    within(30, async {
        let app = spawn_app_with(|c| c.ws_heartbeat_ms = 100).await;
        let (_, ann) = app.member("ann").await;
        // ann can send every 100 ms and wants to hear from the server every 100 ms.
        let (mut c, _) = connect_beating(&app, &ann.access, "100,100").await;
        let mut beats = 0;
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            assert!(c.send_text("\n").await);
            beats += c.heart_beats_within(Duration::from_millis(100)).await;
        }
        assert!(beats >= 4, "about ten heart-beats in a second, got {beats}");
    })
    .await
}
