//! The result store's guarantees (SPEC §3.1, §5) against a real SQLite file: a game is stored in
//! one transaction, exactly once per key however many end signals arrive and however many games
//! of the same members end at once; an aborted game is kept with no experience.

use futures::future::join_all;
use liar_server::domain::{Email, UserId, Username};
use liar_server::store::{
    self, FinishedGame, FinishedPlayer, HistoryQuery, NewMember, Store, StoreError,
};
use sqlx::Row;
use sqlx::sqlite::SqlitePool;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// Runs a whole test under a deadline, so nothing can hang.
async fn within<T>(secs: u64, test: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .expect("the test timed out")
}

struct Db {
    store: Arc<dyn Store>,
    /// A second, plain pool on the same file, to count rows the ports do not expose.
    raw: SqlitePool,
    _dir: TempDir,
}

async fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/store.db", dir.path().display());
    let store = store::connect(&url, 8, Duration::from_secs(30))
        .await
        .expect("the store opens and migrates");
    let raw = SqlitePool::connect(&url).await.unwrap();
    Db {
        store,
        raw,
        _dir: dir,
    }
}

impl Db {
    async fn member(&self, name: &str) -> UserId {
        self.store
            .create_member(NewMember {
                email: Email::parse(&format!("{name}@example.com")).unwrap(),
                username: Username::parse(name).unwrap(),
                password_hash: "not-a-real-hash".into(),
                now: 1,
            })
            .await
            .expect("member created")
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.raw)
            .await
            .unwrap()
            .get::<i64, _>(0)
    }

    /// `(exp, level, wins, losses, games)` as stored.
    async fn totals(&self, id: UserId) -> (i64, String, i64, i64, i64) {
        let m = self.store.member(id).await.unwrap().expect("member");
        (m.exp, m.level, m.wins, m.losses, m.games)
    }
}

/// A game of `players` where `liar` wins (SPEC §3.1: liar `53 − N`, each citizen 15).
fn liar_wins(key: &str, liar: UserId, players: &[UserId]) -> FinishedGame {
    let n = players.len() as i64;
    game(
        key,
        Some("liar"),
        liar,
        players
            .iter()
            .map(|&id| FinishedPlayer {
                user_id: id,
                role: if id == liar { "liar" } else { "citizen" }.into(),
                voted_correctly: false,
                won: id == liar,
                exp: if id == liar { 53 - n } else { 15 },
            })
            .collect(),
    )
}

/// An aborted game: no winner, nobody gains anything.
fn aborted(key: &str, liar: UserId, players: &[UserId]) -> FinishedGame {
    game(
        key,
        None,
        liar,
        players
            .iter()
            .map(|&id| FinishedPlayer {
                user_id: id,
                role: if id == liar { "liar" } else { "citizen" }.into(),
                voted_correctly: false,
                won: false,
                exp: 0,
            })
            .collect(),
    )
}

fn game(
    key: &str,
    winner: Option<&str>,
    liar: UserId,
    players: Vec<FinishedPlayer>,
) -> FinishedGame {
    FinishedGame {
        key: key.into(),
        room_name: format!("room of {key}"),
        topic_id: "animals".into(),
        word: "사자".into(),
        mode: "classic".into(),
        winner: winner.map(str::to_owned),
        liar_id: Some(liar),
        players,
        result_json: format!(r#"{{"key":"{key}"}}"#),
        started_at: 1_000,
        ended_at: 2_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_end_signals_for_one_game_store_one_result() {
    within(60, async {
        let db = db().await;
        let ids = [
            db.member("ann").await,
            db.member("bob").await,
            db.member("cid").await,
            db.member("dan").await,
        ];
        let g = liar_wins("room-1-1-abc", ids[0], &ids);
        let calls = (0..100).map(|_| {
            let store = db.store.clone();
            let g = g.clone();
            tokio::spawn(async move { store.record_game(g).await })
        });
        let answers: Vec<_> = join_all(calls)
            .await
            .into_iter()
            .map(|r| r.unwrap().expect("every end signal is answered"))
            .collect();

        let (game_id, totals) = answers[0].clone();
        for (id, t) in &answers {
            assert_eq!(*id, game_id, "every signal names the same stored game");
            assert_eq!(t, &totals, "every signal reports the same totals");
        }
        assert_eq!(db.count("SELECT COUNT(*) FROM games").await, 1);
        assert_eq!(db.count("SELECT COUNT(*) FROM game_players").await, 4);
        assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 1);
        assert_eq!(
            db.totals(ids[0]).await,
            (49, "BRONZE1".into(), 1, 0, 1),
            "the liar is paid once"
        );
        for &c in &ids[1..] {
            assert_eq!(db.totals(c).await, (15, "BRONZE1".into(), 0, 1, 1));
        }
        let liar_total = totals.iter().find(|t| t.user_id == ids[0]).unwrap();
        assert_eq!((liar_total.exp, liar_total.level.as_str()), (49, "BRONZE1"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_games_of_the_same_four_members_add_up_to_the_sum_of_the_games() {
    within(60, async {
        let db = db().await;
        let ids = [
            db.member("ann").await,
            db.member("bob").await,
            db.member("cid").await,
            db.member("dan").await,
        ];
        // Ten games, each ended three times over, all at once.
        let mut calls = Vec::new();
        for g in 0..10 {
            let game = liar_wins(&format!("room-{g}-1-xyz"), ids[0], &ids);
            for _ in 0..3 {
                let store = db.store.clone();
                let game = game.clone();
                calls.push(tokio::spawn(async move { store.record_game(game).await }));
            }
        }
        let mut game_ids: Vec<i64> = join_all(calls)
            .await
            .into_iter()
            .map(|r| r.unwrap().expect("stored").0)
            .collect();
        game_ids.sort();
        game_ids.dedup();
        assert_eq!(game_ids.len(), 10, "ten games, each stored once");

        assert_eq!(db.count("SELECT COUNT(*) FROM games").await, 10);
        assert_eq!(db.count("SELECT COUNT(*) FROM game_players").await, 40);
        assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 10);
        // The liar: 10 × 49 = 490 (SILVER1 from 300); citizens: 10 × 15 = 150 (BRONZE2 from 100).
        assert_eq!(db.totals(ids[0]).await, (490, "SILVER1".into(), 10, 0, 10));
        for &c in &ids[1..] {
            assert_eq!(db.totals(c).await, (150, "BRONZE2".into(), 0, 10, 10));
        }
        let history = db
            .store
            .history(HistoryQuery {
                user: ids[1],
                won: None,
                q: None,
                before: None,
                limit: 50,
            })
            .await
            .unwrap();
        let mut seen: Vec<i64> = history.iter().map(|h| h.game_id).collect();
        assert!(
            seen.windows(2).all(|w| w[0] > w[1]),
            "newest first: {seen:?}"
        );
        seen.sort();
        assert_eq!(seen, game_ids, "a citizen's history holds each game once");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_game_is_stored_as_aborted_with_no_experience() {
    within(30, async {
        let db = db().await;
        let ids = [
            db.member("ann").await,
            db.member("bob").await,
            db.member("cid").await,
        ];
        let (won_id, _) = db
            .store
            .record_game(liar_wins("room-1-1-a", ids[0], &ids))
            .await
            .unwrap();
        let before: Vec<_> = join_all(ids.iter().map(|&i| db.totals(i))).await;

        let (aborted_id, totals) = db
            .store
            .record_game(aborted("room-1-2-b", ids[1], &ids))
            .await
            .unwrap();
        assert_ne!(aborted_id, won_id);
        let after: Vec<_> = join_all(ids.iter().map(|&i| db.totals(i))).await;
        assert_eq!(after, before, "an aborted game changes no member's totals");
        for (t, b) in totals.iter().zip(&before) {
            assert_eq!((t.exp, &t.level), (b.0, &b.1), "reported totals are unchanged");
        }

        let stored = db.store.game(aborted_id).await.unwrap().expect("stored");
        assert!(stored.aborted);
        assert_eq!(stored.winner, None);
        let mut participants = stored.participants.clone();
        participants.sort();
        assert_eq!(participants, ids.to_vec());
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM game_players WHERE game_id = {aborted_id} AND (exp <> 0 OR won <> 0)"
            ))
            .await,
            0,
            "no player of an aborted game gains or wins"
        );

        let page = |won| HistoryQuery {
            user: ids[2],
            won,
            q: None,
            before: None,
            limit: 10,
        };
        let all = db.store.history(page(None)).await.unwrap();
        assert_eq!(
            all.iter().map(|h| (h.game_id, h.aborted)).collect::<Vec<_>>(),
            vec![(aborted_id, true), (won_id, false)],
            "the aborted game is in the history, marked"
        );
        let lost = db.store.history(page(Some(false))).await.unwrap();
        assert_eq!(
            lost.iter().map(|h| h.game_id).collect::<Vec<_>>(),
            vec![won_id],
            "an aborted game is neither lost…"
        );
        let won = db.store.history(page(Some(true))).await.unwrap();
        assert!(won.is_empty(), "…nor won");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_fails_midway_leaves_nothing_behind() {
    within(30, async {
        let db = db().await;
        let ids = [db.member("ann").await, db.member("bob").await];
        // The third player does not exist: the write fails after the first two were paid.
        let mut players = ids.to_vec();
        players.push(999_999);
        let err = db
            .store
            .record_game(liar_wins("room-1-1-bad", ids[0], &players))
            .await
            .expect_err("a result naming an unknown member is refused");
        assert!(matches!(err, StoreError::Other(_)), "{err:?}");

        assert_eq!(db.count("SELECT COUNT(*) FROM games").await, 0);
        assert_eq!(db.count("SELECT COUNT(*) FROM game_players").await, 0);
        assert_eq!(db.count("SELECT COUNT(*) FROM outbox").await, 0);
        for &id in &ids {
            assert_eq!(db.totals(id).await, (0, "BRONZE1".into(), 0, 0, 0));
        }

        // The same key with a valid roster is then stored normally.
        let (id, _) = db
            .store
            .record_game(liar_wins("room-1-1-bad", ids[0], &ids))
            .await
            .expect("stored");
        assert!(db.store.game(id).await.unwrap().is_some());
        assert_eq!(db.totals(ids[0]).await.0, 51, "liar of two: 53 − 2");
    })
    .await;
}

#[tokio::test]
async fn usernames_from_before_the_key_column_are_keyed_on_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/keys.db", dir.path().display());
    let store = store::connect(&url, 2, Duration::from_secs(30))
        .await
        .unwrap();
    store.close().await;
    // Rows as migration 0007 leaves a name outside printable ASCII: no key yet.
    let raw = SqlitePool::connect(&url).await.unwrap();
    for (email, name) in [
        ("a@example.com", "ZO\u{cb}"),
        ("b@example.com", "Zoe\u{308}"),
    ] {
        sqlx::query(
            "INSERT INTO members (email, username, password_hash, created_at) VALUES (?, ?, 'x', 1)",
        )
        .bind(email)
        .bind(name)
        .execute(&raw)
        .await
        .unwrap();
    }
    let store = store::connect(&url, 2, Duration::from_secs(30))
        .await
        .unwrap();
    let keys: Vec<Option<String>> =
        sqlx::query_scalar("SELECT username_key FROM members ORDER BY id")
            .fetch_all(&raw)
            .await
            .unwrap();
    assert_eq!(
        keys,
        [Some("zo\u{eb}".to_owned()), None],
        "the look-alike stays unkeyed"
    );
    let taken = store
        .create_member(NewMember {
            email: Email::parse("c@example.com").unwrap(),
            username: Username::parse("zo\u{eb}").unwrap(),
            password_hash: "x".into(),
            now: 1,
        })
        .await;
    assert!(matches!(taken, Err(StoreError::UsernameTaken)), "{taken:?}");
}
