//! The DATA body reader (RFC 5321 4.1.1.4, 4.5.2): finds the `<CRLF>.<CRLF>` end with memchr, removes
//! dot-stuffing while copying the bytes once into the message buffer, and enforces the size limit
//! without holding more than the limit in memory.
//!
//! Only `<CRLF>.<CRLF>` ends the data, and only a dot after CRLF is unstuffed: a bare LF never starts a
//! line here, so a lone `<LF>.<LF>` or `<LF>.<CRLF>` cannot end the message early (the SMTP smuggling
//! family of attacks depends on servers that accept those).

use memchr::memmem;

/// Incremental state across reads.
#[derive(Debug, Clone)]
pub struct DataReader {
    /// The next byte starts a line (the data so far ended in CRLF, or nothing came yet).
    at_line_start: bool,
    /// The last byte copied was CR (so an LF at the start of the next input completes a CRLF).
    last_cr: bool,
    /// Bytes of body seen (after unstuffing), counted even when no longer kept.
    seen: u64,
    limit: u64,
}

/// What one call to [`DataReader::feed`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed; the caller drops them from its buffer.
    pub used: usize,
    /// The terminating `.CRLF` was consumed: the message is complete.
    pub done: bool,
}

impl DataReader {
    pub fn new(limit: u64) -> DataReader {
        DataReader {
            at_line_start: true,
            last_cr: false,
            seen: 0,
            limit,
        }
    }

    /// Whether the body exceeded the limit (its bytes past the limit were discarded).
    pub fn too_big(&self) -> bool {
        self.seen > self.limit
    }

    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Consumes as much of `input` as can be decided, appending unstuffed body bytes to `out` while the
    /// limit allows. Leaves a trailing `.` or `.\r` at a line start unconsumed until more input shows
    /// whether it is the end.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Progress {
        let mut i = 0;
        while i < input.len() {
            if self.at_line_start && input[i] == b'.' {
                // RFC 5321 4.5.2: a line starting with '.' has it removed; `.CRLF` alone ends the data.
                match (input.get(i + 1), input.get(i + 2)) {
                    (Some(b'\r'), Some(b'\n')) => {
                        return Progress {
                            used: i + 3,
                            done: true,
                        }
                    }
                    (None, _) | (Some(b'\r'), None) => {
                        return Progress {
                            used: i,
                            done: false,
                        }
                    }
                    _ => {
                        i += 1;
                        self.at_line_start = false;
                        continue;
                    }
                }
            }
            // A CRLF split across reads: the LF completes it and starts a line.
            if self.last_cr && input[i] == b'\n' {
                self.keep(&input[i..=i], out);
                self.last_cr = false;
                self.at_line_start = true;
                i += 1;
                continue;
            }
            // Only a dot after CRLF matters: jump to the next CRLF "." and copy everything before it at
            // once (most bodies have none, so this is one memmem and one copy per read).
            match memmem::find(&input[i..], b"\r\n.") {
                Some(off) => {
                    self.keep(&input[i..i + off + 2], out);
                    self.last_cr = false;
                    self.at_line_start = true;
                    i += off + 2;
                }
                None => {
                    let rest = &input[i..];
                    self.keep(rest, out);
                    let n = rest.len();
                    self.at_line_start =
                        rest.ends_with(b"\r\n") || (n == 1 && rest[0] == b'\n' && self.last_cr);
                    self.last_cr = rest[n - 1] == b'\r';
                    i = input.len();
                }
            }
        }
        Progress {
            used: i,
            done: false,
        }
    }

    fn keep(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let room = self.limit.saturating_sub(self.seen);
        let take = (chunk.len() as u64).min(room) as usize;
        out.extend_from_slice(&chunk[..take]);
        self.seen += chunk.len() as u64;
    }
}

/// A BDAT chunk being read (RFC 3030 2): exactly `remaining` octets, no unstuffing, binary allowed.
#[derive(Debug, Clone, Copy)]
pub struct ChunkReader {
    pub remaining: u64,
}

impl ChunkReader {
    /// Takes up to `remaining` bytes of `input`; appends them to `out` when `keep`. Returns bytes used.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, keep: bool) -> usize {
        let take = (input.len() as u64).min(self.remaining) as usize;
        if keep {
            out.extend_from_slice(&input[..take]);
        }
        self.remaining -= take as u64;
        take
    }

    pub fn done(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `input` split at the given points; returns (body, total used, done).
    fn read_split(input: &[u8], splits: &[usize], limit: u64) -> (Vec<u8>, usize, bool, bool) {
        let mut r = DataReader::new(limit);
        let mut out = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut used_total = 0;
        let mut points: Vec<usize> = splits.iter().map(|&s| s.min(input.len())).collect();
        points.push(input.len());
        points.sort();
        for p in points {
            buf.extend_from_slice(&input[fed..p.max(fed)]);
            fed = p.max(fed);
            let pr = r.feed(&buf, &mut out);
            buf.drain(..pr.used);
            used_total += pr.used;
            if pr.done {
                return (out, used_total, true, r.too_big());
            }
        }
        (out, used_total, false, r.too_big())
    }

    #[test]
    fn simple_body_and_end() {
        let (body, used, done, _) =
            read_split(b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n", &[], 1000);
        assert!(done);
        assert_eq!(body, b"Subject: x\r\n\r\nhello\r\n");
        assert_eq!(used, 24);
    }

    #[test]
    fn empty_body() {
        let (body, used, done, _) = read_split(b".\r\n", &[], 1000);
        assert!(done);
        assert_eq!(body, b"");
        assert_eq!(used, 3);
    }

    #[test]
    fn dot_stuffing_is_removed_only_at_line_starts() {
        let (body, _, done, _) = read_split(b"..leading\r\na.b\r\n...\r\n.\r\n", &[], 1000);
        assert!(done);
        assert_eq!(body, b".leading\r\na.b\r\n..\r\n");
    }

    #[test]
    fn bare_lf_never_ends_or_unstuffs() {
        let (body, _, done, _) = read_split(b"a\n.\nb\r\n.x\n.\r\nc\r\n.\r\n", &[], 1000);
        assert!(done);
        assert_eq!(body, b"a\n.\nb\r\nx\n.\r\nc\r\n");
    }

    #[test]
    fn end_split_across_reads() {
        let input = b"line\r\n.\r\n";
        for a in 0..input.len() {
            for b in a..input.len() {
                let (body, used, done, _) = read_split(input, &[a, b], 1000);
                assert!(done, "split {a} {b}");
                assert_eq!(body, b"line\r\n", "split {a} {b}");
                assert_eq!(used, input.len());
            }
        }
    }

    #[test]
    fn over_the_limit_is_counted_not_kept() {
        let mut input = b"x".repeat(10_000);
        input.extend_from_slice(b"\r\n.\r\n");
        let (body, _, done, too_big) = read_split(&input, &[100, 5000], 1000);
        assert!(done && too_big);
        assert_eq!(body.len(), 1000);
    }

    #[test]
    fn chunks_take_exactly_their_size() {
        let mut c = ChunkReader { remaining: 5 };
        let mut out = Vec::new();
        assert_eq!(c.feed(b"ab", &mut out, true), 2);
        assert_eq!(c.feed(b"c\r\n.\r\nRSET", &mut out, true), 3);
        assert!(c.done());
        assert_eq!(out, b"abc\r\n");
        let mut d = ChunkReader { remaining: 3 };
        assert_eq!(d.feed(b"xyzw", &mut out, false), 3);
        assert_eq!(out, b"abc\r\n");
    }

    /// RFC 5321 4.5.2 the sender's side, as a reference to test against.
    fn stuff(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at_start = true;
        for (i, &b) in body.iter().enumerate() {
            if at_start && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            at_start = b == b'\n' && i > 0 && body[i - 1] == b'\r';
        }
        if !body.is_empty() && !body.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    proptest! {
        #[test]
        fn unstuffing_inverts_stuffing_at_any_split(
            body in proptest::collection::vec(prop::sample::select(vec![b'a', b'.', b'\r', b'\n', 0u8, 0xff]), 0..200),
            splits in proptest::collection::vec(0usize..220, 0..4),
        ) {
            let wire = stuff(&body);
            let mut expected = body.clone();
            if !body.is_empty() && !body.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            let (got, used, done, _) = read_split(&wire, &splits, 1 << 20);
            prop_assert!(done);
            prop_assert_eq!(used, wire.len());
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn never_panics_and_respects_the_limit(
            input in proptest::collection::vec(any::<u8>(), 0..400),
            splits in proptest::collection::vec(0usize..400, 0..4),
            limit in 0u64..300,
        ) {
            let (got, used, _, _) = read_split(&input, &splits, limit);
            prop_assert!(got.len() as u64 <= limit);
            prop_assert!(used <= input.len());
        }
    }
}
