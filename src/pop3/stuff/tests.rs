//! Tests of the dot-stuffer: fixed cases, and properties over random messages cut into random
//! chunks (unstuffing gives the input back; TOP agrees with a line-by-line reference).

use super::*;
use proptest::prelude::*;

fn stuffed(s: Stuffer, message: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    stuff_to_vec(s, message, chunk, &mut out);
    out
}

/// What a client does with a multi-line reply (RFC 1939 3): lines up to the one that is `.` alone;
/// a leading `.` of any other line removed. `None` if the terminator is missing or not at the end.
fn unstuff(reply: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = reply;
    loop {
        let lf = memchr::memchr(b'\n', rest)?;
        let line = &rest[..=lf];
        rest = &rest[lf + 1..];
        if line == b".\r\n" {
            return rest.is_empty().then_some(out);
        }
        match line.first() {
            Some(b'.') => out.extend_from_slice(&line[1..]),
            _ => out.extend_from_slice(line),
        }
    }
}

/// TOP by the book, on the whole message at once: header lines up to and including the first blank
/// line, then `n` more lines.
fn top_reference(message: &[u8], n: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut in_body = false;
    let mut left = n;
    for line in message.split_inclusive(|&b| b == b'\n') {
        if in_body {
            if left == 0 {
                break;
            }
            left -= 1;
        }
        out.extend_from_slice(line);
        if !in_body && (line == b"\r\n" || line == b"\n") {
            in_body = true;
        }
    }
    out
}

#[test]
fn retr_stuffs_dots_at_line_starts_only() {
    let m = b".first\r\nmid.dle\r\n..two\r\n.\r\nend";
    assert_eq!(
        stuffed(Stuffer::all(), m, 1 << 20),
        b"..first\r\nmid.dle\r\n...two\r\n..\r\nend\r\n.\r\n".to_vec()
    );
    assert_eq!(stuffed(Stuffer::all(), b"", 7), b".\r\n".to_vec());
    assert_eq!(stuffed(Stuffer::all(), b"a\r\n", 7), b"a\r\n.\r\n".to_vec());
}

#[test]
fn a_line_start_straddling_two_chunks_is_stuffed() {
    let m = b"ab\r\n.c\r\n";
    for cut in 1..m.len() {
        let mut s = Stuffer::all();
        let mut out = Vec::new();
        for c in [&m[..cut], &m[cut..]] {
            s.feed(c, &mut |p| match p {
                Piece::Chunk(r) => out.extend_from_slice(&c[r]),
                Piece::Lit(l) => out.extend_from_slice(l),
            });
        }
        s.finish(&mut |p| {
            if let Piece::Lit(l) = p {
                out.extend_from_slice(l)
            }
        });
        assert_eq!(out, b"ab\r\n..c\r\n.\r\n".to_vec(), "cut at {cut}");
    }
}

#[test]
fn top_sends_the_header_the_blank_line_and_n_body_lines() {
    let m = b"Subject: x\r\n.Odd: y\r\n\r\none\r\n.two\r\nthree\r\n";
    assert_eq!(
        stuffed(Stuffer::top(0), m, 3),
        b"Subject: x\r\n..Odd: y\r\n\r\n.\r\n".to_vec()
    );
    assert_eq!(
        stuffed(Stuffer::top(2), m, 5),
        b"Subject: x\r\n..Odd: y\r\n\r\none\r\n..two\r\n.\r\n".to_vec()
    );
    assert_eq!(
        stuffed(Stuffer::top(100), m, 1),
        b"Subject: x\r\n..Odd: y\r\n\r\none\r\n..two\r\nthree\r\n.\r\n".to_vec()
    );
    // No blank line: the whole message is header.
    assert_eq!(
        stuffed(Stuffer::top(0), b"A: b\r\nC: d", 2),
        b"A: b\r\nC: d\r\n.\r\n".to_vec()
    );
}

#[test]
fn top_finds_a_blank_line_split_after_its_cr() {
    let m = b"A: b\r\n\r\nbody\r\nmore\r\n";
    for chunk in 1..m.len() {
        assert_eq!(
            stuffed(Stuffer::top(1), m, chunk),
            b"A: b\r\n\r\nbody\r\n.\r\n".to_vec(),
            "chunk {chunk}"
        );
    }
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop::sample::select(vec![b'.', b'\r', b'\n', b'a', b'.', b'\n']),
        0..300,
    )
}

proptest! {
    #[test]
    fn unstuffing_retr_gives_the_message_back(m in message(), chunk in 1usize..64) {
        let out = stuffed(Stuffer::all(), &m, chunk);
        let back = unstuff(&out);
        let mut want = m.clone();
        if !m.is_empty() && !m.ends_with(b"\n") {
            want.extend_from_slice(b"\r\n");
        }
        // A message whose last line ends in a bare CR gains "\r\n" after it: still a round trip
        // of every byte it had.
        prop_assert_eq!(back, Some(want));
    }

    #[test]
    fn top_agrees_with_the_reference(m in message(), chunk in 1usize..64, n in 0u32..8) {
        let out = stuffed(Stuffer::top(n), &m, chunk);
        let mut want = top_reference(&m, n);
        if !want.is_empty() && !want.ends_with(b"\n") {
            want.extend_from_slice(b"\r\n");
        }
        prop_assert_eq!(unstuff(&out), Some(want));
    }

    #[test]
    fn chunking_does_not_change_the_output(m in message(), chunk in 1usize..64) {
        prop_assert_eq!(stuffed(Stuffer::all(), &m, chunk), stuffed(Stuffer::all(), &m, usize::MAX));
    }
}
