//! The per-game settings the rules need (a subset of the room settings of SPEC §2.2).
//!
//! The room layer validates ranges before a game starts; the rules stay total for any value
//! (`hint_rounds == 0` skips the hints, `0` seconds on discussion or defense skips the phase,
//! `0` seconds elsewhere makes a deadline of "now").

use serde::{Deserialize, Serialize};

/// Whether the liar knows he is the liar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The liar is told he is the liar and sees only the topic.
    #[default]
    Classic,
    /// The liar is told he is a citizen and gets a different word of the same topic.
    Fool,
}

/// What a tied vote means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TiePolicy {
    /// A tie lets the liar win (the seed's rule).
    #[default]
    LiarWins,
    /// One re-vote restricted to the tied players; a second tie lets the liar win.
    Revote,
}

/// The language of words, topic names and guesses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Korean.
    #[default]
    Ko,
    /// English.
    En,
}

impl Mode {
    /// The wire name: `"classic"` or `"fool"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Classic => "classic",
            Mode::Fool => "fool",
        }
    }
}

impl Language {
    /// The other language (guesses are accepted in both).
    pub fn other(self) -> Language {
        match self {
            Language::Ko => Language::En,
            Language::En => Language::Ko,
        }
    }
}

/// SPEC §3 step 2: a dropped speaker keeps his turn for up to 10 s.
pub const DEFAULT_TURN_GRACE_SECS: u32 = 10;

fn default_turn_grace() -> u32 {
    DEFAULT_TURN_GRACE_SECS
}

/// Settings of one game. Field names on the wire follow the room settings (`hintSeconds`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GameSettings {
    /// Classic or fool.
    pub mode: Mode,
    /// Full rotations through the speaking order.
    pub hint_rounds: u8,
    /// Time for one hint turn.
    #[serde(rename = "hintSeconds")]
    pub hint_secs: u32,
    /// Discussion length; 0 skips the phase.
    #[serde(rename = "discussionSeconds")]
    pub discussion_secs: u32,
    /// Vote length.
    #[serde(rename = "voteSeconds")]
    pub vote_secs: u32,
    /// Defense length; 0 skips the phase.
    #[serde(rename = "defenseSeconds")]
    pub defense_secs: u32,
    /// Time the exposed liar has for his guess.
    #[serde(rename = "guessSeconds")]
    pub guess_secs: u32,
    /// What a tied vote means.
    pub tie_policy: TiePolicy,
    /// How long a disconnected player keeps his seat.
    #[serde(rename = "graceSeconds")]
    pub grace_secs: u32,
    /// How long a speaker whose connection dropped keeps his hint turn (never past the turn's
    /// deadline); SPEC §3 step 2: 10 s.
    #[serde(rename = "turnGraceSeconds", default = "default_turn_grace")]
    pub turn_grace_secs: u32,
    /// How long players look at their cards before the first hint.
    #[serde(rename = "dealSeconds")]
    pub deal_secs: u32,
    /// Language of the word, the topic name and the guess.
    pub language: Language,
}

impl Default for GameSettings {
    /// The defaults of SPEC §2.2; 60 s grace (SPEC §3) and 5 s to read the card.
    fn default() -> Self {
        GameSettings {
            mode: Mode::Classic,
            hint_rounds: 2,
            hint_secs: 30,
            discussion_secs: 60,
            vote_secs: 30,
            defense_secs: 30,
            guess_secs: 30,
            tie_policy: TiePolicy::LiarWins,
            grace_secs: 60,
            turn_grace_secs: DEFAULT_TURN_GRACE_SECS,
            deal_secs: 5,
            language: Language::Ko,
        }
    }
}
