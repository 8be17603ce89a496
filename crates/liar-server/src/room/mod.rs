//! Rooms (SPEC §2, §3 "Durable rooms"): the wire types; the room as a pure value (`state`,
//! `lobby`, `play`, with typed events in `event`); the per-room actor that alone owns a live
//! room, saves it after every transition and publishes only what is saved (`actor`, with the
//! group-committing `saver`); and the registry (`Rooms`, ARCHITECTURE.md's `RoomRouter`) that
//! finds a room's actor, keeps the member → room directory and restores saved rooms at start.

mod actor;
pub mod event;
pub mod lease;
mod lobby;
mod play;
mod registry;
pub mod remote;
mod saver;
pub mod settings;
pub mod state;
#[cfg(test)]
mod tests;

pub use registry::{JoinOutcome, Rooms, RoomsConfig, Subscription};
pub use settings::RoomSettings;
pub use state::{Ctx, Input, Output, Reply, Room, RoomRules, RoomTimer, Step};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::UserId;
use crate::error::{ApiError, FieldError};
use axum::http::StatusCode;

pub type RoomId = i64;

/// What the room topic carries: serialised events, and notices that a member lost access.
#[derive(Debug, Clone)]
pub enum RoomFrame {
    Event {
        seq: u64,
        json: Bytes,
    },
    /// The member is no longer in the room: his subscriptions must stop at once.
    Evict(UserId),
    /// Events may have been lost on the way from another node: subscribers check what they
    /// missed against the room's log.
    Resync,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    Waiting,
    Playing,
}

/// A seat, as everyone in the room sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: UserId,
    pub username: String,
    pub ready: bool,
    pub connected: bool,
}

/// `GET /api/rooms/{roomId}` and the `room` of `room.snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    pub room_id: RoomId,
    pub code: String,
    pub name: String,
    pub host_id: UserId,
    pub status: RoomStatus,
    pub private: bool,
    pub settings: RoomSettings,
    /// The running game's public state (phase, deadline, order, hints, vote count); absent in
    /// the lobby. Never anything secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub game: Option<serde_json::Value>,
    /// While the result is shown: the `game.ended` event as it was announced.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Seat order, host first.
    pub members: Vec<MemberView>,
    /// The last 50 chat messages (`chat` events without their envelope).
    #[schema(value_type = Vec<Object>)]
    pub chat: Vec<event::KeptChat>,
    /// The room's latest event number.
    pub seq: u64,
    /// Bumped whenever another process took the room over (a restart, a failover).
    pub epoch: i64,
}

/// One row of the room list and of lobby events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    pub room_id: RoomId,
    pub code: String,
    pub name: String,
    pub host_id: UserId,
    pub host_name: String,
    /// Number of members.
    pub members: usize,
    pub max_players: u32,
    pub status: RoomStatus,
    pub private: bool,
    /// `classic` or `fool`.
    #[schema(value_type = String)]
    pub mode: settings::Mode,
    /// The topic setting: a topic id or `random`.
    pub topic_id: String,
}

/// A member as rooms know him.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: UserId,
    pub username: String,
}

/// Why a room command was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RoomError {
    #[error("room not found")]
    NotFound,
    #[error("room is full")]
    Full,
    #[error("wrong room password")]
    WrongPassword,
    #[error("you were kicked from this room")]
    Kicked,
    #[error("not a member of this room")]
    NotAMember,
    #[error("only the host may do that")]
    NotHost,
    #[error("a game is running")]
    InGame,
    #[error("not possible in this phase")]
    WrongPhase,
    #[error("too many messages; slow down")]
    RateLimited,
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("a game needs at least 3 members")]
    NotEnoughPlayers,
    #[error("every member but the host must be ready")]
    NotReady,
    /// A refusal by the game rules (`NOT_YOUR_TURN`, `WRONG_PHASE`, `SELF_VOTE`, ...).
    #[error("{1}")]
    Rule(&'static str, String),
    #[error("internal error")]
    Internal,
    /// The room could not save its state in time (the database is away); nothing was lost,
    /// the command's effect goes out once it is saved.
    #[error("the room's storage is not answering; try again")]
    Unavailable,
    /// The server is shutting down; reconnect to continue.
    #[error("the server is restarting; reconnect in a moment")]
    ShuttingDown,
}

impl RoomError {
    pub fn code(&self) -> &'static str {
        match self {
            RoomError::NotFound => "ROOM_NOT_FOUND",
            RoomError::Full => "ROOM_FULL",
            RoomError::WrongPassword => "WRONG_PASSWORD",
            RoomError::Kicked => "KICKED",
            RoomError::NotAMember => "NOT_A_MEMBER",
            RoomError::NotHost => "NOT_HOST",
            RoomError::InGame => "IN_GAME",
            RoomError::WrongPhase => "WRONG_PHASE",
            RoomError::RateLimited => "RATE_LIMITED",
            RoomError::Validation(_) => "VALIDATION",
            RoomError::NotEnoughPlayers => "NOT_ENOUGH_PLAYERS",
            RoomError::NotReady => "NOT_READY",
            RoomError::Rule(code, _) => code,
            RoomError::Internal => "INTERNAL",
            RoomError::Unavailable | RoomError::ShuttingDown => "UNAVAILABLE",
        }
    }

    /// The message for `/user/queue/errors`: validation lists the fields.
    pub fn message(&self) -> String {
        match self {
            RoomError::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        let detail = e.message();
        match e {
            RoomError::NotFound => ApiError::not_found("ROOM_NOT_FOUND", detail),
            RoomError::Validation(errors) => ApiError::Validation(errors),
            RoomError::NotHost | RoomError::Kicked | RoomError::NotAMember => ApiError::Forbidden {
                code: e.code(),
                detail,
            },
            RoomError::WrongPassword => ApiError::Forbidden {
                code: e.code(),
                detail,
            },
            RoomError::Full
            | RoomError::InGame
            | RoomError::WrongPhase
            | RoomError::NotEnoughPlayers
            | RoomError::NotReady
            | RoomError::Rule(..) => ApiError::conflict(e.code(), detail),
            RoomError::RateLimited => ApiError::RateLimited {
                retry_after: std::time::Duration::from_secs(1),
            },
            RoomError::Unavailable | RoomError::ShuttingDown => ApiError::Unavailable(detail),
            RoomError::Internal => ApiError::Status {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "INTERNAL",
                detail,
            },
        }
    }
}
