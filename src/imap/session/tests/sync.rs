//! Several sessions on one mailbox: untagged updates at the points RFC 9051 7 allows, \Recent in one
//! session only, IDLE, CONDSTORE/QRESYNC resynchronization, and UIDs that survive a reopen.

use super::super::super::types::{
    Command, Fetch, FetchAttr, Flag, QResync, SelectParams, Store, StoreMode,
};
use super::super::Flow;
use super::*;

fn select_with(mailbox: &str, params: SelectParams) -> Command<'_> {
    Command::Select {
        mailbox: name(mailbox),
        params,
    }
}

fn select(mailbox: &str) -> Command<'_> {
    select_with(mailbox, SelectParams::default())
}

fn flags(uid: bool, spec: &str) -> Command<'static> {
    Command::Fetch(Fetch {
        uid,
        set: set(spec),
        items: vec![FetchAttr::Flags],
        changed_since: None,
        vanished: false,
    })
}

fn add(uid: bool, spec: &str, flag: Flag<'static>) -> Command<'static> {
    Command::Store(Store {
        uid,
        set: set(spec),
        mode: StoreMode::Add,
        silent: true,
        flags: vec![flag],
        unchanged_since: None,
    })
}

#[test]
fn two_sessions_see_each_others_changes_where_the_rfc_allows() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for s in ["1", "2", "3"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let mut a = Client::logged_in(&store).await;
        let mut b = Client::logged_in(&store).await;
        let ra = a.run(t("a1", select("INBOX"))).await;
        assert!(ra.contains("* 3 EXISTS\r\n* 3 RECENT\r\n"), "{ra}");
        let rb = b.run(t("b1", select("INBOX"))).await;
        assert!(
            rb.contains("* 3 EXISTS\r\n* 0 RECENT\r\n"),
            "\\Recent belongs to the first session only: {rb}"
        );
        deliver(&store, USER, &msg("4")).await;
        assert_eq!(
            a.run(t("a2", Command::Noop)).await,
            "* 4 EXISTS\r\n* 4 RECENT\r\na2 OK NOOP completed\r\n",
            "A announces message 4 first: it is \\Recent in A (RFC 3501 2.3.2)"
        );
        // B flags message 2 silently: B hears nothing, A hears it at its next command.
        assert_eq!(
            b.run(t("b2", add(false, "2", Flag::Deleted))).await,
            "* 4 EXISTS\r\n* 0 RECENT\r\nb2 OK STORE completed\r\n"
        );
        assert_eq!(
            a.run(t("a3", Command::Noop)).await,
            "* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\na3 OK NOOP completed\r\n"
        );
        assert_eq!(
            b.run(t("b3", Command::Expunge)).await,
            "* 2 EXPUNGE\r\nb3 OK EXPUNGE completed\r\n"
        );
        // A is answering FETCH by sequence number: no EXPUNGE now (RFC 9051 7.5.1), and its
        // numbering stays as it was.
        assert_eq!(
            a.run(t("a4", flags(false, "4"))).await,
            "* 4 FETCH (FLAGS (\\Recent))\r\na4 OK FETCH completed\r\n"
        );
        // UID FETCH may report it.
        assert_eq!(
            a.run(t("a5", flags(true, "4"))).await,
            "* 2 EXPUNGE\r\n* 3 FETCH (UID 4 FLAGS (\\Recent))\r\na5 OK FETCH completed\r\n"
        );
        assert_eq!(
            a.run(t("a6", Command::Noop)).await,
            "a6 OK NOOP completed\r\n"
        );
    });
}

#[test]
fn idle_reports_a_delivery_and_ends_on_done() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("1")).await;
        let mut a = Client::logged_in(&store).await;
        a.run(t("a1", select("INBOX"))).await;
        let mut feed = a.s.follow().expect("logged in");
        let mut out = Vec::new();
        let flow = a.s.handle(t("a2", Command::Idle), NOW, &mut out).await;
        assert_eq!(flow, Flow::Idle);
        assert_eq!(out, b"+ idling\r\n");
        out.clear();
        let waiter =
            glommio::spawn_local(async move { super::super::next_change(&mut feed).await });
        deliver(&store, USER, &msg("2")).await;
        assert!(waiter.await, "the feed woke up");
        assert_eq!(a.s.idle_changed(&mut out), Flow::Idle);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "* 2 EXISTS\r\n* 2 RECENT\r\n"
        );
        out.clear();
        assert_eq!(a.s.idle_done(&mut out), Flow::Ready);
        assert_eq!(String::from_utf8_lossy(&out), "a2 OK IDLE terminated\r\n");
    });
}

#[test]
fn qresync_resyncs_after_changes_made_while_offline() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for s in ["1", "2", "3"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let mut a = Client::logged_in(&store).await;
        assert_eq!(
            a.run(t("a1", Command::Enable(vec!["QRESYNC"]))).await,
            "* ENABLED QRESYNC\r\na1 OK ENABLE completed\r\n"
        );
        let r = a.run(t("a2", select("INBOX"))).await;
        assert!(r.contains("* OK [HIGHESTMODSEQ 3] Highest\r\n"), "{r}");
        a.run(t("a3", Command::Logout)).await;

        // Offline: another client flags 1 and expunges 2.
        let mut b = Client::logged_in(&store).await;
        b.run(t("b1", select("INBOX"))).await;
        b.run(t("b2", add(true, "1", Flag::Flagged))).await;
        b.run(t("b3", add(true, "2", Flag::Deleted))).await;
        b.run(t("b4", Command::Expunge)).await;

        let mut a = Client::logged_in(&store).await;
        a.run(t("a4", Command::Enable(vec!["QRESYNC"]))).await;
        let params = SelectParams {
            condstore: false,
            qresync: Some(QResync {
                uidvalidity: NOW as u32,
                modseq: 3,
                known_uids: Some(set("1:3")),
                seq_match: None,
            }),
        };
        let r = a.run(t("a5", select_with("INBOX", params))).await;
        assert!(
            r.contains(
                "* VANISHED (EARLIER) 2\r\n* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (4))\r\n"
            ),
            "{r}"
        );
        assert!(
            !r.contains("FETCH (UID 3"),
            "unchanged messages are not sent: {r}"
        );
        // Live: an expunge by B is a VANISHED for A (RFC 7162 3.2.10).
        b.run(t("b5", add(true, "3", Flag::Deleted))).await;
        b.run(t("b6", Command::Expunge)).await;
        assert_eq!(
            a.run(t("a6", Command::Noop)).await,
            "* VANISHED 3\r\na6 OK NOOP completed\r\n"
        );
        // A stale UIDVALIDITY gets no resync data.
        let params = SelectParams {
            condstore: false,
            qresync: Some(QResync {
                uidvalidity: 7,
                modseq: 1,
                known_uids: None,
                seq_match: None,
            }),
        };
        let r = a.run(t("a7", select_with("INBOX", params))).await;
        assert!(
            r.starts_with("* OK [CLOSED] Previous mailbox closed\r\n"),
            "{r}"
        );
        assert!(!r.contains("VANISHED"), "{r}");
    });
}

#[test]
fn condstore_store_unchangedsince_reports_modified() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("1")).await;
        deliver(&store, USER, &msg("2")).await;
        let mut a = Client::logged_in(&store).await;
        a.run(t(
            "a1",
            select_with(
                "INBOX",
                SelectParams {
                    condstore: true,
                    qresync: None,
                },
            ),
        ))
        .await;
        a.run(t("a2", add(true, "2", Flag::Seen))).await;
        let st = Command::Store(Store {
            uid: true,
            set: set("1:2"),
            mode: StoreMode::Add,
            silent: false,
            flags: vec![Flag::Flagged],
            unchanged_since: Some(2),
        });
        assert_eq!(
            a.run(t("a3", st)).await,
            "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent) MODSEQ (4))\r\na3 OK [MODIFIED 2] Conditional STORE failed\r\n"
        );
    });
}

#[test]
fn copy_and_move_report_copyuid_and_move_expunges() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for s in ["1", "2", "3"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let mut a = Client::logged_in(&store).await;
        a.run(t("a1", select("INBOX"))).await;
        let trash = NOW + 3;
        assert_eq!(
            a.run(t(
                "a2",
                Command::Copy {
                    uid: false,
                    set: set("1:2"),
                    mailbox: name("Trash")
                }
            ))
            .await,
            format!("a2 OK [COPYUID {trash} 1:2 1:2] COPY completed\r\n")
        );
        assert_eq!(
            a.run(t(
                "a3",
                Command::Move {
                    uid: true,
                    set: set("3,1"),
                    mailbox: name("Trash")
                }
            ))
            .await,
            format!(
                "* OK [COPYUID {trash} 1,3 3:4] Moved\r\n* 3 EXPUNGE\r\n* 1 EXPUNGE\r\na3 OK MOVE completed\r\n"
            )
        );
        assert_eq!(
            a.run(t(
                "a4",
                Command::Copy {
                    uid: true,
                    set: set("1:*"),
                    mailbox: name("Nowhere")
                }
            ))
            .await,
            "a4 NO [TRYCREATE] no such mailbox\r\n"
        );
    });
}

#[test]
fn uidvalidity_and_uids_survive_a_reopen_of_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let first = path.clone();
    on_executor(move || async move {
        let store = open_store(&first).await;
        for s in ["1", "2", "3"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let mut a = Client::logged_in(&store).await;
        a.run(t("a1", select("INBOX"))).await;
        a.run(t("a2", add(true, "2", Flag::Deleted))).await;
        a.run(t("a3", Command::Expunge)).await;
        drop(a);
        if let Ok(store) = Rc::try_unwrap(store) {
            store.close().await.expect("close");
        }
    });
    on_executor(move || async move {
        let store = open_store(&path).await;
        let mut a = Client::logged_in(&store).await;
        let r = a.run(t("b1", select("INBOX"))).await;
        assert!(r.contains(&format!("* OK [UIDVALIDITY {NOW}]")), "{r}");
        assert!(r.contains("* OK [UIDNEXT 4]"), "{r}");
        assert_eq!(
            a.run(t("b2", flags(true, "1:*"))).await,
            "* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 3 FLAGS ())\r\nb2 OK FETCH completed\r\n"
        );
    });
}

#[test]
fn a_fetch_from_an_old_view_finds_bytes_that_compaction_moved() {
    use shardmail_storage::store::StoreOptions;
    use shardmail_storage::{LogOptions, SyncPolicy};
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = StoreOptions {
            log: LogOptions {
                segment_size: 16 << 10,
                sync: SyncPolicy::Group,
            },
            writers: 1,
        };
        let (store, _) = shardmail_storage::store::Store::open(dir.path(), opts)
            .await
            .expect("open");
        let store = Rc::new(store);
        let mut keep = msg("keep");
        keep.extend(std::iter::repeat_n(b'k', 3000));
        deliver(&store, USER, &keep).await;
        for i in 0..12 {
            let mut m = msg(&format!("filler{i}"));
            m.extend(std::iter::repeat_n(b'f', 3000));
            deliver(&store, USER, &m).await;
        }
        let mut a = Client::logged_in(&store).await;
        a.run(t("a1", select("INBOX"))).await;
        let mut b = Client::logged_in(&store).await;
        b.run(t("b1", select("INBOX"))).await;
        b.run(t("b2", add(true, "2:*", Flag::Deleted))).await;
        b.run(t("b3", Command::Expunge)).await;
        let report = store.compact(0.9).await.expect("compact");
        assert!(
            report.messages_moved >= 1,
            "the kept message moved: {report:?}"
        );
        // A still numbers the expunged messages (FETCH by number may not report EXPUNGE), so it
        // reads from its old view, whose position of message 1 is gone.
        let r = a
            .run(t(
                "a2",
                Command::Fetch(Fetch {
                    uid: false,
                    set: set("1"),
                    items: vec![FetchAttr::Section {
                        peek: true,
                        section: Default::default(),
                        partial: None,
                    }],
                    changed_since: None,
                    vanished: false,
                }),
            ))
            .await;
        assert_eq!(
            r,
            format!(
                "* 1 FETCH (BODY[] {{{}}}\r\n{})\r\na2 OK FETCH completed\r\n",
                keep.len(),
                String::from_utf8_lossy(&keep)
            )
        );
    });
}
