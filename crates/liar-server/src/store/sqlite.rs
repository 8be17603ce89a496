//! SQLite adapter for the storage ports: the embedded mode's database.
//!
//! Every write runs through [`SqliteStore::write`], a scoped unit of work that commits on `Ok`,
//! rolls back on `Err` or early return, and always gives its connection back to the pool (the
//! seed's outage was a connection leaked on an error path, SPEC §6.2). Writes start with
//! `BEGIN IMMEDIATE` so two writers never deadlock upgrading a read lock.

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::rows::{self, MEMBER_COLUMNS};
use super::sql::{self, classify, level_of, state_of, unique_or_classify};
use super::*;

/// How long a connection waits on SQLite's write lock before giving up. Write transactions are
/// short, so this only matters under heavy contention.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Event rows per multi-row insert (3 parameters each, well under SQLite's 32,766).
const EVENT_ROWS_PER_INSERT: usize = 1_000;

/// How often the WAL is checkpointed (commits never do it themselves).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Room states per multi-row update (6 parameters each).
const ROOMS_PER_UPDATE: usize = 1_000;

/// Most results written in one transaction by the result writer.
const RESULTS_PER_TRANSACTION: usize = 64;

type RecordReply = tokio::sync::oneshot::Sender<Result<(i64, Vec<PlayerTotals>), StoreError>>;

pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer: the writers of this process take turns here, in arrival order,
    /// instead of meeting `SQLITE_BUSY` and polling in SQLite's busy handler.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Results go through one writer that stores whatever has queued up in one transaction
    /// (a savepoint per game), so many games ending at once cost a few transactions.
    results: tokio::sync::mpsc::UnboundedSender<(FinishedGame, RecordReply)>,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // No checkpoint inside a commit: copying the WAL back and syncing the file would
            // hold the one write lock (and every room waiting on a save) for its whole length.
            // The checkpointer below does it beside the writers instead.
            .pragma("wal_autocheckpoint", "0")
            // The pages that room saves touch (each room's row and the end of its event log)
            // stay in memory: with SQLite's default 2 MiB cache a busy server reads most of
            // them back from the file on every save.
            .pragma("cache_size", "-32768")
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // A file on this machine: a ping before each use would only cost a round trip to
            // the connection's thread (a broken connection still fails its statement, and the
            // unit of work maps that to 503).
            .test_before_acquire(false)
            .acquire_timeout(acquire_timeout)
            .connect_with(options.clone())
            .await?;
        // The checkpointer has a connection of its own: it never takes one from requests.
        let checkpointer = sqlx::ConnectOptions::connect(&options).await?;
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        let (results, queue) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(write_results(pool.clone(), writer.clone(), queue));
        tokio::spawn(checkpoint(checkpointer, pool.clone()));
        Ok(SqliteStore {
            pool,
            writer,
            results,
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        self.backfill_username_keys().await
    }

    /// Keys the usernames migration 0007 could not key in SQL (those outside printable ASCII).
    /// A name whose key another member already holds keeps no key and is reported: an
    /// operator renames one of the two.
    async fn backfill_username_keys(&self) -> anyhow::Result<()> {
        let rows = sqlx::query("SELECT id, username FROM members WHERE username_key IS NULL")
            .fetch_all(&self.pool)
            .await?;
        for row in rows {
            let (id, name): (i64, String) = (row.try_get("id")?, row.try_get("username")?);
            let keyed = sqlx::query("UPDATE members SET username_key = ? WHERE id = ?")
                .bind(crate::domain::username_key(&name))
                .bind(id)
                .execute(&self.pool)
                .await;
            match keyed {
                Ok(_) => {}
                Err(e) if sql::is_unique_violation(&e) => {
                    tracing::warn!(
                        member = id,
                        "username looks like another member's; rename one"
                    )
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Runs `work` on `input` as one unit of work ([`sql::unit_of_work`]). `BEGIN IMMEDIATE`
    /// takes the write lock up front, so two writers never deadlock upgrading a read lock.
    async fn write<I, T, F>(&self, input: &I, work: F) -> Result<T, StoreError>
    where
        I: Sync + ?Sized,
        T: Send,
        F: for<'c> Fn(&'c mut SqliteConnection, &'c I) -> BoxFuture<'c, Result<T, StoreError>>,
    {
        let _turn = self.writer.lock().await;
        sql::unit_of_work(&self.pool, Some("BEGIN IMMEDIATE"), input, work).await
    }
}

#[async_trait]
impl MemberStore for SqliteStore {
    async fn create_member(&self, m: NewMember) -> Result<UserId, StoreError> {
        let created = self
            .write(&m, |tx, m| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "INSERT INTO members (email, username, username_key, password_hash, \
                         created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                    )
                    .bind(m.email.as_str())
                    .bind(m.username.as_str())
                    .bind(m.username.key())
                    .bind(&m.password_hash)
                    .bind(m.now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unique_or_classify)?;
                    row.try_get("id").map_err(classify)
                })
            })
            .await;
        sql::name_member_conflict(self, Some(&m.email), created).await
    }

    async fn email_registered(&self, email: &Email) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM members WHERE email = ?")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT id, password_hash FROM members WHERE email = ?")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| {
            Ok(Credentials {
                id: r.try_get("id")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
        .map_err(classify)
    }

    async fn member(&self, id: UserId) -> Result<Option<Member>, StoreError> {
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.as_ref().map(rows::member).transpose().map_err(classify)
    }

    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<Member, StoreError> {
        let updated = self
            .write(&patch, |tx, patch| {
                Box::pin(async move {
                    let sql = format!(
                        "UPDATE members SET username = COALESCE(?, username), \
                         username_key = COALESCE(?, username_key), \
                         results_visible = COALESCE(?, results_visible) WHERE id = ? \
                         RETURNING {MEMBER_COLUMNS}"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(patch.username.as_ref().map(|u| u.as_str()))
                        .bind(patch.username.as_ref().map(|u| u.key()))
                        .bind(patch.results_visible)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unique_or_classify)?
                        .ok_or(StoreError::NotFound)?;
                    rows::member(&row).map_err(classify)
                })
            })
            .await;
        sql::name_member_conflict(self, None, updated).await
    }

    async fn set_admin(&self, email: &Email, admin: bool) -> Result<bool, StoreError> {
        self.write(email.as_str(), |tx, email| {
            Box::pin(async move {
                let done = sqlx::query("UPDATE members SET is_admin = ? WHERE email = ?")
                    .bind(admin)
                    .bind(email)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                Ok(done.rows_affected() > 0)
            })
        })
        .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn open_session(&self, s: NewSession) -> Result<Vec<SessionId>, StoreError> {
        self.write(&s, |tx, s| {
            Box::pin(async move {
                let replaced: Vec<SessionId> = sqlx::query(
                    "UPDATE sessions SET ended_at = ?, end_reason = 'replaced' \
                     WHERE member_id = ? AND ended_at IS NULL RETURNING id",
                )
                .bind(s.now)
                .bind(s.member)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()
                .map_err(classify)?;
                sqlx::query(
                    "INSERT INTO sessions (id, member_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                )
                .bind(&s.id)
                .bind(s.member)
                .bind(s.now)
                .bind(s.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                insert_refresh(tx, &s.refresh_hash, &s.id, s.now, s.expires_at).await?;
                sqlx::query("UPDATE members SET current_session_id = ? WHERE id = ?")
                    .bind(&s.id)
                    .bind(s.member)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                Ok(replaced)
            })
        })
        .await
    }

    async fn session_state(
        &self,
        id: &str,
        member: UserId,
        now: Millis,
    ) -> Result<SessionState, StoreError> {
        let row = sqlx::query(
            "SELECT s.end_reason, s.expires_at, m.current_session_id \
             FROM sessions s JOIN members m ON m.id = s.member_id \
             WHERE s.id = ? AND s.member_id = ?",
        )
        .bind(id)
        .bind(member)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?;
        let Some(row) = row else {
            return Ok(SessionState::Unknown);
        };
        let reason: Option<String> = row.try_get("end_reason").map_err(classify)?;
        let expires_at: Millis = row.try_get("expires_at").map_err(classify)?;
        let current: Option<String> = row.try_get("current_session_id").map_err(classify)?;
        Ok(state_of(
            reason.as_deref(),
            expires_at,
            current.as_deref() == Some(id),
            now,
        ))
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        next: NextRefresh,
    ) -> Result<RefreshOutcome, StoreError> {
        self.write(&(*presented, next), |tx, (presented, next)| {
            Box::pin(rotate(tx, presented, next))
        })
        .await
    }

    async fn end_session(&self, id: &str, member: UserId, now: Millis) -> Result<(), StoreError> {
        self.write(id, |tx, id| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE sessions SET ended_at = ?, end_reason = 'logout' \
                     WHERE id = ? AND member_id = ? AND ended_at IS NULL",
                )
                .bind(now)
                .bind(id)
                .bind(member)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                clear_current(tx, member, id).await
            })
        })
        .await
    }

    async fn purge_expired(&self, now: Millis) -> Result<u64, StoreError> {
        self.write(&now, |tx, &now| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE session_id IN \
                     (SELECT id FROM sessions WHERE expires_at < ?)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query(
                    "UPDATE members SET current_session_id = NULL WHERE current_session_id IN \
                     (SELECT id FROM sessions WHERE expires_at < ?)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                Ok(done.rows_affected())
            })
        })
        .await
    }
}

async fn insert_refresh(
    tx: &mut SqliteConnection,
    hash: &TokenHash,
    session: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
    )
    .bind(&hash[..])
    .bind(session)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn clear_current(
    tx: &mut SqliteConnection,
    member: UserId,
    session: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE members SET current_session_id = NULL WHERE id = ? AND current_session_id = ?",
    )
    .bind(member)
    .bind(session)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn rotate(
    tx: &mut SqliteConnection,
    presented: &TokenHash,
    next: &NextRefresh,
) -> Result<RefreshOutcome, StoreError> {
    let row = sqlx::query(
        "SELECT t.session_id, t.used_at, t.expires_at AS token_expires, s.member_id, s.end_reason, \
         s.expires_at, m.current_session_id \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         JOIN members m ON m.id = s.member_id WHERE t.token_hash = ?",
    )
    .bind(&presented[..])
    .fetch_optional(&mut *tx)
    .await
    .map_err(classify)?;
    let Some(row) = row else {
        return Ok(RefreshOutcome::Unknown);
    };
    let get = |e: sqlx::Error| classify(e);
    let session: String = row.try_get("session_id").map_err(get)?;
    let member: UserId = row.try_get("member_id").map_err(get)?;
    let used_at: Option<Millis> = row.try_get("used_at").map_err(get)?;
    let token_expires: Millis = row.try_get("token_expires").map_err(get)?;
    let reason: Option<String> = row.try_get("end_reason").map_err(get)?;
    let expires_at: Millis = row.try_get("expires_at").map_err(get)?;
    let current: Option<String> = row.try_get("current_session_id").map_err(get)?;
    let state = state_of(
        reason.as_deref(),
        expires_at,
        current.as_deref() == Some(session.as_str()),
        next.now,
    );
    if state != SessionState::Live {
        return Ok(RefreshOutcome::Dead(state));
    }
    if used_at.is_some() {
        revoke_for_reuse(tx, &session, member, next.now).await?;
        return Ok(RefreshOutcome::Reused { member, session });
    }
    if token_expires <= next.now {
        return Ok(RefreshOutcome::Dead(SessionState::Expired));
    }
    let claimed = sqlx::query(
        "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
    )
    .bind(next.now)
    .bind(&presented[..])
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    if claimed.rows_affected() == 0 {
        revoke_for_reuse(tx, &session, member, next.now).await?;
        return Ok(RefreshOutcome::Reused { member, session });
    }
    insert_refresh(tx, &next.hash, &session, next.now, next.expires_at).await?;
    Ok(RefreshOutcome::Rotated { member, session })
}

async fn revoke_for_reuse(
    tx: &mut SqliteConnection,
    session: &str,
    member: UserId,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET ended_at = ?, end_reason = 'reused' WHERE id = ?")
        .bind(now)
        .bind(session)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    clear_current(tx, member, session).await
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn get_or_init(&self, key: &str, init: String) -> Result<String, StoreError> {
        self.write(&(key, init), |tx, (key, init)| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                )
                .bind(*key)
                .bind(init)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
                    .bind(*key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(classify)?;
                row.try_get("value").map_err(classify)
            })
        })
        .await
    }
}

#[async_trait]
impl ResultStore for SqliteStore {
    async fn record_game(
        &self,
        game: FinishedGame,
    ) -> Result<(i64, Vec<PlayerTotals>), StoreError> {
        let stopped = || StoreError::Unavailable("the result writer has stopped".into());
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.results.send((game, reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`], beside the writers
/// (`PASSIVE` takes no write lock), so the WAL stays small and no commit pays for it. Runs on
/// its own connection; ends when the pool closes.
async fn checkpoint(mut conn: SqliteConnection, pool: SqlitePool) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if pool.is_closed() {
            break;
        }
        let started = std::time::Instant::now();
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            Ok(_) => metrics::histogram!("liar_sqlite_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64()),
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed; retrying"),
        }
    }
    let _ = sqlx::Connection::close(conn).await;
}

/// The result writer: one transaction for whatever results have queued up, a savepoint per
/// game so one that fails leaves the others stored.
async fn write_results(
    pool: SqlitePool,
    writer: Arc<tokio::sync::Mutex<()>>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<(FinishedGame, RecordReply)>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < RESULTS_PER_TRANSACTION {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (games, replies): (Vec<FinishedGame>, Vec<RecordReply>) = batch.into_iter().unzip();
        let outcome = {
            let _turn = writer.lock().await;
            sql::unit_of_work(
                &pool,
                Some("BEGIN IMMEDIATE"),
                games.as_slice(),
                |tx, games| Box::pin(record_each(tx, games)),
            )
            .await
        };
        match outcome {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                let unavailable = matches!(e, StoreError::Unavailable(_));
                let text = e.to_string();
                for reply in replies {
                    let error = if unavailable {
                        StoreError::Unavailable(text.clone().into())
                    } else {
                        StoreError::Other(text.clone().into())
                    };
                    let _ = reply.send(Err(error));
                }
            }
        }
    }
}

type Recorded = Result<(i64, Vec<PlayerTotals>), StoreError>;

/// Stores a batch of results in one transaction. Games whose players do not repeat are written
/// together, a few multi-row statements per group (a burst of games ending at once costs a few
/// statements, not ten per game); a group that fails is written again game by game, each under
/// its own savepoint, so the one that cannot be stored leaves the others stored.
async fn record_each(
    tx: &mut SqliteConnection,
    games: &[FinishedGame],
) -> Result<Vec<Recorded>, StoreError> {
    let mut out = Vec::with_capacity(games.len());
    for group in groups_without_repeats(games) {
        savepoint(tx, "SAVEPOINT games").await?;
        match record_group(tx, group).await {
            Ok(stored) => {
                savepoint(tx, "RELEASE games").await?;
                out.extend(stored.into_iter().map(Ok));
            }
            // Busy or gone: the whole unit is run again (or fails for every game).
            Err(e) if sql::is_transient(&e) || matches!(e, StoreError::Unavailable(_)) => {
                return Err(e);
            }
            Err(_) => {
                savepoint(tx, "ROLLBACK TO games").await?;
                savepoint(tx, "RELEASE games").await?;
                for game in group {
                    out.push(record_alone(tx, game).await?);
                }
            }
        }
    }
    Ok(out)
}

/// Consecutive runs of games in which no member plays twice (so one statement can add each
/// member's experience once).
fn groups_without_repeats(games: &[FinishedGame]) -> Vec<&[FinishedGame]> {
    let mut groups = Vec::new();
    let (mut start, mut seen) = (0, std::collections::HashSet::new());
    for (i, game) in games.iter().enumerate() {
        if game.players.iter().any(|p| seen.contains(&p.user_id)) {
            groups.push(&games[start..i]);
            start = i;
            seen.clear();
        }
        seen.extend(game.players.iter().map(|p| p.user_id));
    }
    if start < games.len() {
        groups.push(&games[start..]);
    }
    groups
}

async fn savepoint(tx: &mut SqliteConnection, statement: &'static str) -> Result<(), StoreError> {
    sqlx::query(statement)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(())
}

/// One game under its own savepoint: stored, or rolled back with its error.
async fn record_alone(
    tx: &mut SqliteConnection,
    game: &FinishedGame,
) -> Result<Recorded, StoreError> {
    savepoint(tx, "SAVEPOINT game").await?;
    match record_group(tx, std::slice::from_ref(game)).await {
        Ok(mut stored) => {
            savepoint(tx, "RELEASE game").await?;
            Ok(Ok(stored.remove(0)))
        }
        Err(e) if sql::is_transient(&e) || matches!(e, StoreError::Unavailable(_)) => Err(e),
        Err(e) => {
            savepoint(tx, "ROLLBACK TO game").await?;
            savepoint(tx, "RELEASE game").await?;
            Ok(Err(e))
        }
    }
}

/// Stores games in which no member plays twice: the games, their players, their outbox
/// records and the members' totals, in a handful of multi-row statements. A game stored before
/// (same key) changes nothing and reports the totals as they are.
async fn record_group(
    tx: &mut SqliteConnection,
    games: &[FinishedGame],
) -> Result<Vec<(i64, Vec<PlayerTotals>)>, StoreError> {
    // 12 parameters a game: far under SQLite's 32,766 for the writer's batches of 64.
    let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "INSERT INTO games (game_key, room_name, topic_id, word, mode, winner, liar_id, aborted, \
         player_count, result_json, started_at, ended_at) ",
    );
    insert.push_values(games, |mut row, g| {
        row.push_bind(&g.key)
            .push_bind(&g.room_name)
            .push_bind(&g.topic_id)
            .push_bind(&g.word)
            .push_bind(&g.mode)
            .push_bind(&g.winner)
            .push_bind(g.liar_id)
            .push_bind(g.winner.is_none())
            .push_bind(g.players.len() as i64)
            .push_bind(&g.result_json)
            .push_bind(g.started_at)
            .push_bind(g.ended_at);
    });
    insert.push(" ON CONFLICT (game_key) DO NOTHING RETURNING id, game_key");
    let mut new_ids: HashMap<String, i64> = HashMap::new();
    for row in insert.build().fetch_all(&mut *tx).await.map_err(classify)? {
        new_ids.insert(
            row.try_get("game_key").map_err(classify)?,
            row.try_get("id").map_err(classify)?,
        );
    }
    let fresh: Vec<(i64, &FinishedGame)> = games
        .iter()
        .filter_map(|g| new_ids.get(&g.key).map(|id| (*id, g)))
        .collect();
    if !fresh.is_empty() {
        let players: Vec<(i64, &FinishedGame, &FinishedPlayer)> = fresh
            .iter()
            .flat_map(|(id, g)| g.players.iter().map(move |p| (*id, *g, p)))
            .collect();
        // 7 parameters a row.
        for chunk in players.chunks(4_000) {
            let mut rows = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO game_players (game_id, user_id, role, voted_correctly, won, exp, \
                 room_name) ",
            );
            rows.push_values(chunk, |mut row, (id, g, p)| {
                row.push_bind(*id)
                    .push_bind(p.user_id)
                    .push_bind(&p.role)
                    .push_bind(p.voted_correctly)
                    .push_bind(p.won)
                    .push_bind(p.exp)
                    .push_bind(&g.room_name);
            });
            rows.build().execute(&mut *tx).await.map_err(classify)?;
        }
        let mut outbox = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO outbox (topic, payload, created_at) ",
        );
        outbox.push_values(&fresh, |mut row, (_, g)| {
            row.push("'game.finished'")
                .push_bind(&g.result_json)
                .push_bind(g.ended_at);
        });
        outbox.build().execute(&mut *tx).await.map_err(classify)?;
    }
    // Aborted games change nobody's totals.
    let scored: Vec<&FinishedPlayer> = fresh
        .iter()
        .filter(|(_, g)| g.winner.is_some())
        .flat_map(|(_, g)| g.players.iter())
        .collect();
    let mut totals: HashMap<i64, (i64, String)> = HashMap::new();
    for chunk in scored.chunks(4_000) {
        let mut update =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("WITH v(id, exp, wins, losses) AS (");
        update.push_values(chunk, |mut row, p| {
            row.push_bind(p.user_id)
                .push_bind(p.exp)
                .push_bind(i64::from(p.won))
                .push_bind(i64::from(!p.won));
        });
        update.push(
            ") UPDATE members SET exp = members.exp + v.exp, wins = members.wins + v.wins, \
             losses = members.losses + v.losses, games = members.games + 1 FROM v \
             WHERE members.id = v.id RETURNING id, exp, level",
        );
        for row in update.build().fetch_all(&mut *tx).await.map_err(classify)? {
            totals.insert(
                row.try_get("id").map_err(classify)?,
                (
                    row.try_get("exp").map_err(classify)?,
                    row.try_get("level").map_err(classify)?,
                ),
            );
        }
    }
    if let Some(missing) = scored.iter().find(|p| !totals.contains_key(&p.user_id)) {
        return Err(StoreError::Other(
            format!(
                "member {} of a finished game does not exist",
                missing.user_id
            )
            .into(),
        ));
    }
    // Members whose experience reached another level.
    let promoted: Vec<(i64, &'static str)> = totals
        .iter()
        .filter_map(|(id, (exp, level))| {
            let reached = level_of(*exp);
            (level != reached).then_some((*id, reached))
        })
        .collect();
    for chunk in promoted.chunks(4_000) {
        let mut update = sqlx::QueryBuilder::<sqlx::Sqlite>::new("WITH v(id, level) AS (");
        update.push_values(chunk, |mut row, (id, level)| {
            row.push_bind(*id).push_bind(*level);
        });
        update.push(") UPDATE members SET level = v.level FROM v WHERE members.id = v.id");
        update.build().execute(&mut *tx).await.map_err(classify)?;
    }
    for (id, level) in promoted {
        if let Some(t) = totals.get_mut(&id) {
            t.1 = level.to_owned();
        }
    }
    // Totals of members of aborted games and of games stored before, as they are.
    let unchanged: Vec<i64> = games
        .iter()
        .flat_map(|g| g.players.iter().map(|p| p.user_id))
        .filter(|id| !totals.contains_key(id))
        .collect();
    for chunk in unchanged.chunks(4_000) {
        let mut select = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, exp, level FROM members WHERE id IN (",
        );
        let mut list = select.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        select.push(")");
        for row in select.build().fetch_all(&mut *tx).await.map_err(classify)? {
            totals.insert(
                row.try_get("id").map_err(classify)?,
                (
                    row.try_get("exp").map_err(classify)?,
                    row.try_get("level").map_err(classify)?,
                ),
            );
        }
    }
    let mut out = Vec::with_capacity(games.len());
    for g in games {
        let id = match new_ids.get(&g.key) {
            Some(id) => *id,
            None => sqlx::query("SELECT id FROM games WHERE game_key = ?")
                .bind(&g.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?
                .try_get("id")
                .map_err(classify)?,
        };
        let mut players = Vec::with_capacity(g.players.len());
        for p in &g.players {
            let Some((exp, level)) = totals.get(&p.user_id) else {
                return Err(StoreError::Other(
                    format!("member {} of a finished game does not exist", p.user_id).into(),
                ));
            };
            players.push(PlayerTotals {
                user_id: p.user_id,
                exp: *exp,
                level: level.clone(),
            });
        }
        out.push((id, players));
    }
    Ok(out)
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn outbox_batch(&self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, topic, payload, created_at FROM outbox ORDER BY id LIMIT ?")
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
        rows.iter()
            .map(|r| {
                Ok(OutboxRecord {
                    id: r.try_get("id")?,
                    topic: r.try_get("topic")?,
                    payload: r.try_get("payload")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)
    }

    async fn outbox_delete(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new("DELETE FROM outbox WHERE id IN (");
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        sql.push(")");
        let _turn = self.writer.lock().await;
        let done = sql.build().execute(&self.pool).await.map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError> {
        let _turn = self.writer.lock().await;
        let done = sqlx::query("DELETE FROM outbox WHERE created_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ResultQueries for SqliteStore {
    async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryItem>, StoreError> {
        let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT g.id, g.room_name, g.topic_id, g.winner, g.player_count, g.aborted, g.ended_at, \
             p.role, p.voted_correctly, p.won, p.exp \
             FROM game_players p JOIN games g ON g.id = p.game_id WHERE p.user_id = ",
        );
        sql.push_bind(query.user);
        match query.won {
            Some(true) => sql.push(" AND p.won = 1"),
            Some(false) => sql.push(" AND p.won = 0 AND g.aborted = 0"),
            None => &mut sql,
        };
        if let Some(before) = query.before {
            sql.push(" AND p.game_id < ").push_bind(before);
        }
        if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
            // The player row's copy of the name, checked inside the history index (0004).
            sql.push(" AND p.room_name LIKE ")
                .push_bind(sql::contains_pattern(q))
                .push(" ESCAPE '\\'");
        }
        sql.push(" ORDER BY p.game_id DESC LIMIT ")
            .push_bind(query.limit as i64);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(classify)?;
        rows.iter()
            .map(rows::history_item)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn game(&self, id: i64) -> Result<Option<StoredGame>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT id, room_name, topic_id, word, mode, winner, liar_id, aborted, result_json, \
             started_at, ended_at FROM games WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        else {
            return Ok(None);
        };
        let participants = sqlx::query("SELECT user_id FROM game_players WHERE game_id = ?")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .iter()
            .map(|p| p.try_get("user_id"))
            .collect::<Result<_, _>>()
            .map_err(classify)?;
        let game = rows::stored_game(&r, participants).map_err(classify)?;
        Ok(Some(game))
    }

    async fn leaderboard(
        &self,
        after: Option<(i64, UserId)>,
        limit: usize,
    ) -> Result<Vec<LeaderboardRow>, StoreError> {
        let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT id, username, level, exp, wins, losses, games FROM members \
             WHERE results_visible = 1",
        );
        if let Some((exp, id)) = after {
            sql.push(" AND (exp < ")
                .push_bind(exp)
                .push(" OR (exp = ")
                .push_bind(exp)
                .push(" AND id > ")
                .push_bind(id)
                .push("))");
        }
        sql.push(" ORDER BY exp DESC, id ASC LIMIT ")
            .push_bind(limit as i64);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(classify)?;
        rows.iter()
            .map(rows::leaderboard_row)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }
}

#[async_trait]
impl TopicStore for SqliteStore {
    async fn topic_overrides(&self) -> Result<Vec<TopicOverride>, StoreError> {
        let rows =
            sqlx::query("SELECT id, body, updated_by, updated_at FROM topic_overrides ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
        rows.iter()
            .map(rows::topic_override)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn save_topic_override(&self, edit: TopicOverride) -> Result<(), StoreError> {
        self.write(&edit, |tx, edit| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO topic_overrides (id, body, updated_by, updated_at) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, \
                     updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                )
                .bind(&edit.id)
                .bind(&edit.body)
                .bind(edit.updated_by)
                .bind(edit.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                Ok(())
            })
        })
        .await
    }

    async fn delete_topic_override(&self, id: &str) -> Result<(), StoreError> {
        self.write(id, |tx, id| {
            Box::pin(async move {
                sqlx::query("DELETE FROM topic_overrides WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                Ok(())
            })
        })
        .await
    }
}

#[async_trait]
impl RoomStore for SqliteStore {
    async fn create_room(&self, code: &str, now: Millis) -> Result<Option<i64>, StoreError> {
        self.write(code, |tx, code| {
            Box::pin(async move {
                let row = sqlx::query(
                    "INSERT INTO rooms (code, created_at, saved_at) VALUES (?, ?, ?) \
                     ON CONFLICT (code) DO NOTHING RETURNING id",
                )
                .bind(code)
                .bind(now)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
                row.map(|r| r.try_get("id")).transpose().map_err(classify)
            })
        })
        .await
    }

    async fn save_rooms(&self, writes: &[RoomWrite]) -> Result<Vec<i64>, StoreError> {
        self.write(writes, |tx, writes| {
            Box::pin(async move {
                // Rooms that closed: their rows and logs go, one by one (rare).
                let mut fenced = Vec::new();
                for w in writes.iter().filter(|w| w.state.is_none()) {
                    if !delete_room(tx, w).await? {
                        fenced.push(w.id);
                    }
                }
                // Live rooms: one multi-row update per chunk; a room it did not return was
                // fenced (another process owns it now).
                let live: Vec<&RoomWrite> = writes.iter().filter(|w| w.state.is_some()).collect();
                let mut saved = std::collections::HashSet::new();
                for chunk in live.chunks(ROOMS_PER_UPDATE) {
                    let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                        "WITH v(id, epoch, seq, format, state, saved_at) AS (",
                    );
                    sql.push_values(chunk, |mut row, w| {
                        row.push_bind(w.id)
                            .push_bind(w.epoch)
                            .push_bind(w.seq)
                            .push_bind(w.format)
                            .push_bind(w.state.as_deref())
                            .push_bind(w.saved_at);
                    });
                    sql.push(
                        ") UPDATE rooms SET seq = v.seq, format = v.format, state = v.state, \
                         saved_at = v.saved_at FROM v \
                         WHERE rooms.id = v.id AND rooms.epoch = v.epoch RETURNING id",
                    );
                    for row in sql.build().fetch_all(&mut *tx).await.map_err(classify)? {
                        saved.insert(row.try_get::<i64, _>("id").map_err(classify)?);
                    }
                }
                let mut events: Vec<(i64, i64, &str)> = Vec::new();
                for w in live {
                    if !saved.contains(&w.id) {
                        fenced.push(w.id);
                    } else {
                        events.extend(
                            w.events
                                .iter()
                                .map(|(seq, body)| (w.id, *seq, body.as_str())),
                        );
                    }
                }
                // Every room's new events in a few statements, not one statement per event.
                for chunk in events.chunks(EVENT_ROWS_PER_INSERT) {
                    let mut sql = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                        "INSERT OR REPLACE INTO room_events (room_id, seq, body) ",
                    );
                    sql.push_values(chunk, |mut row, (room, seq, body)| {
                        row.push_bind(*room).push_bind(*seq).push_bind(*body);
                    });
                    sql.build().execute(&mut *tx).await.map_err(classify)?;
                }
                for w in writes
                    .iter()
                    .filter(|w| w.state.is_some() && !fenced.contains(&w.id))
                {
                    if let Some(through) = w.prune_through {
                        sqlx::query("DELETE FROM room_events WHERE room_id = ? AND seq <= ?")
                            .bind(w.id)
                            .bind(through)
                            .execute(&mut *tx)
                            .await
                            .map_err(classify)?;
                    }
                }
                Ok(fenced)
            })
        })
        .await
    }

    async fn take_over_rooms(&self) -> Result<Vec<SavedRoom>, StoreError> {
        self.write(&(), |tx, _| {
            Box::pin(async move {
                sqlx::query("DELETE FROM rooms WHERE state IS NULL")
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                let rows = sqlx::query(
                    "UPDATE rooms SET epoch = epoch + 1 RETURNING id, epoch, seq, format, state",
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                let mut rooms = Vec::with_capacity(rows.len());
                for row in rows {
                    let id: i64 = row.try_get("id").map_err(classify)?;
                    let events = sqlx::query(
                        "SELECT seq, body FROM room_events WHERE room_id = ? ORDER BY seq",
                    )
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(classify)?
                    .iter()
                    .map(|e| Ok((e.try_get("seq")?, e.try_get("body")?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(classify)?;
                    rooms.push(SavedRoom {
                        id,
                        epoch: row.try_get("epoch").map_err(classify)?,
                        seq: row.try_get("seq").map_err(classify)?,
                        format: row.try_get("format").map_err(classify)?,
                        state: row.try_get("state").map_err(classify)?,
                        events,
                    });
                }
                rooms.sort_by_key(|r| r.id);
                Ok(rooms)
            })
        })
        .await
    }
}

/// Deletes a closed room and its log; `false` when the epoch fenced the write off.
async fn delete_room(tx: &mut SqliteConnection, w: &RoomWrite) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM rooms WHERE id = ? AND epoch = ?")
        .bind(w.id)
        .bind(w.epoch)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    if done.rows_affected() > 0 {
        sqlx::query("DELETE FROM room_events WHERE room_id = ?")
            .bind(w.id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
    }
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(id: i64, seq: i64) -> RoomWrite {
        RoomWrite {
            id,
            epoch: 0,
            seq,
            format: 1,
            // About a page of state, as a room in a game has.
            state: Some(format!("{{\"pad\":\"{}\"}}", "x".repeat(4_000))),
            events: vec![(seq, "{}".into())],
            prune_through: None,
            saved_at: 0,
            summary: None,
            unseated: Vec::new(),
        }
    }

    /// Frames in the WAL now (and how many of them are in the database file).
    async fn wal(store: &SqliteStore) -> (i64, i64) {
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        (row.get::<i64, _>(1), row.get::<i64, _>(2))
    }

    #[tokio::test]
    async fn commits_leave_checkpoints_to_the_checkpointer_which_keeps_the_wal_small() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/liar.db?mode=rwc", dir.path().display());
        let store = SqliteStore::connect(&url, 4, Duration::from_secs(5))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..20 {
            let code = format!("CODE{i:02}");
            ids.push(store.create_room(&code, 1).await.unwrap().unwrap());
        }
        let mut seq = 0;
        let mut saves = |n: usize| {
            let batch: Vec<RoomWrite> = (0..n)
                .map(|i| {
                    seq += 1;
                    write(ids[i % ids.len()], seq)
                })
                .collect();
            batch
        };
        // Far past SQLite's default of a checkpoint every 1,000 frames, written at once.
        for _ in 0..30 {
            let batch = saves(100);
            store.save_rooms(&batch).await.unwrap();
        }
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(autocheckpoint, 0, "no commit runs a checkpoint");
        // The checkpointer copies the WAL back within its period; the next write then starts
        // the WAL over from its beginning.
        tokio::time::sleep(CHECKPOINT_EVERY * 3).await;
        let batch = saves(1);
        store.save_rooms(&batch).await.unwrap();
        let (frames, _) = wal(&store).await;
        assert!(frames < 100, "the WAL started over: {frames} frames");
    }
}
