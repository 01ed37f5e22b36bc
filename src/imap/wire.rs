//! IMAP strings on the wire (RFC 9051 4.3, RFC 3501 4.3): the one place that decides between an atom,
//! a quoted string and a literal, shared by the response encoder and the ENVELOPE/BODYSTRUCTURE writer.
//!
//! Quoted strings carry 7-bit text without CR, LF or NUL, with `"` and `\` escaped; anything else
//! (8-bit bytes included, which RFC 3501 quoted strings cannot hold) goes out as a literal. Long strings
//! are literals too: a client reads them without scanning for the closing quote.
//!
//! NUL: RFC 9051 9 defines a literal's octets as `CHAR8` (%x01-ff), and RFC 3516 keeps NUL for
//! `literal8`, which only BINARY responses may use. A `string` holding NUL (a header with a raw NUL
//! byte, say) therefore goes out as a literal with each NUL replaced by 0x80: the length and every
//! other octet stay as stored, the text is visibly not clean, and Dovecot does the same, so clients
//! see one behaviour from both. Callers that write literal8 (`~{n}`) use [`literal`], which copies
//! the bytes as they are.
//!
//! Speed: strings are checked and copied in runs (`is_ascii`, `memchr`), not byte by byte; ENVELOPE
//! and BODYSTRUCTURE are mostly such strings.

use memchr::{memchr, memchr2, memchr3};

/// Longest string sent quoted; longer ones are literals.
const QUOTED_MAX: usize = 1024;

/// What replaces NUL inside a `string` literal (see the module comment).
const NUL_STAND_IN: u8 = 0x80;

/// Can `s` go out as a quoted string (RFC 3501 9 `QUOTED-CHAR`: 7-bit `TEXT-CHAR`, no NUL, CR, LF)?
pub fn quotable(s: &[u8]) -> bool {
    s.len() <= QUOTED_MAX && s.is_ascii() && memchr3(0, b'\r', b'\n', s).is_none()
}

/// Can `s` go out as an atom (RFC 9051 9 `atom`: no specials, no CTL, not empty)? `NIL` is not an atom
/// for our purpose: as an astring it would be read back as NIL by some clients.
pub fn atom(s: &[u8]) -> bool {
    !s.is_empty()
        && !s.eq_ignore_ascii_case(b"NIL")
        && s.iter().all(|&b| {
            (0x21..0x7f).contains(&b)
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

/// `string`: quoted when it can be, a literal otherwise (NUL replaced, see the module comment).
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        let mut rest = s;
        // RFC 9051 4.3: `"` and `\` are the only quoted-specials; copy the runs between them.
        while let Some(i) = memchr2(b'"', b'\\', rest) {
            out.extend_from_slice(&rest[..i]);
            out.push(b'\\');
            out.push(rest[i]);
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
        out.push(b'"');
    } else {
        literal_text(out, s);
    }
}

/// `{n}\r\n` and the bytes with each NUL replaced (see the module comment): a literal that can hold
/// any stored bytes (BODY[] of a message appended with NUL through literal8, RFC 3516).
pub fn literal_text(out: &mut Vec<u8>, s: &[u8]) {
    literal_header(out, s.len());
    let at = out.len();
    out.extend_from_slice(s);
    let mut from = at;
    while let Some(i) = memchr(0, &out[from..]) {
        out[from + i] = NUL_STAND_IN;
        from += i + 1;
    }
}

/// `{n}\r\n` followed by the bytes as they are (a caller that may hold NUL writes `~` before it:
/// RFC 3516 literal8).
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    literal_header(out, s.len());
    out.extend_from_slice(s);
}

/// `{n}\r\n` alone, for a caller that writes the `n` bytes itself (from the mmap).
pub fn literal_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'{');
    number(out, n as u64);
    out.extend_from_slice(b"}\r\n");
}

/// A decimal number without allocating (`number64`, RFC 9051 9).
pub fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `nstring`: `NIL` for `None`.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `astring`: an atom when it can be, a string otherwise.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if atom(s) {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: fn(&mut Vec<u8>, &[u8]), s: &[u8]) -> String {
        let mut out = Vec::new();
        f(&mut out, s);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings_choose_their_form() {
        assert_eq!(enc(string, b"hello world"), "\"hello world\"");
        assert_eq!(enc(string, b"a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(enc(string, b""), "\"\"");
        assert_eq!(enc(string, b"two\r\nlines"), "{10}\r\ntwo\r\nlines");
        assert_eq!(enc(string, "café".as_bytes()), "{5}\r\ncafé");
        // RFC 9051 9: a literal holds CHAR8 (no NUL); NUL becomes 0x80 (module comment).
        let mut out = Vec::new();
        string(&mut out, b"a\0b\0");
        assert_eq!(out, b"{4}\r\na\x80b\x80");
        assert_eq!(enc(astring, b"INBOX"), "INBOX");
        assert_eq!(enc(astring, b"NIL"), "\"NIL\"");
        assert_eq!(enc(astring, b"a b"), "\"a b\"");
        assert_eq!(enc(astring, b"x]"), "\"x]\"");
        let mut out = Vec::new();
        nstring(&mut out, None);
        assert_eq!(out, b"NIL");
        let long = vec![b'a'; QUOTED_MAX + 1];
        assert!(enc(string, &long).starts_with("{1025}\r\n"));
    }

    /// Reads back what `string` wrote: the quoted form unescaped, or the literal's octets.
    fn read_back(out: &[u8]) -> Vec<u8> {
        if let Some(q) = out.strip_prefix(b"\"") {
            let q = q
                .strip_suffix(b"\"")
                .expect("a quoted string ends with a quote");
            let mut v = Vec::new();
            let mut esc = false;
            for &b in q {
                if !esc && b == b'\\' {
                    esc = true;
                    continue;
                }
                assert!(esc || b != b'"', "unescaped quote inside");
                esc = false;
                v.push(b);
            }
            v
        } else {
            let close = out.iter().position(|&b| b == b'}').expect("literal header");
            let n: usize = std::str::from_utf8(&out[1..close])
                .unwrap()
                .parse()
                .unwrap();
            let body = &out[close + 3..];
            assert_eq!(body.len(), n, "the literal's length counts its octets");
            assert!(!body.contains(&0), "RFC 9051 9: no NUL in a literal");
            body.to_vec()
        }
    }

    #[test]
    fn numbers_are_decimal() {
        for n in [0u64, 7, 10, 99, 1024, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    proptest::proptest! {
        #[test]
        fn strings_read_back_as_written(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1100)) {
            let mut out = Vec::new();
            string(&mut out, &s);
            let want: Vec<u8> = s.iter().map(|&b| if b == 0 { NUL_STAND_IN } else { b }).collect();
            proptest::prop_assert_eq!(read_back(&out), want);
            proptest::prop_assert_eq!(out.first() == Some(&b'"'), quotable(&s));
        }

        #[test]
        fn quoted_text_round_trips(s in "[ -~]{0,300}") {
            let mut out = Vec::new();
            string(&mut out, s.as_bytes());
            proptest::prop_assert_eq!(out[0], b'"');
            proptest::prop_assert_eq!(read_back(&out), s.as_bytes());
        }
    }
}
