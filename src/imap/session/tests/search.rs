//! SEARCH and UID SEARCH: plain and ESEARCH results, MODSEQ, charsets, IMAP4rev2's ESEARCH default.

use std::borrow::Cow;

use super::super::super::types::{
    Command, Flag, Search, SearchKey, SearchReturn, SelectParams, Store as StoreCmd, StoreMode,
};
use super::*;

fn search<'a>(uid: bool, key: SearchKey<'a>, returns: Option<Vec<SearchReturn>>) -> Command<'a> {
    Command::Search(Search {
        uid,
        charset: None,
        returns,
        key,
    })
}

async fn mailbox_of_four(store: &Rc<Store>) -> Client {
    for s in ["1", "2", "3", "4"] {
        deliver(store, USER, &msg(s)).await;
    }
    let mut c = Client::logged_in(store).await;
    c.run(t(
        "s",
        Command::Select {
            mailbox: name("INBOX"),
            params: SelectParams::default(),
        },
    ))
    .await;
    c.run(t(
        "f",
        Command::Store(StoreCmd {
            uid: true,
            set: set("2,4"),
            mode: StoreMode::Add,
            silent: true,
            flags: vec![Flag::Flagged],
            unchanged_since: None,
        }),
    ))
    .await;
    c
}

#[test]
fn search_by_flags_sets_and_modseq_with_plain_and_esearch_results() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut c = mailbox_of_four(&store).await;
        assert_eq!(
            c.run(t("a", search(false, SearchKey::Flagged, None))).await,
            "* SEARCH 2 4\r\na OK SEARCH completed\r\n"
        );
        assert_eq!(
            c.run(t(
                "b",
                search(
                    true,
                    SearchKey::And(vec![SearchKey::Unflagged, SearchKey::Uid(set("2:*"))]),
                    Some(vec![
                        SearchReturn::Min,
                        SearchReturn::Max,
                        SearchReturn::Count,
                        SearchReturn::All
                    ])
                )
            ))
            .await,
            "* ESEARCH (TAG \"b\") UID MIN 3 MAX 3 COUNT 1 ALL 3\r\nb OK SEARCH completed\r\n"
        );
        assert_eq!(
            c.run(t("c", search(false, SearchKey::Deleted, Some(vec![]))))
                .await,
            "* ESEARCH (TAG \"c\")\r\nc OK SEARCH completed\r\n",
            "RETURN () is ALL, and ALL of nothing is left out (RFC 4731 3.1)"
        );
        assert_eq!(
            c.run(t("d", search(false, SearchKey::ModSeq(4), None))).await,
            "* OK [HIGHESTMODSEQ 5] Highest\r\n* SEARCH 2 4 (MODSEQ 5)\r\nd OK SEARCH completed\r\n",
            "MODSEQ enables CONDSTORE and the reply names the highest MODSEQ found"
        );
        assert_eq!(
            c.run(t(
                "e",
                search(
                    false,
                    SearchKey::Not(Box::new(SearchKey::SequenceSet(set("1:3")))),
                    None
                )
            ))
            .await,
            "* SEARCH 4\r\ne OK SEARCH completed\r\n"
        );
        assert_eq!(
            c.run(t(
                "f",
                search(false, SearchKey::SequenceSet(set("9")), None)
            ))
            .await,
            "f BAD message sequence number 9 is above the message count 4\r\n"
        );
        let cmd = Command::Search(Search {
            uid: false,
            charset: Some(Cow::Borrowed(b"KOI8-R")),
            returns: None,
            key: SearchKey::All,
        });
        assert_eq!(
            c.run(t("g", cmd)).await,
            "g NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n"
        );
    });
}

#[test]
fn imap4rev2_sessions_get_esearch_replies() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for s in ["1", "2"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let mut c = Client::logged_in(&store).await;
        assert_eq!(
            c.run(t("a", Command::Enable(vec!["IMAP4rev2"]))).await,
            "* ENABLED IMAP4rev2\r\na OK ENABLE completed\r\n"
        );
        let r = c
            .run(t(
                "b",
                Command::Select {
                    mailbox: name("INBOX"),
                    params: SelectParams::default(),
                },
            ))
            .await;
        assert!(!r.contains("RECENT"), "no RECENT in IMAP4rev2: {r}");
        assert!(r.contains("* LIST () \"/\" INBOX\r\n"), "{r}");
        assert_eq!(
            c.run(t("c", search(false, SearchKey::All, None))).await,
            "* ESEARCH (TAG \"c\") ALL 1:2\r\nc OK SEARCH completed\r\n"
        );
    });
}

#[test]
fn text_keys_sort_and_thread_read_the_stored_messages() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let m = |subject: &str, refs: &str, id: &str| {
            format!(
                "From: Bob <bob@example.test>\r\nSubject: {subject}\r\nMessage-ID: <{id}@x>\r\n{refs}\
                 Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nbody of {id}\r\n"
            )
            .into_bytes()
        };
        deliver(&store, USER, &m("zebra", "", "a")).await;
        deliver(&store, USER, &m("Re: apple", "References: <c@x>\r\n", "b")).await;
        deliver(&store, USER, &m("apple", "", "c")).await;
        let mut w = Wire::new(Client::logged_in(&store).await);
        w.read(b"s SELECT INBOX\r\n").await;
        assert_eq!(
            w.read(b"a SEARCH SUBJECT apple\r\n").await,
            "* SEARCH 2 3\r\na OK SEARCH completed\r\n"
        );
        assert_eq!(
            w.read(b"b UID SEARCH BODY \"body of a\"\r\n").await,
            "* SEARCH 1\r\nb OK SEARCH completed\r\n"
        );
        assert_eq!(
            w.read(b"c SORT (SUBJECT) UTF-8 ALL\r\n").await,
            "* SORT 2 3 1\r\nc OK SORT completed\r\n",
            "base subjects (RFC 5256 2.1): apple, apple, zebra; ties by sequence"
        );
        assert_eq!(
            w.read(b"d UID SORT (REVERSE SIZE) UTF-8 ALL\r\n").await,
            "* SORT 2 1 3\r\nd OK SORT completed\r\n",
            "the largest first; equal sizes keep sequence order (RFC 5256 3)"
        );
        assert_eq!(
            w.read(b"e THREAD REFERENCES UTF-8 ALL\r\n").await,
            "* THREAD (1)(3 2)\r\ne OK THREAD completed\r\n"
        );
        assert_eq!(
            w.read(b"f SORT (SUBJECT) KOI8-R ALL\r\n").await,
            "f NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n"
        );
    });
}
