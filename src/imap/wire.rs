//! IMAP strings on the wire (RFC 9051 4.3, RFC 3501 4.3): the one place that decides between an atom,
//! a quoted string and a literal, shared by the response encoder and the ENVELOPE/BODYSTRUCTURE writer.
//!
//! Quoted strings carry 7-bit text without CR, LF or NUL, with `"` and `\` escaped; anything else
//! (8-bit bytes included, which RFC 3501 quoted strings cannot hold) goes out as a literal. Long strings
//! are literals too: a client reads them without scanning for the closing quote.

/// Longest string sent quoted; longer ones are literals.
const QUOTED_MAX: usize = 1024;

/// Can `s` go out as a quoted string?
pub fn quotable(s: &[u8]) -> bool {
    s.len() <= QUOTED_MAX
        && s.iter()
            .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
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

/// `string`: quoted when it can be, a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// `{n}\r\n` followed by the bytes.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    literal_header(out, s.len());
    out.extend_from_slice(s);
}

/// `{n}\r\n` alone, for a caller that writes the `n` bytes itself (from the mmap).
pub fn literal_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'{');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
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
        assert_eq!(enc(string, &[0u8]), "{1}\r\n\0");
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
}
