//! The vote and its outcome: exact outputs, refusals, secrecy and both tie policies.

mod common;

use common::*;
use liar_rules::{
    Event, Input, Output, Phase, RuleError, Side, Tally, TiePolicy, VoteRecord, exp_for,
};

#[test]
fn votes_are_refused_outside_the_vote_for_oneself_for_strangers_and_from_strangers() {
    let mut h = Harness::new(4, 20, |_| {});
    let [a, b, ..] = h.order()[..] else {
        unreachable!()
    };
    assert_eq!(h.vote(a, b), Err(RuleError::WrongPhase));
    h.skip_to_vote();
    let before = h.game.clone();
    assert_eq!(h.vote(a, a), Err(RuleError::SelfVote));
    assert_eq!(h.vote(a, 99), Err(RuleError::InvalidTarget));
    assert_eq!(h.vote(99, a), Err(RuleError::NotAPlayer));
    assert_eq!(h.game, before);
    assert_eq!(
        [
            RuleError::SelfVote,
            RuleError::InvalidTarget,
            RuleError::NotAPlayer
        ]
        .map(|e| e.code()),
        ["SELF_VOTE", "INVALID_TARGET", "NOT_A_PLAYER"]
    );
}

#[test]
fn only_the_count_of_votes_is_public_and_a_changed_vote_counts_once() {
    let mut h = Harness::new(4, 21, |_| {});
    h.skip_to_vote();
    let [a, b, c, _] = h.order()[..] else {
        unreachable!()
    };
    assert_eq!(
        h.vote(a, b).unwrap(),
        vec![bc(Event::VoteProgress { cast: 1, total: 4 })]
    );
    assert_eq!(h.vote(a, c).unwrap(), vec![], "a change is not announced");
    assert_eq!(h.vote(a, c).unwrap(), vec![]);
    assert_eq!(
        h.vote(b, c).unwrap(),
        vec![bc(Event::VoteProgress { cast: 2, total: 4 })]
    );
    let state = h.game.public_state();
    assert_eq!(state["vote"]["cast"], 2);
    assert_eq!(state["vote"]["total"], 4);
    assert!(!state.to_string().contains("voterId"));
}

#[test]
fn the_vote_closes_early_once_everybody_has_voted() {
    let mut h = Harness::new(4, 22, |_| {});
    h.skip_to_vote();
    let order = h.order();
    let accused = order[3];
    for &p in &order[..3] {
        h.vote(p, accused).unwrap();
    }
    let outs = h.vote(accused, order[0]).unwrap();
    let at = h.now.plus_secs(20);
    assert_eq!(
        outs,
        vec![
            bc(Event::VoteProgress { cast: 4, total: 4 }),
            bc(Event::VoteResult {
                tally: vec![
                    Tally {
                        user_id: accused,
                        votes: 3
                    },
                    Tally {
                        user_id: order[0],
                        votes: 1
                    }
                ],
                accused: Some(accused),
                tie: false,
                tied: vec![],
                revote: false,
            }),
            phase_changed(Phase::Defense, at),
            phase_timer(seq(h.phase_timer().0), at),
        ]
    );
    assert_eq!(h.game.public_state()["accused"], accused);
}

#[test]
fn the_vote_closes_early_when_every_connected_player_has_voted() {
    let mut h = Harness::new(4, 23, |_| {});
    h.skip_to_vote();
    let order = h.order();
    h.handle(Input::Disconnected(order[3])).unwrap();
    h.vote(order[0], order[1]).unwrap();
    h.vote(order[1], order[0]).unwrap();
    let outs = h.vote(order[2], order[1]).unwrap();
    assert!(
        matches!(broadcasts(&outs)[1], Event::VoteResult { accused: Some(a), .. } if *a == order[1])
    );
}

#[test]
fn a_disconnect_can_complete_the_vote() {
    let mut h = Harness::new(4, 24, |_| {});
    h.skip_to_vote();
    let order = h.order();
    for &p in &order[..3] {
        h.vote(p, order[3]).unwrap();
    }
    let outs = h.handle(Input::Disconnected(order[3])).unwrap();
    let events = broadcasts(&outs);
    assert!(matches!(events[0], Event::PlayerDisconnected { .. }));
    assert!(matches!(events[1], Event::VoteResult { accused: Some(a), .. } if *a == order[3]));
}

#[test]
fn with_nobody_connected_the_vote_waits_for_its_deadline() {
    let mut h = Harness::new(3, 25, |_| {});
    h.skip_to_vote();
    for p in h.order() {
        let outs = h.handle(Input::Disconnected(p)).unwrap();
        assert!(
            !broadcasts(&outs)
                .iter()
                .any(|e| matches!(e, Event::VoteResult { .. }))
        );
    }
    assert_eq!(h.game.phase(), Phase::Vote);
}

#[test]
fn nobody_voting_is_a_tie_among_nobody_and_the_liar_wins() {
    for policy in [TiePolicy::LiarWins, TiePolicy::Revote] {
        let mut h = Harness::new(3, 26, |s| s.tie_policy = policy);
        h.skip_to_vote();
        let outs = h.fire();
        assert_eq!(
            outs[..2],
            [
                bc(Event::VoteResult {
                    tally: vec![],
                    accused: None,
                    tie: true,
                    tied: vec![],
                    revote: false
                }),
                bc(Event::PhaseChanged {
                    phase: Phase::Result,
                    deadline: None
                }),
            ]
        );
        let result = result(&outs);
        assert_eq!(result.winner, Side::Liar);
        assert!(result.votes.is_empty());
    }
}

#[test]
fn non_voters_abstain_when_the_vote_times_out() {
    let mut h = Harness::new(5, 27, |s| s.defense_secs = 0);
    h.skip_to_vote();
    let order = h.order();
    let target = *h.citizens().last().unwrap();
    let voter = *order.iter().find(|&&p| p != target).unwrap();
    h.vote(voter, target).unwrap();
    let outs = h.fire();
    let events = broadcasts(&outs);
    assert_eq!(
        events[..2],
        [
            &Event::VoteResult {
                tally: vec![Tally {
                    user_id: target,
                    votes: 1
                }],
                accused: Some(target),
                tie: false,
                tied: vec![],
                revote: false,
            },
            &Event::LiarRevealed {
                accused_id: target,
                accused_is_liar: false,
                liar_id: None
            },
        ]
    );
    let result = result(&outs);
    assert_eq!(result.winner, Side::Liar);
    assert_eq!(
        result.votes,
        vec![VoteRecord {
            voter_id: voter,
            target_id: target
        }]
    );
}

/// A 4-player vote split 2–2 between the first two players of the order.
fn split_vote(h: &mut Harness) -> Vec<Output> {
    let [a, b, c, d] = h.order()[..] else {
        unreachable!()
    };
    h.vote(a, b).unwrap();
    h.vote(b, a).unwrap();
    h.vote(c, a).unwrap();
    h.vote(d, b).unwrap()
}

#[test]
fn a_tie_lets_the_liar_win_under_the_liar_wins_policy() {
    let mut h = Harness::new(4, 28, |s| s.tie_policy = TiePolicy::LiarWins);
    h.skip_to_vote();
    let [a, b, ..] = h.order()[..] else {
        unreachable!()
    };
    let outs = split_vote(&mut h);
    assert_eq!(
        broadcasts(&outs)[1],
        &Event::VoteResult {
            tally: vec![
                Tally {
                    user_id: a,
                    votes: 2
                },
                Tally {
                    user_id: b,
                    votes: 2
                }
            ],
            accused: None,
            tie: true,
            tied: vec![a, b],
            revote: false,
        }
    );
    assert_eq!(result(&outs).winner, Side::Liar);
    assert_eq!(h.game.phase(), Phase::Result);
}

#[test]
fn a_tie_is_revoted_among_the_tied_and_a_second_tie_lets_the_liar_win() {
    let mut h = Harness::new(4, 29, |s| s.tie_policy = TiePolicy::Revote);
    h.skip_to_vote();
    let [a, b, c, d] = h.order()[..] else {
        unreachable!()
    };
    let outs = split_vote(&mut h);
    let at = h.now.plus_secs(30);
    assert_eq!(
        outs[1..],
        [
            bc(Event::VoteResult {
                tally: vec![
                    Tally {
                        user_id: a,
                        votes: 2
                    },
                    Tally {
                        user_id: b,
                        votes: 2
                    }
                ],
                accused: None,
                tie: true,
                tied: vec![a, b],
                revote: true,
            }),
            phase_changed(Phase::Vote, at),
            phase_timer(seq(h.phase_timer().0), at),
            bc(Event::VoteProgress { cast: 0, total: 4 }),
        ]
    );
    assert_eq!(
        h.vote(c, d),
        Err(RuleError::InvalidTarget),
        "only the tied may be voted for"
    );
    assert_eq!(
        h.game.public_state()["vote"]["candidates"],
        serde_json::json!([a, b])
    );
    let outs = split_vote(&mut h);
    assert!(matches!(
        broadcasts(&outs)[1],
        Event::VoteResult {
            tie: true,
            revote: false,
            ..
        }
    ));
    assert_eq!(result(&outs).winner, Side::Liar);
}

#[test]
fn a_revote_with_a_clear_winner_accuses_him() {
    let mut h = Harness::new(4, 30, |s| {
        s.tie_policy = TiePolicy::Revote;
        s.defense_secs = 0;
    });
    h.skip_to_vote();
    let [a, b, c, d] = h.order()[..] else {
        unreachable!()
    };
    split_vote(&mut h);
    h.vote(a, b).unwrap();
    h.vote(b, a).unwrap();
    h.vote(c, b).unwrap();
    let outs = h.vote(d, b).unwrap();
    assert!(matches!(broadcasts(&outs)[1], Event::VoteResult { accused: Some(x), .. } if *x == b));
    assert!(
        matches!(broadcasts(&outs)[2], Event::LiarRevealed { accused_id, .. } if *accused_id == b)
    );
    let outs = if b == h.liar() { h.fire() } else { outs };
    let result = result(&outs);
    assert_eq!(
        result.votes,
        vec![
            VoteRecord {
                voter_id: a,
                target_id: b
            },
            VoteRecord {
                voter_id: b,
                target_id: a
            },
            VoteRecord {
                voter_id: c,
                target_id: b
            },
            VoteRecord {
                voter_id: d,
                target_id: b
            },
        ],
        "the deciding round's votes, in speaking order"
    );
}

#[test]
fn citizens_who_named_the_liar_earn_more_when_the_citizens_win() {
    let mut h = Harness::new(5, 31, |s| s.defense_secs = 0);
    h.skip_to_vote();
    let liar = h.liar();
    let citizens = h.citizens();
    // Three citizens name the liar, one names another citizen; the liar names a citizen.
    for &c in &citizens[..3] {
        h.vote(c, liar).unwrap();
    }
    h.vote(citizens[3], citizens[0]).unwrap();
    h.vote(liar, citizens[0]).unwrap();
    let outs = h.fire(); // the guess times out
    assert_eq!(
        broadcasts(&outs)[0],
        &Event::GuessResult {
            guess: None,
            correct: false
        }
    );
    let result = result(&outs);
    assert_eq!(result.winner, liar_rules::Side::Citizens);
    for p in &result.players {
        let expected = if p.user_id == liar {
            (false, false, 10)
        } else if citizens[..3].contains(&p.user_id) {
            (true, true, 30)
        } else {
            (false, true, 20)
        };
        assert_eq!(
            (p.voted_correctly, p.won, p.exp),
            expected,
            "player {}",
            p.user_id
        );
        assert_eq!(p.exp, exp_for(result.winner, p.role, p.voted_correctly, 5));
    }
}

#[test]
fn a_tie_given_to_the_liar_says_so_in_the_result() {
    let mut h = Harness::new(4, 29, |s| s.tie_policy = TiePolicy::LiarWins);
    h.skip_to_vote();
    let outs = split_vote(&mut h);
    let r = result(&outs);
    assert_eq!(
        (r.winner, r.reason),
        (Side::Liar, liar_rules::EndReason::Tie)
    );
    assert_eq!(serde_json::to_value(r).unwrap()["reason"], "tie");
}
