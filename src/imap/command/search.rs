//! SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4, ESEARCH RETURN RFC 4731, MODSEQ RFC 7162 3.1.5,
//! OLDER/YOUNGER RFC 5032), SORT and THREAD (RFC 5256, ESORT RETURN RFC 5267, DISPLAYFROM/DISPLAYTO
//! RFC 5957).

use std::borrow::Cow;

use super::lexer::{Cursor, PResult};
use super::{date, sequence, Error};
use crate::imap::types::{
    Command, Search, SearchKey, SearchReturn, SortCriterion, SortKey, Str, ThreadAlgorithm,
};

/// `search = "SEARCH" [search-return-opts] SP search-program`,
/// `search-program = ["CHARSET" SP charset SP] search-key *(SP search-key)`.
pub fn search<'a>(c: &mut Cursor<'a, '_>, uid: bool) -> PResult<Search<'a>> {
    c.sp()?;
    let returns = return_opts(c)?;
    let charset = if c.eat_word(b"CHARSET") {
        c.sp()?;
        let cs = charset(c)?;
        c.sp()?;
        Some(cs)
    } else {
        None
    };
    let key = program(c)?;
    Ok(Search {
        uid,
        charset,
        returns,
        key,
    })
}

/// `[search-return-opts]` followed by its SP: `"RETURN" SP "(" [search-return-opt *(SP
/// search-return-opt)] ")"`.
fn return_opts(c: &mut Cursor<'_, '_>) -> PResult<Option<Vec<SearchReturn>>> {
    if !c.eat_word(b"RETURN") {
        return Ok(None);
    }
    c.sp()?;
    let searchres = c.opts.searchres;
    let opts = c.paren_list(0, |c| {
        let w = c.keyword()?;
        Ok(match w {
            w if w.eq_ignore_ascii_case(b"MIN") => SearchReturn::Min,
            w if w.eq_ignore_ascii_case(b"MAX") => SearchReturn::Max,
            w if w.eq_ignore_ascii_case(b"ALL") => SearchReturn::All,
            w if w.eq_ignore_ascii_case(b"COUNT") => SearchReturn::Count,
            w if searchres && w.eq_ignore_ascii_case(b"SAVE") => SearchReturn::Save,
            _ => return Err(Error::Syntax("unknown SEARCH return option")),
        })
    })?;
    c.sp()?;
    Ok(Some(opts))
}

/// `charset = atom / quoted`
fn charset<'a>(c: &mut Cursor<'a, '_>) -> PResult<Str<'a>> {
    if c.peek()? == b'"' {
        c.quoted()
    } else {
        Ok(Cow::Borrowed(c.atom()?.as_bytes()))
    }
}

/// `search-key *(SP search-key)` up to the end of the line: one key, or their AND.
fn program<'a>(c: &mut Cursor<'a, '_>) -> PResult<SearchKey<'a>> {
    let mut keys = vec![key(c)?];
    while c.peek_is(b' ') {
        c.pos += 1;
        keys.push(key(c)?);
    }
    Ok(if keys.len() == 1 {
        keys.swap_remove(0)
    } else {
        SearchKey::And(keys)
    })
}

fn nested<'a>(
    c: &mut Cursor<'a, '_>,
    f: impl FnOnce(&mut Cursor<'a, '_>) -> PResult<SearchKey<'a>>,
) -> PResult<SearchKey<'a>> {
    c.enter()?;
    let k = f(c)?;
    c.leave();
    Ok(k)
}

fn sp_astring<'a>(c: &mut Cursor<'a, '_>) -> PResult<Str<'a>> {
    c.sp()?;
    c.astring()
}

fn sp_date(c: &mut Cursor<'_, '_>) -> PResult<crate::imap::types::Date> {
    c.sp()?;
    date::date(c)
}

fn sp_key<'a>(c: &mut Cursor<'a, '_>) -> PResult<Box<SearchKey<'a>>> {
    c.sp()?;
    key(c).map(Box::new)
}

/// One `search-key` (RFC 9051 9, with RFC 3501's NEW/OLD/RECENT/UNKEYWORD... and the extensions).
fn key<'a>(c: &mut Cursor<'a, '_>) -> PResult<SearchKey<'a>> {
    c.item()?;
    let b = c.peek()?;
    if b == b'(' {
        return nested(c, |c| {
            c.pos += 1;
            let mut keys = vec![key(c)?];
            while c.eat(b' ') {
                keys.push(key(c)?);
            }
            c.expect(b')', "expected ')' after search keys")?;
            Ok(SearchKey::And(keys))
        });
    }
    if sequence::starts_set(b) || (b == b'$' && c.opts.searchres) {
        return sequence::sequence_set(c).map(SearchKey::SequenceSet);
    }
    let w = c.keyword()?;
    let is = |word: &[u8]| w.eq_ignore_ascii_case(word);
    use SearchKey as K;
    Ok(match w.len() {
        _ if is(b"ALL") => K::All,
        _ if is(b"SEEN") => K::Seen,
        _ if is(b"UNSEEN") => K::Unseen,
        _ if is(b"UID") => {
            c.sp()?;
            K::Uid(sequence::sequence_set(c)?)
        }
        _ if is(b"NOT") => nested(c, |c| Ok(K::Not(sp_key(c)?)))?,
        _ if is(b"OR") => nested(c, |c| {
            let a = sp_key(c)?;
            let b = sp_key(c)?;
            Ok(K::Or(a, b))
        })?,
        _ if is(b"ANSWERED") => K::Answered,
        _ if is(b"DELETED") => K::Deleted,
        _ if is(b"DRAFT") => K::Draft,
        _ if is(b"FLAGGED") => K::Flagged,
        _ if is(b"RECENT") => K::Recent,
        _ if is(b"NEW") => K::New,
        _ if is(b"OLD") => K::Old,
        _ if is(b"UNANSWERED") => K::Unanswered,
        _ if is(b"UNDELETED") => K::Undeleted,
        _ if is(b"UNDRAFT") => K::Undraft,
        _ if is(b"UNFLAGGED") => K::Unflagged,
        _ if is(b"KEYWORD") => {
            c.sp()?;
            K::Keyword(c.atom()?)
        }
        _ if is(b"UNKEYWORD") => {
            c.sp()?;
            K::Unkeyword(c.atom()?)
        }
        _ if is(b"BEFORE") => K::Before(sp_date(c)?),
        _ if is(b"ON") => K::On(sp_date(c)?),
        _ if is(b"SINCE") => K::Since(sp_date(c)?),
        _ if is(b"SENTBEFORE") => K::SentBefore(sp_date(c)?),
        _ if is(b"SENTON") => K::SentOn(sp_date(c)?),
        _ if is(b"SENTSINCE") => K::SentSince(sp_date(c)?),
        _ if is(b"LARGER") => {
            c.sp()?;
            K::Larger(c.number64()?)
        }
        _ if is(b"SMALLER") => {
            c.sp()?;
            K::Smaller(c.number64()?)
        }
        _ if is(b"FROM") => K::From(sp_astring(c)?),
        _ if is(b"TO") => K::To(sp_astring(c)?),
        _ if is(b"CC") => K::Cc(sp_astring(c)?),
        _ if is(b"BCC") => K::Bcc(sp_astring(c)?),
        _ if is(b"SUBJECT") => K::Subject(sp_astring(c)?),
        _ if is(b"BODY") => K::Body(sp_astring(c)?),
        _ if is(b"TEXT") => K::Text(sp_astring(c)?),
        _ if is(b"HEADER") => {
            let field = sp_astring(c)?;
            K::Header(field, sp_astring(c)?)
        }
        _ if is(b"MODSEQ") => {
            // RFC 7162 3.1.5: `"MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer`,
            // `entry-name = DQUOTE "/flags/" attr-flag DQUOTE`; the entry is read and ignored.
            c.sp()?;
            if c.peek()? == b'"' {
                c.quoted()?;
                c.sp()?;
                let t = c.keyword()?;
                if ![&b"priv"[..], b"shared", b"all"]
                    .iter()
                    .any(|x| t.eq_ignore_ascii_case(x))
                {
                    return Err(Error::Syntax("invalid MODSEQ entry type"));
                }
                c.sp()?;
            }
            K::ModSeq(c.modseq()?)
        }
        _ if is(b"OLDER") => {
            c.sp()?;
            K::Older(c.nz_number()?)
        }
        _ if is(b"YOUNGER") => {
            c.sp()?;
            K::Younger(c.nz_number()?)
        }
        _ => return Err(Error::Syntax("unknown search key")),
    })
}

/// `sort = ["UID" SP] "SORT" [search-return-opts] SP sort-criteria SP search-criteria` (RFC 5256 5,
/// RFC 5267 3.2), `search-criteria = charset 1*(SP search-key)`.
pub fn sort<'a>(c: &mut Cursor<'a, '_>, uid: bool) -> PResult<Command<'a>> {
    c.sp()?;
    let returns = return_opts(c)?;
    let criteria = c.paren_list(1, |c| {
        let reverse = c.eat_word(b"REVERSE");
        if reverse {
            c.sp()?;
        }
        let w = c.keyword()?;
        let key = match w {
            w if w.eq_ignore_ascii_case(b"ARRIVAL") => SortKey::Arrival,
            w if w.eq_ignore_ascii_case(b"CC") => SortKey::Cc,
            w if w.eq_ignore_ascii_case(b"DATE") => SortKey::Date,
            w if w.eq_ignore_ascii_case(b"FROM") => SortKey::From,
            w if w.eq_ignore_ascii_case(b"SIZE") => SortKey::Size,
            w if w.eq_ignore_ascii_case(b"SUBJECT") => SortKey::Subject,
            w if w.eq_ignore_ascii_case(b"TO") => SortKey::To,
            w if w.eq_ignore_ascii_case(b"DISPLAYFROM") => SortKey::DisplayFrom,
            w if w.eq_ignore_ascii_case(b"DISPLAYTO") => SortKey::DisplayTo,
            _ => return Err(Error::Syntax("unknown sort key")),
        };
        Ok(SortCriterion { reverse, key })
    })?;
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let key = program(c)?;
    Ok(Command::Sort {
        uid,
        criteria,
        charset,
        key,
        returns,
    })
}

/// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria` (RFC 5256 5).
pub fn thread<'a>(c: &mut Cursor<'a, '_>, uid: bool) -> PResult<Command<'a>> {
    c.sp()?;
    let w = c.keyword()?;
    let algorithm = if w.eq_ignore_ascii_case(b"ORDEREDSUBJECT") {
        ThreadAlgorithm::OrderedSubject
    } else if w.eq_ignore_ascii_case(b"REFERENCES") {
        ThreadAlgorithm::References
    } else {
        return Err(Error::Syntax("unknown THREAD algorithm"));
    };
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let key = program(c)?;
    Ok(Command::Thread {
        uid,
        algorithm,
        charset,
        key,
    })
}
