//! Defense, reveal, the liar's guess and the result (SPEC §3 steps 6–8).

use super::{
    AbortReason, DefenseRecord, EndReason, Game, GameEnd, GameResult, MAX_DEFENSE_CHARS,
    MAX_GUESS_CHARS, Output, PlayerResult, Stage, VoteRecord, checked_text,
};
use crate::{Event, Millis, Phase, Role, RuleError, Side, UserId, exp_for};

impl Game {
    /// Gives the accused the floor, unless defense is switched off or he is disconnected.
    pub(super) fn begin_defense(&mut self, accused: UserId, now: Millis, out: &mut Vec<Output>) {
        match self.settings.defense_secs {
            secs if secs > 0 && self.is_connected(accused) => {
                self.enter_phase(Stage::Defense { accused }, secs, now, out);
            }
            _ => self.reveal(accused, now, out),
        }
    }

    pub(super) fn defend(
        &mut self,
        player: UserId,
        text: &str,
        now: Millis,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        let Stage::Defense { accused } = self.stage else {
            return Err(RuleError::WrongPhase);
        };
        if player != accused {
            return Err(RuleError::NotYourTurn);
        }
        let text = checked_text(text, MAX_DEFENSE_CHARS)?;
        self.defense = Some(DefenseRecord {
            user_id: player,
            text: text.clone(),
        });
        out.push(Output::Broadcast(Event::Defense {
            user_id: player,
            text,
        }));
        self.reveal(accused, now, out);
        Ok(())
    }

    /// Tells whether the accused is the liar; the liar then gets his guess.
    pub(super) fn reveal(&mut self, accused: UserId, now: Millis, out: &mut Vec<Output>) {
        let is_liar = accused == self.liar;
        self.revealed = Some(is_liar);
        out.push(Output::Broadcast(Event::LiarRevealed {
            accused_id: accused,
            accused_is_liar: is_liar,
            liar_id: is_liar.then_some(self.liar),
        }));
        if is_liar {
            let secs = self.settings.guess_secs;
            self.enter_phase(Stage::Guess, secs, now, out);
        } else {
            self.finish(Side::Liar, out);
        }
    }

    pub(super) fn make_guess(
        &mut self,
        player: UserId,
        text: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        if self.stage != Stage::Guess {
            return Err(RuleError::WrongPhase);
        }
        if player != self.liar {
            return Err(RuleError::NotYourTurn);
        }
        let guess = checked_text(text, MAX_GUESS_CHARS)?;
        let correct = self.word.matches_guess(&guess, self.settings.language);
        self.guess = Some(guess.clone());
        out.push(Output::Broadcast(Event::GuessResult {
            guess: Some(guess),
            correct,
        }));
        self.finish(if correct { Side::Liar } else { Side::Citizens }, out);
        Ok(())
    }

    pub(super) fn guess_timed_out(&mut self, out: &mut Vec<Output>) {
        out.push(Output::Broadcast(Event::GuessResult {
            guess: None,
            correct: false,
        }));
        self.finish(Side::Citizens, out);
    }

    /// Completes the game: `phase.changed {result}` and the full result.
    pub(super) fn finish(&mut self, winner: Side, out: &mut Vec<Output>) {
        let result = self.build_result(winner);
        self.close(GameEnd::Completed(result), out);
    }

    /// Why `winner` wins, read from the state the game ends in (every path to the end leaves
    /// a distinct trace: the reveal, the guess, the liar's seat).
    fn end_reason(&self, winner: Side) -> EndReason {
        match winner {
            Side::Liar => match (self.revealed, &self.guess) {
                (Some(false), _) => EndReason::WrongAccused,
                (Some(true), Some(_)) => EndReason::LiarGuessed,
                _ => EndReason::Tie,
            },
            Side::Citizens if !self.is_active(self.liar) => EndReason::LiarLeft,
            Side::Citizens if self.guess.is_some() => EndReason::LiarMissed,
            Side::Citizens => EndReason::GuessTimeout,
        }
    }

    /// Aborts the game: no result, no experience.
    pub(super) fn abort(&mut self, reason: AbortReason, out: &mut Vec<Output>) {
        self.close(GameEnd::Aborted { reason }, out);
    }

    fn close(&mut self, end: GameEnd, out: &mut Vec<Output>) {
        self.stage = Stage::Result;
        self.phase_timer = None;
        for seat in &mut self.seats {
            seat.grace = None;
        }
        out.push(Output::Broadcast(Event::PhaseChanged {
            phase: Phase::Result,
            deadline: None,
        }));
        out.push(Output::Finished(end.clone()));
        self.end = Some(end);
    }

    fn build_result(&self, winner: Side) -> GameResult {
        let n = self.players.len();
        let players = self
            .seats
            .iter()
            .map(|seat| {
                let role = if seat.id == self.liar {
                    Role::Liar
                } else {
                    Role::Citizen
                };
                let voted_correctly = role == Role::Citizen
                    && self
                        .ballots
                        .iter()
                        .any(|b| b.voter_id == seat.id && b.target_id == self.liar);
                let won = !seat.out && role.side() == winner;
                let exp = if seat.out {
                    0
                } else {
                    exp_for(winner, role, voted_correctly, n)
                };
                PlayerResult {
                    user_id: seat.id,
                    role,
                    voted_correctly,
                    won,
                    exp,
                    left: seat.out,
                }
            })
            .collect();
        let votes: Vec<VoteRecord> = self
            .order
            .iter()
            .filter_map(|&p| self.ballots.iter().find(|b| b.voter_id == p).copied())
            .collect();
        let language = self.settings.language;
        GameResult {
            winner,
            reason: self.end_reason(winner),
            liar_id: self.liar,
            topic_id: self.topic_id.clone(),
            word_id: self.word.id.clone(),
            word: self.word.text(language).to_owned(),
            votes,
            players,
            guess: self.guess.clone(),
            defense: self.defense.clone(),
            liar_word: self.liar_word.as_ref().map(|w| w.text(language).to_owned()),
        }
    }
}
