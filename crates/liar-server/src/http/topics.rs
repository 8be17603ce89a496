//! `/api/topics` (SPEC §3.2): everyone may list the topics a room can pick (words stay secret);
//! admins read whole topics and add and remove topics and words. Edits go through the live
//! catalog ([`crate::topics::Topics`]), which stores them and serves them at once.

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use liar_rules::topics::{Aliases, Localized};
use liar_rules::{Topic, Word};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, Auth};
use crate::app::AppState;
use crate::domain::UserId;
use crate::error::{ApiError, FieldError, Problem};
use crate::topics::{EditError, word_id_from};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_topics))
        .routes(routes!(get_topic, put_topic, delete_topic))
        .routes(routes!(add_word))
        .routes(routes!(remove_word))
}

/// An authenticated member with admin rights (granted with `liar admin grant <email>`).
pub struct Admin(pub UserId);

impl<S> FromRequestParts<S> for Admin
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(claims) = Auth::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let member = state.store().member(claims.user).await?;
        if !member.is_some_and(|m| m.is_admin) {
            return Err(ApiError::Forbidden {
                code: "NOT_ADMIN",
                detail: "only admins may do that".into(),
            });
        }
        Ok(Admin(claims.user))
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicName {
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    ko: String,
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    en: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicSummary {
    /// Use as the room setting `topicId`.
    #[schema(example = "animals")]
    id: String,
    name: TopicName,
    /// How many words the topic has (the words themselves are secret).
    word_count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct TopicList {
    items: Vec<TopicSummary>,
}

/// A word or topic name in one language: not blank, 1–40 characters, no control characters.
#[derive(ToSchema)]
#[schema(
    min_length = 1,
    max_length = 40,
    pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
)]
#[allow(dead_code)] // Only its schema is used.
pub struct TopicText(String);

/// Other accepted spellings of a word, per language (guesses match them too).
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WordAliases {
    #[serde(default)]
    #[schema(value_type = Vec<TopicText>, max_items = 10)]
    ko: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<TopicText>, max_items = 10)]
    en: Vec<String>,
}

/// One word of a topic.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicWord {
    /// Unique within the topic: lower-case ASCII letters, digits, `_`, `-`.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,47}$", example = "lion")]
    id: String,
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "사자"
    )]
    ko: String,
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Lion"
    )]
    en: String,
    #[serde(default)]
    aliases: WordAliases,
}

/// A whole topic, in the shape of the shipped `data/topics/<id>.json` files.
#[derive(Serialize, ToSchema)]
pub struct TopicDetail {
    id: String,
    name: TopicName,
    words: Vec<TopicWord>,
    /// Unordered pairs of similar word ids: the liar's word in fool mode.
    #[schema(value_type = Vec<Vec<String>>, example = json!([["lion", "tiger"]]))]
    pairs: Vec<(String, String)>,
}

/// A whole topic to create or replace. At least 30 words; no id or normalised form (word or
/// alias, per language) twice; pairs name two different words of the topic.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicBody {
    /// Optional; when present it must be the path's `topicId` (so a topic read with GET can be
    /// sent back as it is).
    id: Option<String>,
    name: TopicName,
    /// At least 30 words (and at most 1000), distinct in id and in every normalised form.
    #[schema(min_items = 30, max_items = 1000)]
    words: Vec<TopicWord>,
    #[serde(default)]
    #[schema(value_type = Vec<Vec<String>>)]
    pairs: Vec<(String, String)>,
}

/// A word to add. Without `id`, one is made from `en` (`Ice cream` → `ice_cream`), so `en`
/// then needs an ASCII letter or digit (the document says so with an `anyOf`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWord {
    /// Lower-case ASCII letters, digits, `_` and `-`, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,47}$")]
    id: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "수달"
    )]
    ko: String,
    #[schema(
        min_length = 1,
        max_length = 40,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Otter"
    )]
    en: String,
    #[serde(default)]
    aliases: WordAliases,
}

impl From<TopicWord> for Word {
    fn from(w: TopicWord) -> Word {
        Word {
            id: w.id,
            ko: w.ko,
            en: w.en,
            aliases: Aliases {
                ko: w.aliases.ko,
                en: w.aliases.en,
            },
        }
    }
}

impl From<&Word> for TopicWord {
    fn from(w: &Word) -> TopicWord {
        TopicWord {
            id: w.id.clone(),
            ko: w.ko.clone(),
            en: w.en.clone(),
            aliases: WordAliases {
                ko: w.aliases.ko.clone(),
                en: w.aliases.en.clone(),
            },
        }
    }
}

impl From<&Topic> for TopicDetail {
    fn from(t: &Topic) -> TopicDetail {
        TopicDetail {
            id: t.id.clone(),
            name: TopicName {
                ko: t.name.ko.clone(),
                en: t.name.en.clone(),
            },
            words: t.words.iter().map(TopicWord::from).collect(),
            pairs: t.pairs.clone(),
        }
    }
}

impl TopicBody {
    fn into_topic(self, id: String) -> Result<Topic, ApiError> {
        if self.id.as_ref().is_some_and(|given| *given != id) {
            return Err(ApiError::Validation(vec![FieldError::new(
                "id",
                "MISMATCH",
                "id must be the topicId of the path",
            )]));
        }
        Ok(Topic {
            id,
            name: Localized {
                ko: self.name.ko,
                en: self.name.en,
            },
            words: self.words.into_iter().map(Word::from).collect(),
            pairs: self.pairs,
        })
    }
}

impl TryFrom<NewWord> for Word {
    type Error = ApiError;

    fn try_from(w: NewWord) -> Result<Word, ApiError> {
        let id = w.id.or_else(|| word_id_from(&w.en)).ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new(
                "id",
                "REQUIRED",
                "no id can be made from `en`; give one",
            )])
        })?;
        Ok(TopicWord {
            id,
            ko: w.ko,
            en: w.en,
            aliases: w.aliases,
        }
        .into())
    }
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> ApiError {
        let detail = e.to_string();
        match e {
            EditError::TopicNotFound(_) => ApiError::not_found("TOPIC_NOT_FOUND", detail),
            EditError::WordNotFound { .. } => ApiError::not_found("WORD_NOT_FOUND", detail),
            EditError::WordExists(_) => ApiError::conflict("WORD_EXISTS", detail),
            EditError::TooSmall { .. } => ApiError::conflict("TOPIC_TOO_SMALL", detail),
            EditError::TopicFull(_) => ApiError::conflict("TOPIC_FULL", detail),
            EditError::LastTopic => ApiError::conflict("LAST_TOPIC", detail),
            EditError::TooManyTopics => ApiError::conflict("TOO_MANY_TOPICS", detail),
            EditError::Invalid(errors) => ApiError::Validation(errors),
            EditError::Store(e) => e.into(),
            EditError::Aborted => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

fn topic_not_found(id: &str) -> ApiError {
    EditError::TopicNotFound(id.to_owned()).into()
}

/// Every topic a room may pick, as it is now.
#[utoipa::path(get, path = "/api/topics", tag = "topics",
    responses((status = 200, description = "Every topic", body = TopicList)))]
async fn list_topics(State(state): State<AppState>) -> axum::Json<TopicList> {
    let items = state
        .catalog()
        .topics()
        .iter()
        .map(|t| TopicSummary {
            id: t.id.clone(),
            name: TopicName {
                ko: t.name.ko.clone(),
                en: t.name.en.clone(),
            },
            word_count: t.words.len(),
        })
        .collect();
    axum::Json(TopicList { items })
}

/// A whole topic with its words and pairs; admins only.
#[utoipa::path(get, path = "/api/topics/{topicId}", tag = "topics", security(("bearer" = [])),
    params(("topicId" = String, Path, description = "Topic id")),
    responses(
        (status = 200, description = "The topic", body = TopicDetail),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`NOT_ADMIN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TOPIC_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_topic(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<TopicDetail>, ApiError> {
    let catalog = state.catalog();
    let topic = catalog.topic(&id).ok_or_else(|| topic_not_found(&id))?;
    Ok(axum::Json(TopicDetail::from(topic)))
}

/// Creates or replaces a whole topic; admins only. Rooms see it at once; running games keep
/// the words they were dealt from.
#[utoipa::path(put, path = "/api/topics/{topicId}", tag = "topics", security(("bearer" = [])),
    params(("topicId" = String, Path, description = "Topic id: lower-case ASCII letters, digits, `_`, `-` (not `random`)")),
    request_body = TopicBody,
    responses(
        (status = 200, description = "Replaced", body = TopicDetail),
        (status = 201, description = "Created", body = TopicDetail),
        (status = 400, description = "`VALIDATION` (the reason per field: fewer than 30 words, a duplicate id or form, a bad pair, a bad id), `MALFORMED_JSON`, `INVALID_BODY`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`NOT_ADMIN`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`TOO_MANY_TOPICS`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be `application/json`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_topic(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TopicBody>,
) -> Result<(StatusCode, axum::Json<TopicDetail>), ApiError> {
    let topic = body.into_topic(id)?;
    let detail = TopicDetail::from(&topic);
    let created = state.topics().put_topic(topic, admin).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(detail)))
}

/// Removes a topic; admins only. Rooms that picked it cannot start until they pick another.
#[utoipa::path(delete, path = "/api/topics/{topicId}", tag = "topics", security(("bearer" = [])),
    params(("topicId" = String, Path, description = "Topic id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`NOT_ADMIN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TOPIC_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`LAST_TOPIC`: the catalog keeps at least one topic", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_topic(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.topics().remove_topic(&id, admin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a word to a topic; admins only.
#[utoipa::path(post, path = "/api/topics/{topicId}/words", tag = "topics", security(("bearer" = [])),
    params(("topicId" = String, Path, description = "Topic id")),
    request_body = NewWord,
    responses(
        (status = 201, description = "Added", body = TopicWord),
        (status = 400, description = "`VALIDATION`, `MALFORMED_JSON`, `INVALID_BODY`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`NOT_ADMIN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TOPIC_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`WORD_EXISTS`: the id, or a normalised form of the word or an alias, is taken in the topic; `TOPIC_FULL`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`: the body must be `application/json`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_word(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(topic): Path<String>,
    ApiJson(body): ApiJson<NewWord>,
) -> Result<(StatusCode, axum::Json<TopicWord>), ApiError> {
    let word = Word::try_from(body)?;
    let word = state.topics().add_word(&topic, word, admin).await?;
    Ok((StatusCode::CREATED, axum::Json(TopicWord::from(&word))))
}

/// Removes a word and every fool-mode pair naming it; admins only.
#[utoipa::path(delete, path = "/api/topics/{topicId}/words/{wordId}", tag = "topics", security(("bearer" = [])),
    params(
        ("topicId" = String, Path, description = "Topic id"),
        ("wordId" = String, Path, description = "Word id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`NOT_ADMIN`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`TOPIC_NOT_FOUND`, `WORD_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`TOPIC_TOO_SMALL`: a topic keeps at least 30 words", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_word(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((topic, word)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.topics().remove_word(&topic, &word, admin).await?;
    Ok(StatusCode::NO_CONTENT)
}
