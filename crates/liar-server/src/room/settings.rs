//! Room settings (SPEC §2.2): the full set with defaults, and patches validated field by field
//! so a refusal lists every bad field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::FieldError;

/// The game's enums exist once, in the rules; the room settings use them as they are.
pub use liar_rules::{Language, Mode, TiePolicy};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnHostLeave {
    /// Everyone is evicted (the seed's behaviour).
    Close,
    /// The earliest joiner becomes host.
    Migrate,
}

/// Every setting of a room, with the defaults of SPEC §2.2.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoomSettings {
    /// 3–15, counting the host.
    pub max_players: u32,
    /// `classic` or `fool`.
    #[schema(value_type = String, pattern = "^(classic|fool)$")]
    pub mode: Mode,
    /// 1–3 full rotations of hints.
    pub hint_rounds: u32,
    /// 10–120.
    pub hint_seconds: u32,
    /// 0–300; 0 skips the discussion.
    pub discussion_seconds: u32,
    /// 10–120.
    pub vote_seconds: u32,
    /// 0–120; 0 skips the defense.
    pub defense_seconds: u32,
    /// 10–120.
    pub guess_seconds: u32,
    /// `liar_wins` or `revote`.
    #[schema(value_type = String, pattern = "^(liar_wins|revote)$")]
    pub tie_policy: TiePolicy,
    pub on_host_leave: OnHostLeave,
    /// A topic id from `GET /api/topics`, or `random`.
    pub topic_id: String,
    /// `ko` or `en`.
    #[schema(value_type = String, pattern = "^(ko|en)$")]
    pub language: Language,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            max_players: 8,
            mode: Mode::Classic,
            hint_rounds: 2,
            hint_seconds: 30,
            discussion_seconds: 60,
            vote_seconds: 30,
            defense_seconds: 30,
            guess_seconds: 30,
            tie_policy: TiePolicy::LiarWins,
            on_host_leave: OnHostLeave::Close,
            topic_id: "random".into(),
            language: Language::Ko,
        }
    }
}

/// Bounds of each numeric setting: (JSON name, min, max).
const RANGES: &[(&str, u32, u32)] = &[
    ("maxPlayers", 3, 15),
    ("hintRounds", 1, 3),
    ("hintSeconds", 10, 120),
    ("discussionSeconds", 0, 300),
    ("voteSeconds", 10, 120),
    ("defenseSeconds", 0, 120),
    ("guessSeconds", 10, 120),
];

impl RoomSettings {
    /// Applies a JSON patch (any subset of the settings) to a copy of `self`. Unknown keys,
    /// wrong types and out-of-range values are all reported, one `FieldError` each.
    /// `topic_known` says whether a topic id exists.
    pub fn patched(
        &self,
        patch: &Value,
        topic_known: impl Fn(&str) -> bool,
    ) -> Result<RoomSettings, Vec<FieldError>> {
        let Some(fields) = patch.as_object() else {
            return Err(vec![FieldError::new(
                "settings",
                "INVALID_TYPE",
                "settings must be an object",
            )]);
        };
        let mut errors = Vec::new();
        for key in fields.keys() {
            if !KNOWN.contains(&key.as_str()) {
                errors.push(FieldError::new(
                    leak(key),
                    "UNKNOWN_FIELD",
                    format!("unknown setting `{key}`"),
                ));
            }
        }
        let mut merged = match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        for (name, min, max) in RANGES {
            if let Some(v) = fields.get(*name) {
                // JSON has one number type: `10.0` is the whole number 10 (as JSON Schema says).
                let whole = v.as_u64().or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
                        .map(|f| f as u64)
                });
                match whole {
                    Some(n) if n >= u64::from(*min) && n <= u64::from(*max) => {
                        merged.insert((*name).into(), Value::from(n));
                    }
                    _ => errors.push(FieldError::new(
                        name,
                        "OUT_OF_RANGE",
                        format!("{name} must be a whole number from {min} to {max}"),
                    )),
                }
            }
        }
        for (name, allowed) in ENUMS {
            if let Some(v) = fields.get(*name) {
                match v.as_str() {
                    Some(s) if allowed.contains(&s) => {
                        merged.insert((*name).into(), v.clone());
                    }
                    _ => errors.push(FieldError::new(
                        name,
                        "INVALID_VALUE",
                        format!("{name} must be one of {}", allowed.join(", ")),
                    )),
                }
            }
        }
        if let Some(v) = fields.get("topicId") {
            match v.as_str() {
                Some(s) if s == "random" || topic_known(s) => {
                    merged.insert("topicId".into(), v.clone());
                }
                _ => errors.push(FieldError::new(
                    "topicId",
                    "UNKNOWN_TOPIC",
                    "topicId must be a topic id or `random`",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        serde_json::from_value(Value::Object(merged))
            .map_err(|e| vec![FieldError::new("settings", "INVALID_VALUE", e.to_string())])
    }
}

const KNOWN: &[&str] = &[
    "maxPlayers",
    "mode",
    "hintRounds",
    "hintSeconds",
    "discussionSeconds",
    "voteSeconds",
    "defenseSeconds",
    "guessSeconds",
    "tiePolicy",
    "onHostLeave",
    "topicId",
    "language",
];

const ENUMS: &[(&str, &[&str])] = &[
    ("mode", &["classic", "fool"]),
    ("tiePolicy", &["liar_wins", "revote"]),
    ("onHostLeave", &["close", "migrate"]),
    ("language", &["ko", "en"]),
];

/// Field names in errors are `&'static str`; unknown keys are rare and bounded by the body
/// limit, but must not leak memory per request, so they are reported under one fixed name.
fn leak(_key: &str) -> &'static str {
    "settings"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let s = RoomSettings::default()
            .patched(&json!({"maxPlayers": 6, "mode": "fool"}), |_| false)
            .unwrap();
        assert_eq!((s.max_players, s.mode, s.hint_rounds), (6, Mode::Fool, 2));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let errors = RoomSettings::default()
            .patched(
                &json!({"maxPlayers": 2, "hintRounds": 9, "mode": "x", "topicId": "nope", "bogus": 1}),
                |_| false,
            )
            .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["settings", "maxPlayers", "hintRounds", "mode", "topicId"]
        );
    }

    #[test]
    fn zero_skips_are_allowed_where_the_spec_allows_them() {
        let s = RoomSettings::default()
            .patched(
                &json!({"discussionSeconds": 0, "defenseSeconds": 0}),
                |_| false,
            )
            .unwrap();
        assert_eq!((s.discussion_seconds, s.defense_seconds), (0, 0));
        assert!(
            RoomSettings::default()
                .patched(&json!({"voteSeconds": 0}), |_| false)
                .is_err()
        );
    }
}
