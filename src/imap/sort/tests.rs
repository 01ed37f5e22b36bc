//! SORT tests: each key, REVERSE, several criteria, ties in mailbox order, sent-date fallback.

use std::borrow::Cow;

use super::*;
use crate::imap::search::fake::{FakeContent, Msg};
use crate::imap::search::Stamp;

fn crit(key: SortKey) -> SortCriterion {
    SortCriterion {
        reverse: false,
        key,
    }
}

fn rev(key: SortKey) -> SortCriterion {
    SortCriterion { reverse: true, key }
}

fn addr(name: Option<&'static str>, mailbox: &'static str, host: &'static str) -> Address<'static> {
    Address {
        name: name.map(Cow::Borrowed),
        mailbox: Some(Cow::Borrowed(mailbox)),
        host: Some(Cow::Borrowed(host)),
    }
}

/// Message `seq` (UID seq*10) with a subject, a From, a Date header (`None`: absent) and an
/// internal date.
fn msg(
    seq: u32,
    subject: &'static str,
    from: Address<'static>,
    sent: Option<i64>,
    arrival: i64,
    size: u64,
) -> Msg {
    let mut m = Msg::new(seq, seq * 10);
    m.date = Stamp::new(arrival, 0);
    m.size = size;
    m.content = Some(FakeContent {
        headers: vec![("Subject", subject)],
        date: sent.map(|t| Stamp::new(t, -300)),
        addresses: vec![("From", from)],
        ..FakeContent::default()
    });
    m
}

fn sorted(criteria: &[SortCriterion], msgs: &[Msg]) -> Vec<u32> {
    let mut keys: Vec<SortKeys> = msgs.iter().map(|m| SortKeys::of(criteria, m)).collect();
    sort(criteria, &mut keys);
    keys.iter().map(|k| k.seq).collect()
}

fn mailbox() -> Vec<Msg> {
    vec![
        msg(
            1,
            "Re: zebra",
            addr(Some("Zed"), "zed", "a.example"),
            Some(300),
            1000,
            50,
        ),
        msg(
            2,
            "apple",
            addr(None, "Bob", "b.example"),
            Some(100),
            900,
            10,
        ),
        msg(
            3,
            "[list] Fwd: Apple",
            addr(Some(""), "alice", "c.example"),
            None,
            200,
            30,
        ),
        msg(
            4,
            "mango (fwd)",
            addr(Some("Ann"), "carol", "d.example"),
            Some(100),
            500,
            10,
        ),
    ]
}

#[test]
fn each_key_sorts() {
    let m = mailbox();
    assert_eq!(sorted(&[crit(SortKey::Arrival)], &m), vec![3, 4, 2, 1]);
    assert_eq!(
        sorted(&[crit(SortKey::Size)], &m),
        vec![2, 4, 3, 1],
        "ties by seq"
    );
    // Date: 3 has no Date header and sorts by its internal date (200); 2 and 4 tie at 100.
    assert_eq!(sorted(&[crit(SortKey::Date)], &m), vec![2, 4, 3, 1]);
    // Base subjects: zebra, apple, apple, mango; case-insensitive; ties by seq.
    assert_eq!(sorted(&[crit(SortKey::Subject)], &m), vec![2, 3, 4, 1]);
    // FROM is the addr-mailbox: zed, bob, alice, carol.
    assert_eq!(sorted(&[crit(SortKey::From)], &m), vec![3, 2, 4, 1]);
    // DISPLAYFROM: Zed, bob@b.example, alice@c.example (empty name), Ann.
    assert_eq!(sorted(&[crit(SortKey::DisplayFrom)], &m), vec![3, 4, 2, 1]);
}

#[test]
fn reverse_applies_to_one_key_and_ties_stay_in_mailbox_order() {
    let m = mailbox();
    assert_eq!(sorted(&[rev(SortKey::Arrival)], &m), vec![1, 2, 4, 3]);
    // REVERSE SIZE: 50, 30, then 10 and 10 in mailbox order (the tie-break is not reversed).
    assert_eq!(sorted(&[rev(SortKey::Size)], &m), vec![1, 3, 2, 4]);
    // SIZE then REVERSE ARRIVAL: the two of size 10 ordered by arrival descending.
    assert_eq!(
        sorted(&[crit(SortKey::Size), rev(SortKey::Arrival)], &m),
        vec![2, 4, 3, 1]
    );
    assert_eq!(
        sorted(&[crit(SortKey::Size), crit(SortKey::Arrival)], &m),
        vec![4, 2, 3, 1]
    );
    // SUBJECT then REVERSE DATE: apple (2: 100, 3: 200) -> 3, 2.
    assert_eq!(
        sorted(&[crit(SortKey::Subject), rev(SortKey::Date)], &m),
        vec![3, 2, 4, 1]
    );
}

#[test]
fn missing_fields_sort_first_and_content_is_read_only_when_needed() {
    let mut m = mailbox();
    m[1].content = None;
    // No From: the empty string, first.
    assert_eq!(sorted(&[crit(SortKey::From)], &m), vec![2, 3, 4, 1]);
    // No To anywhere: all equal, mailbox order.
    assert_eq!(
        sorted(&[crit(SortKey::To), crit(SortKey::Cc)], &m),
        vec![1, 2, 3, 4]
    );
    let fresh = mailbox();
    let _ = sorted(&[crit(SortKey::Arrival), crit(SortKey::Size)], &fresh);
    assert!(fresh.iter().all(|m| m.content_asked.get() == 0));
}

#[test]
fn sent_dates_compare_in_utc() {
    // 10:00 -0500 (15:00 UTC) is later than 14:00 +0000.
    let mut a = Msg::new(1, 1);
    a.content = Some(FakeContent {
        date: Some(Stamp::new(15 * 3600, -300)),
        ..FakeContent::default()
    });
    let mut b = Msg::new(2, 2);
    b.content = Some(FakeContent {
        date: Some(Stamp::new(14 * 3600, 0)),
        ..FakeContent::default()
    });
    assert_eq!(sorted(&[crit(SortKey::Date)], &[a, b]), vec![2, 1]);
}

#[test]
fn strings_compare_with_i_ascii_casemap() {
    // `_` (0x5F) lies between `Z` and `a`: i;ascii-casemap upper-cases, so "apple" (APPLE) sorts
    // before "_pear"; lower-casing would have put "_pear" first.
    let mut a = Msg::new(1, 1);
    a.content = Some(FakeContent {
        headers: vec![("Subject", "_pear")],
        ..FakeContent::default()
    });
    let mut b = Msg::new(2, 2);
    b.content = Some(FakeContent {
        headers: vec![("Subject", "Apple")],
        ..FakeContent::default()
    });
    let mut c = Msg::new(3, 3);
    c.content = Some(FakeContent {
        headers: vec![("Subject", "apple")],
        ..FakeContent::default()
    });
    assert_eq!(sorted(&[crit(SortKey::Subject)], &[a, b, c]), vec![2, 3, 1]);
    assert_eq!(casemap("Ünïcode _x"), "ÜNïCODE _X");
}
