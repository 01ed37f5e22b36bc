//! Case-insensitive substring matching for SEARCH (RFC 9051 6.4.4: "all searching is
//! case-insensitive" over the decoded text). Both sides are folded one character at a time: full
//! Unicode lowercase, plus the full case foldings lowercase misses (Unicode CaseFolding.txt: final
//! sigma, sharp s to "ss", the Greek symbol variants, long s). This approaches `i;unicode-casemap`
//! (RFC 5051) without its decomposition step.

use memchr::memmem;

/// A search string, folded once when the query is compiled, with its substring finder built once.
#[derive(Debug, Clone)]
pub struct Needle {
    folded: String,
    finder: memmem::Finder<'static>,
}

impl Needle {
    /// The string as sent (bytes; invalid UTF-8 is replaced, as no charset but UTF-8 and US-ASCII is
    /// accepted).
    pub fn new(raw: &[u8]) -> Needle {
        let mut folded = String::new();
        fold_into(&mut folded, &String::from_utf8_lossy(raw));
        let finder = memmem::Finder::new(folded.as_bytes()).into_owned();
        Needle { folded, finder }
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }

    /// The folded form (for tests and debugging).
    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// Does `haystack` contain the needle, ignoring case? `scratch` is reused between calls so that a
    /// search over many messages folds into one buffer.
    pub fn found_in(&self, haystack: &str, scratch: &mut String) -> bool {
        if self.folded.is_empty() {
            return true;
        }
        if haystack.is_ascii() {
            if haystack.len() < self.folded.len() {
                // Lowercase ASCII keeps its length: a shorter ASCII haystack cannot hold the needle.
                return false;
            }
            if self.folded.is_ascii() && self.folded.len() <= SHORT {
                return ascii_find(haystack.as_bytes(), self.folded.as_bytes());
            }
        }
        scratch.clear();
        fold_into(scratch, haystack);
        self.finder.find(scratch.as_bytes()).is_some()
    }
}

/// Longest needle searched without folding the haystack first: the direct search below is
/// quadratic in the worst case, the folded one (memmem's two-way search) linear.
const SHORT: usize = 64;

/// Case-insensitive search of a lowercase ASCII needle in an ASCII haystack, without folding the
/// haystack: memchr finds each candidate first byte (either case), the rest compares in place. For
/// ASCII text this gives what folding both sides would.
fn ascii_find(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = hay.len().checked_sub(needle.len()) else {
        return false;
    };
    let upper = first.to_ascii_uppercase();
    let mut at = 0;
    while at <= last_start {
        let window = &hay[at..=last_start];
        let found = if upper == first {
            memchr::memchr(first, window)
        } else {
            memchr::memchr2(first, upper, window)
        };
        let Some(i) = found else {
            return false;
        };
        let p = at + i;
        if hay[p + 1..p + needle.len()].eq_ignore_ascii_case(rest) {
            return true;
        }
        at = p + 1;
    }
    false
}

/// Appends the folded form of `s`: ASCII by table, the rest by `char::to_lowercase` and [`extra`].
pub fn fold_into(out: &mut String, s: &str) {
    out.reserve(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            for l in c.to_lowercase() {
                match extra(l) {
                    Some(f) => out.push_str(f),
                    None => out.push(l),
                }
            }
        }
    }
}

/// Case foldings (Unicode CaseFolding.txt, status C and F) of characters that are already lowercase.
fn extra(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'ς' => "σ",
        'ſ' => "s",
        'ϐ' => "β",
        'ϑ' => "θ",
        'ϕ' => "φ",
        'ϖ' => "π",
        'ϰ' => "κ",
        'ϱ' => "ρ",
        'ϵ' => "ε",
        '\u{1e9b}' => "\u{1e61}",
        '\u{345}' => "ι",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' | 'ﬆ' => "st",
        _ => return None,
    })
}

/// The folded form of `s`.
pub fn fold(s: &str) -> String {
    let mut out = String::new();
    fold_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(needle: &str, hay: &str) -> bool {
        Needle::new(needle.as_bytes()).found_in(hay, &mut String::new())
    }

    #[test]
    fn matching_ignores_ascii_and_unicode_case() {
        assert!(found("hello", "Say HELLO there"));
        assert!(found("HeLLo", "say hello"));
        assert!(!found("hello", "say hell o"));
        assert!(found("", "anything"));
        assert!(found("", ""));
        assert!(!found("x", ""));
        // Non-ASCII: Latin, Greek, Cyrillic, with a sigma whose final form str::to_lowercase would change.
        assert!(found("ÉTÉ", "un été chaud"));
        assert!(found("straße", "STRASSE"));
        assert!(found("STRAẞE", "strasse"));
        assert!(found("office", "the oﬃce"));
        assert!(found("ΣΟΦΟΣ", "σοφος"));
        assert!(found("москва", "Привет, МОСКВА!"));
        assert!(!found("москва", "Привет, МОСКВ"));
        // A needle longer than an ASCII haystack is rejected early, correctly.
        assert!(!found("abcdef", "abc"));
    }

    #[test]
    fn the_ascii_path_agrees_with_folding() {
        for (needle, hay, expect) in [
            ("zanzibar", "The ZANZIBAR offsite", true),
            ("zanzibar", "zanzibaR", true),
            ("zanzibar", "zanziba", false),
            ("ab", "aaab", true),
            ("aab", "aaaab", true),
            ("b", "aaaa", false),
            ("x1", "ax1", true),
            ("1x", "1X", true),
            ("end", "the end", true),
            ("the", "the end", true),
        ] {
            assert_eq!(found(needle, hay), expect, "{needle} in {hay}");
            // The same through the folding path (a non-ASCII haystack).
            assert_eq!(
                found(needle, &format!("{hay} é")),
                expect,
                "{needle} in {hay} é"
            );
        }
        let long = "x".repeat(SHORT + 1);
        assert!(found(&long, &format!("a{}b", long.to_uppercase())));
        assert!(!found(&long, &"x".repeat(SHORT)));
    }

    proptest::proptest! {
        #[test]
        fn search_agrees_with_folding_both_sides(
            needle in "[aAbB1 é]{1,4}",
            hay in "[aAbB1 éÉ]{0,24}",
        ) {
            let expect = fold(&hay).contains(&fold(&needle));
            proptest::prop_assert_eq!(found(&needle, &hay), expect);
        }
    }

    #[test]
    fn invalid_utf8_needles_do_not_panic() {
        let n = Needle::new(b"caf\xe9");
        assert_eq!(n.folded(), "caf\u{fffd}");
        assert!(!n.found_in("café", &mut String::new()));
    }
}
