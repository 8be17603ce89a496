//! Seeded simulation: thousands of random games with random (valid and invalid) commands,
//! random timer firings (stale ones included), disconnects, reconnects and snapshot round
//! trips, checking the invariants of SPEC §3 on every single output.

use std::collections::{BTreeMap, HashSet};

use liar_rules::{
    Catalog, Command, Game, GameEnd, GameSettings, Input, Language, Millis, Mode, Phase, RuleError,
    Side, TiePolicy, Timer, Topic, UserId,
    normalize::normalize,
    rand::{RngExt, SeedableRng, rngs::SmallRng, seq::IndexedRandom},
};
use serde_json::Value;

mod checks;

/// Games played; each has 3–15 players.
const GAMES: usize = 10_000;
/// No game may take more inputs than this.
const MAX_STEPS: usize = 3_000;
/// From this step on only live timers fire, so a game that is still running must end soon.
const CALM_AFTER: usize = 1_500;
/// Someone who never plays.
const STRANGER: UserId = 999_999;
/// Characters of random texts: no real word can be spelled with them.
const NOISE: &[char] = &['q', 'x', 'z', 'j', ' ', 'ㅋ', '\t'];

#[derive(Default, Debug)]
struct Stats {
    steps: usize,
    liar_wins: usize,
    citizen_wins: usize,
    aborted: usize,
    revotes: usize,
    correct_guesses: usize,
    leaves: usize,
    refusals: BTreeMap<&'static str, usize>,
}

/// One game under observation.
struct Sim<'a> {
    rng: SmallRng,
    game_rng: SmallRng,
    game: Game,
    now: Millis,
    topic: &'a Topic,
    /// Normalised forms of the secret word, in both languages.
    secret_forms: HashSet<String>,
    /// Every timer ever scheduled, stale ones included.
    scheduled: Vec<(Timer, Millis)>,
    phase: Option<Phase>,
    revoted: bool,
    liar_exposed: bool,
    speaker: Option<UserId>,
    accused: Option<UserId>,
    /// Whom most votes go to.
    suspect: UserId,
    left: HashSet<UserId>,
    finished: Option<GameEnd>,
    /// Whether the last guess sent was a correct form of the word.
    guessed_right: Option<bool>,
}

#[test]
fn ten_thousand_random_games_keep_every_invariant() {
    let catalog = Catalog::builtin().expect("shipped topics are valid");
    assert!(!catalog.is_empty());
    let mut rng = SmallRng::seed_from_u64(0x1A2_2026);
    let mut stats = Stats::default();
    let started = std::time::Instant::now();
    for _ in 0..GAMES {
        let seed = rng.random::<u64>();
        play(&catalog, seed, &mut stats);
    }
    eprintln!("{GAMES} games in {:?}: {stats:?}", started.elapsed());
    assert_eq!(stats.liar_wins + stats.citizen_wins + stats.aborted, GAMES);
    for (what, n) in [
        ("liar wins", stats.liar_wins),
        ("citizen wins", stats.citizen_wins),
        ("aborted games", stats.aborted),
        ("revotes", stats.revotes),
        ("correct guesses", stats.correct_guesses),
        ("players leaving", stats.leaves),
    ] {
        assert!(n > 0, "the simulation never produced {what}");
    }
    for code in [
        "NOT_A_PLAYER",
        "WRONG_PHASE",
        "NOT_YOUR_TURN",
        "SELF_VOTE",
        "INVALID_TARGET",
        "VALIDATION",
        "GAME_OVER",
    ] {
        assert!(
            stats.refusals.contains_key(code),
            "the simulation never saw {code}"
        );
    }
}

fn random_settings(rng: &mut SmallRng) -> GameSettings {
    let mut secs = |zero_ok: bool| {
        if zero_ok && rng.random_bool(0.3) {
            0
        } else {
            rng.random_range(1..=120)
        }
    };
    GameSettings {
        hint_secs: secs(false),
        discussion_secs: secs(true),
        vote_secs: secs(false),
        defense_secs: secs(true),
        guess_secs: secs(false),
        grace_secs: secs(false),
        turn_grace_secs: secs(true),
        deal_secs: secs(true),
        hint_rounds: rng.random_range(0..=3),
        mode: if rng.random_bool(0.5) {
            Mode::Classic
        } else {
            Mode::Fool
        },
        tie_policy: if rng.random_bool(0.5) {
            TiePolicy::LiarWins
        } else {
            TiePolicy::Revote
        },
        language: if rng.random_bool(0.5) {
            Language::Ko
        } else {
            Language::En
        },
    }
}

fn play(catalog: &Catalog, seed: u64, stats: &mut Stats) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut game_rng = SmallRng::seed_from_u64(seed ^ 0x5EED);
    let n = rng.random_range(3..=15);
    let base: UserId = rng.random_range(1..1_000);
    let players: Vec<UserId> = (0..n).map(|i| base + 7 * i).collect();
    let settings = random_settings(&mut rng);
    let topic = catalog.random_topic(&mut rng).unwrap();
    let now = Millis(1_795_428_000_000 + rng.random_range(0..1_000_000_000));
    let (game, outs) = Game::start(players, settings, topic, now, &mut game_rng);
    let suspect = if rng.random_bool(0.5) {
        game.liar()
    } else {
        *game.players().choose(&mut rng).unwrap()
    };
    let word = game.word();
    let secret_forms = [Language::Ko, Language::En]
        .into_iter()
        .flat_map(|l| word.forms(l).map(normalize).collect::<Vec<_>>())
        .collect();
    let mut sim = Sim {
        rng,
        game_rng,
        game,
        now,
        topic,
        secret_forms,
        scheduled: Vec::new(),
        phase: None,
        revoted: false,
        liar_exposed: false,
        speaker: None,
        accused: None,
        suspect,
        left: HashSet::new(),
        finished: None,
        guessed_right: None,
    };
    sim.check_deal(&outs);
    sim.check_outputs(&outs);
    let mut step = 0;
    while sim.finished.is_none() {
        assert!(
            step < MAX_STEPS,
            "game {seed} did not end within {MAX_STEPS} inputs"
        );
        sim.step(step >= CALM_AFTER, stats);
        step += 1;
    }
    stats.steps += step;
    // After the end: timers are ignored, commands refused.
    let timer = sim.scheduled.choose(&mut sim.rng).map(|(t, _)| *t).unwrap();
    assert_eq!(
        sim.game
            .handle(Input::Timer(timer), sim.now, &mut sim.game_rng),
        Ok(vec![])
    );
    let vote = Input::Command {
        player: sim.game.players()[0],
        command: Command::Vote(sim.game.players()[1]),
    };
    assert_eq!(
        sim.game.handle(vote, sim.now, &mut sim.game_rng),
        Err(RuleError::GameOver)
    );
    *stats
        .refusals
        .entry(RuleError::GameOver.code())
        .or_default() += 1;
    assert_eq!(sim.game.phase(), Phase::Result);
    match sim.finished.as_ref().unwrap() {
        GameEnd::Completed(r) if r.winner == Side::Liar => stats.liar_wins += 1,
        GameEnd::Completed(_) => stats.citizen_wins += 1,
        GameEnd::Aborted { .. } => stats.aborted += 1,
    }
    stats.revotes += usize::from(sim.revoted);
    stats.leaves += sim.left.len();
}

impl Sim<'_> {
    fn liar(&self) -> UserId {
        self.game.liar()
    }

    fn random_player(&mut self) -> UserId {
        if self.rng.random_bool(0.05) {
            STRANGER
        } else {
            *self.game.players().choose(&mut self.rng).unwrap()
        }
    }

    fn noise(&mut self, max_len: usize) -> String {
        let len = self.rng.random_range(0..=max_len);
        (0..len)
            .map(|_| *NOISE.choose(&mut self.rng).unwrap())
            .collect()
    }

    fn step(&mut self, calm: bool, stats: &mut Stats) {
        let roll = if calm {
            0
        } else {
            self.rng.random_range(0..100)
        };
        let input = match roll {
            0..30 => {
                // Mostly the phase timer: grace timers are listed too, but players should not
                // leave in every game.
                let live = self.game.pending_timers();
                assert!(
                    matches!(live.first(), Some((Timer::Phase { .. }, _))),
                    "a running game has a phase timer"
                );
                let pick = if calm || self.rng.random_bool(0.85) {
                    0
                } else {
                    self.rng.random_range(0..live.len())
                };
                let (timer, at) = live[pick];
                self.now = self.now.max(at);
                Input::Timer(timer)
            }
            30..36 => match self.scheduled.choose(&mut self.rng) {
                Some(&(timer, at)) if self.rng.random_bool(0.8) => {
                    self.now = self.now.max(at);
                    Input::Timer(timer)
                }
                _ => Input::Timer(Timer::Phase {
                    seq: self.rng.random_range(0..1_000),
                }),
            },
            36..88 => self.random_command(),
            88..94 => Input::Disconnected(self.random_player()),
            _ => Input::Reconnected(self.random_player()),
        };
        if !matches!(input, Input::Timer(_)) {
            self.now = Millis(self.now.0 + self.rng.random_range(0..2_000));
        }
        let is_timer = matches!(input, Input::Timer(_));
        let before = (!is_timer).then(|| self.game.clone());
        match self.game.handle(input, self.now, &mut self.game_rng) {
            Ok(outs) => self.check_outputs(&outs),
            Err(e) => {
                assert!(!is_timer, "timers are never refused");
                assert_eq!(
                    Some(&self.game),
                    before.as_ref(),
                    "a refusal ({e}) changed the game"
                );
                *stats.refusals.entry(e.code()).or_default() += 1;
            }
        }
        assert_eq!(self.game.is_over(), self.finished.is_some());
        if self.rng.random_bool(0.01) {
            let saved = serde_json::to_string(&self.game).unwrap();
            let restored: Game = serde_json::from_str(&saved).unwrap();
            assert_eq!(restored, self.game);
            self.game = restored;
        }
        if self.rng.random_bool(0.02) {
            self.check_public_state();
        }
        if let Some(true) = self
            .guessed_right
            .take()
            .filter(|_| self.finished.is_some())
        {
            stats.correct_guesses += 1;
        }
    }

    fn random_command(&mut self) -> Input {
        let mut player = self.random_player();
        let phase = self.game.phase();
        let command = match (phase, self.rng.random_range(0..10)) {
            (Phase::Hints, 0..7) => {
                player = self
                    .speaker
                    .filter(|_| self.rng.random_bool(0.8))
                    .unwrap_or(player);
                Command::Hint(self.noise(105))
            }
            (Phase::Vote, 0..8) | (_, 0) => {
                // Votes lean towards one suspect per game, so that votes also end with an
                // accused, a reveal and a guess, not only with ties.
                let target = match self.rng.random_range(0..10) {
                    0 => player,
                    1..4 => self.random_player(),
                    _ => self.suspect,
                };
                Command::Vote(target)
            }
            (Phase::Defense, 0..7) => {
                player = self
                    .accused
                    .filter(|_| self.rng.random_bool(0.8))
                    .unwrap_or(player);
                Command::Defense(self.noise(305))
            }
            (Phase::Guess, 0..7) => {
                if self.rng.random_bool(0.8) {
                    player = self.liar();
                }
                Command::Guess(self.random_guess())
            }
            (_, 1..4) => Command::Hint(self.noise(20)),
            (_, 4..7) => Command::Defense(self.noise(20)),
            _ => {
                self.guessed_right = Some(false);
                Command::Guess(self.noise(20))
            }
        };
        Input::Command { player, command }
    }

    /// Half the time a mangled correct form (other language and aliases included), else noise.
    fn random_guess(&mut self) -> String {
        if self.rng.random_bool(0.5) {
            self.guessed_right = Some(false);
            return format!("q{}", self.noise(10));
        }
        let word = self.game.word();
        let forms: Vec<String> = [Language::Ko, Language::En]
            .into_iter()
            .flat_map(|l| word.forms(l).map(str::to_owned))
            .collect();
        let form = forms.choose(&mut self.rng).unwrap().clone();
        self.guessed_right = Some(true);
        match self.rng.random_range(0..3) {
            0 => format!("  {} ", form.to_uppercase()),
            1 => form.chars().flat_map(|c| [c, ' ']).collect(),
            _ => form,
        }
    }
}

/// Whether `text` was made by `Sim::noise` (and so cannot spell a word: no need to normalise).
fn is_noise(text: &str) -> bool {
    text.chars().all(|c| NOISE.contains(&c))
}

/// Calls `f(key, value)` for every object member (key `""` for array items and the root).
fn walk(value: &Value, f: &mut impl FnMut(&str, &Value)) {
    fn go(key: &str, value: &Value, f: &mut impl FnMut(&str, &Value)) {
        f(key, value);
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| go(k, v, f)),
            Value::Array(items) => items.iter().for_each(|v| go("", v, f)),
            _ => {}
        }
    }
    go("", value, f);
}
