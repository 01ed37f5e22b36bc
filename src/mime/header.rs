//! Header fields (RFC 5322 2.2: name, colon, value folded over lines starting with white space) and
//! the MIME field values BODYSTRUCTURE needs: Content-Type (RFC 2045 5.1) and parameters with RFC 2231
//! continuations and charsets, Content-Disposition (RFC 2183), Content-Language (RFC 3282).

use super::Span;
use memchr::memchr;
use std::borrow::Cow;

/// One field of a header block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub name: Span,
    /// After the colon and the white space (and folds) that follow it, up to the line break that ends
    /// the field's last line (excluded).
    pub value: Span,
    /// The whole field: its lines and their line breaks (RFC 9051 6.4.5 HEADER.FIELDS copies these).
    pub whole: Span,
}

/// The fields of the header block `span` of `raw`, in order. Lines that are neither a field nor a
/// continuation (no colon) are skipped, as is the blank line that ends the block.
pub(crate) struct Fields<'a> {
    raw: &'a [u8],
    pos: usize,
    end: usize,
}

pub(crate) fn fields(raw: &[u8], span: Span) -> Fields<'_> {
    Fields {
        raw,
        pos: span.start,
        end: span.end.min(raw.len()),
    }
}

impl Iterator for Fields<'_> {
    type Item = Field;

    fn next(&mut self) -> Option<Field> {
        let raw = self.raw;
        while self.pos < self.end {
            let start = self.pos;
            let mut next = line_end(raw, start, self.end);
            // RFC 5322 2.2.3: a line starting with WSP continues the field.
            while next < self.end && matches!(raw[next], b' ' | b'\t') {
                next = line_end(raw, next, self.end);
            }
            self.pos = next;
            let first = &raw[start..line_end(raw, start, self.end)];
            let Some(colon) = memchr(b':', first) else {
                continue;
            };
            let mut name_end = start + colon;
            while name_end > start && matches!(raw[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            if name_end == start {
                continue;
            }
            let mut vstart = start + colon + 1;
            while vstart < next && matches!(raw[vstart], b' ' | b'\t' | b'\r' | b'\n') {
                vstart += 1;
            }
            let mut vend = next;
            while vend > vstart && matches!(raw[vend - 1], b'\r' | b'\n') {
                vend -= 1;
            }
            return Some(Field {
                name: Span::new(start, name_end),
                value: Span::new(vstart, vend),
                whole: Span::new(start, next),
            });
        }
        None
    }
}

/// Index just past the `\n` ending the line that starts at `pos` (or `end`).
pub(crate) fn line_end(raw: &[u8], pos: usize, end: usize) -> usize {
    match raw.get(pos..end).and_then(|s| memchr(b'\n', s)) {
        Some(i) => pos + i + 1,
        None => end,
    }
}

/// RFC 5322 2.2.3 unfolding: the value without its CR and LF bytes.
pub(crate) fn unfold(v: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr2(b'\r', b'\n', v).is_none() {
        return Cow::Borrowed(v);
    }
    Cow::Owned(
        v.iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect(),
    )
}

/// RFC 2045 5.1 `tspecials` plus space and controls: what ends a `token`.
fn is_token(b: u8) -> bool {
    b > b' '
        && b < 0x7f
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

/// A cursor over a structured MIME field value, skipping comments and folding white space.
pub(crate) struct Cursor<'a> {
    pub s: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a [u8]) -> Cursor<'a> {
        Cursor { s, pos: 0 }
    }

    /// RFC 5322 3.2.2 CFWS: white space, line breaks and (nested) comments.
    pub fn skip_cfws(&mut self) {
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    self.comment();
                }
                _ => break,
            }
        }
    }

    /// Skips a comment starting at `(`; returns its text (without the outer parentheses).
    pub fn comment(&mut self) -> &'a [u8] {
        let start = self.pos + 1;
        let mut depth = 0usize;
        while let Some(&b) = self.s.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return self.s.get(start..self.pos - 1).unwrap_or_default();
                    }
                }
                _ => {}
            }
        }
        self.pos = self.pos.min(self.s.len());
        self.s.get(start..).unwrap_or_default()
    }

    pub fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|&b| is_token(b)) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.s[start..self.pos])
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// A quoted string starting at `"`, unescaped (RFC 5322 3.2.4); folds inside are removed.
    pub fn quoted(&mut self) -> Cow<'a, [u8]> {
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b'"' => {
                    let v = match owned {
                        Some(v) => Cow::Owned(v),
                        None => Cow::Borrowed(&self.s[start..self.pos]),
                    };
                    self.pos += 1;
                    return v;
                }
                b'\\' | b'\r' | b'\n' => {
                    let v = owned.get_or_insert_with(|| self.s[start..self.pos].to_vec());
                    if b == b'\\' {
                        if let Some(&e) = self.s.get(self.pos + 1) {
                            v.push(e);
                        }
                        self.pos += 1;
                    }
                }
                _ => {
                    if let Some(v) = owned.as_mut() {
                        v.push(b);
                    }
                }
            }
            self.pos += 1;
        }
        self.pos = self.s.len();
        match owned {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(self.s.get(start..).unwrap_or_default()),
        }
    }

    /// Skips to just past the next `;` outside quotes and comments (or to the end).
    pub fn skip_past_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.quoted();
                }
                b'(' => {
                    self.comment();
                }
                b';' => {
                    self.pos += 1;
                    return;
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// `type "/" subtype` of a Content-Type value, as offsets into the value, and where parameters start.
pub(crate) fn media_type(
    v: &[u8],
) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>, usize)> {
    let mut c = Cursor::new(v);
    c.skip_cfws();
    let ts = c.pos;
    c.token()?;
    let t = ts..c.pos;
    c.skip_cfws();
    if !c.eat(b'/') {
        return None;
    }
    c.skip_cfws();
    let ss = c.pos;
    c.token()?;
    Some((t, ss..c.pos, c.pos))
}

/// One parameter: the name as written, the value unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub name: Cow<'a, [u8]>,
    pub value: Cow<'a, [u8]>,
}

/// The `;`-separated parameters in `v` (RFC 2045 5.1), RFC 2231 continuations joined. Parameters
/// without `=` (junk) are dropped.
pub(crate) fn params(v: &[u8]) -> Vec<Param<'_>> {
    let mut raw = Vec::new();
    let mut c = Cursor::new(v);
    loop {
        c.skip_past_semicolon();
        if c.peek().is_none() {
            break;
        }
        c.skip_cfws();
        let Some(name) = c.token_with_star() else {
            continue;
        };
        c.skip_cfws();
        if !c.eat(b'=') {
            continue;
        }
        c.skip_cfws();
        let value = match c.peek() {
            Some(b'"') => c.quoted(),
            _ => match c.value_token() {
                Some(t) => Cow::Borrowed(t),
                None => continue,
            },
        };
        raw.push(Param {
            name: Cow::Borrowed(name),
            value,
        });
    }
    join_continuations(raw)
}

impl<'a> Cursor<'a> {
    /// A parameter name: a token (RFC 2231 puts `*` in names, which RFC 2045 tokens allow).
    fn token_with_star(&mut self) -> Option<&'a [u8]> {
        self.token()
    }

    /// An unquoted parameter value: a token, leniently also `/`, `?`, `=`, `@`, `[`, `]` and `:`
    /// (seen unquoted in the wild, e.g. `name=a=b.txt`).
    fn value_token(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(|&b| {
            is_token(b) || matches!(b, b'/' | b'?' | b'=' | b'@' | b'[' | b']' | b':')
        }) {
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.s[start..self.pos])
    }
}

/// RFC 2231 3 and 4: `name*0`, `name*1*`, ... sections are joined in order into one parameter. When a
/// section is extended (`*N*`), the result is the extended `name*` with `charset'language'` and the
/// other sections percent-encoded as RFC 2231 4 requires; otherwise the plain concatenation.
fn join_continuations(raw: Vec<Param<'_>>) -> Vec<Param<'_>> {
    struct Group<'a> {
        base: &'a [u8],
        sections: Vec<(u32, bool, Cow<'a, [u8]>)>,
        at: usize,
    }
    let mut out: Vec<Param<'_>> = Vec::with_capacity(raw.len());
    let mut groups: Vec<Group<'_>> = Vec::new();
    for p in raw {
        let Cow::Borrowed(name) = p.name else {
            out.push(p);
            continue;
        };
        let section = memchr(b'*', name).and_then(|star| {
            let rest = &name[star + 1..];
            let (digits, ext) = match rest.strip_suffix(b"*") {
                Some(d) => (d, true),
                None => (rest, false),
            };
            let n = std::str::from_utf8(digits).ok()?.parse::<u32>().ok()?;
            (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit)).then_some((
                &name[..star],
                n,
                ext,
            ))
        });
        match section {
            Some((base, n, ext)) => {
                match groups
                    .iter_mut()
                    .find(|g| g.base.eq_ignore_ascii_case(base))
                {
                    Some(g) => g.sections.push((n, ext, p.value)),
                    None => {
                        groups.push(Group {
                            base,
                            sections: vec![(n, ext, p.value)],
                            at: out.len(),
                        });
                        // Placeholder, replaced below.
                        out.push(Param {
                            name: Cow::Borrowed(base),
                            value: Cow::Borrowed(b""),
                        });
                    }
                }
            }
            None => out.push(Param {
                name: Cow::Borrowed(name),
                value: p.value,
            }),
        }
    }
    for mut g in groups {
        g.sections.sort_by_key(|s| s.0);
        let extended = g.sections.iter().any(|s| s.1);
        let mut value = Vec::new();
        for (i, (_, ext, v)) in g.sections.iter().enumerate() {
            if !extended || *ext {
                value.extend_from_slice(v);
            } else {
                if i == 0 {
                    value.extend_from_slice(b"''");
                }
                percent_encode(&mut value, v);
            }
        }
        let name = if extended {
            let mut n = g.base.to_vec();
            n.push(b'*');
            Cow::Owned(n)
        } else {
            Cow::Borrowed(g.base)
        };
        out[g.at] = Param {
            name,
            value: Cow::Owned(value),
        };
    }
    out
}

/// RFC 2231 7 `attribute-char` stays, the rest becomes `%XX`.
fn percent_encode(out: &mut Vec<u8>, v: &[u8]) {
    for &b in v {
        if is_token(b) && !matches!(b, b'*' | b'\'' | b'%') {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(b"0123456789ABCDEF"[(b >> 4) as usize]);
            out.push(b"0123456789ABCDEF"[(b & 15) as usize]);
        }
    }
}

/// Content-Disposition (RFC 2183): the type token and the parameters.
pub(crate) fn disposition(v: &[u8]) -> Option<(&[u8], Vec<Param<'_>>)> {
    let mut c = Cursor::new(v);
    c.skip_cfws();
    let t = c.token()?;
    Some((t, params(&v[c.pos..])))
}

/// Content-Language (RFC 3282): comma-separated language tags.
pub(crate) fn languages(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut c = Cursor::new(v);
    loop {
        c.skip_cfws();
        match c.peek() {
            None => break,
            Some(b',') => c.pos += 1,
            Some(_) => match c.value_token() {
                Some(t) => out.push(t),
                None => c.pos += 1,
            },
        }
    }
    out
}

/// The first token of a value (Content-Transfer-Encoding, RFC 2045 6.1), comments skipped.
pub(crate) fn first_token(v: &[u8]) -> Option<&[u8]> {
    let mut c = Cursor::new(v);
    c.skip_cfws();
    c.token()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[u8]) -> Vec<(String, String)> {
        params(v)
            .into_iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(&p.name).into_owned(),
                    String::from_utf8_lossy(&p.value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn fields_split_names_values_and_folds() {
        let raw = b"A: 1\r\nB:\r\n  two\r\n\tlines\r\njunk line\r\nC : x\r\n\r\n";
        let f: Vec<_> = fields(raw, Span::new(0, raw.len())).collect();
        assert_eq!(f.len(), 3);
        assert_eq!(&raw[f[0].name.range()], b"A");
        assert_eq!(&raw[f[0].value.range()], b"1");
        assert_eq!(&raw[f[1].value.range()], b"two\r\n\tlines");
        assert_eq!(&raw[f[1].whole.range()], b"B:\r\n  two\r\n\tlines\r\n");
        assert_eq!(&raw[f[2].name.range()], b"C");
        assert_eq!(&*unfold(&raw[f[1].value.range()]), b"two\tlines");
    }

    #[test]
    fn content_type_and_params() {
        let v = b"text/plain; charset=\"iso-8859-1\"; format=flowed; X-Junk; a=\"q\\\"x\"";
        let (t, s, rest) = media_type(v).unwrap();
        assert_eq!(&v[t], b"text");
        assert_eq!(&v[s], b"plain");
        assert_eq!(
            p(&v[rest..]),
            [
                ("charset", "iso-8859-1"),
                ("format", "flowed"),
                ("a", "q\"x")
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(media_type(b"text").is_none());
        assert!(media_type(b"").is_none());
        let (t, s, _) = media_type(b" (c) multipart / mixed ; boundary=x").unwrap();
        assert_eq!((t, s), (5..14, 17..22));
    }

    #[test]
    fn rfc2231_sections_are_joined() {
        assert_eq!(
            p(b"; name*0*=UTF-8''%E2%82%AC%20rates;\r\n name*1=\" for 2026.bin\""),
            vec![(
                "name*".to_string(),
                "UTF-8''%E2%82%AC%20rates%20for%202026.bin".to_string()
            )]
        );
        assert_eq!(
            p(b"; a*1=\"lo\"; b=2; a*0=hel"),
            vec![("a".into(), "hello".into()), ("b".into(), "2".into())]
        );
        assert_eq!(
            p(b"; filename*=UTF-8''%E2%82%AC"),
            vec![("filename*".into(), "UTF-8''%E2%82%AC".into())]
        );
    }

    #[test]
    fn languages_and_disposition() {
        assert_eq!(languages(b"en, de (German)"), vec![&b"en"[..], b"de"]);
        let (t, ps) = disposition(b"attachment; filename=\"a b.pdf\"").unwrap();
        assert_eq!(t, b"attachment");
        assert_eq!(&*ps[0].value, b"a b.pdf");
        assert_eq!(first_token(b" (x) BASE64 "), Some(&b"BASE64"[..]));
    }
}
