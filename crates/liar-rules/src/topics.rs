//! Topics and their words (SPEC §3.2), loaded from `data/topics/<id>.json` and validated.
//!
//! A topic file looks like
//! `{"id":"animals","name":{"ko":"동물","en":"Animals"},"words":[{"id":"lion","ko":"사자",
//! "en":"Lion","aliases":{"ko":[],"en":[]}}],"pairs":[["lion","tiger"]]}`.
//! Every shipped file is embedded at compile time (see `build.rs`) and served by
//! [`Catalog::builtin`].

use std::collections::{HashMap, HashSet};

use rand::{Rng, seq::IndexedRandom};
use serde::{Deserialize, Serialize};

use crate::normalize::normalize;
use crate::settings::Language;

include!(concat!(env!("OUT_DIR"), "/builtin_topics.rs"));

/// Fewest words a playable topic has (SPEC §3.2).
pub const MIN_WORDS_PER_TOPIC: usize = 30;

/// A text in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    /// Korean.
    pub ko: String,
    /// English.
    pub en: String,
}

impl Localized {
    /// The text in `language`.
    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::Ko => &self.ko,
            Language::En => &self.en,
        }
    }
}

/// Other accepted spellings of a word, per language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aliases {
    /// Korean aliases.
    #[serde(default)]
    pub ko: Vec<String>,
    /// English aliases.
    #[serde(default)]
    pub en: Vec<String>,
}

impl Aliases {
    /// The aliases in `language`.
    pub fn get(&self, language: Language) -> &[String] {
        match language {
            Language::Ko => &self.ko,
            Language::En => &self.en,
        }
    }
}

/// One word of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Word {
    /// Stable id, unique within its topic.
    pub id: String,
    /// Korean form.
    pub ko: String,
    /// English form.
    pub en: String,
    /// Other accepted spellings.
    #[serde(default)]
    pub aliases: Aliases,
}

impl Word {
    /// The word as shown in `language`.
    pub fn text(&self, language: Language) -> &str {
        match language {
            Language::Ko => &self.ko,
            Language::En => &self.en,
        }
    }

    /// The word and its aliases in `language`.
    pub fn forms(&self, language: Language) -> impl Iterator<Item = &str> {
        std::iter::once(self.text(language))
            .chain(self.aliases.get(language).iter().map(String::as_str))
    }

    /// Whether `guess` names this word: in `language` or, generously, in the other one.
    pub fn matches_guess(&self, guess: &str, language: Language) -> bool {
        let guess = normalize(guess);
        !guess.is_empty()
            && [language, language.other()]
                .into_iter()
                .flat_map(|lang| self.forms(lang))
                .any(|form| normalize(form) == guess)
    }
}

/// A topic: a public name and its secret words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// Stable id (the file name without `.json`).
    pub id: String,
    /// Public name.
    pub name: Localized,
    /// The words one of which is drawn per game.
    pub words: Vec<Word>,
    /// Unordered pairs of similar word ids, used for the liar's word in fool mode.
    #[serde(default)]
    pub pairs: Vec<(String, String)>,
}

impl Topic {
    /// Parses and validates one topic file.
    pub fn from_json(text: &str) -> Result<Topic, TopicError> {
        let topic: Topic = serde_json::from_str(text).map_err(|source| TopicError::Json {
            file: "topic".into(),
            source,
        })?;
        topic.validate()?;
        Ok(topic)
    }

    /// The word with this id.
    pub fn word(&self, id: &str) -> Option<&Word> {
        self.words.iter().find(|w| w.id == id)
    }

    /// Every word paired with `id`.
    pub fn partners<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Word> + 'a {
        self.pairs
            .iter()
            .filter_map(move |(a, b)| match (a == id, b == id) {
                (true, false) => Some(b.as_str()),
                (false, true) => Some(a.as_str()),
                _ => None,
            })
            .filter_map(|other| self.word(other))
    }

    /// Checks that the topic is playable: ids and texts present, at least
    /// [`MIN_WORDS_PER_TOPIC`] words, no word id twice, no normalised form (word or alias) shared
    /// by two words of one language, every pair naming two distinct existing words.
    pub fn validate(&self) -> Result<(), TopicError> {
        let topic = || self.id.clone();
        let empty = |field: String| TopicError::EmptyText {
            topic: topic(),
            field,
        };
        if self.id.trim().is_empty() {
            return Err(empty("id".into()));
        }
        for lang in [Language::Ko, Language::En] {
            if normalize(self.name.get(lang)).is_empty() {
                return Err(empty(format!("name.{}", lang_code(lang))));
            }
        }
        if self.words.len() < MIN_WORDS_PER_TOPIC {
            return Err(TopicError::TooFewWords {
                topic: topic(),
                count: self.words.len(),
                min: MIN_WORDS_PER_TOPIC,
            });
        }
        self.validate_words()?;
        self.validate_pairs()
    }

    fn validate_words(&self) -> Result<(), TopicError> {
        let mut ids = HashSet::new();
        for word in &self.words {
            if word.id.trim().is_empty() {
                return Err(TopicError::EmptyText {
                    topic: self.id.clone(),
                    field: "word id".into(),
                });
            }
            if !ids.insert(word.id.as_str()) {
                return Err(TopicError::DuplicateWordId {
                    topic: self.id.clone(),
                    word: word.id.clone(),
                });
            }
        }
        for lang in [Language::Ko, Language::En] {
            let mut owner: HashMap<String, &str> = HashMap::new();
            for word in &self.words {
                for form in word.forms(lang) {
                    let key = normalize(form);
                    if key.is_empty() {
                        return Err(TopicError::EmptyText {
                            topic: self.id.clone(),
                            field: format!("{}.{}", word.id, lang_code(lang)),
                        });
                    }
                    match owner.insert(key, &word.id) {
                        Some(first) if first != word.id => {
                            return Err(TopicError::DuplicateForm {
                                topic: self.id.clone(),
                                language: lang,
                                form: form.to_owned(),
                                first: first.to_owned(),
                                second: word.id.clone(),
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_pairs(&self) -> Result<(), TopicError> {
        for (a, b) in &self.pairs {
            for id in [a, b] {
                if self.word(id).is_none() {
                    return Err(TopicError::UnknownPairWord {
                        topic: self.id.clone(),
                        word: id.clone(),
                    });
                }
            }
            if a == b {
                return Err(TopicError::SelfPair {
                    topic: self.id.clone(),
                    word: a.clone(),
                });
            }
        }
        Ok(())
    }
}

fn lang_code(language: Language) -> &'static str {
    match language {
        Language::Ko => "ko",
        Language::En => "en",
    }
}

/// Why topic data was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// Not JSON of the topic shape.
    #[error("{file} is not a valid topic file: {source}")]
    Json {
        /// File name (or `#index` for unnamed input).
        file: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// Two topics share an id.
    #[error("topic id {0:?} appears more than once")]
    DuplicateTopic(String),
    /// Not enough words to play.
    #[error("topic {topic:?} has {count} words; at least {min} are needed")]
    TooFewWords {
        /// Topic id.
        topic: String,
        /// Words found.
        count: usize,
        /// Words needed.
        min: usize,
    },
    /// A required text is empty or only white space.
    #[error("topic {topic:?}: {field} is empty")]
    EmptyText {
        /// Topic id.
        topic: String,
        /// Which text.
        field: String,
    },
    /// Two words share an id.
    #[error("topic {topic:?}: word id {word:?} appears more than once")]
    DuplicateWordId {
        /// Topic id.
        topic: String,
        /// The repeated id.
        word: String,
    },
    /// Two words share a normalised form (word or alias) in one language.
    #[error("topic {topic:?}: {language:?} form {form:?} belongs to both {first:?} and {second:?}")]
    DuplicateForm {
        /// Topic id.
        topic: String,
        /// The language of the clash.
        language: Language,
        /// The clashing form as written.
        form: String,
        /// The word that had it first.
        first: String,
        /// The word that has it too.
        second: String,
    },
    /// A pair names a word the topic does not have.
    #[error("topic {topic:?}: a pair names unknown word {word:?}")]
    UnknownPairWord {
        /// Topic id.
        topic: String,
        /// The unknown word id.
        word: String,
    },
    /// A pair names the same word twice.
    #[error("topic {topic:?}: word {word:?} is paired with itself")]
    SelfPair {
        /// Topic id.
        topic: String,
        /// The word id.
        word: String,
    },
}

/// A validated set of topics with unique ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    topics: Vec<Topic>,
}

impl Catalog {
    /// Parses and validates topic files given as JSON texts.
    pub fn from_json_strs<'a>(
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Catalog, TopicError> {
        let named = texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| (format!("#{i}"), text));
        Catalog::from_named(named)
    }

    /// Validates already parsed topics.
    pub fn from_topics(topics: Vec<Topic>) -> Result<Catalog, TopicError> {
        let mut seen = HashSet::new();
        for topic in &topics {
            topic.validate()?;
            if !seen.insert(topic.id.as_str()) {
                return Err(TopicError::DuplicateTopic(topic.id.clone()));
            }
        }
        Ok(Catalog { topics })
    }

    /// The topics shipped in `data/topics/`, embedded at compile time, in file-name order.
    pub fn builtin() -> Result<Catalog, TopicError> {
        Catalog::from_named(
            BUILTIN_TOPICS
                .iter()
                .map(|(name, text)| ((*name).to_owned(), *text)),
        )
    }

    fn from_named<'a>(
        files: impl Iterator<Item = (String, &'a str)>,
    ) -> Result<Catalog, TopicError> {
        let topics = files
            .map(|(file, text)| {
                serde_json::from_str(text).map_err(|source| TopicError::Json { file, source })
            })
            .collect::<Result<Vec<Topic>, _>>()?;
        Catalog::from_topics(topics)
    }

    /// The topic with this id.
    pub fn topic(&self, id: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }

    /// Every topic.
    pub fn topics(&self) -> &[Topic] {
        &self.topics
    }

    /// A topic drawn uniformly; `None` when the catalog is empty.
    pub fn random_topic<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<&Topic> {
        self.topics.choose(rng)
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether there are no topics.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }
}
