//! The one error type every HTTP handler returns, rendered as RFC 9457 `application/problem+json`
//! with a stable upper-snake `code` (SPEC §6.1). Internal causes are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

use crate::ratelimit::Refusal;
use crate::store::StoreError;

/// One invalid field of a request body.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON field name, as sent.
    pub field: &'static str,
    /// A stable machine-readable reason, e.g. `REQUIRED`, `TOO_SHORT`, `INVALID_EMAIL`.
    pub code: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            code,
            message: message.into(),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank`-style tag URI with the code).
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable upper-snake error code, e.g. `EMAIL_TAKEN`.
    pub code: &'static str,
    /// Present for `VALIDATION`: every invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every failure an HTTP handler can report.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{code}: {detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("unauthorized: {0}")]
    Unauthorized(AuthFailure),
    #[error("bad credentials")]
    BadCredentials,
    #[error("forbidden")]
    Forbidden { code: &'static str, detail: String },
    #[error("not found: {code}")]
    NotFound { code: &'static str, detail: String },
    #[error("conflict: {code}")]
    Conflict { code: &'static str, detail: String },
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("{code}")]
    Status {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// Why an authenticated request was refused; each has its own stable code so a client can tell
/// the user what happened (SPEC §1.2: a replaced session is not a generic 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("session replaced by a newer login")]
    SessionReplaced,
    #[error("refresh token reused; session revoked")]
    RefreshReused,
    #[error("session ended")]
    SessionRevoked,
}

impl AuthFailure {
    pub fn code(self) -> &'static str {
        match self {
            AuthFailure::Missing => "UNAUTHENTICATED",
            AuthFailure::Invalid => "INVALID_TOKEN",
            AuthFailure::Expired => "TOKEN_EXPIRED",
            AuthFailure::SessionReplaced => "SESSION_REPLACED",
            AuthFailure::RefreshReused => "REFRESH_REUSED",
            AuthFailure::SessionRevoked => "SESSION_REVOKED",
        }
    }
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::NotFound {
            code,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Status { status, .. } => *status,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "VALIDATION",
            ApiError::BadRequest { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Status { code, .. } => code,
            ApiError::Unauthorized(f) => f.code(),
            ApiError::BadCredentials => "BAD_CREDENTIALS",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => format!("{} invalid field(s)", errors.len()),
            ApiError::BadRequest { detail, .. }
            | ApiError::Forbidden { detail, .. }
            | ApiError::NotFound { detail, .. }
            | ApiError::Conflict { detail, .. }
            | ApiError::Status { detail, .. } => detail.clone(),
            ApiError::Unauthorized(f) => f.to_string(),
            ApiError::BadCredentials => "wrong email or password".into(),
            ApiError::RateLimited { retry_after } => {
                format!("too many attempts; retry in {} s", retry_secs(*retry_after))
            }
            ApiError::Unavailable(what) => what.clone(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    /// The problem document for this error (also used by the WebSocket layer later).
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        Problem {
            type_: format!("urn:liar:error:{}", self.code().to_ascii_lowercase()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            errors: match self {
                ApiError::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// `Retry-After` is whole seconds, rounded up so a client never retries too early.
fn retry_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, code = self.code(), "request failed");
        }
        metrics::counter!("liar_http_errors_total", "code" => self.code()).increment(1);
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::RateLimited { retry_after } = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_secs(retry_after)),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(inner) => {
                tracing::error!(error = ?inner, "database unavailable");
                ApiError::Unavailable("database unavailable".into())
            }
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// A limit answers 429 with `Retry-After`; a limiter that cannot reach its Redis answers 503
/// `UNAVAILABLE` with no `Retry-After` (SPEC §6.4: requests that need Redis fail, they do not
/// pass unlimited).
impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Wait(retry_after) => ApiError::RateLimited { retry_after },
            Refusal::Unavailable => ApiError::Unavailable("rate limits unavailable".into()),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_answers_429_with_retry_after_and_an_unreachable_limiter_503_without() {
        let limited = ApiError::from(Refusal::Wait(Duration::from_millis(1500))).into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "2");

        let unavailable = ApiError::from(Refusal::Unavailable);
        assert_eq!(unavailable.code(), "UNAVAILABLE");
        let unavailable = unavailable.into_response();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(unavailable.headers().get(header::RETRY_AFTER).is_none());
    }
}
