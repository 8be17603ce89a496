//! The game of SPEC §3 as a sans-IO state machine.
//!
//! The room actor owns one [`Game`], feeds it [`Input`]s together with the current time and a
//! random generator, and carries out the [`Output`]s: broadcasts, private messages, timers to arm
//! and the end of the game. Timers are data: every scheduled [`Timer`] carries a generation
//! number, and a timer whose generation is no longer current is ignored, so the actor never has
//! to cancel anything. A `Game` serialises completely (pending deadlines included) and
//! [`Game::pending_timers`] tells a resuming actor what to re-arm.
//!
//! Submodules hold one concern each: `io` (the input, output and result types), `deal` (start
//! and cards), `turns` (hints), `voting`, `ending` (defense, reveal, guess, result), `presence`
//! (disconnects and grace) and `view` (what may be shown to whom).

mod deal;
mod ending;
mod io;
mod presence;
mod turns;
mod view;
mod voting;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{
    Millis, UserId,
    error::RuleError,
    event::{Event, Phase, Tally},
    settings::GameSettings,
    topics::Word,
};

pub use deal::StartError;
pub use io::{
    AbortReason, Command, DefenseRecord, EndReason, GameEnd, GameResult, HintRecord, Input, Output,
    PlayerResult, SkipRecord, Timer, VoteRecord,
};

/// Fewest players a game can have; below this a running game is aborted.
pub const MIN_PLAYERS: usize = 3;
/// Longest hint, in characters after trimming.
pub const MAX_HINT_CHARS: usize = 100;
/// Longest defense statement, in characters after trimming.
pub const MAX_DEFENSE_CHARS: usize = 300;
/// Longest guess, in characters after trimming.
pub const MAX_GUESS_CHARS: usize = 100;

/// A player's seat in the game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seat {
    id: UserId,
    connected: bool,
    out: bool,
    /// Generation and deadline of the running grace timer, while disconnected.
    grace: Option<(u64, Millis)>,
    /// Away only because the game was resumed by a new process: still expected back, so his
    /// missing vote does not let the vote close early.
    #[serde(default)]
    resumed: bool,
}

/// Where the game stands, with the data only that phase needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Stage {
    Deal,
    /// `turn` counts turns over all rounds: speaker `order[turn % n]`, round `turn / n + 1`.
    Hints {
        turn: usize,
    },
    Discussion,
    /// `candidates` may be voted for; `revote` marks the one re-vote after a tie.
    Vote {
        candidates: Vec<UserId>,
        revote: bool,
    },
    Defense {
        accused: UserId,
    },
    Guess,
    Result,
}

/// A running game; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Game {
    settings: GameSettings,
    topic_id: String,
    /// Topic name in the game's language.
    topic_name: String,
    word: Word,
    /// The fool-mode liar's word.
    liar_word: Option<Word>,
    /// Seat order, as given to [`Game::start`].
    players: Vec<UserId>,
    seats: Vec<Seat>,
    /// Speaking order.
    order: Vec<UserId>,
    liar: UserId,
    stage: Stage,
    /// Last timer generation handed out (phase and grace timers share the counter).
    seq: u64,
    /// Generation and deadline of the phase timer that is current.
    phase_timer: Option<(u64, Millis)>,
    /// The current hint turn's own deadline (the phase timer may be earlier: the turn grace of
    /// a speaker who is away).
    #[serde(default)]
    turn_deadline: Option<Millis>,
    hints: Vec<HintRecord>,
    /// Hint turns that passed without a hint (absent in games saved before it was kept).
    #[serde(default)]
    skips: Vec<SkipRecord>,
    /// Ballots of the running (or the last closed) vote round, by voter in arrival order.
    ballots: Vec<VoteRecord>,
    /// The latest public vote result: tally and accused.
    tally: Vec<Tally>,
    accused: Option<UserId>,
    /// Set by `liar.revealed`: whether the accused was the liar.
    revealed: Option<bool>,
    guess: Option<String>,
    /// The accused's statement, once made.
    #[serde(default)]
    defense: Option<DefenseRecord>,
    end: Option<GameEnd>,
}

impl Game {
    /// Deals a new game. See [`Game::try_start`] for the fallible form.
    ///
    /// # Panics
    /// With fewer than [`MIN_PLAYERS`] players, a repeated player, or a topic of fewer than two
    /// words; the room layer checks these before starting.
    pub fn start<R: Rng + ?Sized>(
        players: Vec<UserId>,
        settings: GameSettings,
        topic: &crate::Topic,
        now: Millis,
        rng: &mut R,
    ) -> (Game, Vec<Output>) {
        match Game::try_start(players, settings, topic, now, rng) {
            Ok(started) => started,
            Err(e) => panic!("Game::start: {e}"),
        }
    }

    /// Applies one input. On `Err` nothing changed. Timers, disconnects and reconnects after
    /// the end are ignored (`Ok` with no output); commands then answer [`RuleError::GameOver`].
    pub fn handle<R: Rng + ?Sized>(
        &mut self,
        input: Input,
        now: Millis,
        _rng: &mut R,
    ) -> Result<Vec<Output>, RuleError> {
        let mut out = Vec::new();
        match input {
            Input::Command { player, command } => self.command(player, command, now, &mut out)?,
            Input::Timer(Timer::Phase { seq }) => self.phase_timer_fired(seq, now, &mut out),
            Input::Timer(Timer::Grace { player, seq }) => {
                self.grace_expired(player, seq, now, &mut out)
            }
            Input::Disconnected(player) => self.disconnected(player, now, &mut out)?,
            Input::Reconnected(player) => self.reconnected(player, now, &mut out)?,
            Input::Resumed => self.resumed(now, &mut out),
        }
        Ok(out)
    }

    fn command(
        &mut self,
        player: UserId,
        command: Command,
        now: Millis,
        out: &mut Vec<Output>,
    ) -> Result<(), RuleError> {
        if self.end.is_some() {
            return Err(RuleError::GameOver);
        }
        self.active_seat(player)?;
        match command {
            Command::Hint(text) => self.hint(player, &text, now, out),
            Command::Vote(target) => self.vote(player, target, now, out),
            Command::Defense(text) => self.defend(player, &text, now, out),
            Command::Guess(text) => self.make_guess(player, &text, out),
        }
    }

    fn phase_timer_fired(&mut self, seq: u64, now: Millis, out: &mut Vec<Output>) {
        if self.phase_timer.is_none_or(|(current, _)| current != seq) {
            return;
        }
        self.phase_timer = None;
        match self.stage.clone() {
            Stage::Deal => self.begin_hints(now, out),
            Stage::Hints { turn } => self.turn_timed_out(turn, now, out),
            Stage::Discussion => self.begin_vote(self.active_ids(), false, now, out),
            Stage::Vote { .. } => self.close_vote(now, out),
            Stage::Defense { accused } => self.reveal(accused, now, out),
            Stage::Guess => self.guess_timed_out(out),
            Stage::Result => {}
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.stage {
            Stage::Deal => Phase::Deal,
            Stage::Hints { .. } => Phase::Hints,
            Stage::Discussion => Phase::Discussion,
            Stage::Vote { .. } => Phase::Vote,
            Stage::Defense { .. } => Phase::Defense,
            Stage::Guess => Phase::Guess,
            Stage::Result => Phase::Result,
        }
    }

    /// When the current phase (or hint turn) ends without further input.
    pub fn deadline(&self) -> Option<Millis> {
        self.phase_timer.map(|(_, at)| at)
    }

    /// Whether room chat is open: closed during hints, vote and guess (SPEC §4).
    pub fn chat_open(&self) -> bool {
        !matches!(
            self.stage,
            Stage::Hints { .. } | Stage::Vote { .. } | Stage::Guess
        )
    }

    /// Every player who started, in seat order (players who left included).
    pub fn players(&self) -> &[UserId] {
        &self.players
    }

    /// The speaking order.
    pub fn order(&self) -> &[UserId] {
        &self.order
    }

    /// The game's settings.
    pub fn settings(&self) -> &GameSettings {
        &self.settings
    }

    /// How the game ended, once it has.
    pub fn end(&self) -> Option<&GameEnd> {
        self.end.as_ref()
    }

    /// Whether the game has ended.
    pub fn is_over(&self) -> bool {
        self.end.is_some()
    }

    /// Secret: the liar. For the server's own bookkeeping and tests, never for the wire.
    pub fn liar(&self) -> UserId {
        self.liar
    }

    /// Secret: the citizens' word. For the server's own bookkeeping and tests.
    pub fn word(&self) -> &Word {
        &self.word
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Arms a new phase timer (making any earlier one stale) and returns its deadline.
    fn arm_phase_timer(&mut self, now: Millis, secs: u32, out: &mut Vec<Output>) -> Millis {
        let at = now.plus_secs(secs);
        self.arm_phase_timer_at(at, out);
        at
    }

    /// Arms a new phase timer for `at`, making any earlier one stale.
    fn arm_phase_timer_at(&mut self, at: Millis, out: &mut Vec<Output>) {
        let seq = self.next_seq();
        self.phase_timer = Some((seq, at));
        out.push(Output::Schedule {
            timer: Timer::Phase { seq },
            at,
        });
    }

    /// Enters a timed phase: `phase.changed` then its timer.
    fn enter_phase(&mut self, stage: Stage, secs: u32, now: Millis, out: &mut Vec<Output>) {
        self.stage = stage;
        let at = now.plus_secs(secs);
        out.push(Output::Broadcast(Event::PhaseChanged {
            phase: self.phase(),
            deadline: Some(at),
        }));
        self.arm_phase_timer(now, secs, out);
    }

    fn seat_index(&self, player: UserId) -> Option<usize> {
        self.seats.iter().position(|s| s.id == player)
    }

    /// The seat of a player still in the game, or `NotAPlayer`.
    fn active_seat(&self, player: UserId) -> Result<usize, RuleError> {
        self.seat_index(player)
            .filter(|&i| !self.seats[i].out)
            .ok_or(RuleError::NotAPlayer)
    }

    fn is_active(&self, player: UserId) -> bool {
        self.active_seat(player).is_ok()
    }

    fn is_connected(&self, player: UserId) -> bool {
        self.seat_index(player)
            .is_some_and(|i| self.seats[i].connected && !self.seats[i].out)
    }

    fn is_resumed(&self, player: UserId) -> bool {
        self.seat_index(player)
            .is_some_and(|i| self.seats[i].resumed && !self.seats[i].out)
    }

    /// Players still in the game, in speaking order.
    fn active_ids(&self) -> Vec<UserId> {
        self.order
            .iter()
            .copied()
            .filter(|&p| self.is_active(p))
            .collect()
    }
}

/// Trims `text` and checks its length in characters.
fn checked_text(text: &str, max_chars: usize) -> Result<String, RuleError> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(RuleError::InvalidText);
    }
    Ok(text.to_owned())
}
