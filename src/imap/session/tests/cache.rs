//! FETCH through the shard's summary cache (`imap::summary`): a hit answers byte for byte what a
//! parse answers, a second session hits what the first one filled, and expunged messages' entries are
//! freed.

use super::*;
use crate::imap::backend::{Backend, MailboxView};
use crate::imap::command::{Receiver, Step};
use crate::imap::store::{PartitionOf, WithSummaries};
use crate::imap::summary::SummaryCache;

/// The items a header-listing client asks for, and every other item a summary answers.
const ITEMS: &str = "UID FLAGS RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE RFC822.HEADER \
    BODY.PEEK[HEADER] BODY.PEEK[HEADER]<7.40> BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT MESSAGE-ID)] \
    BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT RECEIVED)] BODY.PEEK[TEXT]<0.64> BODY.PEEK[1.MIME]";

/// A logged-in session over `owner`, fed IMAP bytes; returns everything it wrote, spliced bytes in
/// place.
async fn session_output<P: PartitionOf + 'static>(owner: &Rc<P>, input: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::new();
    let mut s: Session<StoreBackend<P>> = Session::new(Arc::new(Config::default()), &mut out);
    let login = t(
        "l",
        Command::Login {
            user: name(USER),
            password: name("secret"),
        },
    );
    let Flow::Login(c) = s.handle(login, NOW, &mut out).await else {
        panic!("LOGIN asks the shell to verify");
    };
    let b = StoreBackend::open(owner.clone(), &c.user, NOW)
        .await
        .expect("backend");
    s.login_ok(&c.user, b, &mut out);
    out.clear();
    let mut rx = Receiver::new(Default::default());
    let mut inbuf = input.to_vec();
    loop {
        match rx.receive(&inbuf) {
            Step::Command { command, used } => {
                s.handle(command, NOW, &mut out).await;
                inbuf.drain(..used);
            }
            Step::Skip(n) => {
                inbuf.drain(..n);
            }
            other => {
                assert!(inbuf.is_empty(), "unexpected step {other:?}");
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The 20 fixtures and a message whose header is too long for the summary's copy.
fn messages() -> Vec<Vec<u8>> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/imap-fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 20);
    let mut all: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).expect("fixture"))
        .collect();
    let mut long = Vec::new();
    for i in 0..80 {
        long.extend_from_slice(
            format!(
                "Received: from relay{i}.example.test by mx.example.test; Fri, 27 Nov 2026\r\n"
            )
            .as_bytes(),
        );
    }
    long.extend_from_slice(&msg("long header"));
    assert!(long.len() > crate::mime::Summary::HEADER_COPY_MAX);
    all.push(long);
    all
}

#[test]
fn cached_fetch_is_byte_identical_to_a_parse_on_the_fixtures() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        let all = messages();
        for m in &all {
            deliver(&store, USER, m).await;
        }
        let input =
            format!("a EXAMINE INBOX\r\nb FETCH 1:* ({ITEMS})\r\nc FETCH 1:* (ENVELOPE)\r\n");
        let parsed = session_output(&store, input.as_bytes()).await;
        let n = all.len();
        assert_eq!(parsed.matches(" FETCH (UID ").count(), n, "{parsed}");
        assert!(parsed.contains("\r\nb OK FETCH completed\r\n"), "{parsed}");

        let cached = Rc::new(WithSummaries {
            inner: store.clone(),
            summaries: SummaryCache::default(),
        });
        let first = session_output(&cached, input.as_bytes()).await;
        assert_eq!(first, parsed, "a fill answers what a parse answers");
        let after_fill = cached.summaries.stats();
        assert_eq!(after_fill.entries, n, "one entry a message");
        assert_eq!(
            after_fill.misses, n as u64,
            "one miss a message, at the first item"
        );
        // A second client (another session) reads the same entries.
        let second = session_output(&cached, input.as_bytes()).await;
        assert_eq!(
            second, parsed,
            "hits answer byte for byte what a parse answers"
        );
        let after_hits = cached.summaries.stats();
        assert_eq!(after_hits.misses, n as u64, "no new parse");
        assert_eq!(after_hits.hits, after_fill.hits + 2 * n as u64);
    });
}

#[test]
fn a_summary_is_kept_for_its_message_only() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        deliver(&store, USER, &msg("one")).await;
        let cached = Rc::new(WithSummaries {
            inner: store.clone(),
            summaries: SummaryCache::default(),
        });
        let b = StoreBackend::open(cached.clone(), USER, NOW)
            .await
            .expect("backend");
        let m = b.view("INBOX").expect("view").by_seq(1).expect("message");
        assert!(b.summary(&m).is_none());
        let raw = b.body(&m).expect("body");
        let kept = b.keep_summary(&m, crate::mime::Message::parse(raw.as_ref()).summary());
        let hit = b.summary(&m).expect("kept");
        assert!(Rc::ptr_eq(&hit, &kept), "shared, not copied");
        // A summary is taken for the message it was made from: another size is a miss.
        let other = crate::imap::backend::Message {
            size: m.size + 1,
            ..m
        };
        assert!(b.summary(&other).is_none());
        // Without a cache (tools, the plain Store) nothing is kept.
        let plain = StoreBackend::open(store.clone(), USER, NOW)
            .await
            .expect("backend");
        plain.keep_summary(&m, (*kept).clone());
        assert!(plain.summary(&m).is_none());
    });
}

#[test]
fn expunge_and_delete_free_the_entries() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for s in ["one", "two", "three"] {
            deliver(&store, USER, &msg(s)).await;
        }
        let cached = Rc::new(WithSummaries {
            inner: store.clone(),
            summaries: SummaryCache::default(),
        });
        let out = session_output(&cached, b"a SELECT INBOX\r\nb FETCH 1:3 (ENVELOPE)\r\n").await;
        assert!(out.contains("b OK"), "{out}");
        let full = cached.summaries.stats();
        assert_eq!(full.entries, 3);
        let out = session_output(
            &cached,
            b"a SELECT INBOX\r\nb STORE 1:2 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\n",
        )
        .await;
        assert!(out.contains("c OK"), "{out}");
        let left = cached.summaries.stats();
        assert_eq!(left.entries, 1, "EXPUNGE forgets what it removed");
        assert!(left.bytes < full.bytes / 2, "{left:?} vs {full:?}");

        let out = session_output(
            &cached,
            b"a CREATE Old\r\nb SELECT INBOX\r\nc MOVE 1 Old\r\nd SELECT Old\r\n\
              e FETCH 1 (BODYSTRUCTURE)\r\nf CLOSE\r\ng DELETE Old\r\n",
        )
        .await;
        assert!(
            out.contains("c OK") && out.contains("\r\n* 1 FETCH (BODYSTRUCTURE ("),
            "{out}"
        );
        assert!(out.contains("g OK"), "{out}");
        assert_eq!(
            cached.summaries.stats().entries,
            0,
            "DELETE forgets its folder's"
        );
        assert_eq!(cached.summaries.stats().bytes, 0);
    });
}

/// The point of the cache: once a FETCH filled it, the next FETCH of ENVELOPE, BODYSTRUCTURE and
/// header fields, from another session, reads no message at all (no mmap read, no CRC, no parse).
#[test]
fn a_second_fetch_reads_no_message() {
    on_executor(|| async {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_store(dir.path()).await;
        for i in 1..=5 {
            deliver(&store, USER, &msg(&format!("m{i}"))).await;
        }
        let cached = Rc::new(WithSummaries {
            inner: store.clone(),
            summaries: SummaryCache::default(),
        });
        let fetch = b"f FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE \
            BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] BODY.PEEK[HEADER])\r\n";
        let mut answers = Vec::new();
        let mut reads = Vec::new();
        for _session in 0..2 {
            let bodies = Rc::new(std::cell::Cell::new(0));
            let mut out = Vec::new();
            let mut s: Session<super::special::Counting<WithSummaries<Rc<Store>>>> =
                Session::new(Arc::new(Config::default()), &mut out);
            let login = t(
                "l",
                Command::Login {
                    user: name(USER),
                    password: name("x"),
                },
            );
            assert!(matches!(
                s.handle(login, NOW, &mut out).await,
                Flow::Login(_)
            ));
            let inner = StoreBackend::open(cached.clone(), USER, NOW)
                .await
                .expect("backend");
            let b = super::special::Counting {
                inner,
                bodies: bodies.clone(),
            };
            s.login_ok(USER, b, &mut out);
            let mut rx = Receiver::new(Default::default());
            for line in [&b"e EXAMINE INBOX\r\n"[..], fetch] {
                out.clear();
                let Step::Command { command, .. } = rx.receive(line) else {
                    panic!("{line:?} does not parse");
                };
                s.handle(command, NOW, &mut out).await;
            }
            answers.push(String::from_utf8_lossy(&out).into_owned());
            reads.push(bodies.get());
        }
        assert!(answers[0].contains("f OK"), "{}", answers[0]);
        assert_eq!(answers[0], answers[1]);
        assert_eq!(
            reads,
            [5, 0],
            "the first session reads each message once, the second none"
        );
    });
}
