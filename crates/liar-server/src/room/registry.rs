//! `Rooms`: finds a room's actor (ARCHITECTURE.md `RoomRouter`), keeps the member → room
//! directory and the room list, and runs the flows that span two rooms (moving from one room to
//! another) under a per-member lock, so one member is never seated in two rooms.

use bytes::Bytes;
use rand::RngExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::actor::{Command, NewRoom, RoomActor};
use super::{
    Person, RoomError, RoomFrame, RoomId, RoomSettings, RoomStatus, RoomSummary, RoomView,
};
use crate::auth::password::Hasher;
use crate::config::WindowRule;
use crate::domain::{Password, UserId};
use crate::error::FieldError;
use crate::hub::Hub;
use crate::store::ResultStore;
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

pub struct Shared {
    dir: Mutex<Directory>,
    pub hub: Arc<Hub>,
    pub grace: Duration,
    pub deal_secs: u32,
    pub result_display: Duration,
    pub chat_limit: WindowRule,
    /// The live catalog: settings are checked and games dealt against its current snapshot.
    pub topics: Topics,
    pub results: Arc<dyn ResultStore>,
}

/// What rooms need from the rest of the server.
pub struct RoomsConfig {
    pub hub: Arc<Hub>,
    pub hasher: Hasher,
    pub topics: Topics,
    pub results: Arc<dyn ResultStore>,
    /// Reconnect grace (SPEC §2.3, §3).
    pub grace: Duration,
    /// Time to read the card before the first hint.
    pub deal_secs: u32,
    /// Time the result stays up before the room waits again (SPEC §3: 10 s).
    pub result_display: Duration,
    /// Chat messages per member (SPEC §4: 5 per 5 s).
    pub chat_limit: WindowRule,
}

impl Shared {
    fn dir(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.dir.lock().unwrap_or_else(|p| p.into_inner())
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

    pub fn remove_room(&self, room: RoomId, public: bool) {
        {
            let mut dir = self.dir();
            dir.rooms.remove(&room);
            dir.list.remove(&room);
            dir.codes.retain(|_, id| *id != room);
            dir.members.retain(|_, id| *id != room);
        }
        metrics::gauge!("liar_rooms").decrement(1.0);
        if public {
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
    next_id: Arc<AtomicI64>,
    locks: Arc<Vec<tokio::sync::Mutex<()>>>,
    hasher: Hasher,
}

impl Rooms {
    pub fn new(config: RoomsConfig) -> Rooms {
        let hasher = config.hasher;
        Rooms {
            shared: Arc::new(Shared {
                dir: Mutex::new(Directory::default()),
                hub: config.hub,
                grace: config.grace,
                deal_secs: config.deal_secs,
                result_display: config.result_display,
                chat_limit: config.chat_limit,
                topics: config.topics,
                results: config.results,
            }),
            next_id: Arc::new(AtomicI64::new(1)),
            locks: Arc::new(
                (0..MEMBER_LOCKS)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            ),
            hasher,
        }
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
        make: impl FnOnce(oneshot::Sender<Result<T, RoomError>>) -> Command,
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
        rx.await.map_err(|_| RoomError::NotFound)?
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
            Some(p) => Some(Arc::from(
                self.hasher.hash(p).await.map_err(|_| RoomError::Internal)?,
            )),
            None => None,
        };
        let _guard = self.lock_for(host.id).lock().await;
        self.leave_current(host.id, None).await?;
        Ok(self.spawn(host, name, password_hash, settings))
    }

    fn spawn(
        &self,
        host: Person,
        name: String,
        password_hash: Option<Arc<str>>,
        settings: RoomSettings,
    ) -> (RoomId, String) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(INBOX);
        let private = password_hash.is_some();
        let mut dir = self.shared.dir();
        let code = loop {
            let code = random_code();
            if !dir.codes.contains_key(&code) {
                break code;
            }
        };
        dir.codes.insert(code.clone(), id);
        dir.rooms.insert(
            id,
            Entry {
                inbox: tx.clone(),
                password_hash,
            },
        );
        drop(dir);
        let actor = RoomActor::new(
            NewRoom {
                id,
                code: code.clone(),
                name,
                private,
                host,
                settings,
            },
            self.shared.clone(),
            tx.downgrade(),
        );
        let summary = actor.summary();
        self.shared.dir().list.insert(id, summary.clone());
        metrics::gauge!("liar_rooms").increment(1.0);
        if !private {
            self.shared
                .hub
                .publish_lobby(to_bytes(&json!({"type": "room.created", "room": summary})));
        }
        tokio::spawn(actor.run(rx));
        (id, code)
    }

    /// Leaves the member's current room (other than `except`); refuses while he plays a game.
    async fn leave_current(&self, user: UserId, except: Option<RoomId>) -> Result<(), RoomError> {
        let Some(current) = self.room_of(user) else {
            return Ok(());
        };
        if Some(current) == except {
            return Ok(());
        }
        match self
            .ask(current, |reply| Command::Move { user, reply })
            .await
        {
            Ok(()) | Err(RoomError::NotFound) | Err(RoomError::NotAMember) => Ok(()),
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
        self.ask(room, |reply| Command::Join { who, reply }).await
    }

    pub async fn leave(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        let _guard = self.lock_for(user).lock().await;
        self.ask(room, |reply| Command::Leave { user, reply }).await
    }

    pub async fn ready(&self, user: UserId, room: RoomId, ready: bool) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Ready { user, ready, reply })
            .await
    }

    pub async fn settings(
        &self,
        user: UserId,
        room: RoomId,
        patch: Value,
    ) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Settings { user, patch, reply })
            .await
    }

    pub async fn kick(&self, user: UserId, room: RoomId, target: UserId) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Kick {
            user,
            target,
            reply,
        })
        .await
    }

    pub async fn chat(&self, user: UserId, room: RoomId, text: String) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Chat { user, text, reply })
            .await
    }

    pub async fn delete(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Delete { user, reply })
            .await
    }

    pub async fn start(&self, user: UserId, room: RoomId) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Start { user, reply }).await
    }

    pub async fn play(
        &self,
        user: UserId,
        room: RoomId,
        command: liar_rules::Command,
    ) -> Result<(), RoomError> {
        self.ask(room, |reply| Command::Play {
            user,
            command,
            reply,
        })
        .await
    }

    /// Asks the member's room to re-send his private game state (after he resubscribed).
    pub async fn resync(&self, user: UserId) {
        let Some(room) = self.room_of(user) else {
            return;
        };
        let inbox = self.shared.dir().rooms.get(&room).map(|e| e.inbox.clone());
        if let Some(inbox) = inbox {
            let _ = inbox.send(Command::Resync { user }).await;
        }
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
        let inbox = self.shared.dir().rooms.get(&room).map(|e| e.inbox.clone());
        if let Some(inbox) = inbox {
            let _ = inbox.send(Command::Presence { user, online }).await;
        }
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
