//! One task per live room. It alone owns the room: commands arrive on its inbox (requests carry
//! a oneshot reply), it applies them synchronously — nothing in `handle` awaits, so a slow
//! client can never stall it — and publishes events as shared bytes on the room's broadcast.
//! A panic while handling one command is caught and logged; the room goes on.

use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::registry::{JoinOutcome, Shared, Subscription};
use super::{
    MemberView, Person, RoomError, RoomFrame, RoomId, RoomSettings, RoomStatus, RoomSummary,
    RoomView,
};
use crate::domain::UserId;
use crate::error::FieldError;

/// Room events kept for `since-seq` replay.
pub const REPLAY_LOG: usize = 256;
/// Chat: at most this many messages per member per window (SPEC §4).
const CHAT_BURST: usize = 5;
const CHAT_WINDOW: Duration = Duration::from_secs(5);
/// Chat message length in characters (SPEC §4).
const CHAT_MAX_CHARS: usize = 300;

type Reply<T> = oneshot::Sender<Result<T, RoomError>>;

pub enum Command {
    Join {
        who: Person,
        reply: Reply<JoinOutcome>,
    },
    Leave {
        user: UserId,
        reply: Reply<()>,
    },
    /// Leave because the member is moving to another room.
    Move {
        user: UserId,
        reply: Reply<()>,
    },
    Ready {
        user: UserId,
        ready: bool,
        reply: Reply<()>,
    },
    Settings {
        user: UserId,
        patch: Value,
        reply: Reply<()>,
    },
    Kick {
        user: UserId,
        target: UserId,
        reply: Reply<()>,
    },
    Chat {
        user: UserId,
        text: String,
        reply: Reply<()>,
    },
    Delete {
        user: UserId,
        reply: Reply<()>,
    },
    View {
        reply: Reply<RoomView>,
    },
    Subscribe {
        user: UserId,
        since: Option<u64>,
        reply: Reply<Subscription>,
    },
    Presence {
        user: UserId,
        online: bool,
    },
    GraceExpired {
        user: UserId,
        generation: u64,
    },
}

struct Seat {
    id: UserId,
    username: String,
    ready: bool,
    connected: bool,
    /// The pending reconnect-grace timer, if any.
    grace: Option<u64>,
}

pub struct RoomActor {
    id: RoomId,
    code: String,
    name: String,
    private: bool,
    host: UserId,
    settings: RoomSettings,
    status: RoomStatus,
    seats: Vec<Seat>,
    kicked: HashSet<UserId>,
    seq: u64,
    log: VecDeque<(u64, Bytes)>,
    events: broadcast::Sender<RoomFrame>,
    chat: HashMap<UserId, VecDeque<Instant>>,
    timers: u64,
    inbox: mpsc::WeakSender<Command>,
    shared: Arc<Shared>,
    last_summary: Option<Value>,
    closed: bool,
}

pub struct NewRoom {
    pub id: RoomId,
    pub code: String,
    pub name: String,
    pub private: bool,
    pub host: Person,
    pub settings: RoomSettings,
}

impl RoomActor {
    pub fn new(room: NewRoom, shared: Arc<Shared>, inbox: mpsc::WeakSender<Command>) -> RoomActor {
        let mut actor = RoomActor {
            id: room.id,
            code: room.code,
            name: room.name,
            private: room.private,
            host: room.host.id,
            settings: room.settings,
            status: RoomStatus::Waiting,
            seats: Vec::new(),
            kicked: HashSet::new(),
            seq: 0,
            log: VecDeque::new(),
            events: broadcast::channel(REPLAY_LOG).0,
            chat: HashMap::new(),
            timers: 0,
            inbox,
            shared,
            last_summary: None,
            closed: false,
        };
        actor.seat(room.host);
        actor
    }

    pub fn summary(&self) -> RoomSummary {
        RoomSummary {
            room_id: self.id,
            code: self.code.clone(),
            name: self.name.clone(),
            host_id: self.host,
            host_name: self
                .seat_of(self.host)
                .map(|s| s.username.clone())
                .unwrap_or_default(),
            members: self.seats.len(),
            max_players: self.settings.max_players,
            status: self.status,
            private: self.private,
        }
    }

    pub async fn run(mut self, mut inbox: mpsc::Receiver<Command>) {
        self.last_summary = serde_json::to_value(self.summary()).ok();
        while let Some(command) = inbox.recv().await {
            let handled = std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(command)));
            if handled.is_err() {
                tracing::error!(room = self.id, "room command panicked; the room goes on");
            }
            if self.closed {
                break;
            }
            self.sync_lobby();
        }
        self.shared.remove_room(self.id, !self.private);
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Join { who, reply } => {
                let _ = reply.send(self.join(who));
            }
            Command::Leave { user, reply } => {
                let _ = reply.send(self.leave(user, "left"));
            }
            Command::Move { user, reply } => {
                let _ = reply.send(self.leave(user, "moved"));
            }
            Command::Ready { user, ready, reply } => {
                let _ = reply.send(self.ready(user, ready));
            }
            Command::Settings { user, patch, reply } => {
                let _ = reply.send(self.change_settings(user, &patch));
            }
            Command::Kick {
                user,
                target,
                reply,
            } => {
                let _ = reply.send(self.kick(user, target));
            }
            Command::Chat { user, text, reply } => {
                let _ = reply.send(self.chat(user, text));
            }
            Command::Delete { user, reply } => {
                let r = self.require_host(user).map(|()| self.close("deleted"));
                let _ = reply.send(r);
            }
            Command::View { reply } => {
                let _ = reply.send(Ok(self.view()));
            }
            Command::Subscribe { user, since, reply } => {
                let _ = reply.send(self.subscribe(user, since));
            }
            Command::Presence { user, online } => self.presence(user, online),
            Command::GraceExpired { user, generation } => self.grace_expired(user, generation),
        }
    }

    // ----- commands -----

    fn join(&mut self, who: Person) -> Result<JoinOutcome, RoomError> {
        if self.seat_of(who.id).is_some() {
            return Ok(JoinOutcome::AlreadyMember);
        }
        if self.kicked.contains(&who.id) {
            return Err(RoomError::Kicked);
        }
        if self.status == RoomStatus::Playing {
            return Err(RoomError::InGame);
        }
        if self.seats.len() >= self.settings.max_players as usize {
            return Err(RoomError::Full);
        }
        let (id, username) = (who.id, who.username.clone());
        self.seat(who);
        self.emit(json!({"type": "member.joined", "userId": id, "username": username}));
        Ok(JoinOutcome::Joined)
    }

    fn seat(&mut self, who: Person) {
        let connected = self.shared.hub.is_online(who.id);
        self.seats.push(Seat {
            id: who.id,
            username: who.username,
            ready: false,
            connected,
            grace: None,
        });
        self.shared.set_member(who.id, self.id);
        if !connected {
            self.start_grace(who.id);
        }
    }

    fn leave(&mut self, user: UserId, reason: &str) -> Result<(), RoomError> {
        self.seat_of(user).ok_or(RoomError::NotAMember)?;
        if self.status == RoomStatus::Playing {
            return Err(RoomError::InGame);
        }
        self.remove(user, reason);
        Ok(())
    }

    fn ready(&mut self, user: UserId, ready: bool) -> Result<(), RoomError> {
        self.require_lobby()?;
        let seat = self.seat_mut(user).ok_or(RoomError::NotAMember)?;
        if seat.ready != ready {
            seat.ready = ready;
            self.emit(json!({"type": "member.ready", "userId": user, "ready": ready}));
        }
        Ok(())
    }

    fn change_settings(&mut self, user: UserId, patch: &Value) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        let shared = self.shared.clone();
        let next = self
            .settings
            .patched(patch, |t| shared.topic_known(t))
            .map_err(RoomError::Validation)?;
        if (next.max_players as usize) < self.seats.len() {
            return Err(RoomError::Validation(vec![FieldError::new(
                "maxPlayers",
                "BELOW_MEMBERS",
                format!("the room already has {} members", self.seats.len()),
            )]));
        }
        if next != self.settings {
            self.settings = next;
            let settings = serde_json::to_value(&self.settings).unwrap_or(Value::Null);
            self.emit(json!({"type": "settings.changed", "settings": settings}));
        }
        Ok(())
    }

    fn kick(&mut self, user: UserId, target: UserId) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        if target == user {
            return Err(RoomError::Validation(vec![FieldError::new(
                "userId",
                "SELF_KICK",
                "the host cannot kick himself",
            )]));
        }
        self.seat_of(target).ok_or(RoomError::NotAMember)?;
        self.kicked.insert(target);
        self.seats.retain(|s| s.id != target);
        self.shared.clear_member(target, self.id);
        self.emit(json!({"type": "member.kicked", "userId": target}));
        let _ = self.events.send(RoomFrame::Evict(target));
        self.private_event(target, json!({"type": "room.kicked", "roomId": self.id}));
        Ok(())
    }

    fn chat(&mut self, user: UserId, text: String) -> Result<(), RoomError> {
        let username = self
            .seat_of(user)
            .ok_or(RoomError::NotAMember)?
            .username
            .clone();
        let text = text.trim().to_owned();
        let n = text.chars().count();
        if n == 0 || n > CHAT_MAX_CHARS {
            return Err(RoomError::Validation(vec![FieldError::new(
                "text",
                "LENGTH",
                format!("chat text must be 1–{CHAT_MAX_CHARS} characters"),
            )]));
        }
        let now = Instant::now();
        let sent = self.chat.entry(user).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= CHAT_WINDOW)
        {
            sent.pop_front();
        }
        if sent.len() >= CHAT_BURST {
            return Err(RoomError::RateLimited);
        }
        sent.push_back(now);
        let at = crate::clock::rfc3339_now();
        self.emit(
            json!({"type": "chat", "userId": user, "username": username, "text": text, "at": at}),
        );
        Ok(())
    }

    fn subscribe(&mut self, user: UserId, since: Option<u64>) -> Result<Subscription, RoomError> {
        self.seat_of(user).ok_or(RoomError::NotAMember)?;
        let first = match since {
            Some(n) if n == self.seq => Vec::new(),
            Some(n) if n < self.seq && self.log.front().is_some_and(|(s, _)| *s <= n + 1) => self
                .log
                .iter()
                .filter(|(s, _)| *s > n)
                .map(|(_, json)| json.clone())
                .collect(),
            _ => vec![self.snapshot()],
        };
        Ok(Subscription {
            first,
            live: self.events.subscribe(),
        })
    }

    fn presence(&mut self, user: UserId, online: bool) {
        let Some(seat) = self.seat_mut(user) else {
            return;
        };
        if seat.connected == online {
            return;
        }
        seat.connected = online;
        if online {
            seat.grace = None;
            self.emit(json!({"type": "player.reconnected", "userId": user}));
        } else {
            self.start_grace(user);
            self.emit(json!({"type": "player.disconnected", "userId": user}));
        }
    }

    fn grace_expired(&mut self, user: UserId, generation: u64) {
        let expired = self
            .seat_of(user)
            .is_some_and(|s| !s.connected && s.grace == Some(generation));
        if expired && self.status == RoomStatus::Waiting {
            self.remove(user, "timeout");
        }
    }

    // ----- helpers -----

    fn start_grace(&mut self, user: UserId) {
        self.timers += 1;
        let generation = self.timers;
        if let Some(seat) = self.seat_mut(user) {
            seat.grace = Some(generation);
        }
        let inbox = self.inbox.clone();
        let grace = self.shared.grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if let Some(tx) = inbox.upgrade() {
                let _ = tx.send(Command::GraceExpired { user, generation }).await;
            }
        });
    }

    /// Removes a member; applies `onHostLeave` when he was the host; closes an empty room.
    fn remove(&mut self, user: UserId, reason: &str) {
        self.seats.retain(|s| s.id != user);
        self.chat.remove(&user);
        self.shared.clear_member(user, self.id);
        self.emit(json!({"type": "member.left", "userId": user, "reason": reason}));
        let _ = self.events.send(RoomFrame::Evict(user));
        if self.seats.is_empty() {
            self.closed = true;
            return;
        }
        if user == self.host {
            match self.settings.on_host_leave {
                super::settings::OnHostLeave::Close => self.close("host_left"),
                super::settings::OnHostLeave::Migrate => {
                    self.host = self.seats[0].id;
                    self.emit(json!({"type": "host.changed", "hostId": self.host}));
                }
            }
        }
    }

    /// Evicts everyone and ends the room.
    fn close(&mut self, reason: &str) {
        self.emit(json!({"type": "room.closed", "reason": reason}));
        for seat in std::mem::take(&mut self.seats) {
            self.shared.clear_member(seat.id, self.id);
            let _ = self.events.send(RoomFrame::Evict(seat.id));
            self.private_event(
                seat.id,
                json!({"type": "room.closed", "roomId": self.id, "reason": reason}),
            );
        }
        self.closed = true;
    }

    fn require_host(&self, user: UserId) -> Result<(), RoomError> {
        match self.seat_of(user) {
            None => Err(RoomError::NotAMember),
            Some(_) if user != self.host => Err(RoomError::NotHost),
            Some(_) => Ok(()),
        }
    }

    fn require_lobby(&self) -> Result<(), RoomError> {
        if self.status == RoomStatus::Playing {
            return Err(RoomError::InGame);
        }
        Ok(())
    }

    fn seat_of(&self, user: UserId) -> Option<&Seat> {
        self.seats.iter().find(|s| s.id == user)
    }

    fn seat_mut(&mut self, user: UserId) -> Option<&mut Seat> {
        self.seats.iter_mut().find(|s| s.id == user)
    }

    /// Serialises an event once, numbers it, keeps it for replay and publishes it.
    fn emit(&mut self, mut event: Value) {
        self.seq += 1;
        event["seq"] = json!(self.seq);
        event["roomId"] = json!(self.id);
        let json = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        self.log.push_back((self.seq, json.clone()));
        if self.log.len() > REPLAY_LOG {
            self.log.pop_front();
        }
        let _ = self.events.send(RoomFrame::Event {
            seq: self.seq,
            json,
        });
    }

    fn private_event(&self, user: UserId, event: Value) {
        let json = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        self.shared.hub.send_to_user(user, json);
    }

    fn view(&self) -> RoomView {
        RoomView {
            room_id: self.id,
            code: self.code.clone(),
            name: self.name.clone(),
            host_id: self.host,
            status: self.status,
            private: self.private,
            settings: self.settings.clone(),
            members: self
                .seats
                .iter()
                .map(|s| MemberView {
                    user_id: s.id,
                    username: s.username.clone(),
                    ready: s.ready,
                    connected: s.connected,
                })
                .collect(),
        }
    }

    fn snapshot(&self) -> Bytes {
        let event = json!({"type": "room.snapshot", "seq": self.seq, "roomId": self.id, "room": self.view()});
        Bytes::from(serde_json::to_vec(&event).unwrap_or_default())
    }

    /// Keeps the room list current and tells the lobby when this room's summary changed.
    fn sync_lobby(&mut self) {
        let summary = self.summary();
        let value = serde_json::to_value(&summary).ok();
        if value == self.last_summary {
            return;
        }
        self.last_summary = value;
        self.shared.update_summary(summary);
    }
}
