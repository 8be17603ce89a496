//! MySQL/MariaDB adapter for the storage ports (`mysql://` or `mariadb://` URLs): several nodes
//! share one database (SPEC §6.4). Written for MariaDB 10.11 and MySQL 8: no `UPDATE …
//! RETURNING` (MariaDB has none), no `INSERT … RETURNING` (MySQL has none), so ids come from
//! `LAST_INSERT_ID()` and updated rows are read back inside the same transaction.
//!
//! Every write runs through [`MySqlStore::write`] ([`sql::unit_of_work`]): one transaction that
//! commits on `Ok`, rolls back otherwise, returns its connection on every path, and runs again
//! when InnoDB picks it as a deadlock victim (1213) or a lock wait timed out (1205). Sessions run
//! at READ COMMITTED (fewer gap locks, and every statement reads what is committed); a unit that
//! reads before it writes locks the member row it is about (`FOR UPDATE`) first, and a finished
//! game locks its players in id order, so two games of the same players never deadlock.

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{Executor, MySql, QueryBuilder, Row};
use std::str::FromStr;
use std::time::Duration;

use super::rows::{self, MEMBER_COLUMNS};
use super::sql::{self, classify, level_of, state_of, unique_or_classify};
use super::*;

pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<MySqlStore> {
        let options = MySqlConnectOptions::from_str(url)?;
        let pool = MySqlPoolOptions::new()
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(MySqlStore { pool })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/mysql").run(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tools that read the database directly (`liar-bench`).
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Runs `work` on `input` as one unit of work ([`sql::unit_of_work`]).
    async fn write<I, T, F>(&self, input: &I, work: F) -> Result<T, StoreError>
    where
        I: Sync + ?Sized,
        T: Send,
        F: for<'c> Fn(&'c mut MySqlConnection, &'c I) -> BoxFuture<'c, Result<T, StoreError>>,
    {
        sql::unit_of_work(&self.pool, None, input, work).await
    }
}

/// Locks a member's row for the rest of the transaction: the per-member turn of session writes.
async fn lock_member(tx: &mut MySqlConnection, member: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT id FROM members WHERE id = ? FOR UPDATE")
        .bind(member)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl MemberStore for MySqlStore {
    async fn create_member(&self, m: NewMember) -> Result<UserId, StoreError> {
        let created = self
            .write(&m, |tx, m| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "INSERT INTO members (email, username, username_key, password_hash, \
                         created_at) VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(m.email.as_str())
                    .bind(m.username.as_str())
                    .bind(m.username.key())
                    .bind(&m.password_hash)
                    .bind(m.now)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_or_classify)?;
                    Ok(done.last_insert_id() as UserId)
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
                    let done = sqlx::query(
                        "UPDATE members SET username = COALESCE(?, username), \
                         username_key = COALESCE(?, username_key), \
                         results_visible = COALESCE(?, results_visible) WHERE id = ?",
                    )
                    .bind(patch.username.as_ref().map(|u| u.as_str()))
                    .bind(patch.username.as_ref().map(|u| u.key()))
                    .bind(patch.results_visible)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_or_classify)?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound);
                    }
                    let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = ?");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(classify)?;
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
impl SessionStore for MySqlStore {
    async fn open_session(&self, s: NewSession) -> Result<Vec<SessionId>, StoreError> {
        self.write(&s, |tx, s| {
            Box::pin(async move {
                lock_member(tx, s.member).await?;
                let replaced: Vec<SessionId> = sqlx::query(
                    "SELECT id FROM sessions WHERE member_id = ? AND ended_at IS NULL FOR UPDATE",
                )
                .bind(s.member)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()
                .map_err(classify)?;
                sqlx::query(
                    "UPDATE sessions SET ended_at = ?, end_reason = 'replaced' \
                     WHERE member_id = ? AND ended_at IS NULL",
                )
                .bind(s.now)
                .bind(s.member)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                sqlx::query(
                    "INSERT INTO sessions (id, member_id, created_at, expires_at) \
                     VALUES (?, ?, ?, ?)",
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
                lock_member(tx, member).await?;
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
                    "UPDATE members SET current_session_id = NULL WHERE current_session_id IN \
                     (SELECT id FROM sessions WHERE expires_at < ?)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                // Tokens go with their sessions (ON DELETE CASCADE).
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
    tx: &mut MySqlConnection,
    hash: &TokenHash,
    session: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) \
         VALUES (?, ?, ?, ?)",
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
    tx: &mut MySqlConnection,
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
    tx: &mut MySqlConnection,
    presented: &TokenHash,
    next: &NextRefresh,
) -> Result<RefreshOutcome, StoreError> {
    // The member first, locked: then the token's facts are read after any concurrent
    // presentation of it has committed.
    let owner = sqlx::query(
        "SELECT s.member_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.token_hash = ?",
    )
    .bind(&presented[..])
    .fetch_optional(&mut *tx)
    .await
    .map_err(classify)?;
    let Some(owner) = owner else {
        return Ok(RefreshOutcome::Unknown);
    };
    lock_member(tx, owner.try_get("member_id").map_err(classify)?).await?;
    let row = sqlx::query(
        "SELECT t.session_id, t.used_at, t.expires_at AS token_expires, s.member_id, \
         s.end_reason, s.expires_at, m.current_session_id \
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
    let session: String = row.try_get("session_id").map_err(classify)?;
    let member: UserId = row.try_get("member_id").map_err(classify)?;
    let used_at: Option<Millis> = row.try_get("used_at").map_err(classify)?;
    let token_expires: Millis = row.try_get("token_expires").map_err(classify)?;
    let reason: Option<String> = row.try_get("end_reason").map_err(classify)?;
    let expires_at: Millis = row.try_get("expires_at").map_err(classify)?;
    let current: Option<String> = row.try_get("current_session_id").map_err(classify)?;
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
    tx: &mut MySqlConnection,
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
impl SettingsStore for MySqlStore {
    async fn get_or_init(&self, key: &str, init: String) -> Result<String, StoreError> {
        self.write(&(key, init), |tx, (key, init)| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO settings (`key`, value) VALUES (?, ?) \
                     ON DUPLICATE KEY UPDATE `key` = `key`",
                )
                .bind(*key)
                .bind(init)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let row = sqlx::query("SELECT value FROM settings WHERE `key` = ?")
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
impl ResultStore for MySqlStore {
    async fn record_game(
        &self,
        game: FinishedGame,
    ) -> Result<(i64, Vec<PlayerTotals>), StoreError> {
        self.write(&game, |tx, game| Box::pin(record(tx, game)))
            .await
    }
}

#[async_trait]
impl OutboxStore for MySqlStore {
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
        let mut sql = sqlx::QueryBuilder::<sqlx::MySql>::new("DELETE FROM outbox WHERE id IN (");
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        sql.push(")");
        let done = sql.build().execute(&self.pool).await.map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM outbox WHERE created_at < ?")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}

async fn record(
    tx: &mut MySqlConnection,
    game: &FinishedGame,
) -> Result<(i64, Vec<PlayerTotals>), StoreError> {
    // A concurrent insert of the same key waits here for the first one's commit, then is
    // refused (1062; only the statement is undone): the game is stored once.
    let inserted = sqlx::query(
        "INSERT INTO games (game_key, room_name, topic_id, word, mode, winner, liar_id, aborted, \
         player_count, result_json, started_at, ended_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&game.key)
    .bind(&game.room_name)
    .bind(&game.topic_id)
    .bind(&game.word)
    .bind(&game.mode)
    .bind(&game.winner)
    .bind(game.liar_id)
    .bind(game.winner.is_none())
    .bind(game.players.len() as i64)
    .bind(&game.result_json)
    .bind(game.started_at)
    .bind(game.ended_at)
    .execute(&mut *tx)
    .await
    .map_err(unique_or_classify);
    let game_id: i64 = match inserted {
        Ok(done) => done.last_insert_id() as i64,
        Err(e) if !sql::is_duplicate(&e) => return Err(e),
        Err(_) => {
            // Stored before: report the totals as they are, change nothing.
            let row = sqlx::query("SELECT id FROM games WHERE game_key = ?")
                .bind(&game.key)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify)?;
            let id: i64 = row.try_get("id").map_err(classify)?;
            return Ok((id, totals(tx, &game.players).await?));
        }
    };
    let mut ids: Vec<UserId> = game.players.iter().map(|p| p.user_id).collect();
    ids.sort_unstable();
    let mut lock = QueryBuilder::<MySql>::new("SELECT id FROM members WHERE id IN (");
    let mut list = lock.separated(", ");
    for id in &ids {
        list.push_bind(*id);
    }
    lock.push(") ORDER BY id FOR UPDATE");
    lock.build().fetch_all(&mut *tx).await.map_err(classify)?;
    let aborted = game.winner.is_none();
    for p in &game.players {
        sqlx::query(
            "INSERT INTO game_players (game_id, user_id, role, voted_correctly, won, exp, \
             room_name) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(game_id)
        .bind(p.user_id)
        .bind(&p.role)
        .bind(p.voted_correctly)
        .bind(p.won)
        .bind(p.exp)
        .bind(&game.room_name)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        if aborted {
            continue;
        }
        // The row is locked above, so the read and the write of the totals cannot interleave.
        let row = sqlx::query("SELECT exp FROM members WHERE id = ?")
            .bind(p.user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        let exp = row.try_get::<i64, _>("exp").map_err(classify)? + p.exp;
        sqlx::query(
            "UPDATE members SET exp = ?, level = ?, wins = wins + ?, losses = losses + ?, \
             games = games + 1 WHERE id = ?",
        )
        .bind(exp)
        .bind(level_of(exp))
        .bind(i64::from(p.won))
        .bind(i64::from(!p.won))
        .bind(p.user_id)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    }
    sqlx::query("INSERT INTO outbox (topic, payload, created_at) VALUES ('game.finished', ?, ?)")
        .bind(&game.result_json)
        .bind(game.ended_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok((game_id, totals(tx, &game.players).await?))
}

async fn totals(
    tx: &mut MySqlConnection,
    players: &[FinishedPlayer],
) -> Result<Vec<PlayerTotals>, StoreError> {
    let mut out = Vec::with_capacity(players.len());
    for p in players {
        let row = sqlx::query("SELECT exp, level FROM members WHERE id = ?")
            .bind(p.user_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(classify)?;
        out.push(PlayerTotals {
            user_id: p.user_id,
            exp: row.try_get("exp").map_err(classify)?,
            level: row.try_get("level").map_err(classify)?,
        });
    }
    Ok(out)
}

#[async_trait]
impl ResultQueries for MySqlStore {
    async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryItem>, StoreError> {
        let mut sql = QueryBuilder::<MySql>::new(
            "SELECT g.id, g.room_name, g.topic_id, g.winner, g.player_count, g.aborted, \
             g.ended_at, p.role, p.voted_correctly, p.won, p.exp \
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
            // The player row's copy of the name, read from the history index (0003); its
            // collation ignores case, as SQLite's LIKE does; `\` is LIKE's default escape.
            sql.push(" AND p.room_name LIKE ")
                .push_bind(sql::contains_pattern(q));
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
        rows::stored_game(&r, participants)
            .map(Some)
            .map_err(classify)
    }

    async fn leaderboard(
        &self,
        after: Option<(i64, UserId)>,
        limit: usize,
    ) -> Result<Vec<LeaderboardRow>, StoreError> {
        let mut sql = QueryBuilder::<MySql>::new(
            "SELECT id, username, level, exp, wins, losses, games FROM members \
             WHERE results_visible = 1",
        );
        if let Some((exp, id)) = after {
            // `exp <= …` repeats what the OR implies, as a range the leaderboard index can
            // start from (the OR alone makes the planner walk the ranks before the cursor).
            sql.push(" AND exp <= ")
                .push_bind(exp)
                .push(" AND (exp < ")
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
impl TopicStore for MySqlStore {
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
                     VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE body = VALUES(body), \
                     updated_by = VALUES(updated_by), updated_at = VALUES(updated_at)",
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
impl RoomStore for MySqlStore {
    async fn create_room(&self, code: &str, now: Millis) -> Result<Option<i64>, StoreError> {
        self.create_room_for(code, None, now).await
    }

    async fn save_rooms(&self, writes: &[RoomWrite]) -> Result<Vec<i64>, StoreError> {
        self.write(writes, |tx, writes| {
            Box::pin(async move {
                let mut fenced = Vec::new();
                for w in writes {
                    if !save_room(tx, w).await? {
                        fenced.push(w.id);
                    }
                }
                Ok(fenced)
            })
        })
        .await
    }

    async fn take_over_rooms(&self) -> Result<Vec<SavedRoom>, StoreError> {
        self.take_over(None).await
    }

    async fn create_owned_room(
        &self,
        code: &str,
        owner: &str,
        lease_ms: i64,
        now: Millis,
    ) -> Result<Option<i64>, StoreError> {
        self.create_room_for(code, Some((owner, lease_ms)), now)
            .await
    }

    async fn take_over_owned_rooms(
        &self,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Vec<SavedRoom>, StoreError> {
        self.take_over(Some((owner, lease_ms))).await
    }

    async fn renew_leases(
        &self,
        owner: &str,
        rooms: &[i64],
        ttl_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        self.write(&(owner, rooms), |tx, (owner, rooms)| {
            Box::pin(async move {
                // Lock the rooms still ours (no `UPDATE … RETURNING`): a takeover that commits
                // first moves the row out of the answer, one that comes later waits for us.
                let mut select =
                    QueryBuilder::<MySql>::new("SELECT id FROM rooms WHERE owner_node = ");
                select.push_bind(*owner).push(" AND id IN (");
                let mut list = select.separated(", ");
                for id in rooms.iter() {
                    list.push_bind(*id);
                }
                select.push(") ORDER BY id FOR UPDATE");
                let ours: Vec<i64> = select
                    .build()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(classify)?
                    .iter()
                    .map(|r| r.try_get("id"))
                    .collect::<Result<_, _>>()
                    .map_err(classify)?;
                if !ours.is_empty() {
                    let mut renew = QueryBuilder::<MySql>::new(format!(
                        "UPDATE rooms SET lease_until = {DB_NOW_MS} + "
                    ));
                    renew.push_bind(ttl_ms).push(" WHERE id IN (");
                    let mut list = renew.separated(", ");
                    for id in &ours {
                        list.push_bind(*id);
                    }
                    renew.push(")");
                    renew.build().execute(&mut *tx).await.map_err(classify)?;
                }
                Ok(ours)
            })
        })
        .await
    }

    async fn take_over_expired(
        &self,
        owner: &str,
        ttl_ms: i64,
        limit: i64,
    ) -> Result<Vec<SavedRoom>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        self.write(owner, |tx, owner| {
            Box::pin(async move {
                // Lock up to `limit` expired rooms, skipping those another node is taking right
                // now (a locking read at READ COMMITTED sees the latest committed lease, so a
                // room taken a moment ago no longer qualifies); then take exactly those and
                // read them back (no `UPDATE … RETURNING`).
                let sql = format!(
                    "SELECT id FROM rooms WHERE state IS NOT NULL AND lease_until < {DB_NOW_MS} \
                     ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED"
                );
                let ids: Vec<i64> = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(classify)?
                    .iter()
                    .map(|r| r.try_get("id"))
                    .collect::<Result<_, _>>()
                    .map_err(classify)?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut take = QueryBuilder::<MySql>::new("UPDATE rooms SET owner_node = ");
                take.push_bind(owner)
                    .push(format!(", epoch = epoch + 1, lease_until = {DB_NOW_MS} + "))
                    .push_bind(ttl_ms)
                    .push(" WHERE id IN (");
                let mut list = take.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                take.push(")");
                take.build().execute(&mut *tx).await.map_err(classify)?;
                let mut read = QueryBuilder::<MySql>::new(
                    "SELECT id, epoch, seq, format, state FROM rooms WHERE id IN (",
                );
                let mut list = read.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                read.push(") ORDER BY id");
                let rows = read.build().fetch_all(&mut *tx).await.map_err(classify)?;
                saved_rooms(tx, rows).await
            })
        })
        .await
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        self.write(owner, |tx, owner| {
            Box::pin(async move {
                let done = sqlx::query("UPDATE rooms SET lease_until = 0 WHERE owner_node = ?")
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                Ok(done.rows_affected())
            })
        })
        .await
    }

    async fn room_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT owner_node FROM rooms WHERE id = ? AND state IS NOT NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| r.try_get::<Option<String>, _>("owner_node"))
            .transpose()
            .map(Option::flatten)
            .map_err(classify)
    }

    async fn room_by_code(&self, code: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM rooms WHERE code = ? AND state IS NOT NULL")
            .bind(code)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| r.try_get("id")).transpose().map_err(classify)
    }

    async fn room_summaries(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, summary FROM rooms WHERE state IS NOT NULL AND summary IS NOT NULL \
             ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("summary")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)
    }

    async fn member_room(&self, user: i64) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query("SELECT room_id, fence FROM room_members WHERE user_id = ?")
            .bind(user)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| Ok((r.try_get("room_id")?, r.try_get("fence")?)))
            .transpose()
            .map_err(classify)
    }

    async fn claim_member(&self, user: i64, room: i64, fence: i64) -> Result<bool, StoreError> {
        self.write(&(user, room, fence), |tx, &(user, room, fence)| {
            Box::pin(async move {
                // The primary key keeps one row per member: a member who has one is skipped
                // (IGNORE), as is a room that is gone (nothing selected, or the foreign key
                // refusing a room deleted meanwhile). `FOUND_ROWS` does not count skipped rows.
                let done = sqlx::query(
                    "INSERT IGNORE INTO room_members (user_id, room_id, fence) \
                     SELECT ?, id, ? FROM rooms WHERE id = ?",
                )
                .bind(user)
                .bind(fence)
                .bind(room)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }

    async fn release_member(&self, user: i64, room: i64, fence: i64) -> Result<bool, StoreError> {
        self.write(&(user, room, fence), |tx, &(user, room, fence)| {
            Box::pin(async move {
                let done = sqlx::query(
                    "DELETE FROM room_members WHERE user_id = ? AND room_id = ? AND fence = ?",
                )
                .bind(user)
                .bind(room)
                .bind(fence)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                Ok(done.rows_affected() == 1)
            })
        })
        .await
    }
}

/// The database's clock in Unix milliseconds: leases are read and written on it alone, so the
/// nodes' clocks never have to agree.
const DB_NOW_MS: &str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

impl MySqlStore {
    /// Reserves a room id for `code`, owned by `owner` under a lease of the given length when
    /// one is given (cluster mode); `None` when the code is taken.
    async fn create_room_for(
        &self,
        code: &str,
        owner: Option<(&str, i64)>,
        now: Millis,
    ) -> Result<Option<i64>, StoreError> {
        let (owner, lease_ms) = owner.unzip();
        self.write(&(code, owner, lease_ms), |tx, (code, owner, lease_ms)| {
            Box::pin(async move {
                // No owner, no lease: `NULL + …` stays NULL, a lease that never expires.
                let sql = format!(
                    "INSERT INTO rooms (code, owner_node, lease_until, created_at, saved_at) \
                     VALUES (?, ?, {DB_NOW_MS} + ?, ?, ?)"
                );
                let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(*code)
                    .bind(*owner)
                    .bind(*lease_ms)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_or_classify);
                match inserted {
                    Ok(done) => Ok(Some(done.last_insert_id() as i64)),
                    Err(e) if sql::is_duplicate(&e) => Ok(None),
                    Err(e) => Err(e),
                }
            })
        })
        .await
    }

    /// Takes over the saved rooms (of `owner` only, when given, each under a fresh lease):
    /// bumps their epochs and returns them with their event logs; rooms never saved are
    /// deleted.
    async fn take_over(&self, owner: Option<(&str, i64)>) -> Result<Vec<SavedRoom>, StoreError> {
        let (owner, lease_ms) = owner.unzip();
        self.write(&(owner, lease_ms), |tx, (owner, lease_ms)| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM rooms WHERE state IS NULL AND (? IS NULL OR owner_node = ?)",
                )
                .bind(*owner)
                .bind(*owner)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                // Lock the saved rooms, then bump exactly those (MariaDB has no
                // `UPDATE … RETURNING`).
                let rows = sqlx::query(
                    "SELECT id, epoch + 1 AS epoch, seq, format, state FROM rooms \
                     WHERE state IS NOT NULL AND (? IS NULL OR owner_node = ?) \
                     ORDER BY id FOR UPDATE",
                )
                .bind(*owner)
                .bind(*owner)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                if !rows.is_empty() {
                    // Without a lease (single-process mode) the stored one stays as it is.
                    let mut bump = QueryBuilder::<MySql>::new(format!(
                        "UPDATE rooms SET epoch = epoch + 1, \
                         lease_until = COALESCE({DB_NOW_MS} + "
                    ));
                    bump.push_bind(*lease_ms)
                        .push(", lease_until) WHERE id IN (");
                    let mut list = bump.separated(", ");
                    for row in &rows {
                        list.push_bind(row.try_get::<i64, _>("id").map_err(classify)?);
                    }
                    bump.push(")");
                    bump.build().execute(&mut *tx).await.map_err(classify)?;
                }
                saved_rooms(tx, rows).await
            })
        })
        .await
    }
}

/// Taken-over rows (`id, epoch, seq, format, state`, the epoch after the bump) with their
/// event logs, by id.
async fn saved_rooms(
    tx: &mut MySqlConnection,
    rows: Vec<sqlx::mysql::MySqlRow>,
) -> Result<Vec<SavedRoom>, StoreError> {
    let mut rooms = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id").map_err(classify)?;
        let events =
            sqlx::query("SELECT seq, body FROM room_events WHERE room_id = ? ORDER BY seq")
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
}

/// One write of a batch; `false` when the epoch fenced it off.
async fn save_room(tx: &mut MySqlConnection, w: &RoomWrite) -> Result<bool, StoreError> {
    let Some(state) = &w.state else {
        // The room's events go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM rooms WHERE id = ? AND epoch = ?")
            .bind(w.id)
            .bind(w.epoch)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        return Ok(done.rows_affected() > 0);
    };
    let done = sqlx::query(
        "UPDATE rooms SET seq = ?, format = ?, state = ?, saved_at = ?, \
         summary = COALESCE(?, summary) WHERE id = ? AND epoch = ?",
    )
    .bind(w.seq)
    .bind(w.format)
    .bind(state)
    .bind(w.saved_at)
    .bind(w.summary.as_deref())
    .bind(w.id)
    .bind(w.epoch)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (seq, body) in &w.events {
        sqlx::query(
            "INSERT INTO room_events (room_id, seq, body) VALUES (?, ?, ?) \
             ON DUPLICATE KEY UPDATE body = VALUES(body)",
        )
        .bind(w.id)
        .bind(seq)
        .bind(body)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    }
    if let Some(through) = w.prune_through {
        sqlx::query("DELETE FROM room_events WHERE room_id = ? AND seq <= ?")
            .bind(w.id)
            .bind(through)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
    }
    if !w.unseated.is_empty() {
        // Members who left in this transition: their directory rows of this room go.
        let mut unseat = QueryBuilder::<MySql>::new("DELETE FROM room_members WHERE room_id = ");
        unseat.push_bind(w.id).push(" AND user_id IN (");
        let mut list = unseat.separated(", ");
        for user in &w.unseated {
            list.push_bind(*user);
        }
        unseat.push(")");
        unseat.build().execute(&mut *tx).await.map_err(classify)?;
    }
    Ok(true)
}

#[async_trait]
impl Store for MySqlStore {
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
