//! The room's own rules (SPEC §2.3): joining, leaving, ready flags, settings, kicks, chat,
//! presence and reconnect graces, closing. Part of the pure [`Room`](super::Room).

use serde_json::Value;

use super::event::{ChatLine, CloseReason, LeaveReason, LobbyEvent, PrivateEvent};
use super::settings::OnHostLeave;
use super::state::{Ctx, Output, Reply, Room, RoomTimer, Seat};
use super::{Person, RoomError};
use crate::domain::UserId;
use crate::error::FieldError;

/// Chat message length in characters (SPEC §4).
const CHAT_MAX_CHARS: usize = 300;

impl Room {
    pub(super) fn join(&mut self, who: Person, ctx: &mut Ctx) -> Result<Reply, RoomError> {
        if self.is_member(who.id) {
            return Ok(Reply::AlreadyMember);
        }
        if self.kicked.contains(&who.id) {
            return Err(RoomError::Kicked);
        }
        if self.game.is_some() {
            return Err(RoomError::InGame);
        }
        if self.seats.len() >= self.settings.max_players as usize {
            return Err(RoomError::Full);
        }
        let (id, username) = (who.id, who.username.clone());
        // A member joins through his socket: he is online.
        self.seat(who, true, ctx);
        self.lobby_event(LobbyEvent::MemberJoined {
            user_id: id,
            username,
        });
        Ok(Reply::Joined)
    }

    pub(super) fn seat(&mut self, who: Person, online: bool, ctx: &mut Ctx) {
        self.seats.push(Seat {
            id: who.id,
            username: who.username,
            ready: false,
            connected: online,
        });
        self.output(Output::Seated(who.id));
        if !online {
            self.start_grace(who.id, ctx);
        }
    }

    pub(super) fn leave(
        &mut self,
        user: UserId,
        reason: LeaveReason,
        ctx: &mut Ctx,
    ) -> Result<(), RoomError> {
        if !self.is_member(user) {
            return Err(RoomError::NotAMember);
        }
        if self.is_playing(user) {
            return Err(RoomError::InGame);
        }
        self.remove(user, reason, ctx);
        Ok(())
    }

    pub(super) fn ready(&mut self, user: UserId, ready: bool) -> Result<(), RoomError> {
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
            self.lobby_event(LobbyEvent::MemberReady {
                user_id: user,
                ready,
            });
        }
        Ok(())
    }

    pub(super) fn change_settings(
        &mut self,
        user: UserId,
        patch: &Value,
        ctx: &mut Ctx,
    ) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        let next = self
            .settings
            .patched(patch, |t| ctx.topics.topic(t).is_some())
            .map_err(RoomError::Validation)?;
        if (next.max_players as usize) < self.seats.len() {
            return Err(RoomError::Validation(vec![FieldError::new(
                "maxPlayers",
                "BELOW_MEMBERS",
                format!("the room already has {} members", self.seats.len()),
            )]));
        }
        if next != self.settings {
            self.settings = next.clone();
            self.lobby_event(LobbyEvent::SettingsChanged { settings: next });
        }
        Ok(())
    }

    pub(super) fn kick(&mut self, user: UserId, target: UserId) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        if target == user {
            return Err(RoomError::Validation(vec![FieldError::new(
                "userId",
                "SELF_KICK",
                "the host cannot kick himself",
            )]));
        }
        if !self.is_member(target) {
            return Err(RoomError::NotAMember);
        }
        self.kicked.insert(target);
        self.seats.retain(|s| s.id != target);
        self.chat_sent.remove(&target);
        self.clear_timer(RoomTimer::Grace { user: target });
        self.output(Output::Unseated(target));
        self.lobby_event(LobbyEvent::MemberKicked { user_id: target });
        self.output(Output::Evict(target));
        let room_id = self.id;
        self.private(target, &PrivateEvent::Kicked { room_id });
        Ok(())
    }

    pub(super) fn chat(
        &mut self,
        user: UserId,
        text: String,
        ctx: &mut Ctx,
    ) -> Result<(), RoomError> {
        let username = self
            .seat_of(user)
            .ok_or(RoomError::NotAMember)?
            .username
            .clone();
        if self
            .game
            .as_ref()
            .is_some_and(|r| !r.game.chat_open() && matches!(r.after, super::state::After::Playing))
        {
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
        self.count_chat(user, ctx)?;
        self.lobby_event(LobbyEvent::Chat(ChatLine {
            user_id: user,
            username,
            text,
            at: ctx.now,
        }));
        Ok(())
    }

    /// At most `chat_limit.limit` messages per member in any `window_secs` (SPEC §4).
    fn count_chat(&mut self, user: UserId, ctx: &Ctx) -> Result<(), RoomError> {
        let limit = ctx.rules.chat_limit;
        let window = i64::try_from(limit.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let sent = self.chat_sent.entry(user).or_default();
        while sent.front().is_some_and(|t| ctx.now.0 - t.0 >= window) {
            sent.pop_front();
        }
        if sent.len() >= limit.limit as usize {
            return Err(RoomError::RateLimited);
        }
        sent.push_back(ctx.now);
        Ok(())
    }

    /// The host deletes the room; refused while a game runs (SPEC §2.1, docs: 409 `IN_GAME`).
    pub(super) fn delete(&mut self, user: UserId) -> Result<(), RoomError> {
        self.require_host(user)?;
        self.require_lobby()?;
        self.close(CloseReason::Deleted);
        Ok(())
    }

    pub(super) fn presence(&mut self, user: UserId, online: bool, ctx: &mut Ctx) {
        let playing = self.is_playing(user);
        let Some(seat) = self.seat_mut(user) else {
            return;
        };
        if seat.connected == online {
            return;
        }
        seat.connected = online;
        if playing {
            // The game announces the disconnect and runs its own grace (SPEC §3).
            let input = if online {
                liar_rules::Input::Reconnected(user)
            } else {
                liar_rules::Input::Disconnected(user)
            };
            self.feed(input, ctx);
            if online {
                self.resend_card(user);
            }
            return;
        }
        if online {
            self.clear_timer(RoomTimer::Grace { user });
            self.lobby_event(LobbyEvent::PlayerReconnected { user_id: user });
        } else {
            self.start_grace(user, ctx);
            self.lobby_event(LobbyEvent::PlayerDisconnected { user_id: user });
        }
    }

    pub(super) fn start_grace(&mut self, user: UserId, ctx: &Ctx) {
        let at = ctx.now.plus_secs(ctx.rules.grace_secs);
        self.set_timer(RoomTimer::Grace { user }, at);
    }

    /// A member who stayed away for the whole grace leaves (unless he is playing: the game
    /// has its own grace).
    pub(super) fn grace_expired(&mut self, user: UserId, ctx: &mut Ctx) {
        let away = self.seat_of(user).is_some_and(|s| !s.connected);
        if away && !self.is_playing(user) {
            self.remove(user, LeaveReason::Timeout, ctx);
        }
    }

    /// Removes a member; applies `onHostLeave` when he was the host; closes an empty room.
    pub(super) fn remove(&mut self, user: UserId, reason: LeaveReason, _ctx: &mut Ctx) {
        self.seats.retain(|s| s.id != user);
        self.chat_sent.remove(&user);
        self.clear_timer(RoomTimer::Grace { user });
        self.output(Output::Unseated(user));
        self.lobby_event(LobbyEvent::MemberLeft {
            user_id: user,
            reason,
        });
        self.output(Output::Evict(user));
        if self.seats.is_empty() {
            self.closed = true;
            self.output(Output::Closed);
            return;
        }
        if user == self.host {
            match self.settings.on_host_leave {
                OnHostLeave::Close => self.close(CloseReason::HostLeft),
                OnHostLeave::Migrate => {
                    self.host = self.seats[0].id;
                    self.lobby_event(LobbyEvent::HostChanged { host_id: self.host });
                }
            }
        }
    }

    /// Evicts everyone and ends the room.
    pub(super) fn close(&mut self, reason: CloseReason) {
        self.lobby_event(LobbyEvent::RoomClosed { reason });
        let room_id = self.id;
        for seat in std::mem::take(&mut self.seats) {
            self.output(Output::Unseated(seat.id));
            self.output(Output::Evict(seat.id));
            self.private(seat.id, &PrivateEvent::Closed { room_id, reason });
        }
        self.timers.clear();
        self.closed = true;
        self.output(Output::Closed);
    }

    pub(super) fn require_host(&self, user: UserId) -> Result<(), RoomError> {
        match self.seat_of(user) {
            None => Err(RoomError::NotAMember),
            Some(_) if user != self.host => Err(RoomError::NotHost),
            Some(_) => Ok(()),
        }
    }

    pub(super) fn require_lobby(&self) -> Result<(), RoomError> {
        match self.game {
            Some(_) => Err(RoomError::InGame),
            None => Ok(()),
        }
    }

    /// Whether the member was dealt into the running game and is still in it.
    pub(super) fn is_playing(&self, user: UserId) -> bool {
        self.playing_ids().contains(&user)
    }

    pub(super) fn playing_ids(&self) -> Vec<UserId> {
        match &self.game {
            Some(r) if matches!(r.after, super::state::After::Playing) => r.game.players().to_vec(),
            _ => Vec::new(),
        }
    }
}
