//! A small, strict IMAP response reader for tests: it splits encoded output into responses and their
//! tokens (atoms, strings, lists), so tests check that every string we send reads back as the same
//! bytes and that no response spills into the next. It is stricter than a client needs to be: double
//! spaces, bad escapes, bare CR or LF, and literals that run past the end are errors.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An atom or number, with any `[...]` and `<n>` it carries (`BODY[HEADER.FIELDS (A)]<0>`).
    Atom(Vec<u8>),
    /// A quoted string (unescaped) or a literal (`{n}` or `~{n}`).
    Str(Vec<u8>),
    List(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `tag OK [code] text`, `* NO ...`, `* BYE ...`; `tag` is `*` for untagged.
    Status {
        tag: String,
        cond: String,
        /// The code's bytes between the brackets (its text part is free text, not tokens).
        code: Option<Vec<u8>>,
        text: Vec<u8>,
    },
    /// `* ...` data, tokens after the `*`.
    Data(Vec<Tok>),
    /// `+ text`
    Continue(Vec<u8>),
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

type R<T> = Result<T, String>;

/// Reads every response in `b`; the input must end at a response boundary.
pub fn read_all(b: &[u8]) -> R<Vec<Response>> {
    let mut r = Reader { b, i: 0 };
    let mut out = Vec::new();
    while r.i < b.len() {
        out.push(r.response()?);
    }
    Ok(out)
}

/// Reads exactly one response.
pub fn read_one(b: &[u8]) -> R<Response> {
    let mut v = read_all(b)?;
    if v.len() != 1 {
        return Err(format!("{} responses, wanted one", v.len()));
    }
    Ok(v.remove(0))
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn err<T>(&self, what: &str) -> R<T> {
        Err(format!(
            "{what} at {} in {:?}",
            self.i,
            String::from_utf8_lossy(self.b)
        ))
    }

    fn expect(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            self.err(&format!("expected {:?}", char::from(c)))
        }
    }

    fn word(&mut self) -> Vec<u8> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\r' || c == b'\n' {
                break;
            }
            self.i += 1;
        }
        self.b[start..self.i].to_vec()
    }

    fn response(&mut self) -> R<Response> {
        let tag = self.word();
        if tag == b"+" {
            self.expect(b' ')?;
            let text = self.text_to_eol()?;
            return Ok(Response::Continue(text));
        }
        if tag.is_empty() {
            return self.err("empty tag");
        }
        self.expect(b' ')?;
        let save = self.i;
        let cond = self.word();
        let status = matches!(&cond[..], b"OK" | b"NO" | b"BAD" | b"PREAUTH" | b"BYE");
        if status {
            self.expect(b' ')?;
            let mut code = None;
            if self.peek() == Some(b'[') {
                self.i += 1;
                code = Some(self.code()?);
                self.expect(b']')?;
                self.expect(b' ')?;
            }
            let text = self.text_to_eol()?;
            if text.is_empty() {
                return self.err("empty resp-text");
            }
            return Ok(Response::Status {
                tag: String::from_utf8_lossy(&tag).into_owned(),
                cond: String::from_utf8_lossy(&cond).into_owned(),
                code,
                text,
            });
        }
        if tag != b"*" {
            return self.err("tagged response that is not a status");
        }
        self.i = save;
        let toks = self.tokens()?;
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        Ok(Response::Data(toks))
    }

    /// A response code up to its `]` (as clients read it: the code's text is free text, and the
    /// encoder keeps `]` out of it).
    fn code(&mut self) -> R<Vec<u8>> {
        let start = self.i;
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') => return self.err("unterminated response code"),
                Some(b']') => return Ok(self.b[start..self.i].to_vec()),
                Some(_) => self.i += 1,
            }
        }
    }

    fn text_to_eol(&mut self) -> R<Vec<u8>> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b'\r' {
                let text = self.b[start..self.i].to_vec();
                self.i += 1;
                self.expect(b'\n')?;
                return Ok(text);
            }
            if c == b'\n' || c == 0 {
                return self.err("bare LF or NUL in text");
            }
            self.i += 1;
        }
        self.err("unterminated line")
    }

    /// Tokens separated by single spaces, up to (not past) `)` or CRLF.
    fn tokens(&mut self) -> R<Vec<Tok>> {
        let mut toks = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unexpected end"),
                Some(b'\r') | Some(b')') => return Ok(toks),
                _ => {}
            }
            // Lists may follow each other without a space (THREAD, NAMESPACE).
            let adjacent_lists =
                matches!(toks.last(), Some(Tok::List(_))) && self.peek() == Some(b'(');
            if !toks.is_empty() && !adjacent_lists {
                self.expect(b' ')?;
            }
            toks.push(self.token()?);
        }
    }

    fn token(&mut self) -> R<Tok> {
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let t = self.tokens()?;
                self.expect(b')')?;
                Ok(Tok::List(t))
            }
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.b.get(self.i + 1) == Some(&b'{') => {
                self.i += 1;
                self.literal()
            }
            Some(b' ') => self.err("double space"),
            _ => self.atom(),
        }
    }

    fn quoted(&mut self) -> R<Tok> {
        self.expect(b'"')?;
        let mut s = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated quoted string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Tok::Str(s));
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            s.push(c);
                            self.i += 1;
                        }
                        _ => return self.err("bad escape"),
                    }
                }
                Some(b'\r' | b'\n' | 0) => return self.err("CR, LF or NUL in a quoted string"),
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> R<Tok> {
        self.expect(b'{')?;
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let n: usize = std::str::from_utf8(&self.b[start..self.i])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad literal length at {start}"))?;
        self.expect(b'}')?;
        self.expect(b'\r')?;
        self.expect(b'\n')?;
        if self.i + n > self.b.len() {
            return self.err("literal runs past the end");
        }
        let s = self.b[self.i..self.i + n].to_vec();
        self.i += n;
        Ok(Tok::Str(s))
    }

    /// An atom, including bracketed parts (`BODY[HEADER.FIELDS (A B)]`) and `<origin>`.
    fn atom(&mut self) -> R<Tok> {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                // Strings inside brackets (header field names) are part of the atom's text.
                b'"' if depth > 0 => {
                    self.quoted()?;
                    continue;
                }
                b'{' if depth > 0 => {
                    self.literal()?;
                    continue;
                }
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                b']' => break,
                b' ' | b'(' | b')' if depth == 0 => break,
                b'\r' | b'\n' | b'"' | b'{' => break,
                _ => {}
            }
            self.i += 1;
        }
        if self.i == start {
            return self.err("empty atom");
        }
        if depth != 0 {
            // `[` is an atom character (RFC 9051 9): without its `]` it was no section, so read the
            // atom again without brackets.
            self.i = start;
            while let Some(c) = self.peek() {
                if matches!(c, b' ' | b'(' | b')' | b'\r' | b'\n' | b'"' | b'{' | b']') {
                    break;
                }
                self.i += 1;
            }
        }
        Ok(Tok::Atom(self.b[start..self.i].to_vec()))
    }
}

/// Shorthand for tests: an atom token.
pub fn atom(s: &str) -> Tok {
    Tok::Atom(s.as_bytes().to_vec())
}

/// Shorthand for tests: a string token.
pub fn string(s: &[u8]) -> Tok {
    Tok::Str(s.to_vec())
}
