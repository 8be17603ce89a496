//! Registration, login, me, patch me (SPEC §1.1).

use crate::helpers::*;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn register_login_me_refresh_logout_round_trip() {
    let app = spawn_app().await;
    let r = app.register("Ann@Example.com", "ann", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let user_id = r.json::<Value>().await.unwrap()["userId"].as_i64().unwrap();

    let r = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["userId"], user_id);
    assert_eq!(body["expiresIn"], 900);
    let access = body["accessToken"].as_str().unwrap();
    let refresh = body["refreshToken"].as_str().unwrap();

    let me: Value = app.me(access).await.json().await.unwrap();
    assert_eq!(
        me,
        json!({"userId": user_id, "email": "ann@example.com", "username": "ann", "level": "BRONZE1",
               "exp": 0, "wins": 0, "losses": 0, "games": 0, "resultsVisible": true, "admin": false})
    );

    let r = app.refresh(refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated = tokens(r).await;
    assert_ne!(rotated.refresh, refresh);
    assert_eq!(app.me(&rotated.access).await.status(), StatusCode::OK);

    assert_eq!(
        app.logout(&rotated.access).await.status(),
        StatusCode::NO_CONTENT
    );
    problem(
        app.me(&rotated.access).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_REVOKED",
    )
    .await;
    // The seed left the refresh token usable after logout (SPEC §7).
    problem(
        app.refresh(&rotated.refresh).await,
        StatusCode::UNAUTHORIZED,
        "SESSION_REVOKED",
    )
    .await;
}

#[tokio::test]
async fn validation_errors_list_every_bad_field() {
    let app = spawn_app().await;
    let r = app.register("not-an-email", "x", "short").await;
    let v = problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
    let fields: Vec<(&str, &str)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("email", "INVALID_EMAIL"),
            ("username", "TOO_SHORT"),
            ("password", "TOO_SHORT")
        ]
    );

    let r = app.post("/api/auth/register", json!({})).await;
    let v = problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
    assert_eq!(v["errors"].as_array().unwrap().len(), 3);
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["code"] == "REQUIRED")
    );

    let long = "p".repeat(101);
    let r = app.register("a@example.com", &"가".repeat(21), &long).await;
    let v = problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
    assert_eq!(v["errors"][0]["code"], "TOO_LONG");
    assert_eq!(v["errors"][1]["code"], "TOO_LONG");
}

#[tokio::test]
async fn the_same_email_twice_is_email_taken_whatever_its_case() {
    let app = spawn_app().await;
    app.register_member("bob").await;
    let r = app.register("BOB@example.com", "bobby", PASSWORD).await;
    problem(r, StatusCode::CONFLICT, "EMAIL_TAKEN").await;
    let r = app.register("other@example.com", "BOB", PASSWORD).await;
    problem(r, StatusCode::CONFLICT, "USERNAME_TAKEN").await;
}

#[tokio::test]
async fn a_thousand_concurrent_registrations_of_one_email_create_exactly_one_account() {
    let app = spawn_app().await;
    let attempts = (0..1000).map(|i| {
        let app = &app;
        async move {
            code_of(
                app.register("race@example.com", &format!("racer{i}"), PASSWORD)
                    .await,
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let taken = results
        .iter()
        .filter(|(s, c)| *s == StatusCode::CONFLICT && c == "EMAIL_TAKEN")
        .count();
    assert_eq!((created, taken), (1, 999), "{:?}", &results[..5]);
    // And the one account works.
    let r = app.login("race@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.register_member("cat").await;
    let a = problem(
        app.login("cat@example.com", "wrong password!").await,
        StatusCode::UNAUTHORIZED,
        "BAD_CREDENTIALS",
    )
    .await;
    let b = problem(
        app.login("nobody@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "BAD_CREDENTIALS",
    )
    .await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn patch_me_changes_username_and_visibility_and_refuses_unknown_fields() {
    let app = spawn_app().await;
    app.register_member("dan").await;
    app.register_member("eve").await;
    let t = app.login_member("dan").await;
    let r = app
        .patch_me(
            &t.access,
            json!({"username": "danny", "resultsVisible": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["username"].as_str(), v["resultsVisible"].as_bool()),
        (Some("danny"), Some(false))
    );
    problem(
        app.patch_me(&t.access, json!({"username": "eve"})).await,
        StatusCode::CONFLICT,
        "USERNAME_TAKEN",
    )
    .await;
    problem(
        app.patch_me(&t.access, json!({"exp": 99999})).await,
        StatusCode::BAD_REQUEST,
        "INVALID_BODY",
    )
    .await;
    problem(
        app.patch_me(&t.access, json!({"username": "x"})).await,
        StatusCode::BAD_REQUEST,
        "VALIDATION",
    )
    .await;
    let me: Value = app.me(&t.access).await.json().await.unwrap();
    assert_eq!(me["exp"], 0);
}

/// The `code` of the `username` field error in a 400 `VALIDATION` problem.
async fn username_error(r: reqwest::Response) -> String {
    let v = problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
    let e = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "username")
        .unwrap_or_else(|| panic!("no username error in {v}"));
    e["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn look_alike_usernames_are_one_name_and_invisible_characters_are_refused() {
    let app = spawn_app().await;
    let r = app
        .register("zoe1@example.com", "Zoe\u{308}", PASSWORD)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the NFD spelling registers"
    );
    let zoe = app.login_member("zoe1").await;
    let me: Value = app.me(&zoe.access).await.json().await.unwrap();
    assert_eq!(me["username"], "Zo\u{eb}", "stored in NFC");

    for (i, same) in ["Zo\u{eb}", "ZO\u{cb}", "zoe\u{308}", " zO\u{eb} "]
        .iter()
        .enumerate()
    {
        let r = app
            .register(&format!("zoe{}@example.com", i + 2), same, PASSWORD)
            .await;
        problem(r, StatusCode::CONFLICT, "USERNAME_TAKEN").await;
    }
    for bad in [
        "\u{202e}admin",
        "ad\u{200b}min",
        "ad\u{200d}min",
        "\u{2066}admin\u{2069}",
        "ad\u{feff}min",
    ] {
        let r = app.register("bidi@example.com", bad, PASSWORD).await;
        assert_eq!(username_error(r).await, "INVALID_CHARACTERS", "{bad:?}");
    }
    // One character after NFC, however many code points.
    let r = app
        .register("short@example.com", "e\u{301}", PASSWORD)
        .await;
    assert_eq!(username_error(r).await, "TOO_SHORT");

    // PATCH /api/users/me enforces the same rules.
    let (_, ann) = app.member("ann").await;
    let r = app
        .patch_me(&ann.access, json!({"username": "ZOE\u{308}"}))
        .await;
    problem(r, StatusCode::CONFLICT, "USERNAME_TAKEN").await;
    let r = app
        .patch_me(&ann.access, json!({"username": "an\u{200b}n"}))
        .await;
    assert_eq!(username_error(r).await, "INVALID_CHARACTERS");
    let r = app.patch_me(&ann.access, json!({"username": "ANN"})).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "a member may change the case of his own name"
    );
}

#[tokio::test]
async fn a_hundred_concurrent_registrations_of_look_alike_names_create_exactly_one_account() {
    let app = std::sync::Arc::new(spawn_app().await);
    let spellings = ["Zo\u{eb}y", "Zoe\u{308}y", "ZO\u{cb}Y", "zoe\u{308}Y"];
    let results = join_all((0..100).map(|i| {
        let app = app.clone();
        let name = spellings[i % spellings.len()];
        tokio::spawn(async move {
            app.register(&format!("racer{i}@example.com"), name, PASSWORD)
                .await
                .status()
        })
    }))
    .await;
    let statuses: Vec<StatusCode> = results.into_iter().map(|r| r.unwrap()).collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let taken = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, taken), (1, 99), "{statuses:?}");
}
