//! The room as a pure value (ARCHITECTURE.md `Room`): members, seats, ready flags, the kicked
//! set, settings, reconnect graces, the chat window, the game, `seq`, `epoch` and the recent
//! event log. [`Room::handle`] takes one [`Input`] with the time, a random generator and the
//! topic catalog ([`Ctx`]) and returns a [`Step`]: the reply and the [`Output`]s (numbered events,
//! private sends, evictions, directory changes, "store this result"). Timers are data: the room
//! keeps its pending deadlines and the actor asks for the next one. Nothing here reads a clock,
//! draws global randomness, awaits or does IO, so a room can be saved after every transition,
//! loaded by another process and resumed, and tested one input at a time.
//!
//! Lobby commands live in `lobby.rs`, the game in `play.rs`.

use bytes::Bytes;
use liar_rules::rand::rngs::StdRng;
use liar_rules::{Catalog, Millis};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, VecDeque};

use super::event::{self, LobbyEvent, RoomEvent};
use super::{
    MemberView, Person, RoomError, RoomId, RoomSettings, RoomStatus, RoomSummary, RoomView,
};
use crate::config::WindowRule;
use crate::domain::UserId;
use crate::store::{FinishedGame, PlayerTotals};

/// Format version of a saved room; bump it (and teach [`Room::from_saved`] the old one) when the
/// saved shape changes incompatibly.
pub const ROOM_FORMAT: i32 = 1;
/// Room events kept for `since-seq` replay (in memory and in the saved log).
pub const REPLAY_LOG: usize = 256;
/// Chat messages kept for the room screen of a (re)joining member (SPEC §3 "the full state").
pub const CHAT_KEPT: usize = 50;

/// Server settings a room follows (configuration, not state).
#[derive(Debug, Clone)]
pub struct RoomRules {
    /// Reconnect grace (SPEC §2.3, §3).
    pub grace_secs: u32,
    /// Time to read the card before the first hint.
    pub deal_secs: u32,
    /// How long a dropped speaker keeps his hint turn (SPEC §3 step 2).
    pub turn_grace_secs: u32,
    /// Time the result stays up before the room waits again (SPEC §3: 10 s).
    pub result_display_secs: u32,
    /// Chat messages per member (SPEC §4: 5 per 5 s).
    pub chat_limit: WindowRule,
}

/// What one step may use besides the room: the time, randomness and the topic catalog.
pub struct Ctx<'a> {
    pub now: Millis,
    pub rng: &'a mut StdRng,
    pub topics: &'a Catalog,
    pub rules: &'a RoomRules,
}

/// Everything that can happen to a room.
#[derive(Debug)]
pub enum Input {
    Join(Person),
    Leave(UserId),
    /// Leave because the member is joining or creating another room.
    Move(UserId),
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
    Delete(UserId),
    Start(UserId),
    Play {
        user: UserId,
        command: liar_rules::Command,
    },
    /// The member's first socket opened (`true`) or his last one closed.
    Presence {
        user: UserId,
        online: bool,
    },
    Timer(RoomTimer),
    /// Storing the result of game `game` finished: the game id and totals, or `None` when the
    /// database kept refusing (announced unstored; a background retry goes on).
    ResultStored {
        game: u64,
        stored: Option<(i64, Vec<PlayerTotals>)>,
    },
    /// The room was loaded by a new process: every member gets a fresh reconnect grace.
    Resumed,
}

/// A successful command's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Done,
    Joined,
    AlreadyMember,
}

/// What the actor must carry out after a step, in order.
#[derive(Debug, Clone)]
pub enum Output {
    /// A numbered room event for every subscriber of the room topic (also in the log).
    Event { seq: u64, json: Bytes },
    /// A private event for one member's queue.
    Private { to: UserId, json: Bytes },
    /// The member lost access to the room topic: his subscriptions end at once.
    Evict(UserId),
    /// The member is now seated here (member → room directory).
    Seated(UserId),
    /// The member is no longer seated here.
    Unseated(UserId),
    /// Store the result of game `game` (idempotent by key), then feed [`Input::ResultStored`].
    Record {
        game: u64,
        result: Box<FinishedGame>,
    },
    /// The room is gone.
    Closed,
}

/// One step's result.
#[derive(Debug)]
pub struct Step {
    pub reply: Result<Reply, RoomError>,
    pub outputs: Vec<Output>,
    /// Whether the room's saved state changed (it must be saved before the outputs go out).
    pub changed: bool,
}

/// A pending deadline of the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoomTimer {
    /// A timer the game rules asked for.
    Game { timer: liar_rules::Timer },
    /// A lobby member's reconnect grace.
    Grace { user: UserId },
    /// The result was shown long enough: back to the lobby.
    Reopen { game: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Seat {
    pub id: UserId,
    pub username: String,
    pub ready: bool,
    pub connected: bool,
}

/// The game being played (or just ended) in the room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Running {
    pub no: u64,
    pub game: liar_rules::Game,
    /// The result's idempotency key.
    pub key: String,
    pub started_at: Millis,
    pub topic_id: String,
    pub after: After,
}

/// Where a running game stands from the room's point of view.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub(super) enum After {
    Playing,
    /// The game is over; its result is being stored.
    Storing {
        ended_at: Millis,
    },
    /// The result is announced and shown until the room reopens.
    Showing {
        ended: Value,
    },
}

/// The whole room; see the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Room {
    pub(super) id: RoomId,
    pub(super) code: String,
    pub(super) name: String,
    pub(super) password_hash: Option<String>,
    pub(super) host: UserId,
    pub(super) settings: RoomSettings,
    pub(super) seats: Vec<Seat>,
    pub(super) kicked: BTreeSet<UserId>,
    pub(super) seq: u64,
    pub(super) chat: VecDeque<event::KeptChat>,
    pub(super) game: Option<Running>,
    pub(super) games: u64,
    pub(super) timers: Vec<(RoomTimer, Millis)>,
    pub(super) closed: bool,
    /// Fencing epoch of the process serving the room (kept in its own column, not in the state).
    #[serde(skip)]
    pub(super) epoch: i64,
    #[serde(skip)]
    pub(super) log: VecDeque<(u64, Bytes)>,
    #[serde(skip)]
    pub(super) chat_sent: HashMap<UserId, VecDeque<Millis>>,
    #[serde(skip)]
    pub(super) out: Vec<Output>,
    #[serde(skip)]
    pub(super) dirty: bool,
}

/// A room about to be created.
pub struct NewRoom {
    pub id: RoomId,
    pub code: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub host: Person,
    pub settings: RoomSettings,
}

impl Room {
    /// A new room with its host seated (`online`: whether he has a socket open now).
    pub fn new(room: NewRoom, online: bool, ctx: &mut Ctx) -> (Room, Vec<Output>) {
        let mut me = Room {
            id: room.id,
            code: room.code,
            name: room.name,
            password_hash: room.password_hash,
            host: room.host.id,
            settings: room.settings,
            seats: Vec::new(),
            kicked: BTreeSet::new(),
            seq: 0,
            chat: VecDeque::new(),
            game: None,
            games: 0,
            timers: Vec::new(),
            closed: false,
            epoch: 0,
            log: VecDeque::new(),
            chat_sent: HashMap::new(),
            out: Vec::new(),
            dirty: false,
        };
        me.seat(room.host, online, ctx);
        let outputs = std::mem::take(&mut me.out);
        (me, outputs)
    }

    /// Applies one input. A refused command changes nothing and has no outputs.
    pub fn handle(&mut self, input: Input, ctx: &mut Ctx) -> Step {
        let seq = self.seq;
        self.dirty = false;
        let reply = self.dispatch(input, ctx);
        let outputs = std::mem::take(&mut self.out);
        if reply.is_err() {
            debug_assert!(outputs.is_empty(), "a refused command has no outputs");
        }
        Step {
            changed: self.seq != seq || self.dirty || self.closed,
            reply,
            outputs,
        }
    }

    fn dispatch(&mut self, input: Input, ctx: &mut Ctx) -> Result<Reply, RoomError> {
        let done = |r: Result<(), RoomError>| r.map(|()| Reply::Done);
        match input {
            Input::Join(who) => self.join(who, ctx),
            Input::Leave(user) => done(self.leave(user, event::LeaveReason::Left, ctx)),
            Input::Move(user) => done(self.leave(user, event::LeaveReason::Moved, ctx)),
            Input::Ready { user, ready } => done(self.ready(user, ready)),
            Input::Settings { user, patch } => done(self.change_settings(user, &patch, ctx)),
            Input::Kick { user, target } => done(self.kick(user, target)),
            Input::Chat { user, text } => done(self.chat(user, text, ctx)),
            Input::Delete(user) => done(self.delete(user)),
            Input::Start(user) => done(self.start(user, ctx)),
            Input::Play { user, command } => done(self.play(user, command, ctx)),
            Input::Presence { user, online } => {
                self.presence(user, online, ctx);
                Ok(Reply::Done)
            }
            Input::Timer(timer) => {
                self.timer(timer, ctx);
                Ok(Reply::Done)
            }
            Input::ResultStored { game, stored } => {
                self.result_stored(game, stored, ctx);
                Ok(Reply::Done)
            }
            Input::Resumed => {
                self.resumed(ctx);
                Ok(Reply::Done)
            }
        }
    }

    fn timer(&mut self, timer: RoomTimer, ctx: &mut Ctx) {
        match timer {
            RoomTimer::Game { timer } => self.feed(liar_rules::Input::Timer(timer), ctx),
            RoomTimer::Grace { user } => self.grace_expired(user, ctx),
            RoomTimer::Reopen { game } => self.reopen(game, ctx),
        }
    }

    /// Every member is away until his client reconnects, each with a fresh grace.
    fn resumed(&mut self, ctx: &mut Ctx) {
        self.dirty = true;
        let players = self.playing_ids();
        let lobby: Vec<UserId> = self
            .seats
            .iter()
            .map(|s| s.id)
            .filter(|id| !players.contains(id))
            .collect();
        for seat in &mut self.seats {
            seat.connected = false;
        }
        for user in lobby {
            self.start_grace(user, ctx);
        }
        self.feed(liar_rules::Input::Resumed, ctx);
    }

    // ----- timers -----

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.timers.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub fn take_due(&mut self, now: Millis) -> Vec<RoomTimer> {
        let mut due: Vec<(RoomTimer, Millis)> = Vec::new();
        self.timers.retain(|(t, at)| {
            let is_due = *at <= now;
            if is_due {
                due.push((*t, *at));
            }
            !is_due
        });
        due.sort_by_key(|(_, at)| *at);
        due.into_iter().map(|(t, _)| t).collect()
    }

    pub(super) fn set_timer(&mut self, timer: RoomTimer, at: Millis) {
        self.timers.retain(|(t, _)| *t != timer);
        self.timers.push((timer, at));
    }

    pub(super) fn clear_timer(&mut self, timer: RoomTimer) {
        self.timers.retain(|(t, _)| *t != timer);
    }

    // ----- outputs -----

    /// Numbers an event, serialises it once, keeps it for replay and queues it.
    pub(super) fn emit(&mut self, event: RoomEvent) {
        self.seq += 1;
        let json = event::encode(&event, self.seq, self.id, self.epoch);
        if let RoomEvent::Room(LobbyEvent::Chat(line)) = &event {
            self.chat.push_back(event::KeptChat {
                kind: "chat".into(),
                seq: self.seq,
                line: line.clone(),
            });
            if self.chat.len() > CHAT_KEPT {
                self.chat.pop_front();
            }
        }
        self.log.push_back((self.seq, json.clone()));
        if self.log.len() > REPLAY_LOG {
            self.log.pop_front();
        }
        self.out.push(Output::Event {
            seq: self.seq,
            json,
        });
    }

    pub(super) fn lobby_event(&mut self, event: LobbyEvent) {
        self.emit(RoomEvent::Room(event));
    }

    pub(super) fn private<T: Serialize>(&mut self, to: UserId, event: &T) {
        self.out.push(Output::Private {
            to,
            json: event::encode_private(event),
        });
    }

    pub(super) fn output(&mut self, output: Output) {
        self.out.push(output);
    }

    // ----- reads -----

    pub fn id(&self) -> RoomId {
        self.id
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn is_private(&self) -> bool {
        self.password_hash.is_some()
    }

    pub fn password_hash(&self) -> Option<&str> {
        self.password_hash.as_deref()
    }

    pub fn is_member(&self, user: UserId) -> bool {
        self.seat_of(user).is_some()
    }

    pub fn member_ids(&self) -> Vec<UserId> {
        self.seats.iter().map(|s| s.id).collect()
    }

    pub fn status(&self) -> RoomStatus {
        if self.game.is_some() {
            RoomStatus::Playing
        } else {
            RoomStatus::Waiting
        }
    }

    /// The game's phase, for the `liar_games{phase}` gauge.
    pub fn phase(&self) -> Option<liar_rules::Phase> {
        self.game.as_ref().map(|r| r.game.phase())
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
            status: self.status(),
            private: self.is_private(),
            mode: self.settings.mode,
            topic_id: self.settings.topic_id.clone(),
        }
    }

    /// What the room screen shows (never anything secret).
    pub fn view(&self) -> RoomView {
        RoomView {
            room_id: self.id,
            code: self.code.clone(),
            name: self.name.clone(),
            host_id: self.host,
            status: self.status(),
            private: self.is_private(),
            settings: self.settings.clone(),
            game: self.game.as_ref().map(|r| r.game.public_state()),
            result: self.game.as_ref().and_then(|r| match &r.after {
                After::Showing { ended } => Some(ended.clone()),
                _ => None,
            }),
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
            chat: self.chat.iter().cloned().collect(),
            seq: self.seq,
            epoch: self.epoch,
        }
    }

    /// `room.snapshot`: the full room state with `seq` and `epoch`.
    pub fn snapshot(&self) -> Bytes {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Snapshot {
            #[serde(rename = "type")]
            kind: &'static str,
            seq: u64,
            epoch: i64,
            room_id: RoomId,
            room: RoomView,
        }
        event::encode_private(&Snapshot {
            kind: "room.snapshot",
            seq: self.seq,
            epoch: self.epoch,
            room_id: self.id,
            room: self.view(),
        })
    }

    /// The events after `since`, when the log still holds all of them.
    pub fn replay(&self, since: u64) -> Option<Vec<Bytes>> {
        if since == self.seq {
            return Some(Vec::new());
        }
        let first = self.log.front().map(|(s, _)| *s)?;
        if since > self.seq || first > since + 1 {
            return None;
        }
        Some(
            self.log
                .iter()
                .filter(|(s, _)| *s > since)
                .map(|(_, json)| json.clone())
                .collect(),
        )
    }

    /// The member's private game state (his card), serialised.
    pub fn card(&self, user: UserId) -> Option<Bytes> {
        let running = self.game.as_ref()?;
        if !matches!(running.after, After::Playing) {
            return None;
        }
        let card = running.game.card_for(user)?;
        Some(event::encode_private(&card))
    }

    /// Results to store again after a restart (the room was saved while storing).
    pub fn unstored_result(&self) -> Option<FinishedGame> {
        let running = self.game.as_ref()?;
        match running.after {
            After::Storing { ended_at } => self.finished_game(running, ended_at),
            _ => None,
        }
    }

    /// The number of the current (or last) game.
    pub fn game_no(&self) -> u64 {
        self.game.as_ref().map_or(self.games, |r| r.no)
    }

    pub(super) fn seat_of(&self, user: UserId) -> Option<&Seat> {
        self.seats.iter().find(|s| s.id == user)
    }

    /// Whether the member is seated and counted as connected.
    pub fn is_connected(&self, user: UserId) -> bool {
        self.seats.iter().any(|s| s.id == user && s.connected)
    }

    pub(super) fn seat_mut(&mut self, user: UserId) -> Option<&mut Seat> {
        self.seats.iter_mut().find(|s| s.id == user)
    }

    // ----- saving and loading -----

    /// The saved form of the room (format [`ROOM_FORMAT`]).
    pub fn to_saved(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Loads a saved room; its event log tail and epoch come from their own columns.
    pub fn from_saved(
        format: i32,
        state: &str,
        epoch: i64,
        events: Vec<(i64, String)>,
    ) -> Result<Room, String> {
        if format != ROOM_FORMAT {
            return Err(format!(
                "saved room format {format}; this binary reads {ROOM_FORMAT}"
            ));
        }
        let mut room: Room = serde_json::from_str(state).map_err(|e| e.to_string())?;
        room.epoch = epoch;
        room.log = events
            .into_iter()
            .filter(|(seq, _)| *seq > 0 && (*seq as u64) <= room.seq)
            .map(|(seq, body)| (seq as u64, Bytes::from(body)))
            .collect();
        Ok(room)
    }

    /// The user ids a saved room that cannot be read names, best effort, so they can be told.
    pub fn members_of_unreadable(state: &str) -> Vec<UserId> {
        let value: Value = serde_json::from_str(state).unwrap_or(Value::Null);
        value["seats"]
            .as_array()
            .map(|seats| seats.iter().filter_map(|s| s["id"].as_i64()).collect())
            .unwrap_or_default()
    }
}
