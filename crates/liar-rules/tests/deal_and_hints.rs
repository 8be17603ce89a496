//! Dealing, hint turns and discussion: exact outputs of each transition.

mod common;

use common::*;
use liar_rules::{
    Event, Game, Input, Mode, Output, Phase, Role, RuleError, SkipReason, StartError, Timer, Topic,
    rand::{SeedableRng, rngs::StdRng},
};

fn cards(outs: &[Output]) -> Vec<(i64, Event)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Private { to, event } => Some((*to, event.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn start_announces_the_game_deals_private_cards_and_times_the_deal() {
    let h = Harness::new(4, 1, |_| {});
    let (liar, word) = (h.liar(), h.game.word().ko.clone());
    let mut expected = vec![bc(Event::GameStarted {
        order: h.order(),
        settings: settings(),
        topic_id: "animals".into(),
        topic: "동물".into(),
    })];
    for p in 1..=4 {
        let event = if p == liar {
            Event::GameCard {
                role: Role::Liar,
                topic: "동물".into(),
                word: None,
            }
        } else {
            Event::GameCard {
                role: Role::Citizen,
                topic: "동물".into(),
                word: Some(word.clone()),
            }
        };
        expected.push(Output::Private { to: p, event });
    }
    expected.push(phase_changed(Phase::Deal, T0.plus_secs(5)));
    expected.push(phase_timer(1, T0.plus_secs(5)));
    assert_eq!(h.started, expected);
    assert_eq!(h.game.phase(), Phase::Deal);
    assert_eq!(h.game.deadline(), Some(T0.plus_secs(5)));
    let mut order = h.order();
    order.sort();
    assert_eq!(order, vec![1, 2, 3, 4]);
}

#[test]
fn a_classic_liar_card_never_carries_a_word() {
    for seed in 0..50 {
        let h = Harness::new(5, seed, |_| {});
        let liar_cards: Vec<_> = cards(&h.started)
            .into_iter()
            .filter(|(_, e)| {
                matches!(
                    e,
                    Event::GameCard {
                        role: Role::Liar,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(liar_cards.len(), 1);
        assert_eq!(liar_cards[0].0, h.liar());
        assert!(matches!(
            &liar_cards[0].1,
            Event::GameCard { word: None, .. }
        ));
        assert_eq!(h.game.card_for(h.liar()), Some(liar_cards[0].1.clone()));
    }
}

#[test]
fn a_fool_liar_is_told_he_is_a_citizen_and_gets_the_paired_word() {
    for seed in 0..30 {
        let h = Harness::new(4, seed, |s| s.mode = Mode::Fool);
        let word = h.game.word().ko.clone();
        let partner = if word == "사자" {
            "호랑이"
        } else {
            "사자"
        };
        for (to, card) in cards(&h.started) {
            let expected = if to == h.liar() {
                partner
            } else {
                word.as_str()
            };
            assert_eq!(
                card,
                Event::GameCard {
                    role: Role::Citizen,
                    topic: "동물".into(),
                    word: Some(expected.into())
                }
            );
        }
    }
}

#[test]
fn a_fool_liar_gets_another_word_of_the_topic_when_the_word_has_no_pair() {
    let mut topic: Topic = serde_json::from_value(topic_json("t", 30)).unwrap();
    topic.pairs.clear();
    let mut seen = std::collections::HashSet::new();
    for seed in 0..200 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (game, outs) = Game::start(vec![1, 2, 3], fool_settings(), &topic, T0, &mut rng);
        let word = game.word().ko.clone();
        let liar_word = match &cards(&outs)
            .into_iter()
            .find(|(to, _)| *to == game.liar())
            .unwrap()
            .1
        {
            Event::GameCard {
                role: Role::Citizen,
                word: Some(w),
                ..
            } => w.clone(),
            other => panic!("unexpected fool liar card {other:?}"),
        };
        assert_ne!(liar_word, word);
        assert!(topic.words.iter().any(|w| w.ko == liar_word));
        seen.insert(liar_word);
    }
    assert!(
        seen.len() > 20,
        "the other word is drawn at random: {}",
        seen.len()
    );
}

fn fool_settings() -> liar_rules::GameSettings {
    liar_rules::GameSettings {
        mode: Mode::Fool,
        ..settings()
    }
}

#[test]
fn the_liar_is_uniform_and_the_order_is_shuffled() {
    let mut liar_count = [0u32; 5];
    let mut first_speaker = [0u32; 5];
    for seed in 0..5000 {
        let h = Harness::new(5, seed, |_| {});
        liar_count[(h.liar() - 1) as usize] += 1;
        first_speaker[(h.order()[0] - 1) as usize] += 1;
    }
    for counts in [liar_count, first_speaker] {
        for c in counts {
            assert!((900..1100).contains(&c), "not uniform: {counts:?}");
        }
    }
}

#[test]
fn try_start_refuses_unplayable_games() {
    let mut rng = StdRng::seed_from_u64(0);
    let start = |players: Vec<i64>, topic: &Topic, rng: &mut StdRng| {
        Game::try_start(players, settings(), topic, T0, rng)
            .map(|_| ())
            .unwrap_err()
    };
    assert_eq!(
        start(vec![1, 2], &tiny_topic(), &mut rng),
        StartError::TooFewPlayers(2)
    );
    assert_eq!(
        start(vec![1, 2, 1], &tiny_topic(), &mut rng),
        StartError::DuplicatePlayer(1)
    );
    let mut one_word = tiny_topic();
    one_word.words.truncate(1);
    assert_eq!(
        start(vec![1, 2, 3], &one_word, &mut rng),
        StartError::TopicTooSmall("animals".into())
    );
}

#[test]
fn the_deal_timer_opens_the_first_hint_turn() {
    let mut h = Harness::new(4, 2, |_| {});
    let outs = h.fire();
    let at = T0.plus_secs(5 + 30);
    let first = h.order()[0];
    assert_eq!(
        outs,
        vec![
            phase_changed(Phase::Hints, at),
            bc(Event::TurnStarted {
                speaker: first,
                round: 1,
                deadline: at
            }),
            phase_timer(2, at),
        ]
    );
    assert_eq!(h.game.deadline(), Some(at));
}

#[test]
fn only_the_speaker_may_hint() {
    let mut h = Harness::new(4, 3, |_| {});
    h.fire();
    let order = h.order();
    let before = h.game.clone();
    assert_eq!(h.hint(order[1], "big cat"), Err(RuleError::NotYourTurn));
    assert_eq!(h.hint(99, "big cat"), Err(RuleError::NotAPlayer));
    assert_eq!(h.vote(order[0], order[1]), Err(RuleError::WrongPhase));
    assert_eq!(h.game, before, "a refusal changes nothing");

    let outs = h.hint(order[0], "  big cat ").unwrap();
    let at = h.now.plus_secs(30);
    assert_eq!(
        outs,
        vec![
            bc(Event::Hint {
                user_id: order[0],
                text: "big cat".into(),
                round: 1
            }),
            bc(Event::TurnStarted {
                speaker: order[1],
                round: 1,
                deadline: at
            }),
            phase_timer(3, at),
        ]
    );
    assert_eq!(h.hint(order[0], "again"), Err(RuleError::NotYourTurn));
}

#[test]
fn a_hint_must_be_1_to_100_characters_after_trimming() {
    let mut h = Harness::new(3, 4, |_| {});
    h.fire();
    let speaker = h.order()[0];
    assert_eq!(h.hint(speaker, " \t "), Err(RuleError::InvalidText));
    assert_eq!(
        h.hint(speaker, &"가".repeat(101)),
        Err(RuleError::InvalidText)
    );
    assert_eq!(RuleError::InvalidText.code(), "VALIDATION");
    assert!(
        h.hint(speaker, &format!("  {}  ", "가".repeat(100)))
            .is_ok()
    );
}

#[test]
fn a_hint_turn_that_times_out_is_skipped() {
    let mut h = Harness::new(3, 5, |_| {});
    h.fire();
    let order = h.order();
    let outs = h.fire();
    let at = h.now.plus_secs(30);
    assert_eq!(
        outs,
        vec![
            bc(Event::TurnSkipped {
                user_id: order[0],
                round: 1,
                reason: SkipReason::Timeout
            }),
            bc(Event::TurnStarted {
                speaker: order[1],
                round: 1,
                deadline: at
            }),
            phase_timer(3, at),
        ]
    );
}

#[test]
fn every_player_speaks_once_per_round_for_every_round_then_discussion_opens() {
    let mut h = Harness::new(4, 6, |s| s.hint_rounds = 3);
    let mut turns = Vec::new();
    for o in h.fire() {
        if let Output::Broadcast(Event::TurnStarted { speaker, round, .. }) = o {
            turns.push((speaker, round));
        }
    }
    let mut last = Vec::new();
    while h.game.phase() == Phase::Hints {
        let (speaker, _) = *turns.last().unwrap();
        last = h.hint(speaker, "hint").unwrap();
        for o in &last {
            if let Output::Broadcast(Event::TurnStarted { speaker, round, .. }) = o {
                turns.push((*speaker, *round));
            }
        }
    }
    let order = h.order();
    let expected: Vec<_> = (1..=3u8)
        .flat_map(|r| order.iter().map(move |&p| (p, r)))
        .collect();
    assert_eq!(turns, expected);
    let at = h.now.plus_secs(60);
    assert_eq!(
        &last[1..],
        &[phase_changed(Phase::Discussion, at), phase_timer(14, at)]
    );
    assert_eq!(h.game.public_state()["hints"].as_array().unwrap().len(), 12);
}

#[test]
fn a_speaker_who_drops_keeps_his_turn_for_the_turn_grace_then_it_is_skipped() {
    let mut h = Harness::new(4, 7, |_| {});
    h.fire();
    let order = h.order();
    let turn_deadline = h.now.plus_secs(30);
    let outs = h.handle(Input::Disconnected(order[0])).unwrap();
    assert_eq!(
        outs,
        vec![
            bc(Event::PlayerDisconnected { user_id: order[0] }),
            Output::Schedule {
                timer: Timer::Grace {
                    player: order[0],
                    seq: 3
                },
                at: h.now.plus_secs(60)
            },
            phase_timer(4, h.now.plus_secs(10)),
        ],
        "no skip yet: 10 s of turn grace"
    );
    let outs = h.fire();
    let at = h.now.plus_secs(30);
    assert!(h.now < turn_deadline);
    assert_eq!(
        outs,
        vec![
            bc(Event::TurnSkipped {
                user_id: order[0],
                round: 1,
                reason: SkipReason::Disconnected
            }),
            bc(Event::TurnStarted {
                speaker: order[1],
                round: 1,
                deadline: at
            }),
            phase_timer(5, at),
        ]
    );
}

#[test]
fn a_speaker_back_within_the_turn_grace_keeps_his_turn_to_its_deadline() {
    let mut h = Harness::new(4, 7, |_| {});
    h.fire();
    let order = h.order();
    let turn_deadline = h.now.plus_secs(30);
    h.handle(Input::Disconnected(order[0])).unwrap();
    h.now = h.now.plus_secs(9);
    let outs = h.handle(Input::Reconnected(order[0])).unwrap();
    assert_eq!(
        outs,
        vec![
            bc(Event::PlayerReconnected { user_id: order[0] }),
            phase_timer(5, turn_deadline),
        ]
    );
    assert!(h.hint(order[0], "mane").is_ok(), "still his turn");
}

#[test]
fn the_turn_grace_never_runs_past_the_turns_deadline() {
    let mut h = Harness::new(4, 7, |_| {});
    h.fire();
    let order = h.order();
    h.now = h.now.plus_secs(25);
    let outs = h.handle(Input::Disconnected(order[0])).unwrap();
    assert_eq!(outs.last(), Some(&phase_timer(4, T0.plus_secs(5 + 30))));
}

#[test]
fn a_player_away_when_his_turn_comes_gets_only_the_turn_grace() {
    let mut h = Harness::new(4, 8, |_| {});
    h.fire();
    let order = h.order();
    h.handle(Input::Disconnected(order[1])).unwrap();
    let outs = h.hint(order[0], "mane").unwrap();
    let at = h.now.plus_secs(30);
    assert_eq!(
        outs,
        vec![
            bc(Event::Hint {
                user_id: order[0],
                text: "mane".into(),
                round: 1
            }),
            bc(Event::TurnStarted {
                speaker: order[1],
                round: 1,
                deadline: at
            }),
            phase_timer(4, h.now.plus_secs(10)),
        ]
    );
    let outs = h.fire();
    assert_eq!(
        outs[0],
        bc(Event::TurnSkipped {
            user_id: order[1],
            round: 1,
            reason: SkipReason::Disconnected
        })
    );
    h.handle(Input::Reconnected(order[1])).unwrap();
    h.hint(order[2], "x").unwrap();
    h.hint(order[3], "y").unwrap();
    assert_eq!(
        h.game.public_state()["speaker"],
        order[0],
        "round 2 starts with the first again"
    );
    h.hint(order[0], "z").unwrap();
    assert_eq!(
        h.game.public_state()["speaker"],
        order[1],
        "back in the rotation after reconnecting"
    );
}

#[test]
fn discussion_is_skipped_when_it_has_no_time() {
    let mut h = Harness::new(3, 9, |s| {
        s.discussion_secs = 0;
        s.hint_rounds = 1;
    });
    h.fire();
    h.fire();
    h.fire();
    let outs = h.fire();
    let at = h.now.plus_secs(30);
    assert_eq!(
        &outs[1..],
        &[
            phase_changed(Phase::Vote, at),
            phase_timer(5, at),
            bc(Event::VoteProgress { cast: 0, total: 3 }),
        ]
    );
}

#[test]
fn no_hint_rounds_go_straight_from_deal_to_discussion() {
    let mut h = Harness::new(3, 10, |s| s.hint_rounds = 0);
    let outs = h.fire();
    let at = h.now.plus_secs(60);
    assert_eq!(
        outs,
        vec![phase_changed(Phase::Discussion, at), phase_timer(2, at)]
    );
}

#[test]
fn chat_is_closed_during_hints_vote_and_guess() {
    let mut h = Harness::new(3, 11, |_| {});
    let mut seen = Vec::new();
    seen.push((h.game.phase(), h.game.chat_open()));
    h.fire();
    seen.push((h.game.phase(), h.game.chat_open()));
    while h.game.phase() != Phase::Discussion {
        h.fire();
    }
    seen.push((h.game.phase(), h.game.chat_open()));
    h.fire();
    seen.push((h.game.phase(), h.game.chat_open()));
    h.everyone_accuses(h.liar());
    seen.push((h.game.phase(), h.game.chat_open()));
    h.fire();
    seen.push((h.game.phase(), h.game.chat_open()));
    h.fire();
    seen.push((h.game.phase(), h.game.chat_open()));
    assert_eq!(
        seen,
        vec![
            (Phase::Deal, true),
            (Phase::Hints, false),
            (Phase::Discussion, true),
            (Phase::Vote, false),
            (Phase::Defense, true),
            (Phase::Guess, false),
            (Phase::Result, true),
        ]
    );
}

#[test]
fn a_stale_phase_timer_is_ignored() {
    let mut h = Harness::new(3, 12, |_| {});
    h.fire();
    let (old, _) = h.phase_timer();
    h.hint(h.order()[0], "hint").unwrap();
    let before = h.game.clone();
    assert_eq!(h.handle(Input::Timer(old)), Ok(vec![]));
    assert_eq!(
        h.handle(Input::Timer(Timer::Phase { seq: 999 })),
        Ok(vec![])
    );
    assert_eq!(h.game, before);
}

#[test]
fn public_state_shows_the_turn_and_hints_but_no_secret() {
    let mut h = Harness::new(3, 13, |_| {});
    h.fire();
    let order = h.order();
    h.hint(order[0], "stripes").unwrap();
    let state = h.game.public_state();
    assert_eq!(state["phase"], "hints");
    assert_eq!(state["round"], 1);
    assert_eq!(state["speaker"], order[1]);
    assert_eq!(
        state["deadline"],
        serde_json::to_value(h.game.deadline()).unwrap()
    );
    assert_eq!(
        state["hints"],
        serde_json::json!([{"userId": order[0], "text": "stripes", "round": 1}])
    );
    assert_eq!(state["topic"], "동물");
    let text = state.to_string();
    let word = h.game.word();
    assert!(
        !text.contains(&word.ko) && !text.contains(&word.en),
        "{text}"
    );
    assert!(
        !text.contains("liar\"") && !text.contains("liarId"),
        "{text}"
    );
}

#[test]
fn a_saved_game_resumes_exactly() {
    let mut h = Harness::new(5, 14, |_| {});
    h.fire();
    h.hint(h.order()[0], "hint").unwrap();
    h.handle(Input::Disconnected(h.order()[3])).unwrap();
    let saved = serde_json::to_string(&h.game).unwrap();
    let restored: Game = serde_json::from_str(&saved).unwrap();
    assert_eq!(restored, h.game);
    assert_eq!(restored.pending_timers(), h.game.pending_timers());
    assert_eq!(
        restored.pending_timers().len(),
        2,
        "the turn timer and one grace timer"
    );
}

#[test]
fn skipped_turns_are_listed_in_the_snapshot_where_they_happened() {
    let mut h = Harness::new(4, 10, |_| {});
    h.fire();
    let order = h.order();
    h.fire();
    h.hint(order[1], "mane").unwrap();
    h.fire();
    let state = h.game.public_state();
    assert_eq!(
        state["skips"],
        serde_json::json!([
            {"userId": order[0], "round": 1, "reason": "timeout", "afterHints": 0},
            {"userId": order[2], "round": 1, "reason": "timeout", "afterHints": 1},
        ])
    );
    assert_eq!(state["hints"].as_array().unwrap().len(), 1);
}
