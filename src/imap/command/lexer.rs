//! The token layer of the command grammar (RFC 9051 9, RFC 3501 9): SP, CRLF, atoms, numbers, quoted
//! strings, literals (RFC 9051 4.3, LITERAL+ RFC 7888, literal8 RFC 3516 4.4) over one assembled
//! command, borrowing from it.
//!
//! Running out of input is `Error::Incomplete` (the receiver uses it to validate a command prefix before
//! it asks for a synchronizing literal); every other failure is a syntax error with a fixed reason.

use std::borrow::Cow;

use super::{Error, Limits, Options};
use crate::imap::types::Str;

/// RFC 9051 9 `atom-specials` minus what `ASTRING-CHAR` allows back: is `b` an `ATOM-CHAR`?
#[inline]
pub fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b)
        && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials`
#[inline]
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials` (LIST patterns).
#[inline]
fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// Largest `number64` (RFC 9051 9: 0 <= n <= 9,223,372,036,854,775,807).
const NUMBER64_MAX: u64 = i64::MAX as u64;

pub struct Cursor<'a, 'o> {
    pub buf: &'a [u8],
    pub pos: usize,
    pub opts: &'o Options,
    /// Items (search keys, fetch attributes, flags, patterns, ...) read so far, against `Limits::max_items`.
    pub items: usize,
    pub depth: usize,
}

pub type PResult<T> = Result<T, Error>;

impl<'a, 'o> Cursor<'a, 'o> {
    pub fn new(buf: &'a [u8], opts: &'o Options) -> Self {
        Cursor {
            buf,
            pos: 0,
            opts,
            items: 0,
            depth: 0,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.opts.limits
    }

    #[inline]
    pub fn peek(&self) -> PResult<u8> {
        self.buf.get(self.pos).copied().ok_or(Error::Incomplete)
    }

    #[inline]
    pub fn peek_is(&self, b: u8) -> bool {
        self.buf.get(self.pos) == Some(&b)
    }

    /// One more item against `Limits::max_items` (RFC 9051 7.1 `LIMIT` when exceeded).
    pub fn item(&mut self) -> PResult<()> {
        self.items += 1;
        if self.items > self.opts.limits.max_items {
            return Err(Error::Limit("too many items in one command"));
        }
        Ok(())
    }

    /// Enter a nested level (parentheses, NOT, OR), bounded by `Limits::max_depth`.
    pub fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.opts.limits.max_depth {
            return Err(Error::Limit("nesting too deep"));
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub fn expect(&mut self, b: u8, reason: &'static str) -> PResult<()> {
        if self.peek()? == b {
            self.pos += 1;
            Ok(())
        } else {
            Err(Error::Syntax(reason))
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")
    }

    /// Consume `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek_is(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The command's final CRLF, which must end the input.
    pub fn crlf_end(&mut self) -> PResult<()> {
        self.eol("unexpected characters at the end of the command")?;
        if self.pos != self.buf.len() {
            return Err(Error::Syntax("data after the end of the command"));
        }
        Ok(())
    }

    fn eol(&mut self, reason: &'static str) -> PResult<()> {
        match self.peek()? {
            b'\r' => {
                self.pos += 1;
                self.expect(b'\n', "CR without LF")
            }
            b'\n' => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(Error::Syntax(reason)),
        }
    }

    /// The bytes while `f` holds (possibly empty); running into the end of input is `Incomplete`.
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> PResult<&'a [u8]> {
        let start = self.pos;
        let rest = &self.buf[start..];
        match rest.iter().position(|&b| !f(b)) {
            Some(n) => {
                self.pos += n;
                Ok(&rest[..n])
            }
            None => Err(Error::Incomplete),
        }
    }

    /// `atom` (1*ATOM-CHAR) as text.
    pub fn atom(&mut self) -> PResult<&'a str> {
        let s = self.take_while(is_atom_char)?;
        if s.is_empty() {
            return Err(Error::Syntax("expected an atom"));
        }
        ascii(s)
    }

    /// A run of `ASTRING-CHAR`s, possibly empty.
    pub fn astring_chars(&mut self) -> PResult<&'a [u8]> {
        self.take_while(is_astring_char)
    }

    /// A keyword: the atom that follows, for case-insensitive comparison by the caller.
    pub fn keyword(&mut self) -> PResult<&'a [u8]> {
        let s = self.take_while(is_atom_char)?;
        if s.is_empty() {
            return Err(Error::Syntax("expected a keyword"));
        }
        Ok(s)
    }

    /// Does the input continue with `word` (case-insensitively) followed by something not an atom char?
    /// Consumes it when it does.
    pub fn eat_word(&mut self, word: &[u8]) -> bool {
        let end = self.pos + word.len();
        match self.buf.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(word) => {
                if self.buf.get(end).is_some_and(|&b| is_atom_char(b)) {
                    return false;
                }
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    /// `number64` (RFC 9051 9).
    pub fn number64(&mut self) -> PResult<u64> {
        let digits = self.take_while(|b| b.is_ascii_digit())?;
        parse_u64(digits)
            .filter(|&n| n <= NUMBER64_MAX)
            .ok_or(Error::Syntax("expected a number"))
    }

    /// `number` (32 bits).
    pub fn number(&mut self) -> PResult<u32> {
        let n = self.number64()?;
        u32::try_from(n).map_err(|_| Error::Syntax("number too large"))
    }

    /// `nz-number`.
    pub fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err(Error::Syntax("zero where a non-zero number is required")),
            n => Ok(n),
        }
    }

    /// `mod-sequence-value` (RFC 7162 7: 1*DIGIT, at most 2^63-1), zero allowed (`mod-sequence-valzer`).
    pub fn modseq(&mut self) -> PResult<u64> {
        self.number64()
    }

    /// `string = quoted / literal`.
    pub fn string(&mut self) -> PResult<Str<'a>> {
        match self.peek()? {
            b'"' => self.quoted(),
            b'{' => self.literal().map(Cow::Borrowed),
            _ => Err(Error::Syntax("expected a string")),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`.
    pub fn astring(&mut self) -> PResult<Str<'a>> {
        match self.peek()? {
            b'"' | b'{' => self.string(),
            _ => {
                let s = self.astring_chars()?;
                if s.is_empty() {
                    return Err(Error::Syntax("expected an atom or a string"));
                }
                Ok(Cow::Borrowed(s))
            }
        }
    }

    /// `nstring = string / nil`.
    pub fn nstring(&mut self) -> PResult<Option<Str<'a>>> {
        if self.eat_word(b"NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `list-mailbox = 1*list-char / string` (RFC 9051 9).
    pub fn list_mailbox(&mut self) -> PResult<Str<'a>> {
        match self.peek()? {
            b'"' | b'{' => self.string(),
            _ => {
                let s = self.take_while(is_list_char)?;
                if s.is_empty() {
                    return Err(Error::Syntax("expected a mailbox pattern"));
                }
                Ok(Cow::Borrowed(s))
            }
        }
    }

    /// `mailbox = "INBOX" / astring`: INBOX is case-insensitive (RFC 9051 5.1), so any spelling comes
    /// back as `INBOX`; other names are returned as sent.
    pub fn mailbox(&mut self) -> PResult<Str<'a>> {
        let s = self.astring()?;
        if s.eq_ignore_ascii_case(b"INBOX") {
            return Ok(Cow::Borrowed(b"INBOX"));
        }
        Ok(s)
    }

    /// `quoted` (RFC 9051 9): `\"` and `\\` are the only escapes. 8-bit bytes are accepted (UTF-8 under
    /// IMAP4rev2 and UTF8=ACCEPT; rev1 clients send them too); CR, LF and NUL are not.
    pub fn quoted(&mut self) -> PResult<Str<'a>> {
        self.expect(b'"', "expected a quoted string")?;
        let start = self.pos;
        let rest = &self.buf[start..];
        let mut i = match memchr::memchr3(b'"', b'\\', b'\n', rest) {
            Some(i) => i,
            None => return Err(Error::Incomplete),
        };
        check_quoted(&rest[..i])?;
        if rest[i] == b'"' {
            let s = &rest[..i];
            self.pos = start + i + 1;
            return Ok(Cow::Borrowed(s));
        }
        // Escapes: unescape into an owned copy.
        let mut out = Vec::with_capacity(i + 16);
        out.extend_from_slice(&rest[..i]);
        loop {
            match rest.get(i) {
                None => return Err(Error::Incomplete),
                Some(b'"') => break,
                Some(b'\\') => match rest.get(i + 1) {
                    Some(&c @ (b'"' | b'\\')) => {
                        out.push(c);
                        i += 2;
                    }
                    None => return Err(Error::Incomplete),
                    Some(_) => return Err(Error::Syntax("invalid escape in a quoted string")),
                },
                Some(&c) => {
                    if matches!(c, b'\r' | b'\n' | 0) {
                        return Err(Error::Syntax("invalid character in a quoted string"));
                    }
                    out.push(c);
                    i += 1;
                }
            }
        }
        self.pos = start + i + 1;
        Ok(Cow::Owned(out))
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8`: the data, borrowed. The receiver has checked the
    /// size against the limits and LITERAL-; here only the bounds matter.
    pub fn literal(&mut self) -> PResult<&'a [u8]> {
        self.expect(b'{', "expected a literal")?;
        let data = self.literal_rest()?;
        // RFC 9051 4.3, 9 (CHAR8 = %x01-ff): NUL travels only in literal8, where BINARY allows it.
        if memchr::memchr(0, data).is_some() {
            return Err(Error::Syntax(
                "NUL in a literal (only literal8 may carry one)",
            ));
        }
        Ok(data)
    }

    /// `literal8 = "~{" number64 "}" CRLF *OCTET` (RFC 3516 4.4; `{n+}` is allowed there too, RFC 7888).
    pub fn literal8(&mut self) -> PResult<&'a [u8]> {
        self.expect(b'~', "expected a literal8")?;
        self.expect(b'{', "expected a literal8")?;
        self.literal_rest()
    }

    fn literal_rest(&mut self) -> PResult<&'a [u8]> {
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "invalid literal header")?;
        self.eol("a literal header must end the line")?;
        let len = usize::try_from(n).map_err(|_| Error::Syntax("literal too large"))?;
        let end = self.pos.checked_add(len).ok_or(Error::Incomplete)?;
        let data = self.buf.get(self.pos..end).ok_or(Error::Incomplete)?;
        self.pos = end;
        Ok(data)
    }

    /// A parenthesized, space-separated list of at least `min` elements, each read by `f`.
    pub fn paren_list<T>(
        &mut self,
        min: usize,
        mut f: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(', "expected '('")?;
        let mut out = Vec::new();
        if self.eat(b')') {
            if min > 0 {
                return Err(Error::Syntax("empty list"));
            }
            return Ok(out);
        }
        loop {
            self.item()?;
            out.push(f(self)?);
            match self.peek()? {
                b' ' => self.pos += 1,
                b')' => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(Error::Syntax("expected a space or ')' in a list")),
            }
        }
        Ok(out)
    }
}

fn check_quoted(s: &[u8]) -> PResult<()> {
    if memchr::memchr2(b'\r', 0, s).is_some() {
        return Err(Error::Syntax("invalid character in a quoted string"));
    }
    Ok(())
}

/// ASCII bytes as text (callers pass only atom characters).
pub fn ascii(s: &[u8]) -> PResult<&str> {
    std::str::from_utf8(s).map_err(|_| Error::Syntax("non-ASCII atom"))
}

/// Decimal digits to a number, `None` when empty or overflowing.
pub fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(s: &[u8]) -> Cursor<'_, 'static> {
        static OPTS: std::sync::OnceLock<Options> = std::sync::OnceLock::new();
        Cursor::new(s, OPTS.get_or_init(Options::default))
    }

    #[test]
    fn quoted_strings_borrow_unless_escaped() {
        let mut c = cur(b"\"abc\" ");
        assert!(matches!(c.quoted(), Ok(Cow::Borrowed(b"abc"))));
        let mut c = cur(b"\"a\\\"b\\\\c\" ");
        assert_eq!(c.quoted().ok().as_deref(), Some(&b"a\"b\\c"[..]));
        assert_eq!(
            cur(b"\"a\\nb\" ").quoted(),
            Err(Error::Syntax("invalid escape in a quoted string"))
        );
        assert_eq!(cur(b"\"abc").quoted(), Err(Error::Incomplete));
        assert!(matches!(
            cur(b"\"ab\ncd\" ").quoted(),
            Err(Error::Syntax(_))
        ));
        assert!(matches!(
            cur(b"\"a\\\"b\ncd\" ").quoted(),
            Err(Error::Syntax(_))
        ));
        assert_eq!(
            cur("\"café\" ".as_bytes()).quoted().ok().as_deref(),
            Some("café".as_bytes())
        );
    }

    #[test]
    fn literals_borrow_their_data() {
        let mut c = cur(b"{5}\r\nhello ");
        assert_eq!(c.literal(), Ok(&b"hello"[..]));
        assert_eq!(c.pos, 10);
        assert_eq!(cur(b"{5+}\r\nhel").literal(), Err(Error::Incomplete));
        assert_eq!(cur(b"~{3}\r\na\0b").literal8(), Ok(&b"a\0b"[..]));
        assert!(matches!(cur(b"{5} x").literal(), Err(Error::Syntax(_))));
        assert!(matches!(
            cur(b"{99999999999999999999}\r\n").literal(),
            Err(Error::Syntax(_))
        ));
    }

    #[test]
    fn numbers_and_words() {
        assert_eq!(cur(b"4294967295 ").number(), Ok(u32::MAX));
        assert!(matches!(
            cur(b"4294967296 ").number(),
            Err(Error::Syntax(_))
        ));
        assert!(matches!(cur(b"0 ").nz_number(), Err(Error::Syntax(_))));
        assert_eq!(cur(b"9223372036854775807 ").modseq(), Ok(i64::MAX as u64));
        assert!(matches!(
            cur(b"9223372036854775808 ").modseq(),
            Err(Error::Syntax(_))
        ));
        let mut c = cur(b"fetch ");
        assert!(c.eat_word(b"FETCH"));
        let mut c = cur(b"FETCHX ");
        assert!(!c.eat_word(b"FETCH"));
        assert_eq!(c.pos, 0);
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(
            cur(b"inBox ").mailbox().ok().as_deref(),
            Some(&b"INBOX"[..])
        );
        assert_eq!(
            cur(b"\"inbox\" ").mailbox().ok().as_deref(),
            Some(&b"INBOX"[..])
        );
        assert_eq!(
            cur(b"inbox/x ").mailbox().ok().as_deref(),
            Some(&b"inbox/x"[..])
        );
    }
}
