//! Assembles the application: storage, services and router. `Application::build` binds first
//! and exposes its port, so tests start the real server on port 0.

use axum::extract::FromRef;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

use crate::auth::AuthService;
use crate::auth::tokens::random_token;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::hub::Hub;
use crate::ratelimit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter};
use crate::room::{RoomRules, Rooms, RoomsConfig};
use crate::store::{self, Store};
use crate::topics::Topics;

/// Settings key of the generated JWT secret.
const JWT_SECRET_KEY: &str = "jwt_secret";
/// After telling sockets to go, how long to let their close frames out before exiting.
const SOCKET_CLOSE_PAUSE: Duration = Duration::from_millis(200);
/// How often expired sessions are deleted and rate-limit keys swept.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

/// The shared, cheaply cloneable context every handler receives.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    auth: AuthService,
    hub: Arc<Hub>,
    rooms: Rooms,
    topics: Topics,
    cluster: Option<Arc<Cluster>>,
}

impl AppState {
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    pub fn auth(&self) -> &AuthService {
        &self.inner.auth
    }
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }
    /// Cluster mode's Redis side (`None` on a single node).
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.inner.cluster.as_ref()
    }
    pub fn rooms(&self) -> &Rooms {
        &self.inner.rooms
    }
    /// The live topic catalog (admins edit it through `/api/topics`).
    pub fn topics(&self) -> &Topics {
        &self.inner.topics
    }
    /// The topic catalog as it is now.
    pub fn catalog(&self) -> Arc<liar_rules::Catalog> {
        self.inner.topics.snapshot()
    }
    pub fn metrics_handle(&self) -> Option<&'static PrometheusHandle> {
        metrics_handle()
    }
}

impl FromRef<AppState> for () {
    fn from_ref(_: &AppState) {}
}

/// The process-wide Prometheus recorder (metrics macros are global; installed once).
fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    limiter: Arc<MemoryRateLimiter>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // Several nodes share one world only through a database server. The URLs themselves
        // are never printed: they may carry a password.
        if config.redis_url.is_some() && config.database_url.starts_with("sqlite") {
            anyhow::bail!(
                "redis_url is set but database_url is SQLite: several nodes need one shared \
                 PostgreSQL or MySQL/MariaDB database (SPEC §6.4); unset redis_url \
                 (LIAR_REDIS_URL) to run one node on SQLite"
            );
        }
        let config = Arc::new(config);
        let store = store::connect(
            &config.database_url,
            config.database_max_connections,
            Duration::from_millis(config.database_acquire_timeout_ms),
        )
        .await?;
        let secret = match &config.jwt_secret {
            Some(s) if s.len() >= 32 => s.clone(),
            Some(_) => anyhow::bail!("jwt_secret must be at least 32 characters"),
            None => store.get_or_init(JWT_SECRET_KEY, random_token(48)).await?,
        };
        let cluster = match &config.redis_url {
            Some(url) => {
                let node = config
                    .node_id
                    .clone()
                    .unwrap_or_else(|| format!("node-{}", random_token(6)));
                let cluster = Cluster::connect(url, &config.redis_prefix, node).await?;
                tracing::info!(
                    node = cluster.node_id(),
                    "cluster mode: sessions, rooms, events and rate limits are shared over Redis"
                );
                if !config.save_rooms {
                    anyhow::bail!(
                        "save_rooms = false cannot be used with redis_url: in a cluster the \
                         database is the room directory every node reads"
                    );
                }
                Some(cluster)
            }
            None => None,
        };
        let limiter = Arc::new(MemoryRateLimiter::new(config.rate_limit_max_keys));
        // Cluster mode counts the login and registration limits in Redis, for every node alike.
        let shared_limiter: Arc<dyn RateLimiter> = match &cluster {
            Some(c) => Arc::new(RedisRateLimiter::new(c.connection(), c.key("rl:"))),
            None => limiter.clone(),
        };
        let auth = AuthService::new(
            store.clone(),
            shared_limiter,
            config.clone(),
            secret.as_bytes(),
        )?;
        let builtin = liar_rules::Catalog::builtin()
            .map_err(|e| anyhow::anyhow!("shipped topic data is invalid: {e}"))?;
        let topics = Topics::load(builtin, store.clone()).await?;
        let hub = Arc::new(Hub::default());
        let remote = match &cluster {
            Some(cluster) => {
                let mut lock_servers = vec![cluster.connection()];
                for url in &config.lock_redis_urls {
                    lock_servers.push(crate::cluster::lock_server(url).await?);
                }
                let remote = crate::room::remote::Remote::new(cluster.clone(), lock_servers);
                hub.set_remote(remote.clone());
                Some(remote)
            }
            None => None,
        };
        let rooms = Rooms::new(RoomsConfig {
            remote: remote.clone(),
            lease_ms: i64::try_from(config.lease_ttl_ms).unwrap_or(i64::MAX),
            hub: hub.clone(),
            hasher: auth.hasher().clone(),
            topics: topics.clone(),
            results: store.clone(),
            store: if config.save_rooms {
                store.clone()
            } else {
                tracing::warn!("save_rooms is off: a restart loses every room and running game");
                Arc::new(crate::store::memory::MemoryRoomStore::new())
            },
            rules: RoomRules {
                grace_secs: secs(config.reconnect_grace_secs),
                deal_secs: config.deal_secs,
                turn_grace_secs: config.turn_grace_secs,
                result_display_secs: secs(config.result_display_secs),
                chat_limit: config.chat_per_member,
            },
        });
        metrics_handle();
        let restored = rooms.restore().await?;
        if restored > 0 {
            tracing::info!(rooms = restored, "saved rooms resumed");
        }
        let listener = TcpListener::bind(config.bind).await?;
        let state = AppState {
            inner: Arc::new(StateInner {
                config,
                store,
                auth,
                hub,
                rooms,
                topics,
                cluster,
            }),
        };
        Ok(Application {
            listener,
            state,
            limiter,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then (SPEC §6.3) stops accepting, stops the rooms (their
    /// last saves finish; they stay saved for the next start), tells every socket
    /// `server.shutdown` and closes it, lets in-flight requests and result writes finish (all
    /// bounded by `shutdown_grace_secs`) and closes the database last.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            state,
            limiter,
        } = self;
        let housekeeping = tokio::spawn(housekeeping(state.clone(), limiter));
        let mut cluster_tasks = match state.cluster() {
            Some(cluster) => cluster.start(state.auth()),
            None => Vec::new(),
        };
        if let Some(remote) = state.rooms().remote() {
            let serve: Arc<dyn crate::room::remote::Serve> = Arc::new(state.rooms().clone());
            cluster_tasks.extend(remote.start(serve));
            let config = state.config();
            let ttl = Duration::from_millis(config.lease_ttl_ms.max(300));
            let times = crate::room::lease::LeaseTimes {
                ttl,
                renew: match config.lease_renew_ms {
                    0 => ttl / 3,
                    ms => Duration::from_millis(ms),
                },
                scan: Duration::from_millis(config.lease_scan_ms.max(50)),
            };
            let rooms = state.rooms().clone();
            cluster_tasks.push(tokio::spawn(crate::room::lease::renew(
                rooms.clone(),
                times,
            )));
            cluster_tasks.push(tokio::spawn(crate::room::lease::scan(rooms, times)));
        }
        cluster_tasks.push(tokio::spawn(crate::outbox::run(
            state.store().clone(),
            state.cluster().cloned(),
            Duration::from_secs(state.config().outbox_retention_secs),
            crate::auth::now_millis,
        )));
        let grace = Duration::from_secs(state.config().shutdown_grace_secs);
        let app = crate::http::router(state.clone());
        let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let rooms = state.rooms().clone();
        let hub = state.hub().clone();
        let reconnect_after = state.config().shutdown_reconnect_after_ms;
        let timeouts = crate::http::serve::Timeouts {
            header: Duration::from_millis(state.config().http_header_timeout_ms),
            idle: Duration::from_millis(state.config().http_idle_timeout_ms),
        };
        let serve = crate::http::serve::serve(listener, app, timeouts, async move {
            shutdown.await;
            tracing::info!("shutdown requested; saving rooms and closing sockets");
            let _ = stopped_tx.send(());
            rooms.shutdown(grace).await;
            hub.begin_shutdown(reconnect_after);
            let _ = drained_tx.send(());
        });
        let server = tokio::spawn(serve);
        tokio::pin!(server);
        let result = tokio::select! {
            r = &mut server => r,
            _ = async { let _ = stopped_rx.await; tokio::time::sleep(grace).await } => {
                tracing::warn!("in-flight requests outlived the shutdown grace period");
                server.abort();
                Ok(Ok(()))
            }
        };
        // Sockets were told; give their writers a moment to send the close frames.
        if drained_rx.await.is_ok() {
            tokio::time::sleep(SOCKET_CLOSE_PAUSE).await;
        }
        housekeeping.abort();
        for task in cluster_tasks {
            task.abort();
        }
        state.store().close().await;
        result??;
        Ok(())
    }
}

fn secs(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

async fn housekeeping(state: AppState, limiter: Arc<MemoryRateLimiter>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        limiter.sweep();
        match state.store().purge_expired(crate::auth::now_millis()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "session purge failed"),
        }
    }
}
