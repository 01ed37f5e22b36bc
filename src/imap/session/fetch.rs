//! FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162 3.1.4 CHANGEDSINCE and
//! MODSEQ, 3.2.6 VANISHED): message data from the session's view, message structure through
//! `crate::mime`, and body bytes written from the backend's handle (the log's mmap) without a copy
//! when they are large.

use std::borrow::Cow;
use std::ops::Range;
use std::rc::Rc;

use super::super::backend::{Backend, FlagOp, FlagSet, MailboxView, Message, SEEN};
use super::super::types::{Fetch, FetchAttr, Partial, Section, SectionText};
use super::super::wire;
use super::commands::{enable_condstore, refuse};
use super::reply;
use super::{sets, Flow, Session, Sink, STREAM_AT};
use crate::mime;

/// A range of a message's bytes, kept alive by the backend's handle until the shell writes it.
struct Slice<T> {
    body: T,
    range: Range<usize>,
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Slice<T> {
    fn as_ref(&self) -> &[u8] {
        self.body
            .as_ref()
            .get(self.range.clone())
            .unwrap_or_default()
    }
}

/// Does this item read the message body (and set \Seen unless PEEK, RFC 9051 6.4.5)?
fn sets_seen(a: &FetchAttr<'_>) -> bool {
    matches!(
        a,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
            | FetchAttr::Section { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
    )
}

/// `BODY[HEADER]` / `BODY[HEADER.FIELDS (...)]` of the message itself: served from its summary.
fn top_header(s: &Section<'_>) -> bool {
    s.part.is_empty()
        && matches!(
            s.text,
            Some(SectionText::Header | SectionText::HeaderFields { .. })
        )
}

/// Does this item answer from the message's summary (`imap::summary`) when there is one?
fn summarised(a: &FetchAttr<'_>) -> bool {
    match a {
        FetchAttr::Envelope | FetchAttr::Body | FetchAttr::BodyStructure => true,
        FetchAttr::Rfc822Header => true,
        FetchAttr::Section { section, .. } => top_header(section),
        _ => false,
    }
}

/// Does this item need the message's bytes, given its kept summary (if any)?
fn needs_bytes(a: &FetchAttr<'_>, kept: Option<&mime::Summary>) -> bool {
    match a {
        FetchAttr::Flags
        | FetchAttr::InternalDate
        | FetchAttr::Rfc822Size
        | FetchAttr::Uid
        | FetchAttr::ModSeq => false,
        FetchAttr::Envelope | FetchAttr::Body | FetchAttr::BodyStructure => kept.is_none(),
        // A header longer than the summary's copy is read from the message.
        a if summarised(a) => kept.is_none_or(|s| s.header_copy.is_none()),
        _ => true,
    }
}

/// The message's summary: the kept one, or one made from `raw` (reusing the FETCH's parse) and
/// handed to the backend to keep for the next FETCH of any session.
fn summary_of<'r, B: Backend>(
    kept: &mut Option<Rc<mime::Summary>>,
    parsed: &mut Option<mime::Message<'r>>,
    raw: &'r [u8],
    b: &B,
    m: &Message,
) -> Rc<mime::Summary> {
    if let Some(s) = kept {
        return s.clone();
    }
    let msg = parsed.get_or_insert_with(|| mime::Message::parse(raw));
    let s = b.keep_summary(m, msg.summary());
    *kept = Some(s.clone());
    s
}

pub(super) async fn fetch<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    f: Fetch<'_>,
    out: &mut dyn Sink,
) -> Flow {
    if f.vanished && (!f.uid || !s.enabled.qresync || f.changed_since.is_none()) {
        // RFC 7162 3.2.6: UID FETCH only, with CHANGEDSINCE, after ENABLE QRESYNC.
        return s.bad(
            tag,
            "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC",
            out,
        );
    }
    if f.changed_since.is_some() || f.items.iter().any(|a| matches!(a, FetchAttr::ModSeq)) {
        enable_condstore(s, out);
    }
    s.report(f.uid, &[], f.uid, out);
    let (Some(b), Some(sel)) = (s.backend.as_ref(), s.selected.as_ref()) else {
        return s.bad(tag, "No mailbox selected", out);
    };
    let seqs = match sets::resolve(&f.set, f.uid, sel) {
        Ok(r) => r,
        // RFC 9051 6.4.5 / 9: FETCH of message numbers that do not exist is BAD; an empty
        // mailbox answers a UID FETCH with nothing.
        Err(e) => return s.bad(tag, &e, out),
    };
    let w = s.wording();
    if let (true, Some(since)) = (f.vanished, f.changed_since) {
        let star = sel.view.counters().uidnext.saturating_sub(1);
        let asked = sets::uid_set(&f.set, star, sel);
        let gone: Vec<u32> = sel
            .view
            .vanished_since(since)
            .unwrap_or_default()
            .into_iter()
            .filter(|u| asked.iter().any(|&(a, z)| *u >= a && *u <= z))
            .collect();
        if !gone.is_empty() {
            let o = out.buf();
            o.extend_from_slice(b"* VANISHED (EARLIER) ");
            sets::write_compact(o, gone);
            o.extend_from_slice(b"\r\n");
        }
    }
    // \Seen first, so the FETCH responses carry the new flags (RFC 9051 6.4.5: the FLAGS change is
    // reported, here inside the same FETCH response).
    let mut seen_now: Vec<u32> = Vec::new();
    if !sel.read_only && f.items.iter().any(sets_seen) {
        seen_now = sets::numbers(&seqs)
            .filter_map(|q| sel.view.by_seq(q))
            .filter(|m| m.system & SEEN == 0 && f.changed_since.is_none_or(|c| m.modseq > c))
            .map(|m| m.uid)
            .collect();
        if !seen_now.is_empty() {
            let seen = FlagSet {
                system: SEEN,
                keywords: Vec::new(),
            };
            if let Err(e) = b
                .store(&sel.name, &seen_now, FlagOp::Add, &seen, None)
                .await
            {
                return refuse(s, tag, &e, false, out);
            }
        }
    }
    let condstore = s.enabled.condstore;
    let mut unreadable = 0u32;
    let splice_min = s.cfg.splice_min;
    let wants_summary = f.items.iter().any(summarised);
    // `BODY[...]<origin> ` of each section item, written once for every message.
    let section_names: Vec<Vec<u8>> = f
        .items
        .iter()
        .map(|a| match a {
            FetchAttr::Section {
                section, partial, ..
            } => {
                let mut n = b"BODY".to_vec();
                write_section_name(&mut n, section, *partial);
                n.push(b' ');
                n
            }
            _ => Vec::new(),
        })
        .collect();
    for q in sets::numbers(&seqs) {
        let Some(mut m) = sel.view.by_seq(q) else {
            continue;
        };
        if f.changed_since.is_some_and(|c| m.modseq <= c) {
            continue;
        }
        let just_seen = seen_now.binary_search(&m.uid).is_ok();
        if just_seen {
            m.system |= SEEN;
        }
        // A kept summary answers ENVELOPE, BODY, BODYSTRUCTURE and header sections without reading
        // or parsing the message (issue 10).
        let mut kept = if wants_summary { b.summary(&m) } else { None };
        let body = if f.items.iter().any(|a| needs_bytes(a, kept.as_deref())) {
            // Compaction may have moved the bytes since this view was taken (a Relocate event):
            // the newest view knows where they are now.
            let moved = || {
                let now = b.view(&sel.name).ok()?;
                b.body(&now.by_uid(m.uid)?.1).ok()
            };
            match b.body(&m).ok().or_else(moved) {
                Some(body) => Some(body),
                None => {
                    unreadable += 1;
                    continue;
                }
            }
        } else {
            None
        };
        let o = out.buf();
        o.extend_from_slice(b"* ");
        wire::number(o, q.into());
        o.extend_from_slice(b" FETCH (");
        let mut first = true;
        let mut sep = |o: &mut Vec<u8>| {
            if !first {
                o.push(b' ');
            }
            first = false;
        };
        let asks = |want: fn(&FetchAttr<'_>) -> bool| f.items.iter().any(want);
        if f.uid || asks(|a| matches!(a, FetchAttr::Uid)) {
            sep(o);
            o.extend_from_slice(b"UID ");
            wire::number(o, m.uid.into());
        }
        let flags = asks(|a| matches!(a, FetchAttr::Flags)) || just_seen;
        if flags {
            sep(o);
            o.extend_from_slice(b"FLAGS ");
            reply::message_flags(o, &sel.view, &m, w.rev1 && sel.is_recent(m.uid));
        }
        // RFC 7162 3.1.4.1: CHANGEDSINCE implies MODSEQ; with CONDSTORE on, FLAGS come with it.
        if asks(|a| matches!(a, FetchAttr::ModSeq))
            || f.changed_since.is_some()
            || (flags && condstore)
        {
            sep(o);
            o.extend_from_slice(b"MODSEQ (");
            wire::number(o, m.modseq);
            o.push(b')');
        }
        let mut parsed: Option<mime::Message<'_>> = None;
        let raw: &[u8] = body.as_ref().map_or(&[][..], |b| b.as_ref());
        for (i, a) in f.items.iter().enumerate() {
            let o = out.buf();
            match a {
                FetchAttr::Uid | FetchAttr::Flags | FetchAttr::ModSeq => {}
                FetchAttr::InternalDate => {
                    sep(o);
                    o.extend_from_slice(b"INTERNALDATE ");
                    reply::date_time(o, m.internal_date, m.zone);
                }
                FetchAttr::Rfc822Size => {
                    sep(o);
                    o.extend_from_slice(b"RFC822.SIZE ");
                    wire::number(o, m.size.into());
                }
                FetchAttr::Envelope => {
                    sep(o);
                    o.extend_from_slice(b"ENVELOPE ");
                    let sum = summary_of(&mut kept, &mut parsed, raw, b, &m);
                    o.extend_from_slice(&sum.envelope);
                }
                FetchAttr::Body | FetchAttr::BodyStructure => {
                    sep(o);
                    let ext = matches!(a, FetchAttr::BodyStructure);
                    o.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                    let sum = summary_of(&mut kept, &mut parsed, raw, b, &m);
                    o.extend_from_slice(if ext { &sum.body_structure } else { &sum.body });
                }
                FetchAttr::Rfc822 | FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                    sep(o);
                    let (name, text) = match a {
                        FetchAttr::Rfc822 => ("RFC822", None),
                        FetchAttr::Rfc822Header => ("RFC822.HEADER", Some(SectionText::Header)),
                        _ => ("RFC822.TEXT", Some(SectionText::Text)),
                    };
                    o.extend_from_slice(name.as_bytes());
                    o.push(b' ');
                    let data = match text {
                        None => mime::SectionData::Range(0..raw.len()),
                        Some(SectionText::Header) => {
                            let sum = summary_of(&mut kept, &mut parsed, raw, b, &m);
                            header_data(&sum, &SectionText::Header, raw)
                        }
                        Some(t) => parsed
                            .get_or_insert_with(|| mime::Message::parse(raw))
                            .section(&[], Some(&t)),
                    };
                    write_data(out, body.as_ref(), raw, data, splice_min);
                }
                FetchAttr::Section {
                    section, partial, ..
                } => {
                    sep(o);
                    o.extend_from_slice(&section_names[i]);
                    if let (true, None, Some(SectionText::HeaderFields { not, fields })) =
                        (section.part.is_empty(), partial, &section.text)
                    {
                        // The commonest header request (a client listing a mailbox): written
                        // from the summary's field index, no scan and no intermediate copy.
                        let sum = summary_of(&mut kept, &mut parsed, raw, b, &m);
                        if write_fields(o, &sum, fields, *not) {
                            continue;
                        }
                    }
                    let data = if section.part.is_empty() && section.text.is_none() {
                        mime::SectionData::Range(0..raw.len())
                    } else if let (true, Some(t)) = (top_header(section), &section.text) {
                        let sum = summary_of(&mut kept, &mut parsed, raw, b, &m);
                        header_data(&sum, t, raw)
                    } else {
                        parsed
                            .get_or_insert_with(|| mime::Message::parse(raw))
                            .section(&section.part, section.text.as_ref())
                    };
                    let data = match partial {
                        Some(p) => data.partial(p.origin, p.count),
                        None => data,
                    };
                    write_data(out, body.as_ref(), raw, data, splice_min);
                }
                FetchAttr::Binary { part, partial, .. } => {
                    let msg = parsed.get_or_insert_with(|| mime::Message::parse(raw));
                    let Ok(bytes) = msg.binary(part) else {
                        // RFC 3516 4.3: a transfer encoding the server cannot decode.
                        out.buf().extend_from_slice(b")\r\n");
                        return s.no(tag, "UNKNOWN-CTE", "Unknown Content-Transfer-Encoding", out);
                    };
                    sep(o);
                    o.extend_from_slice(b"BINARY[");
                    write_part(o, part);
                    o.push(b']');
                    let bytes: Cow<'_, [u8]> = match partial {
                        Some(p) => {
                            o.extend_from_slice(format!("<{}>", p.origin).as_bytes());
                            let r = mime::partial(bytes.len(), p.origin, p.count);
                            match bytes {
                                Cow::Borrowed(x) => Cow::Borrowed(&x[r]),
                                Cow::Owned(x) => Cow::Owned(x[r].to_vec()),
                            }
                        }
                        None => bytes,
                    };
                    o.push(b' ');
                    // RFC 3516 4.2: literal8 (`~{n}`) when the data holds NUL.
                    if bytes.contains(&0) {
                        o.push(b'~');
                    }
                    wire::literal(o, &bytes);
                }
                FetchAttr::BinarySize { part } => {
                    let msg = parsed.get_or_insert_with(|| mime::Message::parse(raw));
                    let Ok(n) = msg.binary_size(part) else {
                        out.buf().extend_from_slice(b")\r\n");
                        return s.no(tag, "UNKNOWN-CTE", "Unknown Content-Transfer-Encoding", out);
                    };
                    sep(o);
                    o.extend_from_slice(b"BINARY.SIZE[");
                    write_part(o, part);
                    o.extend_from_slice(format!("] {n}").as_bytes());
                }
            }
        }
        out.buf().extend_from_slice(b")\r\n");
        // Stream: what this FETCH wrote so far goes out before the next message (memory per
        // session stays bounded by STREAM_AT plus one message's items, whatever the set).
        if out.pending() >= STREAM_AT && !out.drain().await {
            return Flow::Close;
        }
    }
    s.report(f.uid, &seen_now, f.uid, out);
    if unreadable > 0 {
        return s.no(tag, "SERVERBUG", "Some messages could not be read", out);
    }
    s.ok(tag, "", "FETCH completed", out)
}

/// `HEADER` or `HEADER.FIELDS[.NOT]` of the message from its summary: built from the summary's copy
/// of the header, or the header's range of the message when it was too long to copy.
fn header_data(sum: &mime::Summary, t: &SectionText<'_>, raw: &[u8]) -> mime::SectionData {
    match (t, &sum.header_copy) {
        (SectionText::HeaderFields { not, fields }, _) => mime::SectionData::Built(
            mime::header_fields(sum.header_bytes(raw), fields.as_slice(), *not),
        ),
        (_, Some(h)) => mime::SectionData::Built(h.to_vec()),
        (_, None) => mime::SectionData::Range(sum.header.range()),
    }
}

/// HEADER.FIELDS[.NOT] of the message as a literal, from the summary's copy of the header and its
/// field index (the same bytes as `mime::header_fields`: each field whole, a line break added to a
/// last line without one, then the blank line); `false` (nothing written) without a copy.
fn write_fields<N: AsRef<[u8]>>(
    o: &mut Vec<u8>,
    sum: &mime::Summary,
    names: &[N],
    not: bool,
) -> bool {
    let Some(picked) = sum.fields_matching(names, not) else {
        return false;
    };
    let ends = |f: &[u8]| if f.ends_with(b"\n") { 0 } else { 2 };
    let len: usize = picked.map(|f| f.len() + ends(f)).sum::<usize>() + 2;
    wire::literal_header(o, len);
    let at = o.len();
    for f in sum.fields_matching(names, not).into_iter().flatten() {
        o.extend_from_slice(f);
        if ends(f) > 0 {
            o.extend_from_slice(b"\r\n");
        }
    }
    o.extend_from_slice(b"\r\n");
    // RFC 9051 9 CHAR8: no NUL in a literal (as `wire::literal_text`).
    for b in &mut o[at..] {
        if *b == 0 {
            *b = 0x80;
        }
    }
    true
}

/// A section's bytes as a literal: spliced from the backend's handle when it is a long range of
/// the stored message, copied otherwise. RFC 3501 9 (rule 3) and RFC 9051 9 (`CHAR8`): no NUL in a
/// literal, so a section holding NUL (a message APPENDed as literal8) is copied with each NUL as
/// 0x80, like `wire::string` (BINARY[] is where a client gets such bytes as they are).
fn write_data<T: AsRef<[u8]> + Clone + 'static>(
    out: &mut dyn Sink,
    body: Option<&T>,
    raw: &[u8],
    data: mime::SectionData,
    splice_min: usize,
) {
    match (data, body) {
        (mime::SectionData::Range(r), Some(body))
            if r.len() >= splice_min
                && raw
                    .get(r.clone())
                    .is_some_and(|b| memchr::memchr(0, b).is_none()) =>
        {
            wire::literal_header(out.buf(), r.len());
            out.splice(Box::new(Slice {
                body: body.clone(),
                range: r,
            }));
        }
        (data, _) => wire::literal_text(out.buf(), data.bytes(raw)),
    }
}

fn write_part(o: &mut Vec<u8>, part: &[u32]) {
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            o.push(b'.');
        }
        o.extend_from_slice(p.to_string().as_bytes());
    }
}

/// `[1.2.HEADER.FIELDS (A B)]<origin>` as the response names the section (RFC 9051 7.5.2: only the
/// origin of a partial).
fn write_section_name(o: &mut Vec<u8>, s: &Section<'_>, partial: Option<Partial>) {
    o.push(b'[');
    write_part(o, &s.part);
    if let Some(t) = &s.text {
        if !s.part.is_empty() {
            o.push(b'.');
        }
        match t {
            SectionText::Header => o.extend_from_slice(b"HEADER"),
            SectionText::Text => o.extend_from_slice(b"TEXT"),
            SectionText::Mime => o.extend_from_slice(b"MIME"),
            SectionText::HeaderFields { not, fields } => {
                o.extend_from_slice(if *not {
                    b"HEADER.FIELDS.NOT ("
                } else {
                    b"HEADER.FIELDS ("
                });
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        o.push(b' ');
                    }
                    wire::astring(o, f);
                }
                o.push(b')');
            }
        }
    }
    o.push(b']');
    if let Some(p) = partial {
        o.extend_from_slice(format!("<{}>", p.origin).as_bytes());
    }
}
