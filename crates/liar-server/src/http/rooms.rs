//! `/api/rooms`: create, list/search, get and delete rooms (SPEC §2.1), and the caller's own
//! room (`/api/rooms/current`). Everything else a room does happens over STOMP (`ws`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiQuery, Auth};
use crate::app::AppState;
use crate::error::{ApiError, FieldError, Problem};
use crate::room::settings::{Language, Mode, OnHostLeave, TiePolicy};
use crate::room::{Person, RoomError, RoomId, RoomStatus, RoomSummary, RoomView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_room, list_rooms))
        // A static segment wins over `{roomId}` in axum's router, whatever the order here.
        .routes(routes!(current_room))
        .routes(routes!(get_room, delete_room))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    /// 1–30 characters (leading and trailing space is trimmed), no control characters.
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 30,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$",
        example = "Friday night")]
    name: Option<String>,
    /// Makes the room private (not listed; joining needs it). Stored hashed. Empty: public.
    #[schema(max_length = 100)]
    password: Option<String>,
    /// Any subset of the room settings; the rest take their defaults.
    #[schema(value_type = Option<SettingsPatch>, required = false)]
    settings: Option<Value>,
}

/// Any subset of the room settings (SPEC §2.2), each within its range.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)] // Only its schema is used; the patch is checked by `RoomSettings::patched`.
pub struct SettingsPatch {
    #[schema(nullable = false, minimum = 3, maximum = 15)]
    max_players: Option<u32>,
    /// `classic` or `fool`.
    #[schema(nullable = false, value_type = Option<String>, pattern = "^(classic|fool)$")]
    mode: Option<Mode>,
    #[schema(nullable = false, minimum = 1, maximum = 3)]
    hint_rounds: Option<u32>,
    #[schema(nullable = false, minimum = 10, maximum = 120)]
    hint_seconds: Option<u32>,
    #[schema(nullable = false, minimum = 0, maximum = 300)]
    discussion_seconds: Option<u32>,
    #[schema(nullable = false, minimum = 10, maximum = 120)]
    vote_seconds: Option<u32>,
    #[schema(nullable = false, minimum = 0, maximum = 120)]
    defense_seconds: Option<u32>,
    #[schema(nullable = false, minimum = 10, maximum = 120)]
    guess_seconds: Option<u32>,
    /// `liar_wins` or `revote`.
    #[schema(nullable = false, value_type = Option<String>, pattern = "^(liar_wins|revote)$")]
    tie_policy: Option<TiePolicy>,
    #[schema(nullable = false)]
    on_host_leave: Option<OnHostLeave>,
    /// `random`, or a topic id from `GET /api/topics`.
    #[schema(nullable = false, example = "random")]
    topic_id: Option<String>,
    /// `ko` or `en`.
    #[schema(nullable = false, value_type = Option<String>, pattern = "^(ko|en)$")]
    language: Option<Language>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomCreated {
    room_id: RoomId,
    /// 6-letter join code.
    #[schema(example = "KXWPQM")]
    code: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Substring of the room name or host name, case-insensitive.
    q: Option<String>,
    /// `waiting` or `playing`.
    #[param(value_type = Option<StatusFilter>, inline)]
    status: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(pattern = "^[0-9]{0,18}$")]
    cursor: Option<String>,
    /// 1–50, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    limit: Option<String>,
}

/// The room statuses a listing can be filtered by.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Only its schema is used; the query is parsed by hand to list every error.
pub enum StatusFilter {
    Waiting,
    Playing,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomPage {
    items: Vec<RoomSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// Create a room; the caller becomes its host (leaving his previous room first).
#[utoipa::path(post, path = "/api/rooms", tag = "rooms", security(("bearer" = [])), request_body = CreateRoom,
    responses(
        (status = 201, description = "Created", body = RoomCreated),
        (status = 400, description = "`VALIDATION` (every bad field, settings included), `MALFORMED_JSON`, `INVALID_BODY`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`IN_GAME`: the caller is playing a game elsewhere", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be `application/json`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_room(
    State(state): State<AppState>,
    Auth(claims): Auth,
    ApiJson(body): ApiJson<CreateRoom>,
) -> Result<impl IntoResponse, ApiError> {
    let member = state
        .store()
        .member(claims.user)
        .await?
        .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", "member not found"))?;
    let host = Person {
        id: member.id,
        username: member.username,
    };
    let (room_id, code) = state
        .rooms()
        .create(
            host,
            body.name.as_deref(),
            body.password.as_deref(),
            body.settings.as_ref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(RoomCreated { room_id, code }),
    ))
}

/// List public rooms, newest first.
#[utoipa::path(get, path = "/api/rooms", tag = "rooms", params(ListQuery),
    responses(
        (status = 200, description = "One page", body = RoomPage),
        (status = 400, description = "`VALIDATION`: bad status, cursor or limit", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_rooms(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<axum::Json<RoomPage>, ApiError> {
    let mut errors = Vec::new();
    let status = match query.status.as_deref() {
        None => None,
        Some("waiting") => Some(RoomStatus::Waiting),
        Some("playing") => Some(RoomStatus::Playing),
        Some(_) => {
            errors.push(FieldError::new(
                "status",
                "INVALID_VALUE",
                "status is waiting or playing",
            ));
            None
        }
    };
    let cursor = super::id_cursor(query.cursor.as_deref(), &mut errors);
    let limit = super::page_limit(query.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (items, next) = state
        .rooms()
        .list(query.q.as_deref(), status, cursor, limit)
        .await?;
    Ok(axum::Json(RoomPage {
        items,
        next_cursor: next.map(|id| id.to_string()),
    }))
}

/// A room with its members and settings, by id or join code.
#[utoipa::path(get, path = "/api/rooms/{roomId}", tag = "rooms",
    params(("roomId" = String, Path, description = "Room id, or its 6-letter join code")),
    responses(
        (status = 200, description = "The room", body = RoomView),
        (status = 404, description = "`ROOM_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_room(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<axum::Json<RoomView>, ApiError> {
    let id = state
        .rooms()
        .resolve(&room)
        .await
        .ok_or(RoomError::NotFound)?;
    Ok(axum::Json(state.rooms().view(id).await?))
}

/// The room the caller holds a seat in (waiting or playing; a dropped connection keeps the seat
/// for the reconnect grace, a second login keeps it too), so a client on a fresh device finds it.
/// Holding no seat is an ordinary answer, not an error: `204 No Content` (a browser logs every
/// 4xx as a red console error, and every login asks this).
#[utoipa::path(get, path = "/api/rooms/current", tag = "rooms", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's room, as `GET /api/rooms/{roomId}` shows it", body = RoomView),
        (status = 204, description = "The caller holds no seat in any room"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn current_room(
    State(state): State<AppState>,
    Auth(claims): Auth,
) -> Result<axum::response::Response, ApiError> {
    let not_in_room = || StatusCode::NO_CONTENT.into_response();
    let Some(id) = state.rooms().current_room(claims.user).await? else {
        return Ok(not_in_room());
    };
    let view = match state.rooms().view(id).await {
        Ok(view) => view,
        // The room ended between the directory lookup and the question.
        Err(RoomError::NotFound) => return Ok(not_in_room()),
        Err(e) => return Err(e.into()),
    };
    // The directory and the room agree except for an instant around a leave: trust the room.
    if !view.members.iter().any(|m| m.user_id == claims.user) {
        return Ok(not_in_room());
    }
    Ok(axum::Json(view).into_response())
}

/// Close a room (host only): every member is evicted with `room.closed`.
#[utoipa::path(delete, path = "/api/rooms/{roomId}", tag = "rooms", security(("bearer" = [])),
    params(("roomId" = String, Path, description = "Room id, or its 6-letter join code")),
    responses(
        (status = 204, description = "Closed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`NOT_HOST`, `NOT_A_MEMBER`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`ROOM_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`IN_GAME`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_room(
    State(state): State<AppState>,
    Auth(claims): Auth,
    Path(room): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = state
        .rooms()
        .resolve(&room)
        .await
        .ok_or(RoomError::NotFound)?;
    state.rooms().delete(claims.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
