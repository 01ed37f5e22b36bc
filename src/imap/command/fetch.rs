//! FETCH (RFC 9051 6.4.5): attributes, macros, sections with part numbers, partials, BINARY (RFC
//! 3516 4.2), MODSEQ and the CHANGEDSINCE/VANISHED modifiers (RFC 7162 3.1.4.1, 3.2.6).

use super::lexer::{Cursor, PResult};
use super::{sequence, Error};
use crate::imap::types::{Fetch, FetchAttr, Partial, Section, SectionText};

/// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP
/// fetch-att) ")") [fetch-modifiers]`
pub fn fetch<'a>(c: &mut Cursor<'a, '_>, uid: bool) -> PResult<Fetch<'a>> {
    c.sp()?;
    let set = sequence::sequence_set(c)?;
    c.sp()?;
    let items = if c.peek()? == b'(' {
        c.paren_list(1, fetch_att)?
    } else if c.eat_word(b"ALL") {
        // RFC 9051 6.4.5: the macros.
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ]
    } else if c.eat_word(b"FAST") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ]
    } else if c.eat_word(b"FULL") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ]
    } else {
        c.item()?;
        vec![fetch_att(c)?]
    };
    let mut changed_since = None;
    let mut vanished = false;
    if c.eat(b' ') {
        // `fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"` (RFC 4466 2.4).
        c.expect(b'(', "expected FETCH modifiers")?;
        loop {
            if c.eat_word(b"CHANGEDSINCE") {
                c.sp()?;
                if changed_since.replace(c.modseq()?).is_some() {
                    return Err(Error::Syntax("CHANGEDSINCE given twice"));
                }
            } else if c.eat_word(b"VANISHED") {
                vanished = true;
            } else {
                return Err(Error::Syntax("unknown FETCH modifier"));
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        // RFC 7162 3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
        if vanished && (!uid || changed_since.is_none()) {
            return Err(Error::Syntax("VANISHED needs UID FETCH and CHANGEDSINCE"));
        }
    }
    Ok(Fetch {
        uid,
        set,
        items,
        changed_since,
        vanished,
    })
}

/// An attribute name: letters, digits and dots (`BODY.PEEK`, `RFC822.SIZE`); `[` starts a section.
fn att_name<'a>(c: &mut Cursor<'a, '_>) -> PResult<&'a [u8]> {
    let start = c.pos;
    while c.peek()?.is_ascii_alphanumeric() || c.peek_is(b'.') {
        c.pos += 1;
    }
    if c.pos == start {
        return Err(Error::Syntax("expected a fetch attribute"));
    }
    Ok(&c.buf[start..c.pos])
}

fn is(name: &[u8], word: &[u8]) -> bool {
    name.eq_ignore_ascii_case(word)
}

/// `fetch-att` (RFC 9051 9, MODSEQ RFC 7162 7).
fn fetch_att<'a>(c: &mut Cursor<'a, '_>) -> PResult<FetchAttr<'a>> {
    let name = att_name(c)?;
    Ok(match name {
        n if is(n, b"FLAGS") => FetchAttr::Flags,
        n if is(n, b"UID") => FetchAttr::Uid,
        n if is(n, b"INTERNALDATE") => FetchAttr::InternalDate,
        n if is(n, b"RFC822.SIZE") => FetchAttr::Rfc822Size,
        n if is(n, b"ENVELOPE") => FetchAttr::Envelope,
        n if is(n, b"BODYSTRUCTURE") => FetchAttr::BodyStructure,
        n if is(n, b"MODSEQ") => FetchAttr::ModSeq,
        n if is(n, b"RFC822") => FetchAttr::Rfc822,
        n if is(n, b"RFC822.HEADER") => FetchAttr::Rfc822Header,
        n if is(n, b"RFC822.TEXT") => FetchAttr::Rfc822Text,
        n if is(n, b"BODY") || is(n, b"BODY.PEEK") => {
            let peek = n.len() > 4;
            if !c.peek_is(b'[') {
                if peek {
                    return Err(Error::Syntax("BODY.PEEK needs a section"));
                }
                return Ok(FetchAttr::Body);
            }
            let section = section(c)?;
            let partial = partial(c)?;
            FetchAttr::Section {
                peek,
                section,
                partial,
            }
        }
        n if is(n, b"BINARY") || is(n, b"BINARY.PEEK") => {
            let peek = n.len() > 6;
            let part = section_binary(c)?;
            let partial = partial(c)?;
            FetchAttr::Binary {
                peek,
                part,
                partial,
            }
        }
        n if is(n, b"BINARY.SIZE") => FetchAttr::BinarySize {
            part: section_binary(c)?,
        },
        _ => return Err(Error::Syntax("unknown fetch attribute")),
    })
}

/// `section-part = nz-number *("." nz-number)`, stopping before a `.` that is not followed by a digit.
fn section_part(c: &mut Cursor<'_, '_>) -> PResult<Vec<u32>> {
    let mut part = vec![c.nz_number()?];
    while c.peek_is(b'.') && c.buf.get(c.pos + 1).is_some_and(u8::is_ascii_digit) {
        c.pos += 1;
        if part.len() >= c.limits().max_depth {
            return Err(Error::Limit("section part nested too deep"));
        }
        part.push(c.nz_number()?);
    }
    Ok(part)
}

/// `section = "[" [section-spec] "]"`, `section-spec = section-msgtext / (section-part ["."
/// section-text])`, `section-text = section-msgtext / "MIME"`.
fn section<'a>(c: &mut Cursor<'a, '_>) -> PResult<Section<'a>> {
    c.expect(b'[', "expected '['")?;
    let mut out = Section::default();
    if c.eat(b']') {
        return Ok(out);
    }
    if c.peek()?.is_ascii_digit() {
        out.part = section_part(c)?;
        if c.eat(b']') {
            return Ok(out);
        }
        c.expect(b'.', "invalid section")?;
    }
    let name = att_name(c)?;
    out.text = Some(match name {
        n if is(n, b"HEADER") => SectionText::Header,
        n if is(n, b"TEXT") => SectionText::Text,
        n if is(n, b"MIME") && !out.part.is_empty() => SectionText::Mime,
        n if is(n, b"HEADER.FIELDS") || is(n, b"HEADER.FIELDS.NOT") => {
            // `header-list = "(" header-fld-name *(SP header-fld-name) ")"`, names are astrings.
            let not = n.len() > 13;
            c.sp()?;
            let fields = c.paren_list(1, |c| c.astring())?;
            SectionText::HeaderFields { not, fields }
        }
        _ => return Err(Error::Syntax("invalid section")),
    });
    c.expect(b']', "expected ']' after the section")?;
    Ok(out)
}

/// `section-binary = "[" [section-part] "]"` (RFC 3516 4.2).
fn section_binary(c: &mut Cursor<'_, '_>) -> PResult<Vec<u32>> {
    c.expect(b'[', "expected '['")?;
    if c.eat(b']') {
        return Ok(Vec::new());
    }
    let part = section_part(c)?;
    c.expect(b']', "expected ']' after the section")?;
    Ok(part)
}

/// `partial = "<" number "." nz-number ">"` (RFC 3501 9; RFC 9051's number64 beyond 32 bits is
/// refused: no message is that large).
fn partial(c: &mut Cursor<'_, '_>) -> PResult<Option<Partial>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let origin = c.number()?;
    c.expect(b'.', "invalid partial")?;
    let count = c.nz_number()?;
    c.expect(b'>', "invalid partial")?;
    Ok(Some(Partial { origin, count }))
}
