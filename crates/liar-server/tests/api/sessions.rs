//! One live session per member, refresh rotation and reuse detection (SPEC §1.1–1.2).

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;

#[tokio::test]
async fn a_second_login_replaces_the_first_session() {
    let app = spawn_app().await;
    app.register_member("fay").await;
    let first = app.login_member("fay").await;
    let second = app.login_member("fay").await;
    problem(
        app.me(&first.access).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_REPLACED",
    )
    .await;
    problem(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_REPLACED",
    )
    .await;
    assert_eq!(app.me(&second.access).await.status(), StatusCode::OK);
}

/// 1,000 on SQLite; 300 on a database server (issue 12's acceptance figure). Logins of one
/// member take turns on his row, and a server's commit waits for its log to reach the disk
/// (about 8 ms each here), so 1,000 would queue longer than the pool's 5 s acquire timeout.
fn concurrent_logins() -> usize {
    if std::env::var(crate::testdb::API_DATABASE_VAR).is_ok() {
        300
    } else {
        1000
    }
}

#[tokio::test]
async fn concurrent_logins_of_one_member_leave_exactly_one_live_session() {
    let app = spawn_app().await;
    app.register_member("gus").await;
    let n = concurrent_logins();
    let logins = (0..n).map(|_| {
        let app = &app;
        async move {
            let r = app.login("gus@example.com", PASSWORD).await;
            assert_eq!(r.status(), StatusCode::OK);
            tokens(r).await
        }
    });
    let pairs = join_all(logins).await;
    assert!(pairs.iter().all(|t| t.user_id == pairs[0].user_id));
    let checks = pairs.iter().map(|t| {
        let app = &app;
        async move { code_of(app.me(&t.access).await).await }
    });
    let results = join_all(checks).await;
    let live: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].0 == StatusCode::OK)
        .collect();
    assert_eq!(live.len(), 1, "exactly one session survives");
    let replaced = results
        .iter()
        .filter(|(s, c)| *s == StatusCode::UNAUTHORIZED && c == "SESSION_REPLACED")
        .count();
    assert_eq!(replaced, n - 1);
    // The dead pairs' refresh tokens are dead too, with the same reason.
    for (i, t) in pairs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != live[0])
        .take(50)
    {
        let (s, c) = code_of(app.refresh(&t.refresh).await).await;
        assert_eq!(
            (s, c.as_str()),
            (StatusCode::UNAUTHORIZED, "SESSION_REPLACED"),
            "pair {i}"
        );
    }
    assert_eq!(
        app.refresh(&pairs[live[0]].refresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_refresh_token_used_twice_revokes_the_session() {
    let app = spawn_app().await;
    app.register_member("hal").await;
    let t = app.login_member("hal").await;
    let rotated = tokens(app.refresh(&t.refresh).await).await;
    problem(
        app.refresh(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_REUSED",
    )
    .await;
    // The whole session is dead: the rotated pair too.
    problem(
        app.me(&rotated.access).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_REUSED",
    )
    .await;
    problem(
        app.refresh(&rotated.refresh).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_REUSED",
    )
    .await;
    // A fresh login works again.
    let again = app.login_member("hal").await;
    assert_eq!(app.me(&again.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_presentations_of_one_refresh_token_rotate_it_at_most_once() {
    let app = spawn_app().await;
    app.register_member("ivy").await;
    let t = app.login_member("ivy").await;
    let tries = (0..100).map(|_| {
        let app = &app;
        let token = t.refresh.clone();
        async move { code_of(app.refresh(&token).await).await }
    });
    let results = join_all(tries).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1);
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .all(|(s, c)| *s == StatusCode::UNAUTHORIZED && c == "REFRESH_REUSED")
    );
}

#[tokio::test]
async fn an_unknown_refresh_token_is_invalid() {
    let app = spawn_app().await;
    problem(
        app.refresh("made-up").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
}
