//! `/api/users/me`: the member's own profile (SPEC §1.1).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, Auth};
use crate::app::AppState;
use crate::auth::{collect, username_taken};
use crate::domain::{UserId, Username};
use crate::error::{ApiError, Problem};
use crate::store::{Member, ProfilePatch, StoreError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me, patch_me))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    user_id: UserId,
    email: String,
    username: String,
    /// `BRONZE1` … `LIAR` (SPEC §3.1).
    level: String,
    exp: i64,
    wins: i64,
    losses: i64,
    games: i64,
    /// Whether others may see this member's results and ranking.
    results_visible: bool,
    /// Whether this member may edit topics (`liar admin grant`); the web client shows its
    /// topic editor to admins only.
    admin: bool,
}

impl From<Member> for MeResponse {
    fn from(m: Member) -> Self {
        MeResponse {
            user_id: m.id,
            email: m.email,
            username: m.username,
            level: m.level,
            exp: m.exp,
            wins: m.wins,
            losses: m.losses,
            games: m.games,
            results_visible: m.results_visible,
            admin: m.is_admin,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchMe {
    /// As at registration: 2–20 characters after NFC, no invisible characters, unique.
    #[schema(value_type = Option<crate::http::UsernameText>, required = false)]
    username: Option<String>,
    results_visible: Option<bool>,
}

/// The logged-in member.
#[utoipa::path(get, path = "/api/users/me", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "The member", body = MeResponse),
        (status = 401, description = "`UNAUTHENTICATED`, `INVALID_TOKEN`, `TOKEN_EXPIRED`, `SESSION_REPLACED`, `SESSION_REVOKED`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn me(
    State(state): State<AppState>,
    Auth(claims): Auth,
) -> Result<axum::Json<MeResponse>, ApiError> {
    let member = state
        .store()
        .member(claims.user)
        .await?
        .ok_or_else(|| ApiError::not_found("USER_NOT_FOUND", "member not found"))?;
    Ok(axum::Json(member.into()))
}

/// Change the username or results visibility.
#[utoipa::path(patch, path = "/api/users/me", tag = "users", security(("bearer" = [])), request_body = PatchMe,
    responses(
        (status = 200, description = "Updated", body = MeResponse),
        (status = 400, description = "`VALIDATION`, `MALFORMED_JSON`, `INVALID_BODY` (unknown fields are refused)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be `application/json`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn patch_me(
    State(state): State<AppState>,
    Auth(claims): Auth,
    ApiJson(body): ApiJson<PatchMe>,
) -> Result<axum::Json<MeResponse>, ApiError> {
    let mut errors = Vec::new();
    let username = body
        .username
        .as_deref()
        .and_then(|u| collect(&mut errors, Username::parse(u)));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let patch = ProfilePatch {
        username,
        results_visible: body.results_visible,
    };
    match state.store().update_profile(claims.user, patch).await {
        Ok(member) => Ok(axum::Json(member.into())),
        Err(StoreError::UsernameTaken) => Err(username_taken()),
        Err(StoreError::NotFound) => Err(ApiError::not_found("USER_NOT_FOUND", "member not found")),
        Err(e) => Err(e.into()),
    }
}
