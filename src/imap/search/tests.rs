//! SEARCH key tests over hand-built messages: every key, OR/NOT/nesting, sets, date boundaries in
//! zones, and that index-only queries never touch the content.

use std::borrow::Cow;

use super::date::days_from_civil;
use super::fake::{FakeContent, Msg};
use super::*;
use crate::imap::types::{Date, SeqNum, SeqRange, SequenceSet};

const NOW: i64 = 1_800_000_000;

/// UIDs of a 10-message mailbox: 10, 20, ..., 100.
fn mailbox() -> Vec<u32> {
    (1..=10).map(|i| i * 10).collect()
}

fn compile(key: &SearchKey<'_>) -> Result<Query, SearchError> {
    let mb = mailbox();
    Query::compile(
        key,
        &Scope {
            mailbox: &mb,
            now: NOW,
        },
        &Limits::default(),
    )
}

fn hit(key: &SearchKey<'_>, m: &Msg) -> bool {
    compile(key).unwrap().matches(m)
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn set(ranges: &[(SeqNum, SeqNum)]) -> SequenceSet {
    SequenceSet(
        ranges
            .iter()
            .map(|&(start, end)| SeqRange { start, end })
            .collect(),
    )
}

fn s(text: &str) -> Cow<'_, [u8]> {
    Cow::Borrowed(text.as_bytes())
}

use SearchKey as K;

#[test]
fn flag_keys_and_their_negations() {
    let cases: [(SearchKey<'_>, SearchKey<'_>, u8); 5] = [
        (K::Seen, K::Unseen, flag::SEEN),
        (K::Answered, K::Unanswered, flag::ANSWERED),
        (K::Flagged, K::Unflagged, flag::FLAGGED),
        (K::Deleted, K::Undeleted, flag::DELETED),
        (K::Draft, K::Undraft, flag::DRAFT),
    ];
    for (on, off, bit) in cases {
        let mut m = Msg::new(1, 10);
        m.flags = 0x1f & !bit;
        assert!(!hit(&on, &m), "{on:?} without the flag");
        assert!(hit(&off, &m), "{off:?} without the flag");
        m.flags = bit;
        assert!(hit(&on, &m), "{on:?} with the flag");
        assert!(!hit(&off, &m), "{off:?} with the flag");
    }
}

#[test]
fn recent_new_old() {
    let mut m = Msg::new(1, 10);
    m.recent = true;
    assert!(hit(&K::Recent, &m));
    assert!(hit(&K::New, &m));
    assert!(!hit(&K::Old, &m));
    m.flags = flag::SEEN;
    assert!(!hit(&K::New, &m), "NEW is RECENT UNSEEN");
    m.recent = false;
    assert!(!hit(&K::Recent, &m));
    assert!(hit(&K::Old, &m));
    m.flags = 0;
    assert!(!hit(&K::New, &m));
}

#[test]
fn keyword_and_unkeyword() {
    let mut m = Msg::new(1, 10);
    m.keywords = vec!["$Junk", "work"];
    assert!(hit(&K::Keyword("$Junk"), &m));
    assert!(hit(&K::Keyword("work"), &m));
    assert!(!hit(&K::Keyword("$Forwarded"), &m));
    assert!(hit(&K::Unkeyword("$Forwarded"), &m));
    assert!(!hit(&K::Unkeyword("work"), &m));
}

#[test]
fn internal_date_keys_use_the_date_in_the_messages_zone() {
    // 2024-03-01 23:30 -0800 is 2024-03-02 07:30 UTC; its date is the 1st.
    let mut m = Msg::new(1, 10);
    m.date = Stamp::new(
        days_from_civil(2024, 3, 2) * 86_400 + 7 * 3600 + 30 * 60,
        -480,
    );
    assert!(hit(&K::On(date(2024, 3, 1)), &m));
    assert!(!hit(&K::On(date(2024, 3, 2)), &m));
    assert!(hit(&K::Before(date(2024, 3, 2)), &m));
    assert!(!hit(&K::Before(date(2024, 3, 1)), &m), "BEFORE is strict");
    assert!(
        hit(&K::Since(date(2024, 3, 1)), &m),
        "SINCE includes the day"
    );
    assert!(!hit(&K::Since(date(2024, 3, 2)), &m));
    // The same instant given in UTC is on the 2nd.
    m.date.offset_minutes = 0;
    assert!(hit(&K::On(date(2024, 3, 2)), &m));
    // Midnight exactly belongs to the new day.
    m.date = Stamp::new(days_from_civil(2024, 2, 29) * 86_400, 0);
    assert!(hit(&K::On(date(2024, 2, 29)), &m));
    m.date.unix -= 1;
    assert!(hit(&K::On(date(2024, 2, 28)), &m));
}

#[test]
fn sent_date_keys_use_the_date_header_in_its_zone() {
    let mut m = Msg::new(1, 10);
    // Date: Sat, 02 Mar 2024 00:30:00 +0100 (= 1 Mar 23:30 UTC).
    m.content.as_mut().unwrap().date = Some(Stamp::new(
        days_from_civil(2024, 3, 1) * 86_400 + 23 * 3600 + 30 * 60,
        60,
    ));
    assert!(hit(&K::SentOn(date(2024, 3, 2)), &m));
    assert!(!hit(&K::SentOn(date(2024, 3, 1)), &m));
    assert!(hit(&K::SentBefore(date(2024, 3, 3)), &m));
    assert!(!hit(&K::SentBefore(date(2024, 3, 2)), &m));
    assert!(hit(&K::SentSince(date(2024, 3, 2)), &m));
    assert!(!hit(&K::SentSince(date(2024, 3, 3)), &m));
    // The internal date (12:00 UTC on the 1st) is not what SENT* reads.
    assert!(!hit(&K::SentOn(date(2024, 3, 1)), &m));
    // No Date header: no sent date matches, and NOT of one does.
    m.content.as_mut().unwrap().date = None;
    assert!(!hit(&K::SentOn(date(2024, 3, 2)), &m));
    assert!(!hit(&K::SentBefore(date(2100, 1, 1)), &m));
    assert!(!hit(&K::SentSince(date(1970, 1, 1)), &m));
    assert!(hit(&K::Not(Box::new(K::SentSince(date(1970, 1, 1)))), &m));
}

#[test]
fn sizes_modseq_older_younger() {
    let mut m = Msg::new(1, 10);
    m.size = 1000;
    assert!(hit(&K::Larger(999), &m));
    assert!(!hit(&K::Larger(1000), &m), "LARGER is strict");
    assert!(hit(&K::Smaller(1001), &m));
    assert!(!hit(&K::Smaller(1000), &m), "SMALLER is strict");
    m.modseq = 42;
    assert!(hit(&K::ModSeq(42), &m), "MODSEQ is equal or greater");
    assert!(hit(&K::ModSeq(1), &m));
    assert!(!hit(&K::ModSeq(43), &m));
    assert!(compile(&K::ModSeq(1)).unwrap().uses_modseq());
    assert!(compile(&K::Or(Box::new(K::Seen), Box::new(K::ModSeq(5))))
        .unwrap()
        .uses_modseq());
    assert!(!compile(&K::Seen).unwrap().uses_modseq());
    // Internal date exactly 100 s before NOW.
    m.date = Stamp::new(NOW - 100, 120);
    assert!(hit(&K::Older(99), &m));
    assert!(!hit(&K::Older(100), &m));
    assert!(hit(&K::Younger(100), &m), "YOUNGER includes the boundary");
    assert!(!hit(&K::Younger(99), &m));
}

#[test]
fn sequence_and_uid_sets() {
    use SeqNum::{Largest as STAR, Value as V};
    let m3 = Msg::new(3, 30);
    let m10 = Msg::new(10, 100);
    let k = K::SequenceSet(set(&[(V(2), V(4))]));
    assert!(hit(&k, &m3) && !hit(&k, &m10));
    let k = K::SequenceSet(set(&[(STAR, STAR)]));
    assert!(!hit(&k, &m3) && hit(&k, &m10));
    let k = K::Uid(set(&[(V(25), V(30))]));
    assert!(hit(&k, &m3) && !hit(&k, &m10));
    // UID 500:* still names the last message.
    let k = K::Uid(set(&[(V(500), STAR)]));
    assert!(!hit(&k, &m3) && hit(&k, &m10));
    // UIDs the mailbox lacks match nothing; the query knows it.
    let q = compile(&K::Uid(set(&[(V(31), V(39))]))).unwrap();
    assert!(q.matches_nothing());
    assert!(!q.matches(&m3));
    // A sequence number above the message count is an error (BAD).
    assert_eq!(
        compile(&K::SequenceSet(set(&[(V(11), V(11))]))).unwrap_err(),
        SearchError::Seq(SeqError::OutOfRange {
            seq: 11,
            exists: 10
        })
    );
    // The scan range of a top-level set restricts what the session visits.
    let q = compile(&K::And(vec![K::Unseen, K::Uid(set(&[(V(20), V(40))]))])).unwrap();
    assert_eq!(
        q.scan_range().map(|r| r.as_slice().to_vec()),
        Some(vec![(2, 4)])
    );
    assert_eq!(compile(&K::Unseen).unwrap().scan_range(), None);
}

fn with_headers(headers: Vec<(&'static str, &'static str)>, body: Vec<&'static str>) -> Msg {
    let mut m = Msg::new(1, 10);
    m.content = Some(FakeContent {
        headers,
        body,
        ..FakeContent::default()
    });
    m
}

#[test]
fn address_and_subject_keys_are_case_insensitive_substrings() {
    let m = with_headers(
        vec![
            ("From", "Jörg Müller <joerg@example.org>"),
            ("To", "team@example.com, Ann <ann@example.net>"),
            ("Cc", "boss@example.com"),
            ("Bcc", "hidden@example.com"),
            ("Subject", "Quarterly REPORT: Über alles"),
        ],
        vec![],
    );
    assert!(hit(&K::From(s("JÖRG")), &m));
    assert!(hit(&K::From(s("joerg@EXAMPLE.org")), &m));
    assert!(!hit(&K::From(s("ann@")), &m));
    assert!(hit(&K::To(s("ann@example.net")), &m));
    assert!(hit(&K::To(s("TEAM@")), &m));
    assert!(hit(&K::Cc(s("boss")), &m));
    assert!(!hit(&K::Cc(s("hidden")), &m));
    assert!(hit(&K::Bcc(s("hidden")), &m));
    assert!(hit(&K::Subject(s("report: über")), &m));
    assert!(!hit(&K::Subject(s("reports")), &m));
}

#[test]
fn header_key_with_empty_string_tests_presence() {
    let m = with_headers(
        vec![
            ("X-Mailer", "Mutt 2.2"),
            ("Received", "a"),
            ("Received", "from b.example"),
        ],
        vec![],
    );
    assert!(hit(&K::Header(s("x-mailer"), s("")), &m));
    assert!(hit(&K::Header(s("X-MAILER"), s("mutt")), &m));
    assert!(!hit(&K::Header(s("X-Mailer"), s("thunderbird")), &m));
    assert!(!hit(&K::Header(s("X-Spam"), s("")), &m), "absent field");
    // Any of several fields with the name.
    assert!(hit(&K::Header(s("Received"), s("B.EXAMPLE")), &m));
    // A missing From matches no FROM key, not even the empty string.
    assert!(!hit(&K::From(s("")), &m));
}

#[test]
fn body_and_text() {
    let m = with_headers(
        vec![("Subject", "Lunch plans")],
        vec!["Shall we meet at NOON?", "Second part: ΚΑΛΗΜΕΡΑ"],
    );
    assert!(hit(&K::Body(s("noon")), &m));
    assert!(hit(&K::Body(s("καλημερα")), &m));
    assert!(!hit(&K::Body(s("lunch")), &m), "BODY excludes the header");
    assert!(hit(&K::Text(s("lunch")), &m), "TEXT includes the header");
    assert!(hit(&K::Text(s("noon")), &m));
    assert!(hit(&K::Text(s("subject:")), &m));
    assert!(!hit(&K::Text(s("dinner")), &m));
    assert!(hit(&K::Body(s("")), &m));
}

#[test]
fn unreadable_content_matches_no_content_key() {
    let mut m = Msg::new(1, 10);
    m.content = None;
    for k in [
        K::Body(s("")),
        K::Text(s("")),
        K::Subject(s("")),
        K::Header(s("X"), s("")),
        K::SentSince(date(1970, 1, 1)),
    ] {
        assert!(!hit(&k, &m), "{k:?}");
    }
    assert!(hit(&K::All, &m));
}

#[test]
fn or_not_and_nesting() {
    let mut m = Msg::new(5, 50);
    m.flags = flag::SEEN | flag::FLAGGED;
    m.size = 10;
    let or = |a, b| K::Or(Box::new(a), Box::new(b));
    let not = |a| K::Not(Box::new(a));
    assert!(hit(&or(K::Deleted, K::Flagged), &m));
    assert!(!hit(&or(K::Deleted, K::Draft), &m));
    assert!(hit(&not(K::Deleted), &m));
    assert!(!hit(&not(not(K::Deleted)), &m));
    assert!(hit(&K::And(vec![]), &m), "an empty AND is ALL");
    assert!(hit(&K::And(vec![K::Seen, K::Flagged, K::Smaller(11)]), &m));
    assert!(!hit(&K::And(vec![K::Seen, K::Flagged, K::Larger(11)]), &m));
    // (SEEN AND NOT (DELETED OR DRAFT)) OR LARGER 1000
    let k = or(
        K::And(vec![K::Seen, not(or(K::Deleted, K::Draft))]),
        K::Larger(1000),
    );
    assert!(hit(&k, &m));
    m.flags |= flag::DRAFT;
    assert!(!hit(&k, &m));
    m.size = 2000;
    assert!(hit(&k, &m));
    assert!(!hit(&not(K::All), &m));
}

#[test]
fn index_keys_never_read_content_and_cheap_keys_run_first() {
    let mut m = with_headers(vec![("Subject", "hello")], vec!["body text"]);
    let q = compile(&K::And(vec![K::Unseen, K::Larger(5), K::Keyword("x")])).unwrap();
    assert!(!q.needs_content());
    q.matches(&m);
    assert_eq!(m.content_asked.get(), 0);
    // The client put BODY first; the flag test still runs first and ends the AND.
    m.flags = flag::SEEN;
    let q = compile(&K::And(vec![K::Body(s("body")), K::Unseen])).unwrap();
    assert!(q.needs_content());
    assert!(!q.matches(&m));
    assert_eq!(m.content_asked.get(), 0);
    // OR with a cheap side that is true never reads the body either.
    let q = compile(&K::Or(Box::new(K::Text(s("x"))), Box::new(K::Seen))).unwrap();
    assert!(q.matches(&m));
    assert_eq!(m.content_asked.get(), 0);
    // Once it must, it does, and it matches.
    m.flags = 0;
    let q = compile(&K::And(vec![K::Body(s("BODY")), K::Unseen])).unwrap();
    assert!(q.matches(&m));
    assert!(m.content_asked.get() > 0);
}

#[test]
fn limits_bound_key_count_and_depth() {
    let limits = Limits {
        max_keys: 10,
        max_depth: 3,
    };
    let mb = mailbox();
    let scope = Scope {
        mailbox: &mb,
        now: NOW,
    };
    let wide = K::And(vec![K::Seen; 10]);
    assert!(matches!(
        Query::compile(&wide, &scope, &limits),
        Err(SearchError::TooComplex(_))
    ));
    let ok = K::And(vec![K::Seen; 9]);
    assert!(Query::compile(&ok, &scope, &limits).is_ok());
    let mut deep = K::Seen;
    for _ in 0..4 {
        deep = K::Not(Box::new(deep));
    }
    assert!(matches!(
        Query::compile(&deep, &scope, &limits),
        Err(SearchError::TooComplex(_))
    ));
}

#[test]
fn charsets() {
    assert!(check_charset(None).is_ok());
    assert!(check_charset(Some(b"UTF-8")).is_ok());
    assert!(check_charset(Some(b"utf-8")).is_ok());
    assert!(check_charset(Some(b"us-ascii")).is_ok());
    assert_eq!(
        check_charset(Some(b"ISO-8859-1")),
        Err(SearchError::BadCharset("ISO-8859-1".into()))
    );
}

#[test]
fn flag_bits_are_the_storage_index_bits() {
    use shardmail_storage::index as idx;
    assert_eq!(
        [
            flag::SEEN,
            flag::ANSWERED,
            flag::FLAGGED,
            flag::DELETED,
            flag::DRAFT
        ],
        [
            idx::SEEN,
            idx::ANSWERED,
            idx::FLAGGED,
            idx::DELETED,
            idx::DRAFT
        ]
    );
}

#[test]
fn search_visits_only_the_scan_range_and_returns_ascending_matches() {
    use SeqNum::Value as V;
    let visited = std::cell::RefCell::new(Vec::new());
    let make = |seq: u32| {
        visited.borrow_mut().push(seq);
        let mut m = Msg::new(seq, seq * 10);
        m.flags = if seq.is_multiple_of(2) { flag::SEEN } else { 0 };
        Some(m)
    };
    let q = compile(&K::And(vec![K::Seen, K::Uid(set(&[(V(30), V(70))]))])).unwrap();
    assert_eq!(q.search(10, make), vec![4, 6]);
    assert_eq!(*visited.borrow(), vec![3, 4, 5, 6, 7]);
    visited.borrow_mut().clear();
    let q = compile(&K::Unseen).unwrap();
    assert_eq!(q.search(10, make), vec![1, 3, 5, 7, 9]);
    assert_eq!(visited.borrow().len(), 10);
    visited.borrow_mut().clear();
    let q = compile(&K::Uid(set(&[(V(1), V(9))]))).unwrap();
    assert!(q.search(10, make).is_empty());
    assert!(
        visited.borrow().is_empty(),
        "a query matching nothing visits nothing"
    );
    // A candidate the session cannot produce is skipped.
    let q = compile(&K::All).unwrap();
    assert_eq!(
        q.search(3, |seq| (seq != 2).then(|| Msg::new(seq, seq))),
        vec![1, 3]
    );
}

#[test]
fn the_saved_result_marker_stands_for_the_saved_uids() {
    // RFC 5182 2.1: `$` (the empty set from the parser) is the result of the last SEARCH RETURN (SAVE).
    let dollar = SequenceSet(Vec::new());
    let mb = mailbox();
    let scope = Scope {
        mailbox: &mb,
        now: NOW,
    };
    let saved = crate::imap::seqset::Ranges::from_numbers([20, 50, 55]);
    for key in [K::SequenceSet(dollar.clone()), K::Uid(dollar.clone())] {
        let q = Query::compile_with_saved(&key, &scope, &Limits::default(), Some(&saved)).unwrap();
        assert_eq!(
            q.search(10, |seq| Some(Msg::new(seq, seq * 10))),
            vec![2, 5]
        );
        // Without a saved result it names nothing, and is no error.
        let q = compile(&key).unwrap();
        assert!(q.matches_nothing());
    }
    // `$` combined with other keys.
    let two = K::SequenceSet(set(&[(SeqNum::Value(2), SeqNum::Value(2))]));
    let q = Query::compile_with_saved(
        &K::And(vec![K::Uid(dollar), K::Not(Box::new(two))]),
        &scope,
        &Limits::default(),
        Some(&saved),
    )
    .unwrap();
    assert_eq!(q.search(10, |seq| Some(Msg::new(seq, seq * 10))), vec![5]);
}
