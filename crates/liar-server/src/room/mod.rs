//! Rooms (SPEC §2): the wire types, the per-room actor that alone owns a room's state, and the
//! registry (`Rooms`, ARCHITECTURE.md's `RoomRouter`) that finds a room's actor and keeps the
//! member → room directory.

mod actor;
mod registry;
pub mod settings;

pub use registry::{JoinOutcome, Rooms, RoomsConfig, Subscription};
pub use settings::RoomSettings;

use bytes::Bytes;
use serde::Serialize;
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
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoomStatus {
    Waiting,
    Playing,
}

/// A seat, as everyone in the room sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: UserId,
    pub username: String,
    pub ready: bool,
    pub connected: bool,
}

/// `GET /api/rooms/{roomId}` and the `room` of `room.snapshot`.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
    /// Seat order, host first.
    pub members: Vec<MemberView>,
}

/// One row of the room list and of lobby events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
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
            RoomError::Internal => ApiError::Status {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "INTERNAL",
                detail,
            },
        }
    }
}
