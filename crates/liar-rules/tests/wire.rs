//! Wire shapes: the JSON examples of `docs/rules.md` are real, and inputs and outputs survive a
//! serialisation round trip (the actor may persist or log them).

use std::collections::BTreeSet;

use liar_rules::{
    AbortReason, Command, Event, GameEnd, GameResult, Input, Millis, Output, Phase, Role, Timer,
};
use serde_json::Value;

const RULES_MD: &str = include_str!("../../../docs/rules.md");

fn example_lines(prefix: &str) -> Vec<&'static str> {
    RULES_MD.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn every_event_example_in_the_docs_is_exact() {
    let mut types = BTreeSet::new();
    for line in example_lines("{\"type\":") {
        let written: Value = serde_json::from_str(line).unwrap();
        let event: Event = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(serde_json::to_value(&event).unwrap(), written, "{line}");
        types.insert(written["type"].as_str().unwrap().to_owned());
    }
    let expected: BTreeSet<String> = [
        "game.started",
        "game.card",
        "phase.changed",
        "turn.started",
        "hint",
        "turn.skipped",
        "vote.progress",
        "vote.result",
        "defense",
        "liar.revealed",
        "guess.result",
        "player.disconnected",
        "player.reconnected",
        "player.left",
    ]
    .map(String::from)
    .into();
    assert_eq!(types, expected, "one example per event type");
}

#[test]
fn the_result_example_in_the_docs_is_exact() {
    let lines = example_lines("{\"winner\":");
    assert_eq!(lines.len(), 1);
    let result: GameResult = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        serde_json::to_value(&result).unwrap(),
        serde_json::from_str::<Value>(lines[0]).unwrap()
    );
}

#[test]
fn inputs_and_outputs_survive_a_round_trip() {
    let at = Millis(1_795_428_035_000);
    let inputs = [
        Input::Command {
            player: 7,
            command: Command::Vote(31),
        },
        Input::Command {
            player: 7,
            command: Command::Hint("갈기".into()),
        },
        Input::Timer(Timer::Phase { seq: 4 }),
        Input::Timer(Timer::Grace { player: 7, seq: 5 }),
        Input::Disconnected(7),
        Input::Reconnected(7),
    ];
    for input in inputs {
        let text = serde_json::to_string(&input).unwrap();
        assert_eq!(
            serde_json::from_str::<Input>(&text).unwrap(),
            input,
            "{text}"
        );
    }
    let outputs = [
        Output::Broadcast(Event::PhaseChanged {
            phase: Phase::Vote,
            deadline: Some(at),
        }),
        Output::Private {
            to: 7,
            event: Event::GameCard {
                role: Role::Liar,
                topic: "동물".into(),
                word: None,
            },
        },
        Output::Schedule {
            timer: Timer::Grace { player: 7, seq: 9 },
            at,
        },
        Output::Finished(GameEnd::Aborted {
            reason: AbortReason::NotEnoughPlayers,
        }),
    ];
    for output in outputs {
        let text = serde_json::to_string(&output).unwrap();
        assert_eq!(
            serde_json::from_str::<Output>(&text).unwrap(),
            output,
            "{text}"
        );
    }
    assert_eq!(
        serde_json::to_value(Input::Timer(Timer::Phase { seq: 4 })).unwrap(),
        serde_json::json!({"kind": "timer", "value": {"kind": "phase", "seq": 4}})
    );
}
