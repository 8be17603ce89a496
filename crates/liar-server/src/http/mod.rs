//! The HTTP surface: one `router()` per resource merged here, the OpenAPI document generated
//! from the same handlers, the API browser, and the fallbacks that keep every failure a
//! problem document.

pub mod auth;
pub mod extract;
pub mod ops;
pub mod results;
pub mod rooms;
pub mod serve;
pub mod topics;
pub mod users;
pub mod web;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::error::{ApiError, FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(title = "Liar", description = "Real-time Liar Game (라이어 게임) server: REST API. \
        Real-time play runs over STOMP 1.2 on `GET /ws` (see docs/protocol.md)."),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login and sessions"),
        (name = "users", description = "Members"),
        (name = "rooms", description = "Wait rooms (real-time commands go over STOMP)"),
        (name = "topics", description = "Topics and words; editing is for admins"),
        (name = "results", description = "History, results, leaderboard and profiles"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `NewWord` needs an `id` unless one can be made from `en`: a rule across two fields, which
/// the derived schema cannot say.
struct WordIdRule;

impl Modify for WordIdRule {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Type};
        let Some(schemas) = openapi.components.as_mut().map(|c| &mut c.schemas) else {
            return;
        };
        let Some(word) = schemas.remove("NewWord") else {
            return;
        };
        let id_or_ascii_en = AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .required("id")
                    .property("id", ObjectBuilder::new().schema_type(Type::String)),
            )
            .item(
                ObjectBuilder::new().property(
                    "en",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some("[A-Za-z0-9]")),
                ),
            );
        let rule = AllOfBuilder::new().item(word).item(id_or_ascii_en);
        schemas.insert("NewWord".into(), rule.into());
    }
}

/// Every documented route, and the OpenAPI document describing exactly them.
pub fn api() -> (Router<AppState>, OpenApiDoc) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(users::router())
        .merge(rooms::router())
        .merge(topics::router())
        .merge(results::router())
        .merge(ops::router())
        .split_for_parts();
    // After the merge: the routes bring their schemas with them.
    WordIdRule.modify(&mut doc);
    (router, doc)
}

pub fn router(state: AppState) -> Router {
    let (api, mut doc) = api();
    list_topics(&mut doc, &state.catalog());
    let max_body = state.config().max_body_bytes;
    api.merge(crate::ws::router())
        .merge(SwaggerUi::new("/docs").url("/openapi.json", doc))
        .fallback(web::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(track))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// Writes the topics loaded at start into the served document's `SettingsPatch.topicId`, so
/// the document does not promise that any string is a topic. Topics an admin adds later are
/// accepted too; one removed later is refused.
fn list_topics(doc: &mut OpenApiDoc, catalog: &liar_rules::Catalog) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    let Some(RefOr::T(Schema::Object(patch))) = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("SettingsPatch"))
    else {
        return;
    };
    if let Some(RefOr::T(Schema::Object(topic))) = patch.properties.get_mut("topicId") {
        let ids = std::iter::once(crate::topics::RANDOM_TOPIC.to_owned())
            .chain(catalog.topics().iter().map(|t| t.id.clone()));
        topic.enum_values = Some(ids.map(serde_json::Value::from).collect());
    }
}

/// Page size when `limit` is absent, and its upper bound (SPEC §2.1, §5: `limit` ≤ 50).
pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 50;

/// What the OpenAPI document says a username looks like (SPEC §1.1): no leading or trailing
/// space, no control (Cc) or format (Cf, Basic Multilingual Plane) characters. Its length after
/// NFC is checked by the server.
pub const USERNAME_PATTERN: &str = r"^[^\s\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]([^\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*[^\s\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb])?$";

/// The OpenAPI schema of a username (component `Username`); the pattern is not a literal, so
/// the schema is written out here rather than derived.
pub struct UsernameText;

impl utoipa::PartialSchema for UsernameText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use crate::domain::{USERNAME_MAX_CHARS, USERNAME_MIN_CHARS};
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(USERNAME_MIN_CHARS))
            .max_length(Some(USERNAME_MAX_CHARS))
            .pattern(Some(USERNAME_PATTERN))
            .description(Some(
                "2–20 characters after Unicode NFC, no control or format (invisible) \
                 characters; unique after NFC and case folding",
            ))
            .into()
    }
}

impl utoipa::ToSchema for UsernameText {
    fn name() -> std::borrow::Cow<'static, str> {
        "Username".into()
    }
}

/// What the OpenAPI document says an id cursor looks like (empty means none).
pub const ID_CURSOR_PATTERN: &str = "^[0-9]{0,18}$";

/// A non-negative decimal of at most 18 digits, and nothing else (no sign, no space).
pub fn decimal(raw: &str) -> Option<i64> {
    let plain = !raw.is_empty() && raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| raw.parse().ok()).flatten()
}

/// Parses `limit` (1–[`MAX_PAGE`], default [`DEFAULT_PAGE`]), recording a field error if bad.
pub fn page_limit(raw: Option<&str>, errors: &mut Vec<FieldError>) -> usize {
    match raw {
        None => DEFAULT_PAGE,
        Some(l) => match decimal(l).map(|n| n as usize) {
            Some(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    "OUT_OF_RANGE",
                    format!("limit is 1–{MAX_PAGE}"),
                ));
                DEFAULT_PAGE
            }
        },
    }
}

/// Parses an id-valued cursor (absent or empty: none), recording a field error if bad.
pub fn id_cursor(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<i64> {
    let raw = raw.filter(|c| !c.is_empty())?;
    decimal(raw)
        .ok_or_else(|| errors.push(FieldError::new("cursor", "INVALID_VALUE", "unknown cursor")))
        .ok()
}

async fn not_found() -> ApiError {
    ApiError::not_found("NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::Status {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "METHOD_NOT_ALLOWED",
        detail: "this route does not accept that method".into(),
    }
}

/// A panicking handler answers 500 and the server goes on (SPEC §6.1).
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let e = ApiError::Internal(anyhow::anyhow!("handler panicked"));
    let mut r = e.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// Request count and latency per route template and status.
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("liar_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("liar_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
