//! Storage ports: the traits the domain owns. Handlers and services see only these; SQL lives in
//! the adapters, one per engine (`sqlite`, `postgres`, `mysql`), chosen by the database URL's
//! scheme in [`connect`]; what they share (the unit of work, error codes, row readers) is in
//! `sql` and `rows`.

pub mod memory;
pub mod mysql;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

use async_trait::async_trait;

use crate::domain::{Email, UserId, Username};

/// Opaque session id (the JWT `sid` claim).
pub type SessionId = String;
/// SHA-256 of a refresh token.
pub type TokenHash = [u8; 32];
/// Unix time in milliseconds.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("email already registered")]
    EmailTaken,
    #[error("username already taken")]
    UsernameTaken,
    #[error("not found")]
    NotFound,
    /// The database could not be reached or no connection was free in time.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("database error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub struct NewMember {
    pub email: Email,
    pub username: Username,
    pub password_hash: String,
    pub now: Millis,
}

/// A member's public and private profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: UserId,
    pub email: String,
    pub username: String,
    pub exp: i64,
    pub level: String,
    pub wins: i64,
    pub losses: i64,
    pub games: i64,
    pub results_visible: bool,
    pub is_admin: bool,
}

pub struct Credentials {
    pub id: UserId,
    pub password_hash: String,
}

#[derive(Debug, Default)]
pub struct ProfilePatch {
    pub username: Option<Username>,
    pub results_visible: Option<bool>,
}

/// A session about to be opened by a login.
pub struct NewSession {
    pub id: SessionId,
    pub member: UserId,
    pub refresh_hash: TokenHash,
    pub now: Millis,
    pub expires_at: Millis,
}

/// A refresh token about to replace the presented one.
pub struct NextRefresh {
    pub hash: TokenHash,
    pub now: Millis,
    pub expires_at: Millis,
}

/// Whether a session may still be used, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Live,
    /// A newer login took over (SPEC §1.2).
    Replaced,
    /// Logged out.
    LoggedOut,
    /// Killed because a rotated refresh token was presented again.
    Reused,
    Expired,
    Unknown,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    Rotated {
        member: UserId,
        session: SessionId,
    },
    /// The token was already used: the session has now been revoked.
    Reused {
        member: UserId,
        session: SessionId,
    },
    /// The token's session is no longer live.
    Dead(SessionState),
    Unknown,
}

#[async_trait]
pub trait MemberStore: Send + Sync {
    /// Inserts a member; a taken email or username is a value error, decided by the constraint.
    async fn create_member(&self, member: NewMember) -> Result<UserId, StoreError>;
    async fn email_registered(&self, email: &Email) -> Result<bool, StoreError>;
    async fn credentials(&self, email: &Email) -> Result<Option<Credentials>, StoreError>;
    async fn member(&self, id: UserId) -> Result<Option<Member>, StoreError>;
    async fn update_profile(&self, id: UserId, patch: ProfilePatch) -> Result<Member, StoreError>;
    /// Grants or revokes admin rights (the operator's `liar admin`); `false` when no member has
    /// this email.
    async fn set_admin(&self, email: &Email, admin: bool) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session and makes it the member's only live one; returns the sessions it replaced.
    async fn open_session(&self, session: NewSession) -> Result<Vec<SessionId>, StoreError>;
    async fn session_state(
        &self,
        id: &str,
        member: UserId,
        now: Millis,
    ) -> Result<SessionState, StoreError>;
    /// Rotates a refresh token atomically: exactly one of two concurrent presentations wins.
    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        next: NextRefresh,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Ends a live session (logout). Ending an already-ended session changes nothing.
    async fn end_session(&self, id: &str, member: UserId, now: Millis) -> Result<(), StoreError>;
    /// Deletes sessions and tokens past their lifetime; returns how many sessions went.
    async fn purge_expired(&self, now: Millis) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Returns the stored value, storing `init` first when the key is absent (first start wins
    /// even when several nodes start at once).
    async fn get_or_init(&self, key: &str, init: String) -> Result<String, StoreError>;
}

/// A finished (or aborted) game, ready to be stored once.
#[derive(Debug, Clone)]
pub struct FinishedGame {
    /// Unique per game; storing the same key again changes nothing.
    pub key: String,
    pub room_name: String,
    pub topic_id: String,
    pub word: String,
    pub mode: String,
    /// `liar` or `citizens`; `None` when aborted.
    pub winner: Option<String>,
    pub liar_id: Option<UserId>,
    pub players: Vec<FinishedPlayer>,
    /// The result as published, kept verbatim.
    pub result_json: String,
    pub started_at: Millis,
    pub ended_at: Millis,
}

#[derive(Debug, Clone)]
pub struct FinishedPlayer {
    pub user_id: UserId,
    pub role: String,
    pub voted_correctly: bool,
    pub won: bool,
    pub exp: i64,
}

/// A member's totals after a game was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerTotals {
    pub user_id: UserId,
    pub exp: i64,
    pub level: String,
}

#[async_trait]
pub trait ResultStore: Send + Sync {
    /// Stores the game, one row per player, each player's totals and an outbox record in one
    /// transaction — unless a game with this key is stored already. Returns the game id and
    /// the players' totals either way.
    async fn record_game(&self, game: FinishedGame)
    -> Result<(i64, Vec<PlayerTotals>), StoreError>;
}

/// The outbox of stored results (issue 13): read oldest first, delete once delivered, prune
/// what nobody consumes.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Up to `limit` outbox records, oldest first (issue 13: a relay publishes them).
    async fn outbox_batch(&self, limit: i64) -> Result<Vec<OutboxRecord>, StoreError>;
    /// Deletes delivered records; returns how many went.
    async fn outbox_delete(&self, ids: &[i64]) -> Result<u64, StoreError>;
    /// Deletes records created before `before` (nobody consumes them: the outbox never grows
    /// forever); returns how many went.
    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError>;
}

/// One outbox record: a stored result waiting to be published to other services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub id: i64,
    pub topic: String,
    pub payload: String,
    pub created_at: Millis,
}

/// One page request of a member's history.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub user: UserId,
    /// `Some(true)`: games he won; `Some(false)`: finished games he lost.
    pub won: Option<bool>,
    /// Substring of the game (room) name.
    pub q: Option<String>,
    /// Only games with a smaller id (the cursor).
    pub before: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub game_id: i64,
    pub game_name: String,
    pub topic_id: String,
    pub winner: Option<String>,
    pub players: i64,
    pub role: String,
    pub voted_correctly: bool,
    pub won: bool,
    pub exp: i64,
    pub aborted: bool,
    pub ended_at: Millis,
}

#[derive(Debug, Clone)]
pub struct StoredGame {
    pub id: i64,
    pub room_name: String,
    pub topic_id: String,
    pub word: String,
    pub mode: String,
    pub winner: Option<String>,
    pub liar_id: Option<UserId>,
    pub aborted: bool,
    pub result_json: String,
    pub started_at: Millis,
    pub ended_at: Millis,
    pub participants: Vec<UserId>,
}

#[derive(Debug, Clone)]
pub struct LeaderboardRow {
    pub user_id: UserId,
    pub username: String,
    pub level: String,
    pub exp: i64,
    pub wins: i64,
    pub losses: i64,
    pub games: i64,
}

#[async_trait]
pub trait ResultQueries: Send + Sync {
    /// A member's games, newest first.
    async fn history(&self, query: HistoryQuery) -> Result<Vec<HistoryItem>, StoreError>;
    async fn game(&self, id: i64) -> Result<Option<StoredGame>, StoreError>;
    /// Visible members by experience (ties by id), after the `(exp, id)` cursor.
    async fn leaderboard(
        &self,
        after: Option<(i64, UserId)>,
        limit: usize,
    ) -> Result<Vec<LeaderboardRow>, StoreError>;
}

/// An admin's edit of one topic, overriding the shipped topic of the same id or adding one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicOverride {
    pub id: String,
    /// The whole topic as JSON (the `data/topics` file shape); `None` when it was removed.
    pub body: Option<String>,
    pub updated_by: Option<UserId>,
    pub updated_at: Millis,
}

#[async_trait]
pub trait TopicStore: Send + Sync {
    /// Every stored override, by id.
    async fn topic_overrides(&self) -> Result<Vec<TopicOverride>, StoreError>;
    /// Stores the override of `id`, replacing an earlier one.
    async fn save_topic_override(&self, edit: TopicOverride) -> Result<(), StoreError>;
    /// Forgets the override of `id` (a removed topic that was never shipped leaves no trace).
    async fn delete_topic_override(&self, id: &str) -> Result<(), StoreError>;
}

/// One room's saved state, as `RoomStore` writes it after a transition (SPEC §3 "Durable rooms").
#[derive(Debug, Clone)]
pub struct RoomWrite {
    pub id: i64,
    /// The writer's fencing epoch: the write applies only while the stored epoch equals it.
    pub epoch: i64,
    /// The room's `seq` after this transition.
    pub seq: i64,
    /// Format version of `state` (a newer binary can read an older format).
    pub format: i32,
    /// The whole room as JSON; `None` deletes the room and its event log.
    pub state: Option<String>,
    /// Room events of this transition, `(seq, wire JSON)`, appended to the room's event log.
    pub events: Vec<(i64, String)>,
    /// Log entries with `seq` at or below this are pruned.
    pub prune_through: Option<i64>,
    pub saved_at: Millis,
    /// Cluster mode: the room's list row (`RoomSummary` JSON) when it changed.
    pub summary: Option<String>,
    /// Cluster mode: members who left the room in this transition (their directory rows go).
    pub unseated: Vec<i64>,
}

/// A saved room as `RoomStore::take_over_rooms` hands it to the process that resumes it.
#[derive(Debug, Clone)]
pub struct SavedRoom {
    pub id: i64,
    /// The epoch after the takeover (the stored one plus one).
    pub epoch: i64,
    pub seq: i64,
    pub format: i32,
    pub state: String,
    /// The kept tail of the event log, by `seq` ascending.
    pub events: Vec<(i64, String)>,
}

#[async_trait]
pub trait RoomStore: Send + Sync {
    /// Reserves a room id for a new room with the join code `code` (unique among saved rooms);
    /// `Ok(None)` when the code is taken. The row holds no state until the first save.
    async fn create_room(&self, code: &str, now: Millis) -> Result<Option<i64>, StoreError>;
    /// Applies a batch of writes in one transaction (group commit). A write whose epoch is no
    /// longer the stored one (another process took the room over) changes nothing, its events
    /// included; the ids of those fenced writes are returned.
    async fn save_rooms(&self, writes: &[RoomWrite]) -> Result<Vec<i64>, StoreError>;
    /// Takes over every saved room: bumps each one's epoch and returns the rooms with their
    /// event logs. Rows that never got a state (a crash right after `create_room`) are deleted.
    async fn take_over_rooms(&self) -> Result<Vec<SavedRoom>, StoreError>;

    // Cluster mode (SPEC §6.4): the shared room directory. Only the engines a cluster can run
    // on (PostgreSQL, MySQL/MariaDB) have it; SQLite serves one process.

    /// `create_room` for the node `owner`, which serves the room under a lease of `lease_ms`.
    async fn create_owned_room(
        &self,
        code: &str,
        _owner: &str,
        _lease_ms: i64,
        now: Millis,
    ) -> Result<Option<i64>, StoreError> {
        self.create_room(code, now).await
    }
    /// `take_over_rooms` for the rooms the node `owner` serves (after its restart), each under
    /// a fresh lease of `lease_ms`.
    async fn take_over_owned_rooms(
        &self,
        _owner: &str,
        _lease_ms: i64,
    ) -> Result<Vec<SavedRoom>, StoreError> {
        self.take_over_rooms().await
    }
    /// Leases (SPEC §6.4 "Failover"): extends by `ttl_ms` (on the database's clock) the leases
    /// of `rooms` that `owner` still owns; returns those. A room missing from the answer was
    /// taken over by another node: its actor here must stop.
    async fn renew_leases(
        &self,
        _owner: &str,
        _rooms: &[i64],
        _ttl_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        Err(no_directory())
    }
    /// Takes over up to `limit` saved rooms whose lease has passed: owner, a bumped epoch and a
    /// fresh lease in one conditional update each (of racing nodes, one wins each room).
    async fn take_over_expired(
        &self,
        _owner: &str,
        _ttl_ms: i64,
        _limit: i64,
    ) -> Result<Vec<SavedRoom>, StoreError> {
        Err(no_directory())
    }
    /// Ends `owner`'s leases now (a graceful shutdown hands its rooms over at once).
    async fn release_leases(&self, _owner: &str) -> Result<u64, StoreError> {
        Err(no_directory())
    }
    /// The node serving a saved room; `None` when there is no such room.
    async fn room_owner(&self, _id: i64) -> Result<Option<String>, StoreError> {
        Err(no_directory())
    }
    /// The room with this join code, if it is saved.
    async fn room_by_code(&self, _code: &str) -> Result<Option<i64>, StoreError> {
        Err(no_directory())
    }
    /// Every saved room's list row, `(id, RoomSummary JSON)`.
    async fn room_summaries(&self) -> Result<Vec<(i64, String)>, StoreError> {
        Err(no_directory())
    }
    /// The member's room and the fencing value it was claimed with.
    async fn member_room(&self, _user: i64) -> Result<Option<(i64, i64)>, StoreError> {
        Err(no_directory())
    }
    /// Seats the member in `room` in the directory unless he has a room: `false` when he has.
    async fn claim_member(&self, _user: i64, _room: i64, _fence: i64) -> Result<bool, StoreError> {
        Err(no_directory())
    }
    /// Removes the member's directory row if it still is `(room, fence)`.
    async fn release_member(
        &self,
        _user: i64,
        _room: i64,
        _fence: i64,
    ) -> Result<bool, StoreError> {
        Err(no_directory())
    }
}

fn no_directory() -> StoreError {
    StoreError::Other("this database engine has no shared room directory (cluster mode)".into())
}

/// Connection pool figures, for `/metrics` and the pool-leak test.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

#[async_trait]
pub trait Store:
    MemberStore
    + SessionStore
    + SettingsStore
    + ResultStore
    + OutboxStore
    + ResultQueries
    + TopicStore
    + RoomStore
{
    async fn ping(&self) -> Result<(), StoreError>;
    fn pool_stats(&self) -> PoolStats;
    async fn close(&self);
}

/// The SQL engine a database URL names, by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
    MySql,
}

impl Engine {
    /// `sqlite:`, `postgres:`/`postgresql:`, `mysql:`/`mariadb:`; anything else is `None`.
    pub fn of_url(url: &str) -> Option<Engine> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Engine::Sqlite),
            "postgres" | "postgresql" => Some(Engine::Postgres),
            "mysql" | "mariadb" => Some(Engine::MySql),
            _ => None,
        }
    }
}

/// The URL as sqlx takes it: sqlx knows MariaDB only as `mysql:`.
fn driver_url(url: &str) -> std::borrow::Cow<'_, str> {
    match url.split_once(':') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
            format!("mysql:{rest}").into()
        }
        _ => url.into(),
    }
}

/// Opens the store named by a database URL (its scheme picks the adapter), applying
/// migrations.
pub async fn connect(
    url: &str,
    max_connections: u32,
    acquire_timeout: std::time::Duration,
) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let Some(engine) = Engine::of_url(url) else {
        anyhow::bail!(
            "unsupported database URL `{}:`: use sqlite://, postgres:// (or postgresql://), \
             mysql:// or mariadb://",
            url.split(':').next().unwrap_or("")
        )
    };
    let url = driver_url(url);
    Ok(match engine {
        Engine::Sqlite => {
            let store =
                sqlite::SqliteStore::connect(&url, max_connections, acquire_timeout).await?;
            store.migrate().await?;
            std::sync::Arc::new(store)
        }
        Engine::Postgres => {
            let store = postgres::PgStore::connect(&url, max_connections, acquire_timeout).await?;
            store.migrate().await?;
            std::sync::Arc::new(store)
        }
        Engine::MySql => {
            let store = mysql::MySqlStore::connect(&url, max_connections, acquire_timeout).await?;
            store.migrate().await?;
            std::sync::Arc::new(store)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_engine() {
        assert_eq!(Engine::of_url("sqlite://liar.db"), Some(Engine::Sqlite));
        assert_eq!(Engine::of_url("postgres://h/db"), Some(Engine::Postgres));
        assert_eq!(Engine::of_url("postgresql://h/db"), Some(Engine::Postgres));
        assert_eq!(Engine::of_url("mysql://h/db"), Some(Engine::MySql));
        assert_eq!(Engine::of_url("MariaDB://h/db"), Some(Engine::MySql));
        assert_eq!(Engine::of_url("redis://h"), None);
    }

    #[test]
    fn mariadb_urls_reach_sqlx_as_mysql() {
        assert_eq!(
            driver_url("mariadb://root@h:3306/liar"),
            "mysql://root@h:3306/liar"
        );
        assert_eq!(driver_url("postgres://h/db"), "postgres://h/db");
    }
}
