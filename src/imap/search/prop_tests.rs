//! Property test: a compiled query (reordered ANDs and ORs, folded constants, resolved sets) answers
//! exactly what a direct reading of the search key answers, for random keys and messages.

use std::borrow::Cow;

use proptest::prelude::*;

use super::date::{day_of, days_from_civil};
use super::fake::{FakeContent, Msg};
use super::*;
use crate::imap::types::{Date, SeqNum, SeqRange, SequenceSet};

const NOW: i64 = 1_709_300_000;
const COUNT: u32 = 10;

/// Message `seq` has UID `seq * 10`.
fn mailbox() -> Vec<u32> {
    (1..=COUNT).map(|i| i * 10).collect()
}

fn seqset(max: u32) -> impl Strategy<Value = SequenceSet> {
    let num = prop_oneof![4 => (1..=max).prop_map(SeqNum::Value), 1 => Just(SeqNum::Largest)];
    prop::collection::vec((num.clone(), num), 1..4).prop_map(|v| {
        SequenceSet(
            v.into_iter()
                .map(|(start, end)| SeqRange { start, end })
                .collect(),
        )
    })
}

fn date() -> impl Strategy<Value = Date> {
    (28u8..=31, 1u8..=3).prop_map(|(d, m)| {
        let (month, day) = if m == 2 { (2, d.min(29)) } else { (m, d) };
        Date {
            year: 2024,
            month,
            day,
        }
    })
}

fn needle() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["hello", "WORLD", "lo w", "x", ""])
}

fn leaf() -> impl Strategy<Value = SearchKey<'static>> {
    use SearchKey as K;
    prop_oneof![
        prop::sample::select(vec![
            K::All,
            K::Answered,
            K::Deleted,
            K::Draft,
            K::Flagged,
            K::Seen,
            K::Recent,
            K::New,
            K::Old,
            K::Unanswered,
            K::Undeleted,
            K::Undraft,
            K::Unflagged,
            K::Unseen,
            K::Keyword("a"),
            K::Unkeyword("b"),
        ]),
        (0u64..2000).prop_map(K::Larger),
        (0u64..2000).prop_map(K::Smaller),
        (0u64..10).prop_map(K::ModSeq),
        (1u32..200_000).prop_map(K::Older),
        (1u32..200_000).prop_map(K::Younger),
        date().prop_map(K::Before),
        date().prop_map(K::On),
        date().prop_map(K::Since),
        date().prop_map(K::SentOn),
        seqset(COUNT).prop_map(K::SequenceSet),
        seqset(120).prop_map(K::Uid),
        needle().prop_map(|n| K::Subject(Cow::Borrowed(n.as_bytes()))),
        needle().prop_map(|n| K::Body(Cow::Borrowed(n.as_bytes()))),
    ]
}

fn key() -> impl Strategy<Value = SearchKey<'static>> {
    leaf().prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(SearchKey::And),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| SearchKey::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| SearchKey::Not(Box::new(a))),
        ]
    })
}

fn message() -> impl Strategy<Value = Msg> {
    (
        1..=COUNT,
        0u8..32,
        any::<bool>(),
        any::<bool>(),
        0u64..2000,
        0u64..10,
        -200_000i64..0,
        -720i16..=720,
        prop::sample::select(vec!["Hello World", "re: hello", "nothing"]),
        prop::option::of(-200_000i64..0),
    )
        .prop_map(
            |(seq, flags, kw, recent, size, modseq, age, zone, subject, sent)| {
                let mut m = Msg::new(seq, seq * 10);
                m.flags = flags;
                m.keywords = if kw { vec!["a", "b"] } else { vec![] };
                m.recent = recent;
                m.size = size;
                m.modseq = modseq;
                m.date = Stamp::new(NOW + age, zone);
                m.content = Some(FakeContent {
                    headers: vec![("Subject", subject)],
                    body: vec!["Well, HELLO world"],
                    date: sent.map(|s| Stamp::new(NOW + s, -zone)),
                    ..FakeContent::default()
                });
                m
            },
        )
}

fn in_set(set: &SequenceSet, star: u32, n: u32) -> bool {
    set.0.iter().any(|r| {
        let v = |x: SeqNum| match x {
            SeqNum::Largest => star,
            SeqNum::Value(v) => v,
        };
        let (a, b) = (v(r.start), v(r.end));
        a.min(b) <= n && n <= a.max(b)
    })
}

fn has(hay: &str, needle: &[u8]) -> bool {
    hay.to_lowercase()
        .contains(&String::from_utf8_lossy(needle).to_lowercase())
}

/// The key read literally, in the client's order, with no compilation.
fn naive(k: &SearchKey<'_>, m: &Msg) -> bool {
    use SearchKey as K;
    let f = |bit: u8| m.flags & bit != 0;
    let c = m
        .content
        .as_ref()
        .expect("the strategy always gives content");
    let day = |s: Stamp| (s.unix + i64::from(s.offset_minutes) * 60).div_euclid(86_400);
    match k {
        K::All => true,
        K::And(v) => v.iter().all(|k| naive(k, m)),
        K::Or(a, b) => naive(a, m) || naive(b, m),
        K::Not(a) => !naive(a, m),
        K::SequenceSet(s) => in_set(s, COUNT, m.seq),
        K::Uid(s) => in_set(s, COUNT * 10, m.uid),
        K::Answered => f(flag::ANSWERED),
        K::Deleted => f(flag::DELETED),
        K::Draft => f(flag::DRAFT),
        K::Flagged => f(flag::FLAGGED),
        K::Seen => f(flag::SEEN),
        K::Unanswered => !f(flag::ANSWERED),
        K::Undeleted => !f(flag::DELETED),
        K::Undraft => !f(flag::DRAFT),
        K::Unflagged => !f(flag::FLAGGED),
        K::Unseen => !f(flag::SEEN),
        K::Recent => m.recent,
        K::New => m.recent && !f(flag::SEEN),
        K::Old => !m.recent,
        K::Keyword(w) => m.keywords.contains(w),
        K::Unkeyword(w) => !m.keywords.contains(w),
        K::Before(d) => day(m.date) < day_of(*d),
        K::On(d) => day(m.date) == day_of(*d),
        K::Since(d) => day(m.date) >= day_of(*d),
        K::SentOn(d) => c.date.is_some_and(|s| day(s) == day_of(*d)),
        K::Larger(n) => m.size > *n,
        K::Smaller(n) => m.size < *n,
        K::ModSeq(n) => m.modseq >= *n,
        K::Older(s) => m.date.unix < NOW - i64::from(*s),
        K::Younger(s) => m.date.unix >= NOW - i64::from(*s),
        K::Subject(n) => c.headers.iter().any(|(_, v)| has(v, n)),
        K::Body(n) => c.body.iter().any(|b| has(b, n)),
        other => unreachable!("the strategy does not make {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn compiled_queries_agree_with_the_literal_reading(k in key(), m in message()) {
        let mb = mailbox();
        let q = Query::compile(&k, &Scope { mailbox: &mb, now: NOW }, &Limits::default())
            .expect("every generated key is valid for the mailbox");
        prop_assert_eq!(q.matches(&m), naive(&k, &m), "key {:?}", k);
        if !q.needs_content() {
            prop_assert_eq!(m.content_asked.get(), 0);
        }
    }
}

#[test]
fn the_test_dates_are_the_ones_the_strategy_brackets() {
    // NOW is 2024-03-01 13:33:20 UTC; message dates reach back ~2.3 days into February.
    assert_eq!(NOW.div_euclid(86_400), days_from_civil(2024, 3, 1));
}
