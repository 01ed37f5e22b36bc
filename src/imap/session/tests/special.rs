//! Mailbox and search gaps of issue 10, as a client sends them (through the parser): the Archive
//! folder and CREATE with USE (RFC 6154), SEARCHRES (RFC 5182), \Recent for new arrivals (RFC 3501
//! 2.3.2), LIST RECURSIVEMATCH and CHILDINFO (RFC 5258), ID bounds (RFC 2971).

use super::super::super::backend::{
    AppendItem, Appended, Backend, BackendError, Copied, Counters, FlagOp, FlagSet, FolderEntry,
    Message, SpecialUse, Stored,
};
use super::*;

async fn wire(store: &Rc<Store>) -> Wire {
    let mut w = Wire::new(Client::new(store, Config::default()));
    let r = w.read(b"l LOGIN alice@example.test secret\r\n").await;
    assert!(r.starts_with("l OK "), "{r}");
    w
}

/// A new account lists Archive beside Drafts, Sent, Junk and Trash; CREATE (USE (...)) gives a new
/// folder its attribute, which a restart keeps; unsupported or taken attributes are `NO [USEATTR]`
/// and create nothing (RFC 6154 3, 5.2).
#[test]
fn archive_for_new_accounts_and_create_with_use() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut w = wire(&store).await;
        assert_eq!(
            w.read(b"a LIST \"\" % RETURN (SPECIAL-USE)\r\n").await,
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n\
             * LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
             * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n\
             a OK LIST completed\r\n"
        );
        assert_eq!(
            w.read(b"b CREATE Old/Mail (USE (\\Archive))\r\n").await,
            "b NO [USEATTR] another folder is already the \\Archive folder\r\n"
        );
        assert_eq!(
            w.read(b"c CREATE Everything (USE (\\All))\r\n").await,
            "c NO [USEATTR] cannot create a \\All folder\r\n"
        );
        assert_eq!(
            w.read(b"d CREATE Two (USE (\\Sent \\Drafts))\r\n").await,
            "d NO [USEATTR] Unsupported special-use attribute\r\n"
        );
        assert_eq!(
            w.read(b"e DELETE Archive\r\nf CREATE Old/Mail (USE (\\archive))\r\n")
                .await,
            "e OK DELETE completed\r\nf OK CREATE completed\r\n"
        );
        assert_eq!(
            w.read(b"g LIST (SPECIAL-USE) \"\" *\r\nh LIST \"\" Every*\r\n")
                .await,
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n\
             * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n\
             * LIST (\\HasNoChildren \\Archive) \"/\" Old/Mail\r\n\
             * LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n\
             * LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n\
             g OK LIST completed\r\n\
             h OK LIST completed\r\n",
            "the refused CREATEs made nothing"
        );
        drop(w);
        // Durable before the OK: a store reopened from the log (replay) keeps the attribute.
        let root = dir.path().to_path_buf();
        let Ok(store) = Rc::try_unwrap(store) else {
            panic!("the test holds the only store handle");
        };
        store.close().await.expect("close");
        let store = open_store(&root).await;
        let mut w = wire(&store).await;
        assert_eq!(
            w.read(b"i LIST \"\" Old/% RETURN (SPECIAL-USE)\r\n").await,
            "* LIST (\\HasNoChildren \\Archive) \"/\" Old/Mail\r\ni OK LIST completed\r\n"
        );
    });
}

/// SEARCHRES (RFC 5182, RFC 9051 6.4.4.1): `SEARCH RETURN (SAVE)` answers nothing and saves the result
/// (only MIN and/or MAX when those are the only other options); `$` names it in later commands, by
/// UID underneath, so expunges drop out; a failed SEARCH with SAVE empties it, and so does SELECT.
#[test]
fn searchres_saves_results_for_dollar_in_later_commands() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for i in 1..=4 {
            deliver(&store, USER, &msg(&format!("m{i}"))).await;
        }
        let mut w = wire(&store).await;
        assert!(w.read(b"c CAPABILITY\r\n").await.contains(" SEARCHRES"));
        w.read(b"s SELECT INBOX\r\nf STORE 2,4 +FLAGS.SILENT (\\Flagged)\r\n")
            .await;
        assert_eq!(
            w.read(b"a SEARCH RETURN (SAVE) FLAGGED\r\n").await,
            "a OK SEARCH completed\r\n"
        );
        assert_eq!(
            w.read(b"b FETCH $ (UID)\r\n").await,
            "* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\nb OK FETCH completed\r\n"
        );
        assert_eq!(
            w.read(b"c UID SEARCH RETURN (SAVE MAX) FLAGGED\r\nd UID FETCH $ (FLAGS)\r\n")
                .await,
            "* ESEARCH (TAG \"c\") UID MAX 4\r\nc OK SEARCH completed\r\n\
             * 4 FETCH (UID 4 FLAGS (\\Flagged \\Recent))\r\nd OK FETCH completed\r\n",
            "SAVE with MAX alone saves the maximum"
        );
        assert_eq!(
            w.read(b"e SEARCH RETURN (SAVE ALL) NOT FLAGGED\r\nf SEARCH $ 2:4\r\n")
                .await,
            "* ESEARCH (TAG \"e\") ALL 1,3\r\ne OK SEARCH completed\r\n\
             * SEARCH 3\r\nf OK SEARCH completed\r\n",
            "$ as a search key"
        );
        // A SEARCH that saves may use `$` itself: the old result is refined, then replaced.
        assert_eq!(
            w.read(b"r SEARCH RETURN (SAVE) $ 2:4\r\nq FETCH $ (UID)\r\n")
                .await,
            "r OK SEARCH completed\r\n* 3 FETCH (UID 3)\r\nq OK FETCH completed\r\n"
        );
        w.read(b"e SEARCH RETURN (SAVE) NOT FLAGGED\r\n").await;
        // Expunging message 1 renumbers 3 as 2: `$` follows the message.
        assert_eq!(
            w.read(b"g STORE 1 +FLAGS.SILENT (\\Deleted)\r\nh EXPUNGE\r\ni FETCH $ (UID)\r\n")
                .await,
            "g OK STORE completed\r\n* 1 EXPUNGE\r\nh OK EXPUNGE completed\r\n\
             * 2 FETCH (UID 3)\r\ni OK FETCH completed\r\n"
        );
        assert_eq!(
            w.read(b"j COPY $ Trash\r\nk STATUS Trash (MESSAGES)\r\n")
                .await,
            "j OK [COPYUID 1 3 1] COPY completed\r\n\
             * STATUS Trash (MESSAGES 1)\r\nk OK STATUS completed\r\n"
                .replace(
                    "COPYUID 1 ",
                    &format!("COPYUID {} ", trash_uidvalidity(&store))
                ),
        );
        // A SEARCH with SAVE that fails empties the saved result (RFC 5182 2.1).
        assert_eq!(
            w.read(b"l SEARCH RETURN (SAVE) CHARSET KOI8-R FLAGGED\r\nm FETCH $ (UID)\r\n")
                .await,
            "l NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\nm OK FETCH completed\r\n"
        );
        w.read(b"n SEARCH RETURN (SAVE) ALL\r\n").await;
        assert_eq!(
            w.read(b"o UNSELECT\r\np SELECT INBOX\r\nq FETCH $ (UID)\r\nr UID STORE $ +FLAGS (\\Seen)\r\n")
                .await
                .lines()
                .filter(|l| l.starts_with("q ") || l.starts_with("r ") || l.contains("FETCH ("))
                .collect::<Vec<_>>(),
            vec!["q OK FETCH completed", "r OK STORE completed"],
            "SELECT empties the saved result"
        );
    });
}

fn trash_uidvalidity(store: &Store) -> u32 {
    store
        .owner(USER)
        .index()
        .status(USER, "Trash")
        .expect("Trash")
        .uidvalidity
}

/// The real backend, counting the message bodies the session asks for (over any partition holder:
/// cache.rs counts reads with the shard's summary cache in front).
pub(super) struct Counting<P: crate::imap::store::PartitionOf = Store> {
    pub inner: StoreBackend<P>,
    pub bodies: Rc<std::cell::Cell<u32>>,
}

impl<P: crate::imap::store::PartitionOf> super::super::super::backend::Backend for Counting<P> {
    type View = <StoreBackend<P> as Backend>::View;
    type Body = <StoreBackend<P> as Backend>::Body;
    type Feed = <StoreBackend<P> as Backend>::Feed;
    fn folders(&self) -> Result<Vec<FolderEntry>, BackendError> {
        self.inner.folders()
    }
    fn subscriptions(&self) -> Result<Vec<String>, BackendError> {
        self.inner.subscriptions()
    }
    async fn create(&self, n: &str, u: Option<SpecialUse>, now: i64) -> Result<(), BackendError> {
        self.inner.create(n, u, now).await
    }
    async fn delete(&self, n: &str) -> Result<(), BackendError> {
        self.inner.delete(n).await
    }
    async fn rename(&self, f: &str, t: &str, now: i64) -> Result<(), BackendError> {
        self.inner.rename(f, t, now).await
    }
    async fn subscribe(&self, n: &str, on: bool) -> Result<(), BackendError> {
        self.inner.subscribe(n, on).await
    }
    fn view(&self, f: &str) -> Result<Self::View, BackendError> {
        self.inner.view(f)
    }
    fn counters(&self, f: &str) -> Result<Counters, BackendError> {
        self.inner.counters(f)
    }
    async fn claim_recent(&self, f: &str, upto: u32) -> Result<u32, BackendError> {
        self.inner.claim_recent(f, upto).await
    }
    fn claim_recent_now(&self, f: &str, upto: u32) -> Option<u32> {
        self.inner.claim_recent_now(f, upto)
    }
    fn body(&self, m: &Message) -> Result<Self::Body, BackendError> {
        self.bodies.set(self.bodies.get() + 1);
        self.inner.body(m)
    }
    fn summary(&self, m: &Message) -> Option<Rc<crate::mime::Summary>> {
        self.inner.summary(m)
    }
    fn keep_summary(&self, m: &Message, s: crate::mime::Summary) -> Rc<crate::mime::Summary> {
        self.inner.keep_summary(m, s)
    }
    async fn store(
        &self,
        f: &str,
        uids: &[u32],
        op: FlagOp,
        flags: &FlagSet,
        since: Option<u64>,
    ) -> Result<Stored, BackendError> {
        self.inner.store(f, uids, op, flags, since).await
    }
    async fn expunge(&self, f: &str, uids: &[u32]) -> Result<(), BackendError> {
        self.inner.expunge(f, uids).await
    }
    async fn copy(&self, f: &str, t: &str, uids: &[u32]) -> Result<Copied, BackendError> {
        self.inner.copy(f, t, uids).await
    }
    async fn move_(&self, f: &str, t: &str, uids: &[u32]) -> Result<Copied, BackendError> {
        self.inner.move_(f, t, uids).await
    }
    async fn append(
        &self,
        f: &str,
        items: &[AppendItem<'_>],
        now: i64,
    ) -> Result<Appended, BackendError> {
        self.inner.append(f, items, now).await
    }
    fn follow(&self) -> Self::Feed {
        self.inner.follow()
    }
}

/// SEARCH answers the cheap keys of an AND (flags, sizes, dates, sets) from the index first: a message
/// they reject is never read, whatever order the client wrote the keys in.
#[test]
fn search_reads_no_body_that_cheap_keys_reject() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for i in 1..=10 {
            deliver(&store, USER, &msg(&format!("m{i}"))).await;
        }
        let bodies = Rc::new(std::cell::Cell::new(0));
        let mut out = Vec::new();
        let mut s: Session<Counting> = Session::new(Arc::new(Config::default()), &mut out);
        let login = Command::Login {
            user: name(USER),
            password: name("x"),
        };
        assert!(matches!(
            s.handle(t("l", login), NOW, &mut out).await,
            Flow::Login(_)
        ));
        let inner = StoreBackend::open(store.clone(), USER, NOW)
            .await
            .expect("backend");
        let b = Counting {
            inner,
            bodies: bodies.clone(),
        };
        s.login_ok(USER, b, &mut out);
        let mut rx = super::super::super::command::Receiver::new(Default::default());
        let mut run = async |line: &[u8]| {
            use super::super::super::command::Step;
            let mut out = Vec::new();
            match rx.receive(line) {
                Step::Command { command, .. } => {
                    s.handle(command, NOW, &mut out).await;
                }
                _ => panic!("{line:?} did not parse"),
            }
            String::from_utf8_lossy(&out).into_owned()
        };
        run(b"s SELECT INBOX\r\n").await;
        run(b"f STORE 3,7 +FLAGS.SILENT (\\Flagged)\r\n").await;
        bodies.set(0);
        assert_eq!(
            run(b"a SEARCH BODY m3 FLAGGED\r\n").await,
            "* SEARCH 3\r\na OK SEARCH completed\r\n"
        );
        assert_eq!(bodies.get(), 2, "only the two flagged messages were read");
        bodies.set(0);
        assert_eq!(
            run(b"b SEARCH OR SUBJECT m7 TEXT nothing 1:4 LARGER 10\r\n").await,
            "* SEARCH\r\nb OK SEARCH completed\r\n"
        );
        assert_eq!(bodies.get(), 4, "the set 1:4 came first");
        bodies.set(0);
        run(b"c SEARCH SMALLER 5 HEADER Subject m\r\n").await;
        assert_eq!(bodies.get(), 0, "no message is smaller than 5 octets");
    });
}

/// LIST (SUBSCRIBED RECURSIVEMATCH) (RFC 5258 3.1, 3.3, 3.5; its examples 8 and 10): a name that
/// matches the pattern is listed with CHILDINFO when a subscribed descendant does not match it, even
/// if the name itself is neither subscribed nor a mailbox; redundant CHILDINFO is left out.
#[test]
fn list_recursivematch_reports_childinfo() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let mut w = wire(&store).await;
        let r = w
            .read(
                b"a CREATE Foo/Bar\r\nb CREATE Foo/Baz\r\nc CREATE Moo\r\n\
                  d SUBSCRIBE Foo/Baz\r\ne SUBSCRIBE Tofu/Peach\r\n",
            )
            .await;
        assert_eq!(r.matches(" OK ").count(), 5, "{r}");
        assert_eq!(
            w.read(b"f LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %oo\r\n")
                .await,
            "* LIST (\\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             f OK LIST completed\r\n"
        );
        assert_eq!(
            w.read(b"g LIST (SUBSCRIBED RECURSIVEMATCH) \"\" T%\r\n")
                .await,
            "* LIST (\\NonExistent) \"/\" Tofu (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             * LIST (\\HasNoChildren \\Trash \\Subscribed) \"/\" Trash\r\n\
             g OK LIST completed\r\n"
        );
        assert_eq!(
            w.read(b"h LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Foo*\r\n")
                .await,
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" Foo/Baz\r\nh OK LIST completed\r\n",
            "Foo/Baz is listed itself: no CHILDINFO for Foo"
        );
        assert_eq!(
            w.read(b"i SUBSCRIBE Foo\r\nj LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %oo\r\n")
                .await,
            "i OK Subscription changed\r\n\
             * LIST (\\HasChildren \\Subscribed) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
             j OK LIST completed\r\n"
        );
        assert_eq!(
            w.read(b"k LIST (SUBSCRIBED) \"\" %oo\r\n").await,
            "* LIST (\\HasChildren \\Subscribed) \"/\" Foo\r\nk OK LIST completed\r\n",
            "no CHILDINFO without RECURSIVEMATCH"
        );
        assert!(w
            .read(b"l LIST (RECURSIVEMATCH) \"\" %\r\n")
            .await
            .starts_with("l BAD "));
    });
}

/// \Recent for messages that arrive after SELECT (RFC 3501 2.3.2): the first IMAP4rev1 session to
/// announce a new message with EXISTS claims it; others, IMAP4rev2 sessions (no \Recent) and EXAMINE
/// (read-only) do not take it from them.
#[test]
fn new_arrivals_are_recent_in_the_first_rev1_session_that_announces_them() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("old")).await;
        let mut a = wire(&store).await;
        let mut b = wire(&store).await;
        let mut c = wire(&store).await;
        let mut e = wire(&store).await;
        assert!(a
            .read(b"s SELECT INBOX\r\n")
            .await
            .contains("* 1 RECENT\r\n"));
        assert!(b
            .read(b"s SELECT INBOX\r\n")
            .await
            .contains("* 0 RECENT\r\n"));
        c.read(b"v ENABLE IMAP4rev2\r\ns SELECT INBOX\r\n").await;
        assert!(e
            .read(b"s EXAMINE INBOX\r\n")
            .await
            .contains("* 0 RECENT\r\n"));
        deliver(&store, USER, &msg("new")).await;
        assert_eq!(
            c.read(b"n NOOP\r\n").await,
            "* 2 EXISTS\r\nn OK NOOP completed\r\n"
        );
        assert_eq!(
            e.read(b"n NOOP\r\n").await,
            "* 2 EXISTS\r\n* 0 RECENT\r\nn OK NOOP completed\r\n"
        );
        assert_eq!(
            b.read(b"n NOOP\r\nf FETCH 1:2 (FLAGS)\r\n").await,
            "* 2 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n\
             * 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS (\\Recent))\r\nf OK FETCH completed\r\n"
        );
        assert_eq!(
            a.read(b"n NOOP\r\nf FETCH 1:2 (FLAGS)\r\nr SEARCH RECENT\r\n")
                .await,
            "* 2 EXISTS\r\n* 1 RECENT\r\nn OK NOOP completed\r\n\
             * 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS ())\r\nf OK FETCH completed\r\n\
             * SEARCH 1\r\nr OK SEARCH completed\r\n",
            "message 1 stays this session's, message 2 went to the session that saw it first"
        );
        // The claim is decided at once and durable with the next group commit; a CREATE settles
        // after it (batches apply in log order).
        c.read(b"w CREATE Later\r\n").await;
        assert_eq!(
            c.read(b"t STATUS INBOX (RECENT)\r\n").await,
            "* STATUS INBOX (RECENT 0)\r\nt OK STATUS completed\r\n"
        );
    });
}
