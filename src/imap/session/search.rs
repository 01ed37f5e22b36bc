//! SEARCH / UID SEARCH (RFC 9051 6.4.4, RFC 3501 6.4.4) with ESEARCH results (RFC 4731, RFC 9051
//! 7.3.4) and SEARCHRES (RFC 5182: `RETURN (SAVE)` and `$`), SORT and THREAD (RFC 5256): the key is
//! compiled by `imap::search` against the session's view and matched message by message; message
//! bytes are read only when the key (or the sort criteria) needs them, and parsed (`crate::mime`)
//! only on the first content key.

use std::cell::OnceCell;

use super::super::backend::{Backend, MailboxView, Message};
use super::super::search::{self as search, Candidate, Limits, Query, Scope, SearchError, Stamp};
use super::super::seqset::Ranges;
use super::super::sort::{self, SortKeys};
use super::super::thread::{self, ThreadMsg};
use super::super::types::{Command, SearchKey, SearchReturn, Str};
use super::commands::enable_condstore;
use super::{sets, Flow, Session, Sink};
use crate::mime;

/// One message of the view as SEARCH, SORT and THREAD see it. Its bytes are read on the first
/// content key only: the query runs index keys (flags, sizes, dates, sets) first, so a message they
/// reject is never read.
struct Cand<'a, V, D> {
    seq: u32,
    m: Message,
    view: &'a V,
    recent: bool,
    /// The stored bytes, read on first use by `read` (`None` inside when they cannot be read).
    body: &'a OnceCell<Option<D>>,
    read: &'a dyn Fn(&Message) -> Option<D>,
    parsed: OnceCell<mime::Message<'a>>,
}

impl<'a, V: MailboxView, D: AsRef<[u8]>> Candidate for Cand<'a, V, D> {
    type Content = mime::Message<'a>;
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
    fn content(&self) -> Option<&mime::Message<'a>> {
        let body: &'a OnceCell<Option<D>> = self.body;
        let raw: &'a [u8] = body.get_or_init(|| (self.read)(&self.m)).as_ref()?.as_ref();
        Some(self.parsed.get_or_init(|| mime::Message::parse(raw)))
    }
}

/// What the three commands share: the charset, the key, and UID or sequence numbers.
struct Ask<'k, 'a> {
    uid: bool,
    charset: Option<&'k Str<'a>>,
    key: &'k SearchKey<'a>,
}

const BADCHARSET: &str = "BADCHARSET (US-ASCII UTF-8)";

pub(super) fn run<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    cmd: Command<'_>,
    now: i64,
    out: &mut dyn Sink,
) -> Flow {
    let (ask, what) = match &cmd {
        Command::Search(q) => (
            Ask {
                uid: q.uid,
                charset: q.charset.as_ref(),
                key: &q.key,
            },
            What::Search(q.returns.as_deref()),
        ),
        Command::Sort {
            uid,
            criteria,
            charset,
            key,
            ..
        } => (
            Ask {
                uid: *uid,
                charset: Some(charset),
                key,
            },
            What::Sort(criteria),
        ),
        Command::Thread {
            uid,
            algorithm,
            charset,
            key,
        } => (
            Ask {
                uid: *uid,
                charset: Some(charset),
                key,
            },
            What::Thread(*algorithm),
        ),
        _ => return s.bad(tag, "not a search", out),
    };
    let save = matches!(what, What::Search(Some(r)) if r.contains(&SearchReturn::Save));
    // RFC 5182 2.1: a SEARCH with SAVE that fails (NO or BAD) leaves the variable empty. (One that
    // succeeds may use `$` itself, refining the saved result: it is replaced only at the end.)
    let forget = |s: &mut Session<B>| {
        if let (true, Some(sel)) = (save, s.selected.as_mut()) {
            sel.saved = None;
        }
    };
    if search::check_charset(ask.charset.map(|c| c.as_ref())).is_err() {
        forget(s);
        return s.no(tag, BADCHARSET, "Unsupported charset", out);
    }
    if uses_modseq(ask.key) {
        enable_condstore(s, out);
    }
    s.report(ask.uid, &[], ask.uid, out);
    let rev1 = !s.enabled.rev2;
    let (Some(b), Some(sel)) = (s.backend.as_ref(), s.selected.as_ref()) else {
        return s.bad(tag, "No mailbox selected", out);
    };
    let numbering = sets::Numbering(&sel.view);
    let scope = Scope {
        mailbox: &numbering,
        now,
    };
    let query =
        match Query::compile_with_saved(ask.key, &scope, &Limits::default(), sel.saved.as_ref()) {
            Ok(q) => q,
            Err(SearchError::BadCharset(_)) => {
                forget(s);
                return s.no(tag, BADCHARSET, "Unsupported charset", out);
            }
            Err(e) => {
                forget(s);
                return s.bad(tag, &e.to_string(), out);
            }
        };
    let read = |m: &Message| b.body(m).ok();
    let all: Vec<(u32, u32)> = vec![(1, sel.view.len())];
    let ranges: &[(u32, u32)] = match query.scan_range() {
        Some(r) => r.as_slice(),
        None => &all,
    };
    let mut hits: Vec<(u32, u32, u64)> = Vec::new();
    let mut sort_keys: Vec<SortKeys> = Vec::new();
    let mut thread_msgs: Vec<ThreadMsg> = Vec::new();
    for seq in sets::numbers(ranges) {
        let Some(m) = sel.view.by_seq(seq) else {
            continue;
        };
        // SORT and THREAD read headers (subject, date, addresses, references) of what matched.
        let body = OnceCell::new();
        let c = Cand {
            seq,
            m,
            view: &sel.view,
            recent: rev1 && sel.is_recent(m.uid),
            body: &body,
            read: &read,
            parsed: OnceCell::new(),
        };
        if !query.matches(&c) {
            continue;
        }
        hits.push((seq, m.uid, m.modseq));
        match what {
            What::Search(_) => {}
            What::Sort(criteria) => sort_keys.push(SortKeys::of(criteria, &c)),
            What::Thread(_) => thread_msgs.push(ThreadMsg::of(&c, ask.uid)),
        }
    }
    let top_modseq = query
        .uses_modseq()
        .then(|| hits.iter().map(|h| h.2).max())
        .flatten();
    let saved = save.then(|| saved_result(what, &hits));
    let o = out.buf();
    match what {
        // RFC 5182 2.1: SAVE alone answers nothing but the tagged OK.
        What::Search(Some(r)) if r.iter().all(|x| *x == SearchReturn::Save) && save => {}
        What::Search(returns) => {
            let numbers: Vec<u32> = hits
                .iter()
                .map(|&(seq, uid, _)| if ask.uid { uid } else { seq })
                .collect();
            write_search(o, tag, ask.uid, rev1, returns, &numbers, top_modseq);
        }
        What::Sort(criteria) => {
            // RFC 5256 4: `* SORT` with the numbers in sorted order.
            sort::sort(criteria, &mut sort_keys);
            o.extend_from_slice(b"* SORT");
            for k in &sort_keys {
                let n = if ask.uid { k.uid } else { k.seq };
                o.extend_from_slice(format!(" {n}").as_bytes());
            }
            if let Some(ms) = top_modseq {
                o.extend_from_slice(format!(" (MODSEQ {ms})").as_bytes());
            }
            o.extend_from_slice(b"\r\n");
        }
        What::Thread(algorithm) => {
            let forest = thread::thread(algorithm, &thread_msgs);
            o.extend_from_slice(b"* THREAD ");
            forest.write(o);
            o.extend_from_slice(b"\r\n");
        }
    }
    if let (Some(saved), Some(sel)) = (saved, s.selected.as_mut()) {
        sel.saved = Some(saved);
    }
    s.report(ask.uid, &[], ask.uid, out);
    let text = match what {
        What::Search(_) => "SEARCH completed",
        What::Sort(_) => "SORT completed",
        What::Thread(_) => "THREAD completed",
    };
    s.ok(tag, "", text, out)
}

#[derive(Clone, Copy)]
enum What<'c> {
    Search(Option<&'c [SearchReturn]>),
    Sort(&'c [super::super::types::SortCriterion]),
    Thread(super::super::types::ThreadAlgorithm),
}

/// What `RETURN (SAVE ...)` keeps, as UIDs (RFC 5182 2.1): with MIN and/or MAX and neither ALL nor
/// COUNT, just those messages; otherwise every match.
fn saved_result(what: What<'_>, hits: &[(u32, u32, u64)]) -> Ranges {
    let returns = match what {
        What::Search(Some(r)) => r,
        _ => &[],
    };
    let has = |x: SearchReturn| returns.contains(&x);
    let uids = hits.iter().map(|h| h.1);
    if (has(SearchReturn::Min) || has(SearchReturn::Max))
        && !has(SearchReturn::All)
        && !has(SearchReturn::Count)
    {
        // Hits ascend by sequence number, hence by UID.
        let mut v = Vec::new();
        if let (true, Some(h)) = (has(SearchReturn::Min), hits.first()) {
            v.push(h.1);
        }
        if let (true, Some(h)) = (has(SearchReturn::Max), hits.last()) {
            v.push(h.1);
        }
        return Ranges::from_numbers(v);
    }
    Ranges::from_numbers(uids)
}

/// `* SEARCH ...` (IMAP4rev1 without RETURN) or `* ESEARCH ...` (RFC 4731, RFC 9051 7.3.4).
fn write_search(
    o: &mut Vec<u8>,
    tag: &str,
    uid: bool,
    rev1: bool,
    returns: Option<&[SearchReturn]>,
    numbers: &[u32],
    top_modseq: Option<u64>,
) {
    if returns.is_none() && rev1 {
        o.extend_from_slice(b"* SEARCH");
        for n in numbers {
            o.extend_from_slice(format!(" {n}").as_bytes());
        }
        if let Some(ms) = top_modseq {
            o.extend_from_slice(format!(" (MODSEQ {ms})").as_bytes());
        }
        o.extend_from_slice(b"\r\n");
        return;
    }
    // `RETURN ()` and IMAP4rev2's plain SEARCH mean ALL.
    let returns: &[SearchReturn] = match returns {
        Some(r) if !r.is_empty() => r,
        _ => &[SearchReturn::All],
    };
    o.extend_from_slice(b"* ESEARCH (TAG ");
    super::super::wire::string(o, tag.as_bytes());
    o.push(b')');
    if uid {
        o.extend_from_slice(b" UID");
    }
    for r in returns {
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
