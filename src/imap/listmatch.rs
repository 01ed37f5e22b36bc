//! LIST and LSUB patterns (RFC 3501 6.3.8, RFC 9051 6.3.9): `*` matches any run of characters, the
//! hierarchy delimiter included; `%` matches any run without the delimiter.
//!
//! Matching simulates the pattern as an automaton over the name (the set of pattern positions
//! reachable so far), so it takes O(name x pattern) steps whatever the pattern: a backtracking matcher
//! is exponential on patterns like `%a%a%a%a%a%a%b`.
//!
//! Names and patterns are bytes in one encoding (the session decodes both, or neither); the delimiter
//! is ASCII, so in UTF-8 it never appears inside a multi-byte character and byte matching equals
//! character matching.
//!
//! `INBOX` is case-insensitive (RFC 3501 5.1, RFC 9051 5.1): when a name's first component is INBOX,
//! its first five characters match the pattern's letters in any case, so `inbox` and `Inbox/%` find
//! `INBOX` and its children as `SELECT inbox` would.

/// A LIST pattern, joined with its reference and ready to test names against.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The pattern with runs of wildcards collapsed (`%*` is `*`, `%%` is `%`).
    pat: Vec<Tok>,
    delim: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    /// `%`
    Level,
    /// `*`
    Any,
}

/// Joins a LIST reference and pattern (RFC 3501 6.3.8): the pattern is taken relative to the
/// reference. A reference that does not end with the delimiter is used as a plain prefix (the RFC
/// leaves it to the server; `foo` + `bar` is `foobar`); a delimiter at both sides of the join is not
/// doubled, so `Archive/` + `/2024` is `Archive/2024`.
pub fn join(reference: &[u8], pattern: &[u8], delim: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(reference.len() + pattern.len());
    out.extend_from_slice(reference);
    match (reference.last(), pattern.first()) {
        (Some(&r), Some(&p)) if r == delim && p == delim => out.extend_from_slice(&pattern[1..]),
        _ => out.extend_from_slice(pattern),
    }
    out
}

impl Pattern {
    /// `LIST reference pattern`.
    pub fn new(reference: &[u8], pattern: &[u8], delim: u8) -> Pattern {
        Pattern::from_joined(&join(reference, pattern, delim), delim)
    }

    /// A pattern already joined with its reference.
    pub fn from_joined(pattern: &[u8], delim: u8) -> Pattern {
        let mut pat: Vec<Tok> = Vec::with_capacity(pattern.len());
        for &b in pattern {
            let t = match b {
                b'*' => Tok::Any,
                b'%' => Tok::Level,
                _ => Tok::Byte(b),
            };
            // Adjacent wildcards: `*` absorbs `%`, and a repeated one adds nothing.
            match (pat.last().copied(), t) {
                (Some(Tok::Any), Tok::Any | Tok::Level) => continue,
                (Some(Tok::Level), Tok::Level) => continue,
                (Some(Tok::Level), Tok::Any) => {
                    pat.pop();
                }
                _ => {}
            }
            pat.push(t);
        }
        Pattern { pat, delim }
    }

    /// Is there no wildcard in the pattern (LIST of one name)?
    pub fn is_literal(&self) -> bool {
        self.pat.iter().all(|t| matches!(t, Tok::Byte(_)))
    }

    /// Does `name` match the whole pattern?
    pub fn matches(&self, name: &[u8]) -> bool {
        self.run(name).is_some_and(|states| states[self.pat.len()])
    }

    /// Could a name below `name` (`name` + delimiter + more) match? LIST uses it to report a parent
    /// that does not match itself but has matching children (RFC 5258 3.5 CHILDINFO, RFC 3501's
    /// `%` listing of a \Noselect parent).
    pub fn matches_below(&self, name: &[u8]) -> bool {
        let mut with_delim = Vec::with_capacity(name.len() + 1);
        with_delim.extend_from_slice(name);
        with_delim.push(self.delim);
        // A prefix that leaves the automaton alive can be completed: every state can reach the end by
        // consuming bytes (a literal byte can be supplied, a wildcard can match nothing).
        self.run(&with_delim).is_some()
    }

    /// Runs the automaton over `name`; `None` once no state is alive. The result marks which pattern
    /// positions are reachable after the whole name (index `len` = the whole pattern matched).
    fn run(&self, name: &[u8]) -> Option<Vec<bool>> {
        let n = self.pat.len();
        let mut cur = vec![false; n + 1];
        let mut next = vec![false; n + 1];
        cur[0] = true;
        self.close(&mut cur);
        let inbox_len = inbox_prefix(name, self.delim);
        for (i, &c) in name.iter().enumerate() {
            next.iter_mut().for_each(|s| *s = false);
            let mut alive = false;
            for (p, tok) in self.pat.iter().enumerate() {
                if !cur[p] {
                    continue;
                }
                match *tok {
                    Tok::Byte(b) => {
                        let eq = if i < inbox_len {
                            b.eq_ignore_ascii_case(&c)
                        } else {
                            b == c
                        };
                        if eq {
                            next[p + 1] = true;
                            alive = true;
                        }
                    }
                    Tok::Any => {
                        next[p] = true;
                        alive = true;
                    }
                    Tok::Level => {
                        if c != self.delim {
                            next[p] = true;
                            alive = true;
                        }
                    }
                }
            }
            if !alive {
                return None;
            }
            self.close(&mut next);
            std::mem::swap(&mut cur, &mut next);
        }
        Some(cur)
    }

    /// Adds the positions reachable without consuming a byte: past a wildcard that matches nothing.
    fn close(&self, states: &mut [bool]) {
        // Wildcards are never adjacent after collapsing, so one pass in order suffices.
        for (p, tok) in self.pat.iter().enumerate() {
            if states[p] && !matches!(tok, Tok::Byte(_)) {
                states[p + 1] = true;
            }
        }
    }
}

/// How many leading bytes of `name` are an `INBOX` first component (5), or 0.
fn inbox_prefix(name: &[u8], delim: u8) -> usize {
    if name.len() >= 5
        && name[..5].eq_ignore_ascii_case(b"INBOX")
        && (name.len() == 5 || name[5] == delim)
    {
        5
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn m(pattern: &str, name: &str) -> bool {
        Pattern::new(b"", pattern.as_bytes(), b'/').matches(name.as_bytes())
    }

    #[test]
    fn star_crosses_the_delimiter_percent_does_not() {
        assert!(m("*", "INBOX"));
        assert!(m("*", "a/b/c"));
        assert!(m("%", "INBOX"));
        assert!(!m("%", "a/b"));
        assert!(m("%/%", "a/b"));
        assert!(!m("%/%", "a/b/c"));
        assert!(m("a/*", "a/b/c"));
        assert!(!m("a/*", "a"));
        assert!(m("a*", "a"));
        assert!(m("a%", "abc"));
        assert!(!m("a%", "ab/c"));
        assert!(m("%b%", "abc"));
        assert!(m("*c", "a/b/c"));
        assert!(!m("%c", "a/b/c"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        // RFC 3501 6.3.8: "foo*" matches "foo", "foobar" and "foo/bar"; "foo%" does not match
        // "foo/bar".
        assert!(m("foo*", "foo/bar"));
        assert!(m("foo%", "foobar"));
        assert!(!m("foo%", "foo/bar"));
    }

    #[test]
    fn names_are_case_sensitive_except_inbox() {
        assert!(!m("sent", "Sent"));
        assert!(m("inbox", "INBOX"));
        assert!(m("InBox/%", "INBOX/Sub"));
        assert!(!m("inbox/sub", "INBOX/Sub"));
        assert!(m("in%", "INBOX"));
        // Only a first component that is exactly INBOX.
        assert!(!m("inboxes", "INBOXes"));
        assert!(!m("x/inbox", "x/INBOX"));
    }

    #[test]
    fn reference_joins() {
        assert_eq!(join(b"", b"%", b'/'), b"%");
        assert_eq!(join(b"Archive/", b"%", b'/'), b"Archive/%");
        assert_eq!(join(b"Archive/", b"/2024", b'/'), b"Archive/2024");
        assert_eq!(join(b"foo", b"bar", b'/'), b"foobar");
        assert_eq!(join(b"Archive", b"", b'/'), b"Archive");
        let p = Pattern::new(b"Archive/", b"%", b'/');
        assert!(p.matches(b"Archive/2024"));
        assert!(!p.matches(b"Archive/2024/Q1"));
        assert!(!p.matches(b"Archive"));
    }

    #[test]
    fn below() {
        let p = Pattern::new(b"", b"%/x", b'/');
        assert!(p.matches_below(b"a"));
        assert!(!p.matches_below(b"a/b"));
        let p = Pattern::new(b"", b"%", b'/');
        assert!(!p.matches_below(b"a"));
        let p = Pattern::new(b"", b"*", b'/');
        assert!(p.matches_below(b"a/b"));
        let p = Pattern::new(b"", b"Work/%", b'/');
        assert!(p.matches_below(b"Work"));
        assert!(!p.matches_below(b"Play"));
    }

    #[test]
    fn literal_detection_and_collapsing() {
        assert!(Pattern::new(b"", b"INBOX", b'/').is_literal());
        assert!(!Pattern::new(b"", b"IN%", b'/').is_literal());
        let p = Pattern::new(b"", b"a%*%%*b", b'/');
        assert_eq!(p.pat, vec![Tok::Byte(b'a'), Tok::Any, Tok::Byte(b'b')]);
        let p = Pattern::new(b"", b"a%%b", b'/');
        assert_eq!(p.pat, vec![Tok::Byte(b'a'), Tok::Level, Tok::Byte(b'b')]);
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        // A backtracking matcher takes exponential time on these.
        let name = "a".repeat(2000);
        let pat = format!("{}b", "%a".repeat(500));
        let star = format!("{}b", "*a".repeat(500));
        let t = Instant::now();
        assert!(!m(&pat, &name));
        assert!(!m(&star, &name));
        let ok = format!("{}a", "%a".repeat(500));
        assert!(m(&ok, &name));
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    /// A reference matcher by recursion (exponential, for short inputs only).
    fn slow(p: &[u8], n: &[u8]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some(b'*') => (0..=n.len()).any(|k| slow(&p[1..], &n[k..])),
            Some(b'%') => (0..=n.len())
                .take_while(|&k| k == 0 || n[k - 1] != b'/')
                .any(|k| slow(&p[1..], &n[k..])),
            Some(&c) => n.first() == Some(&c) && slow(&p[1..], &n[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_backtracking(
            p in proptest::collection::vec(proptest::sample::select(b"ab/*%".to_vec()), 0..10),
            n in proptest::collection::vec(proptest::sample::select(b"ab/".to_vec()), 0..12),
        ) {
            let pat = Pattern::from_joined(&p, b'/');
            proptest::prop_assert_eq!(pat.matches(&n), slow(&p, &n));
            // matches_below(n) is true exactly when some extension n/... matches.
            let mut ext = n.clone();
            ext.push(b'/');
            let any_ext = [&b""[..], b"a", b"b", b"ab", b"a/b", b"/"].iter().any(|tail| {
                let mut e = ext.clone();
                e.extend_from_slice(tail);
                slow(&p, &e)
            });
            if any_ext {
                proptest::prop_assert!(pat.matches_below(&n));
            }
        }
    }
}
