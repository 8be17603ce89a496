//! Transactions always give their connection back (SPEC §6.2, the seed's outage).

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn five_thousand_requests_failing_inside_a_transaction_leave_the_pool_whole() {
    // A small pool: a leaked connection per failure would exhaust it within four requests, and
    // every later request would time out waiting for a connection (503).
    let app = spawn_app_with(|c| {
        c.database_max_connections = 4;
        c.database_acquire_timeout_ms = 2_000;
    })
    .await;
    app.register_member("pam").await;
    app.register_member("quinn").await;
    let t = app.login_member("pam").await;

    // Each PATCH runs an UPDATE inside a write transaction that fails on the unique username.
    let results: Vec<(StatusCode, String)> = futures::stream::iter(0..5000)
        .map(|_| {
            let app = &app;
            let access = t.access.clone();
            async move { code_of(app.patch_me(&access, json!({"username": "quinn"})).await).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let conflicts = results
        .iter()
        .filter(|(s, c)| *s == StatusCode::CONFLICT && c == "USERNAME_TAKEN")
        .count();
    assert_eq!(
        conflicts,
        5000,
        "{:?}",
        results.iter().find(|(s, _)| *s != StatusCode::CONFLICT)
    );

    let open = app.metric("liar_db_pool_connections{state=\"open\"}").await;
    let idle = app.metric("liar_db_pool_connections{state=\"idle\"}").await;
    assert!(open <= 4.0);
    assert_eq!(idle, open, "every connection is back in the pool");

    // And the server still writes.
    let r = app.patch_me(&t.access, json!({"username": "pamela"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}
