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
        if haystack.len() < self.folded.len() && haystack.is_ascii() {
            // Lowercase ASCII keeps its length, so a shorter ASCII haystack cannot hold the needle.
            return false;
        }
        scratch.clear();
        fold_into(scratch, haystack);
        self.finder.find(scratch.as_bytes()).is_some()
    }
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
    fn invalid_utf8_needles_do_not_panic() {
        let n = Needle::new(b"caf\xe9");
        assert_eq!(n.folded(), "caf\u{fffd}");
        assert!(!n.found_in("café", &mut String::new()));
    }
}
