//! Unit tests of the command grammar: one or more per command, one per error class.

use std::borrow::Cow;

use super::{parse, Error, Failure, Options};
use crate::imap::types::*;

fn ok(s: &str) -> Command<'_> {
    match parse(s.as_bytes(), &Options::default()) {
        Ok(t) => t.command,
        Err(f) => panic!("{s:?} did not parse: {f:?}"),
    }
}

fn err(s: &str) -> Failure<'_> {
    match parse(s.as_bytes(), &Options::default()) {
        Ok(t) => panic!("{s:?} parsed as {t:?}"),
        Err(f) => f,
    }
}

fn b(s: &str) -> Str<'_> {
    Cow::Borrowed(s.as_bytes())
}

fn set(ranges: &[(u32, u32)]) -> SequenceSet {
    SequenceSet(
        ranges
            .iter()
            .map(|&(a, z)| SeqRange {
                start: if a == 0 {
                    SeqNum::Largest
                } else {
                    SeqNum::Value(a)
                },
                end: if z == 0 {
                    SeqNum::Largest
                } else {
                    SeqNum::Value(z)
                },
            })
            .collect(),
    )
}

#[test]
fn tags_and_simple_commands() {
    let t = parse(b"a001 CAPABILITY\r\n", &Options::default());
    assert_eq!(
        t,
        Ok(Tagged {
            tag: "a001",
            command: Command::Capability
        })
    );
    assert_eq!(ok("x noop\r\n"), Command::Noop);
    assert_eq!(ok("x LogOut\n"), Command::Logout);
    assert_eq!(ok("x.1] STARTTLS\r\n"), Command::StartTls);
    assert_eq!(ok("x CHECK\r\n"), Command::Check);
    assert_eq!(ok("x CLOSE\r\n"), Command::Close);
    assert_eq!(ok("x UNSELECT\r\n"), Command::Unselect);
    assert_eq!(ok("x EXPUNGE\r\n"), Command::Expunge);
    assert_eq!(ok("x IDLE\r\n"), Command::Idle);
    assert_eq!(ok("x NAMESPACE\r\n"), Command::Namespace);
    // `+` cannot be in a tag; a line without a tag gets an untagged BAD.
    assert_eq!(err("+x NOOP\r\n").tag, None);
    assert_eq!(err("a+b NOOP\r\n").tag, None);
    assert_eq!(err("\r\n").tag, None);
    assert_eq!(err("(a NOOP\r\n").tag, None);
    let f = err("a1 FROB\r\n");
    assert_eq!(f.tag, Some("a1"));
    assert_eq!(f.error, Error::Syntax("unknown command"));
    assert_eq!(
        err("a1 NOOP extra\r\n").error.reason(),
        "unexpected characters at the end of the command"
    );
    assert_eq!(err("a1 NOOP\r").error, Error::Incomplete);
    assert!(matches!(err("a1 NOOP\rx\n").error, Error::Syntax(_)));
    assert!(matches!(err("a1  NOOP\r\n").error, Error::Syntax(_)));
}

#[test]
fn login_with_every_string_form() {
    assert_eq!(
        ok("a LOGIN fred \"my \\\"secret\\\\\"\r\n"),
        Command::Login {
            user: b("fred"),
            password: Cow::Owned(b"my \"secret\\".to_vec())
        }
    );
    assert_eq!(
        ok("a LOGIN {4}\r\nfr d {3+}\r\np w\r\n"),
        Command::Login {
            user: b("fr d"),
            password: b("p w")
        }
    );
    assert!(matches!(err("a LOGIN fred\r\n").error, Error::Syntax(_)));
    assert!(matches!(
        err("a LOGIN fred (x)\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a LOGIN fred \"x\\y\"\r\n").error,
        Error::Syntax(_)
    ));
}

#[test]
fn authenticate_with_and_without_initial_response() {
    assert_eq!(
        ok("a AUTHENTICATE PLAIN\r\n"),
        Command::Authenticate {
            mechanism: "PLAIN",
            initial: None
        }
    );
    assert_eq!(
        ok("a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n"),
        Command::Authenticate {
            mechanism: "PLAIN",
            initial: Some(b"AGJvYgBzZWNyZXQ=")
        }
    );
    assert_eq!(
        ok("a AUTHENTICATE EXTERNAL =\r\n"),
        Command::Authenticate {
            mechanism: "EXTERNAL",
            initial: Some(b"")
        }
    );
    assert!(matches!(
        err("a AUTHENTICATE PLAIN abc\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a AUTHENTICATE PLAIN ab!c\r\n").error,
        Error::Syntax(_)
    ));
}

#[test]
fn enable_id_compress_and_quota() {
    assert_eq!(
        ok("a ENABLE IMAP4rev2 CONDSTORE UTF8=ACCEPT\r\n"),
        Command::Enable(vec!["IMAP4rev2", "CONDSTORE", "UTF8=ACCEPT"])
    );
    assert!(matches!(err("a ENABLE\r\n").error, Error::Syntax(_)));
    assert_eq!(ok("a ID NIL\r\n"), Command::Id(None));
    assert_eq!(
        ok("a ID (\"name\" \"mutt\" \"version\" NIL)\r\n"),
        Command::Id(Some(vec![
            (b("name"), Some(b("mutt"))),
            (b("version"), None)
        ]))
    );
    assert_eq!(ok("a ID ()\r\n"), Command::Id(Some(vec![])));
    assert!(matches!(
        err("a ID (name \"x\")\r\n").error,
        Error::Syntax(_)
    ));
    assert_eq!(ok("a COMPRESS DEFLATE\r\n"), Command::Compress("DEFLATE"));
    assert_eq!(ok("a GETQUOTA \"\"\r\n"), Command::GetQuota(b("")));
    assert_eq!(
        ok("a GETQUOTAROOT inbox\r\n"),
        Command::GetQuotaRoot(b("INBOX"))
    );
    assert_eq!(
        ok("a SETQUOTA \"\" (STORAGE 512 MESSAGE 1000)\r\n"),
        Command::SetQuota {
            root: b(""),
            limits: vec![("STORAGE", 512), ("MESSAGE", 1000)]
        }
    );
}

#[test]
fn select_examine_with_condstore_and_qresync() {
    assert_eq!(
        ok("a SELECT inbox\r\n"),
        Command::Select {
            mailbox: b("INBOX"),
            params: SelectParams::default()
        }
    );
    assert_eq!(
        ok("a EXAMINE \"Sent Items\" (CONDSTORE)\r\n"),
        Command::Examine {
            mailbox: b("Sent Items"),
            params: SelectParams {
                condstore: true,
                qresync: None
            }
        }
    );
    // RFC 7162 3.2.5.2 example.
    assert_eq!(
        ok("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n"),
        Command::Select {
            mailbox: b("INBOX"),
            params: SelectParams {
                condstore: false,
                qresync: Some(QResync {
                    uidvalidity: 67890007,
                    modseq: 20050715194045000,
                    known_uids: Some(set(&[(41, 41), (43, 211), (214, 541)])),
                    seq_match: None,
                })
            }
        }
    );
    assert_eq!(
        ok("B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n"),
        Command::Select {
            mailbox: b("INBOX"),
            params: SelectParams {
                condstore: false,
                qresync: Some(QResync {
                    uidvalidity: 67890007,
                    modseq: 90060115194045000,
                    known_uids: Some(set(&[(1, 29997)])),
                    seq_match: Some((
                        set(&[(5000, 5000), (7500, 7500), (9000, 9000), (9990, 9999)]),
                        set(&[
                            (15000, 15000), (22500, 22500), (27000, 27000), (29970, 29970),
                            (29973, 29973), (29976, 29976), (29979, 29979), (29982, 29982),
                            (29985, 29985), (29988, 29988), (29991, 29991), (29994, 29994),
                            (29997, 29997),
                        ])
                    )),
                })
            }
        }
    );
    assert!(matches!(
        err("a SELECT INBOX (FOO)\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a SELECT INBOX ()\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a SELECT INBOX (QRESYNC (0 1))\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(err("a SELECT\r\n").error, Error::Syntax(_)));
}

#[test]
fn mailbox_management() {
    assert_eq!(
        ok("a CREATE Drafts2 (USE (\\Drafts))\r\n"),
        Command::Create {
            mailbox: b("Drafts2"),
            special_use: vec!["\\Drafts"]
        }
    );
    assert_eq!(
        ok("a CREATE foo/bar\r\n"),
        Command::Create {
            mailbox: b("foo/bar"),
            special_use: vec![]
        }
    );
    assert!(matches!(
        err("a CREATE x (USE (Drafts))\r\n").error,
        Error::Syntax(_)
    ));
    assert_eq!(ok("a DELETE \"a b\"\r\n"), Command::Delete(b("a b")));
    assert_eq!(
        ok("a RENAME INBOX Old\r\n"),
        Command::Rename {
            from: b("INBOX"),
            to: b("Old")
        }
    );
    assert_eq!(ok("a SUBSCRIBE x\r\n"), Command::Subscribe(b("x")));
    assert_eq!(ok("a UNSUBSCRIBE x\r\n"), Command::Unsubscribe(b("x")));
    assert_eq!(
        ok("a LSUB \"\" *\r\n"),
        Command::Lsub {
            reference: b(""),
            pattern: b("*")
        }
    );
}

#[test]
fn list_basic_and_extended() {
    assert_eq!(
        ok("a LIST \"\" %\r\n"),
        Command::List(List {
            reference: b(""),
            patterns: vec![b("%")],
            select: ListSelect::default(),
            returns: ListReturn::default(),
        })
    );
    // RFC 5258 5 examples, with RFC 5819 STATUS.
    assert_eq!(
        ok("A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX* \"foo bar\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n"),
        Command::List(List {
            reference: b(""),
            patterns: vec![b("INBOX*"), b("foo bar")],
            select: ListSelect {
                subscribed: true,
                recursive_match: true,
                ..Default::default()
            },
            returns: ListReturn {
                children: true,
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
                ..Default::default()
            },
        })
    );
    assert_eq!(
        ok("a list () \"\" % return (special-use subscribed)\r\n"),
        Command::List(List {
            reference: b(""),
            patterns: vec![b("%")],
            select: ListSelect::default(),
            returns: ListReturn {
                subscribed: true,
                special_use: true,
                ..Default::default()
            },
        })
    );
    assert!(matches!(
        err("a LIST (RECURSIVEMATCH) \"\" %\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a LIST (BOGUS) \"\" %\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a LIST \"\" % RETURN (BOGUS)\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(err("a LIST \"\" ()\r\n").error, Error::Syntax(_)));
}

#[test]
fn status_items() {
    assert_eq!(
        ok("a STATUS blurdybloop (UIDNEXT MESSAGES recent uidvalidity unseen deleted size highestmodseq appendlimit)\r\n"),
        Command::Status {
            mailbox: b("blurdybloop"),
            items: vec![
                StatusItem::UidNext,
                StatusItem::Messages,
                StatusItem::Recent,
                StatusItem::UidValidity,
                StatusItem::Unseen,
                StatusItem::Deleted,
                StatusItem::Size,
                StatusItem::HighestModSeq,
                StatusItem::AppendLimit,
            ]
        }
    );
    assert!(matches!(err("a STATUS x ()\r\n").error, Error::Syntax(_)));
    assert!(matches!(
        err("a STATUS x (FOO)\r\n").error,
        Error::Syntax(_)
    ));
}

#[test]
fn append_single_multi_and_binary() {
    let date = DateTime {
        date: Date {
            year: 1994,
            month: 2,
            day: 7,
        },
        hour: 21,
        minute: 52,
        second: 25,
        zone_minutes: -480,
    };
    assert_eq!(
        ok("A003 APPEND saved-messages (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" {5}\r\nHello\r\n"),
        Command::Append {
            mailbox: b("saved-messages"),
            messages: vec![AppendMessage {
                flags: vec![Flag::Seen, Flag::Keyword("$Junk")],
                date: Some(date),
                message: b"Hello",
                binary: false,
            }]
        }
    );
    // RFC 3502 MULTIAPPEND, literal8 (RFC 3516) with a NUL.
    assert_eq!(
        ok("a APPEND INBOX {3+}\r\none (\\Draft) ~{3+}\r\nt\0o\r\n"),
        Command::Append {
            mailbox: b("INBOX"),
            messages: vec![
                AppendMessage {
                    flags: vec![],
                    date: None,
                    message: b"one",
                    binary: false,
                },
                AppendMessage {
                    flags: vec![Flag::Draft],
                    date: None,
                    message: b"t\0o",
                    binary: true,
                }
            ]
        }
    );
    // RFC 6855 4: UTF8 (literal8).
    assert_eq!(
        ok("a APPEND Sent UTF8 (~{3+}\r\nt\u{e9})\r\n"),
        Command::Append {
            mailbox: b("Sent"),
            messages: vec![AppendMessage {
                flags: vec![],
                date: None,
                message: "t\u{e9}".as_bytes(),
                binary: true,
            }]
        }
    );
    assert!(matches!(
        err("a APPEND Sent UTF8 ({1}\r\nx)\r\n").error,
        Error::Syntax(_)
    ));
    assert_eq!(
        err("a APPEND x (\\Recent) {1}\r\nx\r\n").error,
        Error::Syntax("\\Recent cannot be stored")
    );
    assert!(matches!(err("a APPEND x\r\n").error, Error::Syntax(_)));
    assert!(matches!(
        err("a APPEND x \"hello\"\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a APPEND x {5}\r\nab\r\n").error,
        Error::Incomplete
    ));
}

#[test]
fn fetch_items_macros_and_sections() {
    let fetch = |s| match ok(s) {
        Command::Fetch(f) => f,
        c => panic!("{c:?}"),
    };
    let f = fetch("a FETCH 1:* ALL\r\n");
    assert_eq!(
        f.items,
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope
        ]
    );
    assert_eq!(f.set, set(&[(1, 0)]));
    assert!(!f.uid);
    assert_eq!(fetch("a FETCH 1 fast\r\n").items.len(), 3);
    assert_eq!(
        fetch("a FETCH 1 FULL\r\n").items.last(),
        Some(&FetchAttr::Body)
    );
    assert_eq!(fetch("a FETCH 2 uid\r\n").items, vec![FetchAttr::Uid]);
    let f = fetch(
        "a UID FETCH 1:100 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To \"Subject\")] BODY[1.2.MIME] BODY[]<0.2048> BINARY.PEEK[1]<5.10> BINARY.SIZE[] BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT MODSEQ ENVELOPE INTERNALDATE BODY[3.HEADER.FIELDS.NOT (Received)] BODY[TEXT] BODY[2] BINARY[])\r\n",
    );
    assert!(f.uid);
    assert_eq!(
        f.items,
        vec![
            FetchAttr::Uid,
            FetchAttr::Flags,
            FetchAttr::Rfc822Size,
            FetchAttr::Section {
                peek: true,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields {
                        not: false,
                        fields: vec![b("From"), b("To"), b("Subject")]
                    })
                },
                partial: None
            },
            FetchAttr::Section {
                peek: false,
                section: Section {
                    part: vec![1, 2],
                    text: Some(SectionText::Mime)
                },
                partial: None
            },
            FetchAttr::Section {
                peek: false,
                section: Section::default(),
                partial: Some(Partial {
                    origin: 0,
                    count: 2048
                })
            },
            FetchAttr::Binary {
                peek: true,
                part: vec![1],
                partial: Some(Partial {
                    origin: 5,
                    count: 10
                })
            },
            FetchAttr::BinarySize { part: vec![] },
            FetchAttr::BodyStructure,
            FetchAttr::Body,
            FetchAttr::Rfc822,
            FetchAttr::Rfc822Header,
            FetchAttr::Rfc822Text,
            FetchAttr::ModSeq,
            FetchAttr::Envelope,
            FetchAttr::InternalDate,
            FetchAttr::Section {
                peek: false,
                section: Section {
                    part: vec![3],
                    text: Some(SectionText::HeaderFields {
                        not: true,
                        fields: vec![b("Received")]
                    })
                },
                partial: None
            },
            FetchAttr::Section {
                peek: false,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::Text)
                },
                partial: None
            },
            FetchAttr::Section {
                peek: false,
                section: Section {
                    part: vec![2],
                    text: None
                },
                partial: None
            },
            FetchAttr::Binary {
                peek: false,
                part: vec![],
                partial: None
            },
        ]
    );
    let f = fetch("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
    assert_eq!((f.changed_since, f.vanished), (Some(12345), true));
    let f = fetch("a FETCH 1:* (FLAGS) (CHANGEDSINCE 0)\r\n");
    assert_eq!((f.changed_since, f.vanished), (Some(0), false));
    for bad in [
        "a FETCH 1:* (FLAGS) (VANISHED)\r\n",
        "a FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
        "a FETCH 1 (ALL)\r\n",
        "a FETCH 1 ()\r\n",
        "a FETCH 1 BODY[MIME]\r\n",
        "a FETCH 1 BODY.PEEK\r\n",
        "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
        "a FETCH 1 BODY[1.]\r\n",
        "a FETCH 1 BODY[0]\r\n",
        "a FETCH 1 BODY[]<0.0>\r\n",
        "a FETCH 1 BODY[]<1>\r\n",
        "a FETCH 1 BINARY[TEXT]\r\n",
        "a FETCH 1 BINARY\r\n",
        "a FETCH 1 FOO\r\n",
        "a FETCH 0 FLAGS\r\n",
        "a FETCH 1 (FLAGS) (FOO 1)\r\n",
    ] {
        assert!(matches!(err(bad).error, Error::Syntax(_)), "{bad}");
    }
}

#[test]
fn store_modes_and_flags() {
    assert_eq!(
        ok("A003 STORE 2:4 +FLAGS (\\Deleted)\r\n"),
        Command::Store(Store {
            uid: false,
            set: set(&[(2, 4)]),
            mode: StoreMode::Add,
            silent: false,
            flags: vec![Flag::Deleted],
            unchanged_since: None
        })
    );
    assert_eq!(
        ok("a UID STORE 1,3 (UNCHANGEDSINCE 320162338) -FLAGS.SILENT \\Seen \\Answered $Forwarded \\Foo\r\n"),
        Command::Store(Store {
            uid: true,
            set: set(&[(1, 1), (3, 3)]),
            mode: StoreMode::Remove,
            silent: true,
            flags: vec![Flag::Seen, Flag::Answered, Flag::Keyword("$Forwarded"), Flag::Extension("\\Foo")],
            unchanged_since: Some(320162338)
        })
    );
    assert_eq!(
        ok("a STORE * flags ()\r\n"),
        Command::Store(Store {
            uid: false,
            set: set(&[(0, 0)]),
            mode: StoreMode::Replace,
            silent: false,
            flags: vec![],
            unchanged_since: None
        })
    );
    assert_eq!(
        err("a STORE 1 +FLAGS (\\Recent)\r\n").error,
        Error::Syntax("\\Recent cannot be stored")
    );
    assert!(matches!(
        err("a STORE 1 +FLAGS.LOUD (\\Seen)\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a STORE 1 (FOO 1) FLAGS (\\Seen)\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(err("a STORE 1 FLAGS\r\n").error, Error::Syntax(_)));
}

#[test]
fn copy_move_and_uid_expunge() {
    assert_eq!(
        ok("a COPY 2:4 MEETING\r\n"),
        Command::Copy {
            uid: false,
            set: set(&[(2, 4)]),
            mailbox: b("MEETING")
        }
    );
    assert_eq!(
        ok("a uid move 42 \"Trash\"\r\n"),
        Command::Move {
            uid: true,
            set: set(&[(42, 42)]),
            mailbox: b("Trash")
        }
    );
    assert_eq!(
        ok("a UID EXPUNGE 3000:3002\r\n"),
        Command::UidExpunge(set(&[(3000, 3002)]))
    );
    assert!(matches!(err("a UID NOOP\r\n").error, Error::Syntax(_)));
    assert!(matches!(err("a UID EXPUNGE\r\n").error, Error::Syntax(_)));
}

#[test]
fn search_keys_every_kind() {
    let search = |s| match ok(s) {
        Command::Search(x) => x,
        c => panic!("{c:?}"),
    };
    let d = |year, month, day| Date { year, month, day };
    use SearchKey as K;
    let s = search("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n");
    assert_eq!(
        s.key,
        K::And(vec![
            K::Flagged,
            K::Since(d(1994, 2, 1)),
            K::Not(Box::new(K::From(b("Smith"))))
        ])
    );
    assert_eq!((s.uid, s.charset, s.returns), (false, None, None));
    let s = search(
        "a UID SEARCH RETURN (MIN MAX COUNT ALL) CHARSET UTF-8 ALL ANSWERED BCC b BEFORE \"2-Mar-2020\" BODY {4}\r\ncafe CC c DELETED DRAFT FLAGGED FROM f HEADER X-Foo \"\" KEYWORD $Junk LARGER 100 NEW OLD ON 3-Apr-2021 OR SEEN UNSEEN RECENT SEEN SENTBEFORE 4-May-2022 SENTON 5-Jun-2023 SENTSINCE 6-Jul-2024 SINCE 7-Aug-2025 SMALLER 200 SUBJECT s TEXT t TO to UID 1:5 UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD NonJunk UNSEEN 1,2:* (SEEN FLAGGED) MODSEQ \"/flags/\\\\draft\" all 620162338 MODSEQ 5 OLDER 3600 YOUNGER 60\r\n",
    );
    assert!(s.uid);
    assert_eq!(s.charset, Some(b("UTF-8")));
    assert_eq!(
        s.returns,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Max,
            SearchReturn::Count,
            SearchReturn::All
        ])
    );
    assert_eq!(
        s.key,
        K::And(vec![
            K::All,
            K::Answered,
            K::Bcc(b("b")),
            K::Before(d(2020, 3, 2)),
            K::Body(b("cafe")),
            K::Cc(b("c")),
            K::Deleted,
            K::Draft,
            K::Flagged,
            K::From(b("f")),
            K::Header(b("X-Foo"), b("")),
            K::Keyword("$Junk"),
            K::Larger(100),
            K::New,
            K::Old,
            K::On(d(2021, 4, 3)),
            K::Or(Box::new(K::Seen), Box::new(K::Unseen)),
            K::Recent,
            K::Seen,
            K::SentBefore(d(2022, 5, 4)),
            K::SentOn(d(2023, 6, 5)),
            K::SentSince(d(2024, 7, 6)),
            K::Since(d(2025, 8, 7)),
            K::Smaller(200),
            K::Subject(b("s")),
            K::Text(b("t")),
            K::To(b("to")),
            K::Uid(set(&[(1, 5)])),
            K::Unanswered,
            K::Undeleted,
            K::Undraft,
            K::Unflagged,
            K::Unkeyword("NonJunk"),
            K::Unseen,
            K::SequenceSet(set(&[(1, 1), (2, 0)])),
            K::And(vec![K::Seen, K::Flagged]),
            K::ModSeq(620162338),
            K::ModSeq(5),
            K::Older(3600),
            K::Younger(60),
        ])
    );
    assert_eq!(search("a SEARCH RETURN () ALL\r\n").returns, Some(vec![]));
    assert_eq!(
        search("a SEARCH CHARSET \"us-ascii\" ALL\r\n").charset,
        Some(b("us-ascii"))
    );
    for bad in [
        "a SEARCH\r\n",
        "a SEARCH FOO\r\n",
        "a SEARCH OR SEEN\r\n",
        "a SEARCH NOT\r\n",
        "a SEARCH ()\r\n",
        "a SEARCH (SEEN\r\n",
        "a SEARCH SINCE 32-Jan-2020\r\n",
        "a SEARCH LARGER x\r\n",
        "a SEARCH OLDER 0\r\n",
        "a SEARCH RETURN (FOO) ALL\r\n",
        "a SEARCH MODSEQ \"/flags/x\" bogus 5\r\n",
        "a SEARCH KEYWORD \\Seen\r\n",
    ] {
        assert!(matches!(err(bad).error, Error::Syntax(_)), "{bad}");
    }
    let opts = Options {
        searchres: true,
        ..Options::default()
    };
    assert!(parse(b"a SEARCH RETURN (SAVE) ALL\r\n", &opts).is_ok());
    // Without SEARCHRES advertised, SAVE is an unknown return option.
    let without = Options {
        searchres: false,
        ..Options::default()
    };
    assert!(parse(b"a SEARCH RETURN (SAVE) ALL\r\n", &without).is_err());
    assert!(parse(b"a SEARCH $\r\n", &without).is_err());
    // SEARCHRES `$` (RFC 5182 2.1) is the empty set, as a key, after UID, and in other commands.
    let saved = SequenceSet(vec![]);
    match parse(b"a UID SEARCH $ UID $ SEEN\r\n", &opts).map(|t| t.command) {
        Ok(Command::Search(s)) => assert_eq!(
            s.key,
            K::And(vec![
                K::SequenceSet(saved.clone()),
                K::Uid(saved.clone()),
                K::Seen
            ])
        ),
        other => panic!("{other:?}"),
    }
    match parse(b"a UID FETCH $ (FLAGS)\r\n", &opts).map(|t| t.command) {
        Ok(Command::Fetch(f)) => assert_eq!(f.set, saved),
        other => panic!("{other:?}"),
    }
    assert!(parse(b"a UID FETCH 1,$ (FLAGS)\r\n", &opts).is_err());
    assert!(parse(b"a UID FETCH $ (FLAGS)\r\n", &without).is_err());
}

#[test]
fn search_limits_are_limit_errors() {
    let deep = format!("a SEARCH {}SEEN{}\r\n", "(".repeat(40), ")".repeat(40));
    assert_eq!(err(&deep).error, Error::Limit("nesting too deep"));
    let nots = format!("a SEARCH {}SEEN\r\n", "NOT ".repeat(40));
    assert_eq!(err(&nots).error, Error::Limit("nesting too deep"));
    let many = format!("a SEARCH{}\r\n", " SEEN".repeat(2001));
    assert_eq!(
        err(&many).error,
        Error::Limit("too many items in one command")
    );
    let fine = format!("a SEARCH{}\r\n", " SEEN".repeat(1999));
    assert!(parse(fine.as_bytes(), &Options::default()).is_ok());
}

#[test]
fn sort_and_thread() {
    use SearchKey as K;
    assert_eq!(
        ok("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n"),
        Command::Sort {
            uid: false,
            criteria: vec![
                SortCriterion {
                    reverse: false,
                    key: SortKey::Subject
                },
                SortCriterion {
                    reverse: true,
                    key: SortKey::Date
                }
            ],
            charset: b("UTF-8"),
            key: K::All,
            returns: None,
        }
    );
    assert_eq!(
        ok("a UID SORT RETURN (COUNT) (ARRIVAL CC FROM SIZE TO DISPLAYFROM DISPLAYTO) US-ASCII SEEN UNDELETED\r\n"),
        Command::Sort {
            uid: true,
            criteria: [
                SortKey::Arrival,
                SortKey::Cc,
                SortKey::From,
                SortKey::Size,
                SortKey::To,
                SortKey::DisplayFrom,
                SortKey::DisplayTo
            ]
            .into_iter()
            .map(|key| SortCriterion { reverse: false, key })
            .collect(),
            charset: b("US-ASCII"),
            key: K::And(vec![K::Seen, K::Undeleted]),
            returns: Some(vec![SearchReturn::Count]),
        }
    );
    assert_eq!(
        ok("A284 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n"),
        Command::Thread {
            uid: false,
            algorithm: ThreadAlgorithm::OrderedSubject,
            charset: b("UTF-8"),
            key: K::Since(Date {
                year: 2000,
                month: 3,
                day: 5
            })
        }
    );
    assert!(matches!(
        ok("a UID THREAD REFERENCES UTF-8 ALL\r\n"),
        Command::Thread { uid: true, .. }
    ));
    assert!(matches!(
        err("a SORT (FOO) UTF-8 ALL\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a SORT () UTF-8 ALL\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a SORT (DATE) ALL\r\n").error,
        Error::Syntax(_)
    ));
    assert!(matches!(
        err("a THREAD X UTF-8 ALL\r\n").error,
        Error::Syntax(_)
    ));
}

/// Commands as real clients send them (Thunderbird, Apple Mail, iOS, mutt, mbsync, K-9, Outlook,
/// Python imaplib, curl), case and quoting as they write them.
#[test]
fn real_client_commands_parse() {
    for line in [
        "2 authenticate PLAIN\r\n",
        "3 select \"INBOX\" (CONDSTORE)\r\n",
        "4 getquotaroot \"INBOX\"\r\n",
        "5 UID fetch 1:* (FLAGS) (CHANGEDSINCE 123)\r\n",
        "7 UID fetch 402 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
        "8 list (SPECIAL-USE) \"\" \"*\"\r\n",
        "9 UID STORE 402 +FLAGS (\\Seen)\r\n",
        "10 ID (\"name\" \"Thunderbird\" \"version\" \"115.0\")\r\n",
        "11 UID fetch 402 (UID RFC822.SIZE BODY.PEEK[])\r\n",
        "12 IDLE\r\n",
        "1.2 ID (\"name\" \"Mac OS X Mail\" \"version\" \"16.0 (3731.500.231)\" \"os\" \"Mac OS X\" \"os-version\" \"13.4 (22F66)\" \"vendor\" \"Apple Inc.\")\r\n",
        "3.1 UID FETCH 1:* (FLAGS UID) (CHANGEDSINCE 1 VANISHED)\r\n",
        "4.1 SELECT INBOX (QRESYNC (1 2 1:10))\r\n",
        "7.2 UID SEARCH 1:* NOT DELETED\r\n",
        "a0005 FETCH 1:5 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL X-ORIGINAL-TO)])\r\n",
        "a0007 UID STORE 1 +FLAGS.SILENT (\\Seen)\r\n",
        "a0003 LSUB \"\" \"*\"\r\n",
        "a0008 STATUS \"INBOX\" (MESSAGES)\r\n",
        "a0002 LOGIN \"user\" \"pass\"\r\n",
        "4 UID FETCH 1:1000000000 (UID FLAGS)\r\n",
        "6 UID STORE 5 +FLAGS.SILENT \\Deleted\r\n",
        "7 APPEND \"INBOX\" (\\Seen) {3+}\r\nabc\r\n",
        "8 UID FETCH 5 (BODY.PEEK[])\r\n",
        "9 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-TUID)])\r\n",
        "10 FETCH *:* (UID)\r\n",
        "11 UID EXPUNGE 5\r\n",
        "12 CREATE \"foo\"\r\n",
        "13 LIST \"\" \"\"\r\n",
        "14 COMPRESS DEFLATE\r\n",
        "15 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (date subject from content-type to cc bcc reply-to message-id references in-reply-to X-K9mail-Identity Chat-Version)])\r\n",
        "TAG1 LOGIN user \"pa ss\"\r\n",
        "TAG2 FETCH 1 (RFC822)\r\n",
        "TAG3 SEARCH ALL\r\n",
        "TAG4 STORE 1 +FLAGS \\Deleted\r\n",
        "TAG5 APPEND INBOX \"27-Nov-2026 15:50:00 +0000\" {3}\r\nabc\r\n",
        "TAG6 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\ncaf\u{e9}\r\n",
        "TAG7 ENABLE UTF8=ACCEPT\r\n",
        "TAG8 MOVE 1:3 Trash\r\n",
        "A001 CAPABILITY\r\n",
        "A002 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n",
        "A004 UID FETCH 1 BODY[]\r\n",
        "A005 EXAMINE INBOX\r\n",
        "A006 NAMESPACE\r\n",
        "A007 LIST \"\" %\r\n",
    ] {
        if let Err(f) = parse(line.as_bytes(), &Options::default()) {
            panic!("{line:?}: {f:?}");
        }
    }
}

/// RFC 2971 3.3: at most 30 field-value pairs, fields of at most 30 octets, values of at most 1024;
/// past them the command is BAD (and parsing stops at the first pair over a bound).
#[test]
fn id_is_bounded() {
    let pairs = |n: usize| {
        let body: Vec<String> = (0..n).map(|i| format!("\"f{i}\" \"v\"")).collect();
        format!("a ID ({})\r\n", body.join(" "))
    };
    assert!(matches!(ok(&pairs(30)), Command::Id(Some(v)) if v.len() == 30));
    assert!(matches!(err(&pairs(31)).error, Error::Limit(_)));
    let field = |n: usize| format!("a ID (\"{}\" NIL)\r\n", "f".repeat(n));
    assert!(matches!(ok(&field(30)), Command::Id(Some(_))));
    assert!(matches!(err(&field(31)).error, Error::Limit(_)));
    let value = |n: usize| format!("a ID (\"name\" {{{n}}}\r\n{})\r\n", "v".repeat(n));
    assert!(matches!(ok(&value(1024)), Command::Id(Some(_))));
    assert!(matches!(err(&value(1025)).error, Error::Limit(_)));
}

/// RFC 9051 9: `literal` carries CHAR8 (no NUL); only `literal8` (BINARY APPEND, RFC 3516) may.
#[test]
fn nul_is_refused_in_literals_but_not_in_literal8() {
    for cmd in [
        "a APPEND INBOX {3}\r\nt\0o\r\n",
        "a LOGIN {3}\r\nu\0s pass\r\n",
        "a ID (\"name\" {2}\r\n\0x)\r\n",
        "a SEARCH TEXT {2}\r\na\0\r\n",
    ] {
        assert!(matches!(err(cmd).error, Error::Syntax(_)), "{cmd:?}");
    }
    assert!(matches!(
        ok("a APPEND INBOX ~{3}\r\nt\0o\r\n"),
        Command::Append { .. }
    ));
}
