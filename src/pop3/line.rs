//! Framing POP3 input into lines (RFC 1939 3: commands end with CRLF), bounded in length. A line
//! over the bound is reported once and skipped up to its end, however many reads it spans, so a
//! client cannot make the server buffer without limit.

/// One step of framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A complete line without its line ending; `used` includes the ending.
    Line { line: &'a [u8], used: usize },
    /// A line longer than the bound: answer it with an error. `used` bytes were skipped; the rest of
    /// the line (if its end has not arrived) is skipped by later calls.
    TooLong { used: usize },
    /// No complete line: read more. `used` bytes (of a long line being skipped) may be dropped.
    NeedMore { used: usize },
}

/// Line framer with the one bit of state that spans reads: skipping the tail of a long line.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    skipping: bool,
}

impl Framer {
    /// True while the tail of an over-long line is being skipped.
    pub fn is_skipping(&self) -> bool {
        self.skipping
    }

    /// The next line of `input`, at most `max` bytes with its line ending. CRLF ends a line; a bare
    /// LF is taken too (RFC 1939 has CRLF, but lenient clients and test tools send LF alone).
    pub fn next<'a>(&mut self, input: &'a [u8], max: usize) -> Framed<'a> {
        let max = max.max(2);
        if self.skipping {
            return match memchr::memchr(b'\n', input) {
                Some(i) => {
                    self.skipping = false;
                    Framed::NeedMore { used: i + 1 }
                }
                None => Framed::NeedMore { used: input.len() },
            };
        }
        // Only the first `max` bytes can hold the end of an acceptable line.
        let window = &input[..input.len().min(max)];
        match memchr::memchr(b'\n', window) {
            Some(i) => {
                let end = if i > 0 && input[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                Framed::Line {
                    line: &input[..end],
                    used: i + 1,
                }
            }
            None if input.len() >= max => match memchr::memchr(b'\n', &input[max..]) {
                // Over the bound, and its end is here: skip it all.
                Some(j) => Framed::TooLong { used: max + j + 1 },
                // Over the bound: skip what is here, and the rest up to the line's end later.
                None => {
                    self.skipping = true;
                    Framed::TooLong { used: input.len() }
                }
            },
            None => Framed::NeedMore { used: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_end_with_crlf_or_lf() {
        let mut f = Framer::default();
        assert_eq!(
            f.next(b"STAT\r\nLIST\n", 512),
            Framed::Line {
                line: b"STAT",
                used: 6
            }
        );
        assert_eq!(
            f.next(b"LIST\n", 512),
            Framed::Line {
                line: b"LIST",
                used: 5
            }
        );
        assert_eq!(f.next(b"RETR 1\r", 512), Framed::NeedMore { used: 0 });
    }

    #[test]
    fn a_long_line_is_reported_once_and_skipped_across_reads() {
        let mut f = Framer::default();
        assert_eq!(f.next(&[b'a'; 10], 8), Framed::TooLong { used: 10 });
        assert!(f.is_skipping());
        assert_eq!(f.next(&[b'a'; 10], 8), Framed::NeedMore { used: 10 });
        assert_eq!(f.next(b"aa\r\nNOOP\r\n", 8), Framed::NeedMore { used: 4 });
        assert!(!f.is_skipping());
        assert_eq!(
            f.next(b"NOOP\r\n", 8),
            Framed::Line {
                line: b"NOOP",
                used: 6
            }
        );
        // Exactly at the bound, CRLF included, is fine; one more is not.
        assert_eq!(
            f.next(b"NOOPNO\r\n", 8),
            Framed::Line {
                line: b"NOOPNO",
                used: 8
            }
        );
        // Its end arrived in the same read: skipped at once, the next line is read as one.
        assert_eq!(
            f.next(b"NOOPNOO\r\nSTAT\r\n", 8),
            Framed::TooLong { used: 9 }
        );
        assert!(!f.is_skipping());
    }

    proptest! {
        /// Whatever the reads, a framer never panics, never uses more than it is given, and every
        /// line it returns is within the bound.
        #[test]
        fn framing_is_bounded(data in proptest::collection::vec(
            prop::sample::select(vec![b'a', b'\r', b'\n', b' ']), 0..200),
            cut in 1usize..50, max in 2usize..40)
        {
            let mut f = Framer::default();
            let mut buf: Vec<u8> = Vec::new();
            for chunk in data.chunks(cut) {
                buf.extend_from_slice(chunk);
                loop {
                    match f.next(&buf, max) {
                        Framed::Line { line, used } => {
                            prop_assert!(used <= max && line.len() < used);
                            buf.drain(..used);
                        }
                        Framed::TooLong { used } | Framed::NeedMore { used } => {
                            prop_assert!(used <= buf.len());
                            buf.drain(..used);
                            if used == 0 || buf.is_empty() {
                                break;
                            }
                        }
                    }
                }
                prop_assert!(buf.len() < max);
            }
        }
    }
}
