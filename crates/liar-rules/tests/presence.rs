//! Disconnects, reconnects and grace expiry.

mod common;

use common::*;
use liar_rules::{AbortReason, Event, GameEnd, Input, Output, Phase, RuleError, Side, Timer};

#[test]
fn a_disconnect_keeps_the_seat_for_the_grace_period_and_a_reconnect_cancels_it() {
    let mut h = Harness::new(4, 80, |_| {});
    let p = h.order()[2];
    let outs = h.handle(Input::Disconnected(p)).unwrap();
    let grace = Timer::Grace { player: p, seq: 2 };
    assert_eq!(
        outs,
        vec![
            bc(Event::PlayerDisconnected { user_id: p }),
            Output::Schedule {
                timer: grace,
                at: T0.plus_secs(60)
            },
        ]
    );
    assert_eq!(h.handle(Input::Disconnected(p)), Ok(vec![]), "idempotent");
    assert_eq!(
        h.handle(Input::Disconnected(99)),
        Err(RuleError::NotAPlayer)
    );
    let state = h.game.public_state();
    let me = state["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["userId"] == p)
        .unwrap();
    assert_eq!(me["connected"], false);

    assert_eq!(
        h.handle(Input::Reconnected(p)).unwrap(),
        vec![bc(Event::PlayerReconnected { user_id: p })]
    );
    assert_eq!(h.handle(Input::Reconnected(p)), Ok(vec![]), "idempotent");
    assert_eq!(
        h.handle(Input::Timer(grace)),
        Ok(vec![]),
        "the grace timer is stale after a reconnect"
    );
    assert!(h.game.card_for(p).is_some());
    assert_eq!(h.game.card_for(99), None);
}

#[test]
fn a_grace_timer_from_an_earlier_disconnect_is_stale() {
    let mut h = Harness::new(4, 81, |_| {});
    let p = h.order()[2];
    h.handle(Input::Disconnected(p)).unwrap();
    h.handle(Input::Reconnected(p)).unwrap();
    let outs = h.handle(Input::Disconnected(p)).unwrap();
    assert_eq!(
        outs[1],
        Output::Schedule {
            timer: Timer::Grace { player: p, seq: 3 },
            at: T0.plus_secs(60)
        }
    );
    assert_eq!(
        h.handle(Input::Timer(Timer::Grace { player: p, seq: 2 })),
        Ok(vec![])
    );
    assert_eq!(
        h.game.public_state()["players"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["out"] == true)
            .count(),
        0
    );
}

#[test]
fn the_liar_running_out_of_grace_hands_the_citizens_the_win() {
    let mut h = Harness::new(4, 82, |_| {});
    h.fire();
    let liar = h.liar();
    h.handle(Input::Disconnected(liar)).unwrap();
    let outs = h.expire_grace(liar);
    assert_eq!(
        outs[..2],
        [
            bc(Event::PlayerLeft { user_id: liar }),
            bc(Event::PhaseChanged {
                phase: Phase::Result,
                deadline: None
            }),
        ]
    );
    let r = result(&outs);
    assert_eq!(r.winner, Side::Citizens);
    for p in &r.players {
        if p.user_id == liar {
            assert!(p.left && !p.won && p.exp == 0, "{p:?}");
        } else {
            assert!(!p.left && p.won && p.exp == 20, "{p:?}");
        }
    }
}

#[test]
fn fewer_than_three_players_abort_the_game() {
    let mut h = Harness::new(3, 83, |_| {});
    let citizen = h.citizens()[0];
    h.handle(Input::Disconnected(citizen)).unwrap();
    let outs = h.expire_grace(citizen);
    assert_eq!(
        outs,
        vec![
            bc(Event::PlayerLeft { user_id: citizen }),
            bc(Event::PhaseChanged {
                phase: Phase::Result,
                deadline: None
            }),
            Output::Finished(GameEnd::Aborted {
                reason: AbortReason::NotEnoughPlayers
            }),
        ]
    );
    assert_eq!(h.game.phase(), Phase::Result);
    assert!(h.game.pending_timers().is_empty());
}

#[test]
fn a_player_who_left_is_no_longer_a_player_and_loses_his_turns() {
    let mut h = Harness::new(4, 84, |s| s.hint_rounds = 1);
    let gone = h.citizens()[0];
    h.handle(Input::Disconnected(gone)).unwrap();
    h.expire_grace(gone);
    assert_eq!(
        h.handle(Input::Reconnected(gone)),
        Err(RuleError::NotAPlayer)
    );
    let mut speakers = Vec::new();
    let mut outs = h.fire();
    loop {
        for e in broadcasts(&outs) {
            match e {
                Event::TurnStarted { speaker, .. } => speakers.push(*speaker),
                Event::TurnSkipped { user_id, .. } if *user_id == gone => {
                    panic!("{gone} left: no turn at all")
                }
                _ => {}
            }
        }
        if h.game.phase() != Phase::Hints {
            break;
        }
        outs = h.fire();
    }
    let expected: Vec<_> = h.order().into_iter().filter(|&p| p != gone).collect();
    assert_eq!(speakers, expected);
    assert_eq!(h.hint(gone, "hi"), Err(RuleError::NotAPlayer));
}

#[test]
fn a_player_leaving_during_the_vote_takes_his_ballot_and_the_ballots_naming_him_along() {
    let mut h = Harness::new(5, 85, |_| {});
    h.skip_to_vote();
    let liar = h.liar();
    let c = h.citizens();
    h.vote(c[0], c[1]).unwrap();
    h.vote(c[1], c[2]).unwrap();
    h.vote(c[2], liar).unwrap();
    h.handle(Input::Disconnected(c[1])).unwrap();
    let outs = h.expire_grace(c[1]);
    assert_eq!(
        outs,
        vec![
            bc(Event::PlayerLeft { user_id: c[1] }),
            bc(Event::VoteProgress { cast: 1, total: 4 })
        ]
    );
    assert_eq!(h.vote(c[0], c[1]), Err(RuleError::InvalidTarget));
    h.vote(c[0], liar).unwrap();
    h.vote(c[3], liar).unwrap();
    let outs = h.vote(liar, c[0]).unwrap();
    assert!(
        matches!(broadcasts(&outs)[1], Event::VoteResult { accused: Some(a), .. } if *a == liar)
    );
}

#[test]
fn the_liar_may_reconnect_and_guess_within_the_guess_time() {
    let mut h = Harness::new(3, 86, |_| {});
    h.skip_to_guess();
    let liar = h.liar();
    h.handle(Input::Disconnected(liar)).unwrap();
    assert_eq!(h.game.phase(), Phase::Guess);
    h.handle(Input::Reconnected(liar)).unwrap();
    let word = h.game.word().ko.clone();
    let outs = h.send(liar, liar_rules::Command::Guess(word)).unwrap();
    assert_eq!(result(&outs).winner, Side::Liar);
}

#[test]
fn a_resumed_game_waits_for_everyone_silently_and_keeps_its_deadlines() {
    let mut h = Harness::new(4, 21, |_| {});
    h.skip_to_vote();
    let vote_deadline = h.phase_timer().1;
    let order = h.order();
    h.now = h.now.plus_secs(3);
    let outs = h.handle(Input::Resumed).unwrap();
    assert!(broadcasts(&outs).is_empty(), "nothing announced: {outs:?}");
    let graces: Vec<_> = outs
        .iter()
        .filter_map(|o| match o {
            Output::Schedule {
                timer: Timer::Grace { player, .. },
                at,
            } => Some((*player, *at)),
            _ => None,
        })
        .collect();
    let fresh = h.now.plus_secs(60);
    let mut expected: Vec<_> = order.iter().map(|&p| (p, fresh)).collect();
    expected.sort();
    let mut graces = graces;
    graces.sort();
    assert_eq!(graces, expected, "every player: a fresh grace");
    assert_eq!(
        h.phase_timer().1,
        vote_deadline,
        "the vote keeps its deadline"
    );
    h.handle(Input::Reconnected(order[0])).unwrap();
    let outs = h.vote(order[0], order[1]).unwrap();
    assert_eq!(
        h.game.phase(),
        Phase::Vote,
        "one vote of four does not close it: {outs:?}"
    );
    for &p in &order[1..] {
        h.handle(Input::Reconnected(p)).unwrap();
        h.vote(p, order[0]).unwrap();
    }
    assert_ne!(h.game.phase(), Phase::Vote, "all four voted");
}

#[test]
fn a_resumed_speaker_keeps_his_turn_for_the_turn_grace() {
    let mut h = Harness::new(4, 22, |_| {});
    h.fire();
    let order = h.order();
    h.now = h.now.plus_secs(2);
    h.handle(Input::Resumed).unwrap();
    assert_eq!(h.phase_timer().1, h.now.plus_secs(10));
    h.handle(Input::Reconnected(order[0])).unwrap();
    assert_eq!(
        h.phase_timer().1,
        T0.plus_secs(5 + 30),
        "back: the turn's own deadline"
    );
    assert!(h.hint(order[0], "mane").is_ok());
}
