//! `spawn_app()`: the real server on port 0 with a fresh database of its own — a SQLite file, or,
//! when `LIAR_TEST_DATABASE_URL` names a PostgreSQL or MySQL/MariaDB server, a database created
//! there for the test and dropped after it (`common/testdb.rs`) — and helpers named after what a
//! client does.

use liar_server::config::{HashCost, LimitRule};
use liar_server::{Application, Config};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use tempfile::TempDir;

pub use crate::testdb::{DropGuard, app_database, app_database_url, database_for};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Limits so high that only tests about limits meet them.
pub const UNLIMITED: LimitRule = LimitRule {
    limit: 1_000_000,
    window_secs: 3600,
    block_secs: 1,
};

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub dir: TempDir,
    /// The server's database (what `LIAR_DATABASE_URL` would be).
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    hasher: liar_server::auth::password::Hasher,
    /// Drops a server database when the app goes; declared last, so it goes last.
    database: Option<DropGuard>,
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub user_id: i64,
    pub access: String,
    pub refresh: String,
}

pub fn test_config(dir: &TempDir) -> Config {
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        database_url: app_database_url(dir.path()),
        jwt_secret: Some(JWT_SECRET.into()),
        login_per_ip: UNLIMITED,
        register_per_ip: UNLIMITED,
        login_failures_per_account: UNLIMITED,
        // Real Argon2id, at the smallest cost, so thousand-request tests stay quick.
        password_hash: HashCost {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        password_hash_concurrency: 2,
        database_acquire_timeout_ms: acquire_timeout_ms(),
        ..Config::default()
    }
}

/// The production default (5 s) on SQLite. On a database server every commit waits for the
/// server's log to reach the disk, and the whole suite shares this machine's two cores with
/// the server, so tests that race hundreds of writes on one row queue longer than 5 s; they
/// test what the queue ends in, not this machine's speed. (The pool test sets its own.)
fn acquire_timeout_ms() -> u64 {
    if std::env::var(crate::testdb::API_DATABASE_VAR).is_ok() {
        30_000
    } else {
        Config::default().database_acquire_timeout_ms
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir);
    tweak(&mut config);
    start(config, dir).await
}

/// Starts a server on an existing directory's database (for restart tests).
pub async fn start(config: Config, dir: TempDir) -> TestApp {
    let database = database_for(&config.database_url).await;
    let database_url = config.database_url.clone();
    let app = Application::build(config).await.expect("server builds");
    let addr = app.local_addr();
    let hasher = app.state().auth().hasher().clone();
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
        dir,
        database_url,
        shutdown: Some(tx),
        server: Some(server),
        hasher,
        database,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Password checks this server has run so far (the process-wide Prometheus counter
    /// `liar_password_verifications_total` is shared by every test server in the binary).
    pub fn password_verifications(&self) -> u64 {
        self.hasher.verifications()
    }

    /// Stops the server gracefully and returns its directory (database kept).
    pub async fn stop(mut self) -> TempDir {
        let _ = self.shutdown.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap().unwrap();
        if let Some(database) = self.database.take() {
            database.keep();
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, email: &str, username: &str, password: &str) -> Response {
        self.post(
            "/api/auth/register",
            json!({"email": email, "username": username, "password": password}),
        )
        .await
    }

    /// Registers `name@example.com` as `name` with [`PASSWORD`].
    pub async fn register_member(&self, name: &str) -> i64 {
        let r = self
            .register(&format!("{name}@example.com"), name, PASSWORD)
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["userId"].as_i64().unwrap()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn login_member(&self, name: &str) -> Tokens {
        let r = self.login(&format!("{name}@example.com"), PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        tokens(r).await
    }

    pub async fn refresh(&self, refresh: &str) -> Response {
        self.post("/api/auth/refresh", json!({"refreshToken": refresh}))
            .await
    }

    pub async fn me(&self, access: &str) -> Response {
        self.client
            .get(self.url("/api/users/me"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    pub async fn logout(&self, access: &str) -> Response {
        self.client
            .post(self.url("/api/auth/logout"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch_me(&self, access: &str, body: Value) -> Response {
        self.client
            .patch(self.url("/api/users/me"))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The value of one `/metrics` sample line, e.g. `liar_db_pool_connections{state="idle"}`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap()))
            .unwrap_or_else(|| panic!("metric {name} missing"))
    }
}

pub async fn tokens(r: Response) -> Tokens {
    let v: Value = r.json().await.unwrap();
    Tokens {
        user_id: v["userId"].as_i64().unwrap(),
        access: v["accessToken"].as_str().unwrap().to_owned(),
        refresh: v["refreshToken"].as_str().unwrap().to_owned(),
    }
}

/// Asserts a problem+json response and returns its body.
pub async fn problem(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "status");
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status.as_u16());
    v
}

/// The `code` of a problem response (or "" for a success).
pub async fn code_of(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (status, v["code"].as_str().unwrap_or("").to_owned())
}

// ---- Rooms (SPEC §2) ----------------------------------------------------------------------

impl TestApp {
    /// Registers and logs in `name`; returns his id and tokens.
    pub async fn member(&self, name: &str) -> (i64, Tokens) {
        let id = self.register_member(name).await;
        (id, self.login_member(name).await)
    }

    /// `POST /api/rooms` with any body.
    pub async fn post_room(&self, access: &str, body: Value) -> Response {
        self.client
            .post(self.url("/api/rooms"))
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a room named `name` (settings omitted when `Null`); returns `(roomId, code)`.
    pub async fn create_room(&self, access: &str, name: &str, settings: Value) -> (i64, String) {
        let mut body = json!({ "name": name });
        if !settings.is_null() {
            body["settings"] = settings;
        }
        self.create_room_with(access, body).await
    }

    /// Creates a room from a full body (`name`, `password`, `settings`); returns `(roomId, code)`.
    pub async fn create_room_with(&self, access: &str, body: Value) -> (i64, String) {
        let r = self.post_room(access, body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create room");
        let v: Value = r.json().await.unwrap();
        (
            v["roomId"].as_i64().expect("roomId"),
            v["code"].as_str().expect("code").to_owned(),
        )
    }

    /// `GET /api/rooms/{idOrCode}`.
    pub async fn get_room(&self, id_or_code: &str) -> Response {
        self.client
            .get(self.url(&format!("/api/rooms/{id_or_code}")))
            .send()
            .await
            .unwrap()
    }

    /// `GET /api/rooms/{roomId}`, asserting 200; the Room body.
    pub async fn room(&self, room: i64) -> Value {
        let r = self.get_room(&room.to_string()).await;
        assert_eq!(r.status(), StatusCode::OK, "GET room {room}");
        r.json().await.unwrap()
    }

    /// `GET /api/rooms?…`.
    pub async fn list_rooms(&self, query: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url("/api/rooms"))
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// `DELETE /api/rooms/{roomId}`.
    pub async fn delete_room(&self, access: &str, room: i64) -> Response {
        self.client
            .delete(self.url(&format!("/api/rooms/{room}")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
    }
}

/// The `userId`s of a Room body's members, in seat order.
pub fn member_ids(room: &Value) -> Vec<i64> {
    room["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["userId"].as_i64().unwrap())
        .collect()
}
