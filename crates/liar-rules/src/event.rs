//! Events the rules emit, in the wire shape of SPEC §4.
//!
//! Serialised as `{"type": "<name>", ...}` with camelCase fields. The room actor adds `seq`
//! and builds `game.ended` / `game.aborted` itself from [`crate::GameEnd`], so neither appears
//! here. Which event may be broadcast and which is private is decided by [`crate::Output`]:
//! only `game.card` is ever private.

use serde::{Deserialize, Serialize};

use crate::{Millis, Role, UserId, settings::GameSettings};

/// The phases of a game, in play order (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Cards are dealt and read.
    Deal,
    /// Players give hints in turn.
    Hints,
    /// Free discussion.
    Discussion,
    /// Everybody votes for a suspect (also the re-vote).
    Vote,
    /// The accused may defend himself.
    Defense,
    /// The exposed liar guesses the word.
    Guess,
    /// The game is over.
    Result,
}

/// Why a hint turn passed without a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkipReason {
    /// The speaker let `hintSeconds` run out.
    Timeout,
    /// The speaker is disconnected.
    Disconnected,
}

/// Votes received by one player, as published in `vote.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// The player voted for.
    pub user_id: UserId,
    /// How many votes he received.
    pub votes: u32,
}

/// One event of the game; see `docs/rules.md` for a JSON example of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum Event {
    /// The game began: speaking order, settings and the public topic.
    #[serde(rename = "game.started")]
    GameStarted {
        /// Speaking order (every player once).
        order: Vec<UserId>,
        /// The game's settings.
        settings: GameSettings,
        /// Topic id.
        topic_id: String,
        /// Topic name in the game's language.
        topic: String,
    },
    /// A player's own card. Only ever sent privately to its owner.
    #[serde(rename = "game.card")]
    GameCard {
        /// What the card says (a fool-mode liar's card says `citizen`).
        role: Role,
        /// Topic name in the game's language.
        topic: String,
        /// The word; absent on a classic liar's card.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        word: Option<String>,
    },
    /// A new phase began; `deadline` is when it ends at the latest (`null` for `result`).
    #[serde(rename = "phase.changed")]
    PhaseChanged {
        /// The new phase.
        phase: Phase,
        /// When the server moves on without further input.
        deadline: Option<Millis>,
    },
    /// A hint turn began.
    #[serde(rename = "turn.started")]
    TurnStarted {
        /// Who may hint now.
        speaker: UserId,
        /// Rotation number, from 1.
        round: u8,
        /// When the turn ends without a hint.
        deadline: Millis,
    },
    /// A hint was given.
    #[serde(rename = "hint")]
    Hint {
        /// The speaker.
        user_id: UserId,
        /// The hint, trimmed.
        text: String,
        /// Rotation number, from 1.
        round: u8,
    },
    /// A hint turn passed without a hint.
    #[serde(rename = "turn.skipped")]
    TurnSkipped {
        /// The speaker whose turn it was.
        user_id: UserId,
        /// Rotation number, from 1.
        round: u8,
        /// Why.
        reason: SkipReason,
    },
    /// How many of the eligible voters have voted; never who voted for whom.
    #[serde(rename = "vote.progress")]
    VoteProgress {
        /// Players who have a vote in.
        cast: u32,
        /// Players who may vote.
        total: u32,
    },
    /// The vote closed.
    #[serde(rename = "vote.result")]
    VoteResult {
        /// Votes per player who received any, most first (ties in speaking order).
        tally: Vec<Tally>,
        /// The single most voted player, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accused: Option<UserId>,
        /// Whether the top was shared (or nobody voted).
        tie: bool,
        /// The players sharing the top, in speaking order (empty without a tie).
        tied: Vec<UserId>,
        /// Whether a re-vote among `tied` follows.
        revote: bool,
    },
    /// The accused's statement.
    #[serde(rename = "defense")]
    Defense {
        /// The accused.
        user_id: UserId,
        /// His statement, trimmed.
        text: String,
    },
    /// Whether the accused is the liar. `liarId` is present only when he is.
    #[serde(rename = "liar.revealed")]
    LiarRevealed {
        /// The accused.
        accused_id: UserId,
        /// Whether he is the liar.
        accused_is_liar: bool,
        /// The liar, when exposed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        liar_id: Option<UserId>,
    },
    /// The liar's guess and whether it named the word; `guess` is `null` when time ran out.
    #[serde(rename = "guess.result")]
    GuessResult {
        /// The guess as sent, trimmed.
        guess: Option<String>,
        /// Whether it names the word.
        correct: bool,
    },
    /// A player lost his connection; his seat is kept for the grace period.
    #[serde(rename = "player.disconnected")]
    PlayerDisconnected {
        /// The player.
        user_id: UserId,
    },
    /// A disconnected player is back.
    #[serde(rename = "player.reconnected")]
    PlayerReconnected {
        /// The player.
        user_id: UserId,
    },
    /// A player's grace period ran out: he is out of the game.
    #[serde(rename = "player.left")]
    PlayerLeft {
        /// The player.
        user_id: UserId,
    },
}
