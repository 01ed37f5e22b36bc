//! The DATA body reader (RFC 5321 4.1.1.4, 4.5.2): finds the `<CRLF>.<CRLF>` end with memchr, removes
//! dot-stuffing while copying the bytes once into the message buffer, normalizes line ends, and enforces
//! the size limit without holding an oversized body in memory.
//!
//! Only `<CRLF>.<CRLF>` ends the data, and only a dot after CRLF is unstuffed: a bare LF never starts a
//! line here, so a lone `<LF>.<LF>` or `<LF>.<CRLF>` cannot end the message early (the SMTP smuggling
//! family of attacks depends on servers that accept those).
//!
//! Line ends: a stored message has CRLF line ends only (RFC 5322 2.1; IMAP sizes and clients assume it).
//! A bare LF or a bare CR in the body is stored as CRLF, as Postfix's `smtpd_forbid_bare_newline =
//! normalize` does; it still does not start a line for unstuffing or for the end of the data. BDAT
//! chunks get the same normalization (their octet counts are what the client sent).

use memchr::memchr2;

/// Incremental state across reads.
#[derive(Debug, Clone)]
pub struct DataReader {
    /// The next byte starts a line (the data so far ended in CRLF, or nothing came yet).
    at_line_start: bool,
    /// The last input ended in a CR: whether it is half of a CRLF depends on the next byte.
    pending_cr: bool,
    /// Bytes of body seen (after unstuffing and normalization), counted even when no longer kept.
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
            pending_cr: false,
            seen: 0,
            limit,
        }
    }

    /// Whether the body exceeded the limit (nothing of it is kept then).
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
        if self.pending_cr {
            let Some(&next) = input.first() else {
                return Progress {
                    used: 0,
                    done: false,
                };
            };
            self.pending_cr = false;
            self.keep(b"\r\n", out);
            if next == b'\n' {
                i = 1;
                self.at_line_start = true;
            }
        }
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
                    _ => i += 1,
                }
            }
            self.at_line_start = false;
            // Copy up to the next line end at once (one memchr2 per line).
            let Some(off) = memchr2(b'\r', b'\n', &input[i..]) else {
                self.keep(&input[i..], out);
                i = input.len();
                break;
            };
            let end = i + off;
            self.keep(&input[i..end], out);
            match (input[end], input.get(end + 1)) {
                (b'\r', Some(b'\n')) => {
                    self.keep(b"\r\n", out);
                    self.at_line_start = true;
                    i = end + 2;
                }
                (b'\r', None) => {
                    self.pending_cr = true;
                    i = end + 1;
                }
                // A bare CR or a bare LF: stored as CRLF, but not a line start on the wire.
                _ => {
                    self.keep(b"\r\n", out);
                    i = end + 1;
                }
            }
        }
        Progress {
            used: i,
            done: false,
        }
    }

    fn keep(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let n = chunk.len() as u64;
        if self.seen + n > self.limit {
            if self.seen <= self.limit {
                // Over the limit: the message will be refused, so nothing of it is held from here on
                // (the memory goes back now, not after the client has sent the rest).
                release(out, 0);
            }
        } else {
            out.extend_from_slice(chunk);
        }
        self.seen += n;
    }
}

/// Above this, freeing a buffer also hands the allocator's free pages back to the kernel.
const TRIM_AFTER: usize = 4 << 20;

/// Empties `buf`; when its capacity is above `keep`, frees it, and after a large buffer hands the
/// memory back to the kernel (see [`crate::mem::free_and_trim`]); without this, the memory of a few
/// large or oversized messages would stay in the process while their sessions sit idle.
pub fn release(buf: &mut Vec<u8>, keep: usize) {
    let cap = buf.capacity();
    if cap <= keep {
        buf.clear();
        return;
    }
    let old = std::mem::take(buf);
    if cap >= TRIM_AFTER {
        crate::mem::free_and_trim(old);
    }
}

/// A BDAT chunk being read (RFC 3030 2): exactly `remaining` octets, no unstuffing, binary allowed;
/// line ends normalized to CRLF like DATA's (a CR ending one chunk pairs with an LF starting the next).
#[derive(Debug, Clone, Copy, Default)]
pub struct ChunkReader {
    pub remaining: u64,
    /// The kept bytes so far end in a CR whose LF has not been seen (it is not in `out` yet).
    pub pending_cr: bool,
}

impl ChunkReader {
    /// The next chunk of the same message.
    pub fn next(self, size: u64) -> ChunkReader {
        ChunkReader {
            remaining: size,
            pending_cr: self.pending_cr,
        }
    }

    /// Takes up to `remaining` bytes of `input`; appends them (normalized) to `out` when `keep`.
    /// Returns bytes used.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, keep: bool) -> usize {
        let take = (input.len() as u64).min(self.remaining) as usize;
        if keep {
            self.normalize_into(&input[..take], out);
        }
        self.remaining -= take as u64;
        take
    }

    /// The message is complete: a CR left pending becomes a line end of its own.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.extend_from_slice(b"\r\n");
        }
    }

    fn normalize_into(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if self.pending_cr && !input.is_empty() {
            self.pending_cr = false;
            out.extend_from_slice(b"\r\n");
            if input[0] == b'\n' {
                input = &input[1..];
            }
        }
        while let Some(off) = memchr2(b'\r', b'\n', input) {
            out.extend_from_slice(&input[..off]);
            match (input[off], input.get(off + 1)) {
                (b'\r', Some(b'\n')) => {
                    out.extend_from_slice(b"\r\n");
                    input = &input[off + 2..];
                }
                (b'\r', None) => {
                    self.pending_cr = true;
                    input = &[];
                }
                _ => {
                    out.extend_from_slice(b"\r\n");
                    input = &input[off + 1..];
                }
            }
        }
        out.extend_from_slice(input);
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
    fn bare_lf_never_ends_or_unstuffs_and_is_stored_as_crlf() {
        let (body, _, done, _) = read_split(b"a\n.\nb\r\n.x\n.\r\nc\r\n.\r\n", &[], 1000);
        assert!(done);
        assert_eq!(body, b"a\r\n.\r\nb\r\nx\r\n.\r\nc\r\n");
        // Smuggling shapes: none ends the data, whatever the split.
        let input = b"x\n.\n\r.\r\n\n.\r\ny\r.\r\nz\r\n.\r\n";
        for a in 0..input.len() {
            let (body, used, done, _) = read_split(input, &[a], 1000);
            assert!(done && used == input.len(), "split {a}");
            assert_eq!(
                body, b"x\r\n.\r\n\r\n.\r\n\r\n.\r\ny\r\n.\r\nz\r\n",
                "split {a}"
            );
        }
    }

    #[test]
    fn bare_cr_is_stored_as_crlf_at_any_split() {
        let input = b"a\rb\r\r\nc\r";
        for a in 0..=input.len() {
            let (body, _, done, _) = read_split(input, &[a], 1000);
            assert!(!done);
            // The final CR waits for the next byte.
            assert_eq!(body, b"a\r\nb\r\n\r\nc", "split {a}");
        }
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
        // Nothing of a refused body is held, not even the part under the limit.
        assert!(body.is_empty() && body.capacity() == 0);
    }

    #[test]
    fn chunks_take_exactly_their_size() {
        let mut c = ChunkReader {
            remaining: 5,
            pending_cr: false,
        };
        let mut out = Vec::new();
        assert_eq!(c.feed(b"ab", &mut out, true), 2);
        assert_eq!(c.feed(b"c\r\n.\r\nRSET", &mut out, true), 3);
        assert!(c.done());
        assert_eq!(out, b"abc\r\n");
        let mut d = ChunkReader {
            remaining: 3,
            pending_cr: false,
        };
        assert_eq!(d.feed(b"xyzw", &mut out, false), 3);
        assert_eq!(out, b"abc\r\n");
    }

    #[test]
    fn chunks_normalize_line_ends_across_chunks() {
        let mut out = Vec::new();
        let mut c = ChunkReader::default().next(4);
        assert_eq!(c.feed(b"a\nb\r", &mut out, true), 4);
        assert_eq!(out, b"a\r\nb");
        let mut c = c.next(3);
        assert_eq!(c.feed(b"\nc\r", &mut out, true), 3);
        c.finish(&mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
        let mut out = Vec::new();
        let mut c = ChunkReader::default().next(2);
        c.feed(b"\r\r", &mut out, true);
        let mut c = c.next(1);
        c.feed(b"x", &mut out, true);
        c.finish(&mut out);
        assert_eq!(out, b"\r\n\r\nx");
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

    /// Every bare CR and bare LF as CRLF: the reference for what is stored.
    fn crlf_only(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < body.len() {
            match (body[i], body.get(i + 1)) {
                (b'\r', Some(b'\n')) => {
                    out.extend_from_slice(b"\r\n");
                    i += 2;
                    continue;
                }
                (b'\r', _) | (b'\n', _) => out.extend_from_slice(b"\r\n"),
                (b, _) => out.push(b),
            }
            i += 1;
        }
        out
    }

    proptest! {
        /// What is stored has no bare CR or LF, at any split, whatever came in.
        #[test]
        fn stored_bodies_have_crlf_line_ends_only(
            input in proptest::collection::vec(prop::sample::select(vec![b'a', b'.', b'\r', b'\n']), 0..200),
            splits in proptest::collection::vec(0usize..220, 0..4),
        ) {
            let mut wire = input.clone();
            wire.extend_from_slice(b"\r\n.\r\n");
            let (got, _, done, _) = read_split(&wire, &splits, 1 << 20);
            prop_assert!(done);
            for (i, &b) in got.iter().enumerate() {
                if b == b'\r' {
                    prop_assert_eq!(got.get(i + 1), Some(&b'\n'));
                }
                if b == b'\n' {
                    prop_assert!(i > 0 && got[i - 1] == b'\r');
                }
            }
            let mut chunked = Vec::new();
            let mut c = ChunkReader::default();
            for part in input.chunks(splits.first().copied().unwrap_or(7).max(1)) {
                c = c.next(part.len() as u64);
                c.feed(part, &mut chunked, true);
            }
            c.finish(&mut chunked);
            prop_assert_eq!(chunked, crlf_only(&input));
        }

        #[test]
        fn unstuffing_inverts_stuffing_at_any_split(
            body in proptest::collection::vec(prop::sample::select(vec![b'a', b'.', b'\r', b'\n', 0u8, 0xff]), 0..200),
            splits in proptest::collection::vec(0usize..220, 0..4),
        ) {
            let wire = stuff(&body);
            let mut expected = crlf_only(&body);
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
