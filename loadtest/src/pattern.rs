//! Address patterns that spread load: `user{0..99}@example.test` expands to user0 .. user99 (inclusive
//! range, any number of `{a..b}` groups, expanded as a cartesian product); without braces, one address.

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Range(u64, u64),
}

/// A parsed pattern; `get(i)` gives the i-th address (cycling), `len()` how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                bail!("pattern {s:?}: '{{' without '}}'")
            };
            let inner = &rest[open + 1..open + close];
            let Some((a, b)) = inner.split_once("..") else {
                bail!("pattern {s:?}: expected {{FROM..TO}}, got {{{inner}}}")
            };
            let (a, b): (u64, u64) = match (a.trim().parse(), b.trim().parse()) {
                (Ok(a), Ok(b)) if a <= b => (a, b),
                _ => bail!("pattern {s:?}: {{{inner}}} is not an ascending range of numbers"),
            };
            parts.push(Part::Range(a, b));
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            bail!("pattern {s:?}: '}}' without '{{'");
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        if parts.is_empty() {
            bail!("empty pattern");
        }
        let p = Pattern { parts };
        if p.is_empty() {
            bail!("pattern {s:?} expands to too many addresses");
        }
        Ok(p)
    }

    /// The number of distinct expansions (0 on overflow).
    pub fn len(&self) -> u64 {
        self.parts
            .iter()
            .try_fold(1u64, |n, p| match p {
                Part::Lit(_) => Some(n),
                Part::Range(a, b) => n.checked_mul(b - a + 1),
            })
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th expansion (modulo `len`), the last range varying fastest.
    pub fn get(&self, i: u64) -> String {
        let mut idx = i % self.len().max(1);
        let mut out: Vec<String> = Vec::with_capacity(self.parts.len());
        for p in self.parts.iter().rev() {
            match p {
                Part::Lit(s) => out.push(s.clone()),
                Part::Range(a, b) => {
                    let n = b - a + 1;
                    out.push((a + idx % n).to_string());
                    idx /= n;
                }
            }
        }
        out.reverse();
        out.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand() {
        let p = Pattern::parse("user{0..99}@example.test").unwrap();
        assert_eq!(p.len(), 100);
        assert_eq!(p.get(0), "user0@example.test");
        assert_eq!(p.get(99), "user99@example.test");
        assert_eq!(p.get(100), "user0@example.test");
        let p = Pattern::parse("u{1..2}@d{5..7}.test").unwrap();
        assert_eq!(p.len(), 6);
        let all: Vec<String> = (0..6).map(|i| p.get(i)).collect();
        assert_eq!(
            all,
            [
                "u1@d5.test",
                "u1@d6.test",
                "u1@d7.test",
                "u2@d5.test",
                "u2@d6.test",
                "u2@d7.test"
            ]
        );
        let p = Pattern::parse("plain@example.test").unwrap();
        assert_eq!((p.len(), p.get(7)), (1, "plain@example.test".to_string()));
    }

    #[test]
    fn bad_patterns_say_why() {
        for bad in [
            "",
            "u{1..}@x",
            "u{5..1}@x",
            "u{1..2@x",
            "u}@x",
            "u{a..b}@x",
            "{0..4294967296}{0..4294967296}{0..4294967296}",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_index_is_in_range(a in 0u64..1000, n in 1u64..1000, i in proptest::num::u64::ANY) {
            let p = Pattern::parse(&format!("x{{{a}..{}}}@y", a + n - 1)).unwrap();
            let got = p.get(i);
            let num: u64 = got[1..got.len() - 2].parse().unwrap();
            proptest::prop_assert!(num >= a && num < a + n);
        }
    }
}
