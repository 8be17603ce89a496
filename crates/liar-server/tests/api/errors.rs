//! Every failure is a problem document with a stable code, never a 500 (SPEC §6.1).

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_requests_get_problem_documents() {
    let app = spawn_app().await;
    let url = app.url("/api/auth/login");
    let send = |body: &'static str, ct: Option<&'static str>| {
        let mut req = app.client.post(&url).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    problem(
        send("{", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    problem(
        send("[1,2]", Some("application/json")).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    )
    .await;
    problem(
        send(r#"{"email": 5}"#, Some("application/json"))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    )
    .await;
    problem(
        send("{}", Some("text/plain")).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    problem(
        send("{}", None).await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;

    let huge = format!(r#"{{"email": "{}"}}"#, "a".repeat(200_000));
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_documents() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = app
        .client
        .delete(app.url("/api/auth/login"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
    let r = app
        .client
        .put(app.url("/api/users/me"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.register_member("ola").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("liar_http_requests_total"), "{text}");
    assert!(text.contains("liar_db_pool_connections{state=\"max\"}"));
}

#[tokio::test]
async fn the_api_browser_is_served_from_the_binary() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(!html.contains("https://"), "no asset from the network");
    let js = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_shipped_topics_are_listed_without_their_words() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/api/topics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert!(
        items.len() >= 20,
        "SPEC §3.2: at least 20 topics, got {}",
        items.len()
    );
    for t in items {
        assert!(t["wordCount"].as_u64().unwrap() >= 30, "{t}");
        assert!(!t["name"]["ko"].as_str().unwrap().is_empty());
        assert!(!t["name"]["en"].as_str().unwrap().is_empty());
        assert!(t.get("words").is_none(), "words stay secret");
    }
}
