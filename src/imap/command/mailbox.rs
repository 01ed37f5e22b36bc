//! Mailbox commands with structured arguments: SELECT/EXAMINE parameters (RFC 7162 3.1.8, 3.2.5),
//! CREATE (USE) (RFC 6154 5.2), LIST with LIST-EXTENDED (RFC 5258, RFC 6154 5.1, LIST-STATUS RFC
//! 5819), STATUS (RFC 9051 6.3.11), APPEND with MULTIAPPEND (RFC 3502) and literal8 (RFC 3516 4.4),
//! SETQUOTA (RFC 9208 4.3).

use super::lexer::{ascii, Cursor, PResult};
use super::{date, store, Error};
use crate::imap::types::{
    AppendMessage, Command, List, ListReturn, ListSelect, QResync, SelectParams, StatusItem,
};

/// `[SP "(" select-param *(SP select-param) ")"]` (RFC 4466 2.1): CONDSTORE and QRESYNC.
pub fn select_params(c: &mut Cursor<'_, '_>) -> PResult<SelectParams> {
    let mut params = SelectParams::default();
    if !c.eat(b' ') {
        return Ok(params);
    }
    c.expect(b'(', "expected SELECT parameters")?;
    loop {
        if c.eat_word(b"CONDSTORE") {
            params.condstore = true;
        } else if c.eat_word(b"QRESYNC") {
            if params.qresync.is_some() {
                return Err(Error::Syntax("QRESYNC given twice"));
            }
            c.sp()?;
            params.qresync = Some(qresync(c)?);
        } else {
            return Err(Error::Syntax("unknown SELECT parameter"));
        }
        if c.eat(b')') {
            return Ok(params);
        }
        c.sp()?;
    }
}

/// RFC 7162 3.2.5: `"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"`,
/// `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`.
fn qresync(c: &mut Cursor<'_, '_>) -> PResult<QResync> {
    c.expect(b'(', "expected QRESYNC parameters")?;
    let uidvalidity = c.nz_number()?;
    c.sp()?;
    let modseq = c.modseq()?;
    let mut known_uids = None;
    let mut seq_match = None;
    if c.eat(b' ') {
        if c.peek()? != b'(' {
            known_uids = Some(super::sequence::sequence_set(c)?);
            if c.eat(b' ') {
                seq_match = Some(seq_match_data(c)?);
            }
        } else {
            seq_match = Some(seq_match_data(c)?);
        }
    }
    c.expect(b')', "expected ')' after QRESYNC parameters")?;
    Ok(QResync {
        uidvalidity,
        modseq,
        known_uids,
        seq_match,
    })
}

fn seq_match_data(
    c: &mut Cursor<'_, '_>,
) -> PResult<(
    crate::imap::types::SequenceSet,
    crate::imap::types::SequenceSet,
)> {
    c.expect(b'(', "expected QRESYNC sequence match data")?;
    let seqs = super::sequence::sequence_set(c)?;
    c.sp()?;
    let uids = super::sequence::sequence_set(c)?;
    c.expect(b')', "expected ')' after QRESYNC sequence match data")?;
    Ok((seqs, uids))
}

/// `create = "CREATE" SP mailbox [SP "(" create-param *(SP create-param) ")"]`, the only parameter
/// known being `USE (use-attr ...)` (RFC 6154 5.2). Attributes keep their backslash (`\Drafts`).
pub fn create<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.eat(b' ') {
        c.expect(b'(', "expected CREATE parameters")?;
        loop {
            if !c.eat_word(b"USE") {
                return Err(Error::Syntax("unknown CREATE parameter"));
            }
            c.sp()?;
            let attrs = c.paren_list(0, |c| {
                let start = c.pos;
                c.expect(b'\\', "expected a special-use attribute")?;
                c.atom()?;
                ascii(&c.buf[start..c.pos])
            })?;
            special_use.extend(attrs);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    }
    Ok(Command::Create {
        mailbox,
        special_use,
    })
}

/// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]` (RFC 5258 6).
pub fn list<'a>(c: &mut Cursor<'a, '_>) -> PResult<List<'a>> {
    c.sp()?;
    let mut select = ListSelect::default();
    if c.peek()? == b'(' {
        let opts = c.paren_list(0, |c| c.keyword())?;
        for opt in opts {
            match opt {
                o if o.eq_ignore_ascii_case(b"SUBSCRIBED") => select.subscribed = true,
                o if o.eq_ignore_ascii_case(b"REMOTE") => select.remote = true,
                o if o.eq_ignore_ascii_case(b"RECURSIVEMATCH") => select.recursive_match = true,
                o if o.eq_ignore_ascii_case(b"SPECIAL-USE") => select.special_use = true,
                _ => return Err(Error::Syntax("unknown LIST selection option")),
            }
        }
        // RFC 5258 3: RECURSIVEMATCH alone (or only with REMOTE) is a BAD.
        if select.recursive_match && !select.subscribed && !select.special_use {
            return Err(Error::Syntax(
                "RECURSIVEMATCH needs another selection option",
            ));
        }
        c.sp()?;
    }
    let reference = c.astring()?;
    c.sp()?;
    let patterns = if c.peek()? == b'(' {
        c.paren_list(1, |c| c.list_mailbox())?
    } else {
        vec![c.list_mailbox()?]
    };
    let mut returns = ListReturn::default();
    if c.eat(b' ') {
        if !c.eat_word(b"RETURN") {
            return Err(Error::Syntax("expected RETURN"));
        }
        c.sp()?;
        c.paren_list(0, |c| {
            let opt = c.keyword()?;
            match opt {
                o if o.eq_ignore_ascii_case(b"SUBSCRIBED") => returns.subscribed = true,
                o if o.eq_ignore_ascii_case(b"CHILDREN") => returns.children = true,
                o if o.eq_ignore_ascii_case(b"SPECIAL-USE") => returns.special_use = true,
                o if o.eq_ignore_ascii_case(b"STATUS") => {
                    // RFC 5819 2: `"STATUS" SP "(" status-att *(SP status-att) ")"`.
                    c.sp()?;
                    returns.status = Some(c.paren_list(1, status_att)?);
                }
                _ => return Err(Error::Syntax("unknown LIST return option")),
            }
            Ok(())
        })?;
    }
    Ok(List {
        reference,
        patterns,
        select,
        returns,
    })
}

/// `status-att` (RFC 9051 9; RECENT RFC 3501; HIGHESTMODSEQ RFC 7162; SIZE RFC 8438; APPENDLIMIT
/// RFC 7889).
fn status_att(c: &mut Cursor<'_, '_>) -> PResult<StatusItem> {
    let w = c.keyword()?;
    Ok(match w {
        w if w.eq_ignore_ascii_case(b"MESSAGES") => StatusItem::Messages,
        w if w.eq_ignore_ascii_case(b"RECENT") => StatusItem::Recent,
        w if w.eq_ignore_ascii_case(b"UIDNEXT") => StatusItem::UidNext,
        w if w.eq_ignore_ascii_case(b"UIDVALIDITY") => StatusItem::UidValidity,
        w if w.eq_ignore_ascii_case(b"UNSEEN") => StatusItem::Unseen,
        w if w.eq_ignore_ascii_case(b"DELETED") => StatusItem::Deleted,
        w if w.eq_ignore_ascii_case(b"SIZE") => StatusItem::Size,
        w if w.eq_ignore_ascii_case(b"HIGHESTMODSEQ") => StatusItem::HighestModSeq,
        w if w.eq_ignore_ascii_case(b"APPENDLIMIT") => StatusItem::AppendLimit,
        _ => return Err(Error::Syntax("unknown STATUS item")),
    })
}

/// `status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"`
pub fn status<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let items = c.paren_list(1, status_att)?;
    Ok(Command::Status { mailbox, items })
}

/// `append = "APPEND" SP mailbox 1*append-message` (RFC 3502 6), `append-message = append-opts SP
/// append-data`, `append-opts = [SP flag-list] [SP date-time]`, `append-data = literal / literal8`
/// (and RFC 6855's `UTF8 (literal8)`, which arrives as a literal8).
pub fn append<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    while c.eat(b' ') {
        c.item()?;
        let mut flags = Vec::new();
        if c.peek()? == b'(' {
            flags = store::flag_list(c)?;
            c.sp()?;
        }
        let mut date = None;
        if c.peek()? == b'"' {
            date = Some(date::date_time(c)?);
            c.sp()?;
        }
        let (message, binary) = match c.peek()? {
            b'{' => (c.literal()?, false),
            b'~' => (c.literal8()?, true),
            _ if c.eat_word(b"UTF8") => {
                // RFC 6855 4 (UTF8=ACCEPT): `append-data =/ "UTF8" SP "(" literal8 ")"`.
                c.sp()?;
                c.expect(b'(', "expected '(' after UTF8")?;
                let data = c.literal8()?;
                c.expect(b')', "expected ')' after the UTF8 literal")?;
                (data, true)
            }
            _ => return Err(Error::Syntax("expected the message literal")),
        };
        messages.push(AppendMessage {
            flags,
            date,
            message,
            binary,
        });
    }
    if messages.is_empty() {
        return Err(Error::Syntax("APPEND needs a message"));
    }
    Ok(Command::Append { mailbox, messages })
}

/// RFC 9208 4.3: `"SETQUOTA" SP quota-root-name SP setquota-list`, `setquota-list = "("
/// [setquota-resource *(SP setquota-resource)] ")"`, `setquota-resource = resource-name SP
/// resource-limit`.
pub fn setquota<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    c.sp()?;
    let root = c.astring()?;
    c.sp()?;
    let limits = c.paren_list(0, |c| {
        let name = c.atom()?;
        c.sp()?;
        Ok((name, c.number64()?))
    })?;
    Ok(Command::SetQuota { root, limits })
}
