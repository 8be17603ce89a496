//! Room events as typed values (SPEC §4): what the room topic carries, besides the game's own
//! events which come from `liar_rules` unchanged. Each event is serialised once, as
//! `{type, seq, roomId, ...}`, numbered by the room and kept in its replay log.

use bytes::Bytes;
use liar_rules::{AbortReason, GameResult, Millis};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{RoomId, RoomSettings, RoomView};
use crate::domain::UserId;

/// A public room event (before it is numbered).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RoomEvent {
    Room(LobbyEvent),
    Game(liar_rules::Event),
}

/// Events the room itself makes: seats, settings, chat, and the game's start and end.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum LobbyEvent {
    #[serde(rename = "member.joined")]
    MemberJoined { user_id: UserId, username: String },
    #[serde(rename = "member.left")]
    MemberLeft {
        user_id: UserId,
        reason: LeaveReason,
    },
    #[serde(rename = "member.ready")]
    MemberReady { user_id: UserId, ready: bool },
    #[serde(rename = "host.changed")]
    HostChanged { host_id: UserId },
    #[serde(rename = "settings.changed")]
    SettingsChanged { settings: RoomSettings },
    #[serde(rename = "member.kicked")]
    MemberKicked { user_id: UserId },
    #[serde(rename = "room.closed")]
    RoomClosed { reason: CloseReason },
    #[serde(rename = "chat")]
    Chat(ChatLine),
    /// A lobby member's connection dropped (in a game the rules announce it).
    #[serde(rename = "player.disconnected")]
    PlayerDisconnected { user_id: UserId },
    #[serde(rename = "player.reconnected")]
    PlayerReconnected { user_id: UserId },
    #[serde(rename = "game.ended")]
    GameEnded(Box<GameEnded>),
    #[serde(rename = "game.aborted")]
    GameAborted { reason: AbortReason },
    /// The result is over: the room waits for a rematch.
    #[serde(rename = "room.waiting")]
    RoomWaiting { room: Box<RoomView> },
}

/// One chat message, as broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatLine {
    pub user_id: UserId,
    pub username: String,
    pub text: String,
    pub at: Millis,
}

/// A chat message kept for the room screen: the `chat` event as it was published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptChat {
    #[serde(rename = "type", default = "chat_type")]
    pub kind: String,
    pub seq: u64,
    #[serde(flatten)]
    pub line: ChatLine,
}

fn chat_type() -> String {
    "chat".into()
}

/// `game.ended`: the rules' result as it is (every field, whatever the rules add), each player
/// with his level and total experience after the game, and what storing it produced.
#[derive(Debug, Clone)]
pub struct GameEnded {
    pub result: GameResult,
    /// Per player of `result.players`, in the same order: `(level, total experience)`.
    pub totals: Vec<Option<(String, i64)>>,
    /// Whether the result is in the database (false: stored later by a background retry).
    pub stored: bool,
    pub game_id: Option<i64>,
    /// When the room waits for a rematch again (SPEC §3 step 8).
    pub reopens_at: Millis,
}

impl Serialize for GameEnded {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut map = match serde_json::to_value(&self.result).map_err(S::Error::custom)? {
            Value::Object(map) => map,
            _ => return Err(S::Error::custom("a game result serialises as an object")),
        };
        if let Some(Value::Array(players)) = map.get_mut("players") {
            for (player, totals) in players.iter_mut().zip(&self.totals) {
                let (level, total) = totals.clone().unzip();
                player["level"] = json!(level);
                player["totalExp"] = json!(total);
            }
        }
        map.insert("stored".into(), json!(self.stored));
        map.insert("gameId".into(), json!(self.game_id));
        map.insert("reopensAt".into(), json!(self.reopens_at));
        map.serialize(serializer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// He left.
    Left,
    /// He joined or created another room.
    Moved,
    /// His reconnect grace ran out in the lobby.
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The host deleted the room.
    Deleted,
    /// The host left and `onHostLeave` is `close`.
    HostLeft,
    /// The saved room could not be read after a restart.
    Unreadable,
}

/// Private events of one member (`/user/queue/events`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum PrivateEvent {
    #[serde(rename = "room.kicked")]
    Kicked { room_id: RoomId },
    #[serde(rename = "room.closed")]
    Closed {
        room_id: RoomId,
        reason: CloseReason,
    },
}

/// The wire form of a room event: the event with its `seq`, the room id and the `epoch` of the
/// process that produced it (bumped by every restart or takeover).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(flatten)]
    event: &'a RoomEvent,
    seq: u64,
    room_id: RoomId,
    epoch: i64,
}

/// Serialises a numbered room event once; every subscriber shares the bytes.
pub fn encode(event: &RoomEvent, seq: u64, room_id: RoomId, epoch: i64) -> Bytes {
    let envelope = Envelope {
        event,
        seq,
        room_id,
        epoch,
    };
    Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default())
}

/// Serialises any private event or game card.
pub fn encode_private<T: Serialize>(event: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(event).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    fn wire(event: RoomEvent) -> Value {
        serde_json::from_slice(&encode(&event, 7, 3, 2)).unwrap()
    }

    #[test]
    fn room_events_carry_type_seq_and_room() {
        let v = wire(RoomEvent::Room(LobbyEvent::MemberLeft {
            user_id: 5,
            reason: LeaveReason::Timeout,
        }));
        assert_eq!(v["type"], "member.left");
        assert_eq!(v["userId"], 5);
        assert_eq!(v["reason"], "timeout");
        assert_eq!(
            (v["seq"].as_u64(), v["roomId"].as_i64(), v["epoch"].as_i64()),
            (Some(7), Some(3), Some(2))
        );
    }

    #[test]
    fn game_events_keep_the_rules_wire_shape() {
        let v = wire(RoomEvent::Game(liar_rules::Event::VoteProgress {
            cast: 1,
            total: 4,
        }));
        assert_eq!(v["type"], "vote.progress");
        assert_eq!(
            (v["cast"].as_u64(), v["total"].as_u64()),
            (Some(1), Some(4))
        );
        assert_eq!(v["seq"], 7);
    }

    #[test]
    fn chat_lines_are_flat() {
        let v = wire(RoomEvent::Room(LobbyEvent::Chat(ChatLine {
            user_id: 2,
            username: "bo".into(),
            text: "hi".into(),
            at: Millis(0),
        })));
        assert_eq!(v["type"], "chat");
        assert_eq!(v["text"], "hi");
        assert_eq!(v["at"], "1970-01-01T00:00:00.000Z");
        let text = String::from_utf8(
            encode(
                &RoomEvent::Room(LobbyEvent::Chat(ChatLine {
                    user_id: 2,
                    username: "bo".into(),
                    text: "hi".into(),
                    at: Millis(0),
                })),
                7,
                3,
                0,
            )
            .to_vec(),
        )
        .unwrap();
        assert_eq!(text.matches("\"seq\"").count(), 1, "one seq: {text}");
    }
}
