//! Text normalisation for comparing guesses with words (SPEC §3 step 7).
//!
//! Two texts are the same word when their normal forms are equal: Unicode NFC, lower-cased
//! (`str::to_lowercase`, a full case mapping), with every white-space character removed. NFC runs
//! last so that case mapping cannot leave a decomposed sequence behind.

use unicode_normalization::UnicodeNormalization;

/// The comparison form of `text`.
pub fn normalize(text: &str) -> String {
    let folded: String = text
        .nfc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .collect();
    folded.nfc().collect()
}

/// Whether two texts name the same word.
pub fn same_word(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_white_space_and_case() {
        assert_eq!(normalize("  Li on\t"), "lion");
        assert_eq!(normalize("ICE\u{3000}CREAM"), "icecream");
    }

    #[test]
    fn composes_decomposed_hangul() {
        let nfd = "\u{1109}\u{1161}\u{110c}\u{1161}"; // 사자 as conjoining jamo
        assert_eq!(normalize(nfd), "사자");
        assert!(same_word(nfd, " 사 자 "));
    }
}
