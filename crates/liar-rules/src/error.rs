//! Refusals of player commands.

/// Why the rules refused an input. Each has a stable wire code ([`RuleError::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RuleError {
    /// The sender is not (or no longer) a player of this game.
    #[error("you are not a player of this game")]
    NotAPlayer,
    /// The command does not belong to the current phase.
    #[error("that is not possible in this phase")]
    WrongPhase,
    /// Another player has the turn (hint), or only the accused / the liar may act.
    #[error("it is not your turn")]
    NotYourTurn,
    /// A player voted for himself.
    #[error("you cannot vote for yourself")]
    SelfVote,
    /// The vote target is not a player who may be voted for.
    #[error("that player cannot be voted for")]
    InvalidTarget,
    /// A one-shot command was sent twice in one phase.
    #[error("you already sent that")]
    AlreadySent,
    /// The text is empty after trimming or too long.
    #[error("the text is empty or too long")]
    InvalidText,
    /// The game has ended.
    #[error("the game is over")]
    GameOver,
}

impl RuleError {
    /// The stable upper-snake code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::NotAPlayer => "NOT_A_PLAYER",
            RuleError::WrongPhase => "WRONG_PHASE",
            RuleError::NotYourTurn => "NOT_YOUR_TURN",
            RuleError::SelfVote => "SELF_VOTE",
            RuleError::InvalidTarget => "INVALID_TARGET",
            RuleError::AlreadySent => "ALREADY_SENT",
            RuleError::InvalidText => "VALIDATION",
            RuleError::GameOver => "GAME_OVER",
        }
    }
}
