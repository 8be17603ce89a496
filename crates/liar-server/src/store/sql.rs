//! What the three SQL adapters (`sqlite`, `postgres`, `mysql`) share: the scoped unit of work
//! with its retry of transient refusals, the reading of engine errors by code (never by message
//! text), and the engine-neutral rules the adapters apply (session liveness, levels, the history
//! search pattern). Only the SQL itself differs between the adapter files.

use futures::future::BoxFuture;
use sqlx::mysql::MySqlDatabaseError;
use sqlx::postgres::PgDatabaseError;
use sqlx::sqlite::SqliteError;
use sqlx::{Database, Pool, Transaction};
use std::time::Duration;

use super::{MemberStore, Millis, SessionState, StoreError};
use crate::domain::Email;

/// How many times a unit of work is run again after the engine refused it for a transient
/// reason (deadlock victim, serialization failure, lock wait timeout, SQLite busy). Each attempt
/// is a whole fresh transaction and the refused one was rolled back, so a retry can never apply
/// a write twice; the bound keeps a pathological hot row from looping forever.
pub(crate) const RETRIES: u32 = 4;

/// Pause before retry `n` (1-based): 10, 20, 40, 80 ms — long enough for the winner of a
/// deadlock to commit, short next to a request's deadline.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(10 << (attempt - 1).min(6))
}

/// Runs `work` in one transaction: commit on `Ok`, roll back on `Err`; the connection returns to
/// the pool on every path, including panics and cancellation (the transaction's drop rolls
/// back). `begin` replaces the plain `BEGIN` (SQLite's `BEGIN IMMEDIATE`). A transient refusal
/// (see [`RETRIES`]) runs the whole unit again from the start, on the same `input`.
pub(crate) async fn unit_of_work<DB, I, T, F>(
    pool: &Pool<DB>,
    begin: Option<&'static str>,
    input: &I,
    work: F,
) -> Result<T, StoreError>
where
    DB: Database,
    I: Sync + ?Sized,
    T: Send,
    F: for<'c> Fn(&'c mut DB::Connection, &'c I) -> BoxFuture<'c, Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        match once(pool, begin, input, &work).await {
            Err(e) if attempt < RETRIES && is_transient(&e) => {
                attempt += 1;
                tracing::debug!(error = ?e, attempt, "transient refusal; running the unit again");
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

async fn once<DB, I, T, F>(
    pool: &Pool<DB>,
    begin: Option<&'static str>,
    input: &I,
    work: &F,
) -> Result<T, StoreError>
where
    DB: Database,
    I: Sync + ?Sized,
    T: Send,
    F: for<'c> Fn(&'c mut DB::Connection, &'c I) -> BoxFuture<'c, Result<T, StoreError>>,
{
    let mut tx: Transaction<'static, DB> = match begin {
        Some(statement) => pool.begin_with(statement).await,
        None => pool.begin().await,
    }
    .map_err(classify)?;
    match work(&mut tx, input).await {
        Ok(value) => {
            tx.commit().await.map_err(classify)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rollback failed; connection discarded");
            }
            Err(e)
        }
    }
}

/// Maps sqlx errors onto the port's error: an unreachable database, a pool with no free
/// connection in time, or a server shutting down is `Unavailable` (503); the rest is `Other`.
pub(crate) fn classify(e: sqlx::Error) -> StoreError {
    if is_unavailable(&e) {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Other(Box::new(e))
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                // Class 08: connection exceptions; 57P01–57P03: admin shutdown, crash
                // shutdown, cannot connect now; 53300: too many connections.
                let code = pg.code();
                return code.starts_with("08")
                    || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
            }
            if let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>() {
                // 1040 too many connections, 1053 server shutdown in progress, 1077 normal
                // shutdown, 2002/2003/2006/2013: cannot connect, server gone, lost connection.
                return matches!(my.number(), 1040 | 1053 | 1077 | 2002 | 2003 | 2006 | 2013);
            }
            false
        }
        _ => false,
    }
}

/// A deadlock victim, serialization failure, lock wait timeout or SQLite busy/locked: the
/// engine rolled the work back (or the statement, and the unit rolls back the rest), and the
/// same unit may simply be run again.
pub(crate) fn is_transient(e: &StoreError) -> bool {
    let StoreError::Other(inner) = e else {
        return false;
    };
    let Some(sqlx::Error::Database(db)) = inner.downcast_ref::<sqlx::Error>() else {
        return false;
    };
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        return matches!(pg.code(), "40001" | "40P01");
    }
    if let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>() {
        return matches!(my.number(), 1205 | 1213);
    }
    if db.try_downcast_ref::<SqliteError>().is_some() {
        // Primary result codes 5 (BUSY) and 6 (LOCKED), with any extended code on top.
        let code: i32 = db.code().and_then(|c| c.parse().ok()).unwrap_or(0);
        return matches!(code & 0xff, 5 | 6);
    }
    false
}

/// Whether a write was refused by a unique index or primary key: SQLite's extended codes
/// 2067 (`SQLITE_CONSTRAINT_UNIQUE`) and 1555 (`SQLITE_CONSTRAINT_PRIMARYKEY`), PostgreSQL's
/// SQLSTATE 23505, MySQL/MariaDB's error 1062 (`ER_DUP_ENTRY`).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
        return pg.code() == "23505";
    }
    if let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>() {
        return my.number() == 1062;
    }
    if db.try_downcast_ref::<SqliteError>().is_some() {
        return matches!(db.code().as_deref(), Some("2067" | "1555"));
    }
    false
}

/// Like [`classify`], but a unique violation becomes [`Duplicate`] for the caller to name.
pub(crate) fn unique_or_classify(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Other(Box::new(Duplicate))
    } else {
        classify(e)
    }
}

/// Marker carried in `StoreError::Other` by a unit of work whose write a unique index refused;
/// [`name_member_conflict`] turns it into the domain's error once the transaction is over.
#[derive(Debug, thiserror::Error)]
#[error("unique constraint violated")]
pub(crate) struct Duplicate;

pub(crate) fn is_duplicate(e: &StoreError) -> bool {
    matches!(e, StoreError::Other(inner) if inner.is::<Duplicate>())
}

/// Names the unique rule a member write broke, once its transaction is over. Members have two
/// unique keys, email and username; members are never deleted, so when `email` (the one being
/// registered, if any) is taken now, it was the email — checked first, like SQLite's index
/// order — and otherwise the username.
pub(crate) async fn name_member_conflict<T, S>(
    store: &S,
    email: Option<&Email>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError>
where
    S: MemberStore + ?Sized,
{
    match result {
        Err(e) if is_duplicate(&e) => match email {
            Some(email) if store.email_registered(email).await? => Err(StoreError::EmailTaken),
            _ => Err(StoreError::UsernameTaken),
        },
        other => other,
    }
}

/// Liveness from the stored facts. A session that is not the member's current one was replaced,
/// unless it ended for another recorded reason.
pub(crate) fn state_of(
    reason: Option<&str>,
    expires_at: Millis,
    current: bool,
    now: Millis,
) -> SessionState {
    match reason {
        Some("logout") => SessionState::LoggedOut,
        Some("reused") => SessionState::Reused,
        Some(_) => SessionState::Replaced,
        None if !current => SessionState::Replaced,
        None if expires_at <= now => SessionState::Expired,
        None => SessionState::Live,
    }
}

/// The level a member's experience stands for (SPEC §3.1), as stored.
pub(crate) fn level_of(exp: i64) -> &'static str {
    liar_rules::Level::from_exp(exp.max(0) as u64).as_str()
}

/// The `LIKE` pattern of a history search: `q` as a literal substring, `\` being the escape.
pub(crate) fn contains_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_pattern_keeps_wildcards_literal() {
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn backoff_doubles_and_stays_short() {
        let waits: Vec<_> = (1..=RETRIES).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, vec![10, 20, 40, 80]);
    }

    #[test]
    fn duplicates_are_recognised_only_through_the_marker() {
        assert!(is_duplicate(&StoreError::Other(Box::new(Duplicate))));
        assert!(!is_duplicate(&StoreError::NotFound));
        assert!(!is_transient(&StoreError::Other(Box::new(Duplicate))));
    }
}
