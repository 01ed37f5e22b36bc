//! Untagged data responses (RFC 9051 7.2-7.4, RFC 3501 7.2-7.4, and the extensions' own): one
//! function per response, each writing a whole line.

use super::{fetch, mailbox, number, Names};
use crate::imap::capability::Capabilities;
use crate::imap::seqset::write_compact;
use crate::imap::thread::Forest;
use crate::imap::types::{SearchReturn, StatusItem};
use crate::imap::wire;

/// `* CAPABILITY IMAP4rev1 ...` (RFC 9051 7.2.2).
pub fn capability(out: &mut Vec<u8>, caps: &Capabilities) {
    out.extend_from_slice(b"* CAPABILITY ");
    caps.write(out);
    out.extend_from_slice(b"\r\n");
}

/// `* ENABLED CONDSTORE` (RFC 5161 3.2); sent even when nothing was enabled.
pub fn enabled(out: &mut Vec<u8>, names: &[&str]) {
    out.extend_from_slice(b"* ENABLED");
    for n in names {
        out.push(b' ');
        out.extend_from_slice(n.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `* FLAGS (\Answered ...)` (RFC 9051 7.3.5).
pub fn flags<'f>(out: &mut Vec<u8>, flags: impl IntoIterator<Item = &'f str>) {
    out.extend_from_slice(b"* FLAGS ");
    fetch::flag_list(out, flags);
    out.extend_from_slice(b"\r\n");
}

/// `* 23 EXISTS` (RFC 9051 7.4.1).
pub fn exists(out: &mut Vec<u8>, n: u32) {
    numbered(out, n, b"EXISTS");
}

/// `* 5 RECENT` (RFC 3501 7.3.2; IMAP4rev1 sessions only).
pub fn recent(out: &mut Vec<u8>, n: u32) {
    numbered(out, n, b"RECENT");
}

/// `* 44 EXPUNGE` (RFC 9051 7.5.1).
pub fn expunge(out: &mut Vec<u8>, seq: u32) {
    numbered(out, seq, b"EXPUNGE");
}

fn numbered(out: &mut Vec<u8>, n: u32, what: &[u8]) {
    out.extend_from_slice(b"* ");
    number(out, n.into());
    out.push(b' ');
    out.extend_from_slice(what);
    out.extend_from_slice(b"\r\n");
}

/// `* VANISHED 405,407` or `* VANISHED (EARLIER) 41,43:116` (RFC 7162 3.2.10), for UIDs in
/// ascending order. Nothing is written for an empty list (the response has no empty form).
pub fn vanished(out: &mut Vec<u8>, earlier: bool, uids: &[u32]) {
    if uids.is_empty() {
        return;
    }
    out.extend_from_slice(if earlier {
        b"* VANISHED (EARLIER) "
    } else {
        b"* VANISHED "
    });
    write_compact(out, uids.iter().copied());
    out.extend_from_slice(b"\r\n");
}

/// One mailbox in a LIST or LSUB response (RFC 9051 7.3.1, RFC 5258 3.4 extended data).
#[derive(Debug, Clone, Copy, Default)]
pub struct ListItem<'a> {
    /// `LSUB` instead of `LIST` (RFC 3501 7.2.3).
    pub lsub: bool,
    /// `\HasNoChildren`, `\Noselect`, `\NonExistent`, `\Subscribed`, `\Sent`, ...
    pub attrs: &'a [&'a str],
    /// The hierarchy delimiter; `None` is NIL (a flat namespace).
    pub delimiter: Option<u8>,
    pub name: &'a str,
    /// `("CHILDINFO" ("SUBSCRIBED"))` (RFC 5258 3.5): listed for a descendant that matched.
    pub childinfo_subscribed: bool,
    /// `("OLDNAME" ("old"))` (RFC 9051 7.3.1, after a RENAME in IMAP4rev2).
    pub oldname: Option<&'a str>,
}

/// `* LIST (\HasNoChildren) "/" INBOX`.
pub fn list(out: &mut Vec<u8>, item: &ListItem<'_>, names: Names) {
    out.extend_from_slice(if item.lsub { b"* LSUB " } else { b"* LIST " });
    fetch::flag_list(out, item.attrs.iter().copied());
    out.push(b' ');
    match item.delimiter {
        Some(d) => wire::string(out, &[d]),
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    mailbox(out, item.name, names);
    let mut extended = false;
    let mut ext = |out: &mut Vec<u8>| {
        out.extend_from_slice(if extended { b" " } else { b" (" });
        extended = true;
    };
    if item.childinfo_subscribed {
        ext(out);
        out.extend_from_slice(b"\"CHILDINFO\" (\"SUBSCRIBED\")");
    }
    if let Some(old) = item.oldname {
        ext(out);
        out.extend_from_slice(b"\"OLDNAME\" (");
        mailbox(out, old, names);
        out.push(b')');
    }
    if extended {
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// The STATUS item name (RFC 9051 7.3.2; SIZE RFC 8438; HIGHESTMODSEQ RFC 7162; APPENDLIMIT RFC 7889).
pub fn status_item_name(item: StatusItem) -> &'static [u8] {
    match item {
        StatusItem::Messages => b"MESSAGES",
        StatusItem::Recent => b"RECENT",
        StatusItem::UidNext => b"UIDNEXT",
        StatusItem::UidValidity => b"UIDVALIDITY",
        StatusItem::Unseen => b"UNSEEN",
        StatusItem::Deleted => b"DELETED",
        StatusItem::Size => b"SIZE",
        StatusItem::HighestModSeq => b"HIGHESTMODSEQ",
        StatusItem::AppendLimit => b"APPENDLIMIT",
    }
}

/// `* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)`, items in the order given; a `None` value is
/// NIL (only APPENDLIMIT has one, RFC 7889 4: no limit).
pub fn status(out: &mut Vec<u8>, name: &str, names: Names, items: &[(StatusItem, Option<u64>)]) {
    out.extend_from_slice(b"* STATUS ");
    mailbox(out, name, names);
    out.extend_from_slice(b" (");
    for (i, (item, value)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(status_item_name(*item));
        out.push(b' ');
        match value {
            Some(v) => number(out, *v),
            None => out.extend_from_slice(b"NIL"),
        }
    }
    out.extend_from_slice(b")\r\n");
}

/// `* SEARCH 2 3 6` with `(MODSEQ n)` when the search used MODSEQ (RFC 7162 3.1.5; never on an
/// empty result). IMAP4rev1 only: IMAP4rev2 answers with ESEARCH.
pub fn search(out: &mut Vec<u8>, ids: &[u32], modseq: Option<u64>) {
    numbers_line(out, b"* SEARCH", ids, modseq);
}

/// `* SORT 2 3 6` (RFC 5256 4), in sort order.
pub fn sort(out: &mut Vec<u8>, ids: &[u32], modseq: Option<u64>) {
    numbers_line(out, b"* SORT", ids, modseq);
}

fn numbers_line(out: &mut Vec<u8>, head: &[u8], ids: &[u32], modseq: Option<u64>) {
    out.extend_from_slice(head);
    for id in ids {
        out.push(b' ');
        number(out, (*id).into());
    }
    if let (Some(m), false) = (modseq, ids.is_empty()) {
        out.extend_from_slice(b" (MODSEQ ");
        number(out, m);
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// `* ESEARCH (TAG "a1") UID MIN 2 COUNT 3 ALL 2,10:11` (RFC 4731 3.1, RFC 9051 7.3.4).
///
/// `matches` are the results in the order of the command (ascending for SEARCH, sort order for SORT
/// with RETURN, RFC 5267): MIN is the first, MAX the last. `returns` is the RETURN list as parsed
/// (empty = ALL). With no match, MIN, MAX and ALL are left out (RFC 4731 3.1) but COUNT 0 stays.
/// SAVE alone asks for no response (RFC 5182 2.1), so nothing is written.
pub fn esearch(
    out: &mut Vec<u8>,
    tag: Option<&str>,
    uid: bool,
    returns: &[SearchReturn],
    matches: &[u32],
    modseq: Option<u64>,
) {
    let want = |r: SearchReturn| returns.contains(&r);
    let all = returns.is_empty() || want(SearchReturn::All);
    if !returns.is_empty() && returns.iter().all(|r| *r == SearchReturn::Save) {
        return;
    }
    out.extend_from_slice(b"* ESEARCH");
    if let Some(t) = tag {
        out.extend_from_slice(b" (TAG ");
        wire::string(out, t.as_bytes());
        out.push(b')');
    }
    if uid {
        out.extend_from_slice(b" UID");
    }
    if let (Some(first), Some(last)) = (matches.first(), matches.last()) {
        if want(SearchReturn::Min) {
            out.extend_from_slice(b" MIN ");
            number(out, (*first).into());
        }
        if want(SearchReturn::Max) {
            out.extend_from_slice(b" MAX ");
            number(out, (*last).into());
        }
    }
    if want(SearchReturn::Count) {
        out.extend_from_slice(b" COUNT ");
        number(out, matches.len() as u64);
    }
    if all && !matches.is_empty() {
        out.extend_from_slice(b" ALL ");
        write_compact(out, matches.iter().copied());
    }
    if let (Some(m), false) = (modseq, matches.is_empty()) {
        out.extend_from_slice(b" MODSEQ ");
        number(out, m);
    }
    out.extend_from_slice(b"\r\n");
}

/// `* THREAD (2)(3 6 (4 23)(44 7 96))` (RFC 5256 4); the threads are written by
/// [`crate::imap::thread::Forest::write`], without recursion however deep a thread is.
pub fn thread(out: &mut Vec<u8>, forest: &Forest) {
    out.extend_from_slice(b"* THREAD");
    if !forest.roots.is_empty() {
        out.push(b' ');
        forest.write(out);
    }
    out.extend_from_slice(b"\r\n");
}

/// `* NAMESPACE (("" "/")) NIL NIL` (RFC 2342 5, RFC 9051 7.3.3): personal, other users', shared;
/// each a list of (prefix, delimiter), `None`/empty as NIL.
pub fn namespace(
    out: &mut Vec<u8>,
    names: Names,
    personal: &[(&str, Option<u8>)],
    other: &[(&str, Option<u8>)],
    shared: &[(&str, Option<u8>)],
) {
    out.extend_from_slice(b"* NAMESPACE");
    for ns in [personal, other, shared] {
        out.push(b' ');
        if ns.is_empty() {
            out.extend_from_slice(b"NIL");
            continue;
        }
        out.push(b'(');
        for (prefix, delim) in ns {
            out.push(b'(');
            // The prefix is a `string` (not astring): quoted even when it could be an atom.
            match names {
                Names::Utf8 => wire::string(out, prefix.as_bytes()),
                Names::Utf7 => wire::string(out, super::utf7::encode(prefix).as_bytes()),
            }
            out.push(b' ');
            match delim {
                Some(d) => wire::string(out, &[*d]),
                None => out.extend_from_slice(b"NIL"),
            }
            out.push(b')');
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// `* ID ("name" "shardmail" ...)` or `* ID NIL` (RFC 2971 3.2).
pub fn id(out: &mut Vec<u8>, fields: Option<&[(&str, Option<&str>)]>) {
    out.extend_from_slice(b"* ID ");
    match fields {
        Some(f) if !f.is_empty() => {
            out.push(b'(');
            for (i, (k, v)) in f.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                wire::string(out, k.as_bytes());
                out.push(b' ');
                wire::nstring(out, v.map(str::as_bytes));
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.extend_from_slice(b"\r\n");
}

/// `* QUOTA "" (STORAGE 10 512)` (RFC 9208 5.1): (resource, usage, limit); STORAGE is in KiB.
pub fn quota(out: &mut Vec<u8>, root: &str, resources: &[(&str, u64, u64)]) {
    out.extend_from_slice(b"* QUOTA ");
    wire::astring(out, root.as_bytes());
    out.extend_from_slice(b" (");
    for (i, (name, usage, limit)) in resources.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        number(out, *usage);
        out.push(b' ');
        number(out, *limit);
    }
    out.extend_from_slice(b")\r\n");
}

/// `* QUOTAROOT INBOX ""` (RFC 9208 5.2).
pub fn quotaroot(out: &mut Vec<u8>, mailbox_name: &str, names: Names, roots: &[&str]) {
    out.extend_from_slice(b"* QUOTAROOT ");
    mailbox(out, mailbox_name, names);
    for r in roots {
        out.push(b' ');
        wire::astring(out, r.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}
