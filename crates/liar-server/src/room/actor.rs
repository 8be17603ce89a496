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

use liar_rules::rand::SeedableRng;
use liar_rules::rand::rngs::StdRng;
use liar_rules::{Game, GameEnd, Input, Millis, Output};

use super::registry::{JoinOutcome, Shared, Subscription};
use super::{
    MemberView, Person, RoomError, RoomFrame, RoomId, RoomSettings, RoomStatus, RoomSummary,
    RoomView,
};
use crate::domain::UserId;
use crate::error::FieldError;
use crate::store::{FinishedGame, FinishedPlayer, PlayerTotals};

/// Room events kept for `since-seq` replay.
pub const REPLAY_LOG: usize = 256;
/// Chat: at most this many messages per member per window (SPEC §4).
/// Chat message length in characters (SPEC §4).
const CHAT_MAX_CHARS: usize = 300;
/// Attempts to store a finished game before giving up (each waits twice as long).
const RECORD_ATTEMPTS: u32 = 6;
/// After that, the game is announced unstored and the write retried this often, this many times.
const BACKGROUND_RECORD_INTERVAL: Duration = Duration::from_secs(30);
const BACKGROUND_RECORD_ATTEMPTS: u32 = 120;

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

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
    Start {
        user: UserId,
        reply: Reply<()>,
    },
    Play {
        user: UserId,
        command: liar_rules::Command,
        reply: Reply<()>,
    },
    /// Re-send the member's private game state (his card) after he resubscribed.
    Resync {
        user: UserId,
    },
    GameTimer {
        game: u64,
        timer: liar_rules::Timer,
    },
    ResultStored {
        game: u64,
        outcome: Stored,
    },
    BackToLobby {
        game: u64,
    },
}

/// What storing a finished game produced.
pub struct Stored {
    result: Value,
    aborted: bool,
    totals: Option<(i64, Vec<PlayerTotals>)>,
}

/// The game being played in a room.
struct Running {
    no: u64,
    game: Game,
    key: String,
    started_at: i64,
    topic_id: String,
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
    last_summary: Option<RoomSummary>,
    closed: bool,
    game: Option<Running>,
    games: u64,
    rng: StdRng,
    /// The phase this room counts in the `liar_games{phase}` gauge.
    counted_phase: Option<&'static str>,
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
            game: None,
            games: 0,
            rng: StdRng::from_rng(&mut liar_rules::rand::rng()),
            counted_phase: None,
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
        self.last_summary = Some(self.summary());
        while let Some(command) = inbox.recv().await {
            let handled = std::panic::catch_unwind(AssertUnwindSafe(|| self.handle(command)));
            if handled.is_err() {
                tracing::error!(room = self.id, "room command panicked; the room goes on");
            }
            if self.closed {
                break;
            }
            self.count_phase();
            self.sync_lobby();
        }
        self.game = None;
        self.count_phase();
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
            Command::Start { user, reply } => {
                let _ = reply.send(self.start(user));
            }
            Command::Play {
                user,
                command,
                reply,
            } => {
                let _ = reply.send(self.play(user, command));
            }
            Command::Resync { user } => self.resync(user),
            Command::GameTimer { game, timer } => self.game_timer(game, timer),
            Command::ResultStored { game, outcome } => self.result_stored(game, outcome),
            Command::BackToLobby { game } => self.back_to_lobby(game),
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
        if user == self.host {
            return Err(RoomError::Validation(vec![FieldError::new(
                "ready",
                "HOST",
                "the host starts the game; only other members toggle ready",
            )]));
        }
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
        if self.game.as_ref().is_some_and(|r| !r.game.chat_open()) {
            return Err(RoomError::WrongPhase);
        }
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
        let limit = self.shared.chat_limit;
        let window = Duration::from_secs(limit.window_secs);
        let sent = self.chat.entry(user).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            sent.pop_front();
        }
        if sent.len() >= limit.limit as usize {
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
        let playing = self
            .game
            .as_ref()
            .is_some_and(|r| r.game.players().contains(&user));
        let Some(seat) = self.seat_mut(user) else {
            return;
        };
        if seat.connected == online {
            return;
        }
        seat.connected = online;
        if playing {
            // The game announces the disconnect and runs its own grace (SPEC §3).
            seat.grace = None;
            let input = if online {
                Input::Reconnected(user)
            } else {
                Input::Disconnected(user)
            };
            self.feed(input);
            if online {
                self.resync(user);
            }
            return;
        }
        if online {
            seat.grace = None;
            self.emit(json!({"type": "player.reconnected", "userId": user}));
        } else {
            self.start_grace(user);
            self.emit(json!({"type": "player.disconnected", "userId": user}));
        }
    }

    // ----- the game -----

    fn start(&mut self, user: UserId) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        if self.seats.len() < liar_rules::MIN_PLAYERS {
            return Err(RoomError::NotEnoughPlayers);
        }
        if self.seats.iter().any(|s| s.id != self.host && !s.ready) {
            return Err(RoomError::NotReady);
        }
        // The catalog as it is now; the game keeps its words whatever admins edit later.
        let catalog = self.shared.topics.snapshot();
        let topic = match self.settings.topic_id.as_str() {
            "random" => catalog.random_topic(&mut self.rng),
            id => catalog.topic(id),
        }
        .ok_or_else(|| {
            RoomError::Validation(vec![FieldError::new(
                "topicId",
                "UNKNOWN_TOPIC",
                format!(
                    "topic `{}` no longer exists; choose another",
                    self.settings.topic_id
                ),
            )])
        })?;
        let now = crate::auth::now_millis();
        let players = self.seats.iter().map(|s| s.id).collect();
        let (game, outputs) = Game::try_start(
            players,
            self.game_settings(),
            topic,
            Millis(now),
            &mut self.rng,
        )
        .map_err(|e| {
            tracing::error!(room = self.id, error = ?e, "game did not start");
            RoomError::Internal
        })?;
        self.games += 1;
        self.status = RoomStatus::Playing;
        self.game = Some(Running {
            no: self.games,
            game,
            key: format!(
                "{}-{}-{}",
                self.id,
                self.games,
                crate::auth::tokens::random_token(9)
            ),
            started_at: now,
            topic_id: topic.id.clone(),
        });
        metrics::counter!("liar_games_started_total").increment(1);
        self.process(outputs);
        Ok(())
    }

    fn game_settings(&self) -> liar_rules::GameSettings {
        use super::settings::{Language, Mode, TiePolicy};
        let s = &self.settings;
        liar_rules::GameSettings {
            mode: match s.mode {
                Mode::Classic => liar_rules::Mode::Classic,
                Mode::Fool => liar_rules::Mode::Fool,
            },
            hint_rounds: s.hint_rounds as u8,
            hint_secs: s.hint_seconds,
            discussion_secs: s.discussion_seconds,
            vote_secs: s.vote_seconds,
            defense_secs: s.defense_seconds,
            guess_secs: s.guess_seconds,
            tie_policy: match s.tie_policy {
                TiePolicy::LiarWins => liar_rules::TiePolicy::LiarWins,
                TiePolicy::Revote => liar_rules::TiePolicy::Revote,
            },
            grace_secs: self.shared.grace.as_secs() as u32,
            deal_secs: self.shared.deal_secs,
            language: match s.language {
                Language::Ko => liar_rules::Language::Ko,
                Language::En => liar_rules::Language::En,
            },
        }
    }

    fn play(&mut self, user: UserId, command: liar_rules::Command) -> Result<(), RoomError> {
        let Some(running) = self.game.as_mut() else {
            return Err(RoomError::WrongPhase);
        };
        let now = Millis(crate::auth::now_millis());
        let input = Input::Command {
            player: user,
            command,
        };
        let outputs = running
            .game
            .handle(input, now, &mut self.rng)
            .map_err(|e| RoomError::Rule(e.code(), e.to_string()))?;
        self.process(outputs);
        Ok(())
    }

    /// Feeds a non-command input (timer, presence); refusals there are not anyone's error.
    fn feed(&mut self, input: Input) {
        let Some(running) = self.game.as_mut() else {
            return;
        };
        let now = Millis(crate::auth::now_millis());
        if let Ok(outputs) = running.game.handle(input, now, &mut self.rng) {
            self.process(outputs);
        }
    }

    fn game_timer(&mut self, game: u64, timer: liar_rules::Timer) {
        if self.is_current(game) {
            self.feed(Input::Timer(timer));
        }
    }

    /// Whether `game` is the game being played now (timers and results of an older one are stale).
    fn is_current(&self, game: u64) -> bool {
        self.game.as_ref().is_some_and(|r| r.no == game)
    }

    fn resync(&mut self, user: UserId) {
        let card = self.game.as_ref().and_then(|r| r.game.card_for(user));
        if let Some(card) = card {
            self.private_event(user, to_value(&card));
        }
    }

    fn process(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Broadcast(event) => self.emit(to_value(&event)),
                Output::Private { to, event } => self.private_event(to, to_value(&event)),
                Output::Schedule { timer, at } => self.schedule(timer, at),
                Output::Finished(end) => self.finished(end),
            }
        }
    }

    fn schedule(&self, timer: liar_rules::Timer, at: Millis) {
        let Some(game) = self.game.as_ref().map(|r| r.no) else {
            return;
        };
        let delay = (at.0 - crate::auth::now_millis()).max(0) as u64;
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if let Some(tx) = inbox.upgrade() {
                let _ = tx.send(Command::GameTimer { game, timer }).await;
            }
        });
    }

    /// The game is over: store it (exactly once, by key), then announce it.
    fn finished(&mut self, end: GameEnd) {
        let Some(running) = self.game.as_ref() else {
            return;
        };
        let word = running.game.word().ko.clone();
        let (result, finished) = match &end {
            GameEnd::Completed(r) => {
                // Every field of the rules' result goes on the wire as it is.
                let result = to_value(r);
                let players = r
                    .players
                    .iter()
                    .map(|p| FinishedPlayer {
                        user_id: p.user_id,
                        role: to_value(&p.role).as_str().unwrap_or("citizen").to_owned(),
                        voted_correctly: p.voted_correctly,
                        won: p.won,
                        exp: i64::from(p.exp),
                    })
                    .collect();
                let winner = to_value(&r.winner).as_str().map(str::to_owned);
                (result, (winner, Some(r.liar_id), r.word.clone(), players))
            }
            GameEnd::Aborted { reason } => {
                let players = running
                    .game
                    .players()
                    .iter()
                    .map(|id| FinishedPlayer {
                        user_id: *id,
                        role: if *id == running.game.liar() {
                            "liar"
                        } else {
                            "citizen"
                        }
                        .into(),
                        voted_correctly: false,
                        won: false,
                        exp: 0,
                    })
                    .collect();
                let result = json!({"aborted": true, "reason": reason});
                (result, (None, Some(running.game.liar()), word, players))
            }
        };
        if let GameEnd::Aborted { reason } = &end {
            self.emit(json!({"type": "game.aborted", "reason": reason}));
        }
        let Some(running) = self.game.as_ref() else {
            return;
        };
        let (winner, liar_id, word, players) = finished;
        let game = FinishedGame {
            key: running.key.clone(),
            room_name: self.name.clone(),
            topic_id: running.topic_id.clone(),
            word,
            mode: to_value(&self.settings.mode)
                .as_str()
                .unwrap_or("classic")
                .to_owned(),
            winner,
            liar_id,
            players,
            result_json: result.to_string(),
            started_at: running.started_at,
            ended_at: crate::auth::now_millis(),
        };
        let aborted = matches!(end, GameEnd::Aborted { .. });
        self.record(running.no, game, result, aborted);
    }

    fn record(&self, no: u64, game: FinishedGame, result: Value, aborted: bool) {
        let store = self.shared.results.clone();
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            let mut totals = None;
            for attempt in 0..RECORD_ATTEMPTS {
                match store.record_game(game.clone()).await {
                    Ok(t) => {
                        totals = Some(t);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, key = %game.key, "storing a result failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
            let stored = totals.is_some();
            if let Some(tx) = inbox.upgrade() {
                let outcome = Stored {
                    result,
                    aborted,
                    totals,
                };
                let _ = tx.send(Command::ResultStored { game: no, outcome }).await;
            }
            if stored {
                return;
            }
            // The room moves on (announced with `stored: false`), but the result is not dropped:
            // the write is idempotent by key, so keep trying while the database is away.
            tracing::error!(key = %game.key, "result not stored yet; retrying in the background");
            for _ in 0..BACKGROUND_RECORD_ATTEMPTS {
                tokio::time::sleep(BACKGROUND_RECORD_INTERVAL).await;
                if store.record_game(game.clone()).await.is_ok() {
                    tracing::info!(key = %game.key, "result stored after retrying");
                    return;
                }
            }
            tracing::error!(key = %game.key, "result could not be stored; giving up");
        });
    }

    fn result_stored(&mut self, game: u64, outcome: Stored) {
        if !self.is_current(game) {
            return;
        }
        let delay = if outcome.aborted {
            Duration::ZERO
        } else {
            let mut event = outcome.result;
            event["stored"] = json!(outcome.totals.is_some());
            let (game_id, totals) = outcome.totals.unwrap_or_default();
            if let Some(players) = event["players"].as_array_mut() {
                for p in players {
                    let id = p["userId"].as_i64();
                    let t = totals.iter().find(|t| Some(t.user_id) == id);
                    p["level"] = json!(t.map(|t| t.level.clone()));
                    p["totalExp"] = json!(t.map(|t| t.exp));
                }
            }
            event["type"] = json!("game.ended");
            event["gameId"] = json!(game_id);
            self.emit(event);
            metrics::counter!("liar_games_finished_total").increment(1);
            self.shared.result_display
        };
        let inbox = self.inbox.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(tx) = inbox.upgrade() {
                let _ = tx.send(Command::BackToLobby { game }).await;
            }
        });
    }

    /// After the result: the room waits for a rematch, ready flags cleared (SPEC §2.3).
    fn back_to_lobby(&mut self, game: u64) {
        if !self.is_current(game) {
            return;
        }
        self.game = None;
        self.status = RoomStatus::Waiting;
        let mut offline = Vec::new();
        for seat in &mut self.seats {
            seat.ready = false;
            if !seat.connected {
                offline.push(seat.id);
            }
        }
        for user in offline {
            self.start_grace(user);
        }
        let room = self.view();
        self.emit(json!({"type": "room.waiting", "room": room}));
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
        if self.game.is_some() {
            return Err(RoomError::InGame);
        }
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
            game: self.game.as_ref().map(|r| r.game.public_state()),
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

    /// Keeps the `liar_games{phase}` gauge in step with this room's game.
    fn count_phase(&mut self) {
        use liar_rules::Phase;
        let phase = self.game.as_ref().map(|r| match r.game.phase() {
            Phase::Deal => "deal",
            Phase::Hints => "hints",
            Phase::Discussion => "discussion",
            Phase::Vote => "vote",
            Phase::Defense => "defense",
            Phase::Guess => "guess",
            Phase::Result => "result",
        });
        if phase == self.counted_phase {
            return;
        }
        if let Some(old) = self.counted_phase {
            metrics::gauge!("liar_games", "phase" => old).decrement(1.0);
        }
        if let Some(new) = phase {
            metrics::gauge!("liar_games", "phase" => new).increment(1.0);
        }
        self.counted_phase = phase;
    }

    /// Keeps the room list current and tells the lobby when this room's summary changed.
    fn sync_lobby(&mut self) {
        let summary = self.summary();
        if self.last_summary.as_ref() == Some(&summary) {
            return;
        }
        self.last_summary = Some(summary.clone());
        self.shared.update_summary(summary);
    }
}
