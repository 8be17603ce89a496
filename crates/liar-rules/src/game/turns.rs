//! Hint turns (SPEC §3 step 2): `hintRounds` rotations through the speaking order, one hint
//! per turn, skipped on timeout or at once when the speaker is disconnected.

use super::{Game, HintRecord, MAX_HINT_CHARS, Output, SkipRecord, Stage, checked_text};
use crate::{Event, Millis, RuleError, UserId, event::SkipReason};

impl Game {
    /// Leaves the deal: the first hint turn, or straight to discussion without hint rounds.
    pub(super) fn begin_hints(&mut self, now: Millis, out: &mut Vec<Output>) {
        if self.total_turns() == 0 {
            return self.begin_discussion(now, out);
        }
        self.stage = Stage::Hints { turn: 0 };
        let deadline = Some(now.plus_secs(self.settings.hint_secs));
        out.push(Output::Broadcast(Event::PhaseChanged {
            phase: self.phase(),
            deadline,
        }));
        self.start_turn_from(0, now, out);
    }

    pub(super) fn hint(
        &mut self,
        player: UserId,
        text: &str,
        now: Millis,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        let Stage::Hints { turn } = self.stage else {
            return Err(RuleError::WrongPhase);
        };
        if self.speaker(turn) != player {
            return Err(RuleError::NotYourTurn);
        }
        let text = checked_text(text, MAX_HINT_CHARS)?;
        let round = self.round(turn);
        self.hints.push(HintRecord {
            user_id: player,
            text: text.clone(),
            round,
        });
        out.push(Output::Broadcast(Event::Hint {
            user_id: player,
            text,
            round,
        }));
        self.start_turn_from(turn + 1, now, out);
        Ok(())
    }

    /// The turn's timer fired: at its deadline, or earlier at the end of the turn grace of a
    /// speaker who is away.
    pub(super) fn turn_timed_out(&mut self, turn: usize, now: Millis, out: &mut Vec<Output>) {
        let reason = if self.is_connected(self.speaker(turn)) {
            SkipReason::Timeout
        } else {
            SkipReason::Disconnected
        };
        self.skip_turn(turn, reason, now, out);
    }

    /// The speaker went away during his turn: he keeps it for the turn grace, never past the
    /// turn's own deadline (SPEC §3 step 2).
    pub(super) fn start_turn_grace(&mut self, now: Millis, out: &mut Vec<Output>) {
        let Some(deadline) = self.turn_deadline else {
            return;
        };
        let at = deadline.min(now.plus_secs(self.settings.turn_grace_secs));
        self.arm_phase_timer_at(at.max(now), out);
    }

    /// The speaker is back during his turn: the turn runs to its own deadline again.
    pub(super) fn end_turn_grace(&mut self, now: Millis, out: &mut Vec<Output>) {
        if let Some(deadline) = self.turn_deadline {
            self.arm_phase_timer_at(deadline.max(now), out);
        }
    }

    /// Ends turn `turn` without a hint and moves on.
    pub(super) fn skip_turn(
        &mut self,
        turn: usize,
        reason: SkipReason,
        now: Millis,
        out: &mut Vec<Output>,
    ) {
        let (user_id, round) = (self.speaker(turn), self.round(turn));
        self.announce_skip(user_id, round, reason, out);
        self.start_turn_from(turn + 1, now, out);
    }

    /// `turn.skipped`, kept for snapshots too: a reloaded page lists the skip where it happened.
    fn announce_skip(
        &mut self,
        user_id: UserId,
        round: u8,
        reason: SkipReason,
        out: &mut Vec<Output>,
    ) {
        self.skips.push(SkipRecord {
            user_id,
            round,
            reason,
            after_hints: self.hints.len(),
        });
        out.push(Output::Broadcast(Event::TurnSkipped {
            user_id,
            round,
            reason,
        }));
    }

    /// Starts the first playable turn at or after `turn`: players who left are passed over
    /// silently; a speaker who is away gets his turn with only the turn grace to come back
    /// (then `turn.skipped`). After the last turn, discussion.
    fn start_turn_from(&mut self, mut turn: usize, now: Millis, out: &mut Vec<Output>) {
        self.turn_deadline = None;
        while turn < self.total_turns() {
            let (speaker, round) = (self.speaker(turn), self.round(turn));
            if !self.is_active(speaker) {
                turn += 1;
                continue;
            }
            self.stage = Stage::Hints { turn };
            let at = now.plus_secs(self.settings.hint_secs);
            out.push(Output::Broadcast(Event::TurnStarted {
                speaker,
                round,
                deadline: at,
            }));
            self.turn_deadline = Some(at);
            if self.is_connected(speaker) {
                self.arm_phase_timer_at(at, out);
            } else {
                self.start_turn_grace(now, out);
            }
            return;
        }
        self.begin_discussion(now, out);
    }

    fn begin_discussion(&mut self, now: Millis, out: &mut Vec<Output>) {
        match self.settings.discussion_secs {
            0 => self.begin_vote(self.active_ids(), false, now, out),
            secs => self.enter_phase(Stage::Discussion, secs, now, out),
        }
    }

    fn total_turns(&self) -> usize {
        usize::from(self.settings.hint_rounds) * self.order.len()
    }

    pub(super) fn speaker(&self, turn: usize) -> UserId {
        self.order[turn % self.order.len()]
    }

    pub(super) fn round(&self, turn: usize) -> u8 {
        u8::try_from(turn / self.order.len() + 1).unwrap_or(u8::MAX)
    }
}
