//! Configuration: built-in defaults, then an optional `liar.toml`, then `LIAR_*` environment
//! variables (highest precedence). Every limit and lifetime of SPEC §1 is a setting here.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// A rate-limit rule: at most `limit` events per `window_secs`; exceeding it blocks the key for
/// `block_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct LimitRule {
    pub limit: u32,
    pub window_secs: u64,
    pub block_secs: u64,
}

/// A sliding-window limit without a block: at most `limit` events in any `window_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct WindowRule {
    pub limit: u32,
    pub window_secs: u64,
}

/// Argon2id cost parameters. The defaults are the OWASP/RFC 9106 recommendation that the
/// `argon2` crate ships (19 MiB, 2 passes); tests may lower them to run fast.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// `sqlite://path` (created if missing). PostgreSQL/MySQL come with the scale-out adapters.
    pub database_url: String,
    /// Maximum pooled database connections.
    pub database_max_connections: u32,
    /// How long a request waits for a pooled connection before failing with 503.
    pub database_acquire_timeout_ms: u64,
    /// Redis for scale-out (SPEC §6.4); unset means one node with in-process state. Needs a
    /// PostgreSQL or MySQL/MariaDB `database_url` shared by every node.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so deployments can share a Redis server.
    pub redis_prefix: String,
    /// More independent Redis servers for the Redlock of flows across rooms (SPEC §6.4): a lock
    /// needs a majority of `redis_url` and these. Empty: `redis_url` alone.
    #[serde(deserialize_with = "url_list")]
    pub lock_redis_urls: Vec<String>,
    /// Cluster mode: how long a node's lease on its rooms lasts (milliseconds). A dead or
    /// paused node's rooms move to another node within about this plus `lease_scan_ms`.
    pub lease_ttl_ms: u64,
    /// Cluster mode: how often a node renews its leases (0 = a third of `lease_ttl_ms`).
    pub lease_renew_ms: u64,
    /// Cluster mode: how often a node looks for rooms whose lease passed.
    pub lease_scan_ms: u64,
    /// This node's name in the cluster (logs, metrics, routing); unset means a random one.
    pub node_id: Option<String>,
    /// Cluster mode: every socket re-checks its session in the database this often (seconds),
    /// so a revocation whose Redis message was lost still closes it; 0 turns it off.
    pub session_check_secs: u64,
    /// Without Redis nobody consumes the outbox of stored results: its records are deleted
    /// after this many seconds. (With Redis they go to the stream `{redis_prefix}:results`.)
    pub outbox_retention_secs: u64,
    /// HS256 secret for access tokens; unset means generated once and persisted in the database.
    pub jwt_secret: Option<String>,
    /// Peers whose `X-Forwarded-For`/`Forwarded` headers are believed (CIDRs, comma-separated).
    #[serde(deserialize_with = "cidr_list")]
    pub trusted_proxies: Vec<IpNet>,
    /// Access token lifetime (SPEC §1.1: 15 min).
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime (SPEC §1.1: 7 days).
    pub refresh_token_ttl_secs: u64,
    /// Login attempts per client IP (SPEC §1.3: 3 per 10 s, then 20 s blocked).
    pub login_per_ip: LimitRule,
    /// Failed logins per account (SPEC §1.3: 10 per 15 min, then 15 min refused).
    pub login_failures_per_account: LimitRule,
    /// Registrations per client IP (SPEC §1.3: 10 per hour).
    pub register_per_ip: LimitRule,
    /// Chat messages per member per room (SPEC §4: 5 per 5 s).
    pub chat_per_member: WindowRule,
    /// Upper bound on remembered rate-limit keys; expired keys are swept first.
    pub rate_limit_max_keys: usize,
    /// Argon2id cost.
    pub password_hash: HashCost,
    /// Password hashes computed at once; the rest queue, so a login storm cannot take every core.
    pub password_hash_concurrency: usize,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// An HTTP connection must send a request's whole head within this time of its first byte
    /// (a fresh connection: of being accepted), or it is closed (SPEC §4: 10 s; slow-loris).
    pub http_header_timeout_ms: u64,
    /// A kept-alive HTTP connection with no request for this long is closed (SPEC §4: 60 s).
    /// Upgraded WebSockets have their own heart-beat instead.
    pub http_idle_timeout_ms: u64,
    /// STOMP heart-beat the server offers and wants (ms); a client silent for twice the agreed
    /// interval is disconnected (SPEC §4).
    pub ws_heartbeat_ms: u64,
    /// Largest STOMP frame a client may send, in bytes (SPEC §4: 8 KiB). A bigger one gets an
    /// `ERROR` frame naming the limit, then close code 1009. One WebSocket message may carry
    /// up to 8 frames' worth of bytes.
    pub ws_max_frame_bytes: usize,
    /// Frames per second a connection may send (SPEC §4: 20); the excess is dropped with a
    /// warning, and a connection over it for 3 s in a row is closed.
    pub ws_frames_per_second: u32,
    /// Subscriptions one WebSocket connection may hold at once (SPEC §4: 32); one more, or a
    /// second subscription with an id already in use, is refused on `/user/queue/errors`.
    pub ws_max_subscriptions: usize,
    /// Reconnect grace period for a dropped connection (SPEC §2.3, §3).
    pub reconnect_grace_secs: u64,
    /// Seconds players look at their cards before the first hint.
    pub deal_secs: u32,
    /// Seconds a speaker whose connection dropped keeps his hint turn (SPEC §3 step 2: 10 s).
    pub turn_grace_secs: u32,
    /// Seconds the result stays up before the room waits again (SPEC §3: 10 s).
    pub result_display_secs: u64,
    /// `json` for JSON logs, anything else for human-readable.
    pub log_format: String,
    /// Seconds to let in-flight requests finish after a shutdown signal.
    pub shutdown_grace_secs: u64,
    /// `reconnectAfterMs` of `server.shutdown`: when clients should try to reconnect.
    pub shutdown_reconnect_after_ms: u64,
    /// Save every room after each transition so restarts lose no game (SPEC §3 "Durable
    /// rooms"). `false` keeps rooms in memory only: for measuring what saving costs, never for
    /// production.
    pub save_rooms: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".parse().expect("static address"),
            database_url: "sqlite://liar.db".into(),
            database_max_connections: 8,
            database_acquire_timeout_ms: 5_000,
            redis_url: None,
            redis_prefix: "liar".into(),
            lock_redis_urls: Vec::new(),
            lease_ttl_ms: 5000,
            lease_renew_ms: 0,
            lease_scan_ms: 1000,
            node_id: None,
            session_check_secs: 15,
            outbox_retention_secs: 3600,
            jwt_secret: None,
            trusted_proxies: Vec::new(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            login_per_ip: LimitRule {
                limit: 3,
                window_secs: 10,
                block_secs: 20,
            },
            login_failures_per_account: LimitRule {
                limit: 10,
                window_secs: 15 * 60,
                block_secs: 15 * 60,
            },
            register_per_ip: LimitRule {
                limit: 10,
                window_secs: 3600,
                block_secs: 3600,
            },
            chat_per_member: WindowRule {
                limit: 5,
                window_secs: 5,
            },
            rate_limit_max_keys: 100_000,
            password_hash: HashCost::default(),
            password_hash_concurrency: std::thread::available_parallelism()
                .map(|n| n.get().div_ceil(2))
                .unwrap_or(1),
            max_body_bytes: 64 * 1024,
            http_header_timeout_ms: 10_000,
            http_idle_timeout_ms: 60_000,
            ws_heartbeat_ms: 10_000,
            ws_max_subscriptions: 32,
            ws_max_frame_bytes: 8 * 1024,
            ws_frames_per_second: 20,
            reconnect_grace_secs: 60,
            deal_secs: 5,
            turn_grace_secs: liar_rules::DEFAULT_TURN_GRACE_SECS,
            result_display_secs: 10,
            log_format: "text".into(),
            shutdown_grace_secs: 10,
            shutdown_reconnect_after_ms: 1_000,
            save_rooms: true,
        }
    }
}

impl Config {
    /// Loads defaults ← `path` (when it exists) ← `LIAR_*` variables. Nested settings use a
    /// double underscore: `LIAR_LOGIN_PER_IP__LIMIT=5`.
    pub fn load(path: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let path = path.unwrap_or(Path::new("liar.toml"));
        if path.exists() {
            figment = figment.merge(Toml::file(path));
        }
        figment
            .merge(Env::prefixed("LIAR_").split("__"))
            .extract()
            .map_err(Box::new)
    }
}

/// Accepts `"10.0.0.0/8, 127.0.0.1"` or a list; bare addresses become host networks.
fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    string_list(d)?
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("invalid CIDR `{s}`")))
        })
        .collect()
}

/// Accepts `"redis://a, redis://b"` or a list.
fn url_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    string_list(d)
}

/// A comma-separated string or a list of strings, trimmed, without empty items.
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let items = match Raw::deserialize(d)? {
        Raw::One(s) => s.split(',').map(str::to_owned).collect(),
        Raw::Many(v) => v,
    };
    Ok(items
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

#[cfg(test)]
// figment::Jail's closure type is fixed by figment.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("liar.toml", "bind = \"0.0.0.0:9000\"\n[login_per_ip]\nlimit = 7\nwindow_secs = 1\nblock_secs = 2\n")?;
            jail.set_env("LIAR_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1");
            jail.set_env("LIAR_LOGIN_PER_IP__LIMIT", "9");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.bind.port(), 9000);
            assert_eq!(c.login_per_ip.limit, 9);
            assert_eq!(c.login_per_ip.block_secs, 2);
            assert_eq!(c.trusted_proxies.len(), 2);
            assert_eq!(c.register_per_ip.limit, 10);
            Ok(())
        });
    }

    #[test]
    fn a_bad_cidr_is_a_config_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LIAR_TRUSTED_PROXIES", "not-a-net");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }
}
