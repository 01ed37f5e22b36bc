//! The summary cache's bound, eviction and forgetting.

use super::*;
use crate::mime::{Message, Span};
use proptest::prelude::*;

fn at(n: u32) -> Locator {
    Locator([1, n / 1000, n % 1000])
}

/// A summary weighing about `len` bytes of envelope.
fn summary(size: usize, len: usize) -> Summary {
    Summary {
        size,
        envelope: vec![b'e'; len].into_boxed_slice(),
        body: Box::new([]),
        body_structure: Box::new([]),
        header: Span::default(),
        header_copy: None,
        header_index: Box::default(),
    }
}

fn weight(len: usize) -> usize {
    summary(0, len).weight() + ENTRY_OVERHEAD
}

#[test]
fn a_parse_summary_weighs_what_it_holds() {
    let raw = b"From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n";
    let s = Message::parse(raw).summary();
    assert_eq!(s.size, raw.len());
    assert_eq!(s.header_copy.as_deref(), Some(&raw[..37]));
    // Two fields: (start, end of name, end of field).
    assert_eq!(&*s.header_index, &[[0, 4, 22], [22, 29, 35]]);
    assert_eq!(
        s.weight(),
        std::mem::size_of::<Summary>()
            + s.envelope.len()
            + s.body.len()
            + s.body_structure.len()
            + 37
            + 2 * 6
    );
}

#[test]
fn hits_need_the_same_size() {
    let c = SummaryCache::new(1 << 20);
    c.insert(at(1), summary(100, 10));
    assert!(c.get(at(1), 100).is_some());
    assert!(c.get(at(1), 101).is_none());
    assert!(c.get(at(2), 100).is_none());
    let s = c.stats();
    assert_eq!((s.hits, s.misses, s.entries), (1, 2, 1));
    assert_eq!(s.bytes, weight(10));
}

#[test]
fn eviction_keeps_the_bytes_under_the_budget_and_spares_what_was_read() {
    let w = weight(100);
    let c = SummaryCache::new(10 * w);
    for n in 0..10 {
        c.insert(at(n), summary(1, 100));
    }
    assert_eq!(c.stats().entries, 10);
    // Entry 0 was read since it was filled: the hand passes it over once (CLOCK's second chance).
    assert!(c.get(at(0), 1).is_some());
    c.insert(at(10), summary(1, 100));
    let s = c.stats();
    assert_eq!(s.entries, 10);
    assert_eq!(s.evictions, 1);
    assert!(s.bytes <= 10 * w);
    assert!(c.get(at(0), 1).is_some(), "read entries survive the hand");
    assert!(c.get(at(1), 1).is_none(), "the oldest unread one went");
}

#[test]
fn a_summary_heavier_than_the_budget_is_not_kept() {
    let c = SummaryCache::new(weight(10));
    let s = c.insert(at(1), summary(5, 1000));
    assert_eq!(s.envelope.len(), 1000);
    assert_eq!(c.stats().entries, 0);
    assert_eq!(c.stats().bytes, 0);
}

#[test]
fn forget_frees_and_reinsertion_is_counted_once() {
    let c = SummaryCache::new(1 << 20);
    for n in 0..5 {
        c.insert(at(n), summary(1, 50));
    }
    c.insert(at(3), summary(1, 70));
    assert_eq!(c.stats().entries, 5);
    assert_eq!(c.stats().bytes, 4 * weight(50) + weight(70));
    c.forget([at(1), at(3), at(99)]);
    assert_eq!(c.stats().entries, 3);
    assert_eq!(c.stats().bytes, 3 * weight(50));
    c.forget((0..5).map(at));
    assert_eq!(
        c.stats(),
        Stats {
            hits: 0,
            misses: 0,
            evictions: 0,
            entries: 0,
            bytes: 0
        }
    );
}

#[test]
fn the_ring_stays_bounded_under_churn() {
    let c = SummaryCache::new(1 << 20);
    for round in 0..1000 {
        c.insert(at(round % 7), summary(1, 10));
        if round % 3 == 0 {
            c.forget([at(round % 7)]);
        }
    }
    let inner = c.inner.borrow();
    assert!(inner.ring.len() <= 2 * inner.map.len() + 64 + 1);
}

proptest! {
    /// Any mix of inserts, reads and forgets: the bytes always equal the live entries' weights and
    /// never exceed the budget, and a read after an insert of the same key hits.
    #[test]
    fn the_budget_holds(ops in proptest::collection::vec((0u8..3, 0u32..40, 0usize..400), 1..300)) {
        let budget = 4000;
        let c = SummaryCache::new(budget);
        for (op, key, len) in ops {
            match op {
                0 => {
                    c.insert(at(key), summary(key as usize, len));
                    if weight(len) <= budget {
                        prop_assert!(c.get(at(key), key as usize).is_some());
                    }
                }
                1 => {
                    if let Some(s) = c.get(at(key), key as usize) {
                        prop_assert_eq!(s.size, key as usize);
                    }
                }
                _ => c.forget([at(key)]),
            }
            let s = c.stats();
            prop_assert!(s.bytes <= budget);
            let inner = c.inner.borrow();
            let live: usize = inner.map.values().map(|v| v.weight).sum();
            prop_assert_eq!(live, s.bytes);
        }
    }
}
