//! Topics and words edited by admins (SPEC §3.2): who may edit, what an edit does to rooms and
//! games, validation, persistence across a restart, and edits racing each other.

use crate::helpers::*;
use crate::ws_client::*;
use futures::future::join_all;
use liar_server::domain::Email;
use liar_server::store;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;

/// Runs a whole test under a deadline, so nothing can hang.
async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

/// A topic body with `n` words `<prefix>0…`, each with distinct Korean and English forms, and
/// one pair of its first two words.
fn topic_body(prefix: &str, n: usize) -> Value {
    let words: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("{prefix}_{i}"), "ko": format!("{prefix}단어{i}"), "en": format!("{prefix} word {i}")}))
        .collect();
    json!({
        "name": {"ko": format!("{prefix} 주제"), "en": format!("{prefix} topic")},
        "words": words,
        "pairs": [[format!("{prefix}_0"), format!("{prefix}_1")]],
    })
}

impl TestApp {
    /// Registers and logs in `name`, made an admin the way an operator does (the store port
    /// behind `liar admin grant`), on the server's own database.
    async fn admin(&self, name: &str) -> Tokens {
        self.register_member(name).await;
        let store = store::connect(&self.database_url, 1, Duration::from_secs(10))
            .await
            .unwrap();
        let email = Email::parse(&format!("{name}@example.com")).unwrap();
        assert!(store.set_admin(&email, true).await.unwrap());
        store.close().await;
        self.login_member(name).await
    }

    /// Any call, with a JSON body unless it is `Null`, as `access` (anonymous when `None`).
    async fn call(
        &self,
        method: Method,
        path: &str,
        access: Option<&str>,
        body: Value,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = access {
            req = req.bearer_auth(token);
        }
        if !body.is_null() {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn put_topic(&self, access: &str, id: &str, body: Value) -> Response {
        let path = format!("/api/topics/{id}");
        self.call(Method::PUT, &path, Some(access), body).await
    }

    async fn add_word(&self, access: &str, topic: &str, body: Value) -> Response {
        let path = format!("/api/topics/{topic}/words");
        self.call(Method::POST, &path, Some(access), body).await
    }

    async fn remove_word(&self, access: &str, topic: &str, word: &str) -> Response {
        let path = format!("/api/topics/{topic}/words/{word}");
        self.call(Method::DELETE, &path, Some(access), Value::Null)
            .await
    }

    async fn remove_topic(&self, access: &str, topic: &str) -> Response {
        let path = format!("/api/topics/{topic}");
        self.call(Method::DELETE, &path, Some(access), Value::Null)
            .await
    }

    /// `GET /api/topics/{id}` as an admin, asserting 200.
    async fn topic(&self, access: &str, id: &str) -> Value {
        let path = format!("/api/topics/{id}");
        let r = self
            .call(Method::GET, &path, Some(access), Value::Null)
            .await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    /// `GET /api/topics`: topic id → word count, in the listed order.
    async fn topic_list(&self) -> Vec<(String, i64)> {
        let r = self
            .call(Method::GET, "/api/topics", None, Value::Null)
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let id = t["id"].as_str().unwrap().to_owned();
                (id, t["wordCount"].as_i64().unwrap())
            })
            .collect()
    }

    async fn word_count(&self, id: &str) -> Option<i64> {
        self.topic_list()
            .await
            .into_iter()
            .find_map(|(t, n)| (t == id).then_some(n))
    }
}

fn word_ids(topic: &Value) -> Vec<String> {
    topic["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Three members in a room with `settings`, connected over STOMP, the guests ready; the host's
/// client first.
async fn table(app: &TestApp, settings: Value, names: [&str; 3]) -> (i64, Vec<StompClient>) {
    let (_, host) = app.member(names[0]).await;
    let mut clients = vec![StompClient::member(app, &host.access).await];
    let (room, _) = app.create_room(&host.access, "topic table", settings).await;
    clients[0].watch(room).await;
    for name in &names[1..] {
        let (_, tokens) = app.member(name).await;
        let mut ws = StompClient::member(app, &tokens.access).await;
        ws.command(room, "join", json!({})).await.expect("join");
        ws.watch(room).await;
        ws.command(room, "ready", json!({"ready": true}))
            .await
            .expect("ready");
        clients.push(ws);
    }
    (room, clients)
}

// ---- Who may edit ------------------------------------------------------------------------------

#[tokio::test]
async fn members_and_anonymous_callers_are_refused_on_every_admin_route() {
    within(60, async {
        let app = spawn_app().await;
        let (_, member) = app.member("plain").await;
        let before = app.topic_list().await;
        let routes = [
            (Method::GET, "/api/topics/animals", Value::Null),
            (Method::PUT, "/api/topics/animals", topic_body("x", 30)),
            (Method::PUT, "/api/topics/brand_new", topic_body("x", 30)),
            (Method::DELETE, "/api/topics/animals", Value::Null),
            (
                Method::POST,
                "/api/topics/animals/words",
                json!({"ko": "수달", "en": "Otter"}),
            ),
            (
                Method::DELETE,
                "/api/topics/animals/words/lion",
                Value::Null,
            ),
        ];
        for (method, path, body) in routes {
            let r = app.call(method.clone(), path, None, body.clone()).await;
            problem(r, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED").await;
            let r = app
                .call(method.clone(), path, Some(&member.access), body)
                .await;
            let p = problem(r, StatusCode::FORBIDDEN, "NOT_ADMIN").await;
            assert!(
                p["detail"].as_str().unwrap().contains("admin"),
                "{method} {path}: {p}"
            );
        }
        assert_eq!(app.topic_list().await, before, "nothing changed");
    })
    .await;
}

// ---- Topics ------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_adds_a_topic_and_a_room_plays_a_game_with_it() {
    within(60, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let me: Value = app.me(&admin.access).await.json().await.unwrap();
        assert_eq!(
            me["admin"], true,
            "the web client learns it may show the topic editor"
        );

        let r = app
            .put_topic(&admin.access, "planets", topic_body("planet", 31))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["id"], "planets");
        assert_eq!(created["words"].as_array().unwrap().len(), 31);
        assert_eq!(app.word_count("planets").await, Some(31), "listed at once");
        let detail = app.topic(&admin.access, "planets").await;
        assert_eq!(detail["pairs"], json!([["planet_0", "planet_1"]]));
        assert_eq!(detail["words"][3]["en"], "planet word 3");

        // The same PUT again replaces it; what GET returns can be sent back as it is.
        let mut again = detail.clone();
        again["name"]["en"] = json!("Planets");
        let r = app.put_topic(&admin.access, "planets", again).await;
        assert_eq!(r.status(), StatusCode::OK, "a replacement is 200");
        assert_eq!(
            app.topic(&admin.access, "planets").await["name"]["en"],
            "Planets"
        );

        let settings = json!({"topicId": "planets", "hintSeconds": 10});
        let (room, mut c) = table(&app, settings, ["ann", "bob", "cy"]).await;
        c[0].command(room, "start", json!({}))
            .await
            .expect("the game starts");
        let started = c[0].expect_event(&room_topic(room), "game.started").await;
        assert_eq!(started["topicId"], "planets", "{started}");
        assert_eq!(started["topic"], "planet 주제", "{started}");
        let words: Vec<Value> = detail["words"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["ko"].clone())
            .collect();
        let mut citizens = 0;
        for ws in &mut c {
            let card = ws.expect_event(EVENTS, "game.card").await;
            if card["role"] == "citizen" {
                citizens += 1;
                assert!(
                    words.contains(&card["word"]),
                    "the word is the new topic's: {card}"
                );
            }
        }
        assert_eq!(citizens, 2);

        // A running game keeps its topic when an admin removes it.
        let r = app.remove_topic(&admin.access, "planets").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.word_count("planets").await, None);
        assert_eq!(app.room(room).await["status"], "playing");
    })
    .await;
}

#[tokio::test]
async fn removing_the_topic_a_room_picked_makes_start_fail_with_validation() {
    within(60, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let r = app
            .put_topic(&admin.access, "gone_soon", topic_body("g", 30))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let (room, mut c) =
            table(&app, json!({"topicId": "gone_soon"}), ["ann", "bob", "cy"]).await;
        let r = app.remove_topic(&admin.access, "gone_soon").await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);

        let refused = c[0].command(room, "start", json!({})).await.unwrap_err();
        assert_eq!(refused["code"], "VALIDATION", "{refused}");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.starts_with("topicId:") && message.contains("gone_soon"),
            "{refused}"
        );
        assert_eq!(
            app.room(room).await["status"],
            "waiting",
            "the room lives on"
        );

        // The removed topic cannot be picked again; another one starts.
        let refused = c[0]
            .command(room, "settings", json!({"topicId": "gone_soon"}))
            .await
            .unwrap_err();
        assert_eq!(refused["code"], "VALIDATION", "{refused}");
        c[0].command(room, "settings", json!({"topicId": "animals"}))
            .await
            .expect("settings");
        c[0].command(room, "start", json!({}))
            .await
            .expect("the game starts");
        let started = c[0].expect_event(&room_topic(room), "game.started").await;
        assert_eq!(started["topicId"], "animals");
    })
    .await;
}

#[tokio::test]
async fn unknown_topics_and_the_last_topic_are_refused() {
    within(60, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let path = "/api/topics/nope";
        let r = app
            .call(Method::GET, path, Some(&admin.access), Value::Null)
            .await;
        problem(r, StatusCode::NOT_FOUND, "TOPIC_NOT_FOUND").await;
        problem(
            app.remove_topic(&admin.access, "nope").await,
            StatusCode::NOT_FOUND,
            "TOPIC_NOT_FOUND",
        )
        .await;

        let ids: Vec<String> = app
            .topic_list()
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let (last, others) = ids.split_last().unwrap();
        for id in others {
            let r = app.remove_topic(&admin.access, id).await;
            assert_eq!(r.status(), StatusCode::NO_CONTENT, "remove {id}");
        }
        let r = app.remove_topic(&admin.access, last).await;
        problem(r, StatusCode::CONFLICT, "LAST_TOPIC").await;
        assert_eq!(app.topic_list().await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn invalid_topics_are_refused_with_the_reason() {
    within(60, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let field = |p: &Value| {
            (
                p["errors"][0]["field"].clone(),
                p["errors"][0]["code"].clone(),
            )
        };

        let p = problem(
            app.put_topic(&admin.access, "small", topic_body("s", 29))
                .await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("words"), json!("TOO_FEW_WORDS")), "{p}");
        assert!(
            p["errors"][0]["message"].as_str().unwrap().contains("29"),
            "{p}"
        );

        let mut clash = topic_body("c", 31);
        clash["words"][5]["en"] = json!("C  WORD 4"); // word 4's English form, normalised
        let p = problem(
            app.put_topic(&admin.access, "clash", clash).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("words"), json!("DUPLICATE_FORM")), "{p}");

        let mut pair = topic_body("p", 31);
        pair["pairs"] = json!([["p_0", "ghost"]]);
        let p = problem(
            app.put_topic(&admin.access, "pairs", pair).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("pairs"), json!("UNKNOWN_WORD")), "{p}");

        let p = problem(
            app.put_topic(&admin.access, "random", topic_body("r", 30))
                .await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("topicId"), json!("RESERVED")), "{p}");
        let p = problem(
            app.put_topic(&admin.access, "Bad%20Id", topic_body("b", 30))
                .await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("topicId"), json!("INVALID_ID")), "{p}");
        let mut other = topic_body("o", 30);
        other["id"] = json!("something_else");
        let p = problem(
            app.put_topic(&admin.access, "mine", other).await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("id"), json!("MISMATCH")), "{p}");

        let mut extra = topic_body("e", 30);
        extra["colour"] = json!("red");
        problem(
            app.put_topic(&admin.access, "extra", extra).await,
            StatusCode::BAD_REQUEST,
            "INVALID_BODY",
        )
        .await;
        let r = app
            .client
            .put(app.url("/api/topics/broken"))
            .bearer_auth(&admin.access)
            .header("content-type", "application/json")
            .body("{\"name\":")
            .send()
            .await
            .unwrap();
        problem(r, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;

        let p = problem(
            app.add_word(&admin.access, "animals", json!({"ko": " ", "en": "Otter"}))
                .await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(field(&p), (json!("ko"), json!("REQUIRED")), "{p}");
        let p = problem(
            app.add_word(
                &admin.access,
                "animals",
                json!({"ko": "수달", "en": "수달"}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "VALIDATION",
        )
        .await;
        assert_eq!(
            field(&p),
            (json!("id"), json!("REQUIRED")),
            "no id can be made from Hangul: {p}"
        );

        let ids: Vec<String> = app
            .topic_list()
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for refused in [
            "small", "clash", "pairs", "random", "mine", "extra", "broken",
        ] {
            assert!(
                !ids.iter().any(|id| id == refused),
                "{refused} was not stored"
            );
        }
        assert_eq!(app.word_count("animals").await, Some(39));
    })
    .await;
}

// ---- Words -------------------------------------------------------------------------------------

#[tokio::test]
async fn an_admin_adds_and_removes_words() {
    within(60, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let a = admin.access.as_str();

        let r = app
            .add_word(
                a,
                "animals",
                json!({"ko": "수달", "en": "Sea Otter", "aliases": {"ko": ["해달"]}}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let word: Value = r.json().await.unwrap();
        assert_eq!(word["id"], "sea_otter", "the id is made from `en`");
        assert_eq!(word["aliases"]["ko"], json!(["해달"]));
        assert_eq!(app.word_count("animals").await, Some(40));
        assert!(word_ids(&app.topic(a, "animals").await).contains(&"sea_otter".to_owned()));

        // A clash of id, of a normalised form, or of an alias with a form.
        for clash in [
            json!({"id": "sea_otter", "ko": "다른것", "en": "Something"}),
            json!({"ko": "수 달", "en": "Otter"}),
            json!({"ko": "사자2", "en": "  LION "}),
            json!({"ko": "해달", "en": "Otter"}),
        ] {
            let p = problem(
                app.add_word(a, "animals", clash.clone()).await,
                StatusCode::CONFLICT,
                "WORD_EXISTS",
            )
            .await;
            assert!(!p["detail"].as_str().unwrap().is_empty(), "{clash}: {p}");
        }
        problem(
            app.add_word(a, "nope", json!({"ko": "수달", "en": "Otter"}))
                .await,
            StatusCode::NOT_FOUND,
            "TOPIC_NOT_FOUND",
        )
        .await;

        // Removing a paired word drops its pairs.
        let before = app.topic(a, "animals").await;
        assert!(before["pairs"].to_string().contains("\"lion\""));
        assert_eq!(
            app.remove_word(a, "animals", "lion").await.status(),
            StatusCode::NO_CONTENT
        );
        let after = app.topic(a, "animals").await;
        assert!(!word_ids(&after).contains(&"lion".to_owned()));
        assert!(
            !after["pairs"].to_string().contains("\"lion\""),
            "{}",
            after["pairs"]
        );
        assert_eq!(
            after["pairs"].as_array().unwrap().len(),
            before["pairs"].as_array().unwrap().len() - 1
        );
        problem(
            app.remove_word(a, "animals", "lion").await,
            StatusCode::NOT_FOUND,
            "WORD_NOT_FOUND",
        )
        .await;
        problem(
            app.remove_word(a, "nope", "lion").await,
            StatusCode::NOT_FOUND,
            "TOPIC_NOT_FOUND",
        )
        .await;
        // The removed word's forms are free again.
        let r = app
            .add_word(a, "animals", json!({"ko": "사자", "en": "Lion"}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);

        // A topic keeps at least 30 words.
        let r = app.put_topic(a, "thirty", topic_body("t", 31)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(
            app.remove_word(a, "thirty", "t_30").await.status(),
            StatusCode::NO_CONTENT
        );
        let p = problem(
            app.remove_word(a, "thirty", "t_0").await,
            StatusCode::CONFLICT,
            "TOPIC_TOO_SMALL",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("30"), "{p}");
        assert_eq!(app.word_count("thirty").await, Some(30));
    })
    .await;
}

// ---- Persistence -------------------------------------------------------------------------------

#[tokio::test]
async fn topic_edits_survive_a_restart() {
    within(60, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let a = admin.access.as_str();
        assert_eq!(
            app.put_topic(a, "planets", topic_body("planet", 30))
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            app.add_word(a, "animals", json!({"ko": "수달", "en": "Otter"}))
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            app.remove_word(a, "sports", "soccer").await.status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.remove_topic(a, "weather_seasons").await.status(),
            StatusCode::NO_CONTENT
        );
        // A topic added and removed again leaves nothing behind.
        assert_eq!(
            app.put_topic(a, "fleeting", topic_body("f", 30))
                .await
                .status(),
            StatusCode::CREATED
        );
        assert_eq!(
            app.remove_topic(a, "fleeting").await.status(),
            StatusCode::NO_CONTENT
        );
        let before = app.topic_list().await;

        let dir = app.stop().await;
        let app = start(test_config(&dir), dir).await;
        assert_eq!(
            app.topic_list().await,
            before,
            "the same catalog, in the same order"
        );
        let admin = app.login_member("root").await;
        let animals = app.topic(&admin.access, "animals").await;
        assert!(word_ids(&animals).contains(&"otter".to_owned()));
        assert!(
            !word_ids(&app.topic(&admin.access, "sports").await).contains(&"soccer".to_owned())
        );
        assert_eq!(app.word_count("weather_seasons").await, None);
        assert_eq!(app.word_count("fleeting").await, None);
        assert_eq!(
            app.topic(&admin.access, "planets").await["words"][0]["ko"],
            "planet단어0"
        );
        // The shipped topics come first, added ones after them.
        assert_eq!(before.last().unwrap().0, "planets");
    })
    .await;
}

// ---- Races -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_additions_all_land_and_a_contested_word_lands_once() {
    within(120, async {
        let app = spawn_app().await;
        let admin = app.admin("root").await;
        let before = app.word_count("animals").await.unwrap();

        let distinct = (0..200).map(|i| {
            let body = json!({"ko": format!("새동물{i}"), "en": format!("New animal {i}")});
            app.add_word(&admin.access, "animals", body)
        });
        let statuses: Vec<StatusCode> = join_all(distinct)
            .await
            .iter()
            .map(|r| r.status())
            .collect();
        assert!(
            statuses.iter().all(|s| *s == StatusCode::CREATED),
            "{statuses:?}"
        );
        assert_eq!(
            app.word_count("animals").await,
            Some(before + 200),
            "no addition was lost"
        );
        let ids = word_ids(&app.topic(&admin.access, "animals").await);
        for i in 0..200 {
            assert!(
                ids.contains(&format!("new_animal_{i}")),
                "new_animal_{i} is there"
            );
        }

        let same = (0..200).map(|_| {
            app.add_word(
                &admin.access,
                "animals",
                json!({"ko": "너구리", "en": "Raccoon"}),
            )
        });
        let outcomes = join_all(same).await;
        let mut created = 0;
        let mut exists = 0;
        for r in outcomes {
            match code_of(r).await {
                (StatusCode::CREATED, _) => created += 1,
                (StatusCode::CONFLICT, code) if code == "WORD_EXISTS" => exists += 1,
                other => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!((created, exists), (1, 199));
        assert_eq!(app.word_count("animals").await, Some(before + 201));
    })
    .await;
}
