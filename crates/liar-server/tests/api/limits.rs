//! Abuse limits (SPEC §1.3) and where the client address comes from.

use crate::helpers::*;
use liar_server::config::LimitRule;
use reqwest::StatusCode;
use serde_json::json;

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
