//! Rooms across nodes (SPEC §6.4, issue 13). A room is served by the node that created it (its
//! `owner_node` in the database); this module lets every other node use it as if it were local:
//!
//! - **Commands** for a room on another node are forwarded over Redis pub/sub to that node's
//!   channel `{prefix}:node:{id}` with a request id, and the answer comes back on the asking
//!   node's channel; an answer that does not come in time answers `UNAVAILABLE`, as a local room
//!   waiting for the database does.
//! - **Room events** leave the owner once, serialised, to each node that has a subscriber of the
//!   room (the owner learns this from the forwarded subscription), and enter that node's local
//!   broadcast for the room (a *bridge*). Order is the owner's publish order; a subscriber that
//!   sees a gap in `seq`, or whose node's pub/sub connection was re-established, catches up from
//!   the room's log (exactly the missed events, or a snapshot).
//! - **Lobby and private events** go to every node (`{prefix}:lobby`, `{prefix}:private`); each
//!   node delivers them to its own sockets.
//!
//! The member → room directory is the `room_members` table: its primary key keeps one room per
//! member. What spans two rooms (leave one, join another) runs under a Redlock on the member
//! (see [`Redlock`]), and the directory rows it touches carry the lock's fencing value.

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::state::{Input, REPLAY_LOG, Reply};
use super::{Person, RoomError, RoomFrame, RoomId, RoomView};
use crate::cluster::Cluster;
use crate::domain::UserId;
use crate::error::FieldError;

/// How long a forwarded command waits for its answer before `UNAVAILABLE` (its node may be
/// gone: the owner is read again from the database next time).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a forwarded command waits for this node's own pub/sub connection (at start, or
/// while it reconnects) before answering `UNAVAILABLE`.
const LISTEN_WAIT: Duration = Duration::from_secs(2);
/// Publishes sent to Redis in one pipeline at most.
const PUBLISH_BATCH: usize = 512;
/// Delay between attempts to re-open the pub/sub connection.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(200);
/// How often bridges nobody listens to any more are dropped.
const BRIDGE_SWEEP: Duration = Duration::from_secs(30);

/// An input a member's command can make, as it travels to the room's node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum WireInput {
    Join {
        user: UserId,
        username: String,
    },
    Leave {
        user: UserId,
    },
    Move {
        user: UserId,
    },
    Ready {
        user: UserId,
        ready: bool,
    },
    Settings {
        user: UserId,
        patch: Value,
    },
    Kick {
        user: UserId,
        target: UserId,
    },
    Chat {
        user: UserId,
        text: String,
    },
    Delete {
        user: UserId,
    },
    Start {
        user: UserId,
    },
    Play {
        user: UserId,
        command: liar_rules::Command,
    },
    Presence {
        user: UserId,
        online: bool,
    },
}

impl WireInput {
    /// The wire form of a member's input; `None` for inputs only the room itself makes.
    pub fn of(input: Input) -> Option<WireInput> {
        Some(match input {
            Input::Join(p) => WireInput::Join {
                user: p.id,
                username: p.username,
            },
            Input::Leave(user) => WireInput::Leave { user },
            Input::Move(user) => WireInput::Move { user },
            Input::Ready { user, ready } => WireInput::Ready { user, ready },
            Input::Settings { user, patch } => WireInput::Settings { user, patch },
            Input::Kick { user, target } => WireInput::Kick { user, target },
            Input::Chat { user, text } => WireInput::Chat { user, text },
            Input::Delete(user) => WireInput::Delete { user },
            Input::Start(user) => WireInput::Start { user },
            Input::Play { user, command } => WireInput::Play { user, command },
            Input::Presence { user, online } => WireInput::Presence { user, online },
            Input::Timer(_) | Input::ResultStored { .. } | Input::Resumed => return None,
        })
    }

    pub fn into_input(self) -> Input {
        match self {
            WireInput::Join { user, username } => Input::Join(Person { id: user, username }),
            WireInput::Leave { user } => Input::Leave(user),
            WireInput::Move { user } => Input::Move(user),
            WireInput::Ready { user, ready } => Input::Ready { user, ready },
            WireInput::Settings { user, patch } => Input::Settings { user, patch },
            WireInput::Kick { user, target } => Input::Kick { user, target },
            WireInput::Chat { user, text } => Input::Chat { user, text },
            WireInput::Delete { user } => Input::Delete(user),
            WireInput::Start { user } => Input::Start(user),
            WireInput::Play { user, command } => Input::Play { user, command },
            WireInput::Presence { user, online } => Input::Presence { user, online },
        }
    }
}

/// A forwarded command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "c", rename_all = "snake_case")]
pub enum Ask {
    /// An input; without `reply` nobody waits for the answer.
    Step {
        input: WireInput,
        reply: bool,
    },
    View,
    /// Checks a join password against the room's (`Done` or `WRONG_PASSWORD`).
    Password {
        password: Option<String>,
    },
    Subscribe {
        user: UserId,
        since: Option<u64>,
    },
    Resync {
        user: UserId,
    },
}

/// What a forwarded command answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "a", rename_all = "snake_case")]
pub enum Answer {
    Reply { reply: WireReply },
    View { view: Box<RoomView> },
    Subscribed { first: Vec<String>, through: u64 },
    Done,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireReply {
    Done,
    Joined,
    AlreadyMember,
}

impl From<Reply> for WireReply {
    fn from(r: Reply) -> Self {
        match r {
            Reply::Done => WireReply::Done,
            Reply::Joined => WireReply::Joined,
            Reply::AlreadyMember => WireReply::AlreadyMember,
        }
    }
}

impl From<WireReply> for Reply {
    fn from(r: WireReply) -> Self {
        match r {
            WireReply::Done => Reply::Done,
            WireReply::Joined => Reply::Joined,
            WireReply::AlreadyMember => Reply::AlreadyMember,
        }
    }
}

/// A refusal as it travels between nodes: its stable code, message and invalid fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireError {
    code: String,
    message: String,
    #[serde(default)]
    fields: Vec<(String, String, String)>,
}

impl From<&RoomError> for WireError {
    fn from(e: &RoomError) -> Self {
        let fields = match e {
            RoomError::Validation(errors) => errors
                .iter()
                .map(|f| (f.field.to_owned(), f.code.to_owned(), f.message.clone()))
                .collect(),
            _ => Vec::new(),
        };
        WireError {
            code: e.code().to_owned(),
            message: match e {
                RoomError::Rule(_, m) => m.clone(),
                other => other.message(),
            },
            fields,
        }
    }
}

/// Codes and field names are a small fixed set: each is made `'static` once.
fn intern(s: &str) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(known) = seen.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.insert(leaked);
    leaked
}

impl From<WireError> for RoomError {
    fn from(w: WireError) -> Self {
        match w.code.as_str() {
            "ROOM_NOT_FOUND" => RoomError::NotFound,
            "ROOM_FULL" => RoomError::Full,
            "WRONG_PASSWORD" => RoomError::WrongPassword,
            "KICKED" => RoomError::Kicked,
            "NOT_A_MEMBER" => RoomError::NotAMember,
            "NOT_HOST" => RoomError::NotHost,
            "IN_GAME" => RoomError::InGame,
            "WRONG_PHASE" if w.message == RoomError::WrongPhase.message() => RoomError::WrongPhase,
            "RATE_LIMITED" => RoomError::RateLimited,
            "VALIDATION" => RoomError::Validation(
                w.fields
                    .into_iter()
                    .map(|(field, code, message)| FieldError {
                        field: intern(&field),
                        code: intern(&code),
                        message,
                    })
                    .collect(),
            ),
            "NOT_ENOUGH_PLAYERS" => RoomError::NotEnoughPlayers,
            "NOT_READY" => RoomError::NotReady,
            "INTERNAL" => RoomError::Internal,
            "UNAVAILABLE" => RoomError::Unavailable,
            code => RoomError::Rule(intern(code), w.message),
        }
    }
}

/// Request and answer envelopes on a node's channel.
#[derive(Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
enum Envelope {
    Req {
        id: u64,
        from: String,
        room: RoomId,
        ask: Ask,
    },
    Ans {
        id: u64,
        result: Result<Answer, WireError>,
    },
}

/// Something to publish, in order.
struct Publish {
    channel: String,
    payload: Vec<u8>,
}

/// The node's side of the cluster's rooms.
pub struct Remote {
    cluster: Arc<Cluster>,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Result<Answer, WireError>>>>,
    /// Local broadcasts of rooms served elsewhere that local sockets subscribe to.
    bridges: Mutex<HashMap<RoomId, broadcast::Sender<RoomFrame>>>,
    /// Room → serving node, as read from the database.
    owners: Mutex<HashMap<RoomId, String>>,
    /// When rooms were last announced as moved: an owner read from the database before that
    /// is not cached (it may predate the takeover).
    moves: Mutex<HashMap<RoomId, tokio::time::Instant>>,
    out: mpsc::UnboundedSender<Publish>,
    out_rx: Mutex<Option<mpsc::UnboundedReceiver<Publish>>>,
    /// Whether this node's pub/sub connection is subscribed (answers can reach it).
    listening: tokio::sync::watch::Sender<bool>,
    pub locks: Redlock,
}

impl Remote {
    pub fn new(cluster: Arc<Cluster>, lock_servers: Vec<ConnectionManager>) -> Arc<Remote> {
        let (out, out_rx) = mpsc::unbounded_channel();
        let locks = Redlock::new(lock_servers, cluster.key("lock"));
        Arc::new(Remote {
            cluster,
            next_id: AtomicU64::new(1),
            waiting: Mutex::default(),
            bridges: Mutex::default(),
            owners: Mutex::default(),
            moves: Mutex::default(),
            out,
            out_rx: Mutex::new(Some(out_rx)),
            listening: tokio::sync::watch::channel(false).0,
            locks,
        })
    }

    pub fn node(&self) -> &str {
        self.cluster.node_id()
    }

    fn node_channel(&self, node: &str) -> String {
        self.cluster.key(&format!("node:{node}"))
    }

    fn lobby_channel(&self) -> String {
        self.cluster.key("lobby")
    }

    fn private_channel(&self) -> String {
        self.cluster.key("private")
    }

    /// Nodes announce here that they (re)joined: a node that restarted serves its rooms again
    /// but no longer knows who listens, so the others' subscribers ask again.
    fn hello_channel(&self) -> String {
        self.cluster.key("hello")
    }

    fn publish(&self, channel: String, payload: Vec<u8>) {
        let _ = self.out.send(Publish { channel, payload });
    }

    /// A room event for the nodes that have subscribers of the room: `E{room} {seq}\n{json}`.
    pub fn publish_event(&self, nodes: &[String], room: RoomId, seq: u64, json: &Bytes) {
        if nodes.is_empty() {
            return;
        }
        let mut payload = format!("E{room} {seq}\n").into_bytes();
        payload.extend_from_slice(json);
        for node in nodes {
            self.publish(self.node_channel(node), payload.clone());
        }
    }

    /// The member lost access to the room: his subscriptions on those nodes end.
    pub fn publish_evict(&self, nodes: &[String], room: RoomId, user: UserId) {
        for node in nodes {
            self.publish(
                self.node_channel(node),
                format!("X{room} {user}").into_bytes(),
            );
        }
    }

    /// A lobby event for the other nodes' sockets.
    pub fn publish_lobby(&self, json: &Bytes) {
        let mut payload = format!("{}\n", self.node()).into_bytes();
        payload.extend_from_slice(json);
        self.publish(self.lobby_channel(), payload);
    }

    /// A private event for the member's sockets on the other nodes.
    pub fn publish_private(&self, user: UserId, json: &Bytes) {
        let mut payload = format!("{} {user}\n", self.node()).into_bytes();
        payload.extend_from_slice(json);
        self.publish(self.private_channel(), payload);
    }

    /// This node took `room` over: the others forget its old owner and their subscribers
    /// re-subscribe (from the last event they have).
    pub fn announce_moved(&self, room: RoomId) {
        self.moved(room);
        self.publish(self.hello_channel(), format!("@{room}").into_bytes());
        self.to_bridge(room, RoomFrame::Resync);
    }

    pub fn cached_owner(&self, room: RoomId) -> Option<String> {
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .cloned()
    }

    /// Caches `node` as the owner of `room`, as read from the database at `read`, unless the
    /// room moved since.
    pub fn remember_owner(&self, room: RoomId, node: String, read: tokio::time::Instant) {
        let moved = self
            .moves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room)
            .is_some_and(|at| *at >= read);
        if !moved {
            self.owners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(room, node);
        }
    }

    fn moved(&self, room: RoomId) {
        self.moves
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room, tokio::time::Instant::now());
        self.forget_owner(room);
    }

    pub fn forget_owner(&self, room: RoomId) {
        self.owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&room);
    }

    /// Sends `ask` to the node serving `room` and waits for the answer.
    pub async fn call(&self, node: &str, room: RoomId, ask: Ask) -> Result<Answer, RoomError> {
        let listening = *self.listening.borrow();
        // Without Redis nothing reaches the other node: say so at once.
        if !listening && !self.cluster.redis_up() {
            return Err(RoomError::Unavailable);
        }
        if !listening {
            let mut listening = self.listening.subscribe();
            let ready = tokio::time::timeout(LISTEN_WAIT, async move {
                listening.wait_for(|up| *up).await.is_ok()
            })
            .await;
            if !matches!(ready, Ok(true)) {
                return Err(RoomError::Unavailable);
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let envelope = Envelope::Req {
            id,
            from: self.node().to_owned(),
            room,
            ask,
        };
        let payload = encode_envelope(&envelope);
        self.publish(self.node_channel(node), payload);
        let answer = tokio::time::timeout(FORWARD_TIMEOUT, rx).await;
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        match answer {
            Ok(Ok(result)) => result.map_err(RoomError::from),
            Ok(Err(_)) => Err(RoomError::Unavailable),
            Err(_) => {
                metrics::counter!("liar_forward_timeouts_total").increment(1);
                Err(RoomError::Unavailable)
            }
        }
    }

    /// Sends `ask` without waiting for an answer.
    pub fn tell(&self, node: &str, room: RoomId, ask: Ask) {
        let envelope = Envelope::Req {
            id: 0,
            from: self.node().to_owned(),
            room,
            ask,
        };
        self.publish(self.node_channel(node), encode_envelope(&envelope));
    }

    /// The local broadcast of a room served elsewhere (created on first use).
    pub fn bridge(&self, room: RoomId) -> broadcast::Receiver<RoomFrame> {
        let mut bridges = self.bridges.lock().unwrap_or_else(|p| p.into_inner());
        bridges
            .entry(room)
            .or_insert_with(|| broadcast::channel(REPLAY_LOG).0)
            .subscribe()
    }

    /// Starts the publisher and the listener; `serve` answers requests for local rooms.
    pub fn start(self: &Arc<Self>, serve: Arc<dyn Serve>) -> Vec<tokio::task::JoinHandle<()>> {
        let rx = self.out_rx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut tasks = Vec::new();
        if let Some(rx) = rx {
            tasks.push(tokio::spawn(self.clone().publisher(rx)));
        }
        tasks.push(tokio::spawn(self.clone().listen(serve)));
        tasks.push(tokio::spawn(self.clone().sweep_bridges()));
        tasks
    }

    /// Publishes in order, as many as are queued in one pipeline.
    async fn publisher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Publish>) {
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            for p in &batch {
                pipe.cmd("PUBLISH").arg(&p.channel).arg(&p.payload).ignore();
            }
            let mut conn = self.cluster.connection();
            let sent: redis::RedisResult<()> = pipe.query_async(&mut conn).await;
            if let Err(e) = sent {
                // Receivers find the gap in `seq` (or a timed-out request) and catch up.
                metrics::counter!("liar_publish_failures_total").increment(batch.len() as u64);
                tracing::warn!(error = %e, messages = batch.len(), "publishing to Redis failed");
            } else {
                metrics::counter!("liar_published_total").increment(batch.len() as u64);
            }
            batch.clear();
        }
    }

    async fn listen(self: Arc<Self>, serve: Arc<dyn Serve>) {
        let mine = self.node_channel(self.node());
        let lobby = self.lobby_channel();
        let private = self.private_channel();
        let hello = self.hello_channel();
        loop {
            match self.cluster.client().get_async_pubsub().await {
                Ok(mut pubsub) => {
                    let subscribed = pubsub.subscribe(&mine).await.is_ok()
                        && pubsub.subscribe(&lobby).await.is_ok()
                        && pubsub.subscribe(&private).await.is_ok()
                        && pubsub.subscribe(&hello).await.is_ok();
                    if subscribed {
                        self.listening.send_replace(true);
                        // Anything published while this node was not listening is caught up.
                        self.resync_bridges();
                        self.publish(hello.clone(), self.node().as_bytes().to_vec());
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            let payload = msg.get_payload_bytes();
                            let channel = msg.get_channel_name();
                            if channel == mine {
                                self.on_node_message(payload, &serve);
                            } else if channel == hello {
                                if let Some(room) =
                                    payload.strip_prefix(b"@").and_then(parse::<RoomId>)
                                {
                                    self.moved(room);
                                    self.to_bridge(room, RoomFrame::Resync);
                                } else if payload != self.node().as_bytes() {
                                    self.resync_bridges();
                                }
                            } else if channel == lobby {
                                if let Some((origin, json)) = split_line(payload)
                                    && origin != self.node().as_bytes()
                                {
                                    serve.deliver_lobby(Bytes::copy_from_slice(json));
                                }
                            } else if channel == private
                                && let Some((head, json)) = split_line(payload)
                                && let Some((origin, user)) = split_space(head)
                                && origin != self.node().as_bytes()
                                && let Some(user) = parse::<UserId>(user)
                            {
                                serve.deliver_private(user, Bytes::copy_from_slice(json));
                            }
                        }
                        self.listening.send_replace(false);
                        tracing::warn!("Redis pub/sub connection lost; reconnecting");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "Redis pub/sub not connected"),
            }
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }

    fn on_node_message(self: &Arc<Self>, payload: &[u8], serve: &Arc<dyn Serve>) {
        match payload.first() {
            Some(b'E') => {
                let Some((head, json)) = split_line(&payload[1..]) else {
                    return;
                };
                let Some((room, seq)) = split_space(head) else {
                    return;
                };
                let (Some(room), Some(seq)) = (parse::<RoomId>(room), parse::<u64>(seq)) else {
                    return;
                };
                self.to_bridge(
                    room,
                    RoomFrame::Event {
                        seq,
                        json: Bytes::copy_from_slice(json),
                    },
                );
            }
            Some(b'X') => {
                let Some((room, user)) = split_space(&payload[1..]) else {
                    return;
                };
                if let (Some(room), Some(user)) = (parse::<RoomId>(room), parse::<UserId>(user)) {
                    self.to_bridge(room, RoomFrame::Evict(user));
                }
            }
            Some(b'J') => match serde_json::from_slice::<Envelope>(&payload[1..]) {
                Ok(Envelope::Ans { id, result }) => {
                    let waiting = self
                        .waiting
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                    if let Some(tx) = waiting {
                        let _ = tx.send(result);
                    }
                }
                Ok(Envelope::Req {
                    id,
                    from,
                    room,
                    ask,
                }) => {
                    let me = self.clone();
                    let serve = serve.clone();
                    tokio::spawn(async move {
                        let result = serve.serve(room, ask, &from).await;
                        if id != 0 {
                            let answer = Envelope::Ans {
                                id,
                                result: result.map_err(|e| WireError::from(&e)),
                            };
                            me.publish(me.node_channel(&from), encode_envelope(&answer));
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "unreadable message from another node"),
            },
            _ => {}
        }
    }

    fn to_bridge(&self, room: RoomId, frame: RoomFrame) {
        let bridges = self.bridges.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = bridges.get(&room) {
            let _ = tx.send(frame);
        }
    }

    /// Every bridged subscriber checks what it missed.
    fn resync_bridges(&self) {
        let bridges = self.bridges.lock().unwrap_or_else(|p| p.into_inner());
        for tx in bridges.values() {
            let _ = tx.send(RoomFrame::Resync);
        }
    }

    async fn sweep_bridges(self: Arc<Self>) {
        let mut tick = tokio::time::interval(BRIDGE_SWEEP);
        loop {
            tick.tick().await;
            self.bridges
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, tx| tx.receiver_count() > 0);
            let old = tokio::time::Instant::now() - BRIDGE_SWEEP;
            self.moves
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|_, at| *at > old);
        }
    }
}

/// What a node does with requests for its rooms and with the other nodes' lobby and private
/// events (implemented by `Rooms`).
#[async_trait::async_trait]
pub trait Serve: Send + Sync {
    async fn serve(&self, room: RoomId, ask: Ask, from: &str) -> Result<Answer, RoomError>;
    fn deliver_lobby(&self, json: Bytes);
    fn deliver_private(&self, user: UserId, json: Bytes);
}

fn encode_envelope(e: &Envelope) -> Vec<u8> {
    let mut out = vec![b'J'];
    // Serialising these plain types cannot fail.
    let _ = serde_json::to_writer(&mut out, e);
    out
}

fn split_line(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == b'\n')?;
    Some((&b[..i], &b[i + 1..]))
}

fn split_space(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == b' ')?;
    Some((&b[..i], &b[i + 1..]))
}

fn parse<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Redlock (SPEC §6.4) over one or several independent Redis servers: a lock is held when a
/// majority of them granted it within its validity. Each grant comes with a fencing value (the
/// highest of the servers' counters), which the directory rows it writes carry, so a holder
/// whose lock expired while it was paused cannot undo what the next holder did.
pub struct Redlock {
    servers: Vec<ConnectionManager>,
    prefix: String,
}

/// A held lock; release it with [`Redlock::release`] (an unreleased one expires by itself).
pub struct LockGuard {
    key: String,
    token: String,
    pub fence: i64,
}

/// How long a member's lock lives: longer than any flow under it takes.
const LOCK_TTL_MS: u64 = 5_000;
/// How long a flow waits for a member's lock before answering `UNAVAILABLE`.
const LOCK_WAIT: Duration = Duration::from_secs(8);
/// Clock drift allowance (Redlock: 1% of the TTL plus 2 ms).
const DRIFT_MS: u64 = LOCK_TTL_MS / 100 + 2;

const UNLOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

impl Redlock {
    pub fn new(servers: Vec<ConnectionManager>, prefix: String) -> Redlock {
        Redlock { servers, prefix }
    }

    fn quorum(&self) -> usize {
        self.servers.len() / 2 + 1
    }

    /// Takes `name`, waiting for it while another holder has it.
    pub async fn lock(&self, name: &str) -> Result<LockGuard, RoomError> {
        let key = format!("{}:{name}", self.prefix);
        let fence_key = format!("{}:fence", self.prefix);
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        let mut pause = 2u64;
        loop {
            let token = format!("{:032x}", rand::random::<u128>());
            let started = tokio::time::Instant::now();
            let mut granted = 0;
            let mut fence = i64::MIN;
            for server in &self.servers {
                let mut conn = server.clone();
                let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(LOCK_TTL_MS)
                    .query_async(&mut conn)
                    .await;
                if matches!(set, Ok(Some(_))) {
                    granted += 1;
                    let n: redis::RedisResult<i64> = redis::cmd("INCR")
                        .arg(&fence_key)
                        .query_async(&mut conn)
                        .await;
                    if let Ok(n) = n {
                        fence = fence.max(n);
                    }
                }
            }
            let elapsed = started.elapsed().as_millis() as u64;
            if granted >= self.quorum() && fence != i64::MIN && elapsed + DRIFT_MS < LOCK_TTL_MS {
                return Ok(LockGuard { key, token, fence });
            }
            // Not held: give back what was granted, wait a little and try again.
            self.unlock(&key, &token).await;
            if tokio::time::Instant::now() >= deadline {
                metrics::counter!("liar_lock_timeouts_total").increment(1);
                return Err(RoomError::Unavailable);
            }
            let jitter = rand::random::<u64>() % (pause + 1);
            tokio::time::sleep(Duration::from_millis(pause + jitter)).await;
            pause = (pause * 2).min(50);
        }
    }

    pub async fn release(&self, guard: LockGuard) {
        self.unlock(&guard.key, &guard.token).await;
    }

    async fn unlock(&self, key: &str, token: &str) {
        let script = redis::Script::new(UNLOCK);
        for server in &self.servers {
            let mut conn = server.clone();
            let _: redis::RedisResult<i64> =
                script.key(key).arg(token).invoke_async(&mut conn).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_crosses_the_wire_with_its_code() {
        let errors = [
            RoomError::NotFound,
            RoomError::Full,
            RoomError::WrongPassword,
            RoomError::Kicked,
            RoomError::NotAMember,
            RoomError::NotHost,
            RoomError::InGame,
            RoomError::WrongPhase,
            RoomError::RateLimited,
            RoomError::Validation(vec![FieldError::new(
                "name",
                "REQUIRED",
                "name is required",
            )]),
            RoomError::NotEnoughPlayers,
            RoomError::NotReady,
            RoomError::Rule("NOT_YOUR_TURN", "wait for your turn".into()),
            RoomError::Internal,
            RoomError::Unavailable,
        ];
        for e in errors {
            let wire: WireError =
                serde_json::from_str(&serde_json::to_string(&WireError::from(&e)).unwrap())
                    .unwrap();
            let back = RoomError::from(wire);
            assert_eq!(back.code(), e.code(), "{e:?}");
            assert_eq!(back.message(), e.message(), "{e:?}");
        }
    }

    #[test]
    fn member_inputs_cross_the_wire_and_room_inputs_do_not() {
        let join = Input::Join(Person {
            id: 7,
            username: "eve".into(),
        });
        let wire = WireInput::of(join).unwrap();
        let text = serde_json::to_string(&wire).unwrap();
        let back = serde_json::from_str::<WireInput>(&text)
            .unwrap()
            .into_input();
        assert!(matches!(back, Input::Join(p) if p.id == 7 && p.username == "eve"));
        assert!(WireInput::of(Input::Resumed).is_none());
    }

    #[test]
    fn event_lines_split_at_the_first_newline_only() {
        let payload = b"12 34\n{\"text\":\"a\\nb\"}";
        let (head, json) = split_line(payload).unwrap();
        assert_eq!(split_space(head), Some((&b"12"[..], &b"34"[..])));
        assert_eq!(json, b"{\"text\":\"a\\nb\"}");
    }
}
