//! Shared test fixtures: a small topic and a harness that drives one game step by step.
#![allow(dead_code)] // each test binary uses a different part of this module

use liar_rules::{
    Command, Event, Game, GameEnd, GameResult, GameSettings, Input, Millis, Output, Phase,
    RuleError, Timer, Topic, UserId, rand::SeedableRng, rand::rngs::StdRng,
};

/// 2026-11-23T10:00:00.000Z.
pub const T0: Millis = Millis(1_795_428_000_000);

/// Timings that are easy to read in expected outputs.
pub fn settings() -> GameSettings {
    GameSettings {
        deal_secs: 5,
        hint_rounds: 2,
        hint_secs: 30,
        discussion_secs: 60,
        vote_secs: 30,
        defense_secs: 20,
        guess_secs: 25,
        grace_secs: 60,
        ..GameSettings::default()
    }
}

/// A two-word topic (`lion` / `tiger`, paired), enough for a game; aliases in both languages.
pub fn tiny_topic() -> Topic {
    serde_json::from_value(serde_json::json!({
        "id": "animals",
        "name": {"ko": "동물", "en": "Animals"},
        "words": [
            {"id": "lion", "ko": "사자", "en": "Lion", "aliases": {"ko": ["숫사자"], "en": ["king of beasts"]}},
            {"id": "tiger", "ko": "호랑이", "en": "Tiger", "aliases": {"ko": ["범"], "en": []}}
        ],
        "pairs": [["lion", "tiger"]]
    }))
    .unwrap()
}

/// A valid 30-word topic as JSON: `w0`..`w29` plus the given extra fields.
pub fn topic_json(id: &str, words: usize) -> serde_json::Value {
    let words: Vec<_> = (0..words)
        .map(|i| serde_json::json!({"id": format!("w{i}"), "ko": format!("단어{i}"), "en": format!("Word {i}")}))
        .collect();
    serde_json::json!({"id": id, "name": {"ko": "주제", "en": "Topic"}, "words": words, "pairs": [["w0", "w1"]]})
}

/// One game and the time and randomness it is driven with.
pub struct Harness {
    pub game: Game,
    pub now: Millis,
    pub rng: StdRng,
    pub started: Vec<Output>,
}

impl Harness {
    /// Players `1..=n`, [`settings`] changed by `tweak`, [`tiny_topic`], seed `seed`.
    pub fn new(n: i64, seed: u64, tweak: impl FnOnce(&mut GameSettings)) -> Harness {
        let mut settings = settings();
        tweak(&mut settings);
        let mut rng = StdRng::seed_from_u64(seed);
        let (game, started) = Game::start((1..=n).collect(), settings, &tiny_topic(), T0, &mut rng);
        Harness {
            game,
            now: T0,
            rng,
            started,
        }
    }

    pub fn handle(&mut self, input: Input) -> Result<Vec<Output>, RuleError> {
        self.game.handle(input, self.now, &mut self.rng)
    }

    pub fn send(&mut self, player: UserId, command: Command) -> Result<Vec<Output>, RuleError> {
        self.handle(Input::Command { player, command })
    }

    pub fn hint(&mut self, player: UserId, text: &str) -> Result<Vec<Output>, RuleError> {
        self.send(player, Command::Hint(text.into()))
    }

    pub fn vote(&mut self, player: UserId, target: UserId) -> Result<Vec<Output>, RuleError> {
        self.send(player, Command::Vote(target))
    }

    /// The pending phase timer.
    pub fn phase_timer(&self) -> (Timer, Millis) {
        self.game
            .pending_timers()
            .into_iter()
            .find(|(t, _)| matches!(t, Timer::Phase { .. }))
            .expect("a phase timer is pending")
    }

    /// Moves the clock to the phase deadline and fires the phase timer.
    pub fn fire(&mut self) -> Vec<Output> {
        let (timer, at) = self.phase_timer();
        self.now = self.now.max(at);
        self.handle(Input::Timer(timer)).unwrap()
    }

    /// Fires `player`'s pending grace timer.
    pub fn expire_grace(&mut self, player: UserId) -> Vec<Output> {
        let (timer, at) = self
            .game
            .pending_timers()
            .into_iter()
            .find(|(t, _)| matches!(t, Timer::Grace { player: p, .. } if *p == player))
            .expect("a grace timer is pending");
        self.now = self.now.max(at);
        self.handle(Input::Timer(timer)).unwrap()
    }

    pub fn liar(&self) -> UserId {
        self.game.liar()
    }

    pub fn order(&self) -> Vec<UserId> {
        self.game.order().to_vec()
    }

    /// Citizens in speaking order.
    pub fn citizens(&self) -> Vec<UserId> {
        self.order()
            .into_iter()
            .filter(|&p| p != self.liar())
            .collect()
    }

    /// From the deal to the vote, letting every hint turn time out.
    pub fn skip_to_vote(&mut self) {
        while self.game.phase() != Phase::Vote {
            self.fire();
        }
    }

    /// Everybody votes for `accused`; `accused` votes for somebody else. Returns the outputs
    /// of the last vote (the one that closes the vote).
    pub fn everyone_accuses(&mut self, accused: UserId) -> Vec<Output> {
        let order = self.order();
        let other = *order.iter().find(|&&p| p != accused).unwrap();
        let mut last = Vec::new();
        for p in order {
            last = self
                .vote(p, if p == accused { other } else { accused })
                .unwrap();
        }
        last
    }

    /// From the deal to the guess: the liar is accused and defense is skipped or waited out.
    pub fn skip_to_guess(&mut self) {
        self.skip_to_vote();
        self.everyone_accuses(self.liar());
        while self.game.phase() == Phase::Defense {
            self.fire();
        }
        assert_eq!(self.game.phase(), Phase::Guess);
    }
}

/// The `Finished` payload of a batch of outputs.
pub fn finished(outs: &[Output]) -> Option<&GameEnd> {
    outs.iter().find_map(|o| match o {
        Output::Finished(end) => Some(end),
        _ => None,
    })
}

/// The completed result in a batch of outputs.
pub fn result(outs: &[Output]) -> &GameResult {
    match finished(outs) {
        Some(GameEnd::Completed(result)) => result,
        other => panic!("expected a completed game, got {other:?}"),
    }
}

/// The broadcast events of a batch of outputs.
pub fn broadcasts(outs: &[Output]) -> Vec<&Event> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Broadcast(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub fn bc(event: Event) -> Output {
    Output::Broadcast(event)
}

pub fn phase_timer(seq: u64, at: Millis) -> Output {
    Output::Schedule {
        timer: Timer::Phase { seq },
        at,
    }
}

pub fn phase_changed(phase: Phase, deadline: Millis) -> Output {
    bc(Event::PhaseChanged {
        phase,
        deadline: Some(deadline),
    })
}

/// The generation of a timer.
pub fn seq(timer: Timer) -> u64 {
    match timer {
        Timer::Phase { seq } | Timer::Grace { seq, .. } => seq,
    }
}
