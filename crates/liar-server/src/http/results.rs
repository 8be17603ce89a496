//! Results (SPEC §5, the seed's result service): a member's history, one game's full result,
//! the leaderboard and public profiles.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiQuery, Auth};
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::domain::UserId;
use crate::error::{ApiError, FieldError, Problem};
use crate::store::{HistoryQuery, LeaderboardRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_games))
        .routes(routes!(game))
        .routes(routes!(leaderboard))
        .routes(routes!(profile))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// `win` or `lose`.
    #[param(value_type = Option<OutcomeFilter>, inline)]
    outcome: Option<String>,
    /// Substring of the game name.
    q: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(pattern = "^[0-9]{0,18}$")]
    cursor: Option<String>,
    /// 1–50, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    limit: Option<String>,
}

/// The outcomes a history can be filtered by.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Only its schema is used; the query is parsed by hand to list every error.
pub enum OutcomeFilter {
    Win,
    Lose,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    game_id: i64,
    /// The room's name when the game was played.
    game_name: String,
    /// Topic id (names: `GET /api/topics`).
    topic: String,
    /// `liar` or `citizens`; absent for an aborted game.
    winner: Option<String>,
    /// Number of players.
    players: i64,
    my_role: String,
    voted_correctly: bool,
    won: bool,
    exp: i64,
    aborted: bool,
    /// RFC 3339.
    played_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    items: Vec<HistoryEntry>,
    next_cursor: Option<String>,
}

/// The caller's games, newest first.
#[utoipa::path(get, path = "/api/users/me/games", tag = "results", security(("bearer" = [])), params(HistoryParams),
    responses(
        (status = 200, description = "One page", body = HistoryPage),
        (status = 400, description = "`VALIDATION`: bad outcome, cursor or limit", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
    ))]
async fn my_games(
    State(state): State<AppState>,
    Auth(claims): Auth,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> Result<axum::Json<HistoryPage>, ApiError> {
    let mut errors = Vec::new();
    let won = match p.outcome.as_deref() {
        None => None,
        Some("win") => Some(true),
        Some("lose") => Some(false),
        Some(_) => {
            errors.push(FieldError::new(
                "outcome",
                "INVALID_VALUE",
                "outcome is win or lose",
            ));
            None
        }
    };
    let before = super::id_cursor(p.cursor.as_deref(), &mut errors);
    let limit = super::page_limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut rows = state
        .store()
        .history(HistoryQuery {
            user: claims.user,
            won,
            q: p.q,
            before,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|r| r.game_id.to_string())
    });
    let items = rows
        .into_iter()
        .map(|r| HistoryEntry {
            game_id: r.game_id,
            game_name: r.game_name,
            topic: r.topic_id,
            winner: r.winner,
            players: r.players,
            my_role: r.role,
            voted_correctly: r.voted_correctly,
            won: r.won,
            exp: r.exp,
            aborted: r.aborted,
            played_at: rfc3339(r.ended_at),
        })
        .collect();
    Ok(axum::Json(HistoryPage {
        items,
        next_cursor: next_cursor.flatten(),
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GameDetail {
    game_id: i64,
    game_name: String,
    topic: String,
    mode: String,
    winner: Option<String>,
    liar_id: Option<UserId>,
    word: String,
    aborted: bool,
    started_at: String,
    ended_at: String,
    /// The full result as announced in `game.ended`: votes, roles, experience.
    #[schema(value_type = Object)]
    result: Value,
}

/// One game's full result; participants and admins only.
#[utoipa::path(get, path = "/api/games/{gameId}", tag = "results", security(("bearer" = [])),
    params(("gameId" = i64, Path, description = "Game id")),
    responses(
        (status = 200, description = "The game", body = GameDetail),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`FORBIDDEN`: not a participant", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`GAME_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn game(
    State(state): State<AppState>,
    Auth(claims): Auth,
    Path(id): Path<String>,
) -> Result<axum::Json<GameDetail>, ApiError> {
    let not_found = || ApiError::not_found("GAME_NOT_FOUND", "no such game");
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let game = state.store().game(id).await?.ok_or_else(not_found)?;
    if !game.participants.contains(&claims.user) {
        let admin = state
            .store()
            .member(claims.user)
            .await?
            .is_some_and(|m| m.is_admin);
        if !admin {
            return Err(ApiError::Forbidden {
                code: "FORBIDDEN",
                detail: "only the game's players may see it".into(),
            });
        }
    }
    Ok(axum::Json(GameDetail {
        game_id: game.id,
        game_name: game.room_name,
        topic: game.topic_id,
        mode: game.mode,
        winner: game.winner,
        liar_id: game.liar_id,
        word: game.word,
        aborted: game.aborted,
        started_at: rfc3339(game.started_at),
        ended_at: rfc3339(game.ended_at),
        result: serde_json::from_str(&game.result_json).unwrap_or(Value::Null),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardParams {
    /// `nextCursor` of the previous page.
    #[param(pattern = r"^([0-9]{1,18}\.[0-9]{1,18}\.[0-9]{1,18})?$")]
    cursor: Option<String>,
    /// 1–50, default 20.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    limit: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    rank: u64,
    user_id: UserId,
    username: String,
    level: String,
    exp: i64,
    wins: i64,
    losses: i64,
    games: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeaderboardPage {
    items: Vec<Ranked>,
    next_cursor: Option<String>,
}

/// Members by experience (ties: earlier member first); members who hide their results are left out.
#[utoipa::path(get, path = "/api/leaderboard", tag = "results", params(LeaderboardParams),
    responses(
        (status = 200, description = "One page", body = LeaderboardPage),
        (status = 400, description = "`VALIDATION`: bad cursor or limit", body = Problem, content_type = "application/problem+json"),
    ))]
async fn leaderboard(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<LeaderboardParams>,
) -> Result<axum::Json<LeaderboardPage>, ApiError> {
    let mut errors = Vec::new();
    // The cursor is `exp.id.rank` of the last row of the previous page.
    let after = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let parts: Vec<Option<i64>> = c.split('.').map(super::decimal).collect();
            match parts[..] {
                [Some(exp), Some(id), Some(rank)] => Some((exp, id, rank as u64)),
                _ => {
                    errors.push(FieldError::new("cursor", "INVALID_VALUE", "unknown cursor"));
                    None
                }
            }
        }
    };
    let limit = super::page_limit(p.limit.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut rows = state
        .store()
        .leaderboard(after.map(|(e, i, _)| (e, i)), limit + 1)
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let first_rank = after.map_or(1, |(_, _, r)| r + 1);
    let items: Vec<Ranked> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| ranked(first_rank + i as u64, r))
        .collect();
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|r| format!("{}.{}.{}", r.exp, r.user_id, r.rank))
        })
        .flatten();
    Ok(axum::Json(LeaderboardPage { items, next_cursor }))
}

fn ranked(rank: u64, r: LeaderboardRow) -> Ranked {
    Ranked {
        rank,
        user_id: r.user_id,
        username: r.username,
        level: r.level,
        exp: r.exp,
        wins: r.wins,
        losses: r.losses,
        games: r.games,
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    user_id: UserId,
    username: String,
    results_visible: bool,
    /// Absent when the member hides his results.
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wins: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    losses: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    games: Option<i64>,
}

/// A member's public profile; stats only when he shows his results (or it is the caller).
#[utoipa::path(get, path = "/api/users/{userId}", tag = "results",
    params(("userId" = i64, Path, description = "Member id")),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 404, description = "`USER_NOT_FOUND`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn profile(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Profile>, ApiError> {
    let not_found = || ApiError::not_found("USER_NOT_FOUND", "no such member");
    let id: UserId = id.parse().map_err(|_| not_found())?;
    let m = state.store().member(id).await?.ok_or_else(not_found)?;
    let show = m.results_visible;
    Ok(axum::Json(Profile {
        user_id: m.id,
        username: m.username,
        results_visible: show,
        level: show.then_some(m.level),
        exp: show.then_some(m.exp),
        wins: show.then_some(m.wins),
        losses: show.then_some(m.losses),
        games: show.then_some(m.games),
    }))
}
