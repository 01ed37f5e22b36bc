//! SEARCH, SORT and THREAD over real messages through `crate::mime::LazyMessage`: encoded words,
//! non-UTF-8 charsets, quoted-printable, nested messages, and Date: headers in their own zones.

use std::borrow::Cow;
use std::path::PathBuf;

use super::date::days_from_civil;
use super::*;
use crate::imap::sort::{self, SortKeys};
use crate::imap::thread::{self, ThreadMsg};
use crate::imap::types::{Date, SortCriterion, SortKey, ThreadAlgorithm};
use crate::mime::LazyMessage;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/imap-fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A stored message: index facts plus its bytes, content parsed lazily.
struct Stored<'a> {
    seq: u32,
    date: Stamp,
    lazy: LazyMessage<'a>,
}

impl<'a> Stored<'a> {
    fn new(seq: u32, raw: &'a [u8]) -> Stored<'a> {
        Stored {
            seq,
            date: Stamp::new(days_from_civil(2026, 1, 1) * 86_400, 0),
            lazy: LazyMessage::new(raw),
        }
    }
}

impl<'a> Candidate for Stored<'a> {
    type Content = LazyMessage<'a>;
    fn seq(&self) -> u32 {
        self.seq
    }
    fn uid(&self) -> u32 {
        self.seq + 100
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
        self.date
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

fn hit(key: SearchKey<'_>, m: &Stored<'_>) -> bool {
    let mb: Vec<u32> = (1..=m.seq).map(|s| s + 100).collect();
    Query::compile(
        &key,
        &Scope {
            mailbox: &mb,
            now: 0,
        },
        &Limits::default(),
    )
    .expect("valid key")
    .matches(m)
}

fn s(text: &str) -> Cow<'_, [u8]> {
    Cow::Borrowed(text.as_bytes())
}

use SearchKey as K;

#[test]
fn encoded_word_headers_are_searched_decoded() {
    let raw = fixture("04-encoded-words.eml");
    let m = Stored::new(1, &raw);
    // From: =?UTF-8?B?SsO2cmFu?= <joran@example.test>
    assert!(hit(K::From(s("JÖRAN")), &m));
    assert!(hit(K::From(s("joran@example")), &m));
    // To: =?ISO-8859-1?Q?Andr=E9?= (a non-UTF-8 charset).
    assert!(hit(K::To(s("andré")), &m));
    assert!(hit(K::To(s("smith, john")), &m));
    assert!(
        !hit(K::To(s("=?ISO")), &m),
        "the raw encoded word is not what is searched"
    );
    // Subject: =?UTF-8?Q?caf=C3=A9_?= =?UTF-8?B?8J+YgA==?= and plain
    assert!(hit(K::Subject(s("CAFÉ 😀 AND")), &m));
    assert!(hit(K::Header(s("subject"), s("café")), &m));
    assert!(hit(K::Header(s("Message-ID"), s("")), &m));
    assert!(!hit(K::Header(s("In-Reply-To"), s("")), &m));
    assert!(
        hit(K::Text(s("andré")), &m),
        "TEXT covers the decoded header"
    );
    assert!(hit(K::Text(s("body")), &m));
    assert!(hit(K::Body(s("BODY")), &m));
    assert!(!hit(K::Body(s("café")), &m), "BODY is only the body");
}

#[test]
fn sent_date_keys_read_the_date_header_in_its_own_zone() {
    // Date: Sat, 28 Nov 2026 23:59:59 -0800, which is the 29th in UTC.
    let raw = fixture("04-encoded-words.eml");
    let m = Stored::new(1, &raw);
    let d = |day| Date {
        year: 2026,
        month: 11,
        day,
    };
    assert!(hit(K::SentOn(d(28)), &m));
    assert!(!hit(K::SentOn(d(29)), &m));
    assert!(hit(K::SentBefore(d(29)), &m));
    assert!(hit(K::SentSince(d(28)), &m));
    assert!(!hit(K::SentSince(d(29)), &m));
    // No Date: header: no SENT* key matches.
    let raw = fixture("03-minimal-no-date-no-from.eml");
    let m = Stored::new(1, &raw);
    assert!(!hit(K::SentSince(d(1)), &m));
    assert!(!hit(K::SentBefore(d(1)), &m));
}

#[test]
fn bodies_are_searched_after_transfer_and_charset_decoding() {
    // windows-1252 8bit: "caf\xe9 \x80 euro".
    let raw = fixture("08-8bit-latin1.eml");
    let m = Stored::new(1, &raw);
    assert!(hit(K::Body(s("CAFÉ € EURO")), &m));
    // Quoted-printable UTF-8 with a soft line break: "Grüße aus München, softbreak here."
    let raw = fixture("07-qp-utf8.eml");
    let m = Stored::new(1, &raw);
    assert!(hit(K::Body(s("grüße aus MÜNCHEN")), &m));
    assert!(hit(K::Body(s("GRÜSSE")), &m), "sharp s folds to ss");
    assert!(hit(K::Body(s("softbreak here")), &m));
    assert!(!hit(K::Body(s("=C3")), &m));
    // A forwarded message/rfc822: the inner text part counts, the base64 image does not.
    let raw = fixture("11-message-rfc822.eml");
    let m = Stored::new(1, &raw);
    assert!(hit(K::Body(s("see below")), &m));
    assert!(hit(K::Body(s("inner body")), &m));
    assert!(!hit(K::Body(s("iVBORw0KGgo")), &m));
    // The top-level Subject is the outer one.
    assert!(hit(K::Subject(s("forwarded")), &m));
    assert!(!hit(K::Subject(s("inner é")), &m));
}

#[test]
fn content_is_parsed_only_when_a_key_needs_it() {
    let raw = b"Subject: x\r\n\r\nbody\r\n";
    let m = Stored::new(1, raw);
    assert!(hit(K::Smaller(10), &m));
    assert!(!m.lazy.is_parsed());
    assert!(hit(K::Not(Box::new(K::Subject(s("y")))), &m));
    assert!(m.lazy.is_parsed());
}

#[test]
fn sort_and_thread_read_real_headers() {
    let raws: Vec<Vec<u8>> = vec![
        fixture("04-encoded-words.eml"),
        b"From: Zoe <zoe@example.test>\r\nSubject: Re: [fwd: cafe]\r\nDate: Sun, 29 Nov 2026 08:00:00 +0000\r\nMessage-ID: <r1@example.test>\r\nIn-Reply-To: <enc@example.test>\r\n\r\nhi\r\n".to_vec(),
        b"From: \"Adam\" <adam@example.test>\r\nSubject: =?ISO-8859-1?Q?Re=3A_caf=E9?=\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <r2@example.test>\r\n\r\nhi\r\n".to_vec(),
    ];
    let msgs: Vec<Stored<'_>> = raws
        .iter()
        .enumerate()
        .map(|(i, r)| Stored::new(i as u32 + 1, r))
        .collect();
    let sorted = |criteria: &[SortCriterion]| -> Vec<u32> {
        let mut keys: Vec<SortKeys> = msgs.iter().map(|m| SortKeys::of(criteria, m)).collect();
        sort::sort(criteria, &mut keys);
        keys.iter().map(|k| k.seq).collect()
    };
    let c = |key| SortCriterion {
        reverse: false,
        key,
    };
    // Sent dates in UTC: 3 (28th 10:00), 1 (29th 07:59:59), 2 (29th 08:00).
    assert_eq!(sorted(&[c(SortKey::Date)]), vec![3, 1, 2]);
    // addr-mailbox: adam, joran, zoe.
    assert_eq!(sorted(&[c(SortKey::From)]), vec![3, 1, 2]);
    // Display names, decoded: Adam, Jöran, Zoe.
    assert_eq!(sorted(&[c(SortKey::DisplayFrom)]), vec![3, 1, 2]);
    // Base subjects: "café 😀 and plain", "cafe", "café": cafe < café < café 😀...
    assert_eq!(sorted(&[c(SortKey::Subject)]), vec![2, 3, 1]);
    // THREAD REFERENCES: 2 replies to 1 (In-Reply-To); 3 stands alone (its subject "café" differs
    // from 1's base subject).
    let tmsgs: Vec<ThreadMsg> = msgs.iter().map(|m| ThreadMsg::of(m, true)).collect();
    assert_eq!(
        thread::thread(ThreadAlgorithm::References, &tmsgs).to_string(),
        "(103)(101 102)"
    );
    assert_eq!(
        thread::thread(ThreadAlgorithm::OrderedSubject, &tmsgs).to_string(),
        "(103)(101)(102)"
    );
}

#[test]
fn every_fixture_searches_sorts_and_threads_without_panicking() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/imap-fixtures");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    let raws: Vec<Vec<u8>> = names
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let msgs: Vec<Stored<'_>> = raws
        .iter()
        .enumerate()
        .map(|(i, r)| Stored::new(i as u32 + 1, r))
        .collect();
    let key = K::Or(
        Box::new(K::Text(s("é"))),
        Box::new(K::Or(
            Box::new(K::SentSince(Date {
                year: 2000,
                month: 1,
                day: 1,
            })),
            Box::new(K::Header(s("Content-Type"), s("multipart"))),
        )),
    );
    let hits = msgs.iter().filter(|m| hit(key.clone(), m)).count();
    assert!(hits > 0 && hits <= msgs.len());
    let all: Vec<SortCriterion> = [
        SortKey::Arrival,
        SortKey::Cc,
        SortKey::Date,
        SortKey::From,
        SortKey::Size,
        SortKey::Subject,
        SortKey::To,
        SortKey::DisplayFrom,
        SortKey::DisplayTo,
    ]
    .into_iter()
    .map(|key| SortCriterion {
        reverse: false,
        key,
    })
    .collect();
    let mut keys: Vec<SortKeys> = msgs.iter().map(|m| SortKeys::of(&all, m)).collect();
    sort::sort(&all, &mut keys);
    assert_eq!(keys.len(), msgs.len());
    let tmsgs: Vec<ThreadMsg> = msgs.iter().map(|m| ThreadMsg::of(m, false)).collect();
    for alg in [ThreadAlgorithm::References, ThreadAlgorithm::OrderedSubject] {
        let out = thread::thread(alg, &tmsgs).to_string();
        // Every message appears exactly once.
        let mut ids: Vec<u32> = out
            .split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().expect("number"))
            .collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            (1..=msgs.len() as u32).collect::<Vec<_>>(),
            "{alg:?}: {out}"
        );
    }
}
