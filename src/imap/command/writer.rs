//! Test-only: prints a command AST as IMAP text (strings through `imap::wire`), so property tests can
//! check that parsing what is printed gives the AST back.

use crate::imap::types::*;
use crate::imap::wire;

use super::date::month_name;

pub fn tagged(t: &Tagged<'_>) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(t.tag.as_bytes());
    o.push(b' ');
    command(&mut o, &t.command);
    o.extend_from_slice(b"\r\n");
    o
}

fn s(o: &mut Vec<u8>, text: &str) {
    o.extend_from_slice(text.as_bytes());
}

fn list<T>(o: &mut Vec<u8>, items: &[T], mut f: impl FnMut(&mut Vec<u8>, &T)) {
    o.push(b'(');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            o.push(b' ');
        }
        f(o, x);
    }
    o.push(b')');
}

fn set(o: &mut Vec<u8>, set: &SequenceSet) {
    if set.0.is_empty() {
        // SEARCHRES `$`.
        o.push(b'$');
    }
    let num = |o: &mut Vec<u8>, n: SeqNum| match n {
        SeqNum::Value(v) => s(o, &v.to_string()),
        SeqNum::Largest => o.push(b'*'),
    };
    for (i, r) in set.0.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        num(o, r.start);
        if r.start != r.end {
            o.push(b':');
            num(o, r.end);
        }
    }
}

fn date(o: &mut Vec<u8>, d: &Date) {
    s(
        o,
        &format!("{}-{}-{:04}", d.day, month_name(d.month), d.year),
    );
}

fn date_time(o: &mut Vec<u8>, d: &DateTime) {
    let (sign, z) = if d.zone_minutes < 0 {
        ('-', -d.zone_minutes)
    } else {
        ('+', d.zone_minutes)
    };
    s(
        o,
        &format!(
            "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
            d.date.day,
            month_name(d.date.month),
            d.date.year,
            d.hour,
            d.minute,
            d.second,
            sign,
            z / 60,
            z % 60
        ),
    );
}

fn flag(o: &mut Vec<u8>, f: &Flag<'_>) {
    s(
        o,
        match f {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Keyword(k) | Flag::Extension(k) => k,
        },
    );
}

fn status_item(o: &mut Vec<u8>, i: &StatusItem) {
    s(
        o,
        match i {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
        },
    );
}

fn returns(o: &mut Vec<u8>, r: &Option<Vec<SearchReturn>>) {
    if let Some(r) = r {
        s(o, " RETURN ");
        list(o, r, |o, r| {
            s(
                o,
                match r {
                    SearchReturn::Min => "MIN",
                    SearchReturn::Max => "MAX",
                    SearchReturn::All => "ALL",
                    SearchReturn::Count => "COUNT",
                    SearchReturn::Save => "SAVE",
                },
            )
        });
    }
}

/// A search program: a top-level AND of two or more keys is written without parentheses.
fn program(o: &mut Vec<u8>, k: &SearchKey<'_>) {
    match k {
        SearchKey::And(keys) if keys.len() > 1 => {
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    o.push(b' ');
                }
                key(o, k);
            }
        }
        k => key(o, k),
    }
}

fn key(o: &mut Vec<u8>, k: &SearchKey<'_>) {
    use SearchKey as K;
    let word = |o: &mut Vec<u8>, w: &str, v: &[u8]| {
        s(o, w);
        o.push(b' ');
        wire::astring(o, v);
    };
    match k {
        K::All => s(o, "ALL"),
        K::And(keys) => list(o, keys, |o, k| key(o, k)),
        K::Or(a, b) => {
            s(o, "OR ");
            key(o, a);
            o.push(b' ');
            key(o, b);
        }
        K::Not(a) => {
            s(o, "NOT ");
            key(o, a);
        }
        K::SequenceSet(x) => set(o, x),
        K::Uid(x) => {
            s(o, "UID ");
            set(o, x);
        }
        K::Answered => s(o, "ANSWERED"),
        K::Deleted => s(o, "DELETED"),
        K::Draft => s(o, "DRAFT"),
        K::Flagged => s(o, "FLAGGED"),
        K::Seen => s(o, "SEEN"),
        K::Recent => s(o, "RECENT"),
        K::New => s(o, "NEW"),
        K::Old => s(o, "OLD"),
        K::Unanswered => s(o, "UNANSWERED"),
        K::Undeleted => s(o, "UNDELETED"),
        K::Undraft => s(o, "UNDRAFT"),
        K::Unflagged => s(o, "UNFLAGGED"),
        K::Unseen => s(o, "UNSEEN"),
        K::Keyword(a) => s(o, &format!("KEYWORD {a}")),
        K::Unkeyword(a) => s(o, &format!("UNKEYWORD {a}")),
        K::Before(d)
        | K::On(d)
        | K::Since(d)
        | K::SentBefore(d)
        | K::SentOn(d)
        | K::SentSince(d) => {
            s(
                o,
                match k {
                    K::Before(_) => "BEFORE ",
                    K::On(_) => "ON ",
                    K::Since(_) => "SINCE ",
                    K::SentBefore(_) => "SENTBEFORE ",
                    K::SentOn(_) => "SENTON ",
                    _ => "SENTSINCE ",
                },
            );
            date(o, d);
        }
        K::Larger(n) => s(o, &format!("LARGER {n}")),
        K::Smaller(n) => s(o, &format!("SMALLER {n}")),
        K::From(v) => word(o, "FROM", v),
        K::To(v) => word(o, "TO", v),
        K::Cc(v) => word(o, "CC", v),
        K::Bcc(v) => word(o, "BCC", v),
        K::Subject(v) => word(o, "SUBJECT", v),
        K::Body(v) => word(o, "BODY", v),
        K::Text(v) => word(o, "TEXT", v),
        K::Header(f, v) => {
            word(o, "HEADER", f);
            o.push(b' ');
            wire::astring(o, v);
        }
        K::ModSeq(n) => s(o, &format!("MODSEQ {n}")),
        K::Older(n) => s(o, &format!("OLDER {n}")),
        K::Younger(n) => s(o, &format!("YOUNGER {n}")),
    }
}

fn partial(o: &mut Vec<u8>, p: &Option<Partial>) {
    if let Some(p) = p {
        s(o, &format!("<{}.{}>", p.origin, p.count));
    }
}

fn part(o: &mut Vec<u8>, part: &[u32]) {
    let text: Vec<String> = part.iter().map(u32::to_string).collect();
    s(o, &text.join("."));
}

fn fetch_att(o: &mut Vec<u8>, a: &FetchAttr<'_>) {
    match a {
        FetchAttr::Flags => s(o, "FLAGS"),
        FetchAttr::InternalDate => s(o, "INTERNALDATE"),
        FetchAttr::Rfc822Size => s(o, "RFC822.SIZE"),
        FetchAttr::Envelope => s(o, "ENVELOPE"),
        FetchAttr::Body => s(o, "BODY"),
        FetchAttr::BodyStructure => s(o, "BODYSTRUCTURE"),
        FetchAttr::Uid => s(o, "UID"),
        FetchAttr::ModSeq => s(o, "MODSEQ"),
        FetchAttr::Rfc822 => s(o, "RFC822"),
        FetchAttr::Rfc822Header => s(o, "RFC822.HEADER"),
        FetchAttr::Rfc822Text => s(o, "RFC822.TEXT"),
        FetchAttr::Section {
            peek,
            section,
            partial: p,
        } => {
            s(o, if *peek { "BODY.PEEK[" } else { "BODY[" });
            part(o, &section.part);
            if let Some(text) = &section.text {
                if !section.part.is_empty() {
                    o.push(b'.');
                }
                match text {
                    SectionText::Header => s(o, "HEADER"),
                    SectionText::Text => s(o, "TEXT"),
                    SectionText::Mime => s(o, "MIME"),
                    SectionText::HeaderFields { not, fields } => {
                        s(
                            o,
                            if *not {
                                "HEADER.FIELDS.NOT "
                            } else {
                                "HEADER.FIELDS "
                            },
                        );
                        list(o, fields, |o, f| wire::astring(o, f));
                    }
                }
            }
            o.push(b']');
            partial(o, p);
        }
        FetchAttr::Binary {
            peek,
            part: p,
            partial: q,
        } => {
            s(o, if *peek { "BINARY.PEEK[" } else { "BINARY[" });
            part(o, p);
            o.push(b']');
            partial(o, q);
        }
        FetchAttr::BinarySize { part: p } => {
            s(o, "BINARY.SIZE[");
            part(o, p);
            o.push(b']');
        }
    }
}

fn select_params(o: &mut Vec<u8>, p: &SelectParams) {
    let mut items: Vec<Vec<u8>> = Vec::new();
    if p.condstore {
        items.push(b"CONDSTORE".to_vec());
    }
    if let Some(q) = &p.qresync {
        let mut x = format!("QRESYNC ({} {}", q.uidvalidity, q.modseq).into_bytes();
        if let Some(k) = &q.known_uids {
            x.push(b' ');
            set(&mut x, k);
        }
        if let Some((a, b)) = &q.seq_match {
            x.extend_from_slice(b" (");
            set(&mut x, a);
            x.push(b' ');
            set(&mut x, b);
            x.push(b')');
        }
        x.push(b')');
        items.push(x);
    }
    if !items.is_empty() {
        o.push(b' ');
        list(o, &items, |o, x| o.extend_from_slice(x));
    }
}

fn command(o: &mut Vec<u8>, c: &Command<'_>) {
    let uid = |o: &mut Vec<u8>, u: bool| {
        if u {
            s(o, "UID ");
        }
    };
    match c {
        Command::Capability => s(o, "CAPABILITY"),
        Command::Noop => s(o, "NOOP"),
        Command::Logout => s(o, "LOGOUT"),
        Command::Id(None) => s(o, "ID NIL"),
        Command::Id(Some(pairs)) => {
            s(o, "ID ");
            list(o, pairs, |o, (k, v)| {
                wire::string(o, k);
                o.push(b' ');
                wire::nstring(o, v.as_deref());
            });
        }
        Command::StartTls => s(o, "STARTTLS"),
        Command::Login { user, password } => {
            s(o, "LOGIN ");
            wire::astring(o, user);
            o.push(b' ');
            wire::astring(o, password);
        }
        Command::Authenticate { mechanism, initial } => {
            s(o, &format!("AUTHENTICATE {mechanism}"));
            match initial {
                Some(b"") => s(o, " ="),
                Some(i) => {
                    o.push(b' ');
                    o.extend_from_slice(i);
                }
                None => {}
            }
        }
        Command::Enable(caps) => {
            s(o, "ENABLE");
            for c in caps {
                s(o, &format!(" {c}"));
            }
        }
        Command::Select { mailbox, params } | Command::Examine { mailbox, params } => {
            s(
                o,
                if matches!(c, Command::Select { .. }) {
                    "SELECT "
                } else {
                    "EXAMINE "
                },
            );
            wire::astring(o, mailbox);
            select_params(o, params);
        }
        Command::Create {
            mailbox,
            special_use,
        } => {
            s(o, "CREATE ");
            wire::astring(o, mailbox);
            if !special_use.is_empty() {
                s(o, " (USE ");
                list(o, special_use, |o, a| s(o, a));
                o.push(b')');
            }
        }
        Command::Delete(m)
        | Command::Subscribe(m)
        | Command::Unsubscribe(m)
        | Command::GetQuotaRoot(m) => {
            s(
                o,
                match c {
                    Command::Delete(_) => "DELETE ",
                    Command::Subscribe(_) => "SUBSCRIBE ",
                    Command::Unsubscribe(_) => "UNSUBSCRIBE ",
                    _ => "GETQUOTAROOT ",
                },
            );
            wire::astring(o, m);
        }
        Command::GetQuota(r) => {
            s(o, "GETQUOTA ");
            wire::astring(o, r);
        }
        Command::Rename { from, to } => {
            s(o, "RENAME ");
            wire::astring(o, from);
            o.push(b' ');
            wire::astring(o, to);
        }
        Command::List(l) => {
            s(o, "LIST ");
            let sel = &l.select;
            if *sel != ListSelect::default() {
                let mut opts = Vec::new();
                for (on, name) in [
                    (sel.subscribed, "SUBSCRIBED"),
                    (sel.remote, "REMOTE"),
                    (sel.recursive_match, "RECURSIVEMATCH"),
                    (sel.special_use, "SPECIAL-USE"),
                ] {
                    if on {
                        opts.push(name);
                    }
                }
                list(o, &opts, |o, x| s(o, x));
                o.push(b' ');
            }
            wire::astring(o, &l.reference);
            o.push(b' ');
            if l.patterns.len() == 1 {
                wire::astring(o, &l.patterns[0]);
            } else {
                list(o, &l.patterns, |o, p| wire::astring(o, p));
            }
            let r = &l.returns;
            if *r != ListReturn::default() {
                s(o, " RETURN ");
                let mut opts: Vec<Vec<u8>> = Vec::new();
                for (on, name) in [
                    (r.subscribed, "SUBSCRIBED"),
                    (r.children, "CHILDREN"),
                    (r.special_use, "SPECIAL-USE"),
                ] {
                    if on {
                        opts.push(name.as_bytes().to_vec());
                    }
                }
                if let Some(items) = &r.status {
                    let mut x = b"STATUS ".to_vec();
                    list(&mut x, items, status_item);
                    opts.push(x);
                }
                list(o, &opts, |o, x| o.extend_from_slice(x));
            }
        }
        Command::Lsub { reference, pattern } => {
            s(o, "LSUB ");
            wire::astring(o, reference);
            o.push(b' ');
            wire::astring(o, pattern);
        }
        Command::Namespace => s(o, "NAMESPACE"),
        Command::Status { mailbox, items } => {
            s(o, "STATUS ");
            wire::astring(o, mailbox);
            o.push(b' ');
            list(o, items, status_item);
        }
        Command::Append { mailbox, messages } => {
            s(o, "APPEND ");
            wire::astring(o, mailbox);
            for m in messages {
                if !m.flags.is_empty() {
                    o.push(b' ');
                    list(o, &m.flags, flag);
                }
                if let Some(d) = &m.date {
                    o.push(b' ');
                    date_time(o, d);
                }
                o.push(b' ');
                if m.binary {
                    o.push(b'~');
                }
                wire::literal(o, m.message);
            }
        }
        Command::Idle => s(o, "IDLE"),
        Command::Compress(a) => s(o, &format!("COMPRESS {a}")),
        Command::SetQuota { root, limits } => {
            s(o, "SETQUOTA ");
            wire::astring(o, root);
            o.push(b' ');
            list(o, limits, |o, (n, v)| s(o, &format!("{n} {v}")));
        }
        Command::Check => s(o, "CHECK"),
        Command::Close => s(o, "CLOSE"),
        Command::Unselect => s(o, "UNSELECT"),
        Command::Expunge => s(o, "EXPUNGE"),
        Command::UidExpunge(x) => {
            s(o, "UID EXPUNGE ");
            set(o, x);
        }
        Command::Search(x) => {
            uid(o, x.uid);
            s(o, "SEARCH");
            returns(o, &x.returns);
            if let Some(cs) = &x.charset {
                s(o, " CHARSET ");
                wire::astring(o, cs);
            }
            o.push(b' ');
            program(o, &x.key);
        }
        Command::Fetch(f) => {
            uid(o, f.uid);
            s(o, "FETCH ");
            set(o, &f.set);
            o.push(b' ');
            list(o, &f.items, fetch_att);
            if f.changed_since.is_some() || f.vanished {
                s(o, " (");
                if let Some(n) = f.changed_since {
                    s(o, &format!("CHANGEDSINCE {n}"));
                }
                if f.vanished {
                    s(
                        o,
                        if f.changed_since.is_some() {
                            " VANISHED"
                        } else {
                            "VANISHED"
                        },
                    );
                }
                o.push(b')');
            }
        }
        Command::Store(x) => {
            uid(o, x.uid);
            s(o, "STORE ");
            set(o, &x.set);
            if let Some(n) = x.unchanged_since {
                s(o, &format!(" (UNCHANGEDSINCE {n})"));
            }
            o.push(b' ');
            s(
                o,
                match x.mode {
                    StoreMode::Replace => "",
                    StoreMode::Add => "+",
                    StoreMode::Remove => "-",
                },
            );
            s(o, if x.silent { "FLAGS.SILENT " } else { "FLAGS " });
            list(o, &x.flags, flag);
        }
        Command::Copy {
            uid: u,
            set: x,
            mailbox,
        }
        | Command::Move {
            uid: u,
            set: x,
            mailbox,
        } => {
            uid(o, *u);
            s(
                o,
                if matches!(c, Command::Copy { .. }) {
                    "COPY "
                } else {
                    "MOVE "
                },
            );
            set(o, x);
            o.push(b' ');
            wire::astring(o, mailbox);
        }
        Command::Sort {
            uid: u,
            criteria,
            charset,
            key: k,
            returns: r,
        } => {
            uid(o, *u);
            s(o, "SORT");
            returns(o, r);
            o.push(b' ');
            list(o, criteria, |o, c| {
                if c.reverse {
                    s(o, "REVERSE ");
                }
                s(
                    o,
                    match c.key {
                        SortKey::Arrival => "ARRIVAL",
                        SortKey::Cc => "CC",
                        SortKey::Date => "DATE",
                        SortKey::From => "FROM",
                        SortKey::Size => "SIZE",
                        SortKey::Subject => "SUBJECT",
                        SortKey::To => "TO",
                        SortKey::DisplayFrom => "DISPLAYFROM",
                        SortKey::DisplayTo => "DISPLAYTO",
                    },
                );
            });
            o.push(b' ');
            wire::astring(o, charset);
            o.push(b' ');
            program(o, k);
        }
        Command::Thread {
            uid: u,
            algorithm,
            charset,
            key: k,
        } => {
            uid(o, *u);
            s(
                o,
                match algorithm {
                    ThreadAlgorithm::OrderedSubject => "THREAD ORDEREDSUBJECT ",
                    ThreadAlgorithm::References => "THREAD REFERENCES ",
                },
            );
            wire::astring(o, charset);
            o.push(b' ');
            program(o, k);
        }
    }
}
