//! STORE (RFC 9051 6.4.6, UNCHANGEDSINCE RFC 7162 3.1.3) and the flags it and APPEND carry.

use super::lexer::{ascii, is_atom_char, Cursor, PResult};
use super::{sequence, Error};
use crate::imap::types::{Flag, Store, StoreMode};

/// `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension`.
/// `\Recent` is refused: it cannot be set or cleared by a client (RFC 3501 2.3.2). Extensions keep
/// their backslash (`\Foo`).
pub fn flag<'a>(c: &mut Cursor<'a, '_>) -> PResult<Flag<'a>> {
    if c.peek()? != b'\\' {
        return Ok(Flag::Keyword(c.atom()?));
    }
    let start = c.pos;
    c.pos += 1;
    let name = c.atom()?;
    let flag = match name.as_bytes() {
        n if n.eq_ignore_ascii_case(b"Seen") => Flag::Seen,
        n if n.eq_ignore_ascii_case(b"Answered") => Flag::Answered,
        n if n.eq_ignore_ascii_case(b"Flagged") => Flag::Flagged,
        n if n.eq_ignore_ascii_case(b"Deleted") => Flag::Deleted,
        n if n.eq_ignore_ascii_case(b"Draft") => Flag::Draft,
        n if n.eq_ignore_ascii_case(b"Recent") => {
            return Err(Error::Syntax("\\Recent cannot be stored"))
        }
        _ => Flag::Extension(ascii(&c.buf[start..c.pos])?),
    };
    Ok(flag)
}

/// `flag-list = "(" [flag *(SP flag)] ")"`
pub fn flag_list<'a>(c: &mut Cursor<'a, '_>) -> PResult<Vec<Flag<'a>>> {
    c.paren_list(0, flag)
}

/// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags`
pub fn store<'a>(c: &mut Cursor<'a, '_>, uid: bool) -> PResult<Store<'a>> {
    c.sp()?;
    let set = sequence::sequence_set(c)?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.peek()? == b'(' {
        // RFC 7162 3.1.3: `store-modifier =/ "UNCHANGEDSINCE" SP mod-sequence-valzer`; other
        // modifiers are unknown to us, so BAD (RFC 4466 2.5).
        c.pos += 1;
        loop {
            if !c.eat_word(b"UNCHANGEDSINCE") {
                return Err(Error::Syntax("unknown STORE modifier"));
            }
            c.sp()?;
            if unchanged_since.replace(c.modseq()?).is_some() {
                return Err(Error::Syntax("UNCHANGEDSINCE given twice"));
            }
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        c.sp()?;
    }
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let word = c.keyword()?;
    let silent = if word.eq_ignore_ascii_case(b"FLAGS") {
        false
    } else if word.eq_ignore_ascii_case(b"FLAGS.SILENT") {
        true
    } else {
        return Err(Error::Syntax("expected FLAGS or FLAGS.SILENT"));
    };
    c.sp()?;
    let flags = if c.peek()? == b'(' {
        flag_list(c)?
    } else {
        // `flag *(SP flag)`
        let mut flags = Vec::new();
        loop {
            c.item()?;
            flags.push(flag(c)?);
            if !(c.peek_is(b' ')
                && c.buf
                    .get(c.pos + 1)
                    .is_some_and(|&b| b == b'\\' || is_atom_char(b)))
            {
                break;
            }
            c.pos += 1;
        }
        flags
    };
    Ok(Store {
        uid,
        set,
        mode,
        silent,
        flags,
        unchanged_since,
    })
}
