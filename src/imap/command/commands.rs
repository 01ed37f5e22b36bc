//! The command line: tag, command name and dispatch to each command's arguments (RFC 9051 9 `command`,
//! `command-any`, `command-auth`, `command-nonauth`, `command-select`; RFC 3501 9 for LSUB and CHECK;
//! each extension's RFC at its arm).

use super::lexer::{is_astring_char, Cursor, PResult};
use super::{fetch, mailbox, search, sequence, store, Error, Failure, Options};
use crate::imap::types::{Command, Str, Tagged};

pub fn tagged<'a>(input: &'a [u8], opts: &Options) -> Result<Tagged<'a>, Failure<'a>> {
    let mut c = Cursor::new(input, opts);
    let tag = tag(&mut c).map_err(|error| Failure { tag: None, error })?;
    let result = command(&mut c).and_then(|command| {
        c.crlf_end()?;
        Ok(command)
    });
    match result {
        Ok(command) => Ok(Tagged { tag, command }),
        Err(error) => Err(Failure {
            tag: Some(tag),
            error,
        }),
    }
}

/// `tag = 1*<any ASTRING-CHAR except "+">`, followed by SP. A tag not followed by SP is no tag (the
/// reply is then untagged `* BAD`).
pub fn tag<'a>(c: &mut Cursor<'a, '_>) -> PResult<&'a str> {
    let end = c
        .buf
        .iter()
        .position(|&b| !is_astring_char(b) || b == b'+')
        .unwrap_or(c.buf.len());
    if end == 0 {
        return Err(Error::Syntax("missing or invalid tag"));
    }
    match c.buf.get(end) {
        None => return Err(Error::Incomplete),
        Some(b' ') => {}
        Some(_) => return Err(Error::Syntax("missing or invalid tag")),
    }
    let tag = super::lexer::ascii(&c.buf[..end])?;
    c.pos = end + 1;
    Ok(tag)
}

/// Command names are at most this long (UNSUBSCRIBE, GETQUOTAROOT).
const NAME_MAX: usize = 12;

/// The command name upper-cased into `out`; names longer than any we know are unknown.
fn name<'b>(c: &mut Cursor<'_, '_>, out: &'b mut [u8; NAME_MAX]) -> PResult<&'b [u8]> {
    let word = c.keyword()?;
    if word.len() > NAME_MAX {
        return Err(Error::Syntax("unknown command"));
    }
    let out = &mut out[..word.len()];
    out.copy_from_slice(word);
    out.make_ascii_uppercase();
    Ok(out)
}

fn command<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    let mut buf = [0u8; NAME_MAX];
    let name = name(c, &mut buf)?;
    Ok(match name {
        b"UID" => {
            c.sp()?;
            return uid_command(c);
        }
        b"FETCH" => Command::Fetch(fetch::fetch(c, false)?),
        b"STORE" => Command::Store(store::store(c, false)?),
        b"SEARCH" => Command::Search(search::search(c, false)?),
        b"NOOP" => Command::Noop,
        b"IDLE" => Command::Idle,
        b"SELECT" | b"EXAMINE" => {
            let select = name == b"SELECT";
            c.sp()?;
            let mailbox = c.mailbox()?;
            let params = mailbox::select_params(c)?;
            if select {
                Command::Select { mailbox, params }
            } else {
                Command::Examine { mailbox, params }
            }
        }
        b"LIST" => Command::List(mailbox::list(c)?),
        b"STATUS" => mailbox::status(c)?,
        b"APPEND" => mailbox::append(c)?,
        b"EXPUNGE" => Command::Expunge,
        b"CAPABILITY" => Command::Capability,
        b"LOGOUT" => Command::Logout,
        b"LOGIN" => {
            c.sp()?;
            let user = c.astring()?;
            c.sp()?;
            let password = c.astring()?;
            Command::Login { user, password }
        }
        b"AUTHENTICATE" => authenticate(c)?,
        b"CLOSE" => Command::Close,
        b"UNSELECT" => Command::Unselect,
        b"CHECK" => Command::Check,
        b"COPY" | b"MOVE" => copy_move(c, name == b"MOVE", false)?,
        b"ENABLE" => {
            // RFC 5161 3: `"ENABLE" 1*(SP capability)`.
            let mut caps = Vec::new();
            while c.eat(b' ') {
                c.item()?;
                caps.push(c.atom()?);
            }
            if caps.is_empty() {
                return Err(Error::Syntax("ENABLE needs at least one capability"));
            }
            Command::Enable(caps)
        }
        b"ID" => id(c)?,
        b"NAMESPACE" => Command::Namespace,
        b"CREATE" => mailbox::create(c)?,
        b"DELETE" => Command::Delete(one_mailbox(c)?),
        b"RENAME" => {
            c.sp()?;
            let from = c.mailbox()?;
            c.sp()?;
            let to = c.mailbox()?;
            Command::Rename { from, to }
        }
        b"SUBSCRIBE" => Command::Subscribe(one_mailbox(c)?),
        b"UNSUBSCRIBE" => Command::Unsubscribe(one_mailbox(c)?),
        b"LSUB" => {
            c.sp()?;
            let reference = c.astring()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            Command::Lsub { reference, pattern }
        }
        b"STARTTLS" => Command::StartTls,
        b"SORT" => search::sort(c, false)?,
        b"THREAD" => search::thread(c, false)?,
        b"COMPRESS" => {
            // RFC 4978 3: `"COMPRESS" SP algorithm`.
            c.sp()?;
            Command::Compress(c.atom()?)
        }
        b"GETQUOTA" => {
            // RFC 9208 4.2: `"GETQUOTA" SP quota-root-name` (an astring).
            c.sp()?;
            Command::GetQuota(c.astring()?)
        }
        b"GETQUOTAROOT" => Command::GetQuotaRoot(one_mailbox(c)?),
        b"SETQUOTA" => mailbox::setquota(c)?,
        _ => return Err(Error::Syntax("unknown command")),
    })
}

/// RFC 9051 6.4.9 `uid`, with UID EXPUNGE (RFC 4315 2.1), UID MOVE (RFC 6851), UID SORT/THREAD (RFC
/// 5256).
fn uid_command<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    let mut buf = [0u8; NAME_MAX];
    let name = name(c, &mut buf)?;
    Ok(match name {
        b"FETCH" => Command::Fetch(fetch::fetch(c, true)?),
        b"STORE" => Command::Store(store::store(c, true)?),
        b"SEARCH" => Command::Search(search::search(c, true)?),
        b"COPY" | b"MOVE" => copy_move(c, name == b"MOVE", true)?,
        b"EXPUNGE" => {
            c.sp()?;
            Command::UidExpunge(sequence::sequence_set(c)?)
        }
        b"SORT" => search::sort(c, true)?,
        b"THREAD" => search::thread(c, true)?,
        _ => return Err(Error::Syntax("unknown UID command")),
    })
}

fn one_mailbox<'a>(c: &mut Cursor<'a, '_>) -> PResult<Str<'a>> {
    c.sp()?;
    c.mailbox()
}

fn copy_move<'a>(c: &mut Cursor<'a, '_>, is_move: bool, uid: bool) -> PResult<Command<'a>> {
    c.sp()?;
    let set = sequence::sequence_set(c)?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(if is_move {
        Command::Move { uid, set, mailbox }
    } else {
        Command::Copy { uid, set, mailbox }
    })
}

/// RFC 9051 6.2.2 with SASL-IR (RFC 4959 7): `"AUTHENTICATE" SP auth-type [SP (base64 / "=")]`.
fn authenticate<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    c.sp()?;
    let mechanism = c.atom()?;
    let initial = if c.eat(b' ') {
        if c.eat(b'=') {
            Some(&b""[..])
        } else {
            let start = c.pos;
            let end = c.buf[start..]
                .iter()
                .position(|&b| !super::raw::is_base64_char(b))
                .map_or(c.buf.len(), |n| start + n);
            let text = &c.buf[start..end];
            if text.is_empty() || !super::raw::valid_base64(text) {
                return Err(Error::Syntax("invalid base64 initial response"));
            }
            c.pos = end;
            Some(text)
        }
    } else {
        None
    };
    Ok(Command::Authenticate { mechanism, initial })
}

/// RFC 2971 3.1: `"ID" SP id-params-list`, `id-params-list = "(" *(string SP nstring) ")" / nil`.
fn id<'a>(c: &mut Cursor<'a, '_>) -> PResult<Command<'a>> {
    c.sp()?;
    if c.eat_word(b"NIL") {
        return Ok(Command::Id(None));
    }
    let mut n = 0;
    let pairs = c.paren_list(0, |c| {
        // RFC 2971 3.3: at most 30 pairs, fields up to 30 octets, values up to 1024.
        n += 1;
        if n > ID_MAX_PAIRS {
            return Err(Error::Limit("ID has more than 30 field-value pairs"));
        }
        let name: Str<'a> = c.string()?;
        if name.len() > ID_MAX_FIELD {
            return Err(Error::Limit("ID field longer than 30 octets"));
        }
        c.sp()?;
        let value = c.nstring()?;
        if value.as_ref().is_some_and(|v| v.len() > ID_MAX_VALUE) {
            return Err(Error::Limit("ID value longer than 1024 octets"));
        }
        Ok((name, value))
    })?;
    Ok(Command::Id(Some(pairs)))
}

/// RFC 2971 3.3 bounds on the ID parameter list.
const ID_MAX_PAIRS: usize = 30;
const ID_MAX_FIELD: usize = 30;
const ID_MAX_VALUE: usize = 1024;
