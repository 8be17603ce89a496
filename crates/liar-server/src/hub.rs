//! The in-process event bus (ARCHITECTURE.md `EventBus`): the lobby topic, each member's private
//! queue, and presence (how many sockets a member has open). Events are serialised once and shared
//! as bytes. Scale-out replaces this with Redis pub/sub behind the same methods.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::{broadcast, watch};

use crate::domain::UserId;
use crate::room::remote::Remote;

/// Lobby events buffered per subscriber before it is resynced.
const LOBBY_BUFFER: usize = 1024;
/// Private events buffered per member.
const USER_BUFFER: usize = 256;

pub struct Hub {
    lobby: broadcast::Sender<Bytes>,
    users: Mutex<HashMap<UserId, broadcast::Sender<Bytes>>>,
    presence: Mutex<HashMap<UserId, usize>>,
    /// Set when the server shuts down: how long clients should wait before reconnecting.
    shutdown: watch::Sender<Option<u64>>,
    /// Cluster mode: lobby and private events also go to the other nodes.
    remote: OnceLock<Arc<Remote>>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            lobby: broadcast::channel(LOBBY_BUFFER).0,
            users: Mutex::new(HashMap::new()),
            presence: Mutex::new(HashMap::new()),
            shutdown: watch::channel(None).0,
            remote: OnceLock::new(),
        }
    }
}

/// A change in whether a member has any connection at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceChange {
    CameOnline,
    WentOffline,
    Unchanged,
}

impl Hub {
    /// Tells every socket that the server is going away (SPEC §6.3): each sends
    /// `server.shutdown {reconnectAfterMs}` and closes.
    pub fn begin_shutdown(&self, reconnect_after_ms: u64) {
        let _ = self.shutdown.send(Some(reconnect_after_ms));
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<Option<u64>> {
        self.shutdown.subscribe()
    }

    /// Members with a private queue (bounded by open sockets; 0 when none is open).
    pub fn queues(&self) -> usize {
        self.users.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Cluster mode: from now on lobby and private events reach the other nodes too.
    pub fn set_remote(&self, remote: Arc<Remote>) {
        let _ = self.remote.set(remote);
    }

    pub fn publish_lobby(&self, event: Bytes) {
        if let Some(remote) = self.remote.get() {
            remote.publish_lobby(&event);
        }
        self.deliver_lobby(event);
    }

    /// A lobby event for this node's sockets only.
    pub fn deliver_lobby(&self, event: Bytes) {
        let _ = self.lobby.send(event);
    }

    pub fn lobby(&self) -> broadcast::Receiver<Bytes> {
        self.lobby.subscribe()
    }

    /// Delivers a private event to every socket of `user` subscribed to `/user/queue/events`
    /// (on every node in cluster mode).
    pub fn send_to_user(&self, user: UserId, event: Bytes) {
        if let Some(remote) = self.remote.get() {
            remote.publish_private(user, &event);
        }
        self.deliver_to_user(user, event);
    }

    /// A private event for the member's sockets on this node only.
    pub fn deliver_to_user(&self, user: UserId, event: Bytes) {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = users.get(&user) {
            let _ = tx.send(event);
        }
    }

    pub fn user_events(&self, user: UserId) -> broadcast::Receiver<Bytes> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        users
            .entry(user)
            .or_insert_with(|| broadcast::channel(USER_BUFFER).0)
            .subscribe()
    }

    /// Forgets a member's queue once nobody listens to it (bounded memory).
    pub fn release_user(&self, user: UserId) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.get(&user).is_some_and(|tx| tx.receiver_count() == 0) {
            users.remove(&user);
        }
    }

    pub fn connected(&self, user: UserId) -> PresenceChange {
        let mut p = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        let n = p.entry(user).or_insert(0);
        *n += 1;
        if *n == 1 {
            PresenceChange::CameOnline
        } else {
            PresenceChange::Unchanged
        }
    }

    pub fn disconnected(&self, user: UserId) -> PresenceChange {
        let mut p = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        match p.get_mut(&user) {
            Some(n) if *n > 1 => {
                *n -= 1;
                PresenceChange::Unchanged
            }
            Some(_) => {
                p.remove(&user);
                PresenceChange::WentOffline
            }
            None => PresenceChange::Unchanged,
        }
    }

    pub fn is_online(&self, user: UserId) -> bool {
        let p = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        p.contains_key(&user)
    }

    /// Open sockets across all members.
    pub fn connections(&self) -> usize {
        let p = self.presence.lock().unwrap_or_else(|p| p.into_inner());
        p.values().sum()
    }
}
