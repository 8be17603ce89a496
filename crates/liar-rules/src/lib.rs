//! The Liar Game (라이어 게임) as pure rules: no I/O, no clock, no global randomness.
//!
//! [`Game`] is a sans-IO state machine for SPEC §3: the room actor feeds it [`Input`]s with the
//! current time ([`Millis`]) and a random generator, and carries out the [`Output`]s. Besides
//! the game the crate holds the topic catalog ([`topics`]), guess normalisation
//! ([`normalize`]), and experience and levels ([`exp_for`], [`Level`]). `docs/rules.md`
//! describes the state machine and every event with an example.

mod clock;
mod error;
mod event;
mod game;
pub mod normalize;
mod scoring;
mod settings;
pub mod topics;

/// The random-number crate the rules are written against; callers can use its generators.
pub use rand;

pub use clock::Millis;
pub use error::RuleError;
pub use event::{Event, Phase, SkipReason, Tally};
pub use game::{
    AbortReason, Command, DefenseRecord, EndReason, Game, GameEnd, GameResult, HintRecord, Input,
    MAX_DEFENSE_CHARS, MAX_GUESS_CHARS, MAX_HINT_CHARS, MIN_PLAYERS, Output, PlayerResult,
    SkipRecord, StartError, Timer, VoteRecord,
};
pub use scoring::{Level, Role, Side, exp_for};
pub use settings::{DEFAULT_TURN_GRACE_SECS, GameSettings, Language, Mode, TiePolicy};
pub use topics::{Catalog, Topic, TopicError, Word};

/// A member's id.
pub type UserId = i64;
