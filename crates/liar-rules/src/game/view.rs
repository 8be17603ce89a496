//! What the game shows: the public state for `room.snapshot`, and the timers a resumed game
//! needs re-armed. Nothing here reveals a card, the liar or a ballot before the game ends.

use serde_json::{Value, json};

use super::{Game, Stage, Timer};
use crate::Millis;

impl Game {
    /// The public state for `room.snapshot`: phase, deadline, topic, settings, speaking order,
    /// the current turn, hints and skipped turns so far, vote progress, the last vote's tally
    /// and accused, the defense, the reveal, each player's presence, and, once the game is over,
    /// its end. See `docs/rules.md`.
    pub fn public_state(&self) -> Value {
        let (round, speaker) = match self.stage {
            Stage::Hints { turn } => (Some(self.round(turn)), Some(self.speaker(turn))),
            _ => (None, None),
        };
        let vote = match &self.stage {
            Stage::Vote { candidates, revote } => {
                let progress = serde_json::to_value(self.vote_progress()).unwrap_or(Value::Null);
                json!({
                    "cast": progress["cast"],
                    "total": progress["total"],
                    "candidates": candidates,
                    "revote": revote,
                })
            }
            _ => Value::Null,
        };
        let revealed = self.revealed.map(|is_liar| {
            json!({
                "accusedId": self.accused,
                "accusedIsLiar": is_liar,
                "liarId": is_liar.then_some(self.liar),
            })
        });
        let players: Vec<Value> = self
            .seats
            .iter()
            .map(|s| json!({ "userId": s.id, "connected": s.connected, "out": s.out }))
            .collect();
        json!({
            "phase": self.phase(),
            "deadline": self.deadline(),
            "topicId": self.topic_id,
            "topic": self.topic_name,
            "settings": self.settings,
            "order": self.order,
            "round": round,
            "speaker": speaker,
            "hints": self.hints,
            "skips": self.skips,
            "vote": vote,
            "tally": self.tally,
            "accused": self.accused,
            "defense": self.defense,
            "revealed": revealed,
            "players": players,
            "end": self.end,
        })
    }

    /// Every timer still pending with its deadline: the phase timer and each grace timer.
    /// A resumed game re-arms exactly these.
    pub fn pending_timers(&self) -> Vec<(Timer, Millis)> {
        let phase = self.phase_timer.map(|(seq, at)| (Timer::Phase { seq }, at));
        let graces = self.seats.iter().filter_map(|s| {
            s.grace
                .map(|(seq, at)| (Timer::Grace { player: s.id, seq }, at))
        });
        phase.into_iter().chain(graces).collect()
    }
}
