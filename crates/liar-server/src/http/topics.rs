//! `GET /api/topics`: the topics a room may pick (SPEC §3.2). Words stay secret.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_topics))
}

#[derive(Serialize, ToSchema)]
pub struct TopicName {
    ko: String,
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

/// The shipped topics.
#[utoipa::path(get, path = "/api/topics", tag = "rooms",
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
