//! Defense, reveal, the liar's guess and the result.

mod common;

use common::*;
use liar_rules::{
    DefenseRecord, EndReason, Event, GameEnd, Input, Language, Mode, Output, Phase, Role,
    RuleError, Side, Timer,
};

#[test]
fn only_the_accused_may_defend_and_only_once() {
    let mut h = Harness::new(4, 40, |_| {});
    h.skip_to_vote();
    let accused = h.citizens()[0];
    h.everyone_accuses(accused);
    assert_eq!(h.game.phase(), Phase::Defense);
    let other = h.liar();
    assert_eq!(
        h.send(other, liar_rules::Command::Defense("not me".into())),
        Err(RuleError::NotYourTurn)
    );
    assert_eq!(
        h.send(accused, liar_rules::Command::Defense(" ".into())),
        Err(RuleError::InvalidText)
    );
    let too_long = "x".repeat(301);
    assert_eq!(
        h.send(accused, liar_rules::Command::Defense(too_long)),
        Err(RuleError::InvalidText)
    );
    assert_eq!(
        h.send(accused, liar_rules::Command::Guess("lion".into())),
        Err(RuleError::WrongPhase)
    );

    let outs = h
        .send(
            accused,
            liar_rules::Command::Defense(" I said mane! ".into()),
        )
        .unwrap();
    assert_eq!(
        outs[..4],
        [
            bc(Event::Defense {
                user_id: accused,
                text: "I said mane!".into()
            }),
            bc(Event::LiarRevealed {
                accused_id: accused,
                accused_is_liar: false,
                liar_id: None
            }),
            bc(Event::PhaseChanged {
                phase: Phase::Result,
                deadline: None
            }),
            Output::Finished(h.game.end().unwrap().clone()),
        ]
    );
    assert_eq!(result(&outs).winner, Side::Liar);
    assert_eq!(
        h.send(accused, liar_rules::Command::Defense("again".into())),
        Err(RuleError::GameOver),
        "the statement ended the phase"
    );
}

#[test]
fn the_defense_ends_on_its_deadline() {
    let mut h = Harness::new(3, 41, |_| {});
    h.skip_to_vote();
    h.everyone_accuses(h.liar());
    let outs = h.fire();
    let at = h.now.plus_secs(25);
    assert_eq!(
        outs,
        vec![
            bc(Event::LiarRevealed {
                accused_id: h.liar(),
                accused_is_liar: true,
                liar_id: Some(h.liar())
            }),
            phase_changed(Phase::Guess, at),
            phase_timer(seq(h.phase_timer().0), at),
        ]
    );
    assert_eq!(h.game.public_state()["revealed"]["liarId"], h.liar());
}

#[test]
fn defense_is_skipped_when_it_has_no_time_or_the_accused_is_away() {
    let mut h = Harness::new(3, 42, |s| s.defense_secs = 0);
    h.skip_to_vote();
    let outs = h.everyone_accuses(h.liar());
    assert!(matches!(broadcasts(&outs)[2], Event::LiarRevealed { .. }));
    assert_eq!(h.game.phase(), Phase::Guess);

    let mut h = Harness::new(4, 42, |_| {});
    h.skip_to_vote();
    let accused = h.liar();
    let others: Vec<_> = h.order().into_iter().filter(|&p| p != accused).collect();
    h.vote(accused, others[0]).unwrap();
    h.handle(Input::Disconnected(accused)).unwrap();
    let mut outs = Vec::new();
    for &p in &others {
        outs = h.vote(p, accused).unwrap();
    }
    assert!(
        matches!(broadcasts(&outs)[2], Event::LiarRevealed { .. }),
        "{outs:?}"
    );
    assert_eq!(
        h.game.phase(),
        Phase::Guess,
        "the disconnected liar may still come back and guess"
    );

    let mut h = Harness::new(4, 43, |_| {});
    h.skip_to_vote();
    let accused = h.citizens()[1];
    h.everyone_accuses(accused);
    let outs = h.handle(Input::Disconnected(accused)).unwrap();
    assert!(matches!(
        broadcasts(&outs)[1],
        Event::LiarRevealed {
            accused_is_liar: false,
            ..
        }
    ));
    assert_eq!(h.game.phase(), Phase::Result);
}

/// Plays to the guess and lets the liar guess `text`.
fn guess(
    seed: u64,
    language: Language,
    text: impl Fn(&liar_rules::Word) -> String,
) -> (Vec<Output>, bool) {
    let mut h = Harness::new(3, seed, |s| s.language = language);
    h.skip_to_guess();
    let guess = text(h.game.word());
    let outs = h
        .send(h.liar(), liar_rules::Command::Guess(guess.clone()))
        .unwrap();
    let correct = match broadcasts(&outs)[0] {
        Event::GuessResult {
            guess: Some(g),
            correct,
        } => {
            assert_eq!(g, guess.trim());
            *correct
        }
        other => panic!("expected guess.result, got {other:?}"),
    };
    let winner = result(&outs).winner;
    assert_eq!(winner, if correct { Side::Liar } else { Side::Citizens });
    (outs, correct)
}

#[test]
fn a_correct_guess_wins_for_the_liar() {
    let (outs, correct) = guess(50, Language::Ko, |w| w.ko.clone());
    assert!(correct);
    assert_eq!(
        outs[1..],
        [
            bc(Event::PhaseChanged {
                phase: Phase::Result,
                deadline: None
            }),
            Output::Finished(GameEnd::Completed(result(&outs).clone())),
        ]
    );
    let r = result(&outs);
    assert_eq!(r.guess.as_deref(), Some(r.word.as_str()));
    for p in &r.players {
        let expected = if p.role == Role::Liar { 50 } else { 15 };
        assert_eq!(p.exp, expected);
    }
}

#[test]
fn a_wrong_guess_wins_for_the_citizens() {
    let (_, correct) = guess(51, Language::Ko, |w| {
        if w.id == "lion" {
            "호랑이".into()
        } else {
            "사자".into()
        }
    });
    assert!(!correct);
}

/// Builds a guess from the secret word.
type GuessOf = dyn Fn(&liar_rules::Word) -> String;

#[test]
fn guesses_are_compared_after_normalisation() {
    let nfd = |s: &str| unicode_nfd(s);
    let cases: Vec<(Language, Box<GuessOf>)> = vec![
        (
            Language::En,
            Box::new(|w| format!("  {} ", w.en.to_uppercase())),
        ),
        (
            Language::En,
            Box::new(|w| format!("  {} ", w.en.to_lowercase())),
        ),
        (Language::Ko, Box::new(move |w| nfd(&w.ko))),
        (
            Language::Ko,
            Box::new(|w| w.ko.chars().flat_map(|c| [c, ' ']).collect()),
        ),
        (Language::Ko, Box::new(|w| w.en.clone())),
        (Language::En, Box::new(|w| w.ko.clone())),
        (
            Language::En,
            Box::new(|w| {
                w.aliases
                    .ko
                    .first()
                    .or(w.aliases.en.first())
                    .unwrap()
                    .to_uppercase()
            }),
        ),
    ];
    for (i, (language, text)) in cases.into_iter().enumerate() {
        for seed in 60..66 {
            assert!(guess(seed, language, &text).1, "case {i}, seed {seed}");
        }
    }
}

#[test]
fn the_lion_alias_and_spacing_examples_match() {
    let topic = tiny_topic();
    let lion = topic.word("lion").unwrap();
    assert!(lion.matches_guess("  Lion ", Language::En));
    assert!(lion.matches_guess("KING OF BEASTS", Language::En));
    assert!(lion.matches_guess("kingofbeasts", Language::Ko));
    assert!(lion.matches_guess(&unicode_nfd("사자"), Language::Ko));
    assert!(lion.matches_guess("숫 사자", Language::Ko));
    assert!(!lion.matches_guess("tiger", Language::En));
    assert!(!lion.matches_guess("   ", Language::En));
}

/// Decomposes Hangul syllables into conjoining jamo (NFD), without a normalisation crate.
fn unicode_nfd(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let code = c as u32;
            if !(0xAC00..=0xD7A3).contains(&code) {
                return vec![c];
            }
            let index = code - 0xAC00;
            let (l, v, t) = (index / 588, (index % 588) / 28, index % 28);
            let mut out = vec![
                char::from_u32(0x1100 + l).unwrap(),
                char::from_u32(0x1161 + v).unwrap(),
            ];
            if t > 0 {
                out.push(char::from_u32(0x11A7 + t).unwrap());
            }
            out
        })
        .collect()
}

#[test]
fn only_the_liar_may_guess_and_a_timeout_loses() {
    let mut h = Harness::new(3, 70, |_| {});
    h.skip_to_guess();
    let citizen = h.citizens()[0];
    assert_eq!(
        h.send(citizen, liar_rules::Command::Guess("lion".into())),
        Err(RuleError::NotYourTurn)
    );
    assert_eq!(
        h.send(h.liar(), liar_rules::Command::Guess("  ".into())),
        Err(RuleError::InvalidText)
    );
    let outs = h.fire();
    assert_eq!(
        outs[..2],
        [
            bc(Event::GuessResult {
                guess: None,
                correct: false
            }),
            bc(Event::PhaseChanged {
                phase: Phase::Result,
                deadline: None
            }),
        ]
    );
    let r = result(&outs);
    assert_eq!((r.winner, r.guess.clone()), (Side::Citizens, None));
    assert_eq!(
        h.send(h.liar(), liar_rules::Command::Guess("lion".into())),
        Err(RuleError::GameOver)
    );
    assert_eq!(RuleError::GameOver.code(), "GAME_OVER");
}

#[test]
fn after_the_end_only_commands_are_refused() {
    let mut h = Harness::new(3, 71, |_| {});
    h.skip_to_guess();
    let (stale, _) = h.phase_timer();
    h.fire();
    assert!(h.game.is_over());
    assert_eq!(h.game.deadline(), None);
    assert!(h.game.pending_timers().is_empty());
    assert_eq!(h.handle(Input::Timer(stale)), Ok(vec![]));
    assert_eq!(
        h.handle(Input::Timer(Timer::Grace { player: 1, seq: 1 })),
        Ok(vec![])
    );
    assert_eq!(h.handle(Input::Disconnected(1)), Ok(vec![]));
    assert_eq!(h.handle(Input::Reconnected(1)), Ok(vec![]));
    assert_eq!(h.vote(1, 2), Err(RuleError::GameOver));
    assert_eq!(h.game.public_state()["phase"], "result");
    assert_eq!(h.game.public_state()["end"]["outcome"], "completed");
}

#[test]
fn the_result_reveals_everything() {
    let mut h = Harness::new(4, 72, |s| s.language = Language::En);
    h.skip_to_guess();
    let outs = h
        .send(h.liar(), liar_rules::Command::Guess("nope".into()))
        .unwrap();
    let r = result(&outs);
    assert_eq!(r.liar_id, h.liar());
    assert_eq!(r.topic_id, "animals");
    assert_eq!(r.word, h.game.word().en);
    assert_eq!(r.word_id, h.game.word().id);
    assert_eq!(r.votes.len(), 4);
    assert_eq!(
        r.players.iter().map(|p| p.user_id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "seat order"
    );
    assert_eq!(r.players.iter().filter(|p| p.role == Role::Liar).count(), 1);
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["winner"], "citizens");
    // Key order depends on serde_json's `preserve_order`, which other workspace crates enable.
    let mut keys: Vec<String> = json["players"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["exp", "left", "role", "userId", "votedCorrectly", "won"]
    );
}

#[test]
fn a_citizen_voted_out_loses_it_for_the_citizens_and_his_defense_stays_in_the_result() {
    let mut h = Harness::new(4, 73, |_| {});
    h.skip_to_vote();
    let accused = h.citizens()[0];
    h.everyone_accuses(accused);
    let outs = h
        .send(accused, liar_rules::Command::Defense("I said mane".into()))
        .unwrap();
    let r = result(&outs);
    assert_eq!((r.winner, r.reason), (Side::Liar, EndReason::WrongAccused));
    assert_eq!(
        r.defense,
        Some(DefenseRecord {
            user_id: accused,
            text: "I said mane".into()
        })
    );
    assert_eq!(r.guess, None, "there was no guess phase");
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["reason"], "wrong_accused");
    assert_eq!(json["defense"]["userId"], accused);
    assert_eq!(json["liarWord"], serde_json::Value::Null, "classic mode");
}

#[test]
fn the_defense_is_public_in_the_snapshot_once_made() {
    let mut h = Harness::new(4, 74, |_| {});
    h.skip_to_vote();
    h.everyone_accuses(h.liar());
    assert_eq!(h.game.public_state()["defense"], serde_json::Value::Null);
    let liar = h.liar();
    h.send(liar, liar_rules::Command::Defense("not me".into()))
        .unwrap();
    let state = h.game.public_state();
    assert_eq!(state["phase"], "guess");
    assert_eq!(
        state["defense"],
        serde_json::json!({"userId": liar, "text": "not me"})
    );
}

#[test]
fn each_way_to_the_end_names_its_reason() {
    // The liar names the word.
    let (outs, _) = guess(80, Language::En, |w| w.en.clone());
    assert_eq!(result(&outs).reason, EndReason::LiarGuessed);
    // The liar names another word.
    let (outs, _) = guess(81, Language::En, |_| "nothing like it".into());
    assert_eq!(result(&outs).reason, EndReason::LiarMissed);
    // The liar lets the time run out.
    let mut h = Harness::new(3, 82, |_| {});
    h.skip_to_guess();
    let outs = h.fire();
    assert_eq!(result(&outs).reason, EndReason::GuessTimeout);
    // The liar's grace runs out.
    let mut h = Harness::new(4, 83, |_| {});
    h.fire();
    let liar = h.liar();
    h.handle(Input::Disconnected(liar)).unwrap();
    let outs = h.expire_grace(liar);
    assert_eq!(result(&outs).reason, EndReason::LiarLeft);
    // Nobody votes: a tie among nobody, given to the liar.
    let mut h = Harness::new(3, 84, |_| {});
    h.skip_to_vote();
    let outs = h.fire();
    assert_eq!(result(&outs).reason, EndReason::Tie);
    for reason in [
        EndReason::WrongAccused,
        EndReason::Tie,
        EndReason::LiarGuessed,
    ] {
        assert_eq!(reason.winner(), Side::Liar);
    }
    for reason in [
        EndReason::LiarMissed,
        EndReason::GuessTimeout,
        EndReason::LiarLeft,
    ] {
        assert_eq!(reason.winner(), Side::Citizens);
    }
}

#[test]
fn a_fool_mode_result_reveals_the_liars_own_word() {
    for seed in 90..96 {
        let mut h = Harness::new(3, seed, |s| {
            s.mode = Mode::Fool;
            s.language = Language::En;
        });
        h.skip_to_guess();
        let outs = h.fire();
        let r = result(&outs);
        let expected = if r.word == "Lion" { "Tiger" } else { "Lion" };
        assert_eq!(r.liar_word.as_deref(), Some(expected), "seed {seed}");
        assert_eq!(serde_json::to_value(r).unwrap()["liarWord"], expected);
    }
}
