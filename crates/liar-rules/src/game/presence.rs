//! Disconnects, reconnects and the grace period (SPEC §3, "Leaving mid-game").
//!
//! A disconnected player keeps his seat for `graceSeconds`; his hint turns and his defense are
//! skipped meanwhile (the liar's guess is not: he may come back within `guessSeconds`). When the
//! grace runs out he is out: the liar leaving hands the citizens the win, fewer than
//! [`super::MIN_PLAYERS`] players left aborts the game.

use super::{AbortReason, Game, MIN_PLAYERS, Output, Stage, Timer};
use crate::{Event, Millis, RuleError, Side, UserId};

impl Game {
    pub(super) fn disconnected(
        &mut self,
        player: UserId,
        now: Millis,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        if self.end.is_some() {
            return Ok(());
        }
        let i = self.active_seat(player)?;
        if !self.seats[i].connected {
            return Ok(());
        }
        let seq = self.next_seq();
        let at = now.plus_secs(self.settings.grace_secs);
        self.seats[i].connected = false;
        self.seats[i].grace = Some((seq, at));
        out.push(Output::Broadcast(Event::PlayerDisconnected {
            user_id: player,
        }));
        out.push(Output::Schedule {
            timer: Timer::Grace { player, seq },
            at,
        });
        match self.stage {
            Stage::Hints { turn } if self.speaker(turn) == player => {
                self.start_turn_grace(now, out);
            }
            Stage::Vote { .. } => self.close_vote_if_complete(now, out),
            Stage::Defense { accused } if accused == player => {
                self.phase_timer = None;
                self.reveal(accused, now, out);
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn reconnected(
        &mut self,
        player: UserId,
        now: Millis,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        if self.end.is_some() {
            return Ok(());
        }
        let i = self.active_seat(player)?;
        if self.seats[i].connected {
            return Ok(());
        }
        self.seats[i].connected = true;
        self.seats[i].grace = None;
        self.seats[i].resumed = false;
        out.push(Output::Broadcast(Event::PlayerReconnected {
            user_id: player,
        }));
        match self.stage {
            Stage::Hints { turn } if self.speaker(turn) == player => self.end_turn_grace(now, out),
            Stage::Vote { .. } => self.close_vote_if_complete(now, out),
            _ => {}
        }
        Ok(())
    }

    /// A new process loaded the game: everyone is away with a fresh grace, silently; the
    /// speaker keeps his turn for the turn grace. Deadlines stay as they were.
    pub(super) fn resumed(&mut self, now: Millis, out: &mut Vec<Output>) {
        if self.end.is_some() {
            return;
        }
        let grace = self.settings.grace_secs;
        for i in 0..self.seats.len() {
            if self.seats[i].out {
                continue;
            }
            let seq = self.next_seq();
            let at = now.plus_secs(grace);
            let seat = &mut self.seats[i];
            seat.connected = false;
            seat.resumed = true;
            seat.grace = Some((seq, at));
            out.push(Output::Schedule {
                timer: Timer::Grace {
                    player: seat.id,
                    seq,
                },
                at,
            });
        }
        if let Stage::Hints { .. } = self.stage {
            self.start_turn_grace(now, out);
        }
    }

    pub(super) fn grace_expired(
        &mut self,
        player: UserId,
        seq: u64,
        now: Millis,
        out: &mut Vec<Output>,
    ) {
        let Some(i) = self.seat_index(player) else {
            return;
        };
        let seat = &mut self.seats[i];
        if self.end.is_some() || seat.out || seat.grace.is_none_or(|(current, _)| current != seq) {
            return;
        }
        seat.out = true;
        seat.grace = None;
        seat.resumed = false;
        out.push(Output::Broadcast(Event::PlayerLeft { user_id: player }));
        if player == self.liar {
            self.finish(Side::Citizens, out);
        } else if self.active_ids().len() < MIN_PLAYERS {
            self.abort(AbortReason::NotEnoughPlayers, out);
        } else {
            self.drop_from_vote(player, now, out);
        }
    }
}
