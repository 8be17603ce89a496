//! Cluster mode (SPEC §6.4): several identical nodes sharing the SQL database and Redis.
//!
//! The database stays the source of truth; Redis carries messages and counters and may lose
//! everything at any time. This module owns the node's Redis connections:
//! - one multiplexed [`ConnectionManager`] for commands (it reconnects by itself), with short
//!   timeouts so a dead Redis answers an error instead of hanging a request;
//! - one pub/sub connection that receives revoked sessions from the other nodes and hands them
//!   to the local sockets (a lost message is caught by each socket's periodic re-check);
//! - a health probe for `/readyz`.

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

use crate::auth::{AuthService, Revocation};
use crate::store::SessionState;

/// How long one Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the health probe pings Redis.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Delay between attempts to re-open the pub/sub connection.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(200);

pub struct Cluster {
    node_id: String,
    prefix: String,
    client: redis::Client,
    conn: ConnectionManager,
    up: AtomicBool,
}

/// A revocation as it travels between nodes.
#[derive(Serialize, Deserialize)]
struct WireRevocation {
    node: String,
    member: i64,
    session: String,
    reason: String,
}

fn reason_name(state: SessionState) -> &'static str {
    match state {
        SessionState::Replaced => "replaced",
        SessionState::LoggedOut => "logged_out",
        SessionState::Reused => "reused",
        SessionState::Expired => "expired",
        SessionState::Live => "live",
        SessionState::Unknown => "unknown",
    }
}

fn reason_of(name: &str) -> SessionState {
    match name {
        "replaced" => SessionState::Replaced,
        "logged_out" => SessionState::LoggedOut,
        "reused" => SessionState::Reused,
        "expired" => SessionState::Expired,
        "live" => SessionState::Live,
        _ => SessionState::Unknown,
    }
}

/// A connection to one more independent Redis server for Redlock's quorum.
pub async fn lock_server(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)
        .map_err(|e| anyhow::anyhow!("lock_redis_urls: {url} is not a valid Redis URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| anyhow::anyhow!("the lock Redis at {url} does not answer: {e}"))
}

impl Cluster {
    /// Connects to Redis (failing clearly when it does not answer at start).
    pub async fn connect(url: &str, prefix: &str, node_id: String) -> anyhow::Result<Arc<Cluster>> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("redis_url is not a valid Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(|e| anyhow::anyhow!("Redis at redis_url does not answer: {e}"))?;
        Ok(Arc::new(Cluster {
            node_id,
            prefix: prefix.to_owned(),
            client,
            conn,
            up: AtomicBool::new(true),
        }))
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The client, for connections of their own (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A command connection (cheap clone of the shared multiplexed one).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// `prefix:suffix`: every key and channel of this deployment.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }

    /// Whether the last probe reached Redis.
    pub fn redis_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Starts the node's background work: the health probe, the publisher of this node's
    /// revocations and the subscriber that delivers the other nodes' revocations to `auth`.
    pub fn start(self: &Arc<Self>, auth: &AuthService) -> Vec<tokio::task::JoinHandle<()>> {
        let (tx, rx) = mpsc::unbounded_channel();
        auth.set_remote_revocations(tx);
        vec![
            tokio::spawn(self.clone().probe()),
            tokio::spawn(self.clone().publish_revocations(rx)),
            tokio::spawn(self.clone().receive_revocations(auth.clone())),
        ]
    }

    async fn probe(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let mut conn = self.conn.clone();
            let answered = tokio::time::timeout(
                COMMAND_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn),
            )
            .await
            .is_ok_and(|r| r.is_ok());
            let was = self.up.swap(answered, Ordering::Relaxed);
            if was != answered {
                if answered {
                    tracing::info!("Redis answers again");
                } else {
                    tracing::error!("Redis does not answer: logins and joins answer 503");
                }
                metrics::gauge!("liar_redis_up").set(if answered { 1.0 } else { 0.0 });
            }
        }
    }

    async fn publish_revocations(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Revocation>) {
        let channel = self.key("revocations");
        while let Some(r) = rx.recv().await {
            let wire = WireRevocation {
                node: self.node_id.clone(),
                member: r.member,
                session: r.session,
                reason: reason_name(r.reason).to_owned(),
            };
            let Ok(payload) = serde_json::to_string(&wire) else {
                continue;
            };
            let mut conn = self.conn.clone();
            let sent = tokio::time::timeout(
                COMMAND_TIMEOUT,
                conn.publish::<_, _, i64>(&channel, payload),
            )
            .await;
            if !matches!(sent, Ok(Ok(_))) {
                // The other nodes' periodic session re-check still closes that socket.
                metrics::counter!("liar_revocations_unpublished_total").increment(1);
                tracing::warn!(
                    "a revoked session could not be announced over Redis; other nodes catch it \
                     on their next session check"
                );
            }
        }
    }

    async fn receive_revocations(self: Arc<Self>, auth: AuthService) {
        let channel = self.key("revocations");
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        // Whatever was published while this node was not listening is caught
                        // by the sockets' re-check; ask for one now.
                        auth.recheck_sessions();
                        let mut messages = pubsub.on_message();
                        use futures::StreamExt;
                        while let Some(msg) = messages.next().await {
                            let Ok(payload) = msg.get_payload::<String>() else {
                                continue;
                            };
                            let Ok(wire) = serde_json::from_str::<WireRevocation>(&payload) else {
                                continue;
                            };
                            if wire.node == self.node_id {
                                continue;
                            }
                            auth.deliver_revocation(Revocation {
                                member: wire.member,
                                session: wire.session,
                                reason: reason_of(&wire.reason),
                            });
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Redis pub/sub not connected"),
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_state_crosses_the_wire_unchanged() {
        for s in [
            SessionState::Live,
            SessionState::Replaced,
            SessionState::LoggedOut,
            SessionState::Reused,
            SessionState::Expired,
            SessionState::Unknown,
        ] {
            assert_eq!(reason_of(reason_name(s)), s);
        }
    }
}
