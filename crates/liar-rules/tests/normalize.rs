//! Properties of guess normalisation.

use liar_rules::{
    Language, Word,
    normalize::{normalize, same_word},
    topics::Aliases,
};
use proptest::prelude::*;

fn word(ko: &str, en: &str) -> Word {
    Word {
        id: "w".into(),
        ko: ko.into(),
        en: en.into(),
        aliases: Aliases::default(),
    }
}

proptest! {
    #[test]
    fn normalising_twice_changes_nothing(text in "\\PC{0,30}") {
        let once = normalize(&text);
        prop_assert_eq!(normalize(&once), once);
    }

    #[test]
    fn white_space_and_case_never_matter(
        text in "[a-zA-Z가-힣]{1,12}",
        spaces in proptest::collection::vec(0usize..13, 0..4),
        upper in any::<bool>(),
    ) {
        let mut mangled: String = if upper { text.to_uppercase() } else { text.to_lowercase() };
        for at in spaces {
            let at = mangled.char_indices().nth(at).map_or(mangled.len(), |(i, _)| i);
            mangled.insert_str(at, " \t\u{3000}");
        }
        prop_assert!(same_word(&text, &mangled));
        prop_assert!(word(&text, "x").matches_guess(&mangled, Language::Ko));
        prop_assert!(word("x", &text).matches_guess(&mangled, Language::Ko), "the other language counts too");
    }

    #[test]
    fn a_different_word_never_matches(a in "[a-z]{1,8}", b in "[a-z]{1,8}") {
        prop_assume!(a != b);
        prop_assert!(!word(&a, &a).matches_guess(&b, Language::En));
    }
}
