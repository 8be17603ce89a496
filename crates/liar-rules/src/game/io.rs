//! What goes into a [`Game`](super::Game) and what comes out of it, and the result of a
//! finished game. All of it serialises (the actor may log or persist inputs and outputs):
//! `Command`, `Input`, `Output` and `Timer` are tagged by `kind` (the first two with their
//! payload in `value`), `GameEnd` by `outcome`.

use serde::{Deserialize, Serialize};

use crate::{Event, Millis, Role, Side, SkipReason, UserId};

/// A player's command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Command {
    /// The current speaker's hint.
    Hint(String),
    /// A vote for another player (may be changed until the vote closes).
    Vote(UserId),
    /// The accused's statement.
    Defense(String),
    /// The exposed liar's guess of the word.
    Guess(String),
}

/// A timer the rules asked for; fed back as [`Input::Timer`] when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Timer {
    /// The current phase or hint turn is over.
    Phase {
        /// Generation; a stale one is ignored.
        seq: u64,
    },
    /// A disconnected player's grace period is over.
    Grace {
        /// The player.
        player: UserId,
        /// Generation; a stale one (he came back meanwhile) is ignored.
        seq: u64,
    },
}

/// Everything that can happen to a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Input {
    /// A player sent a command.
    Command {
        /// The sender.
        player: UserId,
        /// What he sent.
        command: Command,
    },
    /// A timer fired.
    Timer(Timer),
    /// A player's connection dropped.
    Disconnected(UserId),
    /// A player is connected again.
    Reconnected(UserId),
    /// The game was loaded by a new process (a restart or a takeover): every player is away
    /// until his client reconnects, each with a fresh grace period. Nothing is announced, and
    /// nobody's absence closes the vote or skips a turn before the turn grace.
    Resumed,
}

/// What the actor must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Output {
    /// Send to every room member.
    Broadcast(Event),
    /// Send to one player only.
    Private {
        /// The recipient.
        to: UserId,
        /// The event.
        event: Event,
    },
    /// Feed `Input::Timer(timer)` back at `at` (or as soon as possible after).
    Schedule {
        /// The timer.
        timer: Timer,
        /// When.
        at: Millis,
    },
    /// The game is over; nothing but stale timers will follow.
    Finished(GameEnd),
}

/// How a game ended.
// One value per game, moved a handful of times: boxing the result would only make every
// match on it noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum GameEnd {
    /// Played to the end: store the result and award experience.
    Completed(GameResult),
    /// Stopped early: stored as aborted, no experience.
    Aborted {
        /// Why.
        reason: AbortReason,
    },
}

/// Why a game was aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortReason {
    /// Fewer than [`crate::MIN_PLAYERS`] players are left.
    NotEnoughPlayers,
}

/// One vote of the deciding vote round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoteRecord {
    /// Who voted.
    pub voter_id: UserId,
    /// For whom.
    pub target_id: UserId,
}

/// One player's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayerResult {
    /// The player.
    pub user_id: UserId,
    /// His real role.
    pub role: Role,
    /// Whether his deciding vote named the liar.
    pub voted_correctly: bool,
    /// Whether his side won and he was still in the game.
    pub won: bool,
    /// Experience earned (SPEC §3.1; 0 for a player who left).
    pub exp: u32,
    /// Whether he left the game (grace ran out) before the end.
    pub left: bool,
}

/// Why the winning side won (SPEC §3 step 8); players see it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A citizen was voted out: the liar wins.
    WrongAccused,
    /// The vote was tied (or nobody voted) and the tie policy gave it to the liar.
    Tie,
    /// The exposed liar named the word: the liar wins.
    LiarGuessed,
    /// The exposed liar named another word: the citizens win.
    LiarMissed,
    /// The exposed liar let `guessSeconds` run out: the citizens win.
    GuessTimeout,
    /// The liar's grace ran out while he was away: the citizens win.
    LiarLeft,
}

impl EndReason {
    /// The side this reason makes win.
    pub fn winner(self) -> Side {
        match self {
            EndReason::WrongAccused | EndReason::Tie | EndReason::LiarGuessed => Side::Liar,
            EndReason::LiarMissed | EndReason::GuessTimeout | EndReason::LiarLeft => Side::Citizens,
        }
    }
}

/// The accused's statement, public from the moment he makes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefenseRecord {
    /// The accused.
    pub user_id: UserId,
    /// His statement, trimmed.
    pub text: String,
}

/// Everything revealed when a game completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GameResult {
    /// The side that won.
    pub winner: Side,
    /// Why that side won.
    pub reason: EndReason,
    /// The liar.
    pub liar_id: UserId,
    /// The topic.
    pub topic_id: String,
    /// The word's id within the topic.
    pub word_id: String,
    /// The word in the game's language.
    pub word: String,
    /// The votes of the deciding vote round, by voter in speaking order.
    pub votes: Vec<VoteRecord>,
    /// Every player who started, in seat order.
    pub players: Vec<PlayerResult>,
    /// The liar's guess, if he made one.
    pub guess: Option<String>,
    /// The accused's defense, if he made one (whoever he turned out to be).
    #[serde(default)]
    pub defense: Option<DefenseRecord>,
    /// Fool mode: the other word the liar was given (he was told he was a citizen); `null` in
    /// classic mode.
    #[serde(default)]
    pub liar_word: Option<String>,
}

/// A hint turn that passed without a hint, kept for snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SkipRecord {
    /// The speaker whose turn it was.
    pub user_id: UserId,
    /// Rotation number, from 1.
    pub round: u8,
    /// Why.
    pub reason: SkipReason,
    /// How many hints had been given before it: where it sits among `hints`.
    pub after_hints: usize,
}

/// A public hint, kept for snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HintRecord {
    /// The speaker.
    pub user_id: UserId,
    /// The hint.
    pub text: String,
    /// Rotation number, from 1.
    pub round: u8,
}
