//! PostgreSQL adapter for the storage ports (`postgres://` or `postgresql://` URLs): several nodes
//! share one database (SPEC §6.4).
//!
//! Every write runs through [`PgStore::write`] ([`sql::unit_of_work`]): one transaction that
//! commits on `Ok`, rolls back otherwise, returns its connection on every path, and runs again
//! when PostgreSQL picks it as a deadlock victim. Transactions run at READ COMMITTED; a unit that
//! reads before it writes locks the member row it is about (`FOR UPDATE`) first, so logins,
//! refreshes and logouts of one member take their turns, and a finished game locks its players
//! in id order, so two games of the same players never deadlock.

use async_trait::async_trait;
use futures::future::BoxFuture;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Row};
use std::str::FromStr;
use std::time::Duration;

use super::rows::{self, MEMBER_COLUMNS};
use super::sql::{self, classify, level_of, state_of, unique_or_classify};
use super::*;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> anyhow::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(PgStore { pool })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// The pool, for tools that read the database directly (`liar-bench`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `work` on `input` as one unit of work ([`sql::unit_of_work`]).
    async fn write<I, T, F>(&self, input: &I, work: F) -> Result<T, StoreError>
    where
        I: Sync + ?Sized,
        T: Send,
        F: for<'c> Fn(&'c mut PgConnection, &'c I) -> BoxFuture<'c, Result<T, StoreError>>,
    {
        sql::unit_of_work(&self.pool, None, input, work).await
    }
}

/// Locks a member's row for the rest of the transaction: the per-member turn of session writes.
async fn lock_member(tx: &mut PgConnection, member: UserId) -> Result<(), StoreError> {
    sqlx::query("SELECT id FROM members WHERE id = $1 FOR UPDATE")
        .bind(member)
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl MemberStore for PgStore {
    async fn create_member(&self, m: NewMember) -> Result<UserId, StoreError> {
        let created = self
            .write(&m, |tx, m| {
                Box::pin(async move {
                    let row = sqlx::query(
                        "INSERT INTO members (email, username, username_key, password_hash, \
                         created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
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
        let row = sqlx::query("SELECT 1 FROM members WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }

    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError> {
        let row = sqlx::query("SELECT id, password_hash FROM members WHERE email = $1")
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
        let sql = format!("SELECT {MEMBER_COLUMNS} FROM members WHERE id = $1");
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
                        "UPDATE members SET username = COALESCE($1, username), \
                         results_visible = COALESCE($2, results_visible), \
                         username_key = COALESCE($4, username_key) WHERE id = $3 \
                         RETURNING {MEMBER_COLUMNS}"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(patch.username.as_ref().map(|u| u.as_str()))
                        .bind(patch.results_visible)
                        .bind(id)
                        .bind(patch.username.as_ref().map(|u| u.key()))
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
                let done = sqlx::query("UPDATE members SET is_admin = $1 WHERE email = $2")
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
impl SessionStore for PgStore {
    async fn open_session(&self, s: NewSession) -> Result<Vec<SessionId>, StoreError> {
        self.write(&s, |tx, s| {
            Box::pin(async move {
                lock_member(tx, s.member).await?;
                let replaced: Vec<SessionId> = sqlx::query(
                    "UPDATE sessions SET ended_at = $1, end_reason = 'replaced' \
                     WHERE member_id = $2 AND ended_at IS NULL RETURNING id",
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
                    "INSERT INTO sessions (id, member_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&s.id)
                .bind(s.member)
                .bind(s.now)
                .bind(s.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                insert_refresh(tx, &s.refresh_hash, &s.id, s.now, s.expires_at).await?;
                sqlx::query("UPDATE members SET current_session_id = $1 WHERE id = $2")
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
             WHERE s.id = $1 AND s.member_id = $2",
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
                    "UPDATE sessions SET ended_at = $1, end_reason = 'logout' \
                     WHERE id = $2 AND member_id = $3 AND ended_at IS NULL",
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
                     (SELECT id FROM sessions WHERE expires_at < $1)",
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                // Tokens go with their sessions (ON DELETE CASCADE).
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
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
    tx: &mut PgConnection,
    hash: &TokenHash,
    session: &str,
    now: Millis,
    expires_at: Millis,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
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
    tx: &mut PgConnection,
    member: UserId,
    session: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE members SET current_session_id = NULL WHERE id = $1 AND current_session_id = $2",
    )
    .bind(member)
    .bind(session)
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    Ok(())
}

async fn rotate(
    tx: &mut PgConnection,
    presented: &TokenHash,
    next: &NextRefresh,
) -> Result<RefreshOutcome, StoreError> {
    // The member first, locked: then the token's facts are read after any concurrent
    // presentation of it has committed.
    let owner = sqlx::query(
        "SELECT s.member_id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1",
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
         JOIN members m ON m.id = s.member_id WHERE t.token_hash = $1",
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
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
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
    tx: &mut PgConnection,
    session: &str,
    member: UserId,
    now: Millis,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET ended_at = $1, end_reason = 'reused' WHERE id = $2")
        .bind(now)
        .bind(session)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    clear_current(tx, member, session).await
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn get_or_init(&self, key: &str, init: String) -> Result<String, StoreError> {
        self.write(&(key, init), |tx, (key, init)| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(*key)
                .bind(init)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
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
impl ResultStore for PgStore {
    async fn record_game(
        &self,
        game: FinishedGame,
    ) -> Result<(i64, Vec<PlayerTotals>), StoreError> {
        self.write(&game, |tx, game| Box::pin(record(tx, game)))
            .await
    }
}

#[async_trait]
impl OutboxStore for PgStore {
    async fn outbox_batch(&self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, topic, payload, created_at FROM outbox ORDER BY id LIMIT $1")
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
        let mut sql = sqlx::QueryBuilder::<sqlx::Postgres>::new("DELETE FROM outbox WHERE id IN (");
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        sql.push(")");
        let done = sql.build().execute(&self.pool).await.map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM outbox WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }
}

async fn record(
    tx: &mut PgConnection,
    game: &FinishedGame,
) -> Result<(i64, Vec<PlayerTotals>), StoreError> {
    // A concurrent insert of the same key waits here for the first one's commit, then does
    // nothing: the game is stored once.
    let inserted = sqlx::query(
        "INSERT INTO games (game_key, room_name, topic_id, word, mode, winner, liar_id, aborted, \
         player_count, result_json, started_at, ended_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (game_key) DO NOTHING RETURNING id",
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
    .fetch_optional(&mut *tx)
    .await
    .map_err(classify)?;
    let game_id: i64 = match inserted {
        Some(row) => row.try_get("id").map_err(classify)?,
        None => {
            // Stored before: report the totals as they are, change nothing.
            let row = sqlx::query("SELECT id FROM games WHERE game_key = $1")
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
    sqlx::query("SELECT id FROM members WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(classify)?;
    let aborted = game.winner.is_none();
    for p in &game.players {
        sqlx::query(
            "INSERT INTO game_players (game_id, user_id, role, voted_correctly, won, exp, \
             room_name) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        let row = sqlx::query(
            "UPDATE members SET exp = exp + $1, wins = wins + $2, losses = losses + $3, \
             games = games + 1 WHERE id = $4 RETURNING exp",
        )
        .bind(p.exp)
        .bind(i64::from(p.won))
        .bind(i64::from(!p.won))
        .bind(p.user_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(classify)?;
        let exp: i64 = row.try_get("exp").map_err(classify)?;
        sqlx::query("UPDATE members SET level = $1 WHERE id = $2")
            .bind(level_of(exp))
            .bind(p.user_id)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
    }
    sqlx::query("INSERT INTO outbox (topic, payload, created_at) VALUES ('game.finished', $1, $2)")
        .bind(&game.result_json)
        .bind(game.ended_at)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    Ok((game_id, totals(tx, &game.players).await?))
}

async fn totals(
    tx: &mut PgConnection,
    players: &[FinishedPlayer],
) -> Result<Vec<PlayerTotals>, StoreError> {
    let mut out = Vec::with_capacity(players.len());
    for p in players {
        let row = sqlx::query("SELECT exp, level FROM members WHERE id = $1")
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
impl ResultQueries for PgStore {
    async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryItem>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT g.id, g.room_name, g.topic_id, g.winner, g.player_count, g.aborted, \
             g.ended_at, p.role, p.voted_correctly, p.won, p.exp \
             FROM game_players p JOIN games g ON g.id = p.game_id WHERE p.user_id = ",
        );
        sql.push_bind(query.user);
        match query.won {
            Some(true) => sql.push(" AND p.won"),
            Some(false) => sql.push(" AND NOT p.won AND NOT g.aborted"),
            None => &mut sql,
        };
        if let Some(before) = query.before {
            sql.push(" AND p.game_id < ").push_bind(before);
        }
        if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
            // The player row's copy of the name, read from the history index (0003); ILIKE
            // ignores case, as SQLite's LIKE does.
            sql.push(" AND p.room_name ILIKE ")
                .push_bind(sql::contains_pattern(q))
                .push(" ESCAPE '\\'");
        }
        sql.push(" ORDER BY p.game_id DESC LIMIT ")
            .push_bind(query.limit as i64);
        // Not a cached prepared statement: a cached one soon gets a generic plan, which cannot
        // see that a rare pattern should use the trigram index (0004); this way each search is
        // planned for its own pattern.
        let searched = query.q.as_deref().is_some_and(|q| !q.is_empty());
        let rows = sql
            .build()
            .persistent(!searched)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        rows.iter()
            .map(rows::history_item)
            .collect::<Result<_, _>>()
            .map_err(classify)
    }

    async fn game(&self, id: i64) -> Result<Option<StoredGame>, StoreError> {
        let Some(r) = sqlx::query(
            "SELECT id, room_name, topic_id, word, mode, winner, liar_id, aborted, result_json, \
             started_at, ended_at FROM games WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(classify)?
        else {
            return Ok(None);
        };
        let participants = sqlx::query("SELECT user_id FROM game_players WHERE game_id = $1")
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
        let mut sql = QueryBuilder::<Postgres>::new(
            "SELECT id, username, level, exp, wins, losses, games FROM members \
             WHERE results_visible",
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
impl TopicStore for PgStore {
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
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, \
                     updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
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
                sqlx::query("DELETE FROM topic_overrides WHERE id = $1")
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
impl RoomStore for PgStore {
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
        self.write(&(owner, rooms, ttl_ms), |tx, (owner, rooms, ttl_ms)| {
            Box::pin(async move {
                // Locks in id order, as saves do, so the two never deadlock.
                let rows = sqlx::query(concat!(
                    "UPDATE rooms SET lease_until = ",
                    "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $1 ",
                    "WHERE id IN (SELECT id FROM rooms WHERE owner_node = $2 AND id = ANY($3) ",
                    "ORDER BY id FOR UPDATE) RETURNING id"
                ))
                .bind(*ttl_ms)
                .bind(*owner)
                .bind(*rooms)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                rows.iter()
                    .map(|r| r.try_get("id"))
                    .collect::<Result<_, _>>()
                    .map_err(classify)
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
        self.write(&(owner, ttl_ms, limit), |tx, (owner, ttl_ms, limit)| {
            Box::pin(async move {
                // Skip rows another node is taking right now; the update re-checks nothing
                // else, since the rows are locked.
                let rows = sqlx::query(concat!(
                    "UPDATE rooms SET owner_node = $1, epoch = epoch + 1, lease_until = ",
                    "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $2 ",
                    "WHERE id IN (SELECT id FROM rooms WHERE state IS NOT NULL ",
                    "AND lease_until < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT ",
                    "ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) ",
                    "RETURNING id, epoch, seq, format, state"
                ))
                .bind(*owner)
                .bind(*ttl_ms)
                .bind(*limit)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                saved_rooms(tx, rows).await
            })
        })
        .await
    }

    async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE rooms SET lease_until = 0 WHERE owner_node = $1")
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(done.rows_affected())
    }

    async fn room_owner(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT owner_node FROM rooms WHERE id = $1 AND state IS NOT NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.and_then(|r| r.try_get::<Option<String>, _>("owner_node").ok().flatten()))
    }

    async fn room_by_code(&self, code: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT id FROM rooms WHERE code = $1 AND state IS NOT NULL")
            .bind(code)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| r.try_get("id")).transpose().map_err(classify)
    }

    async fn room_summaries(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, summary FROM rooms WHERE state IS NOT NULL AND summary IS NOT NULL",
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
        let row = sqlx::query("SELECT room_id, fence FROM room_members WHERE user_id = $1")
            .bind(user)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(|r| Ok((r.try_get("room_id")?, r.try_get("fence")?)))
            .transpose()
            .map_err(classify)
    }

    async fn claim_member(&self, user: i64, room: i64, fence: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO room_members (user_id, room_id, fence) \
             SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM rooms WHERE id = $2) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user)
        .bind(room)
        .bind(fence)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_member(&self, user: i64, room: i64, fence: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM room_members WHERE user_id = $1 AND room_id = $2 AND fence = $3",
        )
        .bind(user)
        .bind(room)
        .bind(fence)
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }
}

impl PgStore {
    async fn create_room_for(
        &self,
        code: &str,
        owner: Option<(&str, i64)>,
        now: Millis,
    ) -> Result<Option<i64>, StoreError> {
        let (owner, lease_ms) = owner.unzip();
        self.write(&(code, owner, lease_ms), |tx, (code, owner, lease_ms)| {
            Box::pin(async move {
                let row = sqlx::query(concat!(
                    "INSERT INTO rooms (code, owner_node, lease_until, created_at, saved_at) ",
                    "VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $3, ",
                    "$4, $5) ON CONFLICT (code) DO NOTHING RETURNING id"
                ))
                .bind(*code)
                .bind(*owner)
                .bind(*lease_ms)
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

    /// Takes over the saved rooms (of `owner` only, when given, each under a fresh lease):
    /// bumps their epochs and returns them with their event logs; rooms never saved are
    /// deleted.
    async fn take_over(&self, owner: Option<(&str, i64)>) -> Result<Vec<SavedRoom>, StoreError> {
        let (owner, lease_ms) = owner.unzip();
        self.write(&(owner, lease_ms), |tx, (owner, lease_ms)| {
            Box::pin(async move {
                sqlx::query(
                    "DELETE FROM rooms WHERE state IS NULL \
                     AND ($1::TEXT IS NULL OR owner_node = $1)",
                )
                .bind(*owner)
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
                let rows = sqlx::query(concat!(
                    "UPDATE rooms SET epoch = epoch + 1, lease_until = CASE WHEN $2::BIGINT ",
                    "IS NULL THEN lease_until ELSE ",
                    "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + $2 END ",
                    "WHERE state IS NOT NULL AND ($1::TEXT IS NULL OR owner_node = $1) ",
                    "RETURNING id, epoch, seq, format, state"
                ))
                .bind(*owner)
                .bind(*lease_ms)
                .fetch_all(&mut *tx)
                .await
                .map_err(classify)?;
                saved_rooms(tx, rows).await
            })
        })
        .await
    }
}

/// Taken-over rows with their event logs, by id.
async fn saved_rooms(
    tx: &mut PgConnection,
    rows: Vec<sqlx::postgres::PgRow>,
) -> Result<Vec<SavedRoom>, StoreError> {
    let mut rooms = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.try_get("id").map_err(classify)?;
        let events =
            sqlx::query("SELECT seq, body FROM room_events WHERE room_id = $1 ORDER BY seq")
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
async fn save_room(tx: &mut PgConnection, w: &RoomWrite) -> Result<bool, StoreError> {
    let Some(state) = &w.state else {
        // The room's events go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM rooms WHERE id = $1 AND epoch = $2")
            .bind(w.id)
            .bind(w.epoch)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        return Ok(done.rows_affected() > 0);
    };
    let done = sqlx::query(
        "UPDATE rooms SET seq = $1, format = $2, state = $3, saved_at = $4, \
         summary = COALESCE($7, summary) WHERE id = $5 AND epoch = $6",
    )
    .bind(w.seq)
    .bind(w.format)
    .bind(state)
    .bind(w.saved_at)
    .bind(w.id)
    .bind(w.epoch)
    .bind(w.summary.as_deref())
    .execute(&mut *tx)
    .await
    .map_err(classify)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (seq, body) in &w.events {
        sqlx::query(
            "INSERT INTO room_events (room_id, seq, body) VALUES ($1, $2, $3) \
             ON CONFLICT (room_id, seq) DO UPDATE SET body = EXCLUDED.body",
        )
        .bind(w.id)
        .bind(seq)
        .bind(body)
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
    }
    if let Some(through) = w.prune_through {
        sqlx::query("DELETE FROM room_events WHERE room_id = $1 AND seq <= $2")
            .bind(w.id)
            .bind(through)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
    }
    if !w.unseated.is_empty() {
        sqlx::query("DELETE FROM room_members WHERE room_id = $1 AND user_id = ANY($2)")
            .bind(w.id)
            .bind(&w.unseated)
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
    }
    Ok(true)
}

#[async_trait]
impl Store for PgStore {
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
