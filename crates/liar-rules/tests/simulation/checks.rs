//! The invariants checked on every output of a simulated game.

use std::collections::HashSet;

use liar_rules::{
    EndReason, Event, GameEnd, GameResult, Mode, Output, Phase, Role, Side, TiePolicy, UserId,
    exp_for, normalize::normalize,
};
use serde_json::Value;

use super::{Sim, is_noise, walk};

impl Sim<'_> {
    /// The deal: every player gets his own card privately, exactly one of them is the liar.
    pub(super) fn check_deal(&self, outs: &[Output]) {
        let cards: Vec<(UserId, &Event)> = outs
            .iter()
            .filter_map(|o| match o {
                Output::Private { to, event } => Some((*to, event)),
                _ => None,
            })
            .collect();
        let mut owners: Vec<UserId> = cards.iter().map(|(to, _)| *to).collect();
        owners.sort();
        let mut players = self.game.players().to_vec();
        players.sort();
        assert_eq!(owners, players, "one card per player");
        let settings = self.game.settings();
        let word = self.game.word().text(settings.language);
        let odd: Vec<UserId> = cards
            .iter()
            .filter(|(_, card)| match card {
                Event::GameCard {
                    role: Role::Liar,
                    word: None,
                    ..
                } => settings.mode == Mode::Classic,
                Event::GameCard {
                    role: Role::Citizen,
                    word: Some(w),
                    ..
                } => w != word,
                other => panic!("not a valid card: {other:?}"),
            })
            .map(|(to, _)| *to)
            .collect();
        assert_eq!(odd, vec![self.liar()], "exactly one liar");
    }

    pub(super) fn check_outputs(&mut self, outs: &[Output]) {
        for out in outs {
            assert!(self.finished.is_none(), "output after Finished: {out:?}");
            match out {
                Output::Broadcast(event) => self.check_broadcast(event),
                Output::Private { to, event } => {
                    assert!(
                        matches!(event, Event::GameCard { .. }),
                        "only cards are private"
                    );
                    assert_eq!(
                        self.game.card_for(*to).as_ref(),
                        Some(event),
                        "a card goes to its owner"
                    );
                    if *to == self.liar() && self.game.settings().mode == Mode::Classic {
                        assert!(matches!(
                            event,
                            Event::GameCard {
                                role: Role::Liar,
                                word: None,
                                ..
                            }
                        ));
                    }
                }
                Output::Schedule { timer, at } => {
                    assert!(*at >= self.now, "a timer in the past");
                    self.scheduled.push((*timer, *at));
                }
                Output::Finished(end) => {
                    self.check_end(end);
                    self.finished = Some(end.clone());
                }
            }
        }
    }

    fn check_broadcast(&mut self, event: &Event) {
        let json = serde_json::to_value(event).unwrap();
        self.check_secrecy(&json, event);
        let active = self.game.players().len() - self.left.len();
        match event {
            Event::GameCard { .. } => panic!("a card was broadcast"),
            Event::PhaseChanged { phase, deadline } => {
                self.check_transition(*phase);
                assert_eq!(deadline.is_none(), *phase == Phase::Result);
                assert!(deadline.is_none_or(|d| d >= self.now));
            }
            Event::TurnStarted {
                speaker,
                round,
                deadline,
            } => {
                assert_eq!(self.phase, Some(Phase::Hints));
                assert!(*round >= 1 && *round <= self.game.settings().hint_rounds);
                assert!(!self.left.contains(speaker) && *deadline >= self.now);
                self.speaker = Some(*speaker);
            }
            Event::Hint { user_id, .. } => assert_eq!(Some(*user_id), self.speaker.take()),
            Event::VoteProgress { cast, total } => {
                assert_eq!(*total as usize, active);
                assert!(cast <= total);
            }
            Event::VoteResult {
                tally,
                accused,
                tie,
                tied,
                ..
            } => {
                assert!(tally.iter().map(|t| t.votes as usize).sum::<usize>() <= active);
                assert_eq!(*tie, accused.is_none());
                assert_eq!(tied.len() >= 2, *tie && !tally.is_empty());
                self.accused = *accused;
            }
            Event::LiarRevealed {
                accused_id,
                accused_is_liar,
                liar_id,
            } => {
                assert_eq!(Some(*accused_id), self.accused);
                assert_eq!(*accused_is_liar, *accused_id == self.liar());
                assert_eq!(*liar_id, accused_is_liar.then_some(self.liar()));
                self.liar_exposed = *accused_is_liar;
            }
            Event::GuessResult { guess, correct } => {
                assert!(self.liar_exposed);
                if guess.is_some() {
                    assert_eq!(Some(*correct), self.guessed_right, "guess {guess:?}");
                } else {
                    assert!(!correct);
                    self.guessed_right = None;
                }
            }
            Event::PlayerLeft { user_id } => assert!(self.left.insert(*user_id)),
            _ => {}
        }
    }

    /// Before the end no broadcast names a role, the liar, the word or a ballot.
    fn check_secrecy(&self, json: &Value, event: &Event) {
        let revealing = matches!(
            event,
            Event::LiarRevealed {
                accused_is_liar: true,
                ..
            }
        );
        let guess = matches!(event, Event::GuessResult { .. });
        walk(json, &mut |key, value| {
            assert!(
                !matches!(key, "role" | "word" | "voterId" | "targetId"),
                "secret field {key} in {json}"
            );
            if key == "liarId" {
                assert!(revealing, "liarId before the liar is exposed: {json}");
            }
            if let Value::String(text) = value
                && !guess
                && !is_noise(text)
            {
                assert!(
                    !self.secret_forms.contains(&normalize(text)),
                    "the word in {json}"
                );
            }
        });
    }

    pub(super) fn check_public_state(&self) {
        let state = self.game.public_state();
        if self.game.is_over() {
            return;
        }
        walk(&state, &mut |key, value| {
            assert!(
                !matches!(key, "role" | "word" | "voterId" | "targetId" | "votes")
                    || key == "votes" && value.is_number()
            );
            if key == "liarId" {
                assert!(value.is_null() || self.liar_exposed, "liarId in {state}");
            }
            if let Value::String(text) = value {
                assert!(
                    is_noise(text) || !self.secret_forms.contains(&normalize(text)),
                    "the word in {state}"
                );
            }
        });
        assert_eq!(
            state["phase"],
            serde_json::to_value(self.game.phase()).unwrap()
        );
    }

    fn check_transition(&mut self, next: Phase) {
        let rank = |p: Phase| p as u8;
        match self.phase {
            None => assert_eq!(next, Phase::Deal),
            Some(Phase::Vote) if next == Phase::Vote => {
                assert!(!self.revoted, "a second re-vote");
                assert_eq!(self.game.settings().tie_policy, TiePolicy::Revote);
                self.revoted = true;
            }
            Some(current) => assert!(rank(next) > rank(current), "{current:?} -> {next:?}"),
        }
        if next == Phase::Defense {
            assert!(self.game.settings().defense_secs > 0);
        }
        if next == Phase::Discussion {
            assert!(self.game.settings().discussion_secs > 0);
        }
        self.phase = Some(next);
        self.speaker = None;
    }

    fn check_end(&self, end: &GameEnd) {
        assert_eq!(
            self.phase,
            Some(Phase::Result),
            "phase.changed result precedes Finished"
        );
        match end {
            GameEnd::Aborted { .. } => {
                assert!(self.game.players().len() - self.left.len() < 3);
                assert!(!self.left.contains(&self.liar()));
            }
            GameEnd::Completed(result) => self.check_result(result),
        }
    }

    fn check_result(&self, r: &GameResult) {
        let n = self.game.players().len();
        assert_eq!(r.liar_id, self.liar());
        assert_eq!(r.topic_id, self.topic.id);
        assert_eq!(r.word, self.game.word().text(self.game.settings().language));
        assert_eq!(r.players.len(), n);
        let liars: Vec<_> = r
            .players
            .iter()
            .filter(|p| p.role == Role::Liar)
            .map(|p| p.user_id)
            .collect();
        assert_eq!(liars, vec![self.liar()], "exactly one liar");
        if self.left.contains(&self.liar()) {
            assert_eq!(r.winner, Side::Citizens);
            assert_eq!(r.reason, EndReason::LiarLeft);
        }
        assert_eq!(
            r.reason.winner(),
            r.winner,
            "{:?} names the winner",
            r.reason
        );
        assert_eq!(
            r.liar_word.is_some(),
            self.game.settings().mode == Mode::Fool,
            "the fool's own word is revealed in fool mode only"
        );
        if let Some(defense) = &r.defense {
            let votes_for = |id| r.votes.iter().filter(|v| v.target_id == id).count();
            let top = r.votes.iter().map(|v| votes_for(v.target_id)).max();
            assert_eq!(
                Some(votes_for(defense.user_id)),
                top,
                "only the accused defends"
            );
        }
        let voters: HashSet<_> = r.votes.iter().map(|v| v.voter_id).collect();
        assert_eq!(voters.len(), r.votes.len(), "one vote per voter");
        for v in &r.votes {
            assert_ne!(v.voter_id, v.target_id);
        }
        for p in &r.players {
            let named_liar = r
                .votes
                .iter()
                .any(|v| v.voter_id == p.user_id && v.target_id == self.liar());
            assert_eq!(p.voted_correctly, p.role == Role::Citizen && named_liar);
            assert_eq!(p.left, self.left.contains(&p.user_id));
            let expected = if p.left {
                0
            } else {
                exp_for(r.winner, p.role, p.voted_correctly, n)
            };
            assert_eq!(p.exp, expected, "{p:?}");
            let table = match (r.winner, p.role, p.voted_correctly) {
                (Side::Liar, Role::Liar, _) => 53 - n as u32,
                (Side::Liar, Role::Citizen, _) => 15,
                (Side::Citizens, Role::Citizen, true) => 25 + n as u32,
                (Side::Citizens, Role::Citizen, false) => 20,
                (Side::Citizens, Role::Liar, _) => 10,
            };
            assert_eq!(p.exp, if p.left { 0 } else { table });
            assert_eq!(p.won, !p.left && p.role.side() == r.winner);
        }
    }
}
