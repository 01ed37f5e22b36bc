//! The commands of the authenticated and selected states (RFC 9051 6.3, 6.4) that change or open a
//! mailbox: ENABLE, SELECT/EXAMINE (with CONDSTORE/QRESYNC, RFC 7162 3.1.8, 3.2.5), CLOSE, UNSELECT,
//! EXPUNGE, UID EXPUNGE, STORE (RFC 7162 3.1.3 UNCHANGEDSINCE), COPY and MOVE (RFC 4315, RFC 6851).
//! Folder commands are in `mailboxes.rs`, FETCH in `fetch.rs`.

use super::super::backend::{self, Backend, BackendError, FlagOp, FlagSet, MailboxView, DELETED};
use super::super::seqset::Ranges;
use super::super::types::{Command, Flag, SelectParams, SequenceSet, Store, StoreMode};
use super::reply::{self, Status};
use super::selected::Selected;
use super::{fetch, mailboxes, search, sets, Flow, Session, Sink};

/// Runs a command that needs an authenticated session.
pub(super) async fn run<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    cmd: Command<'_>,
    now: i64,
    out: &mut dyn Sink,
) -> Flow {
    let selected = s.selected.is_some();
    match cmd {
        Command::Enable(caps) => enable(s, tag, &caps, out),
        Command::Select { mailbox, params } => select(s, tag, &mailbox, params, false, out).await,
        Command::Examine { mailbox, params } => select(s, tag, &mailbox, params, true, out).await,
        Command::Idle => s.idle(tag, out),
        Command::Compress(mech) => {
            if !s.cfg.compress {
                return s.bad(tag, "COMPRESS is not available", out);
            }
            if !mech.eq_ignore_ascii_case("DEFLATE") {
                return s.no(tag, "CANNOT", "Unknown compression mechanism", out);
            }
            if s.compressed {
                return s.no(tag, "COMPRESSIONACTIVE", "Compression is already on", out);
            }
            s.ok(tag, "", "DEFLATE active", out);
            s.compressed = true;
            Flow::Compress
        }
        Command::Create { .. }
        | Command::Delete(_)
        | Command::Rename { .. }
        | Command::Subscribe(_)
        | Command::Unsubscribe(_)
        | Command::List(_)
        | Command::Lsub { .. }
        | Command::Namespace
        | Command::Status { .. }
        | Command::Append { .. }
        | Command::GetQuota(_)
        | Command::GetQuotaRoot(_)
        | Command::SetQuota { .. } => mailboxes::run(s, tag, cmd, now, out).await,
        _ if !selected => s.bad(tag, "No mailbox selected", out),
        Command::Check => s.done(tag, "CHECK completed", true, out),
        Command::Close => close(s, tag, true, out).await,
        Command::Unselect => close(s, tag, false, out).await,
        Command::Expunge => expunge(s, tag, None, out).await,
        Command::UidExpunge(set) => expunge(s, tag, Some(&set), out).await,
        Command::Fetch(f) => fetch::fetch(s, tag, f, out).await,
        Command::Store(st) => store(s, tag, st, out).await,
        Command::Copy { uid, set, mailbox } => copy(s, tag, uid, &set, &mailbox, false, out).await,
        Command::Move { uid, set, mailbox } => copy(s, tag, uid, &set, &mailbox, true, out).await,
        Command::Search(_) | Command::Sort { .. } | Command::Thread { .. } => {
            search::run(s, tag, cmd, now, out)
        }
        // Commands of the other states were handled before.
        _ => s.bad(tag, "Command not valid in this state", out),
    }
}

/// ENABLE (RFC 5161, RFC 9051 6.3.1): only before a mailbox is selected.
fn enable<B: Backend>(s: &mut Session<B>, tag: &str, caps: &[&str], out: &mut dyn Sink) -> Flow {
    if s.selected.is_some() {
        return s.bad(
            tag,
            "ENABLE is not allowed while a mailbox is selected",
            out,
        );
    }
    let mut now_on: Vec<&str> = Vec::new();
    for c in caps {
        let e = &mut s.enabled;
        let flag = if c.eq_ignore_ascii_case("IMAP4rev2") {
            &mut e.rev2
        } else if c.eq_ignore_ascii_case("CONDSTORE") {
            &mut e.condstore
        } else if c.eq_ignore_ascii_case("QRESYNC") {
            // RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
            e.condstore = true;
            &mut e.qresync
        } else if c.eq_ignore_ascii_case("UTF8=ACCEPT") {
            &mut e.utf8
        } else {
            continue;
        };
        if !*flag {
            *flag = true;
            now_on.push(c);
        }
    }
    let o = out.buf();
    o.extend_from_slice(b"* ENABLED");
    for c in now_on {
        o.push(b' ');
        o.extend_from_slice(c.as_bytes());
    }
    o.extend_from_slice(b"\r\n");
    s.ok(tag, "", "ENABLE completed", out)
}

/// Turns CONDSTORE on by a CONDSTORE-enabling command (RFC 7162 3.1); while a mailbox is selected
/// the client then learns its HIGHESTMODSEQ (RFC 7162 3.1.2.1).
pub(super) fn enable_condstore<B: Backend>(s: &mut Session<B>, out: &mut dyn Sink) {
    if s.enabled.condstore {
        return;
    }
    s.enabled.condstore = true;
    if let Some(sel) = &s.selected {
        let code = format!("HIGHESTMODSEQ {}", sel.view.counters().highestmodseq);
        reply::untagged(out.buf(), Status::Ok, &code, "Highest");
    }
}

/// The canonical name of a mailbox argument, or a NO already written.
pub(super) fn mailbox_name<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    raw: &[u8],
    out: &mut dyn Sink,
) -> Option<String> {
    match mailboxes::decode_name(s.enabled, raw) {
        Some(n) => Some(n),
        None => {
            s.no(tag, "CANNOT", "Invalid mailbox name", out);
            None
        }
    }
}

/// NO with the response code of a backend refusal (RFC 5530).
pub(super) fn refuse<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    e: &BackendError,
    trycreate: bool,
    out: &mut dyn Sink,
) -> Flow {
    let code = match e {
        BackendError::NoMailbox if trycreate => "TRYCREATE",
        BackendError::NoMailbox => "NONEXISTENT",
        BackendError::Exists => "ALREADYEXISTS",
        BackendError::InvalidName | BackendError::Cannot(_) => "CANNOT",
        BackendError::OverQuota => "OVERQUOTA",
        BackendError::UseAttr(_) => "USEATTR",
        BackendError::Unavailable(_) => "UNAVAILABLE",
    };
    let text = e.to_string();
    s.no(tag, code, &text, out)
}

/// SELECT / EXAMINE (RFC 9051 6.3.2, 6.3.3; RFC 3501 6.3.1 for IMAP4rev1's RECENT and UNSEEN).
async fn select<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    raw: &[u8],
    params: SelectParams,
    read_only: bool,
    out: &mut dyn Sink,
) -> Flow {
    if params.qresync.is_some() && !s.enabled.qresync {
        // RFC 7162 3.2.5: the QRESYNC parameter needs ENABLE QRESYNC first.
        return s.bad(tag, "QRESYNC is not enabled", out);
    }
    // A SELECT deselects the current mailbox first, whatever its outcome (RFC 9051 6.3.2), without
    // expunging; QRESYNC and IMAP4rev2 clients are told (RFC 7162 3.2.11, RFC 9051 7.1).
    if s.selected.take().is_some() && (s.enabled.qresync || s.enabled.rev2) {
        reply::untagged(out.buf(), Status::Ok, "CLOSED", "Previous mailbox closed");
    }
    let Some(name) = mailbox_name(s, tag, raw, out) else {
        return Flow::Ready;
    };
    if params.condstore || params.qresync.is_some() {
        s.enabled.condstore = true;
    }
    let Some(b) = s.backend.as_ref() else {
        return Flow::Ready;
    };
    let view = match b.view(&name) {
        Ok(v) => v,
        Err(e) => return refuse(s, tag, &e, false, out),
    };
    let c = view.counters();
    // \Recent (RFC 3501 2.3.2): SELECT claims the unclaimed ones for this session alone; EXAMINE
    // shows them without claiming.
    let recent_from = if read_only {
        view.by_seq(view.len() - c.recent.min(view.len()) + 1)
            .map_or(c.uidnext, |m| m.uid)
    } else {
        match b.claim_recent(&name, c.uidnext).await {
            Ok(first) => first,
            Err(e) => return refuse(s, tag, &e, false, out),
        }
    };
    let sel = Selected {
        name,
        read_only,
        view,
        recent: Ranges::from_ranges(
            (recent_from < c.uidnext).then_some((recent_from, c.uidnext - 1)),
        ),
        saved: None,
    };
    let rev1 = !s.enabled.rev2;
    let o = out.buf();
    let keywords = sel.view.keyword_names();
    let mut flags = Vec::new();
    reply::flag_list(&mut flags, 0x1f, &keywords, false);
    o.extend_from_slice(b"* FLAGS ");
    o.extend_from_slice(&flags);
    o.extend_from_slice(b"\r\n");
    o.extend_from_slice(format!("* {} EXISTS\r\n", sel.view.len()).as_bytes());
    if rev1 {
        o.extend_from_slice(format!("* {} RECENT\r\n", sel.recent_count()).as_bytes());
        if let Some(u) = sel.view.first_unseen() {
            reply::untagged(o, Status::Ok, &format!("UNSEEN {u}"), "First unseen");
        }
    }
    let permanent = if read_only {
        "PERMANENTFLAGS ()".to_string()
    } else {
        // Existing keywords, and `\*`: clients may create new ones (RFC 9051 7.1).
        let mut p = flags.clone();
        p.pop();
        p.extend_from_slice(b" \\*)");
        format!("PERMANENTFLAGS {}", String::from_utf8_lossy(&p))
    };
    reply::untagged(o, Status::Ok, &permanent, "Flags permitted");
    reply::untagged(
        o,
        Status::Ok,
        &format!("UIDVALIDITY {}", c.uidvalidity),
        "UIDs valid",
    );
    reply::untagged(
        o,
        Status::Ok,
        &format!("UIDNEXT {}", c.uidnext),
        "Predicted next UID",
    );
    reply::untagged(
        o,
        Status::Ok,
        &format!("HIGHESTMODSEQ {}", c.highestmodseq),
        "Highest",
    );
    if !rev1 {
        // RFC 9051 6.3.2: the mailbox name as the server knows it.
        o.extend_from_slice(b"* LIST () \"/\" ");
        mailboxes::write_name(o, s.enabled, &sel.name);
        o.extend_from_slice(b"\r\n");
    }
    if let Some(q) = &params.qresync {
        if q.uidvalidity == c.uidvalidity {
            resync(&sel, q, s.wording(), o);
        }
    }
    let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
    s.selected = Some(sel);
    s.ok(tag, code, "SELECT completed", out)
}

/// QRESYNC's resynchronization at SELECT (RFC 7162 3.2.5.1): VANISHED (EARLIER) for what was
/// expunged since the client's MODSEQ, then FETCH FLAGS of what changed since.
fn resync<V: MailboxView>(
    sel: &Selected<V>,
    q: &super::super::types::QResync,
    w: super::selected::Wording,
    o: &mut Vec<u8>,
) {
    let c = sel.view.counters();
    let known = q
        .known_uids
        .as_ref()
        .map(|k| sets::uid_ranges(k, c.uidnext));
    let in_known = |u: u32| {
        known
            .as_ref()
            .is_none_or(|r| r.iter().any(|&(a, b)| u >= a && u <= b))
    };
    let vanished: Vec<u32> = match sel.view.vanished_since(q.modseq) {
        Some(v) => v.into_iter().filter(|&u| in_known(u)).collect(),
        // Expunges that far back are forgotten: every known UID not in the mailbox (RFC 7162
        // 3.2.5.1 allows it), bounded by the client's own list.
        None => match &known {
            Some(r) => sets::numbers(r)
                .filter(|&u| u < c.uidnext && sel.view.by_uid(u).is_none())
                .take(1_000_000)
                .collect(),
            None => Vec::new(),
        },
    };
    if !vanished.is_empty() {
        o.extend_from_slice(b"* VANISHED (EARLIER) ");
        sets::write_compact(o, vanished);
        o.extend_from_slice(b"\r\n");
    }
    for (seq, m) in sel.view.changed_since(q.modseq) {
        if in_known(m.uid) {
            sel.write_flags(o, seq, &m, w, true);
        }
    }
}

/// CLOSE (RFC 9051 6.4.1: expunges \Deleted silently in a read-write selection) and UNSELECT
/// (RFC 3691: does not).
async fn close<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    expunge: bool,
    out: &mut dyn Sink,
) -> Flow {
    let (Some(b), Some(sel)) = (s.backend.as_ref(), s.selected.take()) else {
        return s.bad(tag, "No mailbox selected", out);
    };
    if expunge && !sel.read_only {
        // The newest state: messages marked \Deleted since the last report go too.
        let view = b.view(&sel.name).unwrap_or(sel.view);
        let uids = deleted_uids(&view, None);
        if !uids.is_empty() {
            if let Err(e) = b.expunge(&sel.name, &uids).await {
                return refuse(s, tag, &e, false, out);
            }
        }
    }
    s.ok(tag, "", "Closed", out)
}

/// UIDs of the \Deleted messages, optionally only those in `within` (UID ranges).
fn deleted_uids<V: MailboxView>(view: &V, within: Option<&[(u32, u32)]>) -> Vec<u32> {
    let mut out = Vec::new();
    let mut take = |seq: u32| {
        if let Some(m) = view.by_seq(seq) {
            if m.system & DELETED != 0 {
                out.push(m.uid);
            }
        }
    };
    match within {
        None => (1..=view.len()).for_each(&mut take),
        Some(r) => {
            for &(a, b) in r {
                let from = view.seq_at_or_after(a);
                let to = b
                    .checked_add(1)
                    .map_or(view.len(), |n| view.seq_at_or_after(n) - 1);
                (from..=to.min(view.len())).for_each(&mut take);
            }
        }
    }
    out
}

/// EXPUNGE (RFC 9051 6.4.3) and UID EXPUNGE (RFC 4315 2.1).
async fn expunge<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    set: Option<&SequenceSet>,
    out: &mut dyn Sink,
) -> Flow {
    s.report(true, &[], set.is_some(), out);
    let (Some(b), Some(sel)) = (s.backend.as_ref(), s.selected.as_ref()) else {
        return s.bad(tag, "No mailbox selected", out);
    };
    if sel.read_only {
        return s.no(tag, "READ-ONLY", "The mailbox is read-only", out);
    }
    let ranges = set.map(|set| {
        let star = sel.view.by_seq(sel.view.len()).map_or(0, |m| m.uid);
        sets::uid_set(set, star, sel)
    });
    let uids = deleted_uids(&sel.view, ranges.as_deref());
    if !uids.is_empty() {
        if let Err(e) = b.expunge(&sel.name, &uids).await {
            return refuse(s, tag, &e, false, out);
        }
    }
    s.done(tag, "EXPUNGE completed", true, out)
}

/// The flags of a STORE or APPEND; `Err` names a flag that cannot be stored.
pub(super) fn flag_set(flags: &[Flag<'_>]) -> Result<FlagSet, String> {
    let mut f = FlagSet::default();
    for fl in flags {
        match fl {
            Flag::Seen => f.system |= backend::SEEN,
            Flag::Answered => f.system |= backend::ANSWERED,
            Flag::Flagged => f.system |= backend::FLAGGED,
            Flag::Deleted => f.system |= backend::DELETED,
            Flag::Draft => f.system |= backend::DRAFT,
            Flag::Keyword(k) => {
                if !f.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    f.keywords.push(k.to_string());
                }
            }
            Flag::Extension(x) => return Err(format!("Unknown system flag \\{x}")),
        }
    }
    Ok(f)
}

/// STORE / UID STORE (RFC 9051 6.4.6, RFC 7162 3.1.3).
async fn store<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    st: Store<'_>,
    out: &mut dyn Sink,
) -> Flow {
    if st.unchanged_since.is_some() {
        enable_condstore(s, out);
    }
    s.report(st.uid, &[], st.uid, out);
    let flags = match flag_set(&st.flags) {
        Ok(f) => f,
        Err(e) => return s.bad(tag, &e, out),
    };
    let (Some(b), Some(sel)) = (s.backend.as_ref(), s.selected.as_ref()) else {
        return s.bad(tag, "No mailbox selected", out);
    };
    if sel.read_only {
        return s.no(tag, "READ-ONLY", "The mailbox is read-only", out);
    }
    let seqs = match sets::resolve(&st.set, st.uid, sel) {
        Ok(r) => r,
        Err(e) => return s.bad(tag, &e, out),
    };
    let uids: Vec<u32> = sets::numbers(&seqs)
        .filter_map(|q| sel.view.by_seq(q).map(|m| m.uid))
        .collect();
    let op = match st.mode {
        StoreMode::Replace => FlagOp::Replace,
        StoreMode::Add => FlagOp::Add,
        StoreMode::Remove => FlagOp::Remove,
    };
    let stored = match b
        .store(&sel.name, &uids, op, &flags, st.unchanged_since)
        .await
    {
        Ok(r) => r,
        Err(e) => return refuse(s, tag, &e, false, out),
    };
    // The changes come back as flag updates of the newer view; .SILENT hides the ones this STORE
    // made unless CONDSTORE asks for their MODSEQ (RFC 7162 3.1.3).
    let quiet: Vec<u32> = if st.silent && !s.enabled.condstore {
        uids.clone()
    } else {
        Vec::new()
    };
    s.report(st.uid, &quiet, st.uid, out);
    if stored.modified.is_empty() {
        return s.ok(tag, "", "STORE completed", out);
    }
    // MODIFIED lists UIDs for UID STORE, sequence numbers otherwise (RFC 7162 3.1.3).
    let Some(sel) = s.selected.as_ref() else {
        return s.ok(tag, "", "STORE completed", out);
    };
    let numbers: Vec<u32> = if st.uid {
        stored.modified.clone()
    } else {
        stored
            .modified
            .iter()
            .filter_map(|&u| sel.view.by_uid(u).map(|(q, _)| q))
            .collect()
    };
    let code = format!("MODIFIED {}", sets::compact(numbers));
    s.ok(tag, &code, "Conditional STORE failed", out)
}

/// COPY / MOVE and their UID forms (RFC 9051 6.4.7, 6.4.8; RFC 6851; COPYUID of RFC 4315 3).
async fn copy<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    uid: bool,
    set: &SequenceSet,
    raw: &[u8],
    is_move: bool,
    out: &mut dyn Sink,
) -> Flow {
    s.report(uid || is_move, &[], uid, out);
    let Some(dest) = mailbox_name(s, tag, raw, out) else {
        return Flow::Ready;
    };
    let (Some(b), Some(sel)) = (s.backend.as_ref(), s.selected.as_ref()) else {
        return s.bad(tag, "No mailbox selected", out);
    };
    if is_move && sel.read_only {
        return s.no(tag, "READ-ONLY", "The mailbox is read-only", out);
    }
    let seqs = match sets::resolve(set, uid, sel) {
        Ok(r) => r,
        Err(e) => return s.bad(tag, &e, out),
    };
    let uids: Vec<u32> = sets::numbers(&seqs)
        .filter_map(|q| sel.view.by_seq(q).map(|m| m.uid))
        .collect();
    if is_move && dest == sel.name {
        return s.no(
            tag,
            "CANNOT",
            "Source and destination are the same mailbox",
            out,
        );
    }
    let r = if is_move {
        b.move_(&sel.name, &dest, &uids).await
    } else {
        b.copy(&sel.name, &dest, &uids).await
    };
    let copied = match r {
        Ok(c) => c,
        Err(e) => return refuse(s, tag, &e, true, out),
    };
    let code = if copied.uids.is_empty() {
        String::new()
    } else {
        let mut c = format!("COPYUID {} ", copied.uidvalidity).into_bytes();
        sets::write_compact(&mut c, copied.uids.iter().map(|p| p.0));
        c.push(b' ');
        sets::write_compact(&mut c, copied.uids.iter().map(|p| p.1));
        String::from_utf8_lossy(&c).into_owned()
    };
    if is_move {
        // RFC 6851 3.3: COPYUID goes in an untagged OK before the expunges.
        if !code.is_empty() {
            reply::untagged(out.buf(), Status::Ok, &code, "Moved");
        }
        s.report(true, &[], uid, out);
        return s.ok(tag, "", "MOVE completed", out);
    }
    s.report(uid, &[], uid, out);
    s.ok(tag, &code, "COPY completed", out)
}
