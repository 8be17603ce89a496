//! Access tokens that must be refused (SPEC §1.1).

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::json;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token with `claims`, signed with `secret`.
fn signed(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// The `sid` inside a real token, so forged tokens name a live session.
fn sid_of(access: &str) -> String {
    let payload = access.split('.').nth(1).unwrap();
    let v: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn forged_expired_unsigned_and_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let id = app.register_member("jon").await;
    let t = app.login_member("jon").await;
    let sid = sid_of(&t.access);
    let claims = |exp: i64| json!({"sub": id.to_string(), "sid": sid, "iat": now(), "exp": exp, "typ": "access"});

    // Sanity: a token we sign with the server's secret for the live session is accepted, so the
    // refusals below are about the token, not the session.
    assert_eq!(
        app.me(&signed(claims(now() + 60), JWT_SECRET))
            .await
            .status(),
        StatusCode::OK
    );

    let forged = signed(
        claims(now() + 60),
        "some-other-secret-some-other-secret-0000",
    );
    problem(
        app.me(&forged).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;

    let expired = signed(claims(now() - 5), JWT_SECRET);
    problem(
        app.me(&expired).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_EXPIRED",
    )
    .await;

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(now() + 60).to_string());
    for alg_none in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        problem(
            app.me(&alg_none).await,
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
        )
        .await;
    }

    problem(
        app.me(&t.refresh).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;

    let not_access = signed(
        json!({"sub": id.to_string(), "sid": sid, "exp": now() + 60, "typ": "refresh"}),
        JWT_SECRET,
    );
    problem(
        app.me(&not_access).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;

    let r = app
        .client
        .get(app.url("/api/users/me"))
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
    let r = app
        .client
        .get(app.url("/api/users/me"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    problem(r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
}

#[tokio::test]
async fn a_generated_jwt_secret_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir);
    config.jwt_secret = None;
    let app = start(config.clone(), dir).await;
    app.register_member("kim").await;
    let t = app.login_member("kim").await;
    let dir = app.stop().await;
    let app = start(config, dir).await;
    assert_eq!(app.me(&t.access).await.status(), StatusCode::OK);
}
