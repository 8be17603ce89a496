//! Topic data: validation and the shipped catalog.

mod common;

use common::topic_json;
use liar_rules::{
    Catalog, Language, TopicError,
    rand::{SeedableRng, rngs::StdRng},
    topics::MIN_WORDS_PER_TOPIC,
};
use serde_json::{Value, json};

fn load(topics: &[Value]) -> Result<Catalog, TopicError> {
    let texts: Vec<String> = topics.iter().map(Value::to_string).collect();
    Catalog::from_json_strs(texts.iter().map(String::as_str))
}

#[test]
fn valid_topics_load() {
    let catalog = load(&[topic_json("a", 30), topic_json("b", 31)]).unwrap();
    assert_eq!(catalog.len(), 2);
    assert_eq!(catalog.topic("b").unwrap().words.len(), 31);
    assert!(catalog.topic("c").is_none());
    let mut rng = StdRng::seed_from_u64(1);
    let drawn: std::collections::HashSet<_> = (0..50)
        .map(|_| catalog.random_topic(&mut rng).unwrap().id.clone())
        .collect();
    assert_eq!(drawn.len(), 2);
    assert!(Catalog::default().random_topic(&mut rng).is_none());
}

/// Recognises the expected refusal.
type Expect = fn(&TopicError) -> bool;

#[test]
fn bad_topics_are_refused_with_a_reason() {
    let dup_word = {
        let mut t = topic_json("t", 30);
        t["words"][5]["id"] = json!("w4");
        t
    };
    let dup_form = {
        let mut t = topic_json("t", 30);
        t["words"][5]["en"] = json!(" word4 "); // normalises like "Word 4"
        t
    };
    let alias_clash = {
        let mut t = topic_json("t", 30);
        t["words"][5]["aliases"] = json!({"ko": ["단어 4"]});
        t
    };
    let unknown_pair = {
        let mut t = topic_json("t", 30);
        t["pairs"] = json!([["w0", "nope"]]);
        t
    };
    let self_pair = {
        let mut t = topic_json("t", 30);
        t["pairs"] = json!([["w3", "w3"]]);
        t
    };
    let empty_word = {
        let mut t = topic_json("t", 30);
        t["words"][2]["ko"] = json!("  ");
        t
    };
    let cases: Vec<(Vec<Value>, Expect)> = vec![
        (vec![topic_json("t", 29)], |e| {
            matches!(
                e,
                TopicError::TooFewWords {
                    count: 29,
                    min: 30,
                    ..
                }
            )
        }),
        (
            vec![topic_json("t", 30), topic_json("t", 40)],
            |e| matches!(e, TopicError::DuplicateTopic(id) if id == "t"),
        ),
        (
            vec![dup_word],
            |e| matches!(e, TopicError::DuplicateWordId { word, .. } if word == "w4"),
        ),
        (vec![dup_form], |e| {
            matches!(
                e,
                TopicError::DuplicateForm {
                    language: Language::En,
                    ..
                }
            )
        }),
        (vec![alias_clash], |e| {
            matches!(
                e,
                TopicError::DuplicateForm {
                    language: Language::Ko,
                    ..
                }
            )
        }),
        (
            vec![unknown_pair],
            |e| matches!(e, TopicError::UnknownPairWord { word, .. } if word == "nope"),
        ),
        (vec![self_pair], |e| {
            matches!(e, TopicError::SelfPair { .. })
        }),
        (vec![empty_word], |e| {
            matches!(e, TopicError::EmptyText { .. })
        }),
        (
            vec![json!({"id": "x"})],
            |e| matches!(e, TopicError::Json { file, .. } if file == "#0"),
        ),
    ];
    for (i, (topics, expected)) in cases.into_iter().enumerate() {
        let err = load(&topics).unwrap_err();
        assert!(expected(&err), "case {i}: {err}");
    }
}

#[test]
fn the_shipped_catalog_is_valid_and_big_enough() {
    let catalog = Catalog::builtin().unwrap_or_else(|e| panic!("data/topics is invalid: {e}"));
    assert!(catalog.len() >= 20, "{} topics", catalog.len());
    for topic in catalog.topics() {
        assert!(topic.words.len() >= MIN_WORDS_PER_TOPIC, "{}", topic.id);
        assert!(
            !topic.pairs.is_empty(),
            "{} has no fool-mode pairs",
            topic.id
        );
    }
}
