//! FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162 3.1.4 CHANGEDSINCE and
//! MODSEQ, 3.2.6 VANISHED): message data from the session's view, message structure through
//! `crate::mime`, and body bytes written from the backend's handle (the log's mmap) without a copy
//! when they are large.

use std::borrow::Cow;
use std::ops::Range;

use super::super::backend::{Backend, FlagOp, FlagSet, MailboxView, SEEN};
use super::super::types::{Fetch, FetchAttr, Partial, Section, SectionText};
use super::super::wire;
use super::commands::{enable_condstore, refuse};
use super::reply;
use super::{sets, Flow, Session, Sink};
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

fn needs_bytes(a: &FetchAttr<'_>) -> bool {
    !matches!(
        a,
        FetchAttr::Flags
            | FetchAttr::InternalDate
            | FetchAttr::Rfc822Size
            | FetchAttr::Uid
            | FetchAttr::ModSeq
    )
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
        let body = if f.items.iter().any(needs_bytes) {
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
        o.extend_from_slice(format!("* {q} FETCH (").as_bytes());
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
            o.extend_from_slice(format!("UID {}", m.uid).as_bytes());
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
            o.extend_from_slice(format!("MODSEQ ({})", m.modseq).as_bytes());
        }
        let mut parsed: Option<mime::Message<'_>> = None;
        let raw: &[u8] = body.as_ref().map_or(&[][..], |b| b.as_ref());
        for a in &f.items {
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
                    o.extend_from_slice(format!("RFC822.SIZE {}", m.size).as_bytes());
                }
                FetchAttr::Envelope => {
                    sep(o);
                    o.extend_from_slice(b"ENVELOPE ");
                    let msg = parsed.get_or_insert_with(|| mime::Message::parse(raw));
                    o.extend_from_slice(&msg.envelope());
                }
                FetchAttr::Body | FetchAttr::BodyStructure => {
                    sep(o);
                    let ext = matches!(a, FetchAttr::BodyStructure);
                    o.extend_from_slice(if ext { b"BODYSTRUCTURE " } else { b"BODY " });
                    let msg = parsed.get_or_insert_with(|| mime::Message::parse(raw));
                    o.extend_from_slice(&msg.body_structure(ext));
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
                    o.extend_from_slice(b"BODY");
                    write_section_name(o, section, *partial);
                    o.push(b' ');
                    let data = if section.part.is_empty() && section.text.is_none() {
                        mime::SectionData::Range(0..raw.len())
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
    }
    s.report(f.uid, &seen_now, f.uid, out);
    if unreadable > 0 {
        return s.no(tag, "SERVERBUG", "Some messages could not be read", out);
    }
    s.ok(tag, "", "FETCH completed", out)
}

/// A section's bytes as a literal: spliced from the backend's handle when it is a long range of
/// the stored message, copied otherwise.
fn write_data<T: AsRef<[u8]> + Clone + 'static>(
    out: &mut dyn Sink,
    body: Option<&T>,
    raw: &[u8],
    data: mime::SectionData,
    splice_min: usize,
) {
    match (data, body) {
        (mime::SectionData::Range(r), Some(body))
            if r.len() >= splice_min && r.end <= raw.len() =>
        {
            wire::literal_header(out.buf(), r.len());
            out.splice(Box::new(Slice {
                body: body.clone(),
                range: r,
            }));
        }
        (data, _) => wire::literal(out.buf(), data.bytes(raw)),
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
