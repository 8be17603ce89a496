//! `/api/auth/*`: register, login, refresh, logout (SPEC §1.1).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, Auth, ClientIp};
use crate::app::AppState;
use crate::auth::TokenPair;
use crate::domain::UserId;
use crate::error::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// A valid email address; stored lower-cased and unique.
    #[schema(value_type = String, required = true, nullable = false, format = Email,
        max_length = 254, example = "ann@example.com")]
    email: Option<String>,
    /// 2–20 characters after Unicode NFC, no control or format (invisible) characters, unique
    /// after NFC and case folding.
    #[schema(value_type = crate::http::UsernameText, required = true, example = "ann")]
    username: Option<String>,
    /// 10–100 characters.
    #[schema(value_type = String, required = true, nullable = false, min_length = 10,
        max_length = 100, example = "correct horse battery")]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    user_id: UserId,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(value_type = String, required = true, nullable = false, format = Email,
        max_length = 254, example = "ann@example.com")]
    email: Option<String>,
    #[schema(value_type = String, required = true, nullable = false, min_length = 1,
        max_length = 100, example = "correct horse battery")]
    password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    #[schema(value_type = String, required = true, nullable = false)]
    refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    user_id: UserId,
    /// HS256 JWT for `Authorization: Bearer` and the STOMP `CONNECT`.
    access_token: String,
    /// Opaque; single use: each refresh returns a new one.
    refresh_token: String,
    /// Access token lifetime in seconds.
    expires_in: u64,
}

impl From<TokenPair> for TokenResponse {
    fn from(p: TokenPair) -> Self {
        TokenResponse {
            user_id: p.user,
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            expires_in: p.expires_in,
        }
    }
}

/// Register a member.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = Registered),
        (status = 400, description = "`VALIDATION` (every bad field listed), `MALFORMED_JSON`, `INVALID_BODY`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`EMAIL_TAKEN` or `USERNAME_TAKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED` (see `Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user_id = state
        .auth()
        .register(
            ip,
            body.email.as_deref(),
            body.username.as_deref(),
            body.password.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(Registered { user_id })))
}

/// Log in. Replaces the member's previous session, whose tokens then answer `SESSION_REPLACED`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "`VALIDATION`, `MALFORMED_JSON`, `INVALID_BODY`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`BAD_CREDENTIALS` (same for a wrong email and a wrong password)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`RATE_LIMITED`: per client IP or per account", body = Problem, content_type = "application/problem+json"),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let pair = state
        .auth()
        .login(ip, body.email.as_deref(), body.password.as_deref())
        .await?;
    Ok(axum::Json(pair.into()))
}

/// Exchange a refresh token for a new pair. A token presented twice revokes its session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "Rotated", body = TokenResponse),
        (status = 400, description = "`VALIDATION`, `MALFORMED_JSON`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`REFRESH_REUSED`, `SESSION_REPLACED`, `SESSION_REVOKED`, `TOKEN_EXPIRED`, `INVALID_TOKEN`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be `application/json`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let pair = state.auth().refresh(body.refresh_token.as_deref()).await?;
    Ok(axum::Json(pair.into()))
}

/// End the current session; its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`UNAUTHENTICATED`, `INVALID_TOKEN`, `TOKEN_EXPIRED`, `SESSION_REPLACED`, `SESSION_REVOKED`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn logout(State(state): State<AppState>, Auth(claims): Auth) -> Result<StatusCode, ApiError> {
    state.auth().logout(&claims).await?;
    Ok(StatusCode::NO_CONTENT)
}
