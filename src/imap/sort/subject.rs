//! The base subject of RFC 5256 2.1, shared by SORT SUBJECT and both THREAD algorithms.
//!
//! The input is the Subject: value with encoded words already decoded (step 1's first half, done by
//! the MIME layer); this module does the rest. The grammar (RFC 5256 5):
//! ```text
//! subj-trailer = "(fwd)" / WSP
//! subj-fwd-hdr = "[fwd:"        subj-fwd-trl = "]"
//! subj-leader  = (*subj-blob subj-refwd) / WSP
//! subj-blob    = "[" *BLOBCHAR "]" *WSP        ; BLOBCHAR: any char but "[" and "]"
//! subj-refwd   = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
//! ```
//! All matching is ASCII case-insensitive; every pattern is ASCII, so byte offsets found by them are
//! always char boundaries of the UTF-8 string.

/// A base subject and whether the original looked like a reply or forward (THREAD=REFERENCES step
/// 5 asks: a `subj-refwd`, a `(fwd)` trailer or a `[fwd: ...]` wrapper was removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseSubject {
    pub text: String,
    pub reply_or_forward: bool,
}

/// RFC 5256 2.1, steps 1 (whitespace part) to 7.
pub fn base_subject(decoded: &str) -> BaseSubject {
    // Step 1: tabs and line breaks to spaces, runs of spaces to one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if !(c == ' ' && s.ends_with(' ')) {
            s.push(c);
        }
    }
    let mut refwd = false;
    let mut cur: &str = &s;
    loop {
        // Step 2: trailers.
        loop {
            if let Some(rest) = cur.strip_suffix(' ') {
                cur = rest;
            } else if ends_with_ignore_case(cur, "(fwd)") {
                cur = &cur[..cur.len() - 5];
                refwd = true;
            } else {
                break;
            }
        }
        // Steps 3 to 5: leaders and blobs until neither applies.
        loop {
            let before = cur.len();
            // Step 3.
            loop {
                if let Some(rest) = cur.strip_prefix(' ') {
                    cur = rest;
                    continue;
                }
                let mut at = 0;
                while let Some(n) = blob(&cur[at..]) {
                    at += n;
                }
                match refwd_len(&cur[at..]) {
                    Some(n) => {
                        cur = &cur[at + n..];
                        refwd = true;
                    }
                    None => break,
                }
            }
            // Step 4: a leading blob goes if something (non-blank) is left after it.
            if let Some(n) = blob(cur) {
                if !cur[n..].trim_start_matches(' ').is_empty() {
                    cur = &cur[n..];
                }
            }
            if cur.len() == before {
                break;
            }
        }
        // Step 6: "[fwd: ... ]" unwraps, then again from step 2.
        if cur.len() >= 6 && starts_with_ignore_case(cur, "[fwd:") && cur.ends_with(']') {
            cur = &cur[5..cur.len() - 1];
            refwd = true;
            continue;
        }
        break;
    }
    BaseSubject {
        text: cur.to_string(),
        reply_or_forward: refwd,
    }
}

/// Length of a `subj-blob` at the start of `s` (with its trailing spaces).
fn blob(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find(['[', ']'])?;
    if rest.as_bytes()[close] != b']' {
        return None;
    }
    let after = 1 + close + 1;
    Some(after + spaces(&s[after..]))
}

/// Length of a `subj-refwd` at the start of `s`.
fn refwd_len(s: &str) -> Option<usize> {
    let word = if starts_with_ignore_case(s, "fwd") {
        3
    } else if starts_with_ignore_case(s, "fw") || starts_with_ignore_case(s, "re") {
        2
    } else {
        return None;
    };
    let mut at = word + spaces(&s[word..]);
    if let Some(n) = blob(&s[at..]) {
        at += n;
    }
    (s.as_bytes().get(at) == Some(&b':')).then_some(at + 1)
}

/// Byte-wise, so that no slice falls inside a multi-byte character; a match is ASCII, so the offset
/// it gives is a char boundary.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn spaces(s: &str) -> usize {
    s.len() - s.trim_start_matches(' ').len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> String {
        base_subject(s).text
    }

    #[test]
    fn rfc5256_base_subject_rules() {
        assert_eq!(base("Hello"), "Hello");
        assert_eq!(base("Re: Hello"), "Hello");
        assert_eq!(base("RE:Hello"), "Hello");
        assert_eq!(base("re: re: Re:  Hello  "), "Hello");
        assert_eq!(base("Fwd: Hello"), "Hello");
        assert_eq!(base("FW: Hello"), "Hello");
        assert_eq!(base("Re[2]: Hello"), "Hello");
        assert_eq!(base("Re [2] : Hello"), "Hello");
        assert_eq!(base("[list] Re: Hello"), "Hello");
        assert_eq!(base("Re: [list] Hello"), "Hello");
        assert_eq!(base("[list] [tag] Hello"), "Hello");
        assert_eq!(base("Hello (fwd)"), "Hello");
        assert_eq!(base("Hello (FWD) (fwd) "), "Hello");
        assert_eq!(base("[Fwd: Hello]"), "Hello");
        assert_eq!(base("[fwd: Re: [list] Hello (fwd)]"), "Hello");
        assert_eq!(base("Re: [fwd: Re: Hello]"), "Hello");
        // Whitespace: tabs and folding become one space.
        assert_eq!(base("Re:\tHello\r\n  world"), "Hello world");
        // A blob that is all there is stays (removing it would leave nothing).
        assert_eq!(base("[only a blob]"), "[only a blob]");
        assert_eq!(base("Re: [only a blob]"), "[only a blob]");
        // Words that merely start like a leader stay.
        assert_eq!(base("Reply needed"), "Reply needed");
        assert_eq!(base("Fwdx: Hello"), "Fwdx: Hello");
        assert_eq!(base("Re"), "Re");
        assert_eq!(base(""), "");
        assert_eq!(base("   "), "");
        assert_eq!(base("Re:"), "");
        // Non-ASCII text survives untouched.
        assert_eq!(base("Re: Über [straße]"), "Über [straße]");
        assert_eq!(base("[日本] Re: 会議"), "会議");
    }

    #[test]
    fn reply_or_forward_is_noticed() {
        assert!(!base_subject("Hello").reply_or_forward);
        assert!(!base_subject("[list] Hello").reply_or_forward);
        assert!(base_subject("Re: Hello").reply_or_forward);
        assert!(base_subject("Hello (fwd)").reply_or_forward);
        assert!(base_subject("[Fwd: Hello]").reply_or_forward);
    }

    proptest::proptest! {
        /// Any text (the alphabet leans on the grammar's characters): no panic, and the result is
        /// trimmed, has no double spaces and is never longer than the input.
        #[test]
        fn base_subject_of_any_text(s in "([rRfFwWdD:\\[\\]() \t]|é|fwd|re|\\[fwd:|\\(fwd\\)|x){0,30}") {
            let b = base_subject(&s);
            proptest::prop_assert!(!b.text.starts_with(' ') && !b.text.ends_with(' '), "{:?}", b.text);
            proptest::prop_assert!(!b.text.contains("  "));
            proptest::prop_assert!(b.text.len() <= s.len());
        }

        #[test]
        fn base_subject_of_arbitrary_unicode(s in "\\PC{0,40}") {
            let _ = base_subject(&s);
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            "[",
            "]",
            "[[",
            "[fwd:",
            "[fwd:]",
            "Re [",
            "re[]:",
            "(fwd)",
            "[fwd: (fwd)]",
            "é(fwd)",
            "[é]é",
            "éxyzw",
            "ééé",
            "[fwdé]",
            "Reé:",
        ] {
            let _ = base_subject(s);
        }
        assert_eq!(base("[fwd:]"), "");
        assert_eq!(base("re[]:x"), "x");
    }
}
