//! Experience and levels (SPEC §3.1, the seed's numbers exactly).

use serde::{Deserialize, Serialize};

/// The side that won a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The liar.
    Liar,
    /// Everybody else.
    Citizens,
}

/// A player's real role (what his card says may differ in fool mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Knows the word.
    Citizen,
    /// Does not know the word.
    Liar,
}

impl Side {
    /// The wire name: `"liar"` or `"citizens"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Liar => "liar",
            Side::Citizens => "citizens",
        }
    }
}

impl Role {
    /// The wire name: `"citizen"` or `"liar"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Liar => "liar",
        }
    }

    /// The side this role plays on.
    pub fn side(self) -> Side {
        match self {
            Role::Citizen => Side::Citizens,
            Role::Liar => Side::Liar,
        }
    }
}

/// Experience a player earns: `winner` is the side that won, `voted_liar` whether this player's
/// deciding vote named the liar, `n_players` how many players started the game.
///
/// Liar wins: liar `53 − N`, each citizen `15`. Citizens win: a citizen who voted for the liar
/// `25 + N`, another citizen `20`, the liar `10`. (`53 − N` saturates at 0; N ≤ 15 in practice.)
pub fn exp_for(winner: Side, role: Role, voted_liar: bool, n_players: usize) -> u32 {
    let n = u32::try_from(n_players).unwrap_or(u32::MAX);
    match (winner, role) {
        (Side::Liar, Role::Liar) => 53u32.saturating_sub(n),
        (Side::Liar, Role::Citizen) => 15,
        (Side::Citizens, Role::Citizen) if voted_liar => 25u32.saturating_add(n),
        (Side::Citizens, Role::Citizen) => 20,
        (Side::Citizens, Role::Liar) => 10,
    }
}

/// A member's level, derived from his total experience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    /// 0–99.
    Bronze1,
    /// 100–299.
    Bronze2,
    /// 300–499.
    Silver1,
    /// 500–799.
    Silver2,
    /// 800–1199.
    Gold1,
    /// 1200–1799.
    Gold2,
    /// 1800–2499.
    Platinum,
    /// 2500–3099.
    Master,
    /// 3100 and more.
    Liar,
}

/// Lowest experience of each level above the first, in order.
const THRESHOLDS: [(u64, Level); 8] = [
    (100, Level::Bronze2),
    (300, Level::Silver1),
    (500, Level::Silver2),
    (800, Level::Gold1),
    (1200, Level::Gold2),
    (1800, Level::Platinum),
    (2500, Level::Master),
    (3100, Level::Liar),
];

impl Level {
    /// The level of a member with `exp` experience in total.
    pub fn from_exp(exp: u64) -> Level {
        THRESHOLDS
            .iter()
            .rev()
            .find(|(min, _)| exp >= *min)
            .map_or(Level::Bronze1, |(_, level)| *level)
    }

    /// The wire name, e.g. `"GOLD2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Bronze1 => "BRONZE1",
            Level::Bronze2 => "BRONZE2",
            Level::Silver1 => "SILVER1",
            Level::Silver2 => "SILVER2",
            Level::Gold1 => "GOLD1",
            Level::Gold2 => "GOLD2",
            Level::Platinum => "PLATINUM",
            Level::Master => "MASTER",
            Level::Liar => "LIAR",
        }
    }
}
