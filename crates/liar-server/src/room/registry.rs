//! `Rooms`: finds a room's actor (ARCHITECTURE.md `RoomRouter`), keeps the member → room
//! directory and the room list, runs the flows that span two rooms (moving from one room to
//! another) under a per-member lock, so one member is never seated in two rooms, restores every
//! saved room at start and stops every room at shutdown.

use bytes::Bytes;
use rand::RngExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use super::actor::{Command, ReplyTx, RoomActor};
use super::remote::{Answer, Ask, Remote, Serve, WireInput};
use super::saver::Saver;
use super::state::{Ctx, Input, NewRoom, Reply, Room, RoomRules};
use super::{
    Person, RoomError, RoomFrame, RoomId, RoomSettings, RoomStatus, RoomSummary, RoomView,
};
use crate::auth::password::Hasher;
use crate::domain::{Password, UserId};
use crate::error::FieldError;
use crate::hub::Hub;
use crate::store::{ResultStore, RoomStore, StoreError};
use crate::topics::Topics;

/// Commands queued per room before senders wait.
const INBOX: usize = 1024;
/// Striped per-member locks: bounded memory, rare false sharing.
const MEMBER_LOCKS: usize = 256;
/// Join codes use letters that cannot be misread (no I, O).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const CODE_LEN: usize = 6;
/// Room name length in characters (SPEC §2.1).
const NAME_MAX_CHARS: usize = 30;
/// A room command that gets no answer in this time answers `UNAVAILABLE` (its room is waiting
/// for the database); the command itself is not lost.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// Rooms in a `lobby.snapshot` (the newest public ones).
const LOBBY_SNAPSHOT: usize = 50;
/// Tries to find a free join code before giving up.
const CODE_ATTEMPTS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined,
    AlreadyMember,
}

/// What a new subscriber of a room topic gets: the catch-up (replayed events or one snapshot),
/// then the live stream. Taken inside the actor, so nothing is missed or repeated in between.
pub struct Subscription {
    pub first: Vec<Bytes>,
    pub live: broadcast::Receiver<RoomFrame>,
    /// The room's `seq` that `first` brings the subscriber to; live events up to it are
    /// already in `first`.
    pub through: u64,
}

#[derive(Default)]
struct Directory {
    rooms: HashMap<RoomId, Entry>,
    codes: HashMap<String, RoomId>,
    list: BTreeMap<RoomId, RoomSummary>,
    members: HashMap<UserId, RoomId>,
}

struct Entry {
    inbox: mpsc::Sender<Command>,
    /// Cluster mode: until when this node's lease on the room surely holds (see
    /// [`Shared::lease_ok`]).
    lease: Arc<AtomicU64>,
    password_hash: Option<Arc<str>>,
}

/// The server's clock for rooms: wall-clock milliseconds that advance with tokio's time, so a
/// room's deadlines and its timers agree (also under `tokio::time::pause()` in tests).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_millis: i64,
    base: tokio::time::Instant,
}

impl Clock {
    pub fn system() -> Clock {
        Clock {
            base_millis: crate::auth::now_millis(),
            base: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> liar_rules::Millis {
        let elapsed = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        liar_rules::Millis(self.base_millis.saturating_add(elapsed))
    }

    /// When `at` is reached on tokio's clock (at once when it has passed).
    pub fn instant_of(&self, at: liar_rules::Millis) -> tokio::time::Instant {
        let ahead = u64::try_from(at.0.saturating_sub(self.base_millis)).unwrap_or(0);
        self.base + Duration::from_millis(ahead)
    }
}

/// Counts running tasks so shutdown can wait for them.
#[derive(Default)]
pub struct Tasks {
    running: AtomicUsize,
    idle: Notify,
}

impl Tasks {
    pub fn spawn(self: &Arc<Self>, task: impl Future<Output = ()> + Send + 'static) {
        self.running.fetch_add(1, Ordering::SeqCst);
        let tasks = self.clone();
        tokio::spawn(async move {
            struct Done(Arc<Tasks>);
            impl Drop for Done {
                fn drop(&mut self) {
                    if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                        self.0.idle.notify_waiters();
                    }
                }
            }
            let _done = Done(tasks);
            task.await;
        });
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Waits until no task runs; `false` when `limit` passed first.
    pub async fn wait(&self, limit: Duration) -> bool {
        let idle = async {
            loop {
                let notified = self.idle.notified();
                if self.running() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, idle).await.is_ok()
    }
}

pub struct Shared {
    dir: Mutex<Directory>,
    pub hub: Arc<Hub>,
    /// The live catalog: settings are checked and games dealt against its current snapshot.
    pub topics: Topics,
    pub results: Arc<dyn ResultStore>,
    pub rules: RoomRules,
    pub clock: Clock,
    pub saver: Saver,
    /// Result writes in flight (shutdown waits for them before the store closes).
    pub tasks: Arc<Tasks>,
    /// Room actors running.
    actors: Arc<Tasks>,
    stopping: watch::Sender<bool>,
    /// Cluster mode: rooms on the other nodes, and the Redlock of flows across rooms.
    pub remote: Option<Arc<Remote>>,
    /// Cluster mode: the lease length rooms are created and resumed with.
    pub lease_ms: i64,
}

/// What rooms need from the rest of the server.
pub struct RoomsConfig {
    pub hub: Arc<Hub>,
    pub hasher: Hasher,
    pub topics: Topics,
    pub results: Arc<dyn ResultStore>,
    pub store: Arc<dyn RoomStore>,
    pub rules: RoomRules,
    /// Cluster mode (SPEC §6.4).
    pub remote: Option<Arc<Remote>>,
    /// Cluster mode: the lease length of the rooms this node serves.
    pub lease_ms: i64,
}

impl Shared {
    fn dir(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.dir.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Whether this node may still serve a room whose lease holds until `lease` (milliseconds
    /// on tokio's clock since `clock.base`); always outside cluster mode.
    pub fn lease_ok(&self, lease: &AtomicU64) -> bool {
        if self.remote.is_none() {
            return true;
        }
        self.clock.base.elapsed().as_millis() < u128::from(lease.load(Ordering::SeqCst))
    }

    /// Until when a lease granted or renewed by a request sent at `sent` surely holds: counted
    /// from before the request, so never longer than the database's.
    fn lease_end(&self, sent: tokio::time::Instant) -> u64 {
        let from = sent.saturating_duration_since(self.clock.base).as_millis() as u64;
        from + self.lease_ms.max(0) as u64
    }

    pub fn set_member(&self, user: UserId, room: RoomId) {
        self.dir().members.insert(user, room);
    }

    /// Clears the member's directory entry only if it still names this room.
    pub fn clear_member(&self, user: UserId, room: RoomId) {
        let mut dir = self.dir();
        if dir.members.get(&user) == Some(&room) {
            dir.members.remove(&user);
        }
    }

    pub fn topic_known(&self, id: &str) -> bool {
        self.topics.snapshot().topic(id).is_some()
    }

    pub fn update_summary(&self, summary: RoomSummary) {
        let public = !summary.private;
        let event = json!({"type": "room.updated", "room": &summary});
        self.dir().list.insert(summary.room_id, summary);
        if public {
            self.hub.publish_lobby(to_bytes(&event));
        }
    }

    /// Forgets a room whose actor stopped; `announce` tells the lobby it is gone.
    pub fn remove_room(&self, room: RoomId, announce: bool, _closed: bool) {
        {
            let mut dir = self.dir();
            dir.rooms.remove(&room);
            dir.list.remove(&room);
            dir.codes.retain(|_, id| *id != room);
            dir.members.retain(|_, id| *id != room);
        }
        metrics::gauge!("liar_rooms").decrement(1.0);
        if announce {
            self.hub
                .publish_lobby(to_bytes(&json!({"type": "room.removed", "roomId": room})));
        }
    }
}

fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

#[derive(Clone)]
pub struct Rooms {
    shared: Arc<Shared>,
    store: Arc<dyn RoomStore>,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    hasher: Hasher,
}

impl Rooms {
    pub fn new(config: RoomsConfig) -> Rooms {
        let (saver, _task) = Saver::start(config.store.clone());
        Rooms {
            shared: Arc::new(Shared {
                dir: Mutex::new(Directory::default()),
                hub: config.hub,
                topics: config.topics,
                results: config.results,
                rules: config.rules,
                clock: Clock::system(),
                saver,
                tasks: Arc::default(),
                actors: Arc::default(),
                stopping: watch::channel(false).0,
                remote: config.remote,
                lease_ms: config.lease_ms,
            }),
            store: config.store,
            locks: Arc::new(
                (0..MEMBER_LOCKS)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            ),
            hasher: config.hasher,
        }
    }

    /// Loads every saved room and resumes it (SPEC §3 "Durable rooms"): same members, settings
    /// and game; deadlines as they were (a passed one fires at once); every member gets a fresh
    /// reconnect grace. A room that cannot be read is logged and closed. Returns how many rooms
    /// were resumed.
    pub async fn restore(&self) -> Result<usize, StoreError> {
        let saved = match &self.shared.remote {
            // A node resumes the rooms it served (rooms of other nodes are theirs).
            Some(remote) => {
                let sent = tokio::time::Instant::now();
                let saved = self
                    .store
                    .take_over_owned_rooms(remote.node(), self.shared.lease_ms)
                    .await?;
                return Ok(self.resume(saved, sent).await);
            }
            None => self.store.take_over_rooms().await?,
        };
        Ok(self.resume(saved, tokio::time::Instant::now()).await)
    }

    /// Resumes taken-over rooms, leased by a request sent at `sent`; returns how many run now.
    pub async fn resume(
        &self,
        saved: Vec<crate::store::SavedRoom>,
        sent: tokio::time::Instant,
    ) -> usize {
        let mut resumed = 0;
        for s in saved {
            match Room::from_saved(s.format, &s.state, s.epoch, s.events) {
                Ok(room) if !room.is_closed() => {
                    self.spawn(room, Vec::new(), true, sent);
                    resumed += 1;
                }
                Ok(_) => {
                    self.forget_unreadable(s.id, s.epoch, &s.state, "closed")
                        .await
                }
                Err(e) => {
                    tracing::error!(room = s.id, error = %e, "a saved room cannot be read; it is closed");
                    self.forget_unreadable(s.id, s.epoch, &s.state, &e).await;
                }
            }
        }
        metrics::counter!("liar_rooms_restored_total").increment(resumed as u64);
        resumed
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.shared.stopping()
    }

    /// Cluster mode: the rooms this node runs.
    pub fn local_rooms(&self) -> Vec<RoomId> {
        self.shared.dir().rooms.keys().copied().collect()
    }

    /// Cluster mode: another node owns `room` now; its actor here stops at once.
    pub async fn lose(&self, room: RoomId) {
        let inbox = self.shared.dir().rooms.get(&room).map(|e| e.inbox.clone());
        if let Some(inbox) = inbox {
            tracing::warn!(
                room,
                "the room's lease was lost; another node serves it now"
            );
            let _ = inbox.send(Command::Stop).await;
        }
    }

    /// Cluster mode: the leases of `rooms` were renewed by a request sent at `sent`.
    pub fn renewed(&self, rooms: &[RoomId], sent: tokio::time::Instant) {
        let end = self.shared.lease_end(sent);
        let dir = self.shared.dir();
        for room in rooms {
            if let Some(entry) = dir.rooms.get(room) {
                entry.lease.fetch_max(end, Ordering::SeqCst);
            }
        }
    }

    pub fn store(&self) -> &Arc<dyn RoomStore> {
        &self.store
    }

    /// Deletes a saved room that cannot be resumed and tells its members, as far as they can
    /// be read, that it is closed.
    async fn forget_unreadable(&self, id: RoomId, epoch: i64, state: &str, why: &str) {
        let delete = crate::store::RoomWrite {
            id,
            epoch,
            seq: 0,
            format: super::state::ROOM_FORMAT,
            state: None,
            events: Vec::new(),
            prune_through: None,
            saved_at: self.shared.clock.now().0,
            summary: None,
            unseated: Vec::new(),
        };
        if let Err(e) = self.store.save_rooms(&[delete]).await {
            tracing::error!(room = id, error = %e, "could not delete an unreadable room");
        }
        let body = json!({"type": "room.closed", "roomId": id, "reason": "unreadable"});
        for user in Room::members_of_unreadable(state) {
            self.shared.hub.send_to_user(user, to_bytes(&body));
        }
        tracing::warn!(room = id, why, "saved room closed");
    }

    /// Stops every room: queued commands are refused, pending saves finish and their events go
    /// out; result writes in flight get until `limit`. The rooms stay saved for the next start.
    pub async fn shutdown(&self, limit: Duration) {
        let _ = self.shared.stopping.send(true);
        let deadline = tokio::time::Instant::now() + limit;
        if !self.shared.actors.wait(limit).await {
            tracing::warn!(
                rooms = self.shared.actors.running(),
                "rooms still stopping at the deadline"
            );
        }
        if let Some(remote) = &self.shared.remote {
            // Hand the rooms over now: another node takes them at its next scan, instead of
            // after the lease.
            match self.store.release_leases(remote.node()).await {
                Ok(n) => tracing::info!(rooms = n, "room leases released for the other nodes"),
                Err(e) => tracing::warn!(error = %e, "could not release the room leases; \
                    the other nodes take the rooms over when the leases pass"),
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !self.shared.tasks.wait(left).await {
            tracing::warn!(
                writes = self.shared.tasks.running(),
                "result writes still running at the deadline; they resume at the next start"
            );
        }
    }

    /// Cluster mode's side of rooms on other nodes.
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.shared.remote.as_ref()
    }

    /// Whether the last room save went through (for `/readyz`).
    pub fn saving(&self) -> bool {
        self.shared.saver.healthy()
    }

    fn lock_for(&self, user: UserId) -> &tokio::sync::Mutex<()> {
        &self.locks[(user.unsigned_abs() as usize) % MEMBER_LOCKS]
    }

    /// The member's turn for flows that span rooms: a process-local lock, and in cluster mode
    /// a Redlock on the member, whose fencing value the directory rows carry.
    async fn lock_member(&self, user: UserId) -> Result<MemberLock<'_>, RoomError> {
        let local = self.lock_for(user).lock().await;
        let cluster = match &self.shared.remote {
            Some(remote) => Some(remote.locks.lock(&format!("member:{user}")).await?),
            None => None,
        };
        Ok(MemberLock {
            _local: local,
            cluster,
        })
    }

    async fn unlock_member(&self, lock: MemberLock<'_>) {
        if let (Some(remote), Some(guard)) = (&self.shared.remote, lock.cluster) {
            remote.locks.release(guard).await;
        }
    }

    /// The member's room as this node knows it (its own rooms only, in cluster mode).
    pub fn room_of(&self, user: UserId) -> Option<RoomId> {
        self.shared.dir().members.get(&user).copied()
    }

    /// The member's room, wherever it is served.
    pub async fn current_room(&self, user: UserId) -> Result<Option<RoomId>, RoomError> {
        if self.shared.remote.is_none() {
            return Ok(self.room_of(user));
        }
        Ok(self.directory_row(user).await?.map(|(room, _)| room))
    }

    /// Cluster mode: the member's directory row `(room, fence)`.
    async fn directory_row(&self, user: UserId) -> Result<Option<(RoomId, i64)>, RoomError> {
        self.store.member_room(user).await.map_err(unavailable)
    }

    /// A room id from its number or its 6-letter join code.
    pub async fn resolve(&self, id_or_code: &str) -> Option<RoomId> {
        if let Ok(id) = id_or_code.parse::<RoomId>() {
            return Some(id);
        }
        let code = id_or_code.to_ascii_uppercase();
        if let Some(id) = self.shared.dir().codes.get(&code).copied() {
            return Some(id);
        }
        if self.shared.remote.is_some() && code.len() == CODE_LEN {
            return self.store.room_by_code(&code).await.ok().flatten();
        }
        None
    }

    pub fn count(&self) -> usize {
        self.shared.dir().rooms.len()
    }

    /// Where a room is served: here (its inbox) or on another node.
    async fn place(&self, room: RoomId) -> Result<Place, RoomError> {
        let inbox = self.shared.dir().rooms.get(&room).map(|e| e.inbox.clone());
        if let Some(inbox) = inbox {
            return Ok(Place::Here(inbox));
        }
        let Some(remote) = &self.shared.remote else {
            return Err(RoomError::NotFound);
        };
        let node = match remote.cached_owner(room) {
            Some(node) => node,
            None => self.owner_from_database(remote, room).await?,
        };
        if node == remote.node() {
            // Saved as ours but not running here: its lease is passing to a node that will
            // resume it (this one or another); ask again in a moment.
            remote.forget_owner(room);
            return Err(RoomError::Unavailable);
        }
        Ok(Place::There(remote.clone(), node))
    }

    async fn owner_from_database(
        &self,
        remote: &Remote,
        room: RoomId,
    ) -> Result<String, RoomError> {
        let read = tokio::time::Instant::now();
        let owner = self
            .store
            .room_owner(room)
            .await
            .map_err(unavailable)?
            .ok_or(RoomError::NotFound)?;
        remote.remember_owner(room, owner.clone(), read);
        Ok(owner)
    }

    /// Forwards `ask` to the node serving `room`. When that node does not answer and the
    /// database names another owner now (the room moved meanwhile), asks that one once.
    async fn forward(
        &self,
        remote: &Remote,
        node: &str,
        room: RoomId,
        ask: Ask,
    ) -> Result<Answer, RoomError> {
        let answer = remote.call(node, room, ask.clone()).await;
        match answer {
            Err(RoomError::NotFound) => {
                remote.forget_owner(room);
                answer
            }
            Err(RoomError::Unavailable) => {
                remote.forget_owner(room);
                match self.owner_from_database(remote, room).await {
                    Ok(now) if now != node && now != remote.node() => {
                        remote.call(&now, room, ask).await
                    }
                    // The room is gone.
                    Err(RoomError::NotFound) => Err(RoomError::NotFound),
                    _ => answer,
                }
            }
            other => other,
        }
    }

    async fn ask_local<T>(
        inbox: mpsc::Sender<Command>,
        make: impl FnOnce(ReplyTx<T>) -> Command,
    ) -> Result<T, RoomError> {
        let (tx, rx) = oneshot::channel();
        inbox
            .send(make(tx))
            .await
            .map_err(|_| RoomError::NotFound)?;
        // A dropped reply means the room ended (or its handler panicked) meanwhile.
        match tokio::time::timeout(ASK_TIMEOUT, rx).await {
            Ok(reply) => reply.map_err(|_| RoomError::NotFound)?,
            Err(_) => Err(RoomError::Unavailable),
        }
    }

    fn local_inbox(&self, room: RoomId) -> Result<mpsc::Sender<Command>, RoomError> {
        self.shared
            .dir()
            .rooms
            .get(&room)
            .map(|e| e.inbox.clone())
            .ok_or(RoomError::NotFound)
    }

    /// Sends an input to a room and waits for the answer.
    async fn step(&self, room: RoomId, input: Input) -> Result<Reply, RoomError> {
        match self.place(room).await? {
            Place::Here(inbox) => {
                Self::ask_local(inbox, |reply| Command::Step {
                    input,
                    reply: Some(reply),
                })
                .await
            }
            Place::There(remote, node) => {
                let input = WireInput::of(input).ok_or(RoomError::Internal)?;
                let ask = Ask::Step { input, reply: true };
                match self.forward(&remote, &node, room, ask).await? {
                    Answer::Reply { reply } => Ok(reply.into()),
                    _ => Err(RoomError::Internal),
                }
            }
        }
    }

    async fn step_done(&self, room: RoomId, input: Input) -> Result<(), RoomError> {
        self.step(room, input).await.map(|_| ())
    }

    /// Sends an input to a room without waiting.
    async fn tell(&self, room: RoomId, input: Input) {
        match self.place(room).await {
            Ok(Place::Here(inbox)) => {
                let _ = inbox.send(Command::Step { input, reply: None }).await;
            }
            Ok(Place::There(remote, node)) => {
                if let Some(input) = WireInput::of(input) {
                    remote.tell(
                        &node,
                        room,
                        Ask::Step {
                            input,
                            reply: false,
                        },
                    );
                }
            }
            Err(_) => {}
        }
    }

    /// Creates a room with `host` seated, after he leaves his previous room.
    pub async fn create(
        &self,
        host: Person,
        name: Option<&str>,
        password: Option<&str>,
        settings: Option<&Value>,
    ) -> Result<(RoomId, String), RoomError> {
        let mut errors = Vec::new();
        let name = check_name(name).map_err(|e| errors.push(e)).ok();
        let password = password
            .filter(|p| !p.is_empty())
            .map(|p| Password::for_login(p).map_err(|e| errors.push(e)).ok());
        let settings = match settings {
            Some(patch) => RoomSettings::default()
                .patched(patch, |t| self.shared.topic_known(t))
                .map_err(|e| errors.extend(e))
                .ok(),
            None => Some(RoomSettings::default()),
        };
        let (Some(name), Some(settings)) = (name, settings) else {
            return Err(RoomError::Validation(errors));
        };
        if !errors.is_empty() {
            return Err(RoomError::Validation(errors));
        }
        let password_hash = match password.flatten() {
            Some(p) => Some(self.hasher.hash(p).await.map_err(|_| RoomError::Internal)?),
            None => None,
        };
        let lock = self.lock_member(host.id).await?;
        let fence = lock.fence();
        let created = async {
            self.leave_current(host.id, None).await?;
            let reserved_at = tokio::time::Instant::now();
            let (id, code) = self.reserve().await?;
            if let Some(fence) = fence {
                // Cluster mode: the directory row first; the database keeps one per member.
                let claimed = self
                    .store
                    .claim_member(host.id, id, fence)
                    .await
                    .map_err(unavailable)?;
                if !claimed {
                    return Err(RoomError::Unavailable);
                }
            }
            let new = NewRoom {
                id,
                code: code.clone(),
                name,
                password_hash,
                host,
                settings,
            };
            // In cluster mode his sockets may be on another node; creating a room is
            // something a connected member does, as joining is.
            let online = self.shared.remote.is_some() || self.shared.hub.is_online(new.host.id);
            let (room, first) = {
                let catalog = self.shared.topics.snapshot();
                let mut rng =
                    <liar_rules::rand::rngs::StdRng as liar_rules::rand::SeedableRng>::from_rng(
                        &mut liar_rules::rand::rng(),
                    );
                let mut ctx = Ctx {
                    now: self.shared.clock.now(),
                    rng: &mut rng,
                    topics: &catalog,
                    rules: &self.shared.rules,
                };
                Room::new(new, online, &mut ctx)
            };
            self.spawn(room, first, false, reserved_at);
            Ok((id, code))
        }
        .await;
        self.unlock_member(lock).await;
        let (id, code) = created?;
        // Answer only once the new room is saved: a created room survives a crash.
        self.view(id).await?;
        Ok((id, code))
    }

    /// A new room id with a join code no saved room has.
    async fn reserve(&self) -> Result<(RoomId, String), RoomError> {
        for _ in 0..CODE_ATTEMPTS {
            let code = random_code();
            let now = self.shared.clock.now().0;
            let reserved = match &self.shared.remote {
                Some(remote) => {
                    self.store
                        .create_owned_room(&code, remote.node(), self.shared.lease_ms, now)
                        .await
                }
                None => self.store.create_room(&code, now).await,
            };
            match reserved {
                Ok(Some(id)) => return Ok((id, code)),
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "could not reserve a room");
                    return Err(RoomError::Unavailable);
                }
            }
        }
        Err(RoomError::Internal)
    }

    /// Registers a room and starts its actor; `first` are its creation's outputs.
    /// `leased`: when the request that leased the room to this node was sent (cluster mode).
    fn spawn(
        &self,
        room: Room,
        first: Vec<super::state::Output>,
        resumed: bool,
        leased: tokio::time::Instant,
    ) {
        let id = room.id();
        let lease = Arc::new(AtomicU64::new(self.shared.lease_end(leased)));
        let (tx, rx) = mpsc::channel(INBOX);
        let summary = room.summary();
        {
            let mut dir = self.shared.dir();
            dir.codes.insert(room.code().to_owned(), id);
            dir.rooms.insert(
                id,
                Entry {
                    inbox: tx.clone(),
                    lease: lease.clone(),
                    password_hash: room.password_hash().map(Arc::from),
                },
            );
            for member in room.member_ids() {
                dir.members.insert(member, id);
            }
            dir.list.insert(id, summary.clone());
        }
        metrics::gauge!("liar_rooms").increment(1.0);
        if !summary.private && !resumed {
            self.shared
                .hub
                .publish_lobby(to_bytes(&json!({"type": "room.created", "room": summary})));
        }
        let actor = RoomActor::new(room, self.shared.clone(), tx.downgrade(), lease);
        self.shared.actors.spawn(actor.run(rx, first, resumed));
    }

    /// Leaves the member's current room (other than `except`); refuses while he plays a game.
    async fn leave_current(&self, user: UserId, except: Option<RoomId>) -> Result<(), RoomError> {
        let (current, row) = if self.shared.remote.is_some() {
            match self.directory_row(user).await? {
                Some((room, fence)) => (room, Some(fence)),
                None => return Ok(()),
            }
        } else {
            match self.room_of(user) {
                Some(room) => (room, None),
                None => return Ok(()),
            }
        };
        if Some(current) == except {
            return Ok(());
        }
        match self.step(current, Input::Move(user)).await {
            // The room's save removed his directory row (cluster mode).
            Ok(_) => Ok(()),
            Err(RoomError::NotFound) | Err(RoomError::NotAMember) => {
                if let Some(fence) = row {
                    // A row left behind (its room is gone): released only as it was read.
                    self.store
                        .release_member(user, current, fence)
                        .await
                        .map_err(unavailable)?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Checks a join password against the room's, wherever it is served.
    async fn check_password(&self, room: RoomId, password: Option<&str>) -> Result<(), RoomError> {
        match self.place(room).await? {
            Place::Here(_) => self.check_password_here(room, password).await,
            Place::There(remote, node) => {
                let ask = Ask::Password {
                    password: password.map(str::to_owned),
                };
                self.forward(&remote, &node, room, ask).await.map(|_| ())
            }
        }
    }

    async fn check_password_here(
        &self,
        room: RoomId,
        password: Option<&str>,
    ) -> Result<(), RoomError> {
        let password_hash = {
            let dir = self.shared.dir();
            let entry = dir.rooms.get(&room).ok_or(RoomError::NotFound)?;
            entry.password_hash.clone()
        };
        let Some(hash) = password_hash else {
            return Ok(());
        };
        let given = password
            .and_then(|p| Password::for_login(p).ok())
            .ok_or(RoomError::WrongPassword)?;
        let ok = self
            .hasher
            .verify(given, Some(hash.to_string()))
            .await
            .map_err(|_| RoomError::Internal)?;
        if ok {
            Ok(())
        } else {
            Err(RoomError::WrongPassword)
        }
    }

    pub async fn join(
        &self,
        who: Person,
        room: RoomId,
        password: Option<&str>,
    ) -> Result<JoinOutcome, RoomError> {
        // Fails early (ROOM_NOT_FOUND) before any lock is taken.
        self.place(room).await?;
        let lock = self.lock_member(who.id).await?;
        let joined = self.join_locked(who, room, password, lock.fence()).await;
        self.unlock_member(lock).await;
        joined
    }

    async fn join_locked(
        &self,
        who: Person,
        room: RoomId,
        password: Option<&str>,
        fence: Option<i64>,
    ) -> Result<JoinOutcome, RoomError> {
        let user = who.id;
        if self.current_room(user).await? == Some(room) {
            return match self.step(room, Input::Join(who)).await? {
                Reply::Joined => Ok(JoinOutcome::Joined),
                _ => Ok(JoinOutcome::AlreadyMember),
            };
        }
        self.check_password(room, password).await?;
        self.leave_current(user, Some(room)).await?;
        if let Some(fence) = fence {
            let claimed = self
                .store
                .claim_member(user, room, fence)
                .await
                .map_err(unavailable)?;
            if !claimed {
                // Another flow seated him meanwhile (a lock that expired under it).
                return Err(RoomError::Unavailable);
            }
        }
        let joined = self.step(room, Input::Join(who)).await;
        if let (Err(_), Some(fence)) = (&joined, fence)
            && let Err(e) = self.store.release_member(user, room, fence).await
        {
            tracing::warn!(error = %e, user, room, "could not release a refused join's directory row");
        }
        match joined? {
            Reply::AlreadyMember => Ok(JoinOutcome::AlreadyMember),
            _ => Ok(JoinOutcome::Joined),
        }
    }

    pub async fn leave(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        let lock = self.lock_member(user).await?;
        let left = self.step_done(room, Input::Leave(user)).await;
        self.unlock_member(lock).await;
        left
    }

    pub async fn ready(&self, user: UserId, room: RoomId, ready: bool) -> Result<(), RoomError> {
        self.step_done(room, Input::Ready { user, ready }).await
    }

    pub async fn settings(
        &self,
        user: UserId,
        room: RoomId,
        patch: Value,
    ) -> Result<(), RoomError> {
        self.step_done(room, Input::Settings { user, patch }).await
    }

    pub async fn kick(&self, user: UserId, room: RoomId, target: UserId) -> Result<(), RoomError> {
        self.step_done(room, Input::Kick { user, target }).await
    }

    pub async fn chat(&self, user: UserId, room: RoomId, text: String) -> Result<(), RoomError> {
        self.step_done(room, Input::Chat { user, text }).await
    }

    pub async fn delete(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        self.step_done(room, Input::Delete(user)).await
    }

    pub async fn start(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        self.step_done(room, Input::Start(user)).await
    }

    pub async fn play(
        &self,
        user: UserId,
        room: RoomId,
        command: liar_rules::Command,
    ) -> Result<(), RoomError> {
        self.step_done(room, Input::Play { user, command }).await
    }

    /// Asks the member's room to re-send his private game state (after he resubscribed).
    pub async fn resync(&self, user: UserId) {
        let Ok(Some(room)) = self.current_room(user).await else {
            return;
        };
        match self.place(room).await {
            Ok(Place::Here(inbox)) => {
                let _ = inbox.send(Command::Resync { user }).await;
            }
            Ok(Place::There(remote, node)) => remote.tell(&node, room, Ask::Resync { user }),
            Err(_) => {}
        }
    }

    /// The member's room as a `room.snapshot` (for a private queue that fell behind).
    pub async fn snapshot_of(&self, user: UserId) -> Option<Bytes> {
        let room = self.current_room(user).await.ok()??;
        let view = self.view(room).await.ok()?;
        let body = json!({
            "type": "room.snapshot", "seq": view.seq, "epoch": view.epoch,
            "roomId": view.room_id, "room": view,
        });
        Some(to_bytes(&body))
    }

    /// The public room list as one `lobby.snapshot` (for a lobby subscriber that fell behind).
    pub async fn lobby_snapshot(&self) -> Bytes {
        let items = match self.list(None, None, None, LOBBY_SNAPSHOT).await {
            Ok((items, _)) => items,
            Err(_) => Vec::new(),
        };
        to_bytes(&json!({"type": "lobby.snapshot", "items": items}))
    }

    pub async fn view(&self, room: RoomId) -> Result<RoomView, RoomError> {
        match self.place(room).await? {
            Place::Here(inbox) => Self::ask_local(inbox, |reply| Command::View { reply }).await,
            Place::There(remote, node) => {
                match self.forward(&remote, &node, room, Ask::View).await? {
                    Answer::View { view } => Ok(*view),
                    _ => Err(RoomError::Internal),
                }
            }
        }
    }

    pub async fn subscribe(
        &self,
        user: UserId,
        room: RoomId,
        since: Option<u64>,
    ) -> Result<Subscription, RoomError> {
        match self.place(room).await? {
            Place::Here(inbox) => {
                Self::ask_local(inbox, |reply| Command::Subscribe {
                    user,
                    since,
                    node: None,
                    reply,
                })
                .await
            }
            Place::There(remote, node) => {
                // Listen first, then ask: whatever is published after the answer's `through`
                // is in `live` (with some before it, which the subscriber skips).
                let live = remote.bridge(room);
                let ask = Ask::Subscribe { user, since };
                match self.forward(&remote, &node, room, ask).await? {
                    Answer::Subscribed { first, through } => Ok(Subscription {
                        first: first.into_iter().map(Bytes::from).collect(),
                        live,
                        through,
                    }),
                    _ => Err(RoomError::Internal),
                }
            }
        }
    }

    /// Tells the member's room that his last socket closed or his first one opened.
    pub async fn presence(&self, user: UserId, online: bool) {
        let Ok(Some(room)) = self.current_room(user).await else {
            return;
        };
        self.tell(room, Input::Presence { user, online }).await;
    }

    /// One page of public rooms, newest first. `cursor` is the last room id of the previous page.
    pub async fn list(
        &self,
        q: Option<&str>,
        status: Option<RoomStatus>,
        cursor: Option<RoomId>,
        limit: usize,
    ) -> Result<(Vec<RoomSummary>, Option<RoomId>), RoomError> {
        if self.shared.remote.is_some() {
            // Cluster mode: every node's rooms, from the database.
            let rows = self.store.room_summaries().await.map_err(unavailable)?;
            let all: BTreeMap<RoomId, RoomSummary> = rows
                .into_iter()
                .filter_map(|(id, json)| Some((id, serde_json::from_str(&json).ok()?)))
                .collect();
            return Ok(page(&all, q, status, cursor, limit));
        }
        let dir = self.shared.dir();
        Ok(page(&dir.list, q, status, cursor, limit))
    }
}

/// The room's place: its inbox here, or the node serving it.
enum Place {
    Here(mpsc::Sender<Command>),
    There(Arc<Remote>, String),
}

/// A member's turn for flows across rooms (see [`Rooms::lock_member`]).
struct MemberLock<'a> {
    _local: tokio::sync::MutexGuard<'a, ()>,
    cluster: Option<super::remote::LockGuard>,
}

impl MemberLock<'_> {
    fn fence(&self) -> Option<i64> {
        self.cluster.as_ref().map(|g| g.fence)
    }
}

fn unavailable(e: StoreError) -> RoomError {
    tracing::warn!(error = %e, "the room directory is not answering");
    RoomError::Unavailable
}

fn page(
    list: &BTreeMap<RoomId, RoomSummary>,
    q: Option<&str>,
    status: Option<RoomStatus>,
    cursor: Option<RoomId>,
    limit: usize,
) -> (Vec<RoomSummary>, Option<RoomId>) {
    let q = q.map(str::to_lowercase).filter(|q| !q.is_empty());
    let upper = cursor.unwrap_or(RoomId::MAX);
    let mut items: Vec<RoomSummary> = list
        .range(..upper)
        .rev()
        .map(|(_, s)| s)
        .filter(|s| !s.private)
        .filter(|s| status.is_none_or(|st| s.status == st))
        .filter(|s| {
            q.as_ref().is_none_or(|q| {
                s.name.to_lowercase().contains(q) || s.host_name.to_lowercase().contains(q)
            })
        })
        .take(limit + 1)
        .cloned()
        .collect();
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|s| s.room_id)
    });
    (items, next.flatten())
}

/// The owner's side of forwarded commands, and the other nodes' lobby and private events.
#[async_trait::async_trait]
impl Serve for Rooms {
    async fn serve(&self, room: RoomId, ask: Ask, from: &str) -> Result<Answer, RoomError> {
        // Not running here (any more): the asker reads the owner again.
        let inbox = self.local_inbox(room).map_err(|_| RoomError::Unavailable)?;
        match ask {
            Ask::Step { input, reply } => {
                let input = input.into_input();
                if reply {
                    let reply = Self::ask_local(inbox, |reply| Command::Step {
                        input,
                        reply: Some(reply),
                    })
                    .await?;
                    Ok(Answer::Reply {
                        reply: reply.into(),
                    })
                } else {
                    let _ = inbox.send(Command::Step { input, reply: None }).await;
                    Ok(Answer::Done)
                }
            }
            Ask::View => {
                let view = Self::ask_local(inbox, |reply| Command::View { reply }).await?;
                Ok(Answer::View {
                    view: Box::new(view),
                })
            }
            Ask::Password { password } => {
                self.check_password_here(room, password.as_deref()).await?;
                Ok(Answer::Done)
            }
            Ask::Subscribe { user, since } => {
                let node = Some(from.to_owned());
                let sub = Self::ask_local(inbox, |reply| Command::Subscribe {
                    user,
                    since,
                    node,
                    reply,
                })
                .await?;
                Ok(Answer::Subscribed {
                    first: sub
                        .first
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect(),
                    through: sub.through,
                })
            }
            Ask::Resync { user } => {
                let _ = inbox.send(Command::Resync { user }).await;
                Ok(Answer::Done)
            }
        }
    }

    fn deliver_lobby(&self, json: Bytes) {
        self.shared.hub.deliver_lobby(json);
    }

    fn deliver_private(&self, user: UserId, json: Bytes) {
        self.shared.hub.deliver_to_user(user, json);
    }
}

fn check_name(name: Option<&str>) -> Result<String, FieldError> {
    let name = name.map(str::trim).unwrap_or_default();
    let n = name.chars().count();
    if n == 0 {
        return Err(FieldError::new("name", "REQUIRED", "room name is required"));
    }
    if n > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "INVALID",
            format!("room name must be 1–{NAME_MAX_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

fn random_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}
