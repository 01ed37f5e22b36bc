//! Tests of sequence-set resolution and compact sets: the RFC's cases by hand, and proptests against a
//! naive model that expands every range into numbers.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

fn v(n: u32) -> SeqNum {
    SeqNum::Value(n)
}
const STAR: SeqNum = SeqNum::Largest;

fn set(ranges: &[(SeqNum, SeqNum)]) -> SequenceSet {
    SequenceSet(
        ranges
            .iter()
            .map(|&(start, end)| SeqRange { start, end })
            .collect(),
    )
}

fn nums(r: &Ranges) -> Vec<u32> {
    r.iter().collect()
}

/// Parses `1:5,7` back (numbers only), for round trips.
fn parse_compact(s: &str) -> Vec<(u32, u32)> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',')
        .map(|part| match part.split_once(':') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None => {
                let n = part.parse().unwrap();
                (n, n)
            }
        })
        .collect()
}

#[test]
fn sequence_numbers_resolve_with_star_reversed_ranges_and_duplicates() {
    let r = resolve_seqs(&set(&[(v(2), v(4)), (v(7), STAR), (v(3), v(3))]), 9).unwrap();
    assert_eq!(r.as_slice(), &[(2, 4), (7, 9)]);
    // Reversed range and `*:n` (RFC 9051 9: "4:2" is "2:4").
    let r = resolve_seqs(&set(&[(v(6), v(2)), (STAR, v(8))]), 9).unwrap();
    assert_eq!(nums(&r), vec![2, 3, 4, 5, 6, 8, 9]);
    // Adjacent ranges merge into one.
    let r = resolve_seqs(&set(&[(v(1), v(3)), (v(4), v(5))]), 5).unwrap();
    assert_eq!(r.as_slice(), &[(1, 5)]);
    assert_eq!(r.len(), 5);
    // `*` alone is the last message.
    assert_eq!(
        nums(&resolve_seqs(&set(&[(STAR, STAR)]), 3).unwrap()),
        vec![3]
    );
}

#[test]
fn sequence_number_errors_are_the_rfcs() {
    assert_eq!(
        resolve_seqs(&set(&[(v(1), v(10))]), 9),
        Err(SeqError::OutOfRange { seq: 10, exists: 9 })
    );
    // One bad number fails the whole set: a command cannot be partially BAD.
    assert_eq!(
        resolve_seqs(&set(&[(v(1), v(2)), (v(12), v(12))]), 9),
        Err(SeqError::OutOfRange { seq: 12, exists: 9 })
    );
    assert_eq!(resolve_seqs(&set(&[(v(0), v(2))]), 9), Err(SeqError::Zero));
    // An empty mailbox: even `*` names no message.
    assert_eq!(resolve_seqs(&set(&[(STAR, STAR)]), 0), Err(SeqError::Empty));
    assert_eq!(resolve_seqs(&set(&[(v(1), STAR)]), 0), Err(SeqError::Empty));
}

#[test]
fn uids_resolve_to_sequence_numbers_and_outsiders_match_nothing() {
    let uids: Vec<u32> = vec![3, 4, 5, 9, 10, 20];
    // UID 1:4 -> seq 1..2; 6:8 is a gap; 10 -> seq 5.
    let r = resolve_uids(&set(&[(v(1), v(4)), (v(6), v(8)), (v(10), v(10))]), &uids);
    assert_eq!(nums(&r), vec![1, 2, 5]);
    // UIDs 5 and 9 are adjacent in sequence numbers (3, 4) though not in UIDs: one range.
    let r = resolve_uids(&set(&[(v(5), v(5)), (v(9), v(9))]), &uids);
    assert_eq!(r.as_slice(), &[(3, 4)]);
    // Entirely outside: nothing, and no error.
    assert!(resolve_uids(&set(&[(v(21), v(99))]), &uids).is_empty());
    assert!(resolve_uids(&set(&[(v(1), v(2))]), &uids).is_empty());
    // `*` is the last UID.
    assert_eq!(nums(&resolve_uids(&set(&[(STAR, STAR)]), &uids)), vec![6]);
    assert_eq!(
        nums(&resolve_uids(&set(&[(v(10), STAR)]), &uids)),
        vec![5, 6]
    );
    // Largest UID value does not overflow.
    let r = resolve_uids(&set(&[(v(1), v(u32::MAX))]), &uids);
    assert_eq!(r.as_slice(), &[(1, 6)]);
}

#[test]
fn uid_range_above_the_last_uid_with_star_matches_the_last_message() {
    // RFC 9051 6.4.9: `UID FETCH 300:*` with the last UID below 300 still returns the last message.
    let uids: Vec<u32> = vec![3, 4, 5, 9, 10, 20];
    assert_eq!(nums(&resolve_uids(&set(&[(v(300), STAR)]), &uids)), vec![6]);
    assert_eq!(nums(&resolve_uids(&set(&[(STAR, v(300))]), &uids)), vec![6]);
    // An empty mailbox: nothing, no error, for UID commands.
    let empty: Vec<u32> = Vec::new();
    assert!(resolve_uids(&set(&[(v(1), STAR)]), &empty).is_empty());
    assert_eq!(
        resolve(&set(&[(v(1), STAR)]), true, &empty),
        Ok(Ranges::default())
    );
    assert_eq!(
        resolve(&set(&[(v(1), STAR)]), false, &empty),
        Err(SeqError::Empty)
    );
}

#[test]
fn the_saved_result_marker_resolves_to_the_saved_messages_that_remain() {
    let uids: Vec<u32> = vec![3, 4, 5, 9, 10, 20];
    let dollar = SequenceSet(Vec::new());
    assert!(is_saved_marker(&dollar));
    assert!(!is_saved_marker(&set(&[(STAR, STAR)])));
    // Saved UIDs 4, 5, 7 (expunged since), 10: sequence numbers 2, 3, 5, in UID and non-UID commands.
    let saved = Ranges::from_numbers([4, 5, 7, 10]);
    for uid in [false, true] {
        let r = resolve_with_saved(&dollar, uid, &uids, Some(&saved)).unwrap();
        assert_eq!(nums(&r), vec![2, 3, 5]);
        // Nothing saved, or an empty mailbox: no messages, and no error.
        assert!(resolve_with_saved(&dollar, uid, &uids, None)
            .unwrap()
            .is_empty());
        let empty: Vec<u32> = Vec::new();
        assert!(resolve_with_saved(&dollar, uid, &empty, Some(&saved))
            .unwrap()
            .is_empty());
    }
    // Other sets resolve as without a saved result.
    assert_eq!(
        resolve_with_saved(&set(&[(v(7), v(7))]), false, &uids, Some(&saved)),
        Err(SeqError::OutOfRange { seq: 7, exists: 6 })
    );
    assert_eq!(
        nums(&resolve_with_saved(&set(&[(v(9), STAR)]), true, &uids, Some(&saved)).unwrap()),
        vec![4, 5, 6]
    );
}

#[test]
fn uid_ranges_keep_uid_space() {
    let r = uid_ranges(&set(&[(v(9), v(7)), (STAR, STAR), (v(1), v(1))]), 40);
    assert_eq!(r.as_slice(), &[(1, 1), (7, 9), (40, 40)]);
    assert!(r.contains(8) && r.contains(40) && r.contains(1));
    assert!(!r.contains(2) && !r.contains(10) && !r.contains(41) && !r.contains(0));
}

#[test]
fn compact_sets_collapse_runs_and_keep_given_order() {
    assert_eq!(compact([1, 2, 3, 4, 5, 7, 9, 10, 11, 12]), "1:5,7,9:12");
    assert_eq!(compact([]), "");
    assert_eq!(compact([42]), "42");
    assert_eq!(compact([u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    // COPYUID pairs source and destination by position: not sorted.
    assert_eq!(compact([5, 6, 2, 3, 9]), "5:6,2:3,9");
    assert_eq!(
        Ranges::from_numbers([9, 3, 2, 5, 6, 3]).to_string(),
        "2:3,5:6,9"
    );
    let r = Ranges::from_numbers([4, 5, 6]);
    let s = to_sequence_set(&r);
    assert_eq!(resolve_seqs(&s, 6).unwrap(), r);
}

fn seqnum() -> impl Strategy<Value = SeqNum> {
    prop_oneof![4 => (0u32..60).prop_map(SeqNum::Value), 1 => Just(SeqNum::Largest)]
}

fn seqset() -> impl Strategy<Value = SequenceSet> {
    prop::collection::vec((seqnum(), seqnum()), 1..8).prop_map(|v| set(&v))
}

proptest! {
    #[test]
    fn seq_resolution_matches_the_naive_model(s in seqset(), exists in 0u32..50) {
        let naive: Result<BTreeSet<u32>, ()> = (|| {
            if exists == 0 { return Err(()); }
            let mut out = BTreeSet::new();
            for r in &s.0 {
                let val = |n: SeqNum| match n { SeqNum::Largest => exists, SeqNum::Value(v) => v };
                let (a, b) = (val(r.start), val(r.end));
                if a == 0 || b == 0 || a > exists || b > exists { return Err(()); }
                out.extend(a.min(b)..=a.max(b));
            }
            Ok(out)
        })();
        match (resolve_seqs(&s, exists), naive) {
            (Ok(r), Ok(model)) => {
                prop_assert_eq!(nums(&r), model.iter().copied().collect::<Vec<_>>());
                prop_assert_eq!(r.len(), model.len() as u64);
                // Canonical: sorted, disjoint, not touching.
                for w in r.as_slice().windows(2) {
                    prop_assert!(w[0].1 + 1 < w[1].0);
                }
            }
            (Err(_), Err(())) => {}
            (got, model) => prop_assert!(false, "got {:?}, model {:?}", got, model),
        }
    }

    #[test]
    fn uid_resolution_matches_the_naive_model(
        s in seqset(),
        uids in prop::collection::btree_set(1u32..70, 0..30),
    ) {
        let uids: Vec<u32> = uids.into_iter().collect();
        let last = uids.last().copied();
        let mut model = Vec::new();
        if let Some(last) = last {
            for (i, &uid) in uids.iter().enumerate() {
                let hit = s.0.iter().any(|r| {
                    let val = |n: SeqNum| match n { SeqNum::Largest => last, SeqNum::Value(v) => v };
                    let (a, b) = (val(r.start), val(r.end));
                    a.min(b) <= uid && uid <= a.max(b)
                });
                if hit { model.push(i as u32 + 1); }
            }
        }
        let r = resolve_uids(&s, &uids);
        prop_assert_eq!(nums(&r), model);
        for w in r.as_slice().windows(2) {
            prop_assert!(w[0].1 + 1 < w[1].0);
        }
    }

    #[test]
    fn compact_sets_round_trip(numbers in prop::collection::vec(any::<u32>(), 0..40)) {
        let text = compact(numbers.iter().copied());
        let back: Vec<u32> = parse_compact(&text)
            .into_iter()
            .flat_map(|(a, b)| a..=b)
            .collect();
        prop_assert_eq!(&back, &numbers);
        // And the canonical form of the same numbers as a set.
        let r = Ranges::from_numbers(numbers.iter().copied());
        let text = r.to_string();
        let expect: BTreeSet<u32> = numbers.iter().copied().collect();
        let back: BTreeSet<u32> = parse_compact(&text).into_iter().flat_map(|(a, b)| a..=b).collect();
        prop_assert_eq!(back, expect.clone());
        for &n in &numbers { prop_assert!(r.contains(n)); }
        prop_assert_eq!(r.len(), expect.len() as u64);
    }

    #[test]
    fn contains_agrees_with_iteration(numbers in prop::collection::vec(0u32..200, 0..60), probe in 0u32..210) {
        let r = Ranges::from_numbers(numbers.iter().copied());
        prop_assert_eq!(r.contains(probe), numbers.contains(&probe));
    }
}
