//! SEARCH throughput (messages/s): index-only keys (FLAGGED, UNSEEN, UID ranges) over 100,000
//! candidates, which must never touch content, and a BODY key over 1,000 messages: once with the text
//! already decoded (the matcher alone), once from the raw MIME bytes through `mime::LazyMessage`
//! (parse, quoted-printable and charset decoding, then the match), as a session runs it.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shardmail::imap::search::{flag, Address, Candidate, Content, Limits, Query, Scope, Stamp};
use shardmail::imap::types::{SearchKey, SeqNum, SeqRange, SequenceSet};
use shardmail::mime::LazyMessage;

/// Decoded content given up front (the matcher's cost, without MIME parsing).
struct Text {
    subject: String,
    body: String,
}

impl Content for Text {
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        if name.eq_ignore_ascii_case("Subject") {
            vec![Cow::Borrowed(self.subject.as_str())]
        } else {
            Vec::new()
        }
    }
    fn header_text(&self) -> Cow<'_, str> {
        Cow::Owned(format!("Subject: {}\r\n", self.subject))
    }
    fn body_texts(&self) -> Vec<Cow<'_, str>> {
        vec![Cow::Borrowed(self.body.as_str())]
    }
    fn sent_date(&self) -> Option<Stamp> {
        None
    }
    fn first_address(&self, _field: &str) -> Option<Address<'_>> {
        None
    }
}

struct Cand<'a> {
    seq: u32,
    uid: u32,
    flags: u8,
    content: Option<&'a Text>,
}

impl Candidate for Cand<'_> {
    type Content = Text;
    fn seq(&self) -> u32 {
        self.seq
    }
    fn uid(&self) -> u32 {
        self.uid
    }
    fn flags(&self) -> u8 {
        self.flags
    }
    fn has_keyword(&self, _keyword: &str) -> bool {
        false
    }
    fn recent(&self) -> bool {
        false
    }
    fn internal_date(&self) -> Stamp {
        Stamp::new(1_700_000_000 + i64::from(self.seq), 0)
    }
    fn size(&self) -> u64 {
        u64::from(self.seq % 9000) + 500
    }
    fn modseq(&self) -> u64 {
        u64::from(self.seq)
    }
    fn content(&self) -> Option<&Text> {
        self.content
    }
}

fn range(a: u32, b: SeqNum) -> SeqRange {
    SeqRange {
        start: SeqNum::Value(a),
        end: b,
    }
}

fn index_only(c: &mut Criterion) {
    const N: u32 = 100_000;
    // UIDs with gaps, as after expunges.
    let uids: Vec<u32> = (1..=N).map(|i| i * 2 + i / 7).collect();
    let flags: Vec<u8> = (0..N)
        .map(|i| {
            let mut f = 0;
            if !i.is_multiple_of(3) {
                f |= flag::SEEN;
            }
            if i.is_multiple_of(17) {
                f |= flag::FLAGGED;
            }
            f
        })
        .collect();
    let keys: [(&str, SearchKey<'static>); 3] = [
        ("flagged", SearchKey::Flagged),
        (
            "unseen_undeleted",
            SearchKey::And(vec![SearchKey::Unseen, SearchKey::Undeleted]),
        ),
        (
            "uid_ranges_or_flagged",
            SearchKey::Or(
                Box::new(SearchKey::Uid(SequenceSet(vec![
                    range(1000, SeqNum::Value(20_000)),
                    range(150_000, SeqNum::Largest),
                ]))),
                Box::new(SearchKey::Flagged),
            ),
        ),
    ];
    let mut g = c.benchmark_group("imap_search_index");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(u64::from(N)));
    for (name, key) in &keys {
        let q = Query::compile(
            key,
            &Scope {
                mailbox: &uids,
                now: 1_800_000_000,
            },
            &Limits::default(),
        )
        .expect("the bench keys are valid for the mailbox");
        assert!(!q.needs_content());
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut hits = 0u32;
                for (i, (&uid, &flags)) in uids.iter().zip(&flags).enumerate() {
                    let cand = Cand {
                        seq: i as u32 + 1,
                        uid,
                        flags,
                        content: None,
                    };
                    if q.matches(&cand) {
                        hits += 1;
                    }
                }
                black_box(hits)
            })
        });
    }
    g.finish();
}

fn body_key(c: &mut Criterion) {
    const N: u32 = 1000;
    let uids: Vec<u32> = (1..=N).collect();
    let texts: Vec<Text> = (0..N)
        .map(|i| {
            let mut body = String::new();
            while body.len() < 4000 {
                body.push_str(
                    "The quarterly numbers are attached; please review them before Friday.\r\n",
                );
            }
            if i.is_multiple_of(50) {
                body.push_str("Reminder: the Zanzibar offsite is booked.\r\n");
            }
            Text {
                subject: format!("Report {i}"),
                body,
            }
        })
        .collect();
    let key = SearchKey::Body(Cow::Borrowed(b"zanzibar".as_slice()));
    let q = Query::compile(
        &key,
        &Scope {
            mailbox: &uids,
            now: 0,
        },
        &Limits::default(),
    )
    .expect("BODY compiles");
    let mut g = c.benchmark_group("imap_search_body");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(u64::from(N)));
    g.bench_function("body_4k_text", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for (i, t) in texts.iter().enumerate() {
                let cand = Cand {
                    seq: i as u32 + 1,
                    uid: i as u32 + 1,
                    flags: 0,
                    content: Some(t),
                };
                if q.matches(&cand) {
                    hits += 1;
                }
            }
            assert_eq!(hits, N / 50);
            black_box(hits)
        })
    });
    g.finish();
}

/// A stored message: its bytes, parsed on first use.
struct Stored<'a> {
    seq: u32,
    lazy: LazyMessage<'a>,
}

impl<'a> Candidate for Stored<'a> {
    type Content = LazyMessage<'a>;
    fn seq(&self) -> u32 {
        self.seq
    }
    fn uid(&self) -> u32 {
        self.seq
    }
    fn flags(&self) -> u8 {
        0
    }
    fn has_keyword(&self, _keyword: &str) -> bool {
        false
    }
    fn recent(&self) -> bool {
        false
    }
    fn internal_date(&self) -> Stamp {
        Stamp::new(1_700_000_000, 0)
    }
    fn size(&self) -> u64 {
        0
    }
    fn modseq(&self) -> u64 {
        1
    }
    fn content(&self) -> Option<&LazyMessage<'a>> {
        Some(&self.lazy)
    }
}

/// A multipart/alternative message: quoted-printable UTF-8 text and an HTML part, about 4 KB.
fn mime_message(i: u32) -> Vec<u8> {
    let mut text = String::new();
    while text.len() < 1800 {
        text.push_str(
            "Die Quartalszahlen sind angeh=C3=A4ngt; bitte vor Freitag pr=C3=BCfen.=\r\n",
        );
    }
    if i.is_multiple_of(50) {
        text.push_str("Erinnerung: das Zanzibar-Treffen ist gebucht.\r\n");
    }
    let html = "<p>Die Quartalszahlen sind angeh&auml;ngt.</p>\r\n".repeat(40);
    format!(
        "From: Team <team@example.test>\r\nTo: all@example.test\r\nSubject: Bericht {i}\r\n\
         Date: Mon, 2 Mar 2026 10:00:00 +0100\r\nMessage-ID: <{i}@example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{text}\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn body_key_mime(c: &mut Criterion) {
    const N: u32 = 1000;
    let uids: Vec<u32> = (1..=N).collect();
    let raws: Vec<Vec<u8>> = (0..N).map(mime_message).collect();
    let key = SearchKey::Body(Cow::Borrowed(b"zanzibar".as_slice()));
    let q = Query::compile(
        &key,
        &Scope {
            mailbox: &uids,
            now: 0,
        },
        &Limits::default(),
    )
    .expect("BODY compiles");
    let bytes: usize = raws.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("imap_search_body_mime");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(u64::from(N)));
    g.bench_function(format!("alternative_qp_{}b", bytes / N as usize), |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for (i, raw) in raws.iter().enumerate() {
                let cand = Stored {
                    seq: i as u32 + 1,
                    lazy: LazyMessage::new(raw),
                };
                if q.matches(&cand) {
                    hits += 1;
                }
            }
            assert_eq!(hits, N / 50);
            black_box(hits)
        })
    });
    g.finish();
}

criterion_group!(benches, index_only, body_key, body_key_mime);
criterion_main!(benches);
