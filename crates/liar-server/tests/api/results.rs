//! Results, history and ranking (SPEC §3.1, §5) over real HTTP: history filters and substring
//! search, cursor paging while games are being stored, the leaderboard's order and paging,
//! hidden members, who may see a game — and a real `liar` process killed (SIGKILL) right after
//! its games ended, restarted on the same database, with every finished game stored once.
//!
//! Most results are stored through the store port on the server's own database (what the room
//! actor does when a game ends); the crash test plays real games with bots over STOMP. Every
//! test runs on the engine `spawn_app()` picks (`LIAR_TEST_DATABASE_URL`), the crash test too.

use crate::helpers::*;
use crate::server::Server;
use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use liar_server::store::{self, FinishedGame, FinishedPlayer, HistoryQuery, Store};
use liar_stomp::{Command, Decoded, Decoder, Frame, Limits};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Runs a whole test under a deadline, so nothing can hang.
async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

/// The store port on the test server's own database (a second pool on it).
async fn store_of(app: &TestApp) -> Arc<dyn Store> {
    store::connect(&app.database_url, 4, Duration::from_secs(10))
        .await
        .expect("the store opens")
}

/// A finished game of `players` named `name`; `winner` is `liar`, `citizens` or `None`
/// (aborted); `correct` voted for the liar. Experience follows SPEC §3.1.
fn finished(
    key: &str,
    name: &str,
    liar: i64,
    players: &[i64],
    winner: Option<&str>,
    correct: &[i64],
) -> FinishedGame {
    let n = players.len() as i64;
    let players = players
        .iter()
        .map(|&id| {
            let is_liar = id == liar;
            let voted = !is_liar && correct.contains(&id);
            let (won, exp) = match winner {
                None => (false, 0),
                Some("liar") if is_liar => (true, 53 - n),
                Some("liar") => (false, 15),
                Some(_) if is_liar => (false, 10),
                Some(_) if voted => (true, 25 + n),
                Some(_) => (true, 20),
            };
            FinishedPlayer {
                user_id: id,
                role: if is_liar { "liar" } else { "citizen" }.into(),
                voted_correctly: voted,
                won,
                exp,
            }
        })
        .collect();
    FinishedGame {
        key: key.into(),
        room_name: name.into(),
        topic_id: "animals".into(),
        word: "사자".into(),
        mode: "classic".into(),
        winner: winner.map(str::to_owned),
        liar_id: Some(liar),
        players,
        result_json: json!({"winner": winner, "liarId": liar, "word": "사자"}).to_string(),
        started_at: 1_763_900_000_000,
        ended_at: 1_763_900_600_000,
    }
}

async fn record(s: &Arc<dyn Store>, game: FinishedGame) -> i64 {
    s.record_game(game).await.expect("result stored").0
}

/// `GET /api/users/me/games` with `query`, asserting 200.
async fn my_games(app: &TestApp, access: &str, query: &[(&str, &str)]) -> Value {
    let r = my_games_response(app, access, query).await;
    assert_eq!(r.status(), StatusCode::OK, "history {query:?}");
    r.json().await.unwrap()
}

async fn my_games_response(
    app: &TestApp,
    access: &str,
    query: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .get(app.url("/api/users/me/games"))
        .bearer_auth(access)
        .query(query)
        .send()
        .await
        .unwrap()
}

fn game_ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["gameId"].as_i64().expect("gameId"))
        .collect()
}

async fn get(app: &TestApp, path: &str, access: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(a) = access {
        req = req.bearer_auth(a);
    }
    req.send().await.unwrap()
}

async fn leaderboard(app: &TestApp, query: &[(&str, &str)]) -> Value {
    let r = app
        .client
        .get(app.url("/api/leaderboard"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "leaderboard {query:?}");
    r.json().await.unwrap()
}

/// Walks the whole leaderboard with pages of `limit`; returns every item in order.
async fn whole_leaderboard(app: &TestApp, limit: usize) -> Vec<Value> {
    let limit = limit.to_string();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let mut q = vec![("limit", limit.as_str())];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = leaderboard(app, &q).await;
        let got = page["items"].as_array().expect("items").clone();
        let next = page["nextCursor"].as_str().map(str::to_owned);
        if next.is_some() {
            assert_eq!(
                got.len().to_string(),
                limit,
                "a page before the last is full"
            );
        }
        items.extend(got);
        match next {
            Some(c) => cursor = Some(c),
            None => return items,
        }
    }
    panic!("the leaderboard never ended");
}

fn user_ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|i| i["userId"].as_i64().unwrap())
        .collect()
}

// ---- History ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_filters_by_outcome_and_finds_korean_and_latin_substrings() {
    within(60, async {
        let app = spawn_app().await;
        let (ann, ann_t) = app.member("ann").await;
        let (bob, _) = app.member("bob").await;
        let (cid, _) = app.member("cid").await;
        let (dan, _) = app.member("dan").await;
        let (_, eve_t) = app.member("eve").await;
        let all = [ann, bob, cid, dan];
        let s = store_of(&app).await;
        // Oldest first; ann: won as the liar, lost as the liar, lost as a citizen, won having
        // voted for the liar, an aborted game, won without voting for him.
        let g1 = record(
            &s,
            finished("k1", "금요일 밤 게임", ann, &all, Some("liar"), &[]),
        )
        .await;
        let g2 = record(
            &s,
            finished("k2", "Friday fun", ann, &all, Some("citizens"), &[bob]),
        )
        .await;
        let g3 = record(
            &s,
            finished("k3", "토요일 아침", bob, &all, Some("liar"), &[]),
        )
        .await;
        let g4 = record(
            &s,
            finished(
                "k4",
                "late FRIDAY session",
                cid,
                &all,
                Some("citizens"),
                &[ann],
            ),
        )
        .await;
        let g5 = record(&s, finished("k5", "금요일 취소", dan, &all, None, &[])).await;
        let g6 = record(
            &s,
            finished("k6", "100% 진짜_방", dan, &all, Some("citizens"), &[bob]),
        )
        .await;

        let ids = |q: &'static [(&'static str, &'static str)]| {
            let app = &app;
            let access = ann_t.access.clone();
            async move { game_ids(&my_games(app, &access, q).await) }
        };
        assert_eq!(ids(&[]).await, vec![g6, g5, g4, g3, g2, g1], "newest first");
        assert_eq!(ids(&[("outcome", "win")]).await, vec![g6, g4, g1]);
        assert_eq!(
            ids(&[("outcome", "lose")]).await,
            vec![g3, g2],
            "an aborted game is not a loss"
        );
        assert_eq!(ids(&[("q", "요일")]).await, vec![g5, g3, g1], "Korean");
        assert_eq!(ids(&[("q", "금요일 밤")]).await, vec![g1]);
        assert_eq!(
            ids(&[("q", "frida")]).await,
            vec![g4, g2],
            "Latin, ignoring case"
        );
        assert_eq!(ids(&[("q", "요일"), ("outcome", "win")]).await, vec![g1]);
        assert_eq!(ids(&[("q", "frida"), ("outcome", "lose")]).await, vec![g2]);
        assert_eq!(ids(&[("q", "%")]).await, vec![g6], "% is a literal");
        assert_eq!(ids(&[("q", "진짜_")]).await, vec![g6], "_ is a literal");
        assert_eq!(ids(&[("q", "_방_")]).await, Vec::<i64>::new());
        assert_eq!(ids(&[("q", "saturday")]).await, Vec::<i64>::new());

        // One item in full.
        let page = my_games(&app, &ann_t.access, &[("q", "금요일 밤")]).await;
        let item = &page["items"][0];
        assert_eq!(item["gameName"], "금요일 밤 게임");
        assert_eq!(item["topic"], "animals");
        assert_eq!(item["winner"], "liar");
        assert_eq!(item["players"], 4);
        assert_eq!(item["myRole"], "liar");
        assert_eq!(item["votedCorrectly"], false);
        assert_eq!(item["won"], true);
        assert_eq!(item["exp"], 49, "the liar of four wins 53 − 4");
        let played = item["playedAt"].as_str().expect("playedAt");
        assert!(
            played.starts_with("2025-11-23T12:23:20"),
            "RFC 3339 UTC: {played}"
        );
        assert!(page["nextCursor"].is_null());
        let won_as_voter = my_games(&app, &ann_t.access, &[("q", "FRIDAY s")]).await;
        let item = &won_as_voter["items"][0];
        assert_eq!(
            (&item["myRole"], &item["votedCorrectly"], &item["exp"]),
            (&json!("citizen"), &json!(true), &json!(29)),
            "a citizen who voted for the liar of four gets 25 + 4: {item}"
        );
        let aborted = my_games(&app, &ann_t.access, &[("q", "취소")]).await;
        let item = &aborted["items"][0];
        assert_eq!(item["aborted"], true, "{item}");
        assert_eq!((&item["won"], &item["exp"]), (&json!(false), &json!(0)));

        // Someone who never played has an empty history; another's games are not his.
        let none = my_games(&app, &eve_t.access, &[]).await;
        assert_eq!(none, json!({"items": [], "nextCursor": null}));

        for bad in [
            &[("outcome", "draw")][..],
            &[("limit", "0")],
            &[("limit", "51")],
            &[("limit", "ten")],
            &[("cursor", "yesterday")],
        ] {
            problem(
                my_games_response(&app, &ann_t.access, bad).await,
                StatusCode::BAD_REQUEST,
                "VALIDATION",
            )
            .await;
        }
        let r = get(&app, "/api/users/me/games", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_walks_every_game_once_newest_first_while_new_games_are_stored() {
    within(120, async {
        let app = spawn_app().await;
        let (ann, ann_t) = app.member("ann").await;
        let (bob, _) = app.member("bob").await;
        let (cid, _) = app.member("cid").await;
        let all = [ann, bob, cid];
        let s = store_of(&app).await;
        let mut n = 0;
        let mut next_game = |s: Arc<dyn Store>| {
            n += 1;
            // Alternating names and outcomes, so the filtered walks have gaps to skip.
            let name = if n % 3 == 0 {
                format!("금요일 밤 {n}")
            } else {
                format!("Friday fun {n}")
            };
            let winner = if n % 2 == 0 { "liar" } else { "citizens" };
            let g = finished(&format!("p{n}"), &name, bob, &all, Some(winner), &[ann]);
            async move { record(&s, g).await }
        };
        for _ in 0..57 {
            next_game(s.clone()).await;
        }
        let mut stored_while_paging = 0;

        for filter in [
            vec![],
            vec![("outcome", "win")],
            vec![("outcome", "lose")],
            vec![("q", "요일")],
        ] {
            let mut seen: Vec<i64> = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut q = filter.clone();
                q.push(("limit", "7"));
                if let Some(c) = &cursor {
                    q.push(("cursor", c.as_str()));
                }
                let page = my_games(&app, &ann_t.access, &q).await;
                let ids = game_ids(&page);
                pages += 1;
                // Two more games end between every two pages.
                next_game(s.clone()).await;
                next_game(s.clone()).await;
                stored_while_paging += 2;
                match page["nextCursor"].as_str() {
                    Some(c) => {
                        assert_eq!(ids.len(), 7, "a page before the last is full");
                        assert_eq!(c, ids[6].to_string());
                        cursor = Some(c.to_owned());
                        seen.extend(ids);
                    }
                    None => {
                        seen.extend(ids);
                        break;
                    }
                }
                assert!(pages < 100, "paging never ended");
            }
            assert!(
                seen.windows(2).all(|w| w[0] > w[1]),
                "{filter:?}: newest first, no game twice: {seen:?}"
            );
            // Exactly the games that matched when the walk began: none missed, none twice.
            let won = match filter.first() {
                Some(("outcome", "win")) => Some(true),
                Some(("outcome", "lose")) => Some(false),
                _ => None,
            };
            let q = match filter.first() {
                Some(("q", q)) => Some(q.to_string()),
                _ => None,
            };
            let expected: Vec<i64> = s
                .history(HistoryQuery {
                    user: ann,
                    won,
                    q,
                    before: Some(seen[0] + 1),
                    limit: 10_000,
                })
                .await
                .unwrap()
                .iter()
                .map(|h| h.game_id)
                .collect();
            assert!(expected.len() >= 19, "{filter:?}: {expected:?}");
            assert_eq!(seen, expected, "{filter:?}: no duplicates, no gaps");
        }
        // The newest page now starts with the games stored during the walks.
        let first = game_ids(&my_games(&app, &ann_t.access, &[("limit", "1")]).await);
        assert_eq!(first.len(), 1);
        let all_games = s
            .history(HistoryQuery {
                user: ann,
                won: None,
                q: None,
                before: None,
                limit: 10_000,
            })
            .await
            .unwrap();
        assert_eq!(first[0], all_games[0].game_id);
        assert_eq!(all_games.len(), 57 + stored_while_paging);
    })
    .await;
}

// ---- Game detail --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_games_players_and_admins_see_a_game() {
    within(60, async {
        let app = spawn_app().await;
        let (ann, ann_t) = app.member("ann").await;
        let (bob, _) = app.member("bob").await;
        let (cid, _) = app.member("cid").await;
        let (eve, eve_t) = app.member("eve").await;
        let s = store_of(&app).await;
        let id = record(
            &s,
            finished(
                "d1",
                "금요일 밤 게임",
                bob,
                &[ann, bob, cid],
                Some("citizens"),
                &[ann],
            ),
        )
        .await;
        let path = format!("/api/games/{id}");

        let r = get(&app, &path, Some(&ann_t.access)).await;
        assert_eq!(r.status(), StatusCode::OK);
        let g: Value = r.json().await.unwrap();
        assert_eq!(g["gameId"], id);
        assert_eq!(g["gameName"], "금요일 밤 게임");
        assert_eq!(g["winner"], "citizens");
        assert_eq!(g["liarId"], bob);
        assert_eq!(g["word"], "사자");
        assert_eq!(g["aborted"], false);
        assert_eq!(g["result"]["liarId"], bob, "{g}");

        problem(
            get(&app, &path, Some(&eve_t.access)).await,
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
        )
        .await;
        assert_eq!(
            get(&app, &path, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        for missing in ["/api/games/999999", "/api/games/abc"] {
            problem(
                get(&app, missing, Some(&ann_t.access)).await,
                StatusCode::NOT_FOUND,
                "GAME_NOT_FOUND",
            )
            .await;
        }

        // An admin sees every game.
        crate::testdb::execute(
            &app.database_url,
            &format!("UPDATE members SET is_admin = TRUE WHERE id = {eve}"),
        )
        .await;
        let r = get(&app, &path, Some(&eve_t.access)).await;
        assert_eq!(r.status(), StatusCode::OK, "an admin may see any game");
    })
    .await;
}

// ---- Leaderboard and profiles -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaderboard_ties_are_broken_by_id_and_cursor_pages_have_no_duplicates_or_gaps() {
    within(60, async {
        let app = spawn_app().await;
        let mut m = Vec::new();
        for i in 0..11 {
            m.push(app.member(&format!("m{i:02}")).await.0);
        }
        let s = store_of(&app).await;
        // Three liars of three win: 50 each; six citizens: 15 each; two never played: 0.
        for (k, t) in [(0, [0, 1, 2]), (1, [3, 4, 5]), (2, [6, 7, 8])] {
            let players: Vec<i64> = t.iter().map(|&i| m[i]).collect();
            record(
                &s,
                finished(
                    &format!("t{k}"),
                    "tie",
                    players[0],
                    &players,
                    Some("liar"),
                    &[],
                ),
            )
            .await;
        }
        let want = [0, 3, 6, 1, 2, 4, 5, 7, 8, 9, 10].map(|i| m[i]).to_vec();

        let one_page = leaderboard(&app, &[("limit", "50")]).await;
        assert!(one_page["nextCursor"].is_null());
        let items = one_page["items"].as_array().unwrap().clone();
        assert_eq!(user_ids(&items), want, "by exp, ties by id");
        let exps: Vec<i64> = items.iter().map(|i| i["exp"].as_i64().unwrap()).collect();
        assert_eq!(exps, [50, 50, 50, 15, 15, 15, 15, 15, 15, 0, 0]);
        let top = &items[0];
        assert_eq!(top["rank"], 1);
        assert_eq!(top["username"], "m00");
        assert_eq!(
            (&top["wins"], &top["losses"], &top["games"]),
            (&json!(1), &json!(0), &json!(1))
        );
        assert_eq!(top["level"], "BRONZE1");

        for limit in [1, 2, 4, 5, 10] {
            let walked = whole_leaderboard(&app, limit).await;
            assert_eq!(
                user_ids(&walked),
                want,
                "pages of {limit}: no duplicate, no gap"
            );
            let ranks: Vec<u64> = walked.iter().map(|i| i["rank"].as_u64().unwrap()).collect();
            assert_eq!(ranks, (1..=11).collect::<Vec<u64>>(), "pages of {limit}");
        }
        // The same page twice is the same page.
        assert_eq!(
            leaderboard(&app, &[("limit", "4")]).await,
            leaderboard(&app, &[("limit", "4")]).await
        );
        for bad in [
            &[("limit", "0")][..],
            &[("limit", "51")],
            &[("cursor", "x")],
            &[("cursor", "1.2")],
        ] {
            let r = app
                .client
                .get(app.url("/api/leaderboard"))
                .query(bad)
                .send()
                .await
                .unwrap();
            problem(r, StatusCode::BAD_REQUEST, "VALIDATION").await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_hides_his_results_leaves_the_leaderboard_and_his_profile_shows_no_stats() {
    within(60, async {
        let app = spawn_app().await;
        let (ann, _) = app.member("ann").await;
        let (bob, bob_t) = app.member("bob").await;
        let (cid, _) = app.member("cid").await;
        let s = store_of(&app).await;
        let g = record(
            &s,
            finished("h1", "Friday fun", bob, &[ann, bob, cid], Some("liar"), &[]),
        )
        .await;
        let board = whole_leaderboard(&app, 50).await;
        assert_eq!(user_ids(&board), vec![bob, ann, cid]);

        let r = app
            .patch_me(&bob_t.access, json!({"resultsVisible": false}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.json::<Value>().await.unwrap()["resultsVisible"], false);

        let board = whole_leaderboard(&app, 50).await;
        assert_eq!(user_ids(&board), vec![ann, cid], "bob is hidden");
        assert_eq!(board[0]["rank"], 1);
        for limit in [1, 2] {
            assert_eq!(
                user_ids(&whole_leaderboard(&app, limit).await),
                vec![ann, cid]
            );
        }

        let r = get(&app, &format!("/api/users/{bob}"), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        let profile: Value = r.json().await.unwrap();
        assert_eq!(profile["userId"], bob);
        assert_eq!(profile["username"], "bob");
        assert_eq!(profile["resultsVisible"], false);
        for stat in ["level", "exp", "wins", "losses", "games"] {
            assert!(
                profile.get(stat).is_none(),
                "a hidden profile shows no {stat}: {profile}"
            );
        }
        let r = get(&app, &format!("/api/users/{ann}"), None).await;
        let shown: Value = r.json().await.unwrap();
        assert_eq!(
            shown,
            json!({"userId": ann, "username": "ann", "resultsVisible": true, "level": "BRONZE1",
                   "exp": 15, "wins": 0, "losses": 1, "games": 1})
        );
        problem(
            get(&app, "/api/users/999999", None).await,
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
        )
        .await;

        // He still sees his own totals and games.
        let me: Value = app.me(&bob_t.access).await.json().await.unwrap();
        assert_eq!((&me["exp"], &me["games"]), (&json!(50), &json!(1)));
        assert_eq!(game_ids(&my_games(&app, &bob_t.access, &[]).await), vec![g]);

        // Showing them again puts him back at the top.
        let r = app
            .patch_me(&bob_t.access, json!({"resultsVisible": true}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let board = whole_leaderboard(&app, 50).await;
        assert_eq!(user_ids(&board), vec![bob, ann, cid]);
        let profile: Value = get(&app, &format!("/api/users/{bob}"), None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(profile["exp"], 50);
    })
    .await;
}

// ---- A crash right after games end ----------------------------------------------------------

const EVENTS: &str = "/user/queue/events";
const ERRORS: &str = "/user/queue/errors";

/// The real `liar` binary on a free port; killed (SIGKILL) when dropped.
/// A member as the process knows him: id and access token.
#[derive(Clone)]
struct Account {
    id: i64,
    access: String,
}

async fn account(http: &reqwest::Client, server: &Server, name: &str) -> Account {
    let r = http
        .post(server.url("/api/auth/register"))
        .json(&json!({"email": format!("{name}@example.com"), "username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "register {name}");
    login(http, server, name).await
}

async fn login(http: &reqwest::Client, server: &Server, name: &str) -> Account {
    let r = http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": format!("{name}@example.com"), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login {name}");
    let v: Value = r.json().await.unwrap();
    Account {
        id: v["userId"].as_i64().unwrap(),
        access: v["accessToken"].as_str().unwrap().to_owned(),
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A bot: one STOMP connection that plays by the rules, knowing only its own card and the
/// public events.
struct Bot {
    id: i64,
    ws: Ws,
    buf: BytesMut,
    decoder: Decoder,
    inbox: VecDeque<Frame>,
    receipts: u64,
}

impl Bot {
    async fn connect(addr: SocketAddr, who: &Account) -> Bot {
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("v12.stomp"),
        );
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::connect_async(req),
        )
        .await
        .expect("websocket upgrade timed out")
        .expect("websocket upgrade");
        let mut bot = Bot {
            id: who.id,
            ws,
            buf: BytesMut::new(),
            decoder: Decoder::new(Limits {
                max_frame_bytes: 1 << 22,
                max_headers: 64,
                max_header_bytes: 1 << 16,
            }),
            inbox: VecDeque::new(),
            receipts: 0,
        };
        bot.send(
            Frame::new(Command::Connect)
                .header("accept-version", "1.2")
                .header("host", "liar")
                .header("heart-beat", "0,0")
                .header("Authorization", format!("Bearer {}", who.access)),
        )
        .await;
        let f = bot.next(Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(f.command, Command::Connected, "{f:?}");
        bot.subscribe(ERRORS).await;
        bot.subscribe(EVENTS).await;
        bot
    }

    async fn send(&mut self, f: Frame) {
        let text = String::from_utf8(f.encode().to_vec()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.ws.send(Message::text(text)))
            .await
            .expect("send timed out")
            .expect("send");
    }

    /// The next frame (buffered first), or a panic at `deadline`.
    async fn next(&mut self, deadline: Instant) -> Frame {
        loop {
            if let Some(f) = self.inbox.pop_front() {
                return f;
            }
            self.read(deadline).await;
        }
    }

    async fn read(&mut self, deadline: Instant) {
        let msg = tokio::time::timeout_at(deadline, self.ws.next())
            .await
            .unwrap_or_else(|_| panic!("bot {}: nothing arrived in time", self.id))
            .unwrap_or_else(|| panic!("bot {}: the socket closed", self.id))
            .expect("websocket read");
        match msg {
            Message::Text(t) => self.buf.extend_from_slice(t.as_bytes()),
            Message::Binary(b) => self.buf.extend_from_slice(&b),
            Message::Close(_) => panic!("bot {}: the server closed the socket", self.id),
            _ => return,
        }
        while let Some(d) = self.decoder.decode(&mut self.buf).expect("STOMP") {
            if let Decoded::Frame(f) = d {
                self.inbox.push_back(f);
            }
        }
    }

    /// Sends with a receipt and waits for it; a refusal fails the test. Other frames stay
    /// buffered, in order.
    async fn request(&mut self, f: Frame) {
        self.receipts += 1;
        let receipt = format!("r-{}", self.receipts);
        self.send(f.header("receipt", receipt.clone())).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut scanned = 0;
        loop {
            let hit = self.inbox.iter().skip(scanned).position(|f| {
                f.get("receipt-id") == Some(receipt.as_str())
                    || f.command == Command::Error
                    || (f.get("destination") == Some(ERRORS) && body(f)["receiptId"] == receipt)
            });
            if let Some(i) = hit {
                let f = self.inbox.remove(scanned + i).unwrap();
                assert_eq!(
                    f.command,
                    Command::Receipt,
                    "bot {}: refused: {}",
                    self.id,
                    body(&f)
                );
                return;
            }
            scanned = self.inbox.len();
            self.read(deadline).await;
        }
    }

    async fn subscribe(&mut self, dest: &str) {
        let f = Frame::new(Command::Subscribe)
            .header("id", dest)
            .header("destination", dest)
            .header("ack", "auto");
        self.request(f).await;
    }

    async fn command(&mut self, room: i64, command: &str, body: Value) {
        self.request(app_frame(room, command, &body)).await;
    }

    /// Plays the game the room is in until `game.ended`: hints on its turn, votes for the
    /// player with the smallest id other than itself, and as an accused liar guesses wrong.
    async fn play(mut self, room: i64) -> (Bot, Value) {
        let topic = format!("/topic/rooms/{room}");
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut liar = false;
        let mut order: Vec<i64> = Vec::new();
        loop {
            let f = self.next(deadline).await;
            if f.command != Command::Message {
                assert_ne!(f.command, Command::Error, "bot {}: {f:?}", self.id);
                continue;
            }
            let v = body(&f);
            match f.get("destination") {
                Some(EVENTS) if v["type"] == "game.card" => liar = v["role"] == "liar",
                Some(ERRORS) => panic!("bot {}: a command was refused: {v}", self.id),
                Some(d) if d == topic => match v["type"].as_str().unwrap_or_default() {
                    "game.started" => {
                        order = v["order"]
                            .as_array()
                            .expect("order")
                            .iter()
                            .map(|x| x.as_i64().unwrap())
                            .collect();
                    }
                    "turn.started" if v["speaker"] == self.id => {
                        let hint = json!({"text": format!("hint from {}", self.id)});
                        self.send(app_frame(room, "hint", &hint)).await;
                    }
                    "phase.changed" if v["phase"] == "vote" => {
                        let target = order.iter().copied().filter(|&p| p != self.id).min();
                        let vote = json!({"targetId": target.expect("someone to vote for")});
                        self.send(app_frame(room, "vote", &vote)).await;
                    }
                    "phase.changed" if v["phase"] == "guess" && liar => {
                        let guess = json!({"word": "아무거나 틀린 답"});
                        self.send(app_frame(room, "guess", &guess)).await;
                    }
                    "game.aborted" => panic!("bot {}: the game was aborted: {v}", self.id),
                    "game.ended" => return (self, v),
                    _ => {}
                },
                _ => {}
            }
        }
    }
}

fn app_frame(room: i64, command: &str, body: &Value) -> Frame {
    Frame::new(Command::Send)
        .header("destination", format!("/app/rooms/{room}/{command}"))
        .header("content-type", "application/json")
        .with_body(body.to_string())
}

fn body(f: &Frame) -> Value {
    serde_json::from_slice(&f.body).unwrap_or(Value::Null)
}

/// Opens a room named `name` hosted by `seats[0]`, seats everyone, readies them and starts.
async fn start_table(
    http: &reqwest::Client,
    server: &Server,
    name: &str,
    seats: &[Account],
) -> (i64, Vec<Bot>) {
    let host = &seats[0];
    let r = http
        .post(server.url("/api/rooms"))
        .bearer_auth(&host.access)
        .json(
            &json!({"name": name, "settings": {"hintRounds": 1, "discussionSeconds": 0,
            "defenseSeconds": 0, "hintSeconds": 10, "voteSeconds": 10, "guessSeconds": 10}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "create room {name}");
    let room = r.json::<Value>().await.unwrap()["roomId"].as_i64().unwrap();
    let topic = format!("/topic/rooms/{room}");
    let mut bots = Vec::new();
    for (i, who) in seats.iter().enumerate() {
        let mut bot = Bot::connect(server.addr, who).await;
        if i > 0 {
            bot.command(room, "join", json!({})).await;
        }
        bot.subscribe(&topic).await;
        if i > 0 {
            bot.command(room, "ready", json!({"ready": true})).await;
        }
        bots.push(bot);
    }
    bots[0].command(room, "start", json!({})).await;
    (room, bots)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sigkill_right_after_games_end_loses_no_finished_game_and_stores_none_twice() {
    within(240, async {
        let dir = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let (database_url, _database) = app_database(dir.path()).await;
        let mut server = Server::start(dir.path(), &database_url, 1).await;

        let tables: [(&str, usize); 3] = [
            ("금요일 밤 게임", 4),
            ("Friday fun", 3),
            ("퇴근 후 한 판", 5),
        ];
        let mut names_of: Vec<Vec<String>> = Vec::new();
        let mut playing = Vec::new();
        for (t, (name, n)) in tables.iter().enumerate() {
            let names: Vec<String> = (0..*n).map(|i| format!("t{t}p{i}")).collect();
            let mut seats = Vec::new();
            for who in &names {
                seats.push(account(&http, &server, who).await);
            }
            let (room, bots) = start_table(&http, &server, name, &seats).await;
            for bot in bots {
                playing.push((t, tokio::spawn(bot.play(room))));
            }
            names_of.push(names);
        }
        // Every client waits for its `game.ended`; the moment the last one has it, SIGKILL.
        let mut ended: HashMap<usize, Vec<Value>> = HashMap::new();
        let mut bots = Vec::new();
        for (t, task) in playing {
            let (bot, e) = task.await.expect("a bot played to the end");
            ended.entry(t).or_default().push(e);
            bots.push(bot);
        }
        server.kill();
        drop(bots);

        // What the clients were told, per table: one game id, the same for every player.
        let mut told: Vec<(i64, Value)> = Vec::new();
        for (t, (name, n)) in tables.iter().enumerate() {
            let events = &ended[&t];
            assert_eq!(events.len(), *n);
            let game_id = events[0]["gameId"].as_i64().expect("gameId");
            assert!(game_id > 0, "{}", events[0]);
            for e in events {
                assert_eq!(e["gameId"], game_id, "{name}: one game id for everyone");
                assert_eq!(e["players"], events[0]["players"]);
            }
            told.push((game_id, events[0].clone()));
        }
        let mut distinct: Vec<i64> = told.iter().map(|(g, _)| *g).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), tables.len(), "three games, three ids");

        // Restart on the same database: every announced game is there, once.
        let server = Server::start(dir.path(), &database_url, 2).await;
        for (t, (name, _)) in tables.iter().enumerate() {
            let (game_id, e) = &told[t];
            for who in &names_of[t] {
                let acc = login(&http, &server, who).await;
                let mine = e["players"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["userId"] == acc.id)
                    .unwrap_or_else(|| panic!("{who} is in the result: {e}"))
                    .clone();
                let r = http
                    .get(server.url("/api/users/me/games"))
                    .bearer_auth(&acc.access)
                    .query(&[("limit", "50")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let page: Value = r.json().await.unwrap();
                assert_eq!(
                    game_ids(&page),
                    vec![*game_id],
                    "{who}: his one game, stored exactly once"
                );
                let item = &page["items"][0];
                assert_eq!(item["gameName"], *name);
                assert_eq!(item["winner"], e["winner"]);
                assert_eq!(item["myRole"], mine["role"]);
                assert_eq!(item["won"], mine["won"]);
                assert_eq!(item["exp"], mine["exp"]);
                assert_eq!(item["votedCorrectly"], mine["votedCorrectly"]);

                let me: Value = http
                    .get(server.url("/api/users/me"))
                    .bearer_auth(&acc.access)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(me["exp"], mine["exp"], "{who}: totals are the one game's");
                assert_eq!(me["exp"], mine["totalExp"], "{who}: as announced");
                assert_eq!(me["level"], mine["level"]);
                assert_eq!(me["games"], 1);
                let won = mine["won"].as_bool().unwrap();
                assert_eq!(
                    (me["wins"].as_i64(), me["losses"].as_i64()),
                    (Some(i64::from(won)), Some(i64::from(!won)))
                );

                let r = http
                    .get(server.url(&format!("/api/games/{game_id}")))
                    .bearer_auth(&acc.access)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let g: Value = r.json().await.unwrap();
                assert_eq!(g["winner"], e["winner"]);
                assert_eq!(g["liarId"], e["liarId"]);
            }
        }
        for (table, want) in [
            ("games", 3),
            ("outbox", 3),
            ("game_players", tables.iter().map(|(_, n)| *n as i64).sum()),
        ] {
            let n =
                crate::testdb::count(&database_url, &format!("SELECT COUNT(*) FROM {table}")).await;
            assert_eq!(n, want, "{table}");
        }
        drop(server);
    })
    .await;
}

#[tokio::test]
async fn without_redis_the_outbox_is_pruned_not_kept_forever() {
    within(30, async {
        let app = spawn_app_with(|c| c.outbox_retention_secs = 0).await;
        let ann = app.register_member("ann").await;
        let bob = app.register_member("bob").await;
        let s = store_of(&app).await;
        record(
            &s,
            finished("g-prune", "prune", ann, &[ann, bob], Some("liar"), &[]),
        )
        .await;
        while !s.outbox_batch(10).await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            my_games(&app, &app.login_member("ann").await.access, &[]).await["items"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "the result itself stays"
        );
    })
    .await
}
