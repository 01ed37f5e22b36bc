//! One session: states, each command's replies and its errors.

use std::borrow::Cow;

use super::super::super::types::{
    AppendMessage, Command, Fetch, FetchAttr, Flag, List, Section, SectionText, SelectParams,
    StatusItem, Store, StoreMode,
};
use super::super::{Config, Flow};
use super::*;

fn select(mailbox: &str) -> Command<'_> {
    Command::Select {
        mailbox: name(mailbox),
        params: SelectParams::default(),
    }
}

fn fetch(uid: bool, spec: &str, items: Vec<FetchAttr<'static>>) -> Command<'static> {
    Command::Fetch(Fetch {
        uid,
        set: set(spec),
        items,
        changed_since: None,
        vanished: false,
    })
}

fn store_cmd(
    uid: bool,
    spec: &str,
    mode: StoreMode,
    flags: Vec<Flag<'static>>,
) -> Command<'static> {
    Command::Store(Store {
        uid,
        set: set(spec),
        mode,
        silent: false,
        flags,
        unchanged_since: None,
    })
}

fn append<'a>(mailbox: &'a str, message: &'a [u8], flags: Vec<Flag<'a>>) -> Command<'a> {
    Command::Append {
        mailbox: name(mailbox),
        messages: vec![AppendMessage {
            flags,
            date: None,
            message,
            binary: false,
        }],
    }
}

#[test]
fn not_authenticated_state_refuses_mailbox_commands_and_too_many_bad_end_with_bye() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let cfg = Config {
            max_bad: 3,
            ..Config::default()
        };
        let mut c = Client::new(&store, cfg);
        assert!(c
            .greeting
            .starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "));
        assert!(c.greeting.contains(" AUTH=PLAIN"));
        assert_eq!(
            c.run(t("a", select("INBOX"))).await,
            "a BAD Not authenticated: LOGIN or AUTHENTICATE first\r\n"
        );
        assert_eq!(
            c.run(t("b", Command::Noop)).await,
            "b OK NOOP completed\r\n",
            "a good command resets the count of BADs in a row"
        );
        c.run(t("c", Command::Check)).await;
        let mut out = Vec::new();
        assert_eq!(
            c.s.bad_command(Some("d"), "Unknown command", &mut out),
            Flow::Ready
        );
        assert_eq!(
            c.s.bad_command(None, "Garbage", &mut out),
            Flow::Close,
            "the third BAD in a row ends the session"
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "d BAD Unknown command\r\n* BAD Garbage\r\n* BYE Too many invalid commands\r\n"
        );
        assert!(c.s.is_closed());
    });
}

#[test]
fn login_then_select_an_empty_inbox_and_logout() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::logged_in(&store).await;
        assert_eq!(
            c.run(t("a", Command::Check)).await,
            "a BAD No mailbox selected\r\n"
        );
        let r = c.run(t("b", select("inbox"))).await;
        assert_eq!(
            r,
            format!(
                "* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)\r\n\
                 * 0 EXISTS\r\n\
                 * 0 RECENT\r\n\
                 * OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft \\*)] Flags permitted\r\n\
                 * OK [UIDVALIDITY {NOW}] UIDs valid\r\n\
                 * OK [UIDNEXT 1] Predicted next UID\r\n\
                 * OK [HIGHESTMODSEQ 0] Highest\r\n\
                 b OK [READ-WRITE] SELECT completed\r\n"
            )
        );
        assert_eq!(c.s.selected(), Some("INBOX"));
        assert_eq!(
            c.run(t("c", select("Nope"))).await,
            "c NO [NONEXISTENT] no such mailbox\r\n"
        );
        assert_eq!(
            c.s.selected(),
            None,
            "a failed SELECT leaves no mailbox selected"
        );
        assert_eq!(
            c.run(t("d", Command::Logout)).await,
            "* BYE Logging out\r\nd OK LOGOUT completed\r\n"
        );
        assert!(c.s.is_closed());
    });
}

#[test]
fn authenticate_plain_with_and_without_an_initial_response() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::new(&store, Config::default());
        // "\0alice@example.test\0secret"
        let ir = b"AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=";
        let mut out = Vec::new();
        let flow =
            c.s.handle(
                t(
                    "a",
                    Command::Authenticate {
                        mechanism: "PLAIN",
                        initial: None,
                    },
                ),
                NOW,
                &mut out,
            )
            .await;
        assert_eq!(flow, Flow::AuthLine);
        assert_eq!(out, b"+ \r\n");
        assert_eq!(c.s.auth_line(b"*", &mut out), Flow::Ready);
        assert!(String::from_utf8_lossy(&out).ends_with("a BAD AUTHENTICATE cancelled\r\n"));
        out.clear();
        let flow =
            c.s.handle(
                t(
                    "b",
                    Command::Authenticate {
                        mechanism: "plain",
                        initial: Some(ir),
                    },
                ),
                NOW,
                &mut out,
            )
            .await;
        match &flow {
            Flow::Login(cr) => {
                assert_eq!(cr.user, USER);
                assert_eq!(cr.password, "secret");
            }
            f => panic!("expected a login, got {f:?}"),
        }
        assert_eq!(c.s.login_failed(&mut out), Flow::Ready);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "b NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
        );
        assert!(!c.s.is_authenticated());
        out.clear();
        let flow =
            c.s.handle(
                t(
                    "c",
                    Command::Authenticate {
                        mechanism: "PLAIN",
                        initial: Some(b"!!!!"),
                    },
                ),
                NOW,
                &mut out,
            )
            .await;
        assert_eq!(flow, Flow::Ready);
        assert_eq!(String::from_utf8_lossy(&out), "c BAD Invalid base64\r\n");
        // The handoff carries the pending login to the owner shard.
        out.clear();
        let flow =
            c.s.handle(
                t(
                    "d",
                    Command::Login {
                        user: name(USER),
                        password: name("secret"),
                    },
                ),
                NOW,
                &mut out,
            )
            .await;
        assert!(matches!(flow, Flow::Login(_)));
        assert_eq!(c.s.logged_in(USER, &mut out), Flow::Ready);
        assert!(String::from_utf8_lossy(&out).starts_with("d OK [CAPABILITY IMAP4rev1 "));
        assert!(String::from_utf8_lossy(&out).contains(" UIDPLUS "));
        let Client { s, store, .. } = c;
        let h = s.into_handoff().expect("logged in without a backend");
        fn send<T: Send>(t: T) -> T {
            t
        }
        let h = send(h);
        let b = StoreBackend::open(store.clone(), h.user(), NOW)
            .await
            .expect("backend");
        let mut s = h.resume(b);
        assert!(s.is_authenticated());
        out.clear();
        let flow = s.handle(t("e", Command::Noop), NOW, &mut out).await;
        assert_eq!(flow, Flow::Ready);
        assert_eq!(String::from_utf8_lossy(&out), "e OK NOOP completed\r\n");
    });
}

#[test]
fn append_fetch_store_and_seen_on_body_fetch() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::logged_in(&store).await;
        let m = msg("one");
        assert_eq!(
            c.run(t("a", append("INBOX", &m, vec![Flag::Flagged])))
                .await,
            format!("a OK [APPENDUID {NOW} 1] APPEND completed\r\n")
        );
        assert_eq!(
            c.run(t("b", append("Nope", &m, vec![]))).await,
            "b NO [TRYCREATE] no such mailbox\r\n"
        );
        let r = c.run(t("c", select("INBOX"))).await;
        assert!(
            r.contains("* 1 EXISTS\r\n* 1 RECENT\r\n* OK [UNSEEN 1] First unseen\r\n"),
            "{r}"
        );
        assert_eq!(
            c.run(t(
                "d",
                fetch(
                    false,
                    "1",
                    vec![FetchAttr::Flags, FetchAttr::Rfc822Size, FetchAttr::InternalDate]
                )
            ))
            .await,
            format!(
                "* 1 FETCH (FLAGS (\\Flagged \\Recent) RFC822.SIZE {} INTERNALDATE \"21-Sep-2026 14:13:20 +0000\")\r\n\
                 d OK FETCH completed\r\n",
                m.len()
            )
        );
        assert_eq!(
            c.run(t("e", fetch(false, "2", vec![FetchAttr::Flags])))
                .await,
            "e BAD message sequence number 2 is above the message count 1\r\n"
        );
        assert_eq!(
            c.run(t("f", fetch(true, "2:*", vec![FetchAttr::Flags])))
                .await,
            "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\nf OK FETCH completed\r\n",
            "UID n:* always names the last message (RFC 9051 6.4.9)"
        );
        let header = FetchAttr::Section {
            peek: true,
            section: Section {
                part: vec![],
                text: Some(SectionText::HeaderFields {
                    not: false,
                    fields: vec![Cow::Borrowed(b"Subject")],
                }),
            },
            partial: None,
        };
        assert_eq!(
            c.run(t("g", fetch(false, "1", vec![header]))).await,
            "* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {16}\r\nSubject: one\r\n\r\n)\r\n\
             g OK FETCH completed\r\n",
            "PEEK leaves \\Seen alone"
        );
        let body = FetchAttr::Section {
            peek: false,
            section: Section::default(),
            partial: None,
        };
        let r = c.run(t("h", fetch(false, "1", vec![body]))).await;
        assert_eq!(
            r,
            format!(
                "* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent) BODY[] {{{}}}\r\n{})\r\nh OK FETCH completed\r\n",
                m.len(),
                String::from_utf8_lossy(&m)
            ),
            "a body fetch sets \\Seen and reports it in the same response"
        );
        assert_eq!(
            c.run(t(
                "i",
                store_cmd(false, "1", StoreMode::Remove, vec![Flag::Seen])
            ))
            .await,
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\ni OK STORE completed\r\n"
        );
        assert_eq!(
            c.run(t(
                "j",
                store_cmd(true, "1", StoreMode::Add, vec![Flag::Keyword("$Junk")])
            ))
            .await,
            "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent $Junk))\r\nj OK STORE completed\r\n"
        );
        assert_eq!(
            c.run(t(
                "k",
                store_cmd(false, "1", StoreMode::Add, vec![Flag::Extension("Bogus")])
            ))
            .await,
            "k BAD Unknown system flag \\Bogus\r\n"
        );
    });
}

#[test]
fn large_bodies_are_spliced_not_copied() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::logged_in(&store).await;
        let mut big = msg("big");
        big.extend(std::iter::repeat_n(b'x', 40_000));
        big.extend_from_slice(b"\r\n");
        deliver(&store, USER, &big).await;
        c.run(t("a", select("INBOX"))).await;
        let mut rec = Recorder::default();
        let flow =
            c.s.handle(
                t(
                    "b",
                    fetch(
                        true,
                        "1",
                        vec![FetchAttr::Section {
                            peek: true,
                            section: Section::default(),
                            partial: None,
                        }],
                    ),
                ),
                NOW,
                &mut rec,
            )
            .await;
        assert_eq!(flow, Flow::Ready);
        let head = format!("* 1 FETCH (UID 1 BODY[] {{{}}}\r\n", big.len());
        assert_eq!(rec.splices.len(), 1);
        assert_eq!(
            rec.splices[0].0,
            head.len(),
            "the body goes right after its literal header"
        );
        assert_eq!(rec.splices[0].1, big);
        assert_eq!(
            String::from_utf8_lossy(&rec.buf),
            format!("{head})\r\nb OK FETCH completed\r\n")
        );
    });
}

#[test]
fn folders_create_rename_delete_list_status_and_subscriptions() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = Client::logged_in(&store).await;
        let create = |n| Command::Create {
            mailbox: name(n),
            special_use: vec![],
        };
        assert_eq!(
            c.run(t("a", create("Work/2026"))).await,
            "a OK CREATE completed\r\n"
        );
        assert_eq!(
            c.run(t("b", create("Work"))).await,
            "b NO [ALREADYEXISTS] mailbox already exists\r\n",
            "CREATE made the missing parent"
        );
        assert_eq!(
            c.run(t("c", Command::Delete(name("INBOX")))).await,
            "c NO [CANNOT] INBOX cannot be deleted\r\n"
        );
        let list = |p| {
            Command::List(List {
                reference: name(""),
                patterns: vec![name(p)],
                select: Default::default(),
                returns: Default::default(),
            })
        };
        assert_eq!(
            c.run(t("d", list("*"))).await,
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n\
             * LIST (\\HasNoChildren) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n\
             * LIST (\\HasChildren) \"/\" Work\r\n\
             * LIST (\\HasNoChildren) \"/\" Work/2026\r\n\
             d OK LIST completed\r\n"
                .replace(
                    "(\\HasNoChildren) \"/\" Drafts",
                    "(\\HasNoChildren \\Drafts) \"/\" Drafts"
                )
        );
        assert_eq!(
            c.run(t("e", list("%"))).await.lines().count(),
            8,
            "% stops at the separator: seven top-level names and the OK"
        );
        assert_eq!(
            c.run(t("f", list(""))).await,
            "* LIST (\\Noselect) \"/\" \"\"\r\nf OK LIST completed\r\n"
        );
        assert_eq!(
            c.run(t(
                "g",
                Command::Rename {
                    from: name("Work"),
                    to: name("Jobs")
                }
            ))
            .await,
            "g OK RENAME completed\r\n"
        );
        assert_eq!(
            c.run(t("h", list("Jobs/*"))).await,
            "* LIST (\\HasNoChildren) \"/\" Jobs/2026\r\nh OK LIST completed\r\n",
            "children move with their parent"
        );
        let m = msg("s");
        c.run(t("i", append("Jobs/2026", &m, vec![Flag::Seen])))
            .await;
        assert_eq!(
            c.run(t(
                "j",
                Command::Status {
                    mailbox: name("Jobs/2026"),
                    items: vec![
                        StatusItem::Messages,
                        StatusItem::Unseen,
                        StatusItem::Size,
                        StatusItem::UidNext,
                        StatusItem::Deleted,
                        StatusItem::HighestModSeq,
                    ],
                }
            ))
            .await,
            format!(
                "* STATUS Jobs/2026 (MESSAGES 1 UNSEEN 0 SIZE {} UIDNEXT 2 DELETED 0 HIGHESTMODSEQ 1)\r\n\
                 j OK STATUS completed\r\n",
                m.len()
            )
        );
        assert_eq!(
            c.run(t("k", Command::Subscribe(name("Jobs/2026")))).await,
            "k OK Subscription changed\r\n"
        );
        assert_eq!(
            c.run(t(
                "l",
                Command::Lsub {
                    reference: name(""),
                    pattern: name("J*")
                }
            ))
            .await,
            "* LSUB () \"/\" Jobs/2026\r\n* LSUB () \"/\" Junk\r\nl OK LSUB completed\r\n"
        );
        assert_eq!(
            c.run(t("m", Command::Delete(name("Jobs/2026")))).await,
            "m OK DELETE completed\r\n"
        );
        assert_eq!(
            c.run(t("n", Command::Namespace)).await,
            "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nn OK NAMESPACE completed\r\n"
        );
    });
}

#[test]
fn plaintext_login_is_refused_without_tls_when_configured_so() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let cfg = Config {
            plaintext_login: false,
            starttls: true,
            ..Config::default()
        };
        let mut c = Client::new(&store, cfg);
        assert!(
            c.greeting.contains(" STARTTLS LOGINDISABLED]"),
            "{}",
            c.greeting
        );
        assert_eq!(
            c.run(t(
                "a",
                Command::Login {
                    user: name(USER),
                    password: name("secret"),
                }
            ))
            .await,
            "a NO [PRIVACYREQUIRED] LOGIN needs TLS (LOGINDISABLED)\r\n"
        );
        let mut out = Vec::new();
        assert_eq!(
            c.s.handle(t("b", Command::StartTls), NOW, &mut out).await,
            Flow::StartTls
        );
        assert_eq!(out, b"b OK Begin TLS negotiation now\r\n");
    });
}
