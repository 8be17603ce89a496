//! `Rooms`: finds a room's actor (ARCHITECTURE.md `RoomRouter`), keeps the member → room
//! directory and the room list, runs the flows that span two rooms (moving from one room to
//! another) under a per-member lock, so one member is never seated in two rooms, restores every
//! saved room at start and stops every room at shutdown.

use bytes::Bytes;
use rand::RngExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use super::actor::{Command, ReplyTx, RoomActor};
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
}

/// What rooms need from the rest of the server.
pub struct RoomsConfig {
    pub hub: Arc<Hub>,
    pub hasher: Hasher,
    pub topics: Topics,
    pub results: Arc<dyn ResultStore>,
    pub store: Arc<dyn RoomStore>,
    pub rules: RoomRules,
}

impl Shared {
    fn dir(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.dir.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
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
        let saved = self.store.take_over_rooms().await?;
        let mut resumed = 0;
        for s in saved {
            match Room::from_saved(s.format, &s.state, s.epoch, s.events) {
                Ok(room) if !room.is_closed() => {
                    self.spawn(room, Vec::new(), true);
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
        Ok(resumed)
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
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !self.shared.tasks.wait(left).await {
            tracing::warn!(
                writes = self.shared.tasks.running(),
                "result writes still running at the deadline; they resume at the next start"
            );
        }
    }

    /// Whether the last room save went through (for `/readyz`).
    pub fn saving(&self) -> bool {
        self.shared.saver.healthy()
    }

    fn lock_for(&self, user: UserId) -> &tokio::sync::Mutex<()> {
        &self.locks[(user.unsigned_abs() as usize) % MEMBER_LOCKS]
    }

    pub fn room_of(&self, user: UserId) -> Option<RoomId> {
        self.shared.dir().members.get(&user).copied()
    }

    /// A room id from its number or its 6-letter join code.
    pub fn resolve(&self, id_or_code: &str) -> Option<RoomId> {
        if let Ok(id) = id_or_code.parse::<RoomId>() {
            return Some(id);
        }
        self.shared
            .dir()
            .codes
            .get(&id_or_code.to_ascii_uppercase())
            .copied()
    }

    pub fn count(&self) -> usize {
        self.shared.dir().rooms.len()
    }

    async fn ask<T>(
        &self,
        room: RoomId,
        make: impl FnOnce(ReplyTx<T>) -> Command,
    ) -> Result<T, RoomError> {
        let inbox = self
            .shared
            .dir()
            .rooms
            .get(&room)
            .map(|e| e.inbox.clone())
            .ok_or(RoomError::NotFound)?;
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

    /// Sends an input to a room and waits for the answer.
    async fn step(&self, room: RoomId, input: Input) -> Result<Reply, RoomError> {
        self.ask(room, |reply| Command::Step {
            input,
            reply: Some(reply),
        })
        .await
    }

    async fn step_done(&self, room: RoomId, input: Input) -> Result<(), RoomError> {
        self.step(room, input).await.map(|_| ())
    }

    /// Sends an input to a room without waiting.
    async fn tell(&self, room: RoomId, command: Command) {
        let inbox = self.shared.dir().rooms.get(&room).map(|e| e.inbox.clone());
        if let Some(inbox) = inbox {
            let _ = inbox.send(command).await;
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
        let _guard = self.lock_for(host.id).lock().await;
        self.leave_current(host.id, None).await?;
        let (id, code) = self.reserve().await?;
        let new = NewRoom {
            id,
            code: code.clone(),
            name,
            password_hash,
            host,
            settings,
        };
        let online = self.shared.hub.is_online(new.host.id);
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
        self.spawn(room, first, false);
        // Answer only once the new room is saved: a created room survives a crash.
        self.view(id).await?;
        Ok((id, code))
    }

    /// A new room id with a join code no saved room has.
    async fn reserve(&self) -> Result<(RoomId, String), RoomError> {
        for _ in 0..CODE_ATTEMPTS {
            let code = random_code();
            match self
                .store
                .create_room(&code, self.shared.clock.now().0)
                .await
            {
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
    fn spawn(&self, room: Room, first: Vec<super::state::Output>, resumed: bool) {
        let id = room.id();
        let (tx, rx) = mpsc::channel(INBOX);
        let summary = room.summary();
        {
            let mut dir = self.shared.dir();
            dir.codes.insert(room.code().to_owned(), id);
            dir.rooms.insert(
                id,
                Entry {
                    inbox: tx.clone(),
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
        let actor = RoomActor::new(room, self.shared.clone(), tx.downgrade());
        self.shared.actors.spawn(actor.run(rx, first, resumed));
    }

    /// Leaves the member's current room (other than `except`); refuses while he plays a game.
    async fn leave_current(&self, user: UserId, except: Option<RoomId>) -> Result<(), RoomError> {
        let Some(current) = self.room_of(user) else {
            return Ok(());
        };
        if Some(current) == except {
            return Ok(());
        }
        match self.step(current, Input::Move(user)).await {
            Ok(_) | Err(RoomError::NotFound) | Err(RoomError::NotAMember) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn join(
        &self,
        who: Person,
        room: RoomId,
        password: Option<&str>,
    ) -> Result<JoinOutcome, RoomError> {
        let password_hash = {
            let dir = self.shared.dir();
            let entry = dir.rooms.get(&room).ok_or(RoomError::NotFound)?;
            entry.password_hash.clone()
        };
        let _guard = self.lock_for(who.id).lock().await;
        if self.room_of(who.id) == Some(room) {
            return Ok(JoinOutcome::AlreadyMember);
        }
        if let Some(hash) = password_hash {
            let given = password
                .and_then(|p| Password::for_login(p).ok())
                .ok_or(RoomError::WrongPassword)?;
            let ok = self
                .hasher
                .verify(given, Some(hash.to_string()))
                .await
                .map_err(|_| RoomError::Internal)?;
            if !ok {
                return Err(RoomError::WrongPassword);
            }
        }
        self.leave_current(who.id, Some(room)).await?;
        match self.step(room, Input::Join(who)).await? {
            Reply::AlreadyMember => Ok(JoinOutcome::AlreadyMember),
            _ => Ok(JoinOutcome::Joined),
        }
    }

    pub async fn leave(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        let _guard = self.lock_for(user).lock().await;
        self.step_done(room, Input::Leave(user)).await
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
        let Some(room) = self.room_of(user) else {
            return;
        };
        self.tell(room, Command::Resync { user }).await;
    }

    /// The member's room as a `room.snapshot` (for a private queue that fell behind).
    pub async fn snapshot_of(&self, user: UserId) -> Option<Bytes> {
        let room = self.room_of(user)?;
        let view = self.view(room).await.ok()?;
        let body = json!({
            "type": "room.snapshot", "seq": view.seq, "epoch": view.epoch,
            "roomId": view.room_id, "room": view,
        });
        Some(to_bytes(&body))
    }

    /// The public room list as one `lobby.snapshot` (for a lobby subscriber that fell behind).
    pub fn lobby_snapshot(&self) -> Bytes {
        let (items, _) = self.list(None, None, None, LOBBY_SNAPSHOT);
        to_bytes(&json!({"type": "lobby.snapshot", "items": items}))
    }

    pub async fn view(&self, room: RoomId) -> Result<RoomView, RoomError> {
        self.ask(room, |reply| Command::View { reply }).await
    }

    pub async fn subscribe(
        &self,
        user: UserId,
        room: RoomId,
        since: Option<u64>,
    ) -> Result<Subscription, RoomError> {
        self.ask(room, |reply| Command::Subscribe { user, since, reply })
            .await
    }

    /// Tells the member's room that his last socket closed or his first one opened.
    pub async fn presence(&self, user: UserId, online: bool) {
        let Some(room) = self.room_of(user) else {
            return;
        };
        let input = Input::Presence { user, online };
        self.tell(room, Command::Step { input, reply: None }).await;
    }

    /// One page of public rooms, newest first. `cursor` is the last room id of the previous page.
    pub fn list(
        &self,
        q: Option<&str>,
        status: Option<RoomStatus>,
        cursor: Option<RoomId>,
        limit: usize,
    ) -> (Vec<RoomSummary>, Option<RoomId>) {
        let q = q.map(str::to_lowercase).filter(|q| !q.is_empty());
        let dir = self.shared.dir();
        let upper = cursor.unwrap_or(RoomId::MAX);
        let mut items: Vec<RoomSummary> = dir
            .list
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
