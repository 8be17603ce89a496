//! The game inside the room (SPEC §3): dealing the members who are here, feeding the rules,
//! storing the result exactly once before `game.ended`, and reopening for a rematch. Part of the
//! pure [`Room`](super::Room).

use liar_rules::rand::RngExt;
use liar_rules::{Game, GameEnd, Millis};

use super::RoomError;
use super::event::{GameEnded, LobbyEvent, RoomEvent};
use super::state::{After, Ctx, Output, Room, RoomTimer, Running};
use crate::domain::UserId;
use crate::error::FieldError;
use crate::store::{FinishedGame, FinishedPlayer, PlayerTotals};

/// Characters of the random part of a result's idempotency key.
const KEY_CHARS: usize = 12;

impl Room {
    /// Deals a game to the members who are here (SPEC §3 "Leaving mid-game": a member who
    /// dropped in the lobby and is not back is not dealt in).
    pub(super) fn start(&mut self, user: UserId, ctx: &mut Ctx) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        let here: Vec<UserId> = self
            .seats
            .iter()
            .filter(|s| s.connected)
            .map(|s| s.id)
            .collect();
        if here.len() < liar_rules::MIN_PLAYERS {
            return Err(RoomError::NotEnoughPlayers);
        }
        let unready = self
            .seats
            .iter()
            .any(|s| s.connected && s.id != self.host && !s.ready);
        if unready {
            return Err(RoomError::NotReady);
        }
        let topic = match self.settings.topic_id.as_str() {
            "random" => ctx.topics.random_topic(ctx.rng),
            id => ctx.topics.topic(id),
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
        })?
        .clone();
        let settings = self.game_settings(ctx);
        let (game, outputs) =
            Game::try_start(here, settings, &topic, ctx.now, ctx.rng).map_err(|e| {
                tracing::error!(room = self.id, error = %e, "game did not start");
                RoomError::Internal
            })?;
        self.games += 1;
        let key = format!("{}-{}-{}", self.id, self.games, random_key(ctx));
        self.game = Some(Running {
            no: self.games,
            game,
            key,
            started_at: ctx.now,
            topic_id: topic.id.clone(),
            after: After::Playing,
        });
        self.apply(outputs, ctx);
        Ok(())
    }

    fn game_settings(&self, ctx: &Ctx) -> liar_rules::GameSettings {
        let s = &self.settings;
        liar_rules::GameSettings {
            mode: s.mode,
            hint_rounds: u8::try_from(s.hint_rounds).unwrap_or(u8::MAX),
            hint_secs: s.hint_seconds,
            discussion_secs: s.discussion_seconds,
            vote_secs: s.vote_seconds,
            defense_secs: s.defense_seconds,
            guess_secs: s.guess_seconds,
            tie_policy: s.tie_policy,
            grace_secs: ctx.rules.grace_secs,
            deal_secs: ctx.rules.deal_secs,
            turn_grace_secs: ctx.rules.turn_grace_secs,
            language: s.language,
        }
    }

    pub(super) fn play(
        &mut self,
        user: UserId,
        command: liar_rules::Command,
        ctx: &mut Ctx,
    ) -> Result<(), RoomError> {
        let Some(running) = self.game.as_mut() else {
            return Err(RoomError::WrongPhase);
        };
        let input = liar_rules::Input::Command {
            player: user,
            command,
        };
        let outputs = running
            .game
            .handle(input, ctx.now, ctx.rng)
            .map_err(|e| RoomError::Rule(e.code(), e.to_string()))?;
        self.apply(outputs, ctx);
        Ok(())
    }

    /// Feeds a non-command input (timer, presence); refusals there are nobody's error.
    pub(super) fn feed(&mut self, input: liar_rules::Input, ctx: &mut Ctx) {
        let Some(running) = self.game.as_mut() else {
            return;
        };
        if !matches!(running.after, After::Playing) {
            return;
        }
        if let Ok(outputs) = running.game.handle(input, ctx.now, ctx.rng) {
            self.apply(outputs, ctx);
        }
    }

    pub(super) fn resend_card(&mut self, user: UserId) {
        if let Some(json) = self.card(user) {
            self.output(Output::Private { to: user, json });
        }
    }

    fn apply(&mut self, outputs: Vec<liar_rules::Output>, ctx: &mut Ctx) {
        for output in outputs {
            match output {
                liar_rules::Output::Broadcast(event) => self.emit(RoomEvent::Game(event)),
                liar_rules::Output::Private { to, event } => self.private(to, &event),
                liar_rules::Output::Schedule { timer, at } => {
                    self.set_timer(RoomTimer::Game { timer }, at)
                }
                liar_rules::Output::Finished(end) => self.finished(&end, ctx),
            }
        }
    }

    /// The game is over: store it (exactly once, by key); `game.ended` follows the write.
    fn finished(&mut self, end: &GameEnd, ctx: &mut Ctx) {
        if let GameEnd::Aborted { reason } = end {
            self.lobby_event(LobbyEvent::GameAborted { reason: *reason });
        }
        self.timers
            .retain(|(t, _)| !matches!(t, RoomTimer::Game { .. }));
        let Some(running) = self.game.as_mut() else {
            return;
        };
        running.after = After::Storing { ended_at: ctx.now };
        let no = running.no;
        if let Some(game) = self.unstored_result() {
            self.output(Output::Record {
                game: no,
                result: Box::new(game),
            });
        }
    }

    /// The stored form of a game that ended at `ended_at`.
    pub(super) fn finished_game(
        &self,
        running: &Running,
        ended_at: Millis,
    ) -> Option<FinishedGame> {
        let game = &running.game;
        let language = game.settings().language;
        let (winner, players, result_json) = match game.end()? {
            GameEnd::Completed(r) => {
                let players = r
                    .players
                    .iter()
                    .map(|p| FinishedPlayer {
                        user_id: p.user_id,
                        role: p.role.as_str().to_owned(),
                        voted_correctly: p.voted_correctly,
                        won: p.won,
                        exp: i64::from(p.exp),
                    })
                    .collect();
                let json = serde_json::to_string(r).unwrap_or_default();
                (Some(r.winner.as_str().to_owned()), players, json)
            }
            GameEnd::Aborted { reason } => {
                let players = game
                    .players()
                    .iter()
                    .map(|&id| FinishedPlayer {
                        user_id: id,
                        role: if id == game.liar() { "liar" } else { "citizen" }.into(),
                        voted_correctly: false,
                        won: false,
                        exp: 0,
                    })
                    .collect();
                let json = serde_json::json!({"aborted": true, "reason": reason}).to_string();
                (None, players, json)
            }
        };
        Some(FinishedGame {
            key: running.key.clone(),
            room_name: self.name.clone(),
            topic_id: running.topic_id.clone(),
            word: game.word().text(language).to_owned(),
            mode: game.settings().mode.as_str().to_owned(),
            winner,
            liar_id: Some(game.liar()),
            players,
            result_json,
            started_at: running.started_at.0,
            ended_at: ended_at.0,
        })
    }

    /// The result is stored (or given up on for now): announce it, then show it until the room
    /// reopens; an aborted game reopens the room at once.
    pub(super) fn result_stored(
        &mut self,
        game: u64,
        stored: Option<(i64, Vec<PlayerTotals>)>,
        ctx: &mut Ctx,
    ) {
        let Some(running) = self.game.as_ref() else {
            return;
        };
        if running.no != game || !matches!(running.after, After::Storing { .. }) {
            return;
        }
        let Some(GameEnd::Completed(result)) = running.game.end().cloned() else {
            return self.reopen(game, ctx);
        };
        let (game_id, totals) = match &stored {
            Some((id, totals)) => (Some(*id), totals.as_slice()),
            None => (None, &[][..]),
        };
        let reopens_at = ctx.now.plus_secs(ctx.rules.result_display_secs);
        let ended = GameEnded {
            totals: result
                .players
                .iter()
                .map(|p| {
                    totals
                        .iter()
                        .find(|t| t.user_id == p.user_id)
                        .map(|t| (t.level.clone(), t.exp))
                })
                .collect(),
            result,
            stored: stored.is_some(),
            game_id,
            reopens_at,
        };
        let value = serde_json::to_value(&ended).unwrap_or_default();
        if let Some(running) = self.game.as_mut() {
            running.after = After::Showing { ended: value };
        }
        self.lobby_event(LobbyEvent::GameEnded(Box::new(ended)));
        self.set_timer(RoomTimer::Reopen { game }, reopens_at);
    }

    /// After the result: the room waits for a rematch, ready flags cleared (SPEC §2.3); members
    /// who are away get their lobby grace.
    pub(super) fn reopen(&mut self, game: u64, ctx: &mut Ctx) {
        if self.game.as_ref().is_none_or(|r| r.no != game) {
            return;
        }
        self.game = None;
        self.clear_timer(RoomTimer::Reopen { game });
        let mut away = Vec::new();
        for seat in &mut self.seats {
            seat.ready = false;
            if !seat.connected {
                away.push(seat.id);
            }
        }
        for user in away {
            self.start_grace(user, ctx);
        }
        let room = Box::new(self.view());
        self.lobby_event(LobbyEvent::RoomWaiting { room });
    }
}

fn random_key(ctx: &mut Ctx) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..KEY_CHARS)
        .map(|_| ALPHABET[ctx.rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
