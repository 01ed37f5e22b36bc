//! Folder commands of the authenticated state (RFC 9051 6.3): CREATE (with RFC 6154 USE), DELETE,
//! RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154
//! SPECIAL-USE), LSUB, NAMESPACE (RFC 2342), STATUS (RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ), APPEND
//! (RFC 3502 MULTIAPPEND, RFC 4315 APPENDUID, RFC 7889 APPENDLIMIT) and QUOTA (RFC 9208).
//!
//! Names are `/`-separated; on the wire they are modified UTF-7 (RFC 3501 5.1.3) unless the client
//! enabled IMAP4rev2 or UTF8=ACCEPT (RFC 9051 5.1, RFC 6855 3).

use super::super::backend::{AppendItem, Backend, FolderEntry, MailboxView, SpecialUse, DELETED};
use super::super::types::{Command, List, StatusItem};
use super::commands::{flag_set, mailbox_name, refuse};
use super::reply;
use super::{Enabled, Flow, Session, Sink};

pub(super) async fn run<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    cmd: Command<'_>,
    now: i64,
    out: &mut dyn Sink,
) -> Flow {
    let subscribe = matches!(cmd, Command::Subscribe(_));
    match cmd {
        Command::Create {
            mailbox,
            special_use,
        } => create(s, tag, &mailbox, &special_use, now, out).await,
        Command::Delete(mailbox) => {
            let Some(name) = mailbox_name(s, tag, &mailbox, out) else {
                return Flow::Ready;
            };
            if s.selected.as_ref().is_some_and(|sel| sel.name == name) {
                // RFC 9051 6.3.5 lets the server refuse; deleting the mailbox in use would leave
                // the session numbering messages that are gone.
                return s.no(tag, "INUSE", "The mailbox is selected; CLOSE it first", out);
            }
            let Some(b) = s.backend.as_ref() else {
                return Flow::Ready;
            };
            match b.delete(&name).await {
                Ok(()) => s.done(tag, "DELETE completed", true, out),
                Err(e) => refuse(s, tag, &e, false, out),
            }
        }
        Command::Rename { from, to } => {
            let Some(from) = mailbox_name(s, tag, &from, out) else {
                return Flow::Ready;
            };
            let Some(to) = mailbox_name(s, tag, &to, out) else {
                return Flow::Ready;
            };
            let Some(b) = s.backend.as_ref() else {
                return Flow::Ready;
            };
            match b.rename(&from, trim_separator(&to), now).await {
                Ok(()) => s.done(tag, "RENAME completed", true, out),
                Err(e) => refuse(s, tag, &e, false, out),
            }
        }
        Command::Subscribe(m) | Command::Unsubscribe(m) => {
            let on = subscribe;
            let Some(name) = mailbox_name(s, tag, &m, out) else {
                return Flow::Ready;
            };
            let Some(b) = s.backend.as_ref() else {
                return Flow::Ready;
            };
            match b.subscribe(&name, on).await {
                Ok(()) => s.done(tag, "Subscription changed", true, out),
                Err(e) => refuse(s, tag, &e, false, out),
            }
        }
        Command::List(l) => list(s, tag, l, false, out),
        Command::Lsub { reference, pattern } => {
            let l = List {
                reference,
                patterns: vec![pattern],
                select: Default::default(),
                returns: Default::default(),
            };
            list(s, tag, l, true, out)
        }
        Command::Namespace => {
            // RFC 2342 5: one personal namespace, no other users' or shared ones.
            out.buf()
                .extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
            s.done(tag, "NAMESPACE completed", true, out)
        }
        Command::Status { mailbox, items } => {
            let Some(name) = mailbox_name(s, tag, &mailbox, out) else {
                return Flow::Ready;
            };
            let Some(b) = s.backend.as_ref() else {
                return Flow::Ready;
            };
            let mut line = Vec::new();
            if let Err(e) = status_line(b, s.enabled, s.cfg.append_limit, &name, &items, &mut line)
            {
                return refuse(s, tag, &e, false, out);
            }
            out.buf().extend_from_slice(&line);
            s.done(tag, "STATUS completed", true, out)
        }
        Command::Append { mailbox, messages } => {
            let Some(name) = mailbox_name(s, tag, &mailbox, out) else {
                return Flow::Ready;
            };
            let mut flags = Vec::with_capacity(messages.len());
            for m in &messages {
                if m.message.len() as u64 > s.cfg.append_limit {
                    return s.no(tag, "TOOBIG", "Message larger than APPENDLIMIT", out);
                }
                match flag_set(&m.flags) {
                    Ok(f) => flags.push(f),
                    Err(e) => return s.bad(tag, &e, out),
                }
            }
            let Some(b) = s.backend.as_ref() else {
                return Flow::Ready;
            };
            if let Some(limit) = s.cfg.quota_bytes {
                let used = usage(b);
                let adding: u64 = messages.iter().map(|m| m.message.len() as u64).sum();
                if used.saturating_add(adding) > limit {
                    return s.no(tag, "OVERQUOTA", "Quota exceeded", out);
                }
            }
            let items: Vec<AppendItem<'_>> = messages
                .iter()
                .zip(&flags)
                .map(|(m, f)| AppendItem {
                    bytes: m.message,
                    flags: f,
                    date: m.date.map(|d| {
                        let days = reply::days_from_civil(
                            i64::from(d.date.year),
                            u32::from(d.date.month),
                            u32::from(d.date.day),
                        );
                        let local = days * 86_400
                            + i64::from(d.hour) * 3600
                            + i64::from(d.minute) * 60
                            + i64::from(d.second);
                        (local - i64::from(d.zone_minutes) * 60, d.zone_minutes)
                    }),
                })
                .collect();
            match b.append(&name, &items, now).await {
                Ok(a) => {
                    let mut code = format!("APPENDUID {} ", a.uidvalidity).into_bytes();
                    super::sets::write_compact(&mut code, a.uids.iter().copied());
                    let code = String::from_utf8_lossy(&code).into_owned();
                    s.report(true, &[], false, out);
                    s.ok(tag, &code, "APPEND completed", out)
                }
                Err(e) => refuse(s, tag, &e, true, out),
            }
        }
        Command::GetQuotaRoot(mailbox) => {
            let Some(name) = mailbox_name(s, tag, &mailbox, out) else {
                return Flow::Ready;
            };
            let Some(b) = s.backend.as_ref() else {
                return Flow::Ready;
            };
            if let Err(e) = b.counters(&name) {
                return refuse(s, tag, &e, false, out);
            }
            let used = usage(b);
            let o = out.buf();
            o.extend_from_slice(b"* QUOTAROOT ");
            write_name(o, s.enabled, &name);
            if let Some(limit) = s.cfg.quota_bytes {
                o.extend_from_slice(b" \"\"\r\n");
                quota_line(o, used, limit);
            } else {
                o.extend_from_slice(b"\r\n");
            }
            s.done(tag, "GETQUOTAROOT completed", true, out)
        }
        Command::GetQuota(root) => {
            let (Some(b), Some(limit)) = (s.backend.as_ref(), s.cfg.quota_bytes) else {
                return s.no(tag, "NONEXISTENT", "No such quota root", out);
            };
            if !root.is_empty() {
                return s.no(tag, "NONEXISTENT", "No such quota root", out);
            }
            let used = usage(b);
            quota_line(out.buf(), used, limit);
            s.done(tag, "GETQUOTA completed", true, out)
        }
        Command::SetQuota { .. } => {
            // RFC 9208 4.1.3: limits come from the server's configuration.
            s.no(tag, "NOPERM", "Quotas are set by the administrator", out)
        }
        _ => s.bad(tag, "Command not valid in this state", out),
    }
}

/// Bytes of all the account's messages (RFC 9208 STORAGE).
fn usage<B: Backend>(b: &B) -> u64 {
    b.folders()
        .map(|f| f.iter().map(|x| x.counters.size).sum())
        .unwrap_or(0)
}

/// `* QUOTA "" (STORAGE used limit)` in units of 1024 octets (RFC 9208 5.1).
fn quota_line(o: &mut Vec<u8>, used: u64, limit: u64) {
    o.extend_from_slice(
        format!(
            "* QUOTA \"\" (STORAGE {} {})\r\n",
            used.div_ceil(1024),
            limit / 1024
        )
        .as_bytes(),
    );
}

fn trim_separator(name: &str) -> &str {
    name.strip_suffix('/').unwrap_or(name)
}

async fn create<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    raw: &[u8],
    uses: &[&str],
    now: i64,
    out: &mut dyn Sink,
) -> Flow {
    let Some(name) = mailbox_name(s, tag, raw, out) else {
        return Flow::Ready;
    };
    // RFC 6154 3: a folder gets at most one attribute here (the index keeps one per folder); more,
    // or one the server does not know, is `NO [USEATTR]` and nothing is created.
    let mut special = None;
    for u in uses {
        match SpecialUse::parse(u) {
            Some(x) if special.is_none() => special = Some(x),
            _ => return s.no(tag, "USEATTR", "Unsupported special-use attribute", out),
        }
    }
    let Some(b) = s.backend.as_ref() else {
        return Flow::Ready;
    };
    // RFC 9051 6.3.4: a trailing separator asks for a name under which others will be created.
    match b.create(trim_separator(&name), special, now).await {
        Ok(()) => s.done(tag, "CREATE completed", true, out),
        Err(e) => refuse(s, tag, &e, false, out),
    }
}

/// The STATUS response for one mailbox (RFC 9051 7.3.2).
fn status_line<B: Backend>(
    b: &B,
    enabled: Enabled,
    append_limit: u64,
    name: &str,
    items: &[StatusItem],
    o: &mut Vec<u8>,
) -> Result<(), super::super::backend::BackendError> {
    let c = b.counters(name)?;
    o.extend_from_slice(b"* STATUS ");
    write_name(o, enabled, name);
    o.extend_from_slice(b" (");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            o.push(b' ');
        }
        let (word, n) = match it {
            StatusItem::Messages => ("MESSAGES", u64::from(c.messages)),
            StatusItem::Recent => ("RECENT", u64::from(c.recent)),
            StatusItem::UidNext => ("UIDNEXT", u64::from(c.uidnext)),
            StatusItem::UidValidity => ("UIDVALIDITY", u64::from(c.uidvalidity)),
            StatusItem::Unseen => ("UNSEEN", u64::from(c.unseen)),
            StatusItem::Deleted => {
                // Not a kept counter: one pass over the view's flags.
                let v = b.view(name)?;
                let n = (1..=v.len())
                    .filter_map(|q| v.by_seq(q))
                    .filter(|m| m.system & DELETED != 0)
                    .count();
                ("DELETED", n as u64)
            }
            StatusItem::Size => ("SIZE", c.size),
            StatusItem::HighestModSeq => ("HIGHESTMODSEQ", c.highestmodseq),
            StatusItem::AppendLimit => ("APPENDLIMIT", append_limit),
        };
        o.extend_from_slice(format!("{word} {n}").as_bytes());
    }
    o.extend_from_slice(b")\r\n");
    Ok(())
}

/// LIST / LSUB (RFC 9051 6.3.9, RFC 3501 6.3.9, RFC 5258).
fn list<B: Backend>(
    s: &mut Session<B>,
    tag: &str,
    l: List<'_>,
    lsub: bool,
    out: &mut dyn Sink,
) -> Flow {
    let Some(b) = s.backend.as_ref() else {
        return Flow::Ready;
    };
    let word: &[u8] = if lsub { b"LSUB" } else { b"LIST" };
    // RFC 9051 6.3.9: an empty pattern asks for the hierarchy delimiter and root.
    if l.patterns.len() == 1 && l.patterns[0].is_empty() && !lsub {
        let o = out.buf();
        o.extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
        return s.done(tag, "LIST completed", true, out);
    }
    let (Ok(folders), Ok(subs)) = (b.folders(), b.subscriptions()) else {
        return s.no(tag, "UNAVAILABLE", "Mailboxes unavailable", out);
    };
    let Some(reference) = decode_pattern(s.enabled, &l.reference) else {
        return s.done(tag, "LIST completed", true, out);
    };
    let patterns: Vec<String> = l
        .patterns
        .iter()
        .filter_map(|p| decode_pattern(s.enabled, p))
        .map(|p| inbox_case(&format!("{reference}{p}")))
        .collect();
    let subscribed_only = lsub || l.select.subscribed;
    let show_subscribed = l.select.subscribed || l.returns.subscribed;
    let mut names: Vec<(String, Option<&FolderEntry>)> =
        folders.iter().map(|f| (f.name.clone(), Some(f))).collect();
    if subscribed_only {
        names.retain(|(n, _)| subs.iter().any(|x| x == n));
        // Subscribed names that do not exist are listed too (\NonExistent, RFC 5258 3.4).
        for sname in &subs {
            if !folders.iter().any(|f| &f.name == sname) {
                names.push((sname.clone(), None));
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let childinfo = if l.select.recursive_match && l.select.subscribed && !lsub {
        recursive_parents(&subs, &patterns)
    } else {
        Vec::new()
    };
    for parent in &childinfo {
        if !names.iter().any(|(n, _)| n == parent) {
            names.push((parent.clone(), folders.iter().find(|f| &f.name == parent)));
        }
    }
    if !childinfo.is_empty() {
        names.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut lines = Vec::new();
    for (name, entry) in &names {
        if !patterns.iter().any(|p| matches(p, name)) {
            continue;
        }
        let has_childinfo = childinfo.binary_search(name).is_ok();
        if l.select.special_use && entry.is_none_or(|e| e.special_use.is_none()) {
            continue;
        }
        let mut attrs: Vec<&str> = Vec::new();
        match entry {
            None => attrs.push(if lsub { "\\Noselect" } else { "\\NonExistent" }),
            Some(e) => {
                if !lsub {
                    let prefix = format!("{name}/");
                    if folders.iter().any(|f| f.name.starts_with(&prefix)) {
                        attrs.push("\\HasChildren");
                    } else {
                        attrs.push("\\HasNoChildren");
                    }
                    if let Some(u) = e.special_use {
                        attrs.push(u.name());
                    }
                }
            }
        }
        if show_subscribed && !lsub && subs.iter().any(|x| x == name) {
            attrs.push("\\Subscribed");
        }
        lines.extend_from_slice(b"* ");
        lines.extend_from_slice(word);
        lines.extend_from_slice(format!(" ({}) \"/\" ", attrs.join(" ")).as_bytes());
        write_name(&mut lines, s.enabled, name);
        if has_childinfo {
            // RFC 5258 3.5: the selection criteria a descendant meets.
            lines.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
        }
        lines.extend_from_slice(b"\r\n");
        if let (Some(items), Some(_)) = (&l.returns.status, entry) {
            // RFC 5819: STATUS right after the mailbox's LIST line.
            let _ = status_line(b, s.enabled, s.cfg.append_limit, name, items, &mut lines);
        }
    }
    out.buf().extend_from_slice(&lines);
    let text = if lsub {
        "LSUB completed"
    } else {
        "LIST completed"
    };
    s.done(tag, text, true, out)
}

/// RECURSIVEMATCH with SUBSCRIBED (RFC 5258 3.1, 3.3 rule 2.B, 3.5): the names that match a pattern
/// and have a subscribed descendant that matches none (a descendant listed itself makes CHILDINFO
/// redundant, which 3.5 asks servers to leave out). Sorted; the names need not exist.
fn recursive_parents(subs: &[String], patterns: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sub in subs {
        if patterns.iter().any(|p| matches(p, sub)) {
            continue;
        }
        for (i, c) in sub.char_indices() {
            if c != '/' {
                continue;
            }
            let parent = &sub[..i];
            if patterns.iter().any(|p| matches(p, parent)) {
                out.push(parent.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `INBOX` as the first component of a pattern matches in any case (RFC 9051 5.1).
fn inbox_case(p: &str) -> String {
    let (first, rest) = match p.find('/') {
        Some(i) => (&p[..i], &p[i..]),
        None => (p, ""),
    };
    if first.eq_ignore_ascii_case("INBOX") {
        format!("INBOX{rest}")
    } else {
        p.to_string()
    }
}

/// LIST wildcards (RFC 9051 6.3.9): `*` matches anything, `%` anything but the separator.
pub(super) fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // reach[j]: the pattern prefix seen so far can match name[..j].
    let mut reach = vec![false; n.len() + 1];
    reach[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut on = false;
                for j in 0..=n.len() {
                    on |= reach[j];
                    next[j] = on;
                    if pc == '%' && j < n.len() && n[j] == '/' {
                        on = false;
                    }
                }
            }
            c => {
                for j in 0..n.len() {
                    if reach[j] && n[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[n.len()]
}

/// A mailbox name from the wire, as the canonical UTF-8 name; `None` if it is not valid in the
/// session's encoding.
pub(super) fn decode_name(e: Enabled, raw: &[u8]) -> Option<String> {
    let s = decode_pattern(e, raw)?;
    if s.is_empty() || s.contains(['*', '%']) {
        return None;
    }
    Some(inbox_case(&s))
}

fn decode_pattern(e: Enabled, raw: &[u8]) -> Option<String> {
    if e.rev2 || e.utf8 {
        return std::str::from_utf8(raw).ok().map(str::to_string);
    }
    super::super::utf7::decode(raw).ok()
}

/// A mailbox name on the wire in the session's encoding.
pub(super) fn write_name(o: &mut Vec<u8>, e: Enabled, name: &str) {
    if e.rev2 || e.utf8 {
        reply::mailbox(o, name.as_bytes());
    } else {
        reply::mailbox(o, super::super::utf7::encode(name).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn list_wildcards() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "INBOX"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(!matches("a/%", "a/b/c"));
        assert!(matches("a*c", "a/b/c"));
        assert!(matches("a%c", "abc"));
        assert!(!matches("a%c", "a/c"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
        assert!(matches("%/%", "x/y"));
    }
}
