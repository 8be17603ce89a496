//! Reading the port's values out of result rows, once for every engine: the three adapters
//! select the same column names, so one generic reader per value serves them all.

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{HistoryItem, LeaderboardRow, Member, StoredGame, TopicOverride, UserId};

/// The columns [`member`] reads, in the order every adapter selects them.
pub(crate) const MEMBER_COLUMNS: &str =
    "id, email, username, exp, level, wins, losses, games, results_visible, is_admin";

pub(crate) fn member<R>(row: &R) -> Result<Member, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Member {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        username: row.try_get("username")?,
        exp: row.try_get("exp")?,
        level: row.try_get("level")?,
        wins: row.try_get("wins")?,
        losses: row.try_get("losses")?,
        games: row.try_get("games")?,
        results_visible: row.try_get("results_visible")?,
        is_admin: row.try_get("is_admin")?,
    })
}

pub(crate) fn history_item<R>(r: &R) -> Result<HistoryItem, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(HistoryItem {
        game_id: r.try_get("id")?,
        game_name: r.try_get("room_name")?,
        topic_id: r.try_get("topic_id")?,
        winner: r.try_get("winner")?,
        players: r.try_get("player_count")?,
        role: r.try_get("role")?,
        voted_correctly: r.try_get("voted_correctly")?,
        won: r.try_get("won")?,
        exp: r.try_get("exp")?,
        aborted: r.try_get("aborted")?,
        ended_at: r.try_get("ended_at")?,
    })
}

pub(crate) fn stored_game<R>(r: &R, participants: Vec<UserId>) -> Result<StoredGame, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(StoredGame {
        id: r.try_get("id")?,
        room_name: r.try_get("room_name")?,
        topic_id: r.try_get("topic_id")?,
        word: r.try_get("word")?,
        mode: r.try_get("mode")?,
        winner: r.try_get("winner")?,
        liar_id: r.try_get("liar_id")?,
        aborted: r.try_get("aborted")?,
        result_json: r.try_get("result_json")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        participants,
    })
}

pub(crate) fn leaderboard_row<R>(r: &R) -> Result<LeaderboardRow, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(LeaderboardRow {
        user_id: r.try_get("id")?,
        username: r.try_get("username")?,
        level: r.try_get("level")?,
        exp: r.try_get("exp")?,
        wins: r.try_get("wins")?,
        losses: r.try_get("losses")?,
        games: r.try_get("games")?,
    })
}

pub(crate) fn topic_override<R>(r: &R) -> Result<TopicOverride, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(TopicOverride {
        id: r.try_get("id")?,
        body: r.try_get("body")?,
        updated_by: r.try_get("updated_by")?,
        updated_at: r.try_get("updated_at")?,
    })
}
