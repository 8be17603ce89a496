//! Abuse limits (SPEC §1.3) and where the client address comes from.

use crate::helpers::*;
use crate::ws_client::{QUIET, StompClient, WAIT};
use liar_server::config::LimitRule;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Barrier;

const SEED_LOGIN_RULE: LimitRule = LimitRule {
    limit: 3,
    window_secs: 10,
    block_secs: 20,
};

async fn login_from(app: &TestApp, forwarded: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "lee@example.com", "password": PASSWORD}));
    if let Some(ip) = forwarded {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_fourth_login_from_one_ip_within_ten_seconds_is_refused_with_retry_after() {
    let app = spawn_app_with(|c| c.login_per_ip = SEED_LOGIN_RULE).await;
    app.register_member("lee").await;
    for _ in 0..3 {
        assert_eq!(login_from(&app, None).await.status(), StatusCode::OK);
    }
    let r = login_from(&app, None).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (19..=20).contains(&retry),
        "blocked for the seed's 20 s, got {retry}"
    );
    problem(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = spawn_app_with(|c| {
        c.login_per_ip = SEED_LOGIN_RULE;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.register_member("lee").await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..3 {
            assert_eq!(
                login_from(&app, Some(client)).await.status(),
                StatusCode::OK
            );
        }
    }
    let r = login_from(&app, Some("203.0.113.1")).await;
    problem(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(
        login_from(&app, Some("203.0.113.3")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_headers_change_nothing() {
    let app = spawn_app_with(|c| c.login_per_ip = SEED_LOGIN_RULE).await;
    app.register_member("lee").await;
    for i in 1..=3 {
        let ip = format!("198.51.100.{i}");
        assert_eq!(login_from(&app, Some(&ip)).await.status(), StatusCode::OK);
    }
    let r = login_from(&app, Some("198.51.100.99")).await;
    problem(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

#[tokio::test]
async fn ten_failed_logins_lock_the_account_but_not_others() {
    let app = spawn_app_with(|c| {
        c.login_failures_per_account = LimitRule {
            limit: 10,
            window_secs: 900,
            block_secs: 900,
        }
    })
    .await;
    app.register_member("mia").await;
    app.register_member("ned").await;
    for _ in 0..10 {
        let r = app.login("mia@example.com", "wrong password!").await;
        problem(r, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS").await;
    }
    let r = app.login("mia@example.com", PASSWORD).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 800);
    problem(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(
        app.login("ned@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_eleventh_registration_from_one_ip_within_an_hour_is_refused() {
    let app = spawn_app_with(|c| {
        c.register_per_ip = LimitRule {
            limit: 10,
            window_secs: 3600,
            block_secs: 3600,
        }
    })
    .await;
    for i in 0..10 {
        app.register_member(&format!("user{i}")).await;
    }
    let r = app.register("late@example.com", "late", PASSWORD).await;
    problem(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

/// Wrong passwords raced at once, each from its own forwarded address, so the per-IP limit
/// never applies and only the account's failure budget can stop them.
async fn race_wrong_passwords(app: &Arc<TestApp>, email: &str, n: usize) -> Vec<StatusCode> {
    let start = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (app, start, email) = (app.clone(), start.clone(), email.to_owned());
            tokio::spawn(async move {
                let req = app
                    .client
                    .post(app.url("/api/auth/login"))
                    .header(
                        "x-forwarded-for",
                        format!("10.1.{}.{}", i / 200, i % 200 + 1),
                    )
                    .json(&json!({"email": email, "password": "wrong password!"}));
                start.wait().await;
                req.send().await.unwrap().status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn a_hundred_simultaneous_wrong_passwords_reach_the_hash_check_at_most_ten_times() {
    let app = Arc::new(
        spawn_app_with(|c| {
            c.login_per_ip = SEED_LOGIN_RULE;
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            c.login_failures_per_account = LimitRule {
                limit: 10,
                window_secs: 900,
                block_secs: 900,
            };
        })
        .await,
    );
    app.register_member("ola").await;
    let checked_before = app.password_verifications();
    let statuses = race_wrong_passwords(&app, "ola@example.com", 100).await;
    let checked = app.password_verifications() - checked_before;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(refused + wrong, 100, "only 401 or 429: {statuses:?}");
    assert!(checked <= 10, "{checked} attempts reached the hash check");
    assert_eq!(wrong as u64, checked, "every 401 was a real check");
    assert!(refused >= 90, "{refused} refused");
    // The budget is spent: even the right password waits for the window to end.
    let r = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "10.9.9.9")
        .json(&json!({"email": "ola@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 800, "locked for the window, got {retry}");
    problem(r, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(app.password_verifications() - checked_before, checked);
}

#[tokio::test]
async fn a_successful_login_gives_its_budget_slot_back() {
    let app = spawn_app_with(|c| {
        c.login_failures_per_account = LimitRule {
            limit: 2,
            window_secs: 900,
            block_secs: 900,
        }
    })
    .await;
    app.register_member("pia").await;
    for _ in 0..5 {
        app.login_member("pia").await;
    }
    let r = app.login("pia@example.com", "wrong password!").await;
    problem(r, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS").await;
    app.login_member("pia").await;
}

#[tokio::test]
async fn a_thirty_third_subscription_and_a_reused_id_are_refused_and_the_socket_stays_usable() {
    // Frames are not what this test limits.
    let app = spawn_app_with(|c| c.ws_frames_per_second = 1000).await;
    let (_, sam) = app.member("sam").await;
    let mut ws = StompClient::member(&app, &sam.access).await;
    // `member` holds the errors and events queues: 30 more make 32.
    for i in 0..30 {
        ws.subscribe("/topic/lobby", &format!("lobby-{i}"))
            .await
            .unwrap_or_else(|e| panic!("subscription {}: {e}", i + 3));
    }
    let refused = ws.subscribe("/topic/lobby", "lobby-30").await.unwrap_err();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "TOO_MANY_SUBSCRIPTIONS", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("32"),
        "{refused}"
    );

    ws.unsubscribe("lobby-0").await;
    let reused = ws.subscribe("/topic/lobby", "lobby-1").await.unwrap_err();
    assert_eq!(reused["code"], "SUBSCRIPTION_ID_IN_USE", "{reused}");
    ws.subscribe("/topic/lobby", "lobby-0")
        .await
        .expect("a freed slot can be used again");
    assert!(!ws.is_closed());

    // Still usable: a new room is announced once per lobby subscription (30), no more.
    let (_, host) = app.member("tia").await;
    let (room, _) = app
        .create_room(&host.access, "after the refusals", Value::Null)
        .await;
    let mut seen = 0;
    while let Some(e) = ws.next_message_on("/topic/lobby", QUIET).await {
        if e["type"] == "room.created" && e["room"]["roomId"] == room {
            seen += 1;
        }
    }
    assert_eq!(seen, 30, "{:?}", ws.summary());
}

/// Expects the `ERROR` for an oversize frame, naming the limit, then a close with 1009.
async fn assert_closed_for_size(ws: &mut StompClient, case: &str) {
    let e = ws.next_error_frame(WAIT).await.expect("an ERROR frame");
    assert_eq!(e.code, "FRAME_TOO_LARGE", "{case}");
    let message = e.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("8192"),
        "{case}: names the limit: {message}"
    );
    assert!(e.closed, "{case}: then the socket closes");
    assert_eq!(
        ws.close_code,
        Some(1009),
        "{case}: close code 1009, not a reset"
    );
}

#[tokio::test]
async fn an_oversize_frame_gets_an_error_naming_the_limit_then_close_1009() {
    let app = spawn_app().await;
    let (_, ivy) = app.member("ivy").await;

    // Over the 8 KiB frame limit, in a WebSocket message the socket still reads.
    let mut ws = StompClient::member(&app, &ivy.access).await;
    let frame = format!(
        "SEND\ndestination:/app/rooms/1/chat\n\n{}\0",
        "x".repeat(9000)
    );
    assert!(ws.send_text(&frame).await);
    assert_closed_for_size(&mut ws, "frame over 8 KiB").await;

    // A WebSocket message too big to read at all (beyond 8 frames' worth).
    let mut ws = StompClient::member(&app, &ivy.access).await;
    assert!(ws.send_text(&"y".repeat(100_000)).await);
    assert_closed_for_size(&mut ws, "message over 64 KiB").await;

    // The same before CONNECT.
    let mut ws = StompClient::open(&app).await;
    assert!(ws.send_text(&"z".repeat(100_000)).await);
    assert_closed_for_size(&mut ws, "before CONNECT").await;
}
