//! The live topic catalog (SPEC §3.2): the shipped topics overlaid by admins' stored edits.
//!
//! Readers take a snapshot ([`Topics::snapshot`], an `Arc<Catalog>`) and hold no lock while
//! they use it: a room checking its settings or dealing a game works on the snapshot it took,
//! and a running game keeps the words it was dealt from. Edits are serialised by one async
//! mutex, so each read-modify-write (add a word to the topic as it now is) is atomic; each edit
//! validates the whole catalog it produces, stores the whole topic, and only then publishes the
//! new snapshot. An edit runs on its own task, so a client hanging up mid-edit never leaves the
//! database and the served catalog apart.
//!
//! Each node loads the overrides at start-up; with several nodes, edits made on one reach the
//! others at their next restart (docs/operations.md).

use liar_rules::topics::MIN_WORDS_PER_TOPIC;
use liar_rules::{Catalog, Topic, TopicError, Word};
use std::sync::{Arc, RwLock};

use crate::domain::UserId;
use crate::error::FieldError;
use crate::store::{StoreError, TopicOverride, TopicStore};

/// Most topics the catalog holds: `GET /api/topics` lists them all in one answer, and every
/// edit revalidates the whole catalog.
pub const MAX_TOPICS: usize = 200;
/// Most words one topic holds: a topic is stored and served as one JSON document.
pub const MAX_WORDS_PER_TOPIC: usize = 1000;
/// Longest topic or word id, in bytes (ids are lower-case ASCII, as in `data/topics`).
pub const MAX_ID_LEN: usize = 48;
/// Longest topic name, word or alias, in characters (a word is shown on a card).
pub const MAX_TEXT_CHARS: usize = 40;
/// Most aliases a word has per language.
pub const MAX_ALIASES: usize = 10;
/// The room setting `topicId` that asks for a random topic; no topic may take this id.
pub const RANDOM_TOPIC: &str = "random";

/// Why an edit of the catalog was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("no topic {0:?}")]
    TopicNotFound(String),
    #[error("topic {topic:?} has no word {word:?}")]
    WordNotFound { topic: String, word: String },
    /// The word's id or one of its forms is taken in the topic (the reason names it).
    #[error("{0}")]
    WordExists(String),
    #[error("topic {topic:?} would keep {left} words; at least {MIN_WORDS_PER_TOPIC} are needed")]
    TooSmall { topic: String, left: usize },
    #[error("topic {0:?} already has {MAX_WORDS_PER_TOPIC} words")]
    TopicFull(String),
    #[error("the last topic cannot be removed")]
    LastTopic,
    #[error("the catalog already has {MAX_TOPICS} topics")]
    TooManyTopics,
    #[error("invalid topic data")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the edit did not complete")]
    Aborted,
}

/// The live catalog; cheap to clone.
#[derive(Clone)]
pub struct Topics {
    inner: Arc<Inner>,
}

struct Inner {
    builtin: Catalog,
    current: RwLock<Arc<Catalog>>,
    /// Held for the whole of one edit (read, store, publish).
    edits: tokio::sync::Mutex<()>,
    store: Arc<dyn TopicStore>,
}

/// What one edit does to the catalog.
enum Change {
    Put(Topic),
    Remove(String),
}

impl Topics {
    /// The shipped topics overlaid by the stored edits. An unreadable stored topic is skipped
    /// with a warning (the shipped one of that id, if any, stays), so a data problem never keeps
    /// the server down.
    pub async fn load(builtin: Catalog, store: Arc<dyn TopicStore>) -> anyhow::Result<Topics> {
        let mut topics = builtin.topics().to_vec();
        for row in store.topic_overrides().await? {
            match parse_override(&row) {
                Ok(Some(topic)) => upsert(&mut topics, topic),
                Ok(None) => topics.retain(|t| t.id != row.id),
                Err(reason) => {
                    tracing::warn!(topic = %row.id, %reason, "stored topic edit ignored")
                }
            }
        }
        let catalog = arrange(&builtin, topics)?;
        anyhow::ensure!(!catalog.is_empty(), "the topic catalog is empty");
        Ok(Topics {
            inner: Arc::new(Inner {
                builtin,
                current: RwLock::new(Arc::new(catalog)),
                edits: tokio::sync::Mutex::new(()),
                store,
            }),
        })
    }

    /// The catalog as it is now.
    pub fn snapshot(&self) -> Arc<Catalog> {
        self.inner.snapshot()
    }

    /// Creates or replaces a whole topic; `true` when it is new.
    pub async fn put_topic(&self, topic: Topic, by: UserId) -> Result<bool, EditError> {
        check_topic(&topic)?;
        topic
            .validate()
            .map_err(|e| EditError::Invalid(vec![field_error(&e)]))?;
        self.edit(by, move |catalog| {
            let created = catalog.topic(&topic.id).is_none();
            if created && catalog.len() >= MAX_TOPICS {
                return Err(EditError::TooManyTopics);
            }
            Ok((Change::Put(topic), created))
        })
        .await
    }

    /// Removes a topic; the last one stays.
    pub async fn remove_topic(&self, id: &str, by: UserId) -> Result<(), EditError> {
        let id = id.to_owned();
        self.edit(by, move |catalog| {
            if catalog.topic(&id).is_none() {
                return Err(EditError::TopicNotFound(id));
            }
            if catalog.len() <= 1 {
                return Err(EditError::LastTopic);
            }
            Ok((Change::Remove(id), ()))
        })
        .await
    }

    /// Adds a word to a topic as it is at that moment.
    pub async fn add_word(&self, topic: &str, word: Word, by: UserId) -> Result<Word, EditError> {
        check_word(&word).map_err(EditError::Invalid)?;
        let id = topic.to_owned();
        self.edit(by, move |catalog| {
            let mut topic = catalog
                .topic(&id)
                .cloned()
                .ok_or(EditError::TopicNotFound(id))?;
            if topic.words.len() >= MAX_WORDS_PER_TOPIC {
                return Err(EditError::TopicFull(topic.id));
            }
            topic.words.push(word.clone());
            topic.validate().map_err(|e| match e {
                TopicError::DuplicateWordId { .. } | TopicError::DuplicateForm { .. } => {
                    EditError::WordExists(e.to_string())
                }
                other => EditError::Invalid(vec![field_error(&other)]),
            })?;
            Ok((Change::Put(topic), word))
        })
        .await
    }

    /// Removes a word, and every fool-mode pair naming it.
    pub async fn remove_word(&self, topic: &str, word: &str, by: UserId) -> Result<(), EditError> {
        let (id, word) = (topic.to_owned(), word.to_owned());
        self.edit(by, move |catalog| {
            let mut topic = catalog
                .topic(&id)
                .cloned()
                .ok_or(EditError::TopicNotFound(id))?;
            if topic.word(&word).is_none() {
                return Err(EditError::WordNotFound {
                    topic: topic.id,
                    word,
                });
            }
            let left = topic.words.len() - 1;
            if left < MIN_WORDS_PER_TOPIC {
                return Err(EditError::TooSmall {
                    topic: topic.id,
                    left,
                });
            }
            topic.words.retain(|w| w.id != word);
            topic.pairs.retain(|(a, b)| *a != word && *b != word);
            Ok((Change::Put(topic), ()))
        })
        .await
    }

    /// Runs one edit to the end on its own task (see the module documentation).
    async fn edit<T: Send + 'static>(
        &self,
        by: UserId,
        decide: impl FnOnce(&Catalog) -> Result<(Change, T), EditError> + Send + 'static,
    ) -> Result<T, EditError> {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.edit(by, decide).await })
            .await
            .map_err(|_| EditError::Aborted)?
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn edit<T>(
        &self,
        by: UserId,
        decide: impl FnOnce(&Catalog) -> Result<(Change, T), EditError>,
    ) -> Result<T, EditError> {
        let _turn = self.edits.lock().await;
        let current = self.snapshot();
        let (change, out) = decide(&current)?;
        let mut topics = current.topics().to_vec();
        let (id, body) = match change {
            Change::Put(topic) => {
                let body =
                    serde_json::to_string(&topic).map_err(|e| StoreError::Other(e.into()))?;
                let id = topic.id.clone();
                upsert(&mut topics, topic);
                (id, Some(body))
            }
            Change::Remove(id) => {
                topics.retain(|t| t.id != id);
                (id, None)
            }
        };
        let next = arrange(&self.builtin, topics)
            .map_err(|e| EditError::Invalid(vec![field_error(&e)]))?;
        if body.is_none() && self.builtin.topic(&id).is_none() {
            self.store.delete_topic_override(&id).await?;
        } else {
            let edit = TopicOverride {
                id,
                body,
                updated_by: Some(by),
                updated_at: crate::auth::now_millis(),
            };
            self.store.save_topic_override(edit).await?;
        }
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(out)
    }
}

/// Replaces the topic of the same id, or adds it.
fn upsert(topics: &mut Vec<Topic>, topic: Topic) {
    match topics.iter_mut().find(|t| t.id == topic.id) {
        Some(slot) => *slot = topic,
        None => topics.push(topic),
    }
}

/// The catalog in a stable order (shipped topics in file order, then added ones by id), so a
/// restart lists topics as before.
fn arrange(builtin: &Catalog, mut topics: Vec<Topic>) -> Result<Catalog, TopicError> {
    let rank = |t: &Topic| builtin.topics().iter().position(|b| b.id == t.id);
    topics.sort_by(|a, b| match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.id.cmp(&b.id),
    });
    Catalog::from_topics(topics)
}

/// A stored row as a topic (`None`: removed), checked as strictly as an edit.
fn parse_override(row: &TopicOverride) -> Result<Option<Topic>, String> {
    let Some(body) = &row.body else {
        return Ok(None);
    };
    let topic: Topic = serde_json::from_str(body).map_err(|e| e.to_string())?;
    if topic.id != row.id {
        return Err(format!("the body names topic {:?}", topic.id));
    }
    topic.validate().map_err(|e| e.to_string())?;
    Ok(Some(topic))
}

/// Whether `id` is a usable topic or word id: lower-case ASCII letters, digits, `_` and `-`,
/// starting with a letter or digit.
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.len() <= MAX_ID_LEN
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A word id made from its English form, the way the shipped ids are (`Ice cream` →
/// `ice_cream`); `None` when the English form has no ASCII letter or digit.
pub fn word_id_from(en: &str) -> Option<String> {
    let mut id = String::new();
    for c in en.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.is_empty() && !id.ends_with('_') {
            id.push('_');
        }
    }
    id.truncate(MAX_ID_LEN);
    let id = id.trim_end_matches('_').to_owned();
    (!id.is_empty()).then_some(id)
}

/// The server's limits on a whole topic (the rules' own checks come after).
fn check_topic(topic: &Topic) -> Result<(), EditError> {
    let mut errors = Vec::new();
    if topic.id == RANDOM_TOPIC {
        let reason = format!("`{RANDOM_TOPIC}` is the room setting for a random topic");
        errors.push(FieldError::new("topicId", "RESERVED", reason));
    } else if !valid_id(&topic.id) {
        errors.push(id_error("topicId"));
    }
    for (text, field) in [(&topic.name.ko, "name"), (&topic.name.en, "name")] {
        if let Err(e) = check_text(text, field) {
            errors.push(e);
        }
    }
    if topic.words.len() > MAX_WORDS_PER_TOPIC {
        let reason = format!("a topic has at most {MAX_WORDS_PER_TOPIC} words");
        errors.push(FieldError::new("words", "TOO_MANY", reason));
    }
    for word in &topic.words {
        if let Err(word_errors) = check_word(word) {
            errors.extend(word_errors.into_iter().map(|e| {
                FieldError::new(
                    "words",
                    e.code,
                    format!("word {:?}: {}", word.id, e.message),
                )
            }));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EditError::Invalid(errors))
    }
}

/// The server's limits on one word, reported under the fields of `POST …/words`.
fn check_word(word: &Word) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if !valid_id(&word.id) {
        errors.push(id_error("id"));
    }
    let texts = [(&word.ko, "ko"), (&word.en, "en")];
    errors.extend(texts.iter().filter_map(|(t, f)| check_text(t, f).err()));
    for (aliases, lang) in [(&word.aliases.ko, "ko"), (&word.aliases.en, "en")] {
        if aliases.len() > MAX_ALIASES {
            let reason = format!("at most {MAX_ALIASES} aliases per language ({lang})");
            errors.push(FieldError::new("aliases", "TOO_MANY", reason));
        }
        errors.extend(
            aliases
                .iter()
                .filter_map(|a| check_text(a, "aliases").err()),
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_text(text: &str, field: &'static str) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::new(
            field,
            "REQUIRED",
            format!("{field} is empty"),
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS || text.chars().any(char::is_control) {
        let reason = format!("{field} must be 1–{MAX_TEXT_CHARS} printable characters");
        return Err(FieldError::new(field, "INVALID", reason));
    }
    Ok(())
}

fn id_error(field: &'static str) -> FieldError {
    FieldError::new(
        field,
        "INVALID_ID",
        format!(
            "{field} must be 1–{MAX_ID_LEN} lower-case ASCII letters, digits, `_` or `-`, \
             starting with a letter or digit"
        ),
    )
}

/// The rules' reason for refusing a topic, under the request field it concerns.
fn field_error(e: &TopicError) -> FieldError {
    let (field, code) = match e {
        TopicError::TooFewWords { .. } => ("words", "TOO_FEW_WORDS"),
        TopicError::EmptyText { field, .. } if field.starts_with("name") => ("name", "REQUIRED"),
        TopicError::EmptyText { field, .. } if field == "id" => ("topicId", "REQUIRED"),
        TopicError::EmptyText { .. } => ("words", "REQUIRED"),
        TopicError::DuplicateWordId { .. } => ("words", "DUPLICATE_WORD_ID"),
        TopicError::DuplicateForm { .. } => ("words", "DUPLICATE_FORM"),
        TopicError::UnknownPairWord { .. } => ("pairs", "UNKNOWN_WORD"),
        TopicError::SelfPair { .. } => ("pairs", "SELF_PAIR"),
        TopicError::Json { .. } | TopicError::DuplicateTopic(_) => ("topic", "INVALID"),
    };
    FieldError::new(field, code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_ids_are_made_like_the_shipped_ones() {
        assert_eq!(word_id_from("Ice cream").as_deref(), Some("ice_cream"));
        assert_eq!(word_id_from("  T-Rex!! ").as_deref(), Some("t_rex"));
        assert_eq!(word_id_from("사자"), None);
        assert!(valid_id("ice_cream") && valid_id("t-rex2"));
        assert!(!valid_id("") && !valid_id("_x") && !valid_id("Lion") && !valid_id("사자"));
        assert!(!valid_id(&"a".repeat(MAX_ID_LEN + 1)));
    }
}
