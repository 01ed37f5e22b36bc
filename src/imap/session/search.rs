//! SEARCH / UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4) with ESEARCH results (RFC 4731, RFC 9051
//! 7.3.4), SORT and THREAD (RFC 5256): the key is compiled by `imap::search` against the session's
//! view and matched message by message; message bytes are read only when the key needs them.

use super::super::backend::{Backend, MailboxView, Message};
use std::borrow::Cow;

use super::super::search::{
    self as search, Address, Candidate, Content, Limits, Query, Scope, SearchError, Stamp,
};
use super::super::seqset::Messages;
use super::super::types::{Command, SearchKey, SearchReturn};
use super::commands::enable_condstore;
use super::{sets, Flow, Session, Sink};

/// The view as `imap::seqset` sees a mailbox.
struct Numbering<'a, V>(&'a V);

impl<V: MailboxView> Messages for Numbering<'_, V> {
    fn count(&self) -> u32 {
        self.0.len()
    }
    fn uid(&self, seq: u32) -> Option<u32> {
        self.0.by_seq(seq).map(|m| m.uid)
    }
    fn seq_at_or_after(&self, uid: u32) -> u32 {
        self.0.seq_at_or_after(uid)
    }
}

/// Content for queries that need none ([`Query::needs_content`] is false): never asked for. Keys
/// that read the message wait for `crate::mime` (`search::LazyMessage`) on main.
struct Unread;

impl Content for Unread {
    fn header_values(&self, _name: &str) -> Vec<Cow<'_, str>> {
        Vec::new()
    }
    fn header_text(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn body_texts(&self) -> Vec<Cow<'_, str>> {
        Vec::new()
    }
    fn sent_date(&self) -> Option<Stamp> {
        None
    }
    fn first_address(&self, _field: &str) -> Option<Address<'_>> {
        None
    }
}

/// One message of the view as SEARCH sees it.
struct Cand<'a, V, C> {
    seq: u32,
    m: Message,
    view: &'a V,
    recent: bool,
    content: Option<&'a C>,
}

impl<'a, V: MailboxView, C: Content> Candidate for Cand<'a, V, C> {
    type Content = C;
    fn seq(&self) -> u32 {
        self.seq
    }
    fn uid(&self) -> u32 {
        self.m.uid
    }
    fn flags(&self) -> u8 {
        self.m.system
    }
    fn has_keyword(&self, keyword: &str) -> bool {
        self.view
            .keywords(&self.m)
            .iter()
            .any(|k| k.eq_ignore_ascii_case(keyword))
    }
    fn recent(&self) -> bool {
        self.recent
    }
    fn internal_date(&self) -> Stamp {
        Stamp::new(self.m.internal_date, self.m.zone)
    }
    fn size(&self) -> u64 {
        u64::from(self.m.size)
    }
    fn modseq(&self) -> u64 {
        self.m.modseq
    }
    fn content(&self) -> Option<&C> {
        self.content
    }
}

pub(super) fn run<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    cmd: Command<'_>,
    now: i64,
    out: &mut dyn Sink,
) -> Flow {
    let Command::Search(q) = cmd else {
        return s.no(tag, "CANNOT", "SORT and THREAD are not available yet", out);
    };
    if let Err(SearchError::BadCharset(_)) = search::check_charset(q.charset.as_deref()) {
        return s.no(
            tag,
            "BADCHARSET (US-ASCII UTF-8)",
            "Unsupported charset",
            out,
        );
    }
    if uses_modseq(&q.key) {
        enable_condstore(s, out);
    }
    s.report(q.uid, &[], q.uid, out);
    let rev1 = !s.enabled.rev2;
    let Some(sel) = s.selected.as_ref() else {
        return s.bad(tag, "No mailbox selected", out);
    };
    let numbering = Numbering(&sel.view);
    let scope = Scope {
        mailbox: &numbering,
        now,
    };
    let query = match Query::compile(&q.key, &scope, &Limits::default()) {
        Ok(q) => q,
        Err(SearchError::BadCharset(_)) => {
            return s.no(
                tag,
                "BADCHARSET (US-ASCII UTF-8)",
                "Unsupported charset",
                out,
            )
        }
        Err(e) => return s.bad(tag, &e.to_string(), out),
    };
    if query.needs_content() {
        return s.no(
            tag,
            "CANNOT",
            "Searching message text is not available yet",
            out,
        );
    }
    let all: Vec<(u32, u32)> = vec![(1, sel.view.len())];
    let ranges: &[(u32, u32)] = match query.scan_range() {
        Some(r) => r.as_slice(),
        None if sel.view.is_empty() => &[],
        None => &all,
    };
    let mut hits: Vec<(u32, u32, u64)> = Vec::new();
    for seq in sets::numbers(ranges) {
        let Some(m) = sel.view.by_seq(seq) else {
            continue;
        };
        let c: Cand<'_, _, Unread> = Cand {
            seq,
            m,
            view: &sel.view,
            recent: rev1 && sel.is_recent(m.uid),
            content: None,
        };
        if query.matches(&c) {
            hits.push((seq, m.uid, m.modseq));
        }
    }
    let numbers: Vec<u32> = hits
        .iter()
        .map(|&(seq, uid, _)| if q.uid { uid } else { seq })
        .collect();
    let top_modseq = query
        .uses_modseq()
        .then(|| hits.iter().map(|h| h.2).max())
        .flatten();
    let o = out.buf();
    match (&q.returns, rev1) {
        (None, true) => {
            o.extend_from_slice(b"* SEARCH");
            for n in &numbers {
                o.extend_from_slice(format!(" {n}").as_bytes());
            }
            if let Some(ms) = top_modseq {
                o.extend_from_slice(format!(" (MODSEQ {ms})").as_bytes());
            }
            o.extend_from_slice(b"\r\n");
        }
        (returns, _) => {
            // RFC 4731 / RFC 9051 7.3.4: ESEARCH, `RETURN ()` and IMAP4rev2's plain SEARCH mean ALL.
            let returns: Vec<SearchReturn> = match returns {
                Some(r) if !r.is_empty() => r.clone(),
                _ => vec![SearchReturn::All],
            };
            o.extend_from_slice(b"* ESEARCH (TAG ");
            super::super::wire::string(o, tag.as_bytes());
            o.push(b')');
            if q.uid {
                o.extend_from_slice(b" UID");
            }
            for r in &returns {
                match r {
                    SearchReturn::Min => {
                        if let Some(n) = numbers.iter().min() {
                            o.extend_from_slice(format!(" MIN {n}").as_bytes());
                        }
                    }
                    SearchReturn::Max => {
                        if let Some(n) = numbers.iter().max() {
                            o.extend_from_slice(format!(" MAX {n}").as_bytes());
                        }
                    }
                    SearchReturn::Count => {
                        o.extend_from_slice(format!(" COUNT {}", numbers.len()).as_bytes());
                    }
                    SearchReturn::All => {
                        if !numbers.is_empty() {
                            o.extend_from_slice(b" ALL ");
                            sets::write_compact(o, numbers.iter().copied());
                        }
                    }
                    SearchReturn::Save => {}
                }
            }
            if let Some(ms) = top_modseq {
                o.extend_from_slice(format!(" MODSEQ {ms}").as_bytes());
            }
            o.extend_from_slice(b"\r\n");
        }
    }
    s.report(q.uid, &[], q.uid, out);
    s.ok(tag, "", "SEARCH completed", out)
}

/// Does the key use MODSEQ (a CONDSTORE-enabling command, RFC 7162 3.1)?
fn uses_modseq(k: &SearchKey<'_>) -> bool {
    match k {
        SearchKey::ModSeq(_) => true,
        SearchKey::And(v) => v.iter().any(uses_modseq),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::Not(a) => uses_modseq(a),
        _ => false,
    }
}
