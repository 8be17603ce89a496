//! `liar-bench`: fills a database like the seed's load test, then times the result queries
//! (SPEC §5) through the same `ResultQueries` port the HTTP handlers call. `--db` is a SQLite
//! file, or a database URL of any engine the server speaks (`postgres://…`, `mysql://…`,
//! `mariadb://…`): the same seeding code and the same query table run on each.
//!
//! ```text
//! liar-bench seed  --db bench.db [--members 10000 --games 100000 --heavy-games 20000]
//! liar-bench query --db postgres://postgres@127.0.0.1/bench [--iterations 2000]
//! liar-bench explain --db bench.db
//! ```
//! See docs/benchmarks.md for the figures and how they were taken.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use liar_server::store::Engine;
use liar_server::store::{self, HistoryQuery, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;
use sqlx::mysql::MySqlPool;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};
use sqlx::{MySql, Postgres, QueryBuilder, Row, Sqlite};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "liar-bench",
    about = "Seed a result database and time the result queries"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a fresh database (migrations applied) filled with members, games and player rows.
    Seed {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        members: u32,
        #[arg(long, default_value_t = 100_000)]
        games: u32,
        /// Games played by member 1 (the member with many games).
        #[arg(long, default_value_t = 20_000)]
        heavy_games: u32,
        /// RNG seed: the same arguments give the same database.
        #[arg(long, default_value_t = 20_251_123)]
        seed: u64,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Time every history filter (first and deep page), the leaderboard (first and deep page)
    /// and a member with many games; prints a Markdown table of p50/p99.
    Query {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value_t = 2_000)]
        iterations: usize,
        /// Page size as a client asks for it (the handler fetches one more row).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Print EXPLAIN QUERY PLAN of the adapter's result queries.
    Explain {
        #[arg(long)]
        db: PathBuf,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Seed {
            db,
            members,
            games,
            heavy_games,
            seed,
            force,
        } => {
            seed_db(
                &db,
                Plan {
                    members,
                    games,
                    heavy_games: heavy_games.min(games),
                    seed,
                },
                force,
            )
            .await
        }
        Cmd::Query {
            db,
            iterations,
            limit,
        } => query(&db, iterations, limit).await,
        Cmd::Explain { db } => explain(&db).await,
    }
}

/// A `--db` argument: a database URL as it is, or a SQLite file's path.
fn url(db: &Path) -> String {
    let text = db.display().to_string();
    if text.contains("://") {
        text
    } else {
        format!("sqlite://{text}")
    }
}

fn engine(db: &Path) -> Engine {
    Engine::of_url(&url(db)).unwrap_or(Engine::Sqlite)
}

/// sqlx knows MariaDB only as `mysql:`.
fn driver_url(db: &Path) -> String {
    url(db).replacen("mariadb:", "mysql:", 1)
}

/// A plain pool on the bench database, for what the ports do not offer (bulk load, counts).
enum Raw {
    Sqlite(SqlitePool),
    Pg(PgPool),
    My(MySqlPool),
}

impl Raw {
    async fn connect(db: &Path) -> anyhow::Result<Raw> {
        let url = driver_url(db);
        Ok(match engine(db) {
            Engine::Sqlite => Raw::Sqlite(SqlitePool::connect(&url).await?),
            Engine::Postgres => Raw::Pg(PgPool::connect(&url).await?),
            Engine::MySql => Raw::My(MySqlPool::connect(&url).await?),
        })
    }

    /// The integer columns of every row `sql` returns (no binds: callers inline their numbers).
    async fn ints(&self, sql: String) -> anyhow::Result<Vec<Vec<i64>>> {
        macro_rules! ints {
            ($pool:expr) => {{
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all($pool)
                    .await?;
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.try_get::<i64, _>(i)).collect())
                    .collect::<Result<Vec<Vec<i64>>, _>>()?
            }};
        }
        Ok(match self {
            Raw::Sqlite(p) => ints!(p),
            Raw::Pg(p) => ints!(p),
            Raw::My(p) => ints!(p),
        })
    }

    async fn int(&self, sql: String) -> anyhow::Result<i64> {
        self.ints(sql)
            .await?
            .first()
            .and_then(|r| r.first().copied())
            .context("no row")
    }

    async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(p) => {
                sqlx::query(sql).execute(p).await?;
            }
            Raw::Pg(p) => {
                sqlx::query(sql).execute(p).await?;
            }
            Raw::My(p) => {
                sqlx::query(sql).execute(p).await?;
            }
        }
        Ok(())
    }

    async fn close(&self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Pg(p) => p.close().await,
            Raw::My(p) => p.close().await,
        }
    }
}

// ---- Seeding ----------------------------------------------------------------------------------

struct Plan {
    members: u32,
    games: u32,
    heavy_games: u32,
    seed: u64,
}

/// Room names as people type them: Korean and English, with and without numbers.
const KO_DAYS: [&str; 7] = [
    "월요일",
    "화요일",
    "수요일",
    "목요일",
    "금요일",
    "토요일",
    "일요일",
];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const KO_ROOMS: [&str; 14] = [
    "초보 환영",
    "고수만 오세요",
    "같이 놀아요",
    "심심한 사람 모여라",
    "퇴근 후 한 판",
    "라이어 찾기",
    "거짓말쟁이는 누구",
    "친구들이랑",
    "점심시간 게임",
    "새벽 라이어",
    "즐겜 방",
    "빠른 게임",
    "동물 주제만",
    "음식 라이어",
];
const KO_WHEN: [&str; 4] = ["밤 게임", "저녁 한 판", "오후 라이어", "아침 게임"];
const EN_ROOMS: [&str; 12] = [
    "Casual game",
    "Pros only",
    "Newbies welcome",
    "Late night lies",
    "Lunch break round",
    "Find the liar",
    "Chill room",
    "Quick match",
    "Friends and liars",
    "Who is lying",
    "Animals only",
    "Food fight",
];
const EN_WHEN: [&str; 4] = ["fun", "night liars", "afternoon game", "morning round"];
const TOPICS: [(&str, &str); 8] = [
    ("animals", "사자"),
    ("food", "김치찌개"),
    ("jobs", "소방관"),
    ("places", "도서관"),
    ("sports", "배드민턴"),
    ("objects", "우산"),
    ("nature", "무지개"),
    ("transport", "지하철"),
];

fn room_name(rng: &mut StdRng) -> String {
    let n = rng.random_range(1..=99);
    match rng.random_range(0..100) {
        // Korean, named after a day: "금요일 밤 게임".
        0..20 => format!(
            "{} {}",
            KO_DAYS[rng.random_range(0..7)],
            KO_WHEN[rng.random_range(0..4)]
        ),
        20..45 => KO_ROOMS[rng.random_range(0..KO_ROOMS.len())].to_owned(),
        45..60 => format!("{} {n}", KO_ROOMS[rng.random_range(0..KO_ROOMS.len())]),
        // English, named after a day: "Friday fun".
        60..72 => format!(
            "{} {}",
            EN_DAYS[rng.random_range(0..7)],
            EN_WHEN[rng.random_range(0..4)]
        ),
        72..88 => EN_ROOMS[rng.random_range(0..EN_ROOMS.len())].to_owned(),
        _ => format!("{} #{n}", EN_ROOMS[rng.random_range(0..EN_ROOMS.len())]),
    }
}

/// Players per game, 2–15, about ten on average.
fn player_count(rng: &mut StdRng) -> usize {
    if rng.random_bool(0.07) {
        rng.random_range(2..=5)
    } else {
        rng.random_range(6..=15)
    }
}

/// A member other than the heavy one; half of the seats go to the most active fifth.
fn pick_member(rng: &mut StdRng, members: u32) -> i64 {
    let hi = if rng.random_bool(0.5) {
        (members / 5).max(2)
    } else {
        members
    };
    i64::from(rng.random_range(2..=hi.max(2)))
}

struct GameRow {
    id: i64,
    key: String,
    room_name: String,
    topic: &'static str,
    word: &'static str,
    winner: Option<&'static str>,
    liar: i64,
    players: usize,
    result_json: String,
    started_at: i64,
    ended_at: i64,
}

struct PlayerRow {
    game_id: i64,
    user_id: i64,
    role: &'static str,
    voted_correctly: bool,
    won: bool,
    exp: i64,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    exp: i64,
    wins: i64,
    losses: i64,
    games: i64,
}

/// What `seed` loads, borrowed by [`bulk_load!`].
struct Data<'a> {
    totals: &'a [Totals],
    games: &'a [GameRow],
    players: &'a [PlayerRow],
    start_ms: i64,
    members: u32,
}

/// The bulk load, written once and expanded for each engine's `QueryBuilder` (sqlx has no
/// engine-generic builder that binds these types without a wall of bounds).
macro_rules! bulk_load {
    ($db:ty, $pool:ident, $data:ident, $t0:ident) => {{
        let pool = &$pool;
        let Data { totals, games, players, start_ms, members } = $data;
        let t0 = $t0;
    let mut tx = pool.begin().await?;
        for chunk in (1..=members).collect::<Vec<_>>().chunks(2_000) {
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO members (id, email, username, password_hash, exp, level, wins, losses, \
                 games, results_visible, created_at) ",
            );
            q.push_values(chunk, |mut b, &i| {
                let t = totals[i as usize];
                b.push_bind(i64::from(i))
                    .push_bind(format!("member{i}@bench.example"))
                    .push_bind(format!("member{i:05}"))
                    .push_bind("$argon2id$bench$not-a-real-hash")
                    .push_bind(t.exp)
                    .push_bind(liar_rules::Level::from_exp(t.exp.max(0) as u64).as_str())
                    .push_bind(t.wins)
                    .push_bind(t.losses)
                    .push_bind(t.games)
                    // One member in twenty hides his results.
                    .push_bind(i % 20 != 7)
                    .push_bind(start_ms);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        println!("members: {} ({:.1?})", members, t0.elapsed());

        for (i, chunk) in games.chunks(20_000).enumerate() {
            let mut tx = pool.begin().await?;
            for part in chunk.chunks(500) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO games (id, game_key, room_name, topic_id, word, mode, winner, \
                     liar_id, aborted, player_count, result_json, started_at, ended_at) ",
                );
                q.push_values(part, |mut b, g| {
                    b.push_bind(g.id)
                        .push_bind(&g.key)
                        .push_bind(&g.room_name)
                        .push_bind(g.topic)
                        .push_bind(g.word)
                        .push_bind("classic")
                        .push_bind(g.winner)
                        .push_bind(g.liar)
                        .push_bind(g.winner.is_none())
                        .push_bind(g.players as i64)
                        .push_bind(&g.result_json)
                        .push_bind(g.started_at)
                        .push_bind(g.ended_at);
                });
                q.build().execute(&mut *tx).await?;
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO outbox (topic, payload, created_at, published_at) ",
                );
                q.push_values(part, |mut b, g| {
                    b.push_bind("game.finished")
                        .push_bind(&g.result_json)
                        .push_bind(g.ended_at)
                        .push_bind(g.ended_at);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            println!("games: {} ({:.1?})", i * 20_000 + chunk.len(), t0.elapsed());
        }

        for (i, chunk) in players.chunks(200_000).enumerate() {
            let mut tx = pool.begin().await?;
            for part in chunk.chunks(2_000) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO game_players (game_id, user_id, role, voted_correctly, won, exp, \
                     room_name) ",
                );
                q.push_values(part, |mut b, p| {
                    let game = &games[(p.game_id - 1) as usize];
                    b.push_bind(p.game_id)
                        .push_bind(p.user_id)
                        .push_bind(p.role)
                        .push_bind(p.voted_correctly)
                        .push_bind(p.won)
                        .push_bind(p.exp)
                        .push_bind(&game.room_name);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            println!(
                "player rows: {} ({:.1?})",
                i * 200_000 + chunk.len(),
                t0.elapsed()
            );
        }
        }};
}

async fn seed_db(db: &Path, plan: Plan, force: bool) -> anyhow::Result<()> {
    if plan.members < 16 {
        bail!("--members must be at least 16 (games seat up to 15)");
    }
    let t0 = Instant::now();
    if engine(db) == Engine::Sqlite {
        if db.exists() {
            if !force {
                bail!("{} exists; pass --force to replace it", db.display());
            }
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
            }
        }
    } else if force {
        let raw = Raw::connect(db).await?;
        let cascade = if engine(db) == Engine::Postgres {
            " CASCADE"
        } else {
            ""
        };
        raw.execute(&format!(
            "DROP TABLE IF EXISTS room_events, rooms, topic_overrides, outbox, game_players, \
             games, refresh_tokens, sessions, settings, members, _sqlx_migrations{cascade}"
        ))
        .await?;
        raw.close().await;
    }
    // The schema comes from the server's own migrations.
    let s = store::connect(&url(db), 1, Duration::from_secs(10)).await?;
    s.close().await;
    if engine(db) != Engine::Sqlite {
        let raw = Raw::connect(db).await?;
        if raw.int("SELECT COUNT(*) FROM members".into()).await? > 0 {
            bail!(
                "{} holds members; pass --force to replace its tables",
                url(db)
            );
        }
        raw.close().await;
    }

    let mut rng = StdRng::seed_from_u64(plan.seed);
    // Games are spread over the last year, one every few minutes, oldest first (ids ascend
    // with time, as when the server stores them).
    let start_ms: i64 = 1_732_000_000_000;
    let step_ms = 365 * 24 * 3600 * 1000 / i64::from(plan.games.max(1));
    let heavy_every = plan.games.checked_div(plan.heavy_games).unwrap_or(u32::MAX);
    let mut totals = vec![Totals::default(); plan.members as usize + 1];
    let mut games = Vec::with_capacity(plan.games as usize);
    let mut players = Vec::with_capacity(plan.games as usize * 10);
    let mut heavy_left = plan.heavy_games;
    for g in 0..plan.games {
        let id = i64::from(g) + 1;
        let n = player_count(&mut rng);
        let mut seats: Vec<i64> = Vec::with_capacity(n);
        if heavy_left > 0 && g % heavy_every == 0 {
            seats.push(1);
            heavy_left -= 1;
        }
        while seats.len() < n {
            let m = pick_member(&mut rng, plan.members);
            if !seats.contains(&m) {
                seats.push(m);
            }
        }
        let liar = seats[rng.random_range(0..n)];
        let outcome = rng.random_range(0..100);
        let winner = match outcome {
            0..2 => None,
            2..47 => Some("liar"),
            _ => Some("citizens"),
        };
        let ni = n as i64;
        let mut json_players = Vec::with_capacity(n);
        let mut votes = Vec::with_capacity(n);
        for &u in &seats {
            let is_liar = u == liar;
            let voted_correctly = !is_liar
                && match winner {
                    Some("citizens") => rng.random_bool(0.75),
                    Some(_) => rng.random_bool(0.2),
                    None => false,
                };
            let (won, exp) = match winner {
                None => (false, 0),
                Some("liar") if is_liar => (true, 53 - ni),
                Some("liar") => (false, 15),
                Some(_) if is_liar => (false, 10),
                Some(_) if voted_correctly => (true, 25 + ni),
                Some(_) => (true, 20),
            };
            if winner.is_some() {
                let t = &mut totals[u as usize];
                t.exp += exp;
                t.games += 1;
                if won {
                    t.wins += 1;
                } else {
                    t.losses += 1;
                }
            }
            let role = if is_liar { "liar" } else { "citizen" };
            let target = if voted_correctly {
                liar
            } else {
                *seats
                    .iter()
                    .find(|&&x| x != u && x != liar)
                    .unwrap_or(&liar)
            };
            votes.push(json!({"voterId": u, "targetId": target}));
            json_players.push(
                json!({"userId": u, "role": role, "votedCorrectly": voted_correctly,
                "won": won, "exp": exp, "left": false}),
            );
            players.push(PlayerRow {
                game_id: id,
                user_id: u,
                role,
                voted_correctly,
                won,
                exp,
            });
        }
        let (topic, word) = TOPICS[rng.random_range(0..TOPICS.len())];
        let result_json = match winner {
            None => json!({"aborted": true, "reason": "not_enough_players"}),
            Some(w) => json!({"winner": w, "liarId": liar, "topicId": topic, "word": word,
                "guess": null, "votes": votes, "players": json_players}),
        }
        .to_string();
        let ended_at = start_ms + i64::from(g) * step_ms + rng.random_range(0..step_ms.max(1));
        games.push(GameRow {
            id,
            key: format!("bench-{id}-{:08x}", rng.random::<u32>()),
            room_name: room_name(&mut rng),
            topic,
            word,
            winner,
            liar,
            players: n,
            result_json,
            started_at: ended_at - rng.random_range(180_000..900_000),
            ended_at,
        });
    }
    println!(
        "generated {} games, {} player rows in {:.1?}",
        games.len(),
        players.len(),
        t0.elapsed()
    );

    // Bulk load on a plain pool: one connection, a few large transactions; the same statements
    // on every engine.
    let data = Data {
        totals: &totals,
        games: &games,
        players: &players,
        start_ms,
        members: plan.members,
    };
    match engine(db) {
        Engine::Sqlite => {
            let options = SqliteConnectOptions::from_str(&url(db))?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Off)
                .foreign_keys(true);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            bulk_load!(Sqlite, pool, data, t0);
            sqlx::query("ANALYZE").execute(&pool).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&pool)
                .await?;
            pool.close().await;
        }
        Engine::Postgres => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&driver_url(db))
                .await?;
            bulk_load!(Postgres, pool, data, t0);
            // Ids were given explicitly: move the identity sequences past them.
            for table in ["members", "games", "outbox"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     (SELECT MAX(id) FROM {table}))"
                )))
                .execute(&pool)
                .await?;
            }
            // VACUUM sets the visibility map, which index-only scans need.
            sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
            pool.close().await;
        }
        Engine::MySql => {
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&driver_url(db))
                .await?;
            bulk_load!(MySql, pool, data, t0);
            sqlx::query("ANALYZE TABLE members, games, game_players, outbox")
                .execute(&pool)
                .await?;
            pool.close().await;
        }
    }

    let heavy = totals[1];
    let size = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    let size = if engine(db) == Engine::Sqlite {
        size
    } else {
        0
    };
    println!(
        "done in {:.1?}: {} members, {} games, {} player rows; member 1 played {} stored games \
         ({} won); file {:.0} MiB",
        t0.elapsed(),
        plan.members,
        games.len(),
        players.len(),
        heavy.games,
        heavy.wins,
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

// ---- Timing -----------------------------------------------------------------------------------

struct Subjects {
    heavy: i64,
    heavy_games: i64,
    /// The heavy member's game in the middle of his history (a deep cursor).
    heavy_mid: i64,
    /// Members with an ordinary number of games, and the cursor of their last page.
    typical: Vec<(i64, i64)>,
    typical_games: f64,
    /// `(exp, id)` of the visible member ranked about 90 % down the leaderboard.
    deep_rank: (i64, i64),
    deep_rank_no: i64,
}

async fn subjects(raw: &Raw, limit: usize) -> anyhow::Result<Subjects> {
    let row = raw
        .ints("SELECT id, games FROM members ORDER BY games DESC, id LIMIT 1".into())
        .await?
        .pop()
        .context("an empty database? run `liar-bench seed` first")?;
    let (heavy, heavy_games) = (row[0], row[1]);
    let nth_game = |user: i64, offset: i64| {
        format!(
            "SELECT game_id FROM game_players WHERE user_id = {user} ORDER BY game_id DESC \
             LIMIT 1 OFFSET {offset}"
        )
    };
    let heavy_mid = raw.int(nth_game(heavy, heavy_games / 2)).await?;
    let ids: Vec<i64> = raw
        .ints(format!(
            "SELECT id FROM members WHERE id <> {heavy} AND games BETWEEN 60 AND 140 \
             ORDER BY id LIMIT 200"
        ))
        .await?
        .into_iter()
        .map(|r| r[0])
        .collect();
    if ids.is_empty() {
        bail!("no member with an ordinary number of games");
    }
    let mut typical = Vec::new();
    let mut sum = 0i64;
    for id in ids {
        let n = raw
            .int(format!(
                "SELECT COUNT(*) FROM game_players WHERE user_id = {id}"
            ))
            .await?;
        let last_page = raw.int(nth_game(id, (n - limit as i64).max(0))).await?;
        sum += n;
        typical.push((id, last_page + 1));
    }
    let visible = raw
        .int("SELECT COUNT(*) FROM members WHERE results_visible = TRUE".into())
        .await?;
    let deep_rank_no = visible * 9 / 10;
    let row = raw
        .ints(format!(
            "SELECT exp, id FROM members WHERE results_visible = TRUE \
             ORDER BY exp DESC, id ASC LIMIT 1 OFFSET {}",
            deep_rank_no - 1
        ))
        .await?
        .pop()
        .context("no ranked member")?;
    Ok(Subjects {
        heavy,
        heavy_games,
        heavy_mid,
        typical_games: sum as f64 / typical.len() as f64,
        typical,
        deep_rank: (row[0], row[1]),
        deep_rank_no,
    })
}

struct Stat {
    name: String,
    rows: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

/// Runs `run(i)` `iterations` times after a warm-up; returns the latency percentiles.
async fn measure<F, Fut>(name: String, iterations: usize, mut run: F) -> anyhow::Result<Stat>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    let mut rows = 0;
    for i in 0..(iterations / 10).max(20) {
        rows = run(i).await?;
    }
    let mut times = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let t = Instant::now();
        rows = run(i).await?;
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    let stat = Stat {
        name,
        rows,
        p50: pct(0.50),
        p99: pct(0.99),
        max: *times.last().unwrap(),
    };
    eprintln!(
        "{:<60} p50 {:>8.3} ms  p99 {:>8.3} ms",
        stat.name,
        ms(stat.p50),
        ms(stat.p99)
    );
    Ok(stat)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The history filters of the benchmark: (label, won, q).
const FILTERS: [(&str, Option<bool>, Option<&str>); 5] = [
    ("none", None, None),
    ("outcome=win", Some(true), None),
    ("outcome=lose", Some(false), None),
    ("q=요일 (2 Korean chars)", None, Some("요일")),
    ("q=frida (5 Latin chars)", None, Some("frida")),
];

async fn history(
    s: &Arc<dyn Store>,
    user: i64,
    won: Option<bool>,
    q: Option<&str>,
    before: Option<i64>,
    limit: usize,
) -> anyhow::Result<usize> {
    Ok(s.history(HistoryQuery {
        user,
        won,
        q: q.map(str::to_owned),
        before,
        limit: limit + 1,
    })
    .await?
    .len())
}

async fn query(db: &Path, iterations: usize, limit: usize) -> anyhow::Result<()> {
    if engine(db) == Engine::Sqlite && !db.exists() {
        bail!(
            "{} does not exist; run `liar-bench seed` first",
            db.display()
        );
    }
    let raw = Raw::connect(db).await?;
    let sub = subjects(&raw, limit).await?;
    let members = raw.int("SELECT COUNT(*) FROM members".into()).await?;
    let games = raw.int("SELECT COUNT(*) FROM games".into()).await?;
    let rows = raw.int("SELECT COUNT(*) FROM game_players".into()).await?;
    raw.close().await;
    // The server's own adapter, as the handlers use it (same pool settings as `liar serve`).
    let s = store::connect(&url(db), 8, Duration::from_secs(5)).await?;
    eprintln!(
        "{members} members, {games} games, {rows} player rows; heavy member {} with {} games; \
         {} typical members averaging {:.0} games",
        sub.heavy,
        sub.heavy_games,
        sub.typical.len(),
        sub.typical_games
    );

    let mut stats = Vec::new();
    let typical = sub.typical.clone();
    for (label, won, q) in FILTERS {
        let t = typical.clone();
        stats.push(
            measure(
                format!("history {label}, first page (typical member)"),
                iterations,
                |i| {
                    let s = s.clone();
                    let (user, _) = t[i % t.len()];
                    async move { history(&s, user, won, q, None, limit).await }
                },
            )
            .await?,
        );
        let t = typical.clone();
        stats.push(
            measure(
                format!("history {label}, last page (typical member)"),
                iterations,
                |i| {
                    let s = s.clone();
                    let (user, cursor) = t[i % t.len()];
                    async move { history(&s, user, won, q, Some(cursor), limit).await }
                },
            )
            .await?,
        );
        stats.push(
            measure(
                format!("history {label}, first page (member with many games)"),
                iterations,
                |_| {
                    let s = s.clone();
                    let user = sub.heavy;
                    async move { history(&s, user, won, q, None, limit).await }
                },
            )
            .await?,
        );
        stats.push(
            measure(
                format!("history {label}, deep page (member with many games)"),
                iterations,
                |_| {
                    let s = s.clone();
                    let (user, mid) = (sub.heavy, sub.heavy_mid);
                    async move { history(&s, user, won, q, Some(mid), limit).await }
                },
            )
            .await?,
        );
    }
    stats.push(
        measure(
            "history q=zzzzz (no match; member with many games)".into(),
            iterations,
            |_| {
                let s = s.clone();
                let user = sub.heavy;
                async move { history(&s, user, None, Some("zzzzz"), None, limit).await }
            },
        )
        .await?,
    );
    stats.push(
        measure("leaderboard, first page".into(), iterations, |_| {
            let s = s.clone();
            async move { Ok(s.leaderboard(None, limit + 1).await?.len()) }
        })
        .await?,
    );
    stats.push(
        measure(
            format!("leaderboard, deep page (after rank {})", sub.deep_rank_no),
            iterations,
            |_| {
                let s = s.clone();
                let after = sub.deep_rank;
                async move { Ok(s.leaderboard(Some(after), limit + 1).await?.len()) }
            },
        )
        .await?,
    );
    stats.push(
        measure(
            "game detail (GET /api/games/{id})".into(),
            iterations,
            |i| {
                let s = s.clone();
                let id = (i as i64 * 7_919) % games + 1;
                async move { Ok(s.game(id).await?.map_or(0, |g| g.participants.len())) }
            },
        )
        .await?,
    );
    s.close().await;

    println!(
        "{members} members, {games} games, {rows} player rows; member with many games: #{} \
         ({} games); typical members: {} averaging {:.0} games; page size {limit} (+1 fetched); \
         {iterations} timed iterations per query\n",
        sub.heavy,
        sub.heavy_games,
        sub.typical.len(),
        sub.typical_games
    );
    println!("| query | rows | p50 (ms) | p99 (ms) | max (ms) | ≤ 5 ms p99 |");
    println!("|---|---:|---:|---:|---:|:---:|");
    for st in &stats {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {} |",
            st.name,
            st.rows,
            ms(st.p50),
            ms(st.p99),
            ms(st.max),
            if st.p99 <= Duration::from_millis(5) {
                "yes"
            } else {
                "**no**"
            }
        );
    }
    Ok(())
}

// ---- Plans ------------------------------------------------------------------------------------

/// The adapter's SQL (`src/store/sqlite.rs`), with sample values in place of the binds.
async fn explain(db: &Path) -> anyhow::Result<()> {
    if engine(db) != Engine::Sqlite {
        bail!("explain reads SQLite's query plans; use EXPLAIN in psql or mysql for the others");
    }
    let raw = Raw::connect(db).await?;
    let sub = subjects(&raw, 20).await?;
    let Raw::Sqlite(pool) = raw else {
        unreachable!("checked above")
    };
    let history = |filter: &str| {
        format!(
            "SELECT g.id, g.room_name, g.topic_id, g.winner, g.player_count, g.aborted, \
             g.ended_at, p.role, p.voted_correctly, p.won, p.exp FROM game_players p JOIN games g \
             ON g.id = p.game_id WHERE p.user_id = {}{filter} ORDER BY p.game_id DESC LIMIT 21",
            sub.heavy
        )
    };
    let (exp, id) = sub.deep_rank;
    let queries = [
        ("history, no filter", history("")),
        ("history, outcome=win", history(" AND p.won = 1")),
        (
            "history, outcome=lose",
            history(" AND p.won = 0 AND g.aborted = 0"),
        ),
        (
            "history, q=frida",
            history(" AND p.room_name LIKE '%frida%' ESCAPE '\\'"),
        ),
        (
            "history, outcome=lose and q=frida",
            history(" AND p.won = 0 AND g.aborted = 0 AND p.room_name LIKE '%frida%' ESCAPE '\\'"),
        ),
        (
            "history, q, deep page",
            history(&format!(
                " AND p.game_id < {} AND p.room_name LIKE '%요일%' ESCAPE '\\'",
                sub.heavy_mid
            )),
        ),
        (
            "leaderboard, first page",
            "SELECT id, username, level, exp, wins, losses, games FROM members \
             WHERE results_visible = 1 ORDER BY exp DESC, id ASC LIMIT 21"
                .to_owned(),
        ),
        (
            "leaderboard, deep page",
            format!(
                "SELECT id, username, level, exp, wins, losses, games FROM members \
                 WHERE results_visible = 1 AND (exp < {exp} OR (exp = {exp} AND id > {id})) \
                 ORDER BY exp DESC, id ASC LIMIT 21"
            ),
        ),
    ];
    for (label, sql) in queries {
        println!("-- {label}\n{sql}");
        let plan = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .fetch_all(&pool)
            .await?;
        for r in plan {
            println!("   {}", r.get::<String, _>(3));
        }
        println!();
    }
    Ok(())
}
