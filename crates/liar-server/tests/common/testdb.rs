//! Fresh databases for tests, on every engine: a temporary SQLite file, or a database with a
//! unique name created on a PostgreSQL or MySQL/MariaDB server and dropped when the test is
//! done (also when it panics). Shared by the store conformance suite (`tests/store.rs`) and the
//! black-box suite (`tests/api`).
//!
//! Server URLs come from the environment, so the plain `cargo test` needs no server:
//! - `LIAR_TEST_POSTGRES_URL`, `LIAR_TEST_MYSQL_URL`: the conformance suite's servers (e.g.
//!   `postgres://postgres@127.0.0.1:5432/postgres`, `mysql://root@127.0.0.1:3306`); a test on an
//!   engine whose variable is unset is skipped with a note on stderr.
//! - `LIAR_TEST_DATABASE_URL`: the server the black-box suite runs on (SQLite when unset).
//!
//! The database named in a server URL is only where the test connects to create and drop its
//! own databases; it is never written.

#![allow(dead_code)]

use liar_server::store::Engine;
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tempfile::TempDir;

/// The environment variable holding the conformance suite's server URL for `engine`.
pub fn server_var(engine: Engine) -> Option<&'static str> {
    match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some("LIAR_TEST_POSTGRES_URL"),
        Engine::MySql => Some("LIAR_TEST_MYSQL_URL"),
    }
}

/// The black-box suite's database server, if one is configured.
pub const API_DATABASE_VAR: &str = "LIAR_TEST_DATABASE_URL";

/// A database that exists for one test.
pub struct TestDb {
    /// What `database_url` is set to.
    pub url: String,
    pub engine: Engine,
    /// Drops the server database when the test is done; `None` for SQLite.
    guard: Option<DropGuard>,
    /// The SQLite file's folder.
    _dir: Option<TempDir>,
}

impl TestDb {
    /// A fresh, empty database on `engine`; `None`, with a note, when the engine's server
    /// variable is not set.
    pub async fn fresh(engine: Engine, test: &str) -> Option<TestDb> {
        let Some(var) = server_var(engine) else {
            let dir = tempfile::tempdir().unwrap();
            return Some(TestDb {
                url: format!("sqlite://{}/store.db", dir.path().display()),
                engine,
                guard: None,
                _dir: Some(dir),
            });
        };
        let Ok(server) = std::env::var(var) else {
            eprintln!("note: {test} skipped on {engine:?}: {var} is not set");
            return None;
        };
        let guard = DropGuard::create(&server, &unique_name()).await;
        Some(TestDb {
            url: guard.url.clone(),
            engine,
            guard: Some(guard),
            _dir: None,
        })
    }

    /// One number from the database (`SELECT COUNT(*) …`), read around the ports.
    pub async fn count(&self, sql: &str) -> i64 {
        count(&self.url, sql).await
    }

    /// Runs one statement around the ports (test set-up the ports do not offer).
    pub async fn execute(&self, sql: &str) {
        execute(&self.url, sql).await
    }
}

/// One number from the database at `url` (any engine).
pub async fn count(url: &str, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match Engine::of_url(url).expect("a database URL") {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Engine::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&mysql_scheme(url))
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// Runs one statement on the database at `url` (any engine).
pub async fn execute(url: &str, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match Engine::of_url(url).expect("a database URL") {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            c.execute(sql).await.unwrap();
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute(sql).await.unwrap();
        }
        Engine::MySql => {
            let mut c = sqlx::MySqlConnection::connect(&mysql_scheme(url))
                .await
                .unwrap();
            c.execute(sql).await.unwrap();
        }
    }
}

/// The database a black-box test app in `dir` uses: a SQLite file in `dir`, or, when
/// [`API_DATABASE_VAR`] is set, a database on that server named after `dir` (so a restarted
/// app in the same folder finds the same database). The guard drops the server database.
pub async fn app_database(dir: &Path) -> (String, Option<DropGuard>) {
    let url = app_database_url(dir);
    let guard = database_for(&url).await;
    (url, guard)
}

/// The URL [`app_database`] gives for `dir`, without creating anything.
pub fn app_database_url(dir: &Path) -> String {
    match std::env::var(API_DATABASE_VAR) {
        Ok(server) => {
            let digest = Sha256::digest(dir.display().to_string().as_bytes());
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            with_database(&server, &format!("liar_t_{hex}"))
        }
        Err(_) => sqlite_url(dir),
    }
}

/// Creates the server database `url` names (unless it exists) through the server of
/// [`API_DATABASE_VAR`]; nothing for a SQLite URL, which creates its file itself.
pub async fn database_for(url: &str) -> Option<DropGuard> {
    if Engine::of_url(url) == Some(Engine::Sqlite) {
        return None;
    }
    let server = std::env::var(API_DATABASE_VAR)
        .unwrap_or_else(|_| panic!("{url}: a server database needs {API_DATABASE_VAR}"));
    let base = url.split('?').next().unwrap_or(url);
    let name = base.rsplit('/').next().unwrap_or_default();
    Some(DropGuard::create(&server, name).await)
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}/liar.db", dir.display())
}

/// Creates a database on a server (if it is not there yet) and drops it when dropped.
pub struct DropGuard {
    /// The URL of the created database.
    pub url: String,
    server: String,
    name: String,
    armed: bool,
}

impl DropGuard {
    async fn create(server: &str, name: &str) -> DropGuard {
        match Engine::of_url(server).expect("a server URL") {
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(server).await.unwrap();
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                        .bind(name)
                        .fetch_optional(&mut c)
                        .await
                        .unwrap();
                if exists.is_none() {
                    c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .await
                        .unwrap();
                }
            }
            Engine::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&mysql_scheme(server))
                    .await
                    .unwrap();
                c.execute(sqlx::AssertSqlSafe(format!(
                    "CREATE DATABASE IF NOT EXISTS {name} \
                     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )))
                .await
                .unwrap();
            }
            Engine::Sqlite => panic!("{server}: a server URL is postgres:// or mysql://"),
        }
        DropGuard {
            url: with_database(server, name),
            server: server.to_owned(),
            name: name.to_owned(),
            armed: true,
        }
    }

    /// Keeps the database after this guard goes (a restart hands it to a new guard).
    pub fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime: drop the database from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(drop_database(&server, &name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("note: test database {} was not dropped: {e}", self.name),
            Err(_) => eprintln!("note: test database {} was not dropped", self.name),
        }
    }
}

async fn drop_database(server: &str, name: &str) -> Result<(), sqlx::Error> {
    match Engine::of_url(server) {
        Some(Engine::Postgres) => {
            let mut c = sqlx::PgConnection::connect(server).await?;
            // FORCE: the server under test may still hold connections.
            c.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await?;
        }
        Some(Engine::MySql) => {
            let mut c = sqlx::MySqlConnection::connect(&mysql_scheme(server)).await?;
            // The server under test may still hold connections, one of them inside a
            // transaction whose metadata lock would make DROP wait for ever: end them first
            // (what PostgreSQL's FORCE does).
            let holders: Vec<u64> = sqlx::query_scalar(
                "SELECT id FROM information_schema.processlist WHERE db = ? \
                 AND id <> CONNECTION_ID()",
            )
            .bind(name)
            .fetch_all(&mut c)
            .await?;
            for id in holders {
                // One may have gone by itself in the meantime.
                let _ = c.execute(sqlx::AssertSqlSafe(format!("KILL {id}"))).await;
            }
            c.execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .await?;
        }
        _ => {}
    }
    Ok(())
}

/// A database name no other test (in this or another process) uses.
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "liar_t_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `server` with its database (path) replaced by `name`, query kept.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    format!("{}/{name}{query}", &base[..authority_end])
}

/// sqlx knows MariaDB only as `mysql:`.
fn mysql_scheme(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => format!("mysql:{rest}"),
        _ => url.to_owned(),
    }
}
