//! The vote and its outcome (SPEC §3 steps 4–5): secret, changeable ballots; an early close once
//! every connected player has voted; one accused, or a tie resolved by the tie policy.

use super::{Game, Output, Stage, VoteRecord};
use crate::{Event, Millis, RuleError, Side, TiePolicy, UserId, event::Tally};

impl Game {
    /// Opens a vote among `candidates` (everybody, or the tied players of a re-vote).
    pub(super) fn begin_vote(
        &mut self,
        candidates: Vec<UserId>,
        revote: bool,
        now: Millis,
        out: &mut Vec<Output>,
    ) {
        self.ballots.clear();
        let secs = self.settings.vote_secs;
        self.enter_phase(Stage::Vote { candidates, revote }, secs, now, out);
        out.push(Output::Broadcast(self.vote_progress()));
    }

    pub(super) fn vote(
        &mut self,
        player: UserId,
        target: UserId,
        now: Millis,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        let Stage::Vote { candidates, .. } = &self.stage else {
            return Err(RuleError::WrongPhase);
        };
        if target == player {
            return Err(RuleError::SelfVote);
        }
        if !candidates.contains(&target) || !self.is_active(target) {
            return Err(RuleError::InvalidTarget);
        }
        match self.ballots.iter_mut().find(|b| b.voter_id == player) {
            Some(ballot) => ballot.target_id = target,
            None => {
                self.ballots.push(VoteRecord {
                    voter_id: player,
                    target_id: target,
                });
                out.push(Output::Broadcast(self.vote_progress()));
            }
        }
        self.close_vote_if_complete(now, out);
        Ok(())
    }

    /// A player left during the vote: his ballot and the ballots naming him no longer count.
    pub(super) fn drop_from_vote(&mut self, player: UserId, now: Millis, out: &mut Vec<Output>) {
        if let Stage::Vote { candidates, .. } = &mut self.stage {
            candidates.retain(|&c| c != player);
            self.ballots
                .retain(|b| b.voter_id != player && b.target_id != player);
            out.push(Output::Broadcast(self.vote_progress()));
            self.close_vote_if_complete(now, out);
        }
    }

    /// Closes the vote early once every connected player has voted (never while nobody is
    /// connected: a network blip must not decide the game).
    pub(super) fn close_vote_if_complete(&mut self, now: Millis, out: &mut Vec<Output>) {
        if !matches!(self.stage, Stage::Vote { .. }) {
            return;
        }
        // Voters who are here, or who are away only because the game was resumed by a new
        // process (they are expected back within their grace).
        let connected: Vec<UserId> = self
            .active_ids()
            .into_iter()
            .filter(|&p| self.is_connected(p) || self.is_resumed(p))
            .collect();
        let all_voted = connected
            .iter()
            .all(|&p| self.ballots.iter().any(|b| b.voter_id == p));
        if !connected.is_empty() && all_voted {
            self.close_vote(now, out);
        }
    }

    pub(super) fn close_vote(&mut self, now: Millis, out: &mut Vec<Output>) {
        let Stage::Vote { revote, .. } = self.stage else {
            return;
        };
        self.phase_timer = None;
        let tally = self.count_ballots();
        let top = tally.first().map_or(0, |t| t.votes);
        let tied: Vec<UserId> = tally
            .iter()
            .filter(|t| t.votes == top)
            .map(|t| t.user_id)
            .collect();
        self.tally = tally.clone();
        match tied.as_slice() {
            [accused] => {
                let accused = *accused;
                self.accused = Some(accused);
                out.push(vote_result(tally, Some(accused), Vec::new(), false));
                self.begin_defense(accused, now, out);
            }
            [] => {
                out.push(vote_result(tally, None, Vec::new(), false));
                self.finish(Side::Liar, out);
            }
            _ if self.settings.tie_policy == TiePolicy::Revote && !revote => {
                out.push(vote_result(tally, None, tied.clone(), true));
                self.begin_vote(tied, true, now, out);
            }
            _ => {
                out.push(vote_result(tally, None, tied, false));
                self.finish(Side::Liar, out);
            }
        }
    }

    /// Votes per player who received any: most first, ties in speaking order.
    fn count_ballots(&self) -> Vec<Tally> {
        let mut tally: Vec<Tally> = self
            .order
            .iter()
            .map(|&user_id| Tally {
                user_id,
                votes: count(
                    self.ballots
                        .iter()
                        .filter(|b| b.target_id == user_id)
                        .count(),
                ),
            })
            .filter(|t| t.votes > 0)
            .collect();
        tally.sort_by_key(|t| std::cmp::Reverse(t.votes));
        tally
    }

    pub(super) fn vote_progress(&self) -> Event {
        Event::VoteProgress {
            cast: count(self.ballots.len()),
            total: count(self.active_ids().len()),
        }
    }
}

fn vote_result(
    tally: Vec<Tally>,
    accused: Option<UserId>,
    tied: Vec<UserId>,
    revote: bool,
) -> Output {
    let tie = accused.is_none();
    Output::Broadcast(Event::VoteResult {
        tally,
        accused,
        tie,
        tied,
        revote,
    })
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
